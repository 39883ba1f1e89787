//! NRRD (teem's "nearly raw raster data", formats NRRD0001–NRRD0005): the image format of
//! 3D Slicer and one of ITK's. No maintained Rust crate reads or writes it, so this is a small
//! complete implementation of the parts images and segmentations use:
//!
//! * the text header (`field: value`, `key:=value`, `#` comments), attached data after the
//!   blank line or detached (`.nhdr` + `data file: NAME`, `data file: LIST`, or the
//!   `data file: FORMAT MIN MAX STEP` pattern), `line skip`, `byte skip` (−1 for raw);
//! * encodings `raw`, `gzip`, `txt`/`ascii`, `hex` (bzip2 is refused by name), both endians,
//!   every scalar type;
//! * geometry: `space` (every named space; `space dimension` without one), `space
//!   directions` (`none` for non-spatial axes), `space origin`; without a space, `spacings`
//!   and `axis mins`/`axis maxs` with `centers` as ITK's reader uses them.
//!
//! World coordinates follow ITK's `NrrdImageIO`: right-anterior-superior and
//! left-posterior-superior are converted exactly; left-anterior-superior too (ITK flips the
//! wrong axis for it — x instead of y — voxmark does the conversion the name says); scanner-xyz
//! and 3D-right/left-handed spaces are taken as LPS, as ITK does, with a warning. voxmark's
//! world is RAS, so an LPS file's x and y are negated.
//!
//! [`write_nrrd`] writes what Slicer writes: `space: left-posterior-superior`, `space
//! directions`, `space origin`, `kinds`, gzip or raw, attached (`.nrrd`) or detached
//! (`.nhdr` + `.raw[.gz]`), with key/value pairs; atomically.

use super::raw::{decode, positive_sizes, read_block, Elem, Packing};
use glam::{DMat4, DVec4};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::grid::RAS_FROM_LPS;
use voxmark_volume::{rescale, Grid, Metadata, Volume};

/// The most header text read before the blank line (Slicer's seg.nrrd with hundreds of
/// segments stays far below).
const MAX_HEADER: usize = 16 << 20;

/// The named spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    Ras,
    Las,
    Lps,
    /// scanner-xyz, 3D-right-handed, 3D-left-handed: not anatomical (taken as LPS, as ITK).
    Other,
}

/// How the data is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Raw,
    Gzip,
    Text,
    Hex,
}

/// A parsed NRRD header.
#[derive(Debug, Clone)]
pub struct NrrdHeader {
    pub path: PathBuf,
    pub elem: Elem,
    pub sizes: Vec<usize>,
    pub encoding: Encoding,
    pub big_endian: bool,
    pub space: Option<Space>,
    /// The space's name as written (for messages and warnings).
    pub space_name: String,
    pub space_dim: usize,
    /// Per axis: its direction in the space, or None (`none`: not a spatial axis).
    pub directions: Vec<Option<Vec<f64>>>,
    pub origin: Option<Vec<f64>>,
    pub spacings: Vec<f64>,
    pub axis_mins: Vec<f64>,
    pub axis_maxs: Vec<f64>,
    /// `cell`, `node` or `???` per axis (empty when not given).
    pub centers: Vec<String>,
    pub kinds: Vec<String>,
    /// `key:=value` pairs, in file order.
    pub keys: Vec<(String, String)>,
    pub content: String,
    pub line_skip: usize,
    pub byte_skip: i64,
    /// Data files (empty: attached after the header at `data_offset`).
    pub data_files: Vec<PathBuf>,
    pub data_offset: u64,
}

fn bad(path: &Path, m: impl Into<String>) -> Error {
    Error::format(path, m.into())
}

fn elem_of(path: &Path, t: &str) -> Result<Elem> {
    Ok(match t {
        "signed char" | "int8" | "int8_t" => Elem::I8,
        "uchar" | "unsigned char" | "uint8" | "uint8_t" => Elem::U8,
        "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => {
            Elem::I16
        }
        "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => Elem::U16,
        "int" | "signed int" | "int32" | "int32_t" => Elem::I32,
        "uint" | "unsigned int" | "uint32" | "uint32_t" => Elem::U32,
        "longlong"
        | "long long"
        | "long long int"
        | "signed long long"
        | "signed long long int"
        | "int64"
        | "int64_t" => Elem::I64,
        "ulonglong" | "unsigned long long" | "unsigned long long int" | "uint64" | "uint64_t" => {
            Elem::U64
        }
        "float" => Elem::F32,
        "double" => Elem::F64,
        "block" => return Err(Error::unsupported(path, "NRRD type \"block\"")),
        other => return Err(bad(path, format!("unknown NRRD type \"{other}\""))),
    })
}

