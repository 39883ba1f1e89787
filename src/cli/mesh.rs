//! `voxmark mesh MASK --label N -o OUT.stl [--image IMAGE] [--frame ras|lps]`: a label's
//! surface as a binary STL in world millimetres (marching cubes; see `render::mesh`). MASK is
//! any label map voxmark reads (NIfTI, NRRD, MetaImage, `.seg.nrrd`, DICOM SEG): on
//! `--image`'s grid when given, else on its own (a DICOM SEG needs `--image`).

use clap::{Args, ValueEnum};
use std::path::PathBuf;
use voxmark_io::label_file::read_label_map_alone;
use voxmark_io::{load_volume, LoadOptions};
use voxmark_render::mesh::{label_mesh, write_stl};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Frame {
    /// NIfTI's world frame (+x right, +y anterior, +z superior), as voxmark uses throughout.
    Ras,
    /// DICOM's frame (+x left, +y posterior), as 3D Slicer writes models since 4.11.
    Lps,
}

#[derive(Debug, Args)]
pub struct MeshArgs {
    /// Label map: NIfTI, NRRD, MetaImage, 3D Slicer .seg.nrrd or DICOM SEG.
    pub mask: PathBuf,
    /// Label value to mesh (a SEG's segments read as voxmark labels: see `export-seg`).
    #[arg(long)]
    pub label: u8,
    /// Image whose grid the label map is on (required for a DICOM SEG; a .seg.nrrd cropped
    /// to its segments is placed into it).
    #[arg(long)]
    pub image: Option<PathBuf>,
    #[command(flatten)]
    pub resample: super::ResampleArg,
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
    let (grid, map) = match &a.image {
        Some(image) => {
            let grid = load_volume(image, &LoadOptions::default())?.volume.grid;
            (
                grid,
                voxmark_io::label_file::read_label_map_with(&a.mask, &grid, a.resample.get())?,
            )
        }
        None => read_label_map_alone(&a.mask, "--image")?,
    };
    for w in &map.warnings {
        eprintln!("warning: {w}");
    }
    let mesh = label_mesh(&map.labels, &grid, a.label);
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
