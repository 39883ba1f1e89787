//! The four panes: axial, coronal, sagittal (engine MPR) and 3D (engine ray caster), each
//! rendered on the GPU into its own `rgba8unorm` texture that egui shows directly (no
//! readback). A pane is re-rendered only when what it shows changed (its key). Input on a
//! pane becomes calls into `AppState` (navigation, strokes) and [`ToolState`] (seeds,
//! polygon, ruler) or the 3D camera.
//!
//! [`Panes`] is the component: it owns the view settings, the textures, the pane rectangles
//! and the hover readout; it is lent the document, the tool state and the review layers.

use super::component::Feedback;
use super::document::{gpu_session, Document};
use super::review::ReviewMode;
use super::tools::{
    markup_color, Color, PanePointer, PaneSlice, Radius, Shape, TextAt, ToolState, ViewSettings,
    WINDOW_PRESETS,
};
use eframe::egui;
use eframe::egui_wgpu::Renderer;
use voxmark_gpu::kernels::mpr::{LabelStyle, MprKernel};
use voxmark_gpu::kernels::raycast::ClipBox;
use voxmark_gpu::kernels::raycast::RenderMode;
use voxmark_gpu::kernels::transfer::TfPreset;
use voxmark_gpu::kernels::transfer::TransferFunction;
use voxmark_gpu::GpuContext;
use voxmark_render::slice::{Overlays, SliceOptions};
use voxmark_render::volume_view::VolumeViewOptions;
use voxmark_volume::geometry::camera::Camera;
use voxmark_volume::geometry::view::ViewGeometry;
use voxmark_volume::label_table::default_palette;
use voxmark_volume::markup::MarkupKind;

/// One pane's texture, registered with egui.
pub struct PaneTarget {
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    pub id: egui::TextureId,
    pub size: [u32; 2],
    /// What was last rendered into it.
    pub key: String,
}

/// Textures of the four panes.
#[derive(Default)]
pub struct PaneTargets {
    pub panes: [Option<PaneTarget>; 4],
}

impl PaneTargets {
    /// The texture of pane `i` at `size`, (re)created when the size changed; the bool is
    /// true when it must be rendered (new texture or `key` changed).
    fn get(
        &mut self,
        i: usize,
        gpu: &voxmark_gpu::GpuContext,
        renderer: &mut Renderer,
        size: [u32; 2],
        key: String,
    ) -> (&PaneTarget, bool) {
        let slot = &mut self.panes[i];
        let t = match slot.take() {
            Some(t) if t.size == size => t,
            old => {
                let texture = MprKernel::create_target(gpu, size);
                let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
                let id = match old {
                    Some(o) => {
                        renderer.update_egui_texture_from_wgpu_texture(
                            &gpu.device,
                            &view,
                            wgpu::FilterMode::Linear,
                            o.id,
                        );
                        o.id
                    }
                    None => renderer.register_native_texture(
                        &gpu.device,
                        &view,
                        wgpu::FilterMode::Linear,
                    ),
                };
                PaneTarget {
                    texture,
                    view,
                    id,
                    size,
                    key: String::new(),
                }
            }
        };
        let t = slot.insert(t);
        let fresh = t.key != key;
        t.key = key;
        (t, fresh)
    }
}

const PANE_NAMES: [&str; 4] = ["Axial", "Coronal", "Sagittal", "3D"];
/// Slicer's pane colours: red axial, green coronal, yellow sagittal.
const PANE_COLORS: [egui::Color32; 4] = [
    egui::Color32::from_rgb(200, 60, 60),
    egui::Color32::from_rgb(60, 170, 70),
    egui::Color32::from_rgb(210, 190, 60),
    egui::Color32::from_rgb(120, 140, 200),
];

/// The four panes.
pub struct Panes {
    /// How the panes look.
    pub view: ViewSettings,
    pub targets: PaneTargets,
    /// Pane rectangles of the last frame (points), 0 axial, 1 coronal, 2 sagittal, 3 3D.
    pub rects: [egui::Rect; 4],
    /// Readout of the voxel under the pointer (the status bar's first line).
    pub hover: String,
    /// Last label read under the cursor: (voxel, labels version, value).
    label_probe: Option<([usize; 3], u64, u8)>,
}

