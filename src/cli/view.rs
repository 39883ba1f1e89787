//! `voxmark view [PATH] [--series UID] [--labels MASK.nii.gz] [--project P [--annotator A]
//! [--case ID]] [--screenshot OUT.png --frames N]`: the desktop annotation window. Without
//! PATH it opens the built-in CT phantom. `--screenshot` renders N frames after loading, writes the window's picture and
//! exits (automation, CI smoke test).

use clap::Args;
use std::path::PathBuf;
use voxmark_app::document::OpenRequest;

#[derive(Debug, Args)]
pub struct ViewArgs {
    /// A .nii / .nii.gz, .nrrd / .nhdr or .mha / .mhd file, a DICOM file or a folder of DICOM
    /// files (default: the built-in CT phantom).
    pub path: Option<PathBuf>,
    /// SeriesInstanceUID when the folder holds several series (else the window asks).
    #[arg(long)]
    pub series: Option<String>,
    /// Label map to start from (on another grid: see docs/commands.md); Save writes back to
    /// it. Default:
    /// `<name>.labels.nii.gz` beside the image (or in the current folder when that one is
    /// read-only), loaded when it exists.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// A --labels map on another grid than the image's is resampled (without it the window
    /// asks, saying what resampling changes).
    #[command(flatten)]
    pub resample: super::ResampleArg,
    /// Label names and colours: an ITK-SNAP label description, a Slicer `.ctbl`, a FreeSurfer
    /// LUT or a mricron `.nii.txt` (default: the mask's sidecar, else a table beside it).
    #[arg(long)]
    pub label_table: Option<PathBuf>,
    /// Write a PNG of the whole window after --frames frames and exit.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Work on a project (folder or postgresql:// URL): the project panel, the annotator's
    /// queue, saves stored as versions. Opens the first case of the queue when no PATH is
    /// given.
    #[arg(long, conflicts_with = "labels")]
    pub project: Option<String>,
    /// Who annotates or reviews (with --project; default $USER).
    #[arg(long, requires = "project")]
    pub annotator: Option<String>,
    /// Open this case of the project: your own annotation of it, else the latest submitted
    /// one for review (the QA report's links).
    #[arg(long, requires = "project", conflicts_with = "path")]
    pub case: Option<String>,
    /// Where the project's images are on this machine (default: VOXMARK_DATA_ROOT, else the
    /// project's recorded root).
    #[arg(long, requires = "project")]
    pub data_root: Option<PathBuf>,
    /// Frames to render before the screenshot.
    #[arg(long, default_value_t = 10, requires = "screenshot")]
    pub frames: u32,
}

pub fn run(a: ViewArgs) -> anyhow::Result<()> {
    if let Some(s) = &a.screenshot {
        if !s.to_string_lossy().to_lowercase().ends_with(".png") {
            anyhow::bail!(
                "--screenshot {}: the file name must end in .png",
                s.display()
            );
        }
    }
    let req = OpenRequest {
        path: a.path,
        series: a.series,
        labels: a.labels,
        labels_new: false,
        label_table: a.label_table,
        resample: a.resample.get(),
    };
    let project = match &a.project {
        Some(p) => Some(voxmark_app::project_session::ProjectSession::open(
            p,
            a.annotator.as_deref(),
            a.data_root.as_deref(),
        )?),
        None => None,
    };
    #[cfg(feature = "gui")]
    {
        voxmark_app::native::run(req, project, a.case, a.screenshot.map(|s| (s, a.frames)))
    }
    #[cfg(not(feature = "gui"))]
    {
        let _ = (req, project, a.case);
        anyhow::bail!(
            "voxmark view: this voxmark was built without the GUI (cargo feature `gui`); \
             rebuild with default features for the desktop window"
        )
    }
}
