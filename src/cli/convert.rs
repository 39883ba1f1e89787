//! `voxmark convert PATH OUT [--series UID]`: the image in real units on the same voxel grid,
//! as NIfTI (`.nii`, `.nii.gz`) or NRRD (`.nrrd` gzip, `.nhdr` + `.raw.gz`, Slicer's layout).
//! A segmentation (DICOM SEG, Slicer `.seg.nrrd`) is written as a label map (u8, with its
//! `.labels.json` table): on the grid its frames or header define, as dcmqi's
//! `segimage2itkimage` does without the source series, or with `--image IMAGE` on that
//! image's grid (taken across voxel for voxel; `--resample nearest` for other grids).

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
    /// For a segmentation: the image (its source series, or its NIfTI) whose grid the label
    /// map is written on.
    #[arg(long)]
    pub image: Option<PathBuf>,
    #[command(flatten)]
    pub resample: super::ResampleArg,
}

pub fn run(a: ConvertArgs) -> anyhow::Result<()> {
    let name = a.out.to_string_lossy().to_lowercase();
    let nrrd = name.ends_with(".nrrd") || name.ends_with(".nhdr");
    if !nrrd {
        super::require_nifti_output(&a.out)?;
    }
    let is_segmentation = voxmark_io::dicom_seg::is_seg(&a.path)
        || (matches!(voxmark_io::sniff(&a.path), Ok(voxmark_io::Kind::Nrrd))
            && voxmark_io::seg_nrrd::is_seg_nrrd(&a.path));
    if is_segmentation {
        return convert_segmentation(&a, nrrd);
    }
    if a.image.is_some() {
        anyhow::bail!(
            "{}: --image is for segmentations (DICOM SEG, .seg.nrrd); this is an image",
            a.path.display()
        );
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

/// A segmentation written as a label map: on its own grid, or on `--image`'s.
fn convert_segmentation(a: &ConvertArgs, nrrd: bool) -> anyhow::Result<()> {
    use voxmark_io::label_file::{read_label_map_alone, read_label_map_with, sidecar_path};
    let (grid, map, meta) = match &a.image {
        Some(img) => {
            let image = super::load_input(img, a.series.clone())?.volume;
            let m = read_label_map_with(&a.path, &image.grid, a.resample.get())?;
            (image.grid, m, image.meta)
        }
        None => {
            let (g, m) = read_label_map_alone(&a.path, "--image IMAGE")?;
            (g, m, voxmark_volume::Metadata::default())
        }
    };
    super::print_warnings(&map.warnings);
    let table = map.table.clone().unwrap_or_default();
    let labelled = map.labels.iter().filter(|&&v| v != 0).count();
    let out = voxmark_volume::Volume::new(
        grid,
        voxmark_volume::VoxelData::U8(map.labels),
        voxmark_volume::Metadata {
            format: meta.format.clone(),
            description: "labels".into(),
            // A grid from a SEG's frames is scanner space, as an image's sform says.
            sform_code: if a.image.is_some() {
                meta.sform_code
            } else {
                1
            },
            qform_code: if a.image.is_some() {
                meta.qform_code
            } else {
                1
            },
            ..Default::default()
        },
    )?;
    if nrrd {
        voxmark_io::nrrd::write_nrrd_volume(&a.out, &out, true)?;
    } else {
        write_nifti(&a.out, &out)?;
    }
    if !table.is_empty() {
        let side = sidecar_path(&a.out);
        let json = serde_json::to_vec_pretty(&serde_json::json!({ "labels": table }))?;
        voxmark_volume::fs::atomic::write_atomically(&side, |w| w.write_all(&json))?;
    }
    let [nx, ny, nz] = grid.dims;
    eprintln!(
        "wrote {} (label map {nx}x{ny}x{nz}, axes {}, {} segments, {labelled} labelled voxels{})",
        a.out.display(),
        grid.axis_codes(),
        table.len(),
        match &a.image {
            Some(i) => format!(", on the grid of {}", i.display()),
            None => ", on the grid the segmentation defines".into(),
        }
    );
    Ok(())
}
