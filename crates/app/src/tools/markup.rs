//! The markup tools: a landmark by a click, a line (ruler) or a 3D box by a drag, an angle by
//! three clicks, open and closed curves by clicks ended by a double click or Enter; dragging
//! a handle of an existing markup moves that point. Draws every visible markup over the
//! slice panes (on-slice solid, projections faint, a box's cross-section, measurements
//! beside them), the markup being placed and the handle being dragged.

use super::{
    voxel_of, world_of, Color, Outcome, PanePointer, PaneSlice, Radius, Shape, SliceTool, TextAt,
    ToolState,
};
use crate::state::AppState;
use voxmark_edit::ops::EditOp;
use voxmark_volume::error::Result;
use voxmark_volume::markup::{Markup, MarkupEdit, MarkupKind};
use voxmark_volume::Grid;

/// A markup being placed in pane `pane` on slice `slice` (points in voxel coordinates,
/// on that slice).
#[derive(Debug, Clone, PartialEq)]
pub struct MarkupDraft {
    pub kind: MarkupKind,
    pub pane: usize,
    pub slice: usize,
    /// The voxel axis normal to the pane.
    pub axis_n: usize,
    pub points: Vec<[f64; 3]>,
}

/// A markup handle being dragged: control point `index` of markup `id`, now at `to` (voxel
/// coordinates, on the pane's slice).
#[derive(Debug, Clone, PartialEq)]
pub struct MarkupDrag {
    pub id: u64,
    pub index: usize,
    pub pane: usize,
    pub to: [f64; 3],
}

impl MarkupDraft {
    /// Whether the draft has what its kind needs to become a markup.
    pub fn complete(&self) -> bool {
        let (lo, _) = self.kind.point_count();
        match self.kind {
            // A drag of zero length is a click, not a line or a box.
            MarkupKind::Line | MarkupKind::Box => {
                self.points.len() == 2 && self.points[0] != self.points[1]
            }
            _ => self.points.len() >= lo,
        }
    }

    /// The markup this draft makes (world RAS): the points as placed, except a box, drawn as
    /// a rectangle on the slice, which gets a depth along the view's normal (`axis_n`) equal
    /// to the mean of its two sides, centred on the slice; its corners can then be dragged
    /// in the other views.
    pub fn markup(&self, grid: &Grid, label: u8) -> Markup {
        let axis_n = self.axis_n;
        let mut pts = self.points.clone();
        if self.kind == MarkupKind::Box {
            let sp = grid.spacing_mm();
            let (a, b) = (pts[0], pts[1]);
            let sides: Vec<f64> = (0..3)
                .filter(|&ax| ax != axis_n)
                .map(|ax| (b[ax] - a[ax]).abs() * sp[ax])
                .collect();
            let half = (sides[0] + sides[1]) / 4.0 / sp[axis_n];
            pts[0][axis_n] = a[axis_n] - half;
            pts[1][axis_n] = a[axis_n] + half;
        }
        Markup {
            label: (label != 0).then_some(label),
            ..Markup::new(self.kind, pts.iter().map(|v| world_of(grid, *v)).collect())
        }
    }
}

impl ToolState {
    /// A press of the markup tool `kind` at voxel `v` (on a pane's slice, `at`; `handle`:
    /// the unlocked markup control point under the pointer, if any). Returns the op to apply
    /// when the press completes a markup (a point; an angle's third click).
    pub fn markup_press(
        &mut self,
        kind: MarkupKind,
        at: PaneSlice,
        v: [f64; 3],
        handle: Option<(u64, usize)>,
        grid: &Grid,
        label: u8,
    ) -> Option<EditOp> {
        let PaneSlice {
            pane,
            slice,
            axis_n,
        } = at;
        if let Some((id, index)) = handle {
            self.selected_markup = Some(id);
            self.markup_drag = Some(MarkupDrag {
                id,
                index,
                pane,
                to: v,
            });
            return None;
        }
        let same = self
            .markup_draft
            .as_ref()
            .is_some_and(|d| d.kind == kind && d.pane == pane && d.slice == slice);
        if !same {
            self.markup_draft = Some(MarkupDraft {
                kind,
                pane,
                slice,
                axis_n,
                points: Vec::new(),
            });
        }
        let d = self.markup_draft.as_mut()?;
        match kind {
            MarkupKind::Line | MarkupKind::Box => d.points = vec![v, v],
            // The second click of a double click (which ends a curve) adds nothing.
            _ if d.points.last() == Some(&v) => {}
            _ => d.points.push(v),
        }
        let done = match kind {
            MarkupKind::Point => true,
            MarkupKind::Angle => d.points.len() == 3,
            _ => false,
        };
        if done {
            return self.take_markup(grid, label);
        }
        None
    }

