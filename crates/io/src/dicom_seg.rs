//! DICOM Segmentation objects (PS3.3 A.51, SOP class 1.2.840.10008.5.1.4.1.1.66.4): what
//! PACS, OHIF and Slicer read. [`write_dicom_seg`] writes a voxmark label map as one
//! multi-frame BINARY SEG: one bit-packed frame per segment per slice that holds it, frames
//! ordered by segment then slice; per frame its Plane Position (the source slice's own
//! ImagePositionPatient when the image is a DICOM series), its Segment Identification and
//! Frame Content (dimension index: segment number, slice position), and its Derivation Image
//! (the source slice's SOP Class/Instance UID — and its Referenced Frame Number when the
//! source is an enhanced multi-frame image — purpose "Source image for image processing
//! operation"). Shared groups: Pixel Measures and Plane Orientation. The SEG joins the source's
//! study and frame of reference and lists each source instance once in the Common Instance
//! Reference module. Segments: number, label, algorithm type (MANUAL or SEMIAUTOMATIC, then
//! algorithm name "voxmark"), category and type codes (SNOMED CT for common anatomy names,
//! else the generic "Tissue"), recommended display colour as CIELab (D65, PS3.3 C.10.7.1.1
//! scaling). A source without DICOM UIDs (NIfTI, NRRD) gets a new study, series and frame of
//! reference and no derivation references (the caller says so). With
//! [`SegWriteOptions::labelmap`] it writes a Label Map Segmentation instead (Supplement 243,
//! SOP class …66.7): one 8-bit frame per slice that holds any segment, pixel values the
//! segment numbers, segment 0 "Background" (DCM 125040) listed as highdicom lists it and
//! marked as the background by PixelPaddingValue 0, as the supplement and highdicom do.
//!
//! [`open_seg`] reads a BINARY or FRACTIONAL (threshold 1/2) SEG, or a LABELMAP one
//! (Supplement 243; background = PixelPaddingValue, else 0), stored uncompressed, as a
//! deflated data set or in RLE Lossless frames; [`SegObject::place_on`] puts its frames on
//! a grid voxel for voxel — each frame's pixels must be voxels of the grid, in any axis order
//! (a SEG of a DICOM series on the series' dcm2niix NIfTI, whose rows run the other way),
//! nothing is resampled — and [`SegObject::own_grid`] is the grid the frames define by
//! themselves. Segment numbers become label values, except in voxmark's own SEGs, whose
//! Segment Description `voxmark label N` keeps the label value (segment numbers must run
//! 1..N, label values need not).

use super::dicom_write::ds;
use super::seg_nrrd::SegRead;
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;
use glam::{DVec3, DVec4};
use std::path::Path;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::fs::atomic::write_atomically;
use voxmark_volume::grid::RAS_FROM_LPS;
use voxmark_volume::reorient::{fit, GridMismatch};
use voxmark_volume::Grid;

pub use super::dicom_scan::{LABELMAP_SEG_SOP_CLASS, SEG_SOP_CLASS};

/// A coded concept (code value, scheme, meaning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub value: String,
    pub scheme: String,
    pub meaning: String,
}

impl Code {
    fn sct(value: &str, meaning: &str) -> Self {
        Self {
            value: value.into(),
            scheme: "SCT".into(),
            meaning: meaning.into(),
        }
    }
}

/// SNOMED CT category and type for a label name: a small built-in table of common anatomy
/// and findings (matched on the lower-case name, `_`/`-` as spaces), else the generic
/// "Tissue" / "Tissue" (what 3D Slicer gives an unnamed segment).
pub fn codes_for(name: &str) -> (Code, Code) {
    let n = name.to_lowercase().replace(['_', '-'], " ");
    let n = n.trim();
    let anatomy = Code::sct("123037004", "Anatomical Structure");
    let table: &[(&[&str], &str, &str)] = &[
        (&["liver"], "10200004", "Liver"),
        (&["spleen"], "78961009", "Spleen"),
        (&["pancreas"], "15776009", "Pancreas"),
        (&["kidney", "kidneys"], "64033007", "Kidney"),
        (
            &["left kidney", "kidney left", "kidney l"],
            "18639004",
            "Left kidney",
        ),
        (
            &["right kidney", "kidney right", "kidney r"],
            "9846003",
            "Right kidney",
        ),
        (&["lung", "lungs"], "39607008", "Lung"),
        (
            &["left lung", "lung left", "lung l"],
            "44029006",
            "Left lung",
        ),
        (
            &["right lung", "lung right", "lung r"],
            "3341006",
            "Right lung",
        ),
        (&["heart"], "80891009", "Heart"),
        (&["aorta"], "15825003", "Aorta"),
        (&["brain"], "12738006", "Brain"),
        (&["bone", "bones"], "272673000", "Bone"),
        (&["spinal cord"], "2748008", "Spinal cord"),
        (&["stomach"], "69695003", "Stomach"),
        (&["esophagus", "oesophagus"], "32849002", "Esophagus"),
        (&["gallbladder", "gall bladder"], "28231008", "Gallbladder"),
        (
            &["urinary bladder", "bladder"],
            "89837001",
            "Urinary bladder",
        ),
        (&["prostate"], "41216001", "Prostate"),
        (&["trachea"], "44567001", "Trachea"),
        (
            &["blood vessel", "vessel", "vessels"],
            "59820001",
            "Blood vessel",
        ),
        (&["muscle", "skeletal muscle"], "91727004", "Muscle"),
        (&["fat", "adipose tissue"], "55603005", "Adipose tissue"),
    ];
    for (names, code, meaning) in table {
        if names.contains(&n) {
            return (anatomy, Code::sct(code, meaning));
        }
    }
    if ["tumor", "tumour", "lesion", "neoplasm", "mass"].contains(&n) {
        return (
            Code::sct("49755003", "Morphologically Altered Structure"),
            Code::sct("108369006", "Neoplasm"),
        );
    }
    (
        Code::sct("85756007", "Tissue"),
        Code::sct("85756007", "Tissue"),
    )
}

/// One segment to write.
#[derive(Debug, Clone)]
pub struct SegmentDesc {
    /// The label value in the map (the segment number is its position + 1).
    pub value: u8,
    pub label: String,
    /// sRGB 0–1.
    pub color: [f32; 3],
    /// SEMIAUTOMATIC when tools such as grow or grow from seeds made it, else MANUAL.
    pub semiautomatic: bool,
}

