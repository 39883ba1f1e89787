//! 3D ray casting of the resident volume and labels: maximum intensity projection, direct
//! volume rendering through a transfer function, and label surfaces, one ray per pixel.
//!
//! Rays come from [`voxmark_volume::geometry::camera::RayFrame`] in voxel coordinates (so spacing and
//! direction cosines are honoured exactly). Samples lie at whole steps from the origin plane
//! inside the voxel box [−0.5, n − 0.5]; values are trilinear (edge-clamped, the MPR rule),
//! labels nearest; along a ray the 8 corners of the current cell are loaded once and reused
//! while samples stay in it. Empty space is skipped with an 8³ brick map of value ranges and label
//! presence: a brick is skipped only when no sample in it can contribute (MIP: its maximum is
//! not above the ray's maximum so far; DVR: its range lies where the transfer function is
//! transparent; labels: it holds none), so skipping never changes the picture. DVR and label
//! compositing stop at 99 % opacity. Shading is a headlight (ambient + diffuse + specular) on
//! the world-space gradient: central differences of the trilinear field for the volume, of
//! label occupancy for label surfaces. A label surface is drawn where a ray enters a voxel of
//! a visible label different from the previous sample's, so nested labels stay visible
//! through translucent ones.
//!
//! `raycast_cpu` is the twin of shaders/raycast.wgsl for any subset of pixels.

use super::bricks::{brick_dims, brick_edge, BrickMap, GpuBrickMap};
use super::transfer::{TransferFunction, TF_ENTRIES};
use super::window_level::window_to_u8;
use super::{compute_pipeline, compute_pipeline_entry};
use crate::kernels::mpr::MprKernel;
use crate::readback::read_buffer;
use crate::residency::{wgsl_sample_type, PackedU8Volume, ResidentVolume};
use crate::{compute, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::geometry::camera::RayFrame;
use voxmark_volume::{DType, VoxelData, WindowPreset};

/// What the rays compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum RenderMode {
    /// Maximum intensity projection, windowed to grey.
    Mip,
    /// Direct volume rendering through a transfer function.
    Dvr,
    /// Label surfaces only.
    Labels,
}

impl RenderMode {
    fn code(self) -> u32 {
        match self {
            RenderMode::Mip => 0,
            RenderMode::Dvr => 1,
            RenderMode::Labels => 2,
        }
    }
}

pub const FLAG_LABELS: u32 = 1;

/// Keep in sync with `shaders/raycast.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct RaycastParams {
    /// nx, ny, nz, mode.
    pub dims: [u32; 4],
    /// width, height, flags, max steps.
    pub size: [u32; 4],
    /// brick counts bx, by, bz, brick edge.
    pub bricks: [u32; 4],
    /// Voxel coordinates of pixel (0, 0)'s ray at step 0.
    pub origin: [f32; 4],
    pub du: [f32; 4],
    pub dv: [f32; 4],
    /// Voxel-space step; w = step length in mm.
    pub step: [f32; 4],
    /// Rows of (voxel_from_world)ᵀ: voxel gradient -> world gradient.
    pub nrm: [[f32; 4]; 3],
    /// World forward direction; w = label opacity.
    pub view: [f32; 4],
    /// MIP window centre, width; transfer function lo, hi.
    pub window: [f32; 4],
    /// Transfer function opaque span lo, hi; early-termination opacity; unused.
    pub span: [f32; 4],
    /// Clip box in voxel coordinates (lo, hi); the voxel box [−0.5, n − 0.5] when unclipped.
    pub clip_lo: [f32; 4],
    pub clip_hi: [f32; 4],
}
const _: () = assert!(std::mem::size_of::<RaycastParams>() == 240);

/// A box the 3D view is cut to, in continuous voxel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ClipBox {
    pub lo: [f64; 3],
    pub hi: [f64; 3],
}

impl ClipBox {
    /// The voxels i0..=i1, j0..=j1, k0..=k1 (inclusive indices).
    pub fn voxels(lo: [usize; 3], hi: [usize; 3]) -> Self {
        Self {
            lo: lo.map(|v| v as f64 - 0.5),
            hi: hi.map(|v| v as f64 + 0.5),
        }
    }

    /// The part of a volume of `dims` on one side of each crosshair plane through `c`
    /// (voxel coordinates): per axis the high side when `keep_high[a]`, else the low side.
    pub fn crosshair(dims: [usize; 3], c: [f64; 3], keep_high: [bool; 3]) -> Self {
        let mut b = Self::voxels([0, 0, 0], dims.map(|d| d.saturating_sub(1)));
        for a in 0..3 {
            if keep_high[a] {
                b.lo[a] = c[a];
            } else {
                b.hi[a] = c[a];
            }
        }
        b
    }
}

