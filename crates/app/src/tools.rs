//! Tool state without UI types: which tool a click uses, region-grow settings and seeds, the
//! polygon being drawn, the markup being placed or moved, the clean-up tools' settings ([`ToolState`]), and how the
//! panes look ([`ViewSettings`]). What a tool does to the document is a method here that
//! takes the [`AppState`] it works on and returns the status line to show: the egui
//! components (`panes`, `tools_panel`, the shell's shortcuts) only turn input into these
//! calls, and the tests drive them without egui.

use super::state::AppState;
use voxmark_edit::ops::{
    EditOp, Editable, LogicalOperation, LogicalOther, ScissorsAction, ScissorsRegion,
};
use voxmark_edit::session::GrowPreview;
use voxmark_gpu::kernels::grow_cut::{GrowCutRequest, GrowCutState};
use voxmark_gpu::kernels::raycast::RenderMode;
use voxmark_gpu::kernels::transfer::TfPreset;
use voxmark_gpu::kernels::window_level::Preset;
use voxmark_volume::error::Result;
use voxmark_volume::geometry::camera::Camera;
use voxmark_volume::geometry::view::ViewKind;
use voxmark_volume::markup::{Markup, MarkupEdit, MarkupKind};
use voxmark_volume::{Grid, WindowPreset};

/// The window presets the View menu and the tools panel offer (name with W/L, preset).
pub const WINDOW_PRESETS: [(&str, Preset); 8] = [
    ("Brain (W80 L40)", Preset::Brain),
    ("Subdural (W200 L75)", Preset::Subdural),
    ("Stroke (W40 L40)", Preset::Stroke),
    ("Lung (W1500 L-600)", Preset::Lung),
    ("Mediastinum (W350 L50)", Preset::Mediastinum),
    ("Abdomen (W400 L50)", Preset::Abdomen),
    ("Liver (W150 L30)", Preset::Liver),
    ("Bone (W1800 L400)", Preset::Bone),
];

/// What a left click does in a slice pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// Click or drag moves the crosshair.
    Crosshair,
    Brush,
    Eraser,
    /// Click adds a seed; the preview follows the seeds and the range.
    Grow,
    /// Click adds a vertex; double-click or Enter closes and fills.
    Polygon,
    /// Click adds a vertex; double-click or Enter cuts through the volume along the view.
    Scissors,
    /// Places a markup of this kind: a point by a click; a line (the ruler) or a box by a
    /// drag; an angle by three clicks; open and closed curves by clicks, ended by a double
    /// click or Enter. Dragging a handle of an existing markup moves that point.
    Markup(MarkupKind),
}

impl Tool {
    pub const ALL: [Tool; 12] = [
        Tool::Crosshair,
        Tool::Brush,
        Tool::Eraser,
        Tool::Grow,
        Tool::Polygon,
        Tool::Scissors,
        Tool::Markup(MarkupKind::Line),
        Tool::Markup(MarkupKind::Point),
        Tool::Markup(MarkupKind::Box),
        Tool::Markup(MarkupKind::Angle),
        Tool::Markup(MarkupKind::Polyline),
        Tool::Markup(MarkupKind::ClosedCurve),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Crosshair => "Crosshair (C)",
            Tool::Brush => "Brush (B)",
            Tool::Eraser => "Eraser (E)",
            Tool::Grow => "Region grow (G)",
            Tool::Polygon => "Polygon (P)",
            Tool::Scissors => "Scissors (X)",
            Tool::Markup(MarkupKind::Line) => "Line / ruler (R)",
            Tool::Markup(MarkupKind::Point) => "Landmark (L)",
            Tool::Markup(MarkupKind::Box) => "3D box",
            Tool::Markup(MarkupKind::Angle) => "Angle",
            Tool::Markup(MarkupKind::Polyline) => "Open curve",
            Tool::Markup(MarkupKind::ClosedCurve) => "Closed curve",
        }
    }
}

/// Region-grow settings and seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowSettings {
    pub seeds: Vec<[usize; 3]>,
    pub lower: f64,
    pub upper: f64,
    pub connectivity: u32,
    /// The user set the range (sliders): the first seed keeps it instead of estimating one.
    pub range_from_user: bool,
}

impl Default for GrowSettings {
    /// No seeds, an empty range, 6-connectivity.
    fn default() -> Self {
        Self {
            seeds: Vec::new(),
            lower: 0.0,
            upper: 0.0,
            connectivity: 6,
            range_from_user: false,
        }
    }
}

impl GrowSettings {
    /// The `grow` op these settings make for `label` (None without seeds).
    pub fn op(&self, label: u8, editable: voxmark_edit::ops::Editable) -> Option<EditOp> {
        (!self.seeds.is_empty()).then(|| EditOp::Grow {
            seeds: self.seeds.clone(),
            lower: self.lower.min(self.upper),
            upper: self.upper.max(self.lower),
            connectivity: self.connectivity,
            label,
            roi: None,
            editable,
        })
    }
}

