//! Transfer functions for direct volume rendering: piecewise-linear colour and opacity over
//! intensity, sampled into a 256-entry lookup table shared by the GPU ray caster and its CPU
//! twin. Opacity is given per millimetre of material; the ray caster corrects it for its step
//! length (α_step = 1 − (1 − α)^(step_mm)), so pictures do not change with the sample rate.

use voxmark_volume::VoxelData;

/// Entries in the lookup table.
pub const TF_ENTRIES: usize = 256;

/// Named transfer functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum TfPreset {
    /// CT: bone opaque white, everything below 150 HU transparent.
    CtBone,
    /// CT: skin and soft tissue translucent, bone opaque.
    CtSoftTissue,
    /// CT angiography: contrast-filled vessels (≈ 200–500 HU) red, bone white.
    CtVessels,
    /// MR: grey ramp over the 1st–99th percentile of the volume.
    MrDefault,
}

impl TfPreset {
    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            TfPreset::CtBone => "ct-bone",
            TfPreset::CtSoftTissue => "ct-soft-tissue",
            TfPreset::CtVessels => "ct-vessels",
            TfPreset::MrDefault => "mr-default",
        }
    }

    /// Looks a preset up by name.
    pub fn from_name(s: &str) -> Option<Self> {
        [
            TfPreset::CtBone,
            TfPreset::CtSoftTissue,
            TfPreset::CtVessels,
            TfPreset::MrDefault,
        ]
        .into_iter()
        .find(|p| p.name() == s)
    }

    /// Control points (intensity, r, g, b, opacity per mm); `range` is the volume's
    /// 1st–99th percentile, used by the relative (MR) preset.
    pub fn points(self, range: (f64, f64)) -> Vec<[f64; 5]> {
        match self {
            TfPreset::CtBone => vec![
                [150.0, 0.75, 0.55, 0.35, 0.0],
                [250.0, 0.9, 0.75, 0.6, 0.15],
                [450.0, 1.0, 0.95, 0.85, 0.6],
                [1200.0, 1.0, 1.0, 1.0, 0.9],
            ],
            TfPreset::CtSoftTissue => vec![
                [-600.0, 0.55, 0.25, 0.15, 0.0],
                [-200.0, 0.8, 0.5, 0.4, 0.01],
                [20.0, 0.9, 0.55, 0.45, 0.04],
                [120.0, 0.95, 0.7, 0.6, 0.08],
                [250.0, 1.0, 0.95, 0.85, 0.5],
                [1200.0, 1.0, 1.0, 1.0, 0.9],
            ],
            TfPreset::CtVessels => vec![
                [120.0, 0.5, 0.05, 0.05, 0.0],
                [200.0, 0.85, 0.15, 0.1, 0.25],
                [450.0, 1.0, 0.45, 0.35, 0.6],
                [600.0, 1.0, 0.95, 0.9, 0.7],
                [1500.0, 1.0, 1.0, 1.0, 0.9],
            ],
            TfPreset::MrDefault => {
                let (lo, hi) = range;
                let at = |f: f64| lo + f * (hi - lo);
                vec![
                    [at(0.15), 0.3, 0.3, 0.32, 0.0],
                    [at(0.35), 0.55, 0.55, 0.58, 0.02],
                    [at(0.7), 0.85, 0.85, 0.85, 0.1],
                    [at(1.0), 1.0, 1.0, 1.0, 0.4],
                ]
            }
        }
    }

    /// Default preset for a volume: CT presets when it looks like CT (air near −1000 HU).
    pub fn default_for(data: &VoxelData, modality: &str) -> Self {
        let (lo, _) = data.min_max();
        if modality.eq_ignore_ascii_case("CT") || lo <= -900.0 {
            TfPreset::CtBone
        } else {
            TfPreset::MrDefault
        }
    }
}

