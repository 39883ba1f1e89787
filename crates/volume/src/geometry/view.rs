//! Which voxel plane a view shows and how it lies on screen — derived from
//! `world_from_voxel`, never from the array order.
//!
//! Views are planes of the voxel grid (no oblique resampling). Each voxel axis is assigned to
//! the world axis it points along most (as `Grid::axis_codes`). Screen conventions are the
//! radiological ones (3D Slicer, ITK-SNAP): axial — patient left on screen right, anterior up;
//! coronal — left on the right, superior up; sagittal — anterior on the left, superior up.
//! An in-plane voxel axis pointing the other way is flipped on screen.
//!
//! The mapping from output pixels to voxels is given as two tables of continuous voxel
//! coordinates, one per column and one per row (computed here in f64). GPU and CPU reslicing
//! read the same tables, so they pick the same voxels.

use crate::Grid;
use glam::DVec3;

/// The three standard views.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ViewKind {
    Axial,
    Coronal,
    Sagittal,
}

/// A view plane of a grid, fitted into an output image of `size` pixels.
#[derive(Debug, Clone)]
pub struct ViewGeometry {
    pub kind: ViewKind,
    /// Voxel axis shown left→right, top→bottom, and the one normal to the view.
    pub axis_u: usize,
    pub axis_v: usize,
    pub axis_n: usize,
    /// Whether screen-right / screen-down run against the voxel axis.
    pub flip_u: bool,
    pub flip_v: bool,
    /// Slice index along `axis_n`.
    pub slice: usize,
    /// Output size in pixels.
    pub size: [u32; 2],
    /// Continuous voxel coordinate along `axis_u` of each column centre (len = width),
    /// and along `axis_v` of each row centre (len = height). Outside `[-0.5, n-0.5]` = background.
    pub u_coords: Vec<f32>,
    pub v_coords: Vec<f32>,
    /// Orientation letters at the left, right, top and bottom edges.
    pub letters: [String; 4],
}

/// World (RAS) letters for a direction: the dominant one, then any other component of at
/// least 0.3 of the length, e.g. `"LA"` for an oblique axis.
pub fn direction_letters(d: DVec3) -> String {
    let d = d.normalize_or_zero();
    let mut comps: Vec<(f64, char)> = vec![
        (d.x.abs(), if d.x >= 0.0 { 'R' } else { 'L' }),
        (d.y.abs(), if d.y >= 0.0 { 'A' } else { 'P' }),
        (d.z.abs(), if d.z >= 0.0 { 'S' } else { 'I' }),
    ];
    comps.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut s = String::new();
    for (i, (m, c)) in comps.iter().enumerate() {
        if i == 0 || *m >= 0.3 {
            s.push(*c);
        }
    }
    s
}

impl ViewGeometry {
    /// Geometry of `kind` at `slice` (default: the middle) in an image of `size` (default:
    /// 512 px on the longer side, physical aspect kept).
    pub fn new(
        grid: &Grid,
        kind: ViewKind,
        slice: Option<usize>,
        size: Option<[u32; 2]>,
    ) -> crate::Result<Self> {
        Self::zoomed(grid, kind, slice, size, 1.0, [0.0, 0.0])
    }