/// How the panes look (not part of the annotation).
#[derive(Debug, Clone)]
pub struct ViewSettings {
    pub show_labels: bool,
    pub label_opacity: f32,
    /// Opacity of the label surfaces in the 3D pane.
    pub label_opacity_3d: f32,
    pub outline: bool,
    pub linear: bool,
    /// Pane shown alone (0 axial, 1 coronal, 2 sagittal, 3 3D).
    pub maximized: Option<usize>,
    pub mode3d: RenderMode,
    pub tf: TfPreset,
    pub camera: Camera,
    pub clip_crosshair: bool,
}

impl Default for ViewSettings {
    /// Labels shown at half opacity, nearest-neighbour slices, DVR with the CT bone preset.
    fn default() -> Self {
        Self {
            show_labels: true,
            label_opacity: 0.5,
            label_opacity_3d: 1.0,
            outline: false,
            linear: false,
            maximized: None,
            mode3d: RenderMode::Dvr,
            tf: TfPreset::CtBone,
            camera: Camera::default(),
            clip_crosshair: false,
        }
    }
}

impl ViewSettings {
    /// A new image: the 3D pane's camera and mode reset, its transfer function chosen for the
    /// image's values and modality.
    pub fn reset_3d(&mut self, data: &voxmark_volume::VoxelData, modality: &str) {
        self.tf = TfPreset::default_for(data, modality);
        self.camera = Camera::default();
        self.mode3d = RenderMode::Dvr;
    }
}

/// A polygon being drawn in one pane, on one slice.
#[derive(Debug, Clone, PartialEq)]
pub struct PolygonDraft {
    pub pane: usize,
    pub slice: usize,
    /// Vertices in voxel coordinates.
    pub points: Vec<[f64; 3]>,
}

/// A markup being placed in pane `pane` on slice `slice` (points in voxel coordinates,
/// on that slice).
#[derive(Debug, Clone, PartialEq)]
pub struct MarkupDraft {
    pub kind: MarkupKind,
    pub pane: usize,
    pub slice: usize,
    /// The voxel axis normal to the pane.
    pub axis_n: usize,
    pub points: Vec<[f64; 3]>,
}

/// Where a press happened: pane, its slice, and the voxel axis normal to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaneSlice {
    pub pane: usize,
    pub slice: usize,
    pub axis_n: usize,
}

/// A markup handle being dragged: control point `index` of markup `id`, now at `to` (voxel
/// coordinates, on the pane's slice).
#[derive(Debug, Clone, PartialEq)]
pub struct MarkupDrag {
    pub id: u64,
    pub index: usize,
    pub pane: usize,
    pub to: [f64; 3],
}

/// World RAS of voxel coordinates.
pub fn world_of(grid: &Grid, v: [f64; 3]) -> [f64; 3] {
    grid.world_from_index(glam::DVec3::from(v)).to_array()
}

/// Voxel coordinates of a world RAS point.
pub fn voxel_of(grid: &Grid, w: [f64; 3]) -> [f64; 3] {
    grid.index_from_world(glam::DVec3::from(w)).to_array()
}

impl MarkupDraft {
    /// Whether the draft has what its kind needs to become a markup.
    pub fn complete(&self) -> bool {
        let (lo, _) = self.kind.point_count();
        match self.kind {
            // A drag of zero length is a click, not a line or a box.
            MarkupKind::Line | MarkupKind::Box => {
                self.points.len() == 2 && self.points[0] != self.points[1]
            }
            _ => self.points.len() >= lo,
        }
    }

    /// The markup this draft makes (world RAS): the points as placed, except a box, drawn as
    /// a rectangle on the slice, which gets a depth along the view's normal (`axis_n`) equal
    /// to the mean of its two sides, centred on the slice; its corners can then be dragged
    /// in the other views.
    pub fn markup(&self, grid: &Grid, label: u8) -> Markup {
        let axis_n = self.axis_n;
        let mut pts = self.points.clone();
        if self.kind == MarkupKind::Box {
            let sp = grid.spacing_mm();
            let (a, b) = (pts[0], pts[1]);
            let sides: Vec<f64> = (0..3)
                .filter(|&ax| ax != axis_n)
                .map(|ax| (b[ax] - a[ax]).abs() * sp[ax])
                .collect();
            let half = (sides[0] + sides[1]) / 4.0 / sp[axis_n];
            pts[0][axis_n] = a[axis_n] - half;
            pts[1][axis_n] = a[axis_n] + half;
        }
        Markup {
            label: (label != 0).then_some(label),
            ..Markup::new(self.kind, pts.iter().map(|v| world_of(grid, *v)).collect())
        }
    }
}

