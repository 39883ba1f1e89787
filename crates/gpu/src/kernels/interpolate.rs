//! Fill between slices: the empty slices of one label between two annotated ("key") slices
//! along a view axis are filled by shape-based interpolation of signed distance maps with
//! component correspondence and centroid alignment.
//!
//! Method (Raya & Udupa 1990's shape-based interpolation, with the correspondence step of
//! Albu et al. 2008's morphological contour interpolation):
//! 1. Key slices: slices along the normal axis `n` that hold the label. Every run of empty
//!    slices between two consecutive key slices `k0 < k1` is a gap; slices before the first and
//!    after the last key slice, and the key slices themselves, are never written.
//! 2. Correspondence: the label's 8-connected components in `k0` (A) and `k1` (B). Components
//!    that overlap correspond; a component that overlaps nothing corresponds to the nearest
//!    component of the other slice (centroid distance in mm) if that is closer than
//!    `2 (rA + rB) + gap_mm` (r: the radius of a disc of the same area) — so regions that move
//!    without overlapping still connect, ITK's known failure. Groups are the connected sets of
//!    this relation (splits and merges are one group); a component with no partner ends in a
//!    cone toward its centroid.
//! 3. Per group: `D` = the rounded in-plane displacement between the centroids of its A and B
//!    parts; signed distance maps (mm, in-plane spacing; −inside, +outside, zero half a voxel
//!    outside the boundary pixels) of A and of B on tiles that hold every sample needed. At gap
//!    step `m` of `g = k1 − k0`, A is shifted by `sA = round(m·D/g)` and B by `sB = sA − D`; a
//!    pixel `p` is inside iff `(g − m)·sdA(p − sA) ≤ −(m·sdB(p − sB))` (f32, written so no
//!    fused multiply-add can change the rounding: GPU and CPU agree bit for bit).
//! 4. Write rule: a voxel takes the label unless its current label is blocked (locked or
//!    outside the editable policy).
//!
//! The plan (steps 1–3: small per-key-slice work) is made on the host from the labels; the
//! per-voxel evaluation (step 3's test over every gap voxel, and the write) is the kernel pair:
//! [`interpolate_cpu`] and `shaders/interpolate.wgsl` ([`InterpolateKernel`]), one invocation
//! per packed texel, looping over the tasks of its slice.

use crate::residency::PackedU8Volume;
use crate::{compute, readback::submit_counted, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use voxmark_volume::error::{Error, Result};

/// Signed distance standing for "no such pixel in the tile" (far outside).
pub const FAR: f32 = 1.0e30;

/// Keep in sync with `shaders/interpolate.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct InterpolateParams {
    /// nx, ny, nz, label value.
    pub dims: [u32; 4],
    /// Normal axis n, in-plane axes u, v; number of tasks.
    pub axes: [u32; 4],
    /// First and last slice along n that tasks write; texel-box origin x, y (z is in `box_z`).
    pub slices: [u32; 4],
    /// Texel-box origin z, texel-box size x, y, z.
    pub tbox: [u32; 4],
    /// 256-bit set of labels that must not be overwritten.
    pub blocked: [u32; 8],
}
const _: () = assert!(std::mem::size_of::<InterpolateParams>() == 96);

/// One (gap step, group): the output rectangle on one slice and the two distance tiles.
/// Keep in sync with `shaders/interpolate.wgsl` (struct Task).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct InterpTask {
    /// Slice along n, unused ×3.
    pub slice: [i32; 4],
    /// Output rectangle u0, v0, u1, v1 (inclusive).
    pub rect: [i32; 4],
    /// Tile A: base u, base v (tile origin + shift: tile index = p − base), width, height.
    pub tile_a: [i32; 4],
    pub tile_b: [i32; 4],
    /// Offsets of tiles A and B in the distance buffer, weights (g − m) and m as f32 bits.
    pub tail: [u32; 4],
}
const _: () = assert!(std::mem::size_of::<InterpTask>() == 80);

impl InterpTask {
    fn weights(&self) -> (f32, f32) {
        (f32::from_bits(self.tail[2]), f32::from_bits(self.tail[3]))
    }
}

