//! The crosshair tool (C): a click or a drag in a slice pane moves the crosshair there (the
//! other panes follow it); Shift leaves it where it is.

use super::{Outcome, PanePointer, SliceTool, ToolState};
use crate::state::AppState;
use voxmark_volume::error::Result;

/// `Tool::Crosshair`.
pub struct CrosshairTool;

impl SliceTool for CrosshairTool {
    fn pointer(
        &self,
        _tools: &mut ToolState,
        st: &mut AppState,
        ev: &PanePointer,
    ) -> Result<Outcome> {
        if let Some(p) = ev.hover {
            if (ev.pressed || (ev.down && ev.down_on_pane)) && !ev.shift {
                st.click(ev.pane, ev.size, p)?;
            }
        }
        Ok(Outcome::default())
    }
}
