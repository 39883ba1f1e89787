//! Painting ops on the GPU (span write kernel) equal their CPU twin voxel for voxel, on the
//! CT phantom, a float volume with fractional ranges, and real MRI with an atlas.

mod common;

use voxmark::edit::apply_cpu::{spans_for, EditEnv};
use voxmark::edit::ops::parse_ops;
use voxmark::edit::spans::{apply_spans_cpu, SpanWriteKernel};
use voxmark::gpu::residency::{PackedU8Volume, ResidentVolume};
use voxmark::gpu::GpuContext;
use voxmark::phantom::Phantom;
use voxmark::volume::{Volume, VoxelData};

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
        let w = match spans_for(&env, op) {
            Ok(Some(w)) => w,
            Ok(None) => panic!("op {n} is span-shaped"),
            Err(e) => {
                // Ops on locked labels are refused on both paths alike.
                assert!(e.to_string().contains("locked"), "{e}");
                continue;
            }
        };
        let c = apply_spans_cpu(vol, &mut cpu, &w);
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
    let vol = voxmark::io::nifti::read_nifti(&ch2).unwrap_or_else(|e| panic!("{e}"));
    let mask = voxmark::io::nifti::read_nifti(&aal).unwrap_or_else(|e| panic!("{e}"));
    let labels = voxmark::volume::labels::labels_for(&mask, &aal, &vol.grid)
        .unwrap_or_else(|e| panic!("{e}"));
    run_all(&ctx, &vol, labels, &[7]);
}

#[test]
fn dilate_and_erode_gpu_equal_cpu() {
    use voxmark::edit::apply_cpu::apply_op_cpu;
    use voxmark::edit::morph::MorphKernel;
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
            {"op":"erode","label":1,"radius_mm":30}]"#,
        std::path::Path::new("ops.json"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let gl = PackedU8Volume::upload(&ctx, ph.grid.dims, &start).unwrap_or_else(|e| panic!("{e}"));
    let k = MorphKernel::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    let mut cpu = start;
    for (n, op) in ops.iter().enumerate() {
        let c = apply_op_cpu(&env, &mut cpu, op).unwrap_or_else(|e| panic!("{e}"));
        let g = k.run(&ctx, &env, op, &gl).unwrap_or_else(|e| panic!("{e}"));
        assert!(c > 0, "op {n} changes something");
        assert_eq!(g, c, "op {n}: changed counts");
        assert!(
            gl.download(&ctx).unwrap_or_else(|e| panic!("{e}")) == cpu,
            "op {n}: labels differ"
        );
    }
}
