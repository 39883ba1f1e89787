//! `voxmark project <init|add-cases|assign|next|save|get|versions|submit|approve|
//! request-changes|comment|status|cases|export|report|gold|gold-settings|gold-scores> P …`: annotation projects (see `project` for the
//! model). `P` is a project folder (SQLite inside) or a `postgresql://user@host/db` URL
//! (password from `PGPASSWORD` or `~/.pgpass`).

use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use voxmark_project::db::Location;
use voxmark_project::review_db::Status;
use voxmark_project::schema::LabelSchema;
use voxmark_project::{image_path, CaseRow, Project, Settings};
use voxmark_server::target::{user, Target};
use voxmark_volume::labels::Resample;

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
    Init(InitArgs),
    /// Add cases: NIfTI files, folders (NIfTI files under them, or DICOM: one case per
    /// series), or CSV files listing paths.
    AddCases(AddCasesArgs),
    /// Assign cases to an annotator: named ones, or the next N unclaimed.
    Assign(AssignArgs),
    /// Claim (atomically) and print the annotator's next case.
    Next(NextArgs),
    /// Store a mask as the next version of an annotation.
    Save(SaveArgs),
    /// Write a stored mask version (default: the latest) to a file, bit for bit.
    Get(GetArgs),
    /// List the stored versions of an annotation.
    Versions(VersionsArgs),
    /// The annotator submits their annotation for review.
    Submit(StatusArgs),
    /// A reviewer approves an annotation.
    Approve(StatusArgs),
    /// A reviewer sends an annotation back for changes.
    RequestChanges(StatusArgs),
    /// Comment on an annotation, anchored at a voxel.
    Comment(CommentArgs),
    /// Counts per status, annotator and round.
    Status(ShowStatusArgs),
    /// Fill a new project with a synthetic dataset (cases, annotators, rounds of review, a
    /// small mask version per save) and time `status`, the queue, `cases` and `next` on it.
    Bench(BenchArgs),
    /// Export the training set: nnU-Net v2 raw layout, MONAI datalist or a folder per case,
    /// with a manifest tracing every label to its mask versions. Re-running writes only what
    /// changed.
    Export(ExportArgs),
    /// Make a case gold: its reference mask imported from a file, or the approved version of
    /// an expert's annotation. Submissions of gold cases are scored against it.
    Gold(GoldArgs),
    /// Show or change the gold-standard protocol: pass thresholds, gold cases required before
    /// real work, fraction of unannounced gold cases.
    GoldSettings(GoldSettingsArgs),
    /// Scores of gold-case submissions.
    GoldScores(GoldScoresArgs),
    /// QA report: one self-contained HTML page (progress, annotators, per-label agreement,
    /// flagged cases with thumbnails), or its numbers as JSON.
    Report(ReportArgs),
    /// Every case slot with its annotator, status, round and latest version.
    Cases(CasesArgs),
    /// The team server's audit log: who did what, when, from where (oldest first).
    Audit(AuditArgs),
}

