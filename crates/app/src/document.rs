//! One open image in the shell: the volume (shared), its editing session on the GPU, the
//! renderers compiled for its type, its histogram, and where its labels and journal live.
//!
//! [`load`] runs on a worker thread (the UI keeps drawing a progress bar): read the file,
//! load the starting labels, upload both to the GPU, compile the renderers, build the 3D
//! brick map and open the journal. A journal left with operations by a session that did not
//! save (a crash, a killed process) is not replayed silently: the shell offers it.

use super::state::AppState;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use voxmark_edit::journal::{Journal, JournalEntry};
use voxmark_edit::session::{GpuEdit, Session};
use voxmark_gpu::kernels::histogram::{auto_window, histogram_cpu, HistogramParams};
use voxmark_gpu::GpuContext;
use voxmark_io::label_file::save_annotation_marked;
use voxmark_io::{LoadOptions, Opened};
use voxmark_render::slice::SliceRenderer;
use voxmark_render::volume_view::VolumeView;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::{Volume, WindowPreset};

/// What to open.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenRequest {
    /// Image file or DICOM folder; None: the built-in CT phantom.
    pub path: Option<PathBuf>,
    pub series: Option<String>,
    /// Starting label map; None: `<stem>.labels.nii.gz` when it exists, else empty.
    pub labels: Option<PathBuf>,
    /// `labels` may not exist yet: the labels then start empty and the first save creates
    /// it (a project case before its first version).
    pub labels_new: bool,
    /// Label names and colours from a colour table (`io::color_table`), replacing the
    /// mask's own.
    pub label_table: Option<PathBuf>,
    /// A label map on another grid than the image's is resampled by nearest neighbour
    /// (`--resample nearest`, or the shell's dialog after the user read what it changes).
    pub resample: voxmark_io::label_file::Resample,
}

/// The result of a load: a document, or a folder with several series to choose from.
pub enum LoadOutcome {
    Ready(Box<Document>),
    /// The label map is on another grid than the image's and not the image's voxels in
    /// another order: `refusal` says how; `note` what nearest-neighbour resampling changes.
    /// Open `request` with `resample` set to go on.
    ConfirmResample {
        request: OpenRequest,
        refusal: String,
        note: String,
    },
    ChooseSeries {
        request: OpenRequest,
        /// (SeriesInstanceUID, one-line description)
        choices: Vec<(String, String)>,
    },
}

/// The image's histogram (256 bins from min to max) and the auto window from it.
pub struct Histogram {
    pub params: HistogramParams,
    pub counts: Vec<u32>,
    pub min: f64,
    pub max: f64,
}

/// A journal with operations that were never saved, waiting for the user's choice.
pub struct PendingRecovery {
    pub journal: Journal,
    pub entries: Vec<JournalEntry>,
    pub warning: Option<String>,
}

/// A save in progress (the mask is being written on a worker thread).
pub struct SaveJob {
    pub rx: std::sync::mpsc::Receiver<Result<()>>,
    /// Journal bytes the saved labels include.
    journal_len: Option<u64>,
    /// Labels version saved.
    version: u64,
    pub path: PathBuf,
}

/// One open image.
pub struct Document {
    /// Window title / status text: the file name or "CT phantom".
    pub title: String,
    pub image_path: Option<PathBuf>,
    /// Where Save writes the mask (the journal and history sit beside it).
    pub labels_path: PathBuf,
    pub state: AppState<'static>,
    pub slices: SliceRenderer,
    pub view3d: VolumeView,
    pub histogram: Histogram,
    pub auto_window: WindowPreset,
    /// The window the file carries (DICOM), else the auto window.
    pub default_window: WindowPreset,
    pub recovery: Option<PendingRecovery>,
    /// Load warnings and notes for the user.
    pub notes: Vec<String>,
    /// What the 3D brick map was last built for: the label version, or — while a preview
    /// waits — the state version with `true`.
    pub view3d_version: (u64, bool),
    /// The labels with the waiting preview laid over them, as the 3D view shows them.
    pub view3d_preview: Option<voxmark_gpu::residency::PackedU8Volume>,
}