/// What the kernels evaluate: tasks sorted by slice, a per-slice (start, count) table from
/// `params.slices[0]`, and the distance tiles.
#[derive(Debug, Clone)]
pub struct InterpolatePlan {
    pub params: InterpolateParams,
    pub tasks: Vec<InterpTask>,
    pub table: Vec<[u32; 2]>,
    pub sdt: Vec<f32>,
    /// Key slices found (for messages).
    pub key_slices: Vec<usize>,
    /// Slices filled (empty slices inside gaps).
    pub gap_slices: usize,
}

/// The geometry of an interpolation request.
#[derive(Debug, Clone, Copy)]
pub struct InterpolateRequest {
    pub dims: [usize; 3],
    /// Voxel spacing in mm along i, j, k.
    pub spacing_mm: [f64; 3],
    pub label: u8,
    /// Normal (interpolation) axis and the in-plane axes.
    pub n: usize,
    pub u: usize,
    pub v: usize,
    pub blocked: [bool; 256],
}

/// One 2D component of a key slice.
struct Comp {
    bbox: [i64; 4],
    area: f64,
    sum: [f64; 2],
}

impl Comp {
    fn centroid(&self) -> [f64; 2] {
        [self.sum[0] / self.area, self.sum[1] / self.area]
    }
}

/// 8-connected components of `mask` (du × dv, u fastest): component id per pixel (0 = none).
fn components_2d(mask: &[bool], du: usize, dv: usize) -> (Vec<u32>, Vec<Comp>) {
    let mut id = vec![0u32; mask.len()];
    let mut comps = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || id[start] != 0 {
            continue;
        }
        let c = comps.len() as u32 + 1;
        let mut comp = Comp {
            bbox: [i64::MAX, i64::MAX, i64::MIN, i64::MIN],
            area: 0.0,
            sum: [0.0; 2],
        };
        id[start] = c;
        stack.push(start);
        while let Some(p) = stack.pop() {
            let (pu, pv) = ((p % du) as i64, (p / du) as i64);
            comp.bbox = [
                comp.bbox[0].min(pu),
                comp.bbox[1].min(pv),
                comp.bbox[2].max(pu),
                comp.bbox[3].max(pv),
            ];
            comp.area += 1.0;
            comp.sum[0] += pu as f64;
            comp.sum[1] += pv as f64;
            for dv_ in -1i64..=1 {
                for du_ in -1i64..=1 {
                    let (qu, qv) = (pu + du_, pv + dv_);
                    if qu < 0 || qv < 0 || qu >= du as i64 || qv >= dv as i64 {
                        continue;
                    }
                    let q = qu as usize + du * qv as usize;
                    if mask[q] && id[q] == 0 {
                        id[q] = c;
                        stack.push(q);
                    }
                }
            }
        }
        comps.push(comp);
    }
    (id, comps)
}

/// 1D squared distance transform with parabola weight `w` (Felzenszwalb & Huttenlocher 2012):
/// `out[p] = min_q f[q] + w (p − q)²`; infinite entries are not parabolas.
fn dt_1d(f: &[f64], w: f64, out: &mut [f64], v: &mut [usize], z: &mut [f64]) {
    let n = f.len();
    let mut k: usize = 0;
    let mut any = false;
    for q in 0..n {
        if !f[q].is_finite() {
            continue;
        }
        if !any {
            v[0] = q;
            z[0] = f64::NEG_INFINITY;
            z[1] = f64::INFINITY;
            any = true;
            continue;
        }
        loop {
            let r = v[k];
            let s = ((f[q] + w * (q * q) as f64) - (f[r] + w * (r * r) as f64))
                / (2.0 * w * (q as f64 - r as f64));
            if s <= z[k] && k > 0 {
                k -= 1;
                continue;
            }
            if s <= z[k] {
                // k == 0 and the new parabola dominates from −∞.
                v[0] = q;
                z[0] = f64::NEG_INFINITY;
                z[1] = f64::INFINITY;
                break;
            }
            k += 1;
            v[k] = q;
            z[k] = s;
            z[k + 1] = f64::INFINITY;
            break;
        }
    }
    if !any {
        out.iter_mut().for_each(|o| *o = f64::INFINITY);
        return;
    }
    let mut j = 0;
    for (p, o) in out.iter_mut().enumerate() {
        while z[j + 1] < p as f64 {
            j += 1;
        }
        let d = p as f64 - v[j] as f64;
        *o = w * d * d + f[v[j]];
    }
}

