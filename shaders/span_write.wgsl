// Span write: for each row (j, k) its runs [i0, i1] of voxels get `value` where the current
// label is in the source set and (optionally) the image value lies in [lo, hi]. One
// invocation per row: rows own their packed texels, so there are no write races.
// SAMPLE_T is replaced by the image's sample type.
// Keep in sync with src/edit/spans.rs (SpanWriteParams, apply_spans_cpu).

struct Params {
    head: vec4<u32>,     // row count, value, has range, unused
    range: vec4<f32>,    // lo, hi, unused, unused
    source: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> rows: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> spans: array<vec2<u32>>;
@group(0) @binding(3) var image: texture_3d<SAMPLE_T>;
@group(0) @binding(4) var labels: texture_storage_3d<r32uint, read_write>;
@group(0) @binding(5) var<storage, read_write> changed: array<atomic<u32>, 1>;

fn in_source(l: u32) -> bool {
    let word = params.source[l >> 7u][(l >> 5u) & 3u];
    return (word & (1u << (l & 31u))) != 0u;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = gid.x + gid.y * nwg.x * 64u;
    if (r >= params.head.x) {
        return;
    }
    let row = rows[r];
    let value = params.head.y;
    var count = 0u;
    for (var s = row.z; s < row.z + row.w; s = s + 1u) {
        let span = spans[s];
        for (var t = span.x >> 2u; t <= span.y >> 2u; t = t + 1u) {
            let pos = vec3<u32>(t, row.x, row.y);
            let old = textureLoad(labels, pos).x;
            var updated = old;
            for (var b = 0u; b < 4u; b = b + 1u) {
                let x = t * 4u + b;
                if (x < span.x || x > span.y) {
                    continue;
                }
                let shift = 8u * b;
                let cur = (old >> shift) & 0xffu;
                if (cur == value || !in_source(cur)) {
                    continue;
                }
                if (params.head.z != 0u) {
                    let v = f32(textureLoad(image, vec3<u32>(x, row.x, row.y), 0).x);
                    if (!(v >= params.range.x && v <= params.range.y)) {
                        continue;
                    }
                }
                updated = (updated & ~(0xffu << shift)) | (value << shift);
                count = count + 1u;
            }
            if (updated != old) {
                textureStore(labels, pos, vec4<u32>(updated, 0u, 0u, 0u));
            }
        }
    }
    if (count != 0u) {
        atomicAdd(&changed[0], count);
    }
}
