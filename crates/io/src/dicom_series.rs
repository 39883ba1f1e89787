//! Assembling DICOM slices into one volume with exact geometry.
//!
//! Voxel index convention: `i` = column, `j` = row (as transmitted), `k` = slice, with slices
//! sorted by their position along the slice normal `n = row_cosines × column_cosines`
//! (ascending `n · ImagePositionPatient`) — never by file name or InstanceNumber.
//!
//! Geometry (PS3.3 C.7.6.2.1.1), in LPS then converted once to RAS:
//! `P(i,j,k) = IPP_0 + i·Δc·X + j·Δr·Y + k·S`, with X, Y the row/column cosines,
//! Δc = PixelSpacing[1] (between columns), Δr = PixelSpacing[0] (between rows) and
//! `S = (IPP_last − IPP_0)/(N−1)` measured from positions (never SliceThickness). A gantry
//! tilt makes S oblique to n: the affine is then sheared but exact, and a warning says so.

use super::dicom_scan::SliceHeader;
use super::progress::Progress;
use dicom_pixeldata::PixelDecoder;
use glam::{DMat4, DVec3, DVec4};
use rayon::prelude::*;
use std::path::Path;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::grid::RAS_FROM_LPS;
use voxmark_volume::rescale::{self, Stored};
use voxmark_volume::{DType, Grid, Metadata, Volume, VoxelData};

/// Transfer syntaxes whose pixel data is stored uncompressed (exact size checks apply).
const NATIVE_SYNTAXES: [&str; 3] = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
];

/// Human name of a transfer syntax UID for error messages (PS3.6 Annex A).
pub fn transfer_syntax_name(uid: &str) -> String {
    let name = match uid {
        "1.2.840.10008.1.2" => "Implicit VR Little Endian",
        "1.2.840.10008.1.2.1" => "Explicit VR Little Endian",
        "1.2.840.10008.1.2.2" => "Explicit VR Big Endian",
        "1.2.840.10008.1.2.1.99" => "Deflated Explicit VR Little Endian",
        "1.2.840.10008.1.2.5" => "RLE Lossless",
        "1.2.840.10008.1.2.4.50" => "JPEG Baseline (8-bit)",
        "1.2.840.10008.1.2.4.51" => "JPEG Extended (12-bit)",
        "1.2.840.10008.1.2.4.57" => "JPEG Lossless",
        "1.2.840.10008.1.2.4.70" => "JPEG Lossless SV1",
        "1.2.840.10008.1.2.4.80" => "JPEG-LS Lossless",
        "1.2.840.10008.1.2.4.81" => "JPEG-LS Near-Lossless",
        "1.2.840.10008.1.2.4.90" => "JPEG 2000 Lossless",
        "1.2.840.10008.1.2.4.91" => "JPEG 2000",
        "1.2.840.10008.1.2.4.201" => "HTJ2K Lossless",
        "1.2.840.10008.1.2.4.202" => "HTJ2K Lossless RPCL",
        "1.2.840.10008.1.2.4.203" => "HTJ2K",
        "1.2.840.10008.1.2.4.100" | "1.2.840.10008.1.2.4.101" => "MPEG-2",
        "1.2.840.10008.1.2.4.102" | "1.2.840.10008.1.2.4.103" => "MPEG-4",
        "1.2.840.10008.1.2.4.110" | "1.2.840.10008.1.2.4.111" | "1.2.840.10008.1.2.4.112" => {
            "JPEG XL"
        }
        _ => "unknown transfer syntax",
    };
    format!("{name} ({uid})")
}

/// Compressed pixel data decoding to more than this ratio is taken as a lying header.
const MAX_COMPRESSION_RATIO: u64 = 4096;

fn name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

fn series_err(root: &Path, uid: &str, problem: String) -> Error {
    Error::Series {
        path: root.to_path_buf(),
        series_uid: uid.to_string(),
        problem,
    }
}

/// Tolerance for "same orientation" between slices (direction cosines).
const IOP_TOLERANCE: f64 = 1e-4;

/// The slices sorted along the normal, the step vector S (LPS mm) and any warnings.
struct Stack {
    slices: Vec<SliceHeader>,
    step_lps: DVec3,
    warnings: Vec<String>,
}