/// sRGB (0–1) → DICOM CIELab (L* 0–100 → 0–65535, a*, b* −128–127 → 0–65535), D65.
pub fn rgb_to_dicom_lab(c: [f32; 3]) -> [u16; 3] {
    let lin = |v: f32| {
        let v = f64::from(v.clamp(0.0, 1.0));
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let (r, g, b) = (lin(c[0]), lin(c[1]), lin(c[2]));
    let x = 0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = 0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b;
    let f = |t: f64| {
        if t > (6.0f64 / 29.0).powi(3) {
            t.cbrt()
        } else {
            t / (3.0 * (6.0f64 / 29.0).powi(2)) + 4.0 / 29.0
        }
    };
    let (fx, fy, fz) = (f(x / 0.950_47), f(y), f(z / 1.088_83));
    let l = 116.0 * fy - 16.0;
    let a = 500.0 * (fx - fy);
    let bb = 200.0 * (fy - fz);
    let scale = |v: f64, lo: f64, hi: f64| {
        (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 65535.0).round() as u16
    };
    [
        scale(l, 0.0, 100.0),
        scale(a, -128.0, 127.0),
        scale(bb, -128.0, 127.0),
    ]
}

/// DICOM CIELab → sRGB (0–1), the inverse of [`rgb_to_dicom_lab`].
pub fn dicom_lab_to_rgb(v: [u16; 3]) -> [f32; 3] {
    let un = |x: u16, lo: f64, hi: f64| lo + f64::from(x) / 65535.0 * (hi - lo);
    let (l, a, b) = (
        un(v[0], 0.0, 100.0),
        un(v[1], -128.0, 127.0),
        un(v[2], -128.0, 127.0),
    );
    let fy = (l + 16.0) / 116.0;
    let (fx, fz) = (fy + a / 500.0, fy - b / 200.0);
    let finv = |t: f64| {
        if t > 6.0 / 29.0 {
            t * t * t
        } else {
            3.0 * (6.0f64 / 29.0).powi(2) * (t - 4.0 / 29.0)
        }
    };
    let (x, y, z) = (finv(fx) * 0.950_47, finv(fy), finv(fz) * 1.088_83);
    let r = 3.240_454_2 * x - 1.537_138_5 * y - 0.498_531_4 * z;
    let g = -0.969_266 * x + 1.876_010_8 * y + 0.041_556 * z;
    let bl = 0.055_643_4 * x - 0.204_025_9 * y + 1.057_225_2 * z;
    let gamma = |v: f64| {
        let v = v.clamp(0.0, 1.0);
        (if v <= 0.003_130_8 {
            12.92 * v
        } else {
            1.055 * v.powf(1.0 / 2.4) - 0.055
        }) as f32
    };
    [gamma(r), gamma(g), gamma(bl)]
}

/// What a SEG refers to in its source series.
#[derive(Debug, Clone, Default)]
pub struct SourceRefs {
    pub study_uid: String,
    pub series_uid: String,
    pub frame_of_reference_uid: String,
    /// Patient and study attributes copied into the SEG (tag, VR, value).
    pub copied: Vec<(Tag, VR, String)>,
    /// Per slice k, the image it came from.
    pub slices: Vec<SourceSlice>,
}

/// One source slice: its instance, and its frame when the source is an enhanced
/// multi-frame object (one instance, many frames).
#[derive(Debug, Clone, Default)]
pub struct SourceSlice {
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    /// ImagePositionPatient as stored in a classic image, or a frame's from its per-frame
    /// Plane Position group; empty when there is none (the SEG then writes the grid's).
    pub ipp: String,
    /// 1-based frame number within a multi-frame instance (ReferencedFrameNumber).
    pub frame: Option<u32>,
}

/// Reads the references of the DICOM series `path` (series `uid` or its only one), slices in
/// the order the volume's k has.
pub fn source_refs(path: &Path, uid: Option<&str>) -> Result<SourceRefs> {
    let headers = super::dicom_series::sorted_series(path, uid)?;
    let mut refs = SourceRefs::default();
    // The frames of a multi-frame file share its header: read each file once.
    let mut last: Option<(&Path, SourceSlice)> = None;
    for (k, h) in headers.iter().enumerate() {
        if let Some((p, prev)) = &last {
            if *p == h.path.as_path() {
                refs.slices.push(SourceSlice {
                    frame: h.frame.map(|f| f + 1),
                    ipp: h.ipp.map(|p| ds3(DVec3::from_array(p))).unwrap_or_default(),
                    ..prev.clone()
                });
                continue;
            }
        }
        let obj = super::open_dicom(&h.path, true, "not readable DICOM")?;
        let text = |t: Tag| -> String {
            obj.get(t)
                .and_then(|e| e.to_str().ok())
                .map(|s| s.trim().trim_end_matches('\0').to_string())
                .unwrap_or_default()
        };
        if k == 0 {
            refs.study_uid = text(tags::STUDY_INSTANCE_UID);
            refs.series_uid = text(tags::SERIES_INSTANCE_UID);
            refs.frame_of_reference_uid = text(tags::FRAME_OF_REFERENCE_UID);
            for (t, vr) in [
                (tags::PATIENT_NAME, VR::PN),
                (tags::PATIENT_ID, VR::LO),
                (tags::PATIENT_BIRTH_DATE, VR::DA),
                (tags::PATIENT_SEX, VR::CS),
                (tags::STUDY_DATE, VR::DA),
                (tags::STUDY_TIME, VR::TM),
                (tags::STUDY_ID, VR::SH),
                (tags::ACCESSION_NUMBER, VR::SH),
                (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
            ] {
                refs.copied.push((t, vr, text(t)));
            }
            if refs.study_uid.is_empty() || refs.frame_of_reference_uid.is_empty() {
                return Err(Error::format(
                    &h.path,
                    "no StudyInstanceUID or FrameOfReferenceUID: a SEG cannot reference it",
                ));
            }
        }
        let slice = SourceSlice {
            sop_class_uid: text(tags::SOP_CLASS_UID),
            sop_instance_uid: text(tags::SOP_INSTANCE_UID),
            ipp: match (h.frame, h.ipp) {
                (None, _) => text(tags::IMAGE_POSITION_PATIENT),
                (Some(_), Some(p)) => ds3(DVec3::from_array(p)),
                (Some(_), None) => String::new(),
            },
            frame: h.frame.map(|f| f + 1),
        };
        refs.slices.push(slice.clone());
        last = Some((h.path.as_path(), slice));
    }
    Ok(refs)
}

/// A new UID under 2.25 (PS3.5 B.2): a hash of time, process, a counter and `salt`.
pub fn new_uid(salt: &[u8]) -> String {
    use sha2::Digest;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = sha2::Sha256::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.update(now.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(
        COUNTER
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes(),
    );
    h.update(salt);
    let d = h.finalize();
    let mut v = [0u8; 16];
    v.copy_from_slice(&d[..16]);
    format!("2.25.{}", u128::from_be_bytes(v) >> 1)
}

/// An item naming a source instance (Referenced SOP Class and Instance UIDs).
fn instance_ref(slice: &SourceSlice) -> InMemDicomObject {
    let mut r = InMemDicomObject::new_empty();
    s(
        &mut r,
        tags::REFERENCED_SOP_CLASS_UID,
        VR::UI,
        slice.sop_class_uid.clone(),
    );
    s(
        &mut r,
        tags::REFERENCED_SOP_INSTANCE_UID,
        VR::UI,
        slice.sop_instance_uid.clone(),
    );
    r
}

fn s(obj: &mut InMemDicomObject, tag: Tag, vr: VR, v: impl Into<String>) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v.into())));
}

fn us(obj: &mut InMemDicomObject, tag: Tag, v: &[u16]) {
    obj.put(DataElement::new(
        tag,
        VR::US,
        PrimitiveValue::U16(v.iter().copied().collect()),
    ));
}

fn seq(obj: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
    obj.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

fn code_item(c: &Code) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    s(&mut o, tags::CODE_VALUE, VR::SH, c.value.clone());
    s(
        &mut o,
        tags::CODING_SCHEME_DESIGNATOR,
        VR::SH,
        c.scheme.clone(),
    );
    s(&mut o, tags::CODE_MEANING, VR::LO, c.meaning.clone());
    o
}

fn ds3(v: DVec3) -> String {
    format!("{}\\{}\\{}", ds(v.x), ds(v.y), ds(v.z))
}

/// How [`write_dicom_seg`] writes: the content creator, the content date and time (UTC,
/// RFC 3339), and LABELMAP instead of BINARY.
#[derive(Debug, Clone, Copy)]
pub struct SegWriteOptions<'a> {
    pub author: &'a str,
    pub now_rfc3339: &'a str,
    pub labelmap: bool,
}

/// What [`write_dicom_seg`] wrote.
#[derive(Debug, Clone)]
pub struct SegWritten {
    pub frames: usize,
    pub segments: usize,
    pub series_uid: String,
}

