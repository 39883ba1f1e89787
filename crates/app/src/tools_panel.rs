//! The tools panel (left) and the Tools menu: tool choice, brush settings, the histogram
//! with the window and the brush's intensity range, window presets, region-grow settings
//! with accept/cancel, and the clean-up ops on the active label. A component: it owns the
//! histogram drag, is lent the [`ToolState`] and the document, and reports through
//! [`Feedback`].

use super::component::Feedback;
use super::document::Document;
use super::tools::{Cleanup, Tool, ToolState, WINDOW_PRESETS};
use eframe::egui;
use voxmark_edit::ops::{
    Editable, LogicalOperation, ScissorsAction, ScissorsRegion, Shape, Shell, SmoothMethod,
};
use voxmark_volume::geometry::view::ViewKind;
use voxmark_volume::label_table::label_name;

/// The tools panel's own state.
#[derive(Debug, Default)]
pub struct ToolsPanel {
    /// Where a drag on the histogram started (intensity).
    histogram_drag: Option<f64>,
}

impl ToolsPanel {
    /// The Tools menu: clean-up ops on the active label.
    pub fn menu(
        &mut self,
        ui: &mut egui::Ui,
        tools: &mut ToolState,
        doc: Option<&mut Document>,
        fb: &mut Feedback,
    ) {
        let Some(doc) = doc else {
            ui.label("Open an image first.");
            return;
        };
        let (label, editable) = (doc.state.brush.label, doc.state.brush.editable);
        let mut run = None;
        ui.label(format!("On the active label {label}:"));
        if ui.button("Keep the largest island").clicked() {
            run = Some(Cleanup::KeepLargest);
        }
        ui.horizontal(|ui| {
            if ui.button("Remove islands under").clicked() {
                run = Some(Cleanup::RemoveSmall);
            }
            ui.add(egui::DragValue::new(&mut tools.islands_min_voxels).suffix(" voxels"));
        });
        ui.separator();
        ui.horizontal(|ui| {
            if ui.button("Threshold").clicked() {
                run = Some(Cleanup::Threshold);
            }
            ui.add(egui::DragValue::new(&mut tools.threshold[0]).speed(1.0));
            ui.label("to");
            ui.add(egui::DragValue::new(&mut tools.threshold[1]).speed(1.0));
        });
        ui.separator();
        ui.horizontal(|ui| {
            if ui.button("Dilate").clicked() {
                run = Some(Cleanup::Dilate);
            }
            if ui.button("Erode").clicked() {
                run = Some(Cleanup::Erode);
            }
            ui.add(
                egui::DragValue::new(&mut tools.morph_radius_mm)
                    .range(0.1..=50.0)
                    .speed(0.1)
                    .suffix(" mm"),
            );
        });
        ui.horizontal(|ui| {
            ui.label("Smooth by the radius:");
            for (name, m) in [
                ("median", SmoothMethod::Median),
                ("opening", SmoothMethod::Opening),
                ("closing", SmoothMethod::Closing),
                ("gaussian (σ)", SmoothMethod::Gaussian),
            ] {
                if ui.button(name).clicked() {
                    run = Some(Cleanup::Smooth(m));
                }
            }
        });
        ui.horizontal(|ui| {
            ui.label("Hollow (thickness = radius):");
            for (name, shell) in [
                ("inside", Shell::Inside),
                ("outside", Shell::Outside),
                ("centred", Shell::Centred),
            ] {
                if ui.button(name).clicked() {
                    run = Some(Cleanup::Hollow(shell));
                }
            }
        });
        ui.horizontal(|ui| {
            if ui.button("Fill holes (3D)").clicked() {
                run = Some(Cleanup::FillHoles3d);
            }
            if ui.button("in each axial slice").clicked() {
                run = Some(Cleanup::FillHolesAxial);
            }
        });
        if ui.button("Clear the label").clicked() {
            run = Some(Cleanup::Clear);
        }
        ui.separator();
        ui.horizontal(|ui| {
            ui.label("Logical with label");
            ui.add(egui::DragValue::new(&mut tools.logical_other).range(1..=255));
            ui.label("of");
            ui.add(
                egui::TextEdit::singleline(&mut tools.logical_map)
                    .hint_text("this map, or a label map path")
                    .desired_width(160.0),
            );
        });
        ui.horizontal(|ui| {
            for (name, o) in [
                ("union", LogicalOperation::Union),
                ("intersect", LogicalOperation::Intersect),
                ("subtract", LogicalOperation::Subtract),
                ("copy", LogicalOperation::Copy),
                ("invert", LogicalOperation::Invert),
            ] {
                if ui.button(name).clicked() {
                    run = Some(Cleanup::Logical(o));
                }
            }
        });
        ui.separator();
        ui.menu_button("Fill between slices", |ui| {
            for k in [ViewKind::Axial, ViewKind::Coronal, ViewKind::Sagittal] {
                if ui
                    .button(format!("{k:?} (preview)").to_lowercase())
                    .clicked()
                {
                    tools.fill_axis = k;
                    fb.outcome(
                        "fill between slices",
                        tools.start_fill_between(&mut doc.state),
                    );
                }
            }
        });
        if let Some(kind) = run {
            fb.apply(&mut doc.state, &tools.cleanup_op(kind, label, editable));
        }
    }

