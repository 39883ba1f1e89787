//! `voxmark project <init|add-cases|assign|next|save|get|versions|submit|approve|
//! request-changes|comment|status|cases> P …`: annotation projects (see `project` for the
//! model). `P` is a project folder (SQLite inside) or a `postgresql://user@host/db` URL
//! (password from `PGPASSWORD` or `~/.pgpass`).

use crate::project::db::Location;
use crate::project::schema::LabelSchema;
use crate::project::{image_path, CaseRow, Project, Settings};
use crate::qa::review::Status;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ProjectArgs {
    #[command(subcommand)]
    pub command: ProjectCommand,
}

/// Where the images are on this machine (default: `VOXMARK_DATA_ROOT`, else the folder
/// recorded when the first cases were added).
#[derive(Debug, Args, Clone)]
pub struct RootArg {
    #[arg(long)]
    pub data_root: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project: a folder (SQLite) or an empty PostgreSQL database.
    Init {
        project: String,
        /// Label schema JSON: {"labels":[{"value":1,"name":"liver","color":[0.9,0.4,0.3]}]}.
        #[arg(long)]
        schema: PathBuf,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value_t = 1)]
        annotators_per_case: i64,
        #[arg(long, default_value_t = 3)]
        rounds: i64,
        /// Who may approve or request changes (comma-separated; default: anyone but the
        /// annotator).
        #[arg(long, value_delimiter = ',')]
        reviewers: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Add cases: NIfTI files, folders (NIfTI files under them, or DICOM: one case per
    /// series), or CSV files listing paths.
    AddCases {
        project: String,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        root: RootArg,
        #[arg(long)]
        json: bool,
    },
    /// Assign cases to an annotator: named ones, or the next N unclaimed.
    Assign {
        project: String,
        #[arg(long)]
        annotator: String,
        #[arg(
            long,
            value_delimiter = ',',
            conflicts_with = "count",
            required_unless_present = "count"
        )]
        cases: Vec<String>,
        #[arg(long)]
        count: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Claim (atomically) and print the annotator's next case.
    Next {
        project: String,
        #[arg(long)]
        annotator: String,
        #[command(flatten)]
        root: RootArg,
        #[arg(long)]
        json: bool,
    },
    /// Store a mask as the next version of an annotation.
    Save {
        project: String,
        case: String,
        #[arg(long)]
        annotator: String,
        #[arg(long)]
        mask: PathBuf,
        /// The version the edit started from (0: none); refused when a newer one exists.
        #[arg(long)]
        base_version: Option<i64>,
        #[command(flatten)]
        root: RootArg,
        #[arg(long)]
        json: bool,
    },
    /// Write a stored mask version (default: the latest) to a file, bit for bit.
    Get {
        project: String,
        case: String,
        #[arg(long)]
        annotator: String,
        #[arg(long)]
        version: Option<i64>,
        #[arg(short, long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// List the stored versions of an annotation.
    Versions {
        project: String,
        case: String,
        #[arg(long)]
        annotator: String,
        #[arg(long)]
        json: bool,
    },
    /// The annotator submits their annotation for review.
    Submit(StatusArgs),
    /// A reviewer approves an annotation.
    Approve(StatusArgs),
    /// A reviewer sends an annotation back for changes.
    RequestChanges(StatusArgs),
    /// Comment on an annotation, anchored at a voxel.
    Comment {
        project: String,
        case: String,
        #[arg(long)]
        annotator: String,
        #[arg(long)]
        text: String,
        #[arg(long, value_parser = super::review::parse_ijk)]
        at: Option<[i64; 3]>,
        #[arg(long)]
        label: Option<u8>,
        #[arg(long)]
        by: Option<String>,
    },
    /// Counts per status, annotator and round.
    Status {
        project: String,
        #[arg(long)]
        json: bool,
    },
    /// Fill a new project with a synthetic dataset (cases, annotators, rounds of review, a
    /// small mask version per save) and time `status`, the queue, `cases` and `next` on it.
    Bench {
        /// A folder or PostgreSQL URL that holds no project yet.
        project: String,
        #[arg(long, default_value_t = 1000)]
        cases: usize,
        #[arg(long, default_value_t = 5)]
        annotators: usize,
        #[arg(long, default_value_t = 3)]
        rounds: i64,
        /// Timed runs per query (median reported).
        #[arg(long, default_value_t = 20)]
        runs: usize,
        #[arg(long)]
        json: bool,
    },
    /// Every case slot with its annotator, status, round and latest version.
    Cases {
        project: String,
        /// unassigned, draft, submitted, approved or changes_requested.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        annotator: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    pub project: String,
    pub case: String,
    /// Whose annotation.
    #[arg(long)]
    pub annotator: String,
    /// Who does it (submit: the annotator; approve / request-changes: default $USER).
    #[arg(long)]
    pub by: Option<String>,
    #[arg(long)]
    pub note: Option<String>,
    #[arg(long)]
    pub json: bool,
}

fn open(p: &str) -> anyhow::Result<Project> {
    Ok(Project::open(&Location::parse(p)?)?)
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}

fn row_line(r: &CaseRow) -> String {
    format!(
        "{:<24} {:<12} {:<18} round {} v{}  {}",
        r.case,
        r.annotator.as_deref().unwrap_or("-"),
        r.status,
        r.round,
        r.version,
        r.image
    )
}

/// `next --json`: the slot plus where its image is on this machine.
#[derive(serde::Serialize)]
struct Claimed<'a> {
    #[serde(flatten)]
    row: &'a CaseRow,
    image_path: Option<PathBuf>,
}

