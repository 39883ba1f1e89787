//! `voxmark convert PATH OUT.nii.gz [--series UID]`: NIfTI in real units, same voxel grid.

use crate::io::{load_volume, nifti::write_nifti, LoadOptions};
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
    let name = a.out.to_string_lossy().to_lowercase();
    if !(name.ends_with(".nii") || name.ends_with(".nii.gz")) {
        anyhow::bail!("{}: output must end in .nii or .nii.gz", a.out.display());
    }
    let loaded = load_volume(&a.path, &LoadOptions { series: a.series })?;
    let v = &loaded.volume;
    super::print_warnings(&v.meta.warnings);
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
