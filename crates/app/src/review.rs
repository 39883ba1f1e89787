//! Review mode: the current labels (A) against a second annotation (B) of the same image.
//! The voxels where they disagree are drawn over every slice (the preview layer), the
//! slices can show A or B, Next/Previous jump the crosshair from disagreement region to
//! region (largest first), and the agreement metrics of `voxmark compare` are listed per
//! label. The review database (`voxmark review`) holds the annotation's status and the
//! reviewer's comments anchored to voxels: the panel lists them, jumps to them, adds new
//! ones at the crosshair and moves the status along its allowed steps.
//!
//! [`ReviewPanel`] is the component: it owns the comparison and the records, is lent the
//! document, and hands the panes the layers to draw ([`ReviewMode::overlay`],
//! [`ReviewMode::labels_layer`]).

use super::component::{Feedback, Request};
use super::document::Document;
use eframe::egui;
use std::path::{Path, PathBuf};
use voxmark_gpu::residency::PackedU8Volume;
use voxmark_gpu::GpuContext;
use voxmark_project::review_db::{Annotation, Comment, ReviewDb};
use voxmark_qa::disagreement::{disagreement_regions, Region};
use voxmark_qa::metrics::{compare_masks, labels_present, LabelAgreement};
use voxmark_volume::labels::labels_for;

/// A comparison of A (the labels when it started) with B.
pub struct ReviewMode {
    pub b_path: PathBuf,
    pub a: Vec<u8>,
    pub b: Vec<u8>,
    b_gpu: PackedU8Volume,
    diff_gpu: PackedU8Volume,
    pub show_b: bool,
    pub show_diff: bool,
    /// Bumped when what the slices show changes.
    pub version: u64,
    pub metrics: Vec<LabelAgreement>,
    pub regions: Vec<Region>,
    pub region_idx: usize,
}

impl ReviewMode {
    /// The disagreement layer drawn over the slices.
    pub fn overlay(&self) -> Option<&PackedU8Volume> {
        self.show_diff.then_some(&self.diff_gpu)
    }

    /// B's labels when the slices show B.
    pub fn labels_layer(&self) -> Option<&PackedU8Volume> {
        self.show_b.then_some(&self.b_gpu)
    }
}

/// The review database of a labels file: `voxmark-review.db` in its folder.
pub fn review_db_path(labels: &Path) -> PathBuf {
    labels
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(
            || PathBuf::from("voxmark-review.db"),
            |p| p.join("voxmark-review.db"),
        )
}

/// The review panel's database side (kept apart from the comparison).
#[derive(Default)]
pub struct ReviewRecords {
    pub db_path: Option<PathBuf>,
    pub annotation: Option<Annotation>,
    pub comments: Vec<Comment>,
    pub comment_idx: usize,
    pub new_comment: String,
    pub compare_path: String,
}

/// The annotation whose mask is `mask` and its comments.
fn read_records(
    db: &ReviewDb,
    mask: &Path,
) -> voxmark_volume::Result<(Option<Annotation>, Vec<Comment>)> {
    let ann = match db.find_by_mask(mask)? {
        Some(id) => Some(db.get(id)?),
        None => None,
    };
    let comments = match &ann {
        Some(a) => db.comments(Some(a.id))?,
        None => Vec::new(),
    };
    Ok((ann, comments))
}

/// The review panel: the comparison in progress (if any) and the mask's review records.
#[derive(Default)]
pub struct ReviewPanel {
    pub mode: Option<ReviewMode>,
    pub records: ReviewRecords,
    /// The document is a project case: its status and comments live in the project (the
    /// project panel), so the per-folder review database is not offered.
    pub in_project: bool,
}

impl ReviewPanel {
    /// Starts review mode: B loaded on the image's grid, compared with the current labels.
    /// Returns the status line.
    pub fn start(
        &mut self,
        gpu: &GpuContext,
        doc: &Document,
        b_path: PathBuf,
    ) -> voxmark_volume::Result<String> {
        let img = doc.image();
        let grid = img.grid;
        let b_vol = voxmark_io::nifti::read_nifti(&b_path)?;
        let b = labels_for(&b_vol, &b_path, &grid)?;
        let a = doc.state.session.labels()?.into_owned();
        let diff: Vec<u8> = a.iter().zip(&b).map(|(x, y)| u8::from(x != y)).collect();
        let labels = labels_present(&a, &b);
        let metrics = compare_masks(&a, &b, &grid, &labels, 1.0);
        let regions = disagreement_regions(&diff, grid.dims, 10_000);
        let mode = ReviewMode {
            b_gpu: PackedU8Volume::upload(gpu, grid.dims, &b)?,
            diff_gpu: PackedU8Volume::upload(gpu, grid.dims, &diff)?,
            b_path,
            a,
            b,
            show_b: false,
            show_diff: true,
            version: self.mode.as_ref().map_or(1, |r| r.version + 1),
            metrics,
            regions,
            region_idx: 0,
        };
        let status = format!(
            "review: {} disagreement regions, {} voxels differ",
            mode.regions.len(),
            diff.iter().filter(|&&d| d != 0).count()
        );
        self.mode = Some(mode);
        Ok(status)
    }

