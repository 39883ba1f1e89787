//! `voxmark mesh MASK.nii.gz --label N -o OUT.stl [--frame ras|lps]`: a label's surface as
//! a binary STL in world millimetres (marching cubes; see `render::mesh`).

use crate::io::{load_volume, LoadOptions};
use crate::render::mesh::{label_mesh, write_stl};
use crate::volume::labels::labels_for;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Frame {
    /// NIfTI's world frame (+x right, +y anterior, +z superior), as voxmark uses throughout.
    Ras,
    /// DICOM's frame (+x left, +y posterior), as 3D Slicer writes models since 4.11.
    Lps,
}

#[derive(Debug, Args)]
pub struct MeshArgs {
    /// Label map (.nii / .nii.gz).
    pub mask: PathBuf,
    /// Label value to mesh.
    #[arg(long)]
    pub label: u8,
    /// Coordinate frame of the vertices.
    #[arg(long, value_enum, default_value_t = Frame::Ras)]
    pub frame: Frame,
    /// Output .stl (binary), written atomically.
    #[arg(short, long)]
    pub out: PathBuf,
}

pub fn run(a: MeshArgs) -> anyhow::Result<()> {
    if !a.out.to_string_lossy().to_lowercase().ends_with(".stl") {
        anyhow::bail!("{}: output must end in .stl", a.out.display());
    }
    let v = load_volume(&a.mask, &LoadOptions::default())?.volume;
    let labels = labels_for(&v, &a.mask, &v.grid)?;
    let mesh = label_mesh(&labels, &v.grid, a.label);
    if mesh.triangles.is_empty() {
        anyhow::bail!("{}: label {} is not present", a.mask.display(), a.label);
    }
    let header = format!(
        "voxmark mesh label {} {} mm",
        a.label,
        if a.frame == Frame::Lps { "LPS" } else { "RAS" }
    );
    write_stl(&a.out, &mesh, a.frame == Frame::Lps, &header)?;
    eprintln!(
        "wrote {} ({} triangles, enclosed {:.3} mL, area {:.1} mm², {} frame)",
        a.out.display(),
        mesh.triangles.len(),
        mesh.signed_volume_mm3() / 1000.0,
        mesh.area_mm2(),
        if a.frame == Frame::Lps { "LPS" } else { "RAS" }
    );
    Ok(())
}
