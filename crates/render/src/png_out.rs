//! PNG encoding of RGBA images, written atomically.

use std::path::Path;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::fs::atomic::write_atomically;

/// Encodes an RGBA8 image to PNG bytes.
pub fn encode_png(rgba: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc
            .write_header()
            .map_err(|e| Error::Invalid(format!("png: {e}")))?;
        writer
            .write_image_data(rgba)
            .map_err(|e| Error::Invalid(format!("png: {e}")))?;
    }
    Ok(out)
}

/// Writes an RGBA8 image as a PNG file (atomically).
pub fn write_png(path: &Path, rgba: &[u8], w: u32, h: u32) -> Result<()> {
    let bytes = encode_png(rgba, w, h)?;
    write_atomically(path, |f| f.write_all(&bytes))
}

/// Decodes a PNG into RGBA8 (for golden tests).
pub fn read_png(path: &Path) -> Result<(Vec<u8>, u32, u32)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut dec = png::Decoder::new(std::io::BufReader::new(file));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = dec
        .read_info()
        .map_err(|e| Error::format(path, format!("png: {e}")))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| Error::format(path, "png: image too large"))?;
    let mut buf = vec![0u8; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| Error::format(path, format!("png: {e}")))?;
    buf.truncate(info.buffer_size());
    if info.color_type != png::ColorType::Rgba || info.bit_depth != png::BitDepth::Eight {
        return Err(Error::format(path, "png: expected 8-bit RGBA"));
    }
    Ok((buf, info.width, info.height))
}
