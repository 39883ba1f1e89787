//! Smoothing a label (Slicer's Smoothing effect, per label): `median` — a voxel is the label
//! iff more than half of the ball of `radius_mm` around it is (voxels outside the volume count
//! as not the label: `scipy.ndimage.median_filter` with `mode="constant"`); `opening` —
//! erosion then dilation by the ball (removes what is thinner than it); `closing` — dilation
//! then erosion (fills gaps narrower than it). The result is a 0/1 work volume; the commit
//! gives the label where it is 1 and the current label is writable, and clears the label
//! where it is 0. Opening and closing run the dilate/erode kernel pair
//! (`kernels::morphology`) on the work volume, so their voxels beyond the volume's faces
//! count as neither side, as for `erode` (scipy: erosion with `border_value=1`).
//! GPU: `shaders/smooth.wgsl` ([`SmoothKernel`]); CPU twin: [`smooth_cpu`].

use super::morphology::{bind, morphology_cpu, MorphologyKernel, MorphologyMode, MorphologyParams};
use crate::error::{Error, Result};
use crate::gpu::residency::PackedU8Volume;
use crate::gpu::{compute, readback::submit_counted, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};

/// The smoothing method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmoothMethod {
    Median,
    Opening,
    Closing,
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
    method: SmoothMethod,
    p: &SmoothParams,
    offsets: &[[i32; 4]],
    labels: &[u8],
) -> Vec<u8> {
    let d = [p.dims[0], p.dims[1], p.dims[2]].map(|n| n as usize);
    let l = p.label();
    let mut work: Vec<u8> = labels.iter().map(|&x| u8::from(x == l)).collect();
    match method {
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
            let (first, second) = if method == SmoothMethod::Opening {
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
    method: SmoothMethod,
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
    morphology: MorphologyKernel,
}

impl SmoothKernel {
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        let src = shaders::prepare(shaders::SMOOTH, "u32");
        let p = |e: &str| super::compute_pipeline_entry(ctx, "smooth", &src, e, None);
        Ok(Self {
            extract: p("extract")?,
            median: p("median")?,
            commit: p("commit_set")?,
            morphology: MorphologyKernel::new(ctx)?,
        })
    }

    /// Smooths the label of the resident `labels`; returns the voxels changed.
    pub fn run(
        &self,
        ctx: &GpuContext,
        method: SmoothMethod,
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
        // The work volume.
        ctx.scoped("smooth work", || {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            let (pipeline, entries) = match method {
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
        if method != SmoothMethod::Median {
            let (first, second) = if method == SmoothMethod::Opening {
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
