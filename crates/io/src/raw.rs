//! Raw voxel blocks as the text-header formats (NRRD, MetaImage) store them: an element type,
//! a byte order, and an optional deflate stream. Shared by `io::nrrd` and `io::metaimage`:
//! reading a data block with the allocation-bomb guard, and decoding it into the stored
//! values `volume::rescale` turns into voxmark's storage.

use std::io::Read;
use std::path::{Path, PathBuf};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::rescale::Stored;
use voxmark_volume::{DType, VoxelData};

/// At most this many bytes come out of one compressed byte (deflate's own limit is 1032).
pub const MAX_DEFLATE_RATIO: u64 = 1032;

/// An element type of a raw block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Elem {
    pub fn size(self) -> usize {
        match self {
            Elem::I8 | Elem::U8 => 1,
            Elem::I16 | Elem::U16 => 2,
            Elem::I32 | Elem::U32 | Elem::F32 => 4,
            Elem::I64 | Elem::U64 | Elem::F64 => 8,
        }
    }

    /// The element type voxmark stores natively as itself (the others are widened and
    /// narrowed by `volume::rescale`).
    pub fn of(d: DType) -> Self {
        match d {
            DType::U8 => Elem::U8,
            DType::I8 => Elem::I8,
            DType::U16 => Elem::U16,
            DType::I16 => Elem::I16,
            DType::I32 => Elem::I32,
            DType::F32 => Elem::F32,
        }
    }

    /// The name for `Metadata::stored_dtype`.
    pub fn name(self) -> &'static str {
        match self {
            Elem::I8 => "int8",
            Elem::U8 => "uint8",
            Elem::I16 => "int16",
            Elem::U16 => "uint16",
            Elem::I32 => "int32",
            Elem::U32 => "uint32",
            Elem::I64 => "int64",
            Elem::U64 => "uint64",
            Elem::F32 => "float32",
            Elem::F64 => "float64",
        }
    }
}

/// `n` positive whole numbers from a header field's `text` (`what` names the field).
pub fn positive_sizes(path: &Path, text: &str, n: usize, what: &str) -> Result<Vec<usize>> {
    let sizes: Vec<usize> = text
        .split_whitespace()
        .map(|s| s.parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::format(path, format!("{what} \"{text}\" are not whole numbers")))?;
    if sizes.len() != n || sizes.contains(&0) {
        return Err(Error::format(
            path,
            format!("{what} {sizes:?} do not give {n} positive sizes"),
        ));
    }
    Ok(sizes)
}

/// The data files a detached header names in `value` (its field `what`), resolved beside
/// `header`: `LIST` (the names listed after the header: `list`), a `printf` pattern with
/// `MIN MAX STEP` (`%d`, `%Nd`, `%0Nd`; a negative step only when `descending` is allowed —
/// NRRD allows it, MetaImage does not), or one file name.
pub fn data_files(
    header: &Path,
    what: &str,
    value: &str,
    list: Option<Vec<String>>,
    descending: bool,
) -> Result<Vec<PathBuf>> {
    let dir = header.parent().unwrap_or(Path::new("."));
    let resolve = |name: &str| -> PathBuf {
        let p = Path::new(name);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        }
    };
    let parts: Vec<&str> = value.split_whitespace().collect();
    if parts.first() == Some(&"LIST") {
        return Ok(list
            .unwrap_or_default()
            .iter()
            .map(|f| resolve(f))
            .collect());
    }
    if parts.len() < 4 || !parts[0].contains('%') {
        return Ok(vec![resolve(value)]);
    }
    let num = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| Error::format(header, format!("{what}: \"{s}\" is not an integer")))
    };
    let (lo, hi, step) = (num(parts[1])?, num(parts[2])?, num(parts[3])?);
    let bad_range = step == 0 || (step > 0 && hi < lo) || (step < 0 && (!descending || hi > lo));
    if bad_range || (hi - lo) / step > 1_000_000 {
        return Err(Error::format(
            header,
            format!("{what}: bad range {lo} {hi} {step}"),
        ));
    }
    (0..=(hi - lo) / step)
        .map(|i| Ok(resolve(&printf_int(header, parts[0], lo + i * step)?)))
        .collect()
}

/// One `%d` / `%0Nd` / `%Nd` of a data file pattern, filled with `i`.
fn printf_int(path: &Path, fmt: &str, i: i64) -> Result<String> {
    let bad = |m: String| Error::format(path, m);
    let at = fmt
        .find('%')
        .ok_or_else(|| bad("data file pattern without %".into()))?;
    let rest = &fmt[at + 1..];
    let end = rest
        .find('d')
        .ok_or_else(|| bad(format!("data file pattern \"{fmt}\" is not %d")))?;
    let spec = &rest[..end];
    let zero = spec.starts_with('0');
    let width: usize = if spec.is_empty() {
        0
    } else {
        spec.parse()
            .map_err(|_| bad(format!("data file pattern \"{fmt}\" is not %d")))?
    };
    let num = if zero {
        format!("{i:0width$}")
    } else {
        format!("{i:width$}")
    };
    Ok(format!("{}{}{}", &fmt[..at], num, &rest[end + 1..]))
}

/// How a block's bytes are packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    Raw,
    /// gzip (NRRD `gzip`; concatenated members allowed).
    Gzip,
    /// zlib (MetaImage `CompressedData = True`).
    Zlib,
}