/// `<name>.labels.nii.gz` beside the image when that folder is writable, else in the
/// current folder (e.g. an atlas under /usr/share). The built-in phantom's labels live in the
/// user's data folder ([`user_data_dir`]), never in the current folder. Nothing is created
/// here: the folder and files appear with the first edit or save.
pub fn default_labels_path(image: Option<&Path>) -> PathBuf {
    let Some(p) = image else {
        return user_data_dir().join("phantom.labels.nii.gz");
    };
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let stem = [".nii.gz", ".nii", ".dcm", ".nrrd", ".nhdr", ".mha", ".mhd"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(&name)
        .to_string();
    let file = format!("{stem}.labels.nii.gz");
    match p.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) if writable(d) => d.join(file),
        _ => PathBuf::from(file),
    }
}

/// voxmark's folder for its own working files (the built-in phantom's labels and journal):
/// `$XDG_DATA_HOME/voxmark`, else `~/.local/share/voxmark` (XDG Base Directory defaults),
/// else `voxmark` under the system temp folder.
pub fn user_data_dir() -> PathBuf {
    let nonempty = |v: &str| {
        std::env::var_os(v)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = nonempty("XDG_DATA_HOME").filter(|d| d.is_absolute()) {
        return d.join("voxmark");
    }
    match nonempty("HOME") {
        Some(h) => h.join(".local").join("share").join("voxmark"),
        None => std::env::temp_dir().join("voxmark"),
    }
}

/// True when files can be created in `dir`.
fn writable(dir: &Path) -> bool {
    let d = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    tempfile::tempfile_in(d).is_ok()
}

/// Where Save writes a mask that was opened from `labels`: the same file, or — when its
/// folder is read-only (an atlas under /usr/share) — a file of the same name in the
/// current folder.
fn save_target(labels: &Path) -> PathBuf {
    match (labels.parent(), labels.file_name()) {
        // A folder that does not exist yet (the phantom's data folder before the first
        // save) is created by the save or the first journaled op, not replaced.
        (Some(d), Some(name)) if d.exists() && !writable(d) => PathBuf::from(name),
        _ => labels.to_path_buf(),
    }
}

/// Where a document opened from the label map `opened` saves its mask, and notes saying
/// why when that is elsewhere: labels read from NRRD or a segmentation are saved as a NIfTI
/// mask beside them; a read-only folder sends the save to the current folder.
fn save_path_for(opened: &Path, moved: bool) -> (PathBuf, Vec<String>) {
    let mut notes = Vec::new();
    let name = opened.to_string_lossy().to_lowercase();
    // The name the label map's sidecar has, without `.labels.json`.
    let stem = || {
        voxmark_io::label_file::sidecar_path(opened)
            .file_name()
            .map(|n| n.to_string_lossy().replace(".labels.json", ""))
            .unwrap_or_else(|| "labels".into())
    };
    let nifti = if moved {
        let nii = opened.with_file_name(format!("{}.image-grid.nii.gz", stem()));
        notes.push(format!(
            "{} is on another grid than the image; its labels were taken onto the image's \
             grid and Save writes {} ({} is kept as it is)",
            opened.display(),
            nii.display(),
            opened.display()
        ));
        nii
    } else if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        opened.to_path_buf()
    } else {
        let nii = opened.with_file_name(format!("{}.labels.nii.gz", stem()));
        notes.push(format!(
            "labels read from {}; Save writes the NIfTI mask {}",
            opened.display(),
            nii.display()
        ));
        nii
    };
    let target = save_target(&nifti);
    if target != nifti {
        notes.push(format!(
            "{} is read-only here: Save writes {}",
            nifti.display(),
            target.display()
        ));
    }
    (target, notes)
}

