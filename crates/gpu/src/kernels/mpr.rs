//! MPR slice rendering: a plane of the voxel grid, windowed to grey, with the label overlay
//! and crosshair, into an RGBA image. The GPU kernel writes an `rgba8unorm` storage texture —
//! the same texture the desktop shell will show, so the interactive path never reads slices
//! back; `voxmark render` reads it back once to write a PNG.
//!
//! Pixel → voxel mapping comes from [`voxmark_volume::geometry::view::ViewGeometry`]'s coordinate tables
//! (see there for orientation conventions). Nearest sampling rounds half up; linear sampling
//! is bilinear in the plane with edge clamping, applied to real-unit values before windowing.

use super::compute_pipeline;
use super::window_level::window_to_u8;
use crate::residency::{wgsl_sample_type, PackedU8Volume, ResidentVolume};
use crate::{compute, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::geometry::view::ViewGeometry;
use voxmark_volume::{DType, VoxelData, WindowPreset};

pub const FLAG_LABELS: u32 = 1;
pub const FLAG_LINEAR: u32 = 2;
pub const FLAG_OUTLINE: u32 = 4;
pub const FLAG_CROSSHAIR: u32 = 8;
pub const FLAG_PREVIEW: u32 = 16;
/// Colour of the preview layer (keep in sync with PREVIEW_COLOR in shaders/mpr.wgsl).
pub const PREVIEW_COLOR: [f32; 3] = [0.1, 0.9, 1.0];
/// Opacity of the preview layer.
pub const PREVIEW_OPACITY: f32 = 0.5;

/// Keep in sync with `shaders/mpr.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct MprParams {
    /// nx, ny, nz, flags.
    pub dims: [u32; 4],
    /// axis_u, axis_v, axis_n, slice.
    pub axes: [u32; 4],
    /// width, height, crosshair column, crosshair row.
    pub size: [u32; 4],
    /// window centre, window width, label opacity, preview opacity.
    pub window: [f32; 4],
}
const _: () = assert!(std::mem::size_of::<MprParams>() == 64);

/// How labels are drawn.
#[derive(Debug, Clone)]
pub struct LabelStyle {
    /// RGBA per label value (alpha 0 hides a label); entry 0 is ignored.
    pub colors: Vec<[f32; 4]>,
    /// Global overlay opacity in [0, 1].
    pub opacity: f32,
    /// Outline instead of filled.
    pub outline: bool,
}

impl Default for LabelStyle {
    fn default() -> Self {
        Self {
            colors: voxmark_volume::label_table::default_palette(),
            opacity: 0.5,
            outline: false,
        }
    }
}

impl MprParams {
    /// Params for `view` of a volume of `dims`.
    pub fn new(
        dims: [usize; 3],
        view: &ViewGeometry,
        window: WindowPreset,
        linear: bool,
        labels: Option<&LabelStyle>,
        crosshair: Option<[u32; 2]>,
        preview: bool,
    ) -> Self {
        let mut flags = 0;
        if preview {
            flags |= FLAG_PREVIEW;
        }
        if linear {
            flags |= FLAG_LINEAR;
        }
        let mut opacity = 0.0;
        if let Some(s) = labels {
            flags |= FLAG_LABELS;
            opacity = s.opacity.clamp(0.0, 1.0);
            if s.outline {
                flags |= FLAG_OUTLINE;
            }
        }
        let cross = crosshair.unwrap_or([u32::MAX, u32::MAX]);
        if crosshair.is_some() {
            flags |= FLAG_CROSSHAIR;
        }
        Self {
            dims: [dims[0] as u32, dims[1] as u32, dims[2] as u32, flags],
            axes: [
                view.axis_u as u32,
                view.axis_v as u32,
                view.axis_n as u32,
                view.slice as u32,
            ],
            size: [view.size[0], view.size[1], cross[0], cross[1]],
            window: [
                window.center as f32,
                window.width as f32,
                opacity,
                PREVIEW_OPACITY,
            ],
        }
    }
}

