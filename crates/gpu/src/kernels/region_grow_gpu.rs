//! GPU connected threshold by union-find connected-component labelling (Playne & Hawick
//! 2018) over the thresholded ROI, `shaders/region_grow.wgsl`: `init`, `merge` (atomicMin
//! unions with the backward half of the 6/18/26 neighbourhood), `compress`, then
//! `select_roots` writes the label where the component's root is one of the seeds' roots. A
//! component's root is always its smallest index, so results are deterministic. That is
//! **4 dispatches per slab, whatever the region's shape**. The working buffer (one u32 per
//! ROI voxel) is split into z-slabs that fit one storage binding; the multi-slab sweeps live
//! in [`super::slabs`], the islands pass (same pipelines over a label) in [`super::islands`].
//! The CPU twin is [`super::region_grow::region_grow_cpu`] over the same params.

use super::compute_pipeline_entry;
use super::region_grow::RegionGrowParams;
use super::slabs::{SlabBuffers, SlabGraph, Workspace, INVALID};
use crate::residency::{PackedU8Volume, ResidentVolume};
use crate::{readback::read_buffer_range, shaders, GpuContext};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::DType;
use wgpu::util::DeviceExt;

/// GPU connected threshold.
pub struct RegionGrowKernel {
    pub(crate) init: wgpu::ComputePipeline,
    pub(crate) merge: wgpu::ComputePipeline,
    pub(crate) compress: wgpu::ComputePipeline,
    pub(crate) select: wgpu::ComputePipeline,
    pub(crate) count_sizes: wgpu::ComputePipeline,
    pub(crate) collect_roots: wgpu::ComputePipeline,
    /// Placeholders for the islands-only bindings during a grow.
    pub(crate) no_sizes: wgpu::Buffer,
    pub(crate) no_roots: wgpu::Buffer,
    pub(crate) layout: wgpu::BindGroupLayout,
    pub(crate) dtype: DType,
    /// Dispatches recorded by the last `run` (for reporting the bounded pass count).
    pub last_dispatches: std::cell::Cell<u32>,
    /// Working buffers kept between runs, by label (one of each: the last size asked).
    pool: std::cell::RefCell<Vec<(&'static str, wgpu::Buffer)>>,
}

impl RegionGrowKernel {
    /// Compiles the four entry points for volumes of `dtype`.
    pub fn new(ctx: &GpuContext, dtype: DType) -> Result<Self> {
        let src = shaders::prepare(
            shaders::REGION_GROW,
            crate::residency::wgsl_sample_type(dtype),
        );
        let sample_type = match dtype {
            DType::U8 | DType::U16 => wgpu::TextureSampleType::Uint,
            DType::F32 => wgpu::TextureSampleType::Float { filterable: false },
            _ => wgpu::TextureSampleType::Sint,
        };
        let storage = |binding, read_only| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let layout = ctx
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("region_grow"),
                entries: &[
                    wgpu::BindGroupLayoutEntry {
                        binding: 0,
                        visibility: wgpu::ShaderStages::COMPUTE,
                        ty: wgpu::BindingType::Buffer {
                            ty: wgpu::BufferBindingType::Uniform,
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                        count: None,
                    },
                    wgpu::BindGroupLayoutEntry {
                        binding: 1,
                        visibility: wgpu::ShaderStages::COMPUTE,
                        ty: wgpu::BindingType::Texture {
                            sample_type,
                            view_dimension: wgpu::TextureViewDimension::D3,
                            multisampled: false,
                        },
                        count: None,
                    },
                    storage(2, false),
                    storage(3, true),
                    wgpu::BindGroupLayoutEntry {
                        binding: 4,
                        visibility: wgpu::ShaderStages::COMPUTE,
                        ty: wgpu::BindingType::StorageTexture {
                            access: wgpu::StorageTextureAccess::WriteOnly,
                            format: wgpu::TextureFormat::R32Uint,
                            view_dimension: wgpu::TextureViewDimension::D3,
                        },
                        count: None,
                    },
                    storage(5, false),
                    storage(6, false),
                ],
            });
        let pl = ctx
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("region_grow"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let entry = |name: &str| compute_pipeline_entry(ctx, "region_grow", &src, name, Some(&pl));
        Ok(Self {
            init: entry("init")?,
            merge: entry("merge")?,
            compress: entry("compress")?,
            select: entry("select_roots")?,
            count_sizes: entry("count_sizes")?,
            collect_roots: entry("collect_roots")?,
            no_sizes: crate::compute::storage(
                ctx,
                "grow no sizes",
                &[0u8; 16],
                wgpu::BufferUsages::empty(),
            ),
            no_roots: crate::compute::storage(
                ctx,
                "grow no roots",
                &[0u8; 16],
                wgpu::BufferUsages::empty(),
            ),
            layout,
            dtype,
            last_dispatches: std::cell::Cell::new(0),
            pool: std::cell::RefCell::new(Vec::new()),
        })
    }