impl Default for Panes {
    fn default() -> Self {
        Self {
            view: ViewSettings::default(),
            targets: PaneTargets::default(),
            rects: [egui::Rect::NOTHING; 4],
            hover: String::new(),
            label_probe: None,
        }
    }
}

/// What the panes are lent for one frame.
pub struct Lent<'a> {
    pub gpu: &'a GpuContext,
    pub doc: &'a mut Document,
    pub tools: &'a mut ToolState,
    /// Review mode's layers: B's labels and the disagreement overlay.
    pub review: Option<&'a ReviewMode>,
    pub fb: &'a mut Feedback,
}

impl Panes {
    /// Makes every pane render again next frame (benchmarks; a new document).
    pub fn invalidate(&mut self) {
        for t in self.targets.panes.iter_mut().flatten() {
            t.key.clear();
        }
    }

    /// The View menu: window presets, auto window, reset, overlays, 3D mode, transfer
    /// function, clipping, 3D camera.
    pub fn view_menu(&mut self, ui: &mut egui::Ui, mut doc: Option<&mut Document>) {
        ui.menu_button("Window preset", |ui| {
            for (name, p) in WINDOW_PRESETS {
                if ui.button(name).clicked() {
                    if let (Some(d), Some(w)) = (doc.as_deref_mut(), p.window()) {
                        d.state.window = w;
                    }
                }
            }
        });
        if ui.button("Auto window (1st–99th percentile)").clicked() {
            if let Some(d) = doc.as_deref_mut() {
                d.state.window = d.auto_window;
            }
        }
        if ui.button("Reset view").clicked() {
            if let Some(d) = doc {
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

    /// M: the pane under the pointer alone, or back to four-up.
    pub fn toggle_maximized(&mut self, hovered: Option<usize>) {
        self.view.maximized = match self.view.maximized {
            Some(_) => None,
            None => hovered,
        };
    }

    /// The label colours and opacity the panes use (table colours; hidden labels alpha 0).
    pub fn label_style(&self, doc: &Document) -> Option<LabelStyle> {
        if !self.view.show_labels {
            return None;
        }
        let mut colors = default_palette();
        for l in doc.state.session.table() {
            let c = &mut colors[usize::from(l.value)];
            *c = [
                l.color[0],
                l.color[1],
                l.color[2],
                if l.visible { 1.0 } else { 0.0 },
            ];
        }
        Some(LabelStyle {
            colors,
            opacity: self.view.label_opacity,
            outline: self.view.outline,
        })
    }

    /// The 3D pane's label style: the panel's colours and visibility, the 3D opacity.
    pub fn label_style_3d(&self, doc: &Document) -> Option<LabelStyle> {
        self.label_style(doc).map(|mut s| {
            s.opacity = self.view.label_opacity_3d;
            s
        })
    }

    /// Lays out and draws the panes (four-up, or the maximised one) and handles their input.
    pub fn ui(&mut self, ui: &mut egui::Ui, renderer: &mut Renderer, cx: &mut Lent) {
        let full = ui.available_rect_before_wrap();
        ui.allocate_rect(full, egui::Sense::hover());
        let gap = 2.0;
        let half = full.size() / 2.0;
        // Four-up: axial | 3D over coronal | sagittal.
        let cell = |col: f32, row: f32| {
            egui::Rect::from_min_size(
                full.min + egui::vec2(col * half.x, row * half.y),
                half - egui::vec2(gap, gap),
            )
        };
        let mut rects = [
            cell(0.0, 0.0),
            cell(0.0, 1.0),
            cell(1.0, 1.0),
            cell(1.0, 0.0),
        ];
        if let Some(m) = self.view.maximized {
            for (i, r) in rects.iter_mut().enumerate() {
                *r = if i == m { full } else { egui::Rect::NOTHING };
            }
        }
        self.rects = rects;
        let mut encoder = cx
            .gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("panes"),
            });
        for (i, rect) in rects.iter().enumerate() {
            if rect.width() < 8.0 || rect.height() < 8.0 {
                continue;
            }
            let r = if i < 3 {
                self.slice_pane(ui, i, *rect, renderer, &mut encoder, cx)
            } else {
                self.pane_3d(ui, *rect, renderer, &mut encoder, cx)
            };
            if let Err(e) = r {
                cx.fb.error(format!("{} pane: {e}", PANE_NAMES[i]));
            }
        }
        cx.gpu.queue.submit([encoder.finish()]);
    }

    fn pane_header(&mut self, ui: &mut egui::Ui, i: usize, rect: egui::Rect, text: &str) {
        let p = ui.painter_at(rect);
        p.rect_stroke(
            rect,
            0.0,
            egui::Stroke::new(1.5, PANE_COLORS[i]),
            egui::StrokeKind::Inside,
        );
        p.text(
            rect.left_top() + egui::vec2(6.0, 4.0),
            egui::Align2::LEFT_TOP,
            text,
            egui::FontId::proportional(13.0),
            egui::Color32::WHITE,
        );
        let b = egui::Rect::from_min_size(
            rect.right_top() + egui::vec2(-44.0, 2.0),
            egui::vec2(40.0, 18.0),
        );
        let icon = if self.view.maximized == Some(i) {
            "back"
        } else {
            "max"
        };
        if ui
            .put(b, egui::Button::new(icon).small())
            .on_hover_text("maximise / restore (M)")
            .clicked()
        {
            self.toggle_maximized(Some(i));
        }
    }

    fn slice_pane(
        &mut self,
        ui: &mut egui::Ui,
        i: usize,
        rect: egui::Rect,
        renderer: &mut Renderer,
        encoder: &mut wgpu::CommandEncoder,
        cx: &mut Lent,
    ) -> voxmark_volume::Result<()> {
        let ppp = ui.ctx().pixels_per_point();
        let size = [
            ((rect.width() * ppp).round() as u32).max(1),
            ((rect.height() * ppp).round() as u32).max(1),
        ];
        let to_px = |p: egui::Pos2| {
            [
                f64::from((p.x - rect.min.x) * ppp),
                f64::from((p.y - rect.min.y) * ppp),
            ]
        };
        let resp = ui.interact(
            rect,
            ui.scope_id().with(("pane", i)),
            egui::Sense::click_and_drag(),
        );
        let hover_px = resp.hover_pos().map(to_px);
        slice_input(ui, i, &resp, size, hover_px, cx)?;

        let doc = &*cx.doc;
        let style = self.label_style(doc);
        let review_key = cx.review.map(|r| r.version).unwrap_or(0);
        let st = &doc.state;
        let geom = st.geometry(i, size)?;
        let opts = SliceOptions {
            window: st.window,
            linear: self.view.linear,
            labels: style.clone(),
            crosshair: Some(st.crosshair),
        };
        let key = format!(
            "{:?}",
            (
                st.panes[i],
                size,
                st.window,
                st.crosshair,
                st.version,
                self.view.linear,
                style
                    .as_ref()
                    .map(|s| (s.opacity, s.outline, s.colors.clone())),
                review_key,
            )
        );
        let (target, fresh) = self.targets.get(i, cx.gpu, renderer, size, key);
        if fresh {
            let g = gpu_session(&st.session)?;
            let preview = match st.grow_pending() {
                Some(voxmark_edit::session::GrowPreview::Gpu(m)) => Some(m),
                _ => cx.review.and_then(|r| r.overlay()),
            };
            let labels = cx
                .review
                .and_then(|r| r.labels_layer())
                .unwrap_or(&g.labels);
            doc.slices.encode(
                cx.gpu,
                encoder,
                &g.image,
                Overlays {
                    labels: Some(labels),
                    preview,
                },
                &geom,
                &opts,
                &target.view,
            )?;
        }
        let painter = ui.painter_at(rect);
        show_pane(&painter, rect, target.id, &geom.letters);
        let grid = &doc.image().grid;
        let n = grid.dims[geom.axis_n];
        let world = grid
            .world_from_voxel
            .transform_point3(glam::DVec3::from(st.crosshair));
        let normal = grid
            .world_from_voxel
            .transform_vector3(glam::DVec3::from([0, 1, 2].map(|a| {
                if a == geom.axis_n {
                    1.0
                } else {
                    0.0
                }
            })));
        let wa = (0..3)
            .max_by(|&a, &b| normal[a].abs().total_cmp(&normal[b].abs()))
            .unwrap_or(2);
        let header = format!(
            "{}  {}/{}  {}{:.1} mm",
            PANE_NAMES[i],
            st.panes[i].slice + 1,
            n,
            ["R ", "A ", "S "][wa],
            world[wa]
        );
        let hover_vox = hover_px.map(|p| geom.voxel_at(p));
        let at = Drawn {
            painter: &painter,
            rect,
            ppp,
            geom: &geom,
        };
        let view = PaneSlice {
            pane: i,
            slice: st.panes[i].slice,
            axis_n: geom.axis_n,
        };
        let shapes = cx.tools.overlays(st, &view, hover_vox);
        paint_shapes(&at, grid, &shapes);
        self.pane_header(ui, i, rect, &header);
        if let Some(v) = hover_vox {
            self.hover = self.describe_voxel(cx.gpu, doc, v);
        }
        Ok(())
    }

    /// "i j k · RAS mm · value · label" for the status bar.
    pub fn describe_voxel(&mut self, gpu: &GpuContext, doc: &Document, v: [f64; 3]) -> String {
        let d = doc.image().grid.dims;
        let ijk = [0, 1, 2].map(|a| v[a].round());
        if (0..3).any(|a| ijk[a] < 0.0 || ijk[a] >= d[a] as f64) {
            return "outside the volume".into();
        }
        let [i, j, k] = ijk.map(|x| x as usize);
        let label = self.label_at(gpu, doc, i, j, k);
        describe(doc, ijk, label)
    }
}

/// Where a slice pane was drawn: its painter, rectangle (points), points per pixel and
/// view geometry.
struct Drawn<'a> {
    painter: &'a egui::Painter,
    rect: egui::Rect,
    ppp: f32,
    geom: &'a ViewGeometry,
}

