//! Grow from seeds (Fast GrowCut, Zhu et al. 2014 — the algorithm of ITK's `FastGrowCut` and
//! 3D Slicer's "Grow from seeds"): every unlabelled voxel of a region of interest takes the
//! label of the seed that reaches it along the cheapest 26-connected path, a step from `q` to
//! `p` costing `|I(p) − I(q)|` (f32, image units).
//!
//! Voxels of the ROI are seeds (their label is one of the seed labels: the structures and the
//! background), free (label 0: they receive a label), or walls (any other label, or a locked
//! one: never crossed, never changed). Ties are broken deterministically: a voxel's state is
//! the lexicographically smallest (distance, label) over all paths, so on equal cost the
//! smaller label wins. That state is the unique least fixed point of the relaxation
//! `state(p) = min(state(p), min_q (dist(q) + |I(p) − I(q)|, label(q)))`, which is what both
//! twins compute:
//! - [`GrowCutState::solve_cpu`]: Dijkstra with a radix heap on (distance bits, label) — the
//!   keys Dijkstra pops never decrease, and non-negative f32 order as their bits do;
//! - the GPU kernel (`shaders/grow_cut.wgsl`, [`GrowCutKernel`]): block-local Bellman-Ford —
//!   each workgroup loads an 8×8×4 tile and its halo into workgroup memory and relaxes it to
//!   a local fixed point, passes ping-pong between two state buffers until a batch of passes
//!   changes nothing. f32 additions of non-negative terms are correctly rounded and monotone
//!   on both, so both reach the same fixed point bit for bit (tests).
//!
//! Incremental update (as Slicer's "Grow from seeds" does after each stroke): when the new
//! seeds only add to the old ones (every old seed still a seed of the same label, walls and
//! ROI unchanged), the previous distances are a valid starting point and only the new seeds
//! propagate; the result equals a full recompute exactly (the least fixed point of the larger
//! seed set). Any other change recomputes from scratch.
//!
//! Differences from ITK's `FastGrowCut` (explained in tests/interop/test_grow_cut.py): ITK
//! starts seeds at 1e-3 instead of 0, lets voxels on the volume's faces receive but not pass
//! on labels, breaks ties by heap order, and works on the whole volume (no ROI).

use crate::{compute, readback, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::{DType, Volume};

/// What a voxel of the ROI is.
pub const FREE: u8 = 0;
pub const SEED: u8 = 1;
pub const WALL: u8 = 2;

/// A grow-cut request, resolved against the labels when it runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrowCutRequest {
    pub dims: [usize; 3],
    /// Inclusive voxel box; None: the seeds' bounding box plus a margin.
    pub roi: Option<[usize; 6]>,
    /// The seed labels: the structures and the background.
    pub seeds: [bool; 256],
    pub background: u8,
    /// Locked labels (walls).
    pub locked: [bool; 256],
}

impl GrowCutRequest {
    fn kind(&self, l: u8) -> u8 {
        if l != 0 && self.seeds[usize::from(l)] {
            SEED
        } else if l == 0 && !self.locked[0] {
            FREE
        } else {
            WALL
        }
    }

    /// The bounding box (inclusive) of the seed voxels, if any.
    pub fn seed_box(&self, labels: &[u8]) -> Option<([usize; 3], [usize; 3])> {
        let d = self.dims;
        let mut lo = d;
        let mut hi = [0usize; 3];
        let mut any = false;
        for (i, &l) in labels.iter().enumerate() {
            if l != 0 && self.seeds[usize::from(l)] {
                let c = [i % d[0], (i / d[0]) % d[1], i / (d[0] * d[1])];
                for a in 0..3 {
                    lo[a] = lo[a].min(c[a]);
                    hi[a] = hi[a].max(c[a]);
                }
                any = true;
            }
        }
        any.then_some((lo, hi))
    }

    /// The ROI: as given (checked), or the bounding box of the seed voxels grown by 10 % of
    /// its extent (at least 5 voxels) per side, clipped to the volume. Returns (lo, size).
    pub fn resolve_roi(&self, labels: &[u8]) -> Result<([usize; 3], [usize; 3])> {
        let d = self.dims;
        if let Some(r) = self.roi {
            if (0..3).any(|a| r[a] > r[a + 3] || r[a + 3] >= d[a]) {
                return Err(Error::invalid(format!(
                    "grow_cut: ROI {r:?} is empty or outside the volume {d:?}"
                )));
            }
            return Ok((
                [r[0], r[1], r[2]],
                [r[3] - r[0] + 1, r[4] - r[1] + 1, r[5] - r[2] + 1],
            ));
        }
        let Some((mut lo, mut hi)) = self.seed_box(labels) else {
            return Err(Error::invalid(
                "grow_cut: no seeds — paint strokes of at least two of the listed labels \
                 (a structure and the background) first",
            ));
        };
        let mut size = [0; 3];
        for a in 0..3 {
            let m = ((hi[a] - lo[a] + 1) / 10).max(5);
            lo[a] = lo[a].saturating_sub(m);
            hi[a] = (hi[a] + m).min(d[a] - 1);
            size[a] = hi[a] - lo[a] + 1;
        }
        Ok((lo, size))
    }
}

/// "Not reached" cost.
pub const INF: u32 = u32::MAX;

/// Image values in cost units: integer images exactly (offset by their minimum), float images
/// and integer ones spanning more than 2^24 on 65,536 levels of their range.
pub fn cost_units(image: &Volume) -> impl Fn(usize) -> u32 + '_ {
    let (lo, hi) = image.data.min_max();
    let exact = image.dtype() != DType::F32 && hi - lo <= f64::from(1u32 << 24);
    let scale = if exact || hi <= lo {
        1.0
    } else {
        65535.0 / (hi - lo)
    };
    move |i| ((image.data.get_f64(i) - lo) * scale).round() as u32
}

/// The cost of reaching a neighbour of value `b` from a voxel of value `a` at cost `cost`
/// (saturating below INF).
pub fn step(cost: u32, a: u32, b: u32) -> u32 {
    cost.saturating_add(a.abs_diff(b)).min(INF - 1)
}