/// The label measured by "Measure label" and its measurements (the RECIST axes are drawn
/// on their slice).
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredLabel {
    pub label: u8,
    pub m: voxmark_qa::measure::RegionMeasures,
}

/// Everything the tools remember between clicks: the active tool, the grow seeds and range,
/// the polygon being drawn, the ruler, and the settings of the clean-up tools.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolState {
    pub tool: Tool,
    pub grow: GrowSettings,
    pub polygon: Option<PolygonDraft>,
    /// The markup being placed, the handle being dragged, the selected markup.
    pub markup_draft: Option<MarkupDraft>,
    pub markup_drag: Option<MarkupDrag>,
    pub selected_markup: Option<u64>,
    /// The last "Measure label" result.
    pub measured: Option<MeasuredLabel>,
    /// "Remove islands under N voxels".
    pub islands_min_voxels: usize,
    /// The threshold tool's range (either order).
    pub threshold: [f64; 2],
    /// Dilate / erode radius.
    pub morph_radius_mm: f64,
    /// Logical operations: the other label, and the second label map it is read from (a
    /// path; empty: this label map).
    pub logical_other: u8,
    pub logical_map: String,
    /// Scissors: which side of the polygon is cut, and whether it is erased or filled.
    pub scissors_region: ScissorsRegion,
    pub scissors_action: ScissorsAction,
    /// The view axis fill between slices runs along.
    pub fill_axis: ViewKind,
    /// Fill between slices is previewing: the preview follows the key slices as they are
    /// drawn, until Enter accepts or Esc cancels.
    pub fill_between: bool,
    /// What the current fill preview was made from: (labels version, label, write rule).
    fill_made_from: Option<(u64, u8, Editable)>,
    /// Grow from seeds.
    pub grow_cut: GrowCutTool,
}

/// Grow from seeds in the shell: the background label, and while on, the solved state the
/// preview shows (updated incrementally as strokes are added).
#[derive(Debug, Clone, PartialEq)]
pub struct GrowCutTool {
    /// The label whose strokes mark the background (cleared on Apply).
    pub background: u8,
    /// The structure labels (every other label with seeds when Initialise was pressed).
    pub labels: Vec<u8>,
    state: Option<GrowCutState>,
    /// The labels version the preview was made from.
    made_from: Option<u64>,
}

impl Default for GrowCutTool {
    fn default() -> Self {
        Self {
            background: 9,
            labels: Vec::new(),
            state: None,
            made_from: None,
        }
    }
}

impl GrowCutTool {
    /// Whether grow from seeds is previewing.
    pub fn active(&self) -> bool {
        self.state.is_some()
    }
}

impl Default for ToolState {
    /// The crosshair tool, no seeds or drafts, islands under 100 voxels, 1 mm morphology.
    fn default() -> Self {
        Self {
            tool: Tool::Crosshair,
            grow: GrowSettings::default(),
            polygon: None,
            markup_draft: None,
            markup_drag: None,
            selected_markup: None,
            measured: None,
            islands_min_voxels: 100,
            threshold: [0.0, 0.0],
            morph_radius_mm: 1.0,
            logical_other: 2,
            logical_map: String::new(),
            scissors_region: ScissorsRegion::Inside,
            scissors_action: ScissorsAction::Erase,
            fill_axis: ViewKind::Axial,
            fill_between: false,
            fill_made_from: None,
            grow_cut: GrowCutTool::default(),
        }
    }
}

impl ToolState {
    /// A new image: seeds, polygon, markup drafts and measurements forgotten; the threshold runs from the auto
    /// window's centre to the image maximum; the grow range is the middle half of the default
    /// window.
    pub fn new_image(&mut self, auto_window: WindowPreset, default_window: WindowPreset, max: f64) {
        self.grow.seeds.clear();
        self.polygon = None;
        self.markup_draft = None;
        self.markup_drag = None;
        self.selected_markup = None;
        self.measured = None;
        self.threshold = [auto_window.center, max];
        let w = default_window;
        self.grow.lower = w.center - w.width / 4.0;
        self.grow.upper = w.center + w.width / 4.0;
        self.grow.range_from_user = false;
    }