/// Squared Euclidean distance (mm²) from each pixel of a w × h tile to the nearest pixel where
/// `feature` is true (infinite if none).
fn edt_2d(feature: &[bool], w: usize, h: usize, su: f64, sv: f64) -> Vec<f64> {
    let mut g = vec![0.0f64; w * h];
    let n = w.max(h);
    let (mut f, mut out) = (vec![0.0; n], vec![0.0; n]);
    let (mut vv, mut zz) = (vec![0usize; n + 1], vec![0.0; n + 2]);
    for x in 0..w {
        for y in 0..h {
            f[y] = if feature[x + w * y] {
                0.0
            } else {
                f64::INFINITY
            };
        }
        dt_1d(&f[..h], sv * sv, &mut out[..h], &mut vv, &mut zz);
        for y in 0..h {
            g[x + w * y] = out[y];
        }
    }
    for y in 0..h {
        f[..w].copy_from_slice(&g[w * y..w * y + w]);
        dt_1d(&f[..w], su * su, &mut out[..w], &mut vv, &mut zz);
        g[w * y..w * y + w].copy_from_slice(&out[..w]);
    }
    g
}

/// Signed distance tile of `shape` (a predicate on slice pixels) over `rect` (u0, v0, u1, v1).
fn sdt_tile(
    rect: [i64; 4],
    su: f64,
    sv: f64,
    shape: impl Fn(i64, i64) -> bool,
    out: &mut Vec<f32>,
) {
    let (w, h) = (
        (rect[2] - rect[0] + 1) as usize,
        (rect[3] - rect[1] + 1) as usize,
    );
    let mut inside = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            inside[x + w * y] = shape(rect[0] + x as i64, rect[1] + y as i64);
        }
    }
    let outside: Vec<bool> = inside.iter().map(|&b| !b).collect();
    let to_fg = edt_2d(&inside, w, h, su, sv);
    let to_bg = edt_2d(&outside, w, h, su, sv);
    let half = 0.5 * su.min(sv);
    for i in 0..w * h {
        let d = if inside[i] {
            -(to_bg[i].sqrt() - half)
        } else {
            to_fg[i].sqrt() - half
        };
        out.push(if d.is_finite() { d as f32 } else { FAR });
    }
}

