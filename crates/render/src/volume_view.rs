//! The 3D view: camera + mode + transfer function + label style, rendered by the GPU ray
//! caster into any `rgba8unorm` storage texture (the shell's 3D pane), or offscreen for the
//! CLI; and the same frame on the CPU (reference and fallback).

use super::offscreen::render_offscreen;
use voxmark_gpu::kernels::bricks::{brick_map_cpu, BricksKernel, GpuBrickMap};
use voxmark_gpu::kernels::mpr::LabelStyle;
use voxmark_gpu::kernels::raycast::{
    pick_cpu, raycast_cpu, ClipBox, HostScene, RaycastKernel, RaycastParams, RenderMode,
};
use voxmark_gpu::kernels::transfer::TransferFunction;
use voxmark_gpu::residency::{PackedU8Volume, ResidentVolume};
use voxmark_gpu::GpuContext;
use voxmark_volume::error::Result;
use voxmark_volume::geometry::camera::Camera;
use voxmark_volume::{Grid, VoxelData, WindowPreset};

/// What a 3D frame shows.
#[derive(Debug, Clone)]
pub struct VolumeViewOptions {
    pub mode: RenderMode,
    pub camera: Camera,
    /// MIP window.
    pub window: WindowPreset,
    /// DVR transfer function.
    pub tf: TransferFunction,
    /// Label colours (alpha 0 hides) and opacity; None: no labels.
    pub labels: Option<LabelStyle>,
    /// Sample distance in mm (default: half the smallest voxel spacing).
    pub step_mm: Option<f64>,
    /// Cut the volume to this box (voxel coordinates); None: the whole volume.
    pub clip: Option<ClipBox>,
}

impl VolumeViewOptions {
    /// The ray caster params for a frame of `size` over `grid`.
    pub fn params(&self, grid: &Grid, size: [u32; 2]) -> RaycastParams {
        let sp = grid.spacing_mm();
        let step = self.step_mm.unwrap_or(0.5 * sp[0].min(sp[1]).min(sp[2]));
        let frame = self.camera.rays(grid, size, step);
        RaycastParams::new(
            grid.dims,
            &frame,
            size,
            self.mode,
            self.window,
            &self.tf,
            self.labels.as_ref().map(|l| l.opacity),
            self.clip,
        )
    }

    /// `labels` when this view shows labels, else None.
    fn shown<'b, T: ?Sized>(&self, labels: Option<&'b T>) -> Option<&'b T> {
        if self.labels.is_some() {
            labels
        } else {
            None
        }
    }

    fn colors(&self) -> Vec<[f32; 4]> {
        self.labels
            .as_ref()
            .map(|l| l.colors.clone())
            .unwrap_or_default()
    }
}

/// GPU 3D view of one resident volume: the ray caster and its brick map.
pub struct VolumeView {
    kernel: RaycastKernel,
    bricks: BricksKernel,
    map: GpuBrickMap,
}

impl VolumeView {
    /// Compiles the ray caster and builds the brick map of `volume` (and of `labels`).
    pub fn new(
        ctx: &GpuContext,
        volume: &ResidentVolume,
        labels: Option<&PackedU8Volume>,
    ) -> Result<Self> {
        let kernel = RaycastKernel::new(ctx, volume.dtype)?;
        let bricks = BricksKernel::new(ctx, volume.dtype)?;
        let map = bricks.brick_map(ctx, volume)?;
        let me = Self {
            kernel,
            bricks,
            map,
        };
        if let Some(l) = labels {
            me.labels_changed(ctx, volume, l)?;
        }
        Ok(me)
    }

    /// Call after an edit so that skipping sees the new labels (one pass over them).
    pub fn labels_changed(
        &self,
        ctx: &GpuContext,
        volume: &ResidentVolume,
        labels: &PackedU8Volume,
    ) -> Result<()> {
        self.bricks.update_labels(ctx, volume, labels, &self.map)
    }

    /// Records a frame into `target` (size `size`).
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        grid: &Grid,
        volume: &ResidentVolume,
        labels: Option<&PackedU8Volume>,
        opts: &VolumeViewOptions,
        size: [u32; 2],
        target: &wgpu::TextureView,
    ) -> Result<()> {
        let p = opts.params(grid, size);
        let labels = opts.shown(labels);
        self.kernel.encode(
            ctx,
            encoder,
            &p,
            volume,
            labels,
            &self.map,
            &opts.colors(),
            &opts.tf,
            target,
        )
    }

    /// The voxel point pixel `px` of a frame of `size` shows (see [`RaycastKernel::pick`]).
    #[allow(clippy::too_many_arguments)]
    pub fn pick(
        &self,
        ctx: &GpuContext,
        grid: &Grid,
        volume: &ResidentVolume,
        labels: Option<&PackedU8Volume>,
        opts: &VolumeViewOptions,
        size: [u32; 2],
        px: [u32; 2],
    ) -> Result<Option<[f32; 3]>> {
        let p = opts.params(grid, size);
        let labels = opts.shown(labels);
        self.kernel.pick(
            ctx,
            &p,
            volume,
            labels,
            &self.map,
            &opts.colors(),
            &opts.tf,
            px,
        )
    }

    /// Renders offscreen and reads the RGBA8 image back.
    pub fn render_rgba(
        &self,
        ctx: &GpuContext,
        grid: &Grid,
        volume: &ResidentVolume,
        labels: Option<&PackedU8Volume>,
        opts: &VolumeViewOptions,
        size: [u32; 2],
    ) -> Result<Vec<u8>> {
        render_offscreen(ctx, size, "render 3d", |enc, target| {
            self.encode(ctx, enc, grid, volume, labels, opts, size, target)
        })
    }
}

/// Runs `f` on the CPU scene of a frame (brick map built for the shown layers).
fn with_host_scene<T>(
    data: &VoxelData,
    labels: Option<&[u8]>,
    grid: &Grid,
    opts: &VolumeViewOptions,
    f: impl FnOnce(&HostScene) -> T,
) -> T {
    let labels = opts.shown(labels);
    let map = brick_map_cpu(data, labels, grid.dims);
    let colors = opts.colors();
    f(&HostScene {
        data,
        labels,
        bricks: &map,
        colors: &colors,
        tf: &opts.tf,
    })
}

/// The same frame on the CPU.
pub fn render_3d_cpu(
    grid: &Grid,
    data: &VoxelData,
    labels: Option<&[u8]>,
    opts: &VolumeViewOptions,
    size: [u32; 2],
) -> Vec<u8> {
    with_host_scene(data, labels, grid, opts, |scene| {
        raycast_cpu(&opts.params(grid, size), scene)
    })
}

/// The CPU pick of pixel `px` (twin of [`VolumeView::pick`]).
pub fn pick_3d_cpu(
    grid: &Grid,
    data: &VoxelData,
    labels: Option<&[u8]>,
    opts: &VolumeViewOptions,
    size: [u32; 2],
    px: [u32; 2],
) -> Option<[f32; 3]> {
    with_host_scene(data, labels, grid, opts, |scene| {
        pick_cpu(&opts.params(grid, size), scene, px[0], px[1])
    })
}
