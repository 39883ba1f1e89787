//! Shared test harness: GPU context per test, real-data locations, temp dirs.
//!
//! GPU rule: with `REQUIRE_GPU=1` (set by `.ci/run`) a missing adapter fails the test;
//! otherwise the test prints why and returns. Real-data rule: with `REQUIRE_DATA=1` a
//! missing data set (mricron-data, pydicom) fails; otherwise the test prints and returns.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use voxmark_gpu::GpuContext;

fn required(var: &str) -> bool {
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

/// Path to the built `voxmark` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_voxmark"))
}

/// Runs the binary, returning (success, stdout, stderr).
pub fn run(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(bin())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run voxmark: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The value of a test step that must succeed (panics with the error otherwise).
pub fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// The open document's labels (u8, i fastest) in a shell driven by the offscreen harness.
#[cfg(feature = "gui")]
pub fn shell_labels(h: &voxmark_app::headless::Headless) -> Vec<u8> {
    let doc = h
        .shell
        .doc
        .as_ref()
        .unwrap_or_else(|| panic!("no document"));
    ok(doc.state.session.labels()).into_owned()
}

/// A fresh project location per test and engine: a folder, and (when a server is given) a
/// new database on it.
pub fn project_engines(tag: &str, dir: &Path) -> Vec<(&'static str, String)> {
    let mut out = vec![("sqlite", dir.join("proj").display().to_string())];
    match std::env::var("VOXMARK_TEST_PG") {
        Ok(url) => {
            let db = format!("vx_{tag}_{}", std::process::id());
            let mut cfg: postgres::Config = ok(url.parse());
            cfg.password(std::env::var("PGPASSWORD").unwrap_or_default());
            let mut admin = ok(cfg.connect(postgres::NoTls));
            ok(admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}")));
            ok(admin.batch_execute(&format!("CREATE DATABASE {db}")));
            let base = url
                .rsplit_once('/')
                .map(|(b, _)| b.to_string())
                .unwrap_or(url);
            out.push(("postgres", format!("{base}/{db}")));
        }
        Err(_) => {
            assert!(
                std::env::var("REQUIRE_PG").as_deref() != Ok("1"),
                "REQUIRE_PG=1 but VOXMARK_TEST_PG is not set (source scripts/pg_server.sh)"
            );
            eprintln!("skipping PostgreSQL: VOXMARK_TEST_PG not set");
        }
    }
    out
}

/// Saves a journaled session as the shell does: the mask (with the journal's marker and the
/// label table), then the journal's checkpoint into `history`.
pub fn save_session(
    s: &mut voxmark_edit::session::Session,
    image: &voxmark_volume::Volume,
    mask: &Path,
    history: &Path,
) {
    let marker = s
        .journal()
        .as_ref()
        .and_then(|j| j.last_marker().map(String::from));
    let labels = ok(s.labels()).into_owned();
    ok(voxmark_io::label_file::save_annotation_marked(
        mask,
        image,
        labels,
        s.table(),
        Some(s.markups()),
        marker.as_deref(),
    ));
    if let Some(j) = s.journal_mut() {
        ok(j.checkpoint(history, None));
    }
}

/// Registers io's NIfTI reader with the editing engine, as the CLI and the shell do at start:
/// ops that name a label-map file (a logical op's second map) read it through it.
pub fn register_map_reader() {
    voxmark_edit::lower::register_map_reader(voxmark_io::nifti::read_nifti);
}