impl Drawn<'_> {
    /// The screen point (egui points) of voxel coordinates `v` projected on the pane.
    fn to_pt(&self, v: [f64; 3]) -> egui::Pos2 {
        let s = self.geom.screen_of(v);
        self.rect.min + egui::vec2(s[0] as f32 / self.ppp, s[1] as f32 / self.ppp)
    }
}

/// A tool's colour as egui's.
fn color32(c: Color) -> egui::Color32 {
    let [r, g, b] = c.rgb;
    let c32 = egui::Color32::from_rgb(r, g, b);
    if c.fade < 1.0 {
        c32.gamma_multiply(c.fade)
    } else {
        c32
    }
}

/// Paints the tools' shapes over a slice pane: voxel coordinates projected by the pane's
/// geometry, widths and radii in points (a radius in mm through the pane's horizontal
/// pixels per voxel).
fn paint_shapes(at: &Drawn, grid: &voxmark_volume::Grid, shapes: &[Shape]) {
    let Drawn {
        painter, ppp, geom, ..
    } = *at;
    let to_pt = |v: [f64; 3]| at.to_pt(v);
    for s in shapes {
        match s {
            Shape::Circle {
                at: v,
                radius,
                stroke,
                color,
            } => {
                let r = match radius {
                    Radius::Points(r) => *r,
                    Radius::Mm(mm) => {
                        let px = mm / grid.spacing_mm()[geom.axis_u] * geom.px_per_voxel_u();
                        px as f32 / ppp
                    }
                };
                match stroke {
                    Some(w) => {
                        painter.circle_stroke(to_pt(*v), r, egui::Stroke::new(*w, color32(*color)))
                    }
                    None => painter.circle_filled(to_pt(*v), r, color32(*color)),
                };
            }
            Shape::Segment { a, b, width, color } => {
                painter.line_segment(
                    [to_pt(*a), to_pt(*b)],
                    egui::Stroke::new(*width, color32(*color)),
                );
            }
            Shape::Rect { a, b, width, color } => {
                painter.rect_stroke(
                    egui::Rect::from_two_pos(to_pt(*a), to_pt(*b)),
                    0.0,
                    egui::Stroke::new(*width, color32(*color)),
                    egui::StrokeKind::Middle,
                );
            }
            Shape::Text {
                at: place,
                text,
                size,
                color,
            } => {
                let (pos, align) = match place {
                    TextAt::Voxel {
                        at: v,
                        offset,
                        below,
                    } => (
                        to_pt(*v) + egui::vec2(offset[0], offset[1]),
                        if *below {
                            egui::Align2::LEFT_TOP
                        } else {
                            egui::Align2::LEFT_BOTTOM
                        },
                    ),
                    TextAt::UnderRect { a, b } => (
                        egui::Rect::from_two_pos(to_pt(*a), to_pt(*b)).left_bottom()
                            + egui::vec2(0.0, 3.0),
                        egui::Align2::LEFT_TOP,
                    ),
                };
                painter.text(
                    pos,
                    align,
                    text,
                    egui::FontId::proportional(*size),
                    color32(*color),
                );
            }
        }
    }
}

