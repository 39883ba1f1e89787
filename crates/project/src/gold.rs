//! Gold-standard cases: the training and quality-assurance protocol that makes a team's
//! labels trustworthy.
//!
//! A case is made **gold** with a reference mask — imported from a file, or the approved
//! version of a named expert's annotation. Gold cases are never handed out as ordinary work.
//! When an annotator submits a gold case it is **scored** against the reference: Dice and
//! HD95 per label (every schema label in either mask), passed when every Dice reaches
//! `min_dice` and, when set, every HD95 stays within `max_hd95_mm`. Scores are kept, one row
//! per submission, and appear in the QA report.
//!
//! [`GoldSettings`]: `required` — an annotator must pass that many gold cases before `next`
//! gives them real cases (until then `next` serves gold cases they have not done); `rate` —
//! after that, this fraction of `next` calls serves an unannounced gold case (a
//! deterministic draw from the annotator's name and how many cases they hold, so a replay
//! gives the same sequence). The export writes a gold case with its reference mask.

use super::db::Db;
use super::{int, read_mask_bytes, sha256_hex, text, Project};
use serde::{Deserialize, Serialize};
use std::path::Path;
use voxmark_qa::metrics::{compare_masks, is_orthogonal};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::fs::clock::now_rfc3339;
use voxmark_volume::labels::{labels_for, same_grid};

/// The project's gold-standard protocol (part of its settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct GoldSettings {
    /// Every label's Dice must reach this to pass.
    pub min_dice: f64,
    /// When set, every label's HD95 must stay within this (mm).
    pub max_hd95_mm: Option<f64>,
    /// Gold cases an annotator must pass before getting real cases.
    pub required: i64,
    /// Fraction of later `next` calls that serve an unannounced gold case.
    pub rate: f64,
}

impl Default for GoldSettings {
    fn default() -> Self {
        Self {
            min_dice: 0.8,
            max_hd95_mm: None,
            required: 0,
            rate: 0.0,
        }
    }
}

impl GoldSettings {
    pub fn check(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.min_dice) {
            return Err(Error::invalid("gold min Dice must be in 0..1"));
        }
        if self
            .max_hd95_mm
            .is_some_and(|h| !(h >= 0.0 && h.is_finite()))
        {
            return Err(Error::invalid(
                "gold max HD95 must be a non-negative number of mm",
            ));
        }
        if self.required < 0 {
            return Err(Error::invalid("required gold cases cannot be negative"));
        }
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(Error::invalid("gold rate must be in 0..1"));
        }
        Ok(())
    }
}

/// One label's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldLabelScore {
    pub label: u8,
    pub dice: f64,
    pub hd95_mm: Option<f64>,
}

/// The score of one submission of a gold case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldScore {
    pub case: String,
    pub annotator: String,
    pub version: i64,
    pub passed: bool,
    pub labels: Vec<GoldLabelScore>,
    pub at: String,
}

impl GoldScore {
    pub fn min_dice(&self) -> Option<f64> {
        self.labels.iter().map(|l| l.dice).min_by(f64::total_cmp)
    }
}

/// A gold case's reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GoldRef {
    pub case: String,
    pub sha256: String,
    /// "imported FILE" or "approved version N by A".
    pub source: String,
    pub by: String,
    pub at: String,
}

/// Unannounced draw: a number in [0, 1) from the annotator and their case count.
fn draw(annotator: &str, n: i64) -> f64 {
    let h = sha256_hex(format!("{annotator}\u{0}{n}").as_bytes());
    let v = u64::from_str_radix(&h[..16], 16).unwrap_or(0);
    (v >> 11) as f64 / (1u64 << 53) as f64
}

