//! Claims: who annotates which case. [`Project::next`] claims an annotator's next case
//! atomically (changes requested first, then assigned drafts, then a case that still lacks
//! annotators, oldest first); [`Project::assign`] and [`Project::assign_count`] hand cases
//! out. On PostgreSQL the case row is locked (`FOR UPDATE SKIP LOCKED`), on SQLite the write
//! transaction serialises claims, and `UNIQUE (case_id, annotator)` holds on both.

use crate::db::Db;
use crate::{check_name, int, text, CaseRow, Project};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::fs::clock::now_rfc3339;

impl Project {
    /// A new annotation slot (draft, round 1) for `annotator` on case row `case_id`; the
    /// case's annotator count goes up in the same transaction. Claims decide on that count,
    /// a column of the locked case row, so a claim that waited for another sees its result
    /// (PostgreSQL re-checks an updated row; a count over `annotations` would be read from
    /// the waiting statement's older snapshot).
    pub(crate) fn insert_annotation(db: &mut Db, case_id: i64, annotator: &str) -> Result<()> {
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

    pub(crate) fn slot(db: &mut Db, case: &str, annotator: &str) -> Result<Option<CaseRow>> {
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
}
