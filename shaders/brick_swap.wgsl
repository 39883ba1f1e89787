// brick_swap: exchanges listed bricks of the labels with their slots (undo; redo with the
// same slots).
// Params, slot layout and helpers: common/brick_slots.wgsl (src/kernels/brick_undo.rs).

//!include common/brick_slots.wgsl
@group(0) @binding(1) var<storage, read> swap_list: array<vec4<u32>>;
@group(0) @binding(2) var labels: texture_storage_3d<r32uint, read_write>;
@group(0) @binding(3) var slots: texture_storage_3d<r32uint, read_write>;

@compute @workgroup_size(4, 8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let bt = brick_texel(wid, nwg, lid);
    let k = bt.w;
    if (k >= params.slots.x) {
        return;
    }
    // swap_list: absolute brick coordinates
    let p = swap_list[k].xyz * vec3<u32>(4u, 16u, 16u) + bt.xyz;
    if (any(p >= params.dims.xyz)) {
        return;
    }
    let s = slot_texel(k, bt.xyz);
    let here = textureLoad(labels, p).x;
    let kept = textureLoad(slots, s).x;
    textureStore(labels, p, vec4<u32>(kept, 0u, 0u, 0u));
    textureStore(slots, s, vec4<u32>(here, 0u, 0u, 0u));
}
