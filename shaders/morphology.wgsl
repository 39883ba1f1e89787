// Dilate / erode / hollow a label by a ball of voxel offsets (radius in mm, spacing honoured).
// `mark`: every boundary voxel of a source set S sets a bit for each voxel within the ball
// that is not in S; S is the label L (dilate, hollow outside), its complement (erode, hollow
// inside), or both in turn (hollow centred: the two marked sets are disjoint). Only boundary
// voxels need to stamp: the nearest S voxel to any other voxel is a boundary voxel. `apply`:
// marked voxels become L (dilate, if their label is in the write-source set) or 0 (erode, if
// labelled L); hollow: unmarked L voxels become 0, marked writable non-L voxels L.
// Keep in sync with src/kernels/morphology.rs (MorphologyParams, morphology_cpu).

struct Params {
    dims: vec4<u32>,     // nx, ny, nz, mode (0 dilate, 1 erode, 2/3/4 hollow in/out/centred)
    misc: vec4<u32>,     // label L, offset count, unused, unused
    source: array<vec4<u32>, 2>,  // dilate: labels that may be overwritten (policy minus locked)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var labels: texture_3d<u32>;
@group(0) @binding(2) var<storage, read> offsets: array<vec4<i32>>;
@group(0) @binding(3) var<storage, read_write> marks: array<atomic<u32>>;
@group(0) @binding(4) var labels_rw: texture_storage_3d<r32uint, read_write>;
@group(0) @binding(5) var<storage, read_write> changed: array<atomic<u32>, 1>;

fn label_at(p: vec3<i32>) -> u32 {
    let t = textureLoad(labels, vec3<i32>(p.x >> 2u, p.y, p.z), 0).x;
    return (t >> (u32(p.x & 3) * 8u)) & 0xffu;
}

// Whether voxels of the label (side true) or of the complement (side false) stamp.
fn stamps(side: bool) -> bool {
    let m = params.dims.w;
    if (side) {
        return m == 0u || m == 3u || m == 4u;
    }
    return m == 1u || m == 2u || m == 4u;
}

fn inside(p: vec3<i32>) -> bool {
    let d = vec3<i32>(params.dims.xyz);
    return all(p >= vec3<i32>(0)) && all(p < d);
}

fn linear(p: vec3<i32>) -> u32 {
    return u32(p.x) + params.dims.x * (u32(p.y) + params.dims.y * u32(p.z));
}

@compute @workgroup_size(256)
fn mark(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = gid.x + gid.y * nwg.x * 256u;
    let n = params.dims.x * params.dims.y * params.dims.z;
    if (id >= n) {
        return;
    }
    let p = vec3<i32>(i32(id % params.dims.x), i32((id / params.dims.x) % params.dims.y), i32(id / (params.dims.x * params.dims.y)));
    // The voxel's side: in the label or in its complement; it stamps the other side.
    let side = label_at(p) == params.misc.x;
    if (!stamps(side)) {
        return;
    }
    var boundary = false;
    var six = array<vec3<i32>, 6>(vec3<i32>(-1, 0, 0), vec3<i32>(1, 0, 0), vec3<i32>(0, -1, 0), vec3<i32>(0, 1, 0), vec3<i32>(0, 0, -1), vec3<i32>(0, 0, 1));
    for (var k = 0u; k < 6u; k = k + 1u) {
        let q = p + six[k];
        if (inside(q) && (label_at(q) == params.misc.x) != side) {
            boundary = true;
        }
    }
    if (!boundary) {
        return;
    }
    for (var k = 0u; k < params.misc.y; k = k + 1u) {
        let q = p + offsets[k].xyz;
        if (inside(q) && (label_at(q) == params.misc.x) != side) {
            let l = linear(q);
            atomicOr(&marks[l >> 5u], 1u << (l & 31u));
        }
    }
}

fn in_source(l: u32) -> bool {
    let word = params.source[l >> 7u][(l >> 5u) & 3u];
    return (word & (1u << (l & 31u))) != 0u;
}

@compute @workgroup_size(8, 8, 4)
fn apply(@builtin(global_invocation_id) gid: vec3<u32>) {
    let tw = (params.dims.x + 3u) / 4u;
    if (gid.x >= tw || gid.y >= params.dims.y || gid.z >= params.dims.z) {
        return;
    }
    let old = textureLoad(labels_rw, gid).x;
    var updated = old;
    var count = 0u;
    for (var b = 0u; b < 4u; b = b + 1u) {
        let x = gid.x * 4u + b;
        if (x >= params.dims.x) {
            continue;
        }
        let l = x + params.dims.x * (gid.y + params.dims.y * gid.z);
        let marked = (atomicLoad(&marks[l >> 5u]) & (1u << (l & 31u))) != 0u;
        let shift = 8u * b;
        let cur = (old >> shift) & 0xffu;
        var value = cur;
        let m = params.dims.w;
        if (m >= 2u) {
            if (cur == params.misc.x && !marked) {
                value = 0u;
            } else if (cur != params.misc.x && marked && in_source(cur)) {
                value = params.misc.x;
            }
        } else if (!marked) {
            continue;
        } else if (m == 0u) {
            if (cur != params.misc.x && in_source(cur)) {
                value = params.misc.x;
            }
        } else if (cur == params.misc.x) {
            value = 0u;
        }
        if (value != cur) {
            updated = (updated & ~(0xffu << shift)) | (value << shift);
            count = count + 1u;
        }
    }
    if (updated != old) {
        textureStore(labels_rw, gid, vec4<u32>(updated, 0u, 0u, 0u));
        atomicAdd(&changed[0], count);
    }
}
