//! A length check of a DICOM file's element structure before dicom-rs parses it.
//!
//! dicom-parser 0.10 sizes a value's buffer from the length its element declares and fills
//! it before reading (`read_value_ob`: `resize(len, 0)`), so a small file whose bytes read as
//! a gigabyte length makes it touch that much memory and spend seconds before failing (found
//! by fuzzing: pydicom's 4 KB `SC_rgb_jpeg.dcm`, an implicit-VR data set under an explicit
//! transfer syntax, asked for 1.2 GB; its 674-byte `UN_sequence.dcm` for 3.7 GB, 28 s). This walk reads only element headers (values are
//! skipped by seeking) and refuses a file in which any defined length runs past the end of
//! the file, naming the element and the offset. It follows PS3.5 7.1: the File Meta group in
//! explicit VR little endian, then the data set in the transfer syntax's encoding; sequences
//! and items of defined or undefined length are entered; a UN element of undefined length in
//! an explicit-VR data set is refused as unsupported (PS3.5 6.2.2 makes its content implicit
//! VR; dicom-parser 0.10 reads it as explicit VR, so pydicom's `UN_sequence.dcm` made it
//! allocate 3.7 GB); encapsulated Pixel Data's fragments are
//! skipped; in implicit VR an element's VR is the standard dictionary's, as the parser
//! takes it (so its SQ elements are the sequences, and unknown tags are bytes); the levels
//! follow the parser's reader state for state (`walk_data`); an unknown VR has a 4-byte length, as dicom-rs reads
//! it; a binary value (FL, US, OW, …) must hold whole elements (dicom-rs reads a 14-byte FL
//! as 12 bytes and loses its place); the File Meta group ends where its group length says;
//! a deflated data set is walked inflated (refused past 1 GiB). What the
//! walk cannot place (a file without the `DICM` preamble, an odd structure) is left to
//! dicom-rs too: the check only ever refuses a length that cannot be true.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use voxmark_volume::error::{Error, Result};

const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const UNDEFINED: u32 = 0xFFFF_FFFF;

/// Explicit-VR value representations with a 4-byte length: all but the 2-byte ones of PS3.5
/// Table 7.1-2. An unknown VR is read with a 4-byte length, as dicom-rs does (PS3.5 6.2:
/// VRs added later all use the 4-byte form).
fn long_vr(vr: [u8; 2]) -> bool {
    const SHORT: [&[u8; 2]; 21] = [
        b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN",
        b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
    ];
    !SHORT.contains(&&vr)
}

/// What the parser expects next at a level: element headers (the top data set or an item's),
/// or item headers (a sequence's; of encapsulated Pixel Data when `fragments`).
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    DataSet,
    Sequence { fragments: bool },
}

/// How the bytes at the current level are encoded, what they hold, and where the level ends.
#[derive(Clone, Copy)]
struct Level {
    implicit: bool,
    kind: Kind,
    /// End offset of a defined-length sequence or item.
    end: Option<u64>,
}

struct Walker<R> {
    r: R,
    pos: u64,
    size: u64,
    big: bool,
}

impl<R: Read + Seek> Walker<R> {
    /// A defined length `len` of element (group, element), whose value starts here, must fit
    /// in what is left of the stream.
    fn fits(&self, group: u16, element: u16, len: u32) -> std::result::Result<(), Lie> {
        if len != UNDEFINED && u64::from(len) > self.size - self.pos {
            return Err(Lie {
                group,
                element,
                len: Some(len),
                at: self.pos,
                unit: None,
            });
        }
        Ok(())
    }

    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).ok()?;
        self.pos += N as u64;
        Some(b)
    }
    fn u16(&mut self, big: bool) -> Option<u16> {
        let b = self.bytes::<2>()?;
        Some(if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }
    fn u32(&mut self, big: bool) -> Option<u32> {
        let b = self.bytes::<4>()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }
    fn skip(&mut self, n: u64) -> Option<()> {
        self.r.seek(SeekFrom::Current(n as i64)).ok()?;
        self.pos += n;
        Some(())
    }
}

/// A deflated data set inflating past this is refused (a deflate bomb).
const MAX_INFLATED: u64 = 1 << 30;