impl RaycastParams {
    /// Params for one frame.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dims: [usize; 3],
        frame: &RayFrame,
        size: [u32; 2],
        mode: RenderMode,
        window: WindowPreset,
        tf: &TransferFunction,
        label_opacity: Option<f32>,
        clip: Option<ClipBox>,
    ) -> Self {
        let clip = clip.unwrap_or(ClipBox::voxels(
            [0, 0, 0],
            dims.map(|d| d.saturating_sub(1)),
        ));
        let v4 = |v: glam::DVec3, w: f32| [v.x as f32, v.y as f32, v.z as f32, w];
        let n = frame.normal_from_voxel_gradient;
        let b = brick_dims(dims);
        let flags = if label_opacity.is_some() {
            FLAG_LABELS
        } else {
            0
        };
        Self {
            dims: [dims[0] as u32, dims[1] as u32, dims[2] as u32, mode.code()],
            size: [size[0], size[1], flags, frame.max_steps],
            bricks: [b[0], b[1], b[2], brick_edge()],
            origin: v4(frame.origin, 0.0),
            du: v4(frame.du, 0.0),
            dv: v4(frame.dv, 0.0),
            step: v4(frame.step, frame.step_mm as f32),
            nrm: [v4(n.row(0), 0.0), v4(n.row(1), 0.0), v4(n.row(2), 0.0)],
            view: v4(frame.forward, label_opacity.unwrap_or(0.0)),
            window: [window.center as f32, window.width as f32, tf.lo, tf.hi],
            span: [tf.alpha_lo, tf.alpha_hi, 0.99, 0.0],
            clip_lo: [clip.lo[0] as f32, clip.lo[1] as f32, clip.lo[2] as f32, 0.0],
            clip_hi: [clip.hi[0] as f32, clip.hi[1] as f32, clip.hi[2] as f32, 0.0],
        }
    }
}

/// Everything the CPU twin reads.
pub struct HostScene<'a> {
    pub data: &'a VoxelData,
    pub labels: Option<&'a [u8]>,
    pub bricks: &'a BrickMap,
    /// Label colours (alpha 0 hides a label).
    pub colors: &'a [[f32; 4]],
    pub tf: &'a TransferFunction,
}

struct Sampler<'a> {
    s: &'a HostScene<'a>,
    d: [i32; 3],
}

impl Sampler<'_> {
    fn load(&self, p: [i32; 3]) -> f32 {
        let idx = p[0] as usize
            + self.d[0] as usize * (p[1] as usize + self.d[1] as usize * p[2] as usize);
        self.s.data.get_f64(idx) as f32
    }

    /// Trilinear, clamped (keep in sync with `sample` in the shader).
    fn sample(&self, p: [f32; 3]) -> f32 {
        let q = [0, 1, 2].map(|a| p[a].clamp(0.0, (self.d[a] - 1) as f32));
        let i0 = q.map(|v| v.floor() as i32);
        let i1 = [0, 1, 2].map(|a| (i0[a] + 1).min(self.d[a] - 1));
        let f = [0, 1, 2].map(|a| q[a] - i0[a] as f32);
        let mix = |a: f32, b: f32, t: f32| a * (1.0 - t) + b * t;
        let c00 = mix(self.load(i0), self.load([i1[0], i0[1], i0[2]]), f[0]);
        let c10 = mix(
            self.load([i0[0], i1[1], i0[2]]),
            self.load([i1[0], i1[1], i0[2]]),
            f[0],
        );
        let c01 = mix(
            self.load([i0[0], i0[1], i1[2]]),
            self.load([i1[0], i0[1], i1[2]]),
            f[0],
        );
        let c11 = mix(self.load([i0[0], i1[1], i1[2]]), self.load(i1), f[0]);
        mix(mix(c00, c10, f[1]), mix(c01, c11, f[1]), f[2])
    }

    fn label(&self, p: [i32; 3]) -> u32 {
        match self.s.labels {
            Some(l) if (0..3).all(|a| p[a] >= 0 && p[a] < self.d[a]) => u32::from(
                l[p[0] as usize
                    + self.d[0] as usize * (p[1] as usize + self.d[1] as usize * p[2] as usize)],
            ),
            _ => 0,
        }
    }
}

