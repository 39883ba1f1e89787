//! The region-grow tool (G): a click adds a seed; the first seed estimates the range (ITK
//! ConfidenceConnected) unless the user set it; the preview (cyan) follows the seeds and
//! the range; Enter accepts (the previewed region is committed, not grown again), Esc
//! cancels. Seeds are drawn on their slice.

use super::{Color, Outcome, PanePointer, PaneSlice, Radius, Shape, SliceTool, ToolState};
use crate::state::AppState;
use voxmark_edit::ops::EditOp;
use voxmark_edit::session::GrowPreview;
use voxmark_volume::error::Result;

/// Region-grow settings and seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowSettings {
    pub seeds: Vec<[usize; 3]>,
    pub lower: f64,
    pub upper: f64,
    pub connectivity: u32,
    /// The user set the range (sliders): the first seed keeps it instead of estimating one.
    pub range_from_user: bool,
}

impl Default for GrowSettings {
    /// No seeds, an empty range, 6-connectivity.
    fn default() -> Self {
        Self {
            seeds: Vec::new(),
            lower: 0.0,
            upper: 0.0,
            connectivity: 6,
            range_from_user: false,
        }
    }
}

impl GrowSettings {
    /// The `grow` op these settings make for `label` (None without seeds).
    pub fn op(&self, label: u8, editable: voxmark_edit::ops::Editable) -> Option<EditOp> {
        (!self.seeds.is_empty()).then(|| EditOp::Grow {
            seeds: self.seeds.clone(),
            lower: self.lower.min(self.upper),
            upper: self.upper.max(self.lower),
            connectivity: self.connectivity,
            label,
            roi: None,
            editable,
        })
    }
}

impl ToolState {
    /// The grow tool's click at voxel `seed`. The first seed sets the range as Auto range
    /// does (ITK ConfidenceConnected around it) unless the user has set the range with the
    /// sliders — the default range (from the window) would otherwise grow the whole body on
    /// a first click — and says so; the preview follows. Returns the status line.
    pub fn add_seed(&mut self, st: &mut AppState, seed: [usize; 3]) -> Result<Option<String>> {
        let first = self.grow.seeds.is_empty();
        self.grow.seeds.push(seed);
        if first && !self.grow.range_from_user {
            let s = self.auto_grow_range(st)?;
            return Ok(Some(format!(
                "first seed: {s} — set the range with the sliders to keep your own"
            )));
        }
        self.grow_preview(st)
    }

    /// Recomputes the grow preview from the seeds and the range (cancels it without seeds).
    /// Returns the status line (None when there is no preview).
    pub fn grow_preview(&self, st: &mut AppState) -> Result<Option<String>> {
        let Some(op) = self.grow.op(st.brush.label, st.brush.editable) else {
            st.cancel_grow();
            return Ok(None);
        };
        let status = match st.grow_preview_op(op)? {
            GrowPreview::Host { voxels, .. } => format!("grow preview: {voxels} voxels"),
            GrowPreview::Gpu(_) => format!(
                "grow preview from {} seed(s) in [{:.1}, {:.1}] — Enter accepts, Esc cancels",
                self.grow.seeds.len(),
                self.grow.lower,
                self.grow.upper
            ),
        };
        Ok(Some(status))
    }