/// Monotone priority queue on u64 keys (a radix heap: keys pushed are never below the last
/// key popped, which Dijkstra guarantees).
struct RadixHeap {
    buckets: Vec<Vec<(u64, u32)>>,
    last: u64,
    len: usize,
}

impl RadixHeap {
    fn new() -> Self {
        Self {
            buckets: (0..65).map(|_| Vec::new()).collect(),
            last: 0,
            len: 0,
        }
    }

    fn bucket(&self, k: u64) -> usize {
        (64 - (k ^ self.last).leading_zeros()) as usize
    }

    fn push(&mut self, k: u64, v: u32) {
        let b = self.bucket(k);
        self.buckets[b].push((k, v));
        self.len += 1;
    }

    fn pop(&mut self) -> Option<(u64, u32)> {
        if self.len == 0 {
            return None;
        }
        if self.buckets[0].is_empty() {
            let i = self.buckets.iter().position(|b| !b.is_empty())?;
            let items = std::mem::take(&mut self.buckets[i]);
            self.last = items.iter().map(|x| x.0).min()?;
            for (k, v) in items {
                let b = self.bucket(k);
                self.buckets[b].push((k, v));
            }
        }
        self.len -= 1;
        self.buckets[0].pop()
    }
}

/// A priority queue whose pops come out in nondecreasing cost (what Dijkstra needs).
trait MonoQueue {
    fn push(&mut self, cost: u32, v: u32);
    fn pop(&mut self) -> Option<(u32, u32)>;
}

impl MonoQueue for RadixHeap {
    fn push(&mut self, cost: u32, v: u32) {
        RadixHeap::push(self, u64::from(cost), v);
    }
    fn pop(&mut self) -> Option<(u32, u32)> {
        RadixHeap::pop(self).map(|(k, v)| (k as u32, v))
    }
}

impl MonoQueue for BucketQueue {
    fn push(&mut self, cost: u32, v: u32) {
        BucketQueue::push(self, cost, v);
    }
    fn pop(&mut self) -> Option<(u32, u32)> {
        BucketQueue::pop(self)
    }
}

/// The ROI's state: cost, label and kind per voxel (i fastest within the ROI).
#[derive(Debug, Clone, PartialEq)]
pub struct GrowCutState {
    pub lo: [usize; 3],
    pub size: [usize; 3],
    /// Path cost (INF: not reached).
    pub dist: Vec<u32>,
    /// Seeds: their label; free voxels: the label they take (0: not reached).
    pub lab: Vec<u8>,
    pub kind: Vec<u8>,
    /// Image values of the ROI in cost units ([`cost_units`]).
    pub values: Vec<u32>,
}

/// One voxel of the padded grid: its cost and its value with its kind in bits 25..27 (values
/// are below 2^25), so a neighbour test reads 8 bytes.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Cell {
    dist: u32,
    vk: u32,
}

impl Cell {
    fn kind(self) -> u8 {
        (self.vk >> 25) as u8
    }
    fn value(self) -> u32 {
        self.vk & ((1 << 25) - 1)
    }
}

/// A ROI state in a wall-bordered grid (see [`GrowCutState::padded`]).
struct Padded {
    cells: Vec<Cell>,
    lab: Vec<u8>,
    offsets: Vec<isize>,
}

/// Dijkstra's queue: a bucket queue on integer costs (Dial's algorithm; steps are at most
/// `max_step`, so `max_step + 1` circular buckets hold every pending cost), O(1) per push and
/// pop. Stale entries are skipped by the caller.
struct BucketQueue {
    buckets: Vec<Vec<u32>>,
    cur: u64,
    len: usize,
}

impl BucketQueue {
    fn new(max_step: u32) -> Self {
        Self {
            buckets: (0..=max_step as usize).map(|_| Vec::new()).collect(),
            cur: 0,
            len: 0,
        }
    }

    fn push(&mut self, cost: u32, v: u32) {
        let n = self.buckets.len() as u64;
        self.buckets[(u64::from(cost) % n) as usize].push(v);
        self.len += 1;
    }

    /// The next (cost, voxel): costs come out in increasing order.
    fn pop(&mut self) -> Option<(u32, u32)> {
        if self.len == 0 {
            return None;
        }
        let n = self.buckets.len() as u64;
        loop {
            if let Some(v) = self.buckets[(self.cur % n) as usize].pop() {
                self.len -= 1;
                return Some((self.cur as u32, v));
            }
            self.cur += 1;
        }
    }
}

impl Padded {
    /// pd(p): the smallest cost of a neighbour on a cheapest path into free voxel p (INF when
    /// p is unreached or has none).
    fn pred_cost(&self, p: usize) -> u32 {
        let c = self.cells[p];
        if c.dist == INF {
            return INF;
        }
        let vp = c.value();
        let mut best = INF;
        for &o in &self.offsets {
            let q = self.cells[p.wrapping_add_signed(o)];
            if q.kind() != WALL && q.dist < best && step(q.dist, q.value(), vp) == c.dist {
                best = q.dist;
            }
        }
        best
    }

    /// Whether `q` is one of free voxel `p`'s cheapest predecessors (pd(p) given).
    fn is_pred(&self, q: usize, p: usize, pd_p: u32) -> bool {
        let (cq, cp) = (self.cells[q], self.cells[p]);
        cq.kind() != WALL && cq.dist == pd_p && step(cq.dist, cq.value(), cp.value()) == cp.dist
    }

