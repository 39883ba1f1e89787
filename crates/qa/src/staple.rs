//! Multi-label STAPLE: the truth and each annotator's performance, estimated together by
//! expectation–maximisation (Warfield, Zou, Wells, IEEE TMI 2004; the multi-label form of
//! Rohlfing et al. 2004 as ITK's `MultiLabelSTAPLEImageFilter` implements it).
//!
//! Model: the true label of a voxel is `c` with prior `p(c)`; annotator `k` writes `j` with
//! probability `θ_k[j][c]` (their confusion matrix, each column a distribution over `j`).
//! - **E step**: per voxel `W(c) ∝ p(c) · Π_k θ_k[d_k][c]`, normalised over `c`.
//! - **M step**: `θ_k[j][c] = Σ_{voxels with d_k = j} W(c) / Σ_{voxels} W(c)`.
//! - Start: θ from the majority vote (each row `j` normalised over `c`, as ITK does); prior:
//!   each label's share of all annotators' voxels. Stop when no entry of any θ moves by
//!   `threshold` or more (ITK: `TerminationUpdateThreshold`, 1e-5).
//! - Result: per voxel the `c` with the largest `W`; a tie (or all zero) is `undecided`.
//!
//! **Exactly as ITK, but faster:** W depends only on the tuple of labels the annotators gave
//! a voxel, so the EM runs on the histogram of distinct tuples (unanimous voxels in a flat
//! table, the rest in a hash map) — each iteration costs the number of distinct tuples, not
//! voxels, and the sums are the same sums in another order. Differences to SimpleITK that
//! remain, and why: voxmark sums in f64 where SimpleITK's filter uses f32 weights (its sums
//! over millions of voxels lose about 1e-4 relative), and ITK's start counts a voxel whose
//! vote ties into the next row's background column (an indexing slip in
//! `InitializeConfusionMatrixArrayFromVoting`: column `T` of a `(T+1)×T` matrix); voxmark
//! leaves tied voxels out of the start. Both only move where EM starts and how it rounds,
//! not the fixed point it reaches.

use super::consensus::plurality;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use voxmark_volume::error::{Error, Result};

/// Settings of the EM.
#[derive(Debug, Clone, Copy)]
pub struct StapleParams {
    /// Stop when no confusion-matrix entry changes by this much (ITK's default 1e-5).
    pub threshold: f64,
    /// Upper bound on iterations (ITK: unbounded by default).
    pub max_iterations: u32,
    /// Value written where two labels tie for the largest weight.
    pub undecided: u8,
}

impl Default for StapleParams {
    fn default() -> Self {
        Self {
            threshold: 1e-5,
            max_iterations: 10_000,
            undecided: 0,
        }
    }
}

/// One annotator's estimated performance on one label (one-vs-rest from the confusion
/// matrix, weighted by the estimated truth).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabelPerformance {
    pub label: u8,
    /// P(annotator writes `label` | truth is `label`).
    pub sensitivity: f64,
    /// P(annotator writes another label | truth is another label).
    pub specificity: f64,
}

/// The outcome of STAPLE.
#[derive(Debug, Clone)]
pub struct Staple {
    /// The estimated truth, one value per voxel.
    pub labels: Vec<u8>,
    /// Number of label values modelled: 0 ..= the largest value any annotator used.
    pub label_count: usize,
    /// Per annotator, `confusion[k][j * label_count + c]` = θ_k[j][c] (P(writes j | truth c)).
    pub confusion: Vec<Vec<f64>>,
    /// Prior probability of each label.
    pub prior: Vec<f64>,
    /// Estimated number of voxels of each true label (Σ W).
    pub truth_mass: Vec<f64>,
    /// Per annotator, per label present in the truth or any map (background included).
    pub performance: Vec<Vec<LabelPerformance>>,
    pub iterations: u32,
    /// Largest change of any θ entry in the last iteration.
    pub last_update: f64,
    /// Voxels set to `undecided` by a tie.
    pub undecided: u64,
    /// Distinct label tuples the EM ran on.
    pub distinct_tuples: usize,
}

impl Staple {
    /// θ_k[j][c].
    pub fn theta(&self, k: usize, j: usize, c: usize) -> f64 {
        self.confusion[k][j * self.label_count + c]
    }
}

/// Histogram of the annotators' label tuples.
struct Tuples {
    /// Unanimous voxels per value.
    unanimous: [u64; 256],
    /// Every other tuple and how many voxels carry it.
    mixed: HashMap<Vec<u8>, u64>,
}

