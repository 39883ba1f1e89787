//! Window/level: the DICOM linear VOI function (PS3.3 C.11.2.1.2.1) on real-unit values,
//! 8-bit output for display.
//!
//! ```text
//! x <= c - 0.5 - (w-1)/2          -> 0
//! x >  c - 0.5 + (w-1)/2          -> 255
//! otherwise ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, rounded half up
//! ```
//! computed in f32 on both CPU and GPU (widths below 1 count as 1, as the standard requires
//! w ≥ 1). The CPU path for 8/16-bit volumes is a lookup table applied with rayon.

use super::compute_pipeline;
use crate::residency::{wgsl_sample_type, PackedU8Volume, ResidentVolume};
use crate::{compute, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::{DType, VoxelData, WindowPreset};

/// Keep in sync with `shaders/window_level.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct WindowLevelParams {
    /// nx, ny, nz, packed texel width ⌈nx/4⌉.
    pub dims: [u32; 4],
    pub center: f32,
    pub width: f32,
    pub _pad: [u32; 2],
}
const _: () = assert!(std::mem::size_of::<WindowLevelParams>() == 32);

impl WindowLevelParams {
    /// Params for a volume of `dims` and a window.
    pub fn new(dims: [usize; 3], window: WindowPreset) -> Self {
        Self {
            dims: [
                dims[0] as u32,
                dims[1] as u32,
                dims[2] as u32,
                (dims[0] as u32).div_ceil(4),
            ],
            center: window.center as f32,
            width: window.width as f32,
            _pad: [0; 2],
        }
    }
}

/// The VOI linear function for one value (f32, same operations as the shader).
pub fn window_to_u8(x: f32, center: f32, width: f32) -> u8 {
    let w = width.max(1.0);
    let lo = center - 0.5 - (w - 1.0) / 2.0;
    let hi = center - 0.5 + (w - 1.0) / 2.0;
    if x <= lo {
        return 0;
    }
    if x > hi {
        return 255;
    }
    let y = ((x - (center - 0.5)) / (w - 1.0) + 0.5) * 255.0;
    (y + 0.5).floor().clamp(0.0, 255.0) as u8
}

/// CPU reference: every voxel windowed to 8 bits (i fastest). Integer types up to 16 bits
/// go through a lookup table.
pub fn window_level_cpu(params: &WindowLevelParams, data: &VoxelData) -> Vec<u8> {
    let (c, w) = (params.center, params.width);
    // A 64 Ki-entry table indexed by the 16-bit pattern: no bounds checks in the hot loop.
    fn lut_map<T: Copy + Send + Sync>(
        v: &[T],
        lut: &[u8; 65536],
        index: impl Fn(T) -> u16 + Sync,
    ) -> Vec<u8> {
        let mut out = vec![0u8; v.len()];
        out.par_chunks_mut(1 << 16)
            .zip(v.par_chunks(1 << 16))
            .for_each(|(o, s)| {
                o.iter_mut()
                    .zip(s)
                    .for_each(|(o, &x)| *o = lut[usize::from(index(x))])
            });
        out
    }
    let table = |f: &dyn Fn(u16) -> f32| -> Box<[u8; 65536]> {
        let mut t = Box::new([0u8; 65536]);
        for (i, e) in t.iter_mut().enumerate() {
            *e = window_to_u8(f(i as u16), c, w);
        }
        t
    };
    match data {
        VoxelData::U8(v) => lut_map(v, &table(&|i| f32::from(i)), u16::from),
        VoxelData::I8(v) => lut_map(v, &table(&|i| f32::from(i as u8 as i8)), |x| {
            u16::from(x as u8)
        }),
        VoxelData::U16(v) => lut_map(v, &table(&|i| f32::from(i)), |x| x),
        VoxelData::I16(v) => lut_map(v, &table(&|i| f32::from(i as i16)), |x| x as u16),
        VoxelData::I32(v) => v
            .par_iter()
            .map(|&x| window_to_u8(x as f32, c, w))
            .collect(),
        VoxelData::F32(v) => v.par_iter().map(|&x| window_to_u8(x, c, w)).collect(),
    }
}

/// GPU whole-volume window/level into a packed 8-bit volume.
pub struct WindowLevelKernel {
    pipeline: wgpu::ComputePipeline,
    dtype: DType,
    /// Workgroup size (packed texels along x, y, z).
    workgroup: [u32; 3],
}

/// The workgroup shape: `VOXMARK_WL_WORKGROUP=x,y,z` (product ≤ 256; for tuning on a card
/// with `voxmark bench --ops wl`), else 8 × 8 × 4.
fn workgroup_from_env() -> [u32; 3] {
    let parsed = std::env::var("VOXMARK_WL_WORKGROUP").ok().and_then(|v| {
        let p: Vec<u32> = v.split(',').filter_map(|x| x.trim().parse().ok()).collect();
        match p[..] {
            [x, y, z] if x * y * z > 0 && x * y * z <= 256 => Some([x, y, z]),
            _ => None,
        }
    });
    parsed.unwrap_or([8, 8, 4])
}