    /// Labels after an incremental cost update, equal to a full solve's labels ([`Self::solve_labelled`]) but touching
    /// only what can change: the voxels whose cost fell (`lowered`), their free neighbours
    /// (their cheapest predecessors may have changed), and everything downstream of those
    /// along predecessor edges. That set I is unlabelled and reclaimed, label by label
    /// ascending, from its seeds and from the labelled voxels just outside it that are
    /// predecessors of voxels in it (their labels cannot change).
    fn relabel(&mut self, lowered: &[u32]) {
        let n = self.cells.len();
        const UNKNOWN: u32 = INF - 1;
        let mut pd = vec![UNKNOWN; n];
        let mut in_set = vec![false; n];
        let mut set: Vec<u32> = Vec::new();
        let add = |p: usize, set: &mut Vec<u32>, in_set: &mut [bool]| {
            if !in_set[p] {
                in_set[p] = true;
                set.push(p as u32);
            }
        };
        for &q in lowered {
            let q = q as usize;
            add(q, &mut set, &mut in_set);
            for &o in &self.offsets {
                let p = q.wrapping_add_signed(o);
                if self.cells[p].kind() == FREE {
                    add(p, &mut set, &mut in_set);
                }
            }
        }
        // Downstream closure along predecessor edges.
        let mut head = 0;
        while head < set.len() {
            let q = set[head] as usize;
            head += 1;
            for &o in &self.offsets {
                let p = q.wrapping_add_signed(o);
                if in_set[p] || self.cells[p].kind() != FREE {
                    continue;
                }
                if pd[p] == UNKNOWN {
                    pd[p] = self.pred_cost(p);
                }
                if self.is_pred(q, p, pd[p]) {
                    add(p, &mut set, &mut in_set);
                }
            }
        }
        // Unlabel the set; sources: its seeds and the labelled predecessors just outside it.
        let mut sources: Vec<(u8, u32)> = Vec::new();
        for &p in &set {
            let p = p as usize;
            match self.cells[p].kind() {
                SEED => sources.push((self.lab[p], p as u32)),
                FREE => {
                    self.lab[p] = 0;
                    if pd[p] == UNKNOWN {
                        pd[p] = self.pred_cost(p);
                    }
                    for &o in &self.offsets {
                        let q = p.wrapping_add_signed(o);
                        if !in_set[q] && self.lab[q] != 0 && self.is_pred(q, p, pd[p]) {
                            sources.push((self.lab[q], q as u32));
                        }
                    }
                }
                _ => {}
            }
        }
        sources.sort_unstable();
        sources.dedup();
        let mut queue: Vec<u32> = Vec::new();
        let mut k = 0;
        while k < sources.len() {
            let l = sources[k].0;
            queue.clear();
            while k < sources.len() && sources[k].0 == l {
                queue.push(sources[k].1);
                k += 1;
            }
            let mut head = 0;
            while head < queue.len() {
                let q = queue[head] as usize;
                head += 1;
                for &o in &self.offsets {
                    let p = q.wrapping_add_signed(o);
                    if in_set[p]
                        && self.cells[p].kind() == FREE
                        && self.lab[p] == 0
                        && self.is_pred(q, p, pd[p])
                    {
                        self.lab[p] = l;
                        queue.push(p as u32);
                    }
                }
            }
        }
    }
}

impl Padded {
    /// A full solve in one pass: Dijkstra from the queued seeds, each free voxel labelled when
    /// it is settled. The labels: a free voxel `p` at cost d(p) takes its label from the
    /// neighbours `q` on a cheapest path into it (d(q) + step = d(p)) that are themselves
    /// cheapest (smallest d(q)) — the neighbour Dijkstra settles first, whose relaxation ITK's
    /// FastGrowCut keeps — and among those the smallest label, recursively to the seeds:
    /// label(p) = the smallest seed label over all such predecessor paths. Predecessors below
    /// d(p) are settled and labelled when `p` is, so the rule reads them while relaxing the
    /// same 26 neighbours (once, in cache); a voxel whose only predecessors share its cost (a
    /// plateau: equal values, zero steps) waits until its cost is done
    /// ([`Self::resolve_plateau`]).
    fn solve_labelled(&mut self, queue: &mut impl MonoQueue) {
        let mut deferred: Vec<u32> = Vec::new();
        let mut cost = 0;
        while let Some((d0, i)) = queue.pop() {
            if d0 != cost {
                if !deferred.is_empty() {
                    self.resolve_plateau(cost, &mut deferred);
                }
                cost = d0;
            }
            let i = i as usize;
            let c = self.cells[i];
            if c.dist != d0 {
                continue; // stale entry
            }
            let v0 = c.value();
            let free = c.kind() == FREE;
            let (mut best, mut best_lab) = (INF, 0u8);
            for &o in &self.offsets {
                let q = i.wrapping_add_signed(o);
                let n = self.cells[q];
                match n.kind() {
                    WALL => continue,
                    FREE => {
                        let nd = step(d0, v0, n.value());
                        if nd < n.dist {
                            self.cells[q].dist = nd;
                            queue.push(nd, q as u32);
                        }
                    }
                    _ => {}
                }
                // n as it was before the relaxation (which only lowers costs to ≥ d0).
                if free && n.dist < d0 && step(n.dist, n.value(), v0) == d0 {
                    let l = self.lab[q];
                    if n.dist < best || (n.dist == best && l < best_lab) {
                        best = n.dist;
                        best_lab = l;
                    }
                }
            }
            if free {
                if best < d0 {
                    self.lab[i] = best_lab;
                } else {
                    deferred.push(i as u32);
                }
            }
        }
        if !deferred.is_empty() {
            self.resolve_plateau(cost, &mut deferred);
        }
    }

    /// Labels the settled free voxels of cost `c` whose cheapest predecessors all have cost
    /// `c` too (`deferred`; equal values, zero steps): one breadth-first claim per label,
    /// ascending, from the labelled predecessors next to them, as a full labelling would.
    fn resolve_plateau(&mut self, c: u32, deferred: &mut Vec<u32>) {
        let same = |g: &Self, q: usize, vp: u32| {
            let n = g.cells[q];
            n.kind() != WALL && n.dist == c && n.value() == vp
        };
        let mut sources: Vec<(u8, u32)> = Vec::new();
        for &p in deferred.iter() {
            let p = p as usize;
            let vp = self.cells[p].value();
            for &o in &self.offsets {
                let q = p.wrapping_add_signed(o);
                if self.lab[q] != 0 && same(self, q, vp) {
                    sources.push((self.lab[q], q as u32));
                }
            }
        }
        sources.sort_unstable();
        sources.dedup();
        let mut queue: Vec<u32> = Vec::new();
        let mut k = 0;
        while k < sources.len() {
            let l = sources[k].0;
            queue.clear();
            while k < sources.len() && sources[k].0 == l {
                queue.push(sources[k].1);
                k += 1;
            }
            let mut head = 0;
            while head < queue.len() {
                let q = queue[head] as usize;
                head += 1;
                let vq = self.cells[q].value();
                for &o in &self.offsets {
                    let p = q.wrapping_add_signed(o);
                    if self.cells[p].kind() == FREE && self.lab[p] == 0 && same(self, p, vq) {
                        self.lab[p] = l;
                        queue.push(p as u32);
                    }
                }
            }
        }
        deferred.clear();
    }
}

