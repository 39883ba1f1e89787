//! Smoothing a label (Slicer's Smoothing effect, per label): `median` — a voxel is the label
//! iff more than half of the ball of `radius_mm` around it is (voxels outside the volume count
//! as not the label: `scipy.ndimage.median_filter` with `mode="constant"`); `opening` —
//! erosion then dilation by the ball (removes what is thinner than it); `closing` — dilation
//! then erosion (fills gaps narrower than it). The result is a 0/1 work volume; the commit
//! gives the label where it is 1 and the current label is writable, and clears the label
//! where it is 0. Opening and closing run the dilate/erode kernel pair
//! (`gpu::kernels::morphology`) on the work volume, so their voxels beyond the volume's faces
//! count as neither side, as for `erode` (scipy: erosion with `border_value=1`).
//! GPU: `shaders/smooth.wgsl` ([`SmoothKernel`]); CPU twin: [`smooth_cpu`].

use super::morphology::{bind, morphology_cpu, MorphologyKernel, MorphologyMode, MorphologyParams};
use crate::residency::PackedU8Volume;
use crate::{compute, readback::submit_counted, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use voxmark_volume::error::{Error, Result};

/// The smoothing method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmoothMethod {
    Median,
    Opening,
    Closing,
    Gaussian(GaussWeights),
}

/// A Gaussian of standard deviation σ mm as integer taps per axis: scipy's kernel (radius
/// `int(4 σ / spacing + 0.5)`, weights `exp(−x² / 2 s²)` normalised) scaled by 1024 and
/// rounded, so the blur is an exact u32 sum on both twins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaussWeights {
    pub radii: [u32; 3],
    /// The x taps, then y, then z.
    pub taps: Vec<u32>,
}

impl GaussWeights {
    pub fn new(spacing_mm: [f64; 3], sigma_mm: f64) -> Self {
        let mut radii = [0u32; 3];
        let mut taps = Vec::new();
        for a in 0..3 {
            let sd = sigma_mm / spacing_mm[a];
            let r = (4.0 * sd + 0.5) as i64;
            radii[a] = r as u32;
            let w: Vec<f64> = (-r..=r)
                .map(|x| (-0.5 * (x * x) as f64 / (sd * sd)).exp())
                .collect();
            let sum: f64 = w.iter().sum();
            taps.extend(w.iter().map(|v| (v / sum * 1024.0).round() as u32));
        }
        Self { radii, taps }
    }

    fn axis(&self, a: usize) -> &[u32] {
        let len = |a: usize| 2 * self.radii[a] as usize + 1;
        let start: usize = (0..a).map(len).sum();
        &self.taps[start..start + len(a)]
    }

    /// The product of the three axes' tap sums (the blur of an all-label neighbourhood).
    fn total(&self) -> u32 {
        (0..3).map(|a| self.axis(a).iter().sum::<u32>()).product()
    }
}

/// Keep in sync with `shaders/smooth_gauss.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct GaussParams {
    /// nx, ny, nz, label.
    pub dims: [u32; 4],
    /// Box origin x (a multiple of 4), y, z; the product of the tap sums.
    pub lo: [u32; 4],
    /// Box size x, y, z; unused.
    pub size: [u32; 4],
    /// Kernel radius x, y, z; unused.
    pub radii: [u32; 4],
}
const _: () = assert!(std::mem::size_of::<GaussParams>() == 64);

impl GaussParams {
    /// The box around the label grown by the kernel radius (x from a multiple of 4); None
    /// when the label is absent.
    pub fn new(dims: [usize; 3], label: u8, g: &GaussWeights, labels: &[u8]) -> Option<Self> {
        let (mut lo, mut hi, mut any) = (dims, [0usize; 3], false);
        for (i, &l) in labels.iter().enumerate() {
            if l == label {
                let c = [
                    i % dims[0],
                    (i / dims[0]) % dims[1],
                    i / (dims[0] * dims[1]),
                ];
                for a in 0..3 {
                    lo[a] = lo[a].min(c[a]);
                    hi[a] = hi[a].max(c[a]);
                }
                any = true;
            }
        }
        if !any {
            return None;
        }
        for a in 0..3 {
            lo[a] = lo[a].saturating_sub(g.radii[a] as usize);
            hi[a] = (hi[a] + g.radii[a] as usize).min(dims[a] - 1);
        }
        lo[0] -= lo[0] % 4;
        let d = dims.map(|n| n as u32);
        Some(Self {
            dims: [d[0], d[1], d[2], u32::from(label)],
            lo: [lo[0] as u32, lo[1] as u32, lo[2] as u32, g.total()],
            size: [
                (hi[0] - lo[0] + 1) as u32,
                (hi[1] - lo[1] + 1) as u32,
                (hi[2] - lo[2] + 1) as u32,
                0,
            ],
            radii: [g.radii[0], g.radii[1], g.radii[2], 0],
        })
    }
}

