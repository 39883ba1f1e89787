//! CPU implementation of every edit operation on u8 labels (the reference the GPU kernels
//! are compared with, and the engine's fallback).
//!
//! Write rule shared by all painting operations: a voxel changes only if its current label
//! is not locked, the editable-area policy allows it (`everywhere`, `empty_only`,
//! `inside: L`), and — when the op has a `range` — the image value lies in it.
//! Brush geometry: a voxel belongs to a stroke iff the physical distance (per-axis spacing)
//! from its centre to the polyline is ≤ `radius_mm`; discs use the in-plane distance and only
//! the voxels of their slice.

use super::ops::{EditOp, Editable, Shape, Stroke};
use super::spans::{apply_spans_cpu, SpanWrite};
use crate::error::{Error, Result};
use crate::kernels::region_grow::{grow_cpu, Connectivity, GrowParams, GrowRequest};
use crate::render::view::{ViewGeometry, ViewKind};
use crate::volume::Volume;

/// Inclusive voxel box [min, max].
pub type VoxelBox = ([usize; 3], [usize; 3]);

/// What an op may touch and how.
pub struct EditEnv<'a> {
    pub image: &'a Volume,
    pub locked: [bool; 256],
}

impl EditEnv<'_> {
    pub fn dims(&self) -> [usize; 3] {
        self.image.grid.dims
    }

    fn whole(&self) -> VoxelBox {
        let d = self.dims();
        ([0, 0, 0], [d[0] - 1, d[1] - 1, d[2] - 1])
    }

    /// Whether a voxel labelled `cur` may be changed under `editable` (locked never).
    pub fn allows(&self, cur: u8, editable: Editable) -> bool {
        !self.locked[usize::from(cur)]
            && match editable {
                Editable::Everywhere => true,
                Editable::EmptyOnly => cur == 0,
                Editable::Inside(l) => cur == l,
            }
    }

    /// The 256-entry table of [`EditEnv::allows`] for `editable` (what kernels take).
    pub fn allowed_labels(&self, editable: Editable) -> [bool; 256] {
        let mut s = [false; 256];
        for (l, e) in s.iter_mut().enumerate() {
            *e = self.allows(l as u8, editable);
        }
        s
    }

    /// Refuses an op that would write or remove a locked label.
    pub fn require_unlocked(&self, op: &EditOp, l: u8) -> Result<()> {
        if self.locked[usize::from(l)] {
            Err(Error::Invalid(format!(
                "{}: label {l} is locked",
                op.name()
            )))
        } else {
            Ok(())
        }
    }

    /// (axis_u, axis_v, axis_n) of a view plane, from the geometry (as the views show it).
    pub fn plane_axes(&self, plane: ViewKind) -> Result<(usize, usize, usize)> {
        let v = ViewGeometry::new(&self.image.grid, plane, Some(0), Some([1, 1]))?;
        Ok((v.axis_u, v.axis_v, v.axis_n))
    }
}

fn idx(d: [usize; 3], x: usize, y: usize, z: usize) -> usize {
    x + d[0] * (y + d[1] * z)
}

