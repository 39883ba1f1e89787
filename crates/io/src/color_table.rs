//! Label colour tables other tools write, read into voxmark's label table (value, name,
//! colour) and written for them:
//!
//! * ITK-SNAP label descriptions: `IDX R G B A VIS MSH "LABEL"` (colours 0–255, A 0–1);
//! * 3D Slicer colour tables (`.ctbl`, `.txt`) and FreeSurfer's `FreeSurferColorLUT.txt`:
//!   `value name R G B A` (0–255);
//! * mricron atlas tables (`aal.nii.txt`): `value name [code]`, colours from the binary
//!   palette beside them (`aal.nii.lut`: 256 red, 256 green, 256 blue bytes) when present,
//!   else voxmark's default palette.
//!
//! Lines starting with `#` and empty lines are skipped; value 0 (background) is dropped. The
//! format is told apart per line by its shape (a quoted name after seven numbers: ITK-SNAP;
//! a name then three or four numbers: Slicer/FreeSurfer; a name and at most one number:
//! mricron). [`table_beside`] finds the table a mask ships with (`X.nii.gz` → `X.nii.txt`,
//! `X.txt`, `X.ctbl`, `X.label.txt`).

use std::path::{Path, PathBuf};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::label_table::LabelInfo;

/// The most lines a table may have (a FreeSurfer LUT has ~1,300).
const MAX_LINES: usize = 100_000;

fn palette(v: u8) -> [f32; 3] {
    let c = voxmark_volume::label_table::default_palette()[usize::from(v)];
    [c[0], c[1], c[2]]
}

/// Reads a colour table (any of the formats in the module docs).
pub fn read_color_table(path: &Path) -> Result<Vec<LabelInfo>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() > 64 << 20 {
        return Err(Error::format(path, "over 64 MiB: not a colour table"));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if is_binary_lut(path, &bytes) {
        // A bare palette: colours for every value, no names.
        return Ok((1..=255u8)
            .map(|v| LabelInfo {
                value: v,
                name: format!("label {v}"),
                color: lut_color(&bytes, v),
                visible: true,
                locked: false,
            })
            .collect());
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut out: Vec<LabelInfo> = Vec::new();
    let mut colors_given = false;
    for (n, raw) in text.lines().enumerate() {
        if n >= MAX_LINES {
            return Err(Error::format(path, "more than 100,000 lines"));
        }
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |m: &str| Error::format(path, format!("line {}: {m}: \"{line}\"", n + 1));
        let (value, name, color) = if let Some(q) = line.find('"') {
            // ITK-SNAP: IDX R G B A VIS MSH "LABEL"
            let nums: Vec<f64> = line[..q]
                .split_whitespace()
                .map(|x| x.parse::<f64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| bad("not an ITK-SNAP label line"))?;
            if nums.len() < 4 {
                return Err(bad("an ITK-SNAP line needs IDX R G B"));
            }
            let name = line[q + 1..]
                .rsplit_once('"')
                .map(|(a, _)| a)
                .ok_or_else(|| bad("unclosed quote"))?;
            colors_given = true;
            (nums[0], name.to_string(), Some([nums[1], nums[2], nums[3]]))
        } else {
            let mut it = line.split_whitespace();
            let value: f64 = it
                .next()
                .and_then(|x| x.parse().ok())
                .ok_or_else(|| bad("the first field is not a label value"))?;
            let name = it.next().ok_or_else(|| bad("no name"))?.to_string();
            let rest: Vec<f64> = it.filter_map(|x| x.parse().ok()).collect();
            let color = (rest.len() >= 3).then(|| [rest[0], rest[1], rest[2]]);
            colors_given |= color.is_some();
            (value, name, color)
        };
        if value.fract() != 0.0 || !(0.0..=255.0).contains(&value) {
            return Err(bad("label values are whole numbers 0..=255"));
        }
        let value = value as u8;
        if value == 0 {
            continue;
        }
        if out.iter().any(|l| l.value == value) {
            return Err(bad(&format!("value {value} appears twice")));
        }
        let color = match color {
            Some(c) => {
                if c.iter().any(|x| !(0.0..=255.0).contains(x)) {
                    return Err(bad("colours are 0..=255"));
                }
                [
                    c[0] as f32 / 255.0,
                    c[1] as f32 / 255.0,
                    c[2] as f32 / 255.0,
                ]
            }
            None => palette(value),
        };
        out.push(LabelInfo {
            value,
            name,
            color,
            visible: true,
            locked: false,
        });
    }
    if out.is_empty() {
        return Err(Error::format(path, "no labels in this colour table"));
    }
    // A mricron table names; its palette beside it colours.
    if !colors_given {
        if let Some(lut) = lut_beside(path) {
            let bytes = std::fs::read(&lut).map_err(|e| Error::io(&lut, e))?;
            if is_binary_lut(&lut, &bytes) {
                for l in &mut out {
                    l.color = lut_color(&bytes, l.value);
                }
            }
        }
    }
    Ok(out)
}

fn is_binary_lut(path: &Path, bytes: &[u8]) -> bool {
    bytes.len() == 768
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("lut"))
}

