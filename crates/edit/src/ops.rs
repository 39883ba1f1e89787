//! Edit operations as data: the one JSON format for scripts, the journal and the shell.
//!
//! Coordinates are continuous voxel coordinates `[i, j, k]` of the image grid (the index space
//! `info` documents); radii are millimetres. Example:
//! ```json
//! {"op": "paint", "shape": "sphere", "points": [[10, 12, 5], [20, 12, 5]], "radius_mm": 3,
//!  "label": 1, "range": [-100, 200], "editable": "empty_only"}
//! {"op": "paint", "shape": "disc", "plane": "axial", "slice": 40, "points": [[100, 80, 40]],
//!  "radius_mm": 5, "label": 2}
//! {"op": "polygon", "plane": "coronal", "slice": 60, "points": [[10, 5], [40, 5], [25, 30]], "label": 3}
//! {"op": "threshold", "range": [200, 500], "label": 4, "roi": [0, 0, 0, 99, 99, 99]}
//! {"op": "islands", "label": 1, "keep_largest": true}
//! {"op": "scissors", "plane": "axial", "points": [[10, 5], [40, 5], [25, 30]],
//!  "region": "outside", "action": "erase", "depth": [20, 60]}
//! {"op": "interpolate", "label": 1, "axis": "axial"}
//! {"op": "hollow", "label": 1, "thickness_mm": 2, "shell": "centred"}
//! {"op": "smooth", "label": 1, "method": "median", "radius_mm": 1.5}
//! {"op": "fill_holes", "label": 1}
//! {"op": "fill_holes", "label": 1, "per_slice": "axial"}
//! {"op": "grow_cut", "labels": [1, 2], "background": 9, "roi": [10, 10, 5, 120, 110, 90]}
//! {"op": "logical", "operation": "union", "label": 1, "other": 3}
//! {"op": "logical", "operation": "subtract", "label": 1, "other": {"mask": "vessels.nii.gz", "label": 2}}
//! {"op": "logical", "operation": "invert", "label": 1, "editable": "empty_only"}
//! {"op": "set_label", "value": 2, "name": "liver", "locked": true}
//! {"op": "undo"}
//! ```
//! Polygon points are 2D in the plane's (u, v) voxel axes as the view shows them
//! (`volume::geometry::view`: axial u = R/L axis, v = A/P axis; coronal u = R/L, v = S/I; sagittal
//! u = A/P, v = S/I), in voxel coordinates of those axes.
//!
//! `scissors` takes a polygon in a view's (u, v) voxel axes, like `polygon`, and extrudes it
//! along the view's normal through every slice (or `depth` [first, last] slice): a voxel is
//! cut when its (u, v) centre is inside the polygon by the even-odd rule (`region: inside`,
//! the default) or not (`outside`). `action: erase` (default) clears the cut voxels of `label`
//! (0: of any unlocked label); `fill` writes `label` there under `range` and `editable` as
//! painting does.
//!
//! `smooth` (per label, as Slicer's Smoothing effect): `median` — a voxel is the label iff
//! more than half of the ball of `radius_mm` around it is (outside the volume counts as not
//! the label); `opening` — erosion then dilation by the ball; `closing` — dilation then
//! erosion (outside the volume counts as neither side); `gaussian` — the label's 0/1 mask
//! blurred by a Gaussian of standard deviation `radius_mm` (scipy's kernel: 4 σ radius,
//! outside the volume 0; its taps rounded to 1/1024 so the blur is exact on both twins) and
//! kept where the blur exceeds 1/2. The label is given where the result
//! holds it and the current label is writable (`editable`), and cleared where it does not.
//!
//! `hollow` keeps a shell of `label`: `inside` — the label's voxels within `thickness_mm`
//! (physical distance, spacing honoured) of a voxel of another value; `outside` — the voxels of
//! other values within `thickness_mm` of the label (written under `editable`), the label's
//! own voxels cleared; `centred` — both, each within `thickness_mm / 2`. Voxels outside the
//! volume count as neither (as for `erode`).
//!
//! `fill_holes` gives `label` to every voxel not reachable from the outside through voxels
//! not of the label — 6-connected in 3D, or 4-connected within each slice normal to the
//! `per_slice` view — as `scipy.ndimage.binary_fill_holes` does; hole voxels of other labels
//! are overwritten only where `editable` allows (never locked ones).
//!
//! `interpolate` (fill between slices) fills, for `label`, every slice along the normal voxel
//! axis of the `axis` view that holds none of it and lies between two slices that hold some
//! ("key slices"); key slices and slices outside the first..last key slice never change. Shapes
//! are interpolated from their signed distance maps, aligned by centroid, with overlapping or
//! nearby components put in correspondence (splits, merges, moving regions): the method is
//! written out in `gpu::kernels::interpolate`. `editable` applies as for painting.
//!
//! `grow_cut` (grow from seeds) partitions the unlabelled voxels of the ROI (default: the
//! seeds' bounding box plus 10 % of its extent, at least 5 voxels, per side) between the seed
//! labels — the voxels already holding one of `labels` or `background` — by the cheapest
//! 26-connected path, a step costing the absolute intensity difference (Fast GrowCut, the
//! algorithm of ITK's `FastGrowCut` and Slicer's "Grow from seeds"); on equal cost the smaller
//! label wins. Voxels of any other label, and locked ones, are walls: never crossed, never
//! changed. Only unlabelled voxels are written; the `background` label is then cleared from
//! the ROI. It needs seeds of at least two labels.
//!
//! `logical` (Slicer's Logical operators) changes `label` L using the voxels of label `other`
//! — of this label map (`"other": 3`) or of a second label map on the image's grid
//! (`"other": {"mask": "pred.nii.gz", "label": 3}`: another annotator's mask, a prediction, a
//! body mask). `union`: those voxels become L; `intersect`: L is cleared where they are not;
//! `subtract`: L is cleared where they are; `copy`: L becomes exactly them (union, then
//! intersect); `invert` (no `other`): every voxel not L becomes L and L is cleared. Voxels
//! become L only where `editable` allows (never over a locked label); clearing needs L
//! unlocked; with `range`, only voxels whose image value lies in it change. In one label map
//! a voxel holds one label, so `union` moves the other label's voxels into L, `intersect`
//! clears L and `subtract` changes nothing: those two are meant for a second map. When the op
//! is journaled, the second map's absolute path and SHA-256 are recorded in it; replaying it
//! after the file has changed is refused (the message names the file).