/// Markups over the 3D pane (drawn on top, not hidden by surfaces): points, segments and a
/// box's twelve edges, projected by the pane's camera; the measurement beside each.
fn markups_3d(
    painter: &egui::Painter,
    rect: egui::Rect,
    size: [u32; 2],
    camera: &voxmark_volume::geometry::camera::Camera,
    doc: &Document,
) {
    let grid = &doc.image().grid;
    let (sx, sy) = (
        rect.width() / size[0].max(1) as f32,
        rect.height() / size[1].max(1) as f32,
    );
    let to_pt = |w: [f64; 3]| {
        let s = camera.screen_of(grid, size, glam::DVec3::from(w));
        rect.min + egui::vec2(s[0] as f32 * sx, s[1] as f32 * sy)
    };
    for m in doc
        .state
        .session
        .markups()
        .markups
        .iter()
        .filter(|m| m.visible)
    {
        let c = color32(markup_color(m, &doc.state));
        let stroke = egui::Stroke::new(1.5, c);
        let mut segs: Vec<([f64; 3], [f64; 3])> = Vec::new();
        if m.kind == MarkupKind::Box {
            let (lo, hi) = m.box_min_max();
            let corner = |k: usize| {
                [
                    if k & 1 == 0 { lo.x } else { hi.x },
                    if k & 2 == 0 { lo.y } else { hi.y },
                    if k & 4 == 0 { lo.z } else { hi.z },
                ]
            };
            for a in 0..8usize {
                for bit in [1, 2, 4] {
                    if a & bit == 0 {
                        segs.push((corner(a), corner(a | bit)));
                    }
                }
            }
        } else {
            segs.extend(m.points.windows(2).map(|w| (w[0], w[1])));
            if m.kind == MarkupKind::ClosedCurve && m.points.len() > 2 {
                segs.push((m.points[m.points.len() - 1], m.points[0]));
            }
            for p in &m.points {
                painter.circle_filled(to_pt(*p), 3.0, c);
            }
        }
        for (a, b) in segs {
            painter.line_segment([to_pt(a), to_pt(b)], stroke);
        }
        if m.kind != MarkupKind::Point {
            if let Some(last) = m.points.last() {
                painter.text(
                    to_pt(*last) + egui::vec2(6.0, -6.0),
                    egui::Align2::LEFT_BOTTOM,
                    m.summary(),
                    egui::FontId::proportional(12.0),
                    c,
                );
            }
        }
    }
}

