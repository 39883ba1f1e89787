//! The built-in synthetic CT phantom: deterministic int16 HU volumes of any size up to
//! 512×512×2048, so tests, benchmarks and the README run with nothing to download.
//!
//! Anatomy (normalised coordinates u, v, w in (−1, 1) across the grid; v grows toward the
//! patient's back, w toward the head): air −1000 HU, body ellipsoid 40, two lungs −800, spine
//! and ribs 700, aorta and a long 4-turn helical vessel 300. Gaussian noise σ = 20 HU from a
//! counter-based generator (hash of seed and voxel index), so the output is identical for any
//! thread count. The helix is the worst case for one-voxel-per-pass flood fills.
//!
//! Grid: in-plane field of view 400 mm, 500 mm along k; axial LPS orientation like a CT
//! scanner (i → patient left, j → posterior, k → superior), centred on the world origin.

use crate::{Grid, Metadata, Volume, VoxelData};
use glam::{DMat4, DVec3, DVec4};
use rayon::prelude::*;
use std::f64::consts::TAU;

/// Largest size the generator accepts per axis.
pub const MAX_DIMS: [usize; 3] = [512, 512, 2048];

/// Tissue classes of the phantom, in drawing order (later ones win).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tissue {
    Air,
    Body,
    Lung,
    Vessel,
    Bone,
}

impl Tissue {
    /// Noise-free Hounsfield value.
    pub fn hu(self) -> i16 {
        match self {
            Tissue::Air => -1000,
            Tissue::Body => 40,
            Tissue::Lung => -800,
            Tissue::Vessel => 300,
            Tissue::Bone => 700,
        }
    }
}

/// Noise standard deviation in HU.
pub const NOISE_SIGMA_HU: f64 = 20.0;
/// Seed of the noise generator.
pub const NOISE_SEED: u64 = 0x766f_786d_6172_6b21;

/// Geometry of the phantom for one grid size.
#[derive(Debug, Clone, Copy)]
pub struct Phantom {
    pub dims: [usize; 3],
    helix_tube_vox: f64,
}

