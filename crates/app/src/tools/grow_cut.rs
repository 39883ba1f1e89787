//! Grow from seeds (Fast GrowCut) in the shell: the painted labels are the seeds; the solved
//! partition of the ROI is the preview, updated incrementally as strokes are added; Enter
//! applies the `grow_cut` op on the state's ROI, Esc cancels.

use super::ToolState;
use crate::state::AppState;
use voxmark_edit::ops::EditOp;
use voxmark_edit::session::GrowPreview;
use voxmark_gpu::kernels::grow_cut::{GrowCutRequest, GrowCutState};
use voxmark_volume::error::Result;

/// Grow from seeds in the shell: the background label, and while on, the solved state the
/// preview shows (updated incrementally as strokes are added).
#[derive(Debug, Clone, PartialEq)]
pub struct GrowCutTool {
    /// The label whose strokes mark the background (cleared on Apply).
    pub background: u8,
    /// The structure labels (every other label with seeds when Initialise was pressed).
    pub labels: Vec<u8>,
    pub(super) state: Option<GrowCutState>,
    /// The labels version the preview was made from.
    pub(super) made_from: Option<u64>,
}

impl Default for GrowCutTool {
    fn default() -> Self {
        Self {
            background: 9,
            labels: Vec::new(),
            state: None,
            made_from: None,
        }
    }
}

impl GrowCutTool {
    /// Whether grow from seeds is previewing.
    pub fn active(&self) -> bool {
        self.state.is_some()
    }
}

impl ToolState {
    /// Grow from seeds: the labels painted so far are the seeds — `grow_cut.background` the
    /// background, every other unlocked label a structure; solves the ROI around them and
    /// shows the result as the preview. Further strokes update it (see
    /// [`Self::refresh_grow_cut`]); Enter applies the `grow_cut` op, Esc cancels.
    pub fn start_grow_cut(&mut self, st: &mut AppState) -> Result<Option<String>> {
        self.grow.seeds.clear();
        self.stop_fill_between();
        let labels = st.session.labels()?.into_owned();
        let locked = st.session.locked();
        let mut present = [false; 256];
        for &l in &labels {
            present[usize::from(l)] = true;
        }
        let bg = self.grow_cut.background;
        self.grow_cut.labels = (1..=255u8)
            .filter(|&l| present[usize::from(l)] && l != bg && !locked[usize::from(l)])
            .collect();
        if self.grow_cut.labels.is_empty() || !present[usize::from(bg)] {
            self.grow_cut.state = None;
            return Ok(Some(format!(
                "grow from seeds needs strokes of at least one structure label and of the \
                 background label {bg}: paint them with the brush, then Initialise"
            )));
        }
        let req = self.grow_cut_request(st, None)?;
        let image = st.session.image().to_arc();
        let mut state = GrowCutState::init(&req, &image, &labels)?;
        state.solve_cpu();
        self.grow_cut.state = Some(state);
        self.grow_cut.made_from = Some(st.labels_version);
        self.show_grow_cut(st, "initialised")
    }

    fn grow_cut_request(&self, st: &AppState, roi: Option<[usize; 6]>) -> Result<GrowCutRequest> {
        let env = voxmark_edit::EditEnv {
            image: st.session.image(),
            locked: st.session.locked(),
        };
        let op = EditOp::GrowCut {
            labels: self.grow_cut.labels.clone(),
            background: self.grow_cut.background,
            roi,
        };
        match voxmark_edit::lower(&env, &op)?.into_program() {
            Some(voxmark_edit::Program::GrowCut(req)) => Ok(*req),
            _ => Err(voxmark_volume::error::Error::invalid(
                "grow_cut lowers to a grow-cut program",
            )),
        }
    }

    /// The preview and the op Enter applies (on the state's ROI, so the applied op equals
    /// what the preview shows).
    fn show_grow_cut(&mut self, st: &mut AppState, what: &str) -> Result<Option<String>> {
        let Some(state) = &self.grow_cut.state else {
            return Ok(None);
        };
        let d = st.session.image().grid.dims;
        let (mask, voxels) = state.preview_mask(self.grow_cut.background, d);
        let hi = [0, 1, 2].map(|a| state.lo[a] + state.size[a] - 1);
        let op = EditOp::GrowCut {
            labels: self.grow_cut.labels.clone(),
            background: self.grow_cut.background,
            roi: Some([state.lo[0], state.lo[1], state.lo[2], hi[0], hi[1], hi[2]]),
        };
        let preview = match st.session.gpu() {
            Some(g) => GrowPreview::Gpu(voxmark_gpu::residency::PackedU8Volume::upload(
                g.ctx, d, &mask,
            )?),
            None => GrowPreview::Host { mask, voxels },
        };
        st.set_preview(op, preview);
        Ok(Some(format!(
            "grow from seeds {what}: {voxels} voxels to labels {:?} (background {}) — paint \
             more strokes to correct it, Enter applies, Esc cancels",
            self.grow_cut.labels, self.grow_cut.background
        )))
    }

    /// While grow from seeds is on and the labels changed: updates the preview (reusing the
    /// costs when the strokes only added seeds). None: nothing to do.
    pub fn refresh_grow_cut(&mut self, st: &mut AppState) -> Result<Option<Option<String>>> {
        if self.grow_cut.state.is_none() || self.grow_cut.made_from == Some(st.labels_version) {
            return Ok(None);
        }
        self.grow_cut.made_from = Some(st.labels_version);
        let Some(state) = &self.grow_cut.state else {
            return Ok(None);
        };
        let hi = [0, 1, 2].map(|a| state.lo[a] + state.size[a] - 1);
        let roi = [state.lo[0], state.lo[1], state.lo[2], hi[0], hi[1], hi[2]];
        let req = self.grow_cut_request(st, Some(roi))?;
        let labels = st.session.labels()?.into_owned();
        let image = st.session.image().to_arc();
        let t = std::time::Instant::now();
        let incremental = match &mut self.grow_cut.state {
            Some(state) => state.update_cpu(&req, &image, &labels)?,
            None => return Ok(None),
        };
        let how = format!(
            "{} in {:.0} ms",
            if incremental { "updated" } else { "recomputed" },
            t.elapsed().as_secs_f64() * 1e3
        );
        self.show_grow_cut(st, &how).map(Some)
    }
}
