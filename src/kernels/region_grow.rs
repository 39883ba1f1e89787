//! Region growing from seeds: connected threshold (and ITK-style confidence connected).
//!
//! Semantics: the voxels whose value lies in `[lower, upper]` (inclusive, real units) inside
//! the ROI box (inclusive) that are connected to a seed through such voxels, under 6-, 18- or
//! 26-connectivity. For integer volumes the bounds are applied exactly (`ceil(lower)`,
//! `floor(upper)`); both backends compare in f32 after that (exact for |v| < 2^24).
//!
//! * CPU backend: scanline flood fill (spans along i; neighbour rows scanned per
//!   connectivity), single pass over the region, no full-volume scan.
//! * GPU backend: union-find connected-component labelling (Playne & Hawick 2018) over the
//!   thresholded ROI: `init`, `merge` (atomicMin unions with backward neighbours),
//!   `compress`, then `select_roots` writes the label where the component's root is one of
//!   the seeds' roots. A component's root is always its smallest index, so results are
//!   deterministic. That is **4 dispatches per slab, whatever the region's shape**. The
//!   working buffer (one u32 per ROI voxel) is split into z-slabs that fit one storage
//!   binding; with several slabs a first sweep labels each slab and reads back its two
//!   boundary planes, the CPU joins components across slab boundaries (union-find on roots),
//!   and a second sweep relabels each slab and writes the selection: 7 dispatches per slab.

use super::compute_pipeline_entry;
use crate::error::{Error, Result};
use crate::gpu::residency::{PackedU8Volume, ResidentVolume};
use crate::gpu::{readback::read_buffer_range, shaders, GpuContext};
use crate::volume::{DType, VoxelData};
use bytemuck::{Pod, Zeroable};
use std::collections::HashMap;
use wgpu::util::DeviceExt;

/// Voxel connectivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Connectivity {
    Six = 6,
    Eighteen = 18,
    TwentySix = 26,
}

impl Connectivity {
    /// From 6, 18 or 26.
    pub fn from_number(n: u32) -> Result<Self> {
        match n {
            6 => Ok(Self::Six),
            18 => Ok(Self::Eighteen),
            26 => Ok(Self::TwentySix),
            _ => Err(Error::Invalid(format!(
                "connectivity must be 6, 18 or 26, got {n}"
            ))),
        }
    }

    /// Whether the offset (dx, dy, dz) ≠ 0 connects two voxels.
    pub fn allows(self, d: [i64; 3]) -> bool {
        let nz = d.iter().filter(|&&x| x != 0).count();
        nz > 0
            && match self {
                Self::Six => nz == 1,
                Self::Eighteen => nz <= 2,
                Self::TwentySix => true,
            }
    }
}

/// Keep in sync with `shaders/region_grow.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct GrowParams {
    /// nx, ny, nz, connectivity.
    pub dims: [u32; 4],
    /// ROI min (inclusive) x, y, z; label value written on grown voxels.
    pub box_min: [u32; 4],
    /// ROI max (inclusive) x, y, z; unused.
    pub box_max: [u32; 4],
    /// GPU only: first plane of the slab (ROI-relative), plane count.
    pub slab: [u32; 4],
    /// lower, upper (inclusive, f32 after integer rounding), unused, unused.
    pub range: [f32; 4],
}
const _: () = assert!(std::mem::size_of::<GrowParams>() == 80);

/// What to grow.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowRequest {
    pub seeds: Vec<[usize; 3]>,
    pub lower: f64,
    pub upper: f64,
    pub connectivity: Connectivity,
    /// Inclusive box [i0, j0, k0, i1, j1, k1]; None = whole volume.
    pub roi: Option<[usize; 6]>,
    pub label: u8,
}

