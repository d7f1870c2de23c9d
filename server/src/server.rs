//! The server's life: bind, open the database in the background, route, serve, and shut down
//! cleanly (stop accepting, finish the requests in flight, close the database).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use foresight_engine::Db;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::alerting::{self, Alerting};
use crate::config::Config;
use crate::error::Error;
use crate::forward::Forwarder;
use crate::state::AppState;
use crate::tls::{self, ClientAddr};
use crate::{auth, correlate, forecast, ops, query, remote, report, status, stream, write};

/// A running server. Dropping it does not stop it: call [`Server::shutdown`] and then
/// [`Server::wait`].
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    serving: JoinHandle<std::io::Result<()>>,
    opening: JoinHandle<Result<(), Error>>,
    background: Vec<JoinHandle<()>>,
    alerting: Arc<Alerting>,
    forwarder: Arc<parking_lot::Mutex<Option<Arc<Forwarder>>>>,
}

impl Server {
    /// Binds the listening socket, starts opening the database in the background (`/-/ready`
    /// and the data endpoints answer 503 until the WAL is replayed) and starts serving.
    /// Must be called inside a multi-threaded tokio runtime.
    pub async fn start(config: Config) -> Result<Server, Error> {
        config.validate()?;
        let certs = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(Arc::new(tls::CertStore::open(cert, key).map_err(Error::Tls)?)),
            _ => None,
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let (stop, shutdown) = watch::channel(false);
        let forwarder: Arc<parking_lot::Mutex<Option<Arc<Forwarder>>>> = Arc::default();
        let state = Arc::new(AppState::new(config, shutdown.clone(), addr));
        let alerting =
            Arc::new(Alerting::new(&state.config.alerting, state.engine_opts.clone(), addr).map_err(Error::Rules)?);
        state.add_metric_source(alerting.clone());

        let opening = {
            let state = state.clone();
            let stop = stop.clone();
            let alerting = alerting.clone();
            let forwarder = forwarder.clone();
            tokio::spawn(async move {
                let dir = state.config.data_dir.clone();
                let opts = state.config.engine_options();
                let started = Instant::now();
                let opened = tokio::task::spawn_blocking(move || Db::open(&dir, opts)).await;
                let db = match opened {
                    Ok(Ok(db)) => db,
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "cannot open the database");
                        let _ = stop.send(true);
                        return Err(Error::Engine(e));
                    }
                    Err(_) => {
                        let _ = stop.send(true);
                        return Err(Error::Engine(foresight_engine::Error::Closed));
                    }
                };
                let r = db.open_report();
                tracing::info!(
                    dir = %state.config.data_dir.display(),
                    blocks = r.blocks_loaded,
                    wal_samples_replayed = r.wal_samples_replayed,
                    quarantined = r.quarantined.len(),
                    wal_damage = r.wal_damage.len(),
                    secs = started.elapsed().as_secs_f64(),
                    "database open; ready"
                );
                if state.is_shutting_down() {
                    // Shutdown began while opening: close right away.
                    return tokio::task::spawn_blocking(move || db.close())
                        .await
                        .map_err(|_| Error::Engine(foresight_engine::Error::Closed))?
                        .map_err(Error::Engine);
                }
                if state.config.forward.enabled() {
                    // Before writes are accepted: a new destination starts at the WAL's end.
                    let settings = state.config.forward.clone();
                    let dir = state.config.data_dir.clone();
                    match tokio::task::spawn_blocking(move || Forwarder::start(&settings, &dir)).await {
                        Ok(Ok(f)) => {
                            let f = Arc::new(f);
                            state.add_metric_source(f.clone());
                            *forwarder.lock() = Some(f);
                        }
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "cannot start forwarding to remote write");
                            let _ = stop.send(true);
                            let _ = tokio::task::spawn_blocking(move || db.close()).await;
                            return Err(Error::Io {
                                what: "starting the forwarding to remote write",
                                source: e,
                            });
                        }
                        Err(_) => return Err(Error::Engine(foresight_engine::Error::Closed)),
                    }
                }
                let db = Arc::new(db);
                alerting.start(Arc::downgrade(&db), state.shutdown.clone());
                state.set_db(db);
                Ok(())
            })
        };

        let app = router(state.clone(), alerting.clone());
        let serving = {
            let mut shutdown = shutdown.clone();
            let stopped = async move {
                let _ = shutdown.wait_for(|s| *s).await;
            };
            match certs {
                Some(certs) => {
                    let tls = tls::TlsListener::new(listener, certs).map_err(|source| Error::Bind {
                        addr: state.config.listen,
                        source,
                    })?;
                    tokio::spawn(async move {
                        axum::serve(tls, app.into_make_service_with_connect_info::<ClientAddr>())
                            .with_graceful_shutdown(stopped)
                            .await
                    })
                }
                None => tokio::spawn(async move {
                    axum::serve(listener, app.into_make_service_with_connect_info::<ClientAddr>())
                        .with_graceful_shutdown(stopped)
                        .await
                }),
            }
        };
        let mut background = Vec::new();
        if let Some(every) = state.config.self_monitor {
            background.push(tokio::spawn(ops::self_monitor(state.clone(), every)));
        }
        background.push(tokio::spawn(alerting::reload_on_sighup(
            alerting.clone(),
            shutdown.clone(),
        )));
        let scheme = if state.config.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        tracing::info!(
            "listening on {scheme}://{addr} (data directory {})",
            state.config.data_dir.display()
        );
        Ok(Server {
            addr,
            state,
            stop,
            serving,
            opening,
            background,
            alerting,
            forwarder,
        })
    }

    /// The address the server listens on (with the port the OS chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the database is open and the server answers queries and writes.
    pub fn is_ready(&self) -> bool {
        self.state.db().is_some()
    }

    /// Begins a graceful shutdown: stop accepting connections, end streams, let requests in
    /// flight finish. [`Server::wait`] completes it.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits until the server stops (after [`Server::shutdown`], or because the database failed
    /// to open), then closes the database, making every acknowledged write durable.
    pub async fn wait(self) -> Result<(), Error> {
        let mut stopped = self.stop.subscribe();
        let _ = stopped.wait_for(|s| *s).await;
        let limit = self.state.config.limits.shutdown_timeout;
        let deadline = Instant::now() + limit;
        let mut serving = self.serving;
        let served = match tokio::time::timeout(limit, &mut serving).await {
            Ok(Ok(r)) => r.map_err(|source| Error::Io {
                what: "serving HTTP",
                source,
            }),
            Ok(Err(_)) => Ok(()),
            Err(_) => {
                tracing::warn!(
                    secs = limit.as_secs_f64(),
                    "requests still running at the shutdown timeout; stopping anyway"
                );
                serving.abort();
                Ok(())
            }
        };
        for h in self.background {
            h.abort();
        }
        self.alerting.stop();
        let forwarder = self.forwarder.lock().take();
        if let Some(f) = forwarder {
            let _ = tokio::task::spawn_blocking(move || f.stop()).await;
        }
        let opened = match self.opening.await {
            Ok(r) => r,
            Err(_) => Err(Error::Engine(foresight_engine::Error::Closed)),
        };
        let db = self.state.take_db();
        let closed = match db {
            Some(db) => close_db(db, deadline).await,
            None => Ok(()),
        };
        opened?;
        served?;
        closed?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Closes the database once no request task holds it any more (or lets the last holder close
/// it when the deadline passes: acknowledged writes are durable either way).
async fn close_db(mut db: Arc<Db>, deadline: Instant) -> Result<(), Error> {
    loop {
        match Arc::try_unwrap(db) {
            Ok(owned) => {
                return tokio::task::spawn_blocking(move || owned.close())
                    .await
                    .map_err(|_| Error::Engine(foresight_engine::Error::Closed))?
                    .map_err(Error::Engine);
            }
            Err(shared) => {
                if Instant::now() >= deadline {
                    tracing::warn!("a request still holds the database; it closes when that request ends");
                    drop(shared);
                    return Ok(());
                }
                db = shared;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Every route.
fn router(state: Arc<AppState>, alerting: Arc<Alerting>) -> Router {
    let runtimeinfo = Router::new()
        .route("/api/v1/status/runtimeinfo", get(status::runtimeinfo))
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state((state.clone(), alerting.clone()));
    let rules = alerting::router(alerting).route_layer(middleware::from_fn_with_state(state.clone(), track));
    Router::new()
        .route("/write", post(write::write_v1))
        .route("/api/v2/write", post(write::write_v2))
        .route("/api/v1/write", post(remote::write))
        .route("/api/v1/read", post(remote::read))
        .route("/ping", get(ops::ping).head(ops::ping))
        .route("/health", get(ops::influx_health))
        .route("/api/v1/query", get(query::instant).post(query::instant))
        .route("/api/v1/query_range", get(query::range).post(query::range))
        .route("/api/v1/series", get(query::series).post(query::series))
        .route("/api/v1/labels", get(query::labels).post(query::labels))
        .route("/api/v1/label/{name}/values", get(query::label_values))
        .route("/api/v1/metadata", get(query::metadata))
        .route("/api/v1/query_exemplars", get(query::exemplars).post(query::exemplars))
        .route("/api/v1/status/buildinfo", get(query::buildinfo))
        .route("/api/v1/status/flags", get(status::flags))
        .route("/api/v1/status/tsdb", get(status::tsdb))
        .route("/api/v1/stream", get(stream::stream))
        .route("/api/v1/forecast", get(forecast::forecast).post(forecast::forecast))
        .route("/api/v1/anomalies", get(forecast::anomalies).post(forecast::anomalies))
        .route("/api/v1/report", get(report::report).post(report::report))
        .route(
            "/api/v1/correlate",
            get(correlate::correlate).post(correlate::correlate),
        )
        .route("/api/v1/admin/flush", post(ops::flush))
        .route("/api/v1/admin/snapshot", post(ops::snapshot))
        .route("/-/healthy", get(ops::healthy).head(ops::healthy))
        .route("/-/ready", get(ops::ready).head(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state.clone())
        .merge(rules)
        .merge(runtimeinfo)
        // The web UI: its pages and bundled assets (no data, so no authentication).
        .merge(foresight_ui::router())
        // Outermost, so every route (the rules' included, and any merged later) is behind it;
        // which role a path needs is decided by `auth::ROUTE_ACCESS` alone.
        .layer(middleware::from_fn_with_state(state.auth.clone(), auth::authenticate))
}

/// Counts every routed request and times it until its response head.
async fn track(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let handler = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |m| m.as_str().to_owned());
    let started = Instant::now();
    let resp = next.run(req).await;
    st.metrics
        .observe_request(&handler, resp.status().as_u16(), started.elapsed());
    resp
}

/// Runs `foresight serve`: a multi-threaded runtime, the server, and a clean shutdown on
/// SIGINT or SIGTERM. Returns when the server has stopped and the database is closed.
pub fn run(config: Config) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("foresight-http")
        .build()
        .map_err(|source| Error::Io {
            what: "starting the async runtime",
            source,
        })?;
    rt.block_on(async move {
        let server = Server::start(config).await?;
        let stop = server.stop.clone();
        tokio::spawn(async move {
            let signal = wait_for_signal().await;
            tracing::info!("{signal}: shutting down (finishing requests in flight, closing the database)");
            let _ = stop.send(true);
        });
        server.wait().await
    })
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "interrupt"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupt"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path) -> Config {
        let mut c = Config::default();
        c.set("data-dir", &dir.display().to_string()).unwrap();
        c.set("listen", "127.0.0.1:0").unwrap();
        c
    }

    #[test]
    fn a_database_that_cannot_open_stops_the_server_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let _holder = Db::open(dir.path(), foresight_engine::Options::default()).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let r = rt.block_on(async {
            let server = Server::start(config(dir.path())).await?;
            assert!(server.local_addr().port() != 0);
            server.wait().await
        });
        assert!(
            matches!(r, Err(Error::Engine(foresight_engine::Error::Locked(_)))),
            "{r:?}"
        );
    }

    #[test]
    fn inconsistent_limits_are_refused_before_binding() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.set("max-inflight-write-bytes", "1KiB").unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let r = rt.block_on(Server::start(c));
        assert!(matches!(r, Err(Error::Config(_))), "{r:?}");
    }
}
