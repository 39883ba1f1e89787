//! The crate map's arrows point down: the voxmark crates each workspace member depends on
//! (from `cargo tree`, i.e. what the compiler enforces) must be exactly the arrows of the
//! crate map in ARCHITECTURE.md, and the engine crates (volume, gpu, edit, render) must reach
//! no window system, async runtime, database driver or C image decoder. A new arrow fails
//! here until the map says so; a forbidden dependency fails naming the path that pulls it in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Crates no engine crate may reach (prefixes of package names).
const FORBIDDEN_IN_ENGINE: &[&str] = &[
    "eframe", "egui", "winit", "tokio", "axum", "hyper", "postgres", "rusqlite",
    "libsqlite3", "openjp2", "charls", "dicom-", "native-tls", "openssl",
];
const ENGINE: &[&str] = &["voxmark-volume", "voxmark-gpu", "voxmark-edit", "voxmark-render"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(args)
        .arg("--offline")
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cargo {args:?}: {e}"));
    assert!(
        out.status.success(),
        "cargo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The workspace's package names.
fn members() -> Vec<String> {
    let meta: serde_json::Value =
        serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--no-deps"]))
            .unwrap_or_else(|e| panic!("cargo metadata JSON: {e}"));
    meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .map(str::to_string)
        .collect()
}

/// `package`'s normal dependencies as `cargo build -p package` resolves them: each crate
/// with the chain of crates that pulls it in (`package -> a -> b`).
fn tree(package: &str) -> Vec<Vec<String>> {
    let text = cargo(&["tree", "-e", "normal", "--prefix", "depth", "-p", package]);
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        let Ok(depth) = line[..digits].parse::<usize>() else {
            continue;
        };
        let name = line[digits..].split_whitespace().next().unwrap_or_default();
        stack.truncate(depth);
        stack.push(name.to_string());
        if depth > 0 {
            out.push(stack.clone());
        }
    }
    out
}

/// The crate map in ARCHITECTURE.md: lines `voxmark-x -> voxmark-a, voxmark-b` (or `-> none`)
/// between `<!-- crate-map -->` and `<!-- /crate-map -->`.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md"))
        .unwrap_or_else(|e| panic!("ARCHITECTURE.md: {e}"));
    let start = text
        .find("<!-- crate-map -->")
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no <!-- crate-map --> block"));
    let end = text
        .find("<!-- /crate-map -->")
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no <!-- /crate-map --> end"));
    let mut map = BTreeMap::new();
    for line in text[start..end].lines() {
        let Some((from, to)) = line.split_once("->") else {
            continue;
        };
        let from = from.trim().to_string();
        if !from.starts_with("voxmark") {
            continue;
        }
        let to: BTreeSet<String> = to
            .split(|c: char| c == ',' || c.is_whitespace())
            .map(str::trim)
            .filter(|s| s.starts_with("voxmark"))
            .map(str::to_string)
            .collect();
        map.insert(from, to);
    }
    map
}

#[test]
fn crate_arrows_are_the_documented_map() {
    let mut actual = BTreeMap::new();
    for name in members() {
        let direct: BTreeSet<String> = tree(&name)
            .into_iter()
            .filter(|chain| chain.len() == 2 && chain[1].starts_with("voxmark"))
            .map(|chain| chain[1].clone())
            .collect();
        actual.insert(name, direct);
    }
    assert!(actual.len() >= 9, "only {} workspace members", actual.len());
    assert_eq!(
        actual,
        documented(),
        "the crate graph (left, cargo tree) differs from ARCHITECTURE.md's crate map (right)"
    );
}

#[test]
fn engine_crates_reach_no_ui_runtime_database_or_c_decoder() {
    let mut bad = BTreeSet::new();
    for engine in ENGINE {
        let chains = tree(engine);
        assert!(!chains.is_empty(), "{engine}: no dependencies listed");
        for chain in chains {
            let last = chain.last().map(String::as_str).unwrap_or_default();
            if FORBIDDEN_IN_ENGINE.iter().any(|f| last.starts_with(f)) {
                bad.insert(chain.join(" -> "));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "engine crates reach forbidden crates:\n{}",
        bad.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_checker_sees_a_forbidden_crate() {
    // The prefix rule catches the crates it must (and not look-alikes).
    let hit = |n: &str| FORBIDDEN_IN_ENGINE.iter().any(|f| n.starts_with(f));
    assert!(hit("egui-wgpu") && hit("dicom-pixeldata") && hit("charls-sys") && hit("tokio"));
    assert!(!hit("wgpu") && !hit("serde") && !hit("glam"));
}
