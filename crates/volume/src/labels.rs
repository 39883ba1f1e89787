//! Label maps: u8 label values on an image's exact voxel grid.

use super::{Grid, Volume};
use crate::error::{Error, Result};
use std::path::Path;

/// Largest difference (mm) between two affines' entries for them to count as the same grid
/// (NIfTI stores affines as f32; DICOM → NIfTI → back rounds at ~1e-5 mm).
pub const SAME_GRID_TOLERANCE_MM: f64 = 1e-3;

/// True when `a` and `b` place every voxel at the same world point (within tolerance).
pub fn same_grid(a: &Grid, b: &Grid) -> bool {
    a.dims == b.dims
        && a.world_from_voxel
            .to_cols_array()
            .iter()
            .zip(b.world_from_voxel.to_cols_array())
            .all(|(x, y)| (x - y).abs() <= SAME_GRID_TOLERANCE_MM)
}

/// Describes a grid for error messages.
pub fn describe(g: &Grid) -> String {
    format!(
        "dims {:?}, affine rows {:?}",
        g.dims,
        g.world_from_voxel_rows()
    )
}

/// Turns a loaded mask into u8 labels on `image`'s grid, refusing other grids and values
/// that are not integers in 0..=255.
pub fn labels_for(mask: &Volume, mask_path: &Path, image: &Grid) -> Result<Vec<u8>> {
    if !same_grid(&mask.grid, image) {
        return Err(Error::format(
            mask_path,
            format!(
                "label map is on a different grid than the image (mask: {}; image: {})",
                describe(&mask.grid),
                describe(image)
            ),
        ));
    }
    let n = mask.data.len();
    let mut out = Vec::with_capacity(n);
    for idx in 0..n {
        let v = mask.data.get_f64(idx);
        if !(0.0..=255.0).contains(&v) || v.fract() != 0.0 {
            let [i, j, k] = voxel_ijk(idx, mask.grid.dims);
            return Err(Error::format(
                mask_path,
                format!("label value {v} at voxel (i, j, k) = ({i}, {j}, {k}) is not an integer in 0..=255"),
            ));
        }
        out.push(v as u8);
    }
    Ok(out)
}

/// The (i, j, k) of linear voxel index `idx` on a grid of `dims` (i fastest, as voxmark and
/// NIfTI store voxels).
pub fn voxel_ijk(idx: usize, dims: [usize; 3]) -> [usize; 3] {
    let (nx, ny) = (dims[0].max(1), dims[1].max(1));
    [idx % nx, (idx / nx) % ny, idx / (nx * ny)]
}

#[cfg(test)]
mod ijk_tests {
    use super::voxel_ijk;

    #[test]
    fn linear_indices_name_their_voxel() {
        let dims = [4, 3, 5];
        assert_eq!(voxel_ijk(0, dims), [0, 0, 0]);
        assert_eq!(voxel_ijk(3 + 4 * (2 + 3 * 4), dims), [3, 2, 4]);
        assert_eq!(voxel_ijk(4, dims), [0, 1, 0]);
        assert_eq!(voxel_ijk(12, dims), [0, 0, 1]);
    }
}
