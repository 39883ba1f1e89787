//! Surface meshes of labels: marching cubes over the label's binary mask, vertices in world
//! coordinates (RAS+ mm, or LPS+ for tools that expect DICOM's frame), written as binary STL.
//!
//! The case table is derived here rather than typed in: for each of the 256 corner
//! configurations, every cube face contributes segments between its sign-changing edges,
//! paired so that inside corners are separated on ambiguous faces (a rule that depends only
//! on the face, so neighbouring cubes agree and the surface is watertight); the segments
//! chain into closed loops, triangulated as fans. Vertices lie at edge midpoints (the iso
//! level 0.5 between a voxel of the label and one outside), so the surface follows the
//! voxel faces' centres exactly, without smoothing. The volume outside the grid counts as
//! outside, so labels touching the border are closed too. Facets face outward in world
//! space whatever the handedness of `world_from_voxel`.

use glam::DVec3;
use std::path::Path;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::Grid;

/// Corner c has offset (c & 1, (c >> 1) & 1, (c >> 2) & 1).
fn corner(c: usize) -> [usize; 3] {
    [c & 1, (c >> 1) & 1, (c >> 2) & 1]
}

/// The 12 edges as corner pairs.
fn edges() -> Vec<(usize, usize)> {
    let mut e = Vec::new();
    for a in 0..8usize {
        for bit in [1usize, 2, 4] {
            if a & bit == 0 {
                e.push((a, a | bit));
            }
        }
    }
    e
}

/// The 6 faces, corners in counter-clockwise order seen from outside the cube.
fn faces() -> [[usize; 4]; 6] {
    [
        [0, 4, 6, 2], // x = 0
        [1, 3, 7, 5], // x = 1
        [0, 1, 5, 4], // y = 0
        [2, 6, 7, 3], // y = 1
        [0, 2, 3, 1], // z = 0
        [4, 5, 7, 6], // z = 1
    ]
}

/// Triangles (as edge-index triples) for each corner configuration.
pub fn case_table() -> Vec<Vec<[usize; 3]>> {
    let es = edges();
    let edge_of = |a: usize, b: usize| -> usize {
        es.iter()
            .position(|&(x, y)| (x, y) == (a.min(b), a.max(b)))
            .unwrap_or(0)
    };
    (0..256usize)
        .map(|cfg| {
            let inside = |c: usize| cfg >> c & 1 == 1;
            // next[edge] = the edge the surface continues to.
            let mut next = [usize::MAX; 12];
            for f in faces() {
                let cross: Vec<(usize, bool)> = (0..4)
                    .filter_map(|i| {
                        let (a, b) = (f[i], f[(i + 1) % 4]);
                        (inside(a) != inside(b)).then(|| (i, inside(a)))
                    })
                    .collect();
                for &(i, in_to_out) in &cross {
                    if !in_to_out {
                        continue;
                    }
                    // Walk back to the nearest out->in crossing: it borders the same run of
                    // inside corners (on ambiguous faces, the same single inside corner).
                    let mut j = (i + 3) % 4;
                    while !cross.iter().any(|&(k, io)| k == j && !io) {
                        j = (j + 3) % 4;
                    }
                    let e_from = edge_of(f[i], f[(i + 1) % 4]);
                    let e_to = edge_of(f[j], f[(j + 1) % 4]);
                    next[e_from] = e_to;
                }
            }
            let mut tris = Vec::new();
            let mut used = [false; 12];
            for start in 0..12 {
                if next[start] == usize::MAX || used[start] {
                    continue;
                }
                let mut lp = vec![start];
                used[start] = true;
                let mut e = next[start];
                while e != start && e != usize::MAX && !used[e] {
                    used[e] = true;
                    lp.push(e);
                    e = next[e];
                }
                for k in 1..lp.len().saturating_sub(1) {
                    // Loops run clockwise seen from outside: reverse for outward facets.
                    tris.push([lp[0], lp[k + 1], lp[k]]);
                }
            }
            tris
        })
        .collect()
}

/// A triangle mesh in world coordinates.
#[derive(Debug, Clone, Default)]
pub struct Mesh {
    pub triangles: Vec<[DVec3; 3]>,
}