fn cosines(h: &SliceHeader) -> (DVec3, DVec3) {
    let o = h.iop.unwrap_or([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    (DVec3::new(o[0], o[1], o[2]), DVec3::new(o[3], o[4], o[5]))
}

fn check_consistent(root: &Path, uid: &str, slices: &[SliceHeader]) -> Result<()> {
    let f = &slices[0];
    for s in &slices[1..] {
        let problem = if (s.rows, s.cols) != (f.rows, f.cols) {
            Some(format!(
                "{}x{} pixels vs {}x{}",
                s.cols, s.rows, f.cols, f.rows
            ))
        } else if (s.bits_allocated, s.signed, s.samples_per_pixel)
            != (f.bits_allocated, f.signed, f.samples_per_pixel)
        {
            Some("different BitsAllocated/PixelRepresentation/SamplesPerPixel".to_string())
        } else if match (s.iop, f.iop) {
            (Some(a), Some(b)) => a.iter().zip(b).any(|(x, y)| (x - y).abs() > IOP_TOLERANCE),
            (a, b) => a.is_some() != b.is_some(),
        } {
            Some(format!("orientation {:?} vs {:?}", s.iop, f.iop))
        } else if match (s.pixel_spacing, f.pixel_spacing) {
            (Some(a), Some(b)) => (a[0] - b[0]).abs() > 1e-4 || (a[1] - b[1]).abs() > 1e-4,
            (a, b) => a.is_some() != b.is_some(),
        } {
            Some(format!(
                "PixelSpacing {:?} vs {:?}",
                s.pixel_spacing, f.pixel_spacing
            ))
        } else {
            None
        };
        if let Some(p) = problem {
            return Err(series_err(
                root,
                uid,
                format!(
                    "mixed slices: {} and {} differ: {p}",
                    name(&s.path),
                    name(&f.path)
                ),
            ));
        }
    }
    if f.samples_per_pixel != 1 {
        return Err(Error::unsupported(
            &f.path,
            format!(
                "colour images ({} samples per pixel, {})",
                f.samples_per_pixel, f.photometric
            ),
        ));
    }
    if !matches!(f.bits_allocated, 8 | 16 | 32) {
        return Err(Error::unsupported(
            &f.path,
            format!("BitsAllocated {}", f.bits_allocated),
        ));
    }
    if f.bits_stored == 0
        || f.bits_stored > f.bits_allocated
        || f.high_bit >= f.bits_allocated
        || f.high_bit + 1 < f.bits_stored
    {
        return Err(Error::format(
            &f.path,
            format!(
                "invalid BitsStored {} / HighBit {} for BitsAllocated {}",
                f.bits_stored, f.high_bit, f.bits_allocated
            ),
        ));
    }
    Ok(())
}

fn sort_slices(root: &Path, uid: &str, mut slices: Vec<SliceHeader>) -> Result<Stack> {
    let mut warnings = Vec::new();
    let (row, col) = cosines(&slices[0]);
    let normal = row.cross(col);
    if slices.len() == 1 {
        let s = &slices[0];
        let thick = s
            .spacing_between_slices
            .filter(|&v| v > 0.0)
            .or(s.slice_thickness.filter(|&v| v > 0.0))
            .unwrap_or(1.0);
        if s.ipp.is_none() || s.iop.is_none() {
            warnings.push(format!(
                "{}: no ImagePositionPatient/ImageOrientationPatient; placed at the origin with identity orientation",
                s.path.display()
            ));
        }
        return Ok(Stack {
            step_lps: normal * thick,
            slices,
            warnings,
        });
    }
    if let Some(s) = slices.iter().find(|s| s.ipp.is_none() || s.iop.is_none()) {
        return Err(series_err(
            root,
            uid,
            format!(
                "{} has no ImagePositionPatient/ImageOrientationPatient; cannot order slices",
                name(&s.path)
            ),
        ));
    }
    let pos = |s: &SliceHeader| DVec3::from_array(s.ipp.unwrap_or([0.0; 3]));
    slices.sort_by(|a, b| normal.dot(pos(a)).total_cmp(&normal.dot(pos(b))));
    let d: Vec<f64> = slices.iter().map(|s| normal.dot(pos(s))).collect();
    let gaps: Vec<f64> = d.windows(2).map(|w| w[1] - w[0]).collect();
    let mut sorted_gaps = gaps.clone();
    sorted_gaps.sort_by(f64::total_cmp);
    let median = sorted_gaps[sorted_gaps.len() / 2];
    for (k, &g) in gaps.iter().enumerate() {
        if g.abs() < 1e-3 {
            return Err(series_err(
                root,
                uid,
                format!(
                    "{} and {} are at the same position ({:.3} mm along the normal): several acquisitions or echoes in one series",
                    name(&slices[k].path),
                    name(&slices[k + 1].path),
                    d[k]
                ),
            ));
        }
    }
    if median <= 1e-3 {
        return Err(series_err(
            root,
            uid,
            "slice positions do not advance along the normal".into(),
        ));
    }
    let tol = (0.01 * median).max(0.01);
    for (k, &g) in gaps.iter().enumerate() {
        if (g - median).abs() > tol {
            let ratio = g / median;
            let what = if (ratio - ratio.round()).abs() < 0.05 && ratio.round() >= 2.0 {
                format!("{} missing slice(s)", ratio.round() as i64 - 1)
            } else {
                "irregular slice spacing".to_string()
            };
            return Err(series_err(
                root,
                uid,
                format!(
                    "{what} between {} ({:.3} mm) and {} ({:.3} mm): gap {:.3} mm, expected {:.3} mm",
                    name(&slices[k].path),
                    d[k],
                    name(&slices[k + 1].path),
                    d[k + 1],
                    g,
                    median
                ),
            ));
        }
    }
    let n = slices.len();
    let first = pos(&slices[0]);
    let step = (pos(&slices[n - 1]) - first) / (n as f64 - 1.0);
    // Every slice must sit on the line first + k*step (collinear, evenly spaced).
    for (k, s) in slices.iter().enumerate() {
        let off = (pos(s) - (first + step * k as f64)).length();
        if off > tol.max(0.05) {
            return Err(series_err(
                root,
                uid,
                format!(
                    "{} is {:.3} mm off the line through the other slice positions",
                    name(&s.path),
                    off
                ),
            ));
        }
    }
    let cos = (step.normalize().dot(normal)).clamp(-1.0, 1.0);
    let tilt_deg = cos.acos().to_degrees();
    if tilt_deg > 0.01 {
        warnings.push(format!(
            "{}: series {uid}: slices are sheared by {tilt_deg:.2} degrees (gantry tilt); the affine (sform) is exact and sheared, the qform is its nearest rotation",
            root.display()
        ));
    }
    Ok(Stack {
        slices,
        step_lps: step,
        warnings,
    })
}

/// An error and all its causes, joined with ": " (the top message alone is often vague).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let m = inner.to_string();
        if !msg.contains(&m) {
            msg.push_str(": ");
            msg.push_str(&m);
        }
        src = inner.source();
    }
    msg
}

