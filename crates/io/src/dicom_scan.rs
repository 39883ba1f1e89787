//! Finding DICOM files and reading the header fields voxmark needs, without pixel data.
//!
//! A folder is walked recursively; files that are not DICOM (README, DICOMDIR-less junk) are
//! skipped and counted. Headers are read in parallel (rayon) up to the Pixel Data element.

use super::progress::Progress;
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::WindowPreset;

/// Header fields of one DICOM image file (PS3.3 C.7.6.2 image plane, C.7.6.3 image pixel,
/// C.11.1 modality LUT, C.11.2 VOI LUT).
#[derive(Debug, Clone)]
pub struct SliceHeader {
    pub path: PathBuf,
    pub file_size: u64,
    pub transfer_syntax: String,
    pub series_uid: String,
    pub series_description: String,
    pub modality: String,
    pub instance_number: Option<i32>,
    pub rows: u32,
    pub cols: u32,
    pub samples_per_pixel: u16,
    pub photometric: String,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub high_bit: u16,
    pub signed: bool,
    pub number_of_frames: u32,
    /// ImageOrientationPatient: row cosines (x of i), column cosines (x of j), LPS.
    pub iop: Option<[f64; 6]>,
    /// ImagePositionPatient (LPS mm) of the centre of the first transmitted pixel.
    pub ipp: Option<[f64; 3]>,
    /// PixelSpacing: [between rows (along j), between columns (along i)] mm.
    pub pixel_spacing: Option<[f64; 2]>,
    pub spacing_between_slices: Option<f64>,
    pub slice_thickness: Option<f64>,
    pub slope: f64,
    pub intercept: f64,
    pub window: Option<WindowPreset>,
    /// The 0-based frame of an enhanced multi-frame file this header describes (its
    /// per-frame functional groups); None for a single-frame image.
    pub frame: Option<u32>,
}

fn str_of(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().trim_end_matches('\0').to_string())
        .filter(|s| !s.is_empty())
}

