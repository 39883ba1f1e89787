//! The label table of a label map: each label value's name, colour, visibility and lock. The
//! model shared by the editing engine (locks), the file formats (`.labels.json`, colour
//! tables, segment lists) and the shell (labels panel).

/// One label's properties.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LabelInfo {
    pub value: u8,
    pub name: String,
    pub color: [f32; 3],
    pub visible: bool,
    pub locked: bool,
}

/// The name label `value` has in `table`, if it has a row there.
pub fn label_name(table: &[LabelInfo], value: u8) -> Option<&str> {
    table
        .iter()
        .find(|t| t.value == value)
        .map(|t| t.name.as_str())
}

/// The locked label values of a label table, as a 256-entry set.
pub fn locked_set(table: &[LabelInfo]) -> [bool; 256] {
    let mut t = [false; 256];
    for l in table.iter().filter(|l| l.locked) {
        t[usize::from(l.value)] = true;
    }
    t
}

/// 256 distinct colours: 12 hand-picked (ITK-SNAP-like), then golden-angle hues.
pub fn default_palette() -> Vec<[f32; 4]> {
    let fixed: [[f32; 3]; 12] = [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
        [1.0, 1.0, 0.0],
        [0.0, 1.0, 1.0],
        [1.0, 0.0, 1.0],
        [1.0, 0.94, 0.84],
        [0.0, 0.0, 0.5],
        [0.8, 0.52, 0.25],
        [0.5, 0.0, 0.5],
        [1.0, 0.5, 0.0],
        [0.5, 1.0, 0.83],
    ];
    let mut out = vec![[0.0, 0.0, 0.0, 0.0]];
    for l in 1..256 {
        let rgb = if l <= 12 {
            fixed[l - 1]
        } else {
            let h = (l as f32 * 0.618_034).fract() * 6.0;
            let x = 1.0 - (h % 2.0 - 1.0).abs();
            match h as u32 {
                0 => [1.0, x, 0.0],
                1 => [x, 1.0, 0.0],
                2 => [0.0, 1.0, x],
                3 => [0.0, x, 1.0],
                4 => [x, 0.0, 1.0],
                _ => [1.0, 0.0, x],
            }
        };
        out.push([rgb[0], rgb[1], rgb[2], 1.0]);
    }
    out
}
