//! Region growing: GPU (union-find CCL) == CPU (scanline flood) on the phantom for every
//! connectivity, with ROIs, several seeds and forced multi-slab runs; bounded pass count on
//! the helix; confidence-connected range sanity.

mod common;

use voxmark_gpu::kernels::region_grow::{
    confidence_range, region_grow_cpu, Connectivity, GrowRequest, RegionGrowParams,
};
use voxmark_gpu::kernels::region_grow_gpu::RegionGrowKernel;
use voxmark_gpu::residency::ResidentVolume;
use voxmark_volume::phantom::{Phantom, Tissue};
use voxmark_volume::Volume;

fn phantom(dims: [usize; 3]) -> (Phantom, Volume) {
    let p = Phantom::new(dims).unwrap_or_else(|e| panic!("{e}"));
    let v = p.volume();
    (p, v)
}

/// A voxel of `tissue` whose value lies in [lo, hi].
fn seed_in(p: &Phantom, v: &Volume, tissue: Tissue, lo: f64, hi: f64, nth: usize) -> [usize; 3] {
    let [nx, ny, nz] = v.grid.dims;
    (0..nz)
        .flat_map(|k| (0..ny).flat_map(move |j| (0..nx).map(move |i| [i, j, k])))
        .filter(|s| {
            p.tissue(s[0], s[1], s[2]) == tissue && (lo..=hi).contains(&v.value(s[0], s[1], s[2]))
        })
        .nth(nth)
        .unwrap_or_else(|| panic!("no {tissue:?} seed"))
}

fn count(m: &[u8]) -> usize {
    m.iter().filter(|&&x| x != 0).count()
}

#[test]
fn gpu_equals_cpu_for_all_connectivities_rois_and_slabs() {
    let Some(ctx) = common::gpu() else { return };
    let (p, v) = phantom([57, 50, 46]);
    let rv = ResidentVolume::upload(&ctx, v.grid.dims, &v.data).unwrap_or_else(|e| panic!("{e}"));
    let k = RegionGrowKernel::new(&ctx, v.dtype()).unwrap_or_else(|e| panic!("{e}"));
    let vessel = seed_in(&p, &v, Tissue::Vessel, 200.0, 500.0, 40);
    let vessel2 = seed_in(&p, &v, Tissue::Vessel, 200.0, 500.0, 900);
    let body = seed_in(&p, &v, Tissue::Body, -100.0, 150.0, 5000);
    let lung = seed_in(&p, &v, Tissue::Lung, -900.0, -700.0, 10);
    let cases = [
        (vec![vessel], 200.0, 500.0, None),
        (vec![vessel, vessel2], 200.0, 500.0, None),
        (vec![body], -100.0, 150.0, None),
        (vec![lung, body], -900.0, 150.0, Some([3, 4, 2, 50, 44, 40])),
        (vec![body], 35.5, 60.2, None), // a noisy, fragmented range
    ];
    for (seeds, lo, hi, roi) in cases {
        for conn in [
            Connectivity::Six,
            Connectivity::Eighteen,
            Connectivity::TwentySix,
        ] {
            let req = GrowRequest {
                seeds: seeds.clone(),
                lower: lo,
                upper: hi,
                connectivity: conn,
                roi,
                label: 3,
            };
            let gp = RegionGrowParams::new(v.grid.dims, v.dtype(), &req)
                .unwrap_or_else(|e| panic!("{e}"));
            let cpu = region_grow_cpu(&gp, &v.data, &seeds);
            assert!(count(&cpu) > 0);
            for planes in [None, Some(7), Some(1)] {
                let gpu = k
                    .run(&ctx, &gp, &seeds, &rv, planes)
                    .and_then(|m| m.download(&ctx))
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(gpu == cpu, "{conn:?} seeds {seeds:?} [{lo}, {hi}] roi {roi:?} slab {planes:?}: gpu {} cpu {}", count(&gpu), count(&cpu));
            }
        }
    }
}

