//! Tool state without UI types: which tool a click uses, region-grow settings and seeds, the
//! polygon being drawn, the ruler, and how the panes look. The egui layer (`shell`, `panes`,
//! `panels`) reads and changes these; they are tested without egui.

use crate::edit::ops::EditOp;
use crate::geometry::camera::Camera;
use crate::kernels::raycast::RenderMode;
use crate::kernels::transfer::TfPreset;

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
    /// Drag measures a distance in mm.
    Ruler,
}

impl Tool {
    pub const ALL: [Tool; 6] = [
        Tool::Crosshair,
        Tool::Brush,
        Tool::Eraser,
        Tool::Grow,
        Tool::Polygon,
        Tool::Ruler,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Crosshair => "Crosshair (C)",
            Tool::Brush => "Brush (B)",
            Tool::Eraser => "Eraser (E)",
            Tool::Grow => "Region grow (G)",
            Tool::Polygon => "Polygon (P)",
            Tool::Ruler => "Ruler (R)",
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
}

impl Default for GrowSettings {
    /// No seeds, an empty range, 6-connectivity.
    fn default() -> Self {
        Self {
            seeds: Vec::new(),
            lower: 0.0,
            upper: 0.0,
            connectivity: 6,
        }
    }
}

impl GrowSettings {
    /// The `grow` op these settings make for `label` (None without seeds).
    pub fn op(&self, label: u8, editable: crate::edit::ops::Editable) -> Option<EditOp> {
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
    pub fn reset_3d(&mut self, data: &crate::volume::VoxelData, modality: &str) {
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

/// A distance measured in a pane (voxel coordinates).
#[derive(Debug, Clone, PartialEq)]
pub struct Ruler {
    pub pane: usize,
    pub a: [f64; 3],
    pub b: [f64; 3],
}

impl Ruler {
    pub fn length_mm(&self, grid: &crate::volume::Grid) -> f64 {
        let pa = grid
            .world_from_voxel
            .transform_point3(glam::DVec3::from(self.a));
        let pb = grid
            .world_from_voxel
            .transform_point3(glam::DVec3::from(self.b));
        pa.distance(pb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Grid;

    #[test]
    fn ruler_measures_in_world_millimetres() {
        // Anisotropic, rotated grid: 90° about z, spacing (0.5, 2, 3) mm.
        let m = glam::DMat4::from_cols_array(&[
            0.0, 0.5, 0.0, 0.0, //
            -2.0, 0.0, 0.0, 0.0, //
            0.0, 0.0, 3.0, 0.0, //
            10.0, -4.0, 7.0, 1.0,
        ]);
        let g = Grid::new([10, 10, 10], m);
        let r = Ruler {
            pane: 0,
            a: [1.0, 2.0, 3.0],
            b: [4.0, 6.0, 3.0],
        };
        // Δ = (3, 4, 0) voxels = (1.5, 8, 0) mm along the voxel axes.
        let want = (1.5f64 * 1.5 + 8.0 * 8.0).sqrt();
        assert!(
            (r.length_mm(&g) - want).abs() < 1e-12,
            "{}",
            r.length_mm(&g)
        );
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