    /// A press of the markup tool `kind` at voxel `v` (on a pane's slice, `at`; `handle`:
    /// the unlocked markup control point under the pointer, if any). Returns the op to apply
    /// when the press completes a markup (a point; an angle's third click).
    pub fn markup_press(
        &mut self,
        kind: MarkupKind,
        at: PaneSlice,
        v: [f64; 3],
        handle: Option<(u64, usize)>,
        grid: &Grid,
        label: u8,
    ) -> Option<EditOp> {
        let PaneSlice {
            pane,
            slice,
            axis_n,
        } = at;
        if let Some((id, index)) = handle {
            self.selected_markup = Some(id);
            self.markup_drag = Some(MarkupDrag {
                id,
                index,
                pane,
                to: v,
            });
            return None;
        }
        let same = self
            .markup_draft
            .as_ref()
            .is_some_and(|d| d.kind == kind && d.pane == pane && d.slice == slice);
        if !same {
            self.markup_draft = Some(MarkupDraft {
                kind,
                pane,
                slice,
                axis_n,
                points: Vec::new(),
            });
        }
        let d = self.markup_draft.as_mut()?;
        match kind {
            MarkupKind::Line | MarkupKind::Box => d.points = vec![v, v],
            // The second click of a double click (which ends a curve) adds nothing.
            _ if d.points.last() == Some(&v) => {}
            _ => d.points.push(v),
        }
        let done = match kind {
            MarkupKind::Point => true,
            MarkupKind::Angle => d.points.len() == 3,
            _ => false,
        };
        if done {
            return self.take_markup(grid, label);
        }
        None
    }

    /// The pointer moved to voxel `v` with the button down: a dragged handle follows, as
    /// does the second corner of a line or box being drawn.
    pub fn markup_drag_to(&mut self, pane: usize, v: [f64; 3]) {
        if let Some(d) = &mut self.markup_drag {
            if d.pane == pane {
                d.to = v;
            }
        } else if let Some(d) = &mut self.markup_draft {
            if d.pane == pane && matches!(d.kind, MarkupKind::Line | MarkupKind::Box) {
                if let Some(last) = d.points.last_mut() {
                    *last = v;
                }
            }
        }
    }

    /// The button was released: a dragged handle's move, or a drawn line or box, as the op
    /// to apply.
    pub fn markup_release(&mut self, grid: &Grid, label: u8) -> Option<EditOp> {
        if let Some(d) = self.markup_drag.take() {
            return Some(EditOp::Markup(MarkupEdit::MovePoint {
                id: d.id,
                index: d.index,
                to: world_of(grid, d.to),
            }));
        }
        match self.markup_draft.as_ref().map(|d| d.kind) {
            Some(MarkupKind::Line | MarkupKind::Box) => self.take_markup(grid, label),
            _ => None,
        }
    }

    /// Ends the markup being placed (Enter, a double click, a drag's release): its add op
    /// when it has what its kind needs; the draft is gone either way.
    pub fn take_markup(&mut self, grid: &Grid, label: u8) -> Option<EditOp> {
        let d = self.markup_draft.take()?;
        d.complete().then(|| {
            EditOp::Markup(MarkupEdit::Add {
                markup: d.markup(grid, label),
            })
        })
    }

    /// "Measure label": measures `label` (`qa::measure`), keeps the result for the panes to
    /// draw its RECIST axes, and moves the crosshair to the middle of the long axis (its
    /// slice). Returns the status line, or None when the label has no voxels.
    pub fn measure_label(&mut self, st: &mut AppState, label: u8) -> Result<Option<String>> {
        let idx: Vec<usize> = st
            .session
            .labels()?
            .iter()
            .enumerate()
            .filter(|(_, &l)| l == label)
            .map(|(i, _)| i)
            .collect();
        if idx.is_empty() {
            self.measured = None;
            return Ok(None);
        }
        let grid = st.session.image.grid;
        let m = voxmark_qa::measure::measure_region(&idx, &grid, Some(&st.session.image));
        let r = &m.recist;
        let mid = glam::DVec3::from(r.long_axis.from_ras)
            .midpoint(glam::DVec3::from(r.long_axis.to_ras))
            .to_array();
        st.set_crosshair(voxel_of(&grid, mid))?;
        let line = format!(
            "label {label}: {:.2} mL, RECIST {:.1} × {:.1} mm on slice {}, max diameter {:.1} mm",
            m.volume_ml,
            r.long_axis.length_mm,
            r.short_axis.length_mm,
            r.slice,
            m.max_diameter.length_mm
        );
        self.measured = Some(MeasuredLabel { label, m });
        Ok(Some(line))
    }

    /// "Keep the axes as lines": the two line markups (RECIST long and short, with the
    /// measured label) to add; the measurement is then forgotten.
    pub fn keep_measured_axes(&mut self) -> Vec<EditOp> {
        let Some(ml) = self.measured.take() else {
            return Vec::new();
        };
        let r = &ml.m.recist;
        [
            (&r.long_axis, "RECIST long"),
            (&r.short_axis, "RECIST short"),
        ]
        .into_iter()
        .map(|(seg, name)| {
            EditOp::Markup(MarkupEdit::Add {
                markup: Markup {
                    label: Some(ml.label),
                    name: name.into(),
                    ..Markup::new(MarkupKind::Line, vec![seg.from_ras, seg.to_ras])
                },
            })
        })
        .collect()
    }

