//! Annotation projects: a dataset of cases annotated by a team over rounds of review.
//!
//! A **project** has a name, a label schema ([`schema::LabelSchema`]) and settings (annotators
//! per case, rounds, reviewers). A **case** is one image (NIfTI file or DICOM series) recorded
//! relative to the project's data root. An **annotation** is (case, annotator) with a status
//! (the review states of `project::review_db`: draft → submitted → approved | changes requested → …),
//! a round (bumped when changed work is resubmitted), comments anchored at voxels, and its
//! **mask versions** 1, 2, …: every save stores the mask file's bytes, the label table and
//! their sha256 in the database, so nothing is overwritten and every version can be read back
//! bit for bit. A save names the version it started from; if a newer one exists it is refused
//! with who saved that one and when.
//!
//! **Assignment**: [`Project::next`] claims the annotator's next case atomically — their
//! changes-requested work first, then their assigned drafts, then a case that still lacks
//! annotators (oldest first). Two annotators asking at once never get the same slot: on
//! PostgreSQL the case row is locked with `FOR UPDATE SKIP LOCKED`, on SQLite the write
//! transaction (`BEGIN IMMEDIATE`) serialises claims, and `UNIQUE (case_id, annotator)` holds
//! on both.
//!
//! **Code by concern**: `Project` itself (this file: opening, migrations, the data root, the
//! shared row helpers) and one `impl Project` per concern — [`cases`] (adding cases),
//! [`claims`] (next, assign), [`versions`] (save, get, list), [`review`] (status moves,
//! comments), [`progress`] (case rows, queues, status report), [`gold`], [`export`],
//! [`report`].
//!
//! **Storage**: one schema on two engines ([`db`]): a SQLite file in the project folder (zero
//! set-up) or a PostgreSQL server for a team. The schema is versioned in `meta` and upgraded by
//! the migrations here, inside a transaction; a database from a newer voxmark is refused and
//! never modified.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod accounts;
pub mod cases;
pub mod claims;
pub mod db;
pub mod export;
pub mod gold;
pub mod progress;
pub mod report;
pub mod report_html;
pub mod review;
pub mod review_db;
pub mod schema;
pub mod versions;

use crate::review_db::Status;
use db::{Db, Dialect, Location, Value};
use schema::LabelSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::fs::clock::now_rfc3339;

