//! `voxmark review [--db FILE] <add|list|show|set-status|comment|resolve|export>`: review
//! records in the project's SQLite database (see `project::review_db` for the schema and statuses).

use clap::{Args, Subcommand};
use std::path::PathBuf;
use voxmark_project::review_db::{ReviewDb, Status};

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The review database (created when missing) in the project folder.
    #[arg(long, default_value = "voxmark-review.db", global = true)]
    pub db: PathBuf,
    #[command(subcommand)]
    pub command: ReviewCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Register an annotation (mask) of a case (image) as a draft.
    Add {
        image: PathBuf,
        mask: PathBuf,
        #[arg(long)]
        annotator: String,
    },
    /// List annotations with status, round and open comments.
    List {
        #[arg(long, value_enum)]
        status: Option<Status>,
        #[arg(long)]
        json: bool,
    },
    /// One annotation with its comments and status history.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Move an annotation to a new status (draft, submitted, approved, changes-requested).
    SetStatus {
        id: i64,
        #[arg(value_enum)]
        status: Status,
        /// Who (default: $USER).
        #[arg(long)]
        by: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Comment on an annotation, anchored to a voxel (and view) with an optional label.
    Comment {
        id: i64,
        #[arg(long)]
        text: String,
        /// Voxel i,j,k the comment points at.
        #[arg(long, value_parser = parse_ijk)]
        at: Option<[i64; 3]>,
        #[arg(long, value_parser = ["axial", "coronal", "sagittal", "3d"])]
        view: Option<String>,
        #[arg(long)]
        label: Option<u8>,
        #[arg(long)]
        by: Option<String>,
    },
    /// Mark a comment resolved.
    Resolve { comment_id: i64 },
    /// Everything as JSON (stdout, or -o FILE written atomically).
    Export {
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
}

/// `i,j,k` (non-negative integers), for `--at`.
pub(crate) fn parse_ijk(s: &str) -> Result<[i64; 3], String> {
    let v: Result<Vec<i64>, _> = s.split(',').map(|p| p.trim().parse::<i64>()).collect();
    match v {
        Ok(v) if v.len() == 3 && v.iter().all(|&x| x >= 0) => Ok([v[0], v[1], v[2]]),
        _ => Err(format!("expected i,j,k (non-negative integers), got {s:?}")),
    }
}

fn user(by: Option<String>) -> String {
    by.unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
}

pub fn run(a: ReviewArgs) -> anyhow::Result<()> {
    let db = ReviewDb::open(&a.db)?;
    match a.command {
        ReviewCommand::Add {
            image,
            mask,
            annotator,
        } => {
            for p in [&image, &mask] {
                if !p.exists() {
                    anyhow::bail!("{}: no such file", p.display());
                }
            }
            let id = db.add_annotation(&image, &mask, &annotator)?;
            println!("{id}");
            eprintln!("annotation {id}: {} by {annotator} (draft)", mask.display());
        }
        ReviewCommand::List { status, json } => {
            let list = db.list(status)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!(
                    "{:>4}  {:<18} {:>5} {:<12} {:>8}  mask / image",
                    "id", "status", "round", "annotator", "comments"
                );
                for x in list {
                    println!(
                        "{:>4}  {:<18} {:>5} {:<12} {:>4}/{:<3}  {}  ({})",
                        x.id,
                        x.status.as_str(),
                        x.round,
                        x.annotator,
                        x.open_comments,
                        x.comments,
                        x.mask,
                        x.image
                    );
                }
            }
        }
        ReviewCommand::Show { id, json } => {
            let ann = db.get(id)?;
            let comments = db.comments(Some(id))?;
            let history = db.history(Some(id))?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "annotation": ann, "comments": comments, "history": history
                    }))?
                );
            } else {
                println!(
                    "annotation {id}: {} — {} round {} by {}\nimage {}",
                    ann.mask,
                    ann.status.as_str(),
                    ann.round,
                    ann.annotator,
                    ann.image
                );
                for c in comments {
                    println!(
                        "  comment {} [{}] round {} {} at {} {}{}: {}",
                        c.id,
                        if c.resolved { "resolved" } else { "open" },
                        c.round,
                        c.author,
                        c.voxel
                            .map(|v| format!("{},{},{}", v[0], v[1], v[2]))
                            .unwrap_or_else(|| "-".into()),
                        c.view.unwrap_or_default(),
                        c.label.map(|l| format!(" label {l}")).unwrap_or_default(),
                        c.body
                    );
                }
                for h in history {
                    println!(
                        "  {} {} -> {} (round {}) by {}{}",
                        h.at,
                        h.from.unwrap_or_else(|| "-".into()),
                        h.to,
                        h.round,
                        h.by,
                        h.note.map(|n| format!(": {n}")).unwrap_or_default()
                    );
                }
            }
        }
        ReviewCommand::SetStatus {
            id,
            status,
            by,
            note,
        } => {
            let x = db.set_status(id, status, &user(by), note.as_deref())?;
            eprintln!("annotation {id}: {} (round {})", x.status.as_str(), x.round);
        }
        ReviewCommand::Comment {
            id,
            text,
            at,
            view,
            label,
            by,
        } => {
            let cid = db.comment(id, &user(by), &text, at, view.as_deref(), label)?;
            println!("{cid}");
        }
        ReviewCommand::Resolve { comment_id } => {
            db.resolve(comment_id)?;
            eprintln!("comment {comment_id} resolved");
        }
        ReviewCommand::Export { out } => {
            let doc = serde_json::to_vec_pretty(&db.export()?)?;
            match out {
                Some(p) => {
                    voxmark_volume::fs::atomic::write_atomically(&p, |w| w.write_all(&doc))?;
                    eprintln!("wrote {}", p.display());
                }
                None => println!("{}", String::from_utf8_lossy(&doc)),
            }
        }
    }
    Ok(())
}
