//! `voxmark convert PATH OUT.nii.gz [--series UID]`: NIfTI in real units, same voxel grid.

use crate::io::nifti::write_nifti;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Input: .nii / .nii.gz, a DICOM file or a folder of DICOM files.
    pub path: PathBuf,
    /// Output .nii or .nii.gz (written atomically).
    pub out: PathBuf,
    /// SeriesInstanceUID when the folder holds several series.
    #[arg(long)]
    pub series: Option<String>,
}

pub fn run(a: ConvertArgs) -> anyhow::Result<()> {
    super::require_nifti_output(&a.out)?;
    let loaded = super::load_input(&a.path, a.series)?;
    let v = &loaded.volume;
    write_nifti(&a.out, v)?;
    let [nx, ny, nz] = v.grid.dims;
    eprintln!(
        "wrote {} ({nx}x{ny}x{nz} {}, axes {})",
        a.out.display(),
        v.dtype().name(),
        v.grid.axis_codes()
    );
    Ok(())
}
