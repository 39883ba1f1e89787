//! The labels panel (right): the label table — active label, colour, name, visibility and
//! lock, each change a journaled `set_label` op — the overlay opacities, and per-label
//! statistics (voxels, mL, mean ± sd), recomputed when the labels change. A component: it
//! owns the statistics and is lent the document and the view settings.

use super::component::Feedback;
use super::document::Document;
use super::tools::ViewSettings;
use eframe::egui;
use voxmark_edit::ops::EditOp;
use voxmark_gpu::kernels::label_stats::LabelStats;

/// The labels panel's own state.
#[derive(Debug, Default)]
pub struct LabelsPanel {
    /// Statistics and the labels version they were computed for.
    pub stats: Option<(u64, Vec<LabelStats>)>,
    /// A project case: the table is the project's schema; no labels can be added.
    pub schema_only: bool,
}

impl LabelsPanel {
    /// Recomputes the statistics when the labels changed since the last time.
    pub fn refresh(&mut self, doc: &Document, fb: &mut Feedback) {
        let v = doc.state.labels_version;
        if self.stats.as_ref().is_some_and(|(sv, _)| *sv == v) {
            return;
        }
        let r = doc.state.session.stats();
        if let Some(s) = fb.report("label statistics", r) {
            self.stats = Some((v, s));
        }
    }

    /// The panel: the label table (active label, colour, name, visibility, lock), the
    /// overlay opacities and the statistics.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        doc: Option<&mut Document>,
        view: &mut ViewSettings,
        fb: &mut Feedback,
    ) {
        ui.heading("Labels");
        let Some(doc) = doc else {
            return;
        };
        self.refresh(doc, fb);
        let mut ops = Vec::new();
        let active = &mut doc.state.brush.label;
        let stats = self.stats.as_ref().map(|s| &s.1);
        egui::Grid::new("labels").striped(true).show(ui, |ui| {
            ui.label("active / colour");
            ui.label("name");
            ui.label("show");
            ui.label("lock");
            ui.end_row();
            for l in doc.state.session.table() {
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
        if !self.schema_only && ui.button("+ Add label").clicked() {
            let used: Vec<u8> = doc.state.session.table().iter().map(|l| l.value).collect();
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
        ui.add(egui::Slider::new(&mut view.label_opacity, 0.0..=1.0).text("opacity"));
        ui.add(egui::Slider::new(&mut view.label_opacity_3d, 0.0..=1.0).text("3D opacity"));
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
            fb.apply(&mut doc.state, &op);
        }
    }
}
