//! Painting ops on the GPU (span write kernel) equal their CPU twin voxel for voxel, on the
//! CT phantom, a float volume with fractional ranges, and real MRI with an atlas.

use voxmark_testkit as common;

use voxmark_edit::ops::parse_ops;
use voxmark_edit::{lower, EditEnv, Lowered, Program};
use voxmark_gpu::kernels::span_write::{span_write_cpu, SpanWriteKernel};
use voxmark_gpu::residency::{PackedU8Volume, ResidentVolume};
use voxmark_gpu::GpuContext;
use voxmark_volume::phantom::Phantom;
use voxmark_volume::{Volume, VoxelData};

const OPS: &str = r#"[
 {"op":"paint","shape":"sphere","points":[[10,12,8],[30,20,14],[12,30,20]],"radius_mm":9,"label":1},
 {"op":"paint","shape":"sphere","points":[[20,20,12]],"radius_mm":30,"label":2,"range":[-100.5,120.25],"editable":"empty_only"},
 {"op":"paint","shape":"disc","plane":"coronal","slice":17,"points":[[20,17,10]],"radius_mm":25,"label":3,"editable":{"inside":2}},
 {"op":"polygon","plane":"sagittal","slice":21,"points":[[2,3],[30,5],[25,28],[6,20]],"label":4},
 {"op":"polygon","plane":"axial","slice":9,"points":[[0.5,0.5],[35.2,4.1],[20.7,33.3]],"label":5,"range":[0,400]},
 {"op":"erase","shape":"sphere","points":[[22,22,12]],"radius_mm":12,"label":2},
 {"op":"threshold","range":[250.5,800],"label":6,"roi":[3,4,2,33,30,20],"editable":"empty_only"},
 {"op":"merge_labels","from":[3,4],"into":7},
 {"op":"clear_label","label":5},
 {"op":"scissors","plane":"coronal","points":[[3.5,2.2],[30.1,6.7],[22.4,19.9],[5.5,15.5]],"region":"inside","action":"fill","label":8,"depth":[5,30],"range":[-50,300],"editable":"empty_only"},
 {"op":"scissors","plane":"axial","points":[[8.3,8.1],[28.6,9.2],[18.2,30.7]],"region":"outside","action":"erase","label":0,"depth":[2,18]},
 {"op":"erase","shape":"disc","plane":"axial","slice":14,"points":[[18,18,14]],"radius_mm":40}
]"#;

fn run_all(ctx: &GpuContext, vol: &Volume, start: Vec<u8>, locked: &[u8]) {
    let ops = parse_ops(OPS, std::path::Path::new("ops.json")).unwrap_or_else(|e| panic!("{e}"));
    let mut lk = [false; 256];
    for &l in locked {
        lk[usize::from(l)] = true;
    }
    let env = EditEnv {
        image: vol,
        locked: lk,
    };
    let rv =
        ResidentVolume::upload(ctx, vol.grid.dims, &vol.data).unwrap_or_else(|e| panic!("{e}"));
    let gl = PackedU8Volume::upload(ctx, vol.grid.dims, &start).unwrap_or_else(|e| panic!("{e}"));
    let k = SpanWriteKernel::new(ctx, vol.dtype()).unwrap_or_else(|e| panic!("{e}"));
    let mut cpu = start;
    for (n, op) in ops.iter().enumerate() {
        let w = match lower(&env, op).map(Lowered::into_spans) {
            Ok(Some(w)) => w,
            Ok(None) => panic!("op {n} is span-shaped"),
            Err(e) => {
                // Ops on locked labels are refused on both paths alike.
                assert!(e.to_string().contains("locked"), "{e}");
                continue;
            }
        };
        let c = span_write_cpu(vol, &mut cpu, &w);
        let g = k.run(ctx, &w, &rv, &gl).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g, c, "op {n} ({}): changed counts", op.name());
        let got = gl.download(ctx).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            got == cpu,
            "op {n} ({}): GPU and CPU labels differ",
            op.name()
        );
    }
    assert!(cpu.iter().any(|&l| l != 0));
}

#[test]
fn span_ops_gpu_equal_cpu_on_phantom_and_float_volume() {
    let Some(ctx) = common::gpu() else { return };
    let ph = Phantom::new([41, 37, 25])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let n = ph.grid.voxel_count();
    run_all(&ctx, &ph, vec![0; n], &[]);
    // Float volume (fractional range bounds are exercised), some labels present and locked.
    let VoxelData::I16(v) = &ph.data else {
        panic!("phantom is int16")
    };
    let f: Vec<f32> = v.iter().map(|&x| f32::from(x) * 0.37 + 0.125).collect();
    let fv =
        Volume::new(ph.grid, VoxelData::F32(f), ph.meta.clone()).unwrap_or_else(|e| panic!("{e}"));
    let start: Vec<u8> = (0..n)
        .map(|i| {
            if i % 11 == 0 {
                9
            } else if i % 13 == 0 {
                2
            } else {
                0
            }
        })
        .collect();
    run_all(&ctx, &fv, start, &[9]);
}

#[test]
fn span_ops_gpu_equal_cpu_on_real_mri_with_atlas() {
    let Some(ctx) = common::gpu() else { return };
    let (Some(ch2), Some(aal)) = (common::mricron("ch2.nii.gz"), common::mricron("aal.nii.gz"))
    else {
        return;
    };
    let vol = voxmark_io::nifti::read_nifti(&ch2).unwrap_or_else(|e| panic!("{e}"));
    let mask = voxmark_io::nifti::read_nifti(&aal).unwrap_or_else(|e| panic!("{e}"));
    let labels = voxmark_volume::labels::labels_for(&mask, &aal, &vol.grid)
        .unwrap_or_else(|e| panic!("{e}"));
    run_all(&ctx, &vol, labels, &[7]);
}

/// The CT phantom on an odd-sized grid (partial packed texels), int16.
fn odd_phantom() -> Volume {
    Phantom::new([45, 38, 27])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume()
}

