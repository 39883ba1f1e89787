//! `voxmark view [PATH] [--series UID] [--labels MASK.nii.gz] [--screenshot OUT.png
//! --frames N]`: the desktop annotation window. Without PATH it opens the built-in CT
//! phantom. `--screenshot` renders N frames after loading, writes the window's picture and
//! exits (automation, CI smoke test).

use crate::app::document::OpenRequest;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ViewArgs {
    /// A .nii / .nii.gz file, a DICOM file or a folder of DICOM files (default: the
    /// built-in CT phantom).
    pub path: Option<PathBuf>,
    /// SeriesInstanceUID when the folder holds several series (else the window asks).
    #[arg(long)]
    pub series: Option<String>,
    /// Label map on the same grid to start from; Save writes back to it. Default:
    /// `<name>.labels.nii.gz` beside the image (or in the current folder when that one is
    /// read-only), loaded when it exists.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Write a PNG of the whole window after --frames frames and exit.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
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
    };
    #[cfg(feature = "gui")]
    {
        crate::app::native::run(req, a.screenshot.map(|s| (s, a.frames)))
    }
    #[cfg(not(feature = "gui"))]
    {
        let _ = req;
        anyhow::bail!(
            "voxmark view: this voxmark was built without the GUI (cargo feature `gui`); \
             rebuild with default features for the desktop window"
        )
    }
}
