//! Fill holes of a label: the voxels not of the label that cannot be reached from outside
//! through voxels not of the label — 6-connected in 3D, or 4-connected within each slice along
//! a view's normal — take the label (as `scipy.ndimage.binary_fill_holes` with its default
//! structuring element, in 3D or slice by slice).
//!
//! The work is bounded by the label's bounding box grown by one voxel (clipped to the volume):
//! everything outside that box is reachable from the volume's border without meeting the
//! label, so the box's boundary voxels that are not the label are the "outside" seeds (in
//! per-slice mode, only the boundary across the slice's own axes). Inside the box the
//! reachable set is unique, so the twins agree exactly: [`FillHolesState::solve_cpu`] is a
//! breadth-first flood, the GPU kernel (`shaders/fill_holes.wgsl`, [`FillHolesKernel`]) a
//! block-local fixed point (tiles in workgroup memory, ping-pong passes until one batch
//! changes nothing), as `gpu::kernels::grow_cut` does for its labels.

use crate::{compute, readback, shaders, GpuContext};
use bytemuck::{Pod, Zeroable};
use voxmark_volume::error::{Error, Result};

const UNREACHED: u32 = 0;
const REACHED: u32 = 1;
const LABEL: u32 = 2;

/// A fill-holes request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FillHolesRequest {
    pub dims: [usize; 3],
    pub label: u8,
    /// Per-slice mode: the voxel axis normal to the slices; None: 3D.
    pub slice_axis: Option<usize>,
    /// Labels a hole voxel may hold and still be filled (editable policy minus locked).
    pub writable: [bool; 256],
}

/// Keep in sync with `shaders/fill_holes.wgsl` (struct Params).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct FillHolesParams {
    /// Box size x, y, z; the most local sweeps per pass.
    pub size: [u32; 4],
    /// Slice axis (0, 1, 2) or 3 for 3D; unused ×3.
    pub misc: [u32; 4],
}
const _: () = assert!(std::mem::size_of::<FillHolesParams>() == 32);

/// The box around the label and its reachability state (i fastest within the box).
#[derive(Debug, Clone, PartialEq)]
pub struct FillHolesState {
    pub lo: [usize; 3],
    pub size: [usize; 3],
    pub state: Vec<u32>,
    pub params: FillHolesParams,
}

impl FillHolesState {
    /// The box and its seeds from `labels`; None when the label is absent (nothing to fill).
    pub fn init(req: &FillHolesRequest, labels: &[u8]) -> Result<Option<Self>> {
        let d = req.dims;
        if labels.len() != d[0] * d[1] * d[2] {
            return Err(Error::mismatch(format!(
                "fill_holes: labels hold {} voxels, dims {d:?}",
                labels.len()
            )));
        }
        let (mut lo, mut hi, mut any) = (d, [0usize; 3], false);
        for (i, &l) in labels.iter().enumerate() {
            if l == req.label {
                let c = [i % d[0], (i / d[0]) % d[1], i / (d[0] * d[1])];
                for a in 0..3 {
                    lo[a] = lo[a].min(c[a]);
                    hi[a] = hi[a].max(c[a]);
                }
                any = true;
            }
        }
        if !any {
            return Ok(None);
        }
        for a in 0..3 {
            lo[a] = lo[a].saturating_sub(1);
            hi[a] = (hi[a] + 1).min(d[a] - 1);
        }
        let size = [0, 1, 2].map(|a| hi[a] - lo[a] + 1);
        let mut state = Vec::with_capacity(size[0] * size[1] * size[2]);
        for z in 0..size[2] {
            for y in 0..size[1] {
                for x in 0..size[0] {
                    let c = [x, y, z];
                    let l = labels[lo[0] + x + d[0] * (lo[1] + y + d[1] * (lo[2] + z))];
                    let boundary = (0..3)
                        .filter(|&a| Some(a) != req.slice_axis)
                        .any(|a| c[a] == 0 || c[a] + 1 == size[a]);
                    state.push(if l == req.label {
                        LABEL
                    } else if boundary {
                        REACHED
                    } else {
                        UNREACHED
                    });
                }
            }
        }
        let params = FillHolesParams {
            size: [size[0] as u32, size[1] as u32, size[2] as u32, 24],
            misc: [req.slice_axis.map_or(3, |a| a as u32), 0, 0, 0],
        };
        Ok(Some(Self {
            lo,
            size,
            state,
            params,
        }))
    }

    /// CPU twin: breadth-first flood from the seeds.
    pub fn solve_cpu(&mut self) {
        let s = self.size;
        let axis = self.params.misc[0] as usize;
        let mut queue: Vec<usize> = (0..self.state.len())
            .filter(|&r| self.state[r] == REACHED)
            .collect();
        let mut head = 0;
        while head < queue.len() {
            let r = queue[head];
            head += 1;
            let c = [r % s[0], (r / s[0]) % s[1], r / (s[0] * s[1])];
            let stride = [1, s[0], s[0] * s[1]];
            for a in (0..3).filter(|&a| a != axis) {
                for up in [false, true] {
                    let q = if up {
                        if c[a] + 1 >= s[a] {
                            continue;
                        }
                        r + stride[a]
                    } else {
                        if c[a] == 0 {
                            continue;
                        }
                        r - stride[a]
                    };
                    if self.state[q] == UNREACHED {
                        self.state[q] = REACHED;
                        queue.push(q);
                    }
                }
            }
        }
    }

