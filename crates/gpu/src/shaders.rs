//! WGSL sources, embedded at compile time from `shaders/`.
//!
//! Two tiny preprocessing rules keep shaders honest without a shader build system:
//! `//!include common/NAME.wgsl` lines are replaced by that file, and `SAMPLE_T` is replaced by
//! the WGSL sample type of the volume texture (`i32`, `u32` or `f32`).

/// `shaders/selftest.wgsl`.
pub const SELFTEST: &str = include_str!("../../../shaders/selftest.wgsl");
/// `shaders/window_level.wgsl`.
pub const WINDOW_LEVEL: &str = include_str!("../../../shaders/window_level.wgsl");
/// `shaders/histogram.wgsl`.
pub const HISTOGRAM: &str = include_str!("../../../shaders/histogram.wgsl");
/// `shaders/region_grow.wgsl`.
pub const REGION_GROW: &str = include_str!("../../../shaders/region_grow.wgsl");
/// `shaders/commit_mask.wgsl`.
pub const COMMIT_MASK: &str = include_str!("../../../shaders/commit_mask.wgsl");
/// `shaders/span_write.wgsl`.
pub const SPAN_WRITE: &str = include_str!("../../../shaders/span_write.wgsl");
/// `shaders/morphology.wgsl`.
pub const MORPHOLOGY: &str = include_str!("../../../shaders/morphology.wgsl");
/// `shaders/mpr.wgsl`.
pub const MPR: &str = include_str!("../../../shaders/mpr.wgsl");
/// `shaders/raycast.wgsl`.
pub const RAYCAST: &str = include_str!("../../../shaders/raycast.wgsl");
/// `shaders/label_stats.wgsl`.
pub const LABEL_STATS: &str = include_str!("../../../shaders/label_stats.wgsl");
/// `shaders/smooth.wgsl`.
pub const SMOOTH: &str = include_str!("../../../shaders/smooth.wgsl");
/// `shaders/smooth_gauss.wgsl`.
pub const SMOOTH_GAUSS: &str = include_str!("../../../shaders/smooth_gauss.wgsl");
/// `shaders/fill_holes.wgsl`.
pub const FILL_HOLES: &str = include_str!("../../../shaders/fill_holes.wgsl");
/// `shaders/grow_cut.wgsl`.
pub const GROW_CUT: &str = include_str!("../../../shaders/grow_cut.wgsl");
/// `shaders/interpolate.wgsl`.
pub const INTERPOLATE: &str = include_str!("../../../shaders/interpolate.wgsl");
/// `shaders/logical.wgsl`.
pub const LOGICAL: &str = include_str!("../../../shaders/logical.wgsl");
/// `shaders/bricks.wgsl`.
pub const BRICKS: &str = include_str!("../../../shaders/bricks.wgsl");
/// `shaders/brick_diff.wgsl`.
pub const BRICK_DIFF: &str = include_str!("../../../shaders/brick_diff.wgsl");
/// `shaders/brick_gather.wgsl`.
pub const BRICK_GATHER: &str = include_str!("../../../shaders/brick_gather.wgsl");
/// `shaders/brick_swap.wgsl`.
pub const BRICK_SWAP: &str = include_str!("../../../shaders/brick_swap.wgsl");

const COMMON: &[(&str, &str)] = &[
    (
        "common/window.wgsl",
        include_str!("../../../shaders/common/window.wgsl"),
    ),
    (
        "common/brick_slots.wgsl",
        include_str!("../../../shaders/common/brick_slots.wgsl"),
    ),
];

/// Every shader with its file name, for validation tests.
pub const ALL: &[(&str, &str)] = &[
    ("selftest.wgsl", SELFTEST),
    ("window_level.wgsl", WINDOW_LEVEL),
    ("histogram.wgsl", HISTOGRAM),
    ("mpr.wgsl", MPR),
    ("region_grow.wgsl", REGION_GROW),
    ("commit_mask.wgsl", COMMIT_MASK),
    ("span_write.wgsl", SPAN_WRITE),
    ("morphology.wgsl", MORPHOLOGY),
    ("raycast.wgsl", RAYCAST),
    ("bricks.wgsl", BRICKS),
    ("label_stats.wgsl", LABEL_STATS),
    ("interpolate.wgsl", INTERPOLATE),
    ("grow_cut.wgsl", GROW_CUT),
    ("fill_holes.wgsl", FILL_HOLES),
    ("smooth.wgsl", SMOOTH),
    ("smooth_gauss.wgsl", SMOOTH_GAUSS),
    ("logical.wgsl", LOGICAL),
    ("brick_diff.wgsl", BRICK_DIFF),
    ("brick_gather.wgsl", BRICK_GATHER),
    ("brick_swap.wgsl", BRICK_SWAP),
];

/// Expands includes and the sample type.
pub fn prepare(source: &str, sample_type: &str) -> String {
    let mut out = String::with_capacity(source.len() + 1024);
    for line in source.lines() {
        if let Some(name) = line.trim().strip_prefix("//!include ") {
            if let Some((_, body)) = COMMON.iter().find(|(n, _)| *n == name.trim()) {
                out.push_str(body);
                out.push('\n');
                continue;
            }
        }
        out.push_str(&line.replace("SAMPLE_T", sample_type));
        out.push('\n');
    }
    out
}