    /// The pointer moved to voxel `v` with the button down: a dragged handle follows, as
    /// does the second corner of a line or box being drawn.
    pub fn markup_drag_to(&mut self, pane: usize, v: [f64; 3]) {
        if let Some(d) = &mut self.markup_drag {
            if d.pane == pane {
                d.to = v;
            }
        } else if let Some(d) = &mut self.markup_draft {
            if d.pane == pane && matches!(d.kind, MarkupKind::Line | MarkupKind::Box) {
                if let Some(last) = d.points.last_mut() {
                    *last = v;
                }
            }
        }
    }

    /// The button was released: a dragged handle's move, or a drawn line or box, as the op
    /// to apply.
    pub fn markup_release(&mut self, grid: &Grid, label: u8) -> Option<EditOp> {
        if let Some(d) = self.markup_drag.take() {
            return Some(EditOp::Markup(MarkupEdit::MovePoint {
                id: d.id,
                index: d.index,
                to: world_of(grid, d.to),
            }));
        }
        match self.markup_draft.as_ref().map(|d| d.kind) {
            Some(MarkupKind::Line | MarkupKind::Box) => self.take_markup(grid, label),
            _ => None,
        }
    }

    /// Ends the markup being placed (Enter, a double click, a drag's release): its add op
    /// when it has what its kind needs; the draft is gone either way.
    pub fn take_markup(&mut self, grid: &Grid, label: u8) -> Option<EditOp> {
        let d = self.markup_draft.take()?;
        d.complete().then(|| {
            EditOp::Markup(MarkupEdit::Add {
                markup: d.markup(grid, label),
            })
        })
    }

    /// Delete: the op that deletes the selected markup.
    pub fn delete_selected_markup(&mut self) -> Option<EditOp> {
        let id = self.selected_markup.take()?;
        Some(EditOp::Markup(MarkupEdit::Delete { id }))
    }
}

/// The markup tools (`Tool::Markup(kind)`).
pub struct MarkupTool;

impl SliceTool for MarkupTool {
    fn pointer(
        &self,
        tools: &mut ToolState,
        st: &mut AppState,
        ev: &PanePointer,
    ) -> Result<Outcome> {
        let mut out = Outcome::default();
        let super::Tool::Markup(kind) = tools.tool else {
            return Ok(out);
        };
        let grid = st.session.image().grid;
        let label = st.brush.label;
        let i = ev.pane;
        let op = if ev.released && (tools.markup_drag.is_some() || drawing_by_drag(tools)) {
            // Wherever the pointer is now: a drag ends on release.
            tools.markup_release(&grid, label)
        } else if let Some(p) = ev.hover {
            let v = st.voxel_at(i, ev.size, p)?;
            let geom = st.geometry(i, ev.size)?;
            let slice = st.panes[i].slice;
            if ev.double_clicked {
                tools.take_markup(&grid, label)
            } else if ev.pressed {
                let markups = &st.session.markups().markups;
                let radius = 8.0 * ev.pixels_per_point;
                let handle = handle_at(markups, &grid, &geom, slice, p, radius);
                let at = PaneSlice {
                    pane: i,
                    slice,
                    axis_n: geom.axis_n,
                };
                tools.markup_press(kind, at, v, handle, &grid, label)
            } else {
                if ev.down {
                    tools.markup_drag_to(i, v);
                }
                None
            }
        } else {
            None
        };
        if let Some(op) = op {
            apply_selecting(tools, st, &mut out, &op);
        }
        Ok(out)
    }

    /// Ends an open or closed curve being placed: added when it has enough points.
    fn enter(&self, tools: &mut ToolState, st: &mut AppState) -> Option<Outcome> {
        tools.markup_draft.as_ref()?;
        let mut out = Outcome::default();
        match tools.take_markup(&st.session.image().grid, st.brush.label) {
            Some(op) => apply_selecting(tools, st, &mut out, &op),
            None => out.status("an open curve needs 2 points, a closed curve 3"),
        }
        Some(out)
    }

