//! Review: an annotation's status moves (submit, approve, request changes, reopen) with who
//! may make each move, the round bumped when changed work is resubmitted, and comments
//! anchored at voxels.

use crate::review_db::Status;
use crate::{check_name, int, text, CaseRow, Project, ProjectComment};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::fs::clock::now_rfc3339;

impl Project {
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
