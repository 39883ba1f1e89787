//! The shell's tools without UI types, one module per tool behind one small trait.
//!
//! A slice-pane tool is a [`SliceTool`]: the panes turn egui input into a [`PanePointer`]
//! (the left button and the pointer in the pane's pixels) and hand it to the active tool,
//! which edits through [`AppState`] (pixels to voxels by the pane's geometry, ops journaled
//! and undoable) and returns an [`Outcome`] (status line, errors); Enter goes to the tool with
//! something in progress; each tool describes what it draws as [`Shape`]s in voxel
//! coordinates, which the panes project and paint. The shell only routes keys.
//!
//! Adding a tool: a module here implementing [`SliceTool`] (its state in a field of
//! [`ToolState`] when it keeps any), plus its registration — a [`Tool`] variant with its
//! name, and its line in [`Tool::slice_tool`] and [`TOOLS`]. The tests drive every tool
//! without egui.
//!
//! Also here: the Tools menu's operations ([`Cleanup`]), fill between slices, grow from
//! seeds, "Measure label", and how the panes look ([`ViewSettings`]).

mod brush;
mod cleanup;
mod crosshair;
mod fill_between;
mod grow;
mod grow_cut;
mod markup;
mod measure;
mod polygon;

pub use cleanup::Cleanup;
pub use grow::GrowSettings;
pub use grow_cut::GrowCutTool;
pub use markup::{markup_color, MarkupDraft, MarkupDrag};
pub use measure::MeasuredLabel;
pub use polygon::PolygonDraft;

use crate::state::AppState;
use voxmark_edit::ops::{EditOp, Editable, ScissorsAction, ScissorsRegion};
use voxmark_gpu::kernels::raycast::RenderMode;
use voxmark_gpu::kernels::transfer::TfPreset;
use voxmark_gpu::kernels::window_level::Preset;
use voxmark_volume::error::Result;
use voxmark_volume::geometry::camera::Camera;
use voxmark_volume::geometry::view::ViewKind;
use voxmark_volume::markup::MarkupKind;
use voxmark_volume::WindowPreset;

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

impl Tool {
    /// The module that handles this tool in the slice panes (registration: one line per
    /// tool module).
    pub fn slice_tool(self) -> &'static dyn SliceTool {
        match self {
            Tool::Crosshair => &crosshair::CrosshairTool,
            Tool::Brush | Tool::Eraser => &brush::BrushTool,
            Tool::Grow => &grow::GrowTool,
            Tool::Polygon | Tool::Scissors => &polygon::PolygonTool,
            Tool::Markup(_) => &markup::MarkupTool,
        }
    }
}

/// Every tool module (registration: one line each), in the order their overlays are drawn
/// (later on top); Enter is offered in the reverse order (the topmost first).
pub const TOOLS: [&dyn SliceTool; 5] = [
    &crosshair::CrosshairTool,
    &brush::BrushTool,
    &polygon::PolygonTool,
    &markup::MarkupTool,
    &grow::GrowTool,
];

/// One tool of the slice panes: what the left button does, what Enter ends, what it draws.
/// UI-free: the panes turn egui input into a [`PanePointer`] and paint the [`Shape`]s.
pub trait SliceTool: Sync {
    /// The left button and the pointer over slice pane `ev.pane`, this tool being active.
    fn pointer(
        &self,
        tools: &mut ToolState,
        st: &mut AppState,
        ev: &PanePointer,
    ) -> Result<Outcome>;

    /// Enter: `Some` when this tool had something in progress and ended it.
    fn enter(&self, tools: &mut ToolState, st: &mut AppState) -> Option<Outcome> {
        let _ = (tools, st);
        None
    }

    /// What this tool draws over a slice pane (`hover`: the pointer's voxel there), active
    /// or not (a polygon in progress stays visible while another tool is chosen).
    fn overlay(
        &self,
        tools: &ToolState,
        st: &AppState,
        view: &PaneSlice,
        hover: Option<[f64; 3]>,
    ) -> Vec<Shape> {
        let _ = (tools, st, view, hover);
        Vec::new()
    }
}

/// The left button and the pointer over one slice pane, as the panes read them from egui
/// (positions in the pane's physical pixels from its top-left corner).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PanePointer {
    pub pane: usize,
    /// The pane's size in physical pixels.
    pub size: [u32; 2],
    /// The pointer, when it is over the pane.
    pub hover: Option<[f64; 2]>,
    /// Where a drag in progress is (it may leave the pane), else the hover position.
    pub drag: Option<[f64; 2]>,
    /// The left button went down over this pane this frame.
    pub pressed: bool,
    /// The left button is held.
    pub down: bool,
    /// The left button is held after going down on this pane.
    pub down_on_pane: bool,
    /// The left button went up this frame.
    pub released: bool,
    pub double_clicked: bool,
    pub shift: bool,
    /// Physical pixels per egui point (hit radii are given in points).
    pub pixels_per_point: f64,
}

