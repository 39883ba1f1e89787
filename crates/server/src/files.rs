//! A case's image as files under the server's data root: a NIfTI (or NRRD, MetaImage) file,
//! or the files of one DICOM series in a folder. Each is listed with its size and sha256
//! (computed once per file and kept while its size and modification time stay the same) and
//! served by its listed name only — a request never names a path, so nothing outside the
//! case's image can be reached. The case's grid (for the upload bound and the mask check) is
//! read once per image and kept.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;
use voxmark_volume::error::{Error, Result};
use voxmark_volume::grid::Grid;

/// One file of a case's image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImageFile {
    /// The name to ask for (relative to the image: `ct.nii.gz`, or `IM0001.dcm` in a series).
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What a client needs to rebuild a case's image locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImageListing {
    pub case: String,
    /// `file` (one file) or `dicom-series` (the files of one series; load the folder they
    /// make with `series_uid`).
    pub kind: String,
    pub series_uid: String,
    pub files: Vec<ImageFile>,
}

#[derive(Clone)]
struct Known {
    len: u64,
    modified: Option<SystemTime>,
    sha256: String,
}

/// Most files listed for one case.
pub const MAX_FILES: usize = 20_000;

/// A listing as made, and the modification time of what it was made from.
type Listed = (ImageListing, Vec<PathBuf>, Option<SystemTime>);

/// Per-process caches of file hashes, listings and case grids.
#[derive(Default)]
pub struct Files {
    hashes: Mutex<HashMap<PathBuf, Known>>,
    listings: Mutex<HashMap<PathBuf, Listed>>,
    grids: Mutex<HashMap<PathBuf, Grid>>,
}

fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

impl Files {
    /// The sha256 of `path`, from the cache when its size and time are unchanged.
    pub fn sha256(&self, path: &Path) -> Result<String> {
        let md = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let (len, modified) = (md.len(), md.modified().ok());
        if let Some(k) = self.hashes.lock().ok().and_then(|m| m.get(path).cloned()) {
            if k.len == len && k.modified == modified {
                return Ok(k.sha256);
            }
        }
        let sha256 = sha256_file(path)?;
        if let Ok(mut m) = self.hashes.lock() {
            m.insert(
                path.to_path_buf(),
                Known {
                    len,
                    modified,
                    sha256: sha256.clone(),
                },
            );
        }
        Ok(sha256)
    }

    /// The files of case `case`'s image at `image` (a file, or a DICOM folder holding the
    /// series `series_uid`). Kept while the image (file or folder) keeps its modification
    /// time, so that fetching a series' files one by one does not rescan the folder; each
    /// file's size and sha256 are re-checked (the hash from its cache while the file's size
    /// and time hold).
    pub fn listing(
        &self,
        case: &str,
        image: &Path,
        series_uid: &str,
    ) -> Result<(ImageListing, Vec<PathBuf>)> {
        let key = image.join(format!("#{series_uid}"));
        let modified = std::fs::metadata(image)
            .ok()
            .and_then(|m| m.modified().ok());
        let cached = self.listings.lock().ok().and_then(|c| c.get(&key).cloned());
        if let Some((mut l, p, m)) = cached {
            if m.is_some() && m == modified {
                for (f, path) in l.files.iter_mut().zip(&p) {
                    f.bytes = std::fs::metadata(path)
                        .map_err(|e| Error::io(path, e))?
                        .len();
                    f.sha256 = self.sha256(path)?;
                }
                return Ok((l, p));
            }
        }
        let made = self.scan(case, image, series_uid)?;
        if let Ok(mut c) = self.listings.lock() {
            c.insert(key, (made.0.clone(), made.1.clone(), modified));
        }
        Ok(made)
    }

    fn scan(
        &self,
        case: &str,
        image: &Path,
        series_uid: &str,
    ) -> Result<(ImageListing, Vec<PathBuf>)> {
        let md = std::fs::metadata(image).map_err(|e| Error::io(image, e))?;
        let (kind, paths): (&str, Vec<PathBuf>) = if md.is_file() {
            ("file", vec![image.to_path_buf()])
        } else {
            let (headers, _) = voxmark_io::dicom_scan::scan_folder(image)?;
            let mut paths: Vec<PathBuf> = headers
                .into_iter()
                .filter(|h| series_uid.is_empty() || h.series_uid == series_uid)
                .map(|h| h.path)
                .collect();
            paths.sort();
            paths.dedup();
            ("dicom-series", paths)
        };
        if paths.len() > MAX_FILES {
            return Err(Error::invalid(format!(
                "case {case}: its image has {} files, more than the server lists ({MAX_FILES})",
                paths.len()
            )));
        }
        let base = if md.is_file() {
            image.parent().unwrap_or(Path::new("")).to_path_buf()
        } else {
            image.to_path_buf()
        };
        let mut files = Vec::with_capacity(paths.len());
        for p in &paths {
            let name = p
                .strip_prefix(&base)
                .map_err(|_| {
                    Error::invalid(format!(
                        "case {case}: {} lies outside its image",
                        p.display()
                    ))
                })?
                .to_string_lossy()
                .replace('\\', "/");
            files.push(ImageFile {
                name,
                bytes: std::fs::metadata(p).map_err(|e| Error::io(p, e))?.len(),
                sha256: self.sha256(p)?,
            });
        }
        Ok((
            ImageListing {
                case: case.to_string(),
                kind: kind.to_string(),
                series_uid: series_uid.to_string(),
                files,
            },
            paths,
        ))
    }

    /// The grid of the image at `image` (series `series_uid`), read once.
    pub fn grid(&self, image: &Path, series_uid: &str) -> Result<Grid> {
        let key = image.join(series_uid);
        if let Some(g) = self.grids.lock().ok().and_then(|m| m.get(&key).copied()) {
            return Ok(g);
        }
        // A NIfTI image's grid is in its header (the voxels are not read); a DICOM series'
        // needs its files' geometry, read as a load does.
        let grid = if voxmark_io::sniff(image)? == voxmark_io::Kind::Nifti {
            voxmark_io::nifti::read_nifti_geometry(image)?.grid
        } else {
            let series = Some(series_uid.to_string()).filter(|s| !s.is_empty());
            voxmark_io::load_volume(image, &voxmark_io::LoadOptions { series })?
                .volume
                .grid
        };
        if let Ok(mut m) = self.grids.lock() {
            m.insert(key, grid);
        }
        Ok(grid)
    }
}

/// The most bytes a mask file on `grid` may have: a NIfTI-1/2 header and extensions, and up
/// to 8 bytes a voxel (float64 is the widest NIfTI type a label map could come in); gzip of
/// such data is smaller.
pub fn mask_upload_limit(grid: &Grid) -> u64 {
    let [nx, ny, nz] = grid.dims;
    (nx as u64) * (ny as u64) * (nz as u64) * 8 + 1024 * 1024
}