    /// Moves the crosshair `step` disagreement regions on (wrapping; largest first).
    pub fn jump_region(&mut self, step: i64, doc: &mut Document, fb: &mut Feedback) {
        let Some(r) = &mut self.mode else {
            return;
        };
        if r.regions.is_empty() {
            fb.status("no disagreements");
            return;
        }
        let n = r.regions.len() as i64;
        r.region_idx = (r.region_idx as i64 + step).rem_euclid(n) as usize;
        let reg = &r.regions[r.region_idx];
        let res = doc.state.set_crosshair(reg.at.map(|x| x as f64));
        fb.report("jump", res);
        fb.status(format!(
            "disagreement {}/{}: {} voxels at ({}, {}, {})",
            r.region_idx + 1,
            n,
            reg.voxels,
            reg.at[0],
            reg.at[1],
            reg.at[2]
        ));
    }

    /// Moves the crosshair to the comment `step` away from the selected one.
    pub fn jump_comment(&mut self, step: i64, doc: &mut Document, fb: &mut Feedback) {
        let n = self.records.comments.len() as i64;
        if n == 0 {
            fb.status("no comments");
            return;
        }
        let i = (self.records.comment_idx as i64 + step).rem_euclid(n) as usize;
        self.records.comment_idx = i;
        let c = &self.records.comments[i];
        if let Some(v) = c.voxel {
            let r = doc.state.set_crosshair(v.map(|x| x as f64));
            fb.report("jump", r);
        }
        fb.status(format!("comment {}/{}: {}", i + 1, n, c.body));
    }

    /// Reloads the mask's record and comments. The database path is remembered even when
    /// it cannot be opened, so a failure is reported once, not every frame (Review >
    /// Refresh review records retries).
    pub fn records_refresh(&mut self, doc: &Document, fb: &mut Feedback) {
        let path = review_db_path(&doc.labels_path);
        self.records.db_path = Some(path.clone());
        if !path.exists() {
            // Looking creates nothing: the database appears with the first registration,
            // status change or comment (`with_db`).
            self.records.annotation = None;
            self.records.comments.clear();
            return;
        }
        let r = ReviewDb::open(&path).and_then(|db| read_records(&db, &doc.labels_path));
        self.set_records(r, fb);
    }

    fn set_records(
        &mut self,
        r: voxmark_volume::Result<(Option<Annotation>, Vec<Comment>)>,
        fb: &mut Feedback,
    ) {
        if let Some((ann, comments)) = fb.report("review database", r) {
            self.records.annotation = ann;
            self.records.comments = comments;
        }
    }

    /// Runs `f` on the review database, then reloads the records from the same connection.
    fn with_db<T>(
        &mut self,
        doc: &Document,
        fb: &mut Feedback,
        what: &str,
        f: impl FnOnce(&ReviewDb) -> voxmark_volume::Result<T>,
    ) {
        let path = review_db_path(&doc.labels_path);
        let db = match ReviewDb::open(&path) {
            Ok(db) => db,
            Err(e) => return fb.error(format!("{what}: {e}")),
        };
        let r = f(&db);
        if fb.report(what, r).is_some() {
            let records = read_records(&db, &doc.labels_path);
            self.set_records(records, fb);
        }
    }

    /// The Review menu.
    pub fn menu(&mut self, ui: &mut egui::Ui, doc: Option<&Document>, fb: &mut Feedback) {
        if ui.button("Refresh review records").clicked() {
            if let Some(doc) = doc {
                self.records_refresh(doc, fb);
            }
        }
        if ui.button("Leave review mode").clicked() {
            self.mode = None;
        }
    }

