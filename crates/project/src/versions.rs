//! Mask versions: every save stores the mask file's bytes, the label table, the markups and
//! their sha256 as the annotation's next version; a save names the version it started from
//! and is refused when a newer one exists. Versions read back bit for bit.

use crate::db::Value;
use crate::review_db::Status;
use crate::{sha256_hex, text, version_info, Project, VersionInfo};
use std::path::Path;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::fs::clock::now_rfc3339;

impl Project {
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
                    return Err(Error::Conflict(format!(
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
        self.schema.check_mask(labels, origin)
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
}
