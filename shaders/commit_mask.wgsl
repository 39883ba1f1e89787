// Commit a preview mask (e.g. a region-grow result) to the label volume:
// label = value wherever the mask is non-zero and the current label is not locked.
// One invocation per packed texel (4 voxels). Keep in sync with src/edit/commit.rs
// (CommitParams, commit_mask_cpu).

struct Params {
    dims: vec4<u32>,       // texel width, ny, nz, label value
    locked: array<vec4<u32>, 2>,  // 256-bit set of locked label values
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var mask: texture_3d<u32>;
@group(0) @binding(2) var labels: texture_storage_3d<r32uint, read_write>;
@group(0) @binding(3) var<storage, read_write> changed: array<atomic<u32>, 1>;

fn is_locked(l: u32) -> bool {
    let word = params.locked[l >> 7u][(l >> 5u) & 3u];
    return (word & (1u << (l & 31u))) != 0u;
}

@compute @workgroup_size(8, 8, 4)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= params.dims.x || gid.y >= params.dims.y || gid.z >= params.dims.z) {
        return;
    }
    let m = textureLoad(mask, gid, 0).x;
    if (m == 0u) {
        return;
    }
    let old = textureLoad(labels, gid).x;
    var updated = old;
    var count = 0u;
    for (var b = 0u; b < 4u; b = b + 1u) {
        let shift = 8u * b;
        let cur = (old >> shift) & 0xffu;
        if (((m >> shift) & 0xffu) != 0u && cur != params.dims.w && !is_locked(cur)) {
            updated = (updated & ~(0xffu << shift)) | (params.dims.w << shift);
            count = count + 1u;
        }
    }
    if (count != 0u) {
        textureStore(labels, gid, vec4<u32>(updated, 0u, 0u, 0u));
        atomicAdd(&changed[0], count);
    }
}