/// Writes `labels` on `grid` as a BINARY DICOM SEG (module docs); `source` references the
/// DICOM series the grid came from (None: a new study and frame of reference).
pub fn write_dicom_seg(
    out: &Path,
    grid: &Grid,
    labels: &[u8],
    segments: &[SegmentDesc],
    source: Option<&SourceRefs>,
    opts: &SegWriteOptions,
) -> Result<SegWritten> {
    check_seg_input(out, grid, labels, segments, source)?;
    let plane = SegPlane::of(out, grid)?;
    let class = if opts.labelmap {
        LABELMAP_SEG_SOP_CLASS
    } else {
        SEG_SOP_CLASS
    };
    let uids = SegUids::new(source);
    let mut o = seg_header(&uids, class, grid.dims, source, opts);
    seq(
        &mut o,
        tags::SEGMENT_SEQUENCE,
        segment_items(segments, opts.labelmap),
    );
    dimension_index(&mut o, &uids.dimension, opts.labelmap);
    seq(
        &mut o,
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![shared_groups(&plane)],
    );
    let (per_frame, mut bits) = seg_frames(grid, labels, segments, source, &plane, opts.labelmap);
    let frames = per_frame.len();
    if frames == 0 {
        return Err(Error::format(
            out,
            "no segment has any voxel: nothing to write",
        ));
    }
    s(&mut o, tags::NUMBER_OF_FRAMES, VR::IS, frames.to_string());
    seq(
        &mut o,
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        per_frame,
    );
    if let Some(src) = source {
        seq(
            &mut o,
            tags::REFERENCED_SERIES_SEQUENCE,
            vec![referenced_series(src)],
        );
    }
    if !bits.len().is_multiple_of(2) {
        bits.push(0);
    }
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::U8(bits.into()),
    ));
    let file = o
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(class)
                .media_storage_sop_instance_uid(uids.sop.clone()),
        )
        .map_err(|e| Error::Invalid(format!("DICOM meta: {e}")))?;
    write_atomically(out, |w| {
        file.write_all(w)
            .map_err(|e| std::io::Error::other(e.to_string()))
    })?;
    Ok(SegWritten {
        frames,
        segments: segments.len(),
        series_uid: uids.series,
    })
}

/// Refuses what a SEG cannot hold before anything is built: labels not on the grid, more
/// than 65535 rows or columns, no segment, a source series of another slice count.
fn check_seg_input(
    out: &Path,
    grid: &Grid,
    labels: &[u8],
    segments: &[SegmentDesc],
    source: Option<&SourceRefs>,
) -> Result<()> {
    let [nx, ny, nz] = grid.dims;
    if labels.len() != grid.voxel_count() {
        return Err(Error::Mismatch("labels do not match the grid".into()));
    }
    if nx > 65535 || ny > 65535 {
        return Err(Error::Invalid(
            "DICOM rows/columns are limited to 65535".into(),
        ));
    }
    if segments.is_empty() {
        return Err(Error::format(
            out,
            "no segments to write (the label map is empty)",
        ));
    }
    if let Some(src) = source {
        if src.slices.len() != nz {
            return Err(Error::Mismatch(format!(
                "the source series has {} slices, the grid {nz}",
                src.slices.len()
            )));
        }
    }
    Ok(())
}

/// The frames' plane in DICOM's LPS (PS3.3 C.7.6.2): `lps` maps voxel indices to patient
/// mm; `row`/`col` are the unit directions of i and j, `di`/`dj`/`dk` the voxel sizes.
struct SegPlane {
    lps: glam::DMat4,
    row: DVec3,
    col: DVec3,
    di: f64,
    dj: f64,
    dk: f64,
}

impl SegPlane {
    /// The grid's plane; a sheared grid (gantry tilt) is refused: SEG frames are
    /// perpendicular stacks.
    fn of(out: &Path, grid: &Grid) -> Result<Self> {
        let lps = RAS_FROM_LPS * grid.world_from_voxel;
        let (ci, cj, ck) = (
            lps.x_axis.truncate(),
            lps.y_axis.truncate(),
            lps.z_axis.truncate(),
        );
        let (di, dj, dk) = (ci.length(), cj.length(), ck.length());
        let (row, col) = (ci / di, cj / dj);
        let normal = row.cross(col);
        if (ck / dk).dot(normal).abs() < 1.0 - 1e-6 {
            return Err(Error::unsupported(
                out,
                "a sheared grid (gantry tilt): SEG frames must be perpendicular stacks",
            ));
        }
        Ok(Self {
            lps,
            row,
            col,
            di,
            dj,
            dk,
        })
    }
}

/// The UIDs a SEG carries: the source's study and frame of reference (new ones without a
/// source), and new series, instance and dimension-organisation UIDs.
struct SegUids {
    study: String,
    frame_of_reference: String,
    series: String,
    sop: String,
    dimension: String,
}

impl SegUids {
    fn new(source: Option<&SourceRefs>) -> Self {
        Self {
            study: source.map_or_else(|| new_uid(b"study"), |s| s.study_uid.clone()),
            frame_of_reference: source
                .map_or_else(|| new_uid(b"for"), |s| s.frame_of_reference_uid.clone()),
            series: new_uid(b"series"),
            sop: new_uid(b"sop"),
            dimension: new_uid(b"dimension"),
        }
    }
}

