//! Where one grid's voxel centres fall on another's: the same voxels in another axis order
//! (a DICOM series and its dcm2niix NIfTI with rows flipped, a copy with permuted axes, a
//! cropped box) are taken across exactly, without interpolation; any other pair is a
//! [`GridMismatch`] that names the axis or origin component that differs, by how many mm,
//! against [`GRID_TOLERANCE_MM`]; [`resample_nearest`] is the explicit, never silent,
//! resampling for the rest.
//!
//! Frames: both grids map voxel indices to world (RAS+ mm) by their own affines
//! (`Grid::world_from_voxel`). A [`VoxelMap`] sends source voxel `a` to target voxel
//! `origin + Σ_s ±a_s e_axis[s]` (a signed permutation plus an integer offset).
//!
//! Tolerance: two voxel centres are the same point when they are within
//! [`GRID_TOLERANCE_MM`] of each other. A map is accepted only when *every* source voxel
//! centre lands that close to its target voxel centre; the displacement is affine in the
//! index, so the largest is at one of the source grid's eight corners, which is what is
//! checked (an error per voxel step that adds up across a 512-voxel axis is caught).

use crate::grid::Grid;
use glam::{DVec3, DVec4};

/// Largest distance (mm) between a voxel centre and the one it is taken for. NIfTI stores
/// affines as float32 (≈ 1e-5 mm at 200 mm from the origin) and DICOM positions as decimal
/// strings; a tenth of a micrometre of real misplacement is far below any voxel size.
pub const GRID_TOLERANCE_MM: f64 = 1e-3;

/// Cosine above which a source axis counts as parallel to a target axis (0.026°): beyond
/// it, [`fit`] reports a rotation instead of a distance.
const PARALLEL_COS: f64 = 1.0 - 1e-7;

/// How a source grid's voxels sit on a target grid: source voxel `a` is target voxel
/// `origin[t] + (flip[s] ? -a_s : a_s)` along `t = axis[s]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoxelMap {
    pub source_dims: [usize; 3],
    pub target_dims: [usize; 3],
    /// For each source axis, the target axis it runs along.
    pub axis: [usize; 3],
    /// For each source axis, whether it runs against its target axis.
    pub flip: [bool; 3],
    /// The target index of source voxel (0, 0, 0).
    pub origin: [i64; 3],
}

impl VoxelMap {
    /// The same grid: every voxel is itself.
    pub fn is_identity(&self) -> bool {
        self.source_dims == self.target_dims
            && self.axis == [0, 1, 2]
            && self.flip == [false; 3]
            && self.origin == [0; 3]
    }

    /// True when the axes are the target's own (no flip, no permutation): a box of the
    /// target or the target itself.
    pub fn keeps_axes(&self) -> bool {
        self.axis == [0, 1, 2] && self.flip == [false; 3]
    }

    /// The target coordinate along `axis[s]` of source coordinate `a` on axis `s`.
    fn along(&self, s: usize, a: i64) -> i64 {
        let t = self.axis[s];
        if self.flip[s] {
            self.origin[t] - a
        } else {
            self.origin[t] + a
        }
    }

    /// Target index of source voxel `a` (may lie outside the target).
    pub fn target_of(&self, a: [usize; 3]) -> [i64; 3] {
        let mut out = [0i64; 3];
        for (s, &v) in a.iter().enumerate() {
            out[self.axis[s]] = self.along(s, v as i64);
        }
        out
    }

    /// For each source axis, the range of its coordinates that land inside the target.
    fn inside_ranges(&self) -> [(usize, usize); 3] {
        let mut r = [(0usize, 0usize); 3];
        for (s, out) in r.iter_mut().enumerate() {
            let n_t = self.target_dims[self.axis[s]] as i64;
            let n_s = self.source_dims[s] as i64;
            // a with 0 <= along(s, a) < n_t, 0 <= a < n_s.
            let (lo, hi) = if self.flip[s] {
                (
                    self.origin[self.axis[s]] - n_t + 1,
                    self.origin[self.axis[s]] + 1,
                )
            } else {
                (-self.origin[self.axis[s]], n_t - self.origin[self.axis[s]])
            };
            let lo = lo.clamp(0, n_s);
            let hi = hi.clamp(lo, n_s);
            *out = (lo as usize, hi as usize);
        }
        r
    }

