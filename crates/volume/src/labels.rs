//! Label maps: u8 label values on an image's exact voxel grid; a label map on another grid
//! is taken across voxel for voxel when its voxel centres are the image's (`reorient`),
//! resampled only when asked, else refused naming what differs.

use super::{Grid, Volume};
use crate::error::{Error, Result};
use crate::reorient::{fit, mm};
use std::path::Path;

/// Largest distance (mm) between voxel centres for two grids to count as the same
/// ([`crate::reorient::GRID_TOLERANCE_MM`]).
pub const SAME_GRID_TOLERANCE_MM: f64 = crate::reorient::GRID_TOLERANCE_MM;

/// True when `a` and `b` place every voxel at the same world point (within tolerance).
pub fn same_grid(a: &Grid, b: &Grid) -> bool {
    a.dims == b.dims && fit(a, b).is_ok_and(|m| m.is_identity())
}

/// Describes a grid for error messages: size, spacing, axis directions, where voxel
/// (0, 0, 0) is, and the affine to the micrometre.
pub fn describe(g: &Grid) -> String {
    let [sx, sy, sz] = g.spacing_mm();
    let o = g.world_from_index(glam::DVec3::ZERO);
    let rows = g.world_from_voxel_rows();
    let affine: Vec<String> = rows[..3]
        .iter()
        .map(|r| {
            // Six decimals (a micrometre; float32 noise beyond), trailing zeros trimmed.
            let v: Vec<String> = r
                .iter()
                .map(|x| {
                    let t = format!("{x:.6}");
                    let t = t.trim_end_matches('0').trim_end_matches('.');
                    if t == "-0" {
                        "0".to_string()
                    } else {
                        t.to_string()
                    }
                })
                .collect();
            format!("[{}]", v.join(", "))
        })
        .collect();
    format!(
        "{}×{}×{} voxels of {}×{}×{} mm, axes {}, voxel (0, 0, 0) at (R, A, S) = ({}, {}, {}) mm, affine rows {}",
        g.dims[0],
        g.dims[1],
        g.dims[2],
        mm(sx),
        mm(sy),
        mm(sz),
        g.axis_codes(),
        mm(o.x),
        mm(o.y),
        mm(o.z),
        affine.join(" ")
    )
}

/// Whether a label map that is not on the image's grid (nor on it under an axis
/// permutation, flips or a box: [`crate::reorient`]) may be resampled onto it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Resample {
    /// Refuse, naming what differs (the default: a label map is never resampled silently).
    #[default]
    Never,
    /// Nearest neighbour in world space, reporting what a round trip changes.
    Nearest,
}

/// Takes `labels` (on its own grid `own`) onto `image`'s grid: as they are on the same
/// grid; voxel for voxel, with a note, when its voxel centres are the image's under an axis
/// permutation, flips or an offset (labels that would fall outside the image are an error);
/// by nearest neighbour with `resample`, with a note counting what a round trip changes;
/// else an error naming what differs, by how much, and both grids.
pub fn place_labels(
    labels: Vec<u8>,
    own: &Grid,
    path: &Path,
    image: &Grid,
    resample: Resample,
) -> Result<(Vec<u8>, Option<String>)> {
    let both = || format!("label map: {}; image: {}", describe(own), describe(image));
    match fit(own, image) {
        Ok(m) if m.is_identity() => Ok((labels, None)),
        Ok(m) => {
            let (placed, lost) = m.place(&labels, 0u8);
            if lost > 0 {
                return Err(Error::format(
                    path,
                    format!(
                        "the label map is on a different grid than the image: its voxels are the \
                         image's ({}), but {lost} labelled voxels lie outside the image; {}",
                        m.describe(),
                        both()
                    ),
                ));
            }
            Ok((
                placed,
                Some(format!(
                    "{}: taken onto the image's grid voxel for voxel, no resampling ({})",
                    path.display(),
                    m.describe()
                )),
            ))
        }
        Err(why) => {
            if resample == Resample::Nearest && !why.disjoint {
                let out = crate::reorient::resample_nearest(&labels, own, image, 0u8);
                let labelled = labels.iter().filter(|&&v| v != 0).count();
                let kept = out.iter().filter(|&&v| v != 0).count();
                if labelled > 0 && kept == 0 {
                    return Err(Error::format(
                        path,
                        format!(
                            "resampled onto the image's grid, no labelled voxel is left: the \
                             label map and the image do not overlap ({})",
                            both()
                        ),
                    ));
                }
                let changed = crate::reorient::round_trip_changes(&labels, own, image);
                return Ok((
                    out,
                    Some(format!(
                        "{}: resampled onto the image's grid by nearest neighbour ({why}); \
                         {changed} of its {labelled} labelled voxels change label in a round \
                         trip (label map → image → label map)",
                        path.display()
                    )),
                ));
            }
            Err(refusal(own, path, image, &why))
        }
    }
}

