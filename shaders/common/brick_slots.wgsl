// Shared by brick_diff.wgsl, brick_gather.wgsl, brick_swap.wgsl: undo bricks kept on the GPU
// (src/kernels/brick_undo.rs: BrickParams and the CPU twins). Labels are packed 4 u8 per
// R32Uint texel along x, so a 16³ brick is 4 × 16 × 16 texels; a workgroup of 4 × 8 × 8
// invocations covers a quarter of a brick. Slot k lives at texel (4 (k % 16),
// 16 ((k / 16) % rows), 16 (k / (16 rows))): 16 slots per 256-byte texel row, so a slot
// texture reads back without row padding.
struct Params {
    // box origin in texels (x) and voxels (y, z); box size in bricks
    origin: vec4<u32>,
    bricks: vec4<u32>,
    // label dims: texel width, ny, nz, nx (voxels)
    dims: vec4<u32>,
    // slot count, slot rows per layer, unused, unused
    slots: vec4<u32>,
}

@group(0) @binding(0) var<uniform> params: Params;

fn slot_texel(k: u32, t: vec3<u32>) -> vec3<u32> {
    let rows = params.slots.y;
    return vec3<u32>(4u * (k % 16u), 16u * ((k / 16u) % rows), 16u * (k / (16u * rows))) + t;
}

// The texel of slot-brick `w / 4` this invocation handles, and the slot.
fn brick_texel(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> vec4<u32> {
    let w = wid.x + wid.y * nwg.x;
    let sub = w % 4u;
    let t = vec3<u32>(lid.x, 8u * (sub & 1u) + lid.y, 8u * (sub >> 1u) + lid.z);
    return vec4<u32>(t, w / 4u);
}