/// Dijkstra's step for a voxel `i` popped at cost `d0`: skips stale entries, lowers the
/// costs of free neighbours and queues them.
fn relax(g: &mut Padded, d0: u32, i: usize, mut push: impl FnMut(u32, u32)) {
    let c = g.cells[i];
    if c.dist != d0 {
        return; // stale entry
    }
    let v0 = c.value();
    for &o in &g.offsets {
        let q = i.wrapping_add_signed(o);
        let n = g.cells[q];
        if n.kind() != FREE {
            continue;
        }
        let nd = step(d0, v0, n.value());
        if nd < n.dist {
            g.cells[q].dist = nd;
            push(nd, q as u32);
        }
    }
}

/// Seed labels present (ascending).
fn seed_labels(kind: &[u8], lab: &[u8]) -> Vec<u8> {
    let mut seen = [false; 256];
    for (k, l) in kind.iter().zip(lab) {
        if *k == SEED {
            seen[usize::from(*l)] = true;
        }
    }
    (0..=255u8).filter(|&l| seen[usize::from(l)]).collect()
}

/// Refuses a seed set of fewer than two labels, saying what is needed.
pub fn check_seed_labels(present: &[u8]) -> Result<()> {
    match present {
        [] => Err(Error::invalid(
            "grow_cut: no seeds in the ROI — paint strokes of at least two of the listed \
             labels (a structure and the background) first",
        )),
        [only] => Err(Error::invalid(format!(
            "grow_cut: seeds of only one label ({only}) — paint at least one more: another \
             structure or the background, so the volume can be split between them"
        ))),
        _ => Ok(()),
    }
}

impl GrowCutState {
    /// Reads the ROI's seeds, free voxels and walls from `labels` (costs unsolved).
    pub fn init(req: &GrowCutRequest, image: &Volume, labels: &[u8]) -> Result<Self> {
        let (lo, size) = req.resolve_roi(labels)?;
        let d = req.dims;
        let n = size[0] * size[1] * size[2];
        let mut s = Self {
            lo,
            size,
            dist: vec![INF; n],
            lab: vec![0; n],
            kind: vec![FREE; n],
            values: Vec::with_capacity(n),
        };
        let value = cost_units(image);
        let mut r = 0;
        for z in lo[2]..lo[2] + size[2] {
            for y in lo[1]..lo[1] + size[1] {
                for x in lo[0]..lo[0] + size[0] {
                    let i = x + d[0] * (y + d[1] * z);
                    let l = labels[i];
                    s.kind[r] = req.kind(l);
                    if s.kind[r] == SEED {
                        s.dist[r] = 0;
                        s.lab[r] = l;
                    }
                    s.values.push(value(i));
                    r += 1;
                }
            }
        }
        check_seed_labels(&seed_labels(&s.kind, &s.lab))?;
        Ok(s)
    }

    /// The ROI's voxel count.
    pub fn len(&self) -> usize {
        self.dist.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dist.is_empty()
    }

    /// The 26 neighbour offsets (dx, dy, dz), z slowest.
    pub fn offsets() -> impl Iterator<Item = [i64; 3]> {
        (-1i64..=1).flat_map(|dz| {
            (-1i64..=1).flat_map(move |dy| {
                (-1i64..=1)
                    .map(move |dx| [dx, dy, dz])
                    .filter(|o| *o != [0, 0, 0])
            })
        })
    }

    /// The ROI embedded in a grid one voxel larger on every side whose border is wall, so
    /// the inner loops need no bounds checks; and the 26 neighbour offsets in it.
    fn padded(&self) -> Padded {
        let s = self.size;
        let p = [s[0] + 2, s[1] + 2, s[2] + 2];
        let n = p[0] * p[1] * p[2];
        let wall = Cell {
            dist: INF,
            vk: u32::from(WALL) << 25,
        };
        let mut out = Padded {
            cells: vec![wall; n],
            lab: vec![0; n],
            offsets: Self::offsets()
                .map(|o| (o[0] + p[0] as i64 * (o[1] + p[1] as i64 * o[2])) as isize)
                .collect(),
        };
        let mut r = 0;
        for z in 0..s[2] {
            for y in 0..s[1] {
                let row = 1 + p[0] * (y + 1 + p[1] * (z + 1));
                for x in 0..s[0] {
                    out.cells[row + x] = Cell {
                        dist: self.dist[r],
                        vk: self.values[r] | u32::from(self.kind[r]) << 25,
                    };
                    out.lab[row + x] = self.lab[r];
                    r += 1;
                }
            }
        }
        out
    }

    /// Copies costs and labels back from the padded grid.
    fn unpad(&mut self, g: &Padded) {
        let s = self.size;
        let p = [s[0] + 2, s[1] + 2];
        let mut r = 0;
        for z in 0..s[2] {
            for y in 0..s[1] {
                let row = 1 + p[0] * (y + 1 + p[1] * (z + 1));
                for x in 0..s[0] {
                    self.dist[r] = g.cells[row + x].dist;
                    self.lab[r] = g.lab[row + x];
                    r += 1;
                }
            }
        }
    }

    /// The padded index of ROI index `r`.
    fn padded_index(&self, r: usize) -> usize {
        let s = self.size;
        let (x, y, z) = (r % s[0], (r / s[0]) % s[1], r / (s[0] * s[1]));
        1 + x + (s[0] + 2) * (y + 1 + (s[1] + 2) * (z + 1))
    }