/// The error for a label map on `own` that cannot be taken onto `image` without resampling.
fn refusal(own: &Grid, path: &Path, image: &Grid, why: &crate::reorient::GridMismatch) -> Error {
    let what = if why.disjoint {
        "shares no voxel centre with the image"
    } else {
        "is on a different grid than the image, and not the image's voxels in another axis order"
    };
    let hint = if why.disjoint {
        ""
    } else {
        "; voxmark resamples label maps only when asked (--resample nearest)"
    };
    Error::format(
        path,
        format!(
            "the label map {what}: {why}; label map: {}; image: {}{hint}",
            describe(own),
            describe(image)
        ),
    )
}

/// The grid check of [`place_labels`] alone, before any voxel is read: an error when a map
/// on `own` cannot be taken onto `image` (without `resample`, or sharing no voxel).
pub fn check_grid(own: &Grid, path: &Path, image: &Grid, resample: Resample) -> Result<()> {
    match fit(own, image) {
        Err(why) if why.disjoint || resample == Resample::Never => {
            Err(refusal(own, path, image, &why))
        }
        _ => Ok(()),
    }
}

/// Turns a loaded mask into u8 labels on `image`'s grid ([`place_labels`] without
/// resampling; the note is dropped), refusing values that are not integers in 0..=255.
pub fn labels_for(mask: &Volume, mask_path: &Path, image: &Grid) -> Result<Vec<u8>> {
    labels_onto(mask, mask_path, image, Resample::Never).map(|(l, _)| l)
}

/// [`labels_for`] with the choice to resample and the note saying what was done.
pub fn labels_onto(
    mask: &Volume,
    mask_path: &Path,
    image: &Grid,
    resample: Resample,
) -> Result<(Vec<u8>, Option<String>)> {
    let own = label_values(mask, mask_path)?;
    place_labels(own, &mask.grid, mask_path, image, resample)
}

/// A mask's voxel values as labels on its own grid; a value that is not an integer in
/// 0..=255 is an error naming its voxel (i, j, k) and world position.
pub fn label_values(mask: &Volume, mask_path: &Path) -> Result<Vec<u8>> {
    let n = mask.data.len();
    let mut out = Vec::with_capacity(n);
    for idx in 0..n {
        let v = mask.data.get_f64(idx);
        if !(0.0..=255.0).contains(&v) || v.fract() != 0.0 {
            let [i, j, k] = voxel_ijk(idx, mask.grid.dims);
            let w = mask
                .grid
                .world_from_index(glam::DVec3::new(i as f64, j as f64, k as f64));
            return Err(Error::format(
                mask_path,
                format!(
                    "label value {v} at voxel (i, j, k) = ({i}, {j}, {k}), (R, A, S) = ({}, {}, {}) mm, is not an integer in 0..=255",
                    mm(w.x),
                    mm(w.y),
                    mm(w.z)
                ),
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