/// The Gaussian's 0/1 work volume (CPU twin of the three passes).
fn gaussian_work_cpu(g: &GaussWeights, label: u8, d: [usize; 3], labels: &[u8]) -> Vec<u8> {
    let mut work = vec![0u8; labels.len()];
    let Some(p) = GaussParams::new(d, label, g, labels) else {
        return work;
    };
    let (lo, s) = (p.lo.map(|x| x as usize), p.size.map(|x| x as usize));
    let n = s[0] * s[1] * s[2];
    let bi = |x: usize, y: usize, z: usize| x + s[0] * (y + s[1] * z);
    let mut a = vec![0u32; n];
    let rx = g.radii[0] as i64;
    let wx = g.axis(0);
    for z in 0..s[2] {
        for y in 0..s[1] {
            for x in 0..s[0] {
                let (gx, gy, gz) = (lo[0] + x, lo[1] + y, lo[2] + z);
                let mut sum = 0u32;
                for k in -rx..=rx {
                    let qx = gx as i64 + k;
                    if qx >= 0
                        && qx < d[0] as i64
                        && labels[qx as usize + d[0] * (gy + d[1] * gz)] == label
                    {
                        sum += wx[(k + rx) as usize];
                    }
                }
                a[bi(x, y, z)] = sum;
            }
        }
    }
    for axis in [1usize, 2] {
        let r = g.radii[axis] as i64;
        let w = g.axis(axis);
        let mut b = vec![0u32; n];
        for z in 0..s[2] {
            for y in 0..s[1] {
                for x in 0..s[0] {
                    let mut sum = 0u32;
                    for k in -r..=r {
                        let mut q = [x as i64, y as i64, z as i64];
                        q[axis] += k;
                        if q[axis] >= 0 && q[axis] < s[axis] as i64 {
                            sum += w[(k + r) as usize]
                                * a[bi(q[0] as usize, q[1] as usize, q[2] as usize)];
                        }
                    }
                    b[bi(x, y, z)] = sum;
                }
            }
        }
        a = b;
    }
    let half = p.lo[3] / 2;
    for z in 0..s[2] {
        for y in 0..s[1] {
            for x in 0..s[0] {
                if a[bi(x, y, z)] > half {
                    work[lo[0] + x + d[0] * (lo[1] + y + d[1] * (lo[2] + z))] = 1;
                }
            }
        }
    }
    work
}

/// Keep in sync with `shaders/smooth.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct SmoothParams {
    /// nx, ny, nz, label.
    pub dims: [u32; 4],
    /// Offset count (the ball without its centre), unused ×3.
    pub misc: [u32; 4],
    /// Labels the commit may overwrite with the label (editable policy minus locked).
    pub writable: [u32; 8],
}
const _: () = assert!(std::mem::size_of::<SmoothParams>() == 64);

impl SmoothParams {
    pub fn new(dims: [usize; 3], label: u8, offsets: usize, writable: &[bool; 256]) -> Self {
        Self {
            dims: [
                dims[0] as u32,
                dims[1] as u32,
                dims[2] as u32,
                u32::from(label),
            ],
            misc: [offsets as u32, 0, 0, 0],
            writable: super::label_bits(writable),
        }
    }

    fn label(&self) -> u8 {
        self.dims[3] as u8
    }

    fn writable(&self, l: u8) -> bool {
        self.writable[usize::from(l) / 32] & (1 << (l % 32)) != 0
    }

    /// The dilate/erode params on the 0/1 work volume (label 1, everything writable).
    fn work_morphology(&self, mode: MorphologyMode, offsets: usize) -> MorphologyParams {
        let d = [self.dims[0], self.dims[1], self.dims[2]].map(|n| n as usize);
        MorphologyParams::new(d, mode, 1, offsets, &[true; 256])
    }
}