fn dot3(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Headlight shading factor (ambient + diffuse, specular) for a voxel-space gradient `g`.
fn shade(p: &RaycastParams, g: [f32; 3]) -> (f32, f32) {
    let n = [0, 1, 2].map(|r| dot3([p.nrm[r][0], p.nrm[r][1], p.nrm[r][2]], g));
    let len = dot3(n, n).sqrt();
    if len < 1e-6 {
        return (1.0, 0.0);
    }
    let d = (dot3(n, [p.view[0], p.view[1], p.view[2]]) / len).abs();
    (0.3 + 0.7 * d, 0.25 * d.powi(24))
}

/// Slab intersection of a ray with the voxel box cut by the clip box, in steps.
fn ray_box(p: &RaycastParams, o: [f32; 3], d: [f32; 3], n: [i32; 3]) -> (f32, f32) {
    let (mut tn, mut tf) = (-1e30f32, 1e30f32);
    for a in 0..3 {
        let lo = p.clip_lo[a].max(-0.5);
        let hi = p.clip_hi[a].min(n[a] as f32 - 0.5);
        if d[a].abs() < 1e-12 {
            if o[a] < lo || o[a] > hi {
                return (1.0, 0.0);
            }
        } else {
            let t1 = (lo - o[a]) / d[a];
            let t2 = (hi - o[a]) / d[a];
            tn = tn.max(t1.min(t2));
            tf = tf.min(t1.max(t2));
        }
    }
    (tn, tf)
}

/// CPU twin: the RGBA8 colour of pixel (x, y).
pub fn raycast_pixel(p: &RaycastParams, scene: &HostScene, x: u32, y: u32) -> [u8; 4] {
    march(p, scene, x, y).0
}

/// CPU twin of the pick: the voxel coordinates of what pixel (x, y) shows (see
/// [`RaycastKernel::pick`]), or None when its ray hits nothing.
pub fn pick_cpu(p: &RaycastParams, scene: &HostScene, x: u32, y: u32) -> Option<[f32; 3]> {
    march(p, scene, x, y).1
}

/// One ray: its colour and the point it picks — the first label surface it enters (label
/// surfaces shown), else the sample where DVR opacity reaches one half, else (MIP) the
/// maximum's sample.
fn march(p: &RaycastParams, scene: &HostScene, x: u32, y: u32) -> ([u8; 4], Option<[f32; 3]>) {
    let d = [p.dims[0] as i32, p.dims[1] as i32, p.dims[2] as i32];
    let sm = Sampler { s: scene, d };
    let mode = p.dims[3];
    let labels_on = p.size[2] & FLAG_LABELS != 0 && scene.labels.is_some();
    let (xf, yf) = (x as f32, y as f32);
    let o = [0, 1, 2].map(|a| p.origin[a] + xf * p.du[a] + yf * p.dv[a]);
    let st = [p.step[0], p.step[1], p.step[2]];
    let (tn, tfar) = ray_box(p, o, st, d);
    let mut hit: Option<[f32; 3]> = None;
    let mut vhit: Option<[f32; 3]> = None;
    let k0 = tn.ceil().max(0.0);
    let k1 = tfar.floor().min(p.size[3] as f32);
    let mut acc = [0f32; 4];
    let mut mx = f32::MIN;
    let mut prev_label = 0u32;
    let step_mm = p.step[3];
    let mut k = k0;
    while k <= k1 {
        let pos = [0, 1, 2].map(|a| o[a] + st[a] * k);
        // Empty-space skipping.
        let bi = [0, 1, 2]
            .map(|a| (pos[a].clamp(0.0, (d[a] - 1) as f32) / p.bricks[3] as f32).floor() as u32);
        let b = (bi[0] + p.bricks[0] * (bi[1] + p.bricks[1] * bi[2])) as usize;
        let r = scene.bricks.range[b];
        let has_lab = labels_on && scene.bricks.labels[b] != 0;
        let vol_empty = match mode {
            0 => r[1] <= mx,
            1 => r[1] < p.span[0] || r[0] > p.span[1],
            _ => true,
        };
        if vol_empty && !has_lab {
            let mut t_exit = 1e30f32;
            for a in 0..3 {
                if st[a] > 0.0 {
                    t_exit = t_exit.min((((bi[a] + 1) * p.bricks[3]) as f32 - o[a]) / st[a]);
                } else if st[a] < 0.0 {
                    t_exit = t_exit.min(((bi[a] * p.bricks[3]) as f32 - o[a]) / st[a]);
                }
            }
            prev_label = 0;
            k = (k + 1.0).max(t_exit.floor());
            continue;
        }
        if labels_on {
            let li = pos.map(|v| (v + 0.5).floor() as i32);
            let l = sm.label(li);
            let c = scene.colors.get(l as usize).copied().unwrap_or([0.0; 4]);
            if l != 0 && l != prev_label && c[3] > 0.0 {
                let occ = |q: [i32; 3]| f32::from(u8::from(sm.label(q) == l));
                let g = [0, 1, 2].map(|a| {
                    let (mut m, mut pl) = (li, li);
                    m[a] -= 1;
                    pl[a] += 1;
                    occ(m) - occ(pl)
                });
                let (sh, spec) = shade(p, g);
                let a = c[3] * p.view[3];
                if hit.is_none() {
                    hit = Some(li.map(|v| v as f32));
                }
                for ch in 0..3 {
                    acc[ch] += (1.0 - acc[3]) * a * (c[ch] * sh + spec);
                }
                acc[3] += (1.0 - acc[3]) * a;
            }
            prev_label = if c[3] > 0.0 { l } else { 0 };
        }
        if mode == 0 {
            let v = sm.sample(pos);
            if v > mx {
                mx = v;
                vhit = Some(pos);
            }
        } else if mode == 1 {
            let v = sm.sample(pos);
            if v >= p.span[0] && v <= p.span[1] {
                let c = scene.tf.at(v);
                let a = 1.0 - (1.0 - c[3].min(1.0)).powf(step_mm);
                if a > 0.0 {
                    let g = [0, 1, 2].map(|ax| {
                        let (mut m, mut pl) = (pos, pos);
                        m[ax] -= 1.0;
                        pl[ax] += 1.0;
                        sm.sample(m) - sm.sample(pl)
                    });
                    let (sh, spec) = shade(p, g);
                    for ch in 0..3 {
                        acc[ch] += (1.0 - acc[3]) * a * (c[ch] * sh + spec);
                    }
                    acc[3] += (1.0 - acc[3]) * a;
                    if vhit.is_none() && acc[3] >= 0.5 {
                        vhit = Some(pos);
                    }
                }
            }
        }
        if acc[3] >= p.span[2] {
            break;
        }
        k += 1.0;
    }
    let mut rgb = [acc[0], acc[1], acc[2]];
    if mode == 0 && mx > f32::MIN {
        let g = window_to_u8(mx, p.window[0], p.window[1]) as f32 / 255.0;
        for c in &mut rgb {
            *c += (1.0 - acc[3]) * g;
        }
    }
    let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0 + 0.5).floor() as u8;
    ([q(rgb[0]), q(rgb[1]), q(rgb[2]), 255], hit.or(vhit))
}