/// Integer element types a slice can be decoded into.
trait FromStored: Copy + Send + Sync {
    fn from_stored(x: i64) -> Self;
}
macro_rules! from_stored {
    ($($t:ty),*) => {$(impl FromStored for $t {
        fn from_stored(x: i64) -> Self { x as $t }
    })*};
}
from_stored!(u8, i8, u16, i16, i32, f32);

/// The image size a JPEG 2000 (SIZ marker) or JPEG (SOFn marker) codestream declares, as
/// (width, height, components), found within the first 64 KiB of `b`.
pub(crate) fn codestream_size(b: &[u8]) -> Option<(u64, u64, u64)> {
    let b = &b[..b.len().min(1 << 16)];
    let be16 = |i: usize| -> Option<u64> {
        Some(u64::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])))
    };
    let be32 = |i: usize| -> Option<u64> {
        Some(u64::from(u32::from_be_bytes([
            *b.get(i)?,
            *b.get(i + 1)?,
            *b.get(i + 2)?,
            *b.get(i + 3)?,
        ])))
    };
    // JPEG 2000: SOC FF4F then SIZ FF51 (a JP2 wrapper holds the same codestream further in).
    if let Some(m) = b
        .windows(4)
        .position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])
        .map(|i| i + 2)
    {
        let (x, y, xo, yo, c) = (
            be32(m + 6)?,
            be32(m + 10)?,
            be32(m + 14)?,
            be32(m + 18)?,
            be16(m + 38)?,
        );
        return Some((x.saturating_sub(xo), y.saturating_sub(yo), c));
    }
    // JPEG (baseline, extended, lossless, JPEG-LS's SOF55): SOI, then segments up to an SOFn.
    if b.starts_with(&[0xFF, 0xD8]) {
        let mut i = 2;
        while i + 4 <= b.len() {
            if b[i] != 0xFF {
                return None;
            }
            let m = b[i + 1];
            if m == 0xFF {
                i += 1;
                continue;
            }
            let len = be16(i + 2)? as usize;
            let sof = matches!(m, 0xC0..=0xCF if m != 0xC4 && m != 0xC8 && m != 0xCC) || m == 0xF7;
            if sof {
                return Some((be16(i + 7)?, be16(i + 5)?, u64::from(*b.get(i + 9)?)));
            }
            i += 2 + len;
        }
    }
    None
}

