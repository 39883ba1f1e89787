//! Command-line interface: one module per subcommand, all headless.

pub mod apply;
pub mod bench;
pub mod compare;
pub mod consensus;
pub mod convert;
pub mod export_seg;
pub mod gpu;
pub mod grow;
pub mod info;
pub mod login;
pub mod markups;
pub mod measure;
pub mod mesh;
pub mod phantom;
pub mod project;
pub mod project_bench_http;
pub mod render;
pub mod render_3d;
pub mod review;
pub mod serve;
pub mod stats;
pub mod view;

use clap::{Parser, Subcommand};

/// voxmark: load, inspect and convert CT/MRI volumes exactly; GPU-first annotation engine.
#[derive(Debug, Parser)]
#[command(name = "voxmark", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print dims, spacing, world_from_voxel (RAS+ mm), type, range, modality and series.
    Info(info::InfoArgs),
    /// Write NIfTI or NRRD in real units on the same voxel grid as the input (no resampling).
    Convert(convert::ConvertArgs),
    /// Write a label map as a segmentation other tools open: 3D Slicer's .seg.nrrd.
    ExportSeg(export_seg::ExportSegArgs),
    /// Generate the built-in synthetic CT phantom (NIfTI file, or DICOM series if OUT is a folder).
    Phantom(phantom::PhantomArgs),
    /// Grow a region from seeds (connected threshold or auto range) into a label map.
    Grow(grow::GrowArgs),
    /// Render one MPR slice (windowed, with labels and orientation letters) to a PNG.
    Render(render::RenderArgs),
    /// Apply edit operations (JSON) to a label map, with undo and a crash-safe journal.
    Apply(apply::ApplyArgs),
    /// Per-label statistics: voxels, mL, intensity mean/std/min/max, bounding box.
    Stats(stats::StatsArgs),
    /// Measure labels: volume, surface area, extent, centroid, intensity, RECIST long and
    /// short axis, 3D maximum diameter (per label, or per connected component).
    Measure(measure::MeasureArgs),
    /// Markups (points, lines, curves, boxes, angles): show, edit, export (.mrk.json, ML JSON).
    Markups(markups::MarkupsArgs),
    /// Report the GPU adapter voxmark would use and run a compute self-test.
    Gpu(gpu::GpuArgs),
    /// Surface of a label as a binary STL in world millimetres (marching cubes).
    Mesh(mesh::MeshArgs),
    /// Per-label agreement of two annotations: Dice, IoU, volumes, Hausdorff, HD95, ASSD,
    /// surface Dice.
    Compare(compare::CompareArgs),
    /// Combine several annotators' label maps (majority vote).
    Consensus(consensus::ConsensusArgs),
    /// Review records: annotations, statuses, anchored comments (SQLite in the project).
    Review(review::ReviewArgs),
    /// Annotation projects for teams: cases, label schema, assignment, mask versions, review
    /// rounds (a SQLite folder or a PostgreSQL server).
    Project(project::ProjectArgs),
    /// The team server: an HTTPS API over a project with accounts, roles, blinded annotation
    /// and an audit log (`serve user …`, `serve token …` manage accounts).
    Serve(serve::ServeArgs),
    /// Log in to a team server (the token is kept for `project … URL` commands).
    Login(login::LoginArgs),
    /// Log out of a team server (the token is revoked and forgotten).
    Logout(login::LogoutArgs),
    /// The desktop annotation window: linked MPR + 3D panes, brush, grow, polygon, labels,
    /// undo, save, review.
    View(view::ViewArgs),
    /// Time load, window/level, MPR, grow, paint, undo and 3D end to end (CPU and GPU).
    Bench(bench::BenchArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    // Logical ops name a second label map: the engine reads it through io's NIfTI reader.
    voxmark_edit::lower::register_map_reader(voxmark_io::nifti::read_nifti);
    match cli.command {
        Command::Info(a) => info::run(a),
        Command::Convert(a) => convert::run(a),
        Command::ExportSeg(a) => export_seg::run(a),
        Command::Phantom(a) => phantom::run(a),
        Command::Gpu(a) => gpu::run(a),
        Command::Render(a) if a.view == render::RenderView::ThreeD => render_3d::run(a),
        Command::Render(a) => render::run(a),
        Command::Grow(a) => grow::run(a),
        Command::Apply(a) => apply::run(a),
        Command::Measure(a) => measure::run(a),
        Command::Markups(a) => markups::run(a),
        Command::Stats(a) => stats::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Mesh(a) => mesh::run(a),
        Command::Consensus(a) => consensus::run(a),
        Command::Review(a) => review::run(a),
        Command::Project(a) => project::run(a),
        Command::View(a) => view::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Login(a) => login::login(a),
        Command::Logout(a) => login::logout(a),
    }
}

