//! The benchmark cases: each times one user-visible operation on the CPU path or the GPU
//! path with the same inputs, and says what it produced (so a fast no-op cannot hide).

use super::{median_timing, time_runs, BenchBackend, BenchOp, Row};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::Instant;
use voxmark_edit::ops::{EditOp, Editable, Shape, Stroke};
use voxmark_edit::session::{GpuEdit, OpTiming, Session};
use voxmark_edit::store::execute_cpu;
use voxmark_edit::{lower, EditEnv, Program};
use voxmark_gpu::kernels::grow_cut::{GrowCutKernel, GrowCutRequest, GrowCutState};
use voxmark_gpu::kernels::interpolate::interpolate_plan;
use voxmark_gpu::kernels::mpr::{LabelStyle, MprKernel};
use voxmark_gpu::kernels::raycast::RenderMode;
use voxmark_gpu::kernels::region_grow::{
    confidence_range, region_grow_cpu, Connectivity, GrowRequest, RegionGrowParams,
};
use voxmark_gpu::kernels::region_grow_gpu::RegionGrowKernel;
use voxmark_gpu::kernels::transfer::{TfPreset, TransferFunction};
use voxmark_gpu::kernels::window_level::{window_level_cpu, WindowLevelKernel, WindowLevelParams};
use voxmark_gpu::residency::{PackedU8Volume, ResidentVolume};
use voxmark_gpu::GpuContext;
use voxmark_io::{load_volume, LoadOptions};
use voxmark_render::slice::{render_rgba_cpu, HostOverlays, Overlays, SliceOptions, SliceRenderer};
use voxmark_render::volume_view::{render_3d_cpu, VolumeView, VolumeViewOptions};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::geometry::camera::Camera;
use voxmark_volume::geometry::view::{ViewGeometry, ViewKind};
use voxmark_volume::phantom::{Phantom, Tissue};
use voxmark_volume::{Volume, WindowPreset};

/// What to benchmark.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// A file or DICOM folder; None: the phantom of `dims`.
    pub path: Option<PathBuf>,
    pub dims: [usize; 3],
    pub series: Option<String>,
    pub ops: Vec<BenchOp>,
    pub backend: BenchBackend,
    pub runs: usize,
    /// Where the phantom file for `load` is written (a temporary folder when None).
    pub work_dir: Option<PathBuf>,
}

/// The GPU side: the context plus the image and labels resident.
struct GpuSide<'a> {
    ctx: &'a GpuContext,
    image: ResidentVolume,
    labels: PackedU8Volume,
}

/// Shared inputs of every case.
struct Inputs<'a> {
    file: PathBuf,
    vol: &'a Volume,
    labels: Vec<u8>,
    size: String,
    cpu: String,
    phantom: Option<Phantom>,
    runs: usize,
}

fn wait(ctx: &GpuContext) -> Result<()> {
    ctx.wait("bench")
}

/// Bytes the driver's allocator holds now (Vulkan/DX12), if it reports them.
fn gpu_bytes(ctx: &GpuContext) -> Option<u64> {
    ctx.device
        .generate_allocator_report()
        .map(|r| r.total_allocated_bytes)
}

fn adapter(ctx: &GpuContext) -> String {
    ctx.report().name
}