impl GrowParams {
    /// Validates a request against a volume and builds the params.
    pub fn new(dims: [usize; 3], dtype: DType, req: &GrowRequest) -> Result<Self> {
        if req.lower.is_nan() || req.upper.is_nan() || req.lower > req.upper {
            return Err(Error::Invalid(format!(
                "lower {} is above upper {}",
                req.lower, req.upper
            )));
        }
        if req.label == 0 {
            return Err(Error::Invalid(
                "label 0 means background; use 1..=255".into(),
            ));
        }
        let roi = req
            .roi
            .unwrap_or([0, 0, 0, dims[0] - 1, dims[1] - 1, dims[2] - 1]);
        for a in 0..3 {
            if roi[a] > roi[a + 3] || roi[a + 3] >= dims[a] {
                return Err(Error::Invalid(format!(
                    "ROI {roi:?} is empty or outside the volume {dims:?}"
                )));
            }
        }
        if req.seeds.is_empty() {
            return Err(Error::Invalid("at least one seed is needed".into()));
        }
        for s in &req.seeds {
            if (0..3).any(|a| s[a] >= dims[a]) {
                return Err(Error::Invalid(format!(
                    "seed {s:?} is outside the volume {dims:?}"
                )));
            }
            if (0..3).any(|a| s[a] < roi[a] || s[a] > roi[a + 3]) {
                return Err(Error::Invalid(format!(
                    "seed {s:?} is outside the ROI {roi:?}"
                )));
            }
        }
        let (lo, hi) = if dtype == DType::F32 {
            (req.lower as f32, req.upper as f32)
        } else {
            (req.lower.ceil() as f32, req.upper.floor() as f32)
        };
        Ok(Self {
            dims: [
                dims[0] as u32,
                dims[1] as u32,
                dims[2] as u32,
                req.connectivity as u32,
            ],
            box_min: [
                roi[0] as u32,
                roi[1] as u32,
                roi[2] as u32,
                u32::from(req.label),
            ],
            box_max: [roi[3] as u32, roi[4] as u32, roi[5] as u32, 0],
            slab: [0; 4],
            range: [lo, hi, 0.0, 0.0],
        })
    }

    fn connectivity(&self) -> Connectivity {
        match self.dims[3] {
            18 => Connectivity::Eighteen,
            26 => Connectivity::TwentySix,
            _ => Connectivity::Six,
        }
    }
}

/// CPU reference and backend: scanline flood fill. Returns the full-size mask (label on
/// grown voxels, 0 elsewhere).
pub fn grow_cpu(p: &GrowParams, data: &VoxelData, seeds: &[[usize; 3]]) -> Vec<u8> {
    crate::with_voxels!(data, v => flood(p, v, seeds))
}

fn flood<T: Copy + Into<f64>>(p: &GrowParams, v: &[T], seeds: &[[usize; 3]]) -> Vec<u8> {
    let [nx, ny, nz] = [p.dims[0] as usize, p.dims[1] as usize, p.dims[2] as usize];
    let (x0, y0, z0) = (
        p.box_min[0] as usize,
        p.box_min[1] as usize,
        p.box_min[2] as usize,
    );
    let (x1, y1, z1) = (
        p.box_max[0] as usize,
        p.box_max[1] as usize,
        p.box_max[2] as usize,
    );
    let (lo, hi) = (p.range[0], p.range[1]);
    let label = p.box_min[3] as u8;
    let mut mask = vec![0u8; nx * ny * nz];
    let inside = |idx: usize| -> bool {
        let x: f64 = v[idx].into();
        let x = x as f32;
        x >= lo && x <= hi
    };
    let conn = p.connectivity();
    // Neighbour rows (dy, dz) and whether diagonal x-steps (±1) reach into them.
    let rows: Vec<(i64, i64, usize)> = [
        (-1, 0),
        (1, 0),
        (0, -1),
        (0, 1),
        (-1, -1),
        (-1, 1),
        (1, -1),
        (1, 1),
    ]
    .into_iter()
    .filter(|&(dy, dz)| conn.allows([0, dy, dz]))
    .map(|(dy, dz)| (dy, dz, usize::from(conn.allows([1, dy, dz]))))
    .collect();
    let mut stack: Vec<(usize, usize, usize)> = Vec::new();
    for s in seeds {
        stack.push((s[0], s[1], s[2]));
    }
    while let Some((x, y, z)) = stack.pop() {
        let row = nx * (y + ny * z);
        if mask[row + x] != 0 || !inside(row + x) {
            continue;
        }
        let mut xl = x;
        while xl > x0 && mask[row + xl - 1] == 0 && inside(row + xl - 1) {
            xl -= 1;
        }
        let mut xr = x;
        while xr < x1 && mask[row + xr + 1] == 0 && inside(row + xr + 1) {
            xr += 1;
        }
        mask[row + xl..=row + xr].fill(label);
        for &(dy, dz, ext) in &rows {
            let (yy, zz) = (y as i64 + dy, z as i64 + dz);
            if yy < y0 as i64 || yy > y1 as i64 || zz < z0 as i64 || zz > z1 as i64 {
                continue;
            }
            let nrow = nx * (yy as usize + ny * zz as usize);
            let a = xl.saturating_sub(ext).max(x0);
            let b = (xr + ext).min(x1);
            let mut xx = a;
            while xx <= b {
                if mask[nrow + xx] == 0 && inside(nrow + xx) {
                    stack.push((xx, yy as usize, zz as usize));
                    // Skip the rest of this run: it will be filled from the pushed start.
                    while xx <= b && mask[nrow + xx] == 0 && inside(nrow + xx) {
                        xx += 1;
                    }
                } else {
                    xx += 1;
                }
            }
        }
    }
    mask
}