/// Schema migrations, applied in order; `meta.schema_version` = number applied. `{id}` and
/// `{blob}` are spelled per engine.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "CREATE TABLE cases (
        id {id},
        case_key TEXT NOT NULL UNIQUE,
        image TEXT NOT NULL,
        series_uid TEXT NOT NULL DEFAULT '',
        annotators BIGINT NOT NULL DEFAULT 0,
        added_at TEXT NOT NULL,
        UNIQUE (image, series_uid)
    );
    CREATE TABLE annotations (
        id {id},
        case_id BIGINT NOT NULL REFERENCES cases(id),
        annotator TEXT NOT NULL,
        round BIGINT NOT NULL DEFAULT 1 CHECK (round >= 1),
        status TEXT NOT NULL DEFAULT 'draft'
            CHECK (status IN ('draft', 'submitted', 'approved', 'changes_requested')),
        latest_version BIGINT NOT NULL DEFAULT 0,
        assigned_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (case_id, annotator)
    );
    CREATE INDEX annotations_by_annotator ON annotations (annotator, status);
    CREATE INDEX annotations_by_case ON annotations (case_id);
    CREATE TABLE versions (
        id {id},
        annotation_id BIGINT NOT NULL REFERENCES annotations(id),
        version BIGINT NOT NULL,
        round BIGINT NOT NULL,
        mask {blob} NOT NULL,
        labels TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        bytes BIGINT NOT NULL,
        author TEXT NOT NULL,
        saved_at TEXT NOT NULL,
        UNIQUE (annotation_id, version)
    );
    CREATE TABLE status_history (
        id {id},
        annotation_id BIGINT NOT NULL REFERENCES annotations(id),
        from_status TEXT,
        to_status TEXT NOT NULL,
        round BIGINT NOT NULL,
        by_name TEXT NOT NULL,
        note TEXT,
        at TEXT NOT NULL
    );
    CREATE INDEX history_by_annotation ON status_history (annotation_id);
    CREATE TABLE comments (
        id {id},
        annotation_id BIGINT NOT NULL REFERENCES annotations(id),
        author TEXT NOT NULL,
        body TEXT NOT NULL,
        i BIGINT, j BIGINT, k BIGINT,
        label BIGINT,
        round BIGINT NOT NULL,
        resolved BIGINT NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE INDEX comments_by_annotation ON comments (annotation_id);",
    // 2: gold-standard cases (reference masks, scores of submissions).
    "ALTER TABLE cases ADD COLUMN gold BIGINT NOT NULL DEFAULT 0;
    CREATE TABLE gold_refs (
        case_id BIGINT PRIMARY KEY REFERENCES cases(id),
        mask {blob} NOT NULL,
        sha256 TEXT NOT NULL,
        source TEXT NOT NULL,
        by_name TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE gold_scores (
        id {id},
        annotation_id BIGINT NOT NULL REFERENCES annotations(id),
        version BIGINT NOT NULL,
        passed BIGINT NOT NULL,
        detail TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX gold_scores_by_annotation ON gold_scores (annotation_id);",
    // 3: the markups saved with a mask version (3D Slicer .mrk.json text; NULL: none).
    "ALTER TABLE versions ADD COLUMN markups TEXT;",
    // 4: the team server's accounts, bearer tokens (stored as sha256 only), failed logins
    // (rate limiting shared by every server process) and the append-only audit log.
    "CREATE TABLE users (
        id {id},
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'lead', 'reviewer', 'annotator', 'viewer')),
        password_hash TEXT NOT NULL,
        disabled BIGINT NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE tokens (
        id {id},
        user_id BIGINT NOT NULL REFERENCES users(id),
        token_sha256 TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_unix BIGINT NOT NULL,
        revoked_at TEXT
    );
    CREATE INDEX tokens_by_user ON tokens (user_id);
    CREATE TABLE login_failures (
        id {id},
        user_name TEXT NOT NULL,
        remote TEXT NOT NULL,
        at_unix BIGINT NOT NULL
    );
    CREATE INDEX login_failures_by_user ON login_failures (user_name, at_unix);
    CREATE INDEX login_failures_by_remote ON login_failures (remote, at_unix);
    CREATE TABLE audit (
        id {id},
        at TEXT NOT NULL,
        user_name TEXT NOT NULL,
        role TEXT NOT NULL,
        remote TEXT NOT NULL,
        action TEXT NOT NULL,
        case_key TEXT,
        annotator TEXT,
        version BIGINT,
        outcome BIGINT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_by_user ON audit (user_name);
    CREATE INDEX audit_by_case ON audit (case_key);",
];

/// The project's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Settings {
    /// How many annotators label each case independently.
    pub annotators_per_case: i64,
    /// Review rounds: changes can be requested until an annotation is in its last round.
    pub rounds: i64,
    /// Who may approve or request changes (empty: anyone but the annotation's annotator).
    #[serde(default)]
    pub reviewers: Vec<String>,
    /// The gold-standard protocol ([`gold`]).
    #[serde(default)]
    pub gold: gold::GoldSettings,
    /// Blinded multiple annotation (the team server enforces it): no one but its annotator
    /// reads a slot's mask until every slot of the case has been submitted.
    #[serde(default = "default_blind")]
    pub blind: bool,
}

fn default_blind() -> bool {
    true
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            annotators_per_case: 1,
            rounds: 3,
            reviewers: Vec::new(),
            gold: gold::GoldSettings::default(),
            blind: true,
        }
    }
}