/// Arguments of `voxmark project audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    pub project: String,
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub case: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `voxmark project init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    pub project: String,
    /// Label schema JSON: {"labels":[{"value":1,"name":"liver","color":[0.9,0.4,0.3]}]}.
    #[arg(
        long,
        required_unless_present = "label_table",
        conflicts_with = "label_table"
    )]
    pub schema: Option<PathBuf>,
    /// The schema from a colour table: ITK-SNAP label description, Slicer `.ctbl`,
    /// FreeSurfer LUT or mricron `.nii.txt`.
    #[arg(long)]
    pub label_table: Option<PathBuf>,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub annotators_per_case: i64,
    #[arg(long, default_value_t = 3)]
    pub rounds: i64,
    /// Who may approve or request changes (comma-separated; default: anyone but the
    /// annotator).
    #[arg(long, value_delimiter = ',')]
    pub reviewers: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `voxmark project add-cases`.
#[derive(Debug, Args)]
pub struct AddCasesArgs {
    pub project: String,
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub root: RootArg,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `voxmark project assign`.
#[derive(Debug, Args)]
pub struct AssignArgs {
    pub project: String,
    #[arg(long)]
    pub annotator: String,
    #[arg(
        long,
        value_delimiter = ',',
        conflicts_with = "count",
        required_unless_present = "count"
    )]
    pub cases: Vec<String>,
    #[arg(long)]
    pub count: Option<usize>,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `voxmark project next`.
#[derive(Debug, Args)]
pub struct NextArgs {
    pub project: String,
    #[arg(long)]
    pub annotator: String,
    #[command(flatten)]
    pub root: RootArg,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `voxmark project save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    pub project: String,
    pub case: String,
    #[arg(long)]
    pub annotator: String,
    #[arg(long)]
    pub mask: PathBuf,
    #[command(flatten)]
    pub resample: super::ResampleArg,
    /// The markups saved with the mask (a 3D Slicer `.mrk.json`; default: the one beside
    /// the mask, `MASK.mrk.json`, when there is one).
    #[arg(long)]
    pub markups: Option<PathBuf>,
    /// The version the edit started from (0: none); refused when a newer one exists.
    #[arg(long)]
    pub base_version: Option<i64>,
    #[command(flatten)]
    pub root: RootArg,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `voxmark project get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    pub project: String,
    pub case: String,
    #[arg(long)]
    pub annotator: String,
    #[arg(long)]
    pub version: Option<i64>,
    #[arg(short, long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `voxmark project versions`.
#[derive(Debug, Args)]
pub struct VersionsArgs {
    pub project: String,
    pub case: String,
    #[arg(long)]
    pub annotator: String,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `voxmark project comment`.
#[derive(Debug, Args)]
pub struct CommentArgs {
    pub project: String,
    pub case: String,
    #[arg(long)]
    pub annotator: String,
    #[arg(long)]
    pub text: String,
    #[arg(long, value_parser = super::review::parse_ijk)]
    pub at: Option<[i64; 3]>,
    #[arg(long)]
    pub label: Option<u8>,
    #[arg(long)]
    pub by: Option<String>,
}

/// Arguments of `voxmark project status`.
#[derive(Debug, Args)]
pub struct ShowStatusArgs {
    pub project: String,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `voxmark project bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A folder or PostgreSQL URL that holds no project yet.
    pub project: String,
    #[arg(long, default_value_t = 1000)]
    pub cases: usize,
    #[arg(long, default_value_t = 5)]
    pub annotators: usize,
    #[arg(long, default_value_t = 3)]
    pub rounds: i64,
    /// Timed runs per query (median reported).
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Through a team server instead (`voxmark serve` in this process, HTTP on 127.0.0.1):
    /// claim, save, status and cases latency p50/p99 per client count, and image download
    /// against a local copy.
    #[arg(long)]
    pub http: bool,
    /// With --http: concurrent clients per round (each its own account).
    #[arg(long, value_delimiter = ',', default_value = "1,50", requires = "http")]
    pub clients: Vec<usize>,
    /// With --http: the image and mask grid.
    #[arg(long, value_parser = parse_dims, default_value = "512,512,300", requires = "http")]
    pub mask_size: [usize; 3],
    /// With --http: status and cases requests per client.
    #[arg(long, default_value_t = 20, requires = "http")]
    pub requests: usize,
    #[arg(long)]
    pub json: bool,
}

fn parse_dims(s: &str) -> Result<[usize; 3], String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|x| x.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{s:?}: {e}"))?;
    <[usize; 3]>::try_from(v).map_err(|_| format!("{s:?}: give X,Y,Z"))
}

/// Arguments of `voxmark project gold`.
#[derive(Debug, Args)]
pub struct GoldArgs {
    pub project: String,
    pub case: String,
    /// Reference label map on the case's image grid.
    #[arg(
        long,
        conflicts_with = "from_annotator",
        required_unless_present = "from_annotator"
    )]
    pub mask: Option<PathBuf>,
    /// Use this annotator's approved annotation as the reference.
    #[arg(long)]
    pub from_annotator: Option<String>,
    /// The expert vouching for the reference (default $USER).
    #[arg(long)]
    pub by: Option<String>,
    #[command(flatten)]
    pub root: RootArg,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `voxmark project gold-settings`.
