//! The project panel (right, above the labels): who works, the open case (status, round,
//! version), **Next case** (claims and opens the next one with its latest version), the
//! annotator's queue (changes requested first; a click opens a case), **Submit for review**,
//! and the project's progress. A component: it owns the [`ProjectSession`], is lent the
//! document, and asks the shell to open cases through [`Feedback`].

use super::component::{Feedback, Request};
use super::document::Document;
use super::project_session::ProjectSession;
use crate::project::{CaseRow, StatusReport};
use eframe::egui;

/// The panel and its session.
pub struct ProjectPanel {
    pub session: ProjectSession,
    /// The queue and progress, reloaded after every change (and on Refresh).
    queue: Vec<CaseRow>,
    progress: Option<StatusReport>,
    stale: bool,
}

impl ProjectPanel {
    pub fn new(session: ProjectSession) -> Self {
        Self {
            session,
            queue: Vec::new(),
            progress: None,
            stale: true,
        }
    }

    fn refresh(&mut self, fb: &mut Feedback) {
        self.stale = false;
        let a = self.session.annotator.clone();
        if let Some(q) = fb.report("project queue", self.session.project.queue(&a)) {
            self.queue = q;
        }
        if let Some(s) = fb.report("project status", self.session.project.status()) {
            self.progress = Some(s);
        }
    }

    /// Claims the next case and asks the shell to open it.
    pub fn next_case(&mut self, fb: &mut Feedback) {
        match self.session.next_case() {
            Ok(Some((req, note))) => {
                fb.request(Request::Open(req));
                if let Some(n) = note {
                    fb.status(n);
                }
            }
            Ok(None) => fb.status(format!(
                "no case left for {} in {}",
                self.session.annotator, self.session.project.name
            )),
            Err(e) => fb.error(format!("next case: {e}")),
        }
        self.stale = true;
    }

    /// Opens `row` (one of the annotator's own cases).
    pub fn open_case(&mut self, row: &CaseRow, fb: &mut Feedback) {
        match self.session.prepare(row) {
            Ok((req, note)) => {
                fb.request(Request::Open(req));
                if let Some(n) = note {
                    fb.status(n);
                }
            }
            Err(e) => fb.error(format!("open {}: {e}", row.case)),
        }
    }

    /// Submits the open case for review.
    pub fn submit(&mut self, fb: &mut Feedback) {
        match self.session.submit() {
            Ok(r) => fb.status(format!(
                "case {} submitted for review (round {})",
                r.case, r.round
            )),
            Err(e) => fb.error(format!("submit: {e}")),
        }
        self.stale = true;
    }

    /// After a save of the document finished: store it as the case's next version.
    pub fn after_save(&mut self, doc: &Document, fb: &mut Feedback) {
        let labels = match doc.state.session.labels() {
            Ok(l) => l,
            Err(e) => return fb.error(format!("project save: {e}")),
        };
        match self.session.store(&doc.labels_path, &labels) {
            Ok(Some(v)) => fb.status(format!(
                "saved; case {} version {} stored in project {} (sha256 {}…)",
                v.case,
                v.version,
                self.session.project.name,
                &v.sha256[..12]
            )),
            Ok(None) => {}
            Err(e) => fb.error(format!(
                "the labels are saved in {}, but the project refused them: {e}",
                doc.labels_path.display()
            )),
        }
        self.stale = true;
    }

    /// The panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, doc: Option<&Document>, fb: &mut Feedback) {
        if self.stale {
            self.refresh(fb);
        }
        ui.heading(format!("Project {}", self.session.project.name));
        ui.label(format!("annotator: {}", self.session.annotator));
        if let Some(c) = &self.session.current {
            ui.label(format!(
                "case {} · {} · round {} · version {}",
                c.row.case, c.row.status, c.row.round, c.base
            ));
        }
        ui.horizontal(|ui| {
            if ui.button("Next case").clicked() {
                self.next_case(fb);
            }
            let can_submit = self.session.current.as_ref().is_some_and(|c| {
                c.base > 0 && matches!(c.row.status.as_str(), "draft" | "changes_requested")
            }) && doc.is_some_and(|d| !d.state.dirty);
            if ui
                .add_enabled(can_submit, egui::Button::new("Submit for review"))
                .on_disabled_hover_text("save the labels first (Ctrl+S)")
                .clicked()
            {
                self.submit(fb);
            }
            if ui.small_button("Refresh").clicked() {
                self.stale = true;
            }
        });
        ui.label("My queue:");
        let mut open = None;
        for r in &self.queue {
            let current = self
                .session
                .current
                .as_ref()
                .is_some_and(|c| c.row.case == r.case);
            if ui
                .selectable_label(
                    current,
                    format!("{} · {} · v{}", r.case, r.status, r.version),
                )
                .clicked()
            {
                open = Some(r.clone());
            }
        }
        if let Some(r) = open {
            self.open_case(&r, fb);
        }
        if let Some(s) = &self.progress {
            let approved = s.by_status.get("approved").copied().unwrap_or(0);
            ui.label(format!(
                "{} cases · {} done · {} approved annotations · {} unclaimed",
                s.cases, s.cases_done, approved, s.unclaimed_slots
            ));
            if s.cases > 0 {
                ui.add(
                    egui::ProgressBar::new(s.cases_done as f32 / s.cases as f32)
                        .desired_width(220.0),
                );
            }
        }
        ui.separator();
    }
}
