//! The shell's modal dialogs: open an image or a label map (with a small file browser), save
//! as, choose a series, unsaved changes before open/quit, a dropped file, crash recovery,
//! a mask another process owns (read-only, or edit a copy),
//! errors. A dialog is a component: it is lent the document and asks the shell for opening,
//! saving and quitting through [`Feedback`].

use super::component::{Dialog, Feedback, Request};
use super::document::{Document, OpenRequest};
use eframe::egui;
use std::path::{Path, PathBuf};

impl Dialog {
    /// Draws the dialog; true when it closes. What its buttons do that only the shell can do
    /// (open, save, quit) goes into `fb`.
    pub fn ui(&mut self, ui: &mut egui::Ui, doc: Option<&mut Document>, fb: &mut Feedback) -> bool {
        let mut close = false;
        match self {
            Dialog::Error(msg) => {
                ui.heading("Error");
                ui.label(msg.as_str());
                close = ui.button("OK").clicked();
            }
            Dialog::Info(msg) => {
                ui.label(msg.as_str());
                close = ui.button("OK").clicked();
            }
            Dialog::Open {
                path,
                series,
                labels,
            } => {
                ui.heading("Open image");
                ui.label("NIfTI file (.nii, .nii.gz), DICOM file or DICOM folder:");
                ui.add(egui::TextEdit::singleline(path).desired_width(520.0));
                browse(ui, path);
                ui.label("Series UID (folders with several series; optional):");
                ui.add(egui::TextEdit::singleline(series).desired_width(520.0));
                ui.label(
                    "Label map (optional; another grid is reoriented, or resampled after asking):",
                );
                ui.add(egui::TextEdit::singleline(labels).desired_width(520.0));
                ui.horizontal(|ui| {
                    if ui.button("Open").clicked() && !path.trim().is_empty() {
                        let req = OpenRequest {
                            path: Some(PathBuf::from(path.trim())),
                            series: Some(series.trim().to_string()).filter(|s| !s.is_empty()),
                            labels: Some(labels.trim().to_string())
                                .filter(|s| !s.is_empty())
                                .map(PathBuf::from),
                            labels_new: false,
                            label_table: None,
                            resample: Default::default(),
                        };
                        fb.request(Request::Open(req));
                        close = true;
                    }
                    close |= ui.button("Cancel").clicked();
                });
            }
            Dialog::OpenLabels(path) => {
                ui.heading("Open labels");
                ui.label("Label map (.nii, .nii.gz) on this image's grid:");
                ui.add(egui::TextEdit::singleline(path).desired_width(520.0));
                browse(ui, path);
                ui.horizontal(|ui| {
                    if ui.button("Open").clicked() {
                        let p = PathBuf::from(path.trim());
                        fb.request(Request::OpenLabels(p));
                        close = true;
                    }
                    close |= ui.button("Cancel").clicked();
                });
            }
            Dialog::SaveAs(path) => {
                ui.heading("Save labels as");
                ui.add(egui::TextEdit::singleline(path).desired_width(520.0));
                ui.horizontal(|ui| {
                    if ui.button("Save").clicked() {
                        let p = PathBuf::from(path.trim());
                        if let Some(d) = doc {
                            let r = d.save_as(p.clone());
                            if fb.report("save as", r).is_some() {
                                fb.status(format!("saved {}", p.display()));
                            }
                        }
                        close = true;
                    }
                    close |= ui.button("Cancel").clicked();
                });
            }
            Dialog::ExportSeg { dicom, path } => {
                ui.heading(if *dicom {
                    "Export segmentation as DICOM SEG"
                } else {
                    "Export segmentation as 3D Slicer .seg.nrrd"
                });
                ui.add(egui::TextEdit::singleline(path).desired_width(520.0));
                ui.horizontal(|ui| {
                    if ui.button("Export").clicked() {
                        if let Some(d) = doc {
                            let r = d.export_segmentation(Path::new(path.trim()), *dicom);
                            if let Some(msg) = fb.report("export segmentation", r) {
                                fb.status(msg);
                            }
                        }
                        close = true;
                    }
                    close |= ui.button("Cancel").clicked();
                });
            }
            Dialog::ChooseSeries { request, choices } => {
                ui.heading("This folder holds several series");
                let mut chosen = None;
                for (uid, line) in choices.iter() {
                    if ui.button(line.as_str()).clicked() {
                        chosen = Some(uid.clone());
                    }
                }
                if let Some(uid) = chosen {
                    let mut req = request.clone();
                    req.series = Some(uid);
                    fb.request(Request::Open(req));
                    close = true;
                }
                close |= ui.button("Cancel").clicked();
            }
            Dialog::ConfirmResample {
                request,
                refusal,
                note,
            } => {
                ui.heading("The label map is on another grid");
                ui.label(refusal.as_str());
                ui.separator();
                ui.label(
                    "Resampling takes each image voxel's label from the label map's voxel \
                     nearest to it in world space (nearest neighbour, as ITK does). It changes \
                     the annotation:",
                );
                ui.label(note.as_str());
                ui.label(
                    "Save then writes the resampled labels to a new file beside the label map; \
                     the label map itself is not changed.",
                );
                ui.horizontal(|ui| {
                    if ui.button("Resample and open").clicked() {
                        fb.request(Request::Open(request.clone()));
                        close = true;
                    }
                    close |= ui.button("Cancel").clicked();
                });
            }
            Dialog::ConfirmQuit => {
                ui.heading("Unsaved changes");
                ui.label("The labels have edits that are not saved.");
                ui.horizontal(|ui| {
                    if ui.button("Save and quit").clicked() {
                        fb.request(Request::ConfirmQuit { save: true });
                        close = true;
                    }
                    if ui.button("Quit without saving").clicked() {
                        fb.request(Request::ConfirmQuit { save: false });
                        close = true;
                    }
                    close |= ui.button("Cancel").clicked();
                });
            }
            Dialog::ConfirmOpen(req) => {
                ui.heading("Unsaved changes");
                ui.label("The labels of the open image have edits that are not saved. Opening without saving keeps them in its journal: they are offered for recovery when that image is opened again.");
                ui.horizontal(|ui| {
                    if ui.button("Save, then open").clicked() {
                        fb.request(Request::ConfirmOpen {
                            req: req.clone(),
                            save: true,
                        });
                        close = true;
                    }
                    if ui.button("Open without saving").clicked() {
                        fb.request(Request::ConfirmOpen {
                            req: req.clone(),
                            save: false,
                        });
                        close = true;
                    }
                    close |= ui.button("Cancel").clicked();
                });
            }
            Dialog::Dropped(p) => {
                ui.heading(format!("{}", p.display()));
                ui.horizontal(|ui| {
                    if ui.button("Open as a new image").clicked() {
                        fb.request(Request::Open(OpenRequest {
                            path: Some(p.clone()),
                            ..Default::default()
                        }));
                        close = true;
                    }
                    if ui.button("Load as labels on this image").clicked() {
                        fb.request(Request::OpenLabels(p.clone()));
                        close = true;
                    }
                    close |= ui.button("Cancel").clicked();
                });
            }
            Dialog::ReadOnly(why) => {
                ui.heading("Opened read-only");
                ui.label(why.as_str());
                ui.label("Edits here could not be saved without overwriting the other session's work. Open a copy to edit: the labels as shown are saved under a new name, which this window then owns.");
                ui.horizontal(|ui| {
                    if ui.button("Open a copy").clicked() {
                        if let Some(d) = doc {
                            let r = d.edit_a_copy();
                            if let Some(p) = fb.report("open a copy", r) {
                                fb.status(format!("editing a copy: {}", p.display()));
                            }
                        }
                        close = true;
                    }
                    close |= ui.button("Look read-only").clicked();
                });
            }
            Dialog::Recovery => {
                let Some(doc) = doc else {
                    return true;
                };
                let (n, warn, jp) = match &doc.recovery {
                    Some(r) => (
                        r.entries.len(),
                        r.warning.clone(),
                        r.journal.path().display().to_string(),
                    ),
                    None => return true,
                };
                ui.heading("Recover unsaved work?");
                ui.label(format!(
                    "The journal {jp} holds {n} operations that were never saved (the last session ended without saving)."
                ));
                if let Some(w) = warn {
                    ui.label(w);
                }
                ui.horizontal(|ui| {
                    if ui.button("Recover").clicked() {
                        let r = doc.recover();
                        if let Some(n) = fb.report("recovery", r) {
                            fb.status(format!("recovered {n} operations"));
                        }
                        close = true;
                    }
                    if ui
                        .button("Set aside (keep the file, start clean)")
                        .clicked()
                    {
                        let r = doc.discard_recovery();
                        if let Some(p) = fb.report("set aside", r) {
                            fb.status(format!("journal kept as {}", p.display()));
                        }
                        close = true;
                    }
                });
            }
        }
        close
    }
}

