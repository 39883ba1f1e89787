// 3D ray casting: MIP, DVR and label surfaces, one ray per pixel, with empty-space skipping
// and early ray termination. SAMPLE_T is the volume's sample type. Keep in sync with
// src/kernels/raycast.rs (RaycastParams, raycast_pixel), which documents the method.
//!include common/window.wgsl

struct Params {
    dims: vec4<u32>,     // nx, ny, nz, mode (0 MIP, 1 DVR, 2 labels)
    size: vec4<u32>,     // width, height, flags (1 labels), max steps
    bricks: vec4<u32>,   // bx, by, bz, brick edge
    origin: vec4<f32>,   // voxel coords of pixel (0, 0)'s ray at step 0
    du: vec4<f32>,
    dv: vec4<f32>,
    step: vec4<f32>,     // voxel-space step; w = step in mm
    nrm0: vec4<f32>,     // rows of (voxel_from_world)^T
    nrm1: vec4<f32>,
    nrm2: vec4<f32>,
    view: vec4<f32>,     // world forward; w = label opacity
    window: vec4<f32>,   // MIP centre, width; TF lo, hi
    span: vec4<f32>,     // TF opaque span lo, hi; termination opacity
    clip_lo: vec4<f32>,  // clip box in voxel coordinates
    clip_hi: vec4<f32>,
}

