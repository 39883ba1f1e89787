//! `voxmark bench`: end-to-end timings of what a user does, on the built-in phantom (any
//! size up to 512×512×2048) or on a file, on the CPU path, the GPU path or both.
//!
//! Each case runs once as a warm-up, then `runs` times; the table gives median / min / max
//! milliseconds, voxels per second (voxels the operation covers / median time) and the GPU
//! memory the driver's allocator holds while the case's resources are alive (Vulkan/DX12
//! report it; "-" elsewhere). GPU timings wait for the queue to finish (what a user waits
//! for); they include CPU work the GPU path still does (stroke rasterisation, seed
//! read-backs). Edits through the session also report where their time went (`breakdown`:
//! lowering, undo snapshot, run, undo step, and the time the host was blocked on the GPU).
//! Nothing here asserts a time.

pub mod cases;

use serde::Serialize;
use std::time::Instant;
use voxmark_edit::session::OpTiming;
use voxmark_volume::error::Result;

/// The operations `--ops` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum BenchOp {
    /// Load the volume from disk (GPU: and upload it).
    Load,
    /// Window/level the whole volume and one native slice.
    Wl,
    /// One 512×512 MPR frame (coronal reformat, linear, labels, crosshair).
    Mpr,
    /// Region growing from 1 and 5 seeds, vessel and body.
    Grow,
    /// A 20-stamp sphere brush stroke (r = 10 and 30 mm) through the editing session.
    Paint,
    /// Undo of a 20-stamp r = 30 mm stroke.
    Undo,
    /// Clean-up of a bone + vessel threshold (150–4000 HU) through the session: remove
    /// islands < 1000 voxels, keep the largest, dilate and erode by 1.5 voxels (each undone,
    /// untimed, before the next run).
    Cleanup,
    /// Fill between slices of a liver-size ellipsoid drawn on every 5th axial slice.
    Interpolate,
    /// Grow from seeds with 3 labels + background (phantom strokes): first run and one
    /// incremental update after a new stroke.
    #[value(name = "grow-cut")]
    GrowCut,
    /// One 3D frame (1920×1080 MIP and DVR).
    #[value(name = "3d")]
    ThreeD,
    /// Whole desktop-shell frames (1920×1080 window, four panes, egui), GPU only.
    Frame,
}

impl BenchOp {
    /// All operations, in table order.
    pub const ALL: [BenchOp; 11] = [
        BenchOp::Load,
        BenchOp::Wl,
        BenchOp::Mpr,
        BenchOp::Grow,
        BenchOp::Paint,
        BenchOp::Undo,
        BenchOp::Cleanup,
        BenchOp::Interpolate,
        BenchOp::GrowCut,
        BenchOp::ThreeD,
        BenchOp::Frame,
    ];
}

/// Which implementations to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchBackend {
    Gpu,
    Cpu,
    Both,
}

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub op: String,
    pub size: String,
    /// "cpu" or "gpu".
    pub backend: String,
    /// Adapter name (GPU) or processor (CPU).
    pub device: String,
    pub runs: usize,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// Voxels the operation covers.
    pub voxels: u64,
    pub voxels_per_s: f64,
    /// Bytes the GPU allocator held during the case (None: not reported / CPU).
    pub gpu_bytes: Option<u64>,
    /// What the case did (voxels grown, changed, ...), for checking it is real work.
    pub note: String,
    /// The case's inputs (seeds, range, stroke), so peers can run the same case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
    /// For edits through the session: the median of each phase over the runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<OpTiming>,
}

/// Each phase's median over `t` (ms; waits as the median count).
pub fn median_timing(t: &[OpTiming]) -> OpTiming {
    let m = |f: &dyn Fn(&OpTiming) -> f64| summary(&t.iter().map(f).collect::<Vec<_>>()).0;
    OpTiming {
        lower_ms: m(&|x| x.lower_ms),
        snapshot_ms: m(&|x| x.snapshot_ms),
        run_ms: m(&|x| x.run_ms),
        undo_ms: m(&|x| x.undo_ms),
        journal_ms: m(&|x| x.journal_ms),
        gpu_waits: m(&|x| x.gpu_waits as f64).round() as u64,
        gpu_wait_ms: m(&|x| x.gpu_wait_ms),
    }
}

