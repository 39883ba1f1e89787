//! `voxmark info PATH [--series UID] [--json]`.

use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use voxmark_io::dicom_scan::SeriesSummary;
use voxmark_io::{open, LoadOptions, Loaded, Opened};
use voxmark_volume::Volume;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A .nii / .nii.gz, .nrrd / .nhdr or .mha / .mhd file, a DICOM file or a folder of DICOM
    /// files.
    pub path: PathBuf,
    /// SeriesInstanceUID to describe when the folder holds several series.
    #[arg(long)]
    pub series: Option<String>,
    /// Print one JSON object instead of the readable summary.
    #[arg(long)]
    pub json: bool,
}

/// Convention for voxel indices, printed so users know how to give seeds later.
pub const INDEX_CONVENTION: &str = "i = column, j = row, k = slice sorted along the slice normal (DICOM); NIfTI: array order; voxel centres; 0-based";

fn nan_to_null(x: f64) -> serde_json::Value {
    if x.is_finite() {
        json!(x)
    } else {
        serde_json::Value::Null
    }
}

/// The JSON object `info --json` prints for one volume.
pub fn volume_json(
    path: &std::path::Path,
    v: &Volume,
    series: &[SeriesSummary],
    skipped: usize,
) -> serde_json::Value {
    let (min, max) = v.data.min_max();
    json!({
        "path": path.display().to_string(),
        "format": v.meta.format,
        "dims": v.grid.dims,
        "spacing_mm": v.grid.spacing_mm(),
        "world_from_voxel": v.grid.world_from_voxel_rows(),
        "world_frame": "RAS",
        "axis_codes": v.grid.axis_codes(),
        "dtype": v.dtype().name(),
        "stored_dtype": v.meta.stored_dtype,
        "rescale": v.meta.rescale.map(|(s, i)| json!({"slope": s, "intercept": i})),
        "min": nan_to_null(min),
        "max": nan_to_null(max),
        "modality": v.meta.modality,
        "description": v.meta.description,
        "series_uid": v.meta.series_uid,
        "window": v.meta.window,
        "index_convention": INDEX_CONVENTION,
        "series": series,
        "skipped_files": skipped,
        "warnings": v.meta.warnings,
    })
}

fn print_human(path: &std::path::Path, l: &Loaded) {
    let v = &l.volume;
    let (min, max) = v.data.min_max();
    let [nx, ny, nz] = v.grid.dims;
    let s = v.grid.spacing_mm();
    println!("path:        {}", path.display());
    println!(
        "format:      {}  (stored {}, loaded as {})",
        v.meta.format,
        v.meta.stored_dtype,
        v.dtype().name()
    );
    if let Some((slope, inter)) = v.meta.rescale {
        println!("rescale:     real = stored * {slope} + {inter}");
    }
    println!("modality:    {}", v.meta.modality);
    if !v.meta.description.is_empty() {
        println!("description: {}", v.meta.description);
    }
    println!(
        "dims:        {nx} x {ny} x {nz}  ({} voxels)",
        v.grid.voxel_count()
    );
    println!("spacing:     {:.4} x {:.4} x {:.4} mm", s[0], s[1], s[2]);
    println!(
        "axes:        {}  (direction of +i, +j, +k in the patient)",
        v.grid.axis_codes()
    );
    println!("world:       RAS+ mm, world_from_voxel =");
    for r in v.grid.world_from_voxel_rows() {
        println!(
            "               [{:>11.5} {:>11.5} {:>11.5} {:>11.5}]",
            r[0], r[1], r[2], r[3]
        );
    }
    println!("range:       {min} .. {max}");
    if let Some(w) = v.meta.window {
        println!("window:      center {} width {}", w.center, w.width);
    }
    println!("indices:     {INDEX_CONVENTION}");
    if l.series.len() > 1 {
        println!("series:      {} in folder", l.series.len());
        for s in &l.series {
            println!("{}", s.line());
        }
    }
    if l.skipped_files > 0 {
        println!("skipped:     {} non-DICOM files", l.skipped_files);
    }
}

