//! Region growing from seeds: connected threshold (and ITK-style confidence connected) —
//! the params every backend shares and the CPU flood.
//!
//! Semantics: the voxels whose value lies in `[lower, upper]` (inclusive, real units) inside
//! the ROI box (inclusive) that are connected to a seed through such voxels, under 6-, 18- or
//! 26-connectivity. For integer volumes the bounds are applied exactly (`ceil(lower)`,
//! `floor(upper)`); both backends compare in f32 after that (exact for |v| < 2^24).
//!
//! * CPU ([`region_grow_cpu`]): scanline flood fill (spans along i; neighbour rows scanned per
//!   connectivity), single pass over the region, no full-volume scan.
//! * GPU: [`super::region_grow_gpu::RegionGrowKernel`], union-find connected-component
//!   labelling in a bounded number of dispatches; the slab plan for ROIs larger than one
//!   storage binding is in [`super::slabs`].

use bytemuck::{Pod, Zeroable};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::{DType, VoxelData};

/// Voxel connectivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Connectivity {
    Six = 6,
    Eighteen = 18,
    TwentySix = 26,
}

impl Connectivity {
    /// From 6, 18 or 26.
    pub fn from_number(n: u32) -> Result<Self> {
        match n {
            6 => Ok(Self::Six),
            18 => Ok(Self::Eighteen),
            26 => Ok(Self::TwentySix),
            _ => Err(Error::Invalid(format!(
                "connectivity must be 6, 18 or 26, got {n}"
            ))),
        }
    }

    /// Whether the offset (dx, dy, dz) ≠ 0 connects two voxels.
    pub fn allows(self, d: [i64; 3]) -> bool {
        let nz = d.iter().filter(|&&x| x != 0).count();
        nz > 0
            && match self {
                Self::Six => nz == 1,
                Self::Eighteen => nz <= 2,
                Self::TwentySix => true,
            }
    }
}

/// Keep in sync with `shaders/region_grow.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct RegionGrowParams {
    /// nx, ny, nz, connectivity.
    pub dims: [u32; 4],
    /// ROI min (inclusive) x, y, z; label value written on grown voxels.
    pub box_min: [u32; 4],
    /// ROI max (inclusive) x, y, z; unused.
    pub box_max: [u32; 4],
    /// GPU only: first plane of the slab (ROI-relative), plane count.
    pub slab: [u32; 4],
    /// lower, upper (inclusive, f32 after integer rounding), unused, unused.
    pub range: [f32; 4],
}
const _: () = assert!(std::mem::size_of::<RegionGrowParams>() == 80);

/// What to grow.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowRequest {
    pub seeds: Vec<[usize; 3]>,
    pub lower: f64,
    pub upper: f64,
    pub connectivity: Connectivity,
    /// Inclusive box [i0, j0, k0, i1, j1, k1]; None = whole volume.
    pub roi: Option<[usize; 6]>,
    pub label: u8,
}

impl RegionGrowParams {
    /// Validates a request against a volume and builds the params.
    pub fn new(dims: [usize; 3], dtype: DType, req: &GrowRequest) -> Result<Self> {
        if req.lower.is_nan() || req.upper.is_nan() || req.lower > req.upper {
            return Err(Error::Invalid(format!(
                "lower {} is above upper {}",
                req.lower, req.upper
            )));
        }
        if req.label == 0 {
            return Err(Error::Invalid(
                "label 0 means background; use 1..=255".into(),
            ));
        }
        let roi = req
            .roi
            .unwrap_or([0, 0, 0, dims[0] - 1, dims[1] - 1, dims[2] - 1]);
        for a in 0..3 {
            if roi[a] > roi[a + 3] || roi[a + 3] >= dims[a] {
                return Err(Error::Invalid(format!(
                    "ROI {roi:?} is empty or outside the volume {dims:?}"
                )));
            }
        }
        if req.seeds.is_empty() {
            return Err(Error::Invalid("at least one seed is needed".into()));
        }
        for s in &req.seeds {
            if (0..3).any(|a| s[a] >= dims[a]) {
                return Err(Error::Invalid(format!(
                    "seed {s:?} is outside the volume {dims:?}"
                )));
            }
            if (0..3).any(|a| s[a] < roi[a] || s[a] > roi[a + 3]) {
                return Err(Error::Invalid(format!(
                    "seed {s:?} is outside the ROI {roi:?}"
                )));
            }
        }
        let (lo, hi) = if dtype == DType::F32 {
            (req.lower as f32, req.upper as f32)
        } else {
            (req.lower.ceil() as f32, req.upper.floor() as f32)
        };
        Ok(Self {
            dims: [
                dims[0] as u32,
                dims[1] as u32,
                dims[2] as u32,
                req.connectivity as u32,
            ],
            box_min: [
                roi[0] as u32,
                roi[1] as u32,
                roi[2] as u32,
                u32::from(req.label),
            ],
            box_max: [roi[3] as u32, roi[4] as u32, roi[5] as u32, 0],
            slab: [0; 4],
            range: [lo, hi, 0.0, 0.0],
        })
    }

