// brick_gather: copies listed bricks of the box copy `src` into brick slots.
// Params, slot layout and helpers: common/brick_slots.wgsl (src/kernels/brick_undo.rs).

//!include common/brick_slots.wgsl
@group(0) @binding(1) var src: texture_3d<u32>;
@group(0) @binding(2) var<storage, read> list: array<vec4<u32>>;
@group(0) @binding(3) var slots_out: texture_storage_3d<r32uint, write>;

@compute @workgroup_size(4, 8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let bt = brick_texel(wid, nwg, lid);
    let k = bt.w;
    if (k >= params.slots.x) {
        return;
    }
    // list: brick coordinates relative to the box
    let p = list[k].xyz * vec3<u32>(4u, 16u, 16u) + bt.xyz;
    var v = 0u;
    if (all(p < textureDimensions(src))) {
        v = textureLoad(src, p, 0).x;
    }
    textureStore(slots_out, slot_texel(k, bt.xyz), vec4<u32>(v, 0u, 0u, 0u));
}

