//! `voxmark serve`: the team server. An HTTP/JSON API (`/api/v1/...`, described by the
//! OpenAPI document at `/api/v1/openapi.json`, generated from the handlers) over a project on
//! SQLite or PostgreSQL, with accounts, roles, blinded multiple annotation, an audit log, and
//! the cases' images and masks over HTTP(S). And [`client`]: the other end, used by the CLI.
//!
//! **Stateless**: everything — accounts, tokens, failed logins, claims, versions, audit —
//! lives in the project database, so any number of server processes on one PostgreSQL
//! project serve one team (claims stay exactly-once through the project's row locks).
//! Per-process caches hold only what is derived from files (hashes, grids).
//!
//! **Every request** is authenticated by a bearer token (but `login` and the OpenAPI
//! document), checked against the role table and the object rules of [`policy`], bounded in
//! size and time, and, when it changes something or reads a mask, appended to the audit log
//! with user, role, remote address, action, case, annotator and version. Secrets (passwords,
//! tokens) are never logged: the access log has time, address, method, path and status.
//!
//! Layout: [`auth`] (argon2id, tokens, rate limit), [`policy`] (who may do what), [`pool`]
//! (blocking project connections), [`files`] (images as files, upload bounds), [`listen`]
//! (TLS / plain accept loop), [`api`] (the handlers and the OpenAPI document), [`client`].

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod auth;
pub mod client;
pub mod files;
pub mod listen;
pub mod policy;
pub mod pool;
pub mod target;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use voxmark_project::db::Location;
use voxmark_volume::error::{Error, Result};

/// How to run a server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub project: Location,
    pub listen: SocketAddr,
    /// Where the cases' images are (default: the project's recorded data root).
    pub data_root: Option<PathBuf>,
    /// PEM certificate chain and key: HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Plain HTTP on a non-loopback address (behind a TLS-terminating reverse proxy).
    pub insecure_http: bool,
    /// How long a login's token lives.
    pub session_hours: i64,
    /// Database connections (and concurrent database tasks).
    pub connections: usize,
    /// One line per request on stderr (off only for in-process benchmarks).
    pub access_log: bool,
    /// Mask uploads held in memory at once, in MiB (more wait their turn).
    pub upload_memory_mib: usize,
    /// Where exports asked for over the API are written before clients fetch them (default:
    /// a folder per project under the system's temporary folder).
    pub export_dir: Option<PathBuf>,
}

/// Shared by every handler.
pub struct AppState {
    pub pool: Arc<pool::Pool>,
    pub files: files::Files,
    pub data_root: Option<PathBuf>,
    pub session_s: i64,
    /// MiB of upload bodies in memory at once: an upload takes its size (declared, else its
    /// case's bound) before its body is read.
    pub upload_budget: tokio::sync::Semaphore,
    pub upload_budget_mib: usize,
    /// Exports made over the API: their folder, one export at a time in this process, and
    /// the files of the last export of each layout (what `GET /export/.../files` serves).
    pub export_dir: PathBuf,
    pub export_lock: tokio::sync::Mutex<()>,
    pub exported: std::sync::Mutex<std::collections::HashMap<String, Vec<(String, PathBuf)>>>,
}

/// Refuses plain HTTP beyond loopback unless asked for.
pub fn check_listen(o: &ServeOptions) -> Result<()> {
    if o.tls.is_none() && !o.listen.ip().is_loopback() && !o.insecure_http {
        return Err(Error::invalid(format!(
            "{} is not a loopback address: give --tls-cert and --tls-key, or --insecure-http when a TLS-terminating reverse proxy is in front",
            o.listen
        )));
    }
    if !(1..=24 * 30).contains(&o.session_hours) {
        return Err(Error::invalid("--session-hours must be between 1 and 720"));
    }
    Ok(())
}

/// Runs the server until Ctrl+C / SIGTERM. `ready` is called with the bound address.
pub fn serve(o: ServeOptions, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    check_listen(&o)?;
    let tls = o
        .tls
        .as_ref()
        .map(|(c, k)| listen::tls_acceptor(c, k))
        .transpose()?;
    let pool = pool::Pool::open(&o.project, o.connections)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("voxmark-serve")
        .build()
        .map_err(|e| Error::Worker(format!("starting the server's runtime: {e}")))?;
    rt.block_on(async move {
        let data_root = match o.data_root.clone() {
            Some(d) => Some(d),
            None => pool.run(|p| Ok(p.data_root(None))).await?,
        };
        let state = Arc::new(AppState {
            pool,
            files: files::Files::default(),
            data_root,
            session_s: o.session_hours * 3600,
            upload_budget: tokio::sync::Semaphore::new(o.upload_memory_mib.max(1)),
            upload_budget_mib: o.upload_memory_mib.max(1),
            export_dir: o.export_dir.clone().unwrap_or_else(|| {
                let place = voxmark_volume::fs::sha256_hex(o.project.display().as_bytes());
                std::env::temp_dir().join(format!("voxmark-exports-{}", &place[..12]))
            }),
            export_lock: tokio::sync::Mutex::new(()),
            exported: Default::default(),
        });
        let listener = tokio::net::TcpListener::bind(o.listen)
            .await
            .map_err(|e| Error::invalid(format!("cannot listen on {}: {e}", o.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::invalid(format!("cannot listen on {}: {e}", o.listen)))?;
        ready(addr);
        let app = api::router(state, o.access_log);
        listen::serve(listener, app, tls, shutdown_signal()).await;
        Ok(())
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