#[test]
fn dilate_erode_and_hollow_gpu_equal_cpu() {
    use voxmark_edit::apply_op_cpu;
    use voxmark_gpu::kernels::morphology::MorphologyKernel;
    let Some(ctx) = common::gpu() else { return };
    let ph = Phantom::new([45, 38, 27])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    // Labels: thresholded bone (2) and vessels (1) of the phantom, some voxels locked (9).
    let VoxelData::I16(v) = &ph.data else {
        panic!("int16")
    };
    let start: Vec<u8> = v
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if i % 97 == 0 {
                9
            } else if x > 600 {
                2
            } else if x > 200 {
                1
            } else {
                0
            }
        })
        .collect();
    let mut lk = [false; 256];
    lk[9] = true;
    let env = EditEnv {
        image: &ph,
        locked: lk,
    };
    let ops = parse_ops(
        r#"[{"op":"dilate","label":1,"radius_mm":12},
            {"op":"dilate","label":2,"radius_mm":20,"editable":"empty_only"},
            {"op":"erode","label":2,"radius_mm":11},
            {"op":"hollow","label":2,"thickness_mm":10,"shell":"inside"},
            {"op":"hollow","label":1,"thickness_mm":19,"shell":"centred"},
            {"op":"hollow","label":2,"thickness_mm":9,"shell":"outside","editable":"empty_only"},
            {"op":"erode","label":1,"radius_mm":30}]"#,
        std::path::Path::new("ops.json"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let gl = PackedU8Volume::upload(&ctx, ph.grid.dims, &start).unwrap_or_else(|e| panic!("{e}"));
    let k = MorphologyKernel::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    let mut cpu = start;
    for (n, op) in ops.iter().enumerate() {
        let c = apply_op_cpu(&env, &mut cpu, op).unwrap_or_else(|e| panic!("{e}"));
        let Some(Program::Morphology { params, offsets }) = lower(&env, op)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_program()
        else {
            panic!("op {n} lowers to morphology")
        };
        let g = k
            .run(&ctx, &params, &offsets, &gl)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(c > 0, "op {n} changes something");
        assert_eq!(g, c, "op {n}: changed counts");
        assert!(
            gl.download(&ctx).unwrap_or_else(|e| panic!("{e}")) == cpu,
            "op {n}: labels differ"
        );
    }
}

/// Every op through a GPU-resident session and a host session, with undo and redo between
/// them: the masks, change counts and undo sizes agree after every step.
/// Undo bricks stay on the GPU (the default budget): the same bricks as the CPU session.
#[test]
fn gpu_session_equals_cpu_session_through_every_op_and_undo() {
    every_op_and_undo(None);
}

/// A zero GPU undo budget moves every step's bricks to the host as they are recorded: the
/// same compressed bytes as the CPU session keeps, and undo/redo from them.
#[test]
fn gpu_session_with_undo_moved_to_host_equals_cpu_session() {
    every_op_and_undo(Some(0));
}

/// A GPU undo budget of one slot texture: the newest step stays on the GPU, older ones move
/// to the host, and undo/redo walk through both kinds.
#[test]
fn gpu_session_with_mixed_undo_equals_cpu_session() {
    every_op_and_undo(Some(100_000));
}

/// The undo-brick kernels (diff, gather, swap) equal their CPU twins, at a box that starts
/// inside the volume and ends at its odd far edges.
#[test]
fn undo_brick_kernels_equal_cpu_twins() {
    use voxmark_gpu::kernels::brick_undo::*;
    use voxmark_gpu::residency::PackedU8Volume;
    let Some(ctx) = common::gpu() else { return };
    let d = [45usize, 38, 27];
    let n = d[0] * d[1] * d[2];
    let start: Vec<u8> = (0..n)
        .map(|i| ((i * 2654435761usize) >> 13) as u8 % 7)
        .collect();
    let labels = PackedU8Volume::upload(&ctx, d, &start).unwrap_or_else(|e| panic!("{e}"));
    let k = BrickUndoKernel::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    let (lo, hi) = ([16, 0, 16], [45, 38, 27]);
    let copy = k
        .copy_box(&ctx, &labels, [20, 3, 17], [44, 37, 26])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((copy.lo, copy.hi), (lo, hi), "box widened to whole bricks");
    // Change voxels in three bricks of the box (one of them at the far x edge) and one
    // outside it.
    let mut after = start.clone();
    for (x, y, z, v) in [
        (16, 0, 16, 9u8),
        (44, 37, 26, 9),
        (43, 20, 20, 8),
        (3, 3, 3, 9),
    ] {
        after[x + d[0] * (y + d[1] * z)] = v;
    }
    labels
        .write_box(&ctx, [0, 0, 0], d, &after)
        .unwrap_or_else(|e| panic!("{e}"));
    let boxed = |v: &[u8]| {
        let mut out = Vec::new();
        for z in lo[2]..hi[2] {
            for y in lo[1]..hi[1] {
                out.extend_from_slice(&v[lo[0] + d[0] * (y + d[1] * z)..][..hi[0] - lo[0]]);
            }
        }
        out
    };
    let counts = k
        .changed(&ctx, &labels, &copy)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        counts,
        brick_diff_cpu(&boxed(&start), &boxed(&after), lo, hi)
    );
    assert_eq!(counts.iter().sum::<u32>(), 3);
    let nb = copy.bricks();
    let list: Vec<[usize; 3]> = (0..counts.len())
        .filter(|&i| counts[i] > 0)
        .map(|i| [i % nb[0], (i / nb[0]) % nb[1], i / (nb[0] * nb[1])])
        .collect();
    let slots = k
        .gather(&ctx, &labels, &copy, &list)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut cpu_slots = brick_gather_cpu(&boxed(&start), lo, hi, &list);
    assert_eq!(
        slots.download(&ctx).unwrap_or_else(|e| panic!("{e}")),
        cpu_slots
    );
    // Undo, then redo with the same slots.
    let mut cpu = after.clone();
    for want in [&start, &after] {
        k.swap(&ctx, &labels, &slots)
            .unwrap_or_else(|e| panic!("{e}"));
        brick_swap_cpu(&mut cpu, d, &slots.bricks, &mut cpu_slots);
        let now = labels.download(&ctx).unwrap_or_else(|e| panic!("{e}"));
        // The voxel outside the box keeps its change: only the box's bricks were kept.
        let mut expect = want.clone();
        expect[3 + d[0] * (3 + d[1] * 3)] = 9;
        assert!(now == expect && cpu == expect, "swap restores the bricks");
    }
}

