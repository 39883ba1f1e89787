//! The desktop shell's state and behaviour without UI types: three slice panes (axial,
//! coronal, sagittal) with slice, zoom and pan, a linked crosshair, the window, and the
//! brush — every user action is a method here, edits go through the editing session
//! (journaled, undoable). The egui layer only turns events into these calls and draws the
//! textures the renderers produce; interaction tests drive these methods directly.
//!
//! Screen positions are pixels from a pane's top-left corner (pixel centres at +0.5).
//! Navigation follows 3D Slicer / ITK-SNAP: the wheel moves one slice, Ctrl+wheel zooms
//! about the cursor, middle-drag pans, right-drag changes the window (horizontal: width,
//! vertical: level), a click moves the crosshair and the other panes follow it.

use voxmark_edit::ops::{EditOp, Editable, Shape, Stroke};
use voxmark_edit::session::{GrowPreview, OpReport, Session};
use voxmark_volume::error::Result;
use voxmark_volume::geometry::view::{ViewGeometry, ViewKind};
use voxmark_volume::WindowPreset;

/// One slice pane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlicePane {
    pub kind: ViewKind,
    /// Index along the pane's normal voxel axis.
    pub slice: usize,
    pub zoom: f64,
    pub pan_px: [f64; 2],
}

/// Brush settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Brush {
    pub radius_mm: f64,
    /// Disc in the pane's plane, or a 3D sphere.
    pub shape: Shape,
    pub label: u8,
    pub editable: Editable,
    /// Intensity-limited painting.
    pub range: Option<[f64; 2]>,
}

/// The shell's state around one editing session.
pub struct AppState<'a> {
    pub session: Session<'a>,
    pub panes: [SlicePane; 3],
    /// Voxel coordinates of the crosshair.
    pub crosshair: [f64; 3],
    pub window: WindowPreset,
    pub brush: Brush,
    /// Points of the stroke in progress (voxel coordinates) and the pane it is drawn in.
    stroke: Option<(usize, Vec<[f64; 3]>, bool)>,
    /// Edits since the last save.
    pub dirty: bool,
    /// A grow or fill between slices waiting for Accept / Cancel: the op and its preview.
    grow: Option<(EditOp, GrowPreview)>,
    /// Counts label changes (ops, undo/redo, previews): views redraw when it moves.
    pub version: u64,
    /// Counts changes of the label volume itself (ops, undo/redo; not previews): the
    /// statistics and the 3D brick map are rebuilt when it moves.
    pub labels_version: u64,
}

impl<'a> AppState<'a> {
    /// Panes at the middle slices, crosshair at the centre, the given window.
    pub fn new(session: Session<'a>, window: WindowPreset) -> Result<Self> {
        // The shell's logical ops may name a second label map: read through io's reader.
        voxmark_edit::lower::register_map_reader(voxmark_io::nifti::read_nifti);
        let grid = session.image().grid;
        let d = grid.dims;
        let mut panes =
            [ViewKind::Axial, ViewKind::Coronal, ViewKind::Sagittal].map(|kind| SlicePane {
                kind,
                slice: 0,
                zoom: 1.0,
                pan_px: [0.0, 0.0],
            });
        for p in &mut panes {
            // The geometry decides which voxel axis is normal to each pane.
            let g = ViewGeometry::new(&grid, p.kind, None, Some([2, 2]))?;
            p.slice = g.slice;
        }
        Ok(Self {
            session,
            panes,
            crosshair: [0, 1, 2].map(|a| (d[a] / 2) as f64),
            window,
            brush: Brush {
                radius_mm: 5.0,
                shape: Shape::Disc,
                label: 1,
                editable: Editable::Everywhere,
                range: None,
            },
            stroke: None,
            dirty: false,
            grow: None,
            version: 0,
            labels_version: 0,
        })
    }

    /// The geometry of pane `i` at `size` pixels (zoom and pan applied).
    pub fn geometry(&self, i: usize, size: [u32; 2]) -> Result<ViewGeometry> {
        let p = &self.panes[i];
        ViewGeometry::zoomed(
            &self.session.image().grid,
            p.kind,
            Some(p.slice),
            Some(size),
            p.zoom,
            p.pan_px,
        )
    }