/// Compressed frames carry their own image size, which the decoders allocate before they
/// look further: a codestream declaring more samples than the header's frame (rows × columns
/// × samples per pixel, with room for padding) is refused before decoding. Fuzz finding: a
/// 3.5 KB JPEG 2000 file whose SIZ says 2,097,664 × 512 made openjp2 allocate 4.3 GB.
fn check_codestream_sizes(obj: &dicom_object::DefaultDicomObject, h: &SliceHeader) -> Result<()> {
    let Ok(e) = obj.element(dicom_dictionary_std::tags::PIXEL_DATA) else {
        return Ok(());
    };
    let Some(frags) = e.value().fragments() else {
        return Ok(());
    };
    let frame = u64::from(h.rows) * u64::from(h.cols) * u64::from(h.samples_per_pixel.max(1));
    for f in frags {
        let Some((w, hgt, c)) = codestream_size(f) else {
            continue;
        };
        if w.saturating_mul(hgt).saturating_mul(c) > 4 * frame + (1 << 20) {
            return Err(Error::format(
                &h.path,
                format!(
                    "a compressed frame declares {w} × {hgt} pixels × {c} components, but the \
                     header's frame is {} × {} × {}",
                    h.cols, h.rows, h.samples_per_pixel
                ),
            ));
        }
    }
    Ok(())
}

/// Decodes a file's pixel data (every frame) to raw little-endian samples.
fn decode_file(h: &SliceHeader) -> Result<Vec<u8>> {
    let obj = super::open_dicom(
        &h.path,
        false,
        "cannot read DICOM file (truncated or corrupt?)",
    )?;
    check_codestream_sizes(&obj, h)?;
    // The decoders are third-party code: a panic on hostile data (dicom-rs 0.10's RLE decoder
    // indexes past a segment that decodes short — a fuzz finding) becomes this file's error.
    let decoded = super::guarded_call(|| obj.decode_pixel_data())
        .map_err(|p| {
            let why = super::panic_text(&p);
            Error::format(
                &h.path,
                format!(
                    "cannot decode pixel data in {}: the decoder failed ({why})",
                    transfer_syntax_name(&h.transfer_syntax)
                ),
            )
        })?
        .map_err(|e| {
            let msg = error_chain(&e);
            let ts = transfer_syntax_name(&h.transfer_syntax);
            let lower = msg.to_lowercase();
            if lower.contains("unsupported")
                || lower.contains("not supported")
                || lower.contains("unknown")
            {
                Error::unsupported(&h.path, format!("pixel data in {ts}: {msg}"))
            } else {
                Error::format(&h.path, format!("cannot decode pixel data in {ts}: {msg}"))
            }
        })?;
    Ok(decoded.data().to_vec())
}