/// "voxel (i, j, k) · RAS (x, y, z) mm · value · label l (name)".
fn describe(doc: &Document, ijk: [f64; 3], label: Option<u8>) -> String {
    let [i, j, k] = ijk.map(|x| x as usize);
    let img = doc.image();
    let w = img
        .grid
        .world_from_voxel
        .transform_point3(glam::DVec3::from(ijk));
    let value = img.value(i, j, k);
    let unit = if img.meta.modality == "CT" { " HU" } else { "" };
    let mut s = format!(
        "voxel ({i}, {j}, {k}) · RAS ({:.1}, {:.1}, {:.1}) mm · {value}{unit}",
        w.x, w.y, w.z
    );
    if let Some(l) = label {
        let name = doc
            .state
            .session
            .table()
            .iter()
            .find(|t| t.value == l)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| {
                if l == 0 {
                    "background".into()
                } else {
                    format!("label {l}")
                }
            });
        s.push_str(&format!(" · label {l} ({name})"));
    }
    s
}

/// Input on slice pane `i`: wheel (slices, Ctrl zooms), middle-drag pan, right-drag window,
/// and the left button for the active tool.
fn slice_input(
    ui: &egui::Ui,
    i: usize,
    resp: &egui::Response,
    size: [u32; 2],
    hover_px: Option<[f64; 2]>,
    cx: &mut Lent,
) -> voxmark_volume::Result<()> {
    let ppp = f64::from(ui.ctx().pixels_per_point());
    let tools = &mut *cx.tools;
    let st = &mut cx.doc.state;
    // Wheel: slices; Ctrl+wheel: zoom about the cursor.
    if let Some(p) = hover_px {
        let events = ui.input(|inp| inp.events.clone());
        for e in events {
            if let egui::Event::MouseWheel {
                unit,
                delta,
                modifiers,
                ..
            } = e
            {
                let steps = match unit {
                    egui::MouseWheelUnit::Point => delta.y / 40.0,
                    egui::MouseWheelUnit::Line => delta.y,
                    egui::MouseWheelUnit::Page => delta.y * 10.0,
                };
                if modifiers.command {
                    st.zoom(i, size, p, 1.15f64.powf(f64::from(steps)))?;
                } else {
                    let s = steps.round() as i64;
                    let s = if s == 0 { steps.signum() as i64 } else { s };
                    st.scroll(i, s)?;
                }
            }
        }
    }
    if resp.dragged_by(egui::PointerButton::Middle) {
        let d = resp.drag_delta();
        st.pan(i, [f64::from(d.x) * ppp, f64::from(d.y) * ppp]);
    }
    if resp.dragged_by(egui::PointerButton::Secondary) {
        let d = resp.drag_delta();
        st.drag_window([f64::from(d.x) * ppp, f64::from(d.y) * ppp]);
    }
    let (pressed, down, released, shift) = ui.input(|inp| {
        (
            inp.pointer.primary_pressed(),
            inp.pointer.primary_down(),
            inp.pointer.primary_released(),
            inp.modifiers.shift,
        )
    });
    let rect = resp.rect;
    let ev = PanePointer {
        pane: i,
        size,
        hover: hover_px,
        drag: resp.interact_pointer_pos().or(resp.hover_pos()).map(|p| {
            [
                f64::from(p.x - rect.min.x) * ppp,
                f64::from(p.y - rect.min.y) * ppp,
            ]
        }),
        pressed: pressed && resp.hovered(),
        down,
        down_on_pane: resp.is_pointer_button_down_on(),
        released,
        double_clicked: resp.double_clicked(),
        shift,
        pixels_per_point: ppp,
    };
    let out = tools.pointer(st, &ev)?;
    cx.fb.absorb(out);
    Ok(())
}

