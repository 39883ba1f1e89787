//! `voxmark compare A.nii.gz B.nii.gz [--labels 1,2] [--tolerance-mm T] [--json]`:
//! per-label agreement of two annotations of the same image (see `qa::metrics`).

use clap::Args;
use std::path::{Path, PathBuf};
use voxmark_qa::metrics::{compare_masks, is_orthogonal, labels_present, LabelAgreement};
use voxmark_volume::Volume;

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Reference annotation (label map).
    pub a: PathBuf,
    /// Annotation compared with it (same grid).
    pub b: PathBuf,
    /// Labels to compare (default: every label present in either map).
    #[arg(long, value_delimiter = ',')]
    pub labels: Option<Vec<u8>>,
    /// The image both annotate: needed for DICOM SEG and `.seg.nrrd` inputs (any label
    /// format is then read onto its grid).
    #[arg(long)]
    pub image: Option<PathBuf>,
    #[command(flatten)]
    pub resample: super::ResampleArg,
    /// Surface Dice tolerance in mm.
    #[arg(long, default_value_t = 1.0)]
    pub tolerance_mm: f64,
    #[arg(long)]
    pub json: bool,
}

/// Loads label maps onto one grid; errors name the file, what differs and both grids.
/// With `image`, each map is read onto that image's grid in any label format voxmark reads
/// (NIfTI, NRRD, a Slicer `.seg.nrrd`, a DICOM SEG), and the returned volume is the first
/// map on the image's grid. Without, the grid is the first map's that is not a DICOM SEG (a
/// SEG's own grid spans only the slices its segments touch), else the first SEG's; maps in
/// another axis order are taken across voxel for voxel (a note says so), other grids only
/// with `resample`.
pub(crate) fn load_label_maps(
    paths: &[PathBuf],
    image: Option<&Path>,
    resample: voxmark_volume::labels::Resample,
) -> anyhow::Result<(Volume, Vec<Vec<u8>>)> {
    // Without an image: the grid of the first map that is not a DICOM SEG, read once here
    // (its labels are kept for the loop below).
    let mut reference: Option<&PathBuf> = None;
    let mut reference_labels: Option<Vec<u8>> = None;
    let (grid, meta) = match image {
        Some(img) => {
            let image = super::load_input(img, None)?.volume;
            (image.grid, image.meta)
        }
        None => {
            let is_seg = |p: &Path| {
                matches!(
                    voxmark_io::sniff(p),
                    Ok(voxmark_io::Kind::Dicom | voxmark_io::Kind::DicomFolder)
                )
            };
            let r = paths.iter().find(|p| !is_seg(p)).unwrap_or(&paths[0]);
            let (g, m) = voxmark_io::label_file::read_label_map_alone(r, "--image")?;
            super::print_warnings(&m.warnings);
            // The consensus output keeps a NIfTI reference's form codes.
            let meta = match voxmark_io::sniff(r)? {
                voxmark_io::Kind::Nifti => {
                    let geo = voxmark_io::nifti::read_nifti_geometry(r)?;
                    voxmark_volume::Metadata {
                        format: "nifti".into(),
                        sform_code: geo.sform_code,
                        qform_code: geo.qform_code,
                        ..Default::default()
                    }
                }
                _ => voxmark_volume::Metadata::default(),
            };
            reference = Some(r);
            reference_labels = Some(m.labels);
            (g, meta)
        }
    };
    let mut maps = Vec::with_capacity(paths.len());
    for p in paths {
        if reference == Some(p) {
            // Read above (a path given twice is read again the second time).
            if let Some(labels) = reference_labels.take() {
                maps.push(labels);
                continue;
            }
        }
        let m = voxmark_io::label_file::read_label_map_with(p, &grid, resample).map_err(|e| {
            match reference {
                // Name the map whose grid the others are taken onto.
                Some(r) => anyhow::anyhow!(
                    "{e} (compared on the grid of {}; give --image IMAGE to compare on the image's)",
                    r.display()
                ),
                None => anyhow::anyhow!(e),
            }
        })?;
        super::print_warnings(&m.warnings);
        maps.push(m.labels);
    }
    let first = Volume::new(
        grid,
        voxmark_volume::VoxelData::U8(maps[0].clone()),
        voxmark_volume::Metadata {
            format: meta.format.clone(),
            sform_code: meta.sform_code,
            qform_code: meta.qform_code,
            ..Default::default()
        },
    )?;
    Ok((first, maps))
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.3}"))
}

