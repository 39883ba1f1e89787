//! `voxmark export-seg MASK --image IMAGE --format dicom-seg|seg-nrrd -o OUT [--labels-json L]`:
//! a label map as a segmentation file other tools open — a DICOM SEG (PACS, OHIF; one segment
//! per label present, referencing the source series: `io::dicom_seg`) or 3D Slicer's
//! `.seg.nrrd` (one segment per label: name and colour from the label table, extents, on the
//! image's grid).
//!
//! The label table comes from `--labels-json` (voxmark's sidecar format `{"labels": [...]}`,
//! or a bare array of `{value, name, color}`), else the mask's own (sidecar or segments),
//! else "label N" with the default palette for every value present.

use clap::{Args, ValueEnum};
use std::path::PathBuf;
use voxmark_io::label_file::{self, export_segmentation};
use voxmark_volume::label_table::LabelInfo;

/// The segmentation format written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SegFormat {
    /// DICOM Segmentation (BINARY), referencing the source series when the image is DICOM.
    DicomSeg,
    /// 3D Slicer's `.seg.nrrd` (NRRD + Segment{N}_* keys).
    SegNrrd,
}

/// The DICOM SEG segmentation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SegType {
    Binary,
    Labelmap,
}

#[derive(Debug, Args)]
pub struct ExportSegArgs {
    /// The label map: a NIfTI mask or a `.seg.nrrd` on the image's grid.
    pub mask: PathBuf,
    /// The image the mask annotates (its grid is written).
    #[arg(long)]
    pub image: PathBuf,
    #[command(flatten)]
    pub resample: super::ResampleArg,
    /// SeriesInstanceUID when the image folder holds several series.
    #[arg(long)]
    pub series: Option<String>,
    #[arg(long, value_enum)]
    pub format: SegFormat,
    /// Output file (written atomically).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Label names and colours (voxmark's label table JSON).
    #[arg(long)]
    pub labels_json: Option<PathBuf>,
    /// DICOM SEG: BINARY (one bit-packed frame per segment per slice; what every viewer
    /// reads) or LABELMAP (Supplement 243: one 8-bit frame per labelled slice).
    #[arg(long, value_enum, default_value_t = SegType::Binary)]
    pub segmentation_type: SegType,
    /// DICOM SEG: the content creator (default: $USER).
    #[arg(long)]
    pub author: Option<String>,
    /// DICOM SEG: label values whose segments tools made (algorithm type SEMIAUTOMATIC);
    /// the others are MANUAL.
    #[arg(long, value_delimiter = ',')]
    pub semiautomatic: Vec<u8>,
}

fn read_table_json(path: &std::path::Path) -> anyhow::Result<Vec<LabelInfo>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        value: u8,
        name: String,
        #[serde(default)]
        color: Option<[f32; 3]>,
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: not JSON: {e}", path.display()))?;
    let list = if v.is_array() { v } else { v["labels"].clone() };
    let entries: Vec<Entry> = serde_json::from_value(list).map_err(|e| {
        anyhow::anyhow!(
            "{}: expected {{\"labels\": [{{\"value\", \"name\", \"color\"}}]}}: {e}",
            path.display()
        )
    })?;
    Ok(entries
        .into_iter()
        .map(|e| {
            let c = voxmark_volume::label_table::default_palette()[usize::from(e.value)];
            LabelInfo {
                value: e.value,
                name: e.name,
                color: e.color.unwrap_or([c[0], c[1], c[2]]),
                visible: true,
                locked: false,
            }
        })
        .collect())
}

pub fn run(a: ExportSegArgs) -> anyhow::Result<()> {
    let loaded = super::load_input(&a.image, a.series.clone())?;
    let image = &loaded.volume;
    let map = label_file::read_label_map_with(&a.mask, &image.grid, a.resample.get())?;
    super::print_warnings(&map.warnings);
    let table = match &a.labels_json {
        Some(p) => read_table_json(p)?,
        None => map.table.clone().unwrap_or_default(),
    };
    let author = a
        .author
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "voxmark".into());
    let format = match a.format {
        SegFormat::DicomSeg if a.segmentation_type == SegType::Labelmap => {
            label_file::SegFormat::DicomSegLabelmap
        }
        SegFormat::DicomSeg => label_file::SegFormat::DicomSeg,
        SegFormat::SegNrrd => label_file::SegFormat::SegNrrd,
    };
    let msg = export_segmentation(
        &a.out,
        format,
        image,
        Some(&a.image),
        &map.labels,
        &table,
        &a.semiautomatic,
        &author,
    )?;
    eprintln!("{msg}");
    Ok(())
}
