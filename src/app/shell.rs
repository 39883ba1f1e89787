//! The shell: one egui frame over the open document. It owns the document, the tool
//! settings, dialogs and the pane textures; every edit is a call into [`AppState`] (journaled
//! ops), every picture comes from the engine's renderers on the shared wgpu device.
//!
//! `Shell::ui` is the whole frame. The native window (`app::native`) and the offscreen
//! harness (`app::headless`, used by the interaction tests and the frame benchmark) both call
//! it with the egui-wgpu renderer that shows the pane textures.

use super::document::{load, Document, LoadOutcome, OpenRequest};
use super::panes::PaneTargets;
use super::review::ReviewMode;
pub use super::tools::{GrowSettings, PolygonDraft, Ruler, Tool, ViewSettings};
use crate::edit::ops::{EditOp, Shape};
use crate::gpu::GpuContext;
use crate::kernels::label_stats::LabelStats;
use eframe::egui;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Modal dialogs.
pub enum Dialog {
    Error(String),
    Info(String),
    Open {
        path: String,
        series: String,
        labels: String,
    },
    OpenLabels(String),
    SaveAs(String),
    ChooseSeries {
        request: OpenRequest,
        choices: Vec<(String, String)>,
    },
    ConfirmQuit,
    /// Unsaved edits, and the user asked to open another image.
    ConfirmOpen(OpenRequest),
    Dropped(PathBuf),
    Recovery,
}

