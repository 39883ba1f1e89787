//! Label maps on disk: the NIfTI mask on the image's grid (what nnU-Net / MONAI read) and
//! its sidecar `<stem>.labels.json` with the label table (names, colours, visibility,
//! locks); read also from NRRD and 3D Slicer `.seg.nrrd` ([`read_label_map`]). Shared by
//! `voxmark apply` and the desktop shell's Save / Open labels.

use crate::nifti::write_nifti;
use std::path::{Path, PathBuf};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::label_table::{label_name, LabelInfo};
pub use voxmark_volume::labels::Resample;
use voxmark_volume::{Grid, Metadata, Volume, VoxelData};

/// `<stem>.labels.json` beside a `<stem>.nii(.gz)` mask.
pub fn sidecar_path(mask: &Path) -> PathBuf {
    let name = mask
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".nii.gz")
        .or_else(|| name.strip_suffix(".nii"))
        .or_else(|| name.strip_suffix(".seg.nrrd"))
        .or_else(|| name.strip_suffix(".nrrd"))
        .unwrap_or(&name);
    mask.with_file_name(format!("{stem}.labels.json"))
}

/// The markups file beside `mask` (`MASK.mrk.json`, 3D Slicer's Markups JSON).
pub fn markups_path(mask: &Path) -> PathBuf {
    let side = sidecar_path(mask);
    let name = side.file_name().map(|n| n.to_string_lossy().into_owned());
    let stem = name
        .as_deref()
        .and_then(|n| n.strip_suffix(".labels.json"))
        .unwrap_or("labels");
    mask.with_file_name(format!("{stem}.mrk.json"))
}

/// The previous markups file a save keeps (`MASK.mrk.json.prev`).
pub fn markups_prev(mask: &Path) -> PathBuf {
    let p = markups_path(mask);
    p.with_file_name(format!(
        "{}.prev",
        p.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ))
}

/// The markups saved with `mask`, consistent with the mask's journal marker: a save writes
/// the markups (keeping the previous file as `.prev`) before the mask, so a crash between
/// the two leaves markups ahead of the mask; then the `.prev` file, whose marker is the
/// mask's, is the one that goes with it (the journal replays the rest). Empty when there is
/// no markups file. Warnings say when the file read is not the one the mask was saved with.
pub fn read_markups_for(
    mask: &Path,
    mask_marker: Option<&str>,
) -> Result<(voxmark_volume::markup::MarkupSet, Vec<String>)> {
    use crate::markups::read_slicer_marked;
    let cur = markups_path(mask);
    if !cur.exists() {
        return Ok((Default::default(), Vec::new()));
    }
    let (set, marker) = read_slicer_marked(&cur)?;
    if marker.as_deref() == mask_marker || mask_marker.is_none() {
        return Ok((set, Vec::new()));
    }
    let prev = markups_prev(mask);
    if prev.exists() {
        let (pset, pmarker) = read_slicer_marked(&prev)?;
        if pmarker.as_deref() == mask_marker {
            return Ok((
                pset,
                vec![format!(
                    "{} is newer than {} (a save was interrupted): read {} instead; the journal replays the rest",
                    cur.display(),
                    mask.display(),
                    prev.display()
                )],
            ));
        }
    }
    Ok((
        set,
        vec![format!(
            "{} was not saved with {} (its journal marker differs)",
            cur.display(),
            mask.display()
        )],
    ))
}

/// The label table stored beside `mask`, if there is one.
pub fn read_table(mask: &Path) -> Result<Option<Vec<LabelInfo>>> {
    let side = sidecar_path(mask);
    if !side.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&side).map_err(|e| Error::io(&side, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::format(&side, e.to_string()))?;
    let table = serde_json::from_value(v["labels"].clone())
        .map_err(|e| Error::format(&side, e.to_string()))?;
    Ok(Some(table))
}

/// A label map read for an image: its labels on the image's grid, the label table the file
/// carries (a `.seg.nrrd`'s segments, or a NIfTI mask's sidecar), and warnings.
#[derive(Debug, Clone)]
pub struct LabelMap {
    pub labels: Vec<u8>,
    pub table: Option<Vec<LabelInfo>>,
    pub warnings: Vec<String>,
    /// The journal marker a voxmark mask was saved with ([`save_labels_marked`]).
    pub journal_marker: Option<String>,
    /// True when the file's own grid is not the image's: its labels were taken across
    /// (reoriented, a box placed, or resampled on request; the warnings say which), so the
    /// file's bytes are not a mask on the image's grid.
    pub moved: bool,
}

/// What a voxmark mask's description says after the journal marker.
const MARKER_TAG: &str = " journal ";

