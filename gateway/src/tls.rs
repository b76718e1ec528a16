//! HTTPS: when `[tls] cert` and `key` are configured the gateway serves TLS itself (the
//! Kubernetes API server calls admission webhooks over HTTPS only). Handshakes run off the
//! accept loop, each bounded in time, so a slow or broken client never holds up the others.
//!
//! Certificates are short-lived where webhooks run (cert-manager renews them into a mounted
//! Secret), so the files are watched and a renewed pair is served from the next handshake on,
//! without a restart. A pair that does not load (half-written, key not matching) is logged and
//! the previous one kept.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::server::TlsStream;

/// How long a client has to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the certificate and key files are checked for a renewal.
const RELOAD_CHECK: Duration = Duration::from_secs(5);

/// Which file a TLS set-up error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    Cert,
    Key,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider())
}

/// Reads a PEM certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 or SEC1),
/// checking that they belong together.
fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, (TlsFile, String)> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| (TlsFile::Cert, format!("{}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| (TlsFile::Cert, format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err((
            TlsFile::Cert,
            format!("{} holds no PEM CERTIFICATE", cert.display()),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        (
            TlsFile::Key,
            format!("{}: no PEM private key: {e}", key.display()),
        )
    })?;
    let mismatch = |e: tokio_rustls::rustls::Error| {
        (
            TlsFile::Key,
            format!("{} does not fit {}: {e}", key.display(), cert.display()),
        )
    };
    let pair = CertifiedKey::from_der(certs, key_der, &provider()).map_err(mismatch)?;
    pair.keys_match().map_err(mismatch)?;
    Ok(pair)
}

/// The pair currently served, replaced when the files change.
#[derive(Debug)]
pub struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' modification times and sizes when `current` was loaded.
    seen: std::sync::Mutex<Option<[(SystemTime, u64); 2]>>,
}

impl CertFiles {
    fn stamp(&self) -> Option<[(SystemTime, u64); 2]> {
        let one = |p: &Path| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        };
        Some([one(&self.cert)?, one(&self.key)?])
    }

    /// Loads the files again if they changed since the last load; whether a new pair is served.
    pub fn reload_if_changed(&self) -> bool {
        let stamp = self.stamp();
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        if stamp.is_none() || stamp == *seen {
            return false;
        }
        match load_pair(&self.cert, &self.key) {
            Ok(pair) => {
                if let Ok(mut cur) = self.current.write() {
                    *cur = Arc::new(pair);
                }
                *seen = stamp;
                tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                true
            }
            // Often a renewal caught between writing the two files: retried next round.
            Err((_, e)) => {
                tracing::warn!(error = %e, "renewed TLS files not loaded; serving the previous certificate");
                false
            }
        }
    }

    /// Checks the files every few seconds for as long as the process runs.
    pub fn watch(self: Arc<Self>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_CHECK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let files = Arc::clone(&self);
                let _ = tokio::task::spawn_blocking(move || files.reload_if_changed()).await;
            }
        });
    }
}

impl ResolvesServerCert for CertFiles {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| Arc::clone(&c))
    }
}

/// Reads the certificate chain and key into a server configuration offering HTTP/2 and
/// HTTP/1.1 whose certificate follows the files (see [`CertFiles::watch`]).
pub fn server_config(
    cert: &Path,
    key: &Path,
) -> Result<(ServerConfig, Arc<CertFiles>), (TlsFile, String)> {
    let files = Arc::new(CertFiles {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        current: RwLock::new(Arc::new(load_pair(cert, key)?)),
        seen: std::sync::Mutex::new(None),
    });
    *files.seen.lock().expect("fresh mutex") = files.stamp();
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| (TlsFile::Cert, e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::clone(&files) as Arc<dyn ResolvesServerCert>);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((config, files))
}

/// A listener that hands `axum::serve` connections whose TLS handshake has completed.
#[derive(Debug)]
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let _ = stream.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { local, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept task ended: nothing will ever arrive again.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
