//! The project panel (right, above the labels): who works, the open case (status, round,
//! version), **Next case** (claims and opens the next one with its latest version), the
//! annotator's queue (changes requested first; a click opens a case), **Submit for review**,
//! and the project's progress. A component: it owns the [`ProjectSession`], is lent the
//! document, and asks the shell to open cases through [`Feedback`].

use super::component::{Feedback, Request};
use super::document::Document;
use super::project_session::ProjectSession;
use eframe::egui;
use std::path::PathBuf;
use voxmark_project::review_db::Status;
use voxmark_project::{CaseRow, StatusReport};

/// The panel and its session.
pub struct ProjectPanel {
    pub session: ProjectSession,
    /// The queue and progress, reloaded after every change (and on Refresh).
    queue: Vec<CaseRow>,
    progress: Option<StatusReport>,
    /// Others' submitted annotations.
    waiting: Vec<CaseRow>,
    /// What the annotation under review can be compared with.
    candidates: Vec<(String, PathBuf)>,
    note: String,
    /// A save was refused: the newer version that is in the way.
    conflict: Option<i64>,
    /// Comments on the annotation shown (the open case, or the one under review).
    comments: Vec<voxmark_project::ProjectComment>,
    stale: bool,
}

impl ProjectPanel {
    pub fn new(session: ProjectSession) -> Self {
        Self {
            session,
            queue: Vec::new(),
            progress: None,
            waiting: Vec::new(),
            candidates: Vec::new(),
            note: String::new(),
            conflict: None,
            comments: Vec::new(),
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
        if let Some(w) = fb.report("review list", self.session.to_review()) {
            self.waiting = w;
        }
        let shown = match (&self.session.reviewing, &self.session.current) {
            (Some(r), _) => r.row.annotator.clone().map(|a| (r.row.case.clone(), a)),
            (None, Some(c)) => Some((c.row.case.clone(), a.clone())),
            _ => None,
        };
        self.comments = match shown {
            Some((case, who)) => fb
                .report("comments", self.session.project.comments(&case, &who))
                .unwrap_or_default(),
            None => Vec::new(),
        };
    }

    /// The comments on the annotation shown (as of the last refresh).
    pub fn comments(&self) -> &[voxmark_project::ProjectComment] {
        &self.comments
    }

    /// The comments on the annotation shown; a click moves the crosshair to a comment's voxel.
    fn comments_ui(&mut self, ui: &mut egui::Ui, fb: &mut Feedback) {
        if self.comments.is_empty() {
            return;
        }
        ui.label(format!("Comments ({}):", self.comments.len()));
        for c in &self.comments {
            let at =
                c.at.map(|v| format!(" @({}, {}, {})", v[0], v[1], v[2]))
                    .unwrap_or_default();
            let line = format!("r{} {}: {}{at}", c.round, c.author, c.body);
            if ui.selectable_label(false, line).clicked() {
                if let Some(v) = c.at {
                    fb.request(Request::Crosshair(v));
                }
            }
        }
    }

    /// Opens `row` (another annotator's submitted work) for review.
    pub fn open_review(&mut self, row: &CaseRow, fb: &mut Feedback) {
        match self.session.prepare_review(row) {
            Ok(req) => fb.request(Request::Open(req)),
            Err(e) => return fb.error(format!("review {}: {e}", row.case)),
        }
        self.stale = true;
        self.candidates = fb
            .report("compare candidates", self.session.compare_candidates())
            .unwrap_or_default();
    }

    /// Approve or request changes on the annotation under review.
    pub fn decide(&mut self, to: Status, note: Option<&str>, fb: &mut Feedback) {
        match self.session.decide(to, note) {
            Ok(r) => fb.status(format!(
                "case {} by {}: {} (round {})",
                r.case,
                r.annotator.as_deref().unwrap_or(""),
                r.status,
                r.round
            )),
            Err(e) => fb.error(format!("review: {e}")),
        }
        self.stale = true;
    }

    /// The reviewer's part: the list of submitted work, and for the open one compare,
    /// comment, approve or request changes.
    fn review_ui(&mut self, ui: &mut egui::Ui, doc: Option<&Document>, fb: &mut Feedback) {
        ui.label(format!("Waiting for review: {}", self.waiting.len()));
        let mut open = None;
        for r in &self.waiting {
            let label = format!(
                "{} · {} · round {} · v{}",
                r.case,
                r.annotator.as_deref().unwrap_or(""),
                r.round,
                r.version
            );
            if ui.selectable_label(false, label).clicked() {
                open = Some(r.clone());
            }
        }
        if let Some(r) = open {
            self.open_review(&r, fb);
        }
        let Some(rv) = self.session.reviewing.clone() else {
            return;
        };
        let Some(doc) = doc.filter(|d| d.labels_path == rv.copy) else {
            return;
        };
        ui.label(format!(
            "Reviewing {} by {} · version {} · round {} · {}",
            rv.row.case,
            rv.row.annotator.as_deref().unwrap_or(""),
            rv.version,
            rv.row.round,
            rv.row.status
        ));
        for (what, path) in &self.candidates {
            if ui.button(format!("Compare with {what}")).clicked() {
                fb.request(Request::Compare(path.clone()));
            }
        }
        ui.add(egui::TextEdit::singleline(&mut self.note).hint_text("note / comment"));
        ui.horizontal(|ui| {
            if ui.button("Comment at crosshair").clicked() && !self.note.trim().is_empty() {
                let at = doc.state.crosshair.map(|x| x.round() as i64);
                let body = std::mem::take(&mut self.note);
                match self
                    .session
                    .comment(body.trim(), at, Some(doc.state.brush.label))
                {
                    Ok(()) => fb.status(format!("comment at ({}, {}, {})", at[0], at[1], at[2])),
                    Err(e) => fb.error(format!("comment: {e}")),
                }
            }
        });
        let submitted = rv.row.status == "submitted";
        ui.horizontal(|ui| {
            if ui
                .add_enabled(submitted, egui::Button::new("Approve"))
                .clicked()
            {
                self.decide(Status::Approved, None, fb);
            }
            if ui
                .add_enabled(submitted, egui::Button::new("Request changes"))
                .clicked()
            {
                let note = std::mem::take(&mut self.note);
                let note = Some(note.trim().to_string()).filter(|n| !n.is_empty());
                self.decide(Status::ChangesRequested, note.as_deref(), fb);
            }
        });
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
                self.session.annotator,
                self.session.project.name()
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

    /// After a refused save: the working copy goes on top of the newer version (the user
    /// looked and keeps their labels).
    pub fn keep_mine(&mut self, fb: &mut Feedback) {
        let Some(v) = self.conflict.take() else {
            return;
        };
        match self.session.rebase(v) {
            Ok(()) => fb.request(Request::Save),
            Err(e) => fb.error(format!("project: {e}")),
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
                self.session.project.name(),
                &v.sha256[..12]
            )),
            Ok(None) => {}
            Err(e) => {
                self.conflict = self
                    .session
                    .latest()
                    .ok()
                    .filter(|&l| self.session.current.as_ref().is_some_and(|c| l > c.base));
                fb.error(format!(
                    "the labels are saved in {}, but the project refused them: {e}",
                    doc.labels_path.display()
                ))
            }
        }
        self.stale = true;
    }

    /// The panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, doc: Option<&Document>, fb: &mut Feedback) {
        if self.stale {
            self.refresh(fb);
        }
        ui.heading(format!("Project {}", self.session.project.name()));
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
        if let Some(v) = self.conflict {
            if ui
                .button(format!("Keep mine on top of version {v}"))
                .on_hover_text("stores your saved labels as the next version, over the newer one")
                .clicked()
            {
                self.keep_mine(fb);
            }
        }
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
        self.comments_ui(ui, fb);
        ui.separator();
        self.review_ui(ui, doc, fb);
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
