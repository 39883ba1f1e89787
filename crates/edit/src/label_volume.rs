//! The label volume as the editing engine holds it: GPU-resident labels, a label table, and
//! an optional preview layer (a temporary mask drawn over the slices, e.g. a region-grow
//! result) that can be committed to a label or discarded.

use voxmark_gpu::kernels::commit_mask::{CommitMaskKernel, CommitMaskParams};
use voxmark_gpu::residency::PackedU8Volume;
use voxmark_gpu::GpuContext;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::label_table::{locked_set, LabelInfo};

/// Labels on the GPU plus their table and preview.
pub struct LabelVolume {
    pub labels: PackedU8Volume,
    pub table: Vec<LabelInfo>,
    preview: Option<PackedU8Volume>,
    commit: CommitMaskKernel,
}

impl LabelVolume {
    /// An empty label volume of `dims`.
    pub fn new(ctx: &GpuContext, dims: [usize; 3]) -> Result<Self> {
        Ok(Self {
            labels: PackedU8Volume::zeros(ctx, dims)?,
            table: Vec::new(),
            preview: None,
            commit: CommitMaskKernel::new(ctx)?,
        })
    }

    /// Label volume initialised from u8 labels (i fastest).
    pub fn from_u8(ctx: &GpuContext, dims: [usize; 3], data: &[u8]) -> Result<Self> {
        Ok(Self {
            labels: PackedU8Volume::upload(ctx, dims, data)?,
            table: Vec::new(),
            preview: None,
            commit: CommitMaskKernel::new(ctx)?,
        })
    }

    /// Shows `mask` (same dims) as the preview layer, replacing any previous one.
    pub fn set_preview(&mut self, mask: PackedU8Volume) -> Result<()> {
        if mask.dims != self.labels.dims {
            return Err(Error::Invalid(
                "preview mask and labels differ in dims".into(),
            ));
        }
        self.preview = Some(mask);
        Ok(())
    }

    /// The preview layer, if any (the slice renderer draws it).
    pub fn preview(&self) -> Option<&PackedU8Volume> {
        self.preview.as_ref()
    }

    /// Discards the preview (Cancel).
    pub fn clear_preview(&mut self) {
        self.preview = None;
    }

    /// Locked label values as a 256-entry table.
    pub fn locked(&self) -> [bool; 256] {
        locked_set(&self.table)
    }

    /// Writes `value` where the preview is set (locked labels untouched), drops the preview
    /// and returns the number of voxels changed (Accept). Errors when there is no preview.
    pub fn commit_preview(&mut self, ctx: &GpuContext, value: u8) -> Result<u64> {
        let Some(mask) = self.preview.take() else {
            return Err(Error::NotFound("no preview to commit".into()));
        };
        let p = CommitMaskParams::new(self.labels.dims, value, &self.locked());
        self.commit.run(ctx, &p, &mask, &self.labels)
    }
}