/// The data set's header: patient and study (copied from the source, else empty), series,
/// equipment, the Segmentation Image module and Image Pixel attributes.
fn seg_header(
    uids: &SegUids,
    class: &str,
    dims: [usize; 3],
    source: Option<&SourceRefs>,
    opts: &SegWriteOptions,
) -> InMemDicomObject {
    let [nx, ny, _] = dims;
    let (author, now_rfc3339, labelmap) = (opts.author, opts.now_rfc3339, opts.labelmap);
    let (date, time) = match (now_rfc3339.get(..10), now_rfc3339.get(11..19)) {
        (Some(d), Some(t)) => (d.replace('-', ""), t.replace(':', "")),
        _ => (String::new(), String::new()),
    };
    let mut o = InMemDicomObject::new_empty();
    s(&mut o, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
    s(&mut o, tags::SOP_CLASS_UID, VR::UI, class);
    s(&mut o, tags::SOP_INSTANCE_UID, VR::UI, uids.sop.clone());
    s(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, uids.study.clone());
    s(
        &mut o,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        uids.series.clone(),
    );
    s(
        &mut o,
        tags::FRAME_OF_REFERENCE_UID,
        VR::UI,
        uids.frame_of_reference.clone(),
    );
    s(&mut o, tags::POSITION_REFERENCE_INDICATOR, VR::LO, "");
    match source {
        Some(src) => {
            for (t, vr, v) in &src.copied {
                s(&mut o, *t, *vr, v.clone());
            }
        }
        None => {
            for (t, vr) in [
                (tags::PATIENT_NAME, VR::PN),
                (tags::PATIENT_ID, VR::LO),
                (tags::PATIENT_BIRTH_DATE, VR::DA),
                (tags::PATIENT_SEX, VR::CS),
                (tags::STUDY_ID, VR::SH),
                (tags::ACCESSION_NUMBER, VR::SH),
                (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
            ] {
                s(&mut o, t, vr, "");
            }
            s(&mut o, tags::STUDY_DATE, VR::DA, date.clone());
            s(&mut o, tags::STUDY_TIME, VR::TM, time.clone());
        }
    }
    s(&mut o, tags::MODALITY, VR::CS, "SEG");
    s(&mut o, tags::SERIES_NUMBER, VR::IS, "300");
    s(
        &mut o,
        tags::SERIES_DESCRIPTION,
        VR::LO,
        "voxmark segmentation",
    );
    s(&mut o, tags::INSTANCE_NUMBER, VR::IS, "1");
    s(&mut o, tags::CONTENT_DATE, VR::DA, date.clone());
    s(&mut o, tags::CONTENT_TIME, VR::TM, time);
    s(&mut o, tags::SERIES_DATE, VR::DA, date);
    s(&mut o, tags::MANUFACTURER, VR::LO, "voxmark");
    s(&mut o, tags::MANUFACTURER_MODEL_NAME, VR::LO, "voxmark");
    s(&mut o, tags::DEVICE_SERIAL_NUMBER, VR::LO, "1");
    s(
        &mut o,
        tags::SOFTWARE_VERSIONS,
        VR::LO,
        env!("CARGO_PKG_VERSION"),
    );
    s(&mut o, tags::IMAGE_TYPE, VR::CS, "DERIVED\\PRIMARY");
    s(&mut o, tags::CONTENT_LABEL, VR::CS, "VOXMARK");
    s(
        &mut o,
        tags::CONTENT_DESCRIPTION,
        VR::LO,
        "voxmark label map",
    );
    s(
        &mut o,
        tags::CONTENT_CREATOR_NAME,
        VR::PN,
        author.replace(' ', "^"),
    );
    s(
        &mut o,
        tags::SEGMENTATION_TYPE,
        VR::CS,
        if labelmap { "LABELMAP" } else { "BINARY" },
    );
    s(&mut o, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
    us(&mut o, tags::SAMPLES_PER_PIXEL, &[1]);
    s(
        &mut o,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2",
    );
    us(&mut o, tags::ROWS, &[ny as u16]);
    us(&mut o, tags::COLUMNS, &[nx as u16]);
    let bits_allocated: u16 = if labelmap { 8 } else { 1 };
    us(&mut o, tags::BITS_ALLOCATED, &[bits_allocated]);
    us(&mut o, tags::BITS_STORED, &[bits_allocated]);
    us(&mut o, tags::HIGH_BIT, &[bits_allocated - 1]);
    us(&mut o, tags::PIXEL_REPRESENTATION, &[0]);
    if labelmap {
        s(&mut o, tags::PRESENTATION_LUT_SHAPE, VR::CS, "IDENTITY");
        // The background's pixel value (Supplement 243; highdicom and readers that follow
        // it leave segment 0 out of the segments).
        us(&mut o, tags::PIXEL_PADDING_VALUE, &[0]);
    }
    o
}

/// The Segment Sequence: one item per segment (numbers 1..N, the label value in the
/// description, codes, CIELab colour); a label map also lists its background, segment 0, as
/// highdicom does.
fn segment_items(segments: &[SegmentDesc], labelmap: bool) -> Vec<InMemDicomObject> {
    let mut seg_items = Vec::new();
    if labelmap {
        let mut it = InMemDicomObject::new_empty();
        us(&mut it, tags::SEGMENT_NUMBER, &[0]);
        s(&mut it, tags::SEGMENT_LABEL, VR::LO, "Background");
        s(&mut it, tags::SEGMENT_ALGORITHM_TYPE, VR::CS, "MANUAL");
        // DCM 125040 "Background", as highdicom codes it; the header's PixelPaddingValue 0
        // says that this segment is the background, not a structure (Supplement 243).
        let bg = Code {
            value: "125040".into(),
            scheme: "DCM".into(),
            meaning: "Background".into(),
        };
        seq(
            &mut it,
            tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE,
            vec![code_item(&bg)],
        );
        seq(
            &mut it,
            tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE,
            vec![code_item(&bg)],
        );
        us(
            &mut it,
            tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE,
            &[0, 32896, 32896],
        );
        seg_items.push(it);
    }
    for (n, sd) in segments.iter().enumerate() {
        let mut it = InMemDicomObject::new_empty();
        us(&mut it, tags::SEGMENT_NUMBER, &[(n + 1) as u16]);
        s(&mut it, tags::SEGMENT_LABEL, VR::LO, sd.label.clone());
        // Segment numbers run 1..N (PS3.3 C.8.20.2); the label value rides along here so a
        // SEG read back by voxmark gives the same label map.
        s(
            &mut it,
            tags::SEGMENT_DESCRIPTION,
            VR::ST,
            format!("voxmark label {}", sd.value),
        );
        s(
            &mut it,
            tags::SEGMENT_ALGORITHM_TYPE,
            VR::CS,
            if sd.semiautomatic {
                "SEMIAUTOMATIC"
            } else {
                "MANUAL"
            },
        );
        if sd.semiautomatic {
            s(&mut it, tags::SEGMENT_ALGORITHM_NAME, VR::LO, "voxmark");
        }
        let (cat, typ) = codes_for(&sd.label);
        seq(
            &mut it,
            tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE,
            vec![code_item(&cat)],
        );
        seq(
            &mut it,
            tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE,
            vec![code_item(&typ)],
        );
        us(
            &mut it,
            tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE,
            &rgb_to_dicom_lab(sd.color),
        );
        seg_items.push(it);
    }
    seg_items
}

/// The dimensions: segment number (BINARY), then slice position.
fn dimension_index(o: &mut InMemDicomObject, dim_uid: &str, labelmap: bool) {
    let mut org = InMemDicomObject::new_empty();
    s(
        &mut org,
        tags::DIMENSION_ORGANIZATION_UID,
        VR::UI,
        dim_uid.to_string(),
    );
    seq(o, tags::DIMENSION_ORGANIZATION_SEQUENCE, vec![org]);
    let dim = |pointer: Tag, group: Tag, label: &str| {
        let mut d = InMemDicomObject::new_empty();
        s(
            &mut d,
            tags::DIMENSION_ORGANIZATION_UID,
            VR::UI,
            dim_uid.to_string(),
        );
        d.put(DataElement::new(
            tags::DIMENSION_INDEX_POINTER,
            VR::AT,
            PrimitiveValue::Tags([pointer].into_iter().collect()),
        ));
        d.put(DataElement::new(
            tags::FUNCTIONAL_GROUP_POINTER,
            VR::AT,
            PrimitiveValue::Tags([group].into_iter().collect()),
        ));
        s(&mut d, tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, label);
        d
    };
    seq(o, tags::DIMENSION_INDEX_SEQUENCE, {
        let position = dim(
            tags::IMAGE_POSITION_PATIENT,
            tags::PLANE_POSITION_SEQUENCE,
            "ImagePositionPatient",
        );
        if labelmap {
            vec![position]
        } else {
            vec![
                dim(
                    tags::REFERENCED_SEGMENT_NUMBER,
                    tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                    "ReferencedSegmentNumber",
                ),
                position,
            ]
        }
    });
}

/// The shared functional groups: pixel measures and plane orientation.
fn shared_groups(plane: &SegPlane) -> InMemDicomObject {
    let SegPlane {
        row,
        col,
        di,
        dj,
        dk,
        ..
    } = *plane;
    let mut shared = InMemDicomObject::new_empty();
    let mut pm = InMemDicomObject::new_empty();
    s(
        &mut pm,
        tags::PIXEL_SPACING,
        VR::DS,
        format!("{}\\{}", ds(dj), ds(di)),
    );
    s(&mut pm, tags::SLICE_THICKNESS, VR::DS, ds(dk));
    s(&mut pm, tags::SPACING_BETWEEN_SLICES, VR::DS, ds(dk));
    seq(&mut shared, tags::PIXEL_MEASURES_SEQUENCE, vec![pm]);
    let mut po = InMemDicomObject::new_empty();
    s(
        &mut po,
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        format!(
            "{}\\{}\\{}\\{}\\{}\\{}",
            ds(row.x),
            ds(row.y),
            ds(row.z),
            ds(col.x),
            ds(col.y),
            ds(col.z)
        ),
    );
    seq(&mut shared, tags::PLANE_ORIENTATION_SEQUENCE, vec![po]);
    shared
}

/// Frames and their per-frame functional groups: BINARY — per segment, the slices that
/// hold it (bit-packed, frames back to back); LABELMAP — the slices that hold any segment
/// (one byte per pixel, the segment number). Each frame's position is the source slice's
/// own, else computed from the grid; with a source, each frame references the slice it was
/// derived from.
fn seg_frames(
    grid: &Grid,
    labels: &[u8],
    segments: &[SegmentDesc],
    source: Option<&SourceRefs>,
    plane: &SegPlane,
    labelmap: bool,
) -> (Vec<InMemDicomObject>, Vec<u8>) {
    let [nx, ny, nz] = grid.dims;
    let lps = plane.lps;
    let per = nx * ny;
    let mut number = [0u8; 256];
    for (n, sd) in segments.iter().enumerate() {
        number[usize::from(sd.value)] = (n + 1) as u8;
    }
    let mut frame_list: Vec<(usize, Option<usize>)> = Vec::new();
    if labelmap {
        for k in 0..nz {
            if labels[k * per..(k + 1) * per]
                .iter()
                .any(|&l| number[usize::from(l)] != 0)
            {
                frame_list.push((k, None));
            }
        }
    } else {
        for (n, sd) in segments.iter().enumerate() {
            for k in 0..nz {
                if labels[k * per..(k + 1) * per].contains(&sd.value) {
                    frame_list.push((k, Some(n)));
                }
            }
        }
    }
    let mut per_frame = Vec::with_capacity(frame_list.len());
    let mut pixels: Vec<u8> = Vec::new();
    let mut nbits = 0usize;
    for &(k, seg) in &frame_list {
        let slice = &labels[k * per..(k + 1) * per];
        match seg {
            Some(n) => {
                let value = segments[n].value;
                for &l in slice {
                    if nbits.is_multiple_of(8) {
                        pixels.push(0);
                    }
                    if l == value {
                        *pixels.last_mut().unwrap_or(&mut 0) |= 1 << (nbits % 8);
                    }
                    nbits += 1;
                }
            }
            None => pixels.extend(slice.iter().map(|&l| number[usize::from(l)])),
        }
        let mut f = InMemDicomObject::new_empty();
        let mut fc = InMemDicomObject::new_empty();
        let index: Vec<u32> = match seg {
            Some(n) => vec![(n + 1) as u32, (k + 1) as u32],
            None => vec![(k + 1) as u32],
        };
        fc.put(DataElement::new(
            tags::DIMENSION_INDEX_VALUES,
            VR::UL,
            PrimitiveValue::U32(index.into_iter().collect()),
        ));
        seq(&mut f, tags::FRAME_CONTENT_SEQUENCE, vec![fc]);
        let mut pp = InMemDicomObject::new_empty();
        let ipp = match source {
            Some(src) if !src.slices[k].ipp.is_empty() => src.slices[k].ipp.clone(),
            _ => ds3((lps * DVec4::new(0.0, 0.0, k as f64, 1.0)).truncate()),
        };
        s(&mut pp, tags::IMAGE_POSITION_PATIENT, VR::DS, ipp);
        seq(&mut f, tags::PLANE_POSITION_SEQUENCE, vec![pp]);
        if let Some(n) = seg {
            let mut si = InMemDicomObject::new_empty();
            us(&mut si, tags::REFERENCED_SEGMENT_NUMBER, &[(n + 1) as u16]);
            seq(&mut f, tags::SEGMENT_IDENTIFICATION_SEQUENCE, vec![si]);
        }
        if let Some(src) = source {
            let slice = &src.slices[k];
            let mut sref = instance_ref(slice);
            if let Some(n) = slice.frame {
                s(
                    &mut sref,
                    tags::REFERENCED_FRAME_NUMBER,
                    VR::IS,
                    n.to_string(),
                );
            }
            s(&mut sref, tags::SPATIAL_LOCATIONS_PRESERVED, VR::CS, "YES");
            seq(
                &mut sref,
                tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
                vec![code_item(&Code {
                    value: "121322".into(),
                    scheme: "DCM".into(),
                    meaning: "Source image for image processing operation".into(),
                })],
            );
            let mut der = InMemDicomObject::new_empty();
            seq(
                &mut der,
                tags::DERIVATION_CODE_SEQUENCE,
                vec![code_item(&Code {
                    value: "113076".into(),
                    scheme: "DCM".into(),
                    meaning: "Segmentation".into(),
                })],
            );
            seq(&mut der, tags::SOURCE_IMAGE_SEQUENCE, vec![sref]);
            seq(&mut f, tags::DERIVATION_IMAGE_SEQUENCE, vec![der]);
        }
        per_frame.push(f);
    }
    (per_frame, pixels)
}

/// The Referenced Series Sequence: the source series and each of its instances once (the
/// frames of a multi-frame source share one).
fn referenced_series(src: &SourceRefs) -> InMemDicomObject {
    let mut seen = std::collections::HashSet::new();
    let instances = src
        .slices
        .iter()
        .filter(|sl| seen.insert(sl.sop_instance_uid.as_str()))
        .map(instance_ref)
        .collect();
    let mut rs = InMemDicomObject::new_empty();
    s(
        &mut rs,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        src.series_uid.clone(),
    );
    seq(&mut rs, tags::REFERENCED_INSTANCE_SEQUENCE, instances);
    rs
}

/// Transfer syntaxes a SEG is read in: native (explicit/implicit VR little endian), a
/// deflated data set (dcmqi's `--compress deflate`; the parser inflates it) and RLE
/// Lossless frames (decoded by [`rle_frame`]).
const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";

/// A DICOM SEG as read, before it is placed on any grid: its segments, each frame's plane
/// and segment, and its pixel data (native bytes, or one decoded buffer per RLE frame).
pub struct SegObject {
    path: std::path::PathBuf,
    /// Label Map Segmentation (Supplement 243): pixel values are segment numbers.
    pub labelmap: bool,
    /// BINARY, FRACTIONAL or LABELMAP.
    pub seg_type: String,
    pub rows: usize,
    pub cols: usize,
    bits: usize,
    max_frac: u32,
    /// A label map's background pixel value: PixelPaddingValue (Supplement 243, as highdicom
    /// writes it), else 0.
    background: u32,
    /// The segments with their voxmark label values.
    pub segments: Vec<super::seg_nrrd::SegmentInfo>,
    /// (segment number, label value).
    numbers: Vec<(i64, u8)>,
    frames: Vec<SegFrame>,
    pixels: SegPixels,
    spacing_between: Option<f64>,
    thickness: Option<f64>,
    pub study_uid: String,
    pub series_uid: String,
    pub frame_of_reference_uid: String,
    /// ReferencedSeriesSequence: (series UID, number of referenced instances).
    pub referenced_series: Vec<(String, usize)>,
}

/// One frame: its plane (LPS, as stored) and the label value its pixels carry (0 for a label
/// map, whose pixels carry segment numbers).
struct SegFrame {
    iop: [f64; 6],
    ipp: [f64; 3],
    /// PixelSpacing: (between rows, between columns) in mm.
    spacing: [f64; 2],
    value: u8,
}

enum SegPixels {
    Native(Vec<u8>),
    Frames(Vec<Vec<u8>>),
}

impl SegObject {
    /// Number of frames.
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// (segment number, voxmark label value), in the Segment Sequence's order (a label
    /// map's background left out).
    pub fn segment_numbers(&self) -> &[(i64, u8)] {
        &self.numbers
    }

    /// The label values of frame `fi` (columns fastest: i = column, j = row), 0 unlabelled.
    fn frame_values(&self, fi: usize, unknown: &mut u64) -> Result<Vec<u8>> {
        let per = self.rows * self.cols;
        let f = &self.frames[fi];
        let (buf, first_bit_or_byte) = match &self.pixels {
            SegPixels::Native(d) => (d.as_slice(), fi * per),
            SegPixels::Frames(fr) => (fr[fi].as_slice(), 0),
        };
        let mut out = vec![0u8; per];
        for (p, o) in out.iter_mut().enumerate() {
            let at = first_bit_or_byte + p;
            *o = match (self.bits, self.labelmap) {
                (1, _) => u8::from(buf[at / 8] >> (at % 8) & 1 == 1) * f.value,
                (8, false) => {
                    if u32::from(buf[at]) * 2 > self.max_frac {
                        f.value
                    } else {
                        0
                    }
                }
                (8, true) | (16, true) => {
                    let x = if self.bits == 8 {
                        u32::from(buf[at])
                    } else {
                        u32::from(u16::from_le_bytes([buf[2 * at], buf[2 * at + 1]]))
                    };
                    if x == self.background {
                        0
                    } else {
                        match self.numbers.iter().find(|(n, _)| *n == i64::from(x)) {
                            Some((_, v)) => *v,
                            None => {
                                *unknown += 1;
                                0
                            }
                        }
                    }
                }
                _ => {
                    return Err(Error::unsupported(
                        &self.path,
                        format!("{} SEG with {} bits allocated", self.seg_type, self.bits),
                    ))
                }
            };
        }
        Ok(out)
    }

    /// Frame `fi` as a one-slice grid (RAS+); its third axis is the plane's normal.
    fn frame_grid(&self, fi: usize, step_mm: f64) -> Grid {
        let f = &self.frames[fi];
        let r = DVec3::new(f.iop[0], f.iop[1], f.iop[2]);
        let c = DVec3::new(f.iop[3], f.iop[4], f.iop[5]);
        let n = r.cross(c);
        let lps = glam::DMat4::from_cols(
            (r * f.spacing[1]).extend(0.0),
            (c * f.spacing[0]).extend(0.0),
            (n * step_mm).extend(0.0),
            DVec4::new(f.ipp[0], f.ipp[1], f.ipp[2], 1.0),
        );
        Grid::new([self.cols, self.rows, 1], RAS_FROM_LPS * lps)
    }

    /// The grid the frames define by themselves (as dcmqi's `segimage2itkimage` without the
    /// source series): the frames' plane and pixel spacing, slices from the lowest frame
    /// position to the highest along the normal, spaced by SpacingBetweenSlices when the
    /// positions fall on it, else by the smallest gap between frames. `what` names the
    /// option that gives the source image instead, for frames that define no grid.
    pub fn own_grid(&self, what: &str) -> Result<Grid> {
        let bad = |m: String| Error::format(&self.path, m);
        let Some(f0) = self.frames.first() else {
            return Err(bad("the SEG holds no frames".into()));
        };
        for (i, f) in self.frames.iter().enumerate() {
            let turned = f.iop.iter().zip(f0.iop).any(|(a, b)| (a - b).abs() > 1e-4);
            let spaced = f
                .spacing
                .iter()
                .zip(f0.spacing)
                .any(|(a, b)| (a - b).abs() > 1e-6);
            if turned || spaced {
                return Err(bad(format!(
                    "frame {} ({:?}, spacing {:?}) is not parallel to frame 1 ({:?}, spacing \
                     {:?}): the frames define no single grid; give the source image ({what})",
                    i + 1,
                    f.iop,
                    f.spacing,
                    f0.iop,
                    f0.spacing
                )));
            }
        }
        let n = DVec3::new(f0.iop[0], f0.iop[1], f0.iop[2])
            .cross(DVec3::new(f0.iop[3], f0.iop[4], f0.iop[5]));
        let d: Vec<f64> = self
            .frames
            .iter()
            .map(|f| DVec3::from_array(f.ipp).dot(n))
            .collect();
        let lowest = (0..d.len())
            .min_by(|&a, &b| d[a].total_cmp(&d[b]))
            .unwrap_or(0);
        let (dmin, dmax) = (d[lowest], d.iter().copied().fold(f64::MIN, f64::max));
        let mut sorted = d.clone();
        sorted.sort_by(f64::total_cmp);
        let tol = voxmark_volume::reorient::GRID_TOLERANCE_MM;
        let min_gap = sorted
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|g| *g > tol)
            .fold(f64::INFINITY, f64::min);
        let candidates = [
            self.spacing_between,
            min_gap.is_finite().then_some(min_gap),
            self.thickness,
            Some(1.0),
        ];
        let step = candidates
            .into_iter()
            .flatten()
            .filter(|s| *s > tol && s.is_finite())
            .find(|s| {
                d.iter().all(|x| {
                    let q = (x - dmin) / s;
                    (q - q.round()).abs() * s <= tol
                })
            })
            .ok_or_else(|| {
                bad(format!(
                    "the frames' positions along the normal ({:?} mm) fall on no regular \
                     spacing: give the source image ({what})",
                    sorted
                ))
            })?;
        let nz = ((dmax - dmin) / step).round() as usize + 1;
        crate::memory::check_fits(&self.path, (self.rows * self.cols) as u64 * nz as u64, 1)?;
        if nz > 1 << 16 {
            return Err(bad(format!(
                "the frames span {nz} slices of {step} mm: more than 65,536"
            )));
        }
        let mut g = self.frame_grid(lowest, step);
        g.dims[2] = nz;
        Ok(g)
    }

    /// The SEG's labels on `target` (frame by frame, voxel for voxel: [`fit`] of each frame's
    /// plane), or the first frame that is not on it and why.
    pub fn place_on(
        &self,
        target: &Grid,
    ) -> Result<std::result::Result<SegRead, (usize, GridMismatch)>> {
        let mut labels = vec![0u8; target.voxel_count()];
        // Voxels already counted as held by several segments.
        let mut counted: Option<Vec<bool>> = None;
        let mut overlap = 0u64;
        let mut unknown = 0u64;
        // The frame's third axis only picks the target axis it runs along.
        let step = self
            .spacing_between
            .or(self.thickness)
            .unwrap_or(1.0)
            .max(1e-3);
        // How the frames' axes lie on the target's, when not as its own (the one-line note).
        let mut turned: Option<String> = None;
        for fi in 0..self.frames.len() {
            let values = self.frame_values(fi, &mut unknown)?;
            let map = match fit(&self.frame_grid(fi, step), target) {
                Ok(m) => m,
                // An empty frame anywhere costs nothing.
                Err(_) if values.iter().all(|&v| v == 0) => continue,
                Err(why) => return Ok(Err((fi, why))),
            };
            if turned.is_none() {
                turned = map.describe_axes();
            }
            let lost = map.place_into(&values, 0u8, |t, v| {
                let old = labels[t];
                if old != 0 && old != v {
                    let c = counted.get_or_insert_with(|| vec![false; labels.len()]);
                    if !c[t] {
                        c[t] = true;
                        overlap += 1;
                    }
                }
                labels[t] = v;
            });
            if lost > 0 {
                return Ok(Err((
                    fi,
                    GridMismatch {
                        reasons: vec![format!(
                            "{lost} of its labelled pixels fall outside the grid ({})",
                            map.describe()
                        )],
                        disjoint: false,
                    },
                )));
            }
        }
        let mut warnings = Vec::new();
        if let Some(t) = turned {
            warnings.push(format!(
                "{}: frames taken onto the image's grid voxel for voxel, no resampling ({t})",
                self.path.display()
            ));
        }
        if overlap > 0 {
            warnings.push(format!(
                "{}: {overlap} voxels belong to several segments; each took the segment of the \
                 last frame that holds it",
                self.path.display()
            ));
        }
        if unknown > 0 {
            warnings.push(format!(
                "{}: {unknown} pixels hold segment numbers the Segment Sequence does not \
                 describe; left unlabelled",
                self.path.display()
            ));
        }
        Ok(Ok(SegRead {
            labels,
            segments: self.segments.clone(),
            warnings,
        }))
    }

    /// What went wrong placing frame `fi` on `target`, as the error a user reads.
    pub fn off_grid_error(
        &self,
        fi: usize,
        why: &GridMismatch,
        target: &Grid,
        resample_hint: bool,
    ) -> Error {
        let step = self
            .spacing_between
            .or(self.thickness)
            .unwrap_or(1.0)
            .max(1e-3);
        let seg = self.frames[fi].value;
        let name = self
            .segments
            .iter()
            .find(|s| s.value == seg && seg != 0)
            .map(|s| format!(" (segment \"{}\")", s.name))
            .unwrap_or_default();
        Error::format(
            &self.path,
            format!(
                "frame {}{name} is on a different grid than the image, and not the image's \
                 voxels in another axis order: {why}; frame: {}; image: {}{}",
                fi + 1,
                voxmark_volume::labels::describe(&self.frame_grid(fi, step)),
                voxmark_volume::labels::describe(target),
                if resample_hint {
                    "; voxmark resamples label maps only when asked (--resample nearest)"
                } else {
                    ""
                }
            ),
        )
    }
}

/// Decodes one RLE Lossless frame (PS3.5 Annex G): a 64-byte header of segment offsets,
/// then PackBits segments, most significant byte first. `bytes_per_sample` segments of
/// `len` bytes each are expected; the result is little-endian samples. voxmark's own decoder:
/// a few dozen lines, bounded by `len`, for the 1-bit frames dicom-rs does not decode.
fn rle_frame(
    frag: &[u8],
    bytes_per_sample: usize,
    len: usize,
) -> std::result::Result<Vec<u8>, String> {
    if frag.len() < 64 {
        return Err(format!(
            "an RLE frame of {} bytes has no 64-byte header",
            frag.len()
        ));
    }
    let word = |i: usize| {
        u32::from_le_bytes([
            frag[4 * i],
            frag[4 * i + 1],
            frag[4 * i + 2],
            frag[4 * i + 3],
        ]) as usize
    };
    let nseg = word(0);
    if nseg != bytes_per_sample {
        return Err(format!(
            "an RLE frame of {nseg} segments, expected {bytes_per_sample}"
        ));
    }
    let mut out = vec![0u8; len * bytes_per_sample];
    for sgi in 0..nseg {
        let start = word(1 + sgi);
        let end = if sgi + 1 < nseg {
            word(2 + sgi)
        } else {
            frag.len()
        };
        if start < 64 || start > end || end > frag.len() {
            return Err(format!(
                "RLE segment {} has offsets {start}..{end}",
                sgi + 1
            ));
        }
        let src = &frag[start..end];
        let mut seg = Vec::with_capacity(len);
        let mut i = 0;
        while i < src.len() && seg.len() < len {
            let n = src[i] as i8;
            i += 1;
            if n >= 0 {
                let k = n as usize + 1;
                let take = &src[i..(i + k).min(src.len())];
                seg.extend_from_slice(take);
                i += k;
            } else if n != -128 {
                let k = (1 - i32::from(n)) as usize;
                if let Some(&b) = src.get(i) {
                    seg.extend(std::iter::repeat_n(b, k));
                }
                i += 1;
            }
        }
        if seg.len() < len {
            return Err(format!(
                "RLE segment {} decodes to {} bytes, the frame needs {len}",
                sgi + 1,
                seg.len()
            ));
        }
        // Segment 1 holds the most significant bytes.
        let byte = bytes_per_sample - 1 - sgi;
        for (p, &b) in seg[..len].iter().enumerate() {
            out[p * bytes_per_sample + byte] = b;
        }
    }
    Ok(out)
}

/// Reads a DICOM SEG's header, segments, frames and pixel data (module docs).
pub fn open_seg(path: &Path) -> Result<SegObject> {
    use super::seg_nrrd::SegmentInfo;
    let bad = |m: String| Error::format(path, m);
    super::dicom_guard::check_lengths(path)?;
    let obj = super::open_dicom(path, false, "not a readable DICOM file")?;
    let text = |o: &InMemDicomObject, t: Tag| -> String {
        o.get(t)
            .and_then(|e| e.to_str().ok())
            .map(|v| v.trim().trim_end_matches('\0').to_string())
            .unwrap_or_default()
    };
    let class = text(&obj, tags::SOP_CLASS_UID);
    let labelmap = class == LABELMAP_SEG_SOP_CLASS;
    if class != SEG_SOP_CLASS && !labelmap {
        return Err(bad(format!(
            "SOP class {class} is not a DICOM Segmentation"
        )));
    }
    let ts = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    let rle = ts == RLE_LOSSLESS;
    if ![
        uids::EXPLICIT_VR_LITTLE_ENDIAN,
        uids::IMPLICIT_VR_LITTLE_ENDIAN,
        DEFLATED,
        RLE_LOSSLESS,
    ]
    .contains(&ts.as_str())
    {
        return Err(Error::unsupported(
            path,
            format!(
                "a SEG in {} ({ts}); voxmark reads uncompressed, deflated and RLE Lossless SEGs",
                super::dicom_series::transfer_syntax_name(&ts)
            ),
        ));
    }
    let seg_type = text(&obj, tags::SEGMENTATION_TYPE);
    let int = |o: &InMemDicomObject, t: Tag| o.get(t).and_then(|e| e.to_int::<i64>().ok());
    let rows = int(&obj, tags::ROWS).unwrap_or(0).max(0) as usize;
    let cols = int(&obj, tags::COLUMNS).unwrap_or(0).max(0) as usize;
    let frames = int(&obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(0) as usize;
    let bits = int(&obj, tags::BITS_ALLOCATED).unwrap_or(1).max(0) as usize;
    if rows == 0 || cols == 0 {
        return Err(bad(format!("frames of {cols}×{rows} pixels")));
    }
    let background = if labelmap {
        int(&obj, tags::PIXEL_PADDING_VALUE)
            .unwrap_or(0)
            .clamp(0, 65535) as u32
    } else {
        0
    };
    let items = |o: &InMemDicomObject, t: Tag| -> Vec<InMemDicomObject> {
        o.get(t)
            .and_then(|e| e.items())
            .map(|v| v.to_vec())
            .unwrap_or_default()
    };
    // Segments: (segment number, label value).
    let mut segments = Vec::new();
    let mut numbers: Vec<(i64, u8)> = Vec::new();
    for it in items(&obj, tags::SEGMENT_SEQUENCE) {
        let n = int(&it, tags::SEGMENT_NUMBER).unwrap_or(0);
        if labelmap && n == i64::from(background) {
            continue; // a label map's background (segment 0 as highdicom and voxmark list it)
        }
        if !(1..=255).contains(&n) {
            return Err(bad(format!(
                "segment number {n}: a voxmark label map holds 1..=255"
            )));
        }
        // voxmark's own SEGs carry the label value (else: the segment number).
        let value = text(&it, tags::SEGMENT_DESCRIPTION)
            .strip_prefix("voxmark label ")
            .and_then(|v| v.parse::<u8>().ok())
            .filter(|&v| v > 0)
            .unwrap_or(n as u8);
        numbers.push((n, value));
        let lab: Vec<u16> = it
            .get(tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE)
            .and_then(|e| e.to_multi_int::<u16>().ok())
            .unwrap_or_default();
        let color = if lab.len() == 3 {
            dicom_lab_to_rgb([lab[0], lab[1], lab[2]])
        } else {
            [1.0, 1.0, 0.0]
        };
        segments.push(SegmentInfo {
            value,
            name: text(&it, tags::SEGMENT_LABEL),
            color,
        });
    }
    let shared = items(&obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let per_frame = items(&obj, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    if per_frame.len() != frames {
        return Err(bad(format!(
            "{} per-frame functional groups for {frames} frames",
            per_frame.len()
        )));
    }
    let group = |f: &InMemDicomObject, seq_tag: Tag, t: Tag| {
        super::dicom_scan::group_floats(f, shared.first(), seq_tag, t)
    };
    let seg_of = |f: &InMemDicomObject| -> Option<i64> {
        items(f, tags::SEGMENT_IDENTIFICATION_SEQUENCE)
            .first()
            .and_then(|i| int(i, tags::REFERENCED_SEGMENT_NUMBER))
            .or_else(|| {
                shared.first().and_then(|s0| {
                    items(s0, tags::SEGMENT_IDENTIFICATION_SEQUENCE)
                        .first()
                        .and_then(|i| int(i, tags::REFERENCED_SEGMENT_NUMBER))
                })
            })
    };
    let mut seg_frames = Vec::with_capacity(frames);
    for (fi, f) in per_frame.iter().enumerate() {
        let iop = group(
            f,
            tags::PLANE_ORIENTATION_SEQUENCE,
            tags::IMAGE_ORIENTATION_PATIENT,
        )
        .filter(|v| v.len() == 6)
        .ok_or_else(|| bad(format!("frame {}: no ImageOrientationPatient", fi + 1)))?;
        let ipp = group(
            f,
            tags::PLANE_POSITION_SEQUENCE,
            tags::IMAGE_POSITION_PATIENT,
        )
        .filter(|v| v.len() == 3)
        .ok_or_else(|| bad(format!("frame {}: no ImagePositionPatient", fi + 1)))?;
        let spacing = group(f, tags::PIXEL_MEASURES_SEQUENCE, tags::PIXEL_SPACING)
            .filter(|v| v.len() == 2 && v.iter().all(|x| *x > 0.0))
            .ok_or_else(|| bad(format!("frame {}: no PixelSpacing", fi + 1)))?;
        let (r, c) = (
            DVec3::new(iop[0], iop[1], iop[2]),
            DVec3::new(iop[3], iop[4], iop[5]),
        );
        if (r.length() - 1.0).abs() > 1e-3
            || (c.length() - 1.0).abs() > 1e-3
            || r.dot(c).abs() > 1e-3
        {
            return Err(bad(format!(
                "frame {}: ImageOrientationPatient {iop:?} is not two orthogonal unit vectors",
                fi + 1
            )));
        }
        let value = if labelmap {
            0
        } else {
            let n = seg_of(f)
                .ok_or_else(|| bad(format!("frame {}: no ReferencedSegmentNumber", fi + 1)))?;
            numbers
                .iter()
                .find(|(num, _)| *num == n)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    bad(format!(
                        "frame {} references segment {n}, not in the Segment Sequence",
                        fi + 1
                    ))
                })?
        };
        seg_frames.push(SegFrame {
            iop: [iop[0], iop[1], iop[2], iop[3], iop[4], iop[5]],
            ipp: [ipp[0], ipp[1], ipp[2]],
            spacing: [spacing[0], spacing[1]],
            value,
        });
    }
    let first = seg_frames.first();
    let spacing_between = shared
        .first()
        .or(per_frame.first())
        .and_then(|f| {
            group(
                f,
                tags::PIXEL_MEASURES_SEQUENCE,
                tags::SPACING_BETWEEN_SLICES,
            )
        })
        .and_then(|v| v.first().copied())
        .filter(|v| *v > 0.0 && first.is_some());
    let thickness = shared
        .first()
        .or(per_frame.first())
        .and_then(|f| group(f, tags::PIXEL_MEASURES_SEQUENCE, tags::SLICE_THICKNESS))
        .and_then(|v| v.first().copied())
        .filter(|v| *v > 0.0);
    let per = rows * cols;
    if !matches!(bits, 1 | 8 | 16) || (bits == 16 && !labelmap) {
        return Err(Error::unsupported(
            path,
            format!("{seg_type} SEG with {bits} bits allocated"),
        ));
    }
    let pixel = obj
        .get(tags::PIXEL_DATA)
        .ok_or_else(|| bad("no Pixel Data".into()))?;
    let pixels = if rle {
        let frags = pixel
            .value()
            .fragments()
            .ok_or_else(|| bad("RLE Lossless transfer syntax but native Pixel Data".into()))?;
        if frags.len() != frames {
            return Err(bad(format!(
                "{} RLE fragments for {frames} frames (RLE Lossless holds one per frame)",
                frags.len()
            )));
        }
        let (bps, len) = match bits {
            1 => (1, per.div_ceil(8)),
            b => (b / 8, per),
        };
        let mut out = Vec::with_capacity(frames);
        for (fi, f) in frags.iter().enumerate() {
            out.push(rle_frame(f, bps, len).map_err(|m| bad(format!("frame {}: {m}", fi + 1)))?);
        }
        SegPixels::Frames(out)
    } else {
        let data = pixel
            .to_bytes()
            .map_err(|_| bad("Pixel Data is not readable bytes".into()))?
            .into_owned();
        let need_bits = per * frames * bits;
        if data.len() * 8 < need_bits {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                expected: need_bits.div_ceil(8) as u64,
                got: data.len() as u64,
            });
        }
        SegPixels::Native(data)
    };
    let max_frac = int(&obj, tags::MAXIMUM_FRACTIONAL_VALUE)
        .unwrap_or(255)
        .max(1) as u32;
    let referenced_series = items(&obj, tags::REFERENCED_SERIES_SEQUENCE)
        .iter()
        .map(|it| {
            (
                text(it, tags::SERIES_INSTANCE_UID),
                items(it, tags::REFERENCED_INSTANCE_SEQUENCE).len(),
            )
        })
        .collect();
    Ok(SegObject {
        path: path.to_path_buf(),
        labelmap,
        seg_type,
        rows,
        cols,
        bits,
        max_frac,
        background,
        segments,
        numbers,
        frames: seg_frames,
        pixels,
        spacing_between,
        thickness,
        study_uid: text(&obj, tags::STUDY_INSTANCE_UID),
        series_uid: text(&obj, tags::SERIES_INSTANCE_UID),
        frame_of_reference_uid: text(&obj, tags::FRAME_OF_REFERENCE_UID),
        referenced_series,
    })
}

/// True when `path` is a DICOM Segmentation (BINARY/FRACTIONAL or Label Map) file.
pub fn is_seg(path: &Path) -> bool {
    if path.is_dir()
        || !matches!(super::sniff(path), Ok(super::Kind::Dicom))
        || super::dicom_guard::check_lengths(path).is_err()
    {
        return false;
    }
    super::open_dicom(path, true, "")
        .ok()
        .and_then(|o| {
            o.get(tags::SOP_CLASS_UID)
                .and_then(|e| e.to_str().ok())
                .map(|v| v.trim().trim_end_matches('\0').to_string())
        })
        .is_some_and(|c| c == SEG_SOP_CLASS || c == LABELMAP_SEG_SOP_CLASS)
}

/// Reads a DICOM SEG onto `grid` (module docs): labels = segment numbers (or voxmark's label
/// values), each frame placed voxel for voxel when its pixels are voxels of the grid, in any
/// axis order; else an error naming the frame and what differs.
pub fn read_dicom_seg(path: &Path, grid: &Grid) -> Result<SegRead> {
    let seg = open_seg(path)?;
    match seg.place_on(grid)? {
        Ok(r) => Ok(r),
        Err((fi, why)) => Err(seg.off_grid_error(fi, &why, grid, true)),
    }
}

#[cfg(test)]
mod rle_tests {
    use super::rle_frame;

    /// One RLE frame: the 64-byte header (segment count, offsets), then the segments.
    fn frame(segments: &[&[u8]]) -> Vec<u8> {
        let mut head = vec![0u8; 64];
        head[..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
        let mut at = 64u32;
        let mut body = Vec::new();
        for (i, s) in segments.iter().enumerate() {
            head[4 + 4 * i..8 + 4 * i].copy_from_slice(&at.to_le_bytes());
            body.extend_from_slice(s);
            at += s.len() as u32;
        }
        head.extend(body);
        head
    }

    #[test]
    fn packbits_literal_replicate_and_no_op_runs_decode_per_ps3_5_annex_g() {
        // 2 literal bytes, -128 (no-op), 4 × 7, then a pad byte past the frame's length.
        let f = frame(&[&[1, 10, 11, 0x80, 0xFD, 7, 0]]);
        assert_eq!(rle_frame(&f, 1, 6), Ok(vec![10, 11, 7, 7, 7, 7]));
        // 16-bit: the first segment holds the high bytes; samples come out little-endian.
        let f = frame(&[&[1, 0x01, 0x00], &[1, 0x02, 0x03]]);
        assert_eq!(rle_frame(&f, 2, 2), Ok(vec![0x02, 0x01, 0x03, 0x00]));
    }

    #[test]
    fn short_or_lying_frames_are_errors_not_panics() {
        assert!(rle_frame(&[0u8; 10], 1, 4).is_err());
        let short = frame(&[&[0, 5]]);
        assert!(rle_frame(&short, 1, 4).is_err_and(|e| e.contains("decodes to 1 bytes")));
        let mut lying = frame(&[&[0, 5]]);
        lying[4..8].copy_from_slice(&9999u32.to_le_bytes());
        assert!(rle_frame(&lying, 1, 1).is_err());
        assert!(
            rle_frame(&frame(&[&[0, 5]]), 2, 1).is_err(),
            "segment count checked"
        );
        // A literal run promising more bytes than the segment has stops at its end.
        assert!(rle_frame(&frame(&[&[100, 1, 2]]), 1, 50).is_err());
    }
}