/// Refuses an output path that is not `.nii` / `.nii.gz` (checked before any work).
pub(crate) fn require_nifti_output(out: &std::path::Path) -> anyhow::Result<()> {
    let name = out.to_string_lossy().to_lowercase();
    if !(name.ends_with(".nii") || name.ends_with(".nii.gz")) {
        anyhow::bail!("{}: output must end in .nii or .nii.gz", out.display());
    }
    Ok(())
}

/// Loads the input volume of a command and prints its load warnings.
pub(crate) fn load_input(
    path: &std::path::Path,
    series: Option<String>,
) -> anyhow::Result<voxmark_io::Loaded> {
    let loaded = voxmark_io::load_volume(path, &voxmark_io::LoadOptions { series })?;
    print_warnings(&loaded.volume.meta.warnings);
    Ok(loaded)
}

/// Prints load warnings to stderr, one line each.
pub(crate) fn print_warnings(w: &[String]) {
    for line in w {
        eprintln!("voxmark: warning: {line}");
    }
}

/// `--resample nearest`: what to do with a label map whose grid is not the image's (nor the
/// image's voxels in another axis order, which is taken across exactly without asking).
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct ResampleArg {
    /// Resample a label map on another grid onto the image's, by nearest neighbour in world
    /// space (as ITK/SimpleITK's nearest-neighbour resampling); a note says how many
    /// labelled voxels change label in a round trip. Without it such a map is refused.
    #[arg(long, value_enum, value_name = "METHOD")]
    pub resample: Option<ResampleChoice>,
}

/// The resampling methods for label maps (nearest neighbour only: labels do not blend).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ResampleChoice {
    Nearest,
}

impl ResampleArg {
    /// The engine's choice.
    pub fn get(&self) -> voxmark_volume::labels::Resample {
        match self.resample {
            Some(ResampleChoice::Nearest) => voxmark_volume::labels::Resample::Nearest,
            None => voxmark_volume::labels::Resample::Never,
        }
    }
}

/// Where a command runs its kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// The GPU when a hardware adapter is present; the CPU twins when there is none or only
    /// a software rasterizer (lavapipe is slower than the CPU path, measured in the README).
    Auto,
    /// The GPU; an error when there is no adapter.
    Gpu,
    /// The CPU reference implementations.
    Cpu,
}

impl BackendChoice {
    /// Opens the GPU this choice asks for (None: run on the CPU), silently.
    pub fn open(self) -> anyhow::Result<Option<voxmark_gpu::GpuContext>> {
        self.open_for(None, false)
    }

    /// [`BackendChoice::open`] for a command that says where it runs (`what`: "rendering",
    /// "growing"): `gpu` without an adapter names the flag; `auto` with only a software
    /// adapter notes that it runs on the CPU, and with none warns when `warn_without_gpu`.
    pub fn open_noting(
        self,
        what: &str,
        warn_without_gpu: bool,
    ) -> anyhow::Result<Option<voxmark_gpu::GpuContext>> {
        self.open_for(Some(what), warn_without_gpu)
    }

    fn open_for(
        self,
        what: Option<&str>,
        warn_without_gpu: bool,
    ) -> anyhow::Result<Option<voxmark_gpu::GpuContext>> {
        use anyhow::Context;
        Ok(match self {
            BackendChoice::Cpu => None,
            BackendChoice::Gpu => {
                let ctx = voxmark_gpu::GpuContext::new();
                Some(match what {
                    Some(_) => ctx.context("--backend gpu")?,
                    None => ctx?,
                })
            }
            BackendChoice::Auto => match (voxmark_gpu::GpuContext::new(), what) {
                (Ok(c), _) if !c.is_software() => Some(c),
                (Ok(c), Some(w)) => {
                    eprintln!(
                        "note: only a software GPU ({}) is available; {w} on the CPU",
                        c.report().name
                    );
                    None
                }
                (Err(e), Some(w)) if warn_without_gpu => {
                    eprintln!("voxmark: warning: {e}; {w} on the CPU");
                    None
                }
                _ => None,
            },
        })
    }
}
