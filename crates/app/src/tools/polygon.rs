//! The polygon (P) and scissors (X) tools: clicks add vertices on one pane's slice; a double
//! click or Enter closes the polygon and fills it with the brush's label (polygon), or cuts
//! through every slice of the view (scissors: erase or fill, inside or outside).

use super::{Color, Outcome, PanePointer, PaneSlice, Radius, Shape, SliceTool, Tool, ToolState};
use crate::state::AppState;
use voxmark_edit::ops::EditOp;
use voxmark_volume::error::Result;

/// A polygon being drawn in one pane, on one slice.
#[derive(Debug, Clone, PartialEq)]
pub struct PolygonDraft {
    pub pane: usize,
    pub slice: usize,
    /// Vertices in voxel coordinates.
    pub points: Vec<[f64; 3]>,
}

impl ToolState {
    /// The polygon tool's click at voxel `v` in pane `pane` on `slice`: a vertex of the draft
    /// on that pane and slice (a draft elsewhere starts over).
    pub fn polygon_click(&mut self, pane: usize, slice: usize, v: [f64; 3]) {
        let fresh = PolygonDraft {
            pane,
            slice,
            points: Vec::new(),
        };
        let draft = self.polygon.get_or_insert_with(|| fresh.clone());
        if draft.pane != pane || draft.slice != slice {
            *draft = fresh;
        }
        draft.points.push(v);
    }

    /// Closes the polygon in progress: the `polygon` op that fills it with the brush's label,
    /// range and write rule (with the scissors tool: the `scissors` op through every slice
    /// of the view, on the brush's label, cutting the chosen side by the chosen action). `Ok(None)` when it has fewer than 3 vertices (the draft is gone
    /// either way).
    pub fn close_polygon(&mut self, st: &AppState) -> Result<Option<EditOp>> {
        let Some(p) = self.polygon.take() else {
            return Ok(None);
        };
        if p.points.len() < 3 {
            return Ok(None);
        }
        let geom = st.geometry(p.pane, [2, 2])?;
        let b = &st.brush;
        let points: Vec<[f64; 2]> = p
            .points
            .iter()
            .map(|v| [v[geom.axis_u], v[geom.axis_v]])
            .collect();
        if self.tool == Tool::Scissors {
            // Through every slice of the view, on the active label.
            return Ok(Some(EditOp::Scissors {
                plane: st.panes[p.pane].kind,
                points,
                region: self.scissors_region,
                action: self.scissors_action,
                label: b.label,
                depth: None,
                range: b.range,
                editable: b.editable,
            }));
        }
        Ok(Some(EditOp::Polygon {
            plane: st.panes[p.pane].kind,
            slice: p.slice,
            points,
            label: b.label,
            range: b.range,
            editable: b.editable,
        }))
    }
}

/// `Tool::Polygon` and `Tool::Scissors`.
pub struct PolygonTool;

impl SliceTool for PolygonTool {
    /// A press adds a vertex on the pane's slice; a double click closes the polygon.
    fn pointer(
        &self,
        tools: &mut ToolState,
        st: &mut AppState,
        ev: &PanePointer,
    ) -> Result<Outcome> {
        if let Some(p) = ev.hover {
            let v = st.voxel_at(ev.pane, ev.size, p)?;
            let slice = st.panes[ev.pane].slice;
            if ev.double_clicked {
                return Ok(close(tools, st));
            } else if ev.pressed {
                tools.polygon_click(ev.pane, slice, v);
            }
        }
        Ok(Outcome::default())
    }

    /// Closes the polygon in progress.
    fn enter(&self, tools: &mut ToolState, st: &mut AppState) -> Option<Outcome> {
        tools.polygon.as_ref()?;
        Some(close(tools, st))
    }

    /// The polygon in progress on its pane and slice: its edges, the edge to the pointer,
    /// its vertices.
    fn overlay(
        &self,
        tools: &ToolState,
        _st: &AppState,
        view: &PaneSlice,
        hover: Option<[f64; 3]>,
    ) -> Vec<Shape> {
        let Some(p) = tools
            .polygon
            .as_ref()
            .filter(|p| p.pane == view.pane && p.slice == view.slice)
        else {
            return Vec::new();
        };
        let color = Color::rgb(255, 200, 0);
        let mut out: Vec<Shape> = p
            .points
            .windows(2)
            .map(|w| Shape::Segment {
                a: w[0],
                b: w[1],
                width: 1.5,
                color,
            })
            .collect();
        if let (Some(last), Some(h)) = (p.points.last(), hover) {
            out.push(Shape::Segment {
                a: *last,
                b: h,
                width: 1.0,
                color,
            });
        }
        out.extend(p.points.iter().map(|q| Shape::Circle {
            at: *q,
            radius: Radius::Points(3.0),
            stroke: None,
            color,
        }));
        out
    }
}

/// Closes the polygon in progress and fills it (or cuts with the scissors).
fn close(tools: &mut ToolState, st: &mut AppState) -> Outcome {
    let mut out = Outcome::default();
    match tools.close_polygon(st) {
        Ok(Some(op)) => {
            out.apply(st, &op);
        }
        Ok(None) => out.status("a polygon (or scissors cut) needs at least 3 vertices"),
        Err(e) => out.error(format!("polygon: {e}")),
    }
    out
}
