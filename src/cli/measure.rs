//! `voxmark measure IMAGE --labels MASK [--label N] [--components] [--json]`: per label (and
//! per connected component) volume, surface area, extent, centroid, intensity, RECIST
//! bidirectional diameters and the 3D maximum diameter. Definitions: `qa::measure`; the
//! surface is `render::mesh`'s marching cubes (the mesh `voxmark mesh` writes).

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use voxmark_gpu::kernels::islands::components_cpu;
use voxmark_gpu::kernels::region_grow::Connectivity;
use voxmark_qa::measure::{measure_region, RegionMeasures};
use voxmark_render::mesh::region_mesh;

#[derive(Debug, Args)]
pub struct MeasureArgs {
    /// The image: .nii / .nii.gz, .nrrd / .nhdr, .mha / .mhd, a DICOM file or a folder of DICOM
    /// files.
    pub path: PathBuf,
    /// Label map on the image's grid (NIfTI, NRRD, MetaImage, .seg.nrrd, DICOM SEG).
    #[arg(long)]
    pub labels: PathBuf,
    #[command(flatten)]
    pub resample: super::ResampleArg,
    /// Only this label value (default: every label present).
    #[arg(long)]
    pub label: Option<u8>,
    /// Also measure each connected component of each label, largest first.
    #[arg(long)]
    pub components: bool,
    /// Connectivity of components: 6 (faces, scipy.ndimage.label's default), 18 or 26.
    #[arg(long, default_value_t = 6)]
    pub connectivity: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Skip the surface area (marching cubes), the slowest part on large labels.
    #[arg(long)]
    pub no_surface: bool,
    /// SeriesInstanceUID when the folder holds several series.
    #[arg(long)]
    pub series: Option<String>,
}

/// One measured region in the output.
#[derive(Debug, Serialize)]
pub struct Measured {
    pub label: u8,
    pub name: String,
    /// 1-based component number, largest first (None: the whole label).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<usize>,
    #[serde(flatten)]
    pub m: RegionMeasures,
}

/// Measures every label of `labels` (or `only`), and their components when asked.
pub fn measure_labels(
    labels: &[u8],
    image: &voxmark_volume::Volume,
    only: Option<u8>,
    components: Option<Connectivity>,
    surface: bool,
    name_of: &dyn Fn(u8) -> String,
) -> Vec<Measured> {
    let grid = &image.grid;
    let mut by_label: Vec<Vec<usize>> = vec![Vec::new(); 256];
    for (i, &l) in labels.iter().enumerate() {
        if l != 0 && only.is_none_or(|o| o == l) {
            by_label[l as usize].push(i);
        }
    }
    let mut out = Vec::new();
    let with_area = |idx: &[usize], mut m: RegionMeasures| {
        if surface {
            m.surface_area_mm2 = Some(region_mesh(idx, grid).area_mm2());
        }
        m
    };
    for (l, idx) in by_label.iter().enumerate() {
        if idx.is_empty() {
            continue;
        }
        let l = l as u8;
        let m = with_area(idx, measure_region(idx, grid, Some(image)));
        out.push(Measured {
            label: l,
            name: name_of(l),
            component: None,
            m,
        });
        if let Some(conn) = components {
            let mut comps = components_cpu(labels, grid.dims, l, conn);
            // Largest first; equal sizes in scan order of their first voxel.
            comps.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
            for (n, c) in comps.iter().enumerate() {
                let mut c = c.clone();
                c.sort_unstable();
                let m = with_area(&c, measure_region(&c, grid, Some(image)));
                out.push(Measured {
                    label: l,
                    name: name_of(l),
                    component: Some(n + 1),
                    m,
                });
            }
        }
    }
    out
}

pub fn run(a: MeasureArgs) -> anyhow::Result<()> {
    let loaded = super::load_input(&a.path, a.series.clone())?;
    let image = &loaded.volume;
    let map =
        voxmark_io::label_file::read_label_map_with(&a.labels, &image.grid, a.resample.get())?;
    super::print_warnings(&map.warnings);
    let conn = if a.components {
        Some(Connectivity::from_number(a.connectivity).context("--connectivity")?)
    } else {
        None
    };
    let table = map.table.clone().unwrap_or_default();
    let name_of = |l: u8| {
        voxmark_volume::label_table::label_name(&table, l)
            .map_or_else(|| format!("label {l}"), str::to_string)
    };
    if let Some(l) = a.label {
        if !map.labels.contains(&l) {
            anyhow::bail!("{}: label {l} has no voxels", a.labels.display());
        }
    }
    let t = std::time::Instant::now();
    let out = measure_labels(&map.labels, image, a.label, conn, !a.no_surface, &name_of);
    eprintln!(
        "measured {} region{} in {:.0} ms",
        out.len(),
        if out.len() == 1 { "" } else { "s" },
        t.elapsed().as_secs_f64() * 1e3
    );
    if a.json {
        let doc = serde_json::json!({
            "image": a.path,
            "labels_file": a.labels,
            "units": {"volume": "mL", "area": "mm2", "length": "mm", "coordinates": "RAS mm"},
            "regions": out,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "{:>5} {:<16} {:>4} {:>9} {:>11} {:>9} {:>9} {:>9} {:>6}  centroid (RAS mm)",
        "label", "name", "comp", "voxels", "mL", "area mm²", "long mm", "short mm", "slice"
    );
    for r in &out {
        let m = &r.m;
        println!(
            "{:>5} {:<16} {:>4} {:>9} {:>11.3} {:>9} {:>9.1} {:>9.1} {:>6}  ({:.1}, {:.1}, {:.1})  max ⌀ {:.1} mm",
            r.label,
            r.name.chars().take(16).collect::<String>(),
            r.component.map(|c| c.to_string()).unwrap_or_else(|| "all".into()),
            m.voxels,
            m.volume_ml,
            m.surface_area_mm2
                .map(|a| format!("{a:.0}"))
                .unwrap_or_else(|| "-".into()),
            m.recist.long_axis.length_mm,
            m.recist.short_axis.length_mm,
            format!("{}{}", ["i", "j", "k"][m.recist.axis], m.recist.slice),
            m.centroid_ras[0],
            m.centroid_ras[1],
            m.centroid_ras[2],
            m.max_diameter.length_mm,
        );
    }
    Ok(())
}