/// CPU reference: RGBA8 image, row-major from the top-left. `coords` = u table then v table.
pub fn mpr_cpu(
    p: &MprParams,
    coords: &[f32],
    volume: &VoxelData,
    labels: Option<&[u8]>,
    preview: Option<&[u8]>,
    colors: &[[f32; 4]],
) -> Vec<u8> {
    let [w, h] = [p.size[0] as usize, p.size[1] as usize];
    let dims = [p.dims[0] as usize, p.dims[1] as usize, p.dims[2] as usize];
    let (au, av, an, slice) = (
        p.axes[0] as usize,
        p.axes[1] as usize,
        p.axes[2] as usize,
        p.axes[3] as usize,
    );
    let (nu, nv) = (dims[au] as i64, dims[av] as i64);
    let flags = p.dims[3];
    let index = |iu: i64, iv: i64| -> usize {
        let mut q = [0usize; 3];
        q[au] = iu as usize;
        q[av] = iv as usize;
        q[an] = slice;
        q[0] + dims[0] * (q[1] + dims[1] * q[2])
    };
    let value = |iu: i64, iv: i64| volume.get_f64(index(iu, iv)) as f32;
    let label = |iu: i64, iv: i64| -> u8 {
        match labels {
            Some(l) if iu >= 0 && iv >= 0 && iu < nu && iv < nv => l[index(iu, iv)],
            _ => 0,
        }
    };
    let mix = |a: f32, b: f32, t: f32| a * (1.0 - t) + b * t;
    let mut out = vec![0u8; w * h * 4];
    // Rows in parallel; each pixel's arithmetic is unchanged (the GPU twin's).
    out.par_chunks_mut(w * 4).enumerate().for_each(|(y, row)| {
        for x in 0..w {
            let (cu, cv) = (coords[x], coords[w + y]);
            let mut rgb = [0f32; 3];
            if cu >= -0.5 && cv >= -0.5 && cu <= nu as f32 - 0.5 && cv <= nv as f32 - 0.5 {
                let iu = ((cu + 0.5).floor() as i64).clamp(0, nu - 1);
                let iv = ((cv + 0.5).floor() as i64).clamp(0, nv - 1);
                let v = if flags & FLAG_LINEAR != 0 {
                    let su = cu.clamp(0.0, (nu - 1) as f32);
                    let sv = cv.clamp(0.0, (nv - 1) as f32);
                    let (u0, v0) = (su.floor() as i64, sv.floor() as i64);
                    let (u1, v1) = ((u0 + 1).min(nu - 1), (v0 + 1).min(nv - 1));
                    let (tu, tv) = (su - u0 as f32, sv - v0 as f32);
                    let top = mix(value(u0, v0), value(u1, v0), tu);
                    let bottom = mix(value(u0, v1), value(u1, v1), tu);
                    mix(top, bottom, tv)
                } else {
                    value(iu, iv)
                };
                let g = f32::from(window_to_u8(v, p.window[0], p.window[1])) / 255.0;
                rgb = [g, g, g];
                if flags & FLAG_LABELS != 0 {
                    let l = label(iu, iv);
                    let show = l != 0
                        && (flags & FLAG_OUTLINE == 0
                            || label(iu - 1, iv) != l
                            || label(iu + 1, iv) != l
                            || label(iu, iv - 1) != l
                            || label(iu, iv + 1) != l);
                    if show {
                        let c = colors.get(l as usize).copied().unwrap_or([0.0; 4]);
                        let a = c[3] * p.window[2];
                        for ch in 0..3 {
                            rgb[ch] = rgb[ch] * (1.0 - a) + c[ch] * a;
                        }
                    }
                }
                if flags & FLAG_PREVIEW != 0 && preview.is_some_and(|m| m[index(iu, iv)] != 0) {
                    let a = p.window[3];
                    for ch in 0..3 {
                        rgb[ch] = rgb[ch] * (1.0 - a) + PREVIEW_COLOR[ch] * a;
                    }
                }
            }
            if flags & FLAG_CROSSHAIR != 0 && (x as u32 == p.size[2] || y as u32 == p.size[3]) {
                rgb = [1.0, 0.85, 0.1];
            }
            let o = &mut row[x * 4..][..4];
            for ch in 0..3 {
                o[ch] = (rgb[ch] * 255.0 + 0.5).floor().clamp(0.0, 255.0) as u8;
            }
            o[3] = 255;
        }
    });
    out
}