/// Squared distance from p to segment ab (all in mm).
fn seg_dist2(p: [f64; 3], a: [f64; 3], b: [f64; 3]) -> f64 {
    let ab = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    let ap = [p[0] - a[0], p[1] - a[1], p[2] - a[2]];
    let len2 = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2];
    let t = if len2 > 0.0 {
        ((ap[0] * ab[0] + ap[1] * ab[1] + ap[2] * ab[2]) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let d = [ap[0] - t * ab[0], ap[1] - t * ab[1], ap[2] - t * ab[2]];
    d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
}

/// The voxels of a stroke, as (box, membership test on voxel index triples).
/// A stroke's box and, for a disc, its (normal axis, slice).
type StrokeExtent = (VoxelBox, Option<(usize, usize)>);

fn stroke_box(env: &EditEnv, s: &Stroke) -> Result<Option<StrokeExtent>> {
    let d = env.dims();
    let sp = env.image.grid.spacing_mm();
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for p in &s.points {
        for a in 0..3 {
            lo[a] = lo[a].min(p[a] - s.radius_mm / sp[a]);
            hi[a] = hi[a].max(p[a] + s.radius_mm / sp[a]);
        }
    }
    let mut disc = None;
    if s.shape == Shape::Disc {
        let plane = s
            .plane
            .ok_or_else(|| Error::Invalid("disc needs a plane".into()))?;
        let (_, _, n) = env.plane_axes(plane)?;
        let slice = match s.slice {
            Some(k) => k,
            None => s.points[0][n].round().max(0.0) as usize,
        };
        if slice >= d[n] {
            return Ok(None);
        }
        lo[n] = slice as f64;
        hi[n] = slice as f64;
        disc = Some((n, slice));
    }
    let mut bmin = [0usize; 3];
    let mut bmax = [0usize; 3];
    for a in 0..3 {
        let l = lo[a].ceil().max(0.0);
        let h = hi[a].floor().min(d[a] as f64 - 1.0);
        if l > h {
            return Ok(None); // entirely outside: clipped to nothing
        }
        bmin[a] = l as usize;
        bmax[a] = h as usize;
    }
    Ok(Some(((bmin, bmax), disc)))
}

/// The box an op can change (None: no voxel can change). Used for undo capture.
pub fn op_box(env: &EditEnv, op: &EditOp) -> Result<Option<VoxelBox>> {
    Ok(match op {
        EditOp::Paint(s) | EditOp::Erase(s) => stroke_box(env, s)?.map(|(b, _)| b),
        EditOp::Polygon {
            plane,
            slice,
            points,
            ..
        } => {
            let (u, v, n) = env.plane_axes(*plane)?;
            let d = env.dims();
            if *slice >= d[n] {
                return Err(Error::Invalid(format!(
                    "polygon slice {slice} is outside 0..{}",
                    d[n]
                )));
            }
            let (mut lo, mut hi) = ([0usize; 3], [0usize; 3]);
            for (a, c) in [(u, 0), (v, 1)] {
                let l = points
                    .iter()
                    .map(|p| p[c])
                    .fold(f64::INFINITY, f64::min)
                    .ceil()
                    .max(0.0);
                let h = points
                    .iter()
                    .map(|p| p[c])
                    .fold(f64::NEG_INFINITY, f64::max)
                    .floor()
                    .min(d[a] as f64 - 1.0);
                if l > h {
                    return Ok(None);
                }
                lo[a] = l as usize;
                hi[a] = h as usize;
            }
            lo[n] = *slice;
            hi[n] = *slice;
            Some((lo, hi))
        }
        EditOp::Threshold { roi: Some(r), .. } | EditOp::Grow { roi: Some(r), .. } => {
            Some(([r[0], r[1], r[2]], [r[3], r[4], r[5]]))
        }
        EditOp::SetLabel { .. } | EditOp::Undo | EditOp::Redo => None,
        _ => Some(env.whole()),
    })
}

/// Rasterises the span-shaped ops (paint, erase, polygon, threshold, clear_label,
/// merge_labels) into a [`SpanWrite`]; None for other ops.
pub fn spans_for(env: &EditEnv, op: &EditOp) -> Result<Option<SpanWrite>> {
    op.validate()?;
    let d = env.dims();
    let target_locked = |l: u8| env.require_unlocked(op, l);
    let whole_rows = |w: &mut SpanWrite| {
        for z in 0..d[2] {
            for y in 0..d[1] {
                w.push_row(y, z, &mut [(0, d[0] - 1)]);
            }
        }
    };
    Ok(Some(match op {
        EditOp::Paint(s) | EditOp::Erase(s) => {
            let paint = matches!(op, EditOp::Paint(_));
            let mut w = if paint {
                target_locked(s.label)?;
                SpanWrite::new(s.label, env.allowed_labels(s.editable), s.range)
            } else {
                let mut src = [false; 256];
                for (l, e) in src.iter_mut().enumerate().skip(1) {
                    *e = (s.label == 0 || l == usize::from(s.label)) && !env.locked[l];
                }
                SpanWrite::new(0, src, s.range)
            };
            let Some(((lo, hi), disc)) = stroke_box(env, s)? else {
                return Ok(Some(w));
            };
            let sp = env.image.grid.spacing_mm();
            let mm = |p: [f64; 3]| {
                let mut q = [p[0] * sp[0], p[1] * sp[1], p[2] * sp[2]];
                if let Some((n, _)) = disc {
                    q[n] = 0.0;
                }
                q
            };
            let pts: Vec<[f64; 3]> = s.points.iter().map(|&p| mm(p)).collect();
            // Consecutive collinear points (B on segment AC) add nothing to the union of
            // capsules: drop them.
            let mut path: Vec<[f64; 3]> = Vec::with_capacity(pts.len());
            for &p in &pts {
                if path.len() >= 2 {
                    let (a, b) = (path[path.len() - 2], path[path.len() - 1]);
                    if seg_dist2(b, a, p) <= 1e-18 * (1.0 + seg_dist2(a, a, p)) {
                        path.pop();
                    }
                }
                if path.last() != Some(&p) {
                    path.push(p);
                }
            }
            let segs: Vec<([f64; 3], [f64; 3])> = if path.len() == 1 {
                vec![(path[0], path[0])]
            } else {
                path.windows(2).map(|w| (w[0], w[1])).collect()
            };
            let r2 = s.radius_mm * s.radius_mm;
            // Row by row: for each segment the voxels of a row within the radius form one
            // run (a capsule is convex): its closest voxel and both ends are found by binary
            // search on the exact per-voxel test `dist² <= r²`; runs are merged and each
            // voxel is written once.
            let mut runs: Vec<(usize, usize)> = Vec::with_capacity(segs.len());
            for z in lo[2]..=hi[2] {
                for y in lo[1]..=hi[1] {
                    runs.clear();
                    let (ym, zm) = (
                        mm([0.0, y as f64, z as f64])[1],
                        mm([0.0, y as f64, z as f64])[2],
                    );
                    for &(a, b) in &segs {
                        // Rows outside the capsule's bounding box in y and z cannot touch it.
                        let r = s.radius_mm;
                        if ym < a[1].min(b[1]) - r
                            || ym > a[1].max(b[1]) + r
                            || zm < a[2].min(b[2]) - r
                            || zm > a[2].max(b[2]) + r
                        {
                            continue;
                        }
                        let f = |x: usize| seg_dist2(mm([x as f64, y as f64, z as f64]), a, b);
                        // Discrete argmin of a convex function: first x with f(x+1) >= f(x).
                        let (mut l, mut h) = (lo[0], hi[0]);
                        while l < h {
                            let m = l + (h - l) / 2;
                            if f(m + 1) >= f(m) {
                                h = m;
                            } else {
                                l = m + 1;
                            }
                        }
                        let near = [l, l.saturating_sub(1).max(lo[0]), (l + 1).min(hi[0])];
                        let Some(xm) = near.into_iter().find(|&x| f(x) <= r2) else {
                            continue;
                        };
                        // Left end: first x in [lo, xm] inside (f decreases toward xm).
                        let (mut l, mut h) = (lo[0], xm);
                        while l < h {
                            let m = l + (h - l) / 2;
                            if f(m) <= r2 {
                                h = m;
                            } else {
                                l = m + 1;
                            }
                        }
                        let x0 = l;
                        // Right end: last x in [xm, hi] inside.
                        let (mut l, mut h) = (xm, hi[0]);
                        while l < h {
                            let m = l + (h - l).div_ceil(2);
                            if f(m) <= r2 {
                                l = m;
                            } else {
                                h = m - 1;
                            }
                        }
                        runs.push((x0, l));
                    }
                    w.push_row(y, z, &mut runs);
                }
            }
            w
        }
        EditOp::Polygon {
            plane,
            points,
            label,
            range,
            editable,
            ..
        } => {
            target_locked(*label)?;
            let (u, v, _) = env.plane_axes(*plane)?;
            let mut w = SpanWrite::new(*label, env.allowed_labels(*editable), *range);
            let Some((lo, hi)) = op_box(env, op)? else {
                return Ok(Some(w));
            };
            let mut runs = Vec::new();
            for z in lo[2]..=hi[2] {
                for y in lo[1]..=hi[1] {
                    runs.clear();
                    let mut start: Option<usize> = None;
                    for x in lo[0]..=hi[0] {
                        let q = [x, y, z];
                        let inside = point_in_polygon(q[u] as f64, q[v] as f64, points);
                        match (inside, start) {
                            (true, None) => start = Some(x),
                            (false, Some(s0)) => {
                                runs.push((s0, x - 1));
                                start = None;
                            }
                            _ => {}
                        }
                    }
                    if let Some(s0) = start {
                        runs.push((s0, hi[0]));
                    }
                    w.push_row(y, z, &mut runs);
                }
            }
            w
        }
        EditOp::Threshold {
            range,
            label,
            roi,
            editable,
        } => {
            target_locked(*label)?;
            let (lo, hi) = match roi {
                Some(r) => {
                    if (0..3).any(|a| r[a] > r[a + 3] || r[a + 3] >= d[a]) {
                        return Err(Error::Invalid(format!(
                            "threshold: ROI {r:?} is empty or outside {d:?}"
                        )));
                    }
                    ([r[0], r[1], r[2]], [r[3], r[4], r[5]])
                }
                None => env.whole(),
            };
            let mut w = SpanWrite::new(*label, env.allowed_labels(*editable), Some(*range));
            for z in lo[2]..=hi[2] {
                for y in lo[1]..=hi[1] {
                    w.push_row(y, z, &mut [(lo[0], hi[0])]);
                }
            }
            w
        }
        EditOp::ClearLabel { label } => {
            target_locked(*label)?;
            let mut src = [false; 256];
            src[usize::from(*label)] = *label != 0;
            let mut w = SpanWrite::new(0, src, None);
            whole_rows(&mut w);
            w
        }
        EditOp::MergeLabels { from, into } => {
            target_locked(*into)?;
            let mut src = [false; 256];
            for &f in from.iter().filter(|&&f| f != *into && f != 0) {
                target_locked(f)?;
                src[usize::from(f)] = true;
            }
            let mut w = SpanWrite::new(*into, src, None);
            whole_rows(&mut w);
            w
        }
        _ => return Ok(None),
    }))
}

/// Applies `op` to `labels`; returns the number of voxels changed. Undo/redo/set_label are
/// handled by the session, not here.
pub fn apply_op_cpu(env: &EditEnv, labels: &mut [u8], op: &EditOp) -> Result<u64> {
    op.validate()?;
    let d = env.dims();
    if labels.len() != d[0] * d[1] * d[2] {
        return Err(Error::Invalid("labels do not match the image dims".into()));
    }
    let target_locked = |l: u8| env.require_unlocked(op, l);
    if let Some(w) = spans_for(env, op)? {
        return Ok(apply_spans_cpu(env.image, labels, &w));
    }
    let mut changed = 0u64;
    match op {
        EditOp::Grow {
            seeds,
            label,
            editable,
            ..
        } => {
            let p = grow_params(env, op)?;
            let mask = grow_cpu(&p, &env.image.data, seeds);
            for (l, &m) in labels.iter_mut().zip(&mask) {
                if m != 0 && *l != *label && env.allows(*l, *editable) {
                    *l = *label;
                    changed += 1;
                }
            }
        }
        EditOp::Dilate {
            label,
            radius_mm,
            editable,
        } => {
            target_locked(*label)?;
            let offsets = ball_offsets(env, *radius_mm);
            let grow_into = morph_marks(labels, d, |l| l == *label, &offsets);
            for i in grow_into {
                let cur = labels[i];
                if cur != *label && env.allows(cur, *editable) {
                    labels[i] = *label;
                    changed += 1;
                }
            }
        }
        EditOp::Erode { label, radius_mm } => {
            target_locked(*label)?;
            let offsets = ball_offsets(env, *radius_mm);
            // Voxels of `label` within the radius of a voxel of another value.
            let shrink = morph_marks(labels, d, |l| l != *label, &offsets);
            for i in shrink {
                if labels[i] == *label {
                    labels[i] = 0;
                    changed += 1;
                }
            }
        }
        EditOp::Islands {
            label,
            keep_largest,
            min_voxels,
            connectivity,
        } => {
            target_locked(*label)?;
            let conn = Connectivity::from_number(*connectivity)?;
            let comps = components(labels, d, *label, conn);
            let largest = comps.iter().map(Vec::len).max().unwrap_or(0);
            let mut kept_largest = false;
            for c in &comps {
                let keep = if *keep_largest {
                    // Ties: the first component in scan order is kept.
                    if c.len() == largest && !kept_largest {
                        kept_largest = true;
                        true
                    } else {
                        false
                    }
                } else {
                    c.len() >= min_voxels.unwrap_or(0)
                };
                if !keep {
                    for &i in c {
                        labels[i] = 0;
                        changed += 1;
                    }
                }
            }
        }
        // Span-shaped ops were handled above; set_label/undo/redo belong to the session.
        _ => {}
    }
    Ok(changed)
}

/// The region-growing params of a `grow` op (its target label checked against the locks).
pub fn grow_params(env: &EditEnv, op: &EditOp) -> Result<GrowParams> {
    let EditOp::Grow {
        seeds,
        lower,
        upper,
        connectivity,
        label,
        roi,
        ..
    } = op
    else {
        return Err(Error::Invalid("grow_params: not a grow op".into()));
    };
    env.require_unlocked(op, *label)?;
    let req = GrowRequest {
        seeds: seeds.clone(),
        lower: *lower,
        upper: *upper,
        connectivity: Connectivity::from_number(*connectivity)?,
        roi: *roi,
        label: *label,
    };
    GrowParams::new(env.dims(), env.image.dtype(), &req)
}

/// Even-odd rule on the voxel centre (x, y): crossings of a ray toward +x, half-open edges.
pub fn point_in_polygon(x: f64, y: f64, pts: &[[f64; 2]]) -> bool {
    let mut inside = false;
    let n = pts.len();
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (pts[i], pts[j]);
        if (a[1] > y) != (b[1] > y) {
            let xc = a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if x < xc {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Linear index of voxel `p + o`, or None outside the volume.
fn neighbour(d: [usize; 3], p: [i64; 3], o: [i64; 3]) -> Option<usize> {
    let q = [p[0] + o[0], p[1] + o[1], p[2] + o[2]];
    if (0..3).any(|a| q[a] < 0 || q[a] >= d[a] as i64) {
        return None;
    }
    Some(idx(d, q[0] as usize, q[1] as usize, q[2] as usize))
}

/// Voxel offsets within `radius_mm` (ellipsoid in voxels, spacing honoured), centre excluded.
pub fn ball_offsets(env: &EditEnv, radius_mm: f64) -> Vec<[i64; 3]> {
    let sp = env.image.grid.spacing_mm();
    let r = [0, 1, 2].map(|a| (radius_mm / sp[a]).floor() as i64);
    let mut out = Vec::new();
    for dz in -r[2]..=r[2] {
        for dy in -r[1]..=r[1] {
            for dx in -r[0]..=r[0] {
                let m = [dx as f64 * sp[0], dy as f64 * sp[1], dz as f64 * sp[2]];
                if (dx, dy, dz) != (0, 0, 0)
                    && m[0] * m[0] + m[1] * m[1] + m[2] * m[2] <= radius_mm * radius_mm
                {
                    out.push([dx, dy, dz]);
                }
            }
        }
    }
    out
}

/// Indices within `offsets` of a voxel satisfying `source` that do not satisfy it themselves.
fn morph_marks(
    labels: &[u8],
    d: [usize; 3],
    source: impl Fn(u8) -> bool,
    offsets: &[[i64; 3]],
) -> Vec<usize> {
    let mut mark = vec![false; labels.len()];
    for z in 0..d[2] {
        for y in 0..d[1] {
            for x in 0..d[0] {
                let i = idx(d, x, y, z);
                if !source(labels[i]) {
                    continue;
                }
                // The nearest source voxel to any non-source voxel is a boundary voxel (a
                // step toward it from an interior voxel would be closer), so only boundary
                // voxels need stamping.
                let interior = [
                    [-1i64, 0, 0],
                    [1, 0, 0],
                    [0, -1, 0],
                    [0, 1, 0],
                    [0, 0, -1],
                    [0, 0, 1],
                ]
                .iter()
                .all(|o| {
                    let (a, b, c) = (x as i64 + o[0], y as i64 + o[1], z as i64 + o[2]);
                    a < 0
                        || b < 0
                        || c < 0
                        || a >= d[0] as i64
                        || b >= d[1] as i64
                        || c >= d[2] as i64
                        || source(labels[idx(d, a as usize, b as usize, c as usize)])
                });
                if interior {
                    continue;
                }
                for o in offsets {
                    let Some(j) = neighbour(d, [x as i64, y as i64, z as i64], *o) else {
                        continue;
                    };
                    if !source(labels[j]) {
                        mark[j] = true;
                    }
                }
            }
        }
    }
    mark.iter()
        .enumerate()
        .filter(|(_, &m)| m)
        .map(|(i, _)| i)
        .collect()
}

/// Connected components of voxels equal to `label` (scan order of their first voxel).
fn components(labels: &[u8], d: [usize; 3], label: u8, conn: Connectivity) -> Vec<Vec<usize>> {
    let mut seen = vec![false; labels.len()];
    let mut out = Vec::new();
    let offs: Vec<[i64; 3]> = (-1..=1)
        .flat_map(|z| (-1..=1).flat_map(move |y| (-1..=1).map(move |x| [x, y, z])))
        .filter(|&o| conn.allows(o))
        .collect();
    for start in 0..labels.len() {
        if labels[start] != label || seen[start] {
            continue;
        }
        seen[start] = true;
        let mut comp = vec![start];
        let mut k = 0;
        while k < comp.len() {
            let i = comp[k];
            k += 1;
            let (x, y, z) = (
                (i % d[0]) as i64,
                ((i / d[0]) % d[1]) as i64,
                (i / (d[0] * d[1])) as i64,
            );
            for o in &offs {
                let Some(j) = neighbour(d, [x, y, z], *o) else {
                    continue;
                };
                if labels[j] == label && !seen[j] {
                    seen[j] = true;
                    comp.push(j);
                }
            }
        }
        out.push(comp);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Grid, Metadata, VoxelData};

    /// The row-run stroke fill equals the plain per-voxel test on random curved strokes,
    /// anisotropic spacing, spheres and discs.
    #[test]
    fn row_runs_equal_brute_force() {
        let dims = [37, 29, 23];
        let spacing = [0.7, 1.1, 1.6];
        let g = Grid::new(
            dims,
            glam::DMat4::from_diagonal(glam::DVec4::new(spacing[0], spacing[1], spacing[2], 1.0)),
        );
        let img = Volume::new(g, VoxelData::U8(vec![0; 37 * 29 * 23]), Metadata::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let env = EditEnv {
            image: &img,
            locked: [false; 256],
        };
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for case in 0..40 {
            let n = 1 + (rnd() * 6.0) as usize;
            let points: Vec<[f64; 3]> = (0..n)
                .map(|_| [rnd() * 40.0 - 2.0, rnd() * 32.0 - 2.0, rnd() * 26.0 - 2.0])
                .collect();
            let shape = if case % 3 == 0 {
                Shape::Disc
            } else {
                Shape::Sphere
            };
            let s = Stroke {
                shape,
                plane: Some([ViewKind::Axial, ViewKind::Coronal, ViewKind::Sagittal][case % 3]),
                slice: None,
                points,
                radius_mm: 0.5 + rnd() * 5.0,
                label: 1,
                range: None,
                editable: Editable::Everywhere,
            };
            let mut fast = vec![0u8; 37 * 29 * 23];
            apply_op_cpu(&env, &mut fast, &EditOp::Paint(s.clone()))
                .unwrap_or_else(|e| panic!("{e}"));
            // Brute force over the whole volume.
            let mut slow = vec![0u8; fast.len()];
            let disc = match shape {
                Shape::Disc => {
                    let (_, _, n) = env
                        .plane_axes(s.plane.unwrap_or(ViewKind::Axial))
                        .unwrap_or((0, 1, 2));
                    Some((n, s.points[0][n].round().max(0.0) as usize))
                }
                Shape::Sphere => None,
            };
            let mm = |p: [f64; 3]| {
                let mut q = [p[0] * spacing[0], p[1] * spacing[1], p[2] * spacing[2]];
                if let Some((n, _)) = disc {
                    q[n] = 0.0;
                }
                q
            };
            let pts: Vec<[f64; 3]> = s.points.iter().map(|&p| mm(p)).collect();
            for z in 0..dims[2] {
                for y in 0..dims[1] {
                    for x in 0..dims[0] {
                        let c = [x, y, z];
                        if disc.is_some_and(|(n, k)| c[n] != k) {
                            continue;
                        }
                        let q = mm([x as f64, y as f64, z as f64]);
                        let inside = if pts.len() == 1 {
                            seg_dist2(q, pts[0], pts[0]) <= s.radius_mm * s.radius_mm
                        } else {
                            pts.windows(2)
                                .any(|w| seg_dist2(q, w[0], w[1]) <= s.radius_mm * s.radius_mm)
                        };
                        if inside {
                            slow[idx(dims, x, y, z)] = 1;
                        }
                    }
                }
            }
            assert_eq!(fast, slow, "case {case}: {s:?}");
        }
    }
}