impl Mesh {
    /// Enclosed volume in mm³ (divergence theorem; positive when facets face outward).
    pub fn signed_volume_mm3(&self) -> f64 {
        self.triangles
            .iter()
            .map(|t| t[0].dot(t[1].cross(t[2])) / 6.0)
            .sum()
    }

    /// Surface area in mm².
    pub fn area_mm2(&self) -> f64 {
        self.triangles
            .iter()
            .map(|t| (t[1] - t[0]).cross(t[2] - t[0]).length() / 2.0)
            .sum()
    }
}

/// Marching cubes of `labels == label` on `grid`.
pub fn label_mesh(labels: &[u8], grid: &Grid, label: u8) -> Mesh {
    let d = grid.dims;
    let table = case_table();
    let es = edges();
    let at = |i: isize, j: isize, k: isize| -> bool {
        i >= 0
            && j >= 0
            && k >= 0
            && (i as usize) < d[0]
            && (j as usize) < d[1]
            && (k as usize) < d[2]
            && labels[i as usize + d[0] * (j as usize + d[1] * k as usize)] == label
    };
    // Reverse the winding when the voxel-to-world map mirrors space.
    let flip = grid.linear().determinant() < 0.0;
    let mut mesh = Mesh::default();
    // Only cubes near the label: its bounding box grown by one.
    let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
    for (idx, &l) in labels.iter().enumerate() {
        if l == label {
            let p = [idx % d[0], (idx / d[0]) % d[1], idx / (d[0] * d[1])];
            for a in 0..3 {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
    }
    if lo[0] == usize::MAX {
        return mesh;
    }
    for k in lo[2] as isize - 1..=hi[2] as isize {
        for j in lo[1] as isize - 1..=hi[1] as isize {
            for i in lo[0] as isize - 1..=hi[0] as isize {
                let mut cfg = 0usize;
                for c in 0..8 {
                    let o = corner(c);
                    if at(i + o[0] as isize, j + o[1] as isize, k + o[2] as isize) {
                        cfg |= 1 << c;
                    }
                }
                if cfg == 0 || cfg == 255 {
                    continue;
                }
                let vertex = |e: usize| -> DVec3 {
                    let (a, b) = es[e];
                    let (ca, cb) = (corner(a), corner(b));
                    let p = DVec3::new(
                        i as f64 + (ca[0] + cb[0]) as f64 / 2.0,
                        j as f64 + (ca[1] + cb[1]) as f64 / 2.0,
                        k as f64 + (ca[2] + cb[2]) as f64 / 2.0,
                    );
                    grid.world_from_index(p)
                };
                for t in &table[cfg] {
                    let (a, b, c) = (vertex(t[0]), vertex(t[1]), vertex(t[2]));
                    mesh.triangles
                        .push(if flip { [a, c, b] } else { [a, b, c] });
                }
            }
        }
    }
    mesh
}

/// Marching cubes of the region made of the voxels `indices` (linear, i fastest) on `grid`:
/// the same surface [`label_mesh`] gives for a label holding exactly those voxels, computed
/// on the region's bounding box grown by one (so a component costs its own size).
pub fn region_mesh(indices: &[usize], grid: &Grid) -> Mesh {
    let d = grid.dims;
    let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
    for &idx in indices {
        let p = [idx % d[0], (idx / d[0]) % d[1], idx / (d[0] * d[1])];
        for a in 0..3 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    if indices.is_empty() {
        return Mesh::default();
    }
    // One voxel of empty margin on every side.
    let sd = [hi[0] - lo[0] + 3, hi[1] - lo[1] + 3, hi[2] - lo[2] + 3];
    let mut mask = vec![0u8; sd[0] * sd[1] * sd[2]];
    for &idx in indices {
        let p = [idx % d[0], (idx / d[0]) % d[1], idx / (d[0] * d[1])];
        let q = [p[0] - lo[0] + 1, p[1] - lo[1] + 1, p[2] - lo[2] + 1];
        mask[q[0] + sd[0] * (q[1] + sd[1] * q[2])] = 1;
    }
    let origin = DVec3::new(lo[0] as f64 - 1.0, lo[1] as f64 - 1.0, lo[2] as f64 - 1.0);
    let sub = Grid::new(
        sd,
        grid.world_from_voxel * glam::DMat4::from_translation(origin),
    );
    label_mesh(&mask, &sub, 1)
}

/// Writes `mesh` as binary STL (atomically); `lps` negates x and y (DICOM's frame).
pub fn write_stl(path: &Path, mesh: &Mesh, lps: bool, header: &str) -> Result<()> {
    let n = u32::try_from(mesh.triangles.len())
        .map_err(|_| Error::Invalid("mesh has too many triangles for STL".into()))?;
    let tf = |v: DVec3| if lps { DVec3::new(-v.x, -v.y, v.z) } else { v };
    voxmark_volume::fs::atomic::write_atomically(path, |w| {
        let mut head = [b' '; 80];
        for (d, s) in head.iter_mut().zip(header.bytes()) {
            *d = s;
        }
        w.write_all(&head)?;
        w.write_all(&n.to_le_bytes())?;
        for t in &mesh.triangles {
            let [a, b, c] = t.map(tf);
            // Negating x and y is a rotation (det +1): the winding stays outward.
            let nrm = (b - a).cross(c - a).normalize_or_zero();
            for v in [nrm, a, b, c] {
                for x in [v.x, v.y, v.z] {
                    w.write_all(&(x as f32).to_le_bytes())?;
                }
            }
            w.write_all(&[0, 0])?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::DMat4;
    use std::collections::HashMap;

    fn ball(d: [usize; 3], r: f64) -> Vec<u8> {
        let c = [d[0] as f64 / 2.0, d[1] as f64 / 2.0, d[2] as f64 / 2.0];
        let mut v = Vec::new();
        for k in 0..d[2] {
            for j in 0..d[1] {
                for i in 0..d[0] {
                    let q = [i as f64 - c[0], j as f64 - c[1], k as f64 - c[2]];
                    v.push(u8::from(q.iter().map(|x| x * x).sum::<f64>() <= r * r));
                }
            }
        }
        v
    }

    /// Every directed edge appears once and its reverse once: closed and consistently wound.
    fn assert_watertight(m: &Mesh) {
        let key = |v: DVec3| [(v.x * 1e6) as i64, (v.y * 1e6) as i64, (v.z * 1e6) as i64];
        let mut edges: HashMap<([i64; 3], [i64; 3]), i32> = HashMap::new();
        for t in &m.triangles {
            for e in 0..3 {
                *edges.entry((key(t[e]), key(t[(e + 1) % 3]))).or_insert(0) += 1;
            }
        }
        for ((a, b), n) in &edges {
            assert_eq!(*n, 1, "directed edge used {n} times");
            assert_eq!(edges.get(&(*b, *a)), Some(&1), "edge without its twin");
        }
    }

    #[test]
    fn table_cases_are_closed_and_complementary() {
        let t = case_table();
        assert!(t[0].is_empty() && t[255].is_empty());
        assert_eq!(t[1].len(), 1);
        // A single inside corner and a single outside corner give one triangle each.
        assert_eq!(t[254].len(), 1);
        assert!(t.iter().all(|c| c.len() <= 5 * 2));
    }

    #[test]
    fn ball_mesh_is_watertight_outward_and_has_the_right_volume() {
        for (affine, name) in [
            (DMat4::from_scale(DVec3::new(0.8, 1.2, 2.0)), "scaled"),
            // Mirrored (LPS-like, det < 0) and translated.
            (
                DMat4::from_cols_array(&[
                    -0.8, 0.0, 0.0, 0.0, 0.0, -1.2, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 5.0, 7.0, -9.0,
                    1.0,
                ]),
                "mirrored",
            ),
        ] {
            let d = [30, 30, 20];
            let labels = ball(d, 8.0);
            let g = Grid::new(d, affine);
            let m = label_mesh(&labels, &g, 1);
            assert_watertight(&m);
            let voxel = g.linear().determinant().abs();
            let want = labels.iter().filter(|&&l| l == 1).count() as f64 * voxel;
            let got = m.signed_volume_mm3();
            assert!(got > 0.0, "{name}: facets face outward");
            assert!((got - want).abs() / want < 0.06, "{name}: {got} vs {want}");
        }
        // A label touching the border is closed too; an absent label gives no triangles.
        let d = [6, 6, 6];
        let full = vec![1u8; 216];
        let g = Grid::new(d, DMat4::IDENTITY);
        assert_watertight(&label_mesh(&full, &g, 1));
        assert!(label_mesh(&full, &g, 2).triangles.is_empty());
    }
}