impl WindowLevelKernel {
    /// Compiles the kernel for volumes of `dtype`.
    pub fn new(ctx: &GpuContext, dtype: DType) -> Result<Self> {
        let workgroup = workgroup_from_env();
        let src = shaders::prepare(shaders::WINDOW_LEVEL, wgsl_sample_type(dtype)).replace(
            "@workgroup_size(8, 8, 4)",
            &format!(
                "@workgroup_size({}, {}, {})",
                workgroup[0], workgroup[1], workgroup[2]
            ),
        );
        Ok(Self {
            pipeline: compute_pipeline(ctx, "window_level", &src)?,
            dtype,
            workgroup,
        })
    }

    /// Records the dispatch: `volume` windowed into `out` (same dims).
    pub fn encode(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        params: &WindowLevelParams,
        volume: &ResidentVolume,
        out: &PackedU8Volume,
    ) -> Result<()> {
        if volume.dtype != self.dtype || volume.dims != out.dims {
            return Err(Error::Invalid(
                "window_level: volume type or dims do not match".into(),
            ));
        }
        let uniform = compute::uniform(ctx, "window_level params", params);
        let bind = compute::bind_group(
            ctx,
            &self.pipeline,
            "window_level",
            &[
                uniform.as_entire_binding(),
                wgpu::BindingResource::TextureView(&volume.view),
                wgpu::BindingResource::TextureView(&out.view),
            ],
        );
        let wg = self.workgroup;
        let groups = [
            params.dims[3].div_ceil(wg[0]),
            params.dims[1].div_ceil(wg[1]),
            params.dims[2].div_ceil(wg[2]),
        ];
        compute::encode_pass(encoder, &self.pipeline, &bind, "window_level", groups);
        Ok(())
    }

    /// Convenience: allocates the output, runs, waits.
    pub fn run(
        &self,
        ctx: &GpuContext,
        params: &WindowLevelParams,
        volume: &ResidentVolume,
    ) -> Result<PackedU8Volume> {
        let dims = volume.dims.map(|d| d as usize);
        let out = PackedU8Volume::zeros(ctx, dims)?;
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        ctx.scoped("window_level", || {
            self.encode(ctx, &mut enc, params, volume, &out)
        })??;
        ctx.queue.submit([enc.finish()]);
        ctx.wait("window_level")?;
        Ok(out)
    }
}

/// Named windows as radiologists know them (centre/level, width in HU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// CT brain: W 80, L 40.
    Brain,
    /// CT subdural: W 200, L 75.
    Subdural,
    /// CT stroke: W 40, L 40.
    Stroke,
    /// CT lung: W 1500, L -600.
    Lung,
    /// CT mediastinum: W 350, L 50.
    Mediastinum,
    /// CT abdomen (soft tissue): W 400, L 50.
    Abdomen,
    /// CT liver: W 150, L 30.
    Liver,
    /// CT bone: W 1800, L 400.
    Bone,
    /// Histogram 1st-99th percentile (MR and anything without a stored window).
    #[value(alias = "mr-auto")]
    Auto,
}

impl Preset {
    /// The fixed window, or None for `Auto`.
    pub fn window(self) -> Option<WindowPreset> {
        let (width, center) = match self {
            Preset::Brain => (80.0, 40.0),
            Preset::Subdural => (200.0, 75.0),
            Preset::Stroke => (40.0, 40.0),
            Preset::Lung => (1500.0, -600.0),
            Preset::Mediastinum => (350.0, 50.0),
            Preset::Abdomen => (400.0, 50.0),
            Preset::Liver => (150.0, 30.0),
            Preset::Bone => (1800.0, 400.0),
            Preset::Auto => return None,
        };
        Some(WindowPreset { center, width })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voi_linear_function_edges_match_the_standard() {
        // PS3.3 C.11.2.1.2.1 with c = 40, w = 400: x <= -160.5 -> 0, x > 239.5 -> 255.
        assert_eq!(window_to_u8(-160.5, 40.0, 400.0), 0);
        assert_eq!(window_to_u8(-160.0, 40.0, 400.0), 0);
        assert_eq!(window_to_u8(239.5, 40.0, 400.0), 255);
        assert_eq!(window_to_u8(240.0, 40.0, 400.0), 255);
        assert_eq!(window_to_u8(39.5, 40.0, 400.0), 128);
        // Width 1 is a threshold at c - 0.5.
        assert_eq!(window_to_u8(9.5, 10.0, 1.0), 0);
        assert_eq!(window_to_u8(9.6, 10.0, 1.0), 255);
        assert_eq!(window_to_u8(5.0, 10.0, 0.0), 0, "width < 1 counts as 1");
    }

    #[test]
    fn lut_path_equals_direct_formula() {
        let v: Vec<i16> = (-2000..2000).collect();
        let p = WindowLevelParams::new(
            [v.len(), 1, 1],
            WindowPreset {
                center: 40.0,
                width: 400.0,
            },
        );
        let lut = window_level_cpu(&p, &VoxelData::I16(v.clone()));
        let direct: Vec<u8> = v
            .iter()
            .map(|&x| window_to_u8(f32::from(x), 40.0, 400.0))
            .collect();
        assert_eq!(lut, direct);
        assert_eq!(Preset::Lung.window().map(|w| w.center), Some(-600.0));
    }
}
