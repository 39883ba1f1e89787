//! The review database: cases (images), annotations (masks) with annotator, round and
//! status, the history of every status change, and reviewer comments anchored to a voxel
//! (and view) with an optional label. SQLite through rusqlite, in the project folder; the
//! schema is versioned with `PRAGMA user_version` and upgraded by ordered migrations inside
//! a transaction, so the same tables can later move to a shared server.
//!
//! Statuses and the transitions allowed between them:
//! `draft → submitted`, `submitted → approved | changes_requested | draft` (withdrawn),
//! `changes_requested → submitted` (a new round: round + 1), `approved → changes_requested`
//! (reopened). Anything else is refused with the allowed moves named.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::fs::clock::now_rfc3339;

/// Schema migrations, applied in order; `user_version` = number applied.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "CREATE TABLE cases (
        id INTEGER PRIMARY KEY,
        image TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    CREATE TABLE annotations (
        id INTEGER PRIMARY KEY,
        case_id INTEGER NOT NULL REFERENCES cases(id),
        mask TEXT NOT NULL,
        annotator TEXT NOT NULL,
        round INTEGER NOT NULL DEFAULT 1 CHECK (round >= 1),
        status TEXT NOT NULL DEFAULT 'draft'
            CHECK (status IN ('draft', 'submitted', 'approved', 'changes_requested')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (case_id, mask)
    );
    CREATE TABLE status_history (
        id INTEGER PRIMARY KEY,
        annotation_id INTEGER NOT NULL REFERENCES annotations(id),
        from_status TEXT,
        to_status TEXT NOT NULL,
        round INTEGER NOT NULL,
        by TEXT NOT NULL,
        note TEXT,
        at TEXT NOT NULL
    );
    CREATE TABLE comments (
        id INTEGER PRIMARY KEY,
        annotation_id INTEGER NOT NULL REFERENCES annotations(id),
        author TEXT NOT NULL,
        body TEXT NOT NULL,
        i INTEGER, j INTEGER, k INTEGER,
        view TEXT CHECK (view IS NULL OR view IN ('axial', 'coronal', 'sagittal', '3d')),
        label INTEGER CHECK (label IS NULL OR label BETWEEN 0 AND 255),
        round INTEGER NOT NULL,
        resolved INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE INDEX comments_by_annotation ON comments(annotation_id);
    CREATE INDEX history_by_annotation ON status_history(annotation_id);",
];

/// Annotation status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Submitted,
    Approved,
    ChangesRequested,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Submitted => "submitted",
            Status::Approved => "approved",
            Status::ChangesRequested => "changes_requested",
        }
    }

    /// The status named `s` (`draft`, `submitted`, `approved`, `changes_requested`).
    pub fn parse(s: &str) -> Option<Self> {
        [
            Status::Draft,
            Status::Submitted,
            Status::Approved,
            Status::ChangesRequested,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Where an annotation in this status may go.
    pub fn allowed(self) -> &'static [Status] {
        match self {
            Status::Draft => &[Status::Submitted],
            Status::Submitted => &[Status::Approved, Status::ChangesRequested, Status::Draft],
            Status::ChangesRequested => &[Status::Submitted],
            Status::Approved => &[Status::ChangesRequested],
        }
    }
}

/// One annotation with its case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Annotation {
    pub id: i64,
    pub image: String,
    pub mask: String,
    pub annotator: String,
    pub round: i64,
    pub status: Status,
    pub comments: i64,
    pub open_comments: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// A reviewer comment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comment {
    pub id: i64,
    pub annotation_id: i64,
    pub author: String,
    pub body: String,
    /// Voxel index (i, j, k) the comment points at.
    pub voxel: Option<[i64; 3]>,
    pub view: Option<String>,
    pub label: Option<u8>,
    pub round: i64,
    pub resolved: bool,
    pub created_at: String,
}

/// One status change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusChange {
    pub annotation_id: i64,
    pub from: Option<String>,
    pub to: String,
    pub round: i64,
    pub by: String,
    pub note: Option<String>,
    pub at: String,
}

/// An open review database.
pub struct ReviewDb {
    conn: Connection,
    path: PathBuf,
}