/// The mask a request will edit (and whose journal it will lock), before anything is read.
pub fn mask_path_of(req: &OpenRequest) -> PathBuf {
    let opened = req
        .labels
        .clone()
        .unwrap_or_else(|| default_labels_path(req.path.as_deref()));
    save_path_for(&opened, false).0
}

/// The journal of unsaved operations beside a labels file.
pub fn journal_path(labels: &Path) -> PathBuf {
    let mut s = labels.as_os_str().to_owned();
    s.push(".journal.jsonl");
    PathBuf::from(s)
}

/// Saved operations (the audit trail) beside a labels file.
pub fn history_path(labels: &Path) -> PathBuf {
    let mut s = labels.as_os_str().to_owned();
    s.push(".history.jsonl");
    PathBuf::from(s)
}

/// The GPU half of a shell session (the shell always edits on the GPU).
pub fn gpu_session<'s, 'a>(session: &'s Session<'a>) -> Result<&'s GpuEdit<'a>> {
    session
        .gpu()
        .ok_or_else(|| Error::Gpu("the shell needs the GPU session".into()))
}

/// Loads `req` on `ctx` (call from a worker thread); `stage` reports what is happening.
pub fn load(
    ctx: &'static GpuContext,
    req: &OpenRequest,
    stage: &dyn Fn(&str),
) -> Result<LoadOutcome> {
    voxmark_io::progress::CURRENT.reset();
    let mut notes = Vec::new();
    let (image, title) = match &req.path {
        None => {
            stage("building the CT phantom");
            let p = voxmark_volume::phantom::Phantom::new([256, 256, 160])?;
            (p.volume(), "CT phantom (built-in)".to_string())
        }
        Some(path) => {
            stage(&format!("reading {}", path.display()));
            let opts = LoadOptions {
                series: req.series.clone(),
            };
            match voxmark_io::open(path, &opts)? {
                Opened::Ambiguous(list) => {
                    return Ok(LoadOutcome::ChooseSeries {
                        request: req.clone(),
                        choices: list.iter().map(|s| (s.uid.clone(), s.line())).collect(),
                    })
                }
                Opened::Volume(l) => {
                    if l.skipped_files > 0 {
                        notes.push(format!(
                            "{} files in the folder are not DICOM images (skipped)",
                            l.skipped_files
                        ));
                    }
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| path.display().to_string());
                    (l.volume, name)
                }
            }
        }
    };
    notes.extend(image.meta.warnings.iter().cloned());
    let labels_path = req
        .labels
        .clone()
        .unwrap_or_else(|| default_labels_path(req.path.as_deref()));
    // Labels taken onto the image's grid from another (reoriented, resampled) are saved
    // to a new file: the original stays as it is for the tools that read it on its grid.
    let mut moved = false;
    let (labels, table, mask_marker, markups) = if (req.labels.is_some() && !req.labels_new)
        || labels_path.exists()
    {
        stage(&format!("reading labels {}", labels_path.display()));
        let m = match voxmark_io::label_file::read_label_map_with(
            &labels_path,
            &image.grid,
            req.resample,
        ) {
            Ok(m) => m,
            // Another grid: say what resampling would change and ask (never silently).
            Err(refusal) if req.resample == voxmark_io::label_file::Resample::Never => {
                stage("checking what resampling the labels would change");
                let Ok(r) = voxmark_io::label_file::read_label_map_with(
                    &labels_path,
                    &image.grid,
                    voxmark_io::label_file::Resample::Nearest,
                ) else {
                    return Err(refusal);
                };
                let note = r
                    .warnings
                    .iter()
                    .find(|w| w.contains("nearest neighbour"))
                    .cloned()
                    .unwrap_or_default();
                return Ok(LoadOutcome::ConfirmResample {
                    request: OpenRequest {
                        resample: voxmark_io::label_file::Resample::Nearest,
                        ..req.clone()
                    },
                    refusal: refusal.to_string(),
                    note,
                });
            }
            Err(e) => return Err(e),
        };
        moved = m.moved;
        notes.extend(m.warnings);
        if req.labels.is_none() {
            notes.push(format!("loaded the saved labels {}", labels_path.display()));
        }
        // The markups saved with that mask (the journal replays markup edits on them).
        let (markups, warnings) =
            voxmark_io::label_file::read_markups_for(&labels_path, m.journal_marker.as_deref())?;
        notes.extend(warnings);
        (
            m.labels,
            m.table.unwrap_or_default(),
            m.journal_marker,
            markups,
        )
    } else {
        (
            vec![0u8; image.grid.voxel_count()],
            Vec::new(),
            None,
            Default::default(),
        )
    };
    let table = match &req.label_table {
        Some(t) => {
            let table = voxmark_io::color_table::read_color_table(t)?;
            notes.push(format!("label names and colours from {}", t.display()));
            table
        }
        None => table,
    };

    let (labels_path, path_notes) = save_path_for(&labels_path, moved);
    notes.extend(path_notes);

    stage("histogram");
    let (min, max) = image.data.min_max();
    let params = HistogramParams::for_range(image.grid.dims, image.dtype(), min, max);
    let counts = histogram_cpu(&params, &image.data);
    let auto = auto_window(&params, &counts);
    let default_window = image.meta.window.unwrap_or(auto);

    stage("uploading to the GPU");
    let dtype = image.dtype();
    let image = Arc::new(image);
    let mut session = Session::on_gpu(ctx, image, &labels)?;
    let mut table = table;
    session.set_markups(markups);
    // Every value in the map gets a row in the labels panel (names from the sidecar when
    // there is one, else "label N" in the palette colour).
    let mut present = [false; 256];
    for &l in &labels {
        present[usize::from(l)] = true;
    }
    let palette = voxmark_volume::label_table::default_palette();
    for v in 1..=255u8 {
        if present[usize::from(v)] && !table.iter().any(|l| l.value == v) {
            let c = palette[usize::from(v)];
            table.push(voxmark_volume::label_table::LabelInfo {
                value: v,
                name: format!("label {v}"),
                color: [c[0], c[1], c[2]],
                visible: true,
                locked: false,
            });
        }
    }
    table.sort_by_key(|l| l.value);
    session.set_table(table);
    stage("compiling renderers");
    let slices = SliceRenderer::new(ctx, dtype)?;
    let g = gpu_session(&session)?;
    let view3d = VolumeView::new(ctx, &g.image, Some(&g.labels))?;

    let jp = journal_path(&labels_path);
    let recovery = match Journal::open(&jp, "voxmark shell").map(|(j, mut r)| {
        // A save that finished before its checkpoint: the mask holds these ops already.
        let done = r.drop_saved(mask_marker.as_deref());
        if done > 0 {
            notes.push(format!(
                "{done} journaled operations are already in the saved mask (the last session ended during a save)"
            ));
        }
        (j, r)
    }) {
        Ok((journal, recovered)) if recovered.entries.is_empty() => {
            session.set_journal(Some(journal));
            notes.extend(recovered.warning);
            None
        }
        Ok((journal, recovered)) => Some(PendingRecovery {
            journal,
            entries: recovered.entries,
            warning: recovered.warning,
        }),
        // The mask cannot be owned here: look, don't write.
        Err(e) => {
            let why = match e {
                // Another window or process owns it.
                Error::Locked { owner, .. } => format!(
                    "{} is being edited by {owner}; this window shows its last saved state read-only (Open a copy to edit)",
                    labels_path.display()
                ),
                // No lock file can be made there (a read-only folder).
                e @ Error::Io { .. } => format!(
                    "{e}: the mask's journal cannot be written there; this window is read-only (Open a copy, or Save labels as… in a writable folder, to edit)"
                ),
                e => return Err(e),
            };
            notes.push(why.clone());
            session.set_read_only(Some(why));
            None
        }
    };
    let state = AppState::new(session, default_window)?;
    Ok(LoadOutcome::Ready(Box::new(Document {
        title,
        image_path: req.path.clone(),
        labels_path,
        state,
        slices,
        view3d,
        histogram: Histogram {
            params,
            counts,
            min,
            max,
        },
        auto_window: auto,
        default_window,
        recovery,
        notes,
        view3d_version: (0, false),
        view3d_preview: None,
    })))
}