const HELIX_RADIUS: f64 = 0.36;
const HELIX_TURNS: f64 = 4.0;
const HELIX_W: (f64, f64) = (-0.8, 0.8);

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Phantom {
    /// A phantom for `dims` (each axis 1..=MAX_DIMS).
    pub fn new(dims: [usize; 3]) -> crate::Result<Self> {
        for a in 0..3 {
            if dims[a] == 0 || dims[a] > MAX_DIMS[a] {
                return Err(crate::Error::Invalid(format!(
                    "phantom size {:?}: each axis must be 1..={:?}",
                    dims, MAX_DIMS
                )));
            }
        }
        let helix_tube_vox = (3.0 * dims[0].min(dims[1]) as f64 / 512.0).max(1.5);
        Ok(Self {
            dims,
            helix_tube_vox,
        })
    }

    /// Voxel spacing in mm along i, j, k.
    pub fn spacing_mm(&self) -> [f64; 3] {
        [
            400.0 / self.dims[0] as f64,
            400.0 / self.dims[1] as f64,
            500.0 / self.dims[2] as f64,
        ]
    }

    /// The grid: axial, i → L, j → P, k → S (RAS affine diag(−sx, −sy, sz)), centred.
    pub fn grid(&self) -> Grid {
        let s = self.spacing_mm();
        let lin = DVec3::new(-s[0], -s[1], s[2]);
        let half = DVec3::new(
            (self.dims[0] - 1) as f64,
            (self.dims[1] - 1) as f64,
            (self.dims[2] - 1) as f64,
        ) / 2.0;
        let mut m = DMat4::from_diagonal(DVec4::new(lin.x, lin.y, lin.z, 1.0));
        m.w_axis = (-(lin * half)).extend(1.0);
        Grid::new(self.dims, m)
    }

    fn norm(&self, i: usize, axis: usize) -> f64 {
        (i as f64 + 0.5) / self.dims[axis] as f64 * 2.0 - 1.0
    }

    /// Helix centreline at parameter θ, in voxel units.
    fn helix_point(&self, theta: f64) -> DVec3 {
        let [nx, ny, nz] = self.dims.map(|d| d as f64);
        let t = theta / (TAU * HELIX_TURNS);
        let w = HELIX_W.0 + t * (HELIX_W.1 - HELIX_W.0);
        DVec3::new(
            (HELIX_RADIUS * theta.cos() + 1.0) * nx / 2.0 - 0.5,
            (HELIX_RADIUS * theta.sin() + 1.0) * ny / 2.0 - 0.5,
            (w + 1.0) * nz / 2.0 - 0.5,
        )
    }

    /// Distance in voxels from voxel (i, j, k) to the helix centreline (∞ when far).
    fn helix_distance(&self, p: DVec3, u: f64, v: f64) -> f64 {
        let r = (u * u + v * v).sqrt();
        if (r - HELIX_RADIUS).abs()
            > 4.0 * self.helix_tube_vox * 2.0 / self.dims[0].min(self.dims[1]) as f64 + 0.02
        {
            return f64::INFINITY;
        }
        let phi = v.atan2(u).rem_euclid(TAU);
        let mut best = f64::INFINITY;
        for turn in 0..=(HELIX_TURNS as i32) {
            let mut theta = phi + TAU * f64::from(turn);
            // Two Newton steps on |p - h(θ)|² toward the nearest centreline point.
            for _ in 0..2 {
                let h = self.helix_point(theta);
                let dt = 1e-4;
                let tangent = (self.helix_point(theta + dt) - h) / dt;
                theta += (p - h).dot(tangent) / tangent.length_squared();
            }
            let theta = theta.clamp(0.0, TAU * HELIX_TURNS);
            best = best.min((p - self.helix_point(theta)).length());
        }
        best
    }

    /// The first voxel of slice `k` (i fastest) of tissue `t` whose value in `vol` (this
    /// phantom's volume) lies in [lo, hi]: a seed for region growing.
    pub fn seed_in(
        &self,
        vol: &Volume,
        t: Tissue,
        lo: f64,
        hi: f64,
        k: usize,
    ) -> Option<[usize; 3]> {
        let [nx, ny, _] = self.dims;
        (0..ny)
            .flat_map(|j| (0..nx).map(move |i| [i, j, k]))
            .find(|s| {
                self.tissue(s[0], s[1], s[2]) == t
                    && (lo..=hi).contains(&vol.value(s[0], s[1], s[2]))
            })
    }

    /// Tissue at voxel (i, j, k), without noise.
    pub fn tissue(&self, i: usize, j: usize, k: usize) -> Tissue {
        let (u, v, w) = (self.norm(i, 0), self.norm(j, 1), self.norm(k, 2));
        let sq = |x: f64| x * x;
        let body = sq(u / 0.85) + sq(v / 0.62) + sq(w / 1.1) <= 1.0;
        if !body {
            return Tissue::Air;
        }
        // Spine: a column behind the body centre; ribs: rings near the body wall.
        if sq(u) + sq(v - 0.47) <= sq(0.07) {
            return Tissue::Bone;
        }
        let wall = (sq(u / 0.78) + sq(v / 0.56)).sqrt();
        if (0.93..=1.0).contains(&wall) && w > -0.2 && w < 0.8 && ((w + 1.0) * 6.0).fract() < 0.3 {
            return Tissue::Bone;
        }
        let p = DVec3::new(i as f64, j as f64, k as f64);
        if self.helix_distance(p, u, v) <= self.helix_tube_vox {
            return Tissue::Vessel;
        }
        if sq(u - 0.05) + sq(v - 0.2) <= sq(0.045) {
            return Tissue::Vessel;
        }
        for cx in [-0.42, 0.42] {
            if sq((u - cx) / 0.28) + sq((v + 0.02) / 0.4) + sq((w - 0.35) / 0.5) <= 1.0 {
                return Tissue::Lung;
            }
        }
        Tissue::Body
    }

    /// Standard normal noise sample for linear voxel index `idx` (Box–Muller on a
    /// counter-based hash: independent of evaluation order).
    pub fn noise(idx: u64) -> f64 {
        let h = splitmix64(NOISE_SEED ^ splitmix64(idx >> 1));
        let u1 = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let h2 = splitmix64(h);
        let u2 = (h2 >> 11) as f64 / (1u64 << 53) as f64;
        let r = (-2.0 * u1.ln()).sqrt();
        if idx & 1 == 0 {
            r * (TAU * u2).cos()
        } else {
            r * (TAU * u2).sin()
        }
    }

    /// Generates the volume (parallel over slices).
    pub fn volume(&self) -> Volume {
        let [nx, ny, nz] = self.dims;
        let per_slice = nx * ny;
        let mut data = vec![0i16; per_slice * nz];
        data.par_chunks_mut(per_slice)
            .enumerate()
            .for_each(|(k, slice)| {
                for j in 0..ny {
                    for i in 0..nx {
                        let idx = i + nx * j;
                        let lin = (k * per_slice + idx) as u64;
                        let hu = f64::from(self.tissue(i, j, k).hu())
                            + NOISE_SIGMA_HU * Self::noise(lin);
                        slice[idx] =
                            hu.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16;
                    }
                }
            });
        let meta = Metadata {
            format: "phantom".into(),
            modality: "CT".into(),
            description: format!("voxmark CT phantom {nx}x{ny}x{nz}"),
            stored_dtype: "int16".into(),
            window: Some(crate::WindowPreset {
                center: 40.0,
                width: 400.0,
            }),
            sform_code: 1,
            qform_code: 1,
            ..Default::default()
        };
        Volume {
            grid: self.grid(),
            data: VoxelData::I16(data),
            meta,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_anatomical() {
        let p = Phantom::new([64, 64, 96]).unwrap_or_else(|e| panic!("{e}"));
        let a = p.volume();
        let b = p.volume();
        assert_eq!(a.data, b.data);
        assert_eq!(p.tissue(0, 0, 0), Tissue::Air);
        assert_eq!(p.tissue(32, 30, 48), Tissue::Body);
        // Spine behind the centre (j grows to posterior).
        assert_eq!(p.tissue(32, 32 + 15, 48), Tissue::Bone);
        let vessels = (0..96)
            .flat_map(|k| (0..64).flat_map(move |j| (0..64).map(move |i| (i, j, k))))
            .filter(|&(i, j, k)| p.tissue(i, j, k) == Tissue::Vessel)
            .count();
        assert!(vessels > 500, "helix and aorta present: {vessels}");
    }

    #[test]
    fn noise_is_standard_normal() {
        let n = 200_000u64;
        let (s, s2) = (0..n)
            .map(Phantom::noise)
            .fold((0.0, 0.0), |(a, b), x| (a + x, b + x * x));
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
    }

    #[test]
    fn rejects_oversize() {
        assert!(Phantom::new([513, 10, 10]).is_err());
        assert!(Phantom::new([10, 10, 0]).is_err());
    }
}
