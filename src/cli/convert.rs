//! `voxmark convert PATH OUT [--series UID]`: the image in real units on the same voxel grid,
//! as NIfTI (`.nii`, `.nii.gz`) or NRRD (`.nrrd` gzip, `.nhdr` + `.raw.gz`, Slicer's layout).

use clap::Args;
use std::path::PathBuf;
use voxmark_io::nifti::write_nifti;

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Input: .nii / .nii.gz, .nrrd / .nhdr, .mha / .mhd, a DICOM file or a folder of DICOM
    /// files.
    pub path: PathBuf,
    /// Output .nii, .nii.gz, .nrrd or .nhdr (written atomically).
    pub out: PathBuf,
    /// SeriesInstanceUID when the folder holds several series.
    #[arg(long)]
    pub series: Option<String>,
}

pub fn run(a: ConvertArgs) -> anyhow::Result<()> {
    let name = a.out.to_string_lossy().to_lowercase();
    let nrrd = name.ends_with(".nrrd") || name.ends_with(".nhdr");
    if !nrrd {
        super::require_nifti_output(&a.out)?;
    }
    let loaded = super::load_input(&a.path, a.series)?;
    let v = &loaded.volume;
    if nrrd {
        voxmark_io::nrrd::write_nrrd_volume(&a.out, v, true)?;
    } else {
        write_nifti(&a.out, v)?;
    }
    let [nx, ny, nz] = v.grid.dims;
    eprintln!(
        "wrote {} ({nx}x{ny}x{nz} {}, axes {})",
        a.out.display(),
        v.dtype().name(),
        v.grid.axis_codes()
    );
    Ok(())
}