    /// Delete: the op that deletes the selected markup.
    pub fn delete_selected_markup(&mut self) -> Option<EditOp> {
        let id = self.selected_markup.take()?;
        Some(EditOp::Markup(MarkupEdit::Delete { id }))
    }

    /// The grow tool's click at voxel `seed`. The first seed sets the range as Auto range
    /// does (ITK ConfidenceConnected around it) unless the user has set the range with the
    /// sliders — the default range (from the window) would otherwise grow the whole body on
    /// a first click — and says so; the preview follows. Returns the status line.
    pub fn add_seed(&mut self, st: &mut AppState, seed: [usize; 3]) -> Result<Option<String>> {
        let first = self.grow.seeds.is_empty();
        self.grow.seeds.push(seed);
        if first && !self.grow.range_from_user {
            let s = self.auto_grow_range(st)?;
            return Ok(Some(format!(
                "first seed: {s} — set the range with the sliders to keep your own"
            )));
        }
        self.grow_preview(st)
    }

    /// Recomputes the grow preview from the seeds and the range (cancels it without seeds).
    /// Returns the status line (None when there is no preview).
    pub fn grow_preview(&self, st: &mut AppState) -> Result<Option<String>> {
        let Some(op) = self.grow.op(st.brush.label, st.brush.editable) else {
            st.cancel_grow();
            return Ok(None);
        };
        let status = match st.grow_preview_op(op)? {
            GrowPreview::Host { voxels, .. } => format!("grow preview: {voxels} voxels"),
            GrowPreview::Gpu(_) => format!(
                "grow preview from {} seed(s) in [{:.1}, {:.1}] — Enter accepts, Esc cancels",
                self.grow.seeds.len(),
                self.grow.lower,
                self.grow.upper
            ),
        };
        Ok(Some(status))
    }