    /// The holes (unreached voxels) take the label where the write rule allows; returns the
    /// voxels changed.
    pub fn commit(&self, req: &FillHolesRequest, labels: &mut [u8]) -> u64 {
        let (d, s) = (req.dims, self.size);
        let mut changed = 0;
        let mut r = 0;
        for z in 0..s[2] {
            for y in 0..s[1] {
                for x in 0..s[0] {
                    if self.state[r] == UNREACHED {
                        let i = self.lo[0] + x + d[0] * (self.lo[1] + y + d[1] * (self.lo[2] + z));
                        if labels[i] != req.label && req.writable[usize::from(labels[i])] {
                            labels[i] = req.label;
                            changed += 1;
                        }
                    }
                    r += 1;
                }
            }
        }
        changed
    }
}

/// CPU twin of the whole op; returns the voxels changed.
pub fn fill_holes_cpu(req: &FillHolesRequest, labels: &mut [u8]) -> Result<u64> {
    let Some(mut st) = FillHolesState::init(req, labels)? else {
        return Ok(0);
    };
    st.solve_cpu();
    Ok(st.commit(req, labels))
}

/// GPU kernel.
pub struct FillHolesKernel {
    pipeline: wgpu::ComputePipeline,
}

impl FillHolesKernel {
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        let src = shaders::prepare(shaders::FILL_HOLES, "u32");
        Ok(Self {
            pipeline: super::compute_pipeline(ctx, "fill_holes", &src)?,
        })
    }

    /// Solves `st` on the GPU (upload, passes until a batch changes nothing, read back).
    pub fn solve(&self, ctx: &GpuContext, st: &mut FillHolesState) -> Result<()> {
        let bytes = (st.state.len() * 4) as u64;
        let limit = ctx.device.limits().max_storage_buffer_binding_size;
        if bytes > limit {
            return Err(Error::Gpu(format!(
                "fill_holes: a box of {} voxels is above the adapter's storage-binding limit",
                st.state.len()
            )));
        }
        ctx.scoped("fill_holes", || -> Result<()> {
            let rw = wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
            let init = bytemuck::cast_slice(&st.state);
            let pair = [
                compute::storage(ctx, "holes a", init, rw),
                compute::storage(ctx, "holes b", init, rw),
            ];
            let counter = compute::storage(ctx, "holes changed", &[0u8; 4], rw);
            let uniform = compute::uniform(ctx, "holes params", &st.params);
            let binds: Vec<wgpu::BindGroup> = (0..2)
                .map(|i| {
                    compute::bind_group(
                        ctx,
                        &self.pipeline,
                        "fill_holes",
                        &[
                            uniform.as_entire_binding(),
                            pair[i].as_entire_binding(),
                            pair[1 - i].as_entire_binding(),
                            counter.as_entire_binding(),
                        ],
                    )
                })
                .collect();
            let p = &st.params;
            let groups = [
                p.size[0].div_ceil(8),
                p.size[1].div_ceil(8),
                p.size[2].div_ceil(4),
            ];
            compute::ping_pong_until_stable(ctx, &self.pipeline, &binds, groups, &counter, 8)?;
            let out = readback::read_buffer(ctx, &pair[0], bytes)?;
            for (s, b) in st.state.iter_mut().zip(out.chunks_exact(4)) {
                *s = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            Ok(())
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hollow_cube_is_filled_in_3d_and_a_tunnel_is_not_a_hole() {
        let d = [12, 11, 10];
        let mut labels = vec![0u8; 12 * 11 * 10];
        let idx = |x: usize, y: usize, z: usize| x + 12 * (y + 11 * z);
        for z in 2..8 {
            for y in 2..9 {
                for x in 2..10 {
                    let shell = x == 2 || x == 9 || y == 2 || y == 8 || z == 2 || z == 7;
                    if shell {
                        labels[idx(x, y, z)] = 1;
                    }
                }
            }
        }
        labels[idx(5, 5, 5)] = 4; // another label inside the hole
        let mut req = FillHolesRequest {
            dims: d,
            label: 1,
            slice_axis: None,
            writable: [true; 256],
        };
        let mut out = labels.clone();
        let n = fill_holes_cpu(&req, &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n, 6 * 5 * 4, "the whole interior");
        assert_eq!(out[idx(5, 5, 5)], 1);
        // Locked 4 stays.
        req.writable[4] = false;
        let mut out = labels.clone();
        fill_holes_cpu(&req, &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out[idx(5, 5, 5)], 4);
        // A tunnel through the top face: no longer a 3D hole, but every axial slice between
        // the faces is still a 2D hole (the tunnel runs along z).
        labels[idx(5, 5, 7)] = 0;
        req.writable[4] = true;
        let mut out = labels.clone();
        assert_eq!(
            fill_holes_cpu(&req, &mut out).unwrap_or_else(|e| panic!("{e}")),
            0
        );
        req.slice_axis = Some(2);
        let mut out = labels.clone();
        let n = fill_holes_cpu(&req, &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            n,
            6 * 5 * 4 + 1,
            "slices 3..=6 and the tunnel voxel in slice 7"
        );
    }
}