/// Decodes one slice into `dst` (a single-frame file, or frame `h.frame` of a multi-frame
/// file whose decoded pixels `file` holds already).
fn decode_slice_into<T: FromStored>(
    h: &SliceHeader,
    file: Option<&[u8]>,
    dst: &mut [T],
) -> Result<()> {
    let owned;
    let all = match file {
        Some(f) => f,
        None => {
            owned = decode_file(h)?;
            &owned
        }
    };
    let bytes = (h.bits_allocated / 8) as usize;
    let want = dst.len() * bytes;
    let start = h.frame.unwrap_or(0) as usize * want;
    let raw = all.get(start..).unwrap_or_default();
    if raw.len() < want {
        return Err(Error::Truncated {
            path: h.path.clone(),
            expected: (start + want) as u64,
            got: all.len() as u64,
        });
    }
    convert_into(h, raw, dst);
    Ok(())
}

/// Stored values masked to BitsStored at HighBit and sign-extended when PixelRepresentation
/// is 1 (PS3.5 8.1.1, PS3.3 C.7.6.3.1).
fn convert_into<T: FromStored>(h: &SliceHeader, raw: &[u8], dst: &mut [T]) {
    let bytes = (h.bits_allocated / 8) as usize;
    let shift = u32::from(h.high_bit + 1 - h.bits_stored);
    let bits = u32::from(h.bits_stored);
    let mask: u64 = (1u64 << bits) - 1;
    let signed = h.signed;
    let fix = move |v: u64| -> T {
        let u = (v >> shift) & mask;
        let x = if signed && (u >> (bits - 1)) & 1 == 1 {
            (u | !mask) as i64
        } else {
            u as i64
        };
        T::from_stored(x)
    };
    match bytes {
        1 => dst
            .iter_mut()
            .zip(raw)
            .for_each(|(d, &b)| *d = fix(u64::from(b))),
        2 => dst
            .iter_mut()
            .zip(raw.chunks_exact(2))
            .for_each(|(d, c)| *d = fix(u64::from(u16::from_le_bytes([c[0], c[1]])))),
        _ => dst
            .iter_mut()
            .zip(raw.chunks_exact(4))
            .for_each(|(d, c)| *d = fix(u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))),
    }
}

/// Decodes every slice in parallel into a buffer of `dtype`, slice k at offset k·nx·ny.
fn decode_all(slices: &[SliceHeader], dtype: DType, per_slice: usize) -> Result<VoxelData> {
    let mut out = VoxelData::zeros(dtype, per_slice * slices.len());
    let progress = Progress::new(slices.len() as u64, "decoding DICOM slices");
    // Enhanced multi-frame files are decoded once, their frames then copied out.
    let mut multi: Vec<&SliceHeader> = slices.iter().filter(|s| s.frame.is_some()).collect();
    multi.sort_by(|a, b| a.path.cmp(&b.path));
    multi.dedup_by(|a, b| a.path == b.path);
    let files: std::collections::HashMap<&Path, Vec<u8>> = multi
        .par_iter()
        .map(|h| decode_file(h).map(|d| (h.path.as_path(), d)))
        .collect::<Result<_>>()?;
    let result = voxmark_volume::with_voxels!(&mut out, v => v
    .par_chunks_mut(per_slice)
    .zip(slices.par_iter())
    .try_for_each(|(dst, s)| {
        decode_slice_into(s, files.get(s.path.as_path()).map(Vec::as_slice), dst)?;
        progress.inc();
        Ok(())
    }));
    progress.finish();
    result.map(|()| out)
}

/// The slice headers of series `uid` of `root` (a file or a folder; None: its only series)
/// in the order [`assemble`] gives them as k — what a derived object (a DICOM-SEG) references
/// frame by frame.
pub fn sorted_series(root: &Path, uid: Option<&str>) -> Result<Vec<SliceHeader>> {
    let headers = if root.is_dir() {
        super::dicom_scan::scan_folder(root)?.0
    } else {
        super::dicom_scan::read_headers(root)?
    };
    let mut groups = super::dicom_scan::group_series(headers);
    let pos = match uid {
        Some(u) => groups.iter().position(|(g, _)| g == u),
        None if groups.len() == 1 => Some(0),
        None => None,
    };
    let Some(pos) = pos else {
        return Err(Error::format(
            root,
            "choose the series (--series UID): the folder holds several, or not this one",
        ));
    };
    let (u, slices) = groups.swap_remove(pos);
    check_consistent(root, &u, &slices)?;
    Ok(sort_slices(root, &u, slices)?.slices)
}

