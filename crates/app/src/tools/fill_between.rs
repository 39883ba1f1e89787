//! Fill between slices: the preview (cyan) shows the active label interpolated between its
//! key slices along the chosen view's normal and follows further key slices as they are
//! drawn; Enter accepts, Esc cancels.

use super::ToolState;
use crate::state::AppState;
use voxmark_edit::ops::EditOp;
use voxmark_edit::session::GrowPreview;
use voxmark_volume::error::Result;

impl ToolState {
    pub(super) fn stop_fill_between(&mut self) {
        self.fill_between = false;
        self.fill_made_from = None;
    }

    /// Starts fill between slices of the active label along `fill_axis`: the preview (cyan)
    /// shows the interpolated slices and follows further key slices as they are drawn.
    /// Returns the status line.
    pub fn start_fill_between(&mut self, st: &mut AppState) -> Result<Option<String>> {
        self.grow.seeds.clear();
        self.fill_between = true;
        self.fill_made_from = None;
        self.refresh_fill_between(st).map(|s| s.flatten())
    }

    /// While fill between slices is on: remakes the preview when the labels, the active
    /// label or the write rule changed since it was made (None: nothing to do). A label with
    /// nothing to fill yet is a status line saying what to draw, not an error.
    pub fn refresh_fill_between(&mut self, st: &mut AppState) -> Result<Option<Option<String>>> {
        let key = (st.labels_version, st.brush.label, st.brush.editable);
        if !self.fill_between || self.fill_made_from == Some(key) {
            return Ok(None);
        }
        self.fill_made_from = Some(key);
        let op = EditOp::Interpolate {
            label: st.brush.label,
            axis: self.fill_axis,
            editable: st.brush.editable,
        };
        let axis = format!("{:?}", self.fill_axis).to_lowercase();
        match st.grow_preview_op(op) {
            Ok(p) => {
                let voxels = match p {
                    GrowPreview::Host { voxels, .. } => format!("{voxels} voxels, "),
                    GrowPreview::Gpu(_) => String::new(),
                };
                Ok(Some(Some(format!(
                    "fill between slices ({axis}, label {}): preview {voxels}follows the key \
                     slices you draw — Enter accepts, Esc cancels",
                    st.brush.label
                ))))
            }
            Err(voxmark_volume::error::Error::Invalid(m))
                if m.starts_with("fill between slices") =>
            {
                st.cancel_grow();
                Ok(Some(Some(m)))
            }
            Err(e) => Err(e),
        }
    }
}