use serde::{Deserialize, Serialize};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::geometry::view::ViewKind;

/// Brush shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Sphere,
    Disc,
}

/// Which voxels an operation may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Editable {
    #[default]
    Everywhere,
    EmptyOnly,
    Inside(u8),
}

/// Which side of a scissors polygon is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScissorsRegion {
    #[default]
    Inside,
    Outside,
}

/// What scissors do to the cut region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScissorsAction {
    #[default]
    Erase,
    Fill,
}

/// How `smooth` smooths a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmoothMethod {
    Median,
    Opening,
    Closing,
    /// Blur by a Gaussian of standard deviation `radius_mm`, keep where it exceeds 1/2.
    Gaussian,
}

/// A logical operation on a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogicalOperation {
    Union,
    Intersect,
    Subtract,
    Invert,
    Copy,
}

/// The modifier of a logical operation: a label of this map, or a label of a second label
/// map on the image's grid (its SHA-256 is recorded when the op is journaled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LogicalOther {
    Label(u8),
    Mask {
        mask: std::path::PathBuf,
        label: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
}

/// Where a hollow label's shell lies relative to its old boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Shell {
    #[default]
    Inside,
    Outside,
    Centred,
}

/// A brush stroke (paint or erase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stroke {
    pub shape: Shape,
    /// Disc only: the view plane and the slice index along its normal voxel axis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plane: Option<ViewKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<usize>,
    /// Polyline of voxel coordinates; one point is a stamp.
    pub points: Vec<[f64; 3]>,
    pub radius_mm: f64,
    /// Paint: the label written. Erase: only this label is erased (0 = any label).
    #[serde(default)]
    pub label: u8,
    /// Only voxels whose image value lies in [lo, hi] are changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[f64; 2]>,
    #[serde(default)]
    pub editable: Editable,
}