    /// Every visible markup (a dragged handle where it is being dragged), the markup being
    /// placed, and the axes of "Measure label".
    fn overlay(
        &self,
        tools: &ToolState,
        st: &AppState,
        view: &PaneSlice,
        _hover: Option<[f64; 3]>,
    ) -> Vec<Shape> {
        let grid = &st.session.image().grid;
        let mut out = Vec::new();
        for m in st.session.markups().markups.iter().filter(|m| m.visible) {
            let mut m = m.clone();
            if let Some(d) = tools
                .markup_drag
                .as_ref()
                .filter(|d| d.id == m.id && d.pane == view.pane)
            {
                if let Some(p) = m.points.get_mut(d.index) {
                    *p = world_of(grid, d.to);
                }
            }
            let c = markup_color(&m, st);
            markup_shapes(
                &mut out,
                &m,
                grid,
                view,
                c,
                tools.selected_markup == Some(m.id),
            );
        }
        if let Some(d) = tools.markup_draft.as_ref().filter(|d| d.pane == view.pane) {
            draft_shapes(&mut out, d, grid, view);
        }
        out.extend(super::measure::axes_shapes(tools, st, view));
        out
    }
}

/// Applies a markup op from a tool, selecting the markup it adds.
fn apply_selecting(tools: &mut ToolState, st: &mut AppState, out: &mut Outcome, op: &EditOp) {
    let before = st.session.markups().next_id;
    out.apply(st, op);
    if st.session.markups().next_id != before {
        tools.selected_markup = st.session.markups().markups.last().map(|m| m.id);
    }
}

/// Whether a line or box is being drawn (its release ends it).
fn drawing_by_drag(tools: &ToolState) -> bool {
    tools
        .markup_draft
        .as_ref()
        .is_some_and(|d| matches!(d.kind, MarkupKind::Line | MarkupKind::Box))
}

/// The unlocked, visible markup control point on `slice` within `radius_px` (physical pixels)
/// of screen point `p`, nearest first.
fn handle_at(
    markups: &[Markup],
    grid: &Grid,
    geom: &voxmark_volume::geometry::view::ViewGeometry,
    slice: usize,
    p: [f64; 2],
    radius_px: f64,
) -> Option<(u64, usize)> {
    let mut best: Option<(f64, u64, usize)> = None;
    for m in markups.iter().filter(|m| m.visible && !m.locked) {
        for (k, w) in m.points.iter().enumerate() {
            let v = voxel_of(grid, *w);
            if (v[geom.axis_n] - slice as f64).abs() > 0.5 {
                continue;
            }
            let s = geom.screen_of(v);
            let d = ((s[0] - p[0]).powi(2) + (s[1] - p[1]).powi(2)).sqrt();
            if d <= radius_px && best.is_none_or(|b| d < b.0) {
                best = Some((d, m.id, k));
            }
        }
    }
    best.map(|b| (b.1, b.2))
}

/// A markup's colour: its label's, else cyan.
pub fn markup_color(m: &Markup, st: &AppState) -> Color {
    let c = m
        .label
        .and_then(|l| st.session.table().iter().find(|t| t.value == l))
        .map_or([0.35, 0.86, 1.0], |t| t.color);
    Color::rgb(
        (c[0] * 255.0) as u8,
        (c[1] * 255.0) as u8,
        (c[2] * 255.0) as u8,
    )
}

/// One markup over a slice pane: control points on the slice as dots (hollow when locked),
/// segments as lines — solid where both ends lie on the slice, faint where they are a
/// projection — a box as its cross-section where the slice cuts it, the measurement beside
/// the last point.
fn markup_shapes(
    out: &mut Vec<Shape>,
    m: &Markup,
    grid: &Grid,
    view: &PaneSlice,
    c: Color,
    selected: bool,
) {
    let slice = view.slice as f64;
    let n = view.axis_n;
    let on = |v: &[f64; 3]| (v[n] - slice).abs() <= 0.5;
    let vox: Vec<[f64; 3]> = m.points.iter().map(|w| voxel_of(grid, *w)).collect();
    let faint = c.faded(0.35);
    let width = if selected { 2.5 } else { 1.5 };
    let dot = |at: [f64; 3], r: f32| Shape::Circle {
        at,
        radius: Radius::Points(r),
        stroke: None,
        color: c,
    };
    if m.kind == MarkupKind::Box {
        let (lo, hi) = (
            [0, 1, 2].map(|a| vox[0][a].min(vox[1][a])),
            [0, 1, 2].map(|a| vox[0][a].max(vox[1][a])),
        );
        if slice < lo[n] - 0.5 || slice > hi[n] + 0.5 {
            return;
        }
        let mut a = lo;
        let mut b = hi;
        a[n] = slice;
        b[n] = slice;
        out.push(Shape::Rect {
            a,
            b,
            width,
            color: c,
        });
        out.extend(vox.iter().filter(|v| on(v)).map(|v| dot(*v, 3.5)));
        out.push(Shape::Text {
            at: TextAt::UnderRect { a, b },
            text: m.summary(),
            size: 13.0,
            color: c,
        });
        return;
    }
    let mut segs: Vec<([f64; 3], [f64; 3])> = vox.windows(2).map(|w| (w[0], w[1])).collect();
    if m.kind == MarkupKind::ClosedCurve && vox.len() > 2 {
        segs.push((vox[vox.len() - 1], vox[0]));
    }
    for (a, b) in &segs {
        let solid = on(a) && on(b);
        out.push(Shape::Segment {
            a: *a,
            b: *b,
            width,
            color: if solid { c } else { faint },
        });
    }
    let mut any = false;
    for v in &vox {
        if on(v) {
            any = true;
            out.push(if m.locked {
                Shape::Circle {
                    at: *v,
                    radius: Radius::Points(4.0),
                    stroke: Some(1.5),
                    color: c,
                }
            } else {
                dot(*v, if selected { 5.0 } else { 3.5 })
            });
        }
    }
    if any && m.kind != MarkupKind::Point || (m.kind == MarkupKind::Point && any && selected) {
        if let Some(last) = vox.last() {
            out.push(Shape::Text {
                at: TextAt::Voxel {
                    at: *last,
                    offset: [8.0, -8.0],
                    below: false,
                },
                text: if m.kind == MarkupKind::Point {
                    voxmark_io::markups::display_name(m, &|_| None)
                } else {
                    m.summary()
                },
                size: 13.0,
                color: c,
            });
        }
    }
}