/// CPU twin for a whole image (rows in parallel).
pub fn raycast_cpu(p: &RaycastParams, scene: &HostScene) -> Vec<u8> {
    use rayon::prelude::*;
    let (w, h) = (p.size[0], p.size[1]);
    let mut out = vec![0u8; (w * h * 4) as usize];
    out.par_chunks_mut((w * 4) as usize)
        .enumerate()
        .for_each(|(y, row)| {
            for x in 0..w {
                let c = raycast_pixel(p, scene, x, y as u32);
                row[(x * 4) as usize..(x * 4 + 4) as usize].copy_from_slice(&c);
            }
        });
    out
}

/// GPU ray caster for one volume type.
pub struct RaycastKernel {
    pipeline: wgpu::ComputePipeline,
    pick_pipeline: wgpu::ComputePipeline,
    dtype: DType,
    empty_labels: PackedU8Volume,
    /// Bound to the pick slot while drawing frames (only `pick_main` uses it).
    no_pick: wgpu::Buffer,
}

impl RaycastKernel {
    /// Compiles the ray caster for volumes of `dtype`.
    pub fn new(ctx: &GpuContext, dtype: DType) -> Result<Self> {
        let st = wgsl_sample_type(dtype);
        let src = shaders::prepare(shaders::RAYCAST, st);
        Ok(Self {
            pipeline: compute_pipeline(ctx, "raycast", &src)?,
            pick_pipeline: compute_pipeline_entry(ctx, "raycast pick", &src, "pick_main", None)?,
            dtype,
            empty_labels: PackedU8Volume::zeros(ctx, [1, 1, 1])?,
            no_pick: compute::storage(
                ctx,
                "raycast no pick",
                &[0u8; 16],
                wgpu::BufferUsages::empty(),
            ),
        })
    }

