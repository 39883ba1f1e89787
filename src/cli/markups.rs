//! `voxmark markups`: markup files (`io::markups`) from the command line.
//!
//! - `markups show FILE [--image IMG] [--json]`: each markup, its points and measurements
//!   (with `--image`, the points' voxel coordinates too).
//! - `markups edit FILE --edits EDITS.json [--author NAME]`: applies a JSON list of edits
//!   (`volume::markup::MarkupEdit`: `{"action": "add", "markup": {...}}`, `move_point`,
//!   `set_points`, `delete`, `set_props`) in order, all or nothing, and writes FILE (created
//!   when absent) atomically as `.mrk.json`.
//! - `markups export FILE --image IMG -o OUT.json`: the ML JSON (voxel coordinates, box
//!   voxel ranges) on IMG's grid; `--format slicer` rewrites as a Slicer `.mrk.json`.

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use voxmark_io::markups::{read_slicer, to_ml_json, write_ml_json, write_slicer};
use voxmark_io::{load_volume, LoadOptions};
use voxmark_volume::markup::{MarkupEdit, MarkupSet};

#[derive(Debug, Args)]
pub struct MarkupsArgs {
    #[command(subcommand)]
    pub command: MarkupsCommand,
}

#[derive(Debug, Subcommand)]
pub enum MarkupsCommand {
    /// List the markups of a .mrk.json with their measurements.
    Show {
        file: PathBuf,
        /// Also give voxel coordinates on this image's grid.
        #[arg(long)]
        image: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Apply a JSON list of markup edits to a .mrk.json (created when absent).
    Edit {
        file: PathBuf,
        /// JSON array of edits: {"action": "add" | "move_point" | "set_points" | "delete" |
        /// "set_props", ...}.
        #[arg(long)]
        edits: PathBuf,
        /// Author recorded on added markups that name none (default: $USER).
        #[arg(long)]
        author: Option<String>,
    },
    /// Export markups for a pipeline (ML JSON on an image's grid) or as Slicer .mrk.json.
    Export {
        file: PathBuf,
        #[arg(long)]
        image: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = ExportFormat::Ml)]
        format: ExportFormat,
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One record per markup with world and voxel coordinates (needs --image).
    Ml,
    /// 3D Slicer Markups JSON.
    Slicer,
}

fn no_names(_: u8) -> Option<String> {
    None
}

fn read_or_empty(path: &Path) -> anyhow::Result<MarkupSet> {
    if path.exists() {
        Ok(read_slicer(path)?)
    } else {
        Ok(MarkupSet::default())
    }
}

pub fn run(a: MarkupsArgs) -> anyhow::Result<()> {
    match a.command {
        MarkupsCommand::Show { file, image, json } => {
            let set = read_slicer(&file)?;
            let grid = match &image {
                Some(p) => Some(load_volume(p, &LoadOptions::default())?.volume.grid),
                None => None,
            };
            if json {
                let doc = match &grid {
                    Some(g) => to_ml_json(&set, g, &no_names),
                    None => serde_json::json!({"markups": set.markups.iter().map(|m| {
                        let mut v = serde_json::to_value(m).unwrap_or_default();
                        v["measurements"] = serde_json::to_value(m.measurements()).unwrap_or_default();
                        v
                    }).collect::<Vec<_>>()}),
                };
                println!("{}", serde_json::to_string_pretty(&doc)?);
                return Ok(());
            }
            println!("{} markup(s) in {}", set.markups.len(), file.display());
            for m in &set.markups {
                let name = voxmark_io::markups::display_name(m, &no_names);
                println!(
                    "{:>4}  {:<12} {:<20} {}{}",
                    m.id,
                    m.kind.name(),
                    name,
                    m.summary(),
                    if m.locked { "  [locked]" } else { "" }
                );
                if let Some(g) = &grid {
                    for p in &m.points {
                        let q = g.index_from_world(glam::DVec3::from_array(*p));
                        println!(
                            "        RAS ({:.2}, {:.2}, {:.2}) mm  voxel ({:.2}, {:.2}, {:.2})",
                            p[0], p[1], p[2], q.x, q.y, q.z
                        );
                    }
                }
            }
            Ok(())
        }
        MarkupsCommand::Edit {
            file,
            edits,
            author,
        } => {
            let mut set = read_or_empty(&file)?;
            let text = std::fs::read_to_string(&edits)
                .with_context(|| format!("reading {}", edits.display()))?;
            let list: Vec<MarkupEdit> = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a JSON list of markup edits", edits.display()))?;
            let author = author
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_default();
            let now = voxmark_volume::fs::clock::now_rfc3339();
            for (n, e) in list.iter().enumerate() {
                let mut e = e.clone();
                if let MarkupEdit::Add { markup } = &mut e {
                    if markup.author.is_empty() {
                        markup.author = author.clone();
                    }
                    if markup.created.is_empty() {
                        markup.created = now.clone();
                    }
                }
                set.apply(&e).map_err(|why| {
                    anyhow::anyhow!(
                        "{}: edit {} of {}: {why} (nothing written)",
                        edits.display(),
                        n + 1,
                        list.len()
                    )
                })?;
            }
            write_slicer(&file, &set, &no_names)?;
            eprintln!(
                "{}: {} edit(s) applied, {} markup(s)",
                file.display(),
                list.len(),
                set.markups.len()
            );
            Ok(())
        }
        MarkupsCommand::Export {
            file,
            image,
            format,
            output,
        } => {
            let set = read_slicer(&file)?;
            match format {
                ExportFormat::Slicer => write_slicer(&output, &set, &no_names)?,
                ExportFormat::Ml => {
                    let image = image.context("--format ml needs --image (voxel coordinates)")?;
                    let grid = load_volume(&image, &LoadOptions::default())?.volume.grid;
                    write_ml_json(&output, &set, &grid, &no_names)?;
                }
            }
            eprintln!(
                "wrote {} markup(s) to {}",
                set.markups.len(),
                output.display()
            );
            Ok(())
        }
    }
}