/// Checks `path` (module docs): Ok when every defined length fits in the file or the walk
/// cannot tell; an error naming the first element whose length cannot be true.
pub fn check_lengths(path: &Path) -> Result<()> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let size = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut w = Walker {
        r: BufReader::with_capacity(64 * 1024, f),
        pos: 0,
        size,
        big: false,
    };
    let ts = match walk_meta(&mut w) {
        Ok(Some(ts)) => ts,
        Ok(None) => return Ok(()),
        Err(lie) => return Err(refuse(path, lie, size, "")),
    };
    if ts == DEFLATED {
        // The data set is one raw deflate stream: walk it inflated (bounded).
        let mut rest = Vec::new();
        w.r.read_to_end(&mut rest).map_err(|e| Error::io(path, e))?;
        let mut data = Vec::new();
        // A broken stream is walked as far as it inflates: the parser reads that far too
        // (and would allocate what it declares) before it meets the break. A decoder hands
        // out nothing of the read in which it fails (`read_to_end` keeps the earlier reads),
        // so the failing stream is inflated again: up to what it gave, in one read, then a
        // byte at a time for the last read's worth (a byte at a time throughout took 13 s
        // under the fuzzer's sanitizer for a 9 MB stream).
        let broken = flate2::read::DeflateDecoder::new(&rest[..])
            .take(MAX_INFLATED + 1)
            .read_to_end(&mut data)
            .is_err();
        if broken {
            let good = data.len();
            data.clear();
            data.resize(good, 0);
            let mut z = flate2::read::DeflateDecoder::new(&rest[..]);
            if z.read_exact(&mut data).is_err() {
                data.clear();
                z = flate2::read::DeflateDecoder::new(&rest[..]);
            }
            let mut b = [0u8; 1];
            while data.len() as u64 <= MAX_INFLATED && matches!(z.read(&mut b), Ok(1)) {
                data.push(b[0]);
            }
        }
        if data.len() as u64 > MAX_INFLATED {
            return Err(Error::format(
                path,
                "deflated data set inflates past 1 GiB: not an image voxmark reads",
            ));
        }
        let size = data.len() as u64;
        let mut w = Walker {
            r: std::io::Cursor::new(data),
            pos: 0,
            size,
            big: false,
        };
        return walk_data(&mut w, false)
            .map_err(|l| refuse(path, l, size, " of the inflated data set"));
    }
    w.big = ts == EXPLICIT_BE;
    walk_data(&mut w, ts == IMPLICIT_LE).map_err(|l| refuse(path, l, size, ""))
}

/// The error for a lie found at byte `at` of a stream of `size` bytes (`of` names the stream
/// when it is not the file).
fn refuse(path: &Path, lie: Lie, size: u64, of: &str) -> Error {
    let Lie {
        group,
        element,
        len,
        at,
        unit,
    } = lie;
    if unit == Some(0) {
        return Error::format(
            path,
            format!(
                "corrupt DICOM: ({group:04X},{element:04X}) at byte {at}{of} is not an item or delimiter tag"
            ),
        );
    }
    if let (Some(unit), Some(len)) = (unit, len) {
        return Error::format(
            path,
            format!(
                "corrupt DICOM: element ({group:04X},{element:04X}) at byte {at}{of} holds {len} bytes, not a multiple of its value size {unit}"
            ),
        );
    }
    match len {
        Some(len) => Error::format(
            path,
            format!(
                "truncated or corrupt DICOM: element ({group:04X},{element:04X}) at byte {at}{of} declares {len} bytes, but only {} are left",
                size.saturating_sub(at)
            ),
        ),
        None => Error::unsupported(
            path,
            format!(
                "element ({group:04X},{element:04X}) at byte {at}{of} is a UN sequence of undefined length in an explicit-VR data set, which the DICOM parser voxmark uses (dicom-rs 0.10) misreads"
            ),
        ),
    }
}