/// What a claim or a case listing says about one annotation slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseRow {
    /// The case id.
    pub case: String,
    /// The image, relative to the data root (a DICOM series: its folder).
    pub image: String,
    /// SeriesInstanceUID of a DICOM case ("" for NIfTI).
    pub series_uid: String,
    /// None for a case nobody has claimed yet.
    pub annotator: Option<String>,
    /// `unassigned`, or the annotation's review status.
    pub status: String,
    pub round: i64,
    /// The latest mask version (0: nothing saved yet).
    pub version: i64,
}

/// One stored mask version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionInfo {
    pub case: String,
    pub annotator: String,
    pub version: i64,
    pub round: i64,
    pub sha256: String,
    pub bytes: i64,
    pub author: String,
    pub saved_at: String,
}

/// A comment on an annotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProjectComment {
    pub author: String,
    pub body: String,
    /// Voxel (i, j, k) it points at.
    pub at: Option<[i64; 3]>,
    pub label: Option<i64>,
    pub round: i64,
    pub created_at: String,
}

/// Counts for `project status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusReport {
    pub name: String,
    pub cases: i64,
    /// Annotation slots not yet claimed (cases × annotators per case − annotations).
    pub unclaimed_slots: i64,
    /// Cases whose every slot is approved.
    pub cases_done: i64,
    pub by_status: std::collections::BTreeMap<String, i64>,
    pub by_annotator: std::collections::BTreeMap<String, std::collections::BTreeMap<String, i64>>,
    pub by_round: std::collections::BTreeMap<String, i64>,
}

/// A case to add: its image relative to the data root, series and id stem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCase {
    pub image: String,
    pub series_uid: String,
    pub stem: String,
}

/// An open project.
pub struct Project {
    db: Db,
    pub name: String,
    pub schema: LabelSchema,
    pub settings: Settings,
    /// The data root recorded when the first cases were added (the default on the machine
    /// that added them).
    pub recorded_root: Option<PathBuf>,
}

/// Lowercase hex SHA-256 of `bytes` (what versions store).
pub use voxmark_volume::fs::sha256_hex;

/// Decodes a stored mask (the bytes of a NIfTI file) through a private scratch file.
/// `what` names it in errors ("case X by Y version N").
pub fn read_mask_bytes(bytes: &[u8], what: &str) -> Result<voxmark_volume::Volume> {
    use std::io::Write;
    let mut tmp = tempfile::Builder::new()
        .prefix(".voxmark-mask-")
        .suffix(".nii.gz")
        .tempfile()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    voxmark_io::nifti::read_nifti(tmp.path())
        .map_err(|e| Error::Corrupt(format!("{what}: stored mask: {e}")))
}

fn text(v: &Value) -> String {
    v.text().unwrap_or_default().to_string()
}

fn int(v: &Value) -> i64 {
    v.int().unwrap_or(0)
}

/// A version's record from a row of `version, round, sha256, bytes, author, saved_at`.
fn version_info(case: &str, annotator: &str, r: &[Value]) -> VersionInfo {
    VersionInfo {
        case: case.to_string(),
        annotator: annotator.to_string(),
        version: int(&r[0]),
        round: int(&r[1]),
        sha256: text(&r[2]),
        bytes: int(&r[3]),
        author: text(&r[4]),
        saved_at: text(&r[5]),
    }
}

fn parse_status(s: &str) -> Result<Status> {
    Status::parse(s)
        .ok_or_else(|| Error::Corrupt(format!("unknown annotation status {s:?} in the project")))
}

/// The newest schema version this voxmark knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn meta_exists(db: &mut Db) -> Result<bool> {
    let sql = match db.dialect {
        Dialect::Sqlite => "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        Dialect::Postgres => {
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'meta'"
        }
    };
    Ok(db.query(sql, &[])?.first().is_some_and(|r| int(&r[0]) > 0))
}

fn get_meta(db: &mut Db, key: &str) -> Result<Option<String>> {
    Ok(db
        .query("SELECT value FROM meta WHERE key = $1", &[key.into()])?
        .first()
        .map(|r| text(&r[0])))
}