/// The 0/1 work volume of `method` (CPU twin).
fn work_cpu(
    method: &SmoothMethod,
    p: &SmoothParams,
    offsets: &[[i32; 4]],
    labels: &[u8],
) -> Vec<u8> {
    let d = [p.dims[0], p.dims[1], p.dims[2]].map(|n| n as usize);
    let l = p.label();
    let mut work: Vec<u8> = labels.iter().map(|&x| u8::from(x == l)).collect();
    match method {
        SmoothMethod::Gaussian(g) => work = gaussian_work_cpu(g, l, d, labels),
        SmoothMethod::Median => {
            let total = offsets.len() + 1;
            let mut out = vec![0u8; work.len()];
            for z in 0..d[2] {
                for y in 0..d[1] {
                    for x in 0..d[0] {
                        let i = x + d[0] * (y + d[1] * z);
                        let mut count = usize::from(work[i]);
                        for o in offsets {
                            let q = [
                                x as i64 + i64::from(o[0]),
                                y as i64 + i64::from(o[1]),
                                z as i64 + i64::from(o[2]),
                            ];
                            if (0..3).all(|a| q[a] >= 0 && q[a] < d[a] as i64) {
                                count += usize::from(
                                    work[q[0] as usize
                                        + d[0] * (q[1] as usize + d[1] * q[2] as usize)],
                                );
                            }
                        }
                        out[i] = u8::from(2 * count > total);
                    }
                }
            }
            work = out;
        }
        SmoothMethod::Opening | SmoothMethod::Closing => {
            let (first, second) = if *method == SmoothMethod::Opening {
                (MorphologyMode::Erode, MorphologyMode::Dilate)
            } else {
                (MorphologyMode::Dilate, MorphologyMode::Erode)
            };
            morphology_cpu(&p.work_morphology(first, offsets.len()), offsets, &mut work);
            morphology_cpu(
                &p.work_morphology(second, offsets.len()),
                offsets,
                &mut work,
            );
        }
    }
    work
}

/// CPU twin: smooths the label in place; returns the voxels changed.
pub fn smooth_cpu(
    method: &SmoothMethod,
    p: &SmoothParams,
    offsets: &[[i32; 4]],
    labels: &mut [u8],
) -> u64 {
    let work = work_cpu(method, p, offsets, labels);
    let l = p.label();
    let mut changed = 0;
    for (cur, &w) in labels.iter_mut().zip(&work) {
        let new = if w != 0 && *cur != l && p.writable(*cur) {
            l
        } else if w == 0 && *cur == l {
            0
        } else {
            *cur
        };
        if new != *cur {
            *cur = new;
            changed += 1;
        }
    }
    changed
}

/// GPU smoothing.
pub struct SmoothKernel {
    extract: wgpu::ComputePipeline,
    median: wgpu::ComputePipeline,
    commit: wgpu::ComputePipeline,
    gauss: [wgpu::ComputePipeline; 3],
    morphology: MorphologyKernel,
}