    /// True when the source shares at least one voxel with the target.
    pub fn overlaps(&self) -> bool {
        self.inside_ranges().iter().all(|(lo, hi)| hi > lo)
    }

    /// True when every source voxel lands inside the target.
    pub fn source_inside(&self) -> bool {
        self.inside_ranges()
            .iter()
            .zip(self.source_dims)
            .all(|(&(lo, hi), n)| lo == 0 && hi == n)
    }

    /// `source` (i fastest, on `source_dims`) taken onto the target grid: voxels the source
    /// does not cover are `fill`. Returns the values and how many source voxels that are
    /// not `fill` fall outside the target (the caller decides whether that loses data).
    pub fn place<T: Copy + PartialEq>(&self, source: &[T], fill: T) -> (Vec<T>, u64) {
        let [tx, ty, tz] = self.target_dims;
        let mut out = vec![fill; tx * ty * tz];
        let lost = self.place_into(source, fill, |t, v| out[t] = v);
        (out, lost)
    }

    /// Hands every source voxel that is not `fill` and lands inside the target to `put`
    /// with its target index (i fastest); returns how many such voxels fall outside.
    pub fn place_into<T: Copy + PartialEq>(
        &self,
        source: &[T],
        fill: T,
        mut put: impl FnMut(usize, T),
    ) -> u64 {
        let [tx, ty, _] = self.target_dims;
        let stride = [1i64, tx as i64, (tx * ty) as i64];
        let step: [i64; 3] =
            std::array::from_fn(|s| stride[self.axis[s]] * if self.flip[s] { -1 } else { 1 });
        let base: i64 = (0..3).map(|t| self.origin[t] * stride[t]).sum();
        let ranges = self.inside_ranges();
        let [sx, sy, sz] = self.source_dims;
        let mut lost = 0u64;
        for k in 0..sz {
            let k_in = (ranges[2].0..ranges[2].1).contains(&k);
            for j in 0..sy {
                let row = &source[(j + sy * k) * sx..(j + sy * k + 1) * sx];
                if !(k_in && (ranges[1].0..ranges[1].1).contains(&j)) {
                    lost += row.iter().filter(|&&v| v != fill).count() as u64;
                    continue;
                }
                let at = base + step[1] * j as i64 + step[2] * k as i64;
                let (lo, hi) = ranges[0];
                lost += row[..lo]
                    .iter()
                    .chain(&row[hi..])
                    .filter(|&&v| v != fill)
                    .count() as u64;
                for (i, &v) in row.iter().enumerate().take(hi).skip(lo) {
                    if v != fill {
                        // In range on every axis: the index is inside the target.
                        put((at + step[0] * i as i64) as usize, v);
                    }
                }
            }
        }
        lost
    }

