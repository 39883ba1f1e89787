//! Every file voxmark reads or writes: volumes (NIfTI, DICOM series and enhanced files, NRRD,
//! MetaImage), segmentations (DICOM SEG, Slicer `.seg.nrrd`, label maps with their
//! `.labels.json` in [`label_file`], colour tables in [`color_table`]), markups
//! ([`markups`]); the native DICOM decoders live here and nowhere below.
//!
//! Reading volumes: [`load_volume`] sniffs the format from the content:
//! a folder is a DICOM series collection, a gzip or 348-byte-header file is NIfTI-1, a file
//! with `DICM` at byte 128 is a single DICOM image, `NRRD000N` starts a NRRD file (`.nrrd`,
//! `.nhdr`), `Key = Value` lines of MetaIO keys a MetaImage (`.mha`, `.mhd`).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod color_table;
pub mod dicom_guard;
pub mod dicom_scan;
pub mod dicom_seg;
pub mod dicom_series;
pub mod dicom_write;
pub mod label_file;
pub mod markups;
pub mod memory;
pub mod metaimage;
pub mod nifti;
pub mod nifti_affine;
pub mod nrrd;
pub mod progress;
pub mod raw;
pub mod seg_nrrd;

use dicom_scan::SeriesSummary;
use std::io::Read;
use std::path::Path;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::Volume;

thread_local! {
    static IN_GUARDED_CALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs third-party decoding code, turning a panic into `Err(payload)` for the caller to
/// report as the file's error. While it runs, [`panic_is_guarded`] is true on this thread,
/// so the binary's panic hook stays quiet about a panic that becomes an error.
pub fn guarded_call<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    let outer = IN_GUARDED_CALL.with(|g| g.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_GUARDED_CALL.with(|g| g.set(outer));
    r
}

/// Opens a DICOM file with dicom-rs (`until_pixels`: stop before the pixel data) under
/// [`guarded_call`], after `dicom_guard`'s length walk: a parse error or a panic in the
/// parser is the file's one-line error, `what` saying what was being read.
pub fn open_dicom(
    path: &std::path::Path,
    until_pixels: bool,
    what: &str,
) -> Result<dicom_object::DefaultDicomObject> {
    let mut o = dicom_object::OpenFileOptions::new();
    if until_pixels {
        o = o.read_until(dicom_dictionary_std::tags::PIXEL_DATA);
    }
    match guarded_call(|| o.open_file(path)) {
        Ok(Ok(obj)) => Ok(obj),
        Ok(Err(e)) => Err(Error::format(
            path,
            format!("{what}: {}", dicom_series::error_chain(&e)),
        )),
        Err(p) => Err(Error::format(
            path,
            format!("{what}: the DICOM parser failed ({})", panic_text(&p)),
        )),
    }
}

/// The message of a panic payload caught by [`guarded_call`].
pub fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// True inside [`guarded_call`] on this thread (for a panic hook).
pub fn panic_is_guarded() -> bool {
    IN_GUARDED_CALL.with(|g| g.get())
}

/// What the caller wants from a multi-series source.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// SeriesInstanceUID to load from a folder holding several series.
    pub series: Option<String>,
}

/// A loaded volume plus what was found beside it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub volume: Volume,
    /// Every series of the folder (one entry for a single file).
    pub series: Vec<SeriesSummary>,
    /// Files in the folder that were not DICOM images.
    pub skipped_files: usize,
}

/// Result of opening a path: a volume, or a list of series to choose from.
#[derive(Debug, Clone)]
pub enum Opened {
    Volume(Box<Loaded>),
    /// The folder holds several series and no `--series` was given.
    Ambiguous(Vec<SeriesSummary>),
}

/// Detected file kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    DicomFolder,
    Nifti,
    Dicom,
    Nrrd,
    MetaImage,
}