/// The journal marker in a mask's description, if any.
fn marker_in(description: &str) -> Option<String> {
    let (_, m) = description.rsplit_once(MARKER_TAG)?;
    let m = m.trim();
    (m.len() == 16 && m.bytes().all(|b| b.is_ascii_hexdigit())).then(|| m.to_string())
}

/// Reads the label map at `path` for an image on `image`: a NIfTI, NRRD or MetaImage mask,
/// a 3D Slicer `.seg.nrrd` (`io::seg_nrrd`) or a DICOM SEG (`io::dicom_seg`; segment
/// numbers become label values). A map on the image's grid is taken as it is; one whose
/// voxel centres are the image's under an axis permutation, flips or a box (a SEG of a
/// DICOM series on its dcm2niix NIfTI, a Slicer file cropped to its extent) is taken across
/// voxel for voxel with a note in the warnings; any other grid is an error naming what
/// differs and both grids. Nothing is resampled: see [`read_label_map_with`].
pub fn read_label_map(path: &Path, image: &Grid) -> Result<LabelMap> {
    read_label_map_with(path, image, Resample::Never)
}

/// [`read_label_map`], resampling a label map on another grid by nearest neighbour when
/// `resample` says so (with a note counting what a round trip changes).
pub fn read_label_map_with(path: &Path, image: &Grid, resample: Resample) -> Result<LabelMap> {
    read_map(path, Ok((image, resample))).map(|(_, m)| m)
}

/// Reads the label map at `path` on the grid it defines by itself, for commands given no
/// image, and returns that grid: a NIfTI, NRRD or MetaImage mask's own grid, a `.seg.nrrd`'s
/// (possibly cropped) extent, a DICOM SEG's frames (`SegObject::own_grid`, as dcmqi's
/// `segimage2itkimage` without the source series). `what` names the option that gives an
/// image instead, for a SEG whose frames define no grid.
pub fn read_label_map_alone(path: &Path, what: &str) -> Result<(Grid, LabelMap)> {
    read_map(path, Err(what))
}

/// A segmentation's segments as a label table.
fn table_of(segments: &[crate::seg_nrrd::SegmentInfo]) -> Vec<LabelInfo> {
    segments
        .iter()
        .map(|s| LabelInfo {
            value: s.value,
            name: s.name.clone(),
            color: s.color,
            visible: true,
            locked: false,
        })
        .collect()
}

/// [`read_label_map_with`] on `image`, or (`Err(what)`) on the file's own grid; the file is
/// read once either way.
fn read_map(
    path: &Path,
    image: std::result::Result<(&Grid, Resample), &str>,
) -> Result<(Grid, LabelMap)> {
    use crate::{dicom_seg, nrrd, seg_nrrd, sniff, Kind};
    let kind = sniff(path)?;
    // A NRRD header is read once: it says segmentation or image.
    let nrrd_header = match kind {
        Kind::Nrrd => Some(nrrd::read_header(path)?),
        _ => None,
    };
    // Where the labels were read (their own grid, or already the image's) and what they are.
    let (own, labels, table, mut warnings, marker) = match (&nrrd_header, kind) {
        (Some(h), _) if seg_nrrd::is_segmentation(h) => {
            let (own, r) = seg_nrrd::seg_from_header(h)?;
            (own, r.labels, Some(table_of(&r.segments)), r.warnings, None)
        }
        (None, Kind::Dicom) => {
            let seg = dicom_seg::open_seg(path)?;
            // Frame by frame onto the image when its frames are the image's voxels.
            let placed = match image {
                Ok((g, resample)) => match seg.place_on(g)? {
                    Ok(r) => Some((*g, r)),
                    Err((fi, why)) if resample == Resample::Never => {
                        return Err(seg.off_grid_error(fi, &why, g, true))
                    }
                    Err(_) => None,
                },
                Err(_) => None,
            };
            let (grid, r) = match placed {
                Some(p) => p,
                None => {
                    let own = seg.own_grid(image.err().unwrap_or("the image"))?;
                    match seg.place_on(&own)? {
                        Ok(r) => (own, r),
                        Err((fi, why)) => return Err(seg.off_grid_error(fi, &why, &own, false)),
                    }
                }
            };
            (
                grid,
                r.labels,
                Some(table_of(&r.segments)),
                r.warnings,
                None,
            )
        }
        _ => {
            let vol = match (&nrrd_header, kind) {
                (Some(h), _) => nrrd::volume_from_header(h)?,
                (None, Kind::MetaImage) => crate::metaimage::read_metaimage(path)?,
                _ => crate::nifti::read_nifti(path)?,
            };
            let mut warnings = vol.meta.warnings.clone();
            // The sidecar voxmark writes; else a colour table the mask ships with (mricron's
            // `aal.nii.txt`, ITK-SNAP's, Slicer's).
            let table = match read_table(path)? {
                Some(t) => Some(t),
                None => match super::color_table::table_beside(path) {
                    Some(t) => match super::color_table::read_color_table(&t) {
                        Ok(table) => Some(table),
                        Err(e) => {
                            warnings.push(format!("label names not read: {e}"));
                            None
                        }
                    },
                    None => None,
                },
            };
            // A map on a foreign grid is refused as that before its values are read.
            if let Ok((g, resample)) = image {
                voxmark_volume::labels::check_grid(&vol.grid, path, g, resample)?;
            }
            let labels = voxmark_volume::labels::label_values(&vol, path)?;
            (
                vol.grid,
                labels,
                table,
                warnings,
                marker_in(&vol.meta.description),
            )
        }
    };
    // A SEG placed frame by frame on the image is "moved" when its frames are not the
    // image's slices in the image's own order; a file's own grid otherwise decides.
    let mut moved = false;
    let (grid, labels) = match image {
        Ok((g, resample)) => {
            let (labels, note) =
                voxmark_volume::labels::place_labels(labels, &own, path, g, resample)?;
            moved = moved || note.is_some();
            warnings.extend(note);
            (*g, labels)
        }
        Err(_) => (own, labels),
    };
    let map = LabelMap {
        labels,
        table,
        warnings,
        journal_marker: marker,
        moved,
    };
    Ok((grid, map))
}