impl Panes {
    fn pane_3d(
        &mut self,
        ui: &mut egui::Ui,
        rect: egui::Rect,
        renderer: &mut Renderer,
        encoder: &mut wgpu::CommandEncoder,
        cx: &mut Lent,
    ) -> voxmark_volume::Result<()> {
        let ppp = ui.ctx().pixels_per_point();
        // A software rasterizer renders the 3D pane at half resolution.
        let scale = if cx.gpu.is_software() { 0.5 } else { 1.0 };
        let size = [
            ((rect.width() * ppp * scale).round() as u32).max(1),
            ((rect.height() * ppp * scale).round() as u32).max(1),
        ];
        let resp = ui.interact(
            rect,
            ui.scope_id().with("pane3d"),
            egui::Sense::click_and_drag(),
        );
        self.input_3d(ui, &resp, rect, size, cx)?;
        let doc = &mut *cx.doc;
        let opts = self.view3d_options(doc, self.label_style_3d(doc));
        let g = gpu_session(&doc.state.session)?;
        // A waiting preview (grow, fill between slices, grow from seeds) shows in 3D as the
        // labels it would write.
        let pending = match (doc.state.pending_op(), doc.state.grow_pending()) {
            (Some(op), Some(voxmark_edit::session::GrowPreview::Gpu(m))) => Some((op, m)),
            _ => None,
        };
        let want = match pending {
            Some(_) => (doc.state.version, true),
            None => (doc.state.labels_version, false),
        };
        if doc.view3d_version != want {
            doc.view3d_preview = match pending {
                Some((op, m)) => doc.state.session.labels_with_preview(op, m)?,
                None => None,
            };
            let shown = doc.view3d_preview.as_ref().unwrap_or(&g.labels);
            doc.view3d.labels_changed(cx.gpu, &g.image, shown)?;
            doc.view3d_version = want;
        }
        let shown = doc.view3d_preview.as_ref().unwrap_or(&g.labels);
        let key = format!(
            "{:?}",
            (
                size,
                &opts.camera,
                opts.mode,
                self.view.tf,
                opts.window,
                doc.state.version,
                opts.labels.as_ref().map(|s| s.colors.clone()),
                opts.clip.map(|c| (c.lo, c.hi)),
            )
        );
        let (target, fresh) = self.targets.get(3, cx.gpu, renderer, size, key);
        if fresh {
            doc.view3d.encode(
                cx.gpu,
                encoder,
                &doc.state.session.image().grid,
                &g.image,
                Some(shown),
                &opts,
                size,
                &target.view,
            )?;
        }
        let painter = ui.painter_at(rect);
        show_pane(&painter, rect, target.id, &self.view.camera.letters());
        markups_3d(&painter, rect, size, &self.view.camera, doc);
        let mode = match opts.mode {
            voxmark_gpu::kernels::raycast::RenderMode::Mip => "MIP".to_string(),
            voxmark_gpu::kernels::raycast::RenderMode::Dvr => {
                format!("DVR {}", self.view.tf.name())
            }
            voxmark_gpu::kernels::raycast::RenderMode::Labels => "label surfaces".to_string(),
        };
        self.pane_header(
            ui,
            3,
            rect,
            &format!(
                "3D  {mode}  az {:.0}° el {:.0}°",
                self.view.camera.azimuth_deg, self.view.camera.elevation_deg
            ),
        );
        Ok(())
    }

