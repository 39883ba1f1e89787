// Gaussian smoothing of a label (src/kernels/smooth.rs, SmoothMethod::Gaussian): the 0/1 mask
// of label L blurred by three separable passes with integer weights (exact u32 sums, so GPU
// and CPU agree), over the box around L grown by the kernel radius; `gauss_z` writes the 0/1
// work volume (1 where 2 * sum > the product of the weight sums, i.e. blur > 1/2).
// Keep in sync with src/kernels/smooth.rs (GaussParams, gaussian_work_cpu).

struct Params {
    dims: vec4<u32>,      // nx, ny, nz, label L
    lo: vec4<u32>,        // box origin x (a multiple of 4), y, z; product of the weight sums
    size: vec4<u32>,      // box size x, y, z; unused
    radii: vec4<u32>,     // kernel radius x, y, z; unused
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var labels: texture_3d<u32>;
@group(0) @binding(2) var<storage, read> weights: array<u32>;   // x taps, then y, then z
@group(0) @binding(3) var<storage, read> a_in: array<u32>;
@group(0) @binding(4) var<storage, read_write> a_out: array<u32>;
@group(0) @binding(5) var work: texture_storage_3d<r32uint, read_write>;

fn box_index(p: vec3<u32>) -> u32 {
    return p.x + params.size.x * (p.y + params.size.y * p.z);
}

fn is_label(g: vec3<i32>) -> u32 {
    if (any(g < vec3<i32>(0)) || any(g >= vec3<i32>(params.dims.xyz))) {
        return 0u;
    }
    let t = textureLoad(labels, vec3<i32>(g.x >> 2u, g.y, g.z), 0).x;
    return select(0u, 1u, ((t >> (u32(g.x & 3) * 8u)) & 0xffu) == params.dims.w);
}

@compute @workgroup_size(8, 8, 4)
fn gauss_x(@builtin(global_invocation_id) b: vec3<u32>) {
    if (any(b >= params.size.xyz)) {
        return;
    }
    let g = vec3<i32>(b + params.lo.xyz);
    let r = i32(params.radii.x);
    var s = 0u;
    for (var k = -r; k <= r; k = k + 1) {
        s = s + weights[u32(k + r)] * is_label(g + vec3<i32>(k, 0, 0));
    }
    a_out[box_index(b)] = s;
}

// Along y (axis 1) or z (axis 2) within the box: values beyond the box are 0.
fn along(b: vec3<u32>, axis: u32, first: u32) -> u32 {
    let r = i32(params.radii[axis]);
    var s = 0u;
    for (var k = -r; k <= r; k = k + 1) {
        var q = vec3<i32>(b);
        q[axis] = q[axis] + k;
        if (all(q >= vec3<i32>(0)) && all(q < vec3<i32>(params.size.xyz))) {
            s = s + weights[first + u32(k + r)] * a_in[box_index(vec3<u32>(q))];
        }
    }
    return s;
}

@compute @workgroup_size(8, 8, 4)
fn gauss_y(@builtin(global_invocation_id) b: vec3<u32>) {
    if (any(b >= params.size.xyz)) {
        return;
    }
    a_out[box_index(b)] = along(b, 1u, 2u * params.radii.x + 1u);
}

@compute @workgroup_size(8, 8, 4)
fn gauss_z(@builtin(global_invocation_id) t: vec3<u32>) {
    // One invocation per packed texel of the box.
    if (t.x >= (params.size.x + 3u) / 4u || t.y >= params.size.y || t.z >= params.size.z) {
        return;
    }
    let first = 2u * params.radii.x + 1u + 2u * params.radii.y + 1u;
    var out = 0u;
    for (var k = 0u; k < 4u; k = k + 1u) {
        let bx = t.x * 4u + k;
        if (bx >= params.size.x) {
            continue;
        }
        let s = along(vec3<u32>(bx, t.y, t.z), 2u, first);
        // blur > 1/2 <=> 2 s > S <=> s > floor(S / 2) (no overflow).
        if (s > params.lo.w / 2u) {
            out = out | (1u << (8u * k));
        }
    }
    let tex = vec3<u32>(params.lo.x / 4u + t.x, params.lo.y + t.y, params.lo.z + t.z);
    textureStore(work, tex, vec4<u32>(out, 0u, 0u, 0u));
}
