//! Measurements of a labelled region (a label, or one connected component of it): volume,
//! extent, centroid, intensity statistics, RECIST bidirectional diameters and the 3D
//! maximum diameter. `voxmark measure` prints them; surface area is added by the caller
//! from `render::mesh` (marching cubes), which this module may not import.
//!
//! Definitions (world RAS+ mm; "points" are the region's voxel centres, so diameters run
//! centre to centre and read up to one voxel spacing shorter than the physical extent):
//!
//! - **volume** (mL) = voxels × |det(world_from_voxel linear part)| / 1000.
//! - **bbox_voxel**: min and max voxel index per axis (inclusive). **bbox_mm**: the world
//!   axis-aligned bounds of those voxels as boxes (centre ± half a voxel along each voxel
//!   axis, all 8 corners mapped).
//! - **centroid**: mean of the voxel centres.
//! - **intensity**: mean, population standard deviation, min, max and median (the mean of
//!   the two middle values for an even count, as numpy) of the image in real units.
//! - **RECIST / bidirectional** (as OHIF's segment bidirectional tool measures): slices are
//!   taken across the voxel axis that points most nearly superior–inferior (the axial
//!   plane of an axial acquisition; `axis`). On each slice the **long axis** is the largest
//!   distance between two of the region's points on that slice; the **short axis** is the
//!   largest extent perpendicular to it: over pairs (p, q) of the slice's points whose
//!   separation along the long axis is at most half the smaller in-plane spacing (+1e-6
//!   mm), the largest |(p − q) · v|, v the in-plane unit vector perpendicular to the long
//!   axis; its segment runs from p to q moved along the long axis onto the perpendicular
//!   through p (so it is drawn perpendicular and as long as reported). The long axis is the
//!   first farthest pair in the slice's voxel order (i fastest; lengths within 1e-9 mm are
//!   ties). The reported slice is the one with the longest long
//!   axis (ties: the longer short axis, then the lower slice index).
//! - **max diameter** (3D Feret): the largest distance between two of the region's points.
//!
//! Long axes and the Feret diameter are computed over convex-hull vertices (exact: a
//! farthest pair is always a pair of hull vertices; a 3D hull vertex is a 2D hull vertex of
//! its slice in every direction), the short axis with a sliding window over the points
//! sorted along the long axis; `tests/interop/test_measure.py` checks all of it against a
//! brute-force numpy/scipy reference.

use glam::DVec3;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use voxmark_volume::{Grid, Volume};

/// Intensity statistics of a region (module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Intensity {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub median: f64,
}

/// A segment between two points (world RAS mm) and its length.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    pub length_mm: f64,
    pub from_ras: [f64; 3],
    pub to_ras: [f64; 3],
}

/// RECIST bidirectional diameters on the slice where the long axis is longest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recist {
    /// The voxel axis the slices are taken across (0 = i, 1 = j, 2 = k).
    pub axis: usize,
    /// The slice index along `axis`.
    pub slice: usize,
    pub long_axis: Segment,
    /// Its length is the perpendicular extent (module docs).
    pub short_axis: Segment,
}

/// Everything measured of one region (module docs); `surface_area_mm2` is filled by the
/// caller (`render::mesh`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionMeasures {
    pub voxels: u64,
    pub volume_ml: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surface_area_mm2: Option<f64>,
    pub bbox_voxel: [[usize; 3]; 2],
    pub bbox_mm: [[f64; 3]; 2],
    pub centroid_ras: [f64; 3],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intensity: Option<Intensity>,
    pub recist: Recist,
    pub max_diameter: Segment,
}

fn ijk(idx: usize, d: [usize; 3]) -> [usize; 3] {
    [idx % d[0], (idx / d[0]) % d[1], idx / (d[0] * d[1])]
}

/// The voxel axis closest to superior–inferior (the RECIST slice axis).
pub fn axial_axis(grid: &Grid) -> usize {
    grid.world_axis_of()
        .iter()
        .position(|&w| w == 2)
        .unwrap_or(2)
}