fn floats(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<Vec<f64>> {
    obj.get(tag)
        .and_then(|e| e.to_multi_float64().ok())
        .filter(|v| !v.is_empty() && v.iter().all(|x| x.is_finite()))
}

fn int_of<T>(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<T>
where
    T: Clone + num_traits::NumCast + std::str::FromStr<Err = std::num::ParseIntError>,
{
    obj.get(tag).and_then(|e| e.to_int::<T>().ok())
}

/// Segmentation Storage (a label map, not an image: `io::dicom_seg`).
pub const SEG_SOP_CLASS: &str = "1.2.840.10008.5.1.4.1.1.66.4";
/// Label Map Segmentation Storage (Supplement 243).
pub const LABELMAP_SEG_SOP_CLASS: &str = "1.2.840.10008.5.1.4.1.1.66.7";

/// Opens `path` as DICOM, reading elements up to (not including) Pixel Data: one header per
/// image — one for a single-frame file, one per frame for an enhanced multi-frame file
/// ([`expand_frames`]).
pub fn read_headers(path: &Path) -> Result<Vec<SliceHeader>> {
    let file_size = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if file_size == 0 {
        return Err(Error::format(path, "empty file"));
    }
    // No value may claim more bytes than the file has (the parser would allocate them).
    super::dicom_guard::check_lengths(path)?;
    let obj = super::open_dicom(
        path,
        true,
        "not a readable DICOM file (truncated or corrupt?)",
    )?;
    let class = obj
        .get(tags::SOP_CLASS_UID)
        .and_then(|e| e.to_str().ok())
        .map(|v| v.trim().trim_end_matches('\0').to_string())
        .unwrap_or_default();
    if class == SEG_SOP_CLASS || class == LABELMAP_SEG_SOP_CLASS {
        return Err(Error::format(
            path,
            "this is a DICOM segmentation (SEG), a label map rather than an image: give it as \
             --labels with its image, or write it as a label map with `voxmark convert SEG \
             OUT.nii.gz [--image IMAGE]`",
        ));
    }
    let h = header_from_object(path, file_size, &obj)?;
    if h.number_of_frames > 1
        && obj
            .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
            .is_some()
    {
        expand_frames(h, &obj)
    } else {
        Ok(vec![h])
    }
}

/// A numeric value of a functional group of a multi-frame object (PS3.3 C.7.6.16): from the
/// frame's own group `seq` (an item of the Per-Frame Functional Groups Sequence), else from
/// the Shared Functional Groups item. Non-finite or empty values count as absent.
pub(crate) fn group_floats(
    frame: &InMemDicomObject,
    shared: Option<&InMemDicomObject>,
    seq: dicom_core::Tag,
    t: dicom_core::Tag,
) -> Option<Vec<f64>> {
    let get = |o: &InMemDicomObject| {
        o.get(seq)
            .and_then(|e| e.items())
            .and_then(|v| v.first())
            .and_then(|i| i.get(t))
            .and_then(|e| e.to_multi_float64().ok())
            .filter(|v| !v.is_empty() && v.iter().all(|x| x.is_finite()))
    };
    get(frame).or_else(|| shared.and_then(get))
}

/// The frames of an enhanced multi-frame image (Enhanced CT/MR/PET, Legacy Converted
/// Enhanced): each frame's Plane Position, Plane Orientation, Pixel Measures and Pixel Value
/// Transformation from its per-frame functional groups, else the shared ones. Frames of
/// several stacks (Stack ID) or temporal positions (Temporal Position Index) become
/// series-like groups: their series UID gets `:STACK:T` appended (`-` where absent) and the
/// description says which, so a file with several of them asks which to open as a folder
/// with several series does.
pub fn expand_frames(base: SliceHeader, obj: &DefaultDicomObject) -> Result<Vec<SliceHeader>> {
    let path = base.path.clone();
    let items = |o: &InMemDicomObject, t: dicom_core::Tag| -> Vec<InMemDicomObject> {
        o.get(t)
            .and_then(|e| e.items())
            .map(|v| v.to_vec())
            .unwrap_or_default()
    };
    let per_frame: Vec<InMemDicomObject> = obj
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items())
        .map(|v| v.to_vec())
        .unwrap_or_default();
    let shared: Option<InMemDicomObject> = obj
        .get(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items())
        .and_then(|v| v.first().cloned());
    let n = base.number_of_frames as usize;
    if per_frame.len() != n {
        return Err(Error::format(
            &path,
            format!(
                "{} per-frame functional groups for {n} frames",
                per_frame.len()
            ),
        ));
    }
    let from = |f: &InMemDicomObject, seq: dicom_core::Tag, t: dicom_core::Tag| {
        group_floats(f, shared.as_ref(), seq, t)
    };
    let text = |f: &InMemDicomObject, seq: dicom_core::Tag, t: dicom_core::Tag| -> Option<String> {
        items(f, seq)
            .first()
            .and_then(|i| i.get(t))
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim().trim_end_matches('\0').to_string())
            .filter(|s| !s.is_empty())
    };
    let mut frames = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    for (i, f) in per_frame.iter().enumerate() {
        let mut h = base.clone();
        h.frame = Some(i as u32);
        h.number_of_frames = 1;
        h.ipp = from(
            f,
            tags::PLANE_POSITION_SEQUENCE,
            tags::IMAGE_POSITION_PATIENT,
        )
        .and_then(|v| v.get(..3).and_then(|s| s.try_into().ok()))
        .or(h.ipp);
        h.iop = from(
            f,
            tags::PLANE_ORIENTATION_SEQUENCE,
            tags::IMAGE_ORIENTATION_PATIENT,
        )
        .and_then(|v| v.try_into().ok())
        .or(h.iop);
        h.pixel_spacing = from(f, tags::PIXEL_MEASURES_SEQUENCE, tags::PIXEL_SPACING)
            .and_then(|v| v.get(..2).and_then(|s| s.try_into().ok()))
            .or(h.pixel_spacing);
        if let Some(t) = from(f, tags::PIXEL_MEASURES_SEQUENCE, tags::SLICE_THICKNESS) {
            h.slice_thickness = Some(t[0]);
        }
        if let Some(t) = from(
            f,
            tags::PIXEL_MEASURES_SEQUENCE,
            tags::SPACING_BETWEEN_SLICES,
        ) {
            h.spacing_between_slices = Some(t[0]);
        }
        if let Some(v) = from(
            f,
            tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
            tags::RESCALE_SLOPE,
        ) {
            h.slope = if v[0] != 0.0 { v[0] } else { 1.0 };
        }
        if let Some(v) = from(
            f,
            tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
            tags::RESCALE_INTERCEPT,
        ) {
            h.intercept = v[0];
        }
        let stack = text(f, tags::FRAME_CONTENT_SEQUENCE, tags::STACK_ID);
        let t = text(
            f,
            tags::FRAME_CONTENT_SEQUENCE,
            tags::TEMPORAL_POSITION_INDEX,
        );
        h.instance_number = text(
            f,
            tags::FRAME_CONTENT_SEQUENCE,
            tags::IN_STACK_POSITION_NUMBER,
        )
        .and_then(|v| v.parse().ok())
        .or(Some(i as i32 + 1));
        keys.push((stack, t));
        frames.push(h);
    }
    let mut distinct = keys.clone();
    distinct.sort();
    distinct.dedup();
    if distinct.len() > 1 {
        for (h, (stack, t)) in frames.iter_mut().zip(&keys) {
            let (s, t) = (
                stack.clone().unwrap_or_else(|| "-".into()),
                t.clone().unwrap_or_else(|| "-".into()),
            );
            h.series_uid = format!("{}:{s}:{t}", h.series_uid);
            h.series_description = format!(
                "{} (stack {s}, temporal position {t})",
                h.series_description
            );
        }
    }
    Ok(frames)
}

