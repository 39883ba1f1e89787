// Logical operations on a label (src/kernels/logical.rs): label L is changed using a modifier
// set M — the voxels of label `other` in the labels themselves, or in a second label map
// (`other_map`, packed like the labels). Per voxel (c current label, m in M):
//   union: L where m, c != L, c writable; intersect: 0 where c == L and not m;
//   subtract: 0 where c == L and m; copy: union + intersect; invert: L where c != L and c
//   writable, 0 where c == L. With a range, a voxel changes only when its image value is in it.
// One invocation per packed texel (4 voxels): no two invocations touch the same texel.
// SAMPLE_T is replaced by the image's sample type.
// Keep in sync with src/kernels/logical.rs (LogicalParams, LogicalParams::decide, logical_cpu).

struct Params {
    dims: vec4<u32>,     // nx, ny, nz, label L
    head: vec4<u32>,     // operation, other label, second map?, has range
    range: vec4<f32>,    // lo, hi, unused, unused
    writable: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var image: texture_3d<SAMPLE_T>;
@group(0) @binding(2) var other_map: texture_3d<u32>;
@group(0) @binding(3) var labels: texture_storage_3d<r32uint, read_write>;
@group(0) @binding(4) var<storage, read_write> changed: array<atomic<u32>, 1>;

fn writable(l: u32) -> bool {
    let word = params.writable[l >> 7u][(l >> 5u) & 3u];
    return (word & (1u << (l & 31u))) != 0u;
}

fn decide(cur: u32, m: bool) -> u32 {
    let l = params.dims.w;
    let op = params.head.x;
    var fill = false;
    if (cur != l && writable(cur)) {
        fill = ((op == 0u || op == 4u) && m) || op == 3u;
    }
    var clear = false;
    if (cur == l) {
        clear = ((op == 1u || op == 4u) && !m) || (op == 2u && m) || op == 3u;
    }
    if (fill) {
        return l;
    }
    if (clear) {
        return 0u;
    }
    return cur;
}

@compute @workgroup_size(8, 8, 4)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= (params.dims.x + 3u) / 4u || gid.y >= params.dims.y || gid.z >= params.dims.z) {
        return;
    }
    let old = textureLoad(labels, gid).x;
    var second = 0u;
    if (params.head.z != 0u) {
        second = textureLoad(other_map, gid, 0).x;
    }
    var updated = old;
    var count = 0u;
    for (var b = 0u; b < 4u; b = b + 1u) {
        let x = gid.x * 4u + b;
        if (x >= params.dims.x) {
            continue;
        }
        let shift = 8u * b;
        let cur = (old >> shift) & 0xffu;
        var m = cur == params.head.y;
        if (params.head.z != 0u) {
            m = ((second >> shift) & 0xffu) == params.head.y;
        }
        let new_label = decide(cur, m);
        if (new_label == cur) {
            continue;
        }
        if (params.head.w != 0u) {
            let v = f32(textureLoad(image, vec3<u32>(x, gid.y, gid.z), 0).x);
            if (!(v >= params.range.x && v <= params.range.y)) {
                continue;
            }
        }
        updated = (updated & ~(0xffu << shift)) | (new_label << shift);
        count = count + 1u;
    }
    if (updated != old) {
        textureStore(labels, gid, vec4<u32>(updated, 0u, 0u, 0u));
    }
    if (count != 0u) {
        atomicAdd(&changed[0], count);
    }
}