/// Strict convex hull (Andrew's monotone chain) of integer points, collinear points left
/// out; the input is sorted and deduplicated in place. Exact (integer cross products).
fn hull_2d(pts: &mut Vec<[i64; 2]>) -> Vec<[i64; 2]> {
    pts.sort_unstable();
    pts.dedup();
    if pts.len() <= 2 {
        return pts.clone();
    }
    let cross = |o: [i64; 2], a: [i64; 2], b: [i64; 2]| {
        (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    };
    let mut h: Vec<[i64; 2]> = Vec::with_capacity(2 * pts.len());
    for pass in 0..2 {
        let start = h.len();
        let iter: Box<dyn Iterator<Item = &[i64; 2]>> = if pass == 0 {
            Box::new(pts.iter())
        } else {
            Box::new(pts.iter().rev())
        };
        for &p in iter {
            while h.len() >= start + 2 && cross(h[h.len() - 2], h[h.len() - 1], p) <= 0 {
                h.pop();
            }
            h.push(p);
        }
        h.pop();
    }
    if h.is_empty() {
        // All points collinear: the two ends.
        return vec![pts[0], pts[pts.len() - 1]];
    }
    h
}

/// Lengths within this many mm are ties (points from the same affine whose distances are
/// equal in exact arithmetic differ in the last bits).
const TIE_MM: f64 = 1e-9;

/// The farthest pair among `pts` (world): the largest distance, and of the pairs (a < b)
/// within [`TIE_MM`] of it the first (smallest a, then b).
fn farthest_pair(pts: &[DVec3]) -> (f64, usize, usize) {
    if pts.len() < 2 {
        return (0.0, 0, 0);
    }
    let far = pts
        .par_iter()
        .enumerate()
        .map(|(a, p)| {
            pts[a + 1..]
                .iter()
                .map(|q| p.distance(*q))
                .fold(0.0f64, f64::max)
        })
        .reduce(|| 0.0, f64::max);
    let first = pts
        .par_iter()
        .enumerate()
        .filter_map(|(a, p)| {
            pts.iter()
                .enumerate()
                .skip(a + 1)
                .find(|(_, q)| p.distance(**q) >= far - TIE_MM)
                .map(|(b, _)| (a, b))
        })
        .min()
        .unwrap_or((0, 1));
    (far, first.0, first.1)
}

fn seg(len: f64, p: DVec3, q: DVec3) -> Segment {
    Segment {
        length_mm: len,
        from_ras: p.to_array(),
        to_ras: q.to_array(),
    }
}

/// The long axis of one slice: the farthest pair of its hull vertices `hp` (world mm).
fn long_axis(hp: &[DVec3]) -> Segment {
    let (long, a, b) = farthest_pair(hp);
    match (hp.get(a), hp.get(b)) {
        (Some(pa), Some(pb)) if hp.len() >= 2 => seg(long, *pa, *pb),
        _ => seg(0.0, hp[0], hp[0]),
    }
}

/// The short axis of one slice for its long axis: `pts` are the slice's points in world
/// mm, `n` the slice plane's unit normal, `h` half the smaller in-plane spacing.
fn short_axis(pts: &[DVec3], long: &Segment, n: DVec3, h: f64) -> Segment {
    let (pa, pb) = (DVec3::from(long.from_ras), DVec3::from(long.to_ras));
    if long.length_mm == 0.0 {
        return seg(0.0, pa, pa);
    }
    let u = (pb - pa) / long.length_mm;
    let v = u.cross(n).normalize();
    // Points sorted along u; a window of ±h along u around each; the largest drop in v.
    let mut tv: Vec<(f64, f64, usize)> = pts
        .iter()
        .enumerate()
        .map(|(i, p)| ((*p - pa).dot(u), (*p - pa).dot(v), i))
        .collect();
    tv.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.2.cmp(&y.2)));
    let tol = h + 1e-6;
    let (mut lo, mut hi) = (0usize, 0usize);
    // Deque of indices into tv with increasing v (window minimum).
    let mut dq: VecDeque<usize> = VecDeque::new();
    let mut best = (0.0f64, 0usize, 0usize);
    for i in 0..tv.len() {
        while hi < tv.len() && tv[hi].0 <= tv[i].0 + tol {
            while dq.back().is_some_and(|&k| tv[k].1 >= tv[hi].1) {
                dq.pop_back();
            }
            dq.push_back(hi);
            hi += 1;
        }
        while tv[lo].0 < tv[i].0 - tol {
            lo += 1;
        }
        while dq.front().is_some_and(|&k| k < lo) {
            dq.pop_front();
        }
        if let Some(&k) = dq.front() {
            let d = tv[i].1 - tv[k].1;
            if d > best.0 {
                best = (d, i, k);
            }
        }
    }
    // The segment drawn exactly perpendicular to the long axis: the second point moved along
    // the long axis (by at most h) onto the perpendicular through the first, so that the
    // segment's length is the extent reported.
    let (p, q) = (pts[tv[best.1].2], pts[tv[best.2].2]);
    seg(best.0, p, q + u * (p - q).dot(u))
}