    /// Voxel coordinates under `screen` in pane `i`.
    pub fn voxel_at(&self, i: usize, size: [u32; 2], screen: [f64; 2]) -> Result<[f64; 3]> {
        Ok(self.geometry(i, size)?.voxel_at(screen))
    }

    fn normal_axis(&self, i: usize) -> Result<usize> {
        Ok(self.geometry(i, [2, 2])?.axis_n)
    }

    /// Wheel: `steps` slices through pane `i` (clamped); the crosshair follows.
    pub fn scroll(&mut self, i: usize, steps: i64) -> Result<()> {
        let a = self.normal_axis(i)?;
        let n = self.session.image().grid.dims[a] as i64;
        let s = (self.panes[i].slice as i64 + steps).clamp(0, n - 1) as usize;
        self.panes[i].slice = s;
        self.crosshair[a] = s as f64;
        Ok(())
    }

    /// Ctrl+wheel: zoom pane `i` by `factor` keeping the voxel under `screen` in place.
    pub fn zoom(&mut self, i: usize, size: [u32; 2], screen: [f64; 2], factor: f64) -> Result<()> {
        let before = self.voxel_at(i, size, screen)?;
        let p = &mut self.panes[i];
        let z = (p.zoom * factor).clamp(0.1, 64.0);
        // Screen offset from the centre scales with the zoom; move the pan so the point
        // under the cursor stays under it.
        let c = [f64::from(size[0]) / 2.0, f64::from(size[1]) / 2.0];
        let k = z / p.zoom;
        for a in 0..2 {
            let rel = screen[a] - c[a] - p.pan_px[a];
            p.pan_px[a] += rel - rel * k;
        }
        p.zoom = z;
        let after = self.voxel_at(i, size, screen)?;
        debug_assert!((0..3).all(|a| (before[a] - after[a]).abs() < 1e-3));
        Ok(())
    }

    /// Middle-drag: move pane `i` by `delta` pixels.
    pub fn pan(&mut self, i: usize, delta: [f64; 2]) {
        self.panes[i].pan_px[0] += delta[0];
        self.panes[i].pan_px[1] += delta[1];
    }

    /// Right-drag by `delta` pixels: right widens the window, down raises the level (one
    /// pixel = 0.5 % of the current width, at least one unit).
    pub fn drag_window(&mut self, delta: [f64; 2]) {
        let step = (self.window.width * 0.005).max(1.0);
        self.window.width = (self.window.width + delta[0] * step).max(1.0);
        self.window.center += delta[1] * step;
    }

    /// Click: move the crosshair to the voxel under `screen` in pane `i`; the other panes
    /// show the slices through it.
    pub fn click(&mut self, i: usize, size: [u32; 2], screen: [f64; 2]) -> Result<()> {
        let v = self.voxel_at(i, size, screen)?;
        self.set_crosshair(v)
    }

    /// Moves the crosshair to voxel coordinates `v` (rounded, clamped into the volume) and
    /// every pane to the slices through it (3D pick, jumps to comments/disagreements).
    pub fn set_crosshair(&mut self, v: [f64; 3]) -> Result<()> {
        let d = self.session.image().grid.dims;
        for a in 0..3 {
            self.crosshair[a] = v[a].round().clamp(0.0, (d[a] - 1) as f64);
        }
        for j in 0..3 {
            let a = self.normal_axis(j)?;
            self.panes[j].slice = self.crosshair[a] as usize;
        }
        Ok(())
    }

    /// Brush or eraser press in pane `i` at `screen`.
    pub fn stroke_begin(
        &mut self,
        i: usize,
        size: [u32; 2],
        screen: [f64; 2],
        erase: bool,
    ) -> Result<()> {
        let v = self.voxel_at(i, size, screen)?;
        self.stroke = Some((i, vec![v], erase));
        Ok(())
    }

    /// Brush drag: the polyline grows (the engine fills between points, so fast moves
    /// leave no gaps).
    pub fn stroke_extend(&mut self, size: [u32; 2], screen: [f64; 2]) -> Result<()> {
        let Some((i, _, _)) = &self.stroke else {
            return Ok(());
        };
        let v = self.voxel_at(*i, size, screen)?;
        if let Some((_, pts, _)) = &mut self.stroke {
            if pts.last() != Some(&v) {
                pts.push(v);
            }
        }
        Ok(())
    }