fn every_op_and_undo(gpu_budget: Option<usize>) {
    use voxmark_edit::session::Session;
    let Some(ctx) = common::gpu() else { return };
    // Odd width (not a multiple of 4 voxels per packed texel, nor of the 16³ undo bricks).
    let ph = Phantom::new([45, 38, 27])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let extra = r#"[
 {"op":"set_label","value":9,"name":"locked one","locked":true},
 {"op":"threshold","range":[600,2000],"label":9,"roi":[0,0,0,10,10,10]},
 {"op":"grow","seeds":[[22,19,13]],"lower":-100,"upper":150,"label":8,"connectivity":6,"editable":"empty_only"},
 {"op":"undo"},
 {"op":"redo"},
 {"op":"dilate","label":1,"radius_mm":2.5},
 {"op":"erode","label":8,"radius_mm":1.5},
 {"op":"islands","label":8,"keep_largest":true,"connectivity":6},
 {"op":"undo"},{"op":"undo"},{"op":"redo"},
 {"op":"islands","label":1,"min_voxels":40,"connectivity":26},
 {"op":"grow","seeds":[[22,19,13],[5,5,5]],"lower":-2000,"upper":-900,"label":3,"connectivity":26},
 {"op":"undo"},{"op":"undo"},{"op":"undo"},{"op":"redo"}
]"#;
    let mut ops =
        parse_ops(OPS, std::path::Path::new("ops.json")).unwrap_or_else(|e| panic!("{e}"));
    ops.extend(
        parse_ops(extra, std::path::Path::new("extra.json")).unwrap_or_else(|e| panic!("{e}")),
    );
    let n = ph.grid.voxel_count();
    let mut cpu = Session::new(&ph, vec![0u8; n]).unwrap_or_else(|e| panic!("{e}"));
    let mut gpu = Session::on_gpu(&ctx, &ph, &vec![0u8; n]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(gpu.backend(), "gpu");
    if let Some(b) = gpu_budget {
        gpu.undo_stack_mut().gpu_budget = b;
    }
    let mut on_gpu = 0;
    for (i, op) in ops.iter().enumerate() {
        let c = cpu.apply_unjournaled(op);
        let g = gpu.apply_unjournaled(op);
        match (c, g) {
            (Ok(c), Ok(g)) => {
                assert_eq!(c.changed_voxels, g.changed_voxels, "op {i} ({})", op.name());
                assert_eq!(
                    c.undo_bricks,
                    g.undo_bricks,
                    "op {i} ({}) undo bricks",
                    op.name()
                );
                if gpu_budget == Some(0) {
                    assert_eq!(g.undo_gpu_bytes, 0, "op {i} ({}) moved to host", op.name());
                    assert_eq!(
                        c.undo_bytes,
                        g.undo_bytes,
                        "op {i} ({}) undo bytes",
                        op.name()
                    );
                } else {
                    on_gpu = on_gpu.max(g.undo_gpu_bytes);
                }
                assert_eq!(c.step, g.step, "op {i} ({}) step", op.name());
            }
            (Err(c), Err(g)) => assert_eq!(c.to_string(), g.to_string()),
            (c, g) => panic!("op {i} ({}): cpu {c:?} vs gpu {g:?}", op.name()),
        }
        let lc = cpu.labels().unwrap_or_else(|e| panic!("{e}"));
        let lg = gpu.labels().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            *lc == *lg,
            "op {i} ({}): GPU and CPU sessions differ",
            op.name()
        );
    }
    let l = cpu.labels().unwrap_or_else(|e| panic!("{e}"));
    assert!(l.contains(&8) && l.contains(&1), "ops did something");
    if gpu_budget.is_none() {
        assert!(on_gpu > 0, "undo bricks were kept on the GPU");
    }
}

/// Box reads and writes of the packed label texture at unaligned x edges keep the voxels
/// beside the box untouched.
#[test]
fn label_box_read_write_at_unaligned_edges() {
    let Some(ctx) = common::gpu() else { return };
    let d = [45usize, 7, 5];
    let n = d[0] * d[1] * d[2];
    let start: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
    let gl = PackedU8Volume::upload(&ctx, d, &start).unwrap_or_else(|e| panic!("{e}"));
    let mut host = start.clone();
    for (lo, hi) in [
        ([3, 1, 1], [42, 6, 4]),
        ([0, 0, 0], [45, 7, 5]),
        ([41, 2, 0], [45, 3, 2]),
        ([5, 0, 4], [6, 1, 5]),
    ] {
        let got = gl.read_box(&ctx, lo, hi).unwrap_or_else(|e| panic!("{e}"));
        let mut want = Vec::new();
        for z in lo[2]..hi[2] {
            for y in lo[1]..hi[1] {
                for x in lo[0]..hi[0] {
                    want.push(host[x + d[0] * (y + d[1] * z)]);
                }
            }
        }
        assert_eq!(got, want, "read {lo:?}..{hi:?}");
        let fill: Vec<u8> = want.iter().map(|v| v.wrapping_add(7)).collect();
        gl.write_box(&ctx, lo, hi, &fill)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut k = 0;
        for z in lo[2]..hi[2] {
            for y in lo[1]..hi[1] {
                for x in lo[0]..hi[0] {
                    host[x + d[0] * (y + d[1] * z)] = fill[k];
                    k += 1;
                }
            }
        }
        assert_eq!(
            gl.download(&ctx).unwrap_or_else(|e| panic!("{e}")),
            host,
            "write {lo:?}..{hi:?}"
        );
    }
    assert!(gl.read_box(&ctx, [0, 0, 0], [46, 1, 1]).is_err());
    assert!(gl.read_box(&ctx, [3, 0, 0], [3, 1, 1]).is_err());
}