    /// The panel: the mask's record and comments, then the comparison.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        gpu: &GpuContext,
        doc: &mut Document,
        fb: &mut Feedback,
    ) {
        ui.separator();
        ui.heading("Review");
        if self.in_project {
            return self.compare_ui(ui, gpu, doc, fb);
        }
        if self.records.db_path.is_none() {
            self.records_refresh(doc, fb);
        }
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        match self.records.annotation.clone() {
            None => {
                ui.label("This mask is not in the review database.");
                if ui.button("Register it (draft)").clicked() {
                    let img = doc
                        .image_path
                        .clone()
                        .unwrap_or_else(|| PathBuf::from("phantom"));
                    let mask = doc.labels_path.clone();
                    if !mask.exists() {
                        fb.request(Request::Save);
                    }
                    let u = user.clone();
                    self.with_db(doc, fb, "register", move |db| {
                        db.add_annotation(&img, &mask, &u)
                    });
                }
            }
            Some(a) => {
                ui.label(format!(
                    "#{} by {} · round {} · {}",
                    a.id,
                    a.annotator,
                    a.round,
                    a.status.as_str()
                ));
                ui.horizontal_wrapped(|ui| {
                    for to in a.status.allowed() {
                        if ui.button(format!("-> {}", to.as_str())).clicked() {
                            let (id, to, u) = (a.id, *to, user.clone());
                            self.with_db(doc, fb, "set status", move |db| {
                                db.set_status(id, to, &u, None)
                            });
                        }
                    }
                });
                ui.label(format!(
                    "{} comment(s), {} open",
                    a.comments, a.open_comments
                ));
                let comments = self.records.comments.clone();
                for (n, c) in comments.iter().enumerate() {
                    ui.horizontal(|ui| {
                        let tick = if c.resolved { "(resolved)" } else { "•" };
                        let at = c
                            .voxel
                            .map(|v| format!(" @({}, {}, {})", v[0], v[1], v[2]))
                            .unwrap_or_default();
                        if ui
                            .selectable_label(
                                n == self.records.comment_idx,
                                format!("{tick} {}: {}{at}", c.author, c.body),
                            )
                            .clicked()
                        {
                            self.records.comment_idx = n;
                            self.jump_comment(0, doc, fb);
                        }
                        if !c.resolved && ui.small_button("resolve").clicked() {
                            let cid = c.id;
                            self.with_db(doc, fb, "resolve", move |db| db.resolve(cid));
                        }
                    });
                }
                ui.horizontal(|ui| {
                    if ui.button("< comment").clicked() {
                        self.jump_comment(-1, doc, fb);
                    }
                    if ui.button("comment >").clicked() {
                        self.jump_comment(1, doc, fb);
                    }
                });
                ui.add(
                    egui::TextEdit::singleline(&mut self.records.new_comment)
                        .hint_text("comment at the crosshair"),
                );
                if ui.button("Add comment").clicked() {
                    let body = std::mem::take(&mut self.records.new_comment);
                    let voxel = doc.state.crosshair.map(|x| x as i64);
                    let label = Some(doc.state.brush.label);
                    let (id, u) = (a.id, user.clone());
                    self.with_db(doc, fb, "comment", move |db| {
                        db.comment(id, &u, &body, Some(voxel), Some("axial"), label)
                    });
                }
            }
        }
        ui.separator();
        self.compare_ui(ui, gpu, doc, fb);
    }

    /// Compare with another annotation: the path field, A/B, the disagreement overlay and
    /// regions, per-label metrics.
    fn compare_ui(
        &mut self,
        ui: &mut egui::Ui,
        gpu: &GpuContext,
        doc: &mut Document,
        fb: &mut Feedback,
    ) {
        ui.label("Compare with another annotation (same grid):");
        ui.add(
            egui::TextEdit::singleline(&mut self.records.compare_path)
                .hint_text("B.nii.gz")
                .desired_width(240.0),
        );
        if ui.button("Compare").clicked() {
            let p = PathBuf::from(self.records.compare_path.trim());
            let r = self.start(gpu, doc, p);
            if let Some(s) = fb.report("compare", r) {
                fb.status(s);
            }
        }
        let Some(r) = &mut self.mode else {
            return;
        };
        ui.label(format!("B: {}", r.b_path.display()));
        let mut changed = false;
        ui.horizontal(|ui| {
            changed |= ui
                .radio_value(&mut r.show_b, false, "show A (mine)")
                .changed();
            changed |= ui.radio_value(&mut r.show_b, true, "show B").changed();
        });
        changed |= ui
            .checkbox(&mut r.show_diff, "highlight disagreement (cyan)")
            .changed();
        if changed {
            r.version += 1;
        }
        ui.label(format!("{} disagreement region(s)", r.regions.len()));
        let mut step = 0;
        ui.horizontal(|ui| {
            if ui.button("< disagreement").clicked() {
                step = -1;
            }
            if ui.button("disagreement >").clicked() {
                step = 1;
            }
        });
        egui::Grid::new("metrics").striped(true).show(ui, |ui| {
            for h in ["label", "Dice", "IoU", "HD95 mm", "ΔV %"] {
                ui.label(h);
            }
            ui.end_row();
            for m in &r.metrics {
                ui.label(format!("{}", m.label));
                ui.label(format!("{:.3}", m.dice));
                ui.label(format!("{:.3}", m.iou));
                ui.label(m.hausdorff95_mm.map_or("–".into(), |v| format!("{v:.2}")));
                ui.label(m.volume_diff_pct.map_or("–".into(), |v| format!("{v:+.1}")));
                ui.end_row();
            }
        });
        if step != 0 {
            self.jump_region(step, doc, fb);
        }
    }
}
