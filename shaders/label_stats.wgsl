// Per-label statistics of the image under the labels: count, Σd and Σd² (exact 64-bit sums
// as u32 pairs with carries), min and max of d, and the bounding box, where d = value −
// offset ≥ 0 fits 16 bits (u8, i8, u16, i16 volumes). Each workgroup reduces its 4×4×4
// texels (256 voxels) in workgroup memory, then flushes the labels it saw with global
// atomics. SAMPLE_T is the volume's sample type. Keep in sync with src/edit/stats.rs
// (LabelStatsParams, label_stats_gpu).

struct Params {
    dims: vec4<u32>,    // nx, ny, nz, texel width
    offset: vec4<i32>,  // value offset (the type's minimum), unused x3
}

const FIELDS: u32 = 13u;  // count, sum lo, sum hi, sq lo, sq hi, min, max, lo xyz, hi xyz

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var volume: texture_3d<SAMPLE_T>;
@group(0) @binding(2) var labels: texture_3d<u32>;
@group(0) @binding(3) var<storage, read_write> acc: array<atomic<u32>>;

var<workgroup> w: array<atomic<u32>, 3328>;  // FIELDS × 256

// Adds v to the 64-bit number (w[lo], w[hi]): a wrapped low word carries one.
fn add64(lo: u32, hi: u32, v: u32) {
    let old = atomicAdd(&w[lo], v);
    if (old + v < old) {
        atomicAdd(&w[hi], 1u);
    }
}

@compute @workgroup_size(4, 4, 4)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    for (var l = lid; l < 256u; l += 64u) {
        for (var f = 0u; f < FIELDS; f++) {
            var init = 0u;
            if (f == 5u || f == 7u || f == 8u || f == 9u) {
                init = 0xffffffffu;
            }
            atomicStore(&w[f * 256u + l], init);
        }
    }
    workgroupBarrier();
    if (gid.x < params.dims.w && gid.y < params.dims.y && gid.z < params.dims.z) {
        let texel = textureLoad(labels, gid, 0).x;
        for (var b = 0u; b < 4u; b++) {
            let x = gid.x * 4u + b;
            let l = (texel >> (b * 8u)) & 0xffu;
            if (x >= params.dims.x || l == 0u) {
                continue;
            }
            let v = i32(textureLoad(volume, vec3<u32>(x, gid.y, gid.z), 0).x);
            let d = u32(v - params.offset.x);
            atomicAdd(&w[l], 1u);
            add64(256u + l, 512u + l, d);
            add64(768u + l, 1024u + l, d * d);
            atomicMin(&w[1280u + l], d);
            atomicMax(&w[1536u + l], d);
            atomicMin(&w[1792u + l], x);
            atomicMin(&w[2048u + l], gid.y);
            atomicMin(&w[2304u + l], gid.z);
            atomicMax(&w[2560u + l], x);
            atomicMax(&w[2816u + l], gid.y);
            atomicMax(&w[3072u + l], gid.z);
        }
    }
    workgroupBarrier();
    for (var l = lid; l < 256u; l += 64u) {
        let n = atomicLoad(&w[l]);
        if (n == 0u) {
            continue;
        }
        let g = l * FIELDS;
        atomicAdd(&acc[g], n);
        for (var s = 0u; s < 2u; s++) {
            let lo = atomicLoad(&w[(1u + 2u * s) * 256u + l]);
            let hi = atomicLoad(&w[(2u + 2u * s) * 256u + l]);
            let old = atomicAdd(&acc[g + 1u + 2u * s], lo);
            var carry = 0u;
            if (old + lo < old) {
                carry = 1u;
            }
            atomicAdd(&acc[g + 2u + 2u * s], hi + carry);
        }
        atomicMin(&acc[g + 5u], atomicLoad(&w[1280u + l]));
        atomicMax(&acc[g + 6u], atomicLoad(&w[1536u + l]));
        for (var a = 0u; a < 3u; a++) {
            atomicMin(&acc[g + 7u + a], atomicLoad(&w[(7u + a) * 256u + l]));
            atomicMax(&acc[g + 10u + a], atomicLoad(&w[(10u + a) * 256u + l]));
        }
    }
}