/// Writes `labels` (u8, i fastest) as a NIfTI mask on `image`'s grid (sform/qform codes
/// kept) and, when the table is not empty, its sidecar; both atomically.
pub fn save_labels(
    path: &Path,
    image: &Volume,
    labels: Vec<u8>,
    table: &[LabelInfo],
) -> Result<()> {
    save_labels_marked(path, image, labels, table, None)
}

/// [`save_labels`] recording in the mask's description the marker of the last journaled op
/// it holds (`edit::journal::marker`): the mask says which ops it already contains.
pub fn save_labels_marked(
    path: &Path,
    image: &Volume,
    labels: Vec<u8>,
    table: &[LabelInfo],
    journal_marker: Option<&str>,
) -> Result<()> {
    save_annotation_marked(path, image, labels, table, None, journal_marker)
}

/// Writes the markups beside `mask` with the journal marker (see [`read_markups_for`]): the
/// current file kept as `.prev` first. Nothing when there are no markups and never were. The
/// first step of [`save_annotation_marked`].
pub fn save_markups(
    mask: &Path,
    markups: Option<&voxmark_volume::markup::MarkupSet>,
    label_name: &dyn Fn(u8) -> Option<String>,
    journal_marker: Option<&str>,
) -> Result<()> {
    let Some(set) = markups else {
        return Ok(());
    };
    let cur = markups_path(mask);
    // Nothing to keep when there never were markups (a set that had some keeps its next id).
    if set.markups.is_empty() && set.next_id == 0 && !cur.exists() {
        return Ok(());
    }
    if cur.exists() {
        let old = std::fs::read(&cur).map_err(|e| Error::io(&cur, e))?;
        voxmark_volume::fs::atomic::write_atomically(&markups_prev(mask), |w| w.write_all(&old))?;
    }
    crate::markups::write_slicer_marked(&cur, set, label_name, journal_marker)
}

/// [`save_labels_marked`] with the annotation's markups (`MASK.mrk.json`): markups, then
/// the table, then the mask — the mask, with its journal marker, is the commit point.
pub fn save_annotation_marked(
    path: &Path,
    image: &Volume,
    labels: Vec<u8>,
    table: &[LabelInfo],
    markups: Option<&voxmark_volume::markup::MarkupSet>,
    journal_marker: Option<&str>,
) -> Result<()> {
    let description = match journal_marker {
        Some(m) => format!("labels{MARKER_TAG}{m}"),
        None => "labels".into(),
    };
    let out = Volume::new(
        image.grid,
        VoxelData::U8(labels),
        Metadata {
            format: image.meta.format.clone(),
            description,
            sform_code: image.meta.sform_code,
            qform_code: image.meta.qform_code,
            ..Default::default()
        },
    )?;
    // The table first, the mask last: the mask (with its journal marker) is the commit
    // point. A crash between leaves a table ahead of the mask, which recovery's replay of
    // the journal (label-table ops set absolute values) brings back in step; the opposite
    // order could leave a new mask whose table ops recovery skips, with the old table.
    let name_of = |l: u8| label_name(table, l).map(str::to_string);
    save_markups(path, markups, &name_of, journal_marker)?;
    if !table.is_empty() {
        let side = sidecar_path(path);
        let json = serde_json::to_vec_pretty(&serde_json::json!({ "labels": table }))
            .map_err(|e| Error::Invalid(format!("label table: {e}")))?;
        voxmark_volume::fs::atomic::write_atomically(&side, |w| w.write_all(&json))?;
    }
    write_nifti(path, &out)
}