#[derive(Debug, Args)]
pub struct GoldSettingsArgs {
    pub project: String,
    /// Every label's Dice must reach this to pass.
    #[arg(long)]
    pub min_dice: Option<f64>,
    /// Every label's HD95 must stay within this (mm); a negative value clears it.
    #[arg(long, allow_hyphen_values = true)]
    pub max_hd95_mm: Option<f64>,
    /// Gold cases an annotator must pass before `next` gives real cases.
    #[arg(long)]
    pub required: Option<i64>,
    /// Fraction (0..1) of later `next` calls serving an unannounced gold case.
    #[arg(long)]
    pub rate: Option<f64>,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `voxmark project gold-scores`.
#[derive(Debug, Args)]
pub struct GoldScoresArgs {
    pub project: String,
    #[arg(long)]
    pub annotator: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `voxmark project report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    pub project: String,
    /// The HTML file to write.
    #[arg(short, long, required_unless_present = "json")]
    pub out: Option<PathBuf>,
    /// Pairs with a label's Dice below this are flagged.
    #[arg(long, default_value_t = 0.8)]
    pub flag_below: f64,
    /// At most this many flagged pairs get a thumbnail.
    #[arg(long, default_value_t = 12)]
    pub thumbnails: usize,
    /// Cases compared at once (default: one per core, never more).
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    pub jobs: usize,
    #[command(flatten)]
    pub root: RootArg,
    /// Print the report's numbers as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `voxmark project cases`.
#[derive(Debug, Args)]
pub struct CasesArgs {
    pub project: String,
    /// unassigned, draft, submitted, approved or changes_requested.
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub annotator: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Nnunet,
    Monai,
    Folder,
    /// Per case a 3D Slicer `.seg.nrrd` beside the image as NRRD.
    SegNrrd,
    /// Per case a DICOM SEG referencing the case's source series.
    DicomSeg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConsensusArg {
    Majority,
    Staple,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    pub project: String,
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Output folder (nnU-Net: `DatasetNNN_Name` is made inside it).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Annotation statuses exported (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "approved")]
    pub status: Vec<String>,
    /// How several annotators' masks of a case are combined.
    #[arg(long, value_enum, default_value_t = ConsensusArg::Majority)]
    pub consensus: ConsensusArg,
    /// nnU-Net dataset id (1..999).
    #[arg(long, default_value_t = 1)]
    pub dataset_id: u32,
    /// nnU-Net dataset name (default: the project's name).
    #[arg(long)]
    pub name: Option<String>,
    /// MONAI: cross-validation folds (a `fold` key per item, deterministic by case id).
    #[arg(long)]
    pub folds: Option<usize>,
    /// Channel name / modality (default: the DICOM Modality; "CT" gives nnU-Net's CT
    /// normalisation). Needed for NIfTI images, which do not say.
    #[arg(long)]
    pub channel_name: Option<String>,
    /// Also write the markups saved with each exported mask version: `markups/<case>/
    /// <annotator>.mrk.json` (3D Slicer) and `.json` (voxel and world coordinates, box voxel
    /// ranges) under the dataset's root.
    #[arg(long)]
    pub markups: bool,
    /// Also export cases not every slot of which is approved (or in --status) yet, from the
    /// slots that are; by default only done cases are exported, as `project status` counts
    /// them.
    #[arg(long)]
    pub include_partial: bool,
    /// Cases written at once (default: one per core of the machine that exports, never
    /// more); each worker holds one case's image, masks and label in memory.
    #[arg(long)]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub root: RootArg,
    #[arg(long)]
    pub json: bool,
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

fn target(p: &str) -> anyhow::Result<Target> {
    Ok(Target::open(p)?)
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
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

/// The labels of `mask` on the grid of `case`'s image (read from the data root), and the
/// bytes to store: the file itself when it is NIfTI, else (NRRD, `.seg.nrrd`, DICOM SEG) the
/// labels written as a NIfTI mask on the image's grid — versions are NIfTI masks.
fn mask_labels(
    proj: &Project,
    root: Option<&Path>,
    case: &CaseRow,
    mask: &Path,
    resample: Resample,
) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let root = proj.data_root(root).with_context(|| {
        "the case's image is needed to check the mask's grid: give --data-root or VOXMARK_DATA_ROOT"
    })?;
    mask_labels_at(
        &image_path(&root, &case.image),
        &case.series_uid,
        &case.case,
        mask,
        resample,
    )
}

/// [`mask_labels`] with the image at `img_path` (series `series_uid`).
fn mask_labels_at(
    img_path: &Path,
    series_uid: &str,
    case: &str,
    mask: &Path,
    resample: Resample,
) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let series = Some(series_uid.to_string()).filter(|s| !s.is_empty());
    let img = voxmark_io::load_volume(img_path, &voxmark_io::LoadOptions { series })
        .with_context(|| format!("case {case}: reading its image to check the mask's grid"))?;
    // Any label format: NIfTI, NRRD, a Slicer .seg.nrrd, a DICOM SEG.
    let m = voxmark_io::label_file::read_label_map_with(mask, &img.volume.grid, resample)?;
    super::print_warnings(&m.warnings);
    // A NIfTI mask on the image's own grid is stored byte for byte; one taken across
    // (reoriented, placed from a box, resampled) is written anew on the image's grid.
    if voxmark_io::sniff(mask)? == voxmark_io::Kind::Nifti && !m.moved {
        let bytes = std::fs::read(mask).map_err(|e| voxmark_volume::Error::io(mask, e))?;
        return Ok((m.labels, bytes));
    }
    let tmp = tempfile::Builder::new()
        .prefix(".voxmark-mask-")
        .suffix(".nii.gz")
        .tempfile()
        .map_err(|e| voxmark_volume::Error::io(std::env::temp_dir(), e))?;
    voxmark_io::label_file::save_labels(tmp.path(), &img.volume, m.labels.clone(), &[])?;
    let bytes = std::fs::read(tmp.path()).map_err(|e| voxmark_volume::Error::io(tmp.path(), e))?;
    Ok((m.labels, bytes))
}

/// `voxmark project …`: one function per subcommand.
pub fn run(a: ProjectArgs) -> anyhow::Result<()> {
    match a.command {
        ProjectCommand::Init(a) => init(a),
        ProjectCommand::AddCases(a) => add_cases(a),
        ProjectCommand::Assign(a) => assign(a),
        ProjectCommand::Next(a) => next(a),
        ProjectCommand::Save(a) => save(a),
        ProjectCommand::Get(a) => get(a),
        ProjectCommand::Versions(a) => versions(a),
        ProjectCommand::Submit(s) => set_status(s, Status::Submitted),
        ProjectCommand::Approve(s) => set_status(s, Status::Approved),
        ProjectCommand::RequestChanges(s) => set_status(s, Status::ChangesRequested),
        ProjectCommand::Comment(a) => comment(a),
        ProjectCommand::Status(a) => status(a),
        ProjectCommand::Bench(a) => bench_command(a),
        ProjectCommand::Export(e) => export(e),
        ProjectCommand::Gold(a) => gold(a),
        ProjectCommand::GoldSettings(a) => gold_settings(a),
        ProjectCommand::GoldScores(a) => gold_scores(a),
        ProjectCommand::Report(a) => report(a),
        ProjectCommand::Cases(a) => cases(a),
        ProjectCommand::Audit(a) => audit(a),
    }
}

/// `voxmark project init`.
fn init(
    InitArgs {
        project,
        schema,
        label_table,
        name,
        annotators_per_case,
        rounds,
        reviewers,
        json,
    }: InitArgs,
) -> anyhow::Result<()> {
    let schema = match (&schema, &label_table) {
        (Some(p), _) => LabelSchema::read(p)?,
        (None, Some(t)) => {
            let table = voxmark_io::color_table::read_color_table(t)?;
            let json = serde_json::json!({
                "labels": table
                    .iter()
                    .map(|l| serde_json::json!({
                        "value": l.value, "name": l.name, "color": l.color
                    }))
                    .collect::<Vec<_>>()
            });
            LabelSchema::parse(&json.to_string(), t)?
        }
        (None, None) => anyhow::bail!("give --schema or --label-table"),
    };
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
        ..Default::default()
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
    Ok(())
}

/// `voxmark project add-cases`.
fn add_cases(
    AddCasesArgs {
        project,
        paths,
        root,
        json,
    }: AddCasesArgs,
) -> anyhow::Result<()> {
    let mut t = target(&project)?;
    let added = t.add_cases(&paths, root.data_root.as_deref())?;
    if json {
        print_json(&added)?;
    } else {
        for r in &added {
            println!("{:<24} {}", r.case, r.image);
        }
        let where_ = match &t {
            Target::Local(p) => p
                .data_root(root.data_root.as_deref())
                .map(|r| format!("data root {}", r.display()))
                .unwrap_or_default(),
            Target::Remote(r) => format!("on {} (under its data root)", r.client.base),
        };
        println!("{} case(s) added; {where_}", added.len());
    }
    Ok(())
}

/// `voxmark project assign`.
fn assign(
    AssignArgs {
        project,
        annotator,
        cases,
        count,
        json,
    }: AssignArgs,
) -> anyhow::Result<()> {
    let rows = target(&project)?.assign(&annotator, &cases, count)?;
    if json {
        print_json(&rows)?;
    } else {
        for r in &rows {
            println!("{}", row_line(r));
        }
        println!("{} case(s) assigned to {annotator}", rows.len());
    }
    Ok(())
}

/// `voxmark project next`.
fn next(
    NextArgs {
        project,
        annotator,
        root,
        json,
    }: NextArgs,
) -> anyhow::Result<()> {
    let mut t = target(&project)?;
    let next = t.next(&annotator)?;
    // Where the image is on this machine: under the data root, or fetched from the server
    // into the cache.
    let local_image = |r: &CaseRow| -> anyhow::Result<Option<PathBuf>> {
        let bar = voxmark_io::progress::Progress::new(0, "fetching the case's image (bytes)");
        let p = t.image(r, root.data_root.as_deref(), &mut |d, n| bar.set(d, n))?;
        bar.finish();
        Ok(p)
    };
    match (&next, json) {
        (Some(r), true) => print_json(&Claimed {
            row: r,
            image_path: local_image(r)?,
        })?,
        (None, true) => println!("null"),
        (Some(r), false) => println!("{}", row_line(r)),
        (None, false) => println!("no case left for {annotator}"),
    }
    Ok(())
}

/// `voxmark project save`.
fn save(
    SaveArgs {
        project,
        case,
        annotator,
        mask,
        resample,
        markups,
        base_version,
        root,
        json,
    }: SaveArgs,
) -> anyhow::Result<()> {
    let markups = markups_for_save(&mask, markups.as_deref())?;
    let v = match target(&project)? {
        Target::Local(mut p) => {
            let slot = p
                .cases(None, Some(&annotator))?
                .into_iter()
                .find(|r| r.case == case)
                .with_context(|| {
                    format!(
                        "case {case} is not assigned to {annotator} (`voxmark project next` or `assign`)"
                    )
                })?;
            let (labels, bytes) =
                mask_labels(&p, root.data_root.as_deref(), &slot, &mask, resample.get())?;
            p.check_mask(&labels, &mask)?;
            p.save_version(
                &case,
                &annotator,
                &bytes,
                markups.as_deref(),
                base_version,
                &annotator,
            )?
        }
        Target::Remote(r) => {
            // The server checks grid and schema and stores NIfTI masks on the case's grid:
            // a mask in another format or on another grid (reoriented, resampled) is first
            // written as NIfTI on the case's grid (the image comes from the local cache).
            let (img, series) = fetch_image(&r.client, &case).context(
                "the save did not complete: the case's image (to put the mask on its grid) \
                 could not be fetched; nothing was stored, save again",
            )?;
            let bytes = mask_labels_at(&img, &series, &case, &mask, resample.get())?.1;
            r.client
                .save_mask(&case, &annotator, bytes, markups, base_version)?
        }
    };
    if json {
        print_json(&v)?;
    } else {
        println!(
            "case {case} by {annotator}: version {} stored ({} bytes, sha256 {})",
            v.version, v.bytes, v.sha256
        );
    }
    Ok(())
}

/// `voxmark project get`.
fn get(
    GetArgs {
        project,
        case,
        annotator,
        version,
        out,
        json,
    }: GetArgs,
) -> anyhow::Result<()> {
    let (info, bytes, markups) = target(&project)?.get_version(&case, &annotator, version)?;
    voxmark_volume::fs::atomic::write_atomically(&out, |w| w.write_all(&bytes))?;
    // Its markups beside it (`OUT.mrk.json`), as a save reads them.
    if let Some(text) = markups {
        let mp = voxmark_io::label_file::markups_path(&out);
        voxmark_volume::fs::atomic::write_atomically(&mp, |w| w.write_all(text.as_bytes()))?;
    }
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
    Ok(())
}

/// `voxmark project versions`.
fn versions(
    VersionsArgs {
        project,
        case,
        annotator,
        json,
    }: VersionsArgs,
) -> anyhow::Result<()> {
    let vs = target(&project)?.versions(&case, &annotator)?;
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
    Ok(())
}

/// `voxmark project comment`.
fn comment(
    CommentArgs {
        project,
        case,
        annotator,
        text,
        at,
        label,
        by,
    }: CommentArgs,
) -> anyhow::Result<()> {
    let by = target(&project)?.comment(&case, &annotator, by.as_deref(), &text, at, label)?;
    println!("comment by {by} on case {case} by {annotator}");
    Ok(())
}

/// `voxmark project status`.
fn status(ShowStatusArgs { project, json }: ShowStatusArgs) -> anyhow::Result<()> {
    let s = target(&project)?.status()?;
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
    Ok(())
}

/// `voxmark project bench`.
fn bench_command(
    BenchArgs {
        project,
        cases,
        annotators,
        rounds,
        runs,
        http,
        clients,
        mask_size,
        requests,
        json,
    }: BenchArgs,
) -> anyhow::Result<()> {
    if http {
        return super::project_bench_http::run(&project, mask_size, &clients, requests, json);
    }
    bench(&project, cases, annotators, rounds, runs, json)
}

/// `voxmark project gold`.
fn gold(
    GoldArgs {
        project,
        case,
        mask,
        from_annotator,
        by,
        root,
        json,
    }: GoldArgs,
) -> anyhow::Result<()> {
    let mut t = target(&project)?;
    let g = match (&mask, &from_annotator) {
        (None, Some(a)) => t.gold_from(&case, a, by.as_deref())?,
        (Some(m), _) => {
            let Target::Local(p) = &mut t else {
                anyhow::bail!(
                    "{project}: a gold reference from a file is imported where the project database is; over a server give --from-annotator"
                );
            };
            let by = by.unwrap_or_else(user);
            let row = p
                .cases(None, None)?
                .into_iter()
                .find(|r| r.case == case)
                .with_context(|| format!("the project has no case {case}"))?;
            let (labels, bytes) =
                mask_labels(p, root.data_root.as_deref(), &row, m, Resample::Never)?;
            p.check_mask(&labels, m)?;
            p.set_gold(&case, &bytes, &format!("imported {}", m.display()), &by)?
        }
        (None, None) => anyhow::bail!("give --mask or --from-annotator"),
    };
    if json {
        print_json(&g)?;
    } else {
        println!(
            "case {} is gold: reference {} (by {}, sha256 {})",
            g.case, g.source, g.by, g.sha256
        );
    }
    Ok(())
}

/// `voxmark project gold-settings`.
fn gold_settings(
    GoldSettingsArgs {
        project,
        min_dice,
        max_hd95_mm,
        required,
        rate,
        json,
    }: GoldSettingsArgs,
) -> anyhow::Result<()> {
    let mut t = target(&project)?;
    let mut g = t.gold_settings()?;
    let changed =
        min_dice.is_some() || max_hd95_mm.is_some() || required.is_some() || rate.is_some();
    if let Some(d) = min_dice {
        g.min_dice = d;
    }
    if let Some(h) = max_hd95_mm {
        g.max_hd95_mm = (h >= 0.0).then_some(h);
    }
    if let Some(n) = required {
        g.required = n;
    }
    if let Some(r) = rate {
        g.rate = r;
    }
    if changed {
        g.check()?;
        t.set_gold_settings(g.clone())?;
    }
    if json {
        print_json(&g)?;
    } else {
        println!(
            "gold: pass at Dice >= {}{}; {} gold case(s) required before real cases; {:.0} % of later cases unannounced gold",
            g.min_dice,
            g.max_hd95_mm.map(|h| format!(" and HD95 <= {h} mm")).unwrap_or_default(),
            g.required,
            100.0 * g.rate
        );
    }
    Ok(())
}

/// `voxmark project gold-scores`.
fn gold_scores(
    GoldScoresArgs {
        project,
        annotator,
        json,
    }: GoldScoresArgs,
) -> anyhow::Result<()> {
    let scores = target(&project)?.gold_scores(annotator.as_deref())?;
    if json {
        print_json(&scores)?;
    } else {
        for g in &scores {
            println!("{}", gold_line(g));
        }
        println!("{} score(s)", scores.len());
    }
    Ok(())
}

/// `voxmark project report`.
fn report(
    ReportArgs {
        project,
        out,
        flag_below,
        thumbnails,
        jobs,
        root,
        json,
    }: ReportArgs,
) -> anyhow::Result<()> {
    let mut t = target(&project)?;
    let data_root = match &t {
        Target::Local(p) => p.data_root(root.data_root.as_deref()),
        Target::Remote(_) => None,
    };
    let opts = voxmark_project::report::ReportOptions {
        project_arg: project.clone(),
        data_root,
        flag_below,
        thumbnails,
        jobs,
    };
    let started = std::time::Instant::now();
    let (numbers, page) = t.report(&opts, json, out.is_some())?;
    if let (Some(out), Some(html)) = (&out, &page) {
        voxmark_volume::fs::atomic::write_atomically(out, |w| w.write_all(html.as_bytes()))?;
        eprintln!(
            "wrote {} ({:.1} s)",
            out.display(),
            started.elapsed().as_secs_f64()
        );
    }
    if let Some(v) = numbers {
        print_json(&v)?;
    }
    Ok(())
}

/// `voxmark project cases`.
fn cases(
    CasesArgs {
        project,
        status,
        annotator,
        json,
    }: CasesArgs,
) -> anyhow::Result<()> {
    let rows = target(&project)?.cases(status.as_deref(), annotator.as_deref())?;
    if json {
        print_json(&rows)?;
    } else {
        for r in &rows {
            println!("{}", row_line(r));
        }
    }
    Ok(())
}

/// `voxmark project audit`.
fn audit(
    AuditArgs {
        project,
        user,
        case,
        json,
    }: AuditArgs,
) -> anyhow::Result<()> {
    let rows = target(&project)?.audit(user.as_deref(), case.as_deref())?;
    if json {
        return print_json(&rows);
    }
    // Records carry names others chose (case ids, refusal messages): no control character
    // reaches the terminal.
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    };
    for e in &rows {
        println!(
            "{}  {:<16} {:<9} {:<15} {:<16} {:<20} {:<12} {:>4} {}  {}",
            e.at,
            clean(&e.user),
            e.role,
            e.remote,
            e.action,
            clean(e.case.as_deref().unwrap_or("-")),
            clean(e.annotator.as_deref().unwrap_or("-")),
            e.version.map_or("-".to_string(), |v| format!("v{v}")),
            e.outcome,
            clean(&e.detail)
        );
    }
    Ok(())
}