/// The NRRD type name written for an element type.
fn type_name(e: Elem) -> &'static str {
    match e {
        Elem::F32 => "float",
        Elem::F64 => "double",
        other => other.name(),
    }
}

/// Parses `(x,y,z)`.
fn vector(path: &Path, s: &str, what: &str) -> Result<Vec<f64>> {
    let t = s.trim();
    let inner = t
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(|| bad(path, format!("{what}: \"{t}\" is not a vector (x,y,z)")))?;
    inner
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<f64>()
                .map_err(|_| bad(path, format!("{what}: \"{t}\" holds a non-number")))
        })
        .collect()
}

/// Splits space directions into per-axis vectors or `none`.
fn directions(path: &Path, s: &str) -> Result<Vec<Option<Vec<f64>>>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("none") {
            out.push(None);
            rest = r.trim_start();
        } else if rest.starts_with('(') {
            let end = rest
                .find(')')
                .ok_or_else(|| bad(path, "space directions: unclosed \"(\""))?;
            out.push(Some(vector(path, &rest[..=end], "space directions")?));
            rest = rest[end + 1..].trim_start();
        } else {
            return Err(bad(
                path,
                format!("space directions: cannot read \"{rest}\""),
            ));
        }
    }
    Ok(out)
}

fn numbers(path: &Path, s: &str, what: &str) -> Result<Vec<f64>> {
    s.split_whitespace()
        .map(|v| {
            if v.eq_ignore_ascii_case("nan") {
                Ok(f64::NAN)
            } else {
                v.parse::<f64>()
                    .map_err(|_| bad(path, format!("{what}: \"{v}\" is not a number")))
            }
        })
        .collect()
}

/// Reads the header text of `path` (up to and without the blank line) and the offset of the
/// attached data.
fn header_text(path: &Path) -> Result<(String, u64)> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let k = f.read(&mut chunk).map_err(|e| Error::io(path, e))?;
        let scan_from = buf.len().saturating_sub(2);
        buf.extend_from_slice(&chunk[..k]);
        // The header ends at the first empty line ("\n\n" or "\n\r\n").
        let mut i = scan_from;
        while i + 1 < buf.len() {
            if buf[i] == b'\n' {
                let end = if buf[i + 1] == b'\n' {
                    Some(i + 2)
                } else if buf[i + 1] == b'\r' && buf.get(i + 2) == Some(&b'\n') {
                    Some(i + 3)
                } else {
                    None
                };
                if let Some(e) = end {
                    let text = String::from_utf8_lossy(&buf[..i]).into_owned();
                    return Ok((text, e as u64));
                }
            }
            i += 1;
        }
        if k == 0 {
            // A detached header may end without a blank line.
            return Ok((String::from_utf8_lossy(&buf).into_owned(), buf.len() as u64));
        }
        if buf.len() > MAX_HEADER {
            return Err(bad(path, "no end of the NRRD header in the first 16 MiB"));
        }
    }
}