pub fn run(a: InfoArgs) -> anyhow::Result<()> {
    if voxmark_io::dicom_seg::is_seg(&a.path) {
        return seg_info(&a);
    }
    let opened = open(
        &a.path,
        &LoadOptions {
            series: a.series.clone(),
        },
    )?;
    match opened {
        Opened::Volume(l) => {
            super::print_warnings(&l.volume.meta.warnings);
            if a.json {
                let j = volume_json(&a.path, &l.volume, &l.series, l.skipped_files);
                println!("{}", serde_json::to_string_pretty(&j)?);
            } else {
                print_human(&a.path, &l);
            }
        }
        Opened::Ambiguous(list) => {
            if a.json {
                let j = json!({
                    "path": a.path.display().to_string(),
                    "format": "dicom",
                    "series": list,
                });
                println!("{}", serde_json::to_string_pretty(&j)?);
            } else {
                println!(
                    "{}: {} DICOM series (choose one with --series UID)",
                    a.path.display(),
                    list.len()
                );
                for s in &list {
                    println!("{}", s.line());
                }
            }
        }
    }
    Ok(())
}

/// `info` of a DICOM SEG: a label map, not an image — its segments, what it references,
/// its frames and the grid they define.
fn seg_info(a: &InfoArgs) -> anyhow::Result<()> {
    let seg = voxmark_io::dicom_seg::open_seg(&a.path)?;
    let grid = seg.own_grid("--image IMAGE");
    let segments: Vec<serde_json::Value> = seg
        .segment_numbers()
        .iter()
        .zip(&seg.segments)
        .map(|((n, v), s)| json!({"number": n, "label_value": v, "name": s.name}))
        .collect();
    let series: Vec<serde_json::Value> = seg
        .referenced_series
        .iter()
        .map(|(uid, n)| json!({"series_uid": uid, "instances": n}))
        .collect();
    if a.json {
        let g = match &grid {
            Ok(g) => json!({
                "dims": g.dims,
                "spacing_mm": g.spacing_mm(),
                "axis_codes": g.axis_codes(),
                "world_from_voxel": g.world_from_voxel_rows(),
            }),
            Err(e) => json!({"error": e.to_string()}),
        };
        let j = json!({
            "path": a.path.display().to_string(),
            "format": "dicom-seg",
            "segmentation_type": seg.seg_type,
            "labelmap": seg.labelmap,
            "frames": seg.frame_count(),
            "rows": seg.rows,
            "columns": seg.cols,
            "segments": segments,
            "study_uid": seg.study_uid,
            "series_uid": seg.series_uid,
            "frame_of_reference_uid": seg.frame_of_reference_uid,
            "referenced_series": series,
            "grid": g,
        });
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    println!(
        "{}: DICOM segmentation ({}{}), {} frames of {}x{} pixels",
        a.path.display(),
        seg.seg_type,
        if seg.labelmap {
            ", Label Map Segmentation"
        } else {
            ""
        },
        seg.frame_count(),
        seg.cols,
        seg.rows
    );
    println!("  segments:");
    for ((n, v), s) in seg.segment_numbers().iter().zip(&seg.segments) {
        println!("    {n:>3}  {:<32} (label value {v})", s.name);
    }
    for (uid, n) in &seg.referenced_series {
        println!("  references series {uid} ({n} instances)");
    }
    println!("  study {}", seg.study_uid);
    println!("  frame of reference {}", seg.frame_of_reference_uid);
    match grid {
        Ok(g) => println!(
            "  grid of its frames: {}",
            voxmark_volume::labels::describe(&g)
        ),
        Err(e) => println!("  its frames define no grid by themselves: {e}"),
    }
    println!(
        "  a label map: open it on its image with --labels, or write it with `voxmark convert {} OUT.nii.gz [--image IMAGE]`",
        a.path.display()
    );
    Ok(())
}
