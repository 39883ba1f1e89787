//! Host memory: a volume that cannot fit is refused with one message naming the file, before
//! its voxels are allocated (the readers call [`check_fits`] once the header gives the size).
//! What counts is the kernel's `MemAvailable` (Linux; elsewhere nothing is checked);
//! `VOXMARK_MEM_AVAILABLE_MIB` replaces it (tests, or to keep headroom on a shared machine).

use std::path::Path;
use voxmark_volume::error::{Error, Result};

/// Bytes the host can still give this process, if known.
pub fn available() -> Option<u64> {
    if let Some(mib) = std::env::var("VOXMARK_MEM_AVAILABLE_MIB")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(mib << 20);
    }
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}

fn human(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    }
}

/// Refuses a volume of `voxels` voxels of `bytes_per_voxel` bytes: it needs those bytes plus
/// one byte per voxel for its label map, and the host must have them available now.
pub fn check_fits(path: &Path, voxels: u64, bytes_per_voxel: u64) -> Result<()> {
    let Some(avail) = available() else {
        return Ok(());
    };
    let need = voxels
        .saturating_mul(bytes_per_voxel)
        .saturating_add(voxels);
    if need > avail {
        return Err(Error::format(
            path,
            format!(
                "the volume needs {} in memory ({voxels} voxels × {bytes_per_voxel} bytes, \
                 plus 1 byte per voxel for its labels) but only {} is available",
                human(need),
                human(avail)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn meminfo_is_read_on_linux() {
        if cfg!(target_os = "linux") && std::env::var("VOXMARK_MEM_AVAILABLE_MIB").is_err() {
            assert!(super::available().is_some_and(|b| b > 0));
        }
    }
}