    /// Phase 1 (costs, Dijkstra from `start`, the other voxels' costs being a fixed point
    /// already — true initially, where only seeds are finite, and after seeds are added to a
    /// solved state), then phase 2 (labels).
    /// `incremental`: only the labels the new costs can change are redone (see
    /// [`Padded::relabel`]); else all of them.
    fn propagate_and_label(&mut self, start: &[usize], incremental: bool) {
        let mut g = self.padded();
        // Voxels whose cost fell (padded indices; the start voxels included).
        let mut lowered: Vec<u32> = start.iter().map(|&r| self.padded_index(r) as u32).collect();
        let max_step = self.values.iter().max().copied().unwrap_or(0)
            - self.values.iter().min().copied().unwrap_or(0);
        if !incremental {
            if max_step < 1 << 22 {
                let mut queue = BucketQueue::new(max_step);
                for &r in start {
                    let i = self.padded_index(r);
                    MonoQueue::push(&mut queue, g.cells[i].dist, i as u32);
                }
                g.solve_labelled(&mut queue);
            } else {
                let mut heap = RadixHeap::new();
                for &r in start {
                    let i = self.padded_index(r);
                    MonoQueue::push(&mut heap, g.cells[i].dist, i as u32);
                }
                g.solve_labelled(&mut heap);
            }
            self.unpad(&g);
            return;
        }
        if max_step < 1 << 22 {
            let mut queue = BucketQueue::new(max_step);
            for &r in start {
                let i = self.padded_index(r);
                queue.push(g.cells[i].dist, i as u32);
            }
            while let Some((d0, i)) = queue.pop() {
                relax(&mut g, d0, i as usize, |c, q| {
                    queue.push(c, q);
                    lowered.push(q);
                });
            }
        } else {
            let mut heap = RadixHeap::new();
            for &r in start {
                let i = self.padded_index(r);
                heap.push(u64::from(g.cells[i].dist), i as u32);
            }
            while let Some((k, i)) = heap.pop() {
                relax(&mut g, k as u32, i as usize, |c, q| {
                    heap.push(u64::from(c), q);
                    lowered.push(q);
                });
            }
        }
        g.relabel(&lowered);
        self.unpad(&g);
    }

    /// Full solve from the seeds (CPU twin).
    pub fn solve_cpu(&mut self) {
        for r in 0..self.len() {
            if self.kind[r] == FREE {
                self.dist[r] = INF;
                self.lab[r] = 0;
            }
        }
        let seeds: Vec<usize> = (0..self.len()).filter(|&r| self.kind[r] == SEED).collect();
        self.propagate_and_label(&seeds, false);
    }

    /// New seeds from `labels`: Some(new seed voxels) when they only add to the old seeds
    /// (old seeds and walls unchanged, every seed inside the state's ROI — a default ROI
    /// keeps the box the first solve made), else None (recompute from scratch).
    pub fn added_seeds(
        &self,
        req: &GrowCutRequest,
        labels: &[u8],
    ) -> Result<Option<Vec<(usize, u8)>>> {
        if req.roi.is_some() && req.resolve_roi(labels)? != (self.lo, self.size) {
            return Ok(None);
        }
        // A default ROI stays as the first solve made it while the seeds stay inside it.
        let Some((slo, shi)) = req.seed_box(labels) else {
            return Ok(None);
        };
        if (0..3).any(|a| slo[a] < self.lo[a] || shi[a] >= self.lo[a] + self.size[a]) {
            return Ok(None);
        }
        let d = req.dims;
        let mut added = Vec::new();
        let mut r = 0;
        for z in self.lo[2]..self.lo[2] + self.size[2] {
            for y in self.lo[1]..self.lo[1] + self.size[1] {
                for x in self.lo[0]..self.lo[0] + self.size[0] {
                    let l = labels[x + d[0] * (y + d[1] * z)];
                    match (self.kind[r], req.kind(l)) {
                        (SEED, SEED) if self.lab[r] == l => {}
                        (FREE, SEED) => added.push((r, l)),
                        (FREE, FREE) | (WALL, WALL) => {}
                        _ => return Ok(None),
                    }
                    r += 1;
                }
            }
        }
        Ok(Some(added))
    }

    /// Marks `added` (ROI index, label) as seeds at cost 0.
    pub fn add_seeds(&mut self, added: &[(usize, u8)]) {
        for &(r, l) in added {
            self.kind[r] = SEED;
            self.dist[r] = 0;
            self.lab[r] = l;
        }
    }

    /// After the user added strokes: reuses the costs when the seeds only grew (returns
    /// true; the labels are reassigned from the new costs; the result equals a full solve on
    /// the state's ROI), else re-reads the ROI and solves from scratch (false). CPU twin.
    pub fn update_cpu(
        &mut self,
        req: &GrowCutRequest,
        image: &Volume,
        labels: &[u8],
    ) -> Result<bool> {
        match self.added_seeds(req, labels)? {
            Some(added) => {
                self.add_seeds(&added);
                let start: Vec<usize> = added.iter().map(|a| a.0).collect();
                self.propagate_and_label(&start, true);
                Ok(true)
            }
            None => {
                *self = Self::init(req, image, labels)?;
                self.solve_cpu();
                Ok(false)
            }
        }
    }

    /// What the op writes: every free voxel reached by a structure label takes it; the
    /// background label is cleared from the ROI. Returns the voxels changed.
    pub fn commit(&self, background: u8, labels: &mut [u8], dims: [usize; 3]) -> u64 {
        let mut changed = 0;
        let mut r = 0;
        for z in self.lo[2]..self.lo[2] + self.size[2] {
            for y in self.lo[1]..self.lo[1] + self.size[1] {
                for x in self.lo[0]..self.lo[0] + self.size[0] {
                    let i = x + dims[0] * (y + dims[1] * z);
                    let new = match self.kind[r] {
                        FREE if self.lab[r] != background => self.lab[r],
                        SEED if self.lab[r] == background => 0,
                        _ => labels[i],
                    };
                    if new != labels[i] {
                        labels[i] = new;
                        changed += 1;
                    }
                    r += 1;
                }
            }
        }
        changed
    }