/// A slice pane as the tools see it: which pane, the slice it shows, and the voxel axis
/// normal to it (also where a press happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaneSlice {
    pub pane: usize,
    pub slice: usize,
    pub axis_n: usize,
}

/// What a tool reports after an event, for the shell to show: a status line (the last one
/// set wins) and errors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub status: Option<String>,
    pub errors: Vec<String>,
}

impl Outcome {
    /// Sets the status line.
    pub fn status(&mut self, s: impl Into<String>) {
        self.status = Some(s.into());
    }

    /// Adds an error to show.
    pub fn error(&mut self, s: impl Into<String>) {
        self.errors.push(s.into());
    }

    /// The value of `r`, or its error kept as "what: error".
    pub fn report<T>(&mut self, what: &str, r: Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(format!("{what}: {e}"));
                None
            }
        }
    }

    /// A tool's result: its status line, or its error as "what: error".
    pub fn outcome(&mut self, what: &str, r: Result<Option<String>>) {
        if let Some(Some(s)) = self.report(what, r) {
            self.status(s);
        }
    }

    /// Applies `op` to the labels (journaled, undoable) and reports it; true when applied.
    pub fn apply(&mut self, st: &mut AppState, op: &EditOp) -> bool {
        let r = st.apply(op);
        let Some(rep) = self.report(op.name(), r) else {
            return false;
        };
        self.status(match op {
            EditOp::Markup(e) => format!("{} (Ctrl+Z undoes)", e.describe()),
            _ => format!("{}: {} voxels changed", rep.op, rep.changed_voxels),
        });
        true
    }
}

/// An sRGB colour; `fade` below 1 dims it (as egui's `gamma_multiply`: a projection drawn
/// faint).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Color {
    pub rgb: [u8; 3],
    pub fade: f32,
}

impl Color {
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Self {
            rgb: [r, g, b],
            fade: 1.0,
        }
    }

    /// The colour dimmed by `fade` (0..1).
    pub fn faded(self, fade: f32) -> Self {
        Self {
            fade: self.fade * fade,
            ..self
        }
    }
}

/// A circle's radius: in egui points, or in millimetres in the pane's plane (a brush).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Radius {
    Points(f32),
    Mm(f64),
}

/// Where a text goes on a slice pane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TextAt {
    /// At the projection of voxel point `at` shifted by `offset` points; the text's
    /// bottom-left corner there, or its top-left corner (`below`).
    Voxel {
        at: [f64; 3],
        offset: [f32; 2],
        below: bool,
    },
    /// Under the projected rectangle with corners `a` and `b` (its left-bottom corner, 3
    /// points lower).
    UnderRect { a: [f64; 3], b: [f64; 3] },
}

/// What a tool draws over a slice pane, in voxel coordinates (the pane projects them onto
/// its plane). Widths are in egui points.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A circle around `at`: outlined `stroke` points wide, or filled (`None`).
    Circle {
        at: [f64; 3],
        radius: Radius,
        stroke: Option<f32>,
        color: Color,
    },
    Segment {
        a: [f64; 3],
        b: [f64; 3],
        width: f32,
        color: Color,
    },
    /// The projected rectangle with corners `a` and `b`.
    Rect {
        a: [f64; 3],
        b: [f64; 3],
        width: f32,
        color: Color,
    },
    Text {
        at: TextAt,
        text: String,
        size: f32,
        color: Color,
    },
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
}

impl ToolState {
    /// The active tool's handling of the left button and pointer over a slice pane.
    pub fn pointer(&mut self, st: &mut AppState, ev: &PanePointer) -> Result<Outcome> {
        self.tool.slice_tool().pointer(self, st, ev)
    }

    /// Enter: the topmost tool with something in progress ends it (tools in reverse drawing
    /// order: a markup being placed before a polygon), else the preview waiting (a grow,
    /// fill between slices, grow from seeds) is accepted.
    pub fn enter(&mut self, st: &mut AppState) -> Outcome {
        for t in TOOLS.iter().rev() {
            if let Some(o) = t.enter(self, st) {
                return o;
            }
        }
        let mut o = Outcome::default();
        o.outcome("accept grow", self.accept_grow(st));
        o
    }

    /// What every tool draws over slice pane `view` (`hover`: the pointer's voxel), in
    /// drawing order.
    pub fn overlays(&self, st: &AppState, view: &PaneSlice, hover: Option<[f64; 3]>) -> Vec<Shape> {
        TOOLS
            .iter()
            .flat_map(|t| t.overlay(self, st, view, hover))
            .collect()
    }
}

/// World RAS of voxel coordinates.
pub fn world_of(grid: &voxmark_volume::Grid, v: [f64; 3]) -> [f64; 3] {
    grid.world_from_index(glam::DVec3::from(v)).to_array()
}

/// Voxel coordinates of a world RAS point.
pub fn voxel_of(grid: &voxmark_volume::Grid, w: [f64; 3]) -> [f64; 3] {
    grid.index_from_world(glam::DVec3::from(w)).to_array()
}