pub fn run(a: CompareArgs) -> anyhow::Result<()> {
    if !(a.tolerance_mm >= 0.0 && a.tolerance_mm.is_finite()) {
        anyhow::bail!("--tolerance-mm must be a non-negative number");
    }
    let (va, maps) = load_label_maps(
        &[a.a.clone(), a.b.clone()],
        a.image.as_deref(),
        a.resample.get(),
    )?;
    if !is_orthogonal(&va.grid) {
        eprintln!(
            "voxmark: warning: {}: the grid is sheared; distances use the voxel spacing along each axis",
            a.a.display()
        );
    }
    let labels = match &a.labels {
        Some(l) => l.clone(),
        None => labels_present(&maps[0], &maps[1]),
    };
    let rows = compare_masks(&maps[0], &maps[1], &va.grid, &labels, a.tolerance_mm);
    let both: Vec<&LabelAgreement> = rows.iter().filter(|r| r.empty != Some("both")).collect();
    let mean = |f: &dyn Fn(&LabelAgreement) -> Option<f64>| -> Option<f64> {
        let v: Vec<f64> = both.iter().filter_map(|r| f(r)).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let summary = serde_json::json!({
        "labels": both.len(),
        "mean_dice": mean(&|r| Some(r.dice)),
        "mean_iou": mean(&|r| Some(r.iou)),
        "mean_hausdorff95_mm": mean(&|r| r.hausdorff95_mm),
        "mean_assd_mm": mean(&|r| r.assd_mm),
        "mean_surface_dice": mean(&|r| r.surface_dice),
    });
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "a": a.a, "b": a.b, "tolerance_mm": a.tolerance_mm,
                "labels": rows, "mean": summary,
            }))?
        );
        return Ok(());
    }
    print_table(&a.a, &a.b, a.tolerance_mm, &rows);
    println!(
        "mean over {} labels: Dice {} IoU {} HD95 {} mm ASSD {} mm surface Dice {}",
        both.len(),
        fmt(summary["mean_dice"].as_f64()),
        fmt(summary["mean_iou"].as_f64()),
        fmt(summary["mean_hausdorff95_mm"].as_f64()),
        fmt(summary["mean_assd_mm"].as_f64()),
        fmt(summary["mean_surface_dice"].as_f64()),
    );
    Ok(())
}

fn print_table(a: &Path, b: &Path, tol: f64, rows: &[LabelAgreement]) {
    println!("A = {}\nB = {}", a.display(), b.display());
    println!(
        "{:>5} {:>10} {:>10} {:>7} {:>7} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}  note",
        "label",
        "voxels A",
        "voxels B",
        "Dice",
        "IoU",
        "mL A",
        "mL B",
        "dVol %",
        "HD mm",
        "HD95 mm",
        "ASSD mm",
        format!("sD@{tol}")
    );
    for r in rows {
        println!(
            "{:>5} {:>10} {:>10} {:>7.4} {:>7.4} {:>9.3} {:>9.3} {:>8} {:>8} {:>8} {:>8} {:>8}  {}",
            r.label,
            r.voxels_a,
            r.voxels_b,
            r.dice,
            r.iou,
            r.volume_a_ml,
            r.volume_b_ml,
            r.volume_diff_pct.map_or("-".into(), |v| format!("{v:+.2}")),
            fmt(r.hausdorff_mm),
            fmt(r.hausdorff95_mm),
            fmt(r.assd_mm),
            fmt(r.surface_dice),
            match r.empty {
                Some("both") => "absent in both",
                Some("a") => "absent in A",
                Some("b") => "absent in B",
                _ => "",
            }
        );
    }
}