    /// The preview: the label each free voxel would take (background and unreached: 0).
    pub fn preview_mask(&self, background: u8, dims: [usize; 3]) -> (Vec<u8>, u64) {
        let mut mask = vec![0u8; dims[0] * dims[1] * dims[2]];
        let mut n = 0;
        let mut r = 0;
        for z in self.lo[2]..self.lo[2] + self.size[2] {
            for y in self.lo[1]..self.lo[1] + self.size[1] {
                for x in self.lo[0]..self.lo[0] + self.size[0] {
                    if self.kind[r] == FREE && self.lab[r] != 0 && self.lab[r] != background {
                        mask[x + dims[0] * (y + dims[1] * z)] = self.lab[r];
                        n += 1;
                    }
                    r += 1;
                }
            }
        }
        (mask, n)
    }
}

/// Keep in sync with `shaders/grow_cut.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct GrowCutParams {
    /// ROI size x, y, z; the most local sweeps per pass.
    pub size: [u32; 4],
    pub misc: [u32; 4],
}
const _: () = assert!(std::mem::size_of::<GrowCutParams>() == 32);

/// Local sweeps per tile and pass (a tile's diameter is 8 steps; more sweeps let paths bend
/// within the tile before the next pass).
const LOCAL_SWEEPS: u32 = 24;
/// Passes per submission between convergence checks (even: the result lands in buffer A).
const BATCH: usize = 8;

/// The two grow-cut pipelines (costs, labels).
pub struct GrowCutKernel {
    costs: wgpu::ComputePipeline,
    labels: wgpu::ComputePipeline,
}

/// A ROI's grow-cut state resident on the GPU: values and kinds (static), costs and labels
/// (ping-pong pairs; the result is in the first of each). Kept between updates so a new
/// stroke only propagates from its voxels.
pub struct GrowCutGpu {
    pub params: GrowCutParams,
    values: wgpu::Buffer,
    kinds: wgpu::Buffer,
    cost: [wgpu::Buffer; 2],
    lab: [wgpu::Buffer; 2],
    counter: wgpu::Buffer,
    /// Passes run by the last solve or update (costs, labels).
    pub passes: (usize, usize),
}

fn kinds_words(st: &GrowCutState) -> Vec<u32> {
    st.kind
        .iter()
        .zip(&st.lab)
        .map(|(&k, &l)| u32::from(k) | if k == SEED { u32::from(l) << 8 } else { 0 })
        .collect()
}

fn initial_labels(st: &GrowCutState) -> Vec<u32> {
    st.kind
        .iter()
        .zip(&st.lab)
        .map(|(&k, &l)| if k == SEED { u32::from(l) } else { 256 })
        .collect()
}

fn initial_costs(st: &GrowCutState) -> Vec<u32> {
    st.kind
        .iter()
        .map(|&k| if k == SEED { 0 } else { INF })
        .collect()
}

impl GrowCutKernel {
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        let src = shaders::prepare(shaders::GROW_CUT, "u32");
        Ok(Self {
            costs: super::compute_pipeline_entry(ctx, "grow_cut costs", &src, "costs_pass", None)?,
            labels: super::compute_pipeline_entry(
                ctx,
                "grow_cut labels",
                &src,
                "labels_pass",
                None,
            )?,
        })
    }

    /// Uploads a state read by [`GrowCutState::init`] (its costs and labels are ignored:
    /// seeds start at 0, the rest unreached). Refuses a ROI whose buffers exceed the adapter's
    /// storage-binding limit (the caller then uses the CPU twin).
    pub fn upload(&self, ctx: &GpuContext, st: &GrowCutState) -> Result<GrowCutGpu> {
        let bytes = (st.len() * 4) as u64;
        let limit = ctx.device.limits().max_storage_buffer_binding_size;
        if bytes > limit {
            return Err(Error::Gpu(format!(
                "grow_cut: a ROI of {} voxels needs {bytes}-byte buffers, above the adapter's \
                 storage-binding limit of {limit}",
                st.len()
            )));
        }
        ctx.scoped("grow_cut upload", || {
            let rw = wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
            let costs = initial_costs(st);
            let labels = initial_labels(st);
            GrowCutGpu {
                params: GrowCutParams {
                    size: [
                        st.size[0] as u32,
                        st.size[1] as u32,
                        st.size[2] as u32,
                        LOCAL_SWEEPS,
                    ],
                    misc: [0; 4],
                },
                values: compute::storage(ctx, "gc values", bytemuck::cast_slice(&st.values), rw),
                kinds: compute::storage(
                    ctx,
                    "gc kinds",
                    bytemuck::cast_slice(&kinds_words(st)),
                    rw,
                ),
                cost: [
                    compute::storage(ctx, "gc cost a", bytemuck::cast_slice(&costs), rw),
                    compute::storage(ctx, "gc cost b", bytemuck::cast_slice(&costs), rw),
                ],
                lab: [
                    compute::storage(ctx, "gc lab a", bytemuck::cast_slice(&labels), rw),
                    compute::storage(ctx, "gc lab b", bytemuck::cast_slice(&labels), rw),
                ],
                counter: compute::storage(ctx, "gc changed", &[0u8; 4], rw),
                passes: (0, 0),
            }
        })
    }

    /// Runs passes of one phase until a batch changes nothing; returns the passes run.
    fn converge(&self, ctx: &GpuContext, g: &GrowCutGpu, labels_phase: bool) -> Result<usize> {
        let pipeline = if labels_phase {
            &self.labels
        } else {
            &self.costs
        };
        let pair = if labels_phase { &g.lab } else { &g.cost };
        let uniform = compute::uniform(ctx, "gc params", &g.params);
        // In the cost phase binding 6 is unused: any read-only buffer will do.
        let costs = if labels_phase { &g.cost[0] } else { &g.values };
        let binds: Vec<wgpu::BindGroup> = (0..2)
            .map(|i| {
                compute::bind_group(
                    ctx,
                    pipeline,
                    "grow_cut",
                    &[
                        uniform.as_entire_binding(),
                        g.values.as_entire_binding(),
                        g.kinds.as_entire_binding(),
                        pair[i].as_entire_binding(),
                        pair[1 - i].as_entire_binding(),
                        g.counter.as_entire_binding(),
                        costs.as_entire_binding(),
                    ],
                )
            })
            .collect();
        let p = &g.params;
        let groups = [
            p.size[0].div_ceil(8),
            p.size[1].div_ceil(8),
            p.size[2].div_ceil(4),
        ];
        compute::ping_pong_until_stable(ctx, pipeline, &binds, groups, &g.counter, BATCH)
    }

    /// Solves from the uploaded state: costs, then labels from scratch.
    pub fn solve(&self, ctx: &GpuContext, g: &mut GrowCutGpu) -> Result<()> {
        ctx.scoped("grow_cut solve", || -> Result<()> {
            let c = self.converge(ctx, g, false)?;
            let l = self.converge(ctx, g, true)?;
            g.passes = (c, l);
            Ok(())
        })?
    }

    /// After strokes that only add seeds (see [`GrowCutState::update_cpu`]): `st` is the
    /// host state already updated (its kinds); the new seeds start at cost 0 and the costs
    /// relax from the previous ones; the labels are reassigned from scratch.
    pub fn update(
        &self,
        ctx: &GpuContext,
        g: &mut GrowCutGpu,
        st: &GrowCutState,
        added: &[usize],
    ) -> Result<()> {
        ctx.queue
            .write_buffer(&g.kinds, 0, bytemuck::cast_slice(&kinds_words(st)));
        for &r in added {
            ctx.queue
                .write_buffer(&g.cost[0], (r * 4) as u64, bytemuck::bytes_of(&0u32));
        }
        let labels = initial_labels(st);
        ctx.queue
            .write_buffer(&g.lab[0], 0, bytemuck::cast_slice(&labels));
        ctx.queue
            .write_buffer(&g.lab[1], 0, bytemuck::cast_slice(&labels));
        self.solve(ctx, g)
    }

    /// Reads the solved costs and labels back into `st`.
    pub fn download(&self, ctx: &GpuContext, g: &GrowCutGpu, st: &mut GrowCutState) -> Result<()> {
        let n = st.len() as u64 * 4;
        let cost = readback::read_buffer(ctx, &g.cost[0], n)?;
        let lab = readback::read_buffer(ctx, &g.lab[0], n)?;
        for (r, (c, l)) in cost.chunks_exact(4).zip(lab.chunks_exact(4)).enumerate() {
            st.dist[r] = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            if st.kind[r] == FREE {
                let l = u32::from_le_bytes([l[0], l[1], l[2], l[3]]);
                st.lab[r] = if l >= 256 { 0 } else { l as u8 };
            }
        }
        Ok(())
    }
}

