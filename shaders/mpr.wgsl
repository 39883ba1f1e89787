// MPR slice render: one output pixel per invocation. The pixel's voxel coordinates come from
// per-column / per-row tables (computed on the CPU in f64), so the GPU and the CPU reference
// pick the same voxels. Value -> window (DICOM linear VOI) -> grey; label overlay blended by
// per-label colour x opacity, filled or outline; crosshair on top. SAMPLE_T is replaced by
// the volume's sample type. Keep in sync with src/kernels/mpr.rs (MprParams, mpr_cpu).
//!include common/window.wgsl

struct Params {
    dims: vec4<u32>,    // nx, ny, nz, flags (1 labels, 2 linear, 4 outline, 8 crosshair)
    axes: vec4<u32>,    // axis_u, axis_v, axis_n, slice
    size: vec4<u32>,    // width, height, crosshair column, crosshair row
    window: vec4<f32>,  // center, width, label opacity, preview opacity
}

const FLAG_LABELS: u32 = 1u;
const FLAG_LINEAR: u32 = 2u;
const FLAG_OUTLINE: u32 = 4u;
const FLAG_CROSSHAIR: u32 = 8u;
const FLAG_PREVIEW: u32 = 16u;
const PREVIEW_COLOR: vec3<f32> = vec3<f32>(0.1, 0.9, 1.0);

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> colors: array<vec4<f32>, 256>;
@group(0) @binding(2) var<storage, read> coords: array<f32>;
@group(0) @binding(3) var volume: texture_3d<SAMPLE_T>;
@group(0) @binding(4) var labels: texture_3d<u32>;
@group(0) @binding(5) var out_image: texture_storage_2d<rgba8unorm, write>;
@group(0) @binding(6) var preview: texture_3d<u32>;

fn voxel(iu: i32, iv: i32) -> vec3<i32> {
    var p = vec3<i32>(0, 0, 0);
    p[params.axes.x] = iu;
    p[params.axes.y] = iv;
    p[params.axes.z] = i32(params.axes.w);
    return p;
}

fn value_at(iu: i32, iv: i32) -> f32 {
    return f32(textureLoad(volume, voxel(iu, iv), 0).x);
}

fn label_at(iu: i32, iv: i32, nu: i32, nv: i32) -> u32 {
    if (iu < 0 || iv < 0 || iu >= nu || iv >= nv) {
        return 0u;
    }
    let p = voxel(iu, iv);
    let texel = textureLoad(labels, vec3<i32>(p.x >> 2u, p.y, p.z), 0).x;
    return (texel >> (u32(p.x & 3) * 8u)) & 0xffu;
}

fn preview_at(iu: i32, iv: i32) -> u32 {
    let p = voxel(iu, iv);
    let texel = textureLoad(preview, vec3<i32>(p.x >> 2u, p.y, p.z), 0).x;
    return (texel >> (u32(p.x & 3) * 8u)) & 0xffu;
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let w = params.size.x;
    let h = params.size.y;
    if (gid.x >= w || gid.y >= h) {
        return;
    }
    let flags = params.dims.w;
    let cu = coords[gid.x];
    let cv = coords[w + gid.y];
    let nu = i32(params.dims[params.axes.x]);
    let nv = i32(params.dims[params.axes.y]);
    var rgb = vec3<f32>(0.0, 0.0, 0.0);
    if (cu >= -0.5 && cv >= -0.5 && cu <= f32(nu) - 0.5 && cv <= f32(nv) - 0.5) {
        let iu = clamp(i32(floor(cu + 0.5)), 0, nu - 1);
        let iv = clamp(i32(floor(cv + 0.5)), 0, nv - 1);
        var value: f32;
        if ((flags & FLAG_LINEAR) != 0u) {
            let su = clamp(cu, 0.0, f32(nu - 1));
            let sv = clamp(cv, 0.0, f32(nv - 1));
            let u0 = i32(floor(su));
            let v0 = i32(floor(sv));
            let u1 = min(u0 + 1, nu - 1);
            let v1 = min(v0 + 1, nv - 1);
            let tu = su - f32(u0);
            let tv = sv - f32(v0);
            let top = mix(value_at(u0, v0), value_at(u1, v0), tu);
            let bottom = mix(value_at(u0, v1), value_at(u1, v1), tu);
            value = mix(top, bottom, tv);
        } else {
            value = value_at(iu, iv);
        }
        let g = f32(window_to_u8(value, params.window.x, params.window.y)) / 255.0;
        rgb = vec3<f32>(g, g, g);
        if ((flags & FLAG_LABELS) != 0u) {
            let l = label_at(iu, iv, nu, nv);
            if (l != 0u) {
                var show = true;
                if ((flags & FLAG_OUTLINE) != 0u) {
                    show = label_at(iu - 1, iv, nu, nv) != l || label_at(iu + 1, iv, nu, nv) != l
                        || label_at(iu, iv - 1, nu, nv) != l || label_at(iu, iv + 1, nu, nv) != l;
                }
                if (show) {
                    let c = colors[l];
                    let a = c.a * params.window.z;
                    rgb = rgb * (1.0 - a) + c.rgb * a;
                }
            }
        }
        if ((flags & FLAG_PREVIEW) != 0u && preview_at(iu, iv) != 0u) {
            let a = params.window.w;
            rgb = rgb * (1.0 - a) + PREVIEW_COLOR * a;
        }
    }
    if ((flags & FLAG_CROSSHAIR) != 0u && (gid.x == params.size.z || gid.y == params.size.w)) {
        rgb = vec3<f32>(1.0, 0.85, 0.1);
    }
    textureStore(out_image, vec2<u32>(gid.x, gid.y), vec4<f32>(rgb, 1.0));
}