/// A length that cannot be true, or (len None) a UN element of undefined length in an
/// explicit-VR data set, which dicom-parser 0.10 reads as explicit VR and so takes its
/// content's bytes for lengths; or (unit Some) a binary value whose length is not a multiple
/// of its VR's element size, which dicom-parser reads short, losing its place in the file;
/// or (unit Some(0)) a group FFFE tag that is not an item or a delimiter.
struct Lie {
    group: u16,
    element: u16,
    len: Option<u32>,
    at: u64,
    unit: Option<u32>,
}

/// The element size of a binary explicit VR (PS3.5 Table 6.2-1), if it has one.
fn unit_of(vr: [u8; 2]) -> Option<u32> {
    match &vr {
        b"SS" | b"US" | b"OW" => Some(2),
        b"FL" | b"SL" | b"UL" | b"AT" | b"OF" | b"OL" => Some(4),
        b"FD" | b"OD" | b"OV" | b"SV" | b"UV" => Some(8),
        _ => None,
    }
}

/// The preamble and the File Meta Information (explicit VR little endian): the transfer
/// syntax, or None when the walk cannot tell (no `DICM`, no transfer syntax, a short file).
fn walk_meta<R: Read + Seek>(w: &mut Walker<R>) -> std::result::Result<Option<String>, Lie> {
    if w.skip(128).is_none() || w.bytes::<4>() != Some(*b"DICM") {
        return Ok(None);
    }
    // The group length comes first and bounds the group, whatever tags lie inside (as
    // dicom-object reads it; without it the parser refuses the file).
    let Some((0x0002, 0x0000, 4, _)) = header(w, false, false) else {
        return Ok(None);
    };
    let Some(group_len) = w.u32(false) else {
        return Ok(None);
    };
    let meta_end = w.pos + u64::from(group_len);
    let mut ts = String::new();
    while w.pos < meta_end {
        let Some((group, element, len, _)) = header(w, false, false) else {
            return Ok(None);
        };
        let at = w.pos;
        if len == UNDEFINED || u64::from(len) > w.size - w.pos {
            return Err(Lie {
                group,
                element,
                len: Some(len),
                at,
                unit: None,
            });
        }
        if (group, element) == (0x0002, 0x0010) && len <= 256 {
            let mut v = vec![0u8; len as usize];
            if w.r.read_exact(&mut v).is_err() {
                return Ok(None);
            }
            w.pos += u64::from(len);
            ts = String::from_utf8_lossy(&v)
                .trim_end_matches(['\0', ' '])
                .to_string();
        } else if w.skip(u64::from(len)).is_none() {
            return Ok(None);
        }
    }
    // No transfer syntax: the parser names the problem.
    Ok(Some(ts).filter(|t| !t.is_empty()))
}

