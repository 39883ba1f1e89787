// brick_diff: per brick of a box, how many voxels differ between the box's copy taken before an
// op (`before`, origin at the box's first texel) and the labels now.
// Params, slot layout and helpers: common/brick_slots.wgsl (src/kernels/brick_undo.rs).

//!include common/brick_slots.wgsl
@group(0) @binding(1) var before: texture_3d<u32>;
@group(0) @binding(2) var labels_now: texture_3d<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

var<workgroup> wg_count: atomic<u32>;

@compute @workgroup_size(4, 8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    if (li == 0u) {
        atomicStore(&wg_count, 0u);
    }
    workgroupBarrier();
    let size = textureDimensions(before);
    if (all(gid < size)) {
        let a = textureLoad(before, gid, 0).x;
        let b = textureLoad(labels_now, gid + params.origin.xyz, 0).x;
        if (a != b) {
            var n = 0u;
            for (var k = 0u; k < 4u; k = k + 1u) {
                let x = (params.origin.x + gid.x) * 4u + k;
                if (x < params.dims.w && ((a >> (8u * k)) & 0xffu) != ((b >> (8u * k)) & 0xffu)) {
                    n = n + 1u;
                }
            }
            atomicAdd(&wg_count, n);
        }
    }
    workgroupBarrier();
    if (li == 0u) {
        let n = atomicLoad(&wg_count);
        if (n > 0u) {
            let bb = vec3<u32>(wid.x, wid.y / 2u, wid.z / 2u);
            atomicAdd(&counts[bb.x + params.bricks.x * (bb.y + params.bricks.y * bb.z)], n);
        }
    }
}