struct Loading {
    rx: Receiver<crate::Result<LoadOutcome>>,
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

/// Hover readout of the pane under the pointer.
#[derive(Debug, Clone, Default)]
pub struct Hover {
    pub text: String,
}

/// The whole shell.
pub struct Shell {
    pub gpu: &'static GpuContext,
    pub doc: Option<Document>,
    pub tool: Tool,
    pub grow: GrowSettings,
    pub view: ViewSettings,
    pub polygon: Option<PolygonDraft>,
    pub ruler: Option<Ruler>,
    pub dialog: Option<Dialog>,
    pub status: String,
    pub hover: Hover,
    pub targets: PaneTargets,
    /// Pane rectangles of the last frame (points), 0 axial, 1 coronal, 2 sagittal, 3 3D.
    pub pane_rects: [egui::Rect; 4],
    pub stats: Option<(u64, Vec<LabelStats>)>,
    pub review: Option<ReviewMode>,
    pub records: super::review::ReviewRecords,
    pub islands_min_voxels: usize,
    pub threshold: [f64; 2],
    pub morph_radius_mm: f64,
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
    pub(super) histogram_drag: Option<f64>,
    /// Last label read under the cursor: (voxel, labels version, value).
    pub(super) label_probe: Option<([usize; 3], u64, u8)>,
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
            tool: Tool::Crosshair,
            grow: GrowSettings::default(),
            view: ViewSettings::default(),
            polygon: None,
            ruler: None,
            dialog: None,
            status: String::new(),
            hover: Hover::default(),
            targets: PaneTargets::default(),
            pane_rects: [egui::Rect::NOTHING; 4],
            stats: None,
            review: None,
            records: Default::default(),
            islands_min_voxels: 100,
            threshold: [0.0, 0.0],
            morph_radius_mm: 1.0,
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
            histogram_drag: None,
            label_probe: None,
        }
    }

    /// Installs a loaded document (also used by tests that load synchronously).
    pub fn set_document(&mut self, mut doc: Document) {
        let h = &doc.histogram;
        self.grow.seeds.clear();
        self.threshold = [doc.auto_window.center, h.max];
        self.view
            .reset_3d(&doc.image().data, &doc.image().meta.modality);
        self.polygon = None;
        self.ruler = None;
        self.stats = None;
        self.review = None;
        self.records = Default::default();
        // Keep the registered textures; forget what they show.
        self.invalidate_panes();
        if doc.state.session.table.is_empty() {
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
        doc.state.brush.label = doc.state.session.table.first().map_or(1, |l| l.value);
        if doc.recovery.is_some() {
            self.dialog = Some(Dialog::Recovery);
        }
        self.status = format!(
            "{} {}×{}×{} opened; labels: {}",
            doc.title,
            doc.image().grid.dims[0],
            doc.image().grid.dims[1],
            doc.image().grid.dims[2],
            doc.labels_path.display()
        );
        for n in &doc.notes {
            self.status.push_str(" · ");
            self.status.push_str(n);
        }
        self.reset_grow_range(&doc);
        self.doc = Some(doc);
    }

    fn reset_grow_range(&mut self, doc: &Document) {
        let w = doc.default_window;
        self.grow.lower = w.center - w.width / 4.0;
        self.grow.upper = w.center + w.width / 4.0;
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
    pub fn open_blocking(&mut self, req: &OpenRequest) -> crate::Result<()> {
        match load(self.gpu, req, &|_| {})? {
            LoadOutcome::Ready(doc) => {
                self.set_document(*doc);
                Ok(())
            }
            LoadOutcome::ChooseSeries { choices, .. } => Err(crate::Error::Invalid(format!(
                "several series: {}",
                choices.len()
            ))),
        }
    }

    /// Makes every pane render again next frame (benchmarks; a new document).
    pub fn invalidate_panes(&mut self) {
        for t in self.targets.panes.iter_mut().flatten() {
            t.key.clear();
        }
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
    pub fn report<T>(&mut self, what: &str, r: crate::Result<T>) -> Option<T> {
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
        let Some(doc) = &mut self.doc else {
            return;
        };
        let Some(op) = self
            .grow
            .op(doc.state.brush.label, doc.state.brush.editable)
        else {
            doc.state.cancel_grow();
            return;
        };
        let r = doc.state.grow_preview_op(op).map(|p| match p {
            crate::edit::session::GrowPreview::Gpu(_) => None,
            crate::edit::session::GrowPreview::Host { voxels, .. } => Some(*voxels),
        });
        if let Some(v) = self.report("region grow", r) {
            self.status = match v {
                Some(n) => format!("grow preview: {n} voxels"),
                None => format!(
                    "grow preview from {} seed(s) in [{:.1}, {:.1}] — Enter accepts, Esc cancels",
                    self.grow.seeds.len(),
                    self.grow.lower,
                    self.grow.upper
                ),
            };
        }
    }

    /// ITK ConfidenceConnected range (mean ± 2.5 σ around the seeds, one re-estimate).
    pub fn auto_grow_range(&mut self) {
        let Some(doc) = &self.doc else {
            return;
        };
        if self.grow.seeds.is_empty() {
            self.status = "auto range needs a seed: click in a slice with the grow tool".into();
            return;
        }
        let img = doc.image();
        let dims = img.grid.dims;
        let conn = self.grow.connectivity;
        let seeds = self.grow.seeds.clone();
        let r = crate::kernels::region_grow::confidence_range(
            &img.data,
            dims,
            &seeds,
            2.5,
            1,
            1,
            |lower, upper| {
                use crate::kernels::region_grow::{
                    region_grow_cpu, Connectivity, GrowRequest, RegionGrowParams,
                };
                let req = GrowRequest {
                    seeds: seeds.clone(),
                    lower,
                    upper,
                    connectivity: Connectivity::from_number(conn)?,
                    roi: None,
                    label: 1,
                };
                let p = RegionGrowParams::new(dims, img.dtype(), &req)?;
                // The region the range is re-estimated from: grown on the GPU (and read back)
                // on a hardware adapter, by the CPU twin otherwise (same voxels, tested).
                match doc.state.session.gpu().filter(|_| !self.gpu.is_software()) {
                    Some(g) => g
                        .grow_kernel()
                        .run(self.gpu, &p, &seeds, &g.image, None)?
                        .download(self.gpu),
                    None => Ok(region_grow_cpu(&p, &img.data, &seeds)),
                }
            },
        );
        let vals: Vec<f64> = seeds.iter().map(|s| img.value(s[0], s[1], s[2])).collect();
        if let Some((range, _)) = self.report("auto range", r) {
            // ITK's range can exclude a noisy seed voxel (then nothing grows); the user
            // clicked that voxel, so the range is widened to hold every seed's value.
            let lo = vals.iter().cloned().fold(range.lower, f64::min);
            let hi = vals.iter().cloned().fold(range.upper, f64::max);
            self.grow.lower = lo;
            self.grow.upper = hi;
            let widened = lo < range.lower || hi > range.upper;
            self.update_grow_preview();
            self.status = format!(
                "auto range [{lo:.1}, {hi:.1}] (mean {:.1} ± 2.5 σ {:.1}{})",
                range.mean,
                range.sigma,
                if widened {
                    ", widened to include the seeds"
                } else {
                    ""
                }
            );
        }
    }

    /// Enter: accept the grow preview.
    pub fn accept_grow(&mut self) {
        let Some(doc) = &mut self.doc else {
            return;
        };
        let r = doc.state.accept_grow();
        if let Some(Some(rep)) = self.report("accept grow", r) {
            self.status = format!("grow accepted: {} voxels changed", rep.changed_voxels);
        }
        self.grow.seeds.clear();
    }

    /// Esc: cancel the grow preview and the polygon in progress.
    pub fn cancel(&mut self) {
        if let Some(doc) = &mut self.doc {
            doc.state.cancel_grow();
        }
        self.grow.seeds.clear();
        self.polygon = None;
    }

    /// Applies `op` (journaled) and reports it.
    pub fn apply(&mut self, op: EditOp) {
        let Some(doc) = &mut self.doc else {
            return;
        };
        let r = doc.state.apply(&op);
        if let Some(rep) = self.report(op.name(), r) {
            self.status = format!("{}: {} voxels changed", rep.op, rep.changed_voxels);
        }
    }

    pub fn undo(&mut self) {
        let Some(doc) = &mut self.doc else {
            return;
        };
        let r = doc.state.undo();
        if let Some(rep) = self.report("undo", r) {
            self.status = match rep.step {
                Some(s) => format!("undid {s}: {} voxels", rep.changed_voxels),
                None => "nothing to undo".into(),
            };
        }
    }

    pub fn redo(&mut self) {
        let Some(doc) = &mut self.doc else {
            return;
        };
        let r = doc.state.redo();
        if let Some(rep) = self.report("redo", r) {
            self.status = match rep.step {
                Some(s) => format!("redid {s}: {} voxels", rep.changed_voxels),
                None => "nothing to redo".into(),
            };
        }
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
            Err(std::sync::mpsc::TryRecvError::Disconnected) => Err(crate::Error::Invalid(
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
        let next = self.open_after_save.take();
        if self.report("save", r).is_some() {
            self.status = format!("saved {}", job.path.display());
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

    /// Closes the polygon in progress and fills it.
    pub fn close_polygon(&mut self) {
        let Some(p) = self.polygon.take() else {
            return;
        };
        let Some(doc) = &self.doc else {
            return;
        };
        if p.points.len() < 3 {
            self.status = "a polygon needs at least 3 vertices".into();
            return;
        }
        let kind = doc.state.panes[p.pane].kind;
        let geom = match doc.state.geometry(p.pane, [2, 2]) {
            Ok(g) => g,
            Err(e) => return self.fail(format!("polygon: {e}")),
        };
        let pts = p
            .points
            .iter()
            .map(|v| [v[geom.axis_u], v[geom.axis_v]])
            .collect();
        let b = &doc.state.brush;
        let op = EditOp::Polygon {
            plane: kind,
            slice: p.slice,
            points: pts,
            label: b.label,
            range: b.range,
            editable: b.editable,
        };
        self.apply(op);
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
            self.dialog = Some(open_dialog());
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
            ]
        });
        let tools = [
            Tool::Brush,
            Tool::Eraser,
            Tool::Grow,
            Tool::Polygon,
            Tool::Ruler,
            Tool::Crosshair,
        ];
        for (k, t) in keys.iter().zip(tools) {
            if *k {
                self.tool = t;
            }
        }
        if keys[6] {
            self.change_radius(1.0 / 1.25);
        }
        if keys[7] {
            self.change_radius(1.25);
        }
        if keys[8] {
            if self.polygon.is_some() {
                self.close_polygon();
            } else {
                self.accept_grow();
            }
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
                .and_then(|p| self.pane_rects[..3].iter().position(|r| r.contains(p)));
            if let (Some(i), Some(doc)) = (pane, &mut self.doc) {
                let r = doc.state.scroll(i, steps);
                self.report("slice", r);
            }
        }
        if keys[10] {
            let hovered = ctx
                .pointer_hover_pos()
                .and_then(|p| self.pane_rects.iter().position(|r| r.contains(p)));
            self.view.maximized = match self.view.maximized {
                Some(_) => None,
                None => hovered,
            };
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
        self.refresh_stats();

        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        egui::Panel::left("tools")
            .default_size(250.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.tools_panel(ui));
            });
        egui::Panel::right("labels")
            .default_size(270.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.labels_panel(ui);
                    self.review_panel(ui);
                });
            });
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(l) = &self.loading {
                loading_ui(ui, l);
            }
            if self.doc.is_some() {
                self.panes_ui(ui, renderer);
            } else if self.loading.is_none() {
                ui.centered_and_justified(|ui| {
                    ui.label(
                        "Drop a NIfTI file or a DICOM folder here, or use File > Open (Ctrl+O).",
                    );
                });
            }
        });
        self.dialogs(&ctx);
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

    fn screenshot_step(&mut self, ctx: &egui::Context) {
        let ready = self.doc.is_some() && self.loading.is_none() && self.dialog_is_benign();
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
                    let r = crate::render::png_out::write_png(&out, &rgba, w as u32, h as u32)
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

    /// Dialogs that do not block a screenshot (the recovery offer is answered "keep").
    fn dialog_is_benign(&self) -> bool {
        !matches!(
            self.dialog,
            Some(Dialog::Open { .. }) | Some(Dialog::ChooseSeries { .. })
        )
    }

    fn refresh_stats(&mut self) {
        let Some(doc) = &self.doc else {
            return;
        };
        let v = doc.state.labels_version;
        if self.stats.as_ref().is_some_and(|(sv, _)| *sv == v) {
            return;
        }
        let r = doc.state.session.stats();
        if let Some(s) = self.report("label statistics", r) {
            self.stats = Some((v, s));
        }
    }

    /// The brush: disc or sphere.
    pub fn set_brush_shape(&mut self, shape: Shape) {
        if let Some(d) = &mut self.doc {
            d.state.brush.shape = shape;
        }
    }

    /// Quits after the user chose to save or discard.
    pub fn confirm_quit(&mut self, ctx: &egui::Context, save: bool) {
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
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }
}

fn loading_ui(ui: &mut egui::Ui, l: &Loading) {
    let stage = l.stage.lock().map(|s| s.clone()).unwrap_or_default();
    let (done, total, msg) = crate::io::progress::CURRENT.get();
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

pub(super) fn open_dialog() -> Dialog {
    Dialog::Open {
        path: String::new(),
        series: String::new(),
        labels: String::new(),
    }
}