fn histogram(maps: &[&[u8]]) -> Tuples {
    const CHUNK: usize = 1 << 16;
    let n = maps[0].len();
    let k = maps.len();
    let parts: Vec<Tuples> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut t = Tuples {
                unanimous: [0; 256],
                mixed: HashMap::new(),
            };
            let mut buf = vec![0u8; k];
            for idx in c * CHUNK..((c + 1) * CHUNK).min(n) {
                let first = maps[0][idx];
                let mut same = true;
                for (r, m) in maps.iter().enumerate() {
                    buf[r] = m[idx];
                    same &= m[idx] == first;
                }
                if same {
                    t.unanimous[usize::from(first)] += 1;
                } else if let Some(c) = t.mixed.get_mut(buf.as_slice()) {
                    *c += 1;
                } else {
                    t.mixed.insert(buf.clone(), 1);
                }
            }
            t
        })
        .collect();
    let mut all = Tuples {
        unanimous: [0; 256],
        mixed: HashMap::new(),
    };
    for p in parts {
        for (a, b) in all.unanimous.iter_mut().zip(p.unanimous) {
            *a += b;
        }
        for (key, c) in p.mixed {
            *all.mixed.entry(key).or_insert(0) += c;
        }
    }
    all
}

/// Plurality vote of one tuple (`qa::consensus`'s vote); `None` on a tie.
fn vote(tuple: &[u8]) -> Option<u8> {
    plurality(tuple.iter().copied(), &mut Vec::with_capacity(tuple.len()))
}

/// The winning label of normalised-or-not weights, ITK's way: strictly largest; a tie with
/// the running best (or all zero) is undecided.
fn winner(w: &[f64]) -> Option<u8> {
    let mut best: Option<u8> = None;
    let mut best_w = 0.0;
    for (c, &x) in w.iter().enumerate() {
        if x > best_w {
            best_w = x;
            best = Some(c as u8);
        } else if x >= best_w {
            best = None;
        }
    }
    best
}