struct Ray {
    rgb: vec3<f32>,
    hit: vec4<f32>,      // picked voxel coordinates; w = 1 when something was hit
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> colors: array<vec4<f32>, 256>;
@group(0) @binding(2) var<uniform> tf: array<vec4<f32>, 256>;
@group(0) @binding(3) var<storage, read> brick_range: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read> brick_labels: array<u32>;
@group(0) @binding(5) var volume: texture_3d<SAMPLE_T>;
@group(0) @binding(6) var labels: texture_3d<u32>;
@group(0) @binding(7) var out_image: texture_storage_2d<rgba8unorm, write>;
// Pick: element 0 holds the pixel (x, y) on input and the picked point on output.
@group(0) @binding(8) var<storage, read_write> pick_io: array<vec4<f32>>;

fn load(p: vec3<i32>) -> f32 {
    return f32(textureLoad(volume, p, 0).x);
}

fn sample(p: vec3<f32>) -> f32 {
    let n = vec3<i32>(params.dims.xyz);
    let q = clamp(p, vec3<f32>(0.0), vec3<f32>(n - 1));
    let i0 = vec3<i32>(floor(q));
    let i1 = min(i0 + 1, n - 1);
    let f = q - vec3<f32>(i0);
    let c00 = mix(load(i0), load(vec3<i32>(i1.x, i0.y, i0.z)), f.x);
    let c10 = mix(load(vec3<i32>(i0.x, i1.y, i0.z)), load(vec3<i32>(i1.x, i1.y, i0.z)), f.x);
    let c01 = mix(load(vec3<i32>(i0.x, i0.y, i1.z)), load(vec3<i32>(i1.x, i0.y, i1.z)), f.x);
    let c11 = mix(load(vec3<i32>(i0.x, i1.y, i1.z)), load(i1), f.x);
    return mix(mix(c00, c10, f.y), mix(c01, c11, f.y), f.z);
}

// The 8 corner values of the last cell a ray sampled: consecutive samples (half a voxel
// apart) mostly share a cell, so its values are loaded once. Same arithmetic as `sample`.
struct Cell {
    base: vec3<i32>,
    lo: vec4<f32>,  // corners (i0/i1 along x) at (y0,z0), (y1,z0) ...
    hi: vec4<f32>,
}

fn sample_cached(p: vec3<f32>, cell: ptr<function, Cell>) -> f32 {
    let n = vec3<i32>(params.dims.xyz);
    let q = clamp(p, vec3<f32>(0.0), vec3<f32>(n - 1));
    let i0 = vec3<i32>(floor(q));
    if (any(i0 != (*cell).base)) {
        let i1 = min(i0 + 1, n - 1);
        (*cell).base = i0;
        (*cell).lo = vec4<f32>(
            load(i0), load(vec3<i32>(i1.x, i0.y, i0.z)),
            load(vec3<i32>(i0.x, i1.y, i0.z)), load(vec3<i32>(i1.x, i1.y, i0.z)));
        (*cell).hi = vec4<f32>(
            load(vec3<i32>(i0.x, i0.y, i1.z)), load(vec3<i32>(i1.x, i0.y, i1.z)),
            load(vec3<i32>(i0.x, i1.y, i1.z)), load(i1));
    }
    let f = q - vec3<f32>(i0);
    let a = (*cell).lo;
    let b = (*cell).hi;
    let c00 = mix(a.x, a.y, f.x);
    let c10 = mix(a.z, a.w, f.x);
    let c01 = mix(b.x, b.y, f.x);
    let c11 = mix(b.z, b.w, f.x);
    return mix(mix(c00, c10, f.y), mix(c01, c11, f.y), f.z);
}

fn label_at(p: vec3<i32>) -> u32 {
    let n = vec3<i32>(params.dims.xyz);
    if (any(p < vec3<i32>(0)) || any(p >= n)) {
        return 0u;
    }
    let texel = textureLoad(labels, vec3<i32>(p.x >> 2u, p.y, p.z), 0).x;
    return (texel >> (u32(p.x & 3) * 8u)) & 0xffu;
}

fn tf_at(v: f32) -> vec4<f32> {
    let x = clamp((v - params.window.z) / (params.window.w - params.window.z), 0.0, 1.0) * 255.0;
    let i0 = u32(floor(x));
    let i1 = min(i0 + 1u, 255u);
    let f = x - f32(i0);
    return tf[i0] * (1.0 - f) + tf[i1] * f;
}

// (ambient + diffuse, specular) for a voxel-space gradient.
fn shade(g: vec3<f32>) -> vec2<f32> {
    let n = vec3<f32>(dot(params.nrm0.xyz, g), dot(params.nrm1.xyz, g), dot(params.nrm2.xyz, g));
    let len = sqrt(dot(n, n));
    if (len < 1e-6) {
        return vec2<f32>(1.0, 0.0);
    }
    let d = abs(dot(n, params.view.xyz) / len);
    return vec2<f32>(0.3 + 0.7 * d, 0.25 * pow(d, 24.0));
}

fn occ(p: vec3<i32>, l: u32) -> f32 {
    return select(0.0, 1.0, label_at(p) == l);
}

fn march(gid: vec2<u32>) -> Ray {
    let n = vec3<i32>(params.dims.xyz);
    let mode = params.dims.w;
    let labels_on = (params.size.z & 1u) != 0u;
    let o = params.origin.xyz + f32(gid.x) * params.du.xyz + f32(gid.y) * params.dv.xyz;
    let st = params.step.xyz;
    // Slab intersection with the voxel box, in steps.
    var tn = -1e30;
    var tfar = 1e30;
    var inside = true;
    for (var a = 0; a < 3; a++) {
        let lo = max(params.clip_lo[a], -0.5);
        let hi = min(params.clip_hi[a], f32(n[a]) - 0.5);
        if (abs(st[a]) < 1e-12) {
            if (o[a] < lo || o[a] > hi) {
                inside = false;
            }
        } else {
            let t1 = (lo - o[a]) / st[a];
            let t2 = (hi - o[a]) / st[a];
            tn = max(tn, min(t1, t2));
            tfar = min(tfar, max(t1, t2));
        }
    }
    var acc = vec4<f32>(0.0);
    var mx = -3.4028235e38;
    var hit = vec4<f32>(0.0);
    var vhit = vec4<f32>(0.0);
    var cell = Cell(vec3<i32>(-1), vec4<f32>(0.0), vec4<f32>(0.0));
    var prev_label = 0u;
    let step_mm = params.step.w;
    let edge = params.bricks.w;
    var k = max(ceil(tn), 0.0);
    let k1 = min(floor(tfar), f32(params.size.w));
    if (!inside) {
        k = 1.0;
    }
    loop {
        if (!inside || k > k1) {
            break;
        }
        let pos = o + st * k;
        let bi = vec3<u32>(floor(clamp(pos, vec3<f32>(0.0), vec3<f32>(n - 1)) / f32(edge)));
        let b = bi.x + params.bricks.x * (bi.y + params.bricks.y * bi.z);
        let r = brick_range[b];
        let has_lab = labels_on && brick_labels[b] != 0u;
        var vol_empty = true;
        if (mode == 0u) {
            vol_empty = r.y <= mx;
        } else if (mode == 1u) {
            vol_empty = r.y < params.span.x || r.x > params.span.y;
        }
        if (vol_empty && !has_lab) {
            var t_exit = 1e30;
            for (var a = 0; a < 3; a++) {
                if (st[a] > 0.0) {
                    t_exit = min(t_exit, (f32((bi[a] + 1u) * edge) - o[a]) / st[a]);
                } else if (st[a] < 0.0) {
                    t_exit = min(t_exit, (f32(bi[a] * edge) - o[a]) / st[a]);
                }
            }
            prev_label = 0u;
            k = max(k + 1.0, floor(t_exit));
            continue;
        }
        if (labels_on) {
            let li = vec3<i32>(floor(pos + 0.5));
            let l = label_at(li);
            let c = colors[l];
            if (l != 0u && l != prev_label && c.a > 0.0) {
                var g = vec3<f32>(0.0);
                for (var a = 0; a < 3; a++) {
                    var m = li;
                    var pl = li;
                    m[a] -= 1;
                    pl[a] += 1;
                    g[a] = occ(m, l) - occ(pl, l);
                }
                let sh = shade(g);
                let alpha = c.a * params.view.w;
                if (hit.w == 0.0) {
                    hit = vec4<f32>(vec3<f32>(li), 1.0);
                }
                acc = vec4<f32>(acc.rgb + (1.0 - acc.a) * alpha * (c.rgb * sh.x + sh.y), acc.a + (1.0 - acc.a) * alpha);
            }
            prev_label = select(0u, l, c.a > 0.0);
        }
        if (mode == 0u) {
            let v = sample_cached(pos, &cell);
            if (v > mx) {
                mx = v;
                vhit = vec4<f32>(pos, 1.0);
            }
        } else if (mode == 1u) {
            let v = sample_cached(pos, &cell);
            if (v >= params.span.x && v <= params.span.y) {
                let c = tf_at(v);
                let alpha = 1.0 - pow(1.0 - min(c.a, 1.0), step_mm);
                if (alpha > 0.0) {
                    var g = vec3<f32>(0.0);
                    for (var a = 0; a < 3; a++) {
                        var m = pos;
                        var pl = pos;
                        m[a] -= 1.0;
                        pl[a] += 1.0;
                        g[a] = sample(m) - sample(pl);
                    }
                    let sh = shade(g);
                    acc = vec4<f32>(acc.rgb + (1.0 - acc.a) * alpha * (c.rgb * sh.x + sh.y), acc.a + (1.0 - acc.a) * alpha);
                    if (vhit.w == 0.0 && acc.a >= 0.5) {
                        vhit = vec4<f32>(pos, 1.0);
                    }
                }
            }
        }
        if (acc.a >= params.span.z) {
            break;
        }
        k += 1.0;
    }
    var rgb = acc.rgb;
    if (mode == 0u && mx > -3.4028235e38) {
        let g = f32(window_to_u8(mx, params.window.x, params.window.y)) / 255.0;
        rgb += (1.0 - acc.a) * g;
    }
    return Ray(rgb, select(vhit, hit, hit.w != 0.0));
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    _ = arrayLength(&pick_io);
    if (gid.x >= params.size.x || gid.y >= params.size.y) {
        return;
    }
    let r = march(gid.xy);
    textureStore(out_image, gid.xy, vec4<f32>(clamp(r.rgb, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0));
}

@compute @workgroup_size(1, 1, 1)
fn pick_main() {
    _ = textureDimensions(out_image);
    let px = vec2<u32>(pick_io[0].xy);
    pick_io[0] = march(px).hit;
}