/// Statistics used by the auto range.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AutoRange {
    pub lower: f64,
    pub upper: f64,
    pub mean: f64,
    pub sigma: f64,
    pub iterations: u32,
}

/// ITK ConfidenceConnected: the range mean ± K·σ, first from the (2r+1)³ neighbourhoods of
/// the seeds (mean of the per-seed means and of the per-seed sample variances, edges
/// replicated), then re-estimated `iterations` times from the grown region. For integer
/// volumes the bounds are truncated toward zero as ITK casts them to the pixel type.
/// `grow` runs one connected-threshold pass with the given (lower, upper).
pub fn confidence_range(
    data: &VoxelData,
    dims: [usize; 3],
    seeds: &[[usize; 3]],
    multiplier: f64,
    radius: usize,
    iterations: u32,
    mut grow: impl FnMut(f64, f64) -> Result<Vec<u8>>,
) -> Result<(AutoRange, Vec<u8>)> {
    if seeds.is_empty() {
        return Err(Error::Invalid("at least one seed is needed".into()));
    }
    let integer = data.dtype() != DType::F32;
    let (tmin, tmax) = data
        .dtype()
        .int_range()
        .map_or((f64::MIN, f64::MAX), |(a, b)| (a as f64, b as f64));
    let bounds = |mean: f64, var: f64| -> (f64, f64) {
        let s = var.max(0.0).sqrt();
        let (mut lo, mut hi) = (
            (mean - multiplier * s).max(tmin),
            (mean + multiplier * s).min(tmax),
        );
        if integer {
            lo = lo.trunc();
            hi = hi.trunc();
        }
        (lo, hi)
    };
    let r = radius as i64;
    let (mut mean, mut var) = (0.0, 0.0);
    for s in seeds {
        let (mut sum, mut sq, mut n) = (0.0, 0.0, 0.0);
        for dz in -r..=r {
            for dy in -r..=r {
                for dx in -r..=r {
                    let c = |a: usize, d: i64| {
                        (a as i64 + d).clamp(0, dims[0].max(dims[1]).max(dims[2]) as i64) as usize
                    };
                    let (x, y, z) = (
                        c(s[0], dx).min(dims[0] - 1),
                        c(s[1], dy).min(dims[1] - 1),
                        c(s[2], dz).min(dims[2] - 1),
                    );
                    let val = data.get_f64(x + dims[0] * (y + dims[1] * z));
                    sum += val;
                    sq += val * val;
                    n += 1.0;
                }
            }
        }
        mean += sum / n;
        var += if n > 1.0 {
            (sq - sum * sum / n) / (n - 1.0)
        } else {
            0.0
        };
    }
    mean /= seeds.len() as f64;
    var /= seeds.len() as f64;
    let (mut lo, mut hi) = bounds(mean, var);
    let mut mask = grow(lo, hi)?;
    let mut done = 0;
    for _ in 0..iterations {
        let (mut sum, mut sq, mut n) = (0.0, 0.0, 0.0f64);
        for (idx, &m) in mask.iter().enumerate() {
            if m != 0 {
                let val = data.get_f64(idx);
                sum += val;
                sq += val * val;
                n += 1.0;
            }
        }
        if n < 2.0 {
            break;
        }
        mean = sum / n;
        var = (sq - sum * sum / n) / (n - 1.0);
        let (l2, h2) = bounds(mean, var);
        lo = l2;
        hi = h2;
        mask = grow(lo, hi)?;
        done += 1;
    }
    Ok((
        AutoRange {
            lower: lo,
            upper: hi,
            mean,
            sigma: var.max(0.0).sqrt(),
            iterations: done,
        },
        mask,
    ))
}

