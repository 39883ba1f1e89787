//! A few open project connections shared by the request handlers. The project API is
//! blocking (rusqlite, the sync postgres client), so each use runs on tokio's blocking pool;
//! a semaphore bounds how many run at once. Each connection re-reads the project's settings
//! before it is used, so a change made by another server process (blinding, gold settings)
//! holds at once — the database is the one source of truth.

use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use voxmark_project::db::Location;
use voxmark_project::Project;
use voxmark_volume::error::{Error, Result};

pub struct Pool {
    location: Location,
    idle: Mutex<Vec<Project>>,
    permits: Semaphore,
}

impl Pool {
    /// A pool of at most `size` connections to the project at `location` (one is opened now,
    /// so that a wrong location fails at start-up).
    pub fn open(location: &Location, size: usize) -> Result<Arc<Self>> {
        let first = Project::open(location)?;
        Ok(Arc::new(Self {
            location: location.clone(),
            idle: Mutex::new(vec![first]),
            permits: Semaphore::new(size.max(1)),
        }))
    }

    /// Runs `f` on a connection, off the async threads.
    pub async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Project) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Worker("the server is shutting down".into()))?;
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let idle = me.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
            let mut p = match idle {
                Some(mut p) => {
                    p.refresh()?;
                    p
                }
                None => Project::open(&me.location)?,
            };
            let out = f(&mut p);
            // A connection that failed at the database level is dropped, not reused.
            if !matches!(out, Err(Error::Db(_))) {
                if let Ok(mut v) = me.idle.lock() {
                    v.push(p);
                }
            }
            out
        })
        .await
        .map_err(|e| Error::Worker(format!("a database task ended: {e}")))?
    }
}
