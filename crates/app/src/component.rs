//! What a shell component hands back after drawing. A component (the panes, the tools panel,
//! the labels panel, the review panel, a dialog) owns its own state and is lent the document
//! it works on; what only the shell can do — a status line, an error dialog, saving, opening
//! another file, quitting — it asks for here, and the shell carries it out after the
//! component returns ([`super::shell::Shell::handle`]). Components never see the shell, so
//! none of them imports another's internals.

use super::document::OpenRequest;
use super::state::AppState;
use super::tools::Outcome;
use std::path::PathBuf;
use voxmark_edit::ops::EditOp;

/// Which modal dialog to show, with what it holds while open (drawn by `dialogs`).
#[derive(Debug)]
pub enum Dialog {
    Error(String),
    Info(String),
    Open {
        path: String,
        series: String,
        labels: String,
    },
    OpenLabels(String),
    SaveAs(String),
    /// File ▸ Export segmentation: DICOM SEG (`true`) or Slicer `.seg.nrrd`, to the path.
    ExportSeg {
        dicom: bool,
        path: String,
    },
    ChooseSeries {
        request: OpenRequest,
        choices: Vec<(String, String)>,
    },
    ConfirmQuit,
    /// Unsaved edits, and the user asked to open another image.
    ConfirmOpen(OpenRequest),
    Dropped(PathBuf),
    Recovery,
    /// Another process owns the mask: the window is read-only (the message says whose).
    ReadOnly(String),
    /// The label map is on another grid: what differs, what resampling would change, and
    /// the request that resamples.
    ConfirmResample {
        request: OpenRequest,
        refusal: String,
        note: String,
    },
}

impl Dialog {
    /// The empty "Open image" dialog.
    pub fn open() -> Self {
        Dialog::Open {
            path: String::new(),
            series: String::new(),
            labels: String::new(),
        }
    }

    /// Dialogs that do not block a screenshot (the recovery offer is answered "keep").
    pub fn is_benign(&self) -> bool {
        !matches!(
            self,
            Dialog::Open { .. } | Dialog::ChooseSeries { .. } | Dialog::ConfirmResample { .. }
        )
    }
}

/// What only the shell can do.
#[derive(Debug)]
pub enum Request {
    /// Ctrl+S: save the labels (a worker thread writes them).
    Save,
    /// Open an image (asks first when the labels have unsaved edits).
    Open(OpenRequest),
    /// Load a label map onto the open image.
    OpenLabels(PathBuf),
    /// The answer to "unsaved changes" before opening `req`: save first, or open now.
    ConfirmOpen { req: OpenRequest, save: bool },
    /// The answer to "unsaved changes" before quitting: save first, or quit now.
    ConfirmQuit { save: bool },
    /// Review mode: compare the open labels with the label map at this path.
    Compare(PathBuf),
    /// Move the crosshair to this voxel (a comment's anchor).
    Crosshair([i64; 3]),
}

/// A component's messages to the shell for one frame, in order.
#[derive(Debug, Default)]
pub struct Feedback {
    /// The status line (the last one set wins).
    pub status: Option<String>,
    /// Errors to show (the shell opens the error dialog; in screenshot mode it exits).
    pub errors: Vec<String>,
    /// A dialog to open.
    pub dialog: Option<Dialog>,
    pub requests: Vec<Request>,
}

impl Feedback {
    /// Sets the status line.
    pub fn status(&mut self, s: impl Into<String>) {
        self.status = Some(s.into());
    }

    /// Shows an error.
    pub fn error(&mut self, s: impl Into<String>) {
        self.errors.push(s.into());
    }

    /// The value of `r`, or its error shown as "what: error".
    pub fn report<T>(&mut self, what: &str, r: voxmark_volume::Result<T>) -> Option<T> {
        let mut o = Outcome::default();
        let v = o.report(what, r);
        self.absorb(o);
        v
    }

    /// A tool's result: its status line, or its error as "what: error".
    pub fn outcome(&mut self, what: &str, r: voxmark_volume::Result<Option<String>>) {
        let mut o = Outcome::default();
        o.outcome(what, r);
        self.absorb(o);
    }

    /// Asks the shell for `r`.
    pub fn request(&mut self, r: Request) {
        self.requests.push(r);
    }

    /// Applies `op` to the labels (journaled, undoable) and reports it.
    pub fn apply(&mut self, st: &mut AppState, op: &EditOp) {
        let mut o = Outcome::default();
        o.apply(st, op);
        self.absorb(o);
    }

    /// A tool's outcome: its status line (when it set one) and its errors.
    pub fn absorb(&mut self, o: Outcome) {
        if let Some(s) = o.status {
            self.status(s);
        }
        self.errors.extend(o.errors);
    }

    /// Undoes the last op and reports it.
    pub fn undo(&mut self, st: &mut AppState) {
        let r = st.undo();
        if let Some(rep) = self.report("undo", r) {
            self.status(match rep.step {
                Some(s) if s.starts_with("markup") => format!("undid {s}"),
                Some(s) => format!("undid {s}: {} voxels", rep.changed_voxels),
                None => "nothing to undo".into(),
            });
        }
    }

    /// Redoes the last undone op and reports it.
    pub fn redo(&mut self, st: &mut AppState) {
        let r = st.redo();
        if let Some(rep) = self.report("redo", r) {
            self.status(match rep.step {
                Some(s) if s.starts_with("markup") => format!("redid {s}"),
                Some(s) => format!("redid {s}: {} voxels", rep.changed_voxels),
                None => "nothing to redo".into(),
            });
        }
    }
}