/// The data set from the walker's position, in implicit or explicit VR (`w.big` for explicit
/// big endian). The levels follow dicom-parser 0.10's reader (`DataSetReader`) state for
/// state, so that every length it will allocate is one this walk checks: in a sequence it
/// reads item headers (tag + 4-byte length in every encoding); in a data set, element
/// headers, where an item or sequence delimiter tag is an element with a 4-byte length
/// (read as a value: fuzz finding, an item of length 4 at the top level followed by a 4 GB
/// length) and an item delimiter closes the item without a value.
fn walk_data<R: Read + Seek>(w: &mut Walker<R>, implicit: bool) -> std::result::Result<(), Lie> {
    let mut stack = vec![Level {
        implicit,
        kind: Kind::DataSet,
        end: None,
    }];
    loop {
        // Leave the defined-length levels that end here.
        while let Some(l) = stack.last() {
            match l.end {
                Some(e) if w.pos >= e && stack.len() > 1 => {
                    stack.pop();
                }
                _ => break,
            }
        }
        let Some(level) = stack.last().copied() else {
            return Ok(());
        };
        if w.pos >= w.size {
            return Ok(());
        }
        let big = w.big && !level.implicit;
        if let Kind::Sequence { fragments } = level.kind {
            // An item header (tag and 4-byte length, no VR, as `header` reads it in implicit
            // VR); any other tag here the parser refuses before reading on.
            let Some((group, element, len, _)) = header(w, true, big) else {
                return Ok(());
            };
            if group != 0xFFFE {
                return Ok(());
            }
            match element {
                0xE000 => {
                    w.fits(group, element, len)?;
                    if fragments {
                        // A fragment is bytes (an undefined length the parser refuses).
                        if len == UNDEFINED || w.skip(u64::from(len)).is_none() {
                            return Ok(());
                        }
                    } else {
                        stack.push(Level {
                            implicit: level.implicit,
                            kind: Kind::DataSet,
                            end: (len != UNDEFINED).then(|| w.pos + u64::from(len)),
                        });
                    }
                }
                // Item delimiter (length 0, else the parser refuses), sequence delimiter.
                0xE00D if len != 0 => return Ok(()),
                0xE00D | 0xE0DD => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                }
                _ => return Ok(()),
            }
            continue;
        }
        let Some((group, element, len, vr)) = header(w, level.implicit, big) else {
            return Ok(()); // a partial header at the end: the parser says so
        };
        let at = w.pos;
        if group == 0xFFFE {
            match element {
                // Closes the item it is in (its length is not read as a value); ignored
                // outside any sequence.
                0xE00D => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                    continue;
                }
                // Read as elements with a 4-byte length (below).
                0xE000 | 0xE0DD => {}
                // Group FFFE holds only those three (PS3.5 7.5); another is corrupt.
                _ => {
                    return Err(Lie {
                        group,
                        element,
                        len: None,
                        at,
                        unit: Some(0),
                    })
                }
            }
        }
        w.fits(group, element, len)?;
        if len == UNDEFINED {
            if vr == Some(*b"UN") {
                return Err(Lie {
                    group,
                    element,
                    len: None,
                    at,
                    unit: None,
                });
            }
            // A sequence or encapsulated pixel data (any element of undefined length is a
            // sequence to the parser).
            stack.push(Level {
                implicit: level.implicit,
                kind: Kind::Sequence {
                    fragments: group == 0x7FE0 && element == 0x0010,
                },
                end: None,
            });
            continue;
        }
        // In implicit VR the parser takes the VR from the standard dictionary (unknown
        // tags: UN, read as bytes), so sequences are the dictionary's SQ elements. (Fuzz
        // finding: a value starting with an item tag under a retired SH tag was walked as
        // a sequence while the parser read it as text, and the walks parted.)
        let vr = if level.implicit {
            implicit_vr(group, element)
        } else {
            vr
        };
        if let Some(unit) = vr.and_then(unit_of) {
            if len % unit != 0 {
                return Err(Lie {
                    group,
                    element,
                    len: Some(len),
                    at,
                    unit: Some(unit),
                });
            }
        }
        let sequence = vr == Some(*b"SQ");
        if sequence && len > 0 {
            stack.push(Level {
                implicit: level.implicit,
                kind: Kind::Sequence { fragments: false },
                end: Some(w.pos + u64::from(len)),
            });
        } else if w.skip(u64::from(len)).is_none() {
            return Ok(());
        }
    }
}

/// The VR dicom-parser 0.10 gives an element in implicit VR: OW for Pixel Data and Overlay
/// Data, else the standard dictionary's (relaxed to one VR), None (UN) for unknown tags.
fn implicit_vr(group: u16, element: u16) -> Option<[u8; 2]> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    if (group, element) == (0x7FE0, 0x0010) || (group >> 8 == 0x60 && element == 0x3000) {
        return Some(*b"OW");
    }
    dicom_dictionary_std::StandardDataDictionary
        .by_tag(dicom_core::Tag(group, element))
        .map(|e| e.vr().relaxed().to_bytes())
        .filter(|v| v != b"UN")
}

