//! `voxmark phantom --size X,Y,Z -o OUT`: the synthetic CT phantom as NIfTI, or as a DICOM
//! series when OUT is an existing folder or ends with `/`.

use clap::Args;
use std::path::PathBuf;
use voxmark_io::{dicom_write::write_dicom_series, nifti::write_nifti};
use voxmark_volume::phantom::Phantom;

#[derive(Debug, Args)]
pub struct PhantomArgs {
    /// Grid size X,Y,Z (each up to 512,512,2048).
    #[arg(long, default_value = "256,256,256", value_parser = parse_size)]
    pub size: [usize; 3],
    /// Output .nii / .nii.gz file, or a folder (DICOM series, one file per slice).
    #[arg(short, long)]
    pub out: PathBuf,
}

/// Parses `X,Y,Z` (also accepts `XxYxZ`).
pub fn parse_size(s: &str) -> Result<[usize; 3], String> {
    let parts: Vec<&str> = s.split([',', 'x', 'X']).collect();
    let nums: Result<Vec<usize>, _> = parts.iter().map(|p| p.trim().parse::<usize>()).collect();
    match nums {
        Ok(v) if v.len() == 3 => Ok([v[0], v[1], v[2]]),
        _ => Err(format!("expected X,Y,Z, got {s:?}")),
    }
}

pub fn run(a: PhantomArgs) -> anyhow::Result<()> {
    let p = Phantom::new(a.size)?;
    let v = p.volume();
    let as_dir = a.out.is_dir() || a.out.to_string_lossy().ends_with('/');
    if as_dir {
        write_dicom_series(&a.out, &v, &v.meta.description)?;
        eprintln!(
            "wrote DICOM series {} ({} slices)",
            a.out.display(),
            a.size[2]
        );
    } else {
        let name = a.out.to_string_lossy().to_lowercase();
        if !(name.ends_with(".nii") || name.ends_with(".nii.gz")) {
            anyhow::bail!(
                "{}: output must be .nii, .nii.gz or a folder ending in /",
                a.out.display()
            );
        }
        write_nifti(&a.out, &v)?;
        eprintln!("wrote {}", a.out.display());
    }
    Ok(())
}
