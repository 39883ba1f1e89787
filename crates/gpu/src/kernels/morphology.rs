//! Dilate / erode a label by a ball (`shaders/morphology.wgsl`), and hollow it: a mark pass
//! (boundary voxels of the source set stamp the ball of offsets into a bit mask) and an apply
//! pass (one invocation per packed texel). Hollow marks from both sides at once — the label's
//! boundary stamps the non-label voxels within the ball (the outer shell), the non-label
//! boundary stamps the label voxels within it (the inner shell); the two sets are disjoint, so
//! one bit per voxel holds both — and keeps the label on marked voxels only. [`morphology_cpu`] is the CPU twin over the same
//! [`MorphologyParams`] and offsets; results are equal (crates/edit/tests/edit_gpu.rs).

use crate::residency::PackedU8Volume;
use crate::{compute, readback::submit_counted, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use voxmark_volume::error::{Error, Result};

/// Keep in sync with `shaders/morphology.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct MorphologyParams {
    /// nx, ny, nz, mode (0 dilate, 1 erode, 2 hollow inside, 3 outside, 4 centred).
    pub dims: [u32; 4],
    /// label, offset count, unused, unused.
    pub misc: [u32; 4],
    /// Dilate: the labels that may be overwritten (policy minus locked), 256 bits.
    pub source: [u32; 8],
}
const _: () = assert!(std::mem::size_of::<MorphologyParams>() == 64);

/// Dilate, erode, or hollow (keep a shell: inside the label, outside it, or both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MorphologyMode {
    Dilate,
    Erode,
    HollowInside,
    HollowOutside,
    HollowCentred,
}

impl MorphologyMode {
    fn code(self) -> u32 {
        match self {
            MorphologyMode::Dilate => 0,
            MorphologyMode::Erode => 1,
            MorphologyMode::HollowInside => 2,
            MorphologyMode::HollowOutside => 3,
            MorphologyMode::HollowCentred => 4,
        }
    }

    /// Whether the label's boundary stamps the non-label voxels within the ball.
    fn stamps_outward(self) -> bool {
        matches!(
            self,
            MorphologyMode::Dilate | MorphologyMode::HollowOutside | MorphologyMode::HollowCentred
        )
    }

    /// Whether the non-label boundary stamps the label voxels within the ball.
    fn stamps_inward(self) -> bool {
        matches!(
            self,
            MorphologyMode::Erode | MorphologyMode::HollowInside | MorphologyMode::HollowCentred
        )
    }
}

impl MorphologyParams {
    /// Params for `label` on volumes of `dims`; `writable` (dilate only) is the set of labels
    /// a dilation may overwrite (editable policy minus locked labels).
    pub fn new(
        dims: [usize; 3],
        mode: MorphologyMode,
        label: u8,
        offsets: usize,
        writable: &[bool; 256],
    ) -> Self {
        Self {
            dims: [dims[0] as u32, dims[1] as u32, dims[2] as u32, mode.code()],
            misc: [u32::from(label), offsets as u32, 0, 0],
            source: super::label_bits(writable),
        }
    }

    fn mode(&self) -> MorphologyMode {
        match self.dims[3] {
            0 => MorphologyMode::Dilate,
            1 => MorphologyMode::Erode,
            2 => MorphologyMode::HollowInside,
            3 => MorphologyMode::HollowOutside,
            _ => MorphologyMode::HollowCentred,
        }
    }

    fn label(&self) -> u8 {
        self.misc[0] as u8
    }

    fn writable(&self, l: u8) -> bool {
        self.source[usize::from(l) / 32] & (1 << (l % 32)) != 0
    }
}

