// Fill between slices: evaluate the interpolation plan (src/kernels/interpolate.rs) and write
// the label. One invocation per packed label texel (4 voxels along x) of the texel box that
// covers the gap slices; each voxel loops over the tasks of its slice. A voxel is inside a
// task iff it lies in the task's rectangle and (g-m)*sdA(p - baseA) <= -(m*sdB(p - baseB))
// (no add, so no fused multiply-add: equal to the CPU twin bit for bit).
// Keep in sync with src/kernels/interpolate.rs (InterpolateParams, InterpTask, interpolate_cpu).

struct Params {
    dims: vec4<u32>,      // nx, ny, nz, label
    axes: vec4<u32>,      // n, u, v, task count
    slices: vec4<u32>,    // first slice, last slice, texel-box origin x, y
    tbox: vec4<u32>,      // texel-box origin z, size x, y, z
    blocked: array<vec4<u32>, 2>,
}

struct Task {
    slice: vec4<i32>,
    rect: vec4<i32>,
    tile_a: vec4<i32>,
    tile_b: vec4<i32>,
    tail: vec4<u32>,      // offset A, offset B, weight A bits, weight B bits
}

const FAR: f32 = 1.0e30;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> tasks: array<Task>;
@group(0) @binding(2) var<storage, read> table: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read> sdt: array<f32>;
@group(0) @binding(4) var labels: texture_storage_3d<r32uint, read_write>;
@group(0) @binding(5) var<storage, read_write> changed: array<atomic<u32>, 1>;

fn is_blocked(l: u32) -> bool {
    let word = params.blocked[l >> 7u][(l >> 5u) & 3u];
    return (word & (1u << (l & 31u))) != 0u;
}

fn tile_value(tile: vec4<i32>, off: u32, p: vec2<i32>) -> f32 {
    let q = p - tile.xy;
    if (q.x < 0 || q.y < 0 || q.x >= tile.z || q.y >= tile.w) {
        return FAR;
    }
    return sdt[off + u32(q.x) + u32(tile.z) * u32(q.y)];
}

fn inside(slice: u32, p: vec2<i32>) -> bool {
    if (slice < params.slices.x || slice > params.slices.y) {
        return false;
    }
    let e = table[slice - params.slices.x];
    for (var i = e.x; i < e.x + e.y; i = i + 1u) {
        let t = tasks[i];
        if (p.x < t.rect.x || p.y < t.rect.y || p.x > t.rect.z || p.y > t.rect.w) {
            continue;
        }
        let a = tile_value(t.tile_a, t.tail.x, p);
        let b = tile_value(t.tile_b, t.tail.y, p);
        let wa = bitcast<f32>(t.tail.z);
        let wb = bitcast<f32>(t.tail.w);
        if (wa * a <= -(wb * b)) {
            return true;
        }
    }
    return false;
}

@compute @workgroup_size(8, 8, 4)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= params.tbox.y || gid.y >= params.tbox.z || gid.z >= params.tbox.w) {
        return;
    }
    let texel = gid + vec3<u32>(params.slices.z, params.slices.w, params.tbox.x);
    let old = textureLoad(labels, texel).x;
    var updated = old;
    var count = 0u;
    let value = params.dims.w;
    for (var b = 0u; b < 4u; b = b + 1u) {
        let x = texel.x * 4u + b;
        if (x >= params.dims.x) {
            break;
        }
        let shift = 8u * b;
        let cur = (old >> shift) & 0xffu;
        if (cur == value || is_blocked(cur)) {
            continue;
        }
        var c = array<u32, 3>(x, texel.y, texel.z);
        let p = vec2<i32>(i32(c[params.axes.y]), i32(c[params.axes.z]));
        if (inside(c[params.axes.x], p)) {
            updated = (updated & ~(0xffu << shift)) | (value << shift);
            count = count + 1u;
        }
    }
    if (count != 0u) {
        textureStore(labels, texel, vec4<u32>(updated, 0u, 0u, 0u));
        atomicAdd(&changed[0], count);
    }
}