/// Builds the volume of one series. `root` is the folder (or file) the user named.
pub fn assemble(root: &Path, uid: &str, slices: Vec<SliceHeader>) -> Result<Volume> {
    check_consistent(root, uid, &slices)?;
    if let Some(s) = slices.iter().find(|s| s.number_of_frames > 1) {
        return Err(Error::unsupported(
            &s.path,
            format!(
                "multi-frame DICOM ({} frames in one file)",
                s.number_of_frames
            ),
        ));
    }
    let Stack {
        slices,
        step_lps,
        mut warnings,
    } = sort_slices(root, uid, slices)?;
    let f = slices[0].clone();
    let (nx, ny, nz) = (f.cols as usize, f.rows as usize, slices.len());
    let per_slice = nx * ny;
    let bytes = (f.bits_allocated / 8) as u64;
    // Allocation-bomb guard before anything is allocated.
    for s in &slices {
        // A frame of a multi-frame file: the file holds every frame up to it.
        let need = per_slice as u64 * bytes * (u64::from(s.frame.unwrap_or(0)) + 1);
        let native = NATIVE_SYNTAXES.contains(&s.transfer_syntax.as_str());
        if native && need > s.file_size {
            return Err(Error::Truncated {
                path: s.path.clone(),
                expected: need,
                got: s.file_size,
            });
        }
        if !native && need > s.file_size.saturating_mul(MAX_COMPRESSION_RATIO) {
            return Err(Error::format(
                &s.path,
                format!(
                    "header promises {need} bytes of pixels, impossible for a {}-byte file",
                    s.file_size
                ),
            ));
        }
    }

    super::memory::check_fits(root, (per_slice * nz) as u64, bytes.max(1))?;

    // Stored type as declared by BitsAllocated + PixelRepresentation; 32-bit unsigned
    // (rare) is decoded to f32 exactly up to 2^24 and documented as such.
    let stored_type = match (f.bits_allocated, f.signed) {
        (8, false) => DType::U8,
        (8, true) => DType::I8,
        (16, false) => DType::U16,
        (16, true) => DType::I16,
        (32, true) => DType::I32,
        _ => DType::F32,
    };
    let stored = decode_all(&slices, stored_type, per_slice)?;
    let same_rescale = slices
        .iter()
        .all(|s| s.slope == f.slope && s.intercept == f.intercept);
    let data = if same_rescale {
        rescale::apply(Stored::Native(stored), f.slope, f.intercept)
    } else {
        warnings.push(format!(
            "{}: series {uid}: Rescale Slope/Intercept differ between slices; values stored as float32",
            root.display()
        ));
        let mut out = vec![0f32; per_slice * nz];
        out.par_chunks_mut(per_slice)
            .zip(slices.par_iter())
            .enumerate()
            .for_each(|(k, (dst, s))| {
                for (x, d) in dst.iter_mut().enumerate() {
                    *d = (stored.get_f64(k * per_slice + x) * s.slope + s.intercept) as f32;
                }
            });
        VoxelData::F32(out)
    };

    let (row, col) = cosines(&f);
    let ps = f.pixel_spacing.unwrap_or_else(|| {
        warnings.push(format!(
            "{}: no PixelSpacing; 1 mm assumed",
            f.path.display()
        ));
        [1.0, 1.0]
    });
    let ipp = DVec3::from_array(f.ipp.unwrap_or([0.0; 3]));
    let lps = DMat4::from_cols(
        (row * ps[1]).extend(0.0),
        (col * ps[0]).extend(0.0),
        step_lps.extend(0.0),
        DVec4::new(ipp.x, ipp.y, ipp.z, 1.0),
    );
    let meta = Metadata {
        format: "dicom".into(),
        modality: f.modality.clone(),
        description: f.series_description.clone(),
        series_uid: Some(uid.to_string()),
        stored_dtype: format!("{}int{}", if f.signed { "" } else { "u" }, f.bits_allocated),
        rescale: (!rescale::is_identity(f.slope, f.intercept)).then_some((f.slope, f.intercept)),
        window: f.window,
        sform_code: 1,
        qform_code: 1,
        warnings,
    };
    Volume::new(Grid::new([nx, ny, nz], RAS_FROM_LPS * lps), data, meta)
}