/// Union-find on the CPU for joining components across slab boundaries.
#[derive(Default)]
struct Dsu {
    parent: Vec<usize>,
}

impl Dsu {
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }
    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.parent[a.max(b)] = a.min(b);
        }
    }
}

/// GPU connected threshold.
pub struct GrowKernel {
    init: wgpu::ComputePipeline,
    merge: wgpu::ComputePipeline,
    compress: wgpu::ComputePipeline,
    select: wgpu::ComputePipeline,
    count_sizes: wgpu::ComputePipeline,
    collect_roots: wgpu::ComputePipeline,
    /// Placeholders for the islands-only bindings during a grow.
    no_sizes: wgpu::Buffer,
    no_roots: wgpu::Buffer,
    layout: wgpu::BindGroupLayout,
    dtype: DType,
    /// Dispatches recorded by the last `run` (for reporting the bounded pass count).
    pub last_dispatches: std::cell::Cell<u32>,
}

const INVALID: u32 = u32::MAX;

/// Which components `islands` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IslandRule {
    /// Keep only the largest component.
    KeepLargest,
    /// Remove components smaller than this many voxels.
    MinVoxels(u64),
}

/// Result of [`GrowKernel::islands`].
pub enum Islands {
    /// Nothing to remove.
    Nothing,
    /// Voxels to clear (mask value 1) and how many.
    Remove { mask: PackedU8Volume, voxels: u64 },
    /// More components in one slab than the root list holds: use the CPU path.
    TooManyComponents(u64),
}

/// The buffers of one run.
struct Workspace {
    parent: wgpu::Buffer,
    selected: wgpu::Buffer,
    sizes: Option<wgpu::Buffer>,
    bits_words: u64,
    bx: u64,
    by: u64,
    plane: u64,
    planes: u64,
    slabs: Vec<(u64, u64)>,
}

/// What one dispatch binds.
struct SlabBuffers<'a> {
    parent: &'a wgpu::Buffer,
    selected: &'a wgpu::Buffer,
    out: &'a PackedU8Volume,
    sizes: Option<&'a wgpu::Buffer>,
    roots: Option<&'a wgpu::Buffer>,
}

/// Components across slabs: a node per (slab, slab-local root), joined by a union-find over
/// the slabs' boundary planes; islands also tracks each node's size and first voxel.
#[derive(Default)]
struct SlabGraph {
    nodes: HashMap<(usize, u32), usize>,
    dsu: Dsu,
    size: Vec<u64>,
    first: Vec<u64>,
}

impl SlabGraph {
    fn node(&mut self, slab: usize, root: u32) -> usize {
        let n = self.nodes.len();
        let id = *self.nodes.entry((slab, root)).or_insert(n);
        if id == n {
            self.dsu.parent.push(n);
            self.size.push(0);
            self.first.push(u64::MAX);
        }
        id
    }

    fn add_size(&mut self, node: usize, size: u64, first: u64) {
        self.size[node] += size;
        self.first[node] = self.first[node].min(first);
    }

