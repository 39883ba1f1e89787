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
//! **Storage**: one schema on two engines ([`db`]): a SQLite file in the project folder (zero
//! set-up) or a PostgreSQL server for a team. The schema is versioned in `meta` and upgraded by
//! the migrations here, inside a transaction; a database from a newer voxmark is refused and
//! never modified.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cases;
pub mod db;
pub mod export;
pub mod gold;
pub mod report;
pub mod report_html;
pub mod review_db;
pub mod schema;

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
];

/// The project's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            annotators_per_case: 1,
            rounds: 3,
            reviewers: Vec::new(),
            gold: gold::GoldSettings::default(),
        }
    }
}

/// What a claim or a case listing says about one annotation slot.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
        let loc = db.location().display();
        let (name, schema, settings, root) = db.read(|db| {
            Ok((
                get_meta(db, "name")?,
                get_meta(db, "label_schema")?,
                get_meta(db, "settings")?,
                get_meta(db, "data_root")?,
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
        Ok(Self {
            db,
            name,
            schema,
            settings,
            recorded_root: root.map(PathBuf::from),
        })
    }

    pub fn location(&self) -> &Location {
        self.db.location()
    }

    /// The data root on this machine: `flag`, else `VOXMARK_DATA_ROOT`, else the root
    /// recorded with the first cases.
    pub fn data_root(&self, flag: Option<&Path>) -> Option<PathBuf> {
        flag.map(Path::to_path_buf)
            .or_else(|| std::env::var_os("VOXMARK_DATA_ROOT").map(PathBuf::from))
            .or_else(|| self.recorded_root.clone())
    }

    /// Adds the images in `paths` (files, folders, CSV lists) as cases under `root` (None:
    /// [`Project::data_root`], else the deepest folder holding them all, recorded). Images
    /// already in the project are skipped. Returns the new cases.
    pub fn add_cases(&mut self, paths: &[PathBuf], root: Option<&Path>) -> Result<Vec<CaseRow>> {
        let found = cases::discover(paths)?;
        let root = match self.data_root(root) {
            Some(r) => std::fs::canonicalize(&r).map_err(|e| Error::io(&r, e))?,
            None => {
                // The deepest folder holding what the user named (a folder argument is its
                // own root) and every case found.
                let mut all: Vec<PathBuf> = paths
                    .iter()
                    .filter(|p| !p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")))
                    .filter_map(|p| std::fs::canonicalize(p).ok())
                    .collect();
                all.extend(found.iter().map(|f| f.path.clone()));
                cases::common_root(&all).ok_or_else(|| Error::invalid("no cases found"))?
            }
        };
        let mut items = Vec::new();
        for f in &found {
            items.push(NewCase {
                image: cases::relative_to(&f.path, &root)?,
                series_uid: f.series_uid.clone(),
                stem: f.stem.clone(),
            });
        }
        let added =
            self.add_case_records(&items, (self.recorded_root.is_none()).then_some(&root))?;
        if self.recorded_root.is_none() {
            self.recorded_root = Some(root);
        }
        Ok(added)
    }

    /// Adds cases already resolved against the data root (one transaction); records `root`
    /// as the project's data root when given. Images already in the project are skipped;
    /// ids are made unique with `-2`, `-3`, ….
    pub fn add_case_records(
        &mut self,
        items: &[NewCase],
        root: Option<&PathBuf>,
    ) -> Result<Vec<CaseRow>> {
        let root_s = root.map(|r| r.display().to_string());
        let now = now_rfc3339();
        self.db.write(|db| {
            if let Some(r) = &root_s {
                set_meta(db, "data_root", r)?;
            }
            let mut added = Vec::new();
            for NewCase { image, series_uid: uid, stem } in items {
                let exists = db.query(
                    "SELECT id FROM cases WHERE image = $1 AND series_uid = $2",
                    &[image.as_str().into(), uid.as_str().into()],
                )?;
                if !exists.is_empty() {
                    continue;
                }
                let mut key = stem.clone();
                let mut n = 1;
                while !db
                    .query("SELECT id FROM cases WHERE case_key = $1", &[key.as_str().into()])?
                    .is_empty()
                {
                    n += 1;
                    key = format!("{stem}-{n}");
                }
                db.exec(
                    "INSERT INTO cases (case_key, image, series_uid, added_at) VALUES ($1, $2, $3, $4)",
                    &[key.as_str().into(), image.as_str().into(), uid.as_str().into(), now.as_str().into()],
                )?;
                added.push(CaseRow {
                    case: key,
                    image: image.clone(),
                    series_uid: uid.clone(),
                    annotator: None,
                    status: "unassigned".into(),
                    round: 0,
                    version: 0,
                });
            }
            Ok(added)
        })
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

    /// A new annotation slot (draft, round 1) for `annotator` on case row `case_id`; the
    /// case's annotator count goes up in the same transaction. Claims decide on that count,
    /// a column of the locked case row, so a claim that waited for another sees its result
    /// (PostgreSQL re-checks an updated row; a count over `annotations` would be read from
    /// the waiting statement's older snapshot).
    fn insert_annotation(db: &mut Db, case_id: i64, annotator: &str) -> Result<()> {
        let now = now_rfc3339();
        db.exec(
            "UPDATE cases SET annotators = annotators + 1 WHERE id = $1",
            &[case_id.into()],
        )?;
        db.exec(
            "INSERT INTO annotations (case_id, annotator, assigned_at, updated_at) VALUES ($1, $2, $3, $3)",
            &[case_id.into(), annotator.into(), now.as_str().into()],
        )?;
        Ok(())
    }

    fn slot(db: &mut Db, case: &str, annotator: &str) -> Result<Option<CaseRow>> {
        let sql = format!(
            "SELECT {} FROM annotations a JOIN cases c ON c.id = a.case_id WHERE c.case_key = $1 AND a.annotator = $2",
            Self::SLOT_COLUMNS
        );
        Ok(db
            .query(&sql, &[case.into(), annotator.into()])?
            .first()
            .map(|r| Self::row_of(r)))
    }

    /// Claims a case that still lacks annotators and that `annotator` has not annotated;
    /// None when there is none.
    fn claim_new(db: &mut Db, annotator: &str, per_case: i64) -> Result<Option<i64>> {
        let sql = format!(
            "SELECT c.id FROM cases c
             WHERE c.annotators < $1 AND c.gold = 0
               AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.case_id = c.id AND a.annotator = $2)
             ORDER BY c.id LIMIT 1{}",
            db.dialect.lock_skip()
        );
        let Some(id) = db
            .query(&sql, &[per_case.into(), annotator.into()])?
            .first()
            .map(|r| int(&r[0]))
        else {
            return Ok(None);
        };
        Self::insert_annotation(db, id, annotator)?;
        Ok(Some(id))
    }

    /// The annotator's next case: their changes-requested work first, then their drafts, then
    /// a newly claimed case (atomically). None when the queue is empty.
    pub fn next(&mut self, annotator: &str) -> Result<Option<CaseRow>> {
        check_name(annotator)?;
        let per_case = self.settings.annotators_per_case;
        let gold = self.settings.gold.clone();
        self.db.write(|db| {
            let sql = format!(
                "SELECT {} FROM annotations a JOIN cases c ON c.id = a.case_id
                 WHERE a.annotator = $1 AND a.status IN ('changes_requested', 'draft')
                 ORDER BY CASE a.status WHEN 'changes_requested' THEN 0 ELSE 1 END, c.id LIMIT 1",
                Self::SLOT_COLUMNS
            );
            if let Some(r) = db.query(&sql, &[annotator.into()])?.first() {
                return Ok(Some(Self::row_of(r)));
            }
            let id = match Self::claim_gold(db, annotator, &gold)? {
                Some(id) => id,
                None => match Self::claim_new(db, annotator, per_case)? {
                    Some(id) => id,
                    None => return Ok(None),
                },
            };
            let sql = format!(
                "SELECT {} FROM annotations a JOIN cases c ON c.id = a.case_id WHERE c.id = $1 AND a.annotator = $2",
                Self::SLOT_COLUMNS
            );
            Ok(db
                .query(&sql, &[id.into(), annotator.into()])?
                .first()
                .map(|r| Self::row_of(r)))
        })
    }

    /// Assigns `cases` (ids) to `annotator`. A case already assigned to them is kept; a case
    /// with all its annotators is refused. Returns the slots.
    pub fn assign(&mut self, annotator: &str, cases: &[String]) -> Result<Vec<CaseRow>> {
        check_name(annotator)?;
        let per_case = self.settings.annotators_per_case;
        self.db.write(|db| {
            let mut out = Vec::new();
            for case in cases {
                let id = Self::case_id(db, case, true)?;
                if Self::slot(db, case, annotator)?.is_none() {
                    let n = int(&db
                        .query("SELECT annotators FROM cases WHERE id = $1", &[id.into()])?[0][0]);
                    if n >= per_case {
                        return Err(Error::invalid(format!(
                            "case {case} already has its {per_case} annotator(s)"
                        )));
                    }
                    Self::insert_annotation(db, id, annotator)?;
                }
                if let Some(r) = Self::slot(db, case, annotator)? {
                    out.push(r);
                }
            }
            Ok(out)
        })
    }

    /// Claims up to `count` new cases for `annotator` (as `next` would, one after another).
    pub fn assign_count(&mut self, annotator: &str, count: usize) -> Result<Vec<CaseRow>> {
        check_name(annotator)?;
        let per_case = self.settings.annotators_per_case;
        self.db.write(|db| {
            let mut out = Vec::new();
            for _ in 0..count {
                let Some(id) = Self::claim_new(db, annotator, per_case)? else {
                    break;
                };
                let key = text(
                    &db.query("SELECT case_key FROM cases WHERE id = $1", &[id.into()])?[0][0],
                );
                if let Some(r) = Self::slot(db, &key, annotator)? {
                    out.push(r);
                }
            }
            Ok(out)
        })
    }

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

    /// Stores `mask` (the bytes of a NIfTI label map) and its `markups` (a `.mrk.json`'s
    /// text, if any) as the next version of `annotator`'s annotation of `case`. `base`: the version the editor started from — refused when a
    /// newer one exists (None: on top of the latest). The mask's values must be in the
    /// schema (checked by the caller that decoded it, [`Project::check_mask`]). Returns the
    /// new version.
    pub fn save_version(
        &mut self,
        case: &str,
        annotator: &str,
        mask: &[u8],
        markups: Option<&str>,
        base: Option<i64>,
        author: &str,
    ) -> Result<VersionInfo> {
        let sha = sha256_hex(mask);
        let labels = serde_json::to_string(&self.schema)
            .map_err(|e| Error::Corrupt(format!("label schema: {e}")))?;
        let now = now_rfc3339();
        self.db.write(|db| {
            let (id, status, round, latest) = Self::annotation(db, case, annotator, true)?;
            if !matches!(status, Status::Draft | Status::ChangesRequested) {
                return Err(Error::invalid(format!(
                    "case {case} by {annotator} is {}: it can be saved again after changes are requested",
                    status.as_str()
                )));
            }
            if let Some(b) = base {
                if latest > b {
                    let who = db.query(
                        "SELECT author, saved_at FROM versions WHERE annotation_id = $1 AND version = $2",
                        &[id.into(), latest.into()],
                    )?;
                    let (by, at) = who
                        .first()
                        .map(|r| (text(&r[0]), text(&r[1])))
                        .unwrap_or_default();
                    return Err(Error::invalid(format!(
                        "case {case} by {annotator}: version {latest} was saved by {by} at {at}, after version {b} this edit started from; open version {latest}, then save on top of it (--base-version {latest})"
                    )));
                }
                if b > latest {
                    return Err(Error::invalid(format!(
                        "case {case} by {annotator}: --base-version {b} does not exist (latest is {latest})"
                    )));
                }
            }
            let v = latest + 1;
            db.exec(
                "INSERT INTO versions (annotation_id, version, round, mask, labels, sha256, bytes, author, saved_at, markups)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    id.into(),
                    v.into(),
                    round.into(),
                    mask.to_vec().into(),
                    labels.as_str().into(),
                    sha.as_str().into(),
                    (mask.len() as i64).into(),
                    author.into(),
                    now.as_str().into(),
                    markups.map(str::to_string).into(),
                ],
            )?;
            db.exec(
                "UPDATE annotations SET latest_version = $1, updated_at = $2 WHERE id = $3",
                &[v.into(), now.as_str().into(), id.into()],
            )?;
            Ok(VersionInfo {
                case: case.to_string(),
                annotator: annotator.to_string(),
                version: v,
                round,
                sha256: sha.clone(),
                bytes: mask.len() as i64,
                author: author.to_string(),
                saved_at: now.clone(),
            })
        })
    }

    /// The schema's label values present in `a` or `b` (what a comparison of two masks
    /// covers), in schema order.
    pub fn schema_labels_in(&self, a: &[u8], b: &[u8]) -> Vec<u8> {
        let present = voxmark_qa::metrics::labels_present(a, b);
        self.schema
            .labels
            .iter()
            .map(|l| l.value)
            .filter(|v| present.contains(v))
            .collect()
    }

    /// Checks a decoded mask against the schema: values outside it are refused.
    pub fn check_mask(&self, labels: &[u8], origin: &Path) -> Result<()> {
        let bad = self.schema.outside(labels);
        if bad.is_empty() {
            return Ok(());
        }
        let allowed: Vec<String> = self
            .schema
            .labels
            .iter()
            .map(|l| format!("{} {}", l.value, l.name))
            .collect();
        Err(Error::format(
            origin,
            format!(
                "label values {bad:?} are not in the project's schema (0 background, {})",
                allowed.join(", ")
            ),
        ))
    }

    /// Version `version` (None: the latest) of an annotation: its record and mask bytes,
    /// checked against the stored sha256.
    pub fn get_version(
        &mut self,
        case: &str,
        annotator: &str,
        version: Option<i64>,
    ) -> Result<(VersionInfo, Vec<u8>)> {
        let (info, mask) = self.db.read(|db| {
            let (id, _, _, latest) = Self::annotation(db, case, annotator, false)?;
            let v = version.unwrap_or(latest);
            if v < 1 {
                return Err(Error::NotFound(format!(
                    "case {case} by {annotator} has no saved version yet"
                )));
            }
            let rows = db.query(
                "SELECT version, round, sha256, bytes, author, saved_at, mask FROM versions WHERE annotation_id = $1 AND version = $2",
                &[id.into(), v.into()],
            )?;
            let r = rows.into_iter().next().ok_or_else(|| {
                Error::NotFound(format!(
                    "case {case} by {annotator} has no version {v} (latest is {latest})"
                ))
            })?;
            let info = version_info(case, annotator, &r);
            let mask = r.into_iter().nth(6).and_then(Value::into_blob).unwrap_or_default();
            Ok((info, mask))
        })?;
        if sha256_hex(&mask) != info.sha256 {
            return Err(Error::Corrupt(format!(
                "case {case} by {annotator} version {}: the stored mask does not match its sha256",
                info.version
            )));
        }
        Ok((info, mask))
    }

    /// The markups (`.mrk.json` text) saved with version `version` (None: the latest) of an
    /// annotation; None when it has none.
    pub fn version_markups(
        &mut self,
        case: &str,
        annotator: &str,
        version: Option<i64>,
    ) -> Result<Option<String>> {
        self.db.read(|db| {
            let (id, _, _, latest) = Self::annotation(db, case, annotator, false)?;
            let v = version.unwrap_or(latest);
            let rows = db.query(
                "SELECT markups FROM versions WHERE annotation_id = $1 AND version = $2",
                &[id.into(), v.into()],
            )?;
            Ok(rows
                .into_iter()
                .next()
                .and_then(|r| r.into_iter().next())
                .and_then(|x| match x {
                    Value::Text(t) => Some(t),
                    _ => None,
                }))
        })
    }

    /// Every version of an annotation (without the masks).
    pub fn versions(&mut self, case: &str, annotator: &str) -> Result<Vec<VersionInfo>> {
        self.db.read(|db| {
            let (id, _, _, _) = Self::annotation(db, case, annotator, false)?;
            let rows = db.query(
                "SELECT version, round, sha256, bytes, author, saved_at FROM versions WHERE annotation_id = $1 ORDER BY version",
                &[id.into()],
            )?;
            Ok(rows
                .iter()
                .map(|r| version_info(case, annotator, r))
                .collect())
        })
    }

    /// Moves `annotator`'s annotation of `case` to `to`, by `by`, along the review steps.
    /// Submitting needs a saved version and is the annotator's; approving and requesting
    /// changes is a reviewer's (not the annotator; one of `settings.reviewers` when set);
    /// changes can be requested until the last round; a resubmission after changes starts
    /// the next round.
    pub fn set_status(
        &mut self,
        case: &str,
        annotator: &str,
        to: Status,
        by: &str,
        note: Option<&str>,
    ) -> Result<CaseRow> {
        check_name(by)?;
        let settings = self.settings.clone();
        let now = now_rfc3339();
        let row = self.db.write(|db| {
            let (id, from, round, latest) = Self::annotation(db, case, annotator, true)?;
            if !from.allowed().contains(&to) {
                let allowed: Vec<&str> = from.allowed().iter().map(|s| s.as_str()).collect();
                return Err(Error::invalid(format!(
                    "case {case} by {annotator} is {}; it can go to {} only",
                    from.as_str(),
                    allowed.join(" or ")
                )));
            }
            match to {
                Status::Submitted | Status::Draft => {
                    if by != annotator {
                        return Err(Error::invalid(format!(
                            "only {annotator} submits or withdraws their annotation of {case}"
                        )));
                    }
                    if to == Status::Submitted && latest < 1 {
                        return Err(Error::invalid(format!(
                            "case {case} by {annotator}: nothing saved yet (`voxmark project save`)"
                        )));
                    }
                }
                Status::Approved | Status::ChangesRequested => {
                    if by == annotator {
                        return Err(Error::invalid(format!(
                            "{by} annotated case {case}: another person reviews it"
                        )));
                    }
                    if !settings.reviewers.is_empty() && !settings.reviewers.iter().any(|r| r == by) {
                        return Err(Error::invalid(format!(
                            "{by} is not a reviewer of this project (reviewers: {})",
                            settings.reviewers.join(", ")
                        )));
                    }
                    if to == Status::ChangesRequested && round >= settings.rounds {
                        return Err(Error::invalid(format!(
                            "case {case} by {annotator} is in round {round}, the project's last (rounds: {}); approve it or raise the rounds",
                            settings.rounds
                        )));
                    }
                }
            }
            let new_round = if from == Status::ChangesRequested && to == Status::Submitted {
                round + 1
            } else {
                round
            };
            db.exec(
                "UPDATE annotations SET status = $1, round = $2, updated_at = $3 WHERE id = $4",
                &[to.as_str().into(), new_round.into(), now.as_str().into(), id.into()],
            )?;
            db.exec(
                "INSERT INTO status_history (annotation_id, from_status, to_status, round, by_name, note, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    id.into(),
                    from.as_str().into(),
                    to.as_str().into(),
                    new_round.into(),
                    by.into(),
                    note.map(str::to_string).into(),
                    now.as_str().into(),
                ],
            )?;
            Self::slot(db, case, annotator)?
                .ok_or_else(|| Error::Corrupt(format!("case {case} by {annotator} vanished")))
        })?;
        if to == Status::Submitted {
            // A gold case is scored at once against its reference ([`gold`]).
            self.score_gold(case, annotator).map_err(|e| {
                Error::invalid(format!(
                    "case {case} by {annotator} was submitted, but scoring it against its gold reference failed: {e}"
                ))
            })?;
        }
        Ok(row)
    }

    /// Every case slot: one row per annotation, one `unassigned` row per case without any;
    /// filtered by status (`unassigned` included) and annotator.
    pub fn cases(&mut self, status: Option<&str>, annotator: Option<&str>) -> Result<Vec<CaseRow>> {
        let rows = self.db.read(|db| {
            let sql = format!(
                "SELECT {} FROM cases c LEFT JOIN annotations a ON a.case_id = c.id ORDER BY c.id, a.annotator",
                Self::SLOT_COLUMNS
            );
            db.query(&sql, &[])
        })?;
        Ok(rows
            .iter()
            .map(|r| Self::row_of(r))
            .filter(|r| status.is_none_or(|s| r.status == s))
            .filter(|r| annotator.is_none_or(|a| r.annotator.as_deref() == Some(a)))
            .collect())
    }

    /// The annotator's queue: changes requested, then drafts, then submitted work.
    pub fn queue(&mut self, annotator: &str) -> Result<Vec<CaseRow>> {
        self.db.read(|db| {
            let sql = format!(
                "SELECT {} FROM annotations a JOIN cases c ON c.id = a.case_id
                 WHERE a.annotator = $1 AND a.status <> 'approved'
                 ORDER BY CASE a.status WHEN 'changes_requested' THEN 0 WHEN 'draft' THEN 1 ELSE 2 END, c.id",
                Self::SLOT_COLUMNS
            );
            Ok(db
                .query(&sql, &[annotator.into()])?
                .iter()
                .map(|r| Self::row_of(r))
                .collect())
        })
    }

    /// Counts by status, annotator and round.
    pub fn status(&mut self) -> Result<StatusReport> {
        let per_case = self.settings.annotators_per_case;
        let name = self.name.clone();
        self.db.read(|db| {
            let cases = int(&db.query("SELECT count(*) FROM cases", &[])?[0][0]);
            let mut by_status = std::collections::BTreeMap::new();
            let mut by_annotator: std::collections::BTreeMap<String, std::collections::BTreeMap<String, i64>> =
                Default::default();
            let mut by_round = std::collections::BTreeMap::new();
            let mut annotations = 0;
            for r in db.query(
                "SELECT annotator, status, round, count(*) FROM annotations GROUP BY annotator, status, round",
                &[],
            )? {
                let (a, s, round, n) = (text(&r[0]), text(&r[1]), int(&r[2]), int(&r[3]));
                annotations += n;
                *by_status.entry(s.clone()).or_insert(0) += n;
                *by_annotator.entry(a).or_default().entry(s).or_insert(0) += n;
                *by_round.entry(round.to_string()).or_insert(0) += n;
            }
            let done = int(&db.query(
                "SELECT count(*) FROM (SELECT case_id FROM annotations GROUP BY case_id
                 HAVING count(*) >= $1 AND sum(CASE WHEN status = 'approved' THEN 1 ELSE 0 END) = count(*)) d",
                &[per_case.into()],
            )?[0][0]);
            Ok(StatusReport {
                name: name.clone(),
                cases,
                unclaimed_slots: (cases * per_case - annotations).max(0),
                cases_done: done,
                by_status,
                by_annotator,
                by_round,
            })
        })
    }

    /// The comments on `annotator`'s annotation of `case`, oldest first, with the notes of
    /// every status change (a reviewer's "request changes" note is a comment without voxel).
    pub fn comments(&mut self, case: &str, annotator: &str) -> Result<Vec<ProjectComment>> {
        self.db.read(|db| {
            let (id, _, _, _) = Self::annotation(db, case, annotator, false)?;
            let mut out: Vec<ProjectComment> = db
                .query(
                    "SELECT author, body, i, j, k, label, round, created_at FROM comments WHERE annotation_id = $1",
                    &[id.into()],
                )?
                .iter()
                .map(|r| ProjectComment {
                    author: text(&r[0]),
                    body: text(&r[1]),
                    at: match (r[2].int(), r[3].int(), r[4].int()) {
                        (Some(i), Some(j), Some(k)) => Some([i, j, k]),
                        _ => None,
                    },
                    label: r[5].int(),
                    round: int(&r[6]),
                    created_at: text(&r[7]),
                })
                .collect();
            for r in db.query(
                "SELECT by_name, to_status, note, round, at FROM status_history WHERE annotation_id = $1 AND note IS NOT NULL",
                &[id.into()],
            )? {
                out.push(ProjectComment {
                    author: text(&r[0]),
                    body: format!("{}: {}", text(&r[1]), text(&r[2])),
                    at: None,
                    label: None,
                    round: int(&r[3]),
                    created_at: text(&r[4]),
                });
            }
            out.sort_by(|a, b| a.created_at.cmp(&b.created_at));
            Ok(out)
        })
    }

    /// Adds a comment at voxel `at` on an annotation (in its current round).
    pub fn comment(
        &mut self,
        case: &str,
        annotator: &str,
        author: &str,
        body: &str,
        at: Option<[i64; 3]>,
        label: Option<u8>,
    ) -> Result<()> {
        check_name(author)?;
        let now = now_rfc3339();
        self.db.write(|db| {
            let (id, _, round, _) = Self::annotation(db, case, annotator, false)?;
            let [i, j, k] = at.map_or([None; 3], |v| v.map(Some));
            db.exec(
                "INSERT INTO comments (annotation_id, author, body, i, j, k, label, round, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    id.into(),
                    author.into(),
                    body.into(),
                    i.into(),
                    j.into(),
                    k.into(),
                    label.map(i64::from).into(),
                    round.into(),
                    now.as_str().into(),
                ],
            )?;
            Ok(())
        })
    }
}

/// Annotator and reviewer names: non-empty, no control characters.
fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(Error::invalid(format!("{name:?} is not a usable name")));
    }
    Ok(())
}