    /// ITK ConfidenceConnected range (mean ± 2.5 σ around the seeds, one re-estimate), widened
    /// to hold every seed's value; the preview follows. Returns the status line.
    pub fn auto_grow_range(&mut self, st: &mut AppState) -> Result<String> {
        if self.grow.seeds.is_empty() {
            return Ok("auto range needs a seed: click in a slice with the grow tool".into());
        }
        let img = &st.session.image;
        let dims = img.grid.dims;
        let conn = self.grow.connectivity;
        let seeds = self.grow.seeds.clone();
        let session = &st.session;
        let (range, _) = voxmark_gpu::kernels::region_grow::confidence_range(
            &img.data,
            dims,
            &seeds,
            2.5,
            1,
            1,
            |lower, upper| {
                use voxmark_gpu::kernels::region_grow::{
                    Connectivity, GrowRequest, RegionGrowParams,
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
                // The session's labels decide where the region is grown (GPU or CPU twin).
                session.grow_mask(&p, &seeds)
            },
        )?;
        // ITK's range can exclude a noisy seed voxel (then nothing grows); the user clicked
        // that voxel, so the range is widened to hold every seed's value.
        let vals: Vec<f64> = seeds.iter().map(|s| img.value(s[0], s[1], s[2])).collect();
        let lo = vals.iter().cloned().fold(range.lower, f64::min);
        let hi = vals.iter().cloned().fold(range.upper, f64::max);
        self.grow.lower = lo;
        self.grow.upper = hi;
        let widened = lo < range.lower || hi > range.upper;
        self.grow_preview(st)?;
        Ok(format!(
            "auto range [{lo:.1}, {hi:.1}] (mean {:.1} ± 2.5 σ {:.1}{})",
            range.mean,
            range.sigma,
            if widened {
                ", widened to include the seeds"
            } else {
                ""
            }
        ))
    }

    /// Enter on a grow or fill-between-slices preview: it becomes a journaled op; the seeds
    /// are cleared and fill between slices stops (also when it fails). Returns the status
    /// line.
    pub fn accept_grow(&mut self, st: &mut AppState) -> Result<Option<String>> {
        let name = st.pending_op().map_or("grow", |op| op.name());
        let r = st.accept_grow();
        self.grow.seeds.clear();
        self.stop_fill_between();
        self.grow_cut.state = None;
        Ok(r?.map(|rep| format!("{name} accepted: {} voxels changed", rep.changed_voxels)))
    }

    /// Esc: the grow or fill preview, the seeds and the polygon in progress are dropped.
    pub fn cancel(&mut self, st: Option<&mut AppState>) {
        if let Some(st) = st {
            st.cancel_grow();
        }
        self.grow.seeds.clear();
        self.polygon = None;
        self.markup_draft = None;
        self.markup_drag = None;
        self.stop_fill_between();
        self.grow_cut.state = None;
    }

    /// Grow from seeds: the labels painted so far are the seeds — `grow_cut.background` the
    /// background, every other unlocked label a structure; solves the ROI around them and
    /// shows the result as the preview. Further strokes update it (see
    /// [`Self::refresh_grow_cut`]); Enter applies the `grow_cut` op, Esc cancels.
    pub fn start_grow_cut(&mut self, st: &mut AppState) -> Result<Option<String>> {
        self.grow.seeds.clear();
        self.stop_fill_between();
        let labels = st.session.labels()?.into_owned();
        let locked = st.session.locked();
        let mut present = [false; 256];
        for &l in &labels {
            present[usize::from(l)] = true;
        }
        let bg = self.grow_cut.background;
        self.grow_cut.labels = (1..=255u8)
            .filter(|&l| present[usize::from(l)] && l != bg && !locked[usize::from(l)])
            .collect();
        if self.grow_cut.labels.is_empty() || !present[usize::from(bg)] {
            self.grow_cut.state = None;
            return Ok(Some(format!(
                "grow from seeds needs strokes of at least one structure label and of the \
                 background label {bg}: paint them with the brush, then Initialise"
            )));
        }
        let req = self.grow_cut_request(st, None)?;
        let image = st.session.image.to_arc();
        let mut state = GrowCutState::init(&req, &image, &labels)?;
        state.solve_cpu();
        self.grow_cut.state = Some(state);
        self.grow_cut.made_from = Some(st.labels_version);
        self.show_grow_cut(st, "initialised")
    }

    fn grow_cut_request(&self, st: &AppState, roi: Option<[usize; 6]>) -> Result<GrowCutRequest> {
        let env = voxmark_edit::EditEnv {
            image: &st.session.image,
            locked: st.session.locked(),
        };
        let op = EditOp::GrowCut {
            labels: self.grow_cut.labels.clone(),
            background: self.grow_cut.background,
            roi,
        };
        match voxmark_edit::lower(&env, &op)?.into_program() {
            Some(voxmark_edit::Program::GrowCut(req)) => Ok(*req),
            _ => Err(voxmark_volume::error::Error::invalid(
                "grow_cut lowers to a grow-cut program",
            )),
        }
    }

    /// The preview and the op Enter applies (on the state's ROI, so the applied op equals
    /// what the preview shows).
    fn show_grow_cut(&mut self, st: &mut AppState, what: &str) -> Result<Option<String>> {
        let Some(state) = &self.grow_cut.state else {
            return Ok(None);
        };
        let d = st.session.image.grid.dims;
        let (mask, voxels) = state.preview_mask(self.grow_cut.background, d);
        let hi = [0, 1, 2].map(|a| state.lo[a] + state.size[a] - 1);
        let op = EditOp::GrowCut {
            labels: self.grow_cut.labels.clone(),
            background: self.grow_cut.background,
            roi: Some([state.lo[0], state.lo[1], state.lo[2], hi[0], hi[1], hi[2]]),
        };
        let preview = match st.session.gpu() {
            Some(g) => GrowPreview::Gpu(voxmark_gpu::residency::PackedU8Volume::upload(
                g.ctx, d, &mask,
            )?),
            None => GrowPreview::Host { mask, voxels },
        };
        st.set_preview(op, preview);
        Ok(Some(format!(
            "grow from seeds {what}: {voxels} voxels to labels {:?} (background {}) — paint \
             more strokes to correct it, Enter applies, Esc cancels",
            self.grow_cut.labels, self.grow_cut.background
        )))
    }

    /// While grow from seeds is on and the labels changed: updates the preview (reusing the
    /// costs when the strokes only added seeds). None: nothing to do.
    pub fn refresh_grow_cut(&mut self, st: &mut AppState) -> Result<Option<Option<String>>> {
        if self.grow_cut.state.is_none() || self.grow_cut.made_from == Some(st.labels_version) {
            return Ok(None);
        }
        self.grow_cut.made_from = Some(st.labels_version);
        let Some(state) = &self.grow_cut.state else {
            return Ok(None);
        };
        let hi = [0, 1, 2].map(|a| state.lo[a] + state.size[a] - 1);
        let roi = [state.lo[0], state.lo[1], state.lo[2], hi[0], hi[1], hi[2]];
        let req = self.grow_cut_request(st, Some(roi))?;
        let labels = st.session.labels()?.into_owned();
        let image = st.session.image.to_arc();
        let t = std::time::Instant::now();
        let incremental = match &mut self.grow_cut.state {
            Some(state) => state.update_cpu(&req, &image, &labels)?,
            None => return Ok(None),
        };
        let how = format!(
            "{} in {:.0} ms",
            if incremental { "updated" } else { "recomputed" },
            t.elapsed().as_secs_f64() * 1e3
        );
        self.show_grow_cut(st, &how).map(Some)
    }

    fn stop_fill_between(&mut self) {
        self.fill_between = false;
        self.fill_made_from = None;
    }

    /// Starts fill between slices of the active label along `fill_axis`: the preview (cyan)
    /// shows the interpolated slices and follows further key slices as they are drawn.
    /// Returns the status line.
    pub fn start_fill_between(&mut self, st: &mut AppState) -> Result<Option<String>> {
        self.grow.seeds.clear();
        self.fill_between = true;
        self.fill_made_from = None;
        self.refresh_fill_between(st).map(|s| s.flatten())
    }

    /// While fill between slices is on: remakes the preview when the labels, the active
    /// label or the write rule changed since it was made (None: nothing to do). A label with
    /// nothing to fill yet is a status line saying what to draw, not an error.
    pub fn refresh_fill_between(&mut self, st: &mut AppState) -> Result<Option<Option<String>>> {
        let key = (st.labels_version, st.brush.label, st.brush.editable);
        if !self.fill_between || self.fill_made_from == Some(key) {
            return Ok(None);
        }
        self.fill_made_from = Some(key);
        let op = EditOp::Interpolate {
            label: st.brush.label,
            axis: self.fill_axis,
            editable: st.brush.editable,
        };
        let axis = format!("{:?}", self.fill_axis).to_lowercase();
        match st.grow_preview_op(op) {
            Ok(p) => {
                let voxels = match p {
                    GrowPreview::Host { voxels, .. } => format!("{voxels} voxels, "),
                    GrowPreview::Gpu(_) => String::new(),
                };
                Ok(Some(Some(format!(
                    "fill between slices ({axis}, label {}): preview {voxels}follows the key \
                     slices you draw — Enter accepts, Esc cancels",
                    st.brush.label
                ))))
            }
            Err(voxmark_volume::error::Error::Invalid(m))
                if m.starts_with("fill between slices") =>
            {
                st.cancel_grow();
                Ok(Some(Some(m)))
            }
            Err(e) => Err(e),
        }
    }

    /// The polygon tool's click at voxel `v` in pane `pane` on `slice`: a vertex of the draft
    /// on that pane and slice (a draft elsewhere starts over).
    pub fn polygon_click(&mut self, pane: usize, slice: usize, v: [f64; 3]) {
        let fresh = PolygonDraft {
            pane,
            slice,
            points: Vec::new(),
        };
        let draft = self.polygon.get_or_insert_with(|| fresh.clone());
        if draft.pane != pane || draft.slice != slice {
            *draft = fresh;
        }
        draft.points.push(v);
    }

    /// Closes the polygon in progress: the `polygon` op that fills it with the brush's label,
    /// range and write rule (with the scissors tool: the `scissors` op through every slice
    /// of the view, on the brush's label, cutting the chosen side by the chosen action). `Ok(None)` when it has fewer than 3 vertices (the draft is gone
    /// either way).
    pub fn close_polygon(&mut self, st: &AppState) -> Result<Option<EditOp>> {
        let Some(p) = self.polygon.take() else {
            return Ok(None);
        };
        if p.points.len() < 3 {
            return Ok(None);
        }
        let geom = st.geometry(p.pane, [2, 2])?;
        let b = &st.brush;
        let points: Vec<[f64; 2]> = p
            .points
            .iter()
            .map(|v| [v[geom.axis_u], v[geom.axis_v]])
            .collect();
        if self.tool == Tool::Scissors {
            // Through every slice of the view, on the active label.
            return Ok(Some(EditOp::Scissors {
                plane: st.panes[p.pane].kind,
                points,
                region: self.scissors_region,
                action: self.scissors_action,
                label: b.label,
                depth: None,
                range: b.range,
                editable: b.editable,
            }));
        }
        Ok(Some(EditOp::Polygon {
            plane: st.panes[p.pane].kind,
            slice: p.slice,
            points,
            label: b.label,
            range: b.range,
            editable: b.editable,
        }))
    }

    /// The clean-up op a Tools-menu entry makes for `label` with these settings.
    pub fn cleanup_op(&self, kind: Cleanup, label: u8, editable: Editable) -> EditOp {
        match kind {
            Cleanup::KeepLargest => EditOp::Islands {
                label,
                keep_largest: true,
                min_voxels: None,
                connectivity: 6,
            },
            Cleanup::RemoveSmall => EditOp::Islands {
                label,
                keep_largest: false,
                min_voxels: Some(self.islands_min_voxels),
                connectivity: 6,
            },
            Cleanup::Threshold => {
                let r = self.threshold;
                EditOp::Threshold {
                    range: [r[0].min(r[1]), r[0].max(r[1])],
                    label,
                    roi: None,
                    editable,
                }
            }
            Cleanup::Dilate => EditOp::Dilate {
                label,
                radius_mm: self.morph_radius_mm,
                editable,
            },
            Cleanup::Erode => EditOp::Erode {
                label,
                radius_mm: self.morph_radius_mm,
            },
            Cleanup::Clear => EditOp::ClearLabel { label },
            Cleanup::Smooth(method) => EditOp::Smooth {
                label,
                method,
                radius_mm: self.morph_radius_mm,
                editable,
            },
            Cleanup::Hollow(shell) => EditOp::Hollow {
                label,
                thickness_mm: self.morph_radius_mm,
                shell,
                editable,
            },
            Cleanup::FillHoles3d => EditOp::FillHoles {
                label,
                per_slice: None,
                editable,
            },
            Cleanup::FillHolesAxial => EditOp::FillHoles {
                label,
                per_slice: Some(ViewKind::Axial),
                editable,
            },
            Cleanup::Logical(operation) => {
                let map = self.logical_map.trim();
                let other = match operation {
                    LogicalOperation::Invert => None,
                    _ if map.is_empty() => Some(LogicalOther::Label(self.logical_other)),
                    _ => Some(LogicalOther::Mask {
                        mask: map.into(),
                        label: self.logical_other,
                        sha256: None,
                    }),
                };
                EditOp::Logical {
                    operation,
                    label,
                    other,
                    range: None,
                    editable,
                }
            }
        }
    }
}

/// The Tools menu's operations on the active label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleanup {
    KeepLargest,
    RemoveSmall,
    Threshold,
    Dilate,
    Erode,
    Clear,
    /// Smooth by the morphology radius.
    Smooth(voxmark_edit::ops::SmoothMethod),
    /// Hollow by the morphology radius (the shell's thickness).
    Hollow(voxmark_edit::ops::Shell),
    /// Fill holes in 3D / in each axial slice.
    FillHoles3d,
    FillHolesAxial,
    /// A logical operation with the other label (of this map or of a second map).
    Logical(LogicalOperation),
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxmark_volume::Grid;

