// Grow from seeds (Fast GrowCut) on the GPU: block-local Bellman-Ford. Each workgroup loads an
// 8x8x4 tile of the ROI and its one-voxel halo into workgroup memory and relaxes the tile to a
// local fixed point (Jacobi sweeps between barriers), then writes the tile to the other buffer
// of a ping-pong pair and counts the voxels that changed. The host repeats passes until a batch
// changes nothing. Two phases, two entry points:
//   costs:  cost(p) = min(cost(p), min_q step(cost(q), v(q), v(p)))   over 26 non-wall q
//   labels: lab(p)  = min(lab(p),  min_{q in P(p)} lab(q)),  P(p) = the non-wall neighbours q
//           with step(cost(q), v(q), v(p)) == cost(p) and cost(q) minimal among those
// Keep in sync with src/kernels/grow_cut.rs (GrowCutParams, GrowCutState::solve_cpu).

struct Params {
    size: vec4<u32>,      // ROI size x, y, z; max local sweeps
    misc: vec4<u32>,      // unused
}

const INF: u32 = 0xffffffffu;
const NONE: u32 = 256u;
const FREE: u32 = 0u;
const SEED: u32 = 1u;
const WALL: u32 = 2u;
const TILE: u32 = 600u; // 10 x 10 x 6

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> values: array<u32>;
@group(0) @binding(2) var<storage, read> kinds: array<u32>;   // kind | seed label << 8
@group(0) @binding(3) var<storage, read> state_in: array<u32>;
@group(0) @binding(4) var<storage, read_write> state_out: array<u32>;
@group(0) @binding(5) var<storage, read_write> changed: array<atomic<u32>, 1>;
// The costs (final) for the label phase; unused by the cost phase.
@group(0) @binding(6) var<storage, read> costs: array<u32>;

var<workgroup> s_state: array<u32, 600>;
var<workgroup> s_cost: array<u32, 600>;
var<workgroup> s_val: array<u32, 600>;
var<workgroup> s_kind: array<u32, 600>;
var<workgroup> wg_changed: atomic<u32>;
var<workgroup> wg_any: u32;

fn step_cost(c: u32, a: u32, b: u32) -> u32 {
    let d = max(a, b) - min(a, b);
    let s = c + d;
    if (s < c) {
        return INF - 1u;
    }
    return min(s, INF - 1u);
}

// Loads the tile + halo of workgroup `wg` (phase 0: costs; 1: labels).
fn load_tile(wg: vec3<u32>, lidx: u32, phase: u32) {
    let origin = vec3<i32>(wg * vec3<u32>(8u, 8u, 4u)) - vec3<i32>(1, 1, 1);
    let size = vec3<i32>(params.size.xyz);
    for (var i = lidx; i < TILE; i = i + 256u) {
        let t = vec3<i32>(i32(i % 10u), i32((i / 10u) % 10u), i32(i / 100u));
        let g = origin + t;
        if (any(g < vec3<i32>(0)) || any(g >= size)) {
            s_kind[i] = WALL;
            s_state[i] = select(NONE, INF, phase == 0u);
            s_cost[i] = INF;
            s_val[i] = 0u;
        } else {
            let r = u32(g.x) + params.size.x * (u32(g.y) + params.size.y * u32(g.z));
            s_kind[i] = kinds[r] & 0xffu;
            s_state[i] = state_in[r];
            s_val[i] = values[r];
            if (phase == 1u) {
                s_cost[i] = costs[r];
            } else {
                s_cost[i] = 0u;
            }
        }
    }
    workgroupBarrier();
}

fn neighbour(me: u32, n: u32) -> u32 {
    // n in 0..26 over (dx, dy, dz) in [-1, 1]^3 without the centre, z slowest.
    var k = n;
    if (k >= 13u) {
        k = k + 1u;
    }
    let dx = i32(k % 3u) - 1;
    let dy = i32((k / 3u) % 3u) - 1;
    let dz = i32(k / 9u) - 1;
    return u32(i32(me) + dx + 10 * (dy + 10 * dz));
}

@compute @workgroup_size(8, 8, 4)
fn costs_pass(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    load_tile(wg, lidx, 0u);
    let g = wg * vec3<u32>(8u, 8u, 4u) + lid;
    let inside = all(g < params.size.xyz);
    let me = (lid.x + 1u) + 10u * ((lid.y + 1u) + 10u * (lid.z + 1u));
    let working = inside && s_kind[me] == FREE;
    let before = s_state[me];
    for (var it = 0u; it < params.size.w; it = it + 1u) {
        var best = s_state[me];
        if (working) {
            for (var n = 0u; n < 26u; n = n + 1u) {
                let q = neighbour(me, n);
                if (s_kind[q] != WALL && s_state[q] != INF) {
                    best = min(best, step_cost(s_state[q], s_val[q], s_val[me]));
                }
            }
        }
        workgroupBarrier();
        if (best < s_state[me]) {
            s_state[me] = best;
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
        let r = g.x + params.size.x * (g.y + params.size.y * g.z);
        state_out[r] = s_state[me];
        if (s_state[me] != before) {
            atomicAdd(&changed[0], 1u);
        }
    }
}

@compute @workgroup_size(8, 8, 4)
fn labels_pass(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    load_tile(wg, lidx, 1u);
    let g = wg * vec3<u32>(8u, 8u, 4u) + lid;
    let inside = all(g < params.size.xyz);
    let me = (lid.x + 1u) + 10u * ((lid.y + 1u) + 10u * (lid.z + 1u));
    let working = inside && s_kind[me] == FREE && s_cost[me] != INF;
    // The cheapest predecessors (costs are final): a 26-bit mask.
    var preds = 0u;
    if (working) {
        var pd = INF;
        for (var n = 0u; n < 26u; n = n + 1u) {
            let q = neighbour(me, n);
            if (s_kind[q] != WALL && s_cost[q] != INF
                && step_cost(s_cost[q], s_val[q], s_val[me]) == s_cost[me]) {
                pd = min(pd, s_cost[q]);
            }
        }
        for (var n = 0u; n < 26u; n = n + 1u) {
            let q = neighbour(me, n);
            if (s_kind[q] != WALL && s_cost[q] == pd
                && step_cost(s_cost[q], s_val[q], s_val[me]) == s_cost[me]) {
                preds = preds | (1u << n);
            }
        }
    }
    let before = s_state[me];
    for (var it = 0u; it < params.size.w; it = it + 1u) {
        var best = s_state[me];
        for (var n = 0u; n < 26u; n = n + 1u) {
            if ((preds & (1u << n)) != 0u) {
                best = min(best, s_state[neighbour(me, n)]);
            }
        }
        workgroupBarrier();
        if (best < s_state[me]) {
            s_state[me] = best;
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
        let r = g.x + params.size.x * (g.y + params.size.y * g.z);
        state_out[r] = s_state[me];
        if (s_state[me] != before) {
            atomicAdd(&changed[0], 1u);
        }
    }
}
