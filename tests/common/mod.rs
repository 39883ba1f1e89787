//! The cross-crate tests' harness: `voxmark-testkit` (GPU context per test, real-data
//! locations, temp dirs) plus the binary, shells, projects and sessions.
//!
//! GPU rule: with `REQUIRE_GPU=1` (set by `.ci/run`) a missing adapter fails the test;
//! otherwise the test prints why and returns. Real-data rule: with `REQUIRE_DATA=1` a
//! missing data set (mricron-data, pydicom) fails; otherwise the test prints and returns.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
pub use voxmark_testkit::*;

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

/// The open document's labels (u8, i fastest) in a shell driven by the offscreen harness.
#[cfg(feature = "gui")]
pub fn shell_labels(h: &voxmark_app::headless::Headless) -> Vec<u8> {
    ok(h.labels())
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
