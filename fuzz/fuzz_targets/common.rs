//! Shared by the fuzz targets: the input as a file (voxmark's readers take paths, as users
//! give them), in memory-backed /dev/shm when there is one.

use std::path::PathBuf;

/// Writes `data` to this process's scratch file `name` and returns its path.
pub fn as_file(name: &str, data: &[u8]) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let p = dir.join(format!("voxmark-fuzz-{}-{name}", std::process::id()));
    std::fs::write(&p, data).unwrap_or_else(|e| panic!("scratch file: {e}"));
    p
}
