//! The shell working on a project (`voxmark view --project P --annotator NAME`), without UI
//! types: which case is open, the version its edits started from, and the annotator's
//! working copy of the mask.
//!
//! A case opens on a **working copy** in the user's data folder
//! (`projects/<project>-<hash of its location>/<case>.<annotator>.nii.gz`, its base version
//! beside it in `.base`):
//! the latest stored version is written there, the document loads it, every edit goes to its
//! journal exactly as for a plain file, and a save writes it and then stores its bytes as the
//! next version, based on the version it started from — refused, with who saved the newer one,
//! when someone else saved in between. A working copy that holds work the project does not
//! (unsaved journal entries, or a local save whose version was refused) is never replaced:
//! it is opened as it is, and the user is told when a newer version exists.
//!
//! The project is a [`Target`]: a database opened directly, or a team server's URL after
//! `voxmark login` — then images come through the client's cache, saves go up over HTTP, and
//! the server decides what this user may see (a blinded case's other slots are not offered).

use super::document::{journal_path, user_data_dir, OpenRequest};
use std::path::{Path, PathBuf};
use voxmark_edit::journal::Journal;
use voxmark_project::cases::id_stem;
use voxmark_project::review_db::Status;
use voxmark_project::{CaseRow, VersionInfo};
use voxmark_server::target::Target;
use voxmark_volume::error::{Error, Result};

/// The open case.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenCase {
    pub row: CaseRow,
    /// The stored version the working copy's edits started from (0: none).
    pub base: i64,
    pub working_copy: PathBuf,
    /// What the user should know when it opens (a newer version elsewhere).
    pub note: Option<String>,
}

/// An annotation opened for review: whose, and the version shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Reviewing {
    pub row: CaseRow,
    pub version: i64,
    /// The copy the document shows (saving it stores nothing).
    pub copy: PathBuf,
}

/// A project session of one annotator (who may also review others' work).
pub struct ProjectSession {
    pub project: Target,
    pub annotator: String,
    /// Where the images are on this machine (a local project; a server's come from the
    /// client's cache).
    pub data_root: Option<PathBuf>,
    pub current: Option<OpenCase>,
    /// The annotation under review, when the session reviews.
    pub reviewing: Option<Reviewing>,
    /// Where working copies go (the user's data folder unless set).
    pub work_dir: PathBuf,
}

fn sha256_file(p: &Path) -> Result<String> {
    let bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
    Ok(voxmark_volume::fs::sha256_hex(&bytes))
}

impl ProjectSession {
    /// Opens the project at `location` (a folder, a postgresql:// URL, or a team server's
    /// URL with a stored login) for `annotator` (None: the server's login, else `$USER`);
    /// the data root of a local project is `data_root`, else `VOXMARK_DATA_ROOT`, else the
    /// project's recorded root.
    pub fn open(location: &str, annotator: Option<&str>, data_root: Option<&Path>) -> Result<Self> {
        let project = Target::open(location)?;
        // The schema is the label table of every case: a server that cannot say it fails
        // the open here, not the first case.
        project.schema()?;
        let data_root = match &project {
            Target::Local(p) => Some(p.data_root(data_root).ok_or_else(|| {
                Error::invalid(
                    "the project's images are needed: give --data-root or VOXMARK_DATA_ROOT",
                )
            })?),
            Target::Remote(_) => None,
        };
        let annotator = match (annotator, project.login_user()) {
            (Some(a), Some(me)) if a != me => {
                return Err(Error::invalid(format!(
                    "--annotator {a}: you are logged in to {location} as {me}; the server acts as the logged-in user"
                )))
            }
            (Some(a), _) => a.to_string(),
            (None, Some(me)) => me.to_string(),
            (None, None) => std::env::var("USER")
                .ok()
                .filter(|u| !u.is_empty())
                .ok_or_else(|| Error::invalid("--project needs --annotator (USER is not set)"))?,
        };
        // Named after the project and where it lives: two projects of the same name (two
        // servers, two folders) never share working copies.
        let place = voxmark_volume::fs::sha256_hex(project.place().as_bytes());
        let work_dir = user_data_dir().join("projects").join(format!(
            "{}-{}",
            id_stem(project.name()),
            &place[..8]
        ));
        Ok(Self {
            project,
            annotator,
            data_root,
            current: None,
            reviewing: None,
            work_dir,
        })
    }