fn lut_color(bytes: &[u8], v: u8) -> [f32; 3] {
    let i = usize::from(v);
    [
        f32::from(bytes[i]) / 255.0,
        f32::from(bytes[256 + i]) / 255.0,
        f32::from(bytes[512 + i]) / 255.0,
    ]
}

/// `X.nii.txt` → `X.nii.lut`.
fn lut_beside(table: &Path) -> Option<PathBuf> {
    let p = table.with_extension("lut");
    p.is_file().then_some(p)
}

/// The colour table shipped beside a mask, if any: `X.nii.gz` / `X.nii` → `X.nii.txt`,
/// `X.txt`, `X.ctbl`, `X.label.txt` (the first that exists).
pub fn table_beside(mask: &Path) -> Option<PathBuf> {
    let name = mask.file_name()?.to_string_lossy().into_owned();
    let nii = name.strip_suffix(".gz").unwrap_or(&name).to_string();
    let stem = nii
        .strip_suffix(".nii")
        .or_else(|| nii.strip_suffix(".nrrd"))
        .unwrap_or(&nii)
        .to_string();
    [
        format!("{nii}.txt"),
        format!("{stem}.txt"),
        format!("{stem}.ctbl"),
        format!("{stem}.label.txt"),
    ]
    .into_iter()
    .map(|f| mask.with_file_name(f))
    .find(|p| p.is_file() && p != mask)
}

fn rgb255(c: [f32; 3]) -> [u8; 3] {
    c.map(|x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)
}

/// ITK-SNAP's label description file for `table` (background line included).
pub fn itksnap_text(table: &[LabelInfo]) -> String {
    let mut s = String::from(
        "################################################\n\
         # ITK-SnAP Label Description File (written by voxmark)\n\
         # Columns = Index, Red, Green, Blue, Alpha (0-1), Label visibility, Mesh visibility, Label\n\
         ################################################\n\
         \x20   0     0    0    0        0  0  0    \"Clear Label\"\n",
    );
    for l in table.iter().filter(|l| l.value != 0) {
        let [r, g, b] = rgb255(l.color);
        s += &format!(
            "{:>5} {:>5} {:>4} {:>4} {:>8} {:>2} {:>2}    \"{}\"\n",
            l.value,
            r,
            g,
            b,
            1,
            u8::from(l.visible),
            1,
            l.name.replace('"', "'")
        );
    }
    s
}

/// 3D Slicer's colour table (`.ctbl`) for `table`.
pub fn slicer_ctbl_text(table: &[LabelInfo]) -> String {
    let mut s = String::from("# Color table file written by voxmark\n0 background 0 0 0 0\n");
    for l in table.iter().filter(|l| l.value != 0) {
        let [r, g, b] = rgb255(l.color);
        s += &format!("{} {} {r} {g} {b} 255\n", l.value, l.name.replace(' ', "_"));
    }
    s
}

/// Writes `table` as ITK-SNAP (`.label.txt` / `.txt`) or Slicer (`.ctbl`) by the name's end.
pub fn write_color_table(path: &Path, table: &[LabelInfo]) -> Result<()> {
    let name = path.to_string_lossy().to_lowercase();
    let text = if name.ends_with(".ctbl") {
        slicer_ctbl_text(table)
    } else {
        itksnap_text(table)
    };
    voxmark_volume::fs::atomic::write_atomically(path, |w| w.write_all(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vec<LabelInfo> {
        vec![
            LabelInfo {
                value: 1,
                name: "liver".into(),
                color: [0.8, 0.2, 0.1],
                visible: true,
                locked: false,
            },
            LabelInfo {
                value: 200,
                name: "left kidney".into(),
                color: [0.0, 1.0, 0.5],
                visible: false,
                locked: false,
            },
        ]
    }

    /// What voxmark writes for ITK-SNAP and Slicer reads back: values, names (Slicer's with
    /// `_` for spaces), colours to 1/255.
    #[test]
    fn written_tables_read_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for name in ["t.label.txt", "t.ctbl"] {
            let p = dir.path().join(name);
            write_color_table(&p, &table()).unwrap_or_else(|e| panic!("{e}"));
            let back = read_color_table(&p).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back.len(), 2, "{name}");
            for (a, b) in table().iter().zip(&back) {
                assert_eq!(a.value, b.value);
                let want = if name.ends_with(".ctbl") {
                    a.name.replace(' ', "_")
                } else {
                    a.name.clone()
                };
                assert_eq!(b.name, want);
                for c in 0..3 {
                    assert!((a.color[c] - b.color[c]).abs() <= 0.5 / 255.0 + 1e-6);
                }
            }
        }
    }

    #[test]
    fn the_table_beside_an_atlas() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mask = dir.path().join("atlas.nii.gz");
        std::fs::write(&mask, b"x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(table_beside(&mask), None);
        let t = dir.path().join("atlas.nii.txt");
        std::fs::write(&t, "1 A 1\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(table_beside(&mask), Some(t));
    }
}