/// GPU MPR renderer for volumes of one sample type.
pub struct MprKernel {
    pipeline: wgpu::ComputePipeline,
    dtype: DType,
    empty_labels: PackedU8Volume,
}

impl MprKernel {
    /// Compiles the kernel for volumes of `dtype`.
    pub fn new(ctx: &GpuContext, dtype: DType) -> Result<Self> {
        let src = shaders::prepare(shaders::MPR, wgsl_sample_type(dtype));
        Ok(Self {
            pipeline: compute_pipeline(ctx, "mpr", &src)?,
            dtype,
            empty_labels: PackedU8Volume::zeros(ctx, [1, 1, 1])?,
        })
    }

    /// An `rgba8unorm` texture usable as this kernel's target (and as an egui texture).
    pub fn create_target(ctx: &GpuContext, size: [u32; 2]) -> wgpu::Texture {
        ctx.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("mpr target"),
            size: wgpu::Extent3d {
                width: size[0],
                height: size[1],
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::STORAGE_BINDING
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        })
    }

    /// Records one render of `p` into `target` (a view of a texture from [`create_target`]).
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        p: &MprParams,
        coords: &[f32],
        colors: &[[f32; 4]],
        volume: &ResidentVolume,
        labels: Option<&PackedU8Volume>,
        preview: Option<&PackedU8Volume>,
        target: &wgpu::TextureView,
    ) -> Result<()> {
        if volume.dtype != self.dtype {
            return Err(Error::Invalid(
                "mpr: volume type does not match the kernel".into(),
            ));
        }
        if coords.len() != (p.size[0] + p.size[1]) as usize {
            return Err(Error::Invalid(
                "mpr: coordinate tables do not match the image size".into(),
            ));
        }
        if let Some(l) = labels {
            if l.dims != volume.dims {
                return Err(Error::Invalid(
                    "mpr: labels and volume differ in dims".into(),
                ));
            }
        }
        let mut palette = [[0f32; 4]; 256];
        for (d, s) in palette.iter_mut().zip(colors) {
            *d = *s;
        }
        let uniform = compute::uniform(ctx, "mpr params", p);
        let color_buf = compute::uniform(ctx, "mpr colors", &palette);
        let coord_buf = compute::storage(
            ctx,
            "mpr coords",
            bytemuck::cast_slice(coords),
            wgpu::BufferUsages::empty(),
        );
        let label_view = &labels.unwrap_or(&self.empty_labels).view;
        let preview_view = &preview.unwrap_or(&self.empty_labels).view;
        let bind = compute::bind_group(
            ctx,
            &self.pipeline,
            "mpr",
            &[
                uniform.as_entire_binding(),
                color_buf.as_entire_binding(),
                coord_buf.as_entire_binding(),
                wgpu::BindingResource::TextureView(&volume.view),
                wgpu::BindingResource::TextureView(label_view),
                wgpu::BindingResource::TextureView(target),
                wgpu::BindingResource::TextureView(preview_view),
            ],
        );
        compute::encode_pass(
            encoder,
            &self.pipeline,
            &bind,
            "mpr",
            [p.size[0].div_ceil(8), p.size[1].div_ceil(8), 1],
        );
        Ok(())
    }
}