/// A case's image from the server, into the local cache (with a progress bar).
fn fetch_image(
    c: &voxmark_server::client::Client,
    case: &str,
) -> anyhow::Result<(PathBuf, String)> {
    let bar = voxmark_io::progress::Progress::new(0, "fetching the case's image (bytes)");
    let r = c.fetch_image(case, &mut |done, total| bar.set(done, total))?;
    bar.finish();
    Ok(r)
}

fn export(a: ExportArgs) -> anyhow::Result<()> {
    use voxmark_project::export::{Fusion, Layout};
    let mut t = target(&a.project)?;
    let req = voxmark_server::api::ExportRequest {
        layout: match a.format {
            ExportFormat::Nnunet => Layout::Nnunet,
            ExportFormat::Monai => Layout::Monai,
            ExportFormat::Folder => Layout::Folder,
            ExportFormat::SegNrrd => Layout::SegNrrd,
            ExportFormat::DicomSeg => Layout::DicomSeg,
        },
        statuses: a.status.clone(),
        include_partial: a.include_partial,
        fusion: Some(match a.consensus {
            ConsensusArg::Majority => Fusion::Majority,
            ConsensusArg::Staple => Fusion::Staple,
        }),
        dataset_id: a.dataset_id,
        dataset_name: a.name.clone(),
        folds: a.folds,
        channel_name: a.channel_name.clone(),
        markups: a.markups,
        jobs: a.jobs,
    };
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("export [{bar:40}] {pos}/{len} {msg} ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let started = std::time::Instant::now();
    let summary = t.export(
        &req,
        &a.out,
        a.root.data_root.as_deref(),
        &mut |done, total, case| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(case.to_string());
        },
    )?;
    bar.finish_and_clear();
    if a.json {
        print_json(&summary)?;
    } else {
        println!(
            "{}: {} case(s) in the training set; {} written ({} image(s)), {} unchanged, {} removed; {:.1} s",
            summary.root.display(),
            summary.cases,
            summary.written.len(),
            summary.images_written,
            summary.unchanged,
            summary.removed.len(),
            started.elapsed().as_secs_f64()
        );
        println!("manifest: {}", summary.manifest.display());
        if !summary.left_out.is_empty() {
            println!(
                "{} case(s) left out: not done (every slot {}) yet; --include-partial exports them from the slots that are:",
                summary.left_out.len(),
                a.status.join("/")
            );
            for (c, why) in &summary.left_out {
                println!("  {c}: {why}");
            }
        }
        if a.markups {
            println!(
                "markups: {} file(s), {} markup(s) under {}",
                summary.markups_written,
                summary.markups,
                summary.root.join("markups").display()
            );
        }
    }
    if !summary.failed.is_empty() {
        let list: Vec<String> = summary
            .failed
            .iter()
            .map(|(c, why)| format!("  {c}: {why}"))
            .collect();
        anyhow::bail!(
            "{} case(s) were not exported (the rest were):\n{}",
            summary.failed.len(),
            list.join("\n")
        );
    }
    Ok(())
}

