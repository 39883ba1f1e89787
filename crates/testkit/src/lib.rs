//! The test harness every voxmark crate's tests share: a GPU context per test, real-data
//! locations, temporary folders. A dev-dependency only; never shipped.
//!
//! GPU rule: with `REQUIRE_GPU=1` (set by `.ci/run`) a missing adapter fails the test;
//! otherwise the test prints why and returns. Real-data rule: with `REQUIRE_DATA=1` a
//! missing data set (mricron-data, pydicom) fails; otherwise the test prints and returns.

use std::path::{Path, PathBuf};
use voxmark_gpu::GpuContext;

pub fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// A fresh GPU context (validation on via the default instance flags in debug builds).
pub fn gpu() -> Option<GpuContext> {
    match GpuContext::new() {
        Ok(ctx) => Some(ctx),
        Err(e) => {
            assert!(
                !required("REQUIRE_GPU"),
                "REQUIRE_GPU=1 but no adapter: {e}"
            );
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}

/// One GPU context for the whole test binary, created once and never dropped: for tests that
/// run beside tests spawning processes. On an NVIDIA H200 (driver 580) a test binary whose
/// threads created and dropped contexts while others spawned `voxmark` processes died of a
/// segmentation fault (edit_ops with 8 threads; each test alone and all of them on one
/// thread passed).
pub fn gpu_shared() -> Option<&'static GpuContext> {
    static CTX: std::sync::OnceLock<Option<GpuContext>> = std::sync::OnceLock::new();
    CTX.get_or_init(gpu).as_ref()
}

/// `/usr/share/mricron/templates/NAME` if installed.
pub fn mricron(name: &str) -> Option<PathBuf> {
    let p = Path::new("/usr/share/mricron/templates").join(name);
    if p.exists() {
        return Some(p);
    }
    assert!(
        !required("REQUIRE_DATA"),
        "REQUIRE_DATA=1 but {} is missing (apt install mricron-data)",
        p.display()
    );
    eprintln!("skipping: {} not installed", p.display());
    None
}

/// pydicom's bundled test file NAME (from `PYDICOM_TEST_FILES` or the installed package).
pub fn pydicom_file(name: &str) -> Option<PathBuf> {
    let dir = std::env::var("PYDICOM_TEST_FILES").map(PathBuf::from).ok().or_else(|| {
        let out = std::process::Command::new("python3")
            .args(["-c", "import pydicom,os;print(os.path.join(os.path.dirname(pydicom.__file__),'data','test_files'))"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    });
    if let Some(p) = dir.map(|d| d.join(name)).filter(|p| p.exists()) {
        return Some(p);
    }
    assert!(
        !required("REQUIRE_DATA"),
        "REQUIRE_DATA=1 but pydicom test file {name} is missing (pip install pydicom)"
    );
    eprintln!("skipping: pydicom test file {name} not found");
    None
}

/// A fresh temporary directory, removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

/// The value of a test step that must succeed (panics with the error otherwise).
pub fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}