/// One edit operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum EditOp {
    Paint(Stroke),
    Erase(Stroke),
    Polygon {
        plane: ViewKind,
        slice: usize,
        points: Vec<[f64; 2]>,
        label: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        range: Option<[f64; 2]>,
        #[serde(default)]
        editable: Editable,
    },
    Threshold {
        range: [f64; 2],
        label: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        roi: Option<[usize; 6]>,
        #[serde(default)]
        editable: Editable,
    },
    Grow {
        seeds: Vec<[usize; 3]>,
        lower: f64,
        upper: f64,
        #[serde(default = "six")]
        connectivity: u32,
        label: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        roi: Option<[usize; 6]>,
        #[serde(default)]
        editable: Editable,
    },
    Islands {
        label: u8,
        #[serde(default)]
        keep_largest: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_voxels: Option<usize>,
        #[serde(default = "six")]
        connectivity: u32,
    },
    ClearLabel {
        label: u8,
    },
    MergeLabels {
        from: Vec<u8>,
        into: u8,
    },
    Dilate {
        label: u8,
        radius_mm: f64,
        #[serde(default)]
        editable: Editable,
    },
    Erode {
        label: u8,
        radius_mm: f64,
    },
    /// A polygon drawn in a view, extruded through the volume along the view's normal
    /// (optionally only slices `depth[0]..=depth[1]`): erase (`label`, 0 = any unlocked
    /// label) or fill with `label` the voxels inside (or outside) it.
    Scissors {
        plane: ViewKind,
        points: Vec<[f64; 2]>,
        #[serde(default)]
        region: ScissorsRegion,
        #[serde(default)]
        action: ScissorsAction,
        #[serde(default)]
        label: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        depth: Option<[usize; 2]>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        range: Option<[f64; 2]>,
        #[serde(default)]
        editable: Editable,
    },
    /// Smooth `label` by a ball of `radius_mm`: median (majority), opening or closing.
    Smooth {
        label: u8,
        method: SmoothMethod,
        radius_mm: f64,
        #[serde(default)]
        editable: Editable,
    },
    /// Replace `label` by a shell `thickness_mm` thick along its boundary (inside it, outside
    /// it, or centred on it).
    Hollow {
        label: u8,
        thickness_mm: f64,
        #[serde(default)]
        shell: Shell,
        #[serde(default)]
        editable: Editable,
    },
    /// Fill the holes of `label`: in 3D, or slice by slice along the normal of `per_slice`.
    FillHoles {
        label: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        per_slice: Option<ViewKind>,
        #[serde(default)]
        editable: Editable,
    },
    /// Fill between slices: the empty slices of `label` between two slices that hold it,
    /// along the normal of the `axis` view (`gpu::kernels::interpolate`).
    Interpolate {
        label: u8,
        axis: ViewKind,
        #[serde(default)]
        editable: Editable,
    },
    /// Grow from seeds (Fast GrowCut): the voxels of `labels` and of `background` are seeds;
    /// every unlabelled voxel of the ROI takes the label of the seed that reaches it along the
    /// cheapest path (`gpu::kernels::grow_cut`); `background` is cleared from the ROI afterwards.
    GrowCut {
        labels: Vec<u8>,
        background: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        roi: Option<[usize; 6]>,
    },
    /// Change `label` by a logical operation with the voxels of `other` (a label of this map
    /// or of a second map on the same grid); `invert` takes no `other`.
    Logical {
        operation: LogicalOperation,
        label: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        other: Option<LogicalOther>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        range: Option<[f64; 2]>,
        #[serde(default)]
        editable: Editable,
    },
    SetLabel {
        value: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        color: Option<[f32; 3]>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visible: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        locked: Option<bool>,
    },
    /// A markup edit (`volume::markup::MarkupEdit`, its fields beside `"op": "markup"`):
    /// `{"op": "markup", "action": "add", "markup": {...}}`, `move_point`, `set_points`,
    /// `delete`, `set_props`. Journaled with the markup id an add was given.
    Markup(voxmark_volume::markup::MarkupEdit),
    Undo,
    Redo,
}

fn six() -> u32 {
    6
}