    /// The 3D view's options from the shell's settings.
    pub fn view3d_options(&self, doc: &Document, labels: Option<LabelStyle>) -> VolumeViewOptions {
        let w = doc.auto_window;
        let tf = TransferFunction::from_points(
            &self
                .view
                .tf
                .points((w.center - w.width / 2.0, w.center + w.width / 2.0)),
        );
        let dims = doc.image().grid.dims;
        VolumeViewOptions {
            mode: self.view.mode3d,
            camera: self.view.camera,
            window: doc.state.window,
            tf,
            labels,
            step_mm: None,
            clip: self
                .view
                .clip_crosshair
                .then(|| ClipBox::crosshair(dims, doc.state.crosshair, [false, true, false])),
        }
    }

    fn input_3d(
        &mut self,
        ui: &egui::Ui,
        resp: &egui::Response,
        rect: egui::Rect,
        size: [u32; 2],
        cx: &mut Lent,
    ) -> voxmark_volume::Result<()> {
        let cam = &mut self.view.camera;
        let d = resp.drag_delta();
        if resp.dragged_by(egui::PointerButton::Primary) {
            cam.azimuth_deg = (cam.azimuth_deg - f64::from(d.x) * 0.5).rem_euclid(360.0);
            cam.elevation_deg = (cam.elevation_deg + f64::from(d.y) * 0.5).clamp(-89.0, 89.0);
        }
        if resp.dragged_by(egui::PointerButton::Secondary) {
            cam.zoom = (cam.zoom * (1.0 - f64::from(d.y) * 0.01)).clamp(0.1, 50.0);
        }
        if resp.dragged_by(egui::PointerButton::Middle) {
            {
                let g = &cx.doc.image().grid;
                let ext: f64 = (0..3)
                    .map(|a| (g.dims[a] as f64 * g.spacing_mm()[a]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                let mm_per_pt = ext / (f64::from(rect.width().min(rect.height())) * cam.zoom);
                cam.pan_mm[0] += f64::from(d.x) * mm_per_pt;
                cam.pan_mm[1] -= f64::from(d.y) * mm_per_pt;
            }
        }
        if resp.hovered() {
            let wheel: f32 = ui.input(|i| {
                i.events
                    .iter()
                    .filter_map(|e| match e {
                        egui::Event::MouseWheel { delta, unit, .. } => Some(match unit {
                            egui::MouseWheelUnit::Point => delta.y / 40.0,
                            _ => delta.y,
                        }),
                        _ => None,
                    })
                    .sum()
            });
            if wheel != 0.0 {
                cam.zoom = (cam.zoom * 1.1f64.powf(f64::from(wheel))).clamp(0.1, 50.0);
            }
        }
        if resp.double_clicked() {
            if let Some(p) = resp.hover_pos().or(resp.interact_pointer_pos()) {
                let px = [
                    (((p.x - rect.min.x) / rect.width()) * size[0] as f32) as u32,
                    (((p.y - rect.min.y) / rect.height()) * size[1] as f32) as u32,
                ];
                let px = [px[0].min(size[0] - 1), px[1].min(size[1] - 1)];
                let status = self.pick_3d(cx.gpu, cx.doc, size, px)?;
                cx.fb.status(status);
            }
        }
        Ok(())
    }

    /// Double-click in 3D: the crosshair moves to the surface point under the pixel.
    /// Returns the status line.
    pub fn pick_3d(
        &mut self,
        gpu: &GpuContext,
        doc: &mut Document,
        size: [u32; 2],
        px: [u32; 2],
    ) -> voxmark_volume::Result<String> {
        let opts = self.view3d_options(doc, self.label_style_3d(doc));
        let Some(g) = doc.state.session.gpu() else {
            return Ok(String::new());
        };
        let hit = doc.view3d.pick(
            gpu,
            &doc.state.session.image().grid,
            &g.image,
            Some(&g.labels),
            &opts,
            size,
            px,
        )?;
        Ok(match hit {
            Some(v) => {
                doc.state.set_crosshair(v.map(f64::from))?;
                format!(
                    "crosshair moved to the 3D point at voxel ({:.0}, {:.0}, {:.0})",
                    v[0], v[1], v[2]
                )
            }
            None => "nothing under the cursor in 3D".into(),
        })
    }

    /// The label value at a voxel: one texel read back when the hovered voxel or the labels
    /// changed (a few bytes; cached so a still cursor costs nothing).
    fn label_at(
        &mut self,
        gpu: &GpuContext,
        doc: &Document,
        i: usize,
        j: usize,
        k: usize,
    ) -> Option<u8> {
        let v = doc.state.version;
        if let Some((at, ver, l)) = self.label_probe {
            if at == [i, j, k] && ver == v {
                return Some(l);
            }
        }
        let g = doc.state.session.gpu()?;
        let l = *g
            .labels
            .read_box(gpu, [i, j, k], [i + 1, j + 1, k + 1])
            .ok()?
            .first()?;
        self.label_probe = Some(([i, j, k], v, l));
        Some(l)
    }
}

/// A pane's texture filling `rect`, with the orientation letters at its left, right, top
/// and bottom edges.
fn show_pane(
    painter: &egui::Painter,
    rect: egui::Rect,
    texture: egui::TextureId,
    letters: &[String; 4],
) {
    painter.image(
        texture,
        rect,
        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
        egui::Color32::WHITE,
    );
    let font = egui::FontId::proportional(15.0);
    let yellow = egui::Color32::from_rgb(255, 220, 90);
    let at = [
        (
            rect.left_center() + egui::vec2(4.0, 0.0),
            egui::Align2::LEFT_CENTER,
        ),
        (
            rect.right_center() - egui::vec2(4.0, 0.0),
            egui::Align2::RIGHT_CENTER,
        ),
        (
            rect.center_top() + egui::vec2(0.0, 4.0),
            egui::Align2::CENTER_TOP,
        ),
        (
            rect.center_bottom() - egui::vec2(0.0, 4.0),
            egui::Align2::CENTER_BOTTOM,
        ),
    ];
    for ((pos, align), text) in at.into_iter().zip(letters) {
        painter.text(pos, align, text, font.clone(), yellow);
    }
}
