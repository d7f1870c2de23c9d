//! # foresight-ui
//!
//! The web UI that `foresight serve` answers at `/`: a query page (PromQL editor with
//! highlighting and autocomplete, graph and table, forecast band and anomalies, follow mode),
//! alerts, rules and status pages. The pages are plain ES modules under `web/src/`, bundled by
//! esbuild (`cd ui/web && npm ci && npm run build`) into `dist/`, which is committed: building
//! foresight needs no Node. `build.rs` embeds every file of `dist/` with a gzip copy made at
//! build time.
//!
//! [`router`] serves them: `index.html` for the pages' paths (`/`, `/graph`, `/alerts`,
//! `/rules`, `/status`; the page routes itself) with `Cache-Control: no-cache`, and the
//! content-hashed bundle under `/assets/` with `max-age=31536000, immutable`; gzip when the
//! client accepts it; `ETag` and `304` on `If-None-Match`. No authentication here: the assets
//! hold no data, and the pages send the bearer token on their API calls.
//!
//! ```
//! let app: axum::Router = foresight_ui::router();
//! assert!(foresight_ui::asset("/index.html").is_some());
//! # drop(app);
//! ```

mod assets;

pub use assets::{Asset, PAGES, asset, assets, router};