impl EditOp {
    /// Short name (journal "tool" default, messages).
    pub fn name(&self) -> &'static str {
        match self {
            EditOp::Paint(_) => "paint",
            EditOp::Erase(_) => "erase",
            EditOp::Polygon { .. } => "polygon",
            EditOp::Threshold { .. } => "threshold",
            EditOp::Grow { .. } => "grow",
            EditOp::Islands { .. } => "islands",
            EditOp::ClearLabel { .. } => "clear_label",
            EditOp::MergeLabels { .. } => "merge_labels",
            EditOp::Dilate { .. } => "dilate",
            EditOp::Erode { .. } => "erode",
            EditOp::Interpolate { .. } => "interpolate",
            EditOp::Scissors { .. } => "scissors",
            EditOp::FillHoles { .. } => "fill_holes",
            EditOp::Hollow { .. } => "hollow",
            EditOp::Smooth { .. } => "smooth",
            EditOp::GrowCut { .. } => "grow_cut",
            EditOp::Logical { .. } => "logical",
            EditOp::SetLabel { .. } => "set_label",
            EditOp::Markup(_) => "markup",
            EditOp::Undo => "undo",
            EditOp::Redo => "redo",
        }
    }

    /// Checks what can be checked without the volume.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(format!("{}: {m}", self.name())));
        let check_range = |r: &Option<[f64; 2]>| -> Result<()> {
            match r {
                Some([lo, hi]) if lo.is_nan() || hi.is_nan() || lo > hi => {
                    Err(Error::Invalid(format!("range [{lo}, {hi}] is empty")))
                }
                _ => Ok(()),
            }
        };
        match self {
            EditOp::Paint(s) | EditOp::Erase(s) => {
                if s.points.is_empty() {
                    return bad("a stroke needs at least one point".into());
                }
                if !(s.radius_mm > 0.0 && s.radius_mm.is_finite()) {
                    return bad(format!("radius_mm must be positive, got {}", s.radius_mm));
                }
                if matches!(self, EditOp::Paint(_)) && s.label == 0 {
                    return bad("paint needs a label 1..=255 (use erase to clear)".into());
                }
                if s.shape == Shape::Disc && s.plane.is_none() {
                    return bad("a disc needs \"plane\" (axial, coronal or sagittal)".into());
                }
                if s.points.iter().flatten().any(|x| !x.is_finite()) {
                    return bad("points must be finite".into());
                }
                check_range(&s.range)
            }
            EditOp::Polygon {
                points,
                label,
                range,
                ..
            } => {
                if points.len() < 3 {
                    return bad(format!(
                        "a polygon needs at least 3 points, got {}",
                        points.len()
                    ));
                }
                if *label == 0 {
                    return bad("label must be 1..=255".into());
                }
                check_range(range)
            }
            EditOp::Threshold { range, label, .. } => {
                if *label == 0 {
                    return bad("label must be 1..=255".into());
                }
                check_range(&Some(*range))
            }
            EditOp::Grow {
                label,
                lower,
                upper,
                connectivity,
                seeds,
                ..
            } => {
                if *label == 0
                    || seeds.is_empty()
                    || lower > upper
                    || ![6, 18, 26].contains(connectivity)
                {
                    return bad(
                        "needs label 1..=255, seeds, lower <= upper, connectivity 6/18/26".into(),
                    );
                }
                Ok(())
            }
            EditOp::Islands {
                label,
                keep_largest,
                min_voxels,
                connectivity,
            } => {
                if *label == 0 || ![6, 18, 26].contains(connectivity) {
                    return bad("needs label 1..=255 and connectivity 6/18/26".into());
                }
                if !keep_largest && min_voxels.is_none() {
                    return bad("give keep_largest: true or min_voxels: N".into());
                }
                Ok(())
            }
            EditOp::Dilate {
                radius_mm, label, ..
            }
            | EditOp::Hollow {
                thickness_mm: radius_mm,
                label,
                ..
            }
            | EditOp::Smooth {
                radius_mm, label, ..
            }
            | EditOp::Erode { radius_mm, label } => {
                if *label == 0 || !(*radius_mm > 0.0 && radius_mm.is_finite()) {
                    return bad("needs label 1..=255 and a positive radius_mm".into());
                }
                Ok(())
            }
            EditOp::Interpolate { label, .. } if *label == 0 => bad("needs label 1..=255".into()),
            EditOp::Logical {
                operation,
                label,
                other,
                range,
                ..
            } => {
                if *label == 0 {
                    return bad("needs label 1..=255".into());
                }
                match (operation, other) {
                    (LogicalOperation::Invert, Some(_)) => {
                        return bad("invert takes no \"other\"".into())
                    }
                    (LogicalOperation::Invert, None) => {}
                    (_, None) => {
                        return bad(format!(
                            "{} needs \"other\": a label (3) or a label of a second map \
                             ({{\"mask\": \"pred.nii.gz\", \"label\": 3}})",
                            operation.name()
                        ))
                    }
                    (_, Some(LogicalOther::Mask { mask, .. })) if mask.as_os_str().is_empty() => {
                        return bad("other.mask is an empty path".into())
                    }
                    _ => {}
                }
                check_range(range)
            }
            EditOp::Interpolate { .. } => Ok(()),
            EditOp::MergeLabels { into, .. } if *into == 0 => {
                bad("merge into label 0: use clear_label".into())
            }
            EditOp::MergeLabels { .. } => Ok(()),
            // Every value is a valid request here; what depends on the volume (locks, a ROI
            // inside the grid, the label table) is checked when the op is lowered.
            EditOp::ClearLabel { .. }
            | EditOp::Scissors { .. }
            | EditOp::FillHoles { .. }
            | EditOp::GrowCut { .. }
            | EditOp::SetLabel { .. }
            | EditOp::Undo
            | EditOp::Redo => Ok(()),
            // A markup edit is checked against the markup set it applies to.
            EditOp::Markup(_) => Ok(()),
        }
    }
}

