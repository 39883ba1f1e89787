// Smoothing a label (src/kernels/smooth.rs): a 0/1 work volume (packed like the labels) is
// made from the labels (`extract`: 1 where label == L) or from a median (`median`: 1 where
// more than half of the ball around the voxel is L, voxels outside the volume counting as
// not L); opening and closing run the dilate/erode kernel on the work volume between
// `extract` and `commit_set`. `commit_set`: L where the work volume is 1 and the current label
// is writable, 0 where it is 0 and the current label is L. One invocation per packed texel.
// Keep in sync with src/kernels/smooth.rs (SmoothParams, smooth_cpu).

struct Params {
    dims: vec4<u32>,      // nx, ny, nz, label L
    misc: vec4<u32>,      // offset count (ball without its centre), unused x3
    writable: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var labels: texture_3d<u32>;
@group(0) @binding(2) var<storage, read> offsets: array<vec4<i32>>;
@group(0) @binding(3) var work: texture_storage_3d<r32uint, read_write>;
@group(0) @binding(4) var labels_rw: texture_storage_3d<r32uint, read_write>;
@group(0) @binding(5) var<storage, read_write> changed: array<atomic<u32>, 1>;
@group(0) @binding(6) var work_ro: texture_3d<u32>;

fn label_at(p: vec3<i32>) -> u32 {
    let t = textureLoad(labels, vec3<i32>(p.x >> 2u, p.y, p.z), 0).x;
    return (t >> (u32(p.x & 3) * 8u)) & 0xffu;
}

fn inside(p: vec3<i32>) -> bool {
    return all(p >= vec3<i32>(0)) && all(p < vec3<i32>(params.dims.xyz));
}

fn writable(l: u32) -> bool {
    let word = params.writable[l >> 7u][(l >> 5u) & 3u];
    return (word & (1u << (l & 31u))) != 0u;
}

fn texel_ok(gid: vec3<u32>) -> bool {
    return gid.x < (params.dims.x + 3u) / 4u && gid.y < params.dims.y && gid.z < params.dims.z;
}

@compute @workgroup_size(8, 8, 4)
fn extract(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (!texel_ok(gid)) {
        return;
    }
    let t = textureLoad(labels, gid, 0).x;
    var out = 0u;
    for (var b = 0u; b < 4u; b = b + 1u) {
        if (gid.x * 4u + b < params.dims.x && ((t >> (8u * b)) & 0xffu) == params.dims.w) {
            out = out | (1u << (8u * b));
        }
    }
    textureStore(work, gid, vec4<u32>(out, 0u, 0u, 0u));
}

@compute @workgroup_size(8, 8, 4)
fn median(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (!texel_ok(gid)) {
        return;
    }
    let total = params.misc.x + 1u;
    var out = 0u;
    for (var b = 0u; b < 4u; b = b + 1u) {
        let x = gid.x * 4u + b;
        if (x >= params.dims.x) {
            continue;
        }
        let p = vec3<i32>(i32(x), i32(gid.y), i32(gid.z));
        var count = select(0u, 1u, label_at(p) == params.dims.w);
        for (var k = 0u; k < params.misc.x; k = k + 1u) {
            let q = p + offsets[k].xyz;
            if (inside(q) && label_at(q) == params.dims.w) {
                count = count + 1u;
            }
        }
        if (2u * count > total) {
            out = out | (1u << (8u * b));
        }
    }
    textureStore(work, gid, vec4<u32>(out, 0u, 0u, 0u));
}

@compute @workgroup_size(8, 8, 4)
fn commit_set(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (!texel_ok(gid)) {
        return;
    }
    let old = textureLoad(labels_rw, gid).x;
    let w = textureLoad(work_ro, gid, 0).x;
    var updated = old;
    var count = 0u;
    for (var b = 0u; b < 4u; b = b + 1u) {
        if (gid.x * 4u + b >= params.dims.x) {
            continue;
        }
        let shift = 8u * b;
        let cur = (old >> shift) & 0xffu;
        let on = ((w >> shift) & 0xffu) != 0u;
        var value = cur;
        if (on && cur != params.dims.w && writable(cur)) {
            value = params.dims.w;
        } else if (!on && cur == params.dims.w) {
            value = 0u;
        }
        if (value != cur) {
            updated = (updated & ~(0xffu << shift)) | (value << shift);
            count = count + 1u;
        }
    }
    if (count != 0u) {
        textureStore(labels_rw, gid, vec4<u32>(updated, 0u, 0u, 0u));
        atomicAdd(&changed[0], count);
    }
}
