// Connected threshold by union-find connected-component labelling (Playne & Hawick 2018):
// `init` marks in-range voxels, `merge` unions each voxel with its backward neighbours using
// atomicMin (a root is always the smallest index of its component, so results are
// deterministic), `compress` points every voxel at its root, `select` writes the label where
// the root is flagged in the selection bitset. One slab of z-planes of the ROI box at a time;
// indices are box-relative within the slab. Four dispatches per slab whatever the shape.
// SAMPLE_T is replaced by the volume's sample type.
// Keep in sync with src/kernels/region_grow.rs (GrowParams).

struct Params {
    dims: vec4<u32>,      // nx, ny, nz, connectivity (6, 18 or 26)
    box_min: vec4<u32>,   // ROI min x, y, z (inclusive), label value
    box_max: vec4<u32>,   // ROI max x, y, z (inclusive), unused
    slab: vec4<u32>,      // first plane (box-relative), plane count, unused, unused
    range: vec4<f32>,     // lower, upper (inclusive), unused, unused
}

const INVALID: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var volume: texture_3d<SAMPLE_T>;
@group(0) @binding(2) var<storage, read_write> parent: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read> selected: array<u32>;
@group(0) @binding(4) var out_mask: texture_storage_3d<r32uint, write>;
// Islands only: voxels per root, and the compacted list [count, (root, size)...].
@group(0) @binding(5) var<storage, read_write> sizes: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read_write> roots: array<atomic<u32>>;

fn box_size() -> vec3<u32> {
    return params.box_max.xyz - params.box_min.xyz + vec3<u32>(1u, 1u, 1u);
}

fn slab_count() -> u32 {
    let b = box_size();
    return b.x * b.y * params.slab.y;
}

// Slab-local index -> global voxel coordinate.
fn voxel_of(l: u32) -> vec3<u32> {
    let b = box_size();
    let x = l % b.x;
    let y = (l / b.x) % b.y;
    let z = l / (b.x * b.y) + params.slab.x;
    return params.box_min.xyz + vec3<u32>(x, y, z);
}

fn in_range(v: vec3<u32>) -> bool {
    let x = f32(textureLoad(volume, v, 0).x);
    return x >= params.range.x && x <= params.range.y;
}

// Membership: the intensity range (grow), or with slab.z = 1 (islands) `volume` is the
// packed label texture and members carry the label box_max.w.
fn member(v: vec3<u32>) -> bool {
    if (params.slab.z == 1u) {
        let t = u32(textureLoad(volume, vec3<u32>(v.x >> 2u, v.y, v.z), 0).x);
        return ((t >> ((v.x & 3u) * 8u)) & 0xffu) == params.box_max.w;
    }
    return in_range(v);
}

fn linear_id(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

@compute @workgroup_size(256)
fn init(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let l = linear_id(gid, nwg);
    if (l >= slab_count()) {
        return;
    }
    var p = INVALID;
    if (member(voxel_of(l))) {
        p = l;
    }
    atomicStore(&parent[l], p);
}

fn find(start: u32) -> u32 {
    var x = start;
    var p = atomicLoad(&parent[x]);
    while (p != x) {
        x = p;
        p = atomicLoad(&parent[x]);
    }
    return x;
}

fn union_roots(a0: u32, b0: u32) {
    var a = a0;
    var b = b0;
    loop {
        a = find(a);
        b = find(b);
        if (a == b) {
            return;
        }
        if (a < b) {
            let t = a;
            a = b;
            b = t;
        }
        let old = atomicMin(&parent[a], b);
        if (old == a) {
            return;
        }
        a = old;
    }
}

@compute @workgroup_size(256)
fn merge(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let l = linear_id(gid, nwg);
    if (l >= slab_count() || atomicLoad(&parent[l]) == INVALID) {
        return;
    }
    let b = vec3<i32>(box_size());
    let x = i32(l % u32(b.x));
    let y = i32((l / u32(b.x)) % u32(b.y));
    let z = i32(l / u32(b.x * b.y));
    let planes = i32(params.slab.y);
    let conn = params.dims.w;
    // Backward half of the neighbourhood: offsets whose linear index is smaller.
    for (var dz = -1; dz <= 0; dz = dz + 1) {
        for (var dy = -1; dy <= 1; dy = dy + 1) {
            for (var dx = -1; dx <= 1; dx = dx + 1) {
                let off = (dz * b.y + dy) * b.x + dx;
                if (dz == 0 && (dy > 0 || (dy == 0 && dx >= 0))) {
                    continue;
                }
                let nonzero = u32(dx != 0) + u32(dy != 0) + u32(dz != 0);
                if ((conn == 6u && nonzero > 1u) || (conn == 18u && nonzero > 2u)) {
                    continue;
                }
                let nx = x + dx;
                let ny = y + dy;
                let nz = z + dz;
                if (nx < 0 || ny < 0 || nz < 0 || nx >= b.x || ny >= b.y || nz >= planes) {
                    continue;
                }
                let n = u32(i32(l) + off);
                if (atomicLoad(&parent[n]) != INVALID) {
                    union_roots(l, n);
                }
            }
        }
    }
}

@compute @workgroup_size(256)
fn compress(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let l = linear_id(gid, nwg);
    if (l >= slab_count() || atomicLoad(&parent[l]) == INVALID) {
        return;
    }
    atomicStore(&parent[l], find(l));
}

// One invocation per output texel (4 voxels along x) covering the box's x-range in this slab.
@compute @workgroup_size(256)
fn select_roots(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let b = box_size();
    let t0 = params.box_min.x / 4u;
    let t1 = params.box_max.x / 4u;
    let tw = t1 - t0 + 1u;
    let id = linear_id(gid, nwg);
    if (id >= tw * b.y * params.slab.y) {
        return;
    }
    let tx = t0 + id % tw;
    let y = (id / tw) % b.y;
    let z = id / (tw * b.y);
    var packed = 0u;
    for (var k = 0u; k < 4u; k = k + 1u) {
        let gx = tx * 4u + k;
        if (gx < params.box_min.x || gx > params.box_max.x) {
            continue;
        }
        let l = ((z * b.y) + y) * b.x + (gx - params.box_min.x);
        let r = atomicLoad(&parent[l]);
        if (r != INVALID && (selected[r >> 5u] & (1u << (r & 31u))) != 0u) {
            packed = packed | (params.box_min.w << (8u * k));
        }
    }
    let gz = params.box_min.z + params.slab.x + z;
    textureStore(out_mask, vec3<u32>(tx, params.box_min.y + y, gz), vec4<u32>(packed, 0u, 0u, 0u));
}

// Islands: count each component's voxels at its root (after compress).
@compute @workgroup_size(256)
fn count_sizes(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let l = linear_id(gid, nwg);
    if (l >= slab_count()) {
        return;
    }
    let r = atomicLoad(&parent[l]);
    if (r != INVALID) {
        atomicAdd(&sizes[r], 1u);
    }
}

// Islands: append (root, size) of every root to `roots` (roots[0] counts; entries beyond the
// capacity are counted but not written, and the host falls back).
@compute @workgroup_size(256)
fn collect_roots(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let l = linear_id(gid, nwg);
    if (l >= slab_count() || atomicLoad(&parent[l]) != l) {
        return;
    }
    let i = atomicAdd(&roots[0], 1u);
    if (i < (arrayLength(&roots) - 1u) / 2u) {
        atomicStore(&roots[1u + 2u * i], l);
        atomicStore(&roots[2u + 2u * i], atomicLoad(&sizes[l]));
    }
}