/// Voxel offsets within `radius_mm` of the centre (an ellipsoid in voxels, spacing honoured),
/// centre excluded: the structuring element of dilate and erode.
pub fn ball_offsets(spacing_mm: [f64; 3], radius_mm: f64) -> Vec<[i32; 4]> {
    let sp = spacing_mm;
    let r = [0, 1, 2].map(|a| (radius_mm / sp[a]).floor() as i64);
    let mut out = Vec::new();
    for dz in -r[2]..=r[2] {
        for dy in -r[1]..=r[1] {
            for dx in -r[0]..=r[0] {
                let m = [dx as f64 * sp[0], dy as f64 * sp[1], dz as f64 * sp[2]];
                if (dx, dy, dz) != (0, 0, 0)
                    && m[0] * m[0] + m[1] * m[1] + m[2] * m[2] <= radius_mm * radius_mm
                {
                    out.push([dx as i32, dy as i32, dz as i32, 0]);
                }
            }
        }
    }
    out
}

fn idx(d: [usize; 3], x: usize, y: usize, z: usize) -> usize {
    x + d[0] * (y + d[1] * z)
}

/// CPU twin: applies the dilation, erosion or hollowing to u8 labels (i fastest); returns the
/// voxels changed. Dilate: voxels within the ball of a `label` voxel become `label` where
/// their current label is writable. Erode: `label` voxels within the ball of another value
/// become 0. Hollow: `label` voxels not within the ball of another value become 0 (inside and
/// centred shells keep those that are); outside and centred shells also give `label` to the
/// writable voxels within the ball of a `label` voxel.
pub fn morphology_cpu(p: &MorphologyParams, offsets: &[[i32; 4]], labels: &mut [u8]) -> u64 {
    let d = [p.dims[0], p.dims[1], p.dims[2]].map(|n| n as usize);
    let label = p.label();
    let mode = p.mode();
    let mut mark = vec![false; labels.len()];
    if mode.stamps_outward() {
        marks_cpu(labels, d, |l| l == label, offsets, &mut mark);
    }
    if mode.stamps_inward() {
        marks_cpu(labels, d, |l| l != label, offsets, &mut mark);
    }
    let mut changed = 0u64;
    for (l, &m) in labels.iter_mut().zip(&mark) {
        let cur = *l;
        let new = match mode {
            MorphologyMode::Dilate if m && cur != label && p.writable(cur) => label,
            MorphologyMode::Erode if m && cur == label => 0,
            MorphologyMode::HollowInside
            | MorphologyMode::HollowOutside
            | MorphologyMode::HollowCentred => {
                if cur == label && !m {
                    0
                } else if cur != label && m && p.writable(cur) {
                    label
                } else {
                    cur
                }
            }
            _ => cur,
        };
        if new != cur {
            *l = new;
            changed += 1;
        }
    }
    changed
}

/// Marks the voxels within `offsets` of a voxel satisfying `source` that do not satisfy it
/// themselves.
fn marks_cpu(
    labels: &[u8],
    d: [usize; 3],
    source: impl Fn(u8) -> bool,
    offsets: &[[i32; 4]],
    mark: &mut [bool],
) {
    let inside = |q: [i64; 3]| (0..3).all(|a| q[a] >= 0 && q[a] < d[a] as i64);
    for z in 0..d[2] {
        for y in 0..d[1] {
            for x in 0..d[0] {
                let i = idx(d, x, y, z);
                if !source(labels[i]) {
                    continue;
                }
                // The nearest source voxel to any non-source voxel is a boundary voxel (a
                // step toward it from an interior voxel would be closer), so only boundary
                // voxels need stamping.
                let p = [x as i64, y as i64, z as i64];
                let interior = [
                    [-1i64, 0, 0],
                    [1, 0, 0],
                    [0, -1, 0],
                    [0, 1, 0],
                    [0, 0, -1],
                    [0, 0, 1],
                ]
                .iter()
                .all(|o| {
                    let q = [p[0] + o[0], p[1] + o[1], p[2] + o[2]];
                    !inside(q)
                        || source(labels[idx(d, q[0] as usize, q[1] as usize, q[2] as usize)])
                });
                if interior {
                    continue;
                }
                for o in offsets {
                    let q = [
                        p[0] + i64::from(o[0]),
                        p[1] + i64::from(o[1]),
                        p[2] + i64::from(o[2]),
                    ];
                    if !inside(q) {
                        continue;
                    }
                    let j = idx(d, q[0] as usize, q[1] as usize, q[2] as usize);
                    if !source(labels[j]) {
                        mark[j] = true;
                    }
                }
            }
        }
    }
}