/// The timing breakdown of the rows that have one, as aligned text: per phase (lower,
/// undo snapshot, run, undo step) and the time blocked on the GPU.
pub fn format_breakdown(rows: &[Row]) -> String {
    let mut out = String::new();
    let w = rows
        .iter()
        .filter(|r| r.breakdown.is_some())
        .map(|r| r.op.len())
        .max()
        .unwrap_or(0);
    for r in rows {
        let Some(b) = &r.breakdown else { continue };
        if out.is_empty() {
            out.push_str(&format!(
                "| {:<w$} | backend | lower ms | snapshot ms | run ms | undo ms | GPU waits | waited ms |\n",
                "operation (median per phase)"
            ));
            out.push_str(&format!("|-{}-|---------|----------|-------------|--------|---------|-----------|-----------|\n", "-".repeat(w.max(28))));
        }
        out.push_str(&format!(
            "| {:<w$} | {:<7} | {:>8.3} | {:>11.3} | {:>6.3} | {:>7.3} | {:>9} | {:>9.3} |\n",
            r.op,
            r.backend,
            b.lower_ms,
            b.snapshot_ms,
            b.run_ms,
            b.undo_ms,
            b.gpu_waits,
            b.gpu_wait_ms,
            w = w.max(28)
        ));
    }
    out
}

/// Runs `f` once to warm up, then `runs` times; returns the times in ms.
pub fn time_runs(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    f()?;
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        f()?;
        t.push(start.elapsed().as_secs_f64() * 1e3);
    }
    Ok(t)
}

/// Median, min, max of `t` (ms).
pub fn summary(t: &[f64]) -> (f64, f64, f64) {
    let mut s = t.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return (0.0, 0.0, 0.0);
    }
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (median, s[0], s[n - 1])
}

impl Row {
    /// A row from run times.
    pub fn new(op: &str, size: &str, backend: &str, device: &str, voxels: u64, t: &[f64]) -> Self {
        let (median_ms, min_ms, max_ms) = summary(t);
        Self {
            op: op.to_string(),
            size: size.to_string(),
            backend: backend.to_string(),
            device: device.to_string(),
            runs: t.len(),
            median_ms,
            min_ms,
            max_ms,
            voxels,
            voxels_per_s: if median_ms > 0.0 {
                voxels as f64 / (median_ms / 1e3)
            } else {
                0.0
            },
            gpu_bytes: None,
            note: String::new(),
            params: None,
            breakdown: None,
        }
    }
}

fn si(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.2} G", v / 1e9),
        v if v >= 1e6 => format!("{:.1} M", v / 1e6),
        v if v >= 1e3 => format!("{:.1} k", v / 1e3),
        v => format!("{v:.0} "),
    }
}

/// The table as aligned text (Markdown-compatible).
pub fn format_table(rows: &[Row]) -> String {
    let head = [
        "operation",
        "size",
        "backend",
        "median ms",
        "min ms",
        "max ms",
        "voxels/s",
        "GPU MiB",
        "result",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.op.clone(),
                r.size.clone(),
                r.backend.clone(),
                format!("{:.2}", r.median_ms),
                format!("{:.2}", r.min_ms),
                format!("{:.2}", r.max_ms),
                si(r.voxels_per_s),
                r.gpu_bytes
                    .map(|b| format!("{:.0}", b as f64 / 1048576.0))
                    .unwrap_or_else(|| "-".into()),
                r.note.clone(),
            ]
        })
        .collect();
    let mut w = head.map(str::len);
    for c in &cells {
        for (k, s) in c.iter().enumerate() {
            w[k] = w[k].max(s.len());
        }
    }
    let line = |c: &[String]| -> String {
        let parts: Vec<String> = c
            .iter()
            .enumerate()
            .map(|(k, s)| {
                if (3..8).contains(&k) {
                    format!("{s:>width$}", width = w[k])
                } else {
                    format!("{s:<width$}", width = w[k])
                }
            })
            .collect();
        format!("| {} |", parts.join(" | "))
    };
    let mut out = line(&head.map(String::from));
    out.push('\n');
    let sep: Vec<String> = w.iter().map(|&n| "-".repeat(n)).collect();
    out.push_str(&format!("|-{}-|\n", sep.join("-|-")));
    for c in &cells {
        out.push_str(&line(c));
        out.push('\n');
    }
    out
}

/// This machine's processor, as the CPU rows' device name.
pub fn cpu_name() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {threads} threads")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_median_min_max() {
        assert_eq!(summary(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(summary(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
        let r = Row::new("x", "1x1x1", "cpu", "c", 2000, &[2.0, 2.0]);
        assert!((r.voxels_per_s - 1e6).abs() < 1e-6);
        let t = format_table(&[r]);
        assert!(t.contains("| x ") && t.contains("1.0 M"), "{t}");
    }
}
