//! The slab plan of the GPU connected-component labelling: when one u32 per ROI voxel does
//! not fit one storage binding (lavapipe: 128 MiB), the ROI is cut into z-slabs. Sweep 1
//! labels each slab and reads back its two boundary planes; the CPU joins components across
//! slab boundaries (union-find on slab-local roots, [`SlabGraph`]); sweep 2 relabels each
//! slab and writes the chosen components: 7 dispatches per slab.

use super::region_grow::RegionGrowParams;
use super::region_grow_gpu::RegionGrowKernel;
use crate::residency::PackedU8Volume;
use crate::GpuContext;
use std::collections::HashMap;
use voxmark_volume::error::Result;

/// Marks "no component" in the parent buffer (a voxel outside the threshold).
pub(crate) const INVALID: u32 = u32::MAX;

/// Union-find on the CPU for joining components across slab boundaries.
#[derive(Default)]
pub(crate) struct Dsu {
    pub(crate) parent: Vec<usize>,
}

impl Dsu {
    pub(crate) fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }
    pub(crate) fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.parent[a.max(b)] = a.min(b);
        }
    }
}

/// The buffers of one run.
pub(crate) struct Workspace {
    pub(crate) parent: wgpu::Buffer,
    pub(crate) selected: wgpu::Buffer,
    pub(crate) sizes: Option<wgpu::Buffer>,
    pub(crate) bits_words: u64,
    pub(crate) bx: u64,
    pub(crate) by: u64,
    pub(crate) plane: u64,
    pub(crate) planes: u64,
    pub(crate) slabs: Vec<(u64, u64)>,
}

/// What one dispatch binds.
pub(crate) struct SlabBuffers<'a> {
    pub(crate) parent: &'a wgpu::Buffer,
    pub(crate) selected: &'a wgpu::Buffer,
    pub(crate) out: &'a PackedU8Volume,
    pub(crate) sizes: Option<&'a wgpu::Buffer>,
    pub(crate) roots: Option<&'a wgpu::Buffer>,
}

/// Components across slabs: a node per (slab, slab-local root), joined by a union-find over
/// the slabs' boundary planes; islands also tracks each node's size and first voxel.
#[derive(Default)]
pub(crate) struct SlabGraph {
    pub(crate) nodes: HashMap<(usize, u32), usize>,
    pub(crate) dsu: Dsu,
    pub(crate) size: Vec<u64>,
    pub(crate) first: Vec<u64>,
}

impl SlabGraph {
    pub(crate) fn node(&mut self, slab: usize, root: u32) -> usize {
        let n = self.nodes.len();
        let id = *self.nodes.entry((slab, root)).or_insert(n);
        if id == n {
            self.dsu.parent.push(n);
            self.size.push(0);
            self.first.push(u64::MAX);
        }
        id
    }

    pub(crate) fn add_size(&mut self, node: usize, size: u64, first: u64) {
        self.size[node] += size;
        self.first[node] = self.first[node].min(first);
    }

    /// Per slab (of `slabs`), the local roots whose component set satisfies `pick`.
    pub(crate) fn select(&mut self, slabs: usize, pick: impl Fn(usize) -> bool) -> Vec<Vec<u32>> {
        let keys: Vec<((usize, u32), usize)> = self.nodes.iter().map(|(k, v)| (*k, *v)).collect();
        let mut out = vec![Vec::new(); slabs];
        for ((slab, root), n) in keys {
            if pick(self.dsu.find(n)) {
                out[slab].push(root);
            }
        }
        out
    }
}

impl RegionGrowKernel {
    /// Buffers and slab plan for one run over `p`'s box.
    pub(crate) fn workspace(
        &self,
        ctx: &GpuContext,
        p: &RegionGrowParams,
        max_planes: Option<u64>,
        sizes: bool,
    ) -> Workspace {
        let bx = u64::from(p.box_max[0] - p.box_min[0] + 1);
        let by = u64::from(p.box_max[1] - p.box_min[1] + 1);
        let bz = u64::from(p.box_max[2] - p.box_min[2] + 1);
        let plane = bx * by;
        let planes = Self::planes_per_slab(ctx, plane)
            .min(max_planes.unwrap_or(u64::MAX))
            .min(bz);
        let slabs: Vec<(u64, u64)> = (0..bz)
            .step_by(planes as usize)
            .map(|z| (z, planes.min(bz - z)))
            .collect();
        // Kept between runs (every pass writes what it reads: `init` the parents, the host
        // the selected bits, islands clear their sizes): allocating half a gigabyte per grow
        // cost more than the passes (H200, 512³: ≈30 ms of a 45 ms grow).
        let buffer = |label: &'static str, size: u64, usage: wgpu::BufferUsages| {
            self.pooled(ctx, label, size, wgpu::BufferUsages::STORAGE | usage)
        };
        let bits_words = (planes * plane).div_ceil(32);
        let copy = wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        Workspace {
            parent: buffer(
                "grow parent",
                planes * plane * 4,
                wgpu::BufferUsages::COPY_SRC,
            ),
            selected: buffer(
                "grow selected",
                bits_words * 4,
                wgpu::BufferUsages::COPY_DST,
            ),
            sizes: sizes.then(|| buffer("islands sizes", planes * plane * 4, copy)),
            bits_words,
            bx,
            by,
            plane,
            planes,
            slabs,
        }
    }

    /// Reads slab `si`'s first plane, unions it with the previous slab's last plane, and
    /// returns this slab's last plane.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn join_boundary(
        &self,
        ctx: &GpuContext,
        p: &RegionGrowParams,
        w: &Workspace,
        si: usize,
        slab: (u64, u64),
        prev_last: Option<Vec<u32>>,
        graph: &mut SlabGraph,
    ) -> Result<Vec<u32>> {
        let (bx, by, plane) = (w.bx as i64, w.by as i64, w.plane);
        let conn = p.connectivity();
        let first = self.read_plane(ctx, &w.parent, 0, plane)?;
        if let Some(prev) = &prev_last {
            for y in 0..by {
                for x in 0..bx {
                    let c = first[(y * bx + x) as usize];
                    if c == INVALID {
                        continue;
                    }
                    for dy in -1..=1i64 {
                        for dx in -1..=1i64 {
                            let (xx, yy) = (x + dx, y + dy);
                            if xx < 0
                                || yy < 0
                                || xx >= bx
                                || yy >= by
                                || !conn.allows([dx, dy, -1])
                            {
                                continue;
                            }
                            let q = prev[(yy * bx + xx) as usize];
                            if q != INVALID {
                                let (a, b) = (graph.node(si - 1, q), graph.node(si, c));
                                graph.dsu.union(a, b);
                            }
                        }
                    }
                }
            }
        }
        self.read_plane(ctx, &w.parent, (slab.1 - 1) * plane, plane)
    }

    /// Sweep 2: relabel each slab (deterministic roots) and write the chosen components.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sweep2(
        &self,
        ctx: &GpuContext,
        p: &RegionGrowParams,
        w: &Workspace,
        view: &wgpu::TextureView,
        b: &SlabBuffers,
        chosen: &[Vec<u32>],
    ) -> Result<()> {
        for (si, &slab) in w.slabs.iter().enumerate() {
            let mut bits = vec![0u32; w.bits_words as usize];
            for &r in &chosen[si] {
                bits[(r >> 5) as usize] |= 1 << (r & 31);
            }
            ctx.queue
                .write_buffer(&w.selected, 0, bytemuck::cast_slice(&bits));
            let [a, m, c] = self.label_passes();
            self.dispatch(ctx, p, slab, view, b, &[a, m, c, &self.select])?;
        }
        Ok(())
    }
}