/// GPU dilate/erode.
pub struct MorphologyKernel {
    mark: wgpu::ComputePipeline,
    apply: wgpu::ComputePipeline,
}

/// A bind group for group 0 of `pipeline` with the given (binding, resource) pairs (entry
/// points that use only some bindings).
pub(crate) fn bind(
    ctx: &GpuContext,
    pipeline: &wgpu::ComputePipeline,
    entries: &[(u32, wgpu::BindingResource)],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = entries
        .iter()
        .map(|(b, r)| wgpu::BindGroupEntry {
            binding: *b,
            resource: r.clone(),
        })
        .collect();
    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("morphology"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    })
}

impl MorphologyKernel {
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        let src = shaders::prepare(shaders::MORPHOLOGY, "u32");
        let p = |e: &str| crate::kernels::compute_pipeline_entry(ctx, "morphology", &src, e, None);
        Ok(Self {
            mark: p("mark")?,
            apply: p("apply")?,
        })
    }

    /// Records the mark and apply passes into `enc`; returns the buffer that will hold the
    /// number of voxels changed (one u32, COPY_SRC) once `enc` has run.
    pub fn encode(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        p: &MorphologyParams,
        offsets: &[[i32; 4]],
        labels: &PackedU8Volume,
    ) -> Result<wgpu::Buffer> {
        let d = labels.dims;
        if [p.dims[0], p.dims[1], p.dims[2]] != d || p.misc[1] as usize != offsets.len() {
            return Err(Error::Mismatch(
                "morphology: params do not match the labels or the offsets".into(),
            ));
        }
        let n = u64::from(d[0]) * u64::from(d[1]) * u64::from(d[2]);
        let offsets = if offsets.is_empty() {
            vec![[0i32; 4]]
        } else {
            offsets.to_vec()
        };
        ctx.scoped("morphology", || {
            let uniform = compute::uniform(ctx, "morphology params", p);
            let offs = compute::storage(
                ctx,
                "morphology offsets",
                bytemuck::cast_slice(&offsets),
                wgpu::BufferUsages::empty(),
            );
            let marks = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("morphology marks"),
                size: n.div_ceil(32).max(1) * 4,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            });
            let counter = compute::storage(
                ctx,
                "morphology count",
                &[0u8; 4],
                wgpu::BufferUsages::COPY_SRC,
            );
            let b1 = bind(
                ctx,
                &self.mark,
                &[
                    (0, uniform.as_entire_binding()),
                    (1, wgpu::BindingResource::TextureView(&labels.view)),
                    (2, offs.as_entire_binding()),
                    (3, marks.as_entire_binding()),
                ],
            );
            let b2 = bind(
                ctx,
                &self.apply,
                &[
                    (0, uniform.as_entire_binding()),
                    (3, marks.as_entire_binding()),
                    (4, wgpu::BindingResource::TextureView(&labels.view)),
                    (5, counter.as_entire_binding()),
                ],
            );
            compute::encode_pass(
                enc,
                &self.mark,
                &b1,
                "morphology mark",
                compute::groups_1d(n.div_ceil(256) as u32),
            );
            let groups = [
                d[0].div_ceil(4).div_ceil(8),
                d[1].div_ceil(8),
                d[2].div_ceil(4),
            ];
            compute::encode_pass(enc, &self.apply, &b2, "morphology apply", groups);
            counter
        })
    }

    /// [`Self::encode`], submitted; returns the voxels changed.
    pub fn run(
        &self,
        ctx: &GpuContext,
        p: &MorphologyParams,
        offsets: &[[i32; 4]],
        labels: &PackedU8Volume,
    ) -> Result<u64> {
        submit_counted(ctx, |enc| {
            self.encode(ctx, enc, p, offsets, labels).map(Some)
        })
    }
}
