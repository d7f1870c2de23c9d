//! # foresight-server
//!
//! The HTTP API of foresight (`foresight serve`), on axum and tokio:
//!
//! - **Writes** in InfluxDB line protocol: `POST /write` (1.x: `db`, `precision` ns/u/ms/s/m/h)
//!   and `POST /api/v2/write` (2.x: `org`, `bucket`, `precision` ns/us/ms/s), plain or
//!   `Content-Encoding: gzip`. 204 when every line is stored; otherwise the good lines are
//!   stored and the answer is 400 with InfluxDB's `{"code":"invalid","message":..}` extended
//!   with `"errors":[{"line":N,"reason":..}]`. Bodies over `max-body-bytes` (also after
//!   decompression) get 413; beyond `max-inflight-write-bytes` held in memory, 503 with
//!   `Retry-After`. A write is answered after the engine acknowledges it, i.e. after the WAL
//!   fsync in the default durability mode.
//! - **Queries** through the Prometheus HTTP API with its exact JSON envelopes:
//!   `/api/v1/query`, `/api/v1/query_range`, `/api/v1/series`, `/api/v1/labels`,
//!   `/api/v1/label/<name>/values`, `/api/v1/metadata`, `/api/v1/status/buildinfo`, and
//!   `/api/v1/stream` (Server-Sent Events with a query's value every interval).
//! - **Status** in Prometheus' shapes: `/api/v1/status/flags`, `/api/v1/status/runtimeinfo`,
//!   `/api/v1/status/tsdb` (cardinality lists, plus foresight's blocks and WAL).
//! - **The web UI** (crate `foresight-ui`): `/`, `/graph`, `/alerts`, `/rules`, `/status` and
//!   `/assets/*`, embedded in the binary.
//! - **Prometheus remote write and read**: `POST /api/v1/write` (remote write 1.0 and 2.0,
//!   snappy protobuf; 204 once durable, 400 for what can never be stored, the `*-Written`
//!   headers) and `POST /api/v1/read` (samples or streamed XOR chunks); see `remote.rs`.
//! - **Models** of the series a range query returns: `/api/v1/forecast` (Holt-Winters / ETS
//!   with prediction intervals), `/api/v1/anomalies` (online anomaly scores) and
//!   `/api/v1/correlate` (candidates ranked by lagged correlation with a target).
//! - **Tenants**: the auth layer gives every request a tenant (its token's, or an admin's
//!   `X-Scope-OrgID`); handlers read only through `AppState::reader`, a
//!   `foresight_engine::TenantView` narrowed to it, and write through `AppState::writer`, which
//!   labels the series and applies the tenant's limits (`quota.rs`).
//! - **Operations**: `/-/healthy`, `/-/ready` (200 only once the WAL is replayed: the database
//!   opens in the background), `/metrics` (Prometheus text format), `POST /api/v1/admin/flush`,
//!   and `self-monitor`, which stores the `/metrics` content through the engine.
//!
//! Query evaluation, body decompression and parsing run on blocking threads, never on the
//! async workers. Shutdown stops accepting, ends streams, lets requests finish, then closes the
//! database.
//!
//! ```
//! use foresight_server::{Config, Server};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let mut config = Config::default();
//! config.set("data-dir", &dir.path().display().to_string())?;
//! config.set("listen", "127.0.0.1:0")?; // the OS picks the port
//!
//! let rt = tokio::runtime::Runtime::new()?;
//! rt.block_on(async {
//!     let server = Server::start(config).await?;
//!     println!("listening on {}", server.local_addr());
//!     while !server.is_ready() {
//!         tokio::time::sleep(std::time::Duration::from_millis(10)).await;
//!     }
//!     server.shutdown();
//!     server.wait().await // closes the database
//! })?;
//! # Ok(())
//! # }
//! ```

mod alerting;
mod auth;
mod budget;
mod config;
mod correlate;
mod error;
mod forecast;
mod forward;
mod json;
mod metadata;
mod metrics;
mod ops;
mod query;
mod quota;
mod remote;
mod report;
mod server;
mod state;
mod status;
mod stream;
mod tenant;
mod time;
mod tls;
mod write;

pub use config::{
    AlertingSettings, Config, ConfigError, DEFAULT_SELF_MONITOR_INTERVAL, Limits, SETTINGS, Setting, SettingDefault,
};
pub use error::Error;
pub use forward::ForwardSettings;
pub use server::{Server, run};
pub use time::parse_time;
