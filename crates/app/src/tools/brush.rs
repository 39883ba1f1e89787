//! The brush (B) and the eraser (E; Shift erases with the brush): a press starts a stroke
//! in the pane's plane (a disc or a sphere of the brush's radius, label, range and write
//! rule), a drag extends it, the release applies it as one journaled, undoable op. The
//! brush's outline follows the pointer.

use super::{Color, Outcome, PanePointer, PaneSlice, Radius, Shape, SliceTool, Tool, ToolState};
use crate::state::AppState;
use voxmark_volume::error::Result;

/// `Tool::Brush` and `Tool::Eraser`.
pub struct BrushTool;

impl SliceTool for BrushTool {
    fn pointer(
        &self,
        tools: &mut ToolState,
        st: &mut AppState,
        ev: &PanePointer,
    ) -> Result<Outcome> {
        let mut out = Outcome::default();
        let erase = tools.tool == Tool::Eraser || ev.shift;
        if ev.pressed {
            if let Some(p) = ev.hover {
                st.stroke_begin(ev.pane, ev.size, p, erase)?;
            }
        } else if ev.down && st.stroke_op().is_some() {
            if let Some(p) = ev.drag {
                st.stroke_extend(ev.size, p)?;
            }
        }
        if ev.released && st.stroke_op().is_some() {
            if let Some(r) = st.stroke_end()? {
                out.status(format!(
                    "{}: {} voxels changed (Ctrl+Z undoes)",
                    r.op, r.changed_voxels
                ));
            }
        }
        Ok(out)
    }

    /// The brush's outline around the pointer (red for the eraser), while it is active.
    fn overlay(
        &self,
        tools: &ToolState,
        st: &AppState,
        _view: &PaneSlice,
        hover: Option<[f64; 3]>,
    ) -> Vec<Shape> {
        let (Some(at), true) = (hover, matches!(tools.tool, Tool::Brush | Tool::Eraser)) else {
            return Vec::new();
        };
        let color = if tools.tool == Tool::Eraser {
            Color::rgb(255, 120, 120)
        } else {
            Color::rgb(120, 255, 160)
        };
        vec![Shape::Circle {
            at,
            radius: Radius::Mm(st.brush.radius_mm),
            stroke: Some(1.5),
            color,
        }]
    }
}