    /// Where `row`'s image is on this machine (fetched from a server into the cache).
    fn image(&self, row: &CaseRow) -> Result<PathBuf> {
        let bar = voxmark_io::progress::Progress::new(0, "fetching the case's image (bytes)");
        let p = self
            .project
            .image(row, self.data_root.as_deref(), &mut |d, n| bar.set(d, n))?;
        bar.finish();
        p.ok_or_else(|| {
            Error::invalid("the project's images are needed: give --data-root or VOXMARK_DATA_ROOT")
        })
    }

    fn copy_path(&self, case: &str) -> PathBuf {
        self.work_dir.join(format!(
            "{}.{}.nii.gz",
            id_stem(case),
            id_stem(&self.annotator)
        ))
    }

    /// Prepares `row` for opening: its working copy (refreshed from the latest version unless
    /// it holds work the project lacks) and the request that loads image + copy. Returns the
    /// request and a note for the status line.
    pub fn prepare(&mut self, row: &CaseRow) -> Result<(OpenRequest, Option<String>)> {
        self.reviewing = None;
        let copy = self.copy_path(&row.case);
        std::fs::create_dir_all(&self.work_dir).map_err(|e| Error::io(&self.work_dir, e))?;
        let base_file = copy.with_extension("base");
        let local_base: i64 = std::fs::read_to_string(&base_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let versions = self.project.versions(&row.case, &self.annotator)?;
        let latest = versions.last().map_or(0, |v| v.version);
        let pending = Journal::peek(&journal_path(&copy))?;
        // Another window (or process) edits this copy now: leave the copy as it is; the
        // open below finds the journal locked and opens it read-only.
        let in_use = voxmark_volume::fs::lock::holder(&journal_path(&copy))?.is_some();
        let copy_exists = copy.exists();
        let local_only = copy_exists
            && match versions.iter().find(|v| v.version == local_base) {
                Some(v) => sha256_file(&copy)? != v.sha256,
                None => true,
            };
        let mut note = None;
        let base = if in_use {
            note = Some(format!(
                "{}: your working copy is open in another window or process; it opens read-only here",
                row.case
            ));
            local_base
        } else if !pending.entries.is_empty() || local_only {
            // The copy holds work the project does not: keep it.
            if latest > local_base {
                let by = versions
                    .last()
                    .map(|v| (v.author.clone(), v.saved_at.clone()));
                let (who, at) = by.unwrap_or_default();
                note = Some(format!(
                    "your working copy of {} holds unstored work on version {local_base}; version {latest} was saved by {who} at {at} — saving will ask you to look first",
                    row.case
                ));
            }
            local_base
        } else if latest > 0 {
            let (_, bytes, markups) =
                self.project
                    .get_version(&row.case, &self.annotator, Some(latest))?;
            write_markups_beside(&copy, markups.as_deref())?;
            voxmark_volume::fs::atomic::write_atomically(&copy, |w| w.write_all(&bytes))?;
            if latest > local_base && local_base > 0 {
                let v = versions.last();
                note = Some(format!(
                    "{}: opened version {latest} (saved by {} at {})",
                    row.case,
                    v.map(|v| v.author.as_str()).unwrap_or(""),
                    v.map(|v| v.saved_at.as_str()).unwrap_or("")
                ));
            }
            latest
        } else {
            if copy_exists {
                std::fs::remove_file(&copy).map_err(|e| Error::io(&copy, e))?;
            }
            write_markups_beside(&copy, None)?;
            0
        };
        if !in_use {
            voxmark_volume::fs::atomic::write_atomically(&base_file, |w| write!(w, "{base}"))?;
        }
        self.current = Some(OpenCase {
            row: row.clone(),
            base,
            working_copy: copy.clone(),
            note: note.clone(),
        });
        let req = OpenRequest {
            path: Some(self.image(row)?),
            series: Some(row.series_uid.clone()).filter(|s| !s.is_empty()),
            labels_new: !copy.exists(),
            label_table: None,
            labels: Some(copy),
            resample: Default::default(),
        };
        Ok((req, note))
    }

    /// The annotator's next case (claimed when new), prepared for opening; None when the
    /// queue is empty.
    pub fn next_case(&mut self) -> Result<Option<(OpenRequest, Option<String>)>> {
        match self.project.next(&self.annotator)? {
            Some(row) => self.prepare(&row).map(Some),
            None => Ok(None),
        }
    }

    /// After the document saved `saved` (with labels `labels`): when it is the open case's
    /// working copy, its bytes become the next version on top of the base. Returns the
    /// stored version (None: not a project save).
    pub fn store(&mut self, saved: &Path, labels: &[u8]) -> Result<Option<VersionInfo>> {
        let Some(cur) = &mut self.current else {
            return Ok(None);
        };
        if saved != cur.working_copy {
            return Ok(None);
        }
        self.project.check_mask(labels, saved)?;
        let bytes = std::fs::read(saved).map_err(|e| Error::io(saved, e))?;
        // The markups the document saved beside the mask go with it.
        let mp = voxmark_io::label_file::markups_path(saved);
        let markups = match mp.exists() {
            true => Some(std::fs::read_to_string(&mp).map_err(|e| Error::io(&mp, e))?),
            false => None,
        };
        let v = self.project.save_version(
            &cur.row.case,
            &self.annotator,
            &bytes,
            markups.as_deref(),
            Some(cur.base),
        )?;
        cur.base = v.version;
        cur.row.version = v.version;
        let base_file = cur.working_copy.with_extension("base");
        voxmark_volume::fs::atomic::write_atomically(&base_file, |w| write!(w, "{}", v.version))?;
        Ok(Some(v))
    }

    /// The label table of a project case: one `set_label` per schema label (name, colour,
    /// shown).
    pub fn schema_ops(&self) -> Vec<voxmark_edit::ops::EditOp> {
        self.project
            .schema()
            .map(|s| s.labels.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|l| voxmark_edit::ops::EditOp::SetLabel {
                value: l.value,
                name: Some(l.name.clone()),
                color: Some(l.color),
                visible: Some(true),
                locked: None,
            })
            .collect()
    }

    /// The latest stored version of the open case (someone may have saved since it opened).
    pub fn latest(&mut self) -> Result<i64> {
        let Some(cur) = &self.current else {
            return Ok(0);
        };
        let case = cur.row.case.clone();
        Ok(self
            .project
            .versions(&case, &self.annotator)?
            .last()
            .map_or(0, |v| v.version))
    }

    /// After looking at a newer version: the next save of the working copy goes on top of
    /// `version` (the user keeps their labels over it).
    pub fn rebase(&mut self, version: i64) -> Result<()> {
        let Some(cur) = &mut self.current else {
            return Ok(());
        };
        cur.base = version;
        let base_file = cur.working_copy.with_extension("base");
        voxmark_volume::fs::atomic::write_atomically(&base_file, |w| write!(w, "{version}"))
    }

    /// True when `path` is a mask this session opened (a case's working copy or a review
    /// copy): its label table is the project's schema.
    pub fn owns(&self, path: &Path) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| c.working_copy == path)
            || self.reviewing.as_ref().is_some_and(|r| r.copy == path)
    }

    /// Others' annotations waiting for review (submitted), oldest case first.
    pub fn to_review(&mut self) -> Result<Vec<CaseRow>> {
        let me = self.annotator.clone();
        Ok(self
            .project
            .cases(Some("submitted"), None)?
            .into_iter()
            .filter(|r| r.annotator.as_deref() != Some(me.as_str()))
            .collect())
    }

    /// Opens `row`'s latest version for review: written to a review copy, loaded with the
    /// case's image. The open case (if any) stays as it is.
    pub fn prepare_review(&mut self, row: &CaseRow) -> Result<OpenRequest> {
        let who = row.annotator.clone().ok_or_else(|| {
            Error::invalid(format!("case {} has no annotation to review", row.case))
        })?;
        let (info, bytes, markups) = self.project.get_version(&row.case, &who, None)?;
        let dir = self.work_dir.join("review");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let copy = dir.join(format!(
            "{}.{}.v{}.nii.gz",
            id_stem(&row.case),
            id_stem(&who),
            info.version
        ));
        write_markups_beside(&copy, markups.as_deref())?;
        voxmark_volume::fs::atomic::write_atomically(&copy, |w| w.write_all(&bytes))?;
        self.reviewing = Some(Reviewing {
            row: row.clone(),
            version: info.version,
            copy: copy.clone(),
        });
        Ok(OpenRequest {
            path: Some(self.image(row)?),
            series: Some(row.series_uid.clone()).filter(|s| !s.is_empty()),
            labels: Some(copy),
            labels_new: false,
            label_table: None,
            resample: Default::default(),
        })
    }

    /// What the annotation under review can be compared with: every other annotator's
    /// latest version of the case, and this annotator's last version of the previous round.
    /// Each is written to a file (the review mode reads files); returns (what, path).
    pub fn compare_candidates(&mut self) -> Result<Vec<(String, PathBuf)>> {
        let Some(r) = self.reviewing.clone() else {
            return Ok(Vec::new());
        };
        let who = r.row.annotator.clone().unwrap_or_default();
        let mut out = Vec::new();
        let dir = self.work_dir.join("review");
        for other in self.project.cases(None, None)? {
            let Some(a) = other.annotator.clone() else {
                continue;
            };
            if other.case != r.row.case || a == who || other.version < 1 {
                continue;
            }
            let (info, bytes, _) = match self.project.get_version(&other.case, &a, None) {
                Ok(v) => v,
                // A team server decides what this reviewer may see (a draft, or a blinded
                // slot, is not offered): what it refuses is left out of the comparison.
                Err(_) if matches!(self.project, Target::Remote(_)) => continue,
                Err(e) => return Err(e),
            };
            let p = dir.join(format!(
                "{}.{}.v{}.nii.gz",
                id_stem(&other.case),
                id_stem(&a),
                info.version
            ));
            voxmark_volume::fs::atomic::write_atomically(&p, |w| w.write_all(&bytes))?;
            out.push((format!("{a}, version {}", info.version), p));
        }
        let versions = self.project.versions(&r.row.case, &who)?;
        if let Some(prev) = versions.iter().rev().find(|v| v.round < r.row.round) {
            let (info, bytes, _) =
                self.project
                    .get_version(&r.row.case, &who, Some(prev.version))?;
            let p = dir.join(format!(
                "{}.{}.v{}.nii.gz",
                id_stem(&r.row.case),
                id_stem(&who),
                info.version
            ));
            voxmark_volume::fs::atomic::write_atomically(&p, |w| w.write_all(&bytes))?;
            out.push((
                format!("{who}, round {} (version {})", info.round, info.version),
                p,
            ));
        }
        Ok(out)
    }

    /// The reviewer's decision on the annotation under review: approve, or request changes
    /// with a note.
    pub fn decide(&mut self, to: Status, note: Option<&str>) -> Result<CaseRow> {
        let r = self
            .reviewing
            .as_mut()
            .ok_or_else(|| Error::NotFound("no annotation is open for review".into()))?;
        let who = r.row.annotator.clone().unwrap_or_default();
        let row = self
            .project
            .set_status(&r.row.case, &who, to, Some(&self.annotator), note)?;
        r.row = row.clone();
        Ok(row)
    }

    /// A comment on the annotation under review at voxel `at` (with the active label).
    pub fn comment(&mut self, body: &str, at: [i64; 3], label: Option<u8>) -> Result<()> {
        let r = self
            .reviewing
            .as_ref()
            .ok_or_else(|| Error::NotFound("no annotation is open for review".into()))?;
        let who = r.row.annotator.clone().unwrap_or_default();
        self.project
            .comment(
                &r.row.case,
                &who,
                Some(&self.annotator),
                body,
                Some(at),
                label,
            )
            .map(|_| ())
    }

    /// Submits the open case for review.
    pub fn submit(&mut self) -> Result<CaseRow> {
        let cur = self
            .current
            .as_mut()
            .ok_or_else(|| Error::NotFound("no project case is open".into()))?;
        let row = self.project.set_status(
            &cur.row.case,
            &self.annotator,
            Status::Submitted,
            Some(&self.annotator),
            None,
        )?;
        cur.row = row.clone();
        Ok(row)
    }
}

/// Writes a version's markups beside its mask copy (`COPY.mrk.json`), or removes markups
/// left there by an earlier copy when the version has none (with their `.prev`).
fn write_markups_beside(copy: &Path, markups: Option<&str>) -> Result<()> {
    let mp = voxmark_io::label_file::markups_path(copy);
    match markups {
        Some(text) => {
            voxmark_volume::fs::atomic::write_atomically(&mp, |w| w.write_all(text.as_bytes()))
        }
        None => {
            for p in [mp, voxmark_io::label_file::markups_prev(copy)] {
                if p.exists() {
                    std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
                }
            }
            Ok(())
        }
    }
}