    /// Per slab (of `slabs`), the local roots whose component set satisfies `pick`.
    fn select(&mut self, slabs: usize, pick: impl Fn(usize) -> bool) -> Vec<Vec<u32>> {
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

impl GrowKernel {
    /// Compiles the four entry points for volumes of `dtype`.
    pub fn new(ctx: &GpuContext, dtype: DType) -> Result<Self> {
        let src = shaders::prepare(
            shaders::REGION_GROW,
            crate::gpu::residency::wgsl_sample_type(dtype),
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
            no_sizes: crate::gpu::compute::storage(
                ctx,
                "grow no sizes",
                &[0u8; 16],
                wgpu::BufferUsages::empty(),
            ),
            no_roots: crate::gpu::compute::storage(
                ctx,
                "grow no roots",
                &[0u8; 16],
                wgpu::BufferUsages::empty(),
            ),
            layout,
            dtype,
            last_dispatches: std::cell::Cell::new(0),
        })
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
        p: &GrowParams,
        seeds: &[[usize; 3]],
        volume: &ResidentVolume,
        max_planes: Option<u64>,
    ) -> Result<PackedU8Volume> {
        if volume.dtype != self.dtype {
            return Err(Error::Invalid(
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
    fn label_passes(&self) -> [&wgpu::ComputePipeline; 3] {
        [&self.init, &self.merge, &self.compress]
    }

    /// Buffers and slab plan for one run over `p`'s box.
    fn workspace(
        &self,
        ctx: &GpuContext,
        p: &GrowParams,
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
        let buffer = |label: &str, size: u64, usage: wgpu::BufferUsages| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::STORAGE | usage,
                mapped_at_creation: false,
            })
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
    fn join_boundary(
        &self,
        ctx: &GpuContext,
        p: &GrowParams,
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
    fn sweep2(
        &self,
        ctx: &GpuContext,
        p: &GrowParams,
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
            return Err(Error::Invalid(
                "islands: build the kernel for DType::U8".into(),
            ));
        }
        let d = labels.dims;
        let p = GrowParams {
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
        let roots = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("islands roots"),
            size: (1 + 2 * cap) * 4,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
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

    /// Records the given passes over one slab, each its own compute pass, and waits.
    fn dispatch(
        &self,
        ctx: &GpuContext,
        p: &GrowParams,
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
        ctx.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("region_grow: {e}")))?;
        Ok(())
    }

    fn read_u32(&self, ctx: &GpuContext, buf: &wgpu::Buffer, index: u64) -> Result<u32> {
        Ok(self.read_plane(ctx, buf, index, 1)?[0])
    }

    fn read_plane(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn req(seeds: Vec<[usize; 3]>, lo: f64, hi: f64, c: Connectivity) -> GrowRequest {
        GrowRequest {
            seeds,
            lower: lo,
            upper: hi,
            connectivity: c,
            roi: None,
            label: 1,
        }
    }

    #[test]
    fn diagonal_chain_depends_on_connectivity() {
        // Voxels on the main diagonal of a 4^3 cube: 26-connected only.
        let dims = [4, 4, 4];
        let mut v = vec![0i16; 64];
        for d in 0..4 {
            v[d + 4 * (d + 4 * d)] = 100;
        }
        // An 18-connected pair in the plane z = 0: (0,0,0) and (1,1,0).
        let data = VoxelData::I16(v);
        for (c, want) in [
            (Connectivity::Six, 1),
            (Connectivity::Eighteen, 1),
            (Connectivity::TwentySix, 4),
        ] {
            let p = GrowParams::new(dims, DType::I16, &req(vec![[0, 0, 0]], 50.0, 150.0, c))
                .unwrap_or_else(|e| panic!("{e}"));
            let m = grow_cpu(&p, &data, &[[0, 0, 0]]);
            assert_eq!(m.iter().filter(|&&x| x != 0).count(), want, "{c:?}");
        }
    }

    #[test]
    fn bad_requests_are_errors() {
        let d = [4, 4, 4];
        assert!(GrowParams::new(
            d,
            DType::I16,
            &req(vec![[4, 0, 0]], 0.0, 1.0, Connectivity::Six)
        )
        .is_err());
        assert!(GrowParams::new(
            d,
            DType::I16,
            &req(vec![[0, 0, 0]], 2.0, 1.0, Connectivity::Six)
        )
        .is_err());
        assert!(GrowParams::new(d, DType::I16, &req(vec![], 0.0, 1.0, Connectivity::Six)).is_err());
        let mut r = req(vec![[3, 3, 3]], 0.0, 1.0, Connectivity::Six);
        r.roi = Some([0, 0, 0, 1, 1, 1]);
        assert!(
            GrowParams::new(d, DType::I16, &r).is_err(),
            "seed outside ROI"
        );
        let p = GrowParams::new(
            d,
            DType::I16,
            &req(vec![[0, 0, 0]], -0.5, 10.7, Connectivity::Six),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.range[0], p.range[1]),
            (0.0, 10.0),
            "integer bounds applied exactly"
        );
    }
}