    pub(crate) fn connectivity(&self) -> Connectivity {
        match self.dims[3] {
            18 => Connectivity::Eighteen,
            26 => Connectivity::TwentySix,
            _ => Connectivity::Six,
        }
    }
}

/// CPU reference and backend: scanline flood fill. Returns the full-size mask (label on
/// grown voxels, 0 elsewhere).
pub fn region_grow_cpu(p: &RegionGrowParams, data: &VoxelData, seeds: &[[usize; 3]]) -> Vec<u8> {
    voxmark_volume::with_voxels!(data, v => flood(p, v, seeds))
}

fn flood<T: Copy + Into<f64>>(p: &RegionGrowParams, v: &[T], seeds: &[[usize; 3]]) -> Vec<u8> {
    let [nx, ny, nz] = [p.dims[0] as usize, p.dims[1] as usize, p.dims[2] as usize];
    let (x0, y0, z0) = (
        p.box_min[0] as usize,
        p.box_min[1] as usize,
        p.box_min[2] as usize,
    );
    let (x1, y1, z1) = (
        p.box_max[0] as usize,
        p.box_max[1] as usize,
        p.box_max[2] as usize,
    );
    let (lo, hi) = (p.range[0], p.range[1]);
    let label = p.box_min[3] as u8;
    let mut mask = vec![0u8; nx * ny * nz];
    let inside = |idx: usize| -> bool {
        let x: f64 = v[idx].into();
        let x = x as f32;
        x >= lo && x <= hi
    };
    let conn = p.connectivity();
    // Neighbour rows (dy, dz) and whether diagonal x-steps (±1) reach into them.
    let rows: Vec<(i64, i64, usize)> = [
        (-1, 0),
        (1, 0),
        (0, -1),
        (0, 1),
        (-1, -1),
        (-1, 1),
        (1, -1),
        (1, 1),
    ]
    .into_iter()
    .filter(|&(dy, dz)| conn.allows([0, dy, dz]))
    .map(|(dy, dz)| (dy, dz, usize::from(conn.allows([1, dy, dz]))))
    .collect();
    let mut stack: Vec<(usize, usize, usize)> = Vec::new();
    for s in seeds {
        stack.push((s[0], s[1], s[2]));
    }
    while let Some((x, y, z)) = stack.pop() {
        let row = nx * (y + ny * z);
        if mask[row + x] != 0 || !inside(row + x) {
            continue;
        }
        let mut xl = x;
        while xl > x0 && mask[row + xl - 1] == 0 && inside(row + xl - 1) {
            xl -= 1;
        }
        let mut xr = x;
        while xr < x1 && mask[row + xr + 1] == 0 && inside(row + xr + 1) {
            xr += 1;
        }
        mask[row + xl..=row + xr].fill(label);
        for &(dy, dz, ext) in &rows {
            let (yy, zz) = (y as i64 + dy, z as i64 + dz);
            if yy < y0 as i64 || yy > y1 as i64 || zz < z0 as i64 || zz > z1 as i64 {
                continue;
            }
            let nrow = nx * (yy as usize + ny * zz as usize);
            let a = xl.saturating_sub(ext).max(x0);
            let b = (xr + ext).min(x1);
            let mut xx = a;
            while xx <= b {
                if mask[nrow + xx] == 0 && inside(nrow + xx) {
                    stack.push((xx, yy as usize, zz as usize));
                    // Skip the rest of this run: it will be filled from the pushed start.
                    while xx <= b && mask[nrow + xx] == 0 && inside(nrow + xx) {
                        xx += 1;
                    }
                } else {
                    xx += 1;
                }
            }
        }
    }
    mask
}

/// Statistics used by the auto range.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AutoRange {
    pub lower: f64,
    pub upper: f64,
    pub mean: f64,
    pub sigma: f64,
    pub iterations: u32,
}

