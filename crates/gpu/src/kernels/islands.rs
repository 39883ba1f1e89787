//! Islands: the connected components of one label value, and removing those a rule rejects
//! (keep the largest, or drop those under N voxels). The GPU path reuses the region-grow
//! pipelines over the packed label texture (`count_sizes`, `collect_roots` add per-component
//! sizes), joining components across slabs on the CPU; [`islands_cpu`] is the CPU twin. Ties
//! for the largest go to the component whose first voxel comes first in i-fastest order.

use super::region_grow::{Connectivity, RegionGrowParams};
use super::region_grow_gpu::RegionGrowKernel;
use super::slabs::{SlabBuffers, SlabGraph};
use crate::residency::PackedU8Volume;
use crate::GpuContext;
use std::collections::HashMap;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::DType;

/// Which components `islands` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IslandRule {
    /// Keep only the largest component.
    KeepLargest,
    /// Remove components smaller than this many voxels.
    MinVoxels(u64),
}

/// Result of [`RegionGrowKernel::islands`].
pub enum Islands {
    /// Nothing to remove.
    Nothing,
    /// Voxels to clear (mask value 1) and how many.
    Remove { mask: PackedU8Volume, voxels: u64 },
    /// More components in one slab than the root list holds: use the CPU path.
    TooManyComponents(u64),
}

/// CPU twin of [`RegionGrowKernel::islands`] followed by the clearing commit: sets the voxels
/// of the components of `label` that `rule` rejects to 0; returns how many were cleared.
pub fn islands_cpu(
    labels: &mut [u8],
    dims: [usize; 3],
    label: u8,
    connectivity: Connectivity,
    rule: IslandRule,
) -> u64 {
    let comps = components_cpu(labels, dims, label, connectivity);
    let largest = comps.iter().map(Vec::len).max().unwrap_or(0);
    let mut kept_largest = false;
    let mut changed = 0u64;
    for c in &comps {
        let keep = match rule {
            // Ties: the first component in scan order is kept.
            IslandRule::KeepLargest => {
                if c.len() == largest && !kept_largest {
                    kept_largest = true;
                    true
                } else {
                    false
                }
            }
            IslandRule::MinVoxels(min) => c.len() as u64 >= min,
        };
        if !keep {
            for &i in c {
                labels[i] = 0;
                changed += 1;
            }
        }
    }
    changed
}

