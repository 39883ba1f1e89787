//! `voxmark apply PATH --ops OPS.json [--labels IN.nii.gz] [--journal J.jsonl] -o OUT.nii.gz`
//!
//! Applies edit operations (JSON array, or JSON lines — a journal is accepted as ops) to a
//! label map on the image's grid. With `--journal`, the session journal is reopened first:
//! every complete entry is replayed on top of `--labels` (crash recovery), then each new op is
//! applied and appended (fsync) before the next one starts.
//!
//! Markups (`{"op": "markup", ...}` ops) start from the markups saved beside `--labels`
//! (`MASK.mrk.json`, the one consistent with the mask's journal marker) or `--markups`, and
//! are saved beside the output (`OUT.mrk.json`, 3D Slicer's Markups JSON) before the mask.

use clap::Args;
use std::path::PathBuf;
use voxmark_edit::journal::Journal;
use voxmark_edit::ops::parse_ops;
use voxmark_edit::session::Session;
use voxmark_io::label_file::{
    markups_path, read_markups_for, save_annotation_marked, sidecar_path,
};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The image: .nii / .nii.gz, .nrrd / .nhdr, .mha / .mhd, a DICOM file or a folder of DICOM
    /// files.
    pub path: PathBuf,
    /// Operations: a JSON array, or JSON lines of ops or journal entries.
    #[arg(long)]
    pub ops: PathBuf,
    /// Starting label map (same grid as the image); default: empty.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    #[command(flatten)]
    pub resample: super::ResampleArg,
    /// Label names and colours: an ITK-SNAP label description, a Slicer `.ctbl`, a FreeSurfer
    /// LUT or a mricron `.nii.txt` (replaces the starting mask's table).
    #[arg(long)]
    pub label_table: Option<PathBuf>,
    /// Starting markups (a 3D Slicer `.mrk.json`); default: those saved beside `--labels`.
    #[arg(long)]
    pub markups: Option<PathBuf>,
    /// Session journal: replayed first if it exists, then every new op is appended.
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Author recorded in the journal (default: $USER).
    #[arg(long)]
    pub author: Option<String>,
    /// Undo memory budget in MiB (host memory; the oldest steps are dropped past it).
    #[arg(long, default_value_t = 1024)]
    pub undo_budget_mib: usize,
    /// Undo memory budget in MiB on the GPU (GPU backend: the oldest steps move to host
    /// memory past it).
    #[arg(long, default_value_t = 1024)]
    pub undo_gpu_budget_mib: usize,
    /// Where the label volume lives and the ops run.
    #[arg(long, value_enum, default_value_t = super::BackendChoice::Auto)]
    pub backend: super::BackendChoice,
    /// Print one JSON report per op.
    #[arg(long)]
    pub json: bool,
    /// SeriesInstanceUID when the folder holds several series.
    #[arg(long)]
    pub series: Option<String>,
    /// Output label map (.nii / .nii.gz), written atomically on the image's grid.
    #[arg(short, long)]
    pub out: PathBuf,
}

/// Test hook: abort the process (like kill -9, no cleanup) after this many acknowledged ops.
const CRASH_ENV: &str = "VOXMARK_CRASH_AFTER_OPS";