/// GPU per-label statistics equal the CPU reference: counts, boxes, min and max exactly,
/// mean and σ to 1e-12 (both from exact integer sums) — on the phantom, real MRI with an
/// atlas, and extreme 8/16-bit volumes whose sums need the 64-bit carries.
#[test]
fn label_stats_gpu_equal_cpu() {
    use voxmark_gpu::kernels::label_stats::{label_stats_cpu, LabelStatsKernel};
    use voxmark_volume::{Grid, Metadata};
    let Some(ctx) = common::gpu() else { return };
    let check = |vol: &Volume, labels: &[u8]| {
        let d = vol.grid.dims;
        let rv = ResidentVolume::upload(&ctx, d, &vol.data).unwrap_or_else(|e| panic!("{e}"));
        let rl = PackedU8Volume::upload(&ctx, d, labels).unwrap_or_else(|e| panic!("{e}"));
        let g = LabelStatsKernel::new(&ctx, vol.dtype())
            .and_then(|k| k.run(&ctx, &vol.grid, &rv, &rl))
            .unwrap_or_else(|e| panic!("{e}"));
        let c = label_stats_cpu(vol, labels);
        assert_eq!(g.len(), c.len());
        assert!(!c.is_empty());
        for (g, c) in g.iter().zip(&c) {
            assert_eq!(
                (g.label, g.voxels, g.bbox, g.min, g.max),
                (c.label, c.voxels, c.bbox, c.min, c.max)
            );
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0);
            assert!(
                close(g.mean, c.mean),
                "label {}: mean {} vs {}",
                g.label,
                g.mean,
                c.mean
            );
            assert!(
                close(g.std, c.std),
                "label {}: std {} vs {}",
                g.label,
                g.std,
                c.std
            );
            assert!(close(g.volume_ml, c.volume_ml));
        }
    };
    let ph = Phantom::new([45, 38, 27])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let labels: Vec<u8> = (0..ph.grid.voxel_count())
        .map(|i| (ph.data.get_f64(i) as i64).rem_euclid(7) as u8)
        .collect();
    check(&ph, &labels);
    // Extremes: every voxel at the type's maximum (or minimum), labels 1 and 255.
    let d = [131usize, 67, 33];
    let n = d[0] * d[1] * d[2];
    let lab: Vec<u8> = (0..n).map(|i| if i % 3 == 0 { 255 } else { 1 }).collect();
    for data in [
        VoxelData::U16(vec![65535; n]),
        VoxelData::I16(
            (0..n)
                .map(|i| if i % 2 == 0 { 32767 } else { -32768 })
                .collect(),
        ),
        VoxelData::U8((0..n).map(|i| (i % 256) as u8).collect()),
        VoxelData::I8((0..n).map(|i| (i % 256) as u8 as i8).collect()),
    ] {
        let vol = Volume::new(
            Grid::new(d, glam::DMat4::from_scale(glam::DVec3::new(0.7, 0.9, 2.5))),
            data,
            Metadata::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        check(&vol, &lab);
    }
    if let Some(ch2) = common::mricron("ch2.nii.gz") {
        let img = voxmark_io::nifti::read_nifti(&ch2).unwrap_or_else(|e| panic!("{e}"));
        if let Some(aal) = common::mricron("aal.nii.gz") {
            let m = voxmark_io::nifti::read_nifti(&aal).unwrap_or_else(|e| panic!("{e}"));
            let l = voxmark_volume::labels::labels_for(&m, &aal, &img.grid)
                .unwrap_or_else(|e| panic!("{e}"));
            check(&img, &l);
        }
    }
    assert!(!LabelStatsKernel::supports(voxmark_volume::DType::F32));
}

/// `islands` on the GPU (union-find components of a label, sizes counted per root, joined
/// across slabs) removes exactly what the CPU reference removes: every connectivity, both
/// rules, ties for the largest, and a forced multi-slab run.
#[test]
fn islands_gpu_equal_cpu_with_and_without_slabs() {
    use voxmark_edit::apply_op_cpu;
    use voxmark_gpu::kernels::commit_mask::{CommitMaskKernel, CommitMaskParams};
    use voxmark_gpu::kernels::islands::{IslandRule, Islands};
    use voxmark_gpu::kernels::region_grow::Connectivity;
    use voxmark_gpu::kernels::region_grow_gpu::RegionGrowKernel;
    use voxmark_volume::DType;
    let Some(ctx) = common::gpu() else { return };
    let ph = Phantom::new([37, 31, 29])
        .unwrap_or_else(|e| panic!("{e}"))
        .volume();
    let d = ph.grid.dims;
    // Label 3 on a speckled pattern (many components, diagonal contacts), label 5 on two
    // equal blocks (a tie for the largest), label 1 on the phantom's bright structures.
    let start: Vec<u8> = (0..ph.grid.voxel_count())
        .map(|i| {
            let (x, y, z) = (i % d[0], (i / d[0]) % d[1], i / (d[0] * d[1]));
            if (x / 3 + y / 2 + z / 3) % 4 == 0 && (x * 7 + y * 3 + z) % 5 != 0 {
                3
            } else if (2..6).contains(&x) && (2..6).contains(&y) && (2..6).contains(&z)
                || (20..24).contains(&x) && (2..6).contains(&y) && (20..24).contains(&z)
            {
                5
            } else if ph.data.get_f64(i) > 250.0 {
                1
            } else {
                0
            }
        })
        .collect();
    let env = EditEnv {
        image: &ph,
        locked: [false; 256],
    };
    let k = RegionGrowKernel::new(&ctx, DType::U8).unwrap_or_else(|e| panic!("{e}"));
    let commit = CommitMaskKernel::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    for label in [3u8, 5, 1] {
        for conn in [6u32, 18, 26] {
            for keep_largest in [true, false] {
                for max_planes in [None, Some(4)] {
                    let op = parse_ops(
                        &format!(
                            r#"[{{"op":"islands","label":{label},"keep_largest":{keep_largest},"min_voxels":12,"connectivity":{conn}}}]"#
                        ),
                        std::path::Path::new("ops.json"),
                    )
                    .unwrap_or_else(|e| panic!("{e}"))
                    .remove(0);
                    let mut cpu = start.clone();
                    let changed =
                        apply_op_cpu(&env, &mut cpu, &op).unwrap_or_else(|e| panic!("{e}"));
                    let gl =
                        PackedU8Volume::upload(&ctx, d, &start).unwrap_or_else(|e| panic!("{e}"));
                    let rule = if keep_largest {
                        IslandRule::KeepLargest
                    } else {
                        IslandRule::MinVoxels(12)
                    };
                    let c = Connectivity::from_number(conn).unwrap_or_else(|e| panic!("{e}"));
                    let what = format!("label {label} conn {conn} keep_largest {keep_largest} slabs {max_planes:?}");
                    match k
                        .islands(&ctx, &gl, label, c, rule, max_planes)
                        .unwrap_or_else(|e| panic!("{e}"))
                    {
                        Islands::Nothing => assert_eq!(changed, 0, "{what}"),
                        Islands::Remove { mask, voxels } => {
                            assert_eq!(voxels, changed, "{what}");
                            let cp = CommitMaskParams::new(gl.dims, 0, &[false; 256]);
                            commit
                                .run(&ctx, &cp, &mask, &gl)
                                .unwrap_or_else(|e| panic!("{e}"));
                        }
                        Islands::TooManyComponents(n) => panic!("{what}: {n} components"),
                    }
                    let got = gl.download(&ctx).unwrap_or_else(|e| panic!("{e}"));
                    assert!(got == cpu, "{what}: GPU and CPU islands differ");
                    if label == 3 {
                        assert!(changed > 0, "{what}: the speckle has small islands");
                    }
                }
            }
        }
    }
}

