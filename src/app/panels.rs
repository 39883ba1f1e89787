//! Menus, side panels, status bar and dialogs of the shell. Every button is a thin caller:
//! edits become `EditOp`s through `Shell::apply` (journaled, undoable), views change
//! `ViewSettings` or the `AppState` window.

use super::document::OpenRequest;
use super::shell::{open_dialog, Dialog, Shell, Tool};
use crate::edit::ops::{EditOp, Editable, Shape};
use crate::geometry::camera::Camera;
use crate::kernels::raycast::RenderMode;
use crate::kernels::transfer::TfPreset;
use crate::kernels::window_level::Preset;
use eframe::egui;
use std::path::PathBuf;

const PRESETS: [(&str, Preset); 8] = [
    ("Brain (W80 L40)", Preset::Brain),
    ("Subdural (W200 L75)", Preset::Subdural),
    ("Stroke (W40 L40)", Preset::Stroke),
    ("Lung (W1500 L-600)", Preset::Lung),
    ("Mediastinum (W350 L50)", Preset::Mediastinum),
    ("Abdomen (W400 L50)", Preset::Abdomen),
    ("Liver (W150 L30)", Preset::Liver),
    ("Bone (W1800 L400)", Preset::Bone),
];

impl Shell {
    pub(super) fn menu_bar(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open image…  (Ctrl+O)").clicked() {
                    self.dialog = Some(open_dialog());
                }
                if ui.button("Open built-in CT phantom").clicked() {
                    self.open(OpenRequest::default());
                }
                let has_doc = self.doc.is_some();
                if ui
                    .add_enabled(has_doc, egui::Button::new("Open labels…"))
                    .clicked()
                {
                    self.dialog = Some(Dialog::OpenLabels(String::new()));
                }
                ui.separator();
                if ui
                    .add_enabled(has_doc, egui::Button::new("Save labels  (Ctrl+S)"))
                    .clicked()
                {
                    self.save();
                }
                if ui
                    .add_enabled(has_doc, egui::Button::new("Save labels as…"))
                    .clicked()
                {
                    let cur = self
                        .doc
                        .as_ref()
                        .map(|d| d.labels_path.display().to_string())
                        .unwrap_or_default();
                    self.dialog = Some(Dialog::SaveAs(cur));
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("Edit", |ui| {
                if ui.button("Undo  (Ctrl+Z)").clicked() {
                    self.undo();
                }
                if ui.button("Redo  (Ctrl+Y, Ctrl+Shift+Z)").clicked() {
                    self.redo();
                }
            });
            ui.menu_button("View", |ui| self.view_menu(ui));
            ui.menu_button("Tools", |ui| self.tools_menu(ui));
            ui.menu_button("Review", |ui| self.review_menu(ui));
        });
    }

    fn view_menu(&mut self, ui: &mut egui::Ui) {
        ui.menu_button("Window preset", |ui| {
            for (name, p) in PRESETS {
                if ui.button(name).clicked() {
                    if let (Some(d), Some(w)) = (&mut self.doc, p.window()) {
                        d.state.window = w;
                    }
                }
            }
        });
        if ui.button("Auto window (1st–99th percentile)").clicked() {
            if let Some(d) = &mut self.doc {
                d.state.window = d.auto_window;
            }
        }
        if ui.button("Reset view").clicked() {
            if let Some(d) = &mut self.doc {
                for p in &mut d.state.panes {
                    p.zoom = 1.0;
                    p.pan_px = [0.0, 0.0];
                }
                d.state.window = d.default_window;
            }
            self.view.camera = Camera::default();
            self.view.maximized = None;
        }
        ui.separator();
        ui.checkbox(&mut self.view.show_labels, "Show labels");
        ui.checkbox(&mut self.view.outline, "Label outlines");
        ui.checkbox(&mut self.view.linear, "Linear interpolation");
        ui.separator();
        ui.label("3D");
        ui.radio_value(&mut self.view.mode3d, RenderMode::Dvr, "Volume rendering");
        ui.radio_value(&mut self.view.mode3d, RenderMode::Mip, "Maximum intensity");
        ui.radio_value(&mut self.view.mode3d, RenderMode::Labels, "Label surfaces");
        ui.menu_button("Transfer function", |ui| {
            for tf in [
                TfPreset::CtBone,
                TfPreset::CtSoftTissue,
                TfPreset::CtVessels,
                TfPreset::MrDefault,
            ] {
                ui.radio_value(&mut self.view.tf, tf, tf.name());
            }
        });
        ui.checkbox(
            &mut self.view.clip_crosshair,
            "Clip 3D at the coronal crosshair plane",
        );
        if ui.button("Reset 3D camera").clicked() {
            self.view.camera = Camera::default();
        }
    }

    fn tools_menu(&mut self, ui: &mut egui::Ui) {
        let (label, editable) = self.doc.as_ref().map_or((1, Editable::Everywhere), |d| {
            (d.state.brush.label, d.state.brush.editable)
        });
        ui.label(format!("On the active label {label}:"));
        if ui.button("Keep the largest island").clicked() {
            self.apply(EditOp::Islands {
                label,
                keep_largest: true,
                min_voxels: None,
                connectivity: 6,
            });
        }
        ui.horizontal(|ui| {
            if ui.button("Remove islands under").clicked() {
                self.apply(EditOp::Islands {
                    label,
                    keep_largest: false,
                    min_voxels: Some(self.islands_min_voxels),
                    connectivity: 6,
                });
            }
            ui.add(egui::DragValue::new(&mut self.islands_min_voxels).suffix(" voxels"));
        });
        ui.separator();
        ui.horizontal(|ui| {
            if ui.button("Threshold").clicked() {
                let r = self.threshold;
                self.apply(EditOp::Threshold {
                    range: [r[0].min(r[1]), r[0].max(r[1])],
                    label,
                    roi: None,
                    editable,
                });
            }
            ui.add(egui::DragValue::new(&mut self.threshold[0]).speed(1.0));
            ui.label("to");
            ui.add(egui::DragValue::new(&mut self.threshold[1]).speed(1.0));
        });
        ui.separator();
        ui.horizontal(|ui| {
            if ui.button("Dilate").clicked() {
                self.apply(EditOp::Dilate {
                    label,
                    radius_mm: self.morph_radius_mm,
                    editable,
                });
            }
            if ui.button("Erode").clicked() {
                self.apply(EditOp::Erode {
                    label,
                    radius_mm: self.morph_radius_mm,
                });
            }
            ui.add(
                egui::DragValue::new(&mut self.morph_radius_mm)
                    .range(0.1..=50.0)
                    .speed(0.1)
                    .suffix(" mm"),
            );
        });
        if ui.button("Clear the label").clicked() {
            self.apply(EditOp::ClearLabel { label });
        }
    }

    pub(super) fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label(&self.hover.text);
        });
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new(&self.status).weak());
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let n = self.frame_ms.len();
                if n > 0 {
                    let mut v: Vec<f64> = self.frame_ms[n.saturating_sub(30)..].to_vec();
                    v.sort_by(f64::total_cmp);
                    ui.label(format!(
                        "{} · frame {:.1} ms",
                        self.gpu.adapter.get_info().name,
                        v[v.len() / 2]
                    ));
                }
                if let Some(d) = &self.doc {
                    if d.state.dirty {
                        ui.label(
                            egui::RichText::new("* unsaved")
                                .color(egui::Color32::from_rgb(255, 170, 60)),
                        );
                    }
                }
            });
        });
    }

    pub(super) fn tools_panel(&mut self, ui: &mut egui::Ui) {
        ui.heading("Tools");
        for t in Tool::ALL {
            ui.radio_value(&mut self.tool, t, t.name());
        }
        let Some(doc) = &mut self.doc else {
            return;
        };
        ui.separator();
        let b = &mut doc.state.brush;
        ui.label("Brush");
        ui.add(
            egui::Slider::new(&mut b.radius_mm, 0.25..=100.0)
                .logarithmic(true)
                .text("radius mm  [ ]"),
        );
        ui.horizontal(|ui| {
            ui.radio_value(&mut b.shape, Shape::Disc, "disc in plane");
            ui.radio_value(&mut b.shape, Shape::Sphere, "3D sphere");
        });
        egui::ComboBox::from_label("may overwrite")
            .selected_text(match b.editable {
                Editable::Everywhere => "everything".to_string(),
                Editable::EmptyOnly => "background only".to_string(),
                Editable::Inside(l) => format!("inside label {l}"),
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut b.editable, Editable::Everywhere, "everything");
                ui.selectable_value(&mut b.editable, Editable::EmptyOnly, "background only");
            });
        let mut limited = b.range.is_some();
        if ui
            .checkbox(&mut limited, "intensity-limited (drag on the histogram)")
            .changed()
        {
            let w = doc.state.window;
            b.range = limited.then_some([w.center - w.width / 2.0, w.center + w.width / 2.0]);
        }
        if let Some(r) = &mut b.range {
            ui.horizontal(|ui| {
                ui.add(egui::DragValue::new(&mut r[0]).speed(1.0));
                ui.label("to");
                ui.add(egui::DragValue::new(&mut r[1]).speed(1.0));
            });
        }
        ui.separator();
        self.histogram_ui(ui);
        ui.separator();
        self.window_ui(ui);
        ui.separator();
        self.grow_ui(ui);
        if let Some(r) = &self.ruler {
            if let Some(d) = &self.doc {
                ui.separator();
                ui.label(format!("Ruler: {:.2} mm", r.length_mm(&d.image().grid)));
            }
        }
    }

    fn window_ui(&mut self, ui: &mut egui::Ui) {
        let Some(doc) = &mut self.doc else {
            return;
        };
        let w = &mut doc.state.window;
        ui.label("Window (right-drag in a slice)");
        ui.horizontal(|ui| {
            ui.label("W");
            ui.add(
                egui::DragValue::new(&mut w.width)
                    .range(1.0..=1e6)
                    .speed(2.0),
            );
            ui.label("L");
            ui.add(egui::DragValue::new(&mut w.center).speed(1.0));
        });
        ui.horizontal_wrapped(|ui| {
            for (name, p) in PRESETS {
                let short = name.split(' ').next().unwrap_or(name);
                if ui.small_button(short).on_hover_text(name).clicked() {
                    if let Some(pw) = p.window() {
                        *w = pw;
                    }
                }
            }
            if ui.small_button("Auto").clicked() {
                *w = doc.auto_window;
            }
        });
    }

    fn grow_ui(&mut self, ui: &mut egui::Ui) {
        let Some(doc) = &self.doc else {
            return;
        };
        let (lo, hi) = (doc.histogram.min, doc.histogram.max);
        ui.label("Region grow (click seeds with the grow tool)");
        let mut changed = false;
        changed |= ui
            .add(egui::Slider::new(&mut self.grow.lower, lo..=hi).text("lower"))
            .changed();
        changed |= ui
            .add(egui::Slider::new(&mut self.grow.upper, lo..=hi).text("upper"))
            .changed();
        ui.horizontal(|ui| {
            for c in [6, 18, 26] {
                changed |= ui
                    .radio_value(&mut self.grow.connectivity, c, format!("{c}"))
                    .changed();
            }
            ui.label("connectivity");
        });
        if changed {
            self.update_grow_preview();
        }
        ui.horizontal(|ui| {
            if ui.button("Auto range").clicked() {
                self.auto_grow_range();
            }
            let pending = self
                .doc
                .as_ref()
                .is_some_and(|d| d.state.grow_pending().is_some());
            if ui
                .add_enabled(pending, egui::Button::new("Accept (Enter)"))
                .clicked()
            {
                self.accept_grow();
            }
            if ui.button("Cancel (Esc)").clicked() {
                self.cancel();
            }
        });
        ui.label(format!("{} seed(s)", self.grow.seeds.len()));
    }

    fn histogram_ui(&mut self, ui: &mut egui::Ui) {
        let Some(doc) = &mut self.doc else {
            return;
        };
        let h = &doc.histogram;
        let w = ui.available_width().max(100.0);
        let (rect, resp) = ui.allocate_exact_size(egui::vec2(w, 90.0), egui::Sense::drag());
        let p = ui.painter_at(rect);
        p.rect_filled(rect, 2.0, egui::Color32::from_gray(20));
        let max = h
            .counts
            .iter()
            .map(|&c| f64::from(c).ln_1p())
            .fold(0.0, f64::max)
            .max(1e-9);
        let n = h.counts.len().max(1);
        let span = (h.max - h.min).max(1e-9);
        let x_of = |v: f64| rect.left() + ((v - h.min) / span) as f32 * rect.width();
        let v_of = |x: f32| h.min + f64::from((x - rect.left()) / rect.width()) * span;
        let pts: Vec<egui::Pos2> = h
            .counts
            .iter()
            .enumerate()
            .map(|(b, &c)| {
                egui::pos2(
                    rect.left() + (b as f32 + 0.5) / n as f32 * rect.width(),
                    rect.bottom() - (f64::from(c).ln_1p() / max) as f32 * rect.height(),
                )
            })
            .collect();
        p.add(egui::Shape::line(
            pts,
            egui::Stroke::new(1.0, egui::Color32::LIGHT_GRAY),
        ));
        if let Some(r) = doc.state.brush.range {
            let band = egui::Rect::from_x_y_ranges(
                x_of(r[0].min(r[1]))..=x_of(r[0].max(r[1])),
                rect.y_range(),
            );
            p.rect_filled(
                band,
                0.0,
                egui::Color32::from_rgba_unmultiplied(80, 200, 120, 60),
            );
        }
        let win = doc.state.window;
        let (a, b) = (
            x_of(win.center - win.width / 2.0),
            x_of(win.center + win.width / 2.0),
        );
        let stroke = egui::Stroke::new(1.5, egui::Color32::from_rgb(255, 200, 0));
        p.line_segment(
            [egui::pos2(a, rect.bottom()), egui::pos2(b, rect.top())],
            stroke,
        );
        p.line_segment(
            [egui::pos2(a, rect.top()), egui::pos2(a, rect.bottom())],
            stroke,
        );
        p.line_segment(
            [egui::pos2(b, rect.top()), egui::pos2(b, rect.bottom())],
            stroke,
        );
        p.text(
            rect.left_top() + egui::vec2(3.0, 2.0),
            egui::Align2::LEFT_TOP,
            format!("{:.0} … {:.0}", h.min, h.max),
            egui::FontId::proportional(11.0),
            egui::Color32::GRAY,
        );
        // Drag on the histogram: the brush's intensity range when limited, else the window.
        if let Some(pos) = resp.interact_pointer_pos() {
            let v = v_of(pos.x.clamp(rect.left(), rect.right()));
            if resp.drag_started() {
                self.histogram_drag = Some(v);
            }
            if let Some(start) = self.histogram_drag {
                let (lo, hi) = (start.min(v), start.max(v));
                match &mut doc.state.brush.range {
                    Some(r) => *r = [lo, hi],
                    None if hi > lo => {
                        doc.state.window.center = (lo + hi) / 2.0;
                        doc.state.window.width = hi - lo;
                    }
                    None => {}
                }
            }
        }
        if resp.drag_stopped() {
            self.histogram_drag = None;
        }
        resp.on_hover_text("drag: window (or the brush range when intensity-limited)");
    }

    pub(super) fn labels_panel(&mut self, ui: &mut egui::Ui) {
        ui.heading("Labels");
        let Some(doc) = &mut self.doc else {
            return;
        };
        let mut ops = Vec::new();
        let active = &mut doc.state.brush.label;
        let stats = self.stats.as_ref().map(|s| &s.1);
        egui::Grid::new("labels").striped(true).show(ui, |ui| {
            ui.label("active / colour");
            ui.label("name");
            ui.label("show");
            ui.label("lock");
            ui.end_row();
            for l in &doc.state.session.table {
                let mut c = l.color;
                ui.horizontal(|ui| {
                    ui.radio_value(active, l.value, "");
                    if ui.color_edit_button_rgb(&mut c).changed() {
                        ops.push(EditOp::SetLabel {
                            value: l.value,
                            name: None,
                            color: Some(c),
                            visible: None,
                            locked: None,
                        });
                    }
                });
                let id = ui.scope_id().with(("label-name", l.value));
                let mut name = ui
                    .data(|d| d.get_temp::<String>(id))
                    .unwrap_or_else(|| l.name.clone());
                let r = ui.add_sized([110.0, 20.0], egui::TextEdit::singleline(&mut name));
                if r.changed() {
                    ui.data_mut(|d| d.insert_temp(id, name.clone()));
                }
                if r.lost_focus() {
                    ui.data_mut(|d| d.remove::<String>(id));
                    if name != l.name && !name.trim().is_empty() {
                        ops.push(EditOp::SetLabel {
                            value: l.value,
                            name: Some(name.trim().to_string()),
                            color: None,
                            visible: None,
                            locked: None,
                        });
                    }
                }
                let mut vis = l.visible;
                if ui.checkbox(&mut vis, "").changed() {
                    ops.push(EditOp::SetLabel {
                        value: l.value,
                        name: None,
                        color: None,
                        visible: Some(vis),
                        locked: None,
                    });
                }
                let mut lock = l.locked;
                if ui.checkbox(&mut lock, "").changed() {
                    ops.push(EditOp::SetLabel {
                        value: l.value,
                        name: None,
                        color: None,
                        visible: None,
                        locked: Some(lock),
                    });
                }
                ui.end_row();
            }
        });
        if ui.button("+ Add label").clicked() {
            let used: Vec<u8> = doc.state.session.table.iter().map(|l| l.value).collect();
            if let Some(v) = (1..=255u8).find(|v| !used.contains(v)) {
                ops.push(EditOp::SetLabel {
                    value: v,
                    name: Some(format!("label {v}")),
                    color: None,
                    visible: Some(true),
                    locked: None,
                });
                doc.state.brush.label = v;
            }
        }
        ui.add(egui::Slider::new(&mut self.view.label_opacity, 0.0..=1.0).text("opacity"));
        ui.add(egui::Slider::new(&mut self.view.label_opacity_3d, 0.0..=1.0).text("3D opacity"));
        let unit = if doc.image().meta.modality == "CT" {
            "HU"
        } else {
            ""
        };
        if let Some(stats) = stats {
            ui.separator();
            ui.label("Statistics");
            egui::Grid::new("stats").striped(true).show(ui, |ui| {
                ui.label("label");
                ui.label("voxels");
                ui.label("mL");
                ui.label(format!("mean {unit}"));
                ui.end_row();
                for s in stats.iter().filter(|s| s.label != 0) {
                    ui.label(format!("{}", s.label));
                    ui.label(format!("{}", s.voxels));
                    ui.label(format!("{:.2}", s.volume_ml));
                    ui.label(format!("{:.1} ± {:.1}", s.mean, s.std));
                    ui.end_row();
                }
            });
        }
        for op in ops {
            self.apply(op);
        }
    }

    pub(super) fn dialogs(&mut self, ctx: &egui::Context) {
        let Some(dialog) = self.dialog.take() else {
            return;
        };
        let modal = egui::Modal::new(egui::Id::unique("voxmark-dialog")).show(ctx, |ui| {
            ui.set_max_width(560.0);
            self.dialog_body(ui, dialog)
        });
        if let (true, Some(d)) = modal.inner {
            if self.dialog.is_none() {
                self.dialog = Some(d);
            }
        }
    }

    /// Draws one dialog; returns (keep open, the dialog to keep).
    fn dialog_body(&mut self, ui: &mut egui::Ui, mut dialog: Dialog) -> (bool, Option<Dialog>) {
        let mut close = false;
        match &mut dialog {
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
                ui.label("Label map on the same grid (optional):");
                ui.add(egui::TextEdit::singleline(labels).desired_width(520.0));
                ui.horizontal(|ui| {
                    if ui.button("Open").clicked() && !path.trim().is_empty() {
                        let req = OpenRequest {
                            path: Some(PathBuf::from(path.trim())),
                            series: Some(series.trim().to_string()).filter(|s| !s.is_empty()),
                            labels: Some(labels.trim().to_string())
                                .filter(|s| !s.is_empty())
                                .map(PathBuf::from),
                        };
                        self.open(req);
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
                        self.open_labels(p);
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
                        if let Some(d) = &mut self.doc {
                            let r = d.save_as(p.clone());
                            if self.report("save as", r).is_some() {
                                self.status = format!("saved {}", p.display());
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
                    self.open(req);
                    close = true;
                }
                close |= ui.button("Cancel").clicked();
            }
            Dialog::ConfirmQuit => {
                ui.heading("Unsaved changes");
                ui.label("The labels have edits that are not saved.");
                ui.horizontal(|ui| {
                    if ui.button("Save and quit").clicked() {
                        self.confirm_quit(ui.ctx(), true);
                        close = true;
                    }
                    if ui.button("Quit without saving").clicked() {
                        self.confirm_quit(ui.ctx(), false);
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
                        self.confirm_open(req.clone(), true);
                        close = true;
                    }
                    if ui.button("Open without saving").clicked() {
                        self.confirm_open(req.clone(), false);
                        close = true;
                    }
                    close |= ui.button("Cancel").clicked();
                });
            }
            Dialog::Dropped(p) => {
                ui.heading(format!("{}", p.display()));
                ui.horizontal(|ui| {
                    if ui.button("Open as a new image").clicked() {
                        self.open(OpenRequest {
                            path: Some(p.clone()),
                            ..Default::default()
                        });
                        close = true;
                    }
                    if ui.button("Load as labels on this image").clicked() {
                        self.open_labels(p.clone());
                        close = true;
                    }
                    close |= ui.button("Cancel").clicked();
                });
            }
            Dialog::Recovery => {
                let (n, warn, jp) = match self.doc.as_ref().and_then(|d| d.recovery.as_ref()) {
                    Some(r) => (
                        r.entries.len(),
                        r.warning.clone(),
                        r.journal.path().display().to_string(),
                    ),
                    None => return (false, None),
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
                        if let Some(d) = &mut self.doc {
                            let r = d.recover();
                            if let Some(n) = self.report("recovery", r) {
                                self.status = format!("recovered {n} operations");
                            }
                        }
                        close = true;
                    }
                    if ui
                        .button("Set aside (keep the file, start clean)")
                        .clicked()
                    {
                        if let Some(d) = &mut self.doc {
                            let r = d.discard_recovery();
                            if let Some(p) = self.report("set aside", r) {
                                self.status = format!("journal kept as {}", p.display());
                            }
                        }
                        close = true;
                    }
                });
            }
        }
        if close {
            // A new dialog opened by the action (e.g. an error) replaces this one.
            (false, None)
        } else {
            (true, Some(dialog))
        }
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
                let image = [".nii", ".nii.gz", ".dcm", ".DCM"]
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