/// Decides how to read `path` from its content (the name is only a fallback).
pub fn sniff(path: &Path) -> Result<Kind> {
    let md = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if md.is_dir() {
        return Ok(Kind::DicomFolder);
    }
    if md.len() == 0 {
        return Err(Error::format(path, "empty file"));
    }
    let mut head = [0u8; 132];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    let head = &head[..n];
    let sizeof = |b: &[u8]| {
        b.len() >= 4
            && matches!(
                i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                348 | 540 | 0x5c01_0000 | 0x1c02_0000
            )
    };
    if head.starts_with(b"NRRD000") {
        return Ok(Kind::Nrrd);
    }
    if metaimage::looks_like(head) {
        return Ok(Kind::MetaImage);
    }
    if head.starts_with(&[0x1f, 0x8b]) || sizeof(head) {
        return Ok(Kind::Nifti);
    }
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        return Ok(Kind::Dicom);
    }
    let name = path.to_string_lossy().to_lowercase();
    if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        // Let the NIfTI reader produce its precise complaint.
        return Ok(Kind::Nifti);
    }
    Err(Error::format(
        path,
        "not a format voxmark reads (no NIfTI header, no DICM preamble, no NRRD magic, no \
         MetaImage header)",
    ))
}

/// Opens any supported path.
pub fn open(path: &Path, opts: &LoadOptions) -> Result<Opened> {
    match sniff(path)? {
        kind @ (Kind::Nifti | Kind::Nrrd | Kind::MetaImage) => {
            if let Some(uid) = &opts.series {
                return Err(Error::SeriesNotFound {
                    path: path.to_path_buf(),
                    uid: uid.clone(),
                    choices: vec![
                        "  (a NIfTI, NRRD or MetaImage file has no DICOM series; drop --series)"
                            .into(),
                    ],
                });
            }
            let v = match kind {
                Kind::Nrrd => nrrd::read_nrrd(path)?,
                Kind::MetaImage => metaimage::read_metaimage(path)?,
                _ => nifti::read_nifti(path)?,
            };
            Ok(Opened::Volume(Box::new(Loaded {
                volume: v,
                series: Vec::new(),
                skipped_files: 0,
            })))
        }
        // A file (one image, or an enhanced multi-frame file whose stacks and temporal
        // positions are series-like choices) or a folder of them.
        Kind::Dicom | Kind::DicomFolder => {
            let (headers, skipped) = if path.is_dir() {
                dicom_scan::scan_folder(path)?
            } else {
                (dicom_scan::read_headers(path)?, 0)
            };
            let groups = dicom_scan::group_series(headers);
            let summaries: Vec<SeriesSummary> = groups
                .iter()
                .map(|(uid, s)| dicom_scan::summarize(uid, s))
                .collect();
            let chosen = match &opts.series {
                Some(uid) => groups.into_iter().find(|(u, _)| u == uid).ok_or_else(|| {
                    Error::SeriesNotFound {
                        path: path.to_path_buf(),
                        uid: uid.clone(),
                        choices: summaries.iter().map(SeriesSummary::line).collect(),
                    }
                })?,
                None if groups.len() == 1 => groups
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::format(path, "no DICOM series found"))?,
                None => return Ok(Opened::Ambiguous(summaries)),
            };
            let v = dicom_series::assemble(path, &chosen.0, chosen.1)?;
            Ok(Opened::Volume(Box::new(Loaded {
                volume: v,
                series: summaries,
                skipped_files: skipped,
            })))
        }
    }
}

/// Loads one volume; a folder with several series and no `series` choice is an error that
/// lists them.
pub fn load_volume(path: &Path, opts: &LoadOptions) -> Result<Loaded> {
    match open(path, opts)? {
        Opened::Volume(l) => Ok(*l),
        Opened::Ambiguous(list) => Err(Error::SeriesChoice {
            path: path.to_path_buf(),
            choices: list.iter().map(SeriesSummary::line).collect(),
        }),
    }
}
