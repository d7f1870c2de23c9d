//! HTTPS: a listener that hands axum TLS streams, with the certificate and key reloaded when their
//! files change.
//!
//! A background task accepts TCP connections and runs each TLS handshake in its own task (bounded
//! by [`HANDSHAKE_TIMEOUT`]), so a slow or silent client never delays the others; finished
//! handshakes reach [`TlsListener::accept`] through a channel. Before each handshake the files'
//! modification times and sizes are compared with the loaded ones (at most once a second): when they
//! changed, the pair is loaded again; a pair that does not load keeps the previous certificate in
//! service, and the reason is logged.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;

/// Longest TLS handshake before the connection is dropped.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Least time between two looks at the files.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Handshaken connections waiting for axum.
const BACKLOG: usize = 128;

/// What identifies a version of a file: modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// The certificate and key files and the configuration made of them.
#[derive(Debug)]
pub(crate) struct CertStore {
    cert: PathBuf,
    key: PathBuf,
    state: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    config: Arc<ServerConfig>,
    stamps: (Stamp, Stamp),
    checked: Instant,
}

impl CertStore {
    /// Loads the pair; an error names the file and what is wrong.
    pub(crate) fn open(cert: &Path, key: &Path) -> Result<CertStore, String> {
        let stamps = (stamp(cert), stamp(key));
        let config = load(cert, key)?;
        Ok(CertStore {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            state: Mutex::new(Loaded {
                config,
                stamps,
                checked: Instant::now(),
            }),
        })
    }

    /// The configuration for a new connection, reloading the files first if they changed.
    pub(crate) fn current(&self) -> Arc<ServerConfig> {
        let mut st = self.state.lock();
        if st.checked.elapsed() >= CHECK_EVERY {
            st.checked = Instant::now();
            let now = (stamp(&self.cert), stamp(&self.key));
            if now != st.stamps {
                // Remembered even when the load fails: the next change is tried, not this one again.
                st.stamps = now;
                match load(&self.cert, &self.key) {
                    Ok(c) => {
                        st.config = c;
                        tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "TLS certificate or key changed but does not load; keeping the previous one")
                    }
                }
            }
        }
        st.config.clone()
    }
}

/// Reads a PEM certificate chain and private key into a server configuration (ring provider,
/// TLS 1.2 and 1.3, HTTP/1.1 by ALPN).
#[expect(
    deprecated,
    reason = "ring builds with gcc alone (aws-lc-rs, which adds post-quantum key exchange, needs cmake)"
)]
fn load(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("certificate file {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("certificate file {}: no CERTIFICATE in it", cert.display()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("key file {}: {e}", key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| {
            format!(
                "certificate {} and key {} do not make a pair: {e}",
                cert.display(),
                key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener whose connections are TLS streams, handshaken in the background.
#[derive(Debug)]
pub(crate) struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `listener`; stops when the returned listener is dropped.
    pub(crate) fn new(listener: TcpListener, certs: Arc<CertStore>) -> io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(BACKLOG);
        tokio::spawn(accept_loop(listener, certs, tx));
        Ok(TlsListener { rx, local })
    }
}

async fn accept_loop(
    listener: TcpListener,
    certs: Arc<CertStore>,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = tx.closed() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = TlsAcceptor::from(certs.current());
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// The client's address, as handlers see it (`ConnectInfo<ClientAddr>`), over plain TCP and TLS
/// alike (axum provides `ConnectInfo<SocketAddr>` for its own `TcpListener` only).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task ended (the runtime is shutting down): no more connections.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