    /// ITK ConfidenceConnected range (mean ± 2.5 σ around the seeds, one re-estimate), widened
    /// to hold every seed's value; the preview follows. Returns the status line.
    pub fn auto_grow_range(&mut self, st: &mut AppState) -> Result<String> {
        if self.grow.seeds.is_empty() {
            return Ok("auto range needs a seed: click in a slice with the grow tool".into());
        }
        let img = &st.session.image();
        let dims = img.grid.dims;
        let conn = self.grow.connectivity;
        let seeds = self.grow.seeds.clone();
        let session = &st.session;
        let (range, _) = voxmark_gpu::kernels::region_grow::confidence_range(
            &img.data,
            dims,
            &seeds,
            2.5,
            1,
            1,
            |lower, upper| {
                use voxmark_gpu::kernels::region_grow::{
                    Connectivity, GrowRequest, RegionGrowParams,
                };
                let req = GrowRequest {
                    seeds: seeds.clone(),
                    lower,
                    upper,
                    connectivity: Connectivity::from_number(conn)?,
                    roi: None,
                    label: 1,
                };
                let p = RegionGrowParams::new(dims, img.dtype(), &req)?;
                // The session's labels decide where the region is grown (GPU or CPU twin).
                session.grow_mask(&p, &seeds)
            },
        )?;
        // ITK's range can exclude a noisy seed voxel (then nothing grows); the user clicked
        // that voxel, so the range is widened to hold every seed's value.
        let vals: Vec<f64> = seeds.iter().map(|s| img.value(s[0], s[1], s[2])).collect();
        let lo = vals.iter().cloned().fold(range.lower, f64::min);
        let hi = vals.iter().cloned().fold(range.upper, f64::max);
        self.grow.lower = lo;
        self.grow.upper = hi;
        let widened = lo < range.lower || hi > range.upper;
        self.grow_preview(st)?;
        Ok(format!(
            "auto range [{lo:.1}, {hi:.1}] (mean {:.1} ± 2.5 σ {:.1}{})",
            range.mean,
            range.sigma,
            if widened {
                ", widened to include the seeds"
            } else {
                ""
            }
        ))
    }

    /// Enter on a grow or fill-between-slices preview: it becomes a journaled op; the seeds
    /// are cleared and fill between slices stops (also when it fails). Returns the status
    /// line.
    pub fn accept_grow(&mut self, st: &mut AppState) -> Result<Option<String>> {
        let name = st.pending_op().map_or("grow", |op| op.name());
        let r = st.accept_grow();
        self.grow.seeds.clear();
        self.stop_fill_between();
        self.grow_cut.state = None;
        Ok(r?.map(|rep| format!("{name} accepted: {} voxels changed", rep.changed_voxels)))
    }
}

/// `Tool::Grow`.
pub struct GrowTool;

impl SliceTool for GrowTool {
    /// A press adds the voxel under the pointer as a seed.
    fn pointer(
        &self,
        tools: &mut ToolState,
        st: &mut AppState,
        ev: &PanePointer,
    ) -> Result<Outcome> {
        let mut out = Outcome::default();
        if let (true, Some(p)) = (ev.pressed, ev.hover) {
            let v = st.voxel_at(ev.pane, ev.size, p)?;
            let d = st.session.image().grid.dims;
            let seed = [0, 1, 2].map(|a| v[a].round().clamp(0.0, (d[a] - 1) as f64) as usize);
            out.outcome("region grow", tools.add_seed(st, seed));
        }
        Ok(out)
    }

    /// The seeds on the pane's slice, as cyan rings.
    fn overlay(
        &self,
        tools: &ToolState,
        _st: &AppState,
        view: &PaneSlice,
        _hover: Option<[f64; 3]>,
    ) -> Vec<Shape> {
        tools
            .grow
            .seeds
            .iter()
            .map(|s| s.map(|x| x as f64))
            .filter(|sv| sv[view.axis_n].round() as usize == view.slice)
            .map(|at| Shape::Circle {
                at,
                radius: Radius::Points(4.0),
                stroke: Some(2.0),
                color: Color::rgb(0, 255, 255),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grow_settings_make_an_ordered_op_only_with_seeds() {
        let mut g = GrowSettings::default();
        assert!(g.op(1, Default::default()).is_none());
        g.seeds.push([1, 2, 3]);
        g.lower = 300.0;
        g.upper = 100.0;
        match g.op(4, Default::default()) {
            Some(EditOp::Grow {
                lower,
                upper,
                label,
                connectivity,
                ..
            }) => assert_eq!((lower, upper, label, connectivity), (100.0, 300.0, 4, 6)),
            other => panic!("{other:?}"),
        }
    }
}
