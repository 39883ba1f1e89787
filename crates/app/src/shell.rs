//! The shell: one egui frame over the open document. It owns the document and the
//! components — the panes ([`Panes`]), the tools panel ([`ToolsPanel`]) with the tool state
//! ([`ToolState`]), the labels panel ([`LabelsPanel`]), the review panel ([`ReviewPanel`]) and
//! the dialog — and lends each the document for its part of the frame; what a component
//! asks of the shell (status, errors, save, open, quit) comes back as [`Feedback`] and is
//! carried out by [`Shell::handle`]. The shell itself does the document's life cycle (load
//! off the UI thread, save on a worker, quit with unsaved edits), the menu bar, the status
//! bar and the keyboard shortcuts. Every edit is a journaled op on [`super::state::AppState`];
//! every picture comes from the engine's renderers on the shared wgpu device.
//!
//! `Shell::ui` is the whole frame. The native window (`app::native`) and the offscreen
//! harness (`app::headless`, used by the interaction tests and the frame benchmark) both call
//! it with the egui-wgpu renderer that shows the pane textures.

pub use super::component::Dialog;
pub use super::component::{Feedback, Request};
use super::document::{load, Document, LoadOutcome, OpenRequest};
use super::labels_panel::LabelsPanel;
use super::panes::{Lent, Panes};
use super::project_panel::ProjectPanel;
use super::review::ReviewPanel;
pub use super::tools::{GrowSettings, MarkupDraft, PolygonDraft, Tool, ToolState, ViewSettings};
use super::tools_panel::ToolsPanel;
use eframe::egui;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use voxmark_edit::ops::{EditOp, Shape};
use voxmark_gpu::GpuContext;

struct Loading {
    rx: Receiver<voxmark_volume::Result<LoadOutcome>>,
    stage: Arc<Mutex<String>>,
    started: Instant,
    /// Labels to load onto the open document's image (Open labels) instead of a new image.
    what: String,
}

/// `--screenshot OUT.png --frames N`.
pub struct ScreenshotPlan {
    pub out: PathBuf,
    pub frames: u32,
    counted: u32,
    requested: Option<u32>,
    written: Arc<Mutex<Option<Result<(), String>>>>,
}

impl ScreenshotPlan {
    pub fn new(out: PathBuf, frames: u32) -> Self {
        Self {
            out,
            frames: frames.max(1),
            counted: 0,
            requested: None,
            written: Arc::new(Mutex::new(None)),
        }
    }
}

/// The whole shell.
pub struct Shell {
    pub gpu: &'static GpuContext,
    pub doc: Option<Document>,
    /// The active tool, grow seeds and range, polygon draft, ruler, clean-up settings.
    pub tools: ToolState,
    pub panes: Panes,
    pub tools_panel: ToolsPanel,
    pub labels: LabelsPanel,
    pub review: ReviewPanel,
    /// The project panel when the shell works on a project (`view --project`).
    pub project: Option<ProjectPanel>,
    pub dialog: Option<Dialog>,
    pub status: String,
    /// Exit result for the process (set by screenshot mode and fatal errors).
    pub exit: Arc<Mutex<Option<Result<(), String>>>>,
    pub screenshot: Option<ScreenshotPlan>,
    /// Milliseconds of the last frames' work (UI + GPU encode + submit).
    pub frame_ms: Vec<f64>,
    /// Wait for the GPU at the end of each frame (screenshot/bench timing).
    pub sync_frames: bool,
    /// Every frame's time is also pushed here when set (reported at exit).
    pub frame_log: Option<Arc<Mutex<Vec<f64>>>>,
    loading: Option<Loading>,
    saving: Option<super::document::SaveJob>,
    quit_after_save: bool,
    open_after_save: Option<OpenRequest>,
    quit_confirmed: bool,
    /// The window closes at the end of this frame (quit confirmed outside a frame's input).
    close_now: bool,
}

impl Shell {
    /// A shell on `gpu`; opens `req` in the background.
    pub fn new(gpu: &'static GpuContext, req: OpenRequest) -> Self {
        let mut s = Self::empty(gpu);
        s.open(req);
        s
    }

    /// A shell with nothing open.
    pub fn empty(gpu: &'static GpuContext) -> Self {
        Self {
            gpu,
            doc: None,
            tools: ToolState::default(),
            panes: Panes::default(),
            tools_panel: ToolsPanel::default(),
            labels: LabelsPanel::default(),
            review: ReviewPanel::default(),
            project: None,
            dialog: None,
            status: String::new(),
            exit: Arc::new(Mutex::new(None)),
            screenshot: None,
            frame_ms: Vec::new(),
            sync_frames: false,
            frame_log: None,
            loading: None,
            saving: None,
            quit_after_save: false,
            open_after_save: None,
            quit_confirmed: false,
            close_now: false,
        }
    }

