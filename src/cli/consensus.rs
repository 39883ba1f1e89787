//! `voxmark consensus A.nii.gz B.nii.gz [C.nii.gz ...] --method majority|staple -o OUT.nii.gz
//! [--json]`: one label map from several annotators (see `qa::consensus` for the vote and its
//! ties, `qa::staple` for STAPLE and each annotator's estimated performance).

use super::compare::load_label_maps;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use voxmark_io::nifti::write_nifti;
use voxmark_qa::consensus::majority_vote;
use voxmark_qa::staple::{staple, StapleParams};
use voxmark_volume::{Metadata, Volume, VoxelData};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Per voxel the value most annotators gave (ties -> 0).
    Majority,
    /// STAPLE (Warfield 2004, multi-label): truth and annotator performance by EM.
    Staple,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Majority => "majority",
            Method::Staple => "staple",
        }
    }
}

#[derive(Debug, Args)]
pub struct ConsensusArgs {
    /// Two or more label maps on the same grid.
    #[arg(required = true, num_args = 2..)]
    pub masks: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Method::Majority)]
    pub method: Method,
    /// Output label map (.nii / .nii.gz), on the inputs' grid.
    #[arg(short, long)]
    pub out: PathBuf,
    /// STAPLE: stop when no confusion-matrix entry changes by this much.
    #[arg(long, default_value_t = 1e-5)]
    pub threshold: f64,
    /// STAPLE: value of voxels where two labels tie (default background).
    #[arg(long, default_value_t = 0)]
    pub undecided: u8,
    /// Print the result (and STAPLE's per-annotator performance) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// The image the masks annotate: the output is on its grid (default: the first mask's).
    #[arg(long)]
    pub image: Option<PathBuf>,
    #[command(flatten)]
    pub resample: super::ResampleArg,
}

pub fn run(a: ConsensusArgs) -> anyhow::Result<()> {
    super::require_nifti_output(&a.out)?;
    if !(a.threshold >= 0.0 && a.threshold.is_finite()) {
        anyhow::bail!("--threshold must be a non-negative number");
    }
    let (first, maps) = load_label_maps(&a.masks, a.image.as_deref(), a.resample.get())?;
    let refs: Vec<&[u8]> = maps.iter().map(Vec::as_slice).collect();
    let n = maps[0].len() as f64;
    let (labels, summary, report) = match a.method {
        Method::Majority => {
            let c = majority_vote(&refs)?;
            let summary = format!(
                "majority vote of {} maps: {:.2} % of voxels unanimous, {} tied (set to 0)",
                a.masks.len(),
                100.0 * c.unanimous as f64 / n,
                c.ties
            );
            let report = serde_json::json!({
                "method": "majority", "unanimous_voxels": c.unanimous, "tied_voxels": c.ties,
            });
            (c.labels, summary, report)
        }
        Method::Staple => {
            let params = StapleParams {
                threshold: a.threshold,
                undecided: a.undecided,
                ..Default::default()
            };
            let s = staple(&refs, &params)?;
            let mut summary = format!(
                "STAPLE of {} maps: {} iterations (last change {:.1e}), {} distinct label tuples, {} voxels undecided (set to {})",
                a.masks.len(),
                s.iterations,
                s.last_update,
                s.distinct_tuples,
                s.undecided,
                a.undecided
            );
            for (path, perf) in a.masks.iter().zip(&s.performance) {
                let fg: Vec<_> = perf.iter().filter(|p| p.label != 0).collect();
                let mean = |f: fn(&&voxmark_qa::staple::LabelPerformance) -> f64| {
                    if fg.is_empty() {
                        f64::NAN
                    } else {
                        fg.iter().map(f).sum::<f64>() / fg.len() as f64
                    }
                };
                summary.push_str(&format!(
                    "\n  {}: mean sensitivity {:.4}, mean specificity {:.6} over {} labels",
                    path.display(),
                    mean(|p| p.sensitivity),
                    mean(|p| p.specificity),
                    fg.len()
                ));
            }
            let annotators: Vec<_> = a
                .masks
                .iter()
                .zip(&s.performance)
                .zip(&s.confusion)
                .map(|((p, perf), conf)| {
                    serde_json::json!({
                        "mask": p.display().to_string(),
                        "labels": perf,
                        "confusion": conf.chunks(s.label_count).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let report = serde_json::json!({
                "method": "staple",
                "iterations": s.iterations,
                "last_update": s.last_update,
                "threshold": a.threshold,
                "undecided_voxels": s.undecided,
                "label_count": s.label_count,
                "prior": s.prior,
                "truth_voxels": s.truth_mass,
                "annotators": annotators,
            });
            (s.labels, summary, report)
        }
    };
    let out = Volume::new(
        first.grid,
        VoxelData::U8(labels),
        Metadata {
            format: first.meta.format.clone(),
            description: format!("voxmark {} of {}", a.method.name(), a.masks.len()),
            sform_code: first.meta.sform_code,
            qform_code: first.meta.qform_code,
            ..Default::default()
        },
    )?;
    write_nifti(&a.out, &out)?;
    eprintln!("{summary}\nwrote {}", a.out.display());
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