pub(crate) fn header_from_object(
    path: &Path,
    file_size: u64,
    obj: &DefaultDicomObject,
) -> Result<SliceHeader> {
    let need_u16 = |tag, name: &str| -> Result<u16> {
        int_of::<u16>(obj, tag)
            .ok_or_else(|| Error::format(path, format!("missing or invalid {name}")))
    };
    let rows = need_u16(tags::ROWS, "Rows (0028,0010): not an image")?;
    let cols = need_u16(tags::COLUMNS, "Columns (0028,0011)")?;
    if rows == 0 || cols == 0 {
        // Fuzz finding: a zero-sized frame reached the decoder's per-slice chunking.
        return Err(Error::format(
            path,
            format!("Rows × Columns (0028,0010/0011) is {rows} × {cols}: an image without pixels"),
        ));
    }
    let bits_allocated = need_u16(tags::BITS_ALLOCATED, "BitsAllocated (0028,0100)")?;
    let bits_stored = int_of::<u16>(obj, tags::BITS_STORED).unwrap_or(bits_allocated);
    let high_bit = int_of::<u16>(obj, tags::HIGH_BIT).unwrap_or(bits_stored.saturating_sub(1));
    let six = |v: Vec<f64>| -> Option<[f64; 6]> { v.try_into().ok() };
    let three = |v: Vec<f64>| -> Option<[f64; 3]> { v.get(..3).and_then(|s| s.try_into().ok()) };
    let two = |v: Vec<f64>| -> Option<[f64; 2]> { v.get(..2).and_then(|s| s.try_into().ok()) };
    let window = match (
        floats(obj, tags::WINDOW_CENTER),
        floats(obj, tags::WINDOW_WIDTH),
    ) {
        (Some(c), Some(w)) if w[0] > 0.0 => Some(WindowPreset {
            center: c[0],
            width: w[0],
        }),
        _ => None,
    };
    Ok(SliceHeader {
        path: path.to_path_buf(),
        file_size,
        transfer_syntax: obj
            .meta()
            .transfer_syntax()
            .trim_end_matches('\0')
            .to_string(),
        series_uid: str_of(obj, tags::SERIES_INSTANCE_UID)
            .unwrap_or_else(|| "(no SeriesInstanceUID)".into()),
        series_description: str_of(obj, tags::SERIES_DESCRIPTION).unwrap_or_default(),
        modality: str_of(obj, tags::MODALITY).unwrap_or_else(|| "OT".into()),
        instance_number: int_of::<i32>(obj, tags::INSTANCE_NUMBER),
        rows: u32::from(rows),
        cols: u32::from(cols),
        samples_per_pixel: int_of::<u16>(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1),
        photometric: str_of(obj, tags::PHOTOMETRIC_INTERPRETATION)
            .unwrap_or_else(|| "MONOCHROME2".into()),
        bits_allocated,
        bits_stored,
        high_bit,
        signed: int_of::<u16>(obj, tags::PIXEL_REPRESENTATION) == Some(1),
        number_of_frames: int_of::<u32>(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1),
        iop: floats(obj, tags::IMAGE_ORIENTATION_PATIENT).and_then(six),
        ipp: floats(obj, tags::IMAGE_POSITION_PATIENT).and_then(three),
        pixel_spacing: floats(obj, tags::PIXEL_SPACING).and_then(two),
        spacing_between_slices: floats(obj, tags::SPACING_BETWEEN_SLICES).map(|v| v[0]),
        slice_thickness: floats(obj, tags::SLICE_THICKNESS).map(|v| v[0]),
        slope: floats(obj, tags::RESCALE_SLOPE)
            .map(|v| v[0])
            .filter(|&s| s != 0.0)
            .unwrap_or(1.0),
        intercept: floats(obj, tags::RESCALE_INTERCEPT)
            .map(|v| v[0])
            .unwrap_or(0.0),
        window,
        frame: None,
    })
}