    #[test]
    fn a_drawn_line_measures_in_world_millimetres_and_a_box_gets_depth() {
        // Anisotropic, rotated grid: 90° about z, spacing (0.5, 2, 3) mm.
        let m = glam::DMat4::from_cols_array(&[
            0.0, 0.5, 0.0, 0.0, //
            -2.0, 0.0, 0.0, 0.0, //
            0.0, 0.0, 3.0, 0.0, //
            10.0, -4.0, 7.0, 1.0,
        ]);
        let g = Grid::new([10, 10, 10], m);
        let d = MarkupDraft {
            kind: MarkupKind::Line,
            pane: 0,
            slice: 3,
            axis_n: 2,
            points: vec![[1.0, 2.0, 3.0], [4.0, 6.0, 3.0]],
        };
        assert!(d.complete());
        // Δ = (3, 4, 0) voxels = (1.5, 8, 0) mm along the voxel axes.
        let want = (1.5f64 * 1.5 + 8.0 * 8.0).sqrt();
        let line = d.markup(&g, 1);
        assert!((line.path_length_mm() - want).abs() < 1e-12);
        assert_eq!(line.label, Some(1));
        // A box drawn 1.5 × 8 mm on slice 3 gets a depth of 4.75 mm along k, centred.
        let b = MarkupDraft {
            kind: MarkupKind::Box,
            ..d
        }
        .markup(&g, 0);
        let ms = b.measurements();
        let sizes: Vec<f64> = ms[..3].iter().map(|m| m.value).collect();
        let mut sorted = sizes.clone();
        sorted.sort_by(f64::total_cmp);
        for (got, want) in sorted.iter().zip([1.5, 4.75, 8.0]) {
            assert!((got - want).abs() < 1e-9, "{sizes:?}");
        }
        let c = voxel_of(&g, b.box_min_max().0.midpoint(b.box_min_max().1).to_array());
        assert!((c[2] - 3.0).abs() < 1e-9);
    }

    #[test]
    fn grow_settings_make_an_ordered_op_only_with_seeds() {
        let mut g = GrowSettings::default();
        assert!(g.op(1, Default::default()).is_none());
        g.seeds.push([1, 2, 3]);
        g.lower = 300.0;
        g.upper = 100.0;
        match g.op(4, Default::default()) {
            Some(EditOp::Grow {
                lower,
                upper,
                label,
                connectivity,
                ..
            }) => assert_eq!((lower, upper, label, connectivity), (100.0, 300.0, 4, 6)),
            other => panic!("{other:?}"),
        }
    }
}
