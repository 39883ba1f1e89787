//! Finding the cases in what a user names: NIfTI files, folders (every NIfTI file under them;
//! a folder without NIfTI files is read as DICOM, one case per series), and CSV files listing
//! such paths (first column; relative paths are relative to the CSV's folder; a header row is
//! skipped). Images are recorded relative to the data root, so machines that mount the same
//! storage at different places share one project.

use std::path::{Component, Path, PathBuf};
use voxmark_volume::error::{Error, Result};

/// One image found, before it gets its case id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Absolute path (file, or the DICOM series' folder).
    pub path: PathBuf,
    /// SeriesInstanceUID for a DICOM series ("" for NIfTI).
    pub series_uid: String,
    /// The case id before it is made unique.
    pub stem: String,
}

fn is_nifti(p: &Path) -> bool {
    let n = p.to_string_lossy();
    n.ends_with(".nii") || n.ends_with(".nii.gz")
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).map_err(|e| Error::io(p, e))
}

/// A case id stem from a name: letters, digits, `-`, `_`, `.`; anything else becomes `_`.
pub fn id_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches('_').to_string();
    if s.is_empty() {
        "case".into()
    } else {
        s
    }
}

fn nifti_stem(p: &Path) -> String {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = name
        .strip_suffix(".nii.gz")
        .or_else(|| name.strip_suffix(".nii"))
        .unwrap_or(&name);
    // nnU-Net's channel suffix is not part of the case name.
    let base = match base.rsplit_once('_') {
        Some((b, ch)) if ch.len() == 4 && ch.chars().all(|c| c.is_ascii_digit()) => b,
        _ => base,
    };
    id_stem(base)
}

fn nifti_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let hidden = p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() {
            nifti_under(&p, out)?;
        } else if is_nifti(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Every DICOM series under `dir`, each a case at its own folder (the deepest folder holding
/// all its files), named after that folder — with the series description (or the UID's last
/// part) when several series share it.
fn dicom_series(dir: &Path, out: &mut Vec<Found>) -> Result<()> {
    let (headers, _) = voxmark_io::dicom_scan::scan_folder(dir)?;
    let groups = voxmark_io::dicom_scan::group_series(headers);
    if groups.is_empty() {
        return Err(Error::format(
            dir,
            "no NIfTI files and no DICOM images in this folder",
        ));
    }
    let mut found: Vec<(PathBuf, String, String)> = Vec::new();
    for (uid, slices) in groups {
        let files: Vec<PathBuf> = slices.iter().map(|h| h.path.clone()).collect();
        let folder = common_root(&files).unwrap_or_else(|| dir.to_path_buf());
        let desc = voxmark_io::dicom_scan::summarize(&uid, &slices).description;
        found.push((folder, uid, desc));
    }
    for (folder, uid, desc) in &found {
        let name = id_stem(
            &folder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let shared = found.iter().filter(|f| f.0 == *folder).count() > 1;
        let stem = if !shared {
            name
        } else if desc.trim().is_empty() {
            format!("{name}-{}", id_stem(uid.rsplit('.').next().unwrap_or(uid)))
        } else {
            format!("{name}-{}", id_stem(desc))
        };
        out.push(Found {
            path: folder.clone(),
            series_uid: uid.clone(),
            stem,
        });
    }
    Ok(())
}

fn csv_paths(csv: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(csv).map_err(|e| Error::io(csv, e))?;
    let base = csv.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let first = line
            .split(',')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        if first.is_empty() || first.starts_with('#') {
            continue;
        }
        let p = base.join(first);
        if n == 0 && !p.exists() {
            // A header ("image", "path", …).
            continue;
        }
        if !p.exists() {
            return Err(Error::format(
                csv,
                format!("line {}: {} does not exist", n + 1, p.display()),
            ));
        }
        out.push(p);
    }
    Ok(out)
}

/// Every image in `paths` (files, folders, CSV lists), in the order given.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<Found>> {
    let mut out = Vec::new();
    let mut queue: Vec<PathBuf> = Vec::new();
    for p in paths {
        if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) && p.is_file() {
            queue.extend(csv_paths(p)?);
        } else {
            queue.push(p.clone());
        }
    }
    for p in queue {
        let abs = absolute(&p)?;
        if abs.is_dir() {
            let mut files = Vec::new();
            nifti_under(&abs, &mut files)?;
            if files.is_empty() {
                dicom_series(&abs, &mut out)?;
            }
            for f in files {
                out.push(Found {
                    stem: nifti_stem(&f),
                    path: f,
                    series_uid: String::new(),
                });
            }
        } else if is_nifti(&abs) {
            out.push(Found {
                stem: nifti_stem(&abs),
                path: abs,
                series_uid: String::new(),
            });
        } else {
            return Err(Error::format(
                &abs,
                "not a case: expected a NIfTI file (.nii, .nii.gz), a folder, or a CSV list",
            ));
        }
    }
    Ok(out)
}