/// Runs the configured cases; `each` sees every row as soon as it is measured. Returns the
/// rows and the file `load` read.
pub fn run_bench(cfg: &BenchConfig, mut each: impl FnMut(&Row)) -> Result<(Vec<Row>, PathBuf)> {
    let tmp;
    let t0 = Instant::now();
    let (vol, file, phantom) = match &cfg.path {
        Some(p) => {
            let l = load_volume(
                p,
                &LoadOptions {
                    series: cfg.series.clone(),
                },
            )?;
            (l.volume, p.clone(), None)
        }
        None => {
            let ph = Phantom::new(cfg.dims)?;
            let v = ph.volume();
            let dir = match &cfg.work_dir {
                Some(d) => d.clone(),
                None => {
                    tmp = tempfile::tempdir().map_err(|e| Error::io(Path::new("tempdir"), e))?;
                    tmp.path().to_path_buf()
                }
            };
            let f = dir.join(format!(
                "phantom_{}x{}x{}.nii.gz",
                cfg.dims[0], cfg.dims[1], cfg.dims[2]
            ));
            if cfg.ops.contains(&BenchOp::Load) || cfg.ops.contains(&BenchOp::Frame) {
                voxmark_io::nifti::write_nifti(&f, &v)?;
            }
            (v, f, Some(ph))
        }
    };
    let d = vol.grid.dims;
    eprintln!(
        "bench input: {} ({}x{}x{} {}), prepared in {:.1} s",
        if cfg.path.is_some() {
            file.display().to_string()
        } else {
            "built-in phantom".to_string()
        },
        d[0],
        d[1],
        d[2],
        vol.dtype().name(),
        t0.elapsed().as_secs_f64()
    );
    // A realistic label volume for the overlay cases: bright structures as label 1.
    let labels: Vec<u8> = (0..vol.grid.voxel_count())
        .map(|i| u8::from(vol.data.get_f64(i) > 250.0))
        .collect();
    let inp = Inputs {
        file: file.clone(),
        vol: &vol,
        labels,
        size: format!("{}x{}x{}", d[0], d[1], d[2]),
        cpu: super::cpu_name(),
        phantom,
        runs: cfg.runs.max(1),
    };
    let want_cpu = cfg.backend != BenchBackend::Gpu;
    let want_gpu = cfg.backend != BenchBackend::Cpu;
    // `both` times the GPU path on a hardware adapter only (a software rasterizer such as
    // lavapipe would take minutes and measure the CPU again); `gpu` times whatever is there.
    let ctx = if want_gpu {
        match GpuContext::new() {
            Ok(c) if cfg.backend == BenchBackend::Gpu || !c.is_software() => Some(c),
            Ok(c) => {
                eprintln!(
                    "voxmark: note: the only GPU adapter is a software rasterizer ({}); GPU rows skipped (--backend gpu times it anyway)",
                    c.report().name
                );
                None
            }
            Err(e) if cfg.backend == BenchBackend::Both => {
                eprintln!("voxmark: note: {e}; CPU rows only");
                None
            }
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let gpu = match &ctx {
        Some(ctx) => Some(GpuSide {
            ctx,
            image: ResidentVolume::upload(ctx, d, &vol.data)?,
            labels: PackedU8Volume::upload(ctx, d, &inp.labels)?,
        }),
        None => None,
    };
    let mut rows = Vec::new();
    let mut push = |r: Row| {
        each(&r);
        rows.push(r);
    };
    for op in &cfg.ops {
        if want_cpu {
            for r in cpu_case(&inp, *op)? {
                push(r);
            }
        }
        if let Some(g) = &gpu {
            for r in gpu_case(&inp, g, *op)? {
                push(r);
            }
        }
    }
    Ok((rows, file))
}

fn cpu_row(inp: &Inputs, op: &str, voxels: u64, t: &[f64], note: String) -> Row {
    let mut r = Row::new(op, &inp.size, "cpu", &inp.cpu, voxels, t);
    r.note = note;
    r
}

fn gpu_row(inp: &Inputs, g: &GpuSide, op: &str, voxels: u64, t: &[f64], note: String) -> Row {
    let mut r = Row::new(op, &inp.size, "gpu", &adapter(g.ctx), voxels, t);
    r.gpu_bytes = gpu_bytes(g.ctx);
    r.note = note;
    r
}

fn soft_tissue() -> WindowPreset {
    WindowPreset {
        center: 40.0,
        width: 400.0,
    }
}

/// The MPR frame case: coronal (a reformat across slices), 512×512, linear, labels.
fn mpr_setup(vol: &Volume) -> Result<(ViewGeometry, SliceOptions)> {
    let d = vol.grid.dims;
    let view = ViewGeometry::new(&vol.grid, ViewKind::Coronal, None, Some([512, 512]))?;
    let opts = SliceOptions {
        window: soft_tissue(),
        linear: true,
        labels: Some(LabelStyle::default()),
        crosshair: Some([d[0] as f64 / 2.0, d[1] as f64 / 2.0, d[2] as f64 / 2.0]),
    };
    Ok((view, opts))
}

/// The native axial slice case: one slice windowed at the volume's resolution (one output
/// pixel per voxel of the slice).
fn slice_setup(vol: &Volume) -> Result<(ViewGeometry, SliceOptions)> {
    let g = ViewGeometry::new(&vol.grid, ViewKind::Axial, None, None)?;
    let d = vol.grid.dims;
    let native = [d[g.axis_u] as u32, d[g.axis_v] as u32];
    let view = ViewGeometry::new(&vol.grid, ViewKind::Axial, None, Some(native))?;
    let opts = SliceOptions {
        window: soft_tissue(),
        linear: false,
        labels: None,
        crosshair: None,
    };
    Ok((view, opts))
}

/// Grow cases: (name, request, seeds).
fn grow_cases(inp: &Inputs) -> Result<Vec<(String, GrowRequest)>> {
    let vol = inp.vol;
    let [nx, ny, nz] = vol.grid.dims;
    let mut out = Vec::new();
    match &inp.phantom {
        Some(ph) => {
            for (name, t, lo, hi) in [
                ("vessel", Tissue::Vessel, 200.0, 500.0),
                ("body", Tissue::Body, -200.0, 200.0),
            ] {
                // Seeds on 5 slices through the volume, each inside the tissue and range.
                let seeds: Vec<[usize; 3]> = (1..=5)
                    .filter_map(|m| ph.seed_in(vol, t, lo, hi, nz * m / 6))
                    .collect();
                if seeds.is_empty() {
                    continue;
                }
                for n in [1usize, 5] {
                    let s: Vec<[usize; 3]> = seeds.iter().copied().take(n).collect();
                    out.push((
                        format!(
                            "grow {name} {} seed{}",
                            s.len(),
                            if s.len() > 1 { "s" } else { "" }
                        ),
                        GrowRequest {
                            seeds: s,
                            lower: lo,
                            upper: hi,
                            connectivity: Connectivity::Six,
                            roi: None,
                            label: 1,
                        },
                    ));
                }
            }
        }
        None => {
            // A file: one seed at the centre, range from ITK's ConfidenceConnected defaults.
            let seed = [nx / 2, ny / 2, nz / 2];
            let mut req = GrowRequest {
                seeds: vec![seed],
                lower: 0.0,
                upper: 0.0,
                connectivity: Connectivity::Six,
                roi: None,
                label: 1,
            };
            let (range, _) =
                confidence_range(&vol.data, vol.grid.dims, &[seed], 2.5, 1, 4, |lo, hi| {
                    req.lower = lo;
                    req.upper = hi;
                    let p = RegionGrowParams::new(vol.grid.dims, vol.dtype(), &req)?;
                    Ok(region_grow_cpu(&p, &vol.data, &[seed]))
                })?;
            req.lower = range.lower;
            req.upper = range.upper;
            out.push(("grow auto-range 1 seed (centre)".into(), req));
        }
    }
    Ok(out)
}

/// A 20-stamp sphere stroke of radius `r_mm` through the middle of the volume, stamps
/// 3 mm apart along i.
fn stroke(vol: &Volume, r_mm: f64, label: u8) -> EditOp {
    let d = vol.grid.dims;
    let step = 3.0 / vol.grid.spacing_mm()[0];
    let x0 = d[0] as f64 / 2.0 - 10.0 * step;
    let points = (0..20)
        .map(|k| [x0 + step * k as f64, d[1] as f64 / 2.0, d[2] as f64 / 2.0])
        .collect();
    EditOp::Paint(Stroke {
        shape: Shape::Sphere,
        plane: None,
        slice: None,
        points,
        radius_mm: r_mm,
        label,
        range: None,
        editable: Editable::Everywhere,
    })
}

/// Paint and undo on a session (host or GPU labels).
fn session_cases(
    inp: &Inputs,
    op: BenchOp,
    mut session: Session,
    mut row: impl FnMut(&str, u64, &[f64], String) -> Row,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    match op {
        BenchOp::Paint => {
            for r_mm in [10.0, 30.0] {
                let mut label = 1u8;
                let changed = Cell::new(0u64);
                let undo_b = Cell::new(0usize);
                let mut timings = Vec::new();
                let t = time_runs(inp.runs, || {
                    // Alternate labels so every run really changes the voxels.
                    label = 3 - label;
                    let rep = session.apply_unjournaled(&stroke(inp.vol, r_mm, label))?;
                    changed.set(rep.changed_voxels);
                    undo_b.set(rep.undo_bytes);
                    timings.push(rep.timing);
                    Ok(())
                })?;
                let mut r = row(
                    &format!("paint 20-stamp stroke r={r_mm} mm"),
                    changed.get(),
                    &t,
                    format!("{} voxels, undo {} B", changed.get(), undo_b.get()),
                );
                r.params = serde_json::to_value(stroke(inp.vol, r_mm, 1)).ok();
                // The warm-up run is not in the times.
                r.breakdown = Some(median_timing(&timings[1..]));
                rows.push(r);
            }
        }
        BenchOp::Undo => {
            let rep = session.apply_unjournaled(&stroke(inp.vol, 30.0, 7))?;
            let mut t = Vec::new();
            let mut timings = Vec::new();
            for k in 0..=inp.runs {
                let start = Instant::now();
                let u = session.apply_unjournaled(&EditOp::Undo)?;
                let ms = start.elapsed().as_secs_f64() * 1e3;
                if u.step.is_none() {
                    return Err(Error::Invalid("bench: nothing to undo".into()));
                }
                if k > 0 {
                    t.push(ms);
                    timings.push(u.timing);
                }
                session.apply_unjournaled(&EditOp::Redo)?;
            }
            let mut r = row(
                "undo 20-stamp stroke r=30 mm",
                rep.changed_voxels,
                &t,
                format!(
                    "{} voxels restored from {} B",
                    rep.changed_voxels, rep.undo_bytes
                ),
            );
            r.breakdown = Some(median_timing(&timings));
            rows.push(r);
        }
        BenchOp::Cleanup => {
            let th: EditOp = serde_json::from_value(serde_json::json!(
                {"op": "threshold", "range": [150, 4000], "label": 1}
            ))
            .map_err(|e| Error::invalid(format!("bench: {e}")))?;
            let rep = session.apply_unjournaled(&th)?;
            // A radius of 1.5 voxels along the coarsest axis: a real change at every size.
            let r_mm = 1.5
                * inp
                    .vol
                    .grid
                    .spacing_mm()
                    .iter()
                    .cloned()
                    .fold(0.0, f64::max);
            let r_mm = (r_mm * 10.0).round() / 10.0;
            let cases = [
                (
                    "islands remove < 1000 voxels".to_string(),
                    serde_json::json!({"op": "islands", "label": 1, "min_voxels": 1000}),
                ),
                (
                    "islands keep largest".to_string(),
                    serde_json::json!({"op": "islands", "label": 1, "keep_largest": true}),
                ),
                (
                    format!("dilate {r_mm} mm"),
                    serde_json::json!({"op": "dilate", "label": 1, "radius_mm": r_mm}),
                ),
                (
                    format!("erode {r_mm} mm"),
                    serde_json::json!({"op": "erode", "label": 1, "radius_mm": r_mm}),
                ),
            ];
            for (name, json) in cases {
                let op: EditOp = serde_json::from_value(json.clone())
                    .map_err(|e| Error::invalid(format!("bench: {e}")))?;
                let mut t = Vec::new();
                let mut timings = Vec::new();
                let mut changed = 0;
                for k in 0..=inp.runs {
                    let start = Instant::now();
                    let r = session.apply_unjournaled(&op)?;
                    let ms = start.elapsed().as_secs_f64() * 1e3;
                    if k > 0 {
                        t.push(ms);
                        timings.push(r.timing);
                    }
                    changed = r.changed_voxels;
                    session.apply_unjournaled(&EditOp::Undo)?;
                }
                let mut r = row(
                    &name,
                    inp.vol.grid.voxel_count() as u64,
                    &t,
                    format!("{changed} of {} voxels changed", rep.changed_voxels),
                );
                r.params = Some(json);
                r.breakdown = Some(median_timing(&timings));
                rows.push(r);
            }
        }
        _ => {}
    }
    Ok(rows)
}

/// A liver-size label: an ellipsoid (semi-axes 20 %, 15 %, 30 % of the grid, 75 × 55 ×
/// 45 mm on a 512×512×300 CT of 0.75 × 0.75 × 1.5 mm) drawn on every 5th axial slice, and
/// the `interpolate` op that fills it; the JSON params let peers rebuild the same mask.
fn liver_keys(vol: &Volume) -> Result<(Vec<u8>, EditOp, serde_json::Value)> {
    let d = vol.grid.dims;
    let (_, _, n) = ViewGeometry::new(&vol.grid, ViewKind::Axial, Some(0), Some([1, 1]))
        .map(|g| (g.axis_u, g.axis_v, g.axis_n))?;
    let c = [0.55, 0.45, 0.5];
    let centre = [c[0] * d[0] as f64, c[1] * d[1] as f64, c[2] * d[2] as f64];
    let semi = [0.2 * d[0] as f64, 0.15 * d[1] as f64, 0.3 * d[2] as f64];
    let first = (centre[n] - semi[n]).ceil().max(0.0) as usize;
    let mut labels = vec![0u8; vol.grid.voxel_count()];
    for z in 0..d[2] {
        for y in 0..d[1] {
            for x in 0..d[0] {
                let p = [x, y, z];
                if p[n] < first || !(p[n] - first).is_multiple_of(5) {
                    continue;
                }
                let q: f64 = (0..3)
                    .map(|a| ((p[a] as f64 - centre[a]) / semi[a]).powi(2))
                    .sum();
                if q <= 1.0 {
                    labels[x + d[0] * (y + d[1] * z)] = 1;
                }
            }
        }
    }
    let op = EditOp::Interpolate {
        label: 1,
        axis: ViewKind::Axial,
        editable: Editable::Everywhere,
    };
    let params = serde_json::json!({
        "ellipsoid": {"centre": centre, "semi_axes": semi},
        "every": 5, "first": first, "axis": n,
        "op": serde_json::to_value(&op).unwrap_or_default(),
    });
    Ok((labels, op, params))
}

/// Fill between slices: the host plan, then the whole op (plan + fill) on one path.
fn interpolate_rows(
    inp: &Inputs,
    mut fill: impl FnMut(&[u8], &Program) -> Result<(u64, f64)>,
    mut row: impl FnMut(&str, u64, &[f64], String) -> Row,
) -> Result<Vec<Row>> {
    let vol = inp.vol;
    let (keys, op, params) = liver_keys(vol)?;
    let env = EditEnv {
        image: vol,
        locked: [false; 256],
    };
    let program = lower(&env, &op)?
        .into_program()
        .ok_or_else(|| Error::invalid("interpolate lowers to voxel writes"))?;
    let Program::Interpolate(req) = &program else {
        return Err(Error::invalid("interpolate lowers to a fill plan"));
    };
    let n = vol.grid.voxel_count() as u64;
    let plan_t = time_runs(inp.runs, || {
        std::hint::black_box(interpolate_plan(req, &keys)?);
        Ok(())
    })?;
    let plan = interpolate_plan(req, &keys)?;
    let keyed = keys.iter().filter(|&&l| l != 0).count();
    // One warm-up, then the runs; `fill` times only the op (its labels reset untimed).
    let (mut changed, _) = fill(&keys, &program)?;
    let mut t = Vec::with_capacity(inp.runs);
    for _ in 0..inp.runs {
        let (c, ms) = fill(&keys, &program)?;
        changed = c;
        t.push(ms);
    }
    let mut r1 = row(
        "interpolate plan (host), liver every 5th slice",
        n,
        &plan_t,
        format!(
            "{} key slices, {} tasks, {} KiB of distance tiles",
            plan.key_slices.len(),
            plan.tasks.len(),
            plan.sdt.len() * 4 / 1024
        ),
    );
    r1.params = Some(params.clone());
    let mut r2 = row(
        "interpolate liver every 5th slice",
        n,
        &t,
        format!(
            "{keyed} key voxels on {} slices, {} voxels filled on {} slices",
            plan.key_slices.len(),
            changed,
            plan.gap_slices
        ),
    );
    r2.params = Some(params);
    Ok(vec![r1, r2])
}

/// Seeds for grow from seeds, as an annotator scribbles them on the phantom: short strokes in
/// both lungs (label 1), along the aorta (2), in soft tissue (3) and in the air around the
/// body (4, the background) on three slices; and one later stroke of soft tissue. Voxel
/// lists (x, y, z, label) so peers can rebuild them.
fn grow_cut_seeds(d: [usize; 3]) -> (Vec<[usize; 4]>, Vec<[usize; 4]>) {
    let at = |u: f64, v: f64, w: f64| {
        [u, v, w]
            .iter()
            .zip(d)
            .map(|(c, n)| (((c + 1.0) / 2.0 * n as f64 - 0.5).round().max(0.0) as usize).min(n - 1))
            .collect::<Vec<usize>>()
    };
    let mut first = Vec::new();
    let stroke = |out: &mut Vec<[usize; 4]>, u: f64, v: f64, w: f64, l: usize, along: usize| {
        let c = at(u, v, w);
        let half = (d[along] / 40).max(2);
        for t in c[along].saturating_sub(half)..=(c[along] + half).min(d[along] - 1) {
            let mut p = [c[0], c[1], c[2]];
            p[along] = t;
            out.push([p[0], p[1], p[2], l]);
        }
    };
    for w in [0.1, 0.35, 0.6] {
        stroke(&mut first, -0.42, -0.02, w, 1, 0);
        stroke(&mut first, 0.42, -0.02, w, 1, 0);
        stroke(&mut first, -0.5, 0.3, w, 3, 1);
        stroke(&mut first, 0.0, -0.9, w, 4, 0);
        stroke(&mut first, 0.9, 0.9, w, 4, 1);
    }
    stroke(&mut first, 0.05, 0.2, 0.3, 2, 2);
    let mut later = Vec::new();
    stroke(&mut later, 0.5, 0.35, 0.4, 3, 0);
    (first, later)
}

/// Grow from seeds: the first run (read the ROI, solve) and the update after one more stroke.
fn grow_cut_rows(
    inp: &Inputs,
    mut first_run: impl FnMut(&GrowCutRequest, &[u8]) -> Result<(GrowCutState, f64)>,
    mut update: impl FnMut(&GrowCutRequest, &mut GrowCutState, &[u8]) -> Result<f64>,
    mut row: impl FnMut(&str, u64, &[f64], String) -> Row,
) -> Result<Vec<Row>> {
    let vol = inp.vol;
    let d = vol.grid.dims;
    let (first, later) = grow_cut_seeds(d);
    let mut labels = vec![0u8; vol.grid.voxel_count()];
    for s in &first {
        labels[s[0] + d[0] * (s[1] + d[1] * s[2])] = s[3] as u8;
    }
    let mut with_later = labels.clone();
    for s in &later {
        with_later[s[0] + d[0] * (s[1] + d[1] * s[2])] = s[3] as u8;
    }
    let mut seeds = [false; 256];
    for l in [1, 2, 3, 4] {
        seeds[l] = true;
    }
    // The whole volume as ROI (what ITK's filter works on).
    let req = GrowCutRequest {
        dims: d,
        roi: Some([0, 0, 0, d[0] - 1, d[1] - 1, d[2] - 1]),
        seeds,
        background: 4,
        locked: [false; 256],
    };
    let (mut t_first, mut t_update) = (Vec::new(), Vec::new());
    let mut summary = String::new();
    for _ in 0..=inp.runs.min(3) {
        let (mut st, ms) = first_run(&req, &labels)?;
        t_first.push(ms);
        t_update.push(update(&req, &mut st, &with_later)?);
        let (_, n) = st.preview_mask(4, d);
        summary = format!("{n} voxels labelled 1-3 of {}", st.len());
    }
    // Drop the warm-up.
    t_first.remove(0);
    t_update.remove(0);
    let n = vol.grid.voxel_count() as u64;
    let params = serde_json::json!({
        "labels": [1, 2, 3], "background": 4,
        "seeds": first, "later": later,
    });
    let mut r1 = row(
        "grow-cut 3 labels + background, first run",
        n,
        &t_first,
        summary.clone(),
    );
    r1.params = Some(params.clone());
    let mut r2 = row(
        "grow-cut update after one stroke",
        n,
        &t_update,
        format!("{} new seed voxels; {summary}", later.len()),
    );
    r2.params = Some(params);
    Ok(vec![r1, r2])
}

fn cpu_case(inp: &Inputs, op: BenchOp) -> Result<Vec<Row>> {
    let vol = inp.vol;
    let n = vol.grid.voxel_count() as u64;
    let d = vol.grid.dims;
    let mut rows = Vec::new();
    match op {
        BenchOp::Load => {
            let t = time_runs(inp.runs.min(3), || {
                load_volume(&inp.file, &LoadOptions::default()).map(|_| ())
            })?;
            rows.push(cpu_row(inp, "load", n, &t, file_note(&inp.file)));
        }
        BenchOp::Wl => {
            let p = WindowLevelParams::new(d, soft_tissue());
            let t = time_runs(inp.runs, || {
                std::hint::black_box(window_level_cpu(&p, &vol.data));
                Ok(())
            })?;
            rows.push(cpu_row(inp, "window/level volume", n, &t, String::new()));
            let (view, opts) = slice_setup(vol)?;
            let t = time_runs(inp.runs, || {
                std::hint::black_box(render_rgba_cpu(
                    &vol.data,
                    d,
                    HostOverlays::default(),
                    &view,
                    &opts,
                )?);
                Ok(())
            })?;
            rows.push(cpu_row(
                inp,
                "window/level one slice",
                (d[0] * d[1]) as u64,
                &t,
                String::new(),
            ));
        }
        BenchOp::Mpr => {
            let (view, opts) = mpr_setup(vol)?;
            let layers = HostOverlays {
                labels: Some(&inp.labels),
                preview: None,
            };
            let t = time_runs(inp.runs, || {
                std::hint::black_box(render_rgba_cpu(&vol.data, d, layers, &view, &opts)?);
                Ok(())
            })?;
            rows.push(cpu_row(
                inp,
                "MPR frame 512x512",
                512 * 512,
                &t,
                String::new(),
            ));
        }
        BenchOp::Grow => {
            for (name, req) in grow_cases(inp)? {
                let p = RegionGrowParams::new(d, vol.dtype(), &req)?;
                let grown = Cell::new(0usize);
                let t = time_runs(inp.runs, || {
                    let m = region_grow_cpu(&p, &vol.data, &req.seeds);
                    grown.set(m.iter().filter(|&&v| v != 0).count());
                    Ok(())
                })?;
                let mut r = cpu_row(inp, &name, n, &t, format!("{} voxels", grown.get()));
                r.params = Some(grow_json(&req));
                rows.push(r);
            }
        }
        BenchOp::Paint | BenchOp::Undo | BenchOp::Cleanup => {
            let s = Session::new(vol, vec![0u8; vol.grid.voxel_count()])?;
            rows.extend(session_cases(inp, op, s, |name, v, t, note| {
                cpu_row(inp, name, v, t, note)
            })?);
        }
        BenchOp::Interpolate => rows.extend(interpolate_rows(
            inp,
            |keys, program| {
                let mut l = keys.to_vec();
                let t = Instant::now();
                let c = execute_cpu(vol, &mut l, program)?;
                Ok((c, t.elapsed().as_secs_f64() * 1e3))
            },
            |name, v, t, note| cpu_row(inp, name, v, t, note),
        )?),
        BenchOp::GrowCut => rows.extend(grow_cut_rows(
            inp,
            |req, labels| {
                let t = Instant::now();
                let mut st = GrowCutState::init(req, vol, labels)?;
                st.solve_cpu();
                Ok((st, t.elapsed().as_secs_f64() * 1e3))
            },
            |req, st, labels| {
                let t = Instant::now();
                st.update_cpu(req, vol, labels)?;
                Ok(t.elapsed().as_secs_f64() * 1e3)
            },
            |name, v, t, note| cpu_row(inp, name, v, t, note),
        )?),
        BenchOp::ThreeD => rows.extend(three_d_cpu(inp)?),
        // The shell draws through the GPU only.
        BenchOp::Frame => {}
    }
    Ok(rows)
}

fn gpu_case(inp: &Inputs, g: &GpuSide, op: BenchOp) -> Result<Vec<Row>> {
    let ctx = g.ctx;
    let vol = inp.vol;
    let n = vol.grid.voxel_count() as u64;
    let d = vol.grid.dims;
    let mut rows = Vec::new();
    match op {
        BenchOp::Load => {
            let peak = Cell::new(0u64);
            let t = time_runs(inp.runs.min(3), || {
                let l = load_volume(&inp.file, &LoadOptions::default())?;
                let rv = ResidentVolume::upload(ctx, l.volume.grid.dims, &l.volume.data)?;
                wait(ctx)?;
                peak.set(peak.get().max(gpu_bytes(ctx).unwrap_or(0)));
                drop(rv);
                Ok(())
            })?;
            let mut r = gpu_row(inp, g, "load + upload", n, &t, file_note(&inp.file));
            r.gpu_bytes = r.gpu_bytes.map(|_| peak.get());
            rows.push(r);
        }
        BenchOp::Wl => {
            let k = WindowLevelKernel::new(ctx, vol.dtype())?;
            let out = PackedU8Volume::zeros(ctx, d)?;
            let p = WindowLevelParams::new(d, soft_tissue());
            let t = time_runs(inp.runs, || {
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                k.encode(ctx, &mut enc, &p, &g.image, &out)?;
                ctx.queue.submit([enc.finish()]);
                wait(ctx)
            })?;
            rows.push(gpu_row(inp, g, "window/level volume", n, &t, String::new()));
            let (view, opts) = slice_setup(vol)?;
            rows.push(gpu_frame(
                inp,
                g,
                "window/level one slice",
                &view,
                &opts,
                false,
            )?);
        }
        BenchOp::Mpr => {
            let (view, opts) = mpr_setup(vol)?;
            rows.push(gpu_frame(inp, g, "MPR frame 512x512", &view, &opts, true)?);
        }
        BenchOp::Grow => {
            let k = RegionGrowKernel::new(ctx, vol.dtype())?;
            for (name, req) in grow_cases(inp)? {
                let p = RegionGrowParams::new(d, vol.dtype(), &req)?;
                let mut mask = None;
                let mut timings = Vec::new();
                let t = time_runs(inp.runs, || {
                    let c0 = voxmark_gpu::context::wait_clock();
                    let start = Instant::now();
                    mask = Some(k.run(ctx, &p, &req.seeds, &g.image, None)?);
                    wait(ctx)?;
                    let c1 = voxmark_gpu::context::wait_clock();
                    timings.push(OpTiming {
                        run_ms: start.elapsed().as_secs_f64() * 1e3,
                        gpu_waits: c1.waits - c0.waits,
                        gpu_wait_ms: (c1.ns - c0.ns) as f64 / 1e6,
                        ..OpTiming::default()
                    });
                    Ok(())
                })?;
                let grown = match &mask {
                    Some(m) => m.download(ctx)?.iter().filter(|&&v| v != 0).count(),
                    None => 0,
                };
                let mut r = gpu_row(inp, g, &name, n, &t, format!("{grown} voxels"));
                r.params = Some(grow_json(&req));
                r.breakdown = Some(median_timing(&timings[1..]));
                rows.push(r);
            }
        }
        BenchOp::Paint | BenchOp::Undo | BenchOp::Cleanup => {
            let s = Session::on_gpu(ctx, vol, &vec![0u8; vol.grid.voxel_count()])?;
            rows.extend(session_cases(inp, op, s, |name, v, t, note| {
                gpu_row(inp, g, name, v, t, note)
            })?);
        }
        BenchOp::Interpolate => {
            // The labels start as the key slices each run (written untimed); the time is
            // the op as a GPU session runs it: read-back, host plan, fill kernel.
            let d = vol.grid.dims;
            let store = GpuEdit::new(ctx, vol, &vec![0u8; vol.grid.voxel_count()])?;
            rows.extend(interpolate_rows(
                inp,
                |keys, program| {
                    store.labels.write_box(ctx, [0, 0, 0], d, keys)?;
                    wait(ctx)?;
                    let t = Instant::now();
                    let c = store.run(vol, program)?;
                    wait(ctx)?;
                    Ok((c, t.elapsed().as_secs_f64() * 1e3))
                },
                |name, v, t, note| gpu_row(inp, g, name, v, t, note),
            )?)
        }
        BenchOp::GrowCut => {
            // First run: read the ROI on the host, upload, solve, read back; update: the new
            // seeds written, costs relaxed from the previous ones, labels redone, read back.
            let k = GrowCutKernel::new(ctx)?;
            let resident = std::cell::RefCell::new(None);
            rows.extend(grow_cut_rows(
                inp,
                |req, labels| {
                    let t = Instant::now();
                    let mut st = GrowCutState::init(req, vol, labels)?;
                    let mut gs = k.upload(ctx, &st)?;
                    k.solve(ctx, &mut gs)?;
                    k.download(ctx, &gs, &mut st)?;
                    let ms = t.elapsed().as_secs_f64() * 1e3;
                    *resident.borrow_mut() = Some(gs);
                    Ok((st, ms))
                },
                |req, st, labels| {
                    let t = Instant::now();
                    let added = st
                        .added_seeds(req, labels)?
                        .ok_or_else(|| Error::invalid("bench: the later stroke only adds"))?;
                    st.add_seeds(&added);
                    let mut slot = resident.borrow_mut();
                    let gs = slot
                        .as_mut()
                        .ok_or_else(|| Error::invalid("bench: no first run"))?;
                    let rs: Vec<usize> = added.iter().map(|a| a.0).collect();
                    k.update(ctx, gs, st, &rs)?;
                    k.download(ctx, gs, st)?;
                    Ok(t.elapsed().as_secs_f64() * 1e3)
                },
                |name, v, t, note| gpu_row(inp, g, name, v, t, note),
            )?)
        }
        BenchOp::ThreeD => rows.extend(three_d_gpu(inp, g)?),
        #[cfg(feature = "gui")]
        BenchOp::Frame => rows.extend(shell_frames(inp, g)?),
        #[cfg(not(feature = "gui"))]
        BenchOp::Frame => {
            return Err(voxmark_volume::Error::invalid(
                "bench --ops frame: this voxmark was built without the GUI (cargo feature `gui`)",
            ))
        }
    }
    Ok(rows)
}

/// One slice frame on the GPU into a target of the view's size (no readback: the frame
/// stays on the GPU as in the desktop shell).
fn gpu_frame(
    inp: &Inputs,
    g: &GpuSide,
    name: &str,
    view: &ViewGeometry,
    opts: &SliceOptions,
    with_labels: bool,
) -> Result<Row> {
    let ctx = g.ctx;
    let renderer = SliceRenderer::new(ctx, inp.vol.dtype())?;
    let size = view.size;
    let target = MprKernel::create_target(ctx, size);
    let tv = target.create_view(&Default::default());
    let layers = Overlays {
        labels: with_labels.then_some(&g.labels),
        preview: None,
    };
    let t = time_runs(inp.runs, || {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        renderer.encode(ctx, &mut enc, &g.image, layers, view, opts, &tv)?;
        ctx.queue.submit([enc.finish()]);
        wait(ctx)
    })?;
    Ok(gpu_row(
        inp,
        g,
        name,
        u64::from(size[0]) * u64::from(size[1]),
        &t,
        String::new(),
    ))
}

fn grow_json(req: &GrowRequest) -> serde_json::Value {
    serde_json::json!({
        "seeds": req.seeds,
        "lower": req.lower,
        "upper": req.upper,
        "connectivity": 6,
    })
}

fn file_note(p: &Path) -> String {
    std::fs::metadata(p)
        .map(|m| format!("{:.0} MB file", m.len() as f64 / 1e6))
        .unwrap_or_default()
}

/// The 3D cases: (name, options). Camera at azimuth 30°, elevation 15°; CT bone transfer
/// function for CT-like volumes, MR default otherwise; label surfaces of the overlay labels.
fn three_d_cases(inp: &Inputs) -> Vec<(String, VolumeViewOptions)> {
    let vol = inp.vol;
    let camera = Camera {
        azimuth_deg: 30.0,
        elevation_deg: 15.0,
        ..Camera::default()
    };
    let (lo, hi) = vol.data.min_max();
    let preset = TfPreset::default_for(&vol.data, &vol.meta.modality);
    let tf = TransferFunction::from_points(&preset.points((lo, hi)));
    let base = VolumeViewOptions {
        mode: RenderMode::Mip,
        camera,
        window: WindowPreset {
            center: 300.0,
            width: 1500.0,
        },
        tf,
        labels: None,
        step_mm: None,
        clip: None,
    };
    vec![
        ("3D MIP".into(), base.clone()),
        (
            format!("3D DVR {}", preset.name()),
            VolumeViewOptions {
                mode: RenderMode::Dvr,
                ..base.clone()
            },
        ),
        (
            "3D label surfaces".into(),
            VolumeViewOptions {
                mode: RenderMode::Labels,
                labels: Some(LabelStyle {
                    opacity: 1.0,
                    ..LabelStyle::default()
                }),
                ..base
            },
        ),
    ]
}

/// CPU 3D frames at 480×270 (a sixteenth of full HD: the CPU twin is the fallback and the
/// reference, not the interactive path).
fn three_d_cpu(inp: &Inputs) -> Result<Vec<Row>> {
    let size = [480u32, 270];
    let mut rows = Vec::new();
    for (name, o) in three_d_cases(inp) {
        let t = time_runs(inp.runs.min(2), || {
            std::hint::black_box(render_3d_cpu(
                &inp.vol.grid,
                &inp.vol.data,
                Some(&inp.labels),
                &o,
                size,
            ));
            Ok(())
        })?;
        rows.push(cpu_row(
            inp,
            &format!("{name} 480x270"),
            u64::from(size[0] * size[1]),
            &t,
            String::new(),
        ));
    }
    Ok(rows)
}

#[cfg(feature = "gui")]
/// Whole shell frames in a 1920×1080 offscreen window (egui + the four GPU panes + egui
/// painting), waited for: unchanged (what a still screen costs) and with every pane
/// re-rendered (what a window change, an edit or a crosshair move costs at most).
fn shell_frames(inp: &Inputs, g: &GpuSide) -> Result<Vec<Row>> {
    use eframe::egui;
    use voxmark_app::document::OpenRequest;
    use voxmark_app::headless::Headless;
    use voxmark_app::shell::Shell;
    // The shell keeps its device for the life of the process (like `voxmark view`).
    let gpu: &'static GpuContext = Box::leak(Box::new(GpuContext::new()?));
    let mut shell = Shell::empty(gpu);
    shell.open_blocking(&OpenRequest {
        path: Some(inp.file.clone()),
        series: None,
        labels: None,
        labels_new: false,
        label_table: None,
        resample: Default::default(),
    })?;
    shell.sync_frames = true;
    let size = [1920u32, 1080];
    let mut h = Headless::new(shell, size);
    h.idle(3)?;
    let px = u64::from(size[0] * size[1]);
    let mut rows = Vec::new();
    let t = time_runs(inp.runs, || h.frame(Vec::new()))?;
    rows.push(gpu_row(
        inp,
        g,
        "shell frame, unchanged",
        px,
        &t,
        String::new(),
    ));
    let t = time_runs(inp.runs, || {
        h.shell.invalidate_panes();
        h.frame(Vec::new())
    })?;
    rows.push(gpu_row(
        inp,
        g,
        "shell frame, 4 panes re-rendered",
        px,
        &t,
        "3 MPR + 3D DVR".into(),
    ));
    // Stroke to pixel: the brush (B, a 10 mm disc) dragged across the axial pane, press
    // and three moves untimed; the release frame is timed: the stroke applied through the
    // session (journal fsync included), the four panes re-rendered, egui drawn, the GPU
    // waited for. Then the undo frame (Ctrl+Z).
    let primary = egui::PointerButton::Primary;
    h.key(egui::Key::B, egui::Modifiers::NONE)?;
    if let Some(d) = &mut h.shell.doc {
        d.state.brush.radius_mm = 10.0;
    }
    let c = h.shell.panes.rects[0].center();
    let (mut stroke_t, mut next_t, mut undo_t) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..=inp.runs {
        // A fresh place each run, so every stroke changes voxels.
        let from = c + egui::vec2(-40.0, 4.0 * (k % 16) as f32 - 32.0);
        h.move_to(from)?;
        h.button(primary, true)?;
        for s in 1..=3 {
            h.move_to(from + egui::vec2(20.0 * s as f32, 2.0 * s as f32))?;
        }
        let start = Instant::now();
        h.button(primary, false)?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        // The labels panel refreshes its statistics the frame after an edit.
        let start = Instant::now();
        h.frame(Vec::new())?;
        let next_ms = start.elapsed().as_secs_f64() * 1e3;
        h.frame(Vec::new())?;
        let start = Instant::now();
        h.key(egui::Key::Z, egui::Modifiers::COMMAND)?;
        let undo_ms = start.elapsed().as_secs_f64() * 1e3;
        h.idle(2)?;
        if k > 0 {
            stroke_t.push(ms);
            next_t.push(next_ms);
            undo_t.push(undo_ms);
        }
    }
    // The strokes were real: one more, left in place, writes the brush's label.
    h.drag(primary, c, &[c + egui::vec2(60.0, 0.0)])?;
    let painted = match &h.shell.doc {
        Some(d) => d.state.session.labels()?.contains(&d.state.brush.label),
        None => false,
    };
    if !painted {
        return Err(Error::invalid(
            "bench: the shell's brush strokes changed nothing",
        ));
    }
    rows.push(gpu_row(
        inp,
        g,
        "shell brush stroke, release frame",
        px,
        &stroke_t,
        "10 mm disc, stroke applied + 4 panes + egui".into(),
    ));
    rows.push(gpu_row(
        inp,
        g,
        "shell frame after a stroke",
        px,
        &next_t,
        "label statistics refreshed (whole volume)".into(),
    ));
    rows.push(gpu_row(
        inp,
        g,
        "shell undo (Ctrl+Z) frame",
        px,
        &undo_t,
        "undo + 4 panes + egui".into(),
    ));
    Ok(rows)
}

/// GPU 3D frames at 1920×1080 into a texture (no readback: as the shell's 3D pane).
fn three_d_gpu(inp: &Inputs, g: &GpuSide) -> Result<Vec<Row>> {
    let ctx = g.ctx;
    let size = [1920u32, 1080];
    let view = VolumeView::new(ctx, &g.image, Some(&g.labels))?;
    let target = MprKernel::create_target(ctx, size);
    let tv = target.create_view(&Default::default());
    let mut rows = Vec::new();
    for (name, o) in three_d_cases(inp) {
        let t = time_runs(inp.runs, || {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            view.encode(
                ctx,
                &mut enc,
                &inp.vol.grid,
                &g.image,
                Some(&g.labels),
                &o,
                size,
                &tv,
            )?;
            ctx.queue.submit([enc.finish()]);
            wait(ctx)
        })?;
        rows.push(gpu_row(
            inp,
            g,
            &format!("{name} 1920x1080"),
            u64::from(size[0] * size[1]),
            &t,
            String::new(),
        ));
    }
    Ok(rows)
}