    /// The op the stroke in progress would apply (for the outline preview and for tests).
    pub fn stroke_op(&self) -> Option<EditOp> {
        let (i, pts, erase) = self.stroke.as_ref()?;
        let p = &self.panes[*i];
        let s = Stroke {
            shape: self.brush.shape,
            plane: (self.brush.shape == Shape::Disc).then_some(p.kind),
            slice: (self.brush.shape == Shape::Disc).then_some(p.slice),
            points: pts.clone(),
            radius_mm: self.brush.radius_mm,
            label: if *erase { 0 } else { self.brush.label },
            range: self.brush.range,
            editable: self.brush.editable,
        };
        Some(if *erase {
            EditOp::Erase(s)
        } else {
            EditOp::Paint(s)
        })
    }

    /// Release: the stroke becomes one journaled, undoable op.
    pub fn stroke_end(&mut self) -> Result<Option<OpReport>> {
        let Some(op) = self.stroke_op() else {
            return Ok(None);
        };
        self.stroke = None;
        self.apply(&op).map(Some)
    }

    /// Region grow from a click in pane `i` (connected threshold in [lower, upper]): shows a
    /// preview (replacing any earlier one) without changing the labels.
    #[allow(clippy::too_many_arguments)]
    pub fn grow_preview(
        &mut self,
        i: usize,
        size: [u32; 2],
        screen: [f64; 2],
        lower: f64,
        upper: f64,
        connectivity: u32,
    ) -> Result<&GrowPreview> {
        let v = self.voxel_at(i, size, screen)?;
        let d = self.session.image().grid.dims;
        let seed = [0, 1, 2].map(|a| v[a].round().clamp(0.0, (d[a] - 1) as f64) as usize);
        let op = EditOp::Grow {
            seeds: vec![seed],
            lower,
            upper,
            connectivity,
            label: self.brush.label,
            roi: None,
            editable: self.brush.editable,
        };
        self.grow_preview_op(op)
    }

    /// Shows the preview of a grow op (any seeds, range, connectivity) or a fill between
    /// slices, replacing any earlier one, without changing the labels.
    pub fn grow_preview_op(&mut self, op: EditOp) -> Result<&GrowPreview> {
        let preview = self.session.preview(&op)?;
        self.version += 1;
        Ok(&self.grow.insert((op, preview)).1)
    }

    /// Shows a preview made elsewhere (grow from seeds) for `op`, replacing any earlier one.
    pub fn set_preview(&mut self, op: EditOp, preview: GrowPreview) {
        self.version += 1;
        self.grow = Some((op, preview));
    }

    /// The grow preview, if one is waiting.
    pub fn grow_pending(&self) -> Option<&GrowPreview> {
        self.grow.as_ref().map(|g| &g.1)
    }

    /// The previewed op, if one is waiting.
    pub fn pending_op(&self) -> Option<&EditOp> {
        self.grow.as_ref().map(|g| &g.0)
    }

    /// Accept: the previewed grow (or fill) becomes a journaled, undoable op.
    /// A grow commits the region its preview already holds (grown once per seed or range
    /// change, not again on Enter).
    pub fn accept_grow(&mut self) -> Result<Option<OpReport>> {
        let Some((op, preview)) = self.grow.take() else {
            return Ok(None);
        };
        let r = self
            .session
            .apply_previewed(&op, &preview, "voxmark view")?;
        self.edited();
        Ok(Some(r))
    }

    /// Cancel: the preview disappears, the labels are untouched.
    pub fn cancel_grow(&mut self) {
        if self.grow.take().is_some() {
            self.version += 1;
        }
    }

    /// Applies an op through the session (journaled when the session has a journal).
    pub fn apply(&mut self, op: &EditOp) -> Result<OpReport> {
        let r = self.session.apply(op, "voxmark view")?;
        self.edited();
        Ok(r)
    }

    /// After an applied op: unsaved, and every view and the labels' users refresh.
    fn edited(&mut self) {
        self.dirty = true;
        self.version += 1;
        self.labels_version += 1;
    }

    /// Ctrl+Z.
    pub fn undo(&mut self) -> Result<OpReport> {
        self.apply(&EditOp::Undo)
    }

    /// Ctrl+Y / Ctrl+Shift+Z.
    pub fn redo(&mut self) -> Result<OpReport> {
        self.apply(&EditOp::Redo)
    }
}