/// `path` relative to `root` with `/` separators; an error when it is not under it.
pub fn relative_to(path: &Path, root: &Path) -> Result<String> {
    let rel = path.strip_prefix(root).map_err(|_| {
        Error::invalid(format!(
            "{} is not under the data root {} (give --data-root or VOXMARK_DATA_ROOT)",
            path.display(),
            root.display()
        ))
    })?;
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    Ok(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

/// The deepest folder holding every path (the data root when none was given).
pub fn common_root(paths: &[PathBuf]) -> Option<PathBuf> {
    let mut root: Option<PathBuf> = None;
    for p in paths {
        let dir = if p.is_dir() {
            p.clone()
        } else {
            p.parent()?.to_path_buf()
        };
        root = Some(match root {
            None => dir,
            Some(r) => {
                let mut c = PathBuf::new();
                for (a, b) in r.components().zip(dir.components()) {
                    if a != b {
                        break;
                    }
                    c.push(a);
                }
                c
            }
        });
    }
    root
}

use crate::{set_meta, CaseRow, NewCase, Project};
use voxmark_volume::fs::clock::now_rfc3339;

impl Project {
    /// Adds the images in `paths` (files, folders, CSV lists) as cases under `root` (None:
    /// [`Project::data_root`], else the deepest folder holding them all, recorded). Images
    /// already in the project are skipped. Returns the new cases.
    pub fn add_cases(&mut self, paths: &[PathBuf], root: Option<&Path>) -> Result<Vec<CaseRow>> {
        let found = discover(paths)?;
        let root = match self.data_root(root) {
            Some(r) => std::fs::canonicalize(&r).map_err(|e| Error::io(&r, e))?,
            None => {
                // The deepest folder holding what the user named (a folder argument is its
                // own root) and every case found.
                let mut all: Vec<PathBuf> = paths
                    .iter()
                    .filter(|p| !p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")))
                    .filter_map(|p| std::fs::canonicalize(p).ok())
                    .collect();
                all.extend(found.iter().map(|f| f.path.clone()));
                common_root(&all).ok_or_else(|| Error::invalid("no cases found"))?
            }
        };
        let mut items = Vec::new();
        for f in &found {
            items.push(NewCase {
                image: relative_to(&f.path, &root)?,
                series_uid: f.series_uid.clone(),
                stem: f.stem.clone(),
            });
        }
        let added =
            self.add_case_records(&items, (self.recorded_root.is_none()).then_some(&root))?;
        if self.recorded_root.is_none() {
            self.recorded_root = Some(root);
        }
        Ok(added)
    }

    /// Adds cases already resolved against the data root (one transaction); records `root`
    /// as the project's data root when given. Images already in the project are skipped;
    /// ids are made unique with `-2`, `-3`, ….
    pub fn add_case_records(
        &mut self,
        items: &[NewCase],
        root: Option<&PathBuf>,
    ) -> Result<Vec<CaseRow>> {
        let root_s = root.map(|r| r.display().to_string());
        let now = now_rfc3339();
        self.db.write(|db| {
            if let Some(r) = &root_s {
                set_meta(db, "data_root", r)?;
            }
            let mut added = Vec::new();
            for NewCase { image, series_uid: uid, stem } in items {
                let exists = db.query(
                    "SELECT id FROM cases WHERE image = $1 AND series_uid = $2",
                    &[image.as_str().into(), uid.as_str().into()],
                )?;
                if !exists.is_empty() {
                    continue;
                }
                let mut key = stem.clone();
                let mut n = 1;
                while !db
                    .query("SELECT id FROM cases WHERE case_key = $1", &[key.as_str().into()])?
                    .is_empty()
                {
                    n += 1;
                    key = format!("{stem}-{n}");
                }
                db.exec(
                    "INSERT INTO cases (case_key, image, series_uid, added_at) VALUES ($1, $2, $3, $4)",
                    &[key.as_str().into(), image.as_str().into(), uid.as_str().into(), now.as_str().into()],
                )?;
                added.push(CaseRow {
                    case: key,
                    image: image.clone(),
                    series_uid: uid.clone(),
                    annotator: None,
                    status: "unassigned".into(),
                    round: 0,
                    version: 0,
                });
            }
            Ok(added)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_and_roots() {
        assert_eq!(
            nifti_stem(Path::new("/d/liver_001_0000.nii.gz")),
            "liver_001"
        );
        assert_eq!(nifti_stem(Path::new("/d/CT scan (2).nii")), "CT_scan__2");
        assert_eq!(
            common_root(&[PathBuf::from("/a/b/c/x.nii"), PathBuf::from("/a/b/d/y.nii")]),
            Some(PathBuf::from("/a/b"))
        );
        assert_eq!(
            relative_to(Path::new("/a/b/c/x.nii"), Path::new("/a/b")).ok(),
            Some("c/x.nii".to_string())
        );
        assert!(relative_to(Path::new("/z/x.nii"), Path::new("/a")).is_err());
    }
}
