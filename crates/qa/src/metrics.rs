//! Agreement between two label maps on the same grid, per label, on the physical grid.
//!
//! Overlap (voxel counts; as SimpleITK's LabelOverlapMeasuresImageFilter):
//! Dice = 2|A∩B| / (|A| + |B|), IoU (Jaccard) = |A∩B| / |A∪B|; volumes in mL from the
//! voxel volume |det(world_from_voxel)|; volume difference B − A in mL and in % of A.
//!
//! Surface distances (the convention of MONAI and the DeepMind surface-distance package):
//! the surface ∂A is the set of voxels of A with at least one of their 6 face neighbours
//! outside A (outside the volume counts as outside). d(a, ∂B) is the distance in mm between
//! voxel centres (spacing honoured) from a ∈ ∂A to the nearest voxel of ∂B, by an exact
//! Euclidean distance transform. Then
//! * Hausdorff = max(max_a d(a, ∂B), max_b d(b, ∂A)),
//! * HD95 = max(P95{d(a, ∂B)}, P95{d(b, ∂A)}) with numpy's linear-interpolation percentile,
//! * ASSD = (Σ_a d(a, ∂B) + Σ_b d(b, ∂A)) / (|∂A| + |∂B|),
//! * surface Dice at τ = (#{a: d(a, ∂B) ≤ τ} + #{b: d(b, ∂A) ≤ τ}) / (|∂A| + |∂B|).
//!
//! Empty labels: when both maps lack a label, Dice = IoU = 1 and the distances are 0 (they
//! agree that nothing is there; `empty = "both"`). When one lacks it, Dice = IoU = surface
//! Dice = 0 and the distances are undefined (`null`; `empty = "a"` or `"b"`).

use super::edt::edt_squared;
use rayon::prelude::*;
use serde::Serialize;
use voxmark_volume::Grid;

/// Agreement of one label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelAgreement {
    pub label: u8,
    pub voxels_a: u64,
    pub voxels_b: u64,
    pub intersection: u64,
    pub volume_a_ml: f64,
    pub volume_b_ml: f64,
    /// B − A.
    pub volume_diff_ml: f64,
    /// 100 (B − A) / A; None when A is empty.
    pub volume_diff_pct: Option<f64>,
    pub dice: f64,
    pub iou: f64,
    pub hausdorff_mm: Option<f64>,
    pub hausdorff95_mm: Option<f64>,
    pub assd_mm: Option<f64>,
    pub surface_dice: Option<f64>,
    /// "both", "a" or "b" when a map lacks the label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty: Option<&'static str>,
}

/// numpy's default percentile (linear interpolation between closest ranks) of sorted `x`.
pub fn percentile_sorted(x: &[f64], q: f64) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    let rank = q / 100.0 * (x.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let (a, b, t) = (x[lo], x[hi], rank - lo as f64);
    // numpy's _lerp: interpolate from the nearer end (bit-identical results).
    if t >= 0.5 {
        b - (b - a) * (1.0 - t)
    } else {
        a + (b - a) * t
    }
}

/// Labels present (non-zero) in either map, ascending.
pub fn labels_present(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut seen = [false; 256];
    for (&x, &y) in a.iter().zip(b) {
        seen[usize::from(x)] = true;
        seen[usize::from(y)] = true;
    }
    (1..=255u8).filter(|&l| seen[usize::from(l)]).collect()
}

/// Per-label counts and inclusive boxes of A ∪ B, in one pass.
struct Counts {
    a: Vec<u64>,
    b: Vec<u64>,
    both: Vec<u64>,
    lo: Vec<[usize; 3]>,
    hi: Vec<[usize; 3]>,
}

fn counts(a: &[u8], b: &[u8], dims: [usize; 3]) -> Counts {
    let mut lo = vec![[usize::MAX; 3]; 256];
    let mut hi = vec![[0usize; 3]; 256];
    let mut grow = |l: usize, p: [usize; 3]| {
        for t in 0..3 {
            lo[l][t] = lo[l][t].min(p[t]);
            hi[l][t] = hi[l][t].max(p[t]);
        }
    };
    let (mut ca, mut cb, mut cboth) = (vec![0u64; 256], vec![0u64; 256], vec![0u64; 256]);
    let mut idx = 0;
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                let (x, y) = (usize::from(a[idx]), usize::from(b[idx]));
                ca[x] += 1;
                cb[y] += 1;
                if x == y {
                    cboth[x] += 1;
                }
                if x != 0 {
                    grow(x, [i, j, k]);
                }
                if y != 0 && y != x {
                    grow(y, [i, j, k]);
                }
                idx += 1;
            }
        }
    }
    Counts {
        a: ca,
        b: cb,
        both: cboth,
        lo,
        hi,
    }
}