/// Reads `n` elements of `elem` from `data_path` after skipping `skip` bytes (of the stored
/// file for raw blocks, of the inflated stream for compressed ones — NRRD's `byte skip`); a
/// negative `skip` (NRRD `byte skip: -1`) takes the last `n × size` bytes of a raw file.
/// Refuses, naming `header_path`, blocks that cannot hold the data before allocating it.
pub fn read_block(
    header_path: &Path,
    data_path: &Path,
    file_offset: u64,
    skip: i64,
    packing: Packing,
    elem: Elem,
    n: usize,
) -> Result<Vec<u8>> {
    let want = (n as u64)
        .checked_mul(elem.size() as u64)
        .ok_or_else(|| Error::format(header_path, "voxel count overflows"))?;
    // After the file checks (a file that cannot hold the voxels is the sharper message).
    let fits = || super::memory::check_fits(header_path, n as u64, elem.size() as u64);
    let mut f = std::fs::File::open(data_path).map_err(|e| Error::io(data_path, e))?;
    let len = f.metadata().map_err(|e| Error::io(data_path, e))?.len();
    let avail = len.saturating_sub(file_offset);
    use std::io::{Seek, SeekFrom};
    if packing == Packing::Raw {
        let start = if skip < 0 {
            if avail < want {
                return Err(Error::Truncated {
                    path: data_path.to_path_buf(),
                    expected: want,
                    got: avail,
                });
            }
            len - want
        } else {
            file_offset + skip as u64
        };
        if len.saturating_sub(start) < want {
            return Err(Error::Truncated {
                path: data_path.to_path_buf(),
                expected: want,
                got: len.saturating_sub(start),
            });
        }
        f.seek(SeekFrom::Start(start))
            .map_err(|e| Error::io(data_path, e))?;
        fits()?;
        let mut out = vec![0u8; want as usize];
        f.read_exact(&mut out)
            .map_err(|e| Error::io(data_path, e))?;
        return Ok(out);
    }
    if skip < 0 {
        return Err(Error::format(
            header_path,
            "byte skip -1 is only defined for raw data",
        ));
    }
    let limit = avail.saturating_mul(MAX_DEFLATE_RATIO);
    if want.saturating_add(skip as u64) > limit {
        return Err(Error::format(
            header_path,
            format!(
                "the header promises {want} bytes of voxel data but {} compressed bytes cannot \
                 hold more than {limit}",
                avail
            ),
        ));
    }
    f.seek(SeekFrom::Start(file_offset))
        .map_err(|e| Error::io(data_path, e))?;
    let src = std::io::BufReader::with_capacity(1 << 20, f);
    let mut dec: Box<dyn Read> = match packing {
        Packing::Gzip => Box::new(flate2::read::MultiGzDecoder::new(src)),
        _ => Box::new(flate2::read::ZlibDecoder::new(src)),
    };
    let bad = |e: std::io::Error| {
        Error::format(
            data_path,
            format!("compressed voxel data is corrupt or ends early: {e}"),
        )
    };
    std::io::copy(&mut (&mut dec).take(skip as u64), &mut std::io::sink()).map_err(bad)?;
    fits()?;
    let mut out = vec![0u8; want as usize];
    let mut got = 0;
    while got < out.len() {
        match dec.read(&mut out[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) => return Err(bad(e)),
        }
    }
    if got < out.len() {
        return Err(Error::Truncated {
            path: data_path.to_path_buf(),
            expected: want,
            got: got as u64,
        });
    }
    Ok(out)
}

/// Decodes little- or big-endian elements into stored values.
pub fn decode(bytes: &[u8], elem: Elem, big_endian: bool) -> Stored {
    macro_rules! conv {
        ($t:ty, $n:expr) => {
            bytes
                .chunks_exact($n)
                .map(|c| {
                    let a: [u8; $n] = c.try_into().unwrap_or([0; $n]);
                    if big_endian {
                        <$t>::from_be_bytes(a)
                    } else {
                        <$t>::from_le_bytes(a)
                    }
                })
                .collect::<Vec<$t>>()
        };
    }
    match elem {
        Elem::U8 => Stored::Native(VoxelData::U8(bytes.to_vec())),
        Elem::I8 => Stored::Native(VoxelData::I8(bytes.iter().map(|&b| b as i8).collect())),
        Elem::U16 => Stored::Native(VoxelData::U16(conv!(u16, 2))),
        Elem::I16 => Stored::Native(VoxelData::I16(conv!(i16, 2))),
        Elem::I32 => Stored::Native(VoxelData::I32(conv!(i32, 4))),
        Elem::F32 => Stored::Native(VoxelData::F32(conv!(f32, 4))),
        Elem::U32 => Stored::I64(conv!(u32, 4).into_iter().map(i64::from).collect()),
        Elem::I64 => Stored::I64(conv!(i64, 8)),
        Elem::U64 => Stored::F64(conv!(u64, 8).into_iter().map(|x| x as f64).collect()),
        Elem::F64 => Stored::F64(conv!(f64, 8)),
    }
}

/// Voxels as little-endian bytes of their own type (what the writers store).
pub fn encode_le(data: &VoxelData) -> Vec<u8> {
    match data {
        VoxelData::U8(v) => v.clone(),
        VoxelData::I8(v) => v.iter().map(|&x| x as u8).collect(),
        VoxelData::U16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        VoxelData::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        VoxelData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        VoxelData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}