    /// Like [`ViewGeometry::new`], magnified `zoom` times about the image centre and moved
    /// by `pan_px` screen pixels (right, down): what the shell's panes show.
    pub fn zoomed(
        grid: &Grid,
        kind: ViewKind,
        slice: Option<usize>,
        size: Option<[u32; 2]>,
        zoom: f64,
        pan_px: [f64; 2],
    ) -> crate::Result<Self> {
        if !(zoom > 0.0 && zoom.is_finite()) {
            return Err(crate::Error::Invalid(format!(
                "zoom {zoom} must be positive"
            )));
        }
        let world_of = grid.world_axis_of();
        let find = |w: usize| world_of.iter().position(|&x| x == w).unwrap_or(w);
        // (normal world axis, screen-x world axis, screen-y world axis,
        //  world sign wanted for screen-right, for screen-down)
        let (n_w, u_w, v_w, u_sign, v_sign) = match kind {
            ViewKind::Axial => (2, 0, 1, -1.0, -1.0),
            ViewKind::Coronal => (1, 0, 2, -1.0, -1.0),
            ViewKind::Sagittal => (0, 1, 2, -1.0, -1.0),
        };
        let (axis_n, axis_u, axis_v) = (find(n_w), find(u_w), find(v_w));
        let lin = grid.linear();
        let col = |a: usize| lin.col(a);
        let flip_u = col(axis_u)[u_w] * u_sign < 0.0;
        let flip_v = col(axis_v)[v_w] * v_sign < 0.0;
        let dims = grid.dims;
        let slice = slice.unwrap_or(dims[axis_n] / 2);
        if slice >= dims[axis_n] {
            return Err(crate::Error::Invalid(format!(
                "slice {slice} is outside 0..{} for the {kind:?} view (voxel axis {axis_n})",
                dims[axis_n]
            )));
        }
        let sp = grid.spacing_mm();
        let (nu, nv) = (dims[axis_u] as f64, dims[axis_v] as f64);
        let (ext_u, ext_v) = (nu * sp[axis_u], nv * sp[axis_v]);
        let size = match size {
            Some(s) if s[0] > 0 && s[1] > 0 => s,
            Some(s) => {
                return Err(crate::Error::Invalid(format!(
                    "image size {s:?} must be positive"
                )))
            }
            None if ext_u >= ext_v => [512, ((512.0 * ext_v / ext_u).round() as u32).max(1)],
            None => [((512.0 * ext_u / ext_v).round() as u32).max(1), 512],
        };
        let (w, h) = (f64::from(size[0]), f64::from(size[1]));
        let px_per_mm = (w / ext_u).min(h / ext_v) * zoom;
        let table = |count: u32,
                     extent_px: f64,
                     ext_mm: f64,
                     spacing: f64,
                     n: f64,
                     flip: bool,
                     pan: f64|
         -> Vec<f32> {
            (0..count)
                .map(|x| {
                    let mm =
                        (f64::from(x) + 0.5 - pan - extent_px / 2.0) / px_per_mm + ext_mm / 2.0;
                    let c = mm / spacing - 0.5;
                    (if flip { n - 1.0 - c } else { c }) as f32
                })
                .collect()
        };
        let u_coords = table(size[0], w, ext_u, sp[axis_u], nu, flip_u, pan_px[0]);
        let v_coords = table(size[1], h, ext_v, sp[axis_v], nv, flip_v, pan_px[1]);
        let right = col(axis_u) * if flip_u { -1.0 } else { 1.0 };
        let down = col(axis_v) * if flip_v { -1.0 } else { 1.0 };
        let letters = [
            direction_letters(-right),
            direction_letters(right),
            direction_letters(-down),
            direction_letters(down),
        ];
        Ok(Self {
            kind,
            axis_u,
            axis_v,
            axis_n,
            flip_u,
            flip_v,
            slice,
            size,
            u_coords,
            v_coords,
            letters,
        })
    }

    /// Continuous voxel coordinates (i, j, k) under screen position `screen` (pixels from the
    /// top-left corner; pixel centres at +0.5), on this view's slice.
    pub fn voxel_at(&self, screen: [f64; 2]) -> [f64; 3] {
        let along = |c: &[f32], s: f64| -> f64 {
            let c0 = f64::from(c.first().copied().unwrap_or(0.0));
            let dc = if c.len() > 1 {
                f64::from(c[1]) - c0
            } else {
                0.0
            };
            c0 + (s - 0.5) * dc
        };
        let mut v = [0.0; 3];
        v[self.axis_u] = along(&self.u_coords, screen[0]);
        v[self.axis_v] = along(&self.v_coords, screen[1]);
        v[self.axis_n] = self.slice as f64;
        v
    }