    /// Works on a project: the project panel appears; `req` opens when given, else the first
    /// case of the annotator's queue (Next case claims one when the queue is empty).
    pub fn start_project(
        &mut self,
        session: super::project_session::ProjectSession,
        req: Option<OpenRequest>,
    ) {
        let mut panel = ProjectPanel::new(session);
        let mut fb = Feedback::default();
        match req {
            Some(r) => fb.request(Request::Open(r)),
            None => {
                let who = panel.session.annotator.clone();
                match panel.session.project.queue(&who) {
                    Ok(q) => match q.iter().find(|r| r.status != "submitted") {
                        Some(first) => panel.open_case(first, &mut fb),
                        None => fb.status(format!(
                            "project {}: nothing open in {who}'s queue; Next case claims one",
                            panel.session.project.name()
                        )),
                    },
                    Err(e) => fb.error(format!("project queue: {e}")),
                }
            }
        }
        self.project = Some(panel);
        self.handle(fb);
    }

    /// Enters project mode on case `id` (`voxmark view --project P --case ID`, the links of
    /// the QA report).
    pub fn start_project_case(
        &mut self,
        session: super::project_session::ProjectSession,
        id: &str,
    ) {
        self.project = Some(ProjectPanel::new(session));
        self.project_open_case(id);
    }

    /// Opens case `id`: the annotator's own annotation when they have one, else the latest
    /// submitted annotation of another annotator, for review (the rest offered to compare).
    pub fn project_open_case(&mut self, id: &str) {
        let mut fb = Feedback::default();
        if let Some(p) = &mut self.project {
            let who = p.session.annotator.clone();
            match p.session.project.cases(None, None) {
                Ok(rows) => {
                    let rows: Vec<_> = rows.into_iter().filter(|r| r.case == id).collect();
                    let own = rows
                        .iter()
                        .find(|r| r.annotator.as_deref() == Some(who.as_str()));
                    let other = rows
                        .iter()
                        .filter(|r| r.annotator.is_some() && r.version >= 1 && r.status != "draft")
                        .min_by_key(|r| r.annotator.clone());
                    match (own, other) {
                        (Some(r), _) => p.open_case(r, &mut fb),
                        (None, Some(r)) => p.open_review(r, &mut fb),
                        _ if rows.is_empty() => fb.error(format!("the project has no case {id}")),
                        _ => fb.error(format!(
                            "case {id}: {who} has no annotation of it and nobody has submitted one"
                        )),
                    }
                }
                Err(e) => fb.error(format!("project cases: {e}")),
            }
        }
        self.handle(fb);
    }

    /// The project panel's Next case: claims the annotator's next case and opens it.
    pub fn project_next(&mut self) {
        let mut fb = Feedback::default();
        if let Some(p) = &mut self.project {
            p.next_case(&mut fb);
        }
        self.handle(fb);
    }

    /// The project panel's review list: opens `row`'s latest version for review.
    pub fn project_review(&mut self, row: &voxmark_project::CaseRow) {
        let mut fb = Feedback::default();
        if let Some(p) = &mut self.project {
            p.open_review(row, &mut fb);
        }
        self.handle(fb);
    }

    /// The reviewer's Approve / Request changes on the annotation under review.
    pub fn project_decide(&mut self, to: voxmark_project::review_db::Status, note: Option<&str>) {
        let mut fb = Feedback::default();
        if let Some(p) = &mut self.project {
            p.decide(to, note, &mut fb);
        }
        self.handle(fb);
    }

    /// The project panel's "Keep mine on top of version N" after a refused save: the working
    /// copy is stored as the next version on top of the latest.
    pub fn project_keep_mine(&mut self) {
        let mut fb = Feedback::default();
        if let Some(p) = &mut self.project {
            p.keep_mine(&mut fb);
        }
        self.handle(fb);
    }

    /// The project panel's Submit for review.
    pub fn project_submit(&mut self) {
        let mut fb = Feedback::default();
        if let Some(p) = &mut self.project {
            p.submit(&mut fb);
        }
        self.handle(fb);
    }

    /// Carries out what a component asked for: its status line, dialog, errors (the error
    /// dialog), then its requests in order.
    pub fn handle(&mut self, fb: Feedback) {
        let Feedback {
            status,
            errors,
            dialog,
            requests,
        } = fb;
        if let Some(s) = status {
            self.status = s;
        }
        if let Some(d) = dialog {
            self.dialog = Some(d);
        }
        for e in errors {
            self.fail(e);
        }
        for r in requests {
            match r {
                Request::Save => self.save(),
                Request::Open(req) => self.open(req),
                Request::OpenLabels(p) => self.open_labels(p),
                Request::ConfirmOpen { req, save } => self.confirm_open(req, save),
                Request::ConfirmQuit { save } => self.confirm_quit(save),
                Request::Crosshair(v) => {
                    if let Some(d) = &mut self.doc {
                        let r = d.state.set_crosshair(v.map(|x| x as f64));
                        self.report("jump", r);
                    }
                }
                Request::Compare(p) => {
                    let r = self.start_review(p);
                    self.report("compare", r);
                }
            }
        }
    }