/// Connected components of voxels equal to `label` (in scan order of their first voxel), as
/// lists of linear indices (i fastest).
pub fn components_cpu(
    labels: &[u8],
    d: [usize; 3],
    label: u8,
    conn: Connectivity,
) -> Vec<Vec<usize>> {
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
            let p = [
                (i % d[0]) as i64,
                ((i / d[0]) % d[1]) as i64,
                (i / (d[0] * d[1])) as i64,
            ];
            for o in &offs {
                let q = [p[0] + o[0], p[1] + o[1], p[2] + o[2]];
                if (0..3).any(|a| q[a] < 0 || q[a] >= d[a] as i64) {
                    continue;
                }
                let j = q[0] as usize + d[0] * (q[1] as usize + d[1] * q[2] as usize);
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

impl RegionGrowKernel {
    /// The components of `label` in `labels` (6/18/26-connected) that `rule` rejects, as a
    /// packed mask (1 on their voxels) with their voxel count; the kernel must be built for
    /// `DType::U8` (the packed label texture is read through the same u32 sample type).
    /// Same decisions as the CPU reference: ties for the largest go to the component whose
    /// first voxel comes first in i-fastest order.
    pub fn islands(
        &self,
        ctx: &GpuContext,
        labels: &PackedU8Volume,
        label: u8,
        connectivity: Connectivity,
        rule: IslandRule,
        max_planes: Option<u64>,
    ) -> Result<Islands> {
        if self.dtype != DType::U8 {
            return Err(Error::Mismatch(
                "islands: build the kernel for DType::U8".into(),
            ));
        }
        let d = labels.dims;
        let p = RegionGrowParams {
            dims: [d[0], d[1], d[2], connectivity as u32],
            box_min: [0, 0, 0, 1],
            box_max: [d[0] - 1, d[1] - 1, d[2] - 1, u32::from(label)],
            slab: [0, 0, 1, 0],
            range: [0.0; 4],
        };
        let dims = d.map(|v| v as usize);
        let out = PackedU8Volume::zeros(ctx, dims)?;
        let w = self.workspace(ctx, &p, max_planes, true);
        let cap = (w.planes * w.plane).min(1 << 22);
        // Pooled like the workspace; its count (word 0) is cleared before every slab.
        let roots = self.pooled(
            ctx,
            "islands roots",
            (1 + 2 * cap) * 4,
            wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        );
        let b = SlabBuffers {
            parent: &w.parent,
            selected: &w.selected,
            out: &out,
            sizes: w.sizes.as_ref(),
            roots: Some(&roots),
        };
        let view = &labels.view;
        self.last_dispatches.set(0);
        let mut graph = SlabGraph::default();
        let mut prev_last = None;
        for (si, &slab) in w.slabs.iter().enumerate() {
            if let Some(sz) = &w.sizes {
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                enc.clear_buffer(sz, 0, None);
                enc.clear_buffer(&roots, 0, Some(4));
                ctx.queue.submit([enc.finish()]);
            }
            let [a, m, c] = self.label_passes();
            self.dispatch(
                ctx,
                &p,
                slab,
                view,
                &b,
                &[a, m, c, &self.count_sizes, &self.collect_roots],
            )?;
            let n = u64::from(self.read_u32(ctx, &roots, 0)?);
            if n > cap {
                return Ok(Islands::TooManyComponents(n));
            }
            if n > 0 {
                let list = self.read_plane(ctx, &roots, 1, 2 * n)?;
                for pair in list.chunks(2) {
                    let node = graph.node(si, pair[0]);
                    graph.add_size(
                        node,
                        u64::from(pair[1]),
                        slab.0 * w.plane + u64::from(pair[0]),
                    );
                }
            }
            if w.slabs.len() > 1 {
                prev_last = Some(self.join_boundary(ctx, &p, &w, si, slab, prev_last, &mut graph)?);
            }
        }
        // Components: total size and first voxel (i-fastest index) per union-find set.
        let mut comps: HashMap<usize, (u64, u64)> = HashMap::new();
        for n in 0..graph.dsu.parent.len() {
            let set = graph.dsu.find(n);
            let e = comps.entry(set).or_insert((0, u64::MAX));
            e.0 += graph.size[n];
            e.1 = e.1.min(graph.first[n]);
        }
        let remove: std::collections::HashSet<usize> = match rule {
            IslandRule::KeepLargest => {
                let keep = comps
                    .iter()
                    .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
                    .map(|(k, _)| *k);
                comps.keys().copied().filter(|k| Some(*k) != keep).collect()
            }
            IslandRule::MinVoxels(min) => comps
                .iter()
                .filter(|(_, v)| v.0 < min)
                .map(|(k, _)| *k)
                .collect(),
        };
        let removed: u64 = remove.iter().map(|k| comps[k].0).sum();
        // (A set: millions of speckle components must not make this quadratic.)
        if removed == 0 {
            return Ok(Islands::Nothing);
        }
        let chosen = graph.select(w.slabs.len(), |set| remove.contains(&set));
        if w.slabs.len() == 1 {
            let mut bits = vec![0u32; w.bits_words as usize];
            for &r in &chosen[0] {
                bits[(r >> 5) as usize] |= 1 << (r & 31);
            }
            ctx.queue
                .write_buffer(&w.selected, 0, bytemuck::cast_slice(&bits));
            self.dispatch(ctx, &p, w.slabs[0], view, &b, &[&self.select])?;
        } else {
            self.sweep2(ctx, &p, &w, view, &b, &chosen)?;
        }
        Ok(Islands::Remove {
            mask: out,
            voxels: removed,
        })
    }
}
