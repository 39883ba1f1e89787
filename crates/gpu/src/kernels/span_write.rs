//! Span writes: the shared shape of the painting operations (paint, erase, polygon,
//! threshold, clear_label, merge_labels). The CPU rasterises an op's geometry into runs of
//! voxels along i (one list per (j, k) row, disjoint, sorted); the write itself — locked
//! labels, editable policy, intensity range — runs on the GPU (`shaders/span_write.wgsl`,
//! one invocation per row, so no two invocations touch the same packed texel) or on the CPU
//! ([`span_write_cpu`]), with identical results.

use crate::residency::{wgsl_sample_type, PackedU8Volume, ResidentVolume};
use crate::{compute, readback::submit_counted, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::{DType, Volume};

/// Runs of voxels to write, and the rule for writing them.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanWrite {
    /// The label written.
    pub value: u8,
    /// Current label values that may be replaced (locked labels already removed).
    pub source: [bool; 256],
    /// Only voxels whose image value lies in [lo, hi] (real units).
    pub range: Option<[f64; 2]>,
    /// (j, k, first span, span count) per row.
    pub rows: Vec<[u32; 4]>,
    /// (i0, i1) inclusive runs, grouped by row, sorted and disjoint within a row.
    pub spans: Vec<[u32; 2]>,
}

impl SpanWrite {
    /// An empty write of `value` from `source`.
    pub fn new(value: u8, source: [bool; 256], range: Option<[f64; 2]>) -> Self {
        Self {
            value,
            source,
            range,
            rows: Vec::new(),
            spans: Vec::new(),
        }
    }

    /// Adds a row's runs (sorted, possibly overlapping or touching: they are merged).
    pub fn push_row(&mut self, j: usize, k: usize, runs: &mut [(usize, usize)]) {
        if runs.is_empty() {
            return;
        }
        runs.sort_unstable();
        let first = self.spans.len() as u32;
        let mut cur = runs[0];
        for &(a, b) in runs.iter().skip(1) {
            if a <= cur.1 + 1 {
                cur.1 = cur.1.max(b);
            } else {
                self.spans.push([cur.0 as u32, cur.1 as u32]);
                cur = (a, b);
            }
        }
        self.spans.push([cur.0 as u32, cur.1 as u32]);
        self.rows
            .push([j as u32, k as u32, first, self.spans.len() as u32 - first]);
    }

    /// Voxels covered by the spans.
    pub fn voxels(&self) -> u64 {
        self.spans.iter().map(|s| u64::from(s[1] - s[0] + 1)).sum()
    }
}

/// The range as the f32 bounds that select exactly the same stored values: integers use
/// ceil/floor; floats the nearest f32 inside the range.
pub fn range_f32(dtype: DType, r: [f64; 2]) -> [f32; 2] {
    if dtype != DType::F32 {
        let lo = r[0].ceil().clamp(-3.0e38, 3.0e38) as f32;
        let hi = r[1].floor().clamp(-3.0e38, 3.0e38) as f32;
        return [lo, hi];
    }
    let mut lo = r[0] as f32;
    if f64::from(lo) < r[0] {
        lo = lo.next_up();
    }
    let mut hi = r[1] as f32;
    if f64::from(hi) > r[1] {
        hi = hi.next_down();
    }
    [lo, hi]
}

/// CPU twin of the span write; returns the number of voxels changed.
pub fn span_write_cpu(image: &Volume, labels: &mut [u8], w: &SpanWrite) -> u64 {
    let d = image.grid.dims;
    let range = w.range.map(|r| range_f32(image.dtype(), r));
    let mut changed = 0;
    for row in &w.rows {
        let base = d[0] * (row[0] as usize + d[1] * row[1] as usize);
        for s in &w.spans[row[2] as usize..(row[2] + row[3]) as usize] {
            for x in s[0] as usize..=s[1] as usize {
                let i = base + x;
                let cur = labels[i];
                if cur == w.value || !w.source[usize::from(cur)] {
                    continue;
                }
                if let Some([lo, hi]) = range {
                    let v = image.data.get_f64(i) as f32;
                    if !(v >= lo && v <= hi) {
                        continue;
                    }
                }
                labels[i] = w.value;
                changed += 1;
            }
        }
    }
    changed
}