/// Stores paths absolute when the file exists, so the database works from any folder.
fn path_key(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

impl ReviewDb {
    /// Opens (creating when missing) the database at `path` and upgrades its schema.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(|e| db_error(path, e))?;
        let db = Self {
            conn,
            path: path.to_path_buf(),
        };
        db.conn
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| db.err(e))?;
        db.conn
            .pragma_update(None, "foreign_keys", true)
            .map_err(|e| db.err(e))?;
        db.migrate()?;
        Ok(db)
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_error(&self.path, e)
    }

    /// The schema version (migrations applied).
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn migrate(&self) -> Result<()> {
        let have = self.schema_version()?;
        let want = MIGRATIONS.len() as i64;
        if have > want {
            return Err(Error::format(
                &self.path,
                format!(
                    "review database schema version {have} is newer than this voxmark knows ({want}); upgrade voxmark"
                ),
            ));
        }
        if have < want {
            let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
            for (n, sql) in MIGRATIONS.iter().enumerate().skip(have as usize) {
                tx.execute_batch(sql).map_err(|e| self.err(e))?;
                tx.pragma_update(None, "user_version", (n + 1) as i64)
                    .map_err(|e| self.err(e))?;
            }
            tx.commit().map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Registers `mask` (by `annotator`) for the case `image`, as a draft; returns its id.
    pub fn add_annotation(&self, image: &Path, mask: &Path, annotator: &str) -> Result<i64> {
        let now = now_rfc3339();
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO cases (image, created_at) VALUES (?1, ?2) ON CONFLICT(image) DO NOTHING",
            params![path_key(image), now],
        )
        .map_err(|e| self.err(e))?;
        let case_id: i64 = tx
            .query_row(
                "SELECT id FROM cases WHERE image = ?1",
                params![path_key(image)],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO annotations (case_id, mask, annotator, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![case_id, path_key(mask), annotator, now],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Error::Invalid(format!(
                    "{} is already registered for {}",
                    mask.display(),
                    image.display()
                ))
            }
            e => self.err(e),
        })?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO status_history (annotation_id, from_status, to_status, round, by, at)
             VALUES (?1, NULL, 'draft', 1, ?2, ?3)",
            params![id, annotator, now],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// Annotations, optionally only those in `status`, by id.
    pub fn list(&self, status: Option<Status>) -> Result<Vec<Annotation>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT a.id, c.image, a.mask, a.annotator, a.round, a.status, a.created_at,
                        a.updated_at,
                        (SELECT COUNT(*) FROM comments m WHERE m.annotation_id = a.id),
                        (SELECT COUNT(*) FROM comments m WHERE m.annotation_id = a.id
                                                          AND m.resolved = 0)
                 FROM annotations a JOIN cases c ON c.id = a.case_id
                 WHERE ?1 IS NULL OR a.status = ?1 ORDER BY a.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![status.map(Status::as_str)], |r| {
                let s: String = r.get(5)?;
                Ok(Annotation {
                    id: r.get(0)?,
                    image: r.get(1)?,
                    mask: r.get(2)?,
                    annotator: r.get(3)?,
                    round: r.get(4)?,
                    status: Status::parse(&s).unwrap_or(Status::Draft),
                    created_at: r.get(6)?,
                    updated_at: r.get(7)?,
                    comments: r.get(8)?,
                    open_comments: r.get(9)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// One annotation.
    pub fn get(&self, id: i64) -> Result<Annotation> {
        self.list(None)?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| Error::NotFound(format!("no annotation with id {id}")))
    }

    /// Moves annotation `id` to `to`, recording who and why; returns the annotation after.
    pub fn set_status(
        &self,
        id: i64,
        to: Status,
        by: &str,
        note: Option<&str>,
    ) -> Result<Annotation> {
        let a = self.get(id)?;
        if !a.status.allowed().contains(&to) {
            return Err(Error::Invalid(format!(
                "annotation {id} is {}; it can move to {} (not {})",
                a.status.as_str(),
                a.status
                    .allowed()
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
                to.as_str()
            )));
        }
        let round = if a.status == Status::ChangesRequested && to == Status::Submitted {
            a.round + 1
        } else {
            a.round
        };
        let now = now_rfc3339();
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        tx.execute(
            "UPDATE annotations SET status = ?2, round = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, to.as_str(), round, now],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO status_history (annotation_id, from_status, to_status, round, by, note, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, a.status.as_str(), to.as_str(), round, by, note, now],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        self.get(id)
    }

    /// Adds a comment on annotation `id`; returns the comment id.
    pub fn comment(
        &self,
        id: i64,
        author: &str,
        body: &str,
        voxel: Option<[i64; 3]>,
        view: Option<&str>,
        label: Option<u8>,
    ) -> Result<i64> {
        let a = self.get(id)?;
        if body.trim().is_empty() {
            return Err(Error::Invalid("a comment needs text".into()));
        }
        self.conn
            .execute(
                "INSERT INTO comments (annotation_id, author, body, i, j, k, view, label, round,
                                       created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    id,
                    author,
                    body,
                    voxel.map(|v| v[0]),
                    voxel.map(|v| v[1]),
                    voxel.map(|v| v[2]),
                    view,
                    label,
                    a.round,
                    now_rfc3339()
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Marks comment `cid` resolved.
    pub fn resolve(&self, cid: i64) -> Result<()> {
        let n = self
            .conn
            .execute(
                "UPDATE comments SET resolved = 1 WHERE id = ?1",
                params![cid],
            )
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(Error::NotFound(format!("no comment with id {cid}")));
        }
        Ok(())
    }

    /// Comments on annotation `id` (all when None), oldest first.
    pub fn comments(&self, id: Option<i64>) -> Result<Vec<Comment>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, annotation_id, author, body, i, j, k, view, label, round, resolved,
                        created_at
                 FROM comments WHERE ?1 IS NULL OR annotation_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![id], |r| {
                let (i, j, k): (Option<i64>, Option<i64>, Option<i64>) =
                    (r.get(4)?, r.get(5)?, r.get(6)?);
                let label: Option<i64> = r.get(8)?;
                Ok(Comment {
                    id: r.get(0)?,
                    annotation_id: r.get(1)?,
                    author: r.get(2)?,
                    body: r.get(3)?,
                    voxel: match (i, j, k) {
                        (Some(i), Some(j), Some(k)) => Some([i, j, k]),
                        _ => None,
                    },
                    view: r.get(7)?,
                    label: label.and_then(|l| u8::try_from(l).ok()),
                    round: r.get(9)?,
                    resolved: r.get::<_, i64>(10)? != 0,
                    created_at: r.get(11)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// Status changes of annotation `id` (all when None), oldest first.
    pub fn history(&self, id: Option<i64>) -> Result<Vec<StatusChange>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT annotation_id, from_status, to_status, round, by, note, at
                 FROM status_history WHERE ?1 IS NULL OR annotation_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![id], |r| {
                Ok(StatusChange {
                    annotation_id: r.get(0)?,
                    from: r.get(1)?,
                    to: r.get(2)?,
                    round: r.get(3)?,
                    by: r.get(4)?,
                    note: r.get(5)?,
                    at: r.get(6)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// The annotation registered for `mask`, if any.
    pub fn find_by_mask(&self, mask: &Path) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT id FROM annotations WHERE mask = ?1 ORDER BY id DESC LIMIT 1",
                params![path_key(mask)],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Everything, as one JSON document.
    pub fn export(&self) -> Result<serde_json::Value> {
        Ok(serde_json::json!({
            "schema_version": self.schema_version()?,
            "annotations": self.list(None)?,
            "comments": self.comments(None)?,
            "history": self.history(None)?,
        }))
    }
}

/// A database error with the file named and the common causes spelled out.
fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    let problem = match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                "the review database is locked by another process (waited 5 s); try again when it is done".to_string()
            }
            rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt => {
                format!("not a usable review database (corrupt, or not SQLite): {e}")
            }
            rusqlite::ErrorCode::ReadOnly => format!("the review database is read-only: {e}"),
            rusqlite::ErrorCode::CannotOpen => format!("cannot open the review database: {e}"),
            _ => format!("review database: {e}"),
        },
        _ => format!("review database: {e}"),
    };
    Error::format(path, problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_comments_and_history() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("review.db");
        let db = ReviewDb::open(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(db.schema_version().unwrap_or(0), MIGRATIONS.len() as i64);
        let img = dir.path().join("ct.nii.gz");
        let id = db
            .add_annotation(&img, &dir.path().join("a.nii.gz"), "ana")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(db
            .add_annotation(&img, &dir.path().join("a.nii.gz"), "ana")
            .is_err());
        assert!(db.set_status(id, Status::Approved, "rev", None).is_err());
        db.set_status(id, Status::Submitted, "ana", None)
            .unwrap_or_else(|e| panic!("{e}"));
        let c = db
            .comment(
                id,
                "rev",
                "misses the left adrenal",
                Some([10, 20, 30]),
                Some("axial"),
                Some(3),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let a = db
            .set_status(id, Status::ChangesRequested, "rev", Some("see comment"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((a.round, a.open_comments), (1, 1));
        db.resolve(c).unwrap_or_else(|e| panic!("{e}"));
        let a = db
            .set_status(id, Status::Submitted, "ana", None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((a.round, a.open_comments), (2, 0));
        let a = db
            .set_status(id, Status::Approved, "rev", None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.status, Status::Approved);
        let h = db.history(Some(id)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.len(), 5);
        assert_eq!(h[2].note.as_deref(), Some("see comment"));
        drop(db);
        // Reopening keeps everything and does not re-run migrations.
        let db = ReviewDb::open(&p).unwrap_or_else(|e| panic!("{e}"));
        let cm = db.comments(Some(id)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cm[0].voxel, Some([10, 20, 30]));
        assert!(cm[0].resolved);
        assert_eq!(
            db.list(Some(Status::Approved))
                .map(|v| v.len())
                .unwrap_or(0),
            1
        );
    }

    #[test]
    fn corrupt_and_newer_databases_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let bad = dir.path().join("bad.db");
        std::fs::write(
            &bad,
            b"this is not sqlite, just text pretending to be one.......",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let e = ReviewDb::open(&bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("bad.db") && e.contains("not a usable review database"),
            "{e}"
        );
        let newer = dir.path().join("newer.db");
        {
            let c = Connection::open(&newer).unwrap_or_else(|e| panic!("{e}"));
            c.pragma_update(None, "user_version", 99)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let e = ReviewDb::open(&newer)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("newer than this voxmark knows"), "{e}");
    }
}