    /// A working buffer named `label` of `size` bytes: the one kept from an earlier run when
    /// it has that size and usage, else a new one (which replaces it in the pool). Its
    /// contents are whatever the last run left.
    pub(crate) fn pooled(
        &self,
        ctx: &GpuContext,
        label: &'static str,
        size: u64,
        usage: wgpu::BufferUsages,
    ) -> wgpu::Buffer {
        let mut pool = self.pool.borrow_mut();
        if let Some((_, b)) = pool
            .iter()
            .find(|(l, b)| *l == label && b.size() == size && b.usage() == usage)
        {
            return b.clone();
        }
        pool.retain(|(l, _)| *l != label);
        let b = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        });
        pool.push((label, b.clone()));
        b
    }

    /// Planes per slab so that one u32 per voxel fits one storage binding.
    pub fn planes_per_slab(ctx: &GpuContext, plane_voxels: u64) -> u64 {
        let l = ctx.device.limits();
        let bytes = l.max_storage_buffer_binding_size.min(l.max_buffer_size);
        (bytes / 4 / plane_voxels.max(1)).max(1)
    }

    /// Grows into a new packed mask volume. `max_planes` caps the slab height (tests use it
    /// to exercise the multi-slab path on small volumes).
    pub fn run(
        &self,
        ctx: &GpuContext,
        p: &RegionGrowParams,
        seeds: &[[usize; 3]],
        volume: &ResidentVolume,
        max_planes: Option<u64>,
    ) -> Result<PackedU8Volume> {
        if volume.dtype != self.dtype {
            return Err(Error::Mismatch(
                "region_grow: volume type does not match the kernel".into(),
            ));
        }
        let dims = [p.dims[0] as usize, p.dims[1] as usize, p.dims[2] as usize];
        let out = PackedU8Volume::zeros(ctx, dims)?;
        let w = self.workspace(ctx, p, max_planes, false);
        let b = SlabBuffers {
            parent: &w.parent,
            selected: &w.selected,
            out: &out,
            sizes: None,
            roots: None,
        };
        self.last_dispatches.set(0);
        let seed_local = |s: &[usize; 3]| -> (usize, u64) {
            let z = s[2] as u64 - u64::from(p.box_min[2]);
            let slab = (z / w.planes) as usize;
            let l = ((z - w.slabs[slab].0) * w.by + (s[1] as u64 - u64::from(p.box_min[1]))) * w.bx
                + (s[0] as u64 - u64::from(p.box_min[0]));
            (slab, l)
        };
        let view = &volume.view;
        if w.slabs.len() == 1 {
            self.dispatch(ctx, p, w.slabs[0], view, &b, &self.label_passes())?;
            let roots: Vec<u32> = seeds
                .iter()
                .map(|s| self.read_u32(ctx, &w.parent, seed_local(s).1))
                .collect::<Result<_>>()?;
            let mut bits = vec![0u32; w.bits_words as usize];
            for r in roots.into_iter().filter(|&r| r != INVALID) {
                bits[(r >> 5) as usize] |= 1 << (r & 31);
            }
            ctx.queue
                .write_buffer(&w.selected, 0, bytemuck::cast_slice(&bits));
            self.dispatch(ctx, p, w.slabs[0], view, &b, &[&self.select])?;
            return Ok(out);
        }
        // Sweep 1: label each slab, keep its boundary planes' roots and the seeds' roots.
        let mut graph = SlabGraph::default();
        let mut seed_nodes = Vec::new();
        let mut prev_last: Option<Vec<u32>> = None;
        for (si, &slab) in w.slabs.iter().enumerate() {
            self.dispatch(ctx, p, slab, view, &b, &self.label_passes())?;
            for s in seeds {
                let (ss, l) = seed_local(s);
                if ss == si {
                    let r = self.read_u32(ctx, &w.parent, l)?;
                    if r != INVALID {
                        seed_nodes.push(graph.node(si, r));
                    }
                }
            }
            prev_last = Some(self.join_boundary(ctx, p, &w, si, slab, prev_last, &mut graph)?);
        }
        let seed_sets: Vec<usize> = seed_nodes.iter().map(|&n| graph.dsu.find(n)).collect();
        let chosen = graph.select(w.slabs.len(), |set| seed_sets.contains(&set));
        self.sweep2(ctx, p, &w, view, &b, &chosen)?;
        Ok(out)
    }

    /// init, merge, compress.
    pub(crate) fn label_passes(&self) -> [&wgpu::ComputePipeline; 3] {
        [&self.init, &self.merge, &self.compress]
    }

    /// Records the given passes over one slab, each its own compute pass, and waits.
    pub(crate) fn dispatch(
        &self,
        ctx: &GpuContext,
        p: &RegionGrowParams,
        slab: (u64, u64),
        volume: &wgpu::TextureView,
        b: &SlabBuffers,
        passes: &[&wgpu::ComputePipeline],
    ) -> Result<()> {
        let mut sp = *p;
        sp.slab[0] = slab.0 as u32;
        sp.slab[1] = slab.1 as u32;
        let bx = u64::from(p.box_max[0] - p.box_min[0] + 1);
        let by = u64::from(p.box_max[1] - p.box_min[1] + 1);
        let voxels = bx * by * slab.1;
        let texels = (u64::from(p.box_max[0] / 4) - u64::from(p.box_min[0] / 4) + 1) * by * slab.1;
        ctx.scoped("region_grow", || {
            let uniform = ctx
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("grow params"),
                    contents: bytemuck::bytes_of(&sp),
                    usage: wgpu::BufferUsages::UNIFORM,
                });
            let entry = |binding, resource| wgpu::BindGroupEntry { binding, resource };
            let bind = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("region_grow"),
                layout: &self.layout,
                entries: &[
                    entry(0, uniform.as_entire_binding()),
                    entry(1, wgpu::BindingResource::TextureView(volume)),
                    entry(2, b.parent.as_entire_binding()),
                    entry(3, b.selected.as_entire_binding()),
                    entry(4, wgpu::BindingResource::TextureView(&b.out.view)),
                    entry(5, b.sizes.unwrap_or(&self.no_sizes).as_entire_binding()),
                    entry(6, b.roots.unwrap_or(&self.no_roots).as_entire_binding()),
                ],
            });
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            for pipe in passes {
                // The select pass runs one invocation per packed texel, the others per voxel.
                let n = if std::ptr::eq(*pipe, &self.select) {
                    texels
                } else {
                    voxels
                };
                let groups = n.div_ceil(256) as u32;
                let (gx, gy) = if groups > 65535 {
                    (65535, groups.div_ceil(65535))
                } else {
                    (groups.max(1), 1)
                };
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("region_grow"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(pipe);
                pass.set_bind_group(0, &bind, &[]);
                pass.dispatch_workgroups(gx, gy, 1);
            }
            ctx.queue.submit([enc.finish()]);
        })?;
        self.last_dispatches
            .set(self.last_dispatches.get() + passes.len() as u32);
        ctx.wait("region_grow")?;
        Ok(())
    }

    pub(crate) fn read_u32(&self, ctx: &GpuContext, buf: &wgpu::Buffer, index: u64) -> Result<u32> {
        Ok(self.read_plane(ctx, buf, index, 1)?[0])
    }

    pub(crate) fn read_plane(
        &self,
        ctx: &GpuContext,
        buf: &wgpu::Buffer,
        start: u64,
        count: u64,
    ) -> Result<Vec<u32>> {
        let b = read_buffer_range(ctx, buf, start * 4, count * 4)?;
        Ok(bytemuck::cast_slice(&b).to_vec())
    }
}

// The slab plan of one run (`slabs`: when one u32 per ROI voxel exceeds a storage binding).
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