/// A checkerboard is one component per labelled voxel under 6-connectivity (55,296 here):
/// the GPU islands path handles that many components (host work stays linear) and removes
/// exactly what the CPU reference removes; under 26-connectivity it is one component.
#[test]
fn islands_gpu_with_tens_of_thousands_of_components() {
    use voxmark_edit::apply_op_cpu;
    use voxmark_edit::session::Session;
    let Some(ctx) = common::gpu() else { return };
    let d = [48usize, 48, 48];
    let img = Volume::new(
        voxmark_volume::Grid::new(d, glam::DMat4::IDENTITY),
        VoxelData::I16(vec![0; d[0] * d[1] * d[2]]),
        voxmark_volume::Metadata::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let start: Vec<u8> = (0..d[0] * d[1] * d[2])
        .map(|i| u8::from((i % 48 + (i / 48) % 48 + i / 2304) % 2 == 0) * 4)
        .collect();
    for (conn, want_removed) in [(6u32, 55_296u64), (26, 0)] {
        let op = parse_ops(
            &format!(r#"[{{"op":"islands","label":4,"min_voxels":2,"connectivity":{conn}}}]"#),
            std::path::Path::new("ops.json"),
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0);
        let mut cpu = start.clone();
        let env = EditEnv {
            image: &img,
            locked: [false; 256],
        };
        let c = apply_op_cpu(&env, &mut cpu, &op).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c, want_removed);
        let mut s = Session::on_gpu(&ctx, &img, &start).unwrap_or_else(|e| panic!("{e}"));
        let r = s.apply_unjournaled(&op).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.changed_voxels, want_removed, "conn {conn}");
        assert!(
            *s.labels().unwrap_or_else(|e| panic!("{e}")) == *cpu,
            "conn {conn}"
        );
    }
}

/// Fill between slices on the GPU equals its CPU twin along every view axis, on an odd-sized
/// grid (partial texels), with a locked label and both editable policies; the fill is real
/// (hundreds of voxels) and the key slices are untouched.
#[test]
fn interpolate_gpu_equals_cpu_along_every_axis() {
    use voxmark_edit::store::{execute_cpu, GpuEdit};
    let Some(ctx) = common::gpu() else { return };
    let ph = odd_phantom();
    let VoxelData::I16(v) = &ph.data else {
        panic!("int16")
    };
    let d = ph.grid.dims;
    let mut lk = [false; 256];
    lk[9] = true;
    let env = EditEnv {
        image: &ph,
        locked: lk,
    };
    for (axis, editable) in [
        ("axial", "everywhere"),
        ("coronal", "empty_only"),
        ("sagittal", "everywhere"),
    ] {
        let ops = parse_ops(
            &format!(
                r#"[{{"op":"interpolate","label":1,"axis":"{axis}","editable":"{editable}"}}]"#
            ),
            std::path::Path::new("ops.json"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let program = lower(&env, &ops[0])
            .unwrap_or_else(|e| panic!("{e}"))
            .into_program()
            .unwrap_or_else(|| panic!("interpolate writes voxels"));
        let Program::Interpolate(req) = &program else {
            panic!("lowers to interpolate")
        };
        // Vessels and bone (label 1) on every 5th slice along the axis; label 2 the body
        // (soft tissue when the fill may only go into empty voxels); locked voxels (9).
        let body = if editable == "empty_only" { 0 } else { -500 };
        let start: Vec<u8> = v
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let c = [i % d[0], (i / d[0]) % d[1], i / (d[0] * d[1])];
                if i % 97 == 0 {
                    9
                } else if x > 200 && c[req.n] % 5 == 1 {
                    1
                } else if x > body && x <= 200 {
                    2
                } else {
                    0
                }
            })
            .collect();
        let mut cpu = start.clone();
        let c = execute_cpu(&ph, &mut cpu, &program).unwrap_or_else(|e| panic!("{e}"));
        let gpu = GpuEdit::new(&ctx, &ph, &start).unwrap_or_else(|e| panic!("{e}"));
        let g = gpu.run(&ph, &program).unwrap_or_else(|e| panic!("{e}"));
        let got = gpu.labels.download(&ctx).unwrap_or_else(|e| panic!("{e}"));
        assert!(c > 300, "{axis}: the fill changed only {c} voxels");
        assert_eq!(g, c, "{axis}: changed counts");
        assert!(got == cpu, "{axis}: GPU and CPU labels differ");
        for (i, (&a, &b)) in start.iter().zip(&cpu).enumerate() {
            let c = [i % d[0], (i / d[0]) % d[1], i / (d[0] * d[1])];
            if c[req.n] % 5 == 1 || a == 9 || (editable == "empty_only" && a != 0) {
                assert_eq!(a, b, "{axis}: voxel {c:?} must not change");
            }
        }
    }
}