/// ITK ConfidenceConnected: the range mean ± K·σ, first from the (2r+1)³ neighbourhoods of
/// the seeds (mean of the per-seed means and of the per-seed sample variances, edges
/// replicated), then re-estimated `iterations` times from the grown region. For integer
/// volumes the bounds are truncated toward zero as ITK casts them to the pixel type.
/// `grow` runs one connected-threshold pass with the given (lower, upper).
pub fn confidence_range(
    data: &VoxelData,
    dims: [usize; 3],
    seeds: &[[usize; 3]],
    multiplier: f64,
    radius: usize,
    iterations: u32,
    mut grow: impl FnMut(f64, f64) -> Result<Vec<u8>>,
) -> Result<(AutoRange, Vec<u8>)> {
    if seeds.is_empty() {
        return Err(Error::Invalid("at least one seed is needed".into()));
    }
    let integer = data.dtype() != DType::F32;
    let (tmin, tmax) = data
        .dtype()
        .int_range()
        .map_or((f64::MIN, f64::MAX), |(a, b)| (a as f64, b as f64));
    let bounds = |mean: f64, var: f64| -> (f64, f64) {
        let s = var.max(0.0).sqrt();
        let (mut lo, mut hi) = (
            (mean - multiplier * s).max(tmin),
            (mean + multiplier * s).min(tmax),
        );
        if integer {
            lo = lo.trunc();
            hi = hi.trunc();
        }
        (lo, hi)
    };
    let r = radius as i64;
    let (mut mean, mut var) = (0.0, 0.0);
    for s in seeds {
        let (mut sum, mut sq, mut n) = (0.0, 0.0, 0.0);
        for dz in -r..=r {
            for dy in -r..=r {
                for dx in -r..=r {
                    let c = |a: usize, d: i64| {
                        (a as i64 + d).clamp(0, dims[0].max(dims[1]).max(dims[2]) as i64) as usize
                    };
                    let (x, y, z) = (
                        c(s[0], dx).min(dims[0] - 1),
                        c(s[1], dy).min(dims[1] - 1),
                        c(s[2], dz).min(dims[2] - 1),
                    );
                    let val = data.get_f64(x + dims[0] * (y + dims[1] * z));
                    sum += val;
                    sq += val * val;
                    n += 1.0;
                }
            }
        }
        mean += sum / n;
        var += if n > 1.0 {
            (sq - sum * sum / n) / (n - 1.0)
        } else {
            0.0
        };
    }
    mean /= seeds.len() as f64;
    var /= seeds.len() as f64;
    let (mut lo, mut hi) = bounds(mean, var);
    let mut mask = grow(lo, hi)?;
    let mut done = 0;
    for _ in 0..iterations {
        let (mut sum, mut sq, mut n) = (0.0, 0.0, 0.0f64);
        for (idx, &m) in mask.iter().enumerate() {
            if m != 0 {
                let val = data.get_f64(idx);
                sum += val;
                sq += val * val;
                n += 1.0;
            }
        }
        if n < 2.0 {
            break;
        }
        mean = sum / n;
        var = (sq - sum * sum / n) / (n - 1.0);
        let (l2, h2) = bounds(mean, var);
        lo = l2;
        hi = h2;
        mask = grow(lo, hi)?;
        done += 1;
    }
    Ok((
        AutoRange {
            lower: lo,
            upper: hi,
            mean,
            sigma: var.max(0.0).sqrt(),
            iterations: done,
        },
        mask,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(seeds: Vec<[usize; 3]>, lo: f64, hi: f64, c: Connectivity) -> GrowRequest {
        GrowRequest {
            seeds,
            lower: lo,
            upper: hi,
            connectivity: c,
            roi: None,
            label: 1,
        }
    }

    #[test]
    fn diagonal_chain_depends_on_connectivity() {
        // Voxels on the main diagonal of a 4^3 cube: 26-connected only.
        let dims = [4, 4, 4];
        let mut v = vec![0i16; 64];
        for d in 0..4 {
            v[d + 4 * (d + 4 * d)] = 100;
        }
        // An 18-connected pair in the plane z = 0: (0,0,0) and (1,1,0).
        let data = VoxelData::I16(v);
        for (c, want) in [
            (Connectivity::Six, 1),
            (Connectivity::Eighteen, 1),
            (Connectivity::TwentySix, 4),
        ] {
            let p = RegionGrowParams::new(dims, DType::I16, &req(vec![[0, 0, 0]], 50.0, 150.0, c))
                .unwrap_or_else(|e| panic!("{e}"));
            let m = region_grow_cpu(&p, &data, &[[0, 0, 0]]);
            assert_eq!(m.iter().filter(|&&x| x != 0).count(), want, "{c:?}");
        }
    }

    #[test]
    fn bad_requests_are_errors() {
        let d = [4, 4, 4];
        assert!(RegionGrowParams::new(
            d,
            DType::I16,
            &req(vec![[4, 0, 0]], 0.0, 1.0, Connectivity::Six)
        )
        .is_err());
        assert!(RegionGrowParams::new(
            d,
            DType::I16,
            &req(vec![[0, 0, 0]], 2.0, 1.0, Connectivity::Six)
        )
        .is_err());
        assert!(
            RegionGrowParams::new(d, DType::I16, &req(vec![], 0.0, 1.0, Connectivity::Six))
                .is_err()
        );
        let mut r = req(vec![[3, 3, 3]], 0.0, 1.0, Connectivity::Six);
        r.roi = Some([0, 0, 0, 1, 1, 1]);
        assert!(
            RegionGrowParams::new(d, DType::I16, &r).is_err(),
            "seed outside ROI"
        );
        let p = RegionGrowParams::new(
            d,
            DType::I16,
            &req(vec![[0, 0, 0]], -0.5, 10.7, Connectivity::Six),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.range[0], p.range[1]),
            (0.0, 10.0),
            "integer bounds applied exactly"
        );
    }
}