fn set_status(s: StatusArgs, to: Status) -> anyhow::Result<()> {
    let mut t = target(&s.project)?;
    let r = t.set_status(
        &s.case,
        &s.annotator,
        to,
        s.by.as_deref(),
        s.note.as_deref(),
    )?;
    // A gold case was scored on submission (shown where the project is local: over a server
    // an annotator does not learn which cases are gold).
    let score = if let (Status::Submitted, Target::Local(p)) = (to, &mut t) {
        p.gold_scores(Some(&s.annotator))?
            .into_iter()
            .rev()
            .find(|g| g.case == s.case && g.version == r.version)
    } else {
        None
    };
    if s.json {
        let mut v = serde_json::to_value(&r)?;
        if let Some(g) = &score {
            v["gold_score"] = serde_json::to_value(g)?;
        }
        print_json(&v)?;
    } else {
        println!("{}", row_line(&r));
        if let Some(g) = score {
            println!("{}", gold_line(&g));
        }
    }
    Ok(())
}

fn gold_line(g: &voxmark_project::gold::GoldScore) -> String {
    let labels: Vec<String> = g
        .labels
        .iter()
        .map(|l| {
            format!(
                "label {}: Dice {:.3}{}",
                l.label,
                l.dice,
                l.hd95_mm
                    .map(|h| format!(", HD95 {h:.2} mm"))
                    .unwrap_or_default()
            )
        })
        .collect();
    format!(
        "gold case {} by {} v{}: {} ({})",
        g.case,
        g.annotator,
        g.version,
        if g.passed { "passed" } else { "FAILED" },
        labels.join("; ")
    )
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
    use std::time::Instant;
    use voxmark_project::NewCase;
    let loc = Location::parse(project)?;
    let schema = LabelSchema::parse(
        r#"{"labels":[{"value":1,"name":"organ","color":[0.9,0.4,0.3]}]}"#,
        Path::new("bench"),
    )?;
    let settings = Settings {
        annotators_per_case: 1,
        rounds,
        reviewers: Vec::new(),
        ..Default::default()
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
        p.save_version(&c, who, &mask, None, None, who)?;
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
            p.save_version(&c, who, &mask, None, None, who)?;
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
        |f: &mut dyn FnMut(&mut Project) -> voxmark_volume::Result<usize>| -> anyhow::Result<(f64, usize)> {
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

/// The markups a `project save` stores with the mask: `--markups`, else `MASK.mrk.json`
/// beside the mask when there is one; checked to be a markups file voxmark reads.
fn markups_for_save(mask: &Path, given: Option<&Path>) -> anyhow::Result<Option<String>> {
    let beside = voxmark_io::label_file::markups_path(mask);
    let path = match given {
        Some(p) => p.to_path_buf(),
        None if beside.exists() => beside,
        None => return Ok(None),
    };
    let (_, text, _) = voxmark_io::markups::read_slicer_text(&path)?;
    Ok(Some(text))
}