impl Document {
    pub fn image(&self) -> &Volume {
        self.state.session.image()
    }

    /// Replays the pending journal (crash recovery) and keeps journaling into it.
    pub fn recover(&mut self) -> Result<usize> {
        let Some(r) = self.recovery.take() else {
            return Ok(0);
        };
        let n = r.entries.len();
        // The journal first: replay marks the steps it rebuilds as replayable from it.
        self.state.session.set_journal(Some(r.journal));
        self.state.session.replay(&r.entries)?;
        self.state.dirty = true;
        self.state.version += 1;
        self.state.labels_version += 1;
        Ok(n)
    }

    /// Sets the pending journal aside (kept on disk, renamed) and starts a fresh one.
    pub fn discard_recovery(&mut self) -> Result<PathBuf> {
        let Some(r) = self.recovery.take() else {
            return Err(Error::NotFound("no journal to discard".into()));
        };
        let mut journal = r.journal;
        // The lock stays held: no other process can slip in between.
        let aside = journal.set_aside()?;
        self.state.session.set_journal(Some(journal));
        aside.ok_or_else(|| Error::NotFound("the journal to discard is gone".into()))
    }

    /// Starts a save: the labels are read back here (GPU → host), the NIfTI is compressed
    /// and written atomically on a worker thread; [`Document::finish_save`] then moves the
    /// journal's ops up to this point into the history.
    pub fn begin_save(&mut self) -> Result<SaveJob> {
        if let Some(why) = self.state.session.read_only() {
            return Err(Error::ReadOnly(why.to_string()));
        }
        let labels = self.state.session.labels()?.into_owned();
        let image = self.state.session.image().to_arc();
        let table = self.state.session.table().to_vec();
        let markups = self.state.session.markups().clone();
        let (journal_len, marker) = match self.state.session.journal() {
            Some(j) => (Some(j.len()?), j.last_marker().map(str::to_string)),
            None => (None, None),
        };
        let path = self.labels_path.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The phantom's data folder is created by the first save or edit, not at open.
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let p2 = path.clone();
        std::thread::Builder::new()
            .name("voxmark-save".into())
            .spawn(move || {
                let _ = tx.send(save_annotation_marked(
                    &p2,
                    &image,
                    labels,
                    &table,
                    Some(&markups),
                    marker.as_deref(),
                ));
            })
            .map_err(|e| Error::Worker(format!("cannot start saving: {e}")))?;
        Ok(SaveJob {
            rx,
            journal_len,
            version: self.state.version,
            path,
        })
    }