/// Parses the header of a `.nrrd` or `.nhdr` file.
pub fn read_header(path: &Path) -> Result<NrrdHeader> {
    let (text, data_offset) = header_text(path)?;
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let magic = lines.next().unwrap_or_default();
    let version = magic
        .strip_prefix("NRRD")
        .and_then(|v| v.parse::<u32>().ok())
        .ok_or_else(|| bad(path, "not a NRRD file (no NRRD000N magic line)"))?;
    if !(1..=5).contains(&version) {
        return Err(Error::unsupported(
            path,
            format!("NRRD format version {version}"),
        ));
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut keys = Vec::new();
    let mut list_files: Option<Vec<String>> = None;
    for line in lines {
        if let Some(files) = list_files.as_mut() {
            if !line.trim().is_empty() {
                files.push(line.trim().to_string());
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some((k, v)) = line.split_once(":=") {
            if !k.contains(": ") {
                keys.push((unescape(k), unescape(v)));
                continue;
            }
        }
        let (f, v) = line
            .split_once(": ")
            .or_else(|| line.split_once(':'))
            .ok_or_else(|| {
                bad(
                    path,
                    format!("header line \"{line}\" is not \"field: value\""),
                )
            })?;
        let f = f.trim().to_lowercase();
        let v = v.trim().to_string();
        if (f == "data file" || f == "datafile") && v.split_whitespace().next() == Some("LIST") {
            list_files = Some(Vec::new());
        }
        fields.push((f, v));
    }
    let get = |name: &str| -> Option<&str> {
        fields
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, v)| v.as_str())
    };
    let need = |name: &str| get(name).ok_or_else(|| bad(path, format!("no \"{name}\" field")));
    let elem = elem_of(path, need("type")?)?;
    let dim: usize = need("dimension")?
        .parse()
        .map_err(|_| bad(path, "dimension is not a number"))?;
    if !(1..=16).contains(&dim) {
        return Err(bad(path, format!("dimension {dim} is outside 1..=16")));
    }
    let sizes = positive_sizes(path, need("sizes")?, dim, "sizes")?;
    let encoding = match need("encoding")? {
        "raw" => Encoding::Raw,
        "gz" | "gzip" => Encoding::Gzip,
        "txt" | "text" | "ascii" => Encoding::Text,
        "hex" => Encoding::Hex,
        "bz2" | "bzip2" => {
            return Err(Error::unsupported(
                path,
                "NRRD bzip2 encoding (re-save as gzip or raw)",
            ))
        }
        other => return Err(bad(path, format!("unknown NRRD encoding \"{other}\""))),
    };
    let big_endian = match get("endian") {
        Some("big") => true,
        Some("little") | None => false,
        Some(o) => {
            return Err(bad(
                path,
                format!("endian \"{o}\" is neither little nor big"),
            ))
        }
    };
    if get("endian").is_none()
        && elem.size() > 1
        && matches!(encoding, Encoding::Raw | Encoding::Gzip)
    {
        return Err(bad(path, "no \"endian\" field for multi-byte raw data"));
    }
    let (space, space_name, mut space_dim) = match get("space") {
        Some(s) => {
            let (sp, n) = match s {
                "right-anterior-superior" | "RAS" => (Space::Ras, 3),
                "left-anterior-superior" | "LAS" => (Space::Las, 3),
                "left-posterior-superior" | "LPS" => (Space::Lps, 3),
                "right-anterior-superior-time" | "RAST" => (Space::Ras, 4),
                "left-anterior-superior-time" | "LAST" => (Space::Las, 4),
                "left-posterior-superior-time" | "LPST" => (Space::Lps, 4),
                "scanner-xyz" | "3D-right-handed" | "3D-left-handed" => (Space::Other, 3),
                "scanner-xyz-time" | "3D-right-handed-time" | "3D-left-handed-time" => {
                    (Space::Other, 4)
                }
                other => return Err(bad(path, format!("unknown NRRD space \"{other}\""))),
            };
            (Some(sp), s.to_string(), n)
        }
        None => (None, String::new(), 0),
    };
    if let Some(sd) = get("space dimension") {
        let n: usize = sd
            .parse()
            .map_err(|_| bad(path, "space dimension is not a number"))?;
        if space.is_some() && n != space_dim {
            return Err(bad(
                path,
                "both \"space\" and \"space dimension\" are given",
            ));
        }
        space_dim = n;
    }
    let space = match (space, space_dim) {
        (None, n) if n > 0 => Some(Space::Other),
        (s, _) => s,
    };
    let directions = match get("space directions") {
        Some(s) => {
            let d = directions(path, s)?;
            if d.len() != dim || d.iter().flatten().any(|v| v.len() != space_dim) {
                return Err(bad(
                    path,
                    format!(
                        "space directions give {} axes of a {space_dim}-dimensional space for \
                         a {dim}-dimensional array",
                        d.len()
                    ),
                ));
            }
            d
        }
        None => vec![None; dim],
    };
    let origin = match get("space origin") {
        Some(s) => {
            let o = vector(path, s, "space origin")?;
            if o.len() != space_dim {
                return Err(bad(path, "space origin does not match the space dimension"));
            }
            Some(o)
        }
        None => None,
    };
    let per_axis = |name: &str, alt: &str| -> Result<Vec<f64>> {
        match get(name).or_else(|| get(alt)) {
            Some(s) => {
                let v = numbers(path, s, name)?;
                if v.len() != dim {
                    return Err(bad(
                        path,
                        format!("{name}: {} values for {dim} axes", v.len()),
                    ));
                }
                Ok(v)
            }
            None => Ok(vec![f64::NAN; dim]),
        }
    };
    let spacings = per_axis("spacings", "spacings")?;
    let axis_mins = per_axis("axis mins", "axismins")?;
    let axis_maxs = per_axis("axis maxs", "axismaxs")?;
    let words = |name: &str, alt: &str| -> Vec<String> {
        get(name)
            .or_else(|| get(alt))
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    let centers = words("centers", "centerings");
    let kinds = words("kinds", "kinds");
    let line_skip = get("line skip")
        .or_else(|| get("lineskip"))
        .map(|s| s.parse::<usize>())
        .transpose()
        .map_err(|_| bad(path, "line skip is not a whole number"))?
        .unwrap_or(0);
    let byte_skip = get("byte skip")
        .or_else(|| get("byteskip"))
        .map(|s| s.parse::<i64>())
        .transpose()
        .map_err(|_| bad(path, "byte skip is not a number"))?
        .unwrap_or(0);
    if byte_skip < -1 {
        return Err(bad(path, format!("byte skip {byte_skip} is below -1")));
    }
    let data_files = match get("data file").or_else(|| get("datafile")) {
        None => Vec::new(),
        Some(v) => super::raw::data_files(path, "data file", v, list_files, true)?,
    };
    Ok(NrrdHeader {
        path: path.to_path_buf(),
        elem,
        sizes,
        encoding,
        big_endian,
        space,
        space_name,
        space_dim,
        directions,
        origin,
        spacings,
        axis_mins,
        axis_maxs,
        centers,
        kinds,
        keys,
        content: get("content").unwrap_or_default().to_string(),
        line_skip,
        byte_skip,
        data_files,
        data_offset,
    })
}

/// NRRD key/value escapes (`\n`, `\\`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

impl NrrdHeader {
    /// Number of elements.
    pub fn count(&self) -> Result<usize> {
        self.sizes
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| bad(&self.path, "sizes overflow"))
    }

    /// The value of key `k`.
    pub fn key(&self, k: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }

    /// The data as little-endian-or-native bytes of `elem` (decode with `big_endian`).
    pub fn read_data(&self) -> Result<Vec<u8>> {
        let n = self.count()?;
        let files: Vec<(PathBuf, u64)> = if self.data_files.is_empty() {
            vec![(self.path.clone(), self.data_offset)]
        } else {
            self.data_files.iter().map(|p| (p.clone(), 0)).collect()
        };
        if n % files.len() != 0 {
            return Err(bad(
                &self.path,
                format!(
                    "{n} values do not split evenly over {} data files",
                    files.len()
                ),
            ));
        }
        let per = n / files.len();
        let mut out = Vec::new();
        for (f, offset) in &files {
            let offset = offset + self.skip_lines(f, *offset)?;
            match self.encoding {
                Encoding::Raw | Encoding::Gzip => {
                    let packing = if self.encoding == Encoding::Raw {
                        Packing::Raw
                    } else {
                        Packing::Gzip
                    };
                    out.extend(read_block(
                        &self.path,
                        f,
                        offset,
                        self.byte_skip,
                        packing,
                        self.elem,
                        per,
                    )?);
                }
                Encoding::Text | Encoding::Hex => {
                    out.extend(self.read_text(f, offset, per)?);
                }
            }
        }
        Ok(out)
    }

    /// Bytes taken by the first `line_skip` lines of `f` from `offset`.
    fn skip_lines(&self, f: &Path, offset: u64) -> Result<u64> {
        if self.line_skip == 0 {
            return Ok(0);
        }
        use std::io::{BufRead, Seek, SeekFrom};
        let mut r = std::io::BufReader::new(std::fs::File::open(f).map_err(|e| Error::io(f, e))?);
        r.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(f, e))?;
        let mut skipped = 0u64;
        let mut line = Vec::new();
        for _ in 0..self.line_skip {
            line.clear();
            let k = r
                .read_until(b'\n', &mut line)
                .map_err(|e| Error::io(f, e))?;
            if k == 0 {
                return Err(bad(
                    &self.path,
                    format!("line skip {} passes the end of the data", self.line_skip),
                ));
            }
            skipped += k as u64;
        }
        Ok(skipped)
    }

    /// Text (`ascii`) or `hex` data: `n` values as native-endian bytes of `elem`.
    fn read_text(&self, f: &Path, offset: u64, n: usize) -> Result<Vec<u8>> {
        let all = std::fs::read(f).map_err(|e| Error::io(f, e))?;
        let start = usize::try_from(offset)
            .ok()
            .filter(|&s| s <= all.len())
            .ok_or_else(|| bad(&self.path, "data offset past the end of the file"))?;
        let body = &all[start..];
        let skip = usize::try_from(self.byte_skip.max(0)).unwrap_or(usize::MAX);
        let body = body.get(skip..).unwrap_or_default();
        let size = self.elem.size();
        if self.encoding == Encoding::Hex {
            let digits: Vec<u8> = body
                .iter()
                .filter(|c| !c.is_ascii_whitespace())
                .map(|&c| (c as char).to_digit(16).map(|d| d as u8))
                .collect::<Option<_>>()
                .ok_or_else(|| bad(&self.path, "hex data holds a non-hex character"))?;
            if digits.len() < 2 * n * size {
                return Err(Error::Truncated {
                    path: f.to_path_buf(),
                    expected: (n * size) as u64,
                    got: (digits.len() / 2) as u64,
                });
            }
            let mut bytes: Vec<u8> = digits[..2 * n * size]
                .chunks_exact(2)
                .map(|p| p[0] << 4 | p[1])
                .collect();
            if self.big_endian && size > 1 {
                for c in bytes.chunks_exact_mut(size) {
                    c.reverse();
                }
            }
            return Ok(bytes);
        }
        let text = String::from_utf8_lossy(body);
        let mut out = Vec::with_capacity((n * size).min(body.len() * size));
        let mut got = 0;
        for tok in text.split(|c: char| c.is_whitespace() || c == ',') {
            if tok.is_empty() {
                continue;
            }
            if got == n {
                break;
            }
            let v: f64 = tok
                .parse()
                .map_err(|_| bad(&self.path, format!("text data: \"{tok}\" is not a number")))?;
            let mut le = |b: &[u8]| out.extend_from_slice(b);
            match self.elem {
                Elem::I8 => le(&(v as i8).to_le_bytes()),
                Elem::U8 => le(&(v as u8).to_le_bytes()),
                Elem::I16 => le(&(v as i16).to_le_bytes()),
                Elem::U16 => le(&(v as u16).to_le_bytes()),
                Elem::I32 => le(&(v as i32).to_le_bytes()),
                Elem::U32 => le(&(v as u32).to_le_bytes()),
                Elem::I64 => le(&(tok.parse::<i64>().unwrap_or(v as i64)).to_le_bytes()),
                Elem::U64 => le(&(tok.parse::<u64>().unwrap_or(v as u64)).to_le_bytes()),
                Elem::F32 => le(&(v as f32).to_le_bytes()),
                Elem::F64 => le(&v.to_le_bytes()),
            }
            got += 1;
        }
        if got < n {
            return Err(Error::Truncated {
                path: f.to_path_buf(),
                expected: n as u64,
                got: got as u64,
            });
        }
        Ok(out)
    }

    /// Whether the bytes [`Self::read_data`] returns are big-endian (raw and gzip data as
    /// stored; text and hex data come back little-endian).
    pub fn bytes_big_endian(&self) -> bool {
        self.big_endian && matches!(self.encoding, Encoding::Raw | Encoding::Gzip)
    }

    /// The spatial axes (with a space direction; without a space, every axis whose kind is
    /// not a list/vector-like one).
    pub fn domain_axes(&self) -> Vec<usize> {
        (0..self.sizes.len())
            .filter(|&a| {
                if self.space.is_some() {
                    self.directions[a].is_some()
                } else {
                    matches!(
                        self.kinds.get(a).map(String::as_str),
                        None | Some("domain") | Some("space") | Some("time") | Some("???")
                    )
                }
            })
            .collect()
    }

    /// Voxel to world (RAS) of the domain `axes` (at most 3; missing ones get unit steps
    /// along the remaining world axes), as ITK reads it (module docs); and warnings.
    pub fn world_from_voxel(&self, axes: &[usize]) -> Result<(DMat4, Vec<String>)> {
        let mut warnings = Vec::new();
        let mut cols = [DVec4::X, DVec4::Y, DVec4::Z];
        let mut origin = DVec4::W;
        if let Some(space) = self.space {
            if self.space_dim != 3 {
                return Err(Error::unsupported(
                    &self.path,
                    format!(
                        "a {}-dimensional NRRD space ({}); voxmark reads 3D spaces",
                        self.space_dim, self.space_name
                    ),
                ));
            }
            for (c, &a) in cols.iter_mut().zip(axes) {
                let d = self.directions[a].as_deref().unwrap_or(&[0.0, 0.0, 0.0]);
                if d.iter().any(|x| !x.is_finite()) {
                    return Err(bad(
                        &self.path,
                        format!("space direction of axis {a} is not finite"),
                    ));
                }
                *c = DVec4::new(d[0], d[1], d[2], 0.0);
            }
            if let Some(o) = &self.origin {
                if o.iter().any(|x| !x.is_finite()) {
                    return Err(bad(&self.path, "space origin is not finite"));
                }
                origin = DVec4::new(o[0], o[1], o[2], 1.0);
            }
            let m = DMat4::from_cols(cols[0], cols[1], cols[2], origin);
            let to_ras = match space {
                Space::Ras => DMat4::IDENTITY,
                Space::Las => DMat4::from_diagonal(DVec4::new(-1.0, 1.0, 1.0, 1.0)),
                Space::Lps => RAS_FROM_LPS,
                Space::Other => {
                    warnings.push(format!(
                        "{}: NRRD space \"{}\" is not anatomical; taken as left-posterior-superior (as ITK does)",
                        self.path.display(),
                        if self.space_name.is_empty() { "space dimension 3" } else { &self.space_name }
                    ));
                    RAS_FROM_LPS
                }
            };
            return Ok((to_ras * m, warnings));
        }
        // No space: per-axis spacings and mins in ITK's (LPS) physical space.
        for (i, &a) in axes.iter().enumerate() {
            let cell = self.centers.get(a).map(String::as_str) != Some("node");
            let n = self.sizes[a] as f64;
            let (min, max, sp) = (self.axis_mins[a], self.axis_maxs[a], self.spacings[a]);
            let spacing = if sp.is_finite() { sp } else { 1.0 };
            cols[i] *= spacing;
            if min.is_finite() {
                let o = if max.is_finite() {
                    min + if cell { (max - min) / (2.0 * n) } else { 0.0 }
                } else if sp.is_finite() {
                    min + if cell { sp / 2.0 } else { 0.0 }
                } else {
                    0.0
                };
                origin[i] = o;
            }
        }
        let m = DMat4::from_cols(cols[0], cols[1], cols[2], origin);
        Ok((RAS_FROM_LPS * m, warnings))
    }
}