/// Multi-label STAPLE of `maps` (same length, at least two annotators).
pub fn staple(maps: &[&[u8]], params: &StapleParams) -> Result<Staple> {
    if maps.len() < 2 {
        return Err(Error::Invalid(
            "STAPLE needs at least two label maps".into(),
        ));
    }
    let n = maps[0].len();
    if maps.iter().any(|m| m.len() != n) {
        return Err(Error::Invalid("label maps differ in size".into()));
    }
    if n == 0 {
        return Err(Error::Invalid("label maps are empty".into()));
    }
    let k = maps.len();
    let hist = histogram(maps);
    // Tuples as (labels, voxel count), unanimous ones first.
    let mut tuples: Vec<(Vec<u8>, f64)> = hist
        .unanimous
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(v, &c)| (vec![v as u8; k], c as f64))
        .collect();
    let mut mixed: Vec<(Vec<u8>, u64)> = hist.mixed.into_iter().collect();
    mixed.sort_unstable();
    tuples.extend(mixed.into_iter().map(|(t, c)| (t, c as f64)));
    let max_label = tuples
        .iter()
        .flat_map(|(t, _)| t.iter().copied())
        .max()
        .unwrap_or(0);
    let lc = usize::from(max_label) + 1;

    // Start: confusion from the majority vote, rows normalised; prior from label shares.
    let mut theta = vec![vec![0.0f64; lc * lc]; k];
    let mut prior = vec![0.0f64; lc];
    for (t, c) in &tuples {
        for &j in t {
            prior[usize::from(j)] += c;
        }
        if let Some(v) = vote(t) {
            for (r, &j) in t.iter().enumerate() {
                theta[r][usize::from(j) * lc + usize::from(v)] += c;
            }
        }
    }
    let total: f64 = prior.iter().sum();
    prior.iter_mut().for_each(|p| *p /= total);
    for th in &mut theta {
        for row in th.chunks_mut(lc) {
            let s: f64 = row.iter().sum();
            if s > 0.0 {
                row.iter_mut().for_each(|x| *x /= s);
            }
        }
    }

    let mut w = vec![0.0f64; lc];
    let e_step = |theta: &[Vec<f64>], t: &[u8], w: &mut [f64]| {
        w.copy_from_slice(&prior);
        for (r, &j) in t.iter().enumerate() {
            let row = &theta[r][usize::from(j) * lc..][..lc];
            for (x, y) in w.iter_mut().zip(row) {
                *x *= y;
            }
        }
    };
    let mut iterations = 0;
    let mut last_update = f64::INFINITY;
    let mut updated = vec![vec![0.0f64; lc * lc]; k];
    while iterations < params.max_iterations {
        iterations += 1;
        updated.iter_mut().for_each(|u| u.fill(0.0));
        for (t, c) in &tuples {
            e_step(&theta, t, &mut w);
            let s: f64 = w.iter().sum();
            if s > 0.0 {
                w.iter_mut().for_each(|x| *x /= s);
            }
            for (r, &j) in t.iter().enumerate() {
                let row = &mut updated[r][usize::from(j) * lc..][..lc];
                for (u, x) in row.iter_mut().zip(&w) {
                    *u += c * x;
                }
            }
        }
        // Each column c (truth) becomes a distribution over what was written.
        for u in &mut updated {
            for c in 0..lc {
                let s: f64 = (0..lc).map(|j| u[j * lc + c]).sum();
                if s > 0.0 {
                    (0..lc).for_each(|j| u[j * lc + c] /= s);
                }
            }
        }
        last_update = theta
            .iter()
            .flatten()
            .zip(updated.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        std::mem::swap(&mut theta, &mut updated);
        if last_update < params.threshold {
            break;
        }
    }

    // Final labels per tuple, and the estimated truth mass.
    let mut truth_mass = vec![0.0f64; lc];
    let mut unanimous_label = [params.undecided; 256];
    let mut mixed_label: HashMap<&[u8], u8> = HashMap::new();
    let mut undecided = 0u64;
    for (t, c) in &tuples {
        e_step(&theta, t, &mut w);
        let label = winner(&w);
        if label.is_none() {
            undecided += *c as u64;
        }
        let label = label.unwrap_or(params.undecided);
        let s: f64 = w.iter().sum();
        if s > 0.0 {
            for (m, x) in truth_mass.iter_mut().zip(&w) {
                *m += c * x / s;
            }
        }
        if t.iter().all(|&x| x == t[0]) {
            unanimous_label[usize::from(t[0])] = label;
        } else {
            mixed_label.insert(t.as_slice(), label);
        }
    }
    let mut labels = vec![0u8; n];
    const CHUNK: usize = 1 << 16;
    labels
        .par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(ci, out)| {
            let mut buf = vec![0u8; k];
            for (o, v) in out.iter_mut().enumerate() {
                let idx = ci * CHUNK + o;
                let first = maps[0][idx];
                let mut same = true;
                for (r, m) in maps.iter().enumerate() {
                    buf[r] = m[idx];
                    same &= m[idx] == first;
                }
                *v = if same {
                    unanimous_label[usize::from(first)]
                } else {
                    mixed_label
                        .get(buf.as_slice())
                        .copied()
                        .unwrap_or(params.undecided)
                };
            }
        });

    let present: Vec<usize> = (0..lc)
        .filter(|&c| truth_mass[c] > 0.0 || prior[c] > 0.0)
        .collect();
    let mass_total: f64 = truth_mass.iter().sum();
    let performance = theta
        .iter()
        .map(|th| {
            present
                .iter()
                .map(|&l| {
                    let others = mass_total - truth_mass[l];
                    let wrote_l_elsewhere: f64 = (0..lc)
                        .filter(|&c| c != l)
                        .map(|c| th[l * lc + c] * truth_mass[c])
                        .sum();
                    LabelPerformance {
                        label: l as u8,
                        sensitivity: th[l * lc + l],
                        specificity: if others > 0.0 {
                            1.0 - wrote_l_elsewhere / others
                        } else {
                            1.0
                        },
                    }
                })
                .collect()
        })
        .collect();
    let distinct_tuples = tuples.len();
    Ok(Staple {
        labels,
        label_count: lc,
        confusion: theta,
        prior,
        truth_mass,
        performance,
        iterations,
        last_update,
        undecided,
        distinct_tuples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain per-voxel EM, written from the paper's equations with no histogram: the
    /// tuple shortcut must give the same estimates.
    fn per_voxel(maps: &[&[u8]], iterations: u32) -> (Vec<Vec<f64>>, Vec<u8>) {
        let k = maps.len();
        let n = maps[0].len();
        let lc = usize::from(
            maps.iter()
                .flat_map(|m| m.iter())
                .copied()
                .max()
                .unwrap_or(0),
        ) + 1;
        let mut prior = vec![0.0; lc];
        maps.iter()
            .flat_map(|m| m.iter())
            .for_each(|&v| prior[usize::from(v)] += 1.0);
        let tot: f64 = prior.iter().sum();
        prior.iter_mut().for_each(|p| *p /= tot);
        let mut theta = vec![vec![0.0; lc * lc]; k];
        for i in 0..n {
            let t: Vec<u8> = maps.iter().map(|m| m[i]).collect();
            if let Some(v) = vote(&t) {
                for r in 0..k {
                    theta[r][usize::from(t[r]) * lc + usize::from(v)] += 1.0;
                }
            }
        }
        for th in &mut theta {
            for row in th.chunks_mut(lc) {
                let s: f64 = row.iter().sum();
                if s > 0.0 {
                    row.iter_mut().for_each(|x| *x /= s);
                }
            }
        }
        let weights = |theta: &Vec<Vec<f64>>, i: usize| -> Vec<f64> {
            (0..lc)
                .map(|c| {
                    prior[c]
                        * (0..k)
                            .map(|r| theta[r][usize::from(maps[r][i]) * lc + c])
                            .product::<f64>()
                })
                .collect()
        };
        for _ in 0..iterations {
            let mut up = vec![vec![0.0; lc * lc]; k];
            for i in 0..n {
                let w = weights(&theta, i);
                let s: f64 = w.iter().sum();
                for r in 0..k {
                    for c in 0..lc {
                        up[r][usize::from(maps[r][i]) * lc + c] +=
                            if s > 0.0 { w[c] / s } else { w[c] };
                    }
                }
            }
            for u in &mut up {
                for c in 0..lc {
                    let s: f64 = (0..lc).map(|j| u[j * lc + c]).sum();
                    if s > 0.0 {
                        (0..lc).for_each(|j| u[j * lc + c] /= s);
                    }
                }
            }
            theta = up;
        }
        let labels = (0..n)
            .map(|i| winner(&weights(&theta, i)).unwrap_or(0))
            .collect();
        (theta, labels)
    }

    fn noisy(truth: &[u8], seed: u64, flip_every: u64) -> Vec<u8> {
        let mut s = seed;
        truth
            .iter()
            .map(|&v| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if (s >> 33).is_multiple_of(flip_every) {
                    ((u64::from(v) + 1 + (s >> 40) % 2) % 3) as u8
                } else {
                    v
                }
            })
            .collect()
    }

    #[test]
    fn tuple_histogram_matches_per_voxel_em() {
        let truth: Vec<u8> = (0..4000u32).map(|i| ((i / 300) % 3) as u8).collect();
        let a = noisy(&truth, 1, 50);
        let b = noisy(&truth, 2, 10);
        let c = noisy(&truth, 3, 4);
        let maps: Vec<&[u8]> = vec![&a, &b, &c];
        let params = StapleParams {
            threshold: 0.0,
            max_iterations: 25,
            undecided: 0,
        };
        let got = staple(&maps, &params).unwrap_or_else(|e| panic!("{e}"));
        let (theta, labels) = per_voxel(&maps, 25);
        for (g, w) in got.confusion.iter().zip(&theta) {
            for (x, y) in g.iter().zip(w) {
                assert!((x - y).abs() < 1e-12, "{x} vs {y}");
            }
        }
        assert_eq!(got.labels, labels);
        // The careful annotator is estimated better than the careless one, and the truth is
        // recovered better than by any single annotator.
        let sens = |k: usize| {
            got.performance[k]
                .iter()
                .map(|p| p.sensitivity)
                .sum::<f64>()
        };
        assert!(sens(0) > sens(1) && sens(1) > sens(2));
        let errors = |m: &[u8]| m.iter().zip(&truth).filter(|(x, y)| x != y).count();
        assert!(errors(&got.labels) < errors(&a));
    }

    #[test]
    fn refuses_bad_input_and_ties_are_undecided() {
        assert!(staple(&[&[1u8, 2][..]], &StapleParams::default()).is_err());
        assert!(staple(&[&[1u8, 2][..], &[1u8][..]], &StapleParams::default()).is_err());
        assert_eq!(winner(&[0.2, 0.4, 0.4]), None);
        assert_eq!(winner(&[0.0, 0.0]), None);
        assert_eq!(winner(&[0.1, 0.5, 0.4]), Some(1));
        // Two identical annotators: the truth is what they wrote.
        let a = [0u8, 1, 1, 2, 0];
        let r = staple(&[&a, &a], &StapleParams::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.labels, a.to_vec());
        assert_eq!(r.distinct_tuples, 3);
    }
}