/// Number of passes a flood advancing one voxel per pass would need: the BFS depth.
fn bfs_depth(mask: &[u8], dims: [usize; 3], seed: [usize; 3]) -> usize {
    let idx = |x: usize, y: usize, z: usize| x + dims[0] * (y + dims[1] * z);
    let mut dist = vec![usize::MAX; mask.len()];
    let mut q = std::collections::VecDeque::new();
    dist[idx(seed[0], seed[1], seed[2])] = 0;
    q.push_back(seed);
    let mut max = 0;
    while let Some([x, y, z]) = q.pop_front() {
        let d = dist[idx(x, y, z)];
        max = max.max(d);
        for (dx, dy, dz) in [
            (-1i64, 0i64, 0i64),
            (1, 0, 0),
            (0, -1, 0),
            (0, 1, 0),
            (0, 0, -1),
            (0, 0, 1),
        ] {
            let (a, b, c) = (x as i64 + dx, y as i64 + dy, z as i64 + dz);
            if a < 0
                || b < 0
                || c < 0
                || a >= dims[0] as i64
                || b >= dims[1] as i64
                || c >= dims[2] as i64
            {
                continue;
            }
            let n = idx(a as usize, b as usize, c as usize);
            if mask[n] != 0 && dist[n] == usize::MAX {
                dist[n] = d + 1;
                q.push_back([a as usize, b as usize, c as usize]);
            }
        }
    }
    max
}

#[test]
fn helix_needs_four_dispatches_not_its_length() {
    let Some(ctx) = common::gpu() else { return };
    let (p, v) = phantom([128, 128, 160]);
    let seed = seed_in(&p, &v, Tissue::Vessel, 150.0, 450.0, 0);
    let req = GrowRequest {
        seeds: vec![seed],
        lower: 150.0,
        upper: 450.0,
        connectivity: Connectivity::Six,
        roi: None,
        label: 1,
    };
    let gp = RegionGrowParams::new(v.grid.dims, v.dtype(), &req).unwrap_or_else(|e| panic!("{e}"));
    let rv = ResidentVolume::upload(&ctx, v.grid.dims, &v.data).unwrap_or_else(|e| panic!("{e}"));
    let k = RegionGrowKernel::new(&ctx, v.dtype()).unwrap_or_else(|e| panic!("{e}"));
    let gpu = k
        .run(&ctx, &gp, &[seed], &rv, None)
        .and_then(|m| m.download(&ctx))
        .unwrap_or_else(|e| panic!("{e}"));
    let cpu = region_grow_cpu(&gp, &v.data, &[seed]);
    assert_eq!(gpu, cpu);
    let depth = bfs_depth(&cpu, v.grid.dims, seed);
    eprintln!(
        "helix: {} voxels, BFS depth {depth}, GPU dispatches {}",
        count(&cpu),
        k.last_dispatches.get()
    );
    assert_eq!(
        k.last_dispatches.get(),
        4,
        "single slab: init, merge, compress, select"
    );
    assert!(
        depth > 100,
        "the region is long ({depth}), yet the pass count stays 4"
    );
}

#[test]
fn seed_outside_the_range_grows_nothing() {
    let (p, v) = phantom([32, 32, 24]);
    let s = seed_in(&p, &v, Tissue::Air, -1100.0, -900.0, 0);
    let req = GrowRequest {
        seeds: vec![s],
        lower: 200.0,
        upper: 500.0,
        connectivity: Connectivity::Six,
        roi: None,
        label: 1,
    };
    let gp = RegionGrowParams::new(v.grid.dims, v.dtype(), &req).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(count(&region_grow_cpu(&gp, &v.data, &[s])), 0);
}