/// Keep in sync with `shaders/span_write.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct SpanWriteParams {
    /// row count, value, has range, unused.
    pub head: [u32; 4],
    /// range lo, hi (f32 bounds from [`range_f32`]), unused, unused.
    pub range: [f32; 4],
    /// 256-bit source set.
    pub source: [u32; 8],
}
const _: () = assert!(std::mem::size_of::<SpanWriteParams>() == 64);

/// GPU span write.
pub struct SpanWriteKernel {
    pipeline: wgpu::ComputePipeline,
    dtype: DType,
}

impl SpanWriteKernel {
    /// Compiles the kernel for images of `dtype`.
    pub fn new(ctx: &GpuContext, dtype: DType) -> Result<Self> {
        let src = shaders::prepare(shaders::SPAN_WRITE, wgsl_sample_type(dtype));
        Ok(Self {
            pipeline: crate::kernels::compute_pipeline(ctx, "span_write", &src)?,
            dtype,
        })
    }

    /// Applies `w` to the GPU labels; returns the number of voxels changed ([`Self::encode`],
    /// submitted, and the count read back).
    pub fn run(
        &self,
        ctx: &GpuContext,
        w: &SpanWrite,
        image: &ResidentVolume,
        labels: &PackedU8Volume,
    ) -> Result<u64> {
        submit_counted(ctx, |enc| self.encode(ctx, enc, w, image, labels))
    }

    /// Records the span write into `enc`; returns the buffer that will hold the number of
    /// voxels changed (one u32, COPY_SRC), or None when there are no rows.
    pub fn encode(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        w: &SpanWrite,
        image: &ResidentVolume,
        labels: &PackedU8Volume,
    ) -> Result<Option<wgpu::Buffer>> {
        if image.dtype != self.dtype || image.dims != labels.dims {
            return Err(Error::Mismatch(
                "span_write: image type or dims do not match".into(),
            ));
        }
        if w.rows.is_empty() {
            return Ok(None);
        }
        let source = super::label_bits(&w.source);
        let range = w
            .range
            .map(|r| range_f32(self.dtype, r))
            .unwrap_or([0.0, 0.0]);
        let p = SpanWriteParams {
            head: [
                w.rows.len() as u32,
                u32::from(w.value),
                u32::from(w.range.is_some()),
                0,
            ],
            range: [range[0], range[1], 0.0, 0.0],
            source,
        };
        ctx.scoped("span_write", || {
            let uniform = compute::uniform(ctx, "span_write params", &p);
            let rows = compute::storage(
                ctx,
                "span_write rows",
                bytemuck::cast_slice(&w.rows),
                wgpu::BufferUsages::empty(),
            );
            let spans = compute::storage(
                ctx,
                "span_write spans",
                bytemuck::cast_slice(&w.spans),
                wgpu::BufferUsages::empty(),
            );
            let counter = compute::storage(
                ctx,
                "span_write count",
                &[0u8; 4],
                wgpu::BufferUsages::COPY_SRC,
            );
            let bind = compute::bind_group(
                ctx,
                &self.pipeline,
                "span_write",
                &[
                    uniform.as_entire_binding(),
                    rows.as_entire_binding(),
                    spans.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&image.view),
                    wgpu::BindingResource::TextureView(&labels.view),
                    counter.as_entire_binding(),
                ],
            );
            compute::encode_pass(
                enc,
                &self.pipeline,
                &bind,
                "span_write",
                compute::groups_1d((w.rows.len() as u32).div_ceil(64)),
            );
            Some(counter)
        })
    }
}