/// Surface voxels of `m` (box-local, i fastest): in the mask with a face neighbour outside.
fn surface(m: &[bool], d: [usize; 3]) -> Vec<bool> {
    let at = |i: isize, j: isize, k: isize| -> bool {
        if i < 0 || j < 0 || k < 0 {
            return false;
        }
        let (i, j, k) = (i as usize, j as usize, k as usize);
        i < d[0] && j < d[1] && k < d[2] && m[i + d[0] * (j + d[1] * k)]
    };
    let mut s = vec![false; m.len()];
    for k in 0..d[2] {
        for j in 0..d[1] {
            for i in 0..d[0] {
                let idx = i + d[0] * (j + d[1] * k);
                if !m[idx] {
                    continue;
                }
                let (i, j, k) = (i as isize, j as isize, k as isize);
                s[idx] = !at(i - 1, j, k)
                    || !at(i + 1, j, k)
                    || !at(i, j - 1, k)
                    || !at(i, j + 1, k)
                    || !at(i, j, k - 1)
                    || !at(i, j, k + 1);
            }
        }
    }
    s
}

/// Distances from each surface voxel of `from` to the nearest surface voxel of `to`.
fn directed(from: &[bool], to_dist_sq: &[f64]) -> Vec<f64> {
    from.iter()
        .zip(to_dist_sq)
        .filter(|(s, _)| **s)
        .map(|(_, d)| d.sqrt())
        .collect()
}

/// Agreement of `a` and `b` (u8 labels on `grid`) for `labels`, surface Dice at
/// `tolerance_mm`. Distances use the voxel spacing (axes assumed orthogonal; see
/// [`is_orthogonal`]).
pub fn compare_masks(
    a: &[u8],
    b: &[u8],
    grid: &Grid,
    labels: &[u8],
    tolerance_mm: f64,
) -> Vec<LabelAgreement> {
    let dims = grid.dims;
    let sp = grid.spacing_mm();
    let voxel_ml = grid.linear().determinant().abs() / 1000.0;
    let c = counts(a, b, dims);
    labels
        .par_iter()
        .map(|&l| {
            let li = usize::from(l);
            let (na, nb, ni) = (c.a[li], c.b[li], c.both[li]);
            let (va, vb) = (na as f64 * voxel_ml, nb as f64 * voxel_ml);
            let mut r = LabelAgreement {
                label: l,
                voxels_a: na,
                voxels_b: nb,
                intersection: ni,
                volume_a_ml: va,
                volume_b_ml: vb,
                volume_diff_ml: vb - va,
                volume_diff_pct: (na > 0).then(|| 100.0 * (vb - va) / va),
                dice: 0.0,
                iou: 0.0,
                hausdorff_mm: None,
                hausdorff95_mm: None,
                assd_mm: None,
                surface_dice: Some(0.0),
                empty: None,
            };
            match (na, nb) {
                (0, 0) => {
                    r.dice = 1.0;
                    r.iou = 1.0;
                    r.hausdorff_mm = Some(0.0);
                    r.hausdorff95_mm = Some(0.0);
                    r.assd_mm = Some(0.0);
                    r.surface_dice = Some(1.0);
                    r.empty = Some("both");
                    return r;
                }
                (0, _) => {
                    r.empty = Some("a");
                    return r;
                }
                (_, 0) => {
                    r.empty = Some("b");
                    return r;
                }
                _ => {}
            }
            r.dice = 2.0 * ni as f64 / (na + nb) as f64;
            r.iou = ni as f64 / (na + nb - ni) as f64;
            // Surfaces and distances inside the box of A ∪ B (it holds every site).
            let (lo, hi) = (c.lo[li], c.hi[li]);
            let bd = [0, 1, 2].map(|t| hi[t] - lo[t] + 1);
            let n = bd[0] * bd[1] * bd[2];
            let (mut ma, mut mb) = (vec![false; n], vec![false; n]);
            let mut q = 0;
            for k in lo[2]..=hi[2] {
                for j in lo[1]..=hi[1] {
                    let row = dims[0] * (j + dims[1] * k);
                    for i in lo[0]..=hi[0] {
                        ma[q] = a[row + i] == l;
                        mb[q] = b[row + i] == l;
                        q += 1;
                    }
                }
            }
            let (sa, sb) = (surface(&ma, bd), surface(&mb, bd));
            let mut d_ab = directed(&sa, &edt_squared(&sb, bd, sp));
            let mut d_ba = directed(&sb, &edt_squared(&sa, bd, sp));
            d_ab.sort_by(f64::total_cmp);
            d_ba.sort_by(f64::total_cmp);
            let max = |v: &[f64]| v.last().copied().unwrap_or(0.0);
            r.hausdorff_mm = Some(max(&d_ab).max(max(&d_ba)));
            r.hausdorff95_mm =
                Some(percentile_sorted(&d_ab, 95.0).max(percentile_sorted(&d_ba, 95.0)));
            let total = (d_ab.len() + d_ba.len()) as f64;
            r.assd_mm = Some((d_ab.iter().sum::<f64>() + d_ba.iter().sum::<f64>()) / total);
            let within = d_ab
                .iter()
                .chain(&d_ba)
                .filter(|&&d| d <= tolerance_mm)
                .count();
            r.surface_dice = Some(within as f64 / total);
            r
        })
        .collect()
}