    /// After the mask is on disk: the journal keeps only the ops the mask lacks.
    pub fn finish_save(&mut self, job: &SaveJob) -> Result<()> {
        if let (Some(j), Some(len)) = (self.state.session.journal_mut(), job.journal_len) {
            j.checkpoint(&history_path(&job.path), Some(len))?;
        }
        if self.state.version == job.version {
            self.state.dirty = false;
        }
        Ok(())
    }

    /// Saves and waits (Save as, tests).
    pub fn save(&mut self) -> Result<()> {
        let job = self.begin_save()?;
        let r = job
            .rx
            .recv()
            .map_err(|_| Error::Worker("the save thread stopped".into()))?;
        r?;
        self.finish_save(&job)
    }

    /// File ▸ Export segmentation: the current labels as a DICOM SEG (`dicom`) or a Slicer
    /// `.seg.nrrd` at `path`. Labels that grow, grow from seeds, fill between slices or
    /// threshold wrote in this mask's history or journal are marked SEMIAUTOMATIC.
    pub fn export_segmentation(&self, path: &Path, dicom: bool) -> Result<String> {
        use voxmark_edit::ops::EditOp;
        use voxmark_io::label_file::{export_segmentation, SegFormat};
        let mut semi = Vec::new();
        for f in [
            history_path(&self.labels_path),
            journal_path(&self.labels_path),
        ] {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            for op in voxmark_edit::ops::parse_ops(&text, &f).unwrap_or_default() {
                match op {
                    EditOp::Grow { label, .. }
                    | EditOp::Interpolate { label, .. }
                    | EditOp::Threshold { label, .. } => semi.push(label),
                    EditOp::GrowCut { labels, .. } => semi.extend(labels),
                    _ => {}
                }
            }
        }
        let labels = self.state.session.labels()?;
        export_segmentation(
            path,
            if dicom {
                SegFormat::DicomSeg
            } else {
                SegFormat::SegNrrd
            },
            self.state.session.image(),
            self.image_path.as_deref(),
            &labels,
            self.state.session.table(),
            &semi,
            self.state.session.author(),
        )
    }

