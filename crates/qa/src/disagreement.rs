//! Where two annotations disagree: the connected regions of a disagreement mask (voxels where
//! A and B differ), 26-connected, largest first, each with its first voxel in scan order so
//! a reviewer can jump from one to the next.

/// One connected region of disagreement.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub voxels: u64,
    /// A voxel of the region (its first in scan order).
    pub at: [usize; 3],
}

/// Regions of `mask != 0`, 26-connected, largest first (at most `limit`).
pub fn disagreement_regions(mask: &[u8], dims: [usize; 3], limit: usize) -> Vec<Region> {
    let [nx, ny, nz] = dims;
    let mut seen = vec![false; mask.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if mask[start] == 0 || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut n = 0u64;
        while let Some(v) = stack.pop() {
            n += 1;
            let (x, y, z) = (v % nx, (v / nx) % ny, v / (nx * ny));
            for dz in -1i64..=1 {
                for dy in -1i64..=1 {
                    for dx in -1i64..=1 {
                        let (xx, yy, zz) = (x as i64 + dx, y as i64 + dy, z as i64 + dz);
                        if xx < 0
                            || yy < 0
                            || zz < 0
                            || xx >= nx as i64
                            || yy >= ny as i64
                            || zz >= nz as i64
                        {
                            continue;
                        }
                        let w = xx as usize + nx * (yy as usize + ny * zz as usize);
                        if mask[w] != 0 && !seen[w] {
                            seen[w] = true;
                            stack.push(w);
                        }
                    }
                }
            }
        }
        out.push(Region {
            voxels: n,
            at: [start % nx, (start / nx) % ny, start / (nx * ny)],
        });
    }
    out.sort_by(|a, b| b.voxels.cmp(&a.voxels).then(a.at.cmp(&b.at)));
    out.truncate(limit);
    out
}
