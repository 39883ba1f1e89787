//! Orientation letters drawn into an RGBA image (for PNG output; the desktop shell draws its
//! own text). A 5×7 bitmap font holds exactly the letters orientations use.

/// 5×7 glyphs, one row per byte (bit 4 = leftmost column).
fn glyph(c: char) -> Option<[u8; 7]> {
    Some(match c {
        'R' => [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
        'A' => [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'P' => [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
        'S' => [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
        'I' => [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x1f],
        _ => return None,
    })
}

/// Glyph scale for an image: 2 for images of at least 256 px on the short side, else 1.
fn scale_for(w: u32, h: u32) -> u32 {
    if w.min(h) >= 256 {
        2
    } else {
        1
    }
}

/// Size in pixels of `text` at `scale`.
fn text_size(text: &str, scale: u32) -> (u32, u32) {
    let n = text.chars().count() as u32;
    ((n * 6).saturating_sub(1) * scale, 7 * scale)
}

/// Draws `text` with its top-left at (x, y): yellow-white glyphs with a 1-px dark outline.
pub fn draw_text(rgba: &mut [u8], w: u32, h: u32, x: i64, y: i64, text: &str, scale: u32) {
    let mut put = |px: i64, py: i64, c: [u8; 3]| {
        if px >= 0 && py >= 0 && (px as u32) < w && (py as u32) < h {
            let o = ((py as u32 * w + px as u32) * 4) as usize;
            rgba[o..o + 3].copy_from_slice(&c);
        }
    };
    let s = i64::from(scale);
    for pass in 0..2 {
        for (n, ch) in text.chars().enumerate() {
            let Some(g) = glyph(ch) else { continue };
            let gx = x + n as i64 * 6 * s;
            for (row, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) == 0 {
                        continue;
                    }
                    for dy in 0..s {
                        for dx in 0..s {
                            let px = gx + col * s + dx;
                            let py = y + row as i64 * s + dy;
                            if pass == 0 {
                                for (ox, oy) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
                                    put(px + ox, py + oy, [0, 0, 0]);
                                }
                            } else {
                                put(px, py, [255, 240, 120]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Letters at the left, right, top and bottom edge centres.
pub fn draw_orientation(rgba: &mut [u8], w: u32, h: u32, letters: &[String; 4]) {
    let s = scale_for(w, h);
    let m = i64::from(3 * s);
    let (w64, h64) = (i64::from(w), i64::from(h));
    let sz = |t: &str| {
        let (a, b) = text_size(t, s);
        (i64::from(a), i64::from(b))
    };
    let (lw, lh) = sz(&letters[0]);
    draw_text(rgba, w, h, m, (h64 - lh) / 2, &letters[0], s);
    let (rw, rh) = sz(&letters[1]);
    draw_text(rgba, w, h, w64 - rw - m, (h64 - rh) / 2, &letters[1], s);
    let (tw, _) = sz(&letters[2]);
    draw_text(rgba, w, h, (w64 - tw) / 2, m, &letters[2], s);
    let (bw, bh) = sz(&letters[3]);
    draw_text(rgba, w, h, (w64 - bw) / 2, h64 - bh - m, &letters[3], s);
    let _ = lw;
}