impl Project {
    /// Makes `case` gold with reference `mask` (the bytes of a NIfTI label map, already
    /// checked against the schema and the image by the caller); replaces an earlier one.
    pub fn set_gold(&mut self, case: &str, mask: &[u8], source: &str, by: &str) -> Result<GoldRef> {
        super::check_name(by)?;
        let sha = sha256_hex(mask);
        let now = now_rfc3339();
        self.db.write(|db| {
            let id = Self::case_id(db, case, true)?;
            db.exec("DELETE FROM gold_refs WHERE case_id = $1", &[id.into()])?;
            db.exec(
                "INSERT INTO gold_refs (case_id, mask, sha256, source, by_name, at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    id.into(),
                    mask.to_vec().into(),
                    sha.as_str().into(),
                    source.into(),
                    by.into(),
                    now.as_str().into(),
                ],
            )?;
            db.exec("UPDATE cases SET gold = 1 WHERE id = $1", &[id.into()])?;
            Ok(())
        })?;
        Ok(GoldRef {
            case: case.into(),
            sha256: sha,
            source: source.into(),
            by: by.into(),
            at: now,
        })
    }

    /// Makes `case` gold with the approved latest version of `annotator`'s annotation; `by`
    /// is the expert who vouches for it.
    pub fn set_gold_from(&mut self, case: &str, annotator: &str, by: &str) -> Result<GoldRef> {
        let row = self
            .cases(None, Some(annotator))?
            .into_iter()
            .find(|r| r.case == case)
            .ok_or_else(|| {
                Error::NotFound(format!("{annotator} has no annotation of case {case}"))
            })?;
        if row.status != "approved" {
            return Err(Error::invalid(format!(
                "case {case} by {annotator} is {}: only an approved annotation can be a gold reference",
                row.status
            )));
        }
        let (info, bytes) = self.get_version(case, annotator, None)?;
        let source = format!("approved version {} by {annotator}", info.version);
        self.set_gold(case, &bytes, &source, by)
    }

    /// Changes the gold protocol.
    pub fn set_gold_settings(&mut self, gold: GoldSettings) -> Result<()> {
        gold.check()?;
        let mut settings = self.settings.clone();
        settings.gold = gold;
        self.store_settings(&settings)
    }

    /// Every gold case's reference record.
    pub fn gold_refs(&mut self) -> Result<Vec<GoldRef>> {
        self.db.read(|db| {
            Ok(db
                .query(
                    "SELECT c.case_key, g.sha256, g.source, g.by_name, g.at FROM gold_refs g JOIN cases c ON c.id = g.case_id ORDER BY c.id",
                    &[],
                )?
                .iter()
                .map(|r| GoldRef {
                    case: text(&r[0]),
                    sha256: text(&r[1]),
                    source: text(&r[2]),
                    by: text(&r[3]),
                    at: text(&r[4]),
                })
                .collect())
        })
    }

    /// The reference mask bytes of gold case `case`, checked against their sha256.
    pub fn gold_mask(&mut self, case: &str) -> Result<Vec<u8>> {
        let (sha, mask) = self.db.read(|db| {
            let rows = db.query(
                "SELECT g.sha256, g.mask FROM gold_refs g JOIN cases c ON c.id = g.case_id WHERE c.case_key = $1",
                &[case.into()],
            )?;
            let r = rows
                .into_iter()
                .next()
                .ok_or_else(|| Error::NotFound(format!("case {case} is not a gold case")))?;
            let sha = text(&r[0]);
            Ok((sha, r.into_iter().nth(1).and_then(|v| v.into_blob()).unwrap_or_default()))
        })?;
        if sha256_hex(&mask) != sha {
            return Err(Error::Corrupt(format!(
                "gold reference of case {case}: the stored mask does not match its sha256"
            )));
        }
        Ok(mask)
    }

    pub(crate) fn is_gold(db: &mut Db, case: &str) -> Result<bool> {
        Ok(db
            .query("SELECT gold FROM cases WHERE case_key = $1", &[case.into()])?
            .first()
            .is_some_and(|r| int(&r[0]) != 0))
    }

    /// Scores the latest version of `annotator`'s annotation of gold case `case` against
    /// the reference and records the score. None when the case is not gold.
    pub fn score_gold(&mut self, case: &str, annotator: &str) -> Result<Option<GoldScore>> {
        if !self.db.read(|db| Self::is_gold(db, case))? {
            return Ok(None);
        }
        let reference = self.gold_mask(case)?;
        let (info, bytes) = self.get_version(case, annotator, None)?;
        let rv = read_mask_bytes(&reference, &format!("gold reference of case {case}"))?;
        let what = format!("case {case} by {annotator} version {}", info.version);
        let av = read_mask_bytes(&bytes, &what)?;
        if !same_grid(&rv.grid, &av.grid) {
            return Err(Error::invalid(format!(
                "{what} is on another grid than the gold reference"
            )));
        }
        let r = labels_for(&rv, Path::new("gold reference"), &rv.grid)?;
        let a = labels_for(&av, Path::new(&what), &av.grid)?;
        let labels = self.schema_labels_in(&r, &a);
        let ortho = is_orthogonal(&rv.grid);
        let g = self.settings.gold.clone();
        let scores: Vec<GoldLabelScore> = compare_masks(&r, &a, &rv.grid, &labels, 1.0)
            .into_iter()
            .map(|l| GoldLabelScore {
                label: l.label,
                dice: l.dice,
                hd95_mm: if ortho { l.hausdorff95_mm } else { None },
            })
            .collect();
        let passed = scores.iter().all(|s| {
            s.dice >= g.min_dice
                && g.max_hd95_mm
                    .is_none_or(|m| s.hd95_mm.is_some_and(|h| h <= m))
        });
        let detail = serde_json::to_string(&scores)
            .map_err(|e| Error::Corrupt(format!("gold score: {e}")))?;
        let now = now_rfc3339();
        self.db.write(|db| {
            let id = int(&db.query(
                "SELECT a.id FROM annotations a JOIN cases c ON c.id = a.case_id WHERE c.case_key = $1 AND a.annotator = $2",
                &[case.into(), annotator.into()],
            )?[0][0]);
            db.exec(
                "INSERT INTO gold_scores (annotation_id, version, passed, detail, at) VALUES ($1, $2, $3, $4, $5)",
                &[
                    id.into(),
                    info.version.into(),
                    i64::from(passed).into(),
                    detail.as_str().into(),
                    now.as_str().into(),
                ],
            )?;
            Ok(())
        })?;
        Ok(Some(GoldScore {
            case: case.into(),
            annotator: annotator.into(),
            version: info.version,
            passed,
            labels: scores,
            at: now,
        }))
    }

    /// Recorded gold scores (of one annotator, or everyone), oldest first.
    pub fn gold_scores(&mut self, annotator: Option<&str>) -> Result<Vec<GoldScore>> {
        let rows = self.db.read(|db| {
            db.query(
                "SELECT c.case_key, a.annotator, s.version, s.passed, s.detail, s.at
                 FROM gold_scores s JOIN annotations a ON a.id = s.annotation_id JOIN cases c ON c.id = a.case_id
                 ORDER BY s.at, s.id",
                &[],
            )
        })?;
        let mut out = Vec::new();
        for r in rows {
            let who = text(&r[1]);
            if annotator.is_some_and(|a| a != who) {
                continue;
            }
            out.push(GoldScore {
                case: text(&r[0]),
                annotator: who,
                version: int(&r[2]),
                passed: int(&r[3]) != 0,
                labels: serde_json::from_str(&text(&r[4]))
                    .map_err(|e| Error::Corrupt(format!("gold score detail: {e}")))?,
                at: text(&r[5]),
            });
        }
        Ok(out)
    }

    /// Inside `next`'s transaction: the gold case to serve `annotator` now, if the protocol
    /// says so (and claims it). Err when they must pass gold cases and none is left.
    pub(super) fn claim_gold(
        db: &mut Db,
        annotator: &str,
        gold: &GoldSettings,
    ) -> Result<Option<i64>> {
        if gold.required <= 0 && gold.rate <= 0.0 {
            return Ok(None);
        }
        let passed = int(&db.query(
            "SELECT count(DISTINCT a.id) FROM gold_scores s JOIN annotations a ON a.id = s.annotation_id
             WHERE a.annotator = $1 AND s.passed = 1",
            &[annotator.into()],
        )?[0][0]);
        let held = int(&db.query(
            "SELECT count(*) FROM annotations WHERE annotator = $1",
            &[annotator.into()],
        )?[0][0]);
        let must = passed < gold.required;
        if !must && draw(annotator, held) >= gold.rate {
            return Ok(None);
        }
        let sql = format!(
            "SELECT c.id FROM cases c WHERE c.gold = 1
               AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.case_id = c.id AND a.annotator = $1)
             ORDER BY c.id LIMIT 1{}",
            db.dialect.lock_skip()
        );
        match db.query(&sql, &[annotator.into()])?.first().map(|r| int(&r[0])) {
            Some(id) => {
                Self::insert_annotation(db, id, annotator)?;
                Ok(Some(id))
            }
            None if must => Err(Error::invalid(format!(
                "{annotator} has passed {passed} of the {} gold case(s) required before real cases, and no gold case is left for them; the project lead can add gold cases (`voxmark project gold`) or lower the requirement",
                gold.required
            ))),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_uniform_and_deterministic() {
        let n = 4000;
        let hits = (0..n).filter(|&i| draw("ann", i) < 0.1).count();
        assert!((300..500).contains(&hits), "{hits}");
        assert_eq!(draw("ann", 7), draw("ann", 7));
        assert!(GoldSettings {
            rate: 1.5,
            ..Default::default()
        }
        .check()
        .is_err());
        assert!(GoldSettings::default().check().is_ok());
    }
}
