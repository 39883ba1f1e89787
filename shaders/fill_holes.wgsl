// Fill holes: which voxels of the box around a label are reachable from the box's boundary
// through voxels not of the label (6-connected in 3D, or 4-connected within each slice along
// one axis). Block-local like shaders/grow_cut.wgsl: each workgroup loads an 8x8x4 tile and
// its halo into workgroup memory, sweeps it to a local fixed point, writes it to the other
// buffer of a ping-pong pair and counts what changed; the host repeats until nothing does.
// State per voxel: 0 not (yet) reached, 1 reached, 2 the label (wall).
// Keep in sync with src/kernels/fill_holes.rs (FillHolesParams, fill_holes_cpu).

struct Params {
    size: vec4<u32>,      // box size x, y, z; max local sweeps
    misc: vec4<u32>,      // slice axis (0, 1, 2) or 3 for 3D; unused x3
}

const TILE: u32 = 600u; // 10 x 10 x 6

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> state_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> state_out: array<u32>;
@group(0) @binding(3) var<storage, read_write> changed: array<atomic<u32>, 1>;

var<workgroup> s_state: array<u32, 600>;
var<workgroup> wg_changed: atomic<u32>;
var<workgroup> wg_any: u32;

@compute @workgroup_size(8, 8, 4)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let origin = vec3<i32>(wg * vec3<u32>(8u, 8u, 4u)) - vec3<i32>(1, 1, 1);
    let size = vec3<i32>(params.size.xyz);
    for (var i = lidx; i < TILE; i = i + 256u) {
        let t = vec3<i32>(i32(i % 10u), i32((i / 10u) % 10u), i32(i / 100u));
        let g = origin + t;
        if (any(g < vec3<i32>(0)) || any(g >= size)) {
            s_state[i] = 2u;
        } else {
            s_state[i] = state_in[u32(g.x) + params.size.x * (u32(g.y) + params.size.y * u32(g.z))];
        }
    }
    workgroupBarrier();
    let g = wg * vec3<u32>(8u, 8u, 4u) + lid;
    let inside = all(g < params.size.xyz);
    let me = (lid.x + 1u) + 10u * ((lid.y + 1u) + 10u * (lid.z + 1u));
    let before = s_state[me];
    // The 6 face neighbours, minus the two along the slice axis in per-slice mode.
    var steps = array<i32, 6>(-1, 1, -10, 10, -100, 100);
    for (var it = 0u; it < params.size.w; it = it + 1u) {
        var reach = false;
        if (inside && s_state[me] == 0u) {
            for (var k = 0u; k < 6u; k = k + 1u) {
                if (k / 2u == params.misc.x) {
                    continue;
                }
                if (s_state[u32(i32(me) + steps[k])] == 1u) {
                    reach = true;
                }
            }
        }
        workgroupBarrier();
        if (reach) {
            s_state[me] = 1u;
            atomicOr(&wg_changed, 1u);
        }
        workgroupBarrier();
        if (lidx == 0u) {
            wg_any = atomicExchange(&wg_changed, 0u);
        }
        if (workgroupUniformLoad(&wg_any) == 0u) {
            break;
        }
    }
    if (inside) {
        state_out[g.x + params.size.x * (g.y + params.size.y * g.z)] = s_state[me];
        if (s_state[me] != before) {
            atomicAdd(&changed[0], 1u);
        }
    }
}