/// Grow from seeds on the GPU (block-local Bellman-Ford) equals the CPU twin (Dijkstra) bit
/// for bit — costs and labels — on the noisy phantom and on a plateau image full of exact
/// ties, with walls; and the incremental update after a new stroke equals both.
#[test]
fn grow_cut_gpu_equals_cpu_with_ties_walls_and_incremental_update() {
    use voxmark_gpu::kernels::grow_cut::{GrowCutKernel, GrowCutRequest, GrowCutState};
    let Some(ctx) = common::gpu() else { return };
    let k = GrowCutKernel::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    let ph = odd_phantom();
    let d = ph.grid.dims;
    // A plateau image (steps of 40, little noise): many equal-cost paths.
    let VoxelData::I16(v) = &ph.data else {
        panic!("int16")
    };
    let plateau = Volume::new(
        ph.grid,
        VoxelData::I16(v.iter().map(|&x| (x / 40) * 40).collect()),
        ph.meta.clone(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for img in [&ph, &plateau] {
        let mut labels = vec![0u8; ph.grid.voxel_count()];
        let idx = |x: usize, y: usize, z: usize| x + d[0] * (y + d[1] * z);
        for z in 8..12 {
            labels[idx(12, 15, z)] = 1;
            labels[idx(30, 20, z)] = 2;
            labels[idx(22, 33, z)] = 5; // background
        }
        for y in 0..d[1] {
            labels[idx(20, y, 14)] = 7; // a wall
        }
        let mut seeds = [false; 256];
        for l in [1, 2, 5] {
            seeds[l] = true;
        }
        let req = GrowCutRequest {
            dims: d,
            roi: None,
            seeds,
            background: 5,
            locked: [false; 256],
        };
        let mut cpu = GrowCutState::init(&req, img, &labels).unwrap_or_else(|e| panic!("{e}"));
        let mut gpu = cpu.clone();
        cpu.solve_cpu();
        let mut g = k.upload(&ctx, &gpu).unwrap_or_else(|e| panic!("{e}"));
        k.solve(&ctx, &mut g).unwrap_or_else(|e| panic!("{e}"));
        k.download(&ctx, &g, &mut gpu)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(cpu.lab.iter().filter(|&&l| l == 1).count() > 100);
        assert!(cpu.dist == gpu.dist, "costs differ");
        assert!(cpu.lab == gpu.lab, "labels differ");
        // A new stroke of label 1 (inside the ROI the first seeds made): the CPU and GPU
        // updates equal a full recompute.
        for x in 8..16 {
            labels[idx(x, 28, 10)] = 1;
        }
        let added = cpu
            .added_seeds(&req, &labels)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("only added seeds"));
        assert!(cpu
            .update_cpu(&req, img, &labels)
            .unwrap_or_else(|e| panic!("{e}")));
        gpu.add_seeds(&added);
        let rs: Vec<usize> = added.iter().map(|a| a.0).collect();
        k.update(&ctx, &mut g, &gpu, &rs)
            .unwrap_or_else(|e| panic!("{e}"));
        k.download(&ctx, &g, &mut gpu)
            .unwrap_or_else(|e| panic!("{e}"));
        // The full recompute on the ROI the first solve made (the shell's op names it).
        let lo = cpu.lo;
        let hi = [0, 1, 2].map(|a| cpu.lo[a] + cpu.size[a] - 1);
        let on_roi = GrowCutRequest {
            roi: Some([lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]]),
            ..req
        };
        let mut full = GrowCutState::init(&on_roi, img, &labels).unwrap_or_else(|e| panic!("{e}"));
        full.solve_cpu();
        assert!(cpu == full, "CPU update == full recompute");
        assert!(
            gpu.dist == full.dist && gpu.lab == full.lab,
            "GPU update == full recompute"
        );
    }
}

/// Runs one op from `start` through the CPU twin and through a GPU store reset to `start`;
/// asserts equal labels and counts and that locked label 9 is neither written nor removed;
/// returns the voxels changed.
fn op_gpu_equals_cpu(
    ctx: &GpuContext,
    gpu: &voxmark_edit::store::GpuEdit,
    ph: &Volume,
    start: &[u8],
    op: &str,
) -> u64 {
    let mut lk = [false; 256];
    lk[9] = true;
    let env = EditEnv {
        image: ph,
        locked: lk,
    };
    let ops = parse_ops(&format!("[{op}]"), std::path::Path::new("ops.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let program = lower(&env, &ops[0])
        .unwrap_or_else(|e| panic!("{e}"))
        .into_program()
        .unwrap_or_else(|| panic!("{op} writes voxels"));
    let mut cpu = start.to_vec();
    let c =
        voxmark_edit::store::execute_cpu(ph, &mut cpu, &program).unwrap_or_else(|e| panic!("{e}"));
    gpu.labels
        .write_box(ctx, [0, 0, 0], ph.grid.dims, start)
        .unwrap_or_else(|e| panic!("{e}"));
    let g = gpu.run(ph, &program).unwrap_or_else(|e| panic!("{e}"));
    let got = gpu.labels.download(ctx).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(g, c, "{op}: changed counts");
    assert!(got == cpu, "{op}: GPU and CPU labels differ");
    assert!(
        start.iter().zip(&cpu).all(|(a, b)| (*a == 9) == (*b == 9)),
        "{op}: locked voxels stay and are not written"
    );
    c
}

/// Fill holes on the GPU equals the CPU twin in 3D and slice by slice along each view axis,
/// on the phantom's lungs-and-vessels label (real holes: the vessels inside the body), with a
/// locked label inside a hole.
#[test]
fn fill_holes_gpu_equals_cpu_in_3d_and_per_slice() {
    use voxmark_edit::store::GpuEdit;
    let Some(ctx) = common::gpu() else { return };
    let ph = odd_phantom();
    let VoxelData::I16(v) = &ph.data else {
        panic!("int16")
    };
    // Label 1: soft tissue (the body minus lungs, vessels and bone: those are its holes).
    let start: Vec<u8> = v
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if i % 211 == 0 {
                9
            } else {
                u8::from((-200..150).contains(&x))
            }
        })
        .collect();
    let gpu = GpuEdit::new(&ctx, &ph, &start).unwrap_or_else(|e| panic!("{e}"));
    for per_slice in ["", "axial", "coronal", "sagittal"] {
        let op = if per_slice.is_empty() {
            r#"{"op":"fill_holes","label":1}"#.to_string()
        } else {
            format!(r#"{{"op":"fill_holes","label":1,"per_slice":"{per_slice}"}}"#)
        };
        let c = op_gpu_equals_cpu(&ctx, &gpu, &ph, &start, &op);
        assert!(c > 100, "{op}: only {c} voxels filled");
    }
}

#[test]
fn smooth_gpu_equals_cpu() {
    use voxmark_edit::store::GpuEdit;
    let Some(ctx) = common::gpu() else { return };
    let ph = odd_phantom();
    let VoxelData::I16(v) = &ph.data else {
        panic!("int16")
    };
    // Label 1: a noisy threshold (ragged edges, specks); 3 elsewhere in the body; 9 locked.
    let start: Vec<u8> = v
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if i % 173 == 0 {
                9
            } else if x > 30 {
                1
            } else if x > -300 && i % 7 == 0 {
                3
            } else {
                0
            }
        })
        .collect();
    let gpu = GpuEdit::new(&ctx, &ph, &start).unwrap_or_else(|e| panic!("{e}"));
    for op in [
        r#"{"op":"smooth","label":1,"method":"median","radius_mm":10}"#,
        r#"{"op":"smooth","label":1,"method":"opening","radius_mm":10}"#,
        r#"{"op":"smooth","label":1,"method":"closing","radius_mm":13,"editable":"empty_only"}"#,
        r#"{"op":"smooth","label":1,"method":"gaussian","radius_mm":9}"#,
    ] {
        let c = op_gpu_equals_cpu(&ctx, &gpu, &ph, &start, op);
        assert!(c > 50, "{op}: only {c} voxels changed");
    }
}