impl LogicalOperation {
    pub fn name(self) -> &'static str {
        match self {
            LogicalOperation::Union => "union",
            LogicalOperation::Intersect => "intersect",
            LogicalOperation::Subtract => "subtract",
            LogicalOperation::Invert => "invert",
            LogicalOperation::Copy => "copy",
        }
    }
}

impl EditOp {
    /// The op as it is journaled: a logical op's second map gets its absolute path and the
    /// SHA-256 of its bytes, so a replay uses the same file or refuses. Other ops as they are.
    pub fn pinned(&self) -> Result<std::borrow::Cow<'_, EditOp>> {
        let EditOp::Logical {
            operation,
            label,
            other:
                Some(LogicalOther::Mask {
                    mask,
                    label: other,
                    sha256: None,
                }),
            range,
            editable,
        } = self
        else {
            return Ok(std::borrow::Cow::Borrowed(self));
        };
        let abs = std::fs::canonicalize(mask).map_err(|e| Error::io(mask, e))?;
        let bytes = std::fs::read(&abs).map_err(|e| Error::io(&abs, e))?;
        Ok(std::borrow::Cow::Owned(EditOp::Logical {
            operation: *operation,
            label: *label,
            other: Some(LogicalOther::Mask {
                mask: abs,
                label: *other,
                sha256: Some(voxmark_volume::fs::sha256_hex(&bytes)),
            }),
            range: *range,
            editable: *editable,
        }))
    }
}

/// Parses an ops file: a JSON array of ops, one op object, or JSON lines whose objects are
/// either ops or journal entries (`{"op": {...}, ...}`). Line-level errors name the line.
pub fn parse_ops(text: &str, path: &std::path::Path) -> Result<Vec<EditOp>> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let ops: Vec<EditOp> =
            serde_json::from_str(text).map_err(|e| Error::format(path, format!("ops: {e}")))?;
        return Ok(ops);
    }
    let mut ops = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::format(path, format!("line {}: {e}", n + 1)))?;
        let op_value = match v.get("op") {
            Some(inner) if inner.is_object() => inner.clone(),
            _ => v,
        };
        let op: EditOp = serde_json::from_value(op_value)
            .map_err(|e| Error::format(path, format!("line {}: {e}", n + 1)))?;
        ops.push(op);
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_errors() {
        let text = r#"[{"op":"paint","shape":"sphere","points":[[1,2,3]],"radius_mm":2,"label":1},
                       {"op":"polygon","plane":"axial","slice":3,"points":[[0,0],[4,0],[0,4]],"label":2,"editable":{"inside":1}},
                       {"op":"undo"}]"#;
        let ops = parse_ops(text, std::path::Path::new("x.json")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ops.len(), 3);
        let again: Vec<EditOp> =
            serde_json::from_str(&serde_json::to_string(&ops).unwrap_or_default())
                .unwrap_or_default();
        assert_eq!(again, ops);
        let err = parse_ops(r#"[{"op":"explode"}]"#, std::path::Path::new("x.json")).err();
        assert!(err
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("explode"));
        let poly = EditOp::Polygon {
            plane: ViewKind::Axial,
            slice: 0,
            points: vec![[0.0, 0.0], [1.0, 1.0]],
            label: 1,
            range: None,
            editable: Editable::Everywhere,
        };
        assert!(poly.validate().is_err());
    }
}