    /// Runs `f` on the open document with a fresh [`Feedback`], then carries the feedback
    /// out (nothing happens without a document).
    fn with_doc(&mut self, f: impl FnOnce(&mut Document, &mut Feedback)) {
        let Some(doc) = &mut self.doc else {
            return;
        };
        let mut fb = Feedback::default();
        f(doc, &mut fb);
        self.handle(fb);
    }

    /// Installs a loaded document (also used by tests that load synchronously).
    pub fn set_document(&mut self, mut doc: Document) {
        self.tools
            .new_image(doc.auto_window, doc.default_window, doc.histogram.max);
        self.panes
            .view
            .reset_3d(&doc.image().data, &doc.image().meta.modality);
        self.labels = LabelsPanel::default();
        self.review = ReviewPanel::default();
        // Keep the registered textures; forget what they show.
        self.invalidate_panes();
        // A project case: the label table is the project's schema (names, colours), and
        // only its values can be added.
        let mut case_note = None;
        if let Some(p) = &mut self.project {
            if p.session.owns(&doc.labels_path) {
                self.labels.schema_only = true;
                self.review.in_project = true;
            }
            if let Some(c) = p
                .session
                .current
                .as_mut()
                .filter(|c| c.working_copy == doc.labels_path)
            {
                case_note = c.note.take();
            }
        }
        let schema_ops = match (&self.project, self.labels.schema_only) {
            (Some(p), true) => p.session.schema_ops(),
            _ => Vec::new(),
        };
        for op in &schema_ops {
            if let Err(e) = doc.state.session.apply_unjournaled(op) {
                self.status = format!("label table: {e}");
            }
        }
        if doc.state.session.table().is_empty() {
            // A first label to paint with; journaled like every table change.
            let op = EditOp::SetLabel {
                value: 1,
                name: Some("label 1".into()),
                color: None,
                visible: None,
                locked: None,
            };
            if let Err(e) = doc.state.session.apply_unjournaled(&op) {
                self.status = format!("label table: {e}");
            }
        }
        doc.state.brush.label = doc.state.session.table().first().map_or(1, |l| l.value);
        if doc.recovery.is_some() {
            self.dialog = Some(Dialog::Recovery);
        }
        if let Some(why) = doc.read_only() {
            self.dialog = Some(Dialog::ReadOnly(why.to_string()));
        }
        self.status = format!(
            "{} {}×{}×{} opened; labels: {}",
            doc.title,
            doc.image().grid.dims[0],
            doc.image().grid.dims[1],
            doc.image().grid.dims[2],
            doc.labels_path.display()
        );
        for n in doc.notes.iter().chain(&case_note) {
            self.status.push_str(" · ");
            self.status.push_str(n);
        }
        self.doc = Some(doc);
    }

    /// Opens `req`: first asks what to do with unsaved edits of the open image, if any.
    pub fn open(&mut self, req: OpenRequest) {
        if self.doc.as_ref().is_some_and(|d| d.state.dirty) {
            self.dialog = Some(Dialog::ConfirmOpen(req));
        } else {
            self.start_loading(req);
        }
    }

    /// The answer to "unsaved changes" before opening `req`: save first (the load starts
    /// when the save has finished), or open now — the unsaved ops stay in the old image's
    /// journal and are offered for recovery when it is opened again.
    pub fn confirm_open(&mut self, req: OpenRequest, save: bool) {
        if save {
            self.save();
            if self.saving.is_some() {
                self.open_after_save = Some(req);
            }
            return;
        }
        // The edits stay in the old image's journal: opening that image again offers them.
        self.start_loading(req);
    }

    /// Starts loading `req` on a worker thread.
    fn start_loading(&mut self, req: OpenRequest) {
        // Reopening the mask this window edits: the window lets go of it (journal and lock)
        // so the new document can own it; the old one is read-only until it is replaced.
        if let Some(d) = &mut self.doc {
            if d.labels_path == super::document::mask_path_of(&req) {
                d.state.session.set_journal(None);
                d.state.session.set_read_only(Some(format!(
                    "{} is being reopened in this window",
                    d.labels_path.display()
                )));
            }
        }
        let (tx, rx) = channel();
        let stage = Arc::new(Mutex::new(String::from("starting")));
        let st = stage.clone();
        let gpu = self.gpu;
        let what = req
            .path
            .as_ref()
            .map_or_else(|| "the CT phantom".to_string(), |p| p.display().to_string());
        let r2 = req.clone();
        let spawned = std::thread::Builder::new()
            .name("voxmark-load".into())
            .spawn(move || {
                let report = |s: &str| {
                    if let Ok(mut g) = st.lock() {
                        *g = s.to_string();
                    }
                };
                let _ = tx.send(load(gpu, &r2, &report));
            });
        match spawned {
            Ok(_) => {
                self.loading = Some(Loading {
                    rx,
                    stage,
                    started: Instant::now(),
                    what,
                })
            }
            Err(e) => self.dialog = Some(Dialog::Error(format!("cannot start loading: {e}"))),
        }
    }

