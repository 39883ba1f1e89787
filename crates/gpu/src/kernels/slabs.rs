//! The slab plan of the GPU connected-component labelling: when one u32 per ROI voxel does
//! not fit one storage binding (lavapipe: 128 MiB), the ROI is cut into z-slabs. Sweep 1
//! labels each slab and reads back its two boundary planes; the CPU joins components across
//! slab boundaries (union-find on slab-local roots, [`SlabGraph`]); sweep 2 relabels each
//! slab and writes the chosen components: 7 dispatches per slab.

use crate::residency::PackedU8Volume;
use std::collections::HashMap;

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
