//! The crate map's arrows point down: the voxmark crates each workspace member depends on
//! (from `cargo tree`, i.e. what the compiler enforces) must be exactly the arrows of the
//! crate map in ARCHITECTURE.md, and the engine crates (volume, gpu, edit, render) must reach
//! no window system, async runtime, database driver or C image decoder. A new arrow fails
//! here until the map says so; a forbidden dependency fails naming the path that pulls it in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Crates no engine crate may reach (prefixes of package names).
const FORBIDDEN_IN_ENGINE: &[&str] = &[
    "eframe",
    "egui",
    "winit",
    "tokio",
    "axum",
    "hyper",
    "postgres",
    "rusqlite",
    "libsqlite3",
    "openjp2",
    "charls",
    "dicom-",
    "native-tls",
    "openssl",
];
const ENGINE: &[&str] = &[
    "voxmark-volume",
    "voxmark-gpu",
    "voxmark-edit",
    "voxmark-render",
];

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

/// A file's module path inside its crate (`kernels/slabs.rs` → `["kernels", "slabs"]`;
/// `lib.rs`, `main.rs` and `mod.rs` name their folder's module).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("lib" | "main" | "mod")
    ) {
        parts.pop();
    }
    parts
}

/// The paths a source text names through `crate::` or `super::` (with `use` trees expanded:
/// `super::{a::X, b}` → `super::a::X`, `super::b`), comments skipped, as segment lists.
/// Unit tests (from the first `#[cfg(test)]` on) may use any module of their crate: skipped.
fn local_paths(text: &str) -> Vec<Vec<String>> {
    let text = text.find("#[cfg(test)]").map_or(text, |i| &text[..i]);
    let code: String = text
        .lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n");
    let b = code.as_bytes();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    // Parses a use tree at `i` after `prefix`; returns the index after it.
    fn tree(b: &[u8], mut i: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
        let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let skip_ws = |mut i: usize| {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            i
        };
        let mut path = prefix;
        loop {
            i = skip_ws(i);
            if b.get(i) == Some(&b'{') {
                i += 1;
                loop {
                    i = skip_ws(i);
                    if b.get(i) == Some(&b'}') {
                        return i + 1;
                    }
                    if i >= b.len() {
                        return i;
                    }
                    i = tree(b, i, path.clone(), out);
                    i = skip_ws(i);
                    if b.get(i) == Some(&b',') {
                        i += 1;
                    }
                }
            }
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            if start == i {
                out.push(path);
                return i;
            }
            path.push(String::from_utf8_lossy(&b[start..i]).into_owned());
            if b.get(i) == Some(&b':') && b.get(i + 1) == Some(&b':') {
                i += 2;
            } else {
                out.push(path);
                return i;
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let at_word = i == 0 || !is_ident(b[i - 1]);
        let rest = &b[i..];
        if at_word && (rest.starts_with(b"crate::") || rest.starts_with(b"super::")) {
            i = tree(b, i, Vec::new(), &mut out).max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// The import loops among the files of one crate's `src` (each as `a -> b -> a`), and how
/// many files were read. Folder modules' `lib.rs` / `mod.rs` (declarations and re-exports)
/// are not nodes.
fn module_cycles(src: &Path, files_seen: &mut usize) -> Vec<String> {
    let mut loops = Vec::new();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<Vec<String>, std::path::PathBuf> = files
        .iter()
        .map(|f| (module_of(f.strip_prefix(src).unwrap_or(f)), f.clone()))
        .collect();
    let is_node = |m: &Vec<String>| {
        modules.get(m).is_some_and(|f| {
            !matches!(
                f.file_name().and_then(|n| n.to_str()),
                Some("lib.rs" | "main.rs" | "mod.rs")
            )
        })
    };
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (m, f) in &modules {
        if !is_node(m) {
            continue;
        }
        *files_seen += 1;
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for p in local_paths(&text) {
            // Resolve `crate::` / `super::` (a file's `super` is its parent module).
            let mut abs: Vec<String> = Vec::new();
            let mut segs = p.iter().peekable();
            if segs.peek().map(|s| s.as_str()) == Some("crate") {
                segs.next();
            } else {
                abs = m.clone();
                while segs.peek().map(|s| s.as_str()) == Some("super") {
                    segs.next();
                    abs.pop();
                }
            }
            abs.extend(segs.cloned());
            // The longest prefix that is a file of this crate.
            while !abs.is_empty() && !modules.contains_key(&abs) {
                abs.pop();
            }
            if is_node(&abs) && &abs != m && !abs.starts_with(m) {
                edges.entry(m.clone()).or_default().insert(abs);
            }
        }
    }
    // Depth-first search for a back edge; report each loop once.
    fn visit(
        n: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
        loops: &mut Vec<String>,
    ) {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut cyc: Vec<String> = stack[i..].iter().map(|m| m.join("::")).collect();
            cyc.push(n.join("::"));
            loops.push(cyc.join(" -> "));
            return;
        }
        if done.contains(n) {
            return;
        }
        stack.push(n.clone());
        for d in edges.get(n).into_iter().flatten() {
            visit(d, edges, stack, done, loops);
        }
        stack.pop();
        done.insert(n.clone());
    }
    let mut done = BTreeSet::new();
    for n in edges.keys() {
        let mut found = Vec::new();
        visit(n, &edges, &mut Vec::new(), &mut done, &mut found);
        for l in found {
            loops.push(l);
        }
    }
    loops
}

/// Within each crate, the files' imports form no cycle: `a.rs` naming `b.rs` and `b.rs`
/// naming `a.rs` (directly or round a longer loop) fails with the loop.
#[test]
fn no_module_imports_another_that_imports_it() {
    let mut crates = vec![root().join("src")];
    for e in std::fs::read_dir(root().join("crates")).unwrap_or_else(|e| panic!("crates/: {e}")) {
        let e = e.unwrap_or_else(|e| panic!("{e}"));
        crates.push(e.path().join("src"));
    }
    let mut loops = Vec::new();
    let mut files_seen = 0;
    for src in crates {
        for l in module_cycles(&src, &mut files_seen) {
            loops.push(format!("{}: {l}", src.display()));
        }
    }
    assert!(
        files_seen > 100,
        "only {files_seen} files read: are the crates there?"
    );
    assert!(loops.is_empty(), "module cycles:\n{}", loops.join("\n"));
}

#[test]
fn the_cycle_finder_finds_a_two_file_loop_and_a_longer_one() {
    let dir = std::env::temp_dir().join(format!("voxmark-layers-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("k")).unwrap_or_else(|e| panic!("{e}"));
    let files = [
        ("lib.rs", "pub mod a; pub mod b; pub mod k; pub use a::A;"),
        ("a.rs", "use super::b::B; pub struct A;"),
        ("b.rs", "// use super::a::A; (a comment)\npub struct B(crate::A); fn f() -> crate::a::A { crate::a::A }"),
        ("k/mod.rs", "pub mod x; pub mod y; pub mod z;"),
        ("k/x.rs", "use super::{y::Y, z};"),
        ("k/y.rs", "pub struct Y; fn g() { crate::k::z::h() }"),
        ("k/z.rs", "pub fn h() { let _ = super::x::X; }"),
    ];
    for (name, text) in files {
        std::fs::write(src.join(name), text).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut seen = 0;
    let loops = module_cycles(&src, &mut seen);
    std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seen, 5);
    assert!(loops.iter().any(|l| l == "a -> b -> a"), "{loops:?}");
    assert!(
        loops
            .iter()
            .any(|l| l.contains("k::x") && l.contains("k::z")),
        "{loops:?}"
    );
    assert_eq!(loops.len(), 2, "{loops:?}");
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let rd = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn the_path_reader_expands_use_trees() {
    let got = local_paths(
        "use super::{a::X, b::{c, d::Y}};\n// crate::ignored\nlet v = crate::e::f(); super::super::g::h",
    );
    let want: Vec<Vec<String>> = [
        vec!["super", "a", "X"],
        vec!["super", "b", "c"],
        vec!["super", "b", "d", "Y"],
        vec!["crate", "e", "f"],
        vec!["super", "super", "g", "h"],
    ]
    .iter()
    .map(|v| v.iter().map(|s| s.to_string()).collect())
    .collect();
    assert_eq!(got, want);
}