/// All regular files under `dir`, recursively, sorted by path (for reproducible messages).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let p = entry.path();
        let ft = entry.file_type().map_err(|e| Error::io(&p, e))?;
        if ft.is_dir() {
            walk(&p, out)?;
        } else if ft.is_file() || (ft.is_symlink() && p.is_file()) {
            out.push(p);
        }
    }
    Ok(())
}

/// Headers of every DICOM image file under `dir` plus the count of skipped files.
pub fn scan_folder(dir: &Path) -> Result<(Vec<SliceHeader>, usize)> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    let progress = Progress::new(files.len() as u64, "reading DICOM headers");
    let results: Vec<Option<Vec<SliceHeader>>> = files
        .par_iter()
        .map(|p| {
            let h = read_headers(p).ok();
            progress.inc();
            h
        })
        .collect();
    progress.finish();
    let skipped = results.iter().filter(|r| r.is_none()).count();
    let headers: Vec<SliceHeader> = results.into_iter().flatten().flatten().collect();
    if headers.is_empty() {
        return Err(Error::format(
            dir,
            format!(
                "no DICOM image files found ({} files looked at)",
                files.len()
            ),
        ));
    }
    Ok((headers, skipped))
}

/// One series of a folder, as `info` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeriesSummary {
    pub uid: String,
    pub description: String,
    pub modality: String,
    /// [columns, rows, slices].
    pub dims: [usize; 3],
    pub slice_count: usize,
}

impl SeriesSummary {
    /// One line for error messages and listings.
    pub fn line(&self) -> String {
        format!(
            "  {}  {}  \"{}\"  {}x{}x{}",
            self.uid, self.modality, self.description, self.dims[0], self.dims[1], self.dims[2]
        )
    }
}

/// Groups headers by SeriesInstanceUID (sorted by UID for stable output).
pub fn group_series(headers: Vec<SliceHeader>) -> Vec<(String, Vec<SliceHeader>)> {
    let mut map: std::collections::BTreeMap<String, Vec<SliceHeader>> = Default::default();
    for h in headers {
        map.entry(h.series_uid.clone()).or_default().push(h);
    }
    map.into_iter().collect()
}

/// Summary of a group of slices.
pub fn summarize(uid: &str, slices: &[SliceHeader]) -> SeriesSummary {
    let first = &slices[0];
    let nz: usize = slices
        .iter()
        .map(|s| s.number_of_frames.max(1) as usize)
        .sum();
    SeriesSummary {
        uid: uid.to_string(),
        description: first.series_description.clone(),
        modality: first.modality.clone(),
        dims: [first.cols as usize, first.rows as usize, nz],
        slice_count: slices.len(),
    }
}