/// CPU twin of the whole op: init, solve, commit. Returns the voxels changed.
pub fn grow_cut_cpu(req: &GrowCutRequest, image: &Volume, labels: &mut [u8]) -> Result<u64> {
    let mut s = GrowCutState::init(req, image, labels)?;
    s.solve_cpu();
    Ok(s.commit(req.background, labels, req.dims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxmark_volume::{Grid, Metadata, VoxelData};

    fn image(dims: [usize; 3], f: impl Fn(usize, usize, usize) -> i16) -> Volume {
        let mut v = Vec::new();
        for z in 0..dims[2] {
            for y in 0..dims[1] {
                for x in 0..dims[0] {
                    v.push(f(x, y, z));
                }
            }
        }
        Volume::new(
            Grid::new(dims, glam::DMat4::IDENTITY),
            VoxelData::I16(v),
            Metadata::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn request(dims: [usize; 3], seeds: &[u8], background: u8) -> GrowCutRequest {
        let mut s = [false; 256];
        for &l in seeds {
            s[usize::from(l)] = true;
        }
        GrowCutRequest {
            dims,
            roi: Some([0, 0, 0, dims[0] - 1, dims[1] - 1, dims[2] - 1]),
            seeds: s,
            background,
            locked: [false; 256],
        }
    }

    /// Brute force of the definition: Bellman-Ford sweeps for the costs, then the labels as
    /// the least fixed point of "the smallest label among the cheapest predecessors".
    fn brute(st: &GrowCutState) -> (Vec<u32>, Vec<u8>) {
        let s = st.size;
        let n = st.len();
        let mut dist = st.dist.clone();
        let mut lab = st.lab.clone();
        for r in 0..n {
            if st.kind[r] == FREE {
                dist[r] = INF;
                lab[r] = 0;
            }
        }
        let nb = |r: usize| -> Vec<usize> {
            let c = [r % s[0], (r / s[0]) % s[1], r / (s[0] * s[1])];
            GrowCutState::offsets()
                .filter_map(|o| {
                    let q = [c[0] as i64 + o[0], c[1] as i64 + o[1], c[2] as i64 + o[2]];
                    if (0..3).any(|a| q[a] < 0 || q[a] >= s[a] as i64) {
                        return None;
                    }
                    Some(q[0] as usize + s[0] * (q[1] as usize + s[1] * q[2] as usize))
                })
                .collect()
        };
        loop {
            let mut changed = false;
            for r in 0..n {
                if st.kind[r] != FREE {
                    continue;
                }
                for q in nb(r) {
                    if st.kind[q] != WALL && dist[q] != INF {
                        let nd = step(dist[q], st.values[q], st.values[r]);
                        if nd < dist[r] {
                            dist[r] = nd;
                            changed = true;
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let preds = |r: usize| -> Vec<usize> {
            let c: Vec<usize> = nb(r)
                .into_iter()
                .filter(|&q| {
                    st.kind[q] != WALL
                        && dist[q] != INF
                        && step(dist[q], st.values[q], st.values[r]) == dist[r]
                })
                .collect();
            let m = c.iter().map(|&q| dist[q]).min().unwrap_or(INF);
            c.into_iter().filter(|&q| dist[q] == m).collect()
        };
        const NONE: u16 = 256;
        let mut l16: Vec<u16> = (0..n)
            .map(|r| {
                if st.kind[r] == SEED {
                    u16::from(lab[r])
                } else {
                    NONE
                }
            })
            .collect();
        loop {
            let mut changed = false;
            for r in 0..n {
                if st.kind[r] != FREE || dist[r] == INF {
                    continue;
                }
                let best = preds(r).into_iter().map(|q| l16[q]).min().unwrap_or(NONE);
                if best < l16[r] {
                    l16[r] = best;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        for r in 0..n {
            if st.kind[r] == FREE {
                lab[r] = if l16[r] == NONE { 0 } else { l16[r] as u8 };
            }
        }
        (dist, lab)
    }

    #[test]
    fn dijkstra_equals_the_fixed_point_with_ties_walls_and_plateaus() {
        let dims = [17, 13, 9];
        // Plateaus (many exact ties) and a noisy ramp.
        let img = image(dims, |x, y, z| {
            ((x / 4) * 10 + (y * 7 + z * 13 + x * 3) % 5) as i16
        });
        let mut labels = vec![0u8; 17 * 13 * 9];
        labels[2 + 17 * (3 + 13 * 4)] = 1;
        labels[14 + 17 * (9 + 13 * 4)] = 2;
        labels[8 + 17 * (6 + 13)] = 3;
        for y in 0..13 {
            labels[8 + 17 * (y + 13 * 6)] = 9; // a wall (not a seed label)
        }
        let req = request(dims, &[1, 2, 3], 3);
        let mut st = GrowCutState::init(&req, &img, &labels).unwrap_or_else(|e| panic!("{e}"));
        st.solve_cpu();
        let (d, l) = brute(&st);
        assert_eq!((&st.dist, &st.lab), (&d, &l));
        let mut out = labels.clone();
        let changed = st.commit(3, &mut out, dims);
        assert!(changed > 500);
        assert!(!out.contains(&3), "the background is cleared");
        assert_eq!(out.iter().filter(|&&x| x == 9).count(), 13, "walls stay");
    }

    #[test]
    fn incremental_update_equals_a_full_recompute() {
        let dims = [20, 16, 12];
        let img = image(dims, |x, y, z| ((x * x + 3 * y + z * 5) % 37) as i16 * 3);
        let mut labels = vec![0u8; 20 * 16 * 12];
        labels[3 + 20 * (3 + 16 * 3)] = 1;
        labels[16 + 20 * (12 + 16 * 8)] = 4;
        let req = request(dims, &[1, 2, 4], 4);
        let mut st = GrowCutState::init(&req, &img, &labels).unwrap_or_else(|e| panic!("{e}"));
        st.solve_cpu();
        // A new stroke of label 2, and more background.
        for x in 8..13 {
            labels[x + 20 * (8 + 16 * 6)] = 2;
        }
        labels[1 + 20 * (14 + 16 * 10)] = 4;
        assert!(st
            .update_cpu(&req, &img, &labels)
            .unwrap_or_else(|e| panic!("{e}")));
        let mut full = GrowCutState::init(&req, &img, &labels).unwrap_or_else(|e| panic!("{e}"));
        full.solve_cpu();
        assert_eq!(st, full);
        // A seed removed: recomputed from scratch, still equal.
        labels[3 + 20 * (3 + 16 * 3)] = 0;
        labels[4 + 20 * (3 + 16 * 3)] = 1;
        assert!(!st
            .update_cpu(&req, &img, &labels)
            .unwrap_or_else(|e| panic!("{e}")));
        let mut full = GrowCutState::init(&req, &img, &labels).unwrap_or_else(|e| panic!("{e}"));
        full.solve_cpu();
        assert_eq!(st, full);
    }

    /// Many random strokes, one after another, on a plateau image full of ties: every
    /// incremental update equals a full solve.
    #[test]
    fn random_strokes_update_like_full_solves() {
        let dims = [23, 19, 11];
        let img = image(dims, |x, y, z| {
            (((x / 3) + (y / 4) * 2 + z) % 4) as i16 * 10
        });
        let mut labels = vec![0u8; 23 * 19 * 11];
        let idx = |x: usize, y: usize, z: usize| x + 23 * (y + 19 * z);
        labels[idx(2, 2, 2)] = 1;
        labels[idx(20, 16, 8)] = 3;
        labels[idx(11, 9, 5)] = 2;
        let req = request(dims, &[1, 2, 3], 3);
        let mut st = GrowCutState::init(&req, &img, &labels).unwrap_or_else(|e| panic!("{e}"));
        st.solve_cpu();
        let mut x = 42u64;
        for round in 0..25 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (a, b, c) = (
                (x >> 20) as usize % 23,
                (x >> 30) as usize % 19,
                (x >> 40) as usize % 11,
            );
            let l = 1 + (x >> 50) as u8 % 3;
            for t in 0..4 {
                let i = idx((a + t).min(22), b, c);
                if labels[i] == 0 {
                    labels[i] = l;
                }
            }
            assert!(st
                .update_cpu(&req, &img, &labels)
                .unwrap_or_else(|e| panic!("{e}")));
            let mut full =
                GrowCutState::init(&req, &img, &labels).unwrap_or_else(|e| panic!("{e}"));
            full.solve_cpu();
            assert!(st == full, "round {round}");
        }
    }

    #[test]
    fn one_seed_label_is_refused_with_what_is_needed() {
        let dims = [8, 8, 8];
        let img = image(dims, |_, _, _| 0);
        let mut labels = vec![0u8; 512];
        labels[100] = 1;
        let err = GrowCutState::init(&request(dims, &[1, 2], 2), &img, &labels)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("only one label (1)"), "{err}");
        let none = GrowCutState::init(&request(dims, &[3, 2], 2), &img, &labels)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(none.contains("no seeds"), "{none}");
    }

    #[test]
    fn radix_heap_pops_in_order() {
        let mut h = RadixHeap::new();
        let mut x = 987654321u64;
        let mut keys = Vec::new();
        let mut last = 0;
        for round in 0..2000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            let k = last + (x >> 40) % 1000;
            h.push(k, round);
            keys.push(k);
            if round % 3 == 0 {
                let (k, _) = h.pop().unwrap_or_default();
                assert!(k >= last);
                last = k;
            }
        }
        while let Some((k, _)) = h.pop() {
            assert!(k >= last);
            last = k;
        }
    }
}