pub fn run(a: ApplyArgs) -> anyhow::Result<()> {
    super::require_nifti_output(&a.out)?;
    let text = std::fs::read_to_string(&a.ops).map_err(|e| voxmark_volume::Error::io(&a.ops, e))?;
    let ops = parse_ops(&text, &a.ops)?;
    for (n, op) in ops.iter().enumerate() {
        op.validate()
            .map_err(|e| anyhow::anyhow!("{}: op {}: {e}", a.ops.display(), n + 1))?;
    }
    let loaded = super::load_input(&a.path, a.series.clone())?;
    let image = &loaded.volume;
    let (start, start_table, start_marker) = match &a.labels {
        Some(p) => {
            let m = voxmark_io::label_file::read_label_map_with(p, &image.grid, a.resample.get())?;
            super::print_warnings(&m.warnings);
            (m.labels, m.table, m.journal_marker)
        }
        None => (vec![0u8; image.grid.voxel_count()], None, None),
    };
    let start_markups = match (&a.markups, &a.labels) {
        (Some(p), _) => voxmark_io::markups::read_slicer(p)?,
        (None, Some(l)) => {
            let (set, warnings) = read_markups_for(l, start_marker.as_deref())?;
            super::print_warnings(&warnings);
            set
        }
        (None, None) => Default::default(),
    };
    let ctx = a.backend.open()?;
    let mut session = match &ctx {
        Some(ctx) => Session::on_gpu(ctx, image, &start)?,
        None => Session::new(image, start)?,
    };
    eprintln!(
        "editing on the {}{}",
        session.backend(),
        ctx.as_ref()
            .map(|c| format!(" ({})", c.report().name))
            .unwrap_or_default()
    );
    // The starting mask's label table (a sidecar written by an earlier `apply`, or a
    // segmentation's segments), if any.
    if let Some(table) = start_table {
        session.set_table(table);
    }
    session.set_markups(start_markups);
    if let Some(t) = &a.label_table {
        session.set_table(voxmark_io::color_table::read_color_table(t)?);
    }
    session.undo_stack_mut().budget = a.undo_budget_mib << 20;
    session.undo_stack_mut().gpu_budget = a.undo_gpu_budget_mib << 20;
    if let Some(author) = &a.author {
        session.set_author(author.clone());
    }
    if let Some(jp) = &a.journal {
        let (journal, mut recovered) = Journal::open(jp, "voxmark apply")?;
        if let Some(w) = &recovered.warning {
            eprintln!("voxmark: warning: {w}");
        }
        // A starting mask saved from this journal already holds its ops up to its marker.
        let done = recovered.drop_saved(start_marker.as_deref());
        if done > 0 {
            eprintln!(
                "{done} operations of {} are already in {}: not applied again",
                jp.display(),
                a.labels.as_deref().unwrap_or(jp).display()
            );
        }
        // The journal first: replay marks the steps it rebuilds as replayable from it.
        session.set_journal(Some(journal));
        let entries = &recovered.entries;
        if !entries.is_empty() {
            session.replay(entries)?;
            eprintln!(
                "restored {} operations from {}",
                entries.len(),
                jp.display()
            );
        }
    }
    let crash_after: Option<usize> = std::env::var(CRASH_ENV).ok().and_then(|v| v.parse().ok());
    for (n, op) in ops.iter().enumerate() {
        let t = std::time::Instant::now();
        let r = session.apply(op, "voxmark apply").map_err(|e| {
            anyhow::anyhow!("{}: op {} ({}): {e}", a.ops.display(), n + 1, op.name())
        })?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if a.json {
            println!(
                "{}",
                serde_json::json!({"index": n + 1, "report": r, "ms": ms})
            );
        } else {
            eprintln!(
                "op {:>3} {:<12} {:>10} voxels changed, undo +{} B (total {} B{}){} in {ms:.1} ms",
                n + 1,
                r.op,
                r.changed_voxels,
                r.undo_bytes,
                r.undo_total_bytes,
                if r.undo_gpu_bytes > 0 {
                    format!(", {} B on the GPU", r.undo_gpu_bytes)
                } else {
                    String::new()
                },
                r.step.map(|s| format!(", step {s}")).unwrap_or_default()
            );
        }
        if crash_after == Some(n + 1) {
            std::process::abort();
        }
    }
    let marker = session
        .journal()
        .and_then(|j| j.last_marker().map(str::to_string));
    save_annotation_marked(
        &a.out,
        image,
        session.labels()?.into_owned(),
        session.table(),
        Some(session.markups()),
        marker.as_deref(),
    )
    .map_err(|e| {
        // Nothing acknowledged is lost: say where the work is.
        let kept = match &a.journal {
            Some(j) => format!(
                "; every operation is in the journal {} (run again with a writable -o to save it)",
                j.display()
            ),
            None => String::new(),
        };
        anyhow::anyhow!("{}: not saved ({e}){kept}", a.out.display())
    })?;
    eprintln!("wrote {}", a.out.display());
    if !session.table().is_empty() {
        eprintln!(
            "wrote {} (label names, colours, visibility, locks)",
            sidecar_path(&a.out).display()
        );
    }
    let mp = markups_path(&a.out);
    if mp.exists() {
        eprintln!(
            "wrote {} ({} markups)",
            mp.display(),
            session.markups().markups.len()
        );
    }
    Ok(())
}
