//! "Measure label": a label's measurements (`qa::measure`), the crosshair moved to its RECIST
//! slice, the long and short axes drawn there (and kept as line markups on request).

use super::{voxel_of, Color, PaneSlice, Shape, TextAt, ToolState};
use crate::state::AppState;
use voxmark_edit::ops::EditOp;
use voxmark_volume::error::Result;
use voxmark_volume::markup::{Markup, MarkupEdit, MarkupKind};

/// The label measured by "Measure label" and its measurements (the RECIST axes are drawn
/// on their slice).
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredLabel {
    pub label: u8,
    pub m: voxmark_qa::measure::RegionMeasures,
}

impl ToolState {
    /// "Measure label": measures `label` (`qa::measure`), keeps the result for the panes to
    /// draw its RECIST axes, and moves the crosshair to the middle of the long axis (its
    /// slice). Returns the status line, or None when the label has no voxels.
    pub fn measure_label(&mut self, st: &mut AppState, label: u8) -> Result<Option<String>> {
        let idx: Vec<usize> = st
            .session
            .labels()?
            .iter()
            .enumerate()
            .filter(|(_, &l)| l == label)
            .map(|(i, _)| i)
            .collect();
        if idx.is_empty() {
            self.measured = None;
            return Ok(None);
        }
        let grid = st.session.image().grid;
        let m = voxmark_qa::measure::measure_region(&idx, &grid, Some(st.session.image()));
        let r = &m.recist;
        let mid = glam::DVec3::from(r.long_axis.from_ras)
            .midpoint(glam::DVec3::from(r.long_axis.to_ras))
            .to_array();
        st.set_crosshair(voxel_of(&grid, mid))?;
        let line = format!(
            "label {label}: {:.2} mL, RECIST {:.1} × {:.1} mm on slice {}, max diameter {:.1} mm",
            m.volume_ml,
            r.long_axis.length_mm,
            r.short_axis.length_mm,
            r.slice,
            m.max_diameter.length_mm
        );
        self.measured = Some(MeasuredLabel { label, m });
        Ok(Some(line))
    }

    /// "Keep the axes as lines": the two line markups (RECIST long and short, with the
    /// measured label) to add; the measurement is then forgotten.
    pub fn keep_measured_axes(&mut self) -> Vec<EditOp> {
        let Some(ml) = self.measured.take() else {
            return Vec::new();
        };
        let r = &ml.m.recist;
        [
            (&r.long_axis, "RECIST long"),
            (&r.short_axis, "RECIST short"),
        ]
        .into_iter()
        .map(|(seg, name)| {
            EditOp::Markup(MarkupEdit::Add {
                markup: Markup {
                    label: Some(ml.label),
                    name: name.into(),
                    ..Markup::new(MarkupKind::Line, vec![seg.from_ras, seg.to_ras])
                },
            })
        })
        .collect()
    }
}

/// The RECIST long (red) and short (orange) axes of the last "Measure label", on their
/// slice, with their lengths.
pub(super) fn axes_shapes(tools: &ToolState, st: &AppState, view: &PaneSlice) -> Vec<Shape> {
    let Some(ml) = &tools.measured else {
        return Vec::new();
    };
    let r = &ml.m.recist;
    if view.axis_n != r.axis || view.slice != r.slice {
        return Vec::new();
    }
    let grid = &st.session.image().grid;
    let mut out = Vec::new();
    for (seg, color) in [
        (&r.long_axis, Color::rgb(255, 90, 90)),
        (&r.short_axis, Color::rgb(255, 170, 60)),
    ] {
        let (a, b) = (voxel_of(grid, seg.from_ras), voxel_of(grid, seg.to_ras));
        out.push(Shape::Segment {
            a,
            b,
            width: 2.0,
            color,
        });
        out.push(Shape::Text {
            at: TextAt::Voxel {
                at: b,
                offset: [6.0, 6.0],
                below: true,
            },
            text: format!("{:.1} mm", seg.length_mm),
            size: 13.0,
            color,
        });
    }
    out
}