fn hull(a: [i64; 4], b: [i64; 4]) -> [i64; 4] {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

fn shifted(r: [i64; 4], s: [i64; 2]) -> [i64; 4] {
    [r[0] + s[0], r[1] + s[1], r[2] + s[0], r[3] + s[1]]
}

fn clamp_rect(r: [i64; 4], du: usize, dv: usize) -> Option<[i64; 4]> {
    let c = [
        r[0].max(0),
        r[1].max(0),
        r[2].min(du as i64 - 1),
        r[3].min(dv as i64 - 1),
    ];
    (c[0] <= c[2] && c[1] <= c[3]).then_some(c)
}

/// round(m·d/g) for integers, halves away from zero (exact).
fn round_div(num: i64, den: i64) -> i64 {
    let q = (2 * num.abs() + den) / (2 * den);
    if num < 0 {
        -q
    } else {
        q
    }
}

/// Union-find root.
fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Makes the plan from host labels (`labels`: i fastest, `req.dims`).
pub fn interpolate_plan(req: &InterpolateRequest, labels: &[u8]) -> Result<InterpolatePlan> {
    let d = req.dims;
    if labels.len() != d[0] * d[1] * d[2] {
        return Err(Error::mismatch(format!(
            "interpolate: labels hold {} voxels, dims {d:?} need {}",
            labels.len(),
            d[0] * d[1] * d[2]
        )));
    }
    let (n, u, v) = (req.n, req.u, req.v);
    let (du, dv) = (d[u], d[v]);
    let stride = [1usize, d[0], d[0] * d[1]];
    let index = |s: usize, pu: usize, pv: usize| s * stride[n] + pu * stride[u] + pv * stride[v];
    let label = req.label;
    // 1. Key slices.
    let mut present = vec![false; d[n]];
    for (i, &l) in labels.iter().enumerate() {
        if l == label {
            let c = [i % d[0], (i / d[0]) % d[1], i / (d[0] * d[1])];
            present[c[n]] = true;
        }
    }
    let key_slices: Vec<usize> = (0..d[n]).filter(|&s| present[s]).collect();
    let (su, sv) = (req.spacing_mm[u], req.spacing_mm[v]);
    let slice_mask = |s: usize| -> Vec<bool> {
        let mut m = vec![false; du * dv];
        for pv in 0..dv {
            for pu in 0..du {
                m[pu + du * pv] = labels[index(s, pu, pv)] == label;
            }
        }
        m
    };
    let mut tasks = Vec::new();
    let mut sdt: Vec<f32> = Vec::new();
    let mut gap_slices = 0;
    // The previous pair's second key slice: (slice, mask, component ids, components).
    type KeySlice = (usize, Vec<bool>, Vec<u32>, Vec<Comp>);
    let mut cache: Option<KeySlice> = None;
    for pair in key_slices.windows(2) {
        let (k0, k1) = (pair[0], pair[1]);
        let g = (k1 - k0) as i64;
        let (mask_a, id_a, comps_a) = match cache.take() {
            Some((s, m, id, c)) if s == k0 => (m, id, c),
            _ => {
                let m = slice_mask(k0);
                let (id, c) = components_2d(&m, du, dv);
                (m, id, c)
            }
        };
        let mask_b = slice_mask(k1);
        let (id_b, comps_b) = components_2d(&mask_b, du, dv);
        if g >= 2 {
            gap_slices += (g - 1) as usize;
            let na = comps_a.len();
            let nodes = na + comps_b.len();
            let mut parent: Vec<usize> = (0..nodes).collect();
            let mut matched = vec![false; nodes];
            for p in 0..du * dv {
                if id_a[p] != 0 && id_b[p] != 0 {
                    let (a, b) = (id_a[p] as usize - 1, na + id_b[p] as usize - 1);
                    matched[a] = true;
                    matched[b] = true;
                    let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                    parent[ra.max(rb)] = ra.min(rb);
                }
            }
            let gap_mm = g as f64 * req.spacing_mm[n];
            let radius = |c: &Comp| (c.area * su * sv / std::f64::consts::PI).sqrt();
            let dist = |a: &Comp, b: &Comp| {
                let (ca, cb) = (a.centroid(), b.centroid());
                ((ca[0] - cb[0]) * su).hypot((ca[1] - cb[1]) * sv)
            };
            for node in 0..nodes {
                if matched[node] {
                    continue;
                }
                let (me, others, base) = if node < na {
                    (&comps_a[node], &comps_b, na)
                } else {
                    (&comps_b[node - na], &comps_a, 0)
                };
                let best = others
                    .iter()
                    .enumerate()
                    .map(|(j, o)| (dist(me, o), j))
                    .filter(|&(dd, j)| dd <= 2.0 * (radius(me) + radius(&others[j])) + gap_mm)
                    .min_by(|x, y| x.0.total_cmp(&y.0));
                if let Some((_, j)) = best {
                    let (ra, rb) = (find(&mut parent, node), find(&mut parent, base + j));
                    parent[ra.max(rb)] = ra.min(rb);
                }
            }
            // Groups in order of their smallest node (deterministic).
            let mut group_of_root = vec![usize::MAX; nodes];
            let mut groups = 0;
            let group_of: Vec<usize> = (0..nodes)
                .map(|node| {
                    let r = find(&mut parent, node);
                    if group_of_root[r] == usize::MAX {
                        group_of_root[r] = groups;
                        groups += 1;
                    }
                    group_of_root[r]
                })
                .collect();
            let mut members = vec![(Vec::new(), Vec::new()); groups];
            for (node, &gi) in group_of.iter().enumerate() {
                if node < na {
                    members[gi].0.push(node);
                } else {
                    members[gi].1.push(node - na);
                }
            }
            for (gi, (ma, mb)) in members.iter().enumerate() {
                let summary = |ids: &[usize], comps: &[Comp]| -> Option<([i64; 4], [f64; 2])> {
                    let mut bbox = [i64::MAX, i64::MAX, i64::MIN, i64::MIN];
                    let (mut area, mut sum) = (0.0, [0.0, 0.0]);
                    for &i in ids {
                        let c = &comps[i];
                        bbox = hull(bbox, c.bbox);
                        area += c.area;
                        sum = [sum[0] + c.sum[0], sum[1] + c.sum[1]];
                    }
                    (area > 0.0).then(|| (bbox, [sum[0] / area, sum[1] / area]))
                };
                let sa = summary(ma, &comps_a);
                let sb = summary(mb, &comps_b);
                // A side without components is the other side's centroid pixel.
                let point = |c: [f64; 2]| -> ([i64; 4], [f64; 2]) {
                    let (pu, pv) = (c[0].round() as i64, c[1].round() as i64);
                    ([pu, pv, pu, pv], [pu as f64, pv as f64])
                };
                let (box_a, cen_a, point_a) = match (sa, sb) {
                    (Some((b, c)), _) => (b, c, false),
                    (None, Some((_, c))) => {
                        let (b, c) = point(c);
                        (b, c, true)
                    }
                    (None, None) => continue,
                };
                let (box_b, cen_b, point_b) = match sb {
                    Some((b, c)) => (b, c, false),
                    None => {
                        let (b, c) = point(cen_a);
                        (b, c, true)
                    }
                };
                let dd = [
                    (cen_b[0] - cen_a[0]).round() as i64,
                    (cen_b[1] - cen_a[1]).round() as i64,
                ];
                let pad = |r: [i64; 4]| [r[0] - 1, r[1] - 1, r[2] + 1, r[3] + 1];
                let Some(tile_a) =
                    clamp_rect(pad(hull(box_a, shifted(box_b, [-dd[0], -dd[1]]))), du, dv)
                else {
                    continue;
                };
                let Some(tile_b) = clamp_rect(pad(hull(box_b, shifted(box_a, dd))), du, dv) else {
                    continue;
                };
                let off_a = sdt.len() as u32;
                let in_a = |pu: i64, pv: i64| {
                    if point_a {
                        pu == box_a[0] && pv == box_a[1]
                    } else {
                        let p = pu as usize + du * pv as usize;
                        mask_a[p] && group_of[id_a[p] as usize - 1] == gi
                    }
                };
                sdt_tile(tile_a, su, sv, in_a, &mut sdt);
                let off_b = sdt.len() as u32;
                let in_b = |pu: i64, pv: i64| {
                    if point_b {
                        pu == box_b[0] && pv == box_b[1]
                    } else {
                        let p = pu as usize + du * pv as usize;
                        mask_b[p] && group_of[na + id_b[p] as usize - 1] == gi
                    }
                };
                sdt_tile(tile_b, su, sv, in_b, &mut sdt);
                for m in 1..g {
                    let s_a = [round_div(m * dd[0], g), round_div(m * dd[1], g)];
                    let s_b = [s_a[0] - dd[0], s_a[1] - dd[1]];
                    let Some(rect) =
                        clamp_rect(hull(shifted(box_a, s_a), shifted(box_b, s_b)), du, dv)
                    else {
                        continue;
                    };
                    let tile = |t: [i64; 4], s: [i64; 2]| {
                        [
                            (t[0] + s[0]) as i32,
                            (t[1] + s[1]) as i32,
                            (t[2] - t[0] + 1) as i32,
                            (t[3] - t[1] + 1) as i32,
                        ]
                    };
                    tasks.push(InterpTask {
                        slice: [(k0 as i64 + m) as i32, 0, 0, 0],
                        rect: rect.map(|x| x as i32),
                        tile_a: tile(tile_a, s_a),
                        tile_b: tile(tile_b, s_b),
                        tail: [
                            off_a,
                            off_b,
                            ((g - m) as f32).to_bits(),
                            (m as f32).to_bits(),
                        ],
                    });
                }
            }
        }
        cache = Some((k1, mask_b, id_b, comps_b));
    }
    // Slice order (stable: groups keep their order within a slice) for the per-slice table.
    tasks.sort_by_key(|t| t.slice[0]);
    let (lo, hi) = match (tasks.first(), tasks.last()) {
        (Some(a), Some(b)) => (a.slice[0] as usize, b.slice[0] as usize),
        _ => (0, 0),
    };
    let mut table = vec![[0u32; 2]; if tasks.is_empty() { 0 } else { hi - lo + 1 }];
    for (i, t) in tasks.iter().enumerate() {
        let e = &mut table[t.slice[0] as usize - lo];
        if e[1] == 0 {
            e[0] = i as u32;
        }
        e[1] += 1;
    }
    // The texel box the kernel covers: slices lo..=hi along n, everything else whole.
    let mut box_lo = [0usize; 3];
    let mut box_hi = [d[0].div_ceil(4), d[1], d[2]];
    if !tasks.is_empty() {
        if n == 0 {
            box_lo[0] = lo / 4;
            box_hi[0] = hi / 4 + 1;
        } else {
            box_lo[n] = lo;
            box_hi[n] = hi + 1;
        }
    }
    let params = InterpolateParams {
        dims: [d[0] as u32, d[1] as u32, d[2] as u32, u32::from(label)],
        axes: [n as u32, u as u32, v as u32, tasks.len() as u32],
        slices: [lo as u32, hi as u32, box_lo[0] as u32, box_lo[1] as u32],
        tbox: [
            box_lo[2] as u32,
            (box_hi[0] - box_lo[0]) as u32,
            (box_hi[1] - box_lo[1]) as u32,
            (box_hi[2] - box_lo[2]) as u32,
        ],
        blocked: super::label_bits(&req.blocked),
    };
    Ok(InterpolatePlan {
        params,
        tasks,
        table,
        sdt,
        key_slices,
        gap_slices,
    })
}

fn tile_value(sdt: &[f32], tile: [i32; 4], off: u32, pu: i32, pv: i32) -> f32 {
    let (qu, qv) = (pu - tile[0], pv - tile[1]);
    if qu < 0 || qv < 0 || qu >= tile[2] || qv >= tile[3] {
        return FAR;
    }
    sdt[off as usize + qu as usize + tile[2] as usize * qv as usize]
}

/// Whether pixel (pu, pv) of the task's slice is inside the interpolated shape.
pub fn task_inside(plan: &InterpolatePlan, t: &InterpTask, pu: i32, pv: i32) -> bool {
    let a = tile_value(&plan.sdt, t.tile_a, t.tail[0], pu, pv);
    let b = tile_value(&plan.sdt, t.tile_b, t.tail[1], pu, pv);
    let (wa, wb) = t.weights();
    wa * a <= -(wb * b)
}

/// CPU twin: evaluates the plan and writes the label; returns the voxels changed.
pub fn interpolate_cpu(plan: &InterpolatePlan, labels: &mut [u8]) -> u64 {
    let p = &plan.params;
    let d = [p.dims[0] as usize, p.dims[1] as usize, p.dims[2] as usize];
    let (n, u, v) = (p.axes[0] as usize, p.axes[1] as usize, p.axes[2] as usize);
    let value = p.dims[3] as u8;
    let blocked = |l: u8| p.blocked[usize::from(l) / 32] & (1 << (l % 32)) != 0;
    let stride = [1usize, d[0], d[0] * d[1]];
    let mut changed = 0;
    for t in &plan.tasks {
        for pv in t.rect[1]..=t.rect[3] {
            for pu in t.rect[0]..=t.rect[2] {
                let i = t.slice[0] as usize * stride[n]
                    + pu as usize * stride[u]
                    + pv as usize * stride[v];
                let cur = labels[i];
                if cur == value || blocked(cur) {
                    continue;
                }
                if task_inside(plan, t, pu, pv) {
                    labels[i] = value;
                    changed += 1;
                }
            }
        }
    }
    changed
}

/// GPU kernel.
pub struct InterpolateKernel {
    pipeline: wgpu::ComputePipeline,
}

impl InterpolateKernel {
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        let src = shaders::prepare(shaders::INTERPOLATE, "u32");
        Ok(Self {
            pipeline: super::compute_pipeline(ctx, "interpolate", &src)?,
        })
    }

    /// Evaluates `plan` on the resident `labels` and returns the voxels changed.
    pub fn run(
        &self,
        ctx: &GpuContext,
        plan: &InterpolatePlan,
        labels: &PackedU8Volume,
    ) -> Result<u64> {
        let p = &plan.params;
        if plan.tasks.is_empty() {
            return Ok(0);
        }
        if labels.dims != [p.dims[0], p.dims[1], p.dims[2]] {
            return Err(Error::Mismatch(
                "interpolate: plan and labels differ in dims".into(),
            ));
        }
        let limit = ctx.device.limits().max_storage_buffer_binding_size;
        let sdt_bytes = (plan.sdt.len() * 4) as u64;
        let task_bytes = (plan.tasks.len() * std::mem::size_of::<InterpTask>()) as u64;
        if sdt_bytes > limit || task_bytes > limit {
            return Err(Error::Gpu(format!(
                "interpolate: {sdt_bytes} bytes of distance tiles exceed the adapter's \
                 storage-binding limit of {limit}"
            )));
        }
        submit_counted(ctx, |enc| {
            ctx.scoped("interpolate", || {
                let uniform = compute::uniform(ctx, "interpolate params", p);
                let none = wgpu::BufferUsages::empty();
                let tasks =
                    compute::storage(ctx, "interp tasks", bytemuck::cast_slice(&plan.tasks), none);
                let table =
                    compute::storage(ctx, "interp table", bytemuck::cast_slice(&plan.table), none);
                let sdt =
                    compute::storage(ctx, "interp sdt", bytemuck::cast_slice(&plan.sdt), none);
                let counter =
                    compute::storage(ctx, "interp count", &[0u8; 4], wgpu::BufferUsages::COPY_SRC);
                let bind = compute::bind_group(
                    ctx,
                    &self.pipeline,
                    "interpolate",
                    &[
                        uniform.as_entire_binding(),
                        tasks.as_entire_binding(),
                        table.as_entire_binding(),
                        sdt.as_entire_binding(),
                        wgpu::BindingResource::TextureView(&labels.view),
                        counter.as_entire_binding(),
                    ],
                );
                let groups = [
                    p.tbox[1].div_ceil(8),
                    p.tbox[2].div_ceil(8),
                    p.tbox[3].div_ceil(4),
                ];
                compute::encode_pass(enc, &self.pipeline, &bind, "interpolate", groups);
                Some(counter)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edt_matches_brute_force() {
        let (w, h) = (13, 9);
        let feature: Vec<bool> = (0..w * h).map(|i| (i * 7919) % 11 == 0).collect();
        let got = edt_2d(&feature, w, h, 0.7, 1.3);
        for y in 0..h {
            for x in 0..w {
                let mut best = f64::INFINITY;
                for (q, _) in feature.iter().enumerate().filter(|(_, &f)| f) {
                    {
                        let (dx, dy) = (
                            (x as f64 - (q % w) as f64) * 0.7,
                            (y as f64 - (q / w) as f64) * 1.3,
                        );
                        best = best.min(dx * dx + dy * dy);
                    }
                }
                assert!((got[x + w * y] - best).abs() < 1e-9, "({x},{y})");
            }
        }
        assert!(edt_2d(&[false; 6], 3, 2, 1.0, 1.0)
            .iter()
            .all(|d| d.is_infinite()));
    }

    fn ball(dims: [usize; 3], c: [f64; 3], r: f64) -> Vec<u8> {
        let mut out = vec![0u8; dims[0] * dims[1] * dims[2]];
        for z in 0..dims[2] {
            for y in 0..dims[1] {
                for x in 0..dims[0] {
                    let q = [x as f64 - c[0], y as f64 - c[1], z as f64 - c[2]];
                    if q[0] * q[0] + q[1] * q[1] + q[2] * q[2] <= r * r {
                        out[x + dims[0] * (y + dims[1] * z)] = 1;
                    }
                }
            }
        }
        out
    }

    fn request(dims: [usize; 3]) -> InterpolateRequest {
        InterpolateRequest {
            dims,
            spacing_mm: [1.0; 3],
            label: 1,
            n: 2,
            u: 0,
            v: 1,
            blocked: [false; 256],
        }
    }

    #[test]
    fn fills_only_gaps_and_keeps_key_slices() {
        let dims = [24, 24, 24];
        let truth = ball(dims, [11.5, 11.0, 12.0], 9.0);
        let mut keyed = vec![0u8; truth.len()];
        let plane = dims[0] * dims[1];
        for z in (4..=20).step_by(4) {
            keyed[z * plane..(z + 1) * plane].copy_from_slice(&truth[z * plane..(z + 1) * plane]);
        }
        let plan = interpolate_plan(&request(dims), &keyed).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.key_slices, vec![4, 8, 12, 16, 20]);
        assert_eq!(plan.gap_slices, 12);
        let mut out = keyed.clone();
        let changed = interpolate_cpu(&plan, &mut out);
        assert!(changed > 0);
        for z in 0..dims[2] {
            let s = z * plane..(z + 1) * plane;
            if z % 4 == 0 || !(4..=20).contains(&z) {
                assert_eq!(out[s.clone()], keyed[s], "slice {z} must not change");
            }
        }
        // Inside the keyed range the fill is close to the sphere.
        let range = 4 * plane..21 * plane;
        let (mut inter, mut a, mut b) = (0, 0, 0);
        for i in range {
            a += u64::from(out[i]);
            b += u64::from(truth[i]);
            inter += u64::from(out[i] & truth[i]);
        }
        let dice = 2.0 * inter as f64 / (a + b) as f64;
        assert!(dice > 0.95, "dice {dice}");
    }

    #[test]
    fn non_overlapping_moving_blob_connects() {
        // A disc at x = 5 on slice 2 and at x = 20 on slice 12: every slice between gets one.
        let dims = [28, 12, 16];
        let plane = dims[0] * dims[1];
        let mut keyed = vec![0u8; dims[0] * dims[1] * dims[2]];
        for (z, cx) in [(2usize, 5.0f64), (12, 20.0)] {
            for y in 0..dims[1] {
                for x in 0..dims[0] {
                    if (x as f64 - cx).hypot(y as f64 - 6.0) <= 3.0 {
                        keyed[z * plane + x + dims[0] * y] = 1;
                    }
                }
            }
        }
        let plan = interpolate_plan(&request(dims), &keyed).unwrap_or_else(|e| panic!("{e}"));
        let mut out = keyed.clone();
        interpolate_cpu(&plan, &mut out);
        for z in 3..12 {
            let s = &out[z * plane..(z + 1) * plane];
            let count = s.iter().filter(|&&l| l == 1).count();
            assert!((20..=40).contains(&count), "slice {z}: {count} voxels");
            let cx: f64 = s
                .iter()
                .enumerate()
                .filter(|(_, &l)| l == 1)
                .map(|(i, _)| (i % dims[0]) as f64)
                .sum::<f64>()
                / count as f64;
            let expect = 5.0 + 15.0 * (z - 2) as f64 / 10.0;
            assert!(
                (cx - expect).abs() <= 1.0,
                "slice {z}: centre {cx}, expected {expect}"
            );
        }
    }

    #[test]
    fn blocked_labels_are_kept() {
        let dims = [16, 16, 9];
        let truth = ball(dims, [8.0, 8.0, 4.0], 6.0);
        let plane = dims[0] * dims[1];
        let mut keyed = vec![0u8; truth.len()];
        for z in [1usize, 7] {
            keyed[z * plane..(z + 1) * plane].copy_from_slice(&truth[z * plane..(z + 1) * plane]);
        }
        keyed[4 * plane + 8 + 16 * 8] = 5;
        let mut req = request(dims);
        req.blocked[5] = true;
        let plan = interpolate_plan(&req, &keyed).unwrap_or_else(|e| panic!("{e}"));
        let mut out = keyed.clone();
        interpolate_cpu(&plan, &mut out);
        assert_eq!(out[4 * plane + 8 + 16 * 8], 5);
        assert_eq!(out[4 * plane + 7 + 16 * 8], 1);
    }
}