/// Logical operations on the GPU equal the CPU twin: each operation with a label of the same
/// map and with a second map read from a NIfTI file, under editable policies, a range and a
/// locked label.
#[test]
fn logical_gpu_equals_cpu_with_same_map_and_second_map() {
    use voxmark_edit::store::GpuEdit;
    use voxmark_volume::{Metadata, Volume};
    let Some(ctx) = common::gpu() else { return };
    let ph = odd_phantom();
    let VoxelData::I16(v) = &ph.data else {
        panic!("int16")
    };
    let start: Vec<u8> = v
        .iter()
        .enumerate()
        .map(|(i, &x)| match i {
            _ if i % 197 == 0 => 9,
            _ if x > 30 => 1,
            _ if x > -300 && i % 5 == 0 => 3,
            _ if x > -300 && i % 5 == 1 => 2,
            _ => 0,
        })
        .collect();
    // The second map: label 2 on a shifted threshold, 4 in a slab.
    let second: Vec<u8> = v
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let d = ph.grid.dims;
            let z = i / (d[0] * d[1]);
            if x > -20 && x < 400 {
                2
            } else if z < d[2] / 3 {
                4
            } else {
                0
            }
        })
        .collect();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("second.nii.gz");
    let vol = Volume::new(ph.grid, VoxelData::U8(second), Metadata::default())
        .unwrap_or_else(|e| panic!("{e}"));
    voxmark_io::nifti::write_nifti(&path, &vol).unwrap_or_else(|e| panic!("{e}"));
    voxmark_edit::lower::register_map_reader(voxmark_io::nifti::read_nifti);
    let m = path.display().to_string();
    let gpu = GpuEdit::new(&ctx, &ph, &start).unwrap_or_else(|e| panic!("{e}"));
    for (op, min) in [
        (
            r#""operation":"union","label":1,"other":3"#.to_string(),
            100,
        ),
        (
            r#""operation":"intersect","label":1,"other":3"#.to_string(),
            100,
        ),
        (
            r#""operation":"copy","label":2,"other":3,"range":[0,200]"#.to_string(),
            100,
        ),
        (
            r#""operation":"invert","label":1,"editable":"empty_only""#.to_string(),
            100,
        ),
        (r#""operation":"invert","label":3"#.to_string(), 100),
        (
            format!(r#""operation":"union","label":1,"other":{{"mask":"{m}","label":2}}"#),
            100,
        ),
        (
            format!(
                r#""operation":"union","label":3,"other":{{"mask":"{m}","label":2}},"editable":{{"inside":2}}"#
            ),
            100,
        ),
        (
            format!(r#""operation":"intersect","label":1,"other":{{"mask":"{m}","label":2}}"#),
            100,
        ),
        (
            format!(
                r#""operation":"subtract","label":1,"other":{{"mask":"{m}","label":2}},"range":[100,300]"#
            ),
            10,
        ),
        (
            format!(r#""operation":"copy","label":3,"other":{{"mask":"{m}","label":2}}"#),
            100,
        ),
    ] {
        let op = format!(r#"{{"op":"logical",{op}}}"#);
        let c = op_gpu_equals_cpu(&ctx, &gpu, &ph, &start, &op);
        assert!(c >= min, "{op}: only {c} voxels changed");
    }
}

/// The 3D view's preview layer (`Session::labels_with_preview`) is what Enter applies: for a
/// grow, a fill between slices and grow from seeds (its background strokes cleared), the
/// labels with the preview laid over them on the GPU equal the labels after the op is applied
/// by the CPU session.
#[test]
fn preview_layer_for_3d_equals_the_applied_op() {
    use voxmark_edit::ops::EditOp;
    use voxmark_edit::session::{GrowPreview, Session};
    use voxmark_gpu::kernels::grow_cut::{GrowCutRequest, GrowCutState};
    let Some(ctx) = common::gpu() else { return };
    let ph = odd_phantom();
    let d = ph.grid.dims;
    let idx = |x: usize, y: usize, z: usize| x + d[0] * (y + d[1] * z);
    let mut strokes = vec![0u8; ph.grid.voxel_count()];
    for z in 8..12 {
        strokes[idx(12, 15, z)] = 1;
        strokes[idx(30, 20, z)] = 2;
        strokes[idx(22, 33, z)] = 5;
    }
    for (x, y) in [(14, 16), (15, 16), (14, 17)] {
        strokes[idx(x, y, 20)] = 1; // a key slice for fill between slices (8..11 and 20)
    }
    let check = |op: EditOp, mask: GrowPreview, start: &[u8]| {
        let gpu = Session::on_gpu(&ctx, &ph, start).unwrap_or_else(|e| panic!("{e}"));
        let GrowPreview::Gpu(m) = mask else {
            panic!("a GPU preview")
        };
        let merged = gpu
            .labels_with_preview(&op, &m)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("{op:?} has a preview"))
            .download(&ctx)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut cpu = Session::new(&ph, start.to_vec()).unwrap_or_else(|e| panic!("{e}"));
        cpu.apply(&op, "test").unwrap_or_else(|e| panic!("{e}"));
        let want = cpu.labels().unwrap_or_else(|e| panic!("{e}")).to_vec();
        assert!(
            merged != start,
            "{}: the preview shows something",
            op.name()
        );
        assert!(
            merged == want,
            "{}: 3D preview layer != applied op",
            op.name()
        );
    };
    // Grow and fill between slices: previews made by the GPU session.
    let session = Session::on_gpu(&ctx, &ph, &strokes).unwrap_or_else(|e| panic!("{e}"));
    let grow = EditOp::Grow {
        seeds: vec![[22, 19, 13]],
        lower: -100.0,
        upper: 200.0,
        connectivity: 6,
        label: 3,
        roi: None,
        editable: Default::default(),
    };
    let fill = EditOp::Interpolate {
        label: 1,
        axis: voxmark_volume::geometry::view::ViewKind::Axial,
        editable: Default::default(),
    };
    for op in [grow, fill] {
        let mask = session.preview(&op).unwrap_or_else(|e| panic!("{e}"));
        check(op, mask, &strokes);
    }
    // Grow from seeds: the preview as the shell makes it (the CPU state's partition).
    let mut seeds = [false; 256];
    for l in [1, 2, 5] {
        seeds[l] = true;
    }
    let req = GrowCutRequest {
        dims: d,
        roi: None,
        seeds,
        background: 5,
        locked: [false; 256],
    };
    let mut st = GrowCutState::init(&req, &ph, &strokes).unwrap_or_else(|e| panic!("{e}"));
    st.solve_cpu();
    let (mask, _) = st.preview_mask(5, d);
    let hi = [0, 1, 2].map(|a| st.lo[a] + st.size[a] - 1);
    let op = EditOp::GrowCut {
        labels: vec![1, 2],
        background: 5,
        roi: Some([st.lo[0], st.lo[1], st.lo[2], hi[0], hi[1], hi[2]]),
    };
    let m = voxmark_gpu::residency::PackedU8Volume::upload(&ctx, d, &mask)
        .unwrap_or_else(|e| panic!("{e}"));
    check(op, GrowPreview::Gpu(m), &strokes);
}

/// Enter on a grow preview commits the previewed region (no second grow): on the host and
/// on the GPU the labels, the undo step and the journaled op equal those of applying the op
/// afresh, including a label the write rule protects and a label locked after the preview.
#[test]
fn an_accepted_grow_preview_commits_what_a_fresh_grow_writes() {
    use voxmark_edit::ops::EditOp;
    use voxmark_edit::session::Session;
    let Some(ctx) = common::gpu() else { return };
    let ph = odd_phantom();
    let d = ph.grid.dims;
    let idx = |x: usize, y: usize, z: usize| x + d[0] * (y + d[1] * z);
    let mut start = vec![0u8; ph.grid.voxel_count()];
    for z in 6..16 {
        for y in 12..24 {
            start[idx(20, y, z)] = 2;
            start[idx(24, y, z)] = 4;
        }
    }
    let grow = EditOp::Grow {
        seeds: vec![[22, 19, 13], [10, 10, 4]],
        lower: -100.0,
        upper: 200.0,
        connectivity: 18,
        label: 3,
        roi: None,
        editable: voxmark_edit::ops::Editable::EmptyOnly,
    };
    // Label 4 is locked between the preview and Enter: the commit must respect the lock.
    let lock4 = EditOp::SetLabel {
        value: 4,
        name: None,
        color: None,
        visible: None,
        locked: Some(true),
    };
    let mut fresh = Session::new(&ph, start.clone()).unwrap_or_else(|e| panic!("{e}"));
    fresh
        .apply(&lock4, "test")
        .unwrap_or_else(|e| panic!("{e}"));
    let want = fresh
        .apply(&grow, "test")
        .unwrap_or_else(|e| panic!("{e}"))
        .changed_voxels;
    let want_labels = fresh.labels().unwrap_or_else(|e| panic!("{e}")).to_vec();
    assert!(want > 100, "the grow writes something ({want} voxels)");
    assert!(want_labels != start);
    for on_gpu in [false, true] {
        let mut s = if on_gpu {
            Session::on_gpu(&ctx, &ph, &start)
        } else {
            Session::new(&ph, start.clone())
        }
        .unwrap_or_else(|e| panic!("{e}"));
        let preview = s.preview(&grow).unwrap_or_else(|e| panic!("{e}"));
        s.apply(&lock4, "test").unwrap_or_else(|e| panic!("{e}"));
        let r = s
            .apply_previewed(&grow, &preview, "test")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.changed_voxels, want, "gpu {on_gpu}: changed voxels");
        let got = s.labels().unwrap_or_else(|e| panic!("{e}")).to_vec();
        assert!(got == want_labels, "gpu {on_gpu}: labels != a fresh grow's");
        s.apply(&EditOp::Undo, "test")
            .unwrap_or_else(|e| panic!("{e}"));
        let undone = s.labels().unwrap_or_else(|e| panic!("{e}")).to_vec();
        assert!(undone == start, "gpu {on_gpu}: undo restores the labels");
    }
    // A preview of the other store kind is refused, not committed.
    let mut host = Session::new(&ph, start.clone()).unwrap_or_else(|e| panic!("{e}"));
    let gpu = Session::on_gpu(&ctx, &ph, &start).unwrap_or_else(|e| panic!("{e}"));
    let foreign = gpu.preview(&grow).unwrap_or_else(|e| panic!("{e}"));
    assert!(host.apply_previewed(&grow, &foreign, "test").is_err());
    assert!(host.labels().unwrap_or_else(|e| panic!("{e}")).to_vec() == start);
}
