//! MetaImage (ITK's MetaIO: `.mha` with the data attached, `.mhd` + a data file): a text
//! header of `Key = Value` lines ending with `ElementDataFile`, then raw or zlib-compressed
//! elements. Read as ITK's `MetaImageIO` does: `TransformMatrix` (alias `Rotation`,
//! `Orientation`) row r is the direction of voxel axis r, `Offset` (alias `Position`,
//! `Origin`) the first voxel's centre, `ElementSpacing` the step, all in ITK's LPS world
//! (`AnatomicalOrientation` is informational, as in ITK); voxmark's world is RAS, so x and y
//! are negated. Data files: `LOCAL`, one file, `LIST` (one file per slice) or a `%d` pattern
//! with min, max, step; `HeaderSize` (−1: the data is the end of the file).

use super::raw::{decode, positive_sizes, read_block, Elem, Packing};
use glam::{DMat4, DVec4};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::grid::RAS_FROM_LPS;
use voxmark_volume::{rescale, Grid, Metadata, Volume};

/// Header lines read at most before `ElementDataFile`.
const MAX_LINES: usize = 10_000;

fn bad(path: &Path, m: impl Into<String>) -> Error {
    Error::format(path, m.into())
}

fn elem_of(path: &Path, t: &str) -> Result<Elem> {
    Ok(match t {
        "MET_CHAR" => Elem::I8,
        "MET_UCHAR" => Elem::U8,
        "MET_SHORT" => Elem::I16,
        "MET_USHORT" => Elem::U16,
        "MET_INT" | "MET_LONG" => Elem::I32,
        "MET_UINT" | "MET_ULONG" => Elem::U32,
        "MET_LONG_LONG" => Elem::I64,
        "MET_ULONG_LONG" => Elem::U64,
        "MET_FLOAT" => Elem::F32,
        "MET_DOUBLE" => Elem::F64,
        other => {
            return Err(Error::unsupported(
                path,
                format!("MetaImage ElementType {other}"),
            ))
        }
    })
}