/// A segmentation file format other tools open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegFormat {
    /// DICOM Segmentation, BINARY (`io::dicom_seg`).
    DicomSeg,
    /// DICOM Label Map Segmentation (Supplement 243: one 8-bit frame per labelled slice).
    DicomSegLabelmap,
    /// 3D Slicer's `.seg.nrrd` (`io::seg_nrrd`).
    SegNrrd,
}

/// The segments a label map exports as: every named label of `table` (value > 0) and every
/// value present in `labels` ("label N" with the default palette when unnamed), by value.
pub fn segments_for(labels: &[u8], table: &[LabelInfo]) -> Vec<(LabelInfo, bool)> {
    let mut present = [false; 256];
    for &l in labels {
        present[usize::from(l)] = true;
    }
    let mut out: Vec<(LabelInfo, bool)> = table
        .iter()
        .filter(|t| t.value != 0)
        .map(|t| (t.clone(), present[usize::from(t.value)]))
        .collect();
    for v in 1..=255u8 {
        if present[usize::from(v)] && !out.iter().any(|(t, _)| t.value == v) {
            let c = voxmark_volume::label_table::default_palette()[usize::from(v)];
            out.push((
                LabelInfo {
                    value: v,
                    name: format!("label {v}"),
                    color: [c[0], c[1], c[2]],
                    visible: true,
                    locked: false,
                },
                true,
            ));
        }
    }
    out.sort_by_key(|(t, _)| t.value);
    out
}

/// Writes `labels` on `image`'s grid as a segmentation file (the CLI's `export-seg` and the
/// shell's File ▸ Export segmentation). A DICOM SEG references the source series when the
/// image was read from DICOM at `image_path` (else a new frame of reference, said in the
/// returned message); `semiautomatic` label values get algorithm type SEMIAUTOMATIC.
#[allow(clippy::too_many_arguments)]
pub fn export_segmentation(
    out: &Path,
    format: SegFormat,
    image: &Volume,
    image_path: Option<&Path>,
    labels: &[u8],
    table: &[LabelInfo],
    semiautomatic: &[u8],
    author: &str,
) -> Result<String> {
    let segments = segments_for(labels, table);
    match format {
        SegFormat::SegNrrd => {
            let segs: Vec<crate::seg_nrrd::SegmentInfo> = segments
                .iter()
                .map(|(t, _)| crate::seg_nrrd::SegmentInfo {
                    value: t.value,
                    name: t.name.clone(),
                    color: t.color,
                })
                .collect();
            crate::seg_nrrd::write_seg_nrrd(out, &image.grid, labels, &segs)?;
            Ok(format!("wrote {} ({} segments)", out.display(), segs.len()))
        }
        SegFormat::DicomSeg | SegFormat::DicomSegLabelmap => {
            use crate::dicom_seg::{source_refs, write_dicom_seg, SegWriteOptions, SegmentDesc};
            let (source, note) = match image_path {
                Some(p) if image.meta.format == "dicom" => (
                    Some(source_refs(p, image.meta.series_uid.as_deref())?),
                    String::new(),
                ),
                _ => (
                    None,
                    "; the image is not DICOM, so the SEG has its own study and frame of \
                     reference and references no source images"
                        .to_string(),
                ),
            };
            let segs: Vec<SegmentDesc> = segments
                .iter()
                .filter(|(_, present)| *present)
                .map(|(t, _)| SegmentDesc {
                    value: t.value,
                    label: t.name.clone(),
                    color: t.color,
                    semiautomatic: semiautomatic.contains(&t.value),
                })
                .collect();
            let w = write_dicom_seg(
                out,
                &image.grid,
                labels,
                &segs,
                source.as_ref(),
                &SegWriteOptions {
                    author,
                    now_rfc3339: &voxmark_volume::fs::clock::now_rfc3339(),
                    labelmap: format == SegFormat::DicomSegLabelmap,
                },
            )?;
            Ok(format!(
                "wrote {} (DICOM SEG {}: {} segments, {} frames){note}",
                out.display(),
                if format == SegFormat::DicomSeg {
                    "BINARY"
                } else {
                    "LABELMAP"
                },
                w.segments,
                w.frames
            ))
        }
    }
}