/// A sampled transfer function.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferFunction {
    /// RGBA (opacity per mm) at intensities `lo + i/255·(hi − lo)`.
    pub lut: Vec<[f32; 4]>,
    pub lo: f32,
    pub hi: f32,
    /// Intensities outside [alpha_lo, alpha_hi] are fully transparent (exact, from the LUT):
    /// the ray caster skips bricks whose value range lies outside.
    pub alpha_lo: f32,
    pub alpha_hi: f32,
}

impl TransferFunction {
    /// Samples piecewise-linear control points (sorted by intensity; clamped outside).
    pub fn from_points(points: &[[f64; 5]]) -> Self {
        let lo = points.first().map_or(0.0, |p| p[0]);
        let hi = points.last().map_or(1.0, |p| p[0]).max(lo + 1e-3);
        let eval = |x: f64| -> [f32; 4] {
            let mut out = points
                .first()
                .map_or([0.0; 4], |p| [p[1], p[2], p[3], p[4]]);
            for w in points.windows(2) {
                let (a, b) = (w[0], w[1]);
                if x >= a[0] && x <= b[0] {
                    let t = if b[0] > a[0] {
                        (x - a[0]) / (b[0] - a[0])
                    } else {
                        1.0
                    };
                    out = [1, 2, 3, 4].map(|k| a[k] + t * (b[k] - a[k]));
                    break;
                }
                if x > b[0] {
                    out = [b[1], b[2], b[3], b[4]];
                }
            }
            out.map(|v| v as f32)
        };
        let lut: Vec<[f32; 4]> = (0..TF_ENTRIES)
            .map(|i| eval(lo + i as f64 / (TF_ENTRIES - 1) as f64 * (hi - lo)))
            .collect();
        let first = lut.iter().position(|e| e[3] > 0.0);
        let last = lut.iter().rposition(|e| e[3] > 0.0);
        let at = |i: f64| (lo + i / (TF_ENTRIES - 1) as f64 * (hi - lo)) as f32;
        let (alpha_lo, alpha_hi) = match (first, last) {
            (Some(f), Some(l)) => (
                if f == 0 { f32::MIN } else { at(f as f64 - 1.0) },
                if l == TF_ENTRIES - 1 {
                    f32::MAX
                } else {
                    at(l as f64 + 1.0)
                },
            ),
            // Nothing visible: an empty span.
            _ => (f32::MAX, f32::MIN),
        };
        Self {
            lut,
            lo: lo as f32,
            hi: hi as f32,
            alpha_lo,
            alpha_hi,
        }
    }

    /// Linear lookup (keep in sync with `tf_at` in shaders/raycast.wgsl).
    pub fn at(&self, v: f32) -> [f32; 4] {
        let x = ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0) * 255.0;
        let i0 = x.floor() as usize;
        let i1 = (i0 + 1).min(TF_ENTRIES - 1);
        let f = x - i0 as f32;
        let (a, b) = (self.lut[i0], self.lut[i1]);
        [0, 1, 2, 3].map(|k| a[k] * (1.0 - f) + b[k] * f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lut_interpolates_and_alpha_span_is_exact() {
        let tf = TransferFunction::from_points(&TfPreset::CtBone.points((0.0, 1.0)));
        assert_eq!(tf.at(100.0)[3], 0.0);
        assert_eq!(tf.at(-1000.0)[3], 0.0);
        assert!(tf.at(450.0)[3] > 0.55 && tf.at(450.0)[3] < 0.65);
        assert!((tf.at(5000.0)[3] - 0.9).abs() < 1e-6);
        // Anything below alpha_lo is transparent; just above it is not.
        assert!(
            tf.alpha_lo > 149.0 && tf.alpha_lo < 160.0,
            "{}",
            tf.alpha_lo
        );
        for v in [-2000.0, 0.0, tf.alpha_lo - 0.01] {
            assert_eq!(tf.at(v)[3], 0.0, "{v}");
        }
        assert!(tf.at(tf.alpha_lo + 10.0)[3] > 0.0);
        assert_eq!(tf.alpha_hi, f32::MAX);
        assert_eq!(TfPreset::from_name("ct-vessels"), Some(TfPreset::CtVessels));
    }
}