    /// Why this window may not write its mask (another process owns it), if so.
    pub fn read_only(&self) -> Option<&str> {
        self.state.session.read_only()
    }

    /// "Open a copy" in a read-only window: the labels as shown are saved under a new name
    /// beside the mask (or in the current folder when that one is read-only), and this
    /// window owns and edits that copy from now on. Returns the copy's path.
    pub fn edit_a_copy(&mut self) -> Result<PathBuf> {
        let name = self
            .labels_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "labels.nii.gz".into());
        let (stem, ext) = match name.strip_suffix(".nii.gz") {
            Some(st) => (st.to_string(), ".nii.gz"),
            None => match name.strip_suffix(".nii") {
                Some(st) => (st.to_string(), ".nii"),
                None => (name.clone(), ".nii.gz"),
            },
        };
        let stamp = voxmark_volume::fs::clock::now_rfc3339().replace([':', '-'], "");
        let dir = save_target(&self.labels_path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut n = 0;
        let path = loop {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            let p = dir.join(format!("{stem}.copy-{stamp}{suffix}{ext}"));
            if !p.exists() && !journal_path(&p).exists() {
                break p;
            }
            n += 1;
        };
        self.save_as(path.clone())?;
        Ok(path)
    }

    /// Save as: the mask goes to `path` and the journal moves there with it.
    pub fn save_as(&mut self, path: PathBuf) -> Result<()> {
        let name = path.to_string_lossy();
        if !(name.ends_with(".nii") || name.ends_with(".nii.gz")) {
            return Err(Error::Invalid(format!(
                "{}: labels are saved as NIfTI; use a .nii or .nii.gz name",
                path.display()
            )));
        }
        let (journal, rec) = Journal::open(&journal_path(&path), "voxmark shell")?;
        if !rec.entries.is_empty() {
            return Err(Error::Invalid(format!(
                "{} has unsaved operations of another session; open that mask to recover them first",
                journal_path(&path).display()
            )));
        }
        let old = self.state.session.set_journal(Some(journal));
        let old_path = std::mem::replace(&mut self.labels_path, path);
        // A read-only window becomes the owner of the new mask.
        let was_read_only = self.state.session.set_read_only(None);
        if let Err(e) = self.save() {
            self.state.session.set_journal(old);
            self.labels_path = old_path;
            self.state.session.set_read_only(was_read_only);
            return Err(e);
        }
        // The old journal's ops are in the new mask now.
        if let Some(mut j) = old {
            let hist = history_path(&self.labels_path);
            j.checkpoint(&hist, None)?;
        }
        Ok(())
    }

    /// Sets the journal aside on a "discard changes" quit (work is never deleted).
    pub fn discard_unsaved(&mut self) -> Result<Option<PathBuf>> {
        let Some(mut j) = self.state.session.set_journal(None) else {
            return Ok(None);
        };
        if j.is_empty()? {
            return Ok(None);
        }
        j.set_aside()
    }
}