/// True when the grid's axes are orthogonal (distances from spacing alone are exact).
pub fn is_orthogonal(grid: &Grid) -> bool {
    let m = grid.linear();
    let c = [m.x_axis, m.y_axis, m.z_axis].map(|v| v.normalize());
    c[0].dot(c[1]).abs() < 1e-6 && c[0].dot(c[2]).abs() < 1e-6 && c[1].dot(c[2]).abs() < 1e-6
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::DMat4;

    fn cube(d: [usize; 3], lo: [usize; 3], hi: [usize; 3], l: u8) -> Vec<u8> {
        let mut v = vec![0u8; d[0] * d[1] * d[2]];
        for k in lo[2]..hi[2] {
            for j in lo[1]..hi[1] {
                for i in lo[0]..hi[0] {
                    v[i + d[0] * (j + d[1] * k)] = l;
                }
            }
        }
        v
    }

    #[test]
    fn hand_computed_cubes() {
        let d = [20, 20, 20];
        let g = Grid::new(d, DMat4::from_scale(glam::DVec3::new(1.0, 1.0, 2.0)));
        // A: 4³ cube, B: the same cube shifted by one voxel along k (2 mm).
        let a = cube(d, [5, 5, 5], [9, 9, 9], 1);
        let b = cube(d, [5, 5, 6], [9, 9, 10], 1);
        let r = &compare_masks(&a, &b, &g, &[1, 2], 1.0);
        assert_eq!(
            (r[0].voxels_a, r[0].voxels_b, r[0].intersection),
            (64, 64, 48)
        );
        assert!((r[0].dice - 0.75).abs() < 1e-12);
        assert!((r[0].iou - 48.0 / 80.0).abs() < 1e-12);
        assert!((r[0].volume_a_ml - 0.128).abs() < 1e-12);
        // Every surface voxel of a 4³ cube is at most one 2-mm step from the other's surface.
        assert_eq!(r[0].hausdorff_mm, Some(2.0));
        assert_eq!(r[0].hausdorff95_mm, Some(2.0));
        // Surface voxels on the moved faces are 2 mm away; the rest 0: tolerance 1 mm.
        let sd = r[0].surface_dice.unwrap_or(0.0);
        assert!(sd > 0.0 && sd < 1.0);
        assert_eq!(r[1].empty, Some("both"));
        assert_eq!(r[1].dice, 1.0);
        let one = compare_masks(&a, &vec![0; a.len()], &g, &[1], 1.0);
        assert_eq!(
            (one[0].dice, one[0].empty, one[0].hausdorff_mm),
            (0.0, Some("b"), None)
        );
        // numpy.percentile([0, 1, 2, 10], 95) bit for bit.
        assert_eq!(
            percentile_sorted(&[0.0, 1.0, 2.0, 10.0], 95.0),
            8.799999999999997
        );
    }
}