/// One element header: (group, element, length, explicit VR). Item and delimiter tags have
/// no VR in either encoding.
fn header<R: Read + Seek>(
    w: &mut Walker<R>,
    implicit: bool,
    big: bool,
) -> Option<(u16, u16, u32, Option<[u8; 2]>)> {
    let group = w.u16(big)?;
    let element = w.u16(big)?;
    if implicit || group == 0xFFFE {
        return Some((group, element, w.u32(big)?, None));
    }
    let vr = w.bytes::<2>()?;
    let len = if long_vr(vr) {
        w.skip(2)?;
        w.u32(big)?
    } else {
        u32::from(w.u16(big)?)
    };
    Some((group, element, len, Some(vr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(body: &[u8], ts: &str) -> tempfile::NamedTempFile {
        let mut b = vec![0u8; 128];
        b.extend_from_slice(b"DICM");
        let mut v = ts.as_bytes().to_vec();
        if v.len() % 2 == 1 {
            v.push(0);
        }
        let mut meta = vec![0x02, 0x00, 0x10, 0x00, b'U', b'I'];
        meta.extend_from_slice(&(v.len() as u16).to_le_bytes());
        meta.extend_from_slice(&v);
        b.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0]);
        b.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        b.extend_from_slice(&meta);
        b.extend_from_slice(body);
        let f = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(f.path(), b).unwrap_or_else(|e| panic!("{e}"));
        f
    }

    #[test]
    fn a_length_past_the_end_is_refused_naming_the_element() {
        // (0008,1115) SQ with a defined length holding one item whose element lies.
        let mut body = vec![0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0];
        let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
        let inner: Vec<u8> = [
            &[0x08, 0x00, 0x50, 0x11, b'O', b'B', 0, 0][..],
            &0xE000_0000u32.to_le_bytes(),
        ]
        .concat();
        item.extend_from_slice(&(inner.len() as u32).to_le_bytes());
        item.extend_from_slice(&inner);
        body.extend_from_slice(&(item.len() as u32).to_le_bytes());
        body.extend_from_slice(&item);
        let f = file(&body, "1.2.840.10008.1.2.1");
        let e = check_lengths(f.path()).expect_err("must refuse");
        assert!(e.to_string().contains("(0008,1150)"), "{e}");
        // The same element with an honest length passes.
        let ok_body = [
            &[0x08, 0x00, 0x50, 0x11, b'O', b'B', 0, 0][..],
            &4u32.to_le_bytes(),
            &[1, 2, 3, 4],
        ]
        .concat();
        let f = file(&ok_body, "1.2.840.10008.1.2.1");
        assert!(check_lengths(f.path()).is_ok());
    }

    #[test]
    fn unknown_vrs_have_4_byte_lengths_and_deflated_data_sets_are_walked_inflated() {
        // Found by fuzzing: an unknown VR ("!C") whose 4-byte length dicom-rs would fill.
        let lying = [
            &[0x20, 0x00, 0x13, 0x10, b'!', b'C', 0, 0][..],
            &0x6230_0000u32.to_le_bytes(),
        ]
        .concat();
        let f = file(&lying, "1.2.840.10008.1.2.1");
        let e = check_lengths(f.path()).expect_err("must refuse");
        assert!(e.to_string().contains("(0020,1013)"), "{e}");
        // The same lie inside a deflated data set.
        use std::io::Write;
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&lying).unwrap_or_else(|e| panic!("{e}"));
        let deflated = z.finish().unwrap_or_else(|e| panic!("{e}"));
        let f = file(&deflated, DEFLATED);
        let e = check_lengths(f.path()).expect_err("must refuse");
        assert!(e.to_string().contains("inflated data set"), "{e}");
        // A broken stream is walked as far as it inflates: half a megabyte of honest
        // elements, the lie, as much again, then cut and followed by garbage.
        let honest: Vec<u8> = (0..50_000u32)
            .flat_map(|i| {
                [
                    0x08,
                    0x00,
                    0x60,
                    0x00,
                    b'C',
                    b'S',
                    2,
                    0,
                    b'C',
                    b'A' + (i % 7) as u8,
                ]
            })
            .collect();
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&[&honest[..], &lying, &honest].concat())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut broken = z.finish().unwrap_or_else(|e| panic!("{e}"));
        broken.truncate(broken.len() * 4 / 5);
        broken.extend_from_slice(&[0xFF; 64]);
        let mut sink = Vec::new();
        assert!(flate2::read::DeflateDecoder::new(&broken[..])
            .read_to_end(&mut sink)
            .is_err());
        let e = check_lengths(file(&broken, DEFLATED).path()).expect_err("must refuse");
        assert!(e.to_string().contains("(0020,1013) at byte 500012"), "{e}");
        // An honest deflated data set passes.
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&[0x08, 0x00, 0x60, 0x00, b'C', b'S', 2, 0, b'C', b'T'])
            .unwrap_or_else(|e| panic!("{e}"));
        let f = file(&z.finish().unwrap_or_else(|e| panic!("{e}")), DEFLATED);
        assert!(check_lengths(f.path()).is_ok());
    }

    #[test]
    fn binary_values_must_fill_whole_elements_and_the_meta_group_has_its_length() {
        // Found by fuzzing: an FL of 14 bytes (dicom-rs reads 12 and loses its place).
        let body = [&[0x08, 0x00, 0x02, 0x01, b'F', b'L', 14, 0][..], &[0u8; 14]].concat();
        let e = check_lengths(file(&body, "1.2.840.10008.1.2.1").path()).expect_err("refuse");
        assert!(
            e.to_string().contains("not a multiple of its value size 4"),
            "{e}"
        );
        let body = [&[0x08, 0x00, 0x02, 0x01, b'F', b'L', 12, 0][..], &[0u8; 12]].concat();
        assert!(check_lengths(file(&body, "1.2.840.10008.1.2.1").path()).is_ok());
    }

    #[test]
    fn group_fffe_holds_only_items_and_delimiters() {
        // Found by fuzzing: (FFFE,000D) where an item delimiter was.
        let mut body = vec![0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0];
        body.extend_from_slice(&UNDEFINED.to_le_bytes());
        body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        body.extend_from_slice(&UNDEFINED.to_le_bytes());
        body.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0x00, 0, 0, 0, 0]);
        let e = check_lengths(file(&body, "1.2.840.10008.1.2.1").path()).expect_err("refuse");
        assert!(e.to_string().contains("(FFFE,000D)"), "{e}");
    }

    #[test]
    fn an_item_outside_a_sequence_is_an_element_as_the_parser_reads_it() {
        // An item of length 4 at the top level: dicom-parser reads its 4 bytes as a value,
        // then the next header (here one declaring 1 MB).
        let mut body = vec![0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0, 0, 0, 0, 0];
        body.extend_from_slice(&[0x3A, 0xFF, 0x00, 0xE0, 0x96, 0x00, 0, 0]);
        body.extend_from_slice(&1_000_000u32.to_le_bytes());
        let e = check_lengths(file(&body, "1.2.840.10008.1.2.1").path()).expect_err("refuse");
        assert!(e.to_string().contains("(FF3A,E000)"), "{e}");
        // An item delimiter inside an item closes it without a value: its "length" field
        // is not skipped, and the sequence delimiter after it is read in the sequence.
        let mut body = vec![0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0];
        body.extend_from_slice(&UNDEFINED.to_le_bytes());
        body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        body.extend_from_slice(&UNDEFINED.to_le_bytes());
        body.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        body.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        body.extend_from_slice(&[0x10, 0x00, 0x10, 0x00, b'P', b'N', 4, 0]);
        body.extend_from_slice(b"A^B ");
        assert!(check_lengths(file(&body, "1.2.840.10008.1.2.1").path()).is_ok());
        body.extend_from_slice(&[0x10, 0x00, 0x20, 0x00, b'O', b'B', 0, 0]);
        body.extend_from_slice(&1_000_000u32.to_le_bytes());
        let e = check_lengths(file(&body, "1.2.840.10008.1.2.1").path()).expect_err("refuse");
        assert!(e.to_string().contains("(0010,0020)"), "{e}");
    }

    #[test]
    fn implicit_vr_sequences_of_undefined_length_are_entered() {
        // (0008,1115) undefined length, an undefined-length item holding a lying element.
        let mut body = vec![0x08, 0x00, 0x15, 0x11];
        body.extend_from_slice(&UNDEFINED.to_le_bytes());
        body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        body.extend_from_slice(&UNDEFINED.to_le_bytes());
        body.extend_from_slice(&[0x08, 0x00, 0x50, 0x11]);
        body.extend_from_slice(&1_000_000u32.to_le_bytes());
        let f = file(&body, IMPLICIT_LE);
        assert!(check_lengths(f.path()).is_err());
    }
}