/// Reads a NRRD image (`.nrrd`, or `.nhdr` + data) as a volume: three spatial axes (a fourth
/// axis of size 1 is dropped); geometry as ITK reads it, in voxmark's RAS world.
pub fn read_nrrd(path: &Path) -> Result<Volume> {
    volume_from_header(&read_header(path)?)
}

/// The image a parsed NRRD header describes (its data read now).
pub fn volume_from_header(h: &NrrdHeader) -> Result<Volume> {
    let path = h.path.as_path();
    let axes = h.domain_axes();
    for (a, &s) in h.sizes.iter().enumerate() {
        if !axes.contains(&a) && s != 1 {
            return Err(Error::unsupported(
                path,
                format!(
                    "NRRD axis {a} ({}, {s} values) is not spatial: voxmark reads scalar volumes \
                     (a segmentation with layers is read as a label map: open it with --labels)",
                    h.kinds.get(a).map(String::as_str).unwrap_or("no kind")
                ),
            ));
        }
    }
    let spatial: Vec<usize> = axes.iter().copied().filter(|&a| h.sizes[a] >= 1).collect();
    if spatial.len() > 3 {
        return Err(Error::unsupported(
            path,
            format!(
                "{} spatial NRRD axes; voxmark reads 3D volumes",
                spatial.len()
            ),
        ));
    }
    if spatial.windows(2).any(|w| w[1] < w[0]) {
        return Err(bad(path, "spatial axes out of order"));
    }
    let mut dims = [1usize; 3];
    for (d, &a) in dims.iter_mut().zip(&spatial) {
        *d = h.sizes[a];
    }
    let (affine, warnings) = h.world_from_voxel(&spatial)?;
    let bytes = h.read_data()?;
    let stored = decode(&bytes, h.elem, h.bytes_big_endian());
    let data = rescale::apply(stored, 1.0, 0.0);
    let meta = Metadata {
        format: "nrrd".into(),
        modality: "unknown".into(),
        description: h.content.clone(),
        stored_dtype: h.elem.name().into(),
        sform_code: 1,
        qform_code: 1,
        warnings,
        ..Default::default()
    };
    Volume::new(Grid::new(dims, affine), data, meta)
}

