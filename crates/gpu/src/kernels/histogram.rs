//! Histogram of a volume and the auto window from its 1st–99th percentiles (as ITK-SNAP).
//!
//! Binning: `bin = floor((v - lo) * scale)` clamped to `[0, nbins)`, NaN skipped, in f32 on
//! both CPU and GPU (no fused multiply-add possible, so counts match exactly). For integer
//! volumes whose range fits, bins are one integer wide and centred on the integers.

use super::compute_pipeline;
use crate::residency::{wgsl_sample_type, ResidentVolume};
use crate::{compute, readback::read_buffer, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::{DType, VoxelData, WindowPreset};

/// Most bins a histogram may have (workgroup memory: 16 KiB of u32).
pub const MAX_BINS: u32 = 4096;

/// Keep in sync with `shaders/histogram.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct HistogramParams {
    /// nx, ny, nz, nbins.
    pub dims: [u32; 4],
    pub lo: f32,
    pub scale: f32,
    pub _pad: [u32; 2],
}
const _: () = assert!(std::mem::size_of::<HistogramParams>() == 32);

impl HistogramParams {
    /// Bins covering `[min, max]` of a volume of `dtype`.
    pub fn for_range(dims: [usize; 3], dtype: DType, min: f64, max: f64) -> Self {
        let (lo, scale, nbins) = if !(min.is_finite() && max.is_finite()) {
            (0.0, 1.0, 1)
        } else if dtype != DType::F32 && max - min < f64::from(MAX_BINS) {
            (min - 0.5, 1.0, (max - min) as u32 + 1)
        } else {
            let span = (max - min).max(f64::MIN_POSITIVE);
            (min, f64::from(MAX_BINS) / span * (1.0 - 1e-7), MAX_BINS)
        };
        Self {
            dims: [dims[0] as u32, dims[1] as u32, dims[2] as u32, nbins],
            lo: lo as f32,
            scale: scale as f32,
            _pad: [0; 2],
        }
    }

    /// Value at the centre of bin `b`.
    pub fn bin_center(&self, b: usize) -> f64 {
        f64::from(self.lo) + (b as f64 + 0.5) / f64::from(self.scale)
    }
}

fn bin_of(p: &HistogramParams, v: f32) -> Option<usize> {
    if v.is_nan() {
        return None;
    }
    let t = (v - p.lo) * p.scale;
    Some(t.floor().clamp(0.0, (p.dims[3] - 1) as f32) as usize)
}

/// CPU reference histogram.
#[allow(clippy::unnecessary_cast)] // the macro casts every voxel type, f32 included
pub fn histogram_cpu(p: &HistogramParams, data: &VoxelData) -> Vec<u32> {
    let nb = p.dims[3] as usize;
    voxmark_volume::with_voxels!(data, v => v
    .par_chunks(1 << 16)
    .map(|c| {
        let mut h = vec![0u32; nb];
        for &x in c {
            if let Some(b) = bin_of(p, x as f32) {
                h[b] += 1;
            }
        }
        h
    })
    .reduce(|| vec![0u32; nb], |mut a, b| {
        a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        a
    }))
}

/// The window spanning the 1st to 99th percentile of the histogram (bin centres).
pub fn auto_window(p: &HistogramParams, counts: &[u32]) -> WindowPreset {
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    if total == 0 {
        return WindowPreset {
            center: 0.0,
            width: 1.0,
        };
    }
    let at = |q: f64| -> usize {
        let target = (q * total as f64).ceil().max(1.0) as u64;
        let mut acc = 0u64;
        for (b, &c) in counts.iter().enumerate() {
            acc += u64::from(c);
            if acc >= target {
                return b;
            }
        }
        counts.len() - 1
    };
    let (lo, hi) = (p.bin_center(at(0.01)), p.bin_center(at(0.99)));
    WindowPreset {
        center: (lo + hi) / 2.0,
        width: (hi - lo).max(1.0),
    }
}

/// GPU histogram.
pub struct HistogramKernel {
    pipeline: wgpu::ComputePipeline,
    dtype: DType,
}

impl HistogramKernel {
    /// Compiles the kernel for volumes of `dtype`.
    pub fn new(ctx: &GpuContext, dtype: DType) -> Result<Self> {
        let src = shaders::prepare(shaders::HISTOGRAM, wgsl_sample_type(dtype));
        Ok(Self {
            pipeline: compute_pipeline(ctx, "histogram", &src)?,
            dtype,
        })
    }

    /// Computes the histogram of `volume` and reads the counts back.
    pub fn run(
        &self,
        ctx: &GpuContext,
        p: &HistogramParams,
        volume: &ResidentVolume,
    ) -> Result<Vec<u32>> {
        if volume.dtype != self.dtype || p.dims[3] == 0 || p.dims[3] > MAX_BINS {
            return Err(Error::Invalid("histogram: bad type or bin count".into()));
        }
        let size = u64::from(p.dims[3]) * 4;
        let bins = ctx.scoped("histogram", || {
            let uniform = compute::uniform(ctx, "histogram params", p);
            let bins = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("histogram bins"),
                size,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let bind = compute::bind_group(
                ctx,
                &self.pipeline,
                "histogram",
                &[
                    uniform.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&volume.view),
                    bins.as_entire_binding(),
                ],
            );
            // One workgroup per z-slice.
            compute::submit_pass(
                ctx,
                &self.pipeline,
                &bind,
                "histogram",
                compute::groups_1d(p.dims[2]),
            );
            bins
        })?;
        let bytes = read_buffer(ctx, &bins, size)?;
        Ok(bytemuck::cast_slice(&bytes).to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_bins_are_centred_on_values_and_percentiles_follow() {
        let v: Vec<i16> = (0..1000).map(|i| (i % 100) as i16 - 50).collect();
        let p = HistogramParams::for_range([1000, 1, 1], DType::I16, -50.0, 49.0);
        assert_eq!(p.dims[3], 100);
        let h = histogram_cpu(&p, &VoxelData::I16(v));
        assert!(h.iter().all(|&c| c == 10));
        assert_eq!(p.bin_center(0), -50.0);
        let w = auto_window(&p, &h);
        assert_eq!((w.center, w.width), (-1.0, 98.0));
    }
}
