//! The Tools menu's operations on the active label (keep the largest island, remove small
//! ones, dilate, erode, fill holes, smooth, hollow, logical operations with another label or
//! a second label map, threshold) as the ops they make from the tools' settings.

use super::ToolState;
use voxmark_edit::ops::{EditOp, Editable, LogicalOperation, LogicalOther};
use voxmark_volume::geometry::view::ViewKind;

/// The Tools menu's operations on the active label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleanup {
    KeepLargest,
    RemoveSmall,
    Threshold,
    Dilate,
    Erode,
    Clear,
    /// Smooth by the morphology radius.
    Smooth(voxmark_edit::ops::SmoothMethod),
    /// Hollow by the morphology radius (the shell's thickness).
    Hollow(voxmark_edit::ops::Shell),
    /// Fill holes in 3D / in each axial slice.
    FillHoles3d,
    FillHolesAxial,
    /// A logical operation with the other label (of this map or of a second map).
    Logical(LogicalOperation),
}

impl ToolState {
    /// The clean-up op a Tools-menu entry makes for `label` with these settings.
    pub fn cleanup_op(&self, kind: Cleanup, label: u8, editable: Editable) -> EditOp {
        match kind {
            Cleanup::KeepLargest => EditOp::Islands {
                label,
                keep_largest: true,
                min_voxels: None,
                connectivity: 6,
            },
            Cleanup::RemoveSmall => EditOp::Islands {
                label,
                keep_largest: false,
                min_voxels: Some(self.islands_min_voxels),
                connectivity: 6,
            },
            Cleanup::Threshold => {
                let r = self.threshold;
                EditOp::Threshold {
                    range: [r[0].min(r[1]), r[0].max(r[1])],
                    label,
                    roi: None,
                    editable,
                }
            }
            Cleanup::Dilate => EditOp::Dilate {
                label,
                radius_mm: self.morph_radius_mm,
                editable,
            },
            Cleanup::Erode => EditOp::Erode {
                label,
                radius_mm: self.morph_radius_mm,
            },
            Cleanup::Clear => EditOp::ClearLabel { label },
            Cleanup::Smooth(method) => EditOp::Smooth {
                label,
                method,
                radius_mm: self.morph_radius_mm,
                editable,
            },
            Cleanup::Hollow(shell) => EditOp::Hollow {
                label,
                thickness_mm: self.morph_radius_mm,
                shell,
                editable,
            },
            Cleanup::FillHoles3d => EditOp::FillHoles {
                label,
                per_slice: None,
                editable,
            },
            Cleanup::FillHolesAxial => EditOp::FillHoles {
                label,
                per_slice: Some(ViewKind::Axial),
                editable,
            },
            Cleanup::Logical(operation) => {
                let map = self.logical_map.trim();
                let other = match operation {
                    LogicalOperation::Invert => None,
                    _ if map.is_empty() => Some(LogicalOther::Label(self.logical_other)),
                    _ => Some(LogicalOther::Mask {
                        mask: map.into(),
                        label: self.logical_other,
                        sha256: None,
                    }),
                };
                EditOp::Logical {
                    operation,
                    label,
                    other,
                    range: None,
                    editable,
                }
            }
        }
    }
}