    /// The left panel: tool choice, brush, histogram, window, region grow, clean-up tools,
    /// markups and label measurement.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        tools: &mut ToolState,
        doc: Option<&mut Document>,
        fb: &mut Feedback,
    ) {
        ui.heading("Tools");
        for t in Tool::ALL {
            ui.radio_value(&mut tools.tool, t, t.name());
        }
        let Some(doc) = doc else {
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
        self.histogram_ui(ui, doc);
        ui.separator();
        window_ui(ui, doc);
        ui.separator();
        grow_ui(ui, tools, doc, fb);
        if tools.tool == Tool::Scissors {
            ui.separator();
            ui.label("Scissors (through every slice, active label)");
            ui.horizontal(|ui| {
                ui.radio_value(&mut tools.scissors_region, ScissorsRegion::Inside, "inside");
                ui.radio_value(
                    &mut tools.scissors_region,
                    ScissorsRegion::Outside,
                    "outside",
                );
            });
            ui.horizontal(|ui| {
                ui.radio_value(&mut tools.scissors_action, ScissorsAction::Erase, "erase");
                ui.radio_value(&mut tools.scissors_action, ScissorsAction::Fill, "fill");
            });
        }
        ui.separator();
        fill_between_ui(ui, tools, doc, fb);
        ui.separator();
        grow_cut_ui(ui, tools, doc, fb);
        ui.separator();
        markups_ui(ui, tools, doc, fb);
    }
}

/// The markups list (click selects and moves the crosshair to it; Delete, lock), and
/// "Measure label": RECIST long and short axes of the active label, drawn on their slice.
fn markups_ui(ui: &mut egui::Ui, tools: &mut ToolState, doc: &mut Document, fb: &mut Feedback) {
    use voxmark_edit::ops::EditOp;
    use voxmark_volume::markup::{MarkupEdit, MarkupProps};
    let label = doc.state.brush.label;
    if ui
        .button(format!("Measure label {label}"))
        .on_hover_text("volume, RECIST long and short axis, 3D maximum diameter")
        .clicked()
    {
        match tools.measure_label(&mut doc.state, label) {
            Ok(Some(line)) => fb.status(line),
            Ok(None) => fb.status(format!("label {label} has no voxels")),
            Err(e) => fb.error(format!("measure: {e}")),
        }
    }
    if let Some(ml) = &tools.measured {
        let r = &ml.m.recist;
        ui.label(format!(
            "Label {}: {:.2} mL · long {:.1} mm · short {:.1} mm (slice {}) · max ⌀ {:.1} mm",
            ml.label,
            ml.m.volume_ml,
            r.long_axis.length_mm,
            r.short_axis.length_mm,
            r.slice,
            ml.m.max_diameter.length_mm
        ));
        if ui.button("Keep the axes as lines").clicked() {
            for op in tools.keep_measured_axes() {
                fb.apply(&mut doc.state, &op);
            }
        }
    }
    let n = doc.state.session.markups().markups.len();
    ui.label(format!("Markups ({n})"));
    let mut jump = None;
    let mut op = None;
    egui::ScrollArea::vertical()
        .id_salt("markups")
        .max_height(160.0)
        .show(ui, |ui| {
            for m in &doc.state.session.markups().markups {
                let sel = tools.selected_markup == Some(m.id);
                let text = format!(
                    "{} {} {}{}",
                    m.kind.name(),
                    voxmark_io::markups::display_name(m, &|l| label_name(
                        doc.state.session.table(),
                        l
                    )
                    .map(str::to_string)),
                    m.summary(),
                    if m.locked { " 🔒" } else { "" }
                );
                if ui.selectable_label(sel, text).clicked() {
                    tools.selected_markup = Some(m.id);
                    jump = m.points.first().copied();
                }
            }
        });
    if let Some(id) = tools.selected_markup {
        let locked = doc
            .state
            .session
            .markups()
            .get(id)
            .is_some_and(|m| m.locked);
        ui.horizontal(|ui| {
            if ui.button("Delete (Del)").clicked() {
                op = tools.delete_selected_markup();
            }
            if ui.button(if locked { "Unlock" } else { "Lock" }).clicked() {
                op = Some(EditOp::Markup(MarkupEdit::SetProps {
                    id,
                    props: MarkupProps {
                        locked: Some(!locked),
                        ..Default::default()
                    },
                }));
            }
        });
    }
    if let Some(w) = jump {
        let v = super::tools::voxel_of(&doc.image().grid, w);
        if let Err(e) = doc.state.set_crosshair(v) {
            fb.error(format!("markup: {e}"));
        }
    }
    if let Some(op) = op {
        fb.apply(&mut doc.state, &op);
    }
}

