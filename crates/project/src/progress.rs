//! Where the project stands: the case rows (filtered by status and annotator), an
//! annotator's queue, and the status report (counts per status and round).

use crate::{int, text, CaseRow, Project, StatusReport};
use voxmark_volume::error::Result;

impl Project {
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
}
