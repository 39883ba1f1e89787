//! The slice renderer: one code path for `voxmark render` (offscreen, read back once for the
//! PNG) and for the desktop shell (renders into a texture it shows; no readback).

use voxmark_gpu::kernels::mpr::{mpr_cpu, LabelStyle, MprKernel, MprParams};
use voxmark_gpu::residency::{PackedU8Volume, ResidentVolume};
use voxmark_gpu::GpuContext;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::geometry::view::ViewGeometry;
use voxmark_volume::{DType, VoxelData, WindowPreset};

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
        super::offscreen::render_offscreen(ctx, view.size, "render slice", |enc, target| {
            self.encode(ctx, enc, volume, layers, view, opts, target)
        })
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
        return Err(Error::Mismatch("render: data does not match dims".into()));
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
