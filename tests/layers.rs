//! The module map's arrows point down: every `crate::<module>` a file under `src/<module>/`
//! names (in `use` lines, paths and grouped `crate::{a, b::c}` imports; comments skipped)
//! must be one the map in ARCHITECTURE.md allows. A new upward import fails here with the
//! file and the module it reached for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each module may import (besides itself). Top-level files count as modules of their
/// own name. Mirrors the module map in ARCHITECTURE.md.
fn allowed() -> BTreeMap<&'static str, Vec<&'static str>> {
    let base = vec!["error"];
    let mut m = BTreeMap::new();
    m.insert("error", vec![]);
    m.insert("volume", base.clone());
    m.insert("io", [base.clone(), vec!["volume"]].concat());
    m.insert("geometry", [base.clone(), vec!["volume"]].concat());
    m.insert("phantom", [base.clone(), vec!["volume", "io"]].concat());
    m.insert("gpu", [base.clone(), vec!["volume"]].concat());
    m.insert(
        "kernels",
        [base.clone(), vec!["volume", "geometry", "gpu"]].concat(),
    );
    m.insert(
        "edit",
        [
            base.clone(),
            vec!["volume", "io", "geometry", "gpu", "kernels"],
        ]
        .concat(),
    );
    m.insert(
        "qa",
        [base.clone(), vec!["volume", "io", "kernels", "edit"]].concat(),
    );
    m.insert(
        "project",
        [
            base.clone(),
            vec![
                "volume", "io", "geometry", "kernels", "edit", "qa", "render",
            ],
        ]
        .concat(),
    );
    m.insert(
        "render",
        [
            base.clone(),
            vec!["volume", "io", "geometry", "gpu", "kernels"],
        ]
        .concat(),
    );
    m.insert(
        "app",
        [
            base.clone(),
            vec![
                "volume", "io", "geometry", "gpu", "kernels", "edit", "qa", "render", "phantom",
                "project",
            ],
        ]
        .concat(),
    );
    m
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        panic!("cannot list {}", dir.display())
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Top-level module names a source text reaches through `crate::`.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let b = code.as_bytes();
    let mut out = BTreeSet::new();
    let ident = |i: usize| -> (String, usize) {
        let mut j = i;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            j += 1;
        }
        (code[i..j].to_string(), j)
    };
    let mut i = 0;
    while let Some(off) = code[i..].find("crate::") {
        let at = i + off;
        let before_ok = at == 0 || !(b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_');
        let mut k = at + "crate::".len();
        if before_ok {
            if b.get(k) == Some(&b'{') {
                // crate::{a::x, b, c::{d, e}}: the names at depth 1.
                let mut depth = 0;
                let mut expect = true;
                while k < b.len() {
                    match b[k] {
                        b'{' => {
                            depth += 1;
                            expect = depth == 1;
                        }
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        b',' if depth == 1 => expect = true,
                        c if expect && (c.is_ascii_alphabetic() || c == b'_') => {
                            let (name, j) = ident(k);
                            out.insert(name);
                            expect = false;
                            k = j;
                            continue;
                        }
                        _ => {}
                    }
                    k += 1;
                }
            } else {
                let (name, j) = ident(k);
                // Macros exported at the crate root (`crate::with_voxels!`) are not modules.
                if b.get(j) != Some(&b'!') && !name.is_empty() {
                    out.insert(name);
                }
            }
        }
        i = k.max(at + 1);
    }
    out
}

#[test]
fn module_arrows_point_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed = allowed();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut checked = 0;
    let mut bad = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap_or(f);
        let first = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let module = first.trim_end_matches(".rs").to_string();
        let Some(ok) = allowed.get(module.as_str()) else {
            continue; // lib.rs, main.rs, cli, bench: the top, may use everything
        };
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for r in crate_refs(&text) {
            let is_module =
                allowed.contains_key(r.as_str()) || ["cli", "bench"].contains(&r.as_str());
            if r != module && is_module && !ok.contains(&r.as_str()) {
                bad.push(format!("{} ({module}) imports crate::{r}", rel.display()));
            }
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} files checked: is src/ there?");
    assert!(
        bad.is_empty(),
        "upward or sideways imports:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_reference_scanner_sees_grouped_and_plain_imports() {
    let refs = crate_refs(
        "use crate::{edit::ops::EditOp, gpu, render::{slice, mesh}};\n\
         // crate::app in a comment\n\
         let x = crate::qa::metrics::dice(); crate::with_voxels!(v, |d| d);\n\
         notcrate::io::x",
    );
    let want: BTreeSet<String> = ["edit", "gpu", "render", "qa"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(refs, want);
}
