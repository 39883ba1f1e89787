// GPU self-test: out[i] = in[i] * params.scale + params.offset (wrapping i32 arithmetic).
// Used by `voxmark gpu` and the harness test to prove a compute dispatch round-trips.
// Keep in sync with src/gpu/selftest.rs (SelftestParams).

struct Params {
    scale: i32,
    offset: i32,
    count: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> input: array<i32>;
@group(0) @binding(2) var<storage, read_write> output: array<i32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if (i >= params.count) {
        return;
    }
    output[i] = input[i] * params.scale + params.offset;
}