/// What [`write_nrrd`] writes besides the voxels.
#[derive(Debug, Clone, Default)]
pub struct NrrdWrite {
    /// gzip (Slicer's default) or raw.
    pub gzip: bool,
    /// `key:=value` pairs.
    pub keys: Vec<(String, String)>,
    /// Leading axes before the three spatial ones (e.g. Slicer's segment layers): (size,
    /// kind) each, written with a `none` space direction.
    pub leading: Vec<(usize, String)>,
}

/// Writes `bytes` (little-endian elements of `elem`, i fastest, leading axes fastest of all)
/// on `grid` as NRRD in Slicer's layout: attached for `.nrrd`, detached data
/// (`NAME.raw` or `NAME.raw.gz`) for `.nhdr`. Atomic (temp + fsync + rename + directory fsync).
pub fn write_nrrd(
    path: &Path,
    grid: &Grid,
    elem: Elem,
    bytes: &[u8],
    opts: &NrrdWrite,
) -> Result<()> {
    let lps = RAS_FROM_LPS * grid.world_from_voxel;
    let fmt = |v: glam::DVec4| format!("({},{},{})", v.x, v.y, v.z);
    let mut sizes: Vec<String> = opts.leading.iter().map(|(s, _)| s.to_string()).collect();
    sizes.extend(grid.dims.iter().map(usize::to_string));
    let mut dirs: Vec<String> = opts.leading.iter().map(|_| "none".to_string()).collect();
    dirs.extend([fmt(lps.x_axis), fmt(lps.y_axis), fmt(lps.z_axis)]);
    let mut kinds: Vec<String> = opts.leading.iter().map(|(_, k)| k.clone()).collect();
    kinds.extend(["domain", "domain", "domain"].map(String::from));
    let mut h = String::from("NRRD0004\n# Complete NRRD file format specification at:\n# http://teem.sourceforge.net/nrrd/format.html\n");
    h += &format!("type: {}\n", type_name(elem));
    h += &format!("dimension: {}\n", sizes.len());
    h += "space: left-posterior-superior\n";
    h += &format!("sizes: {}\n", sizes.join(" "));
    h += &format!("space directions: {}\n", dirs.join(" "));
    h += &format!("kinds: {}\n", kinds.join(" "));
    if elem.size() > 1 {
        h += "endian: little\n";
    }
    h += &format!("encoding: {}\n", if opts.gzip { "gzip" } else { "raw" });
    h += &format!("space origin: {}\n", fmt(lps.w_axis));
    let detached = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("nhdr"));
    let data_name = detached.then(|| {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into());
        format!("{stem}.raw{}", if opts.gzip { ".gz" } else { "" })
    });
    if let Some(d) = &data_name {
        h += &format!("data file: {d}\n");
    }
    for (k, v) in &opts.keys {
        h += &format!("{}:={}\n", escape(k), escape(v));
    }
    let payload = if opts.gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        enc.write_all(bytes)
            .and_then(|_| enc.finish())
            .map_err(|e| Error::io(path, e))?
    } else {
        bytes.to_vec()
    };
    match data_name {
        Some(d) => {
            let dp = path.with_file_name(d);
            voxmark_volume::fs::atomic::write_atomically(&dp, |f| f.write_all(&payload))?;
            voxmark_volume::fs::atomic::write_atomically(path, |f| f.write_all(h.as_bytes()))
        }
        None => voxmark_volume::fs::atomic::write_atomically(path, |f| {
            f.write_all(h.as_bytes())?;
            f.write_all(b"\n")?;
            f.write_all(&payload)
        }),
    }
}

/// Writes an image volume as NRRD (its own storage type).
pub fn write_nrrd_volume(path: &Path, vol: &Volume, gzip: bool) -> Result<()> {
    let bytes = super::raw::encode_le(&vol.data);
    write_nrrd(
        path,
        &vol.grid,
        Elem::of(vol.dtype()),
        &bytes,
        &NrrdWrite {
            gzip,
            ..Default::default()
        },
    )
}