    /// Loads `req` on this thread (tests, benchmarks).
    pub fn open_blocking(&mut self, req: &OpenRequest) -> voxmark_volume::Result<()> {
        match load(self.gpu, req, &|_| {})? {
            LoadOutcome::Ready(doc) => {
                self.set_document(*doc);
                Ok(())
            }
            LoadOutcome::ChooseSeries { request, choices } => {
                Err(voxmark_volume::Error::SeriesChoice {
                    path: request.path.unwrap_or_default(),
                    choices: choices.into_iter().map(|(_, line)| line).collect(),
                })
            }
            LoadOutcome::ConfirmResample { refusal, .. } => {
                Err(voxmark_volume::Error::Invalid(refusal))
            }
        }
    }

    /// Makes every pane render again next frame (benchmarks; a new document).
    pub fn invalidate_panes(&mut self) {
        self.panes.invalidate();
    }

    /// True while a file is loading.
    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    fn poll_loading(&mut self, ctx: &egui::Context) {
        let Some(l) = &self.loading else {
            return;
        };
        match l.rx.try_recv() {
            Ok(Ok(LoadOutcome::Ready(doc))) => {
                self.loading = None;
                if let Some(d) = &mut self.doc {
                    if d.state.dirty {
                        // The old document's journal keeps its unsaved work for recovery.
                        self.status = format!(
                            "unsaved edits of {} stay in its journal {}",
                            d.title,
                            super::document::journal_path(&d.labels_path).display()
                        );
                    }
                }
                self.set_document(*doc);
            }
            Ok(Ok(LoadOutcome::ChooseSeries { request, choices })) => {
                let what = l.what.clone();
                self.loading = None;
                if self.screenshot.is_some() {
                    // No one to ask: the same error as the command line, listing the series.
                    let list: Vec<&str> = choices.iter().map(|c| c.1.as_str()).collect();
                    self.fail(format!(
                        "{} holds several series; choose one with --series UID:\n{}",
                        what,
                        list.join("\n")
                    ));
                } else {
                    self.dialog = Some(Dialog::ChooseSeries { request, choices });
                }
            }
            Ok(Ok(LoadOutcome::ConfirmResample {
                request,
                refusal,
                note,
            })) => {
                self.loading = None;
                if self.screenshot.is_some() {
                    // No one to ask: the command line's error.
                    self.fail(refusal);
                } else {
                    self.dialog = Some(Dialog::ConfirmResample {
                        request,
                        refusal,
                        note,
                    });
                }
            }
            Ok(Err(e)) => {
                let what = l.what.clone();
                self.loading = None;
                self.fail(format!("cannot open {what}: {e}"));
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => ctx.request_repaint(),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                self.loading = None;
                self.fail("the loading thread stopped without a result".into());
            }
        }
    }

    /// Shows an error; in screenshot mode it also ends the process with that error.
    pub fn fail(&mut self, msg: String) {
        if self.screenshot.is_some() {
            if let Ok(mut e) = self.exit.lock() {
                *e = Some(Err(msg.clone()));
            }
        }
        self.dialog = Some(Dialog::Error(msg));
    }