impl SmoothKernel {
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        let src = shaders::prepare(shaders::SMOOTH, "u32");
        let p = |e: &str| super::compute_pipeline_entry(ctx, "smooth", &src, e, None);
        let gsrc = shaders::prepare(shaders::SMOOTH_GAUSS, "u32");
        let g = |e: &str| super::compute_pipeline_entry(ctx, "smooth gauss", &gsrc, e, None);
        Ok(Self {
            extract: p("extract")?,
            median: p("median")?,
            commit: p("commit_set")?,
            gauss: [g("gauss_x")?, g("gauss_y")?, g("gauss_z")?],
            morphology: MorphologyKernel::new(ctx)?,
        })
    }

    /// The Gaussian's three passes over the box into the (zeroed) work volume.
    fn gaussian_work(
        &self,
        ctx: &GpuContext,
        gw: &GaussWeights,
        gp: &GaussParams,
        labels: &PackedU8Volume,
        work: &PackedU8Volume,
    ) -> Result<()> {
        let n = u64::from(gp.size[0]) * u64::from(gp.size[1]) * u64::from(gp.size[2]);
        let limit = ctx.device.limits().max_storage_buffer_binding_size;
        if n * 4 > limit {
            return Err(Error::Gpu(format!(
                "smooth: a Gaussian box of {n} voxels is above the adapter's storage-binding limit"
            )));
        }
        ctx.scoped("smooth gauss", || {
            let uniform = compute::uniform(ctx, "gauss params", gp);
            let taps = compute::storage(
                ctx,
                "gauss taps",
                bytemuck::cast_slice(&gw.taps),
                wgpu::BufferUsages::empty(),
            );
            let buf = |name: &str| {
                ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(name),
                    size: (n * 4).max(4),
                    usage: wgpu::BufferUsages::STORAGE,
                    mapped_at_creation: false,
                })
            };
            let (a, b) = (buf("gauss a"), buf("gauss b"));
            let groups = [
                gp.size[0].div_ceil(8),
                gp.size[1].div_ceil(8),
                gp.size[2].div_ceil(4),
            ];
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            let bx = bind(
                ctx,
                &self.gauss[0],
                &[
                    (0, uniform.as_entire_binding()),
                    (1, wgpu::BindingResource::TextureView(&labels.view)),
                    (2, taps.as_entire_binding()),
                    (4, a.as_entire_binding()),
                ],
            );
            compute::encode_pass(&mut enc, &self.gauss[0], &bx, "gauss x", groups);
            let by = bind(
                ctx,
                &self.gauss[1],
                &[
                    (0, uniform.as_entire_binding()),
                    (2, taps.as_entire_binding()),
                    (3, a.as_entire_binding()),
                    (4, b.as_entire_binding()),
                ],
            );
            compute::encode_pass(&mut enc, &self.gauss[1], &by, "gauss y", groups);
            let bz = bind(
                ctx,
                &self.gauss[2],
                &[
                    (0, uniform.as_entire_binding()),
                    (2, taps.as_entire_binding()),
                    (3, b.as_entire_binding()),
                    (5, wgpu::BindingResource::TextureView(&work.view)),
                ],
            );
            let tgroups = [
                gp.size[0].div_ceil(4).div_ceil(8),
                gp.size[1].div_ceil(8),
                gp.size[2].div_ceil(4),
            ];
            compute::encode_pass(&mut enc, &self.gauss[2], &bz, "gauss z", tgroups);
            ctx.queue.submit([enc.finish()]);
        })
    }

    /// Smooths the label of the resident `labels`; returns the voxels changed.
    pub fn run(
        &self,
        ctx: &GpuContext,
        method: &SmoothMethod,
        p: &SmoothParams,
        offsets: &[[i32; 4]],
        labels: &PackedU8Volume,
    ) -> Result<u64> {
        let d = labels.dims;
        if [p.dims[0], p.dims[1], p.dims[2]] != d || p.misc[0] as usize != offsets.len() {
            return Err(Error::Mismatch(
                "smooth: params do not match the labels".into(),
            ));
        }
        let work = PackedU8Volume::zeros(ctx, d.map(|n| n as usize))?;
        let groups = [
            d[0].div_ceil(4).div_ceil(8),
            d[1].div_ceil(8),
            d[2].div_ceil(4),
        ];
        let uniform = compute::uniform(ctx, "smooth params", p);
        let offs_data = if offsets.is_empty() {
            vec![[0i32; 4]]
        } else {
            offsets.to_vec()
        };
        let offs = compute::storage(
            ctx,
            "smooth offsets",
            bytemuck::cast_slice(&offs_data),
            wgpu::BufferUsages::empty(),
        );
        if let SmoothMethod::Gaussian(gw) = method {
            // The label's box is read on the host; the three passes run on the GPU.
            let host = labels.download(ctx)?;
            let d3 = d.map(|n| n as usize);
            if let Some(gp) = GaussParams::new(d3, p.dims[3] as u8, gw, &host) {
                self.gaussian_work(ctx, gw, &gp, labels, &work)?;
            }
        }
        // The work volume.
        ctx.scoped("smooth work", || {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            let (pipeline, entries) = match method {
                SmoothMethod::Gaussian(_) => return,
                SmoothMethod::Median => (
                    &self.median,
                    vec![
                        (0, uniform.as_entire_binding()),
                        (1, wgpu::BindingResource::TextureView(&labels.view)),
                        (2, offs.as_entire_binding()),
                        (3, wgpu::BindingResource::TextureView(&work.view)),
                    ],
                ),
                _ => (
                    &self.extract,
                    vec![
                        (0, uniform.as_entire_binding()),
                        (1, wgpu::BindingResource::TextureView(&labels.view)),
                        (3, wgpu::BindingResource::TextureView(&work.view)),
                    ],
                ),
            };
            let b = bind(ctx, pipeline, &entries);
            compute::encode_pass(&mut enc, pipeline, &b, "smooth work", groups);
            ctx.queue.submit([enc.finish()]);
        })?;
        if matches!(method, SmoothMethod::Opening | SmoothMethod::Closing) {
            let (first, second) = if *method == SmoothMethod::Opening {
                (MorphologyMode::Erode, MorphologyMode::Dilate)
            } else {
                (MorphologyMode::Dilate, MorphologyMode::Erode)
            };
            for mode in [first, second] {
                self.morphology.run(
                    ctx,
                    &p.work_morphology(mode, offsets.len()),
                    offsets,
                    &work,
                )?;
            }
        }
        submit_counted(ctx, |enc| {
            ctx.scoped("smooth commit", || {
                let counter =
                    compute::storage(ctx, "smooth count", &[0u8; 4], wgpu::BufferUsages::COPY_SRC);
                let b = bind(
                    ctx,
                    &self.commit,
                    &[
                        (0, uniform.as_entire_binding()),
                        (4, wgpu::BindingResource::TextureView(&labels.view)),
                        (5, counter.as_entire_binding()),
                        (6, wgpu::BindingResource::TextureView(&work.view)),
                    ],
                );
                compute::encode_pass(enc, &self.commit, &b, "smooth commit", groups);
                Some(counter)
            })
        })
    }
}
