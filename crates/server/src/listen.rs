//! The accept loop: TCP, then TLS (rustls) or plain HTTP/1.1 (hyper), with bounds on
//! connections, the TLS handshake and the request head.
//!
//! A plain-HTTP request to the TLS port is answered with a short plain `400` saying the port
//! speaks HTTPS (the first byte of a TLS connection is a handshake record, 0x16), instead of
//! a handshake failure the user cannot read.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use voxmark_volume::error::{Error, Result};

/// The client's address, put into every request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct Remote(pub SocketAddr);

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 512;
/// The TLS handshake and the request head must arrive within this.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(20);

/// A rustls server configuration from PEM files (a certificate chain and its key).
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| Error::format(cert, format!("not a PEM certificate file: {e}")))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::format(cert, format!("a certificate in it is unreadable: {e}")))?;
    if certs.is_empty() {
        return Err(Error::format(cert, "no certificate in it"));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Error::format(key, format!("no private key in it: {e}")))?;
    // ring, not aws-lc-rs: no C build (aws-lc-sys) for the server, and the client side
    // (reqwest 0.12) uses ring too. rustls 0.23.48 deprecates it for lack of post-quantum
    // key exchange; TLS 1.3 with X25519 stays sound against today's attackers.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            Error::format(
                cert,
                format!("the certificate and key do not go together: {e}"),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            _ = &mut shutdown => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("voxmark serve: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
            // Over the bound: close at once rather than queue without limit.
            drop(stream);
            continue;
        };
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            connection(stream, addr, app, tls).await;
        });
    }
}

async fn connection(stream: TcpStream, addr: SocketAddr, app: Router, tls: Option<TlsAcceptor>) {
    let svc = app.map_request(move |req: hyper::Request<hyper::body::Incoming>| {
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(Remote(addr));
        req
    });
    let svc = TowerToHyperService::new(svc);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(64 * 1024);
    match tls {
        None => {
            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
        }
        Some(acceptor) => {
            let mut first = [0u8; 1];
            let peeked = tokio::time::timeout(HEAD_TIMEOUT, stream.peek(&mut first)).await;
            match peeked {
                Ok(Ok(1)) if first[0] == 0x16 => {}
                Ok(Ok(1)) => {
                    plain_on_tls_port(stream).await;
                    return;
                }
                _ => return,
            }
            let Ok(Ok(tls_stream)) =
                tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(stream)).await
            else {
                return;
            };
            let _ = http.serve_connection(TokioIo::new(tls_stream), svc).await;
        }
    }
}

/// The answer to plain HTTP on the TLS port.
async fn plain_on_tls_port(mut stream: TcpStream) {
    let body = "{\"error\":\"this port speaks HTTPS: use https:// (plain HTTP is refused)\"}";
    let msg = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(msg.as_bytes())).await;
    let _ = stream.shutdown().await;
}