/// The labels of `mask` on the grid of `case`'s image (read from the data root).
fn mask_labels(
    proj: &Project,
    root: Option<&Path>,
    case: &CaseRow,
    mask: &Path,
) -> anyhow::Result<Vec<u8>> {
    let root = proj.data_root(root).with_context(|| {
        "the case's image is needed to check the mask's grid: give --data-root or VOXMARK_DATA_ROOT"
    })?;
    let img_path = image_path(&root, &case.image);
    let series = Some(case.series_uid.clone()).filter(|s| !s.is_empty());
    let img = crate::io::load_volume(&img_path, &crate::io::LoadOptions { series }).with_context(
        || {
            format!(
                "case {}: reading its image to check the mask's grid",
                case.case
            )
        },
    )?;
    let vol = crate::io::nifti::read_nifti(mask)?;
    Ok(crate::volume::labels::labels_for(
        &vol,
        mask,
        &img.volume.grid,
    )?)
}

pub fn run(a: ProjectArgs) -> anyhow::Result<()> {
    match a.command {
        ProjectCommand::Init {
            project,
            schema,
            name,
            annotators_per_case,
            rounds,
            reviewers,
            json,
        } => {
            let schema = LabelSchema::read(&schema)?;
            let loc = Location::parse(&project)?;
            let name = name.unwrap_or_else(|| match &loc {
                Location::Folder(d) => d
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "project".into()),
                Location::Server(u) => u.rsplit('/').next().unwrap_or("project").to_string(),
            });
            let settings = Settings {
                annotators_per_case,
                rounds,
                reviewers,
            };
            let p = Project::init(&loc, &name, &schema, &settings)?;
            if json {
                print_json(&serde_json::json!({
                    "project": loc.display(),
                    "name": p.name,
                    "labels": p.schema.labels.len(),
                    "settings": p.settings,
                }))?;
            } else {
                println!(
                    "project {:?} at {} with {} labels, {} annotator(s) per case, {} round(s)",
                    p.name,
                    loc.display(),
                    p.schema.labels.len(),
                    p.settings.annotators_per_case,
                    p.settings.rounds
                );
            }
        }
        ProjectCommand::AddCases {
            project,
            paths,
            root,
            json,
        } => {
            let mut p = open(&project)?;
            let added = p.add_cases(&paths, root.data_root.as_deref())?;
            if json {
                print_json(&added)?;
            } else {
                for r in &added {
                    println!("{:<24} {}", r.case, r.image);
                }
                println!(
                    "{} case(s) added; data root {}",
                    added.len(),
                    p.data_root(root.data_root.as_deref())
                        .map(|r| r.display().to_string())
                        .unwrap_or_default()
                );
            }
        }
        ProjectCommand::Assign {
            project,
            annotator,
            cases,
            count,
            json,
        } => {
            let mut p = open(&project)?;
            let rows = match count {
                Some(n) => p.assign_count(&annotator, n)?,
                None => p.assign(&annotator, &cases)?,
            };
            if json {
                print_json(&rows)?;
            } else {
                for r in &rows {
                    println!("{}", row_line(r));
                }
                println!("{} case(s) assigned to {annotator}", rows.len());
            }
        }
        ProjectCommand::Next {
            project,
            annotator,
            root,
            json,
        } => {
            let mut p = open(&project)?;
            let next = p.next(&annotator)?;
            let dir = p.data_root(root.data_root.as_deref());
            match (&next, json) {
                (Some(r), true) => print_json(&Claimed {
                    row: r,
                    image_path: dir.map(|d| image_path(&d, &r.image)),
                })?,
                (None, true) => println!("null"),
                (Some(r), false) => println!("{}", row_line(r)),
                (None, false) => println!("no case left for {annotator}"),
            }
        }
        ProjectCommand::Save {
            project,
            case,
            annotator,
            mask,
            base_version,
            root,
            json,
        } => {
            let mut p = open(&project)?;
            let slot = p
                .cases(None, Some(&annotator))?
                .into_iter()
                .find(|r| r.case == case)
                .with_context(|| {
                    format!("case {case} is not assigned to {annotator} (`voxmark project next` or `assign`)")
                })?;
            let labels = mask_labels(&p, root.data_root.as_deref(), &slot, &mask)?;
            p.check_mask(&labels, &mask)?;
            let bytes = std::fs::read(&mask).map_err(|e| crate::Error::io(&mask, e))?;
            let v = p.save_version(&case, &annotator, &bytes, base_version, &annotator)?;
            if json {
                print_json(&v)?;
            } else {
                println!(
                    "case {case} by {annotator}: version {} stored ({} bytes, sha256 {})",
                    v.version, v.bytes, v.sha256
                );
            }
        }
        ProjectCommand::Get {
            project,
            case,
            annotator,
            version,
            out,
            json,
        } => {
            let mut p = open(&project)?;
            let (info, bytes) = p.get_version(&case, &annotator, version)?;
            crate::io::atomic::write_atomically(&out, |w| w.write_all(&bytes))?;
            if json {
                print_json(&info)?;
            } else {
                println!(
                    "case {case} by {annotator}: version {} ({} by {}) written to {}",
                    info.version,
                    info.saved_at,
                    info.author,
                    out.display()
                );
            }
        }
        ProjectCommand::Versions {
            project,
            case,
            annotator,
            json,
        } => {
            let mut p = open(&project)?;
            let vs = p.versions(&case, &annotator)?;
            if json {
                print_json(&vs)?;
            } else {
                for v in &vs {
                    println!(
                        "v{:<4} round {}  {}  {}  {} bytes  sha256 {}",
                        v.version, v.round, v.saved_at, v.author, v.bytes, v.sha256
                    );
                }
            }
        }
        ProjectCommand::Submit(s) => set_status(s, Status::Submitted)?,
        ProjectCommand::Approve(s) => set_status(s, Status::Approved)?,
        ProjectCommand::RequestChanges(s) => set_status(s, Status::ChangesRequested)?,
        ProjectCommand::Comment {
            project,
            case,
            annotator,
            text,
            at,
            label,
            by,
        } => {
            let mut p = open(&project)?;
            let by = by.unwrap_or_else(user);
            p.comment(&case, &annotator, &by, &text, at, label)?;
            println!("comment by {by} on case {case} by {annotator}");
        }
        ProjectCommand::Status { project, json } => {
            let mut p = open(&project)?;
            let s = p.status()?;
            if json {
                print_json(&s)?;
            } else {
                println!(
                    "{}: {} case(s), {} done (every annotation approved), {} slot(s) unclaimed",
                    s.name, s.cases, s.cases_done, s.unclaimed_slots
                );
                for (k, v) in &s.by_status {
                    println!("  {k:<18} {v}");
                }
                for (a, m) in &s.by_annotator {
                    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    println!("  {a:<18} {}", parts.join(", "));
                }
                for (r, n) in &s.by_round {
                    println!("  round {r:<12} {n}");
                }
            }
        }
        ProjectCommand::Bench {
            project,
            cases,
            annotators,
            rounds,
            runs,
            json,
        } => bench(&project, cases, annotators, rounds, runs, json)?,
        ProjectCommand::Cases {
            project,
            status,
            annotator,
            json,
        } => {
            let mut p = open(&project)?;
            let rows = p.cases(status.as_deref(), annotator.as_deref())?;
            if json {
                print_json(&rows)?;
            } else {
                for r in &rows {
                    println!("{}", row_line(r));
                }
            }
        }
    }
    Ok(())
}