fn set_meta(db: &mut Db, key: &str, value: &str) -> Result<()> {
    db.exec(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[key.into(), value.into()],
    )?;
    Ok(())
}

/// Brings the schema up to [`SCHEMA_VERSION`] in one transaction; refuses a newer one.
fn migrate(db: &mut Db) -> Result<()> {
    let loc = db.location().display();
    db.write(|db| {
        if db.dialect == Dialect::Postgres {
            // Two first connections migrating at once: one waits for the other.
            db.query("SELECT pg_advisory_xact_lock(7031)::text", &[])?;
        }
        if !meta_exists(db)? {
            db.batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")?;
        }
        let have: i64 = get_meta(db, "schema_version")?
            .map(|v| v.parse().unwrap_or(i64::MAX))
            .unwrap_or(0);
        if have > SCHEMA_VERSION {
            return Err(Error::Unsupported {
                path: PathBuf::from(&loc),
                what: format!(
                    "project schema version {have} is newer than this voxmark's ({SCHEMA_VERSION}); upgrade voxmark (the project was not modified)"
                ),
            });
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(have as usize) {
            let sql = m
                .replace("{id}", db.dialect.id_column())
                .replace("{blob}", db.dialect.blob());
            db.batch(&sql)?;
            set_meta(db, "schema_version", &(i as i64 + 1).to_string())?;
        }
        Ok(())
    })
}

/// Where a case's image is on this machine.
pub fn image_path(root: &Path, image: &str) -> PathBuf {
    if image == "." {
        root.to_path_buf()
    } else {
        root.join(image)
    }
}

impl Project {
    /// Creates a project at `location` (a folder is created; a server database must exist and
    /// must not hold a project yet).
    pub fn init(
        location: &Location,
        name: &str,
        schema: &LabelSchema,
        settings: &Settings,
    ) -> Result<Self> {
        if settings.annotators_per_case < 1 || settings.rounds < 1 {
            return Err(Error::invalid(
                "--annotators-per-case and --rounds must be at least 1",
            ));
        }
        let mut db = Db::open(location, true)?;
        migrate(&mut db)?;
        let loc = location.display();
        let schema_json = serde_json::to_string(schema)
            .map_err(|e| Error::Corrupt(format!("label schema: {e}")))?;
        let settings_json = serde_json::to_string(settings)
            .map_err(|e| Error::Corrupt(format!("settings: {e}")))?;
        db.write(|db| {
            if get_meta(db, "name")?.is_some() {
                return Err(Error::invalid(format!("{loc} already holds a project")));
            }
            set_meta(db, "name", name)?;
            set_meta(db, "label_schema", &schema_json)?;
            set_meta(db, "settings", &settings_json)?;
            set_meta(db, "created_at", &now_rfc3339())?;
            Ok(())
        })?;
        Self::from_db(db)
    }

    /// Opens the project at `location`, migrating an older schema.
    pub fn open(location: &Location) -> Result<Self> {
        let mut db = Db::open(location, false)?;
        migrate(&mut db)?;
        Self::from_db(db)
    }

    fn from_db(mut db: Db) -> Result<Self> {
        let (name, schema, settings, recorded_root) = Self::load_meta(&mut db)?;
        Ok(Self {
            db,
            name,
            schema,
            settings,
            recorded_root,
        })
    }

    /// Name, schema, settings and recorded data root from `meta`.
    fn load_meta(db: &mut Db) -> Result<(String, LabelSchema, Settings, Option<PathBuf>)> {
        let loc = db.location().display();
        // One query for the four keys (a server re-reads them before every request).
        let (name, schema, settings, root) = db.read(|db| {
            let rows = db.query(
                "SELECT key, value FROM meta WHERE key IN ('name', 'label_schema', 'settings', 'data_root')",
                &[],
            )?;
            let get = |k: &str| {
                rows.iter()
                    .find(|r| r[0].text() == Some(k))
                    .map(|r| text(&r[1]))
            };
            Ok((
                get("name"),
                get("label_schema"),
                get("settings"),
                get("data_root"),
            ))
        })?;
        let name = name.ok_or_else(|| {
            Error::NotFound(format!(
                "{loc}: no project here (`voxmark project init` makes one)"
            ))
        })?;
        let schema = LabelSchema::parse(&schema.unwrap_or_default(), Path::new(&loc))?;
        let settings: Settings = serde_json::from_str(&settings.unwrap_or_default())
            .map_err(|e| Error::Corrupt(format!("{loc}: project settings: {e}")))?;
        Ok((name, schema, settings, root.map(PathBuf::from)))
    }

    pub fn location(&self) -> &Location {
        self.db.location()
    }

    /// Re-reads the settings, schema and data root (another process may have changed them:
    /// a long-lived connection, as a server's, calls this before each request).
    pub fn refresh(&mut self) -> Result<()> {
        let (name, schema, settings, root) = Self::load_meta(&mut self.db)?;
        self.name = name;
        self.schema = schema;
        self.settings = settings;
        self.recorded_root = root;
        Ok(())
    }

    /// Writes `settings` to the database and keeps them.
    pub(crate) fn store_settings(&mut self, settings: &Settings) -> Result<()> {
        let json = serde_json::to_string(settings)
            .map_err(|e| Error::Corrupt(format!("settings: {e}")))?;
        self.db.write(|db| set_meta(db, "settings", &json))?;
        self.settings = settings.clone();
        Ok(())
    }

    /// The data root on this machine: `flag`, else `VOXMARK_DATA_ROOT`, else the root
    /// recorded with the first cases.
    pub fn data_root(&self, flag: Option<&Path>) -> Option<PathBuf> {
        flag.map(Path::to_path_buf)
            .or_else(|| std::env::var_os("VOXMARK_DATA_ROOT").map(PathBuf::from))
            .or_else(|| self.recorded_root.clone())
    }

    fn row_of(r: &[Value]) -> CaseRow {
        let annotator = r[3].text().map(str::to_string);
        CaseRow {
            case: text(&r[0]),
            image: text(&r[1]),
            series_uid: text(&r[2]),
            status: if annotator.is_some() {
                text(&r[4])
            } else {
                "unassigned".into()
            },
            annotator,
            round: int(&r[5]),
            version: int(&r[6]),
        }
    }

    const SLOT_COLUMNS: &'static str =
        "c.case_key, c.image, c.series_uid, a.annotator, a.status, a.round, a.latest_version";

    /// The row id of case `case` (locked for the transaction when `lock`).
    fn case_id(db: &mut Db, case: &str, lock: bool) -> Result<i64> {
        let sql = format!(
            "SELECT id FROM cases WHERE case_key = $1{}",
            if lock { db.dialect.lock() } else { "" }
        );
        db.query(&sql, &[case.into()])?
            .first()
            .map(|r| int(&r[0]))
            .ok_or_else(|| Error::NotFound(format!("no case {case:?} in the project")))
    }

    fn annotation(
        db: &mut Db,
        case: &str,
        annotator: &str,
        lock: bool,
    ) -> Result<(i64, Status, i64, i64)> {
        let sql = format!(
            "SELECT a.id, a.status, a.round, a.latest_version FROM annotations a JOIN cases c ON c.id = a.case_id
             WHERE c.case_key = $1 AND a.annotator = $2{}",
            if lock { db.dialect.lock() } else { "" }
        );
        let rows = db.query(&sql, &[case.into(), annotator.into()])?;
        let r = rows.first().ok_or_else(|| {
            Error::NotFound(format!(
                "case {case} is not assigned to {annotator} (`voxmark project next` or `assign`)"
            ))
        })?;
        Ok((
            int(&r[0]),
            parse_status(&text(&r[1]))?,
            int(&r[2]),
            int(&r[3]),
        ))
    }
}

/// Annotator and reviewer names: non-empty, no control characters.
fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(Error::invalid(format!("{name:?} is not a usable name")));
    }
    Ok(())
}
