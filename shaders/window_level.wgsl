// Whole-volume window/level: 8-bit grey per voxel, 4 voxels packed per R32Uint texel along i
// (byte b of texel x = voxel 4x+b). SAMPLE_T is replaced by the volume's sample type.
// Keep in sync with src/kernels/window_level.rs (WindowLevelParams).
//!include common/window.wgsl

struct Params {
    dims: vec4<u32>,     // nx, ny, nz, texel width
    center: f32,
    width: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var volume: texture_3d<SAMPLE_T>;
@group(0) @binding(2) var out_grey: texture_storage_3d<r32uint, write>;

@compute @workgroup_size(8, 8, 4)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= params.dims.w || gid.y >= params.dims.y || gid.z >= params.dims.z) {
        return;
    }
    var packed = 0u;
    for (var b = 0u; b < 4u; b = b + 1u) {
        let i = gid.x * 4u + b;
        if (i < params.dims.x) {
            let v = f32(textureLoad(volume, vec3<u32>(i, gid.y, gid.z), 0).x);
            packed = packed | (window_to_u8(v, params.center, params.width) << (8u * b));
        }
    }
    textureStore(out_grey, gid, vec4<u32>(packed, 0u, 0u, 0u));
}
