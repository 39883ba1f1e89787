//! The slice renderer: one code path for `voxmark render` (offscreen, read back once for the
//! PNG) and for the desktop shell (renders into a texture it shows; no readback).

use super::view::ViewGeometry;
use crate::error::{Error, Result};
use crate::gpu::residency::{PackedU8Volume, ResidentVolume};
use crate::gpu::{readback::read_buffer, GpuContext};
use crate::kernels::mpr::{mpr_cpu, LabelStyle, MprKernel, MprParams};
use crate::volume::{DType, VoxelData, WindowPreset};

/// What to draw on a slice besides the image.
#[derive(Debug, Clone)]
pub struct SliceOptions {
    pub window: WindowPreset,
    pub linear: bool,
    /// Label overlay style (None: no label overlay).
    pub labels: Option<LabelStyle>,
    /// Crosshair through this voxel (i, j, k).
    pub crosshair: Option<[f64; 3]>,
}

/// The label layers drawn over a slice on the GPU: the label volume and the preview mask.
#[derive(Clone, Copy, Default)]
pub struct Overlays<'a> {
    pub labels: Option<&'a PackedU8Volume>,
    pub preview: Option<&'a PackedU8Volume>,
}

/// The same layers on the host (CPU rendering).
#[derive(Clone, Copy, Default)]
pub struct HostOverlays<'a> {
    pub labels: Option<&'a [u8]>,
    pub preview: Option<&'a [u8]>,
}

impl SliceOptions {
    fn params(&self, dims: [usize; 3], view: &ViewGeometry, preview: bool) -> MprParams {
        let cross = self.crosshair.and_then(|c| view.pixel_of_voxel(c));
        MprParams::new(
            dims,
            view,
            self.window,
            self.linear,
            self.labels.as_ref(),
            cross,
            preview,
        )
    }

    fn coords(view: &ViewGeometry) -> Vec<f32> {
        view.u_coords
            .iter()
            .chain(&view.v_coords)
            .copied()
            .collect()
    }

    fn colors(&self) -> Vec<[f32; 4]> {
        self.labels
            .as_ref()
            .map(|l| l.colors.clone())
            .unwrap_or_default()
    }
}

/// GPU slice renderer for one volume type.
pub struct SliceRenderer {
    kernel: MprKernel,
}

impl SliceRenderer {
    /// Compiles the renderer for volumes of `dtype`.
    pub fn new(ctx: &GpuContext, dtype: DType) -> Result<Self> {
        Ok(Self {
            kernel: MprKernel::new(ctx, dtype)?,
        })
    }

    /// Records a render of `view` into `target` (the interactive path: no readback).
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        volume: &ResidentVolume,
        layers: Overlays,
        view: &ViewGeometry,
        opts: &SliceOptions,
        target: &wgpu::TextureView,
    ) -> Result<()> {
        let dims = volume.dims.map(|d| d as usize);
        let p = opts.params(dims, view, layers.preview.is_some());
        let labels = if opts.labels.is_some() {
            layers.labels
        } else {
            None
        };
        let coords = SliceOptions::coords(view);
        let colors = opts.colors();
        self.kernel.encode(
            ctx,
            encoder,
            &p,
            &coords,
            &colors,
            volume,
            labels,
            layers.preview,
            target,
        )
    }

    /// Renders offscreen and reads the RGBA8 image back (for PNG output and tests).
    pub fn render_rgba(
        &self,
        ctx: &GpuContext,
        volume: &ResidentVolume,
        layers: Overlays,
        view: &ViewGeometry,
        opts: &SliceOptions,
    ) -> Result<Vec<u8>> {
        let [w, h] = view.size;
        let texture = MprKernel::create_target(ctx, view.size);
        let target = texture.create_view(&Default::default());
        let padded = (w as usize * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as usize);
        let size = (padded * h as usize) as u64;
        let buf = ctx.scoped("render slice", || -> Result<wgpu::Buffer> {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            self.encode(ctx, &mut enc, volume, layers, view, opts, &target)?;
            let buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("slice readback"),
                size,
                usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            enc.copy_texture_to_buffer(
                texture.as_image_copy(),
                wgpu::TexelCopyBufferInfo {
                    buffer: &buf,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(padded as u32),
                        rows_per_image: Some(h),
                    },
                },
                wgpu::Extent3d {
                    width: w,
                    height: h,
                    depth_or_array_layers: 1,
                },
            );
            ctx.queue.submit([enc.finish()]);
            Ok(buf)
        })??;
        let bytes = read_buffer(ctx, &buf, size)?;
        let mut out = Vec::with_capacity(w as usize * h as usize * 4);
        for row in bytes.chunks(padded).take(h as usize) {
            out.extend_from_slice(&row[..w as usize * 4]);
        }
        Ok(out)
    }
}

/// CPU rendering of the same slice (reference, and the fallback without a GPU).
pub fn render_rgba_cpu(
    volume: &VoxelData,
    dims: [usize; 3],
    layers: HostOverlays,
    view: &ViewGeometry,
    opts: &SliceOptions,
) -> Result<Vec<u8>> {
    let n = volume.len();
    let bad_layer = layers
        .labels
        .iter()
        .chain(layers.preview.iter())
        .any(|l| l.len() != n);
    if n != dims[0] * dims[1] * dims[2] || bad_layer {
        return Err(Error::Invalid("render: data does not match dims".into()));
    }
    let p = opts.params(dims, view, layers.preview.is_some());
    let labels = if opts.labels.is_some() {
        layers.labels
    } else {
        None
    };
    Ok(mpr_cpu(
        &p,
        &SliceOptions::coords(view),
        volume,
        labels,
        layers.preview,
        &opts.colors(),
    ))
}