#[test]
fn confidence_range_centres_on_the_seed_tissue() {
    let (p, v) = phantom([48, 48, 40]);
    // Deep inside the left lung, away from the helix and the lung wall.
    let s = [37, 19, 26];
    assert_eq!(p.tissue(37, 19, 26), Tissue::Lung);
    let dims = v.grid.dims;
    let (r, mask) = confidence_range(&v.data, dims, &[s], 2.5, 1, 4, |lo, hi| {
        let req = GrowRequest {
            seeds: vec![s],
            lower: lo,
            upper: hi,
            connectivity: Connectivity::Six,
            roi: None,
            label: 1,
        };
        Ok(region_grow_cpu(
            &RegionGrowParams::new(dims, v.dtype(), &req)?,
            &v.data,
            &[s],
        ))
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!((r.mean + 800.0).abs() < 10.0, "{r:?}");
    assert!(r.sigma > 10.0 && r.sigma < 30.0, "{r:?}");
    assert!(r.lower > -900.0 && r.upper < -700.0, "{r:?}");
    assert!(count(&mask) > 100);
}

#[test]
fn grow_preview_renders_and_commits_respecting_locked_labels() {
    use voxmark_edit::LabelVolume;
    use voxmark_gpu::kernels::commit_mask::{commit_mask_cpu, CommitMaskParams};
    use voxmark_gpu::kernels::mpr::LabelStyle;
    use voxmark_render::slice::{
        render_rgba_cpu, HostOverlays, Overlays, SliceOptions, SliceRenderer,
    };
    use voxmark_volume::geometry::view::{ViewGeometry, ViewKind};
    use voxmark_volume::label_table::LabelInfo;
    use voxmark_volume::WindowPreset;

    let Some(ctx) = common::gpu() else { return };
    let (p, v) = phantom([40, 36, 30]);
    let dims = v.grid.dims;
    let body = seed_in(&p, &v, Tissue::Body, -100.0, 150.0, 3000);
    let req = GrowRequest {
        seeds: vec![body],
        lower: -150.0,
        upper: 150.0,
        connectivity: Connectivity::Six,
        roi: None,
        label: 1,
    };
    let gp = RegionGrowParams::new(dims, v.dtype(), &req).unwrap_or_else(|e| panic!("{e}"));
    let rv = ResidentVolume::upload(&ctx, dims, &v.data).unwrap_or_else(|e| panic!("{e}"));
    let mask_gpu = RegionGrowKernel::new(&ctx, v.dtype())
        .and_then(|k| k.run(&ctx, &gp, &[body], &rv, None))
        .unwrap_or_else(|e| panic!("{e}"));
    let mask = region_grow_cpu(&gp, &v.data, &[body]);
    // Existing labels: label 2 (locked) on the lower half of slices, label 3 elsewhere on a band.
    let mut labels = vec![0u8; v.grid.voxel_count()];
    for (idx, l) in labels.iter_mut().enumerate() {
        let k = idx / (dims[0] * dims[1]);
        let i = idx % dims[0];
        *l = if k < 10 && i < 20 {
            2
        } else if i % 7 == 0 {
            3
        } else {
            0
        };
    }
    let mut lv = LabelVolume::from_u8(&ctx, dims, &labels).unwrap_or_else(|e| panic!("{e}"));
    lv.table.push(LabelInfo {
        value: 2,
        name: "locked".into(),
        color: [1.0, 0.0, 0.0],
        visible: true,
        locked: true,
    });
    lv.set_preview(mask_gpu).unwrap_or_else(|e| panic!("{e}"));
    // The preview is drawn over the slices, GPU == CPU.
    let view = ViewGeometry::new(&v.grid, ViewKind::Coronal, None, Some([80, 60]))
        .unwrap_or_else(|e| panic!("{e}"));
    let opts = SliceOptions {
        window: WindowPreset {
            center: 40.0,
            width: 400.0,
        },
        linear: false,
        labels: Some(LabelStyle::default()),
        crosshair: None,
    };
    let r = SliceRenderer::new(&ctx, v.dtype()).unwrap_or_else(|e| panic!("{e}"));
    let gpu_img = r
        .render_rgba(
            &ctx,
            &rv,
            Overlays {
                labels: Some(&lv.labels),
                preview: lv.preview(),
            },
            &view,
            &opts,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let cpu_img = render_rgba_cpu(
        &v.data,
        dims,
        HostOverlays {
            labels: Some(&labels),
            preview: Some(&mask),
        },
        &view,
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let no_preview = render_rgba_cpu(
        &v.data,
        dims,
        HostOverlays {
            labels: Some(&labels),
            preview: None,
        },
        &view,
        &opts,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(gpu_img
        .iter()
        .zip(&cpu_img)
        .all(|(a, b)| a.abs_diff(*b) <= 1));
    assert_ne!(cpu_img, no_preview, "the preview is visible");
    // Accept: commit to label 5; locked label 2 stays.
    let changed = lv.commit_preview(&ctx, 5).unwrap_or_else(|e| panic!("{e}"));
    assert!(lv.preview().is_none());
    let mut expect = labels.clone();
    let n = commit_mask_cpu(
        &CommitMaskParams::new(
            [dims[0] as u32, dims[1] as u32, dims[2] as u32],
            5,
            &lv.locked(),
        ),
        &mask,
        &mut expect,
    );
    assert_eq!(changed, n);
    let got = lv.labels.download(&ctx).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, expect);
    assert!(
        got.iter().zip(&labels).all(|(g, l)| *l != 2 || *g == 2),
        "locked label untouched"
    );
    assert!(got.contains(&5));
    assert!(
        lv.commit_preview(&ctx, 5).is_err(),
        "nothing left to commit"
    );
}
