// Histogram of the volume: bin = floor((v - lo) * scale), clamped to [0, nbins-1]; NaN skipped.
// One workgroup per z-slice accumulates in workgroup memory, then adds its non-zero bins to
// the global histogram. SAMPLE_T is replaced by the volume's sample type.
// Keep in sync with src/kernels/histogram.rs (HistogramParams).

struct Params {
    dims: vec4<u32>,   // nx, ny, nz, nbins
    lo: f32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

const MAX_BINS: u32 = 4096u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var volume: texture_3d<SAMPLE_T>;
@group(0) @binding(2) var<storage, read_write> bins: array<atomic<u32>>;

var<workgroup> local_bins: array<atomic<u32>, MAX_BINS>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let z = wg.x + wg.y * 65535u;
    let nbins = params.dims.w;
    for (var b = lid; b < nbins; b = b + 256u) {
        atomicStore(&local_bins[b], 0u);
    }
    workgroupBarrier();
    if (z < params.dims.z) {
        let n = params.dims.x * params.dims.y;
        for (var idx = lid; idx < n; idx = idx + 256u) {
            let i = idx % params.dims.x;
            let j = idx / params.dims.x;
            let v = f32(textureLoad(volume, vec3<u32>(i, j, z), 0).x);
            if (v == v) {
                let t = (v - params.lo) * params.scale;
                let b = u32(clamp(floor(t), 0.0, f32(nbins - 1u)));
                atomicAdd(&local_bins[b], 1u);
            }
        }
    }
    workgroupBarrier();
    for (var b = lid; b < nbins; b = b + 256u) {
        let c = atomicLoad(&local_bins[b]);
        if (c != 0u) {
            atomicAdd(&bins[b], c);
        }
    }
}