/// Window width and level, and the presets.
fn window_ui(ui: &mut egui::Ui, doc: &mut Document) {
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
        for (name, p) in WINDOW_PRESETS {
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

/// Region-grow range, connectivity, auto range, accept and cancel.
fn grow_ui(ui: &mut egui::Ui, tools: &mut ToolState, doc: &mut Document, fb: &mut Feedback) {
    let (lo, hi) = (doc.histogram.min, doc.histogram.max);
    ui.label("Region grow (click seeds with the grow tool)");
    let mut changed = false;
    changed |= ui
        .add(egui::Slider::new(&mut tools.grow.lower, lo..=hi).text("lower"))
        .changed();
    changed |= ui
        .add(egui::Slider::new(&mut tools.grow.upper, lo..=hi).text("upper"))
        .changed();
    // A range the user set is theirs: the next first seed keeps it.
    tools.grow.range_from_user |= changed;
    ui.horizontal(|ui| {
        for c in [6, 18, 26] {
            changed |= ui
                .radio_value(&mut tools.grow.connectivity, c, format!("{c}"))
                .changed();
        }
        ui.label("connectivity");
    });
    if changed {
        fb.outcome("region grow", tools.grow_preview(&mut doc.state));
    }
    ui.horizontal(|ui| {
        if ui.button("Auto range").clicked() {
            let r = tools.auto_grow_range(&mut doc.state);
            if let Some(s) = fb.report("auto range", r) {
                fb.status(s);
            }
        }
        let pending = doc.state.grow_pending().is_some();
        if ui
            .add_enabled(pending, egui::Button::new("Accept (Enter)"))
            .clicked()
        {
            fb.outcome("accept grow", tools.accept_grow(&mut doc.state));
        }
        if ui.button("Cancel (Esc)").clicked() {
            tools.cancel(Some(&mut doc.state));
        }
    });
    ui.label(format!("{} seed(s)", tools.grow.seeds.len()));
}

/// Grow from seeds: the background label, Initialise, Apply, Cancel.
fn grow_cut_ui(ui: &mut egui::Ui, tools: &mut ToolState, doc: &mut Document, fb: &mut Feedback) {
    ui.label("Grow from seeds");
    ui.horizontal(|ui| {
        ui.add(egui::DragValue::new(&mut tools.grow_cut.background).range(1..=255));
        ui.label("background label");
    });
    ui.horizontal(|ui| {
        if ui.button("Initialise").clicked() {
            fb.outcome("grow from seeds", tools.start_grow_cut(&mut doc.state));
        }
        let on = tools.grow_cut.active();
        if ui
            .add_enabled(on, egui::Button::new("Apply (Enter)"))
            .clicked()
        {
            fb.outcome("grow from seeds", tools.accept_grow(&mut doc.state));
        }
        if ui
            .add_enabled(on, egui::Button::new("Cancel (Esc)"))
            .clicked()
        {
            tools.cancel(Some(&mut doc.state));
        }
    });
    ui.label(if tools.grow_cut.active() {
        "Paint more strokes: the preview updates."
    } else {
        "Paint strokes of each structure and of the background label, then Initialise."
    });
}

/// Fill between slices: the axis, start (preview), accept and cancel.
fn fill_between_ui(
    ui: &mut egui::Ui,
    tools: &mut ToolState,
    doc: &mut Document,
    fb: &mut Feedback,
) {
    ui.label("Fill between slices");
    let before = tools.fill_axis;
    ui.horizontal(|ui| {
        for k in [ViewKind::Axial, ViewKind::Coronal, ViewKind::Sagittal] {
            ui.radio_value(&mut tools.fill_axis, k, format!("{k:?}").to_lowercase());
        }
    });
    let restart = tools.fill_between && tools.fill_axis != before;
    ui.horizontal(|ui| {
        if ui.button("Preview").clicked() || restart {
            fb.outcome(
                "fill between slices",
                tools.start_fill_between(&mut doc.state),
            );
        }
        let pending = tools.fill_between && doc.state.grow_pending().is_some();
        if ui
            .add_enabled(pending, egui::Button::new("Accept (Enter)"))
            .clicked()
        {
            fb.outcome("fill between slices", tools.accept_grow(&mut doc.state));
        }
        if ui
            .add_enabled(tools.fill_between, egui::Button::new("Cancel (Esc)"))
            .clicked()
        {
            tools.cancel(Some(&mut doc.state));
        }
    });
    ui.label(if tools.fill_between {
        "Draw key slices of the active label: the preview follows."
    } else {
        "Draw the active label every few slices, then Preview."
    });
}

impl ToolsPanel {
    /// The image histogram (log counts) with the window and the brush range; a drag sets the
    /// brush's range when intensity-limited, else the window.
    fn histogram_ui(&mut self, ui: &mut egui::Ui, doc: &mut Document) {
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
}
