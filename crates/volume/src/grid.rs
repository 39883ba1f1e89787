//! A regular voxel grid and its placement in world space.
//!
//! Voxel index `(i, j, k)` addresses the voxel whose *centre* maps to
//! `world_from_voxel * (i, j, k, 1)`; `i` varies fastest in memory. World is RAS+ mm.
//! For DICOM series `i` = column, `j` = row, `k` = slice in ascending order along the
//! slice normal (row cosines × column cosines), see `io::dicom_series`.

use glam::{DMat3, DMat4, DVec3, DVec4};
use serde::Serialize;

/// Converts DICOM patient coordinates (LPS+) into voxmark world coordinates (RAS+).
pub const RAS_FROM_LPS: DMat4 = DMat4::from_cols(
    DVec4::new(-1.0, 0.0, 0.0, 0.0),
    DVec4::new(0.0, -1.0, 0.0, 0.0),
    DVec4::new(0.0, 0.0, 1.0, 0.0),
    DVec4::new(0.0, 0.0, 0.0, 1.0),
);

/// Dimensions plus voxel-to-world affine (RAS+ mm). The affine may be oblique, flipped
/// or even sheared (gantry tilt); it is never "normalised" behind the user's back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Grid {
    /// Number of voxels along i, j, k.
    pub dims: [usize; 3],
    /// Voxel centre to world (RAS+, mm), column-major as glam stores it.
    #[serde(skip)]
    pub world_from_voxel: DMat4,
}

impl Grid {
    /// A grid with the given dims and affine.
    pub fn new(dims: [usize; 3], world_from_voxel: DMat4) -> Self {
        Self {
            dims,
            world_from_voxel,
        }
    }

    /// Total number of voxels.
    pub fn voxel_count(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2]
    }

    /// Linear index of voxel (i, j, k) (i fastest).
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        i + self.dims[0] * (j + self.dims[1] * k)
    }

    /// Distance in mm between neighbouring voxel centres along i, j, k
    /// (the lengths of the affine's first three columns).
    pub fn spacing_mm(&self) -> [f64; 3] {
        let m = &self.world_from_voxel;
        [
            m.x_axis.truncate().length(),
            m.y_axis.truncate().length(),
            m.z_axis.truncate().length(),
        ]
    }

    /// World position (RAS+ mm) of the centre of voxel (i, j, k); indices may be fractional.
    pub fn world_from_index(&self, ijk: DVec3) -> DVec3 {
        self.world_from_voxel.transform_point3(ijk)
    }

    /// Continuous voxel index (i, j, k) of a world position (RAS+ mm).
    pub fn index_from_world(&self, p: DVec3) -> DVec3 {
        self.world_from_voxel.inverse().transform_point3(p)
    }

    /// The 3×3 linear part of the affine.
    pub fn linear(&self) -> DMat3 {
        DMat3::from_mat4(self.world_from_voxel)
    }

    /// Row-major 4×4 affine, the layout used by nibabel, JSON output and humans.
    pub fn world_from_voxel_rows(&self) -> [[f64; 4]; 4] {
        let t = self.world_from_voxel.transpose();
        [
            t.x_axis.to_array(),
            t.y_axis.to_array(),
            t.z_axis.to_array(),
            t.w_axis.to_array(),
        ]
    }

    /// For each voxel axis, the world axis (0 = R/L, 1 = A/P, 2 = S/I) it mostly points
    /// along: greedy assignment by largest absolute direction cosine, as nibabel's
    /// `aff2axcodes` does for non-degenerate affines.
    pub fn world_axis_of(&self) -> [usize; 3] {
        let lin = self.linear();
        let mut order: Vec<(usize, usize, f64)> = Vec::new();
        for ax in 0..3 {
            let col = lin.col(ax).normalize_or_zero();
            for w in 0..3 {
                order.push((ax, w, col[w].abs()));
            }
        }
        order.sort_by(|a, b| b.2.total_cmp(&a.2));
        let mut world_of = [usize::MAX; 3];
        let mut used = [false; 3];
        for (ax, w, _) in order {
            if world_of[ax] == usize::MAX && !used[w] {
                world_of[ax] = w;
                used[w] = true;
            }
        }
        world_of
    }

    /// Axis codes in the style of nibabel's `aff2axcodes`: for each voxel axis the world
    /// direction (R/L, A/P, S/I) it mostly points to, e.g. `"LPS"` for a DICOM axial series.
    pub fn axis_codes(&self) -> String {
        let lin = self.linear();
        self.world_axis_of()
            .iter()
            .enumerate()
            .map(|(ax, &w)| {
                let positive = lin.col(ax)[w.min(2)] >= 0.0;
                match (w, positive) {
                    (0, true) => 'R',
                    (0, false) => 'L',
                    (1, true) => 'A',
                    (1, false) => 'P',
                    (2, true) => 'S',
                    _ => 'I',
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_codes_of_dicom_axial_are_lps() {
        let lps = DMat4::from_diagonal(DVec4::new(0.5, 0.5, 2.0, 1.0));
        let g = Grid::new([4, 4, 4], RAS_FROM_LPS * lps);
        assert_eq!(g.axis_codes(), "LPS");
        assert_eq!(g.spacing_mm(), [0.5, 0.5, 2.0]);
    }

    #[test]
    fn rows_are_transpose_of_glam_columns() {
        let mut m = DMat4::IDENTITY;
        m.w_axis = DVec4::new(10.0, 20.0, 30.0, 1.0);
        let g = Grid::new([1, 1, 1], m);
        let r = g.world_from_voxel_rows();
        assert_eq!(r[0], [1.0, 0.0, 0.0, 10.0]);
        assert_eq!(r[2], [0.0, 0.0, 1.0, 30.0]);
        assert_eq!(g.index(1, 0, 0), 1);
    }
}