/// The markup being placed, in yellow (a box as it will be made, with its depth).
fn draft_shapes(out: &mut Vec<Shape>, d: &MarkupDraft, grid: &Grid, view: &PaneSlice) {
    if d.points.is_empty() {
        return;
    }
    let mut m = Markup::new(
        d.kind,
        d.points.iter().map(|v| world_of(grid, *v)).collect(),
    );
    if d.kind == MarkupKind::Box {
        m.points = d.markup(grid, 0).points;
    }
    let yellow = Color::rgb(255, 200, 0);
    if m.kind == MarkupKind::Box && m.points.len() == 2 {
        markup_shapes(out, &m, grid, view, yellow, true);
        return;
    }
    for w in d.points.windows(2) {
        out.push(Shape::Segment {
            a: w[0],
            b: w[1],
            width: 2.0,
            color: yellow,
        });
    }
    for q in &d.points {
        out.push(Shape::Circle {
            at: *q,
            radius: Radius::Points(3.5),
            stroke: None,
            color: yellow,
        });
    }
    if m.kind == MarkupKind::Line && m.points.len() == 2 {
        out.push(Shape::Text {
            at: TextAt::Voxel {
                at: d.points[1],
                offset: [8.0, -8.0],
                below: false,
            },
            text: m.summary(),
            size: 14.0,
            color: yellow,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxmark_volume::Grid;

    #[test]
    fn a_drawn_line_measures_in_world_millimetres_and_a_box_gets_depth() {
        // Anisotropic, rotated grid: 90° about z, spacing (0.5, 2, 3) mm.
        let m = glam::DMat4::from_cols_array(&[
            0.0, 0.5, 0.0, 0.0, //
            -2.0, 0.0, 0.0, 0.0, //
            0.0, 0.0, 3.0, 0.0, //
            10.0, -4.0, 7.0, 1.0,
        ]);
        let g = Grid::new([10, 10, 10], m);
        let d = MarkupDraft {
            kind: MarkupKind::Line,
            pane: 0,
            slice: 3,
            axis_n: 2,
            points: vec![[1.0, 2.0, 3.0], [4.0, 6.0, 3.0]],
        };
        assert!(d.complete());
        // Δ = (3, 4, 0) voxels = (1.5, 8, 0) mm along the voxel axes.
        let want = (1.5f64 * 1.5 + 8.0 * 8.0).sqrt();
        let line = d.markup(&g, 1);
        assert!((line.path_length_mm() - want).abs() < 1e-12);
        assert_eq!(line.label, Some(1));
        // A box drawn 1.5 × 8 mm on slice 3 gets a depth of 4.75 mm along k, centred.
        let b = MarkupDraft {
            kind: MarkupKind::Box,
            ..d
        }
        .markup(&g, 0);
        let ms = b.measurements();
        let sizes: Vec<f64> = ms[..3].iter().map(|m| m.value).collect();
        let mut sorted = sizes.clone();
        sorted.sort_by(f64::total_cmp);
        for (got, want) in sorted.iter().zip([1.5, 4.75, 8.0]) {
            assert!((got - want).abs() < 1e-9, "{sizes:?}");
        }
        let c = voxel_of(&g, b.box_min_max().0.midpoint(b.box_min_max().1).to_array());
        assert!((c[2] - 3.0).abs() < 1e-9);
    }
}