    /// One line for the user: how the source's axes lie on the target's.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self.describe_axes().into_iter().collect();
        if self.source_dims != self.target_dims || self.origin != [0; 3] {
            let lo = self.target_of([0, 0, 0]);
            let hi = self.target_of([
                self.source_dims[0].saturating_sub(1),
                self.source_dims[1].saturating_sub(1),
                self.source_dims[2].saturating_sub(1),
            ]);
            let r: Vec<String> = (0..3)
                .map(|t| format!("{}..={}", lo[t].min(hi[t]), lo[t].max(hi[t])))
                .collect();
            parts.push(format!("covering image voxels {}", r.join(" × ")));
        }
        if parts.is_empty() {
            "the same grid".into()
        } else {
            parts.join("; ")
        }
    }

    /// The flips and permutation alone ("axis j reversed; axes i, j, k running along …"),
    /// None when the axes are the target's.
    pub fn describe_axes(&self) -> Option<String> {
        const IJK: [char; 3] = ['i', 'j', 'k'];
        let mut parts = Vec::new();
        // A one-voxel axis (a SEG frame's normal) has no direction worth naming.
        let flips: Vec<char> = (0..3)
            .filter(|&s| self.flip[s] && self.source_dims[s] > 1)
            .map(|s| IJK[s])
            .collect();
        if !flips.is_empty() {
            parts.push(format!(
                "axis {} reversed",
                flips
                    .iter()
                    .map(char::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if self.axis != [0, 1, 2] {
            parts.push(format!(
                "axes i, j, k running along the image's {}, {}, {}",
                IJK[self.axis[0]], IJK[self.axis[1]], IJK[self.axis[2]]
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Why two grids' voxel centres are not the same points: what differs, by how many mm,
/// against which tolerance, and whether they share any voxel at all.
#[derive(Debug, Clone, PartialEq)]
pub struct GridMismatch {
    /// One sentence per axis or origin component that differs.
    pub reasons: Vec<String>,
    /// True when the axes match but the source lies wholly outside the target.
    pub disjoint: bool,
}

impl std::fmt::Display for GridMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reasons.join("; "))
    }
}

/// World axis names for messages (RAS+).
const WORLD: [char; 3] = ['R', 'A', 'S'];

/// Millimetres with enough digits that a micrometre shows.
pub fn mm(x: f64) -> String {
    if x.abs() >= 0.1 {
        format!("{x:.3}")
    } else {
        format!("{x:.6}")
    }
}

fn vec_mm(v: DVec3) -> String {
    format!("({}, {}, {})", mm(v.x), mm(v.y), mm(v.z))
}

/// The world component where `d` is largest, e.g. `"0.0012 mm in A"`.
fn largest_component(d: DVec3) -> String {
    let a = d.abs();
    let c = if a.x >= a.y && a.x >= a.z {
        0
    } else if a.y >= a.z {
        1
    } else {
        2
    };
    format!("{} mm in {}", mm(d[c]), WORLD[c])
}

/// Where `source`'s voxel centres fall on `target`'s: a [`VoxelMap`] when every centre is a
/// target centre within [`GRID_TOLERANCE_MM`] (module docs) and the grids share a voxel;
/// else what differs. Works for single-slice sources (a DICOM SEG frame) too: an axis with
/// one voxel needs only to be the remaining, roughly parallel target axis.
pub fn fit(source: &Grid, target: &Grid) -> Result<VoxelMap, GridMismatch> {
    let (sl, tl) = (source.linear(), target.linear());
    const IJK: [char; 3] = ['i', 'j', 'k'];
    // Greedy assignment by |cos| (as nibabel's aff2axcodes), best pairs first.
    let mut pairs: Vec<(usize, usize, f64)> = Vec::with_capacity(9);
    for s in 0..3 {
        for t in 0..3 {
            let (a, b) = (sl.col(s).normalize_or_zero(), tl.col(t).normalize_or_zero());
            pairs.push((s, t, a.dot(b)));
        }
    }
    pairs.sort_by(|x, y| y.2.abs().total_cmp(&x.2.abs()));
    let mut axis = [usize::MAX; 3];
    let mut cos = [0.0f64; 3];
    let mut used = [false; 3];
    for (s, t, c) in pairs {
        if axis[s] == usize::MAX && !used[t] {
            axis[s] = t;
            cos[s] = c;
            used[t] = true;
        }
    }
    let flip: [bool; 3] = std::array::from_fn(|s| cos[s] < 0.0);
    let mut reasons = Vec::new();
    // An axis that is not parallel to its target axis is a rotation, not a distance.
    for s in 0..3 {
        if source.dims[s] > 1 && cos[s].abs() < PARALLEL_COS {
            let deg = cos[s].abs().clamp(-1.0, 1.0).acos().to_degrees();
            reasons.push(format!(
                "axis {} points {} and no axis of the other grid does (nearest: its {}, {:.3}° apart; tolerance {} mm at every voxel centre)",
                IJK[s],
                vec_mm(sl.col(s).normalize_or_zero()),
                IJK[axis[s]],
                deg,
                mm(GRID_TOLERANCE_MM)
            ));
        }
    }
    // The target voxel nearest to the source's origin.
    let c = target.index_from_world(source.world_from_index(DVec3::ZERO));
    if !(c.is_finite() && sl.is_finite() && tl.determinant().abs() > 0.0) {
        // A singular or non-finite affine places no voxel anywhere (NaN compares false, so
        // it must not reach the distance checks below).
        return Err(GridMismatch {
            reasons: vec!["an affine is singular or not finite: its voxels have no place".into()],
            disjoint: true,
        });
    }
    let origin = [c.x.round() as i64, c.y.round() as i64, c.z.round() as i64];
    let map = VoxelMap {
        source_dims: source.dims,
        target_dims: target.dims,
        axis,
        flip,
        origin,
    };
    if reasons.is_empty() {
        // Axis steps: per source axis, the difference per voxel and across the grid.
        for s in 0..3 {
            let sign = if flip[s] { -1.0 } else { 1.0 };
            let d = sl.col(s) - tl.col(axis[s]) * sign;
            let across = d * (source.dims[s].saturating_sub(1)) as f64;
            if across.length() > GRID_TOLERANCE_MM / 2.0 {
                reasons.push(format!(
                    "axis {} steps {} mm per voxel, the other grid's {} {} mm: {} per voxel, {} across {} voxels (tolerance {} mm)",
                    IJK[s],
                    vec_mm(sl.col(s)),
                    IJK[axis[s]],
                    vec_mm(tl.col(axis[s]) * sign),
                    largest_component(d),
                    largest_component(across),
                    source.dims[s],
                    mm(GRID_TOLERANCE_MM)
                ));
            }
        }
        let o_s = source.world_from_index(DVec3::ZERO);
        let o_t = target.world_from_index(DVec3::new(
            origin[0] as f64,
            origin[1] as f64,
            origin[2] as f64,
        ));
        let d = o_s - o_t;
        if d.length() > GRID_TOLERANCE_MM / 2.0 {
            let frac = c - c.round();
            reasons.push(format!(
                "voxel (0, 0, 0) is at {} mm, {} off the other grid's voxel ({}, {}, {}) — {} voxel in (i, j, k) (tolerance {} mm)",
                vec_mm(o_s),
                largest_component(d),
                origin[0],
                origin[1],
                origin[2],
                format_args!("({:.4}, {:.4}, {:.4})", frac.x, frac.y, frac.z),
                mm(GRID_TOLERANCE_MM)
            ));
        }
        // The exact criterion: the largest displacement over the eight corners.
        if reasons.is_empty() {
            let worst = corners(source.dims)
                .map(|a| {
                    let t = map.target_of(a);
                    let ws =
                        source.world_from_index(DVec3::new(a[0] as f64, a[1] as f64, a[2] as f64));
                    let wt =
                        target.world_from_index(DVec3::new(t[0] as f64, t[1] as f64, t[2] as f64));
                    (ws - wt).length()
                })
                .fold(0.0f64, f64::max);
            if worst > GRID_TOLERANCE_MM {
                reasons.push(format!(
                    "a corner voxel centre lies {} mm from the other grid's (tolerance {} mm)",
                    mm(worst),
                    mm(GRID_TOLERANCE_MM)
                ));
            }
        }
        if reasons.is_empty() {
            if map.overlaps() {
                return Ok(map);
            }
            return Err(GridMismatch {
                reasons: vec![format!(
                    "the grids share no voxel: this one would cover the other's voxels {}",
                    map.describe().trim_start_matches("covering image voxels ")
                )],
                disjoint: true,
            });
        }
    }
    Err(GridMismatch {
        reasons,
        disjoint: false,
    })
}

/// The eight corner indices of a grid of `dims` (repeated when an axis has one voxel).
fn corners(dims: [usize; 3]) -> impl Iterator<Item = [usize; 3]> {
    (0..8).map(move |b| {
        std::array::from_fn(|a| {
            if b >> a & 1 == 1 {
                dims[a].saturating_sub(1)
            } else {
                0
            }
        })
    })
}

/// `source` (on `source_grid`) resampled onto `target` by nearest neighbour in world
/// space, as ITK's `ResampleImageFilter` with a `NearestNeighborInterpolateImageFunction`
/// does: the target voxel centre's continuous source index `c` is rounded half up
/// (`floor(c + 0.5)`) and counts only when `-0.5 <= c < n - 0.5` on every axis; elsewhere
/// `fill`.
pub fn resample_nearest<T: Copy>(
    source: &[T],
    source_grid: &Grid,
    target: &Grid,
    fill: T,
) -> Vec<T> {
    let m = source_grid.world_from_voxel.inverse() * target.world_from_voxel;
    let [tx, ty, tz] = target.dims;
    let [sx, sy, sz] = source_grid.dims;
    let n = [sx as f64, sy as f64, sz as f64];
    if source.len() != sx * sy * sz || source.is_empty() {
        return vec![fill; tx * ty * tz];
    }
    let mut out = Vec::with_capacity(tx * ty * tz);
    for k in 0..tz {
        for j in 0..ty {
            let row0 = m * DVec4::new(0.0, j as f64, k as f64, 1.0);
            for i in 0..tx {
                let c = row0 + m.x_axis * i as f64;
                let inside = (0..3).all(|a| c[a] >= -0.5 && c[a] < n[a] - 0.5);
                if !inside {
                    out.push(fill);
                    continue;
                }
                let (a, b, cc) = (
                    (c.x + 0.5).floor() as usize,
                    (c.y + 0.5).floor() as usize,
                    (c.z + 0.5).floor() as usize,
                );
                out.push(source[a.min(sx - 1) + sx * (b.min(sy - 1) + sy * cc.min(sz - 1))]);
            }
        }
    }
    out
}

/// Source voxels whose label would change in a round trip through `target` by nearest
/// neighbour (source → target → source): what resampling a label map costs.
pub fn round_trip_changes(source: &[u8], source_grid: &Grid, target: &Grid) -> u64 {
    let there = resample_nearest(source, source_grid, target, 0u8);
    let back = resample_nearest(&there, target, source_grid, 0u8);
    source.iter().zip(&back).filter(|(a, b)| a != b).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::{DMat4, DVec4};

    fn grid(dims: [usize; 3], cols: [[f64; 3]; 3], origin: [f64; 3]) -> Grid {
        Grid::new(
            dims,
            DMat4::from_cols(
                DVec4::new(cols[0][0], cols[0][1], cols[0][2], 0.0),
                DVec4::new(cols[1][0], cols[1][1], cols[1][2], 0.0),
                DVec4::new(cols[2][0], cols[2][1], cols[2][2], 0.0),
                DVec4::new(origin[0], origin[1], origin[2], 1.0),
            ),
        )
    }

    /// Every voxel of `src` lands, by the map, where its world centre says.
    fn check_map_by_world(src: &Grid, dst: &Grid) {
        let m = fit(src, dst).unwrap_or_else(|e| panic!("{e}"));
        for k in 0..src.dims[2] {
            for j in 0..src.dims[1] {
                for i in 0..src.dims[0] {
                    let w = src.world_from_index(DVec3::new(i as f64, j as f64, k as f64));
                    let want = dst.index_from_world(w).round();
                    let got = m.target_of([i, j, k]);
                    assert_eq!([want.x as i64, want.y as i64, want.z as i64], got);
                }
            }
        }
    }

    #[test]
    fn flipped_and_permuted_grids_map_voxel_for_voxel() {
        let img = grid(
            [4, 5, 3],
            [[-0.8, 0., 0.], [0., -0.8, 0.], [0., 0., 2.5]],
            [10., 20., -30.],
        );
        // Rows flipped (dcm2niix's NIfTI of a DICOM series).
        let flipped = grid(
            [4, 5, 3],
            [[-0.8, 0., 0.], [0., 0.8, 0.], [0., 0., 2.5]],
            [10., 20. - 3.2, -30.],
        );
        check_map_by_world(&flipped, &img);
        let m = fit(&flipped, &img).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((m.axis, m.flip), ([0, 1, 2], [false, true, false]));
        // Axes permuted (k, i, j) and one reversed.
        let perm = grid(
            [3, 4, 5],
            [[0., 0., -2.5], [-0.8, 0., 0.], [0., -0.8, 0.]],
            [10., 20., -25.],
        );
        check_map_by_world(&perm, &img);
        let m = fit(&perm, &img).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.axis, [2, 0, 1]);
        assert!(m.source_inside());
        // Values follow: a permuted copy placed back equals the original.
        let src: Vec<u8> = (0..60).map(|v| v as u8).collect();
        let (placed, lost) = m.place(&src, 255);
        assert_eq!(lost, 0);
        for k in 0..3 {
            for j in 0..5 {
                for i in 0..4 {
                    let w = img.world_from_index(DVec3::new(i as f64, j as f64, k as f64));
                    let s = perm.index_from_world(w).round();
                    let v = src[s.x as usize + 3 * (s.y as usize + 4 * s.z as usize)];
                    assert_eq!(placed[i + 4 * (j + 5 * k)], v);
                }
            }
        }
        assert!(fit(&img, &img)
            .unwrap_or_else(|e| panic!("{e}"))
            .is_identity());
    }

    #[test]
    fn a_box_places_with_offset_and_counts_what_falls_outside() {
        let img = grid(
            [6, 6, 6],
            [[1., 0., 0.], [0., 1., 0.], [0., 0., 1.]],
            [0., 0., 0.],
        );
        let boxg = grid(
            [3, 3, 3],
            [[1., 0., 0.], [0., 1., 0.], [0., 0., 1.]],
            [4., 2., 1.],
        );
        let m = fit(&boxg, &img).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.origin, [4, 2, 1]);
        assert!(!m.source_inside()); // i = 4, 5, 6: one column outside
        let src = vec![1u8; 27];
        let (placed, lost) = m.place(&src, 0);
        assert_eq!(lost, 9);
        assert_eq!(placed.iter().filter(|&&v| v == 1).count(), 18);
        assert!(
            m.describe().contains("covering image voxels 4..=6"),
            "{}",
            m.describe()
        );
        let far = grid(
            [3, 3, 3],
            [[1., 0., 0.], [0., 1., 0.], [0., 0., 1.]],
            [40., 2., 1.],
        );
        let e = fit(&far, &img).expect_err("disjoint");
        assert!(e.disjoint, "{e}");
    }

    #[test]
    fn mismatches_name_the_axis_or_origin_and_the_distance() {
        let img = grid(
            [100, 100, 10],
            [[1., 0., 0.], [0., 1., 0.], [0., 0., 2.]],
            [0., 0., 0.],
        );
        // A 0.0012 mm shift in A: shown in full, with the tolerance.
        let shifted = grid(
            [100, 100, 10],
            [[1., 0., 0.], [0., 1., 0.], [0., 0., 2.]],
            [0., 0.0012, 0.],
        );
        let e = fit(&shifted, &img).expect_err("shifted").to_string();
        assert!(
            e.contains("0.001200 mm in A") && e.contains("tolerance 0.001000 mm"),
            "{e}"
        );
        // A spacing error of 1e-5 mm per voxel is fine over 10 voxels, not over 100.
        let drift = grid(
            [100, 100, 10],
            [[1.00001, 0., 0.], [0., 1., 0.], [0., 0., 2.00001]],
            [0., 0., 0.],
        );
        let e = fit(&drift, &img).expect_err("drift").to_string();
        assert!(e.contains("axis i") && !e.contains("axis k"), "{e}");
        // A rotation is named as one.
        let (c, s) = (0.1f64.cos(), 0.1f64.sin());
        let rot = grid(
            [100, 100, 10],
            [[c, s, 0.], [-s, c, 0.], [0., 0., 2.]],
            [0., 0., 0.],
        );
        let e = fit(&rot, &img).expect_err("rotated").to_string();
        assert!(e.contains("5.730°"), "{e}");
        // A singular affine is no place at all (not a NaN that passes every check).
        let flat = grid(
            [100, 100, 10],
            [[1., 0., 0.], [0., 1., 0.], [0., 0., 0.]],
            [0., 0., 0.],
        );
        assert!(fit(&img, &flat).is_err_and(|e| e.disjoint));
        let nan = grid(
            [100, 100, 10],
            [[f64::NAN, 0., 0.], [0., 1., 0.], [0., 0., 2.]],
            [0., 0., 0.],
        );
        assert!(fit(&nan, &img).is_err());
    }

    #[test]
    fn nearest_resampling_rounds_half_up_inside_half_voxel_bounds() {
        let src_g = grid(
            [4, 1, 1],
            [[1., 0., 0.], [0., 1., 0.], [0., 0., 1.]],
            [0., 0., 0.],
        );
        let dst_g = grid(
            [9, 1, 1],
            [[0.5, 0., 0.], [0., 1., 0.], [0., 0., 1.]],
            [-1.0, 0., 0.],
        );
        let src = [1u8, 2, 3, 4];
        // Target x = -1, -0.5, 0, 0.5, ..., 3: -1 outside, -0.5 → 0, 0.5 → 1 (half up), 3 → 3.
        let got = resample_nearest(&src, &src_g, &dst_g, 0u8);
        assert_eq!(got, vec![0, 1, 1, 2, 2, 3, 3, 4, 4]);
        // Upsampling loses nothing in a round trip; a shift by half a voxel does.
        assert_eq!(round_trip_changes(&src, &src_g, &dst_g), 0);
    }
}
