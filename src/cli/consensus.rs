//! `voxmark consensus A.nii.gz B.nii.gz [C.nii.gz ...] --method majority -o OUT.nii.gz`:
//! one label map from several annotators (see `qa::consensus` for the vote and its ties).

use super::compare::load_label_maps;
use crate::io::nifti::write_nifti;
use crate::qa::consensus::majority_vote;
use crate::volume::{Metadata, Volume, VoxelData};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Per voxel the value most annotators gave (ties -> 0).
    Majority,
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
}

pub fn run(a: ConsensusArgs) -> anyhow::Result<()> {
    super::require_nifti_output(&a.out)?;
    let (first, maps) = load_label_maps(&a.masks)?;
    let refs: Vec<&[u8]> = maps.iter().map(Vec::as_slice).collect();
    let c = match a.method {
        Method::Majority => majority_vote(&refs)?,
    };
    let n = c.labels.len() as f64;
    let out = Volume::new(
        first.grid,
        VoxelData::U8(c.labels),
        Metadata {
            format: first.meta.format.clone(),
            description: format!("voxmark majority of {}", a.masks.len()),
            sform_code: first.meta.sform_code,
            qform_code: first.meta.qform_code,
            ..Default::default()
        },
    )?;
    write_nifti(&a.out, &out)?;
    eprintln!(
        "majority vote of {} maps: {:.2} % of voxels unanimous, {} tied (set to 0); wrote {}",
        a.masks.len(),
        100.0 * c.unanimous as f64 / n,
        c.ties,
        a.out.display()
    );
    Ok(())
}