/// Measures the region made of the voxels `indices` (linear, i fastest) on `grid`;
/// `image` (same grid) gives the intensity statistics. `indices` must not be empty.
pub fn measure_region(indices: &[usize], grid: &Grid, image: Option<&Volume>) -> RegionMeasures {
    let d = grid.dims;
    let w =
        |p: [usize; 3]| grid.world_from_index(DVec3::new(p[0] as f64, p[1] as f64, p[2] as f64));
    let n = indices.len();
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    let mut sum = DVec3::ZERO;
    for &idx in indices {
        let p = ijk(idx, d);
        for a in 0..3 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
        sum += w(p);
    }
    let lin = grid.linear();
    let voxel_ml = lin.determinant().abs() / 1000.0;
    let mut bmin = DVec3::splat(f64::INFINITY);
    let mut bmax = DVec3::splat(f64::NEG_INFINITY);
    for c in 0..8 {
        let q = DVec3::new(
            if c & 1 == 0 {
                lo[0] as f64 - 0.5
            } else {
                hi[0] as f64 + 0.5
            },
            if c & 2 == 0 {
                lo[1] as f64 - 0.5
            } else {
                hi[1] as f64 + 0.5
            },
            if c & 4 == 0 {
                lo[2] as f64 - 0.5
            } else {
                hi[2] as f64 + 0.5
            },
        );
        let p = grid.world_from_index(q);
        bmin = bmin.min(p);
        bmax = bmax.max(p);
    }
    let intensity = image.map(|img| {
        let mut v: Vec<f64> = indices.iter().map(|&i| img.data.get_f64(i)).collect();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // The middle value(s) by selection, not a sort (31 M voxels: 0.3 s, not 3).
        let (_, &mut upper, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
        let median = if n % 2 == 1 {
            upper
        } else {
            let lower = v[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (lower + upper) / 2.0
        };
        Intensity {
            mean,
            std: var.sqrt(),
            min,
            max,
            median,
        }
    });

    // Slices across the axial axis; in-plane axes (b, c).
    let a = axial_axis(grid);
    let (b, c) = match a {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    };
    // Linear indices per slice (8 bytes a voxel; the (i, j, k) are recomputed per slice).
    let mut slices: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &idx in indices {
        slices.entry(ijk(idx, d)[a]).or_default().push(idx);
    }
    let sp = grid.spacing_mm();
    let h = sp[b].min(sp[c]) / 2.0;
    let normal = lin.col(b).cross(lin.col(c)).normalize();
    // Per slice: its hull vertices and long axis. The short axis (a sort of the slice's
    // points) only on the slices whose long axis is the longest (ties).
    let vox_of =
        |lin_idx: &[usize]| -> Vec<[usize; 3]> { lin_idx.iter().map(|&x| ijk(x, d)).collect() };
    let per_slice: Vec<(usize, Vec<[usize; 3]>, Segment)> = slices
        .par_iter()
        .map(|(&s, lin_idx)| {
            let vox = vox_of(lin_idx);
            let mut flat: Vec<[i64; 2]> = vox.iter().map(|p| [p[b] as i64, p[c] as i64]).collect();
            let hull: std::collections::HashSet<[i64; 2]> =
                hull_2d(&mut flat).into_iter().collect();
            // Hull vertices in the slice's voxel order.
            let hv: Vec<[usize; 3]> = vox
                .into_iter()
                .filter(|p| hull.contains(&[p[b] as i64, p[c] as i64]))
                .collect();
            let hp: Vec<DVec3> = hv.iter().map(|p| w(*p)).collect();
            (s, hv, long_axis(&hp))
        })
        .collect();
    let longest = per_slice
        .iter()
        .map(|r| r.2.length_mm)
        .fold(0.0f64, f64::max);
    let mut best: Option<(usize, Segment)> = None;
    for (i, r) in per_slice.iter().enumerate() {
        if r.2.length_mm < longest - TIE_MM {
            continue;
        }
        let pts: Vec<DVec3> = vox_of(&slices[&r.0]).into_iter().map(w).collect();
        let short = short_axis(&pts, &r.2, normal, h);
        if best
            .as_ref()
            .is_none_or(|(_, b)| short.length_mm > b.length_mm + TIE_MM)
        {
            best = Some((i, short));
        }
    }
    let (best, short) = best.unwrap_or_else(|| (0, per_slice[0].2.clone()));
    let recist = Recist {
        axis: a,
        slice: per_slice[best].0,
        long_axis: per_slice[best].2.clone(),
        short_axis: short,
    };
    // 3D Feret over the slices' hull vertices, thinned to those that are also hull
    // vertices of their slice across another axis.
    let cand: Vec<[usize; 3]> = per_slice.iter().flat_map(|r| r.1.clone()).collect();
    let mut across_b: BTreeMap<usize, Vec<[i64; 2]>> = BTreeMap::new();
    for p in &cand {
        across_b
            .entry(p[b])
            .or_default()
            .push([p[a] as i64, p[c] as i64]);
    }
    // A 3D hull vertex is a hull vertex of its b-slice's points, hence of any subset that
    // holds it, such as the candidates on that b-slice: none is thinned away.
    let keep: std::collections::HashSet<[usize; 3]> = across_b
        .into_par_iter()
        .flat_map_iter(|(s, mut pts)| {
            hull_2d(&mut pts).into_iter().map(move |q| {
                let mut p = [0usize; 3];
                p[b] = s;
                p[a] = q[0] as usize;
                p[c] = q[1] as usize;
                p
            })
        })
        .collect();
    let mut fp: Vec<[usize; 3]> = cand.into_iter().filter(|p| keep.contains(p)).collect();
    fp.sort_unstable_by_key(|p| (p[2], p[1], p[0]));
    let fw: Vec<DVec3> = fp.iter().map(|p| w(*p)).collect();
    let (len, i, j) = farthest_pair(&fw);
    let max_diameter = if fw.len() < 2 {
        let p = w(ijk(indices[0], d));
        Segment {
            length_mm: 0.0,
            from_ras: p.to_array(),
            to_ras: p.to_array(),
        }
    } else {
        Segment {
            length_mm: len,
            from_ras: fw[i].to_array(),
            to_ras: fw[j].to_array(),
        }
    };
    RegionMeasures {
        voxels: n as u64,
        volume_ml: n as f64 * voxel_ml,
        surface_area_mm2: None,
        bbox_voxel: [lo, hi],
        bbox_mm: [bmin.to_array(), bmax.to_array()],
        centroid_ras: (sum / n as f64).to_array(),
        intensity,
        recist,
        max_diameter,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::DMat4;

    /// Brute force over every pair of points (the definitions, literally).
    fn brute(pts: &[DVec3]) -> f64 {
        let mut m = 0.0f64;
        for p in pts {
            for q in pts {
                m = m.max(p.distance(*q));
            }
        }
        m
    }

    #[test]
    fn diameters_match_brute_force_on_random_blobs() {
        // Anisotropic, oblique grid; random blobs (not convex) of a few hundred voxels.
        let rot = DMat4::from_rotation_z(0.3) * DMat4::from_rotation_x(0.2);
        let grid = Grid::new(
            [14, 12, 9],
            rot * DMat4::from_scale(DVec3::new(0.8, 1.1, 2.5)),
        );
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as f64 / (1u64 << 31) as f64
        };
        for _ in 0..20 {
            let idx: Vec<usize> = (0..grid.voxel_count()).filter(|_| rnd() < 0.15).collect();
            if idx.is_empty() {
                continue;
            }
            let m = measure_region(&idx, &grid, None);
            let pts: Vec<DVec3> = idx
                .iter()
                .map(|&i| {
                    let p = ijk(i, grid.dims);
                    grid.world_from_index(DVec3::new(p[0] as f64, p[1] as f64, p[2] as f64))
                })
                .collect();
            assert!((m.max_diameter.length_mm - brute(&pts)).abs() < 1e-9);
            // The long axis: the largest in-slice distance on the reported slice, and no
            // slice has a longer one.
            let a = m.recist.axis;
            let mut best = 0.0f64;
            for s in 0..grid.dims[a] {
                let sl: Vec<DVec3> = idx
                    .iter()
                    .filter(|&&i| ijk(i, grid.dims)[a] == s)
                    .map(|&i| pts[idx.iter().position(|&x| x == i).unwrap_or(0)])
                    .collect();
                let l = brute(&sl);
                best = best.max(l);
                if s == m.recist.slice {
                    assert!((m.recist.long_axis.length_mm - l).abs() < 1e-9);
                }
            }
            assert!((m.recist.long_axis.length_mm - best).abs() < 1e-9);
        }
    }

    #[test]
    fn hull_of_a_square_with_collinear_points() {
        let mut p = vec![
            [0, 0],
            [1, 0],
            [2, 0],
            [2, 1],
            [2, 2],
            [1, 2],
            [0, 2],
            [0, 1],
            [1, 1],
        ];
        let mut h = hull_2d(&mut p);
        h.sort_unstable();
        assert_eq!(h, vec![[0, 0], [0, 2], [2, 0], [2, 2]]);
        let mut line = vec![[0, 0], [3, 3], [1, 1]];
        assert_eq!(hull_2d(&mut line), vec![[0, 0], [3, 3]]);
    }
}
