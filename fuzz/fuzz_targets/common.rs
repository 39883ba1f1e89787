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

/// voxmark turns a panic inside a third-party decoder into the file's error
/// (`io::guarded_call`); libfuzzer-sys's panic hook would abort before that. This hook lets
/// a guarded panic unwind quietly and aborts on any other, which the fuzzer reports.
/// (The targets that decode no image do not call it.)
#[allow(dead_code)]
pub fn quiet_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !voxmark_io::panic_is_guarded() {
                default_hook(info);
                std::process::abort();
            }
        }));
    });
}