fn set_status(s: StatusArgs, to: Status) -> anyhow::Result<()> {
    let mut p = open(&s.project)?;
    let by = match to {
        Status::Submitted | Status::Draft => s.by.unwrap_or_else(|| s.annotator.clone()),
        _ => s.by.unwrap_or_else(user),
    };
    let r = p.set_status(&s.case, &s.annotator, to, &by, s.note.as_deref())?;
    if s.json {
        print_json(&r)?;
    } else {
        println!("{}", row_line(&r));
    }
    Ok(())
}

/// `project bench`: the dataset the issue sizes for (default 1,000 cases, 5 annotators, 3
/// rounds) built through the library's own calls, then each query timed.
fn bench(
    project: &str,
    cases: usize,
    annotators: usize,
    rounds: i64,
    runs: usize,
    json: bool,
) -> anyhow::Result<()> {
    use crate::project::NewCase;
    use std::time::Instant;
    let loc = Location::parse(project)?;
    let schema = LabelSchema::parse(
        r#"{"labels":[{"value":1,"name":"organ","color":[0.9,0.4,0.3]}]}"#,
        Path::new("bench"),
    )?;
    let settings = Settings {
        annotators_per_case: 1,
        rounds,
        reviewers: Vec::new(),
    };
    let mut p = Project::init(&loc, "bench", &schema, &settings)?;
    let t0 = Instant::now();
    let items: Vec<NewCase> = (0..cases)
        .map(|i| NewCase {
            image: format!("images/case{i:05}.nii.gz"),
            series_uid: String::new(),
            stem: format!("case{i:05}"),
        })
        .collect();
    p.add_case_records(&items, Some(&PathBuf::from("/data")))?;
    let names: Vec<String> = (0..annotators.max(1)).map(|a| format!("ann{a}")).collect();
    let mask = vec![0u8; 4096];
    // Each annotator claims in turn; a case's fate by its number: some stay drafts, some are
    // submitted, some approved, and some go through changes in round 2 or 3.
    let bar = indicatif::ProgressBar::new(cases as u64);
    for i in 0..cases {
        let who = &names[i % names.len()];
        let Some(slot) = p.assign_count(who, 1)?.pop() else {
            break;
        };
        let c = slot.case;
        bar.inc(1);
        if i % 10 == 0 {
            continue; // claimed, nothing saved
        }
        p.save_version(&c, who, &mask, None, who)?;
        if i % 10 == 1 {
            continue; // draft with a version
        }
        p.set_status(&c, who, Status::Submitted, who, None)?;
        let extra = (i % 3) as i64; // 0, 1 or 2 rounds of changes
        for _ in 0..extra.min(rounds - 1) {
            p.set_status(&c, who, Status::ChangesRequested, "reviewer", Some("fix"))?;
            if i % 10 == 2 {
                break; // left with changes requested
            }
            p.save_version(&c, who, &mask, None, who)?;
            p.set_status(&c, who, Status::Submitted, who, None)?;
        }
        if i % 2 == 0
            && p.cases(None, Some(who))?
                .iter()
                .any(|r| r.case == c && r.status == "submitted")
        {
            p.set_status(&c, who, Status::Approved, "reviewer", None)?;
        }
    }
    bar.finish_and_clear();
    let fill_s = t0.elapsed().as_secs_f64();
    let mut time =
        |f: &mut dyn FnMut(&mut Project) -> crate::Result<usize>| -> anyhow::Result<(f64, usize)> {
            let mut t = Vec::new();
            let mut n = 0;
            for _ in 0..runs.max(1) + 1 {
                let s = Instant::now();
                n = f(&mut p)?;
                t.push(s.elapsed().as_secs_f64() * 1e3);
            }
            t.remove(0); // warm-up
            let (median, _, _) = crate::bench::summary(&t);
            Ok((median, n))
        };
    let who = names[0].clone();
    let rows = vec![
        (
            "status",
            time(&mut |p| p.status().map(|s| s.cases as usize))?,
        ),
        (
            "queue of one annotator",
            time(&mut |p| p.queue(&who).map(|q| q.len()))?,
        ),
        (
            "cases (all slots)",
            time(&mut |p| p.cases(None, None).map(|c| c.len()))?,
        ),
        (
            "next (returns the queue head)",
            time(&mut |p| p.next(&who).map(|n| usize::from(n.is_some())))?,
        ),
    ];
    let engine = match loc {
        Location::Folder(_) => "sqlite",
        Location::Server(_) => "postgresql",
    };
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(q, (ms, n))| serde_json::json!({"query": q, "engine": engine, "median_ms": ms, "rows": n, "cases": cases, "annotators": annotators, "rounds": rounds}))
            .collect();
        print_json(&v)?;
    } else {
        println!("{engine}: {cases} cases, {annotators} annotators, {rounds} rounds (filled in {fill_s:.1} s)");
        println!("| query | median ms | rows |\n|---|---:|---:|");
        for (q, (ms, n)) in &rows {
            println!("| {q} | {ms:.2} | {n} |");
        }
    }
    Ok(())
}