/// Reads a `.mha` / `.mhd` image.
pub fn read_metaimage(path: &Path) -> Result<Volume> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = BufReader::new(f);
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut offset = 0u64;
    let mut line = Vec::new();
    let mut list_files: Option<Vec<String>> = None;
    let mut n_lines = 0;
    loop {
        line.clear();
        let k = r
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(path, e))?;
        if k == 0 {
            break;
        }
        offset += k as u64;
        n_lines += 1;
        if n_lines > MAX_LINES {
            return Err(bad(
                path,
                "no ElementDataFile in the first 10,000 header lines",
            ));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if let Some(files) = list_files.as_mut() {
            if !text.is_empty() {
                files.push(text.to_string());
            }
            continue;
        }
        if text.is_empty() {
            continue;
        }
        let (key, value) = text.split_once('=').ok_or_else(|| {
            bad(
                path,
                format!("header line \"{text}\" is not \"Key = Value\""),
            )
        })?;
        let (key, value) = (key.trim().to_string(), value.trim().to_string());
        let is_data = key == "ElementDataFile";
        if is_data && value.split_whitespace().next() == Some("LIST") {
            list_files = Some(Vec::new());
        }
        fields.push((key, value));
        if is_data && list_files.is_none() {
            break;
        }
    }
    let get =
        |k: &str| -> Option<&str> { fields.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str()) };
    let need = |k: &str| get(k).ok_or_else(|| bad(path, format!("no {k} in the MetaImage header")));
    if let Some(t) = get("ObjectType") {
        if t != "Image" {
            return Err(Error::unsupported(
                path,
                format!("MetaImage ObjectType {t}"),
            ));
        }
    }
    let ndims: usize = need("NDims")?
        .parse()
        .map_err(|_| bad(path, "NDims is not a number"))?;
    if !(2..=4).contains(&ndims) {
        return Err(Error::unsupported(
            path,
            format!("a {ndims}-dimensional MetaImage"),
        ));
    }
    let floats = |k: &str, n: usize| -> Result<Option<Vec<f64>>> {
        match get(k) {
            None => Ok(None),
            Some(s) => {
                let v: Vec<f64> = s
                    .split_whitespace()
                    .map(|x| x.parse::<f64>())
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| bad(path, format!("{k} holds a non-number")))?;
                if v.len() < n || v.iter().any(|x| !x.is_finite()) {
                    return Err(bad(
                        path,
                        format!("{k} needs {n} finite numbers, got \"{s}\""),
                    ));
                }
                Ok(Some(v))
            }
        }
    };
    let sizes = positive_sizes(path, need("DimSize")?, ndims, "DimSize")?;
    if ndims == 4 && sizes[3] != 1 {
        return Err(Error::unsupported(
            path,
            format!("a 4-D MetaImage with {} volumes", sizes[3]),
        ));
    }
    let channels: usize = get("ElementNumberOfChannels")
        .map(|s| s.parse())
        .transpose()
        .map_err(|_| bad(path, "ElementNumberOfChannels is not a number"))?
        .unwrap_or(1);
    if channels != 1 {
        return Err(Error::unsupported(
            path,
            format!("{channels} channels per voxel; voxmark reads scalar images"),
        ));
    }
    let elem = elem_of(path, need("ElementType")?)?;
    let yes = |k: &str| get(k).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let big_endian = yes("BinaryDataByteOrderMSB") || yes("ElementByteOrderMSB");
    if get("BinaryData").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        return Err(Error::unsupported(
            path,
            "MetaImage ASCII data (BinaryData = False)",
        ));
    }
    let compressed = yes("CompressedData");
    let nd = ndims.min(3);
    let spacing = floats("ElementSpacing", nd)?
        .or(floats("ElementSize", nd)?)
        .unwrap_or_else(|| vec![1.0; nd]);
    let origin = floats("Offset", nd)?
        .or(floats("Position", nd)?)
        .or(floats("Origin", nd)?)
        .unwrap_or_else(|| vec![0.0; nd]);
    let matrix = floats("TransformMatrix", ndims * ndims)?
        .or(floats("Rotation", ndims * ndims)?)
        .or(floats("Orientation", ndims * ndims)?);
    let mut cols = [DVec4::X, DVec4::Y, DVec4::Z];
    for (a, col) in cols.iter_mut().enumerate().take(nd) {
        let dir = match &matrix {
            Some(m) => {
                let mut v = [0.0; 3];
                for (b, x) in v.iter_mut().enumerate().take(nd) {
                    *x = m[a * ndims + b];
                }
                v
            }
            None => {
                let mut v = [0.0; 3];
                v[a] = 1.0;
                v
            }
        };
        *col = DVec4::new(dir[0], dir[1], dir[2], 0.0) * spacing[a];
    }
    let mut o = DVec4::W;
    for (a, v) in origin.iter().enumerate().take(nd) {
        o[a] = *v;
    }
    let affine = RAS_FROM_LPS * DMat4::from_cols(cols[0], cols[1], cols[2], o);
    let dims = [sizes[0], sizes[1], if ndims >= 3 { sizes[2] } else { 1 }];
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(path, "DimSize overflows"))?;
    let header_size: i64 = get("HeaderSize")
        .map(|s| s.parse())
        .transpose()
        .map_err(|_| bad(path, "HeaderSize is not a number"))?
        .unwrap_or(0);
    let data = need("ElementDataFile")?;
    let files: Vec<(PathBuf, u64)> = if data == "LOCAL" {
        vec![(path.to_path_buf(), offset)]
    } else {
        super::raw::data_files(path, "ElementDataFile", data, list_files, false)?
            .into_iter()
            .map(|f| (f, 0))
            .collect()
    };
    if files.is_empty() || n % files.len() != 0 {
        return Err(bad(
            path,
            format!("{n} voxels do not split over {} data files", files.len()),
        ));
    }
    let per = n / files.len();
    let packing = if compressed {
        Packing::Zlib
    } else {
        Packing::Raw
    };
    let skip = if header_size < 0 { -1 } else { header_size };
    let mut bytes = Vec::new();
    for (f, off) in &files {
        bytes.extend(read_block(path, f, *off, skip, packing, elem, per)?);
    }
    let stored = decode(&bytes, elem, big_endian);
    let meta = Metadata {
        format: "metaimage".into(),
        modality: get("Modality")
            .map(|m| m.trim_start_matches("MET_MOD_").to_string())
            .filter(|m| m != "UNKNOWN")
            .unwrap_or_else(|| "unknown".into()),
        stored_dtype: elem.name().into(),
        sform_code: 1,
        qform_code: 1,
        ..Default::default()
    };
    Volume::new(
        Grid::new(dims, affine),
        rescale::apply(stored, 1.0, 0.0),
        meta,
    )
}

/// Whether `head` (a file's first bytes) looks like a MetaImage header.
pub fn looks_like(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let first = text.trim_start();
    [
        "ObjectType",
        "NDims",
        "Comment",
        "ObjectSubType",
        "TransformType",
        "DimSize",
        "ElementType",
    ]
    .iter()
    .any(|k| {
        first
            .strip_prefix(k)
            .is_some_and(|r| r.trim_start().starts_with('='))
    })
}