    /// Records one frame into `target` (an rgba8unorm storage texture of the params' size).
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        p: &RaycastParams,
        volume: &ResidentVolume,
        labels: Option<&PackedU8Volume>,
        map: &GpuBrickMap,
        colors: &[[f32; 4]],
        tf: &TransferFunction,
        target: &wgpu::TextureView,
    ) -> Result<()> {
        let bind = self.bind(
            ctx,
            &self.pipeline,
            (p, volume, labels, map, colors, tf),
            target,
            &self.no_pick,
        )?;
        compute::encode_pass(
            encoder,
            &self.pipeline,
            &bind,
            "raycast",
            [p.size[0].div_ceil(8), p.size[1].div_ceil(8), 1],
        );
        Ok(())
    }

    /// What pixel (x, y) of the frame shows, in voxel coordinates: the first label surface
    /// its ray enters (when labels are shown), else where DVR opacity reaches one half,
    /// else the MIP maximum's sample. None when the ray hits nothing. (Double-click in the
    /// 3D view moves the crosshair there.)
    #[allow(clippy::too_many_arguments)]
    pub fn pick(
        &self,
        ctx: &GpuContext,
        p: &RaycastParams,
        volume: &ResidentVolume,
        labels: Option<&PackedU8Volume>,
        map: &GpuBrickMap,
        colors: &[[f32; 4]],
        tf: &TransferFunction,
        pixel: [u32; 2],
    ) -> Result<Option<[f32; 3]>> {
        if pixel[0] >= p.size[0] || pixel[1] >= p.size[1] {
            return Ok(None);
        }
        let scratch = MprKernel::create_target(ctx, [1, 1]);
        let view = scratch.create_view(&Default::default());
        let io = [pixel[0] as f32, pixel[1] as f32, 0.0, 0.0];
        let pick = compute::storage(
            ctx,
            "raycast pick",
            bytemuck::cast_slice(&io),
            wgpu::BufferUsages::COPY_SRC,
        );
        ctx.scoped("raycast pick", || -> Result<()> {
            let bind = self.bind(
                ctx,
                &self.pick_pipeline,
                (p, volume, labels, map, colors, tf),
                &view,
                &pick,
            )?;
            compute::submit_pass(ctx, &self.pick_pipeline, &bind, "raycast pick", [1, 1, 1]);
            Ok(())
        })??;
        let out: Vec<f32> = bytemuck::cast_slice(&read_buffer(ctx, &pick, 16)?).to_vec();
        Ok((out[3] != 0.0).then(|| [out[0], out[1], out[2]]))
    }

    fn bind(
        &self,
        ctx: &GpuContext,
        pipeline: &wgpu::ComputePipeline,
        (p, volume, labels, map, colors, tf): Scene<'_>,
        target: &wgpu::TextureView,
        pick: &wgpu::Buffer,
    ) -> Result<wgpu::BindGroup> {
        if volume.dtype != self.dtype {
            return Err(Error::Invalid(
                "raycast: volume type does not match the kernel".into(),
            ));
        }
        if let Some(l) = labels {
            if l.dims != volume.dims {
                return Err(Error::Invalid(
                    "raycast: labels and volume differ in dims".into(),
                ));
            }
        }
        let mut palette = [[0f32; 4]; 256];
        for (d, s) in palette.iter_mut().zip(colors) {
            *d = *s;
        }
        let mut lut = [[0f32; 4]; TF_ENTRIES];
        for (d, s) in lut.iter_mut().zip(&tf.lut) {
            *d = *s;
        }
        let uniform = compute::uniform(ctx, "raycast params", p);
        let color_buf = compute::uniform(ctx, "raycast colors", &palette);
        let tf_buf = compute::uniform(ctx, "raycast tf", &lut);
        Ok(compute::bind_group(
            ctx,
            pipeline,
            "raycast",
            &[
                uniform.as_entire_binding(),
                color_buf.as_entire_binding(),
                tf_buf.as_entire_binding(),
                map.range.as_entire_binding(),
                map.labels.as_entire_binding(),
                wgpu::BindingResource::TextureView(&volume.view),
                wgpu::BindingResource::TextureView(&labels.unwrap_or(&self.empty_labels).view),
                wgpu::BindingResource::TextureView(target),
                pick.as_entire_binding(),
            ],
        ))
    }
}

/// What a frame reads: params, volume, labels, brick map, label colours, transfer function.
type Scene<'a> = (
    &'a RaycastParams,
    &'a ResidentVolume,
    Option<&'a PackedU8Volume>,
    &'a GpuBrickMap,
    &'a [[f32; 4]],
    &'a TransferFunction,
);