/// A small file browser under a path field: the folder of `path` (or the working folder),
/// its subfolders and image files; a click on a folder enters it, on a file picks it. A
/// DICOM series is opened by picking its folder (the path field then names the folder).
fn browse(ui: &mut egui::Ui, path: &mut String) {
    let typed = PathBuf::from(path.trim());
    let dir = if typed.is_dir() {
        typed
    } else {
        typed
            .parent()
            .filter(|p| p.is_dir())
            .map(|p| p.to_path_buf())
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."))
    };
    let mut entries: Vec<(bool, String)> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let is_dir = e.path().is_dir();
                let image = [
                    ".nii", ".nii.gz", ".dcm", ".DCM", ".nrrd", ".nhdr", ".mha", ".mhd",
                ]
                .iter()
                .any(|x| name.ends_with(x));
                (!name.starts_with('.') && (is_dir || image)).then_some((is_dir, name))
            })
            .take(2000)
            .collect(),
        Err(e) => {
            ui.label(format!("{}: {e}", dir.display()));
            return;
        }
    };
    entries.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ui.label(egui::RichText::new(format!("in {}", dir.display())).weak());
    egui::ScrollArea::vertical()
        .max_height(220.0)
        .show(ui, |ui| {
            if let Some(up) = dir.parent() {
                if ui.selectable_label(false, "../").clicked() {
                    *path = format!("{}/", up.display());
                }
            }
            for (is_dir, name) in entries {
                let shown = if is_dir {
                    format!("{name}/")
                } else {
                    name.clone()
                };
                if ui.selectable_label(false, shown).clicked() {
                    let p = dir.join(&name);
                    *path = if is_dir {
                        format!("{}/", p.display())
                    } else {
                        p.display().to_string()
                    };
                }
            }
        });
}
