// Empty-space map for the ray caster: per 8³ brick the value range and the largest label
// over its voxels plus one beyond (the footprint of samples inside it). One invocation per
// brick. Keep in sync with src/kernels/raycast.rs (BrickParams, brick_map_cpu).

struct Params {
    dims: vec4<u32>,    // nx, ny, nz, brick edge
    bricks: vec4<u32>,  // bx, by, bz, unused
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var volume: texture_3d<SAMPLE_T>;
@group(0) @binding(2) var labels: texture_3d<u32>;
@group(0) @binding(3) var<storage, read_write> range: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> brick_labels: array<u32>;

fn extent(b: u32, n: u32) -> vec2<u32> {
    let lo = b * params.dims.w;
    return vec2<u32>(lo, min(lo + params.dims.w + 1u, n));
}

fn brick_index(gid: vec3<u32>) -> u32 {
    return gid.x + params.bricks.x * (gid.y + params.bricks.y * gid.z);
}

@compute @workgroup_size(4, 4, 4)
fn range_main(@builtin(global_invocation_id) gid: vec3<u32>) {
    // Every binding is used by both entry points (one bind group layout).
    _ = textureDimensions(labels);
    _ = arrayLength(&brick_labels);
    if (any(gid >= params.bricks.xyz)) {
        return;
    }
    let ex = extent(gid.x, params.dims.x);
    let ey = extent(gid.y, params.dims.y);
    let ez = extent(gid.z, params.dims.z);
    var lo = 3.0e38;
    var hi = -3.0e38;
    for (var z = ez.x; z < ez.y; z++) {
        for (var y = ey.x; y < ey.y; y++) {
            for (var x = ex.x; x < ex.y; x++) {
                let v = f32(textureLoad(volume, vec3<u32>(x, y, z), 0).x);
                lo = min(lo, v);
                hi = max(hi, v);
            }
        }
    }
    range[brick_index(gid)] = vec2<f32>(lo, hi);
}

@compute @workgroup_size(4, 4, 4)
fn labels_main(@builtin(global_invocation_id) gid: vec3<u32>) {
    _ = textureDimensions(volume);
    _ = arrayLength(&range);
    if (any(gid >= params.bricks.xyz)) {
        return;
    }
    let ex = extent(gid.x, params.dims.x);
    let ey = extent(gid.y, params.dims.y);
    let ez = extent(gid.z, params.dims.z);
    var m = 0u;
    for (var z = ez.x; z < ez.y; z++) {
        for (var y = ey.x; y < ey.y; y++) {
            for (var x = ex.x; x < ex.y; x++) {
                let texel = textureLoad(labels, vec3<u32>(x >> 2u, y, z), 0).x;
                m = max(m, (texel >> ((x & 3u) * 8u)) & 0xffu);
            }
        }
    }
    brick_labels[brick_index(gid)] = m;
}