    /// Reports an engine result in the status line or an error dialog.
    pub fn report<T>(&mut self, what: &str, r: voxmark_volume::Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(format!("{what}: {e}"));
                None
            }
        }
    }

    /// Recomputes the grow preview from the seeds and the range.
    pub fn update_grow_preview(&mut self) {
        let mut fb = Feedback::default();
        if let Some(d) = &mut self.doc {
            fb.outcome("region grow", self.tools.grow_preview(&mut d.state));
        }
        self.handle(fb);
    }

    /// Grow from seeds: Initialise (the painted labels are the seeds).
    pub fn start_grow_cut(&mut self) {
        let mut fb = Feedback::default();
        if let Some(d) = &mut self.doc {
            fb.outcome("grow from seeds", self.tools.start_grow_cut(&mut d.state));
        }
        self.handle(fb);
    }

    /// Fill between slices or grow from seeds is on and the labels changed: the preview
    /// follows.
    pub fn refresh_fill_between(&mut self) {
        let mut fb = Feedback::default();
        if let Some(d) = &mut self.doc {
            match self.tools.refresh_fill_between(&mut d.state) {
                Ok(None) => {}
                r => fb.outcome("fill between slices", r.map(Option::flatten)),
            }
            match self.tools.refresh_grow_cut(&mut d.state) {
                Ok(None) => {}
                r => fb.outcome("grow from seeds", r.map(Option::flatten)),
            }
        }
        self.handle(fb);
    }

    /// Starts fill between slices of the active label along `axis` (preview; Enter accepts).
    pub fn start_fill_between(&mut self, axis: voxmark_volume::geometry::view::ViewKind) {
        self.tools.fill_axis = axis;
        let mut fb = Feedback::default();
        if let Some(d) = &mut self.doc {
            fb.outcome(
                "fill between slices",
                self.tools.start_fill_between(&mut d.state),
            );
        }
        self.handle(fb);
    }

    /// ITK ConfidenceConnected range (mean ± 2.5 σ around the seeds, one re-estimate).
    pub fn auto_grow_range(&mut self) {
        let mut fb = Feedback::default();
        if let Some(d) = &mut self.doc {
            let r = self.tools.auto_grow_range(&mut d.state);
            if let Some(s) = fb.report("auto range", r) {
                fb.status(s);
            }
        }
        self.handle(fb);
    }

    /// Enter: the active tool (or another) ends what it has in progress — a markup, a
    /// polygon —, else the preview waiting is accepted.
    pub fn enter(&mut self) {
        let mut fb = Feedback::default();
        if let Some(d) = &mut self.doc {
            fb.absorb(self.tools.enter(&mut d.state));
        }
        self.handle(fb);
    }

    /// Esc: cancel the grow preview and the polygon in progress.
    pub fn cancel(&mut self) {
        self.tools.cancel(self.doc.as_mut().map(|d| &mut d.state));
    }

    /// Applies `op` (journaled) and reports it.
    pub fn apply(&mut self, op: EditOp) {
        self.with_doc(|d, fb| fb.apply(&mut d.state, &op));
    }

    pub fn undo(&mut self) {
        self.with_doc(|d, fb| fb.undo(&mut d.state));
    }

    pub fn redo(&mut self) {
        self.with_doc(|d, fb| fb.redo(&mut d.state));
    }

    /// Starts review mode against the annotation `b_path` (same grid).
    pub fn start_review(&mut self, b_path: PathBuf) -> voxmark_volume::Result<()> {
        let Some(doc) = &self.doc else {
            return Ok(());
        };
        self.status = self.review.start(self.gpu, doc, b_path)?;
        Ok(())
    }

    /// Moves the crosshair `step` disagreement regions on.
    pub fn jump_region(&mut self, step: i64) {
        let mut fb = Feedback::default();
        if let Some(d) = &mut self.doc {
            self.review.jump_region(step, d, &mut fb);
        }
        self.handle(fb);
    }

    /// Moves the crosshair to the review comment `step` away from the selected one.
    pub fn jump_comment(&mut self, step: i64) {
        let mut fb = Feedback::default();
        if let Some(d) = &mut self.doc {
            self.review.jump_comment(step, d, &mut fb);
        }
        self.handle(fb);
    }

    /// Ctrl+S: the labels are read back now, written by a worker thread (the UI keeps
    /// running); the status line says when the file is on disk.
    pub fn save(&mut self) {
        if self.saving.is_some() {
            self.status = "a save is already running".into();
            return;
        }
        let Some(doc) = &mut self.doc else {
            return;
        };
        let r = doc.begin_save();
        if let Some(job) = self.report("save", r) {
            self.status = format!("saving {}…", job.path.display());
            self.saving = Some(job);
        }
    }

    /// True while a save runs.
    pub fn is_saving(&self) -> bool {
        self.saving.is_some()
    }

    fn poll_save(&mut self, ctx: &egui::Context) {
        let Some(job) = &self.saving else {
            return;
        };
        let r = match job.rx.try_recv() {
            Ok(r) => r,
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                ctx.request_repaint();
                return;
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => Err(voxmark_volume::Error::Worker(
                "the save thread stopped without a result".into(),
            )),
        };
        let Some(job) = self.saving.take() else {
            return;
        };
        let r = r.and_then(|()| match &mut self.doc {
            Some(d) => d.finish_save(&job),
            None => Ok(()),
        });
        let mut next = self.open_after_save.take();
        if self.report("save", r).is_some() {
            self.status = format!("saved {}", job.path.display());
            if let (Some(p), Some(d)) = (&mut self.project, &self.doc) {
                // A project case: the saved copy becomes the next version. When the project
                // refuses it (a newer version from elsewhere) the window stays, with the
                // saved file and the reason.
                let mut fb = Feedback::default();
                p.after_save(d, &mut fb);
                let refused = !fb.errors.is_empty();
                self.handle(fb);
                if refused {
                    self.quit_after_save = false;
                    next = None;
                }
            }
            if self.quit_after_save {
                self.quit_confirmed = true;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
            if let Some(req) = next {
                self.start_loading(req);
            }
        }
        self.quit_after_save = false;
    }

    /// Brush radius step ([ and ]).
    pub fn change_radius(&mut self, factor: f64) {
        if let Some(doc) = &mut self.doc {
            let r = (doc.state.brush.radius_mm * factor).clamp(0.25, 200.0);
            doc.state.brush.radius_mm = r;
            self.status = format!("brush radius {r:.2} mm");
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        use egui::{Key, Modifiers};
        let cmd = Modifiers::COMMAND;
        let cs = Modifiers::COMMAND | Modifiers::SHIFT;
        let (redo2, undo, redo, save, open) = ctx.input_mut(|i| {
            (
                i.consume_key(cs, Key::Z),
                i.consume_key(cmd, Key::Z),
                i.consume_key(cmd, Key::Y),
                i.consume_key(cmd, Key::S),
                i.consume_key(cmd, Key::O),
            )
        });
        if undo {
            self.undo();
        }
        if redo || redo2 {
            self.redo();
        }
        if save {
            self.save();
        }
        if open {
            self.dialog = Some(Dialog::open());
        }
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let none = Modifiers::NONE;
        let keys = ctx.input_mut(|i| {
            [
                i.consume_key(none, Key::B),
                i.consume_key(none, Key::E),
                i.consume_key(none, Key::G),
                i.consume_key(none, Key::P),
                i.consume_key(none, Key::R),
                i.consume_key(none, Key::C),
                i.consume_key(none, Key::OpenBracket),
                i.consume_key(none, Key::CloseBracket),
                i.consume_key(none, Key::Enter),
                i.consume_key(none, Key::Escape),
                i.consume_key(none, Key::M),
                i.consume_key(none, Key::X),
                i.consume_key(none, Key::L),
                i.consume_key(none, Key::Delete),
            ]
        });
        let tools = [
            Tool::Brush,
            Tool::Eraser,
            Tool::Grow,
            Tool::Polygon,
            Tool::Markup(voxmark_volume::markup::MarkupKind::Line),
            Tool::Crosshair,
        ];
        for (k, t) in keys.iter().zip(tools) {
            if *k {
                self.tools.tool = t;
            }
        }
        if keys[11] {
            self.tools.tool = Tool::Scissors;
        }
        if keys[12] {
            self.tools.tool = Tool::Markup(voxmark_volume::markup::MarkupKind::Point);
        }
        if keys[13] {
            if let Some(op) = self.tools.delete_selected_markup() {
                self.apply(op);
            }
        }
        if keys[6] {
            self.change_radius(1.0 / 1.25);
        }
        if keys[7] {
            self.change_radius(1.25);
        }
        if keys[8] {
            self.enter();
        }
        if keys[9] {
            self.cancel();
        }
        // Up/Down (and Page Up/Down, 10 slices) move the slice of the pane under the cursor.
        let steps = ctx.input_mut(|i| {
            i64::from(i.consume_key(none, Key::ArrowUp))
                - i64::from(i.consume_key(none, Key::ArrowDown))
                + 10 * i64::from(i.consume_key(none, Key::PageUp))
                - 10 * i64::from(i.consume_key(none, Key::PageDown))
        });
        if steps != 0 {
            let pane = ctx
                .pointer_hover_pos()
                .and_then(|p| self.panes.rects[..3].iter().position(|r| r.contains(p)));
            if let (Some(i), Some(doc)) = (pane, &mut self.doc) {
                let r = doc.state.scroll(i, steps);
                self.report("slice", r);
            }
        }
        if keys[10] {
            let hovered = ctx
                .pointer_hover_pos()
                .and_then(|p| self.panes.rects.iter().position(|r| r.contains(p)));
            self.panes.toggle_maximized(hovered);
        }
    }

    fn handle_close(&mut self, ctx: &egui::Context) {
        let close = ctx.input(|i| i.viewport().close_requested());
        if !close || self.quit_confirmed {
            return;
        }
        if self.doc.as_ref().is_some_and(|d| d.state.dirty) {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.dialog = Some(Dialog::ConfirmQuit);
        }
    }

    fn handle_drops(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if let Some(p) = dropped.into_iter().next() {
            if self.doc.is_some() && is_nifti(&p) {
                self.dialog = Some(Dialog::Dropped(p));
            } else {
                self.open(OpenRequest {
                    path: Some(p),
                    ..Default::default()
                });
            }
        }
    }

    /// Opens a label map onto the current image (same grid): the document reloads with it.
    pub fn open_labels(&mut self, labels: PathBuf) {
        let Some(doc) = &self.doc else {
            return;
        };
        if doc.state.dirty {
            self.fail("save or undo the current edits before loading another label map".into());
            return;
        }
        let req = OpenRequest {
            path: doc.image_path.clone(),
            series: doc.image().meta.series_uid.clone(),
            labels: Some(labels),
            labels_new: false,
            label_table: None,
            resample: Default::default(),
        };
        self.open(req);
    }

    /// One frame of the whole shell.
    pub fn ui(&mut self, ui: &mut egui::Ui, renderer: &mut eframe::egui_wgpu::Renderer) {
        let t0 = Instant::now();
        let ctx = ui.ctx().clone();
        self.poll_loading(&ctx);
        self.poll_save(&ctx);
        self.handle_drops(&ctx);
        self.handle_close(&ctx);
        self.shortcuts(&ctx);
        self.refresh_fill_between();

        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        let mut fb = Feedback::default();
        egui::Panel::left("tools")
            .default_size(250.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.tools_panel
                        .ui(ui, &mut self.tools, self.doc.as_mut(), &mut fb)
                });
            });
        self.handle(std::mem::take(&mut fb));
        egui::Panel::right("labels")
            .default_size(270.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    if let Some(p) = &mut self.project {
                        p.ui(ui, self.doc.as_ref(), &mut fb);
                    }
                    self.labels
                        .ui(ui, self.doc.as_mut(), &mut self.panes.view, &mut fb);
                    if let Some(doc) = &mut self.doc {
                        self.review.ui(ui, self.gpu, doc, &mut fb);
                    }
                });
            });
        self.handle(std::mem::take(&mut fb));
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(l) = &self.loading {
                loading_ui(ui, l);
            }
            if let Some(doc) = &mut self.doc {
                let mut cx = Lent {
                    gpu: self.gpu,
                    doc,
                    tools: &mut self.tools,
                    review: self.review.mode.as_ref(),
                    fb: &mut fb,
                };
                self.panes.ui(ui, renderer, &mut cx);
            } else if self.loading.is_none() {
                ui.centered_and_justified(|ui| {
                    ui.label(
                        "Drop a NIfTI file or a DICOM folder here, or use File > Open (Ctrl+O).",
                    );
                });
            }
        });
        self.handle(fb);
        self.dialogs(&ctx);
        if self.close_now {
            self.close_now = false;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if self.sync_frames {
            let _ = self.gpu.device.poll(wgpu::PollType::wait_indefinitely());
        }
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        self.frame_ms.push(ms);
        if let Some(log) = &self.frame_log {
            if let Ok(mut l) = log.lock() {
                l.push(ms);
            }
        }
        if self.frame_ms.len() > 240 {
            self.frame_ms.drain(..120);
        }
        self.screenshot_step(&ctx);
    }

    /// The open dialog, if any; a dialog its action opens (an error) replaces it.
    fn dialogs(&mut self, ctx: &egui::Context) {
        let Some(mut dialog) = self.dialog.take() else {
            return;
        };
        let mut fb = Feedback::default();
        let doc = self.doc.as_mut();
        let modal = egui::Modal::new(egui::Id::unique("voxmark-dialog")).show(ctx, |ui| {
            ui.set_max_width(560.0);
            dialog.ui(ui, doc, &mut fb)
        });
        self.handle(fb);
        if !modal.inner && self.dialog.is_none() {
            self.dialog = Some(dialog);
        }
    }

    /// File, Edit, View, Tools and Review menus.
    fn menu_bar(&mut self, ui: &mut egui::Ui) {
        let mut fb = Feedback::default();
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open image…  (Ctrl+O)").clicked() {
                    self.dialog = Some(Dialog::open());
                }
                if ui.button("Open built-in CT phantom").clicked() {
                    fb.request(Request::Open(OpenRequest::default()));
                }
                let has_doc = self.doc.is_some();
                if ui
                    .add_enabled(has_doc, egui::Button::new("Open labels…"))
                    .clicked()
                {
                    self.dialog = Some(Dialog::OpenLabels(String::new()));
                }
                ui.separator();
                if ui
                    .add_enabled(has_doc, egui::Button::new("Save labels  (Ctrl+S)"))
                    .clicked()
                {
                    fb.request(Request::Save);
                }
                if ui
                    .add_enabled(has_doc, egui::Button::new("Save labels as…"))
                    .clicked()
                {
                    let cur = self
                        .doc
                        .as_ref()
                        .map(|d| d.labels_path.display().to_string())
                        .unwrap_or_default();
                    self.dialog = Some(Dialog::SaveAs(cur));
                }
                let read_only = self.doc.as_ref().and_then(|d| d.read_only()).is_some();
                if ui
                    .add_enabled(read_only, egui::Button::new("Open a copy to edit"))
                    .on_disabled_hover_text("this window owns its mask")
                    .clicked()
                {
                    if let Some(d) = &mut self.doc {
                        let r = d.edit_a_copy();
                        if let Some(p) = fb.report("open a copy", r) {
                            fb.status(format!("editing a copy: {}", p.display()));
                        }
                    }
                }
                ui.menu_button("Export segmentation", |ui| {
                    for (dicom, name, ext) in [
                        (true, "DICOM SEG (PACS, OHIF)…", ".seg.dcm"),
                        (false, "3D Slicer .seg.nrrd…", ".seg.nrrd"),
                    ] {
                        if ui.add_enabled(has_doc, egui::Button::new(name)).clicked() {
                            let path = self
                                .doc
                                .as_ref()
                                .map(|d| {
                                    let p = d.labels_path.display().to_string();
                                    let stem = p
                                        .strip_suffix(".nii.gz")
                                        .or_else(|| p.strip_suffix(".nii"))
                                        .unwrap_or(&p);
                                    format!("{stem}{ext}")
                                })
                                .unwrap_or_default();
                            self.dialog = Some(Dialog::ExportSeg { dicom, path });
                        }
                    }
                });
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("Edit", |ui| {
                if ui.button("Undo  (Ctrl+Z)").clicked() {
                    if let Some(d) = &mut self.doc {
                        fb.undo(&mut d.state);
                    }
                }
                if ui.button("Redo  (Ctrl+Y, Ctrl+Shift+Z)").clicked() {
                    if let Some(d) = &mut self.doc {
                        fb.redo(&mut d.state);
                    }
                }
            });
            ui.menu_button("View", |ui| self.panes.view_menu(ui, self.doc.as_mut()));
            ui.menu_button("Tools", |ui| {
                self.tools_panel
                    .menu(ui, &mut self.tools, self.doc.as_mut(), &mut fb)
            });
            ui.menu_button("Review", |ui| {
                self.review.menu(ui, self.doc.as_ref(), &mut fb)
            });
        });
        self.handle(fb);
    }

    /// The hover readout, the status line, the adapter and frame time, unsaved edits.
    fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label(&self.panes.hover);
        });
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new(&self.status).weak());
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let n = self.frame_ms.len();
                if n > 0 {
                    let mut v: Vec<f64> = self.frame_ms[n.saturating_sub(30)..].to_vec();
                    v.sort_by(f64::total_cmp);
                    ui.label(format!(
                        "{} · frame {:.1} ms",
                        self.gpu.adapter.get_info().name,
                        v[v.len() / 2]
                    ));
                }
                if let Some(d) = &self.doc {
                    if let Some(why) = d.read_only() {
                        ui.label(
                            egui::RichText::new("READ-ONLY")
                                .color(egui::Color32::from_rgb(255, 90, 90)),
                        )
                        .on_hover_text(why);
                    }
                    if d.state.dirty {
                        ui.label(
                            egui::RichText::new("* unsaved")
                                .color(egui::Color32::from_rgb(255, 170, 60)),
                        );
                    }
                }
            });
        });
    }

    fn screenshot_step(&mut self, ctx: &egui::Context) {
        let ready = self.doc.is_some()
            && self.loading.is_none()
            && self.dialog.as_ref().is_none_or(Dialog::is_benign);
        let Some(plan) = &mut self.screenshot else {
            return;
        };
        ctx.request_repaint();
        if let Some(r) = plan.written.lock().ok().and_then(|mut w| w.take()) {
            if let Ok(mut e) = self.exit.lock() {
                if e.is_none() {
                    *e = Some(r);
                }
            }
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            self.quit_confirmed = true;
            return;
        }
        if self.exit.lock().map(|e| e.is_some()).unwrap_or(false) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            self.quit_confirmed = true;
            return;
        }
        if !ready {
            return;
        }
        plan.counted += 1;
        match plan.requested {
            None if plan.counted >= plan.frames => {
                plan.requested = Some(plan.counted);
                let out = plan.out.clone();
                let written = plan.written.clone();
                ctx.request_screenshot(move |img| {
                    let [w, h] = img.size;
                    let rgba: Vec<u8> = img.pixels.iter().flat_map(|c| c.to_array()).collect();
                    let r = voxmark_render::png_out::write_png(&out, &rgba, w as u32, h as u32)
                        .map_err(|e| e.to_string());
                    if let Ok(mut g) = written.lock() {
                        *g = Some(r);
                    }
                });
            }
            Some(at) if plan.counted > at + 600 => {
                if let Ok(mut e) = self.exit.lock() {
                    *e = Some(Err(
                        "the window system never delivered the screenshot".into()
                    ));
                }
            }
            _ => {}
        }
    }

    /// The brush: disc or sphere.
    pub fn set_brush_shape(&mut self, shape: Shape) {
        if let Some(d) = &mut self.doc {
            d.state.brush.shape = shape;
        }
    }

    /// Quits after the user chose to save or discard.
    pub fn confirm_quit(&mut self, save: bool) {
        if save {
            // The window closes when the save has finished (and stays open if it fails).
            self.save();
            self.quit_after_save = self.saving.is_some();
            return;
        } else if let Some(doc) = &mut self.doc {
            let r = doc.discard_unsaved();
            if let Some(Some(p)) = self.report("discard", r) {
                eprintln!("voxmark: unsaved operations kept in {}", p.display());
            }
        }
        self.quit_confirmed = true;
        self.close_now = true;
    }
}

fn loading_ui(ui: &mut egui::Ui, l: &Loading) {
    let stage = l.stage.lock().map(|s| s.clone()).unwrap_or_default();
    let (done, total, msg) = voxmark_io::progress::CURRENT.get();
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() / 3.0);
        ui.heading(format!("Opening {}", l.what));
        ui.label(format!(
            "{stage} ({:.1} s)",
            l.started.elapsed().as_secs_f64()
        ));
        if total > 0 && done < total {
            ui.add(
                egui::ProgressBar::new(done as f32 / total as f32)
                    .text(format!("{msg}: {done}/{total}"))
                    .desired_width(400.0),
            );
        } else {
            ui.spinner();
        }
    });
}

pub(super) fn is_nifti(p: &std::path::Path) -> bool {
    let n = p.to_string_lossy();
    n.ends_with(".nii") || n.ends_with(".nii.gz")
}
