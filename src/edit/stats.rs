//! Per-label statistics: voxel count, volume (mL), intensity mean/σ/min/max, bounding box.

use crate::volume::Volume;
use rayon::prelude::*;
use serde::Serialize;

/// Statistics of one label value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelStats {
    pub label: u8,
    pub voxels: u64,
    pub volume_ml: f64,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// Inclusive voxel box [i0, j0, k0, i1, j1, k1].
    pub bbox: [usize; 6],
}

#[derive(Clone, Copy)]
struct Acc {
    n: u64,
    sum: f64,
    sq: f64,
    min: f64,
    max: f64,
    lo: [usize; 3],
    hi: [usize; 3],
}

impl Acc {
    const EMPTY: Acc = Acc {
        n: 0,
        sum: 0.0,
        sq: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        lo: [usize::MAX; 3],
        hi: [0; 3],
    };
    fn merge(mut self, o: &Acc) -> Acc {
        self.n += o.n;
        self.sum += o.sum;
        self.sq += o.sq;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        for a in 0..3 {
            self.lo[a] = self.lo[a].min(o.lo[a]);
            self.hi[a] = self.hi[a].max(o.hi[a]);
        }
        self
    }
}

/// Statistics of every non-zero label present (sorted by label).
pub fn label_stats(image: &Volume, labels: &[u8]) -> Vec<LabelStats> {
    let d = image.grid.dims;
    let plane = d[0] * d[1];
    let accs = (0..d[2])
        .into_par_iter()
        .map(|z| {
            let mut acc = vec![Acc::EMPTY; 256];
            for y in 0..d[1] {
                for x in 0..d[0] {
                    let i = x + d[0] * y + plane * z;
                    let l = labels[i];
                    if l == 0 {
                        continue;
                    }
                    let v = image.data.get_f64(i);
                    let a = &mut acc[usize::from(l)];
                    a.n += 1;
                    a.sum += v;
                    a.sq += v * v;
                    a.min = a.min.min(v);
                    a.max = a.max.max(v);
                    for (ax, c) in [x, y, z].into_iter().enumerate() {
                        a.lo[ax] = a.lo[ax].min(c);
                        a.hi[ax] = a.hi[ax].max(c);
                    }
                }
            }
            acc
        })
        .reduce(
            || vec![Acc::EMPTY; 256],
            |a, b| a.iter().zip(&b).map(|(x, y)| x.merge(y)).collect(),
        );
    let sp = image.grid.spacing_mm();
    let voxel_ml = sp[0] * sp[1] * sp[2] / 1000.0;
    accs.iter()
        .enumerate()
        .filter(|(_, a)| a.n > 0)
        .map(|(l, a)| {
            let n = a.n as f64;
            let mean = a.sum / n;
            let var = if a.n > 1 {
                ((a.sq - a.sum * a.sum / n) / (n - 1.0)).max(0.0)
            } else {
                0.0
            };
            LabelStats {
                label: l as u8,
                voxels: a.n,
                volume_ml: n * voxel_ml,
                mean,
                std: var.sqrt(),
                min: a.min,
                max: a.max,
                bbox: [a.lo[0], a.lo[1], a.lo[2], a.hi[0], a.hi[1], a.hi[2]],
            }
        })
        .collect()
}