    /// Screen position (pixels, continuous; inverse of [`Self::voxel_at`]) of voxel
    /// coordinates (i, j, k) projected onto this view.
    pub fn screen_of(&self, ijk: [f64; 3]) -> [f64; 2] {
        let along = |c: &[f32], v: f64| -> f64 {
            let c0 = f64::from(c.first().copied().unwrap_or(0.0));
            let dc = if c.len() > 1 {
                f64::from(c[1]) - c0
            } else {
                1.0
            };
            0.5 + (v - c0) / dc
        };
        [
            along(&self.u_coords, ijk[self.axis_u]),
            along(&self.v_coords, ijk[self.axis_v]),
        ]
    }

    /// Screen pixels per voxel step along the view's horizontal voxel axis.
    pub fn px_per_voxel_u(&self) -> f64 {
        match self.u_coords.as_slice() {
            [a, b, ..] => 1.0 / (f64::from(*b) - f64::from(*a)).abs().max(1e-12),
            _ => 1.0,
        }
    }

    /// Output pixel (column, row) whose centre is nearest to voxel (i, j, k), if on screen.
    pub fn pixel_of_voxel(&self, ijk: [f64; 3]) -> Option<[u32; 2]> {
        let find = |coords: &[f32], c: f64| -> Option<u32> {
            coords
                .iter()
                .enumerate()
                .min_by(|a, b| {
                    (f64::from(*a.1) - c)
                        .abs()
                        .total_cmp(&(f64::from(*b.1) - c).abs())
                })
                .filter(|(_, &v)| (f64::from(v) - c).abs() <= 1.0)
                .map(|(i, _)| i as u32)
        };
        Some([
            find(&self.u_coords, ijk[self.axis_u])?,
            find(&self.v_coords, ijk[self.axis_v])?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::RAS_FROM_LPS;
    use glam::{DMat4, DVec4};

    #[test]
    fn dicom_axial_series_shows_left_on_the_right_without_flips() {
        let g = Grid::new(
            [4, 6, 8],
            RAS_FROM_LPS * DMat4::from_diagonal(DVec4::new(1.0, 1.0, 2.0, 1.0)),
        );
        let v = ViewGeometry::new(&g, ViewKind::Axial, None, Some([4, 6]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((v.axis_u, v.axis_v, v.axis_n), (0, 1, 2));
        assert!(
            !v.flip_u && !v.flip_v,
            "LPS columns already run R->L and A->P"
        );
        assert_eq!(
            v.letters,
            ["R".to_string(), "L".into(), "A".into(), "P".into()]
        );
        assert_eq!(v.u_coords, vec![0.0, 1.0, 2.0, 3.0]);
        let c = ViewGeometry::new(&g, ViewKind::Coronal, Some(2), Some([4, 16]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.axis_u, c.axis_v, c.axis_n), (0, 2, 1));
        assert!(c.flip_v, "k runs to S, screen-down is I");
        assert_eq!(c.letters[2], "S");
        assert_eq!(c.v_coords[0], 7.25, "top row is the most superior slice");
    }

    #[test]
    fn ras_volume_is_flipped_to_radiological_view() {
        let g = Grid::new([10, 10, 10], DMat4::IDENTITY);
        let v =
            ViewGeometry::new(&g, ViewKind::Sagittal, None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((v.axis_u, v.axis_v, v.axis_n), (1, 2, 0));
        assert!(v.flip_u && v.flip_v);
        assert_eq!(
            v.letters,
            ["A".to_string(), "P".into(), "S".into(), "I".into()]
        );
        assert!(ViewGeometry::new(&g, ViewKind::Axial, Some(10), None).is_err());
    }

    #[test]
    fn permuted_axes_pick_the_axial_plane_from_geometry() {
        // Voxel axis 0 runs S, axis 1 runs A, axis 2 runs R.
        let m = DMat4::from_cols(
            DVec4::new(0.0, 0.0, 1.0, 0.0),
            DVec4::new(0.0, 1.0, 0.0, 0.0),
            DVec4::new(1.0, 0.0, 0.0, 0.0),
            DVec4::W,
        );
        let g = Grid::new([5, 6, 7], m);
        let v =
            ViewGeometry::new(&g, ViewKind::Axial, None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((v.axis_u, v.axis_v, v.axis_n), (2, 1, 0));
        assert_eq!(direction_letters(DVec3::new(-0.8, 0.5, 0.1)), "LA");
    }
}
