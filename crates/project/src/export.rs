//! From a project to a training set: nnU-Net v2 raw layout, MONAI datalist, or a plain
//! folder per case, with a manifest that traces every label file to the mask versions it came
//! from.
//!
//! - **Which cases**: the done ones — every slot of the case (as many as the project's
//!   annotators per case) in one of `statuses` (default approved), the rule `project status`
//!   counts "done" by. A case with some slots not there yet is left out (listed, with why,
//!   in the summary) unless `include_partial`. A gold case exports its reference.
//! - **Which masks**: the latest version of each annotation whose status is one of
//!   `statuses`. A case with one such annotation exports it; with several, their consensus
//!   (majority vote or STAPLE, `qa`).
//! - **Images** are written as NIfTI on their own grid, exactly as `voxmark convert` writes
//!   them (DICOM in real units: HU for CT). **Labels** go on the same grid (checked against
//!   the image, or on a re-run against the exported image's header), values remapped: for
//!   nnU-Net and MONAI to consecutive values 1..N in the order of the schema's values (nnU-Net
//!   requires consecutive labels; background stays 0); the folder layout keeps the schema's
//!   own values.
//! - **Incremental**: `voxmark-manifest.json` records per case the annotators, versions and
//!   sha256 of the masks used, the method and the label map; a re-run rewrites only cases
//!   whose inputs changed, writes images only when missing, and deletes the files of cases
//!   that no longer qualify. Every file is written atomically; the manifest is rewritten
//!   after every few cases, so an interrupted export resumes where it stopped.

use super::cases::id_stem;
use super::{image_path, sha256_hex, CaseRow, Project};
use crate::review_db::Status;
use crate::schema::LabelSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use voxmark_io::nifti::{read_nifti_geometry, write_nifti};
use voxmark_qa::consensus::majority_vote;
use voxmark_qa::staple::{staple, StapleParams};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::fs::atomic::write_atomically;
use voxmark_volume::labels::{describe, labels_for, same_grid};
use voxmark_volume::{Metadata, Volume, VoxelData};

/// The training-set layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `DatasetNNN_Name/{imagesTr,labelsTr}` + `dataset.json` (nnU-Net v2 raw).
    Nnunet,
    /// `images/`, `labels/` + `datalist.json` (MONAI `load_decathlon_datalist`).
    Monai,
    /// `CASE/image.nii.gz`, `CASE/label.nii.gz` + `labels.json` (schema values kept), and the
    /// same table as ITK-SNAP's `labels.txt` and Slicer's `labels.ctbl`.
    Folder,
    /// `CASE/image.nrrd`, `CASE/label.seg.nrrd` (3D Slicer), schema values kept, + the tables.
    #[serde(rename = "seg-nrrd")]
    SegNrrd,
    /// `CASE/seg.dcm`: a DICOM SEG per case referencing its source series (the images stay
    /// where PACS has them), schema values kept, + the tables.
    #[serde(rename = "dicom-seg")]
    DicomSeg,
}

impl Layout {
    /// One folder per case, schema values kept (not renumbered for training).
    pub fn per_case_folder(self) -> bool {
        matches!(self, Layout::Folder | Layout::SegNrrd | Layout::DicomSeg)
    }

    pub fn name(self) -> &'static str {
        match self {
            Layout::Nnunet => "nnunet",
            Layout::Monai => "monai",
            Layout::Folder => "folder",
            Layout::SegNrrd => "seg-nrrd",
            Layout::DicomSeg => "dicom-seg",
        }
    }
}

/// How several annotators' masks of one case become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    Majority,
    Staple,
}

impl Fusion {
    pub fn name(self) -> &'static str {
        match self {
            Fusion::Majority => "majority",
            Fusion::Staple => "staple",
        }
    }
}

/// What to export and where.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub layout: Layout,
    /// Output folder (for nnU-Net, the `DatasetNNN_Name` folder is made inside it).
    pub out: PathBuf,
    /// Annotation statuses that count (default: approved).
    pub statuses: Vec<Status>,
    /// Also export cases not every slot of which is in `statuses` yet (from the slots that
    /// are).
    pub include_partial: bool,
    pub fusion: Fusion,
    /// nnU-Net dataset id (1..=999) and name.
    pub dataset_id: u32,
    pub dataset_name: Option<String>,
    /// MONAI: number of cross-validation folds (`fold` key per item).
    pub folds: Option<usize>,
    /// nnU-Net channel name / MONAI modality (default: from the DICOM Modality; "CT" makes
    /// nnU-Net use its CT normalisation).
    pub channel_name: Option<String>,
    /// Where the project's images are on this machine.
    pub data_root: PathBuf,
    /// Also write each exported mask version's markups (`markups/<case>/<annotator>.mrk.json`
    /// and the ML JSON `…/<annotator>.json` on the case's grid).
    pub markups: bool,
    /// Cases written at once (0: one per core; never more than the cores). Memory grows with
    /// it: each worker holds one case's image, its masks and the fused label.
    pub jobs: usize,
}

/// The export's worker count: `jobs` (0: the cores), at most the cores.
pub fn export_workers(jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if jobs == 0 {
        cores
    } else {
        jobs.min(cores)
    }
}

/// One case to write: what the sequential pass (database reads, manifest decisions) found,
/// handed to a worker.
struct CaseJob<'a> {
    case: &'a str,
    row: &'a CaseRow,
    method: String,
    masks: Vec<UsedMask>,
    bytes: Vec<Vec<u8>>,
    image_rel: String,
    label_rel: String,
    fold: Option<usize>,
    /// The modality an earlier run recorded (an image kept from before does not say).
    prev_modality: Option<String>,
}

/// The parallel half of an export: the worker pool, what the workers read, and the counts.
struct Workers<'a> {
    pool: rayon::ThreadPool,
    schema: LabelSchema,
    opts: &'a ExportOptions,
    remap: &'a [u8; 256],
    root: &'a Path,
    manifest_path: &'a Path,
    since_manifest: usize,
    done: usize,
    total: usize,
}

impl Workers<'_> {
    /// Writes the pending cases on the workers, then records the results in case order, so
    /// the manifest and the summary are a serial run's; the manifest is saved every 16 cases
    /// written (an interrupted export keeps what it finished).
    fn flush(
        &mut self,
        pending: &mut Vec<CaseJob>,
        manifest: &mut Manifest,
        summary: &mut ExportSummary,
        progress: &mut dyn FnMut(usize, usize, &str),
    ) -> Result<()> {
        let jobs = std::mem::take(pending);
        let (schema, opts, remap, root) = (&self.schema, self.opts, self.remap, self.root);
        let results: Vec<Result<CaseWritten>> = self.pool.install(|| {
            use rayon::prelude::*;
            jobs.par_iter()
                .map(|j| {
                    write_case(
                        schema,
                        opts,
                        j.row,
                        &j.masks,
                        &j.bytes,
                        remap,
                        &root.join(&j.image_rel),
                        &root.join(&j.label_rel),
                    )
                })
                .collect()
        });
        for (j, r) in jobs.into_iter().zip(results) {
            match r {
                Ok((label_sha, modality, sensitivity, wrote_image)) => {
                    summary.images_written += usize::from(wrote_image);
                    summary.written.push(j.case.to_string());
                    manifest.cases.insert(
                        j.case.to_string(),
                        ManifestCase {
                            image: j.image_rel,
                            label: j.label_rel,
                            source_image: j.row.image.clone(),
                            series_uid: j.row.series_uid.clone(),
                            method: j.method,
                            masks: j.masks,
                            label_sha256: label_sha,
                            fold: j.fold,
                            sensitivity,
                            modality: if modality.is_empty() {
                                j.prev_modality.unwrap_or_default()
                            } else {
                                modality
                            },
                        },
                    );
                    self.since_manifest += 1;
                }
                Err(e) => summary.failed.push((j.case.to_string(), e.to_string())),
            }
            if self.since_manifest >= 16 {
                write_json(self.manifest_path, manifest)?;
                self.since_manifest = 0;
            }
            self.done += 1;
            progress(self.done, self.total, j.case);
        }
        Ok(())
    }
}

/// What a worker wrote for one case: the label's sha256, the image's modality, STAPLE
/// sensitivities and whether the image was written.
type CaseWritten = (String, String, BTreeMap<String, f64>, bool);

/// One annotation used for a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsedMask {
    pub annotator: String,
    pub version: i64,
    pub round: i64,
    pub status: String,
    pub sha256: String,
}

/// The manifest's record of one exported case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestCase {
    /// Files, relative to the export root.
    pub image: String,
    pub label: String,
    /// The project's image (relative to the data root) and series.
    pub source_image: String,
    #[serde(default)]
    pub series_uid: String,
    pub masks: Vec<UsedMask>,
    /// `single`, `majority` or `staple`.
    pub method: String,
    /// sha256 of the written label file.
    pub label_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<usize>,
    /// STAPLE's estimated mean foreground sensitivity per annotator.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sensitivity: BTreeMap<String, f64>,
    #[serde(default)]
    pub modality: String,
}

/// `voxmark-manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub layout: Layout,
    pub project: String,
    pub statuses: Vec<String>,
    pub fusion: Fusion,
    /// Schema value → exported value.
    pub label_map: BTreeMap<String, u8>,
    /// Exported value → label name (background 0 included).
    pub labels: BTreeMap<String, String>,
    pub exported_at: String,
    pub cases: BTreeMap<String, ManifestCase>,
}

/// What an export did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExportSummary {
    /// The dataset's root folder (for nnU-Net, `OUT/DatasetNNN_Name`).
    pub root: PathBuf,
    pub manifest: PathBuf,
    /// Cases in the training set now.
    pub cases: usize,
    /// Cases whose label (and image if missing) were written this run.
    pub written: Vec<String>,
    /// Images written this run.
    pub images_written: usize,
    /// Cases left as they were (same masks, files present).
    pub unchanged: usize,
    /// Cases removed because they no longer qualify.
    pub removed: Vec<String>,
    /// Cases that could not be exported, and why.
    pub failed: Vec<(String, String)>,
    /// Cases left out because not every slot is in the exported statuses yet (without
    /// `include_partial`), and which slots are missing.
    pub left_out: Vec<(String, String)>,
    /// Markups files written (`--markups`: one per mask version that has markups).
    pub markups_written: usize,
    /// Markups in them.
    pub markups: usize,
}

pub const MANIFEST: &str = "voxmark-manifest.json";

/// nnU-Net's channel name for a DICOM modality.
fn channel_for(modality: &str) -> Option<String> {
    match modality {
        "" | "unknown" => None,
        "CT" => Some("CT".into()),
        "MR" => Some("MRI".into()),
        m => Some(m.to_string()),
    }
}

fn write_json(path: &Path, v: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| Error::Corrupt(format!("{}: {e}", path.display())))?;
    write_atomically(path, |w| w.write_all(text.as_bytes()))
}

fn sha256_file(path: &Path) -> Result<String> {
    Ok(sha256_hex(
        &std::fs::read(path).map_err(|e| Error::io(path, e))?,
    ))
}

/// The folder name nnU-Net wants: `DatasetNNN_Name`, Name of letters, digits and `_`.
pub fn nnunet_folder(id: u32, name: &str) -> Result<String> {
    if !(1..=999).contains(&id) {
        return Err(Error::invalid(format!(
            "--dataset-id {id}: nnU-Net dataset ids are 1..999"
        )));
    }
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let clean = clean.trim_matches('_');
    if clean.is_empty() {
        return Err(Error::invalid(format!(
            "{name:?} gives an empty nnU-Net dataset name; pass --name"
        )));
    }
    Ok(format!("Dataset{id:03}_{clean}"))
}

/// Deterministic folds: cases ordered by the sha256 of their id, dealt round-robin.
pub fn folds_for(cases: &[String], k: usize) -> BTreeMap<String, usize> {
    let mut keyed: Vec<(String, &String)> = cases
        .iter()
        .map(|c| (sha256_hex(c.as_bytes()), c))
        .collect();
    keyed.sort();
    keyed
        .into_iter()
        .enumerate()
        .map(|(i, (_, c))| (c.clone(), i % k.max(1)))
        .collect()
}

impl Project {
    /// Exports the project's training set (see the module docs). `progress(done, total,
    /// case)` is called after each case.
    pub fn export(
        &mut self,
        opts: &ExportOptions,
        progress: &mut dyn FnMut(usize, usize, &str),
    ) -> Result<ExportSummary> {
        if opts.statuses.is_empty() {
            return Err(Error::invalid("no annotation status selected for export"));
        }
        if opts.folds == Some(0) {
            return Err(Error::invalid("--folds must be at least 1"));
        }
        let (root, img_dir, lab_dir) = self.export_root(opts)?;
        let manifest_path = root.join(MANIFEST);
        let old = read_manifest(&manifest_path, &root, opts.layout)?;
        let (remap, label_map, names) = self.label_remap(opts.layout.per_case_folder())?;
        let (per_case, gold, left_out) = self.qualifying(opts)?;
        let ids: Vec<String> = per_case.keys().cloned().collect();
        let file_ids = file_ids(&ids)?;
        let folds = opts.folds.map(|k| folds_for(&ids, k));
        let method_of = |case: &str, n: usize| {
            if gold.contains_key(case) {
                "gold"
            } else if n == 1 {
                "single"
            } else {
                opts.fusion.name()
            }
        };

        let mut manifest = Manifest {
            format: "voxmark-export 1".into(),
            layout: opts.layout,
            project: self.name.clone(),
            statuses: opts
                .statuses
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            fusion: opts.fusion,
            label_map,
            labels: names,
            exported_at: voxmark_volume::fs::clock::now_rfc3339(),
            cases: BTreeMap::new(),
        };
        let mut summary = ExportSummary {
            root: root.clone(),
            manifest: manifest_path.clone(),
            left_out,
            ..Default::default()
        };
        let same_settings = old
            .as_ref()
            .is_some_and(|o| o.label_map == manifest.label_map && o.fusion == manifest.fusion);
        if let Some(o) = &old {
            remove_dropped(&root, o, &per_case, opts.layout, &mut summary)?;
        }

        let workers = export_workers(opts.jobs);
        let mut w = Workers {
            pool: rayon::ThreadPoolBuilder::new()
                .num_threads(workers)
                .thread_name(|i| format!("voxmark-export-{i}"))
                .build()
                .map_err(|e| Error::Invalid(format!("export workers: {e}")))?,
            schema: self.schema.clone(),
            opts,
            remap: &remap,
            root: &root,
            manifest_path: &manifest_path,
            since_manifest: 0,
            done: 0,
            total: per_case.len(),
        };
        let mut pending: Vec<CaseJob> = Vec::with_capacity(workers);
        for (case, rows) in per_case.iter() {
            let (image_rel, label_rel) = case_paths(opts.layout, &file_ids[case], img_dir, lab_dir);
            // What the case would be made of (records only: the mask bytes are read when the
            // case is written, not to find out that it is unchanged).
            let (masks, mut failed) = self.used_masks(case, rows, gold.get(case));
            let prev = old.as_ref().and_then(|o| o.cases.get(case));
            let fold = folds.as_ref().map(|f| f[case]);
            let unchanged = prev.filter(|p| {
                same_settings
                    && p.masks == masks
                    && p.image == image_rel
                    && p.label == label_rel
                    && root.join(&image_rel).is_file()
                    && root.join(&label_rel).is_file()
            });
            if failed.is_none() {
                if let Some(p) = unchanged {
                    let mut p = p.clone();
                    p.fold = fold;
                    manifest.cases.insert(case.clone(), p);
                    summary.unchanged += 1;
                    w.done += 1;
                    progress(w.done, w.total, case);
                    continue;
                }
            }
            let mut bytes = Vec::new();
            if failed.is_none() {
                match self.mask_bytes(case, &masks, gold.contains_key(case)) {
                    Ok(b) => bytes = b,
                    Err(e) => failed = Some(e.to_string()),
                }
            }
            if let Some(why) = failed {
                summary.failed.push((case.clone(), why));
                w.done += 1;
                progress(w.done, w.total, case);
                continue;
            }
            pending.push(CaseJob {
                case,
                row: &rows[0],
                method: method_of(case, masks.len()).to_string(),
                masks,
                bytes,
                image_rel,
                label_rel,
                fold,
                prev_modality: prev.map(|p| p.modality.clone()),
            });
            // A batch per worker: the mask bytes of at most `workers` cases are held.
            if pending.len() >= workers {
                w.flush(&mut pending, &mut manifest, &mut summary, progress)?;
            }
        }
        w.flush(&mut pending, &mut manifest, &mut summary, progress)?;
        summary.cases = manifest.cases.len();
        if opts.markups {
            self.export_markups(&root, &manifest, &file_ids, &mut summary)?;
        }
        let channel = channel_name(opts, &manifest, &manifest_path)?;
        self.write_index(opts, &root, &manifest, &channel)?;
        write_json(&manifest_path, &manifest)?;
        Ok(summary)
    }

    /// The export's root (nnU-Net: `DatasetNNN_Name` under the output folder) and its image
    /// and label folders (created).
    fn export_root(&self, opts: &ExportOptions) -> Result<(PathBuf, &'static str, &'static str)> {
        let root = match opts.layout {
            Layout::Nnunet => opts.out.join(nnunet_folder(
                opts.dataset_id,
                opts.dataset_name.as_deref().unwrap_or(&self.name),
            )?),
            _ => opts.out.clone(),
        };
        let (img_dir, lab_dir) = match opts.layout {
            Layout::Nnunet => ("imagesTr", "labelsTr"),
            Layout::Monai => ("images", "labels"),
            _ => ("", ""),
        };
        for d in [img_dir, lab_dir] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        }
        Ok((root, img_dir, lab_dir))
    }

    /// The label values as exported (consecutive for training layouts, kept for per-case
    /// layouts): the remap table, the manifest's label map and the names by exported value
    /// (nnU-Net keys labels by name: "background" is 0's, so no schema label may use it).
    #[allow(clippy::type_complexity)]
    fn label_remap(
        &self,
        keep_values: bool,
    ) -> Result<([u8; 256], BTreeMap<String, u8>, BTreeMap<String, String>)> {
        if let Some(l) = self
            .schema
            .labels
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case("background"))
        {
            return Err(Error::invalid(format!(
                "schema label {} is named {:?}, the name training layouts give to 0; rename it",
                l.value, l.name
            )));
        }
        let mut schema = self.schema.labels.clone();
        schema.sort_by_key(|l| l.value);
        let mut remap = [0u8; 256];
        let mut label_map = BTreeMap::new();
        let mut names = BTreeMap::from([("0".to_string(), "background".to_string())]);
        for (i, l) in schema.iter().enumerate() {
            let to = if keep_values { l.value } else { (i + 1) as u8 };
            remap[usize::from(l.value)] = to;
            label_map.insert(l.value.to_string(), to);
            names.insert(to.to_string(), l.name.clone());
        }
        Ok((remap, label_map, names))
    }

    /// Qualifying annotations (a selected status, at least one version) per case, of the
    /// done cases (every slot qualifies; all cases with one when `include_partial`), and the
    /// partial cases left out with why; gold cases export their reference, whatever the
    /// annotators did.
    #[allow(clippy::type_complexity)]
    fn qualifying(
        &mut self,
        opts: &ExportOptions,
    ) -> Result<(
        BTreeMap<String, Vec<CaseRow>>,
        BTreeMap<String, super::gold::GoldRef>,
        Vec<(String, String)>,
    )> {
        let wanted: Vec<&str> = opts.statuses.iter().map(|s| s.as_str()).collect();
        let per_case_wanted = self.settings.annotators_per_case;
        let mut per_case: BTreeMap<String, Vec<CaseRow>> = BTreeMap::new();
        let mut any_row: BTreeMap<String, CaseRow> = BTreeMap::new();
        let mut slots: BTreeMap<String, Vec<CaseRow>> = BTreeMap::new();
        for r in self.cases(None, None)? {
            any_row.entry(r.case.clone()).or_insert_with(|| r.clone());
            if r.annotator.is_some() {
                slots.entry(r.case.clone()).or_default().push(r.clone());
            }
            if r.annotator.is_some() && r.version >= 1 && wanted.contains(&r.status.as_str()) {
                per_case.entry(r.case.clone()).or_default().push(r);
            }
        }
        let mut left_out = Vec::new();
        if !opts.include_partial {
            per_case.retain(|case, rows| {
                let all = slots.get(case).map(Vec::as_slice).unwrap_or_default();
                let done = all.len() as i64 >= per_case_wanted && rows.len() == all.len();
                if !done {
                    let mut missing: Vec<String> = all
                        .iter()
                        .filter(|s| !rows.iter().any(|r| r.annotator == s.annotator))
                        .map(|s| {
                            format!("{} is {}", s.annotator.as_deref().unwrap_or("?"), s.status)
                        })
                        .collect();
                    let unclaimed = per_case_wanted - all.len() as i64;
                    if unclaimed > 0 {
                        missing.push(format!("{unclaimed} slot(s) unclaimed"));
                    }
                    left_out.push((
                        case.clone(),
                        format!(
                            "{} of {} slot(s) {}: {}",
                            rows.len(),
                            per_case_wanted.max(all.len() as i64),
                            wanted.join("/"),
                            missing.join(", ")
                        ),
                    ));
                }
                done
            });
        }
        let gold: BTreeMap<String, super::gold::GoldRef> = self
            .gold_refs()?
            .into_iter()
            .map(|g| (g.case.clone(), g))
            .collect();
        for c in gold.keys() {
            if let Some(r) = any_row.get(c) {
                per_case.insert(c.clone(), vec![r.clone()]);
            }
        }
        left_out.retain(|(c, _)| !gold.contains_key(c));
        Ok((per_case, gold, left_out))
    }

    /// The masks a case is made of, as records (the gold reference, or each qualifying
    /// annotation's version), and why they cannot be used, if so.
    fn used_masks(
        &mut self,
        case: &str,
        rows: &[CaseRow],
        gold: Option<&super::gold::GoldRef>,
    ) -> (Vec<UsedMask>, Option<String>) {
        let mut masks: Vec<UsedMask> = Vec::new();
        let mut failed = None;
        if let Some(g) = gold {
            masks.push(UsedMask {
                annotator: format!("gold reference ({}, by {})", g.source, g.by),
                version: 0,
                round: 0,
                status: "gold".into(),
                sha256: g.sha256.clone(),
            });
        } else {
            for r in rows {
                let who = r.annotator.clone().unwrap_or_default();
                let info = self.versions(case, &who).and_then(|vs| {
                    vs.into_iter()
                        .find(|v| v.version == r.version)
                        .ok_or_else(|| {
                            Error::NotFound(format!(
                                "case {case} by {who} has no version {}",
                                r.version
                            ))
                        })
                });
                match info {
                    Ok(info) => masks.push(UsedMask {
                        annotator: who,
                        version: info.version,
                        round: info.round,
                        status: r.status.clone(),
                        sha256: info.sha256,
                    }),
                    Err(e) => failed = Some(e.to_string()),
                }
            }
        }
        (masks, failed)
    }

    /// The bytes of the masks, checked against their sha256 as they are read.
    fn mask_bytes(&mut self, case: &str, masks: &[UsedMask], gold: bool) -> Result<Vec<Vec<u8>>> {
        if gold {
            return Ok(vec![self.gold_mask(case)?]);
        }
        // Every version is read; the last failure is the one reported.
        let mut bytes = Vec::with_capacity(masks.len());
        let mut failed = None;
        for m in masks {
            match self.get_version(case, &m.annotator, Some(m.version)) {
                Ok((_, b)) => bytes.push(b),
                Err(e) => failed = Some(e),
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(bytes),
        }
    }

    /// The layout's index file: nnU-Net's `dataset.json`, MONAI's `datalist.json`, or for
    /// per-case layouts `labels.json` with ITK-SNAP and Slicer colour tables.
    fn write_index(
        &self,
        opts: &ExportOptions,
        root: &Path,
        manifest: &Manifest,
        channel: &str,
    ) -> Result<()> {
        let labels_by_name: serde_json::Map<String, serde_json::Value> = {
            let mut v: Vec<(u8, String)> = manifest
                .labels
                .iter()
                .map(|(k, n)| (k.parse().unwrap_or(0), n.clone()))
                .collect();
            v.sort();
            v.into_iter()
                .map(|(k, n)| (n, serde_json::Value::from(k)))
                .collect()
        };
        match opts.layout {
            Layout::Nnunet => write_json(
                &root.join("dataset.json"),
                &serde_json::json!({
                    "channel_names": {"0": channel},
                    "labels": labels_by_name,
                    "numTraining": manifest.cases.len(),
                    "file_ending": ".nii.gz",
                    "name": root.file_name().map(|n| n.to_string_lossy().into_owned()),
                    "description": format!("exported by voxmark from project {:?} ({} annotations, {} where several)", self.name, manifest.statuses.join("/"), opts.fusion.name()),
                    "reference": "voxmark-manifest.json lists the mask versions behind every label",
                }),
            )?,
            Layout::Monai => {
                let training: Vec<serde_json::Value> = manifest
                    .cases
                    .values()
                    .map(|c| {
                        let mut item = serde_json::json!({"image": c.image, "label": c.label});
                        if let Some(f) = c.fold {
                            item["fold"] = f.into();
                        }
                        item
                    })
                    .collect();
                write_json(
                    &root.join("datalist.json"),
                    &serde_json::json!({
                        "name": self.name,
                        "description": format!("exported by voxmark; {MANIFEST} lists the mask versions behind every label"),
                        "modality": {"0": channel},
                        "labels": manifest.labels,
                        "numTraining": training.len(),
                        "numFolds": opts.folds,
                        "training": training,
                    }),
                )?
            }
            Layout::Folder | Layout::SegNrrd | Layout::DicomSeg => {
                write_json(
                    &root.join("labels.json"),
                    &serde_json::json!({"labels": manifest.labels, "schema": self.schema}),
                )?;
                // The same names and colours for ITK-SNAP and 3D Slicer.
                let table = schema_table(&self.schema);
                voxmark_io::color_table::write_color_table(&root.join("labels.txt"), &table)?;
                voxmark_io::color_table::write_color_table(&root.join("labels.ctbl"), &table)?;
            }
        }
        Ok(())
    }
}

/// A case's exported label: its masks (on `mask_grid`) checked against the image's grid,
/// fused ([`fuse`]) and remapped to the export's label values.
#[allow(clippy::too_many_arguments)]
fn fuse_onto(
    case: &str,
    mask_grid: &voxmark_volume::Grid,
    image_grid: &voxmark_volume::Grid,
    fusion: Fusion,
    masks: &[UsedMask],
    maps: Vec<Vec<u8>>,
    remap: &[u8; 256],
) -> Result<(Vec<u8>, BTreeMap<String, f64>)> {
    if !same_grid(image_grid, mask_grid) {
        return Err(Error::Invalid(format!(
            "case {case}: the masks are on a different grid than the image (mask: {}; image: {})",
            describe(mask_grid),
            describe(image_grid)
        )));
    }
    let (fused, sensitivity) = fuse(fusion, masks, maps)?;
    Ok((
        fused.iter().map(|&v| remap[usize::from(v)]).collect(),
        sensitivity,
    ))
}

/// One label map from the annotators' maps: the only one, or their majority vote or
/// STAPLE consensus (with each annotator's mean foreground sensitivity).
fn fuse(
    fusion: Fusion,
    masks: &[UsedMask],
    mut maps: Vec<Vec<u8>>,
) -> Result<(Vec<u8>, BTreeMap<String, f64>)> {
    let mut sensitivity = BTreeMap::new();
    if maps.len() == 1 {
        return Ok((maps.swap_remove(0), sensitivity));
    }
    let refs: Vec<&[u8]> = maps.iter().map(Vec::as_slice).collect();
    let fused = match fusion {
        Fusion::Majority => majority_vote(&refs)?.labels,
        Fusion::Staple => {
            let st = staple(&refs, &StapleParams::default())?;
            for (m, perf) in masks.iter().zip(&st.performance) {
                let fg: Vec<f64> = perf
                    .iter()
                    .filter(|p| p.label != 0)
                    .map(|p| p.sensitivity)
                    .collect();
                if !fg.is_empty() {
                    sensitivity.insert(
                        m.annotator.clone(),
                        fg.iter().sum::<f64>() / fg.len() as f64,
                    );
                }
            }
            st.labels
        }
    };
    Ok((fused, sensitivity))
}

impl Project {
    /// `--markups`: the markups saved with every mask version in the training set, rewritten
    /// whole each run under `ROOT/markups/<case>/` — the `.mrk.json` as stored, and the ML
    /// JSON on the case's grid (the mask version's own grid, the image's). Gold references
    /// have none.
    fn export_markups(
        &mut self,
        root: &Path,
        manifest: &Manifest,
        file_ids: &BTreeMap<String, String>,
        summary: &mut ExportSummary,
    ) -> Result<()> {
        let dir = root.join("markups");
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&dir, e)),
        }
        let names: BTreeMap<u8, String> = self
            .schema
            .labels
            .iter()
            .map(|l| (l.value, l.name.clone()))
            .collect();
        for (case, mc) in &manifest.cases {
            for m in mc.masks.iter().filter(|m| m.version > 0) {
                let Some(text) = self.version_markups(case, &m.annotator, Some(m.version))? else {
                    continue;
                };
                let what = format!("case {case} by {} version {}", m.annotator, m.version);
                let doc: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| Error::Corrupt(format!("{what}: stored markups: {e}")))?;
                let set = voxmark_io::markups::from_slicer_json(&doc)
                    .map_err(|e| Error::Corrupt(format!("{what}: stored markups: {e}")))?;
                let (_, bytes) = self.get_version(case, &m.annotator, Some(m.version))?;
                let grid = super::read_mask_bytes(&bytes, &what)?.grid;
                let fid = file_ids.get(case).cloned().unwrap_or_else(|| id_stem(case));
                let base = dir.join(&fid).join(id_stem(&m.annotator));
                std::fs::create_dir_all(dir.join(&fid))
                    .map_err(|e| Error::io(dir.join(&fid), e))?;
                let slicer = base.with_extension("mrk.json");
                voxmark_volume::fs::atomic::write_atomically(&slicer, |w| {
                    w.write_all(text.as_bytes())
                })?;
                voxmark_io::markups::write_ml_json(
                    &base.with_extension("json"),
                    &set,
                    &grid,
                    &|l| names.get(&l).cloned(),
                )?;
                summary.markups_written += 1;
                summary.markups += set.markups.len();
            }
        }
        Ok(())
    }
}

/// The manifest of an earlier export into `root`, if any; an export of another layout there
/// is refused.
fn read_manifest(manifest_path: &Path, root: &Path, layout: Layout) -> Result<Option<Manifest>> {
    let old: Option<Manifest> = match std::fs::read(manifest_path) {
        Ok(b) => Some(serde_json::from_slice(&b).map_err(|e| {
            Error::format(manifest_path, format!("not a voxmark export manifest: {e}"))
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(manifest_path, e)),
    };
    if let Some(o) = &old {
        if o.layout != layout {
            return Err(Error::invalid(format!(
                "{} holds a {} export; export {} into another folder",
                root.display(),
                o.layout.name(),
                layout.name()
            )));
        }
    }
    Ok(old)
}

/// Each case's file stem (unique: two cases that would share one are refused).
fn file_ids(ids: &[String]) -> Result<BTreeMap<String, String>> {
    let mut file_ids: BTreeMap<String, String> = BTreeMap::new();
    let mut taken: BTreeMap<String, String> = BTreeMap::new();
    for c in ids {
        let f = id_stem(c);
        if let Some(other) = taken.insert(f.clone(), c.clone()) {
            return Err(Error::invalid(format!(
                "cases {other:?} and {c:?} would both be exported as {f:?}"
            )));
        }
        file_ids.insert(c.clone(), f);
    }
    Ok(file_ids)
}

/// Removes the files of the cases of an earlier export that no longer qualify.
fn remove_dropped(
    root: &Path,
    old: &Manifest,
    per_case: &BTreeMap<String, Vec<CaseRow>>,
    layout: Layout,
    summary: &mut ExportSummary,
) -> Result<()> {
    for (c, mc) in &old.cases {
        if !per_case.contains_key(c) {
            for f in [&mc.image, &mc.label] {
                let p = root.join(f);
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&p, e)),
                }
            }
            if layout.per_case_folder() {
                let _ = std::fs::remove_dir(root.join(id_stem(c)));
            }
            summary.removed.push(c.clone());
        }
    }
    Ok(())
}

/// A case's image and label paths in the layout (relative to the root).
fn case_paths(layout: Layout, fid: &str, img_dir: &str, lab_dir: &str) -> (String, String) {
    match layout {
        Layout::Nnunet => (
            format!("{img_dir}/{fid}_0000.nii.gz"),
            format!("{lab_dir}/{fid}.nii.gz"),
        ),
        Layout::Monai => (
            format!("{img_dir}/{fid}.nii.gz"),
            format!("{lab_dir}/{fid}.nii.gz"),
        ),
        Layout::Folder => (format!("{fid}/image.nii.gz"), format!("{fid}/label.nii.gz")),
        Layout::SegNrrd => (format!("{fid}/image.nrrd"), format!("{fid}/label.seg.nrrd")),
        // No image is copied: the SEG references the source series.
        Layout::DicomSeg => (format!("{fid}/seg.dcm"), format!("{fid}/seg.dcm")),
    }
}

/// The channel name of the index file: given, or the one modality of the images; several
/// (or none, for a training layout) is refused after the manifest is written.
fn channel_name(opts: &ExportOptions, manifest: &Manifest, manifest_path: &Path) -> Result<String> {
    Ok(match &opts.channel_name {
        Some(c) => c.clone(),
        None => {
            let mut known: Vec<String> = manifest
                .cases
                .values()
                .filter_map(|c| channel_for(&c.modality))
                .collect();
            known.sort();
            known.dedup();
            match known.len() {
                0 if opts.layout.per_case_folder() || manifest.cases.is_empty() => "unknown".into(),
                0 => {
                    write_json(manifest_path, manifest)?;
                    return Err(Error::invalid(
                        "the images do not say their modality (NIfTI): pass --channel-name CT (nnU-Net's CT normalisation) or MRI",
                    ));
                }
                1 => known.remove(0),
                _ => {
                    write_json(manifest_path, manifest)?;
                    return Err(Error::invalid(format!(
                        "the images are of several modalities ({}); one channel name is needed: pass --channel-name",
                        known.join(", ")
                    )));
                }
            }
        }
    })
}

/// Writes one case's image (when missing) and label (a worker of [`Project::export`]). Returns the label file's sha256,
/// the image's modality, STAPLE sensitivities and whether the image was written.
#[allow(clippy::too_many_arguments)]
fn write_case(
    schema: &LabelSchema,
    opts: &ExportOptions,
    row: &CaseRow,
    masks: &[UsedMask],
    bytes: &[Vec<u8>],
    remap: &[u8; 256],
    image_out: &Path,
    label_out: &Path,
) -> Result<CaseWritten> {
    if let Some(dir) = label_out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut vols = Vec::with_capacity(bytes.len());
    for (m, b) in masks.iter().zip(bytes) {
        let what = format!("case {} by {} version {}", row.case, m.annotator, m.version);
        vols.push(super::read_mask_bytes(b, &what)?);
    }
    let grid = vols[0].grid;
    let mut maps = Vec::with_capacity(vols.len());
    for (v, m) in vols.iter().zip(masks) {
        let origin = PathBuf::from(format!(
            "case {} by {} version {}",
            row.case, m.annotator, m.version
        ));
        let labels = labels_for(v, &origin, &grid)?;
        schema.check_mask(&labels, &origin)?;
        maps.push(labels);
    }
    drop(vols);

    if matches!(opts.layout, Layout::SegNrrd | Layout::DicomSeg) {
        return write_case_seg(
            schema, opts, row, masks, maps, remap, image_out, label_out, grid,
        );
    }
    // The image: written when missing. Its header, read back, gives the label's grid
    // and form codes, so both files carry the very same geometry.
    let mut modality = String::new();
    let wrote = !image_out.is_file();
    if wrote {
        let src = image_path(&opts.data_root, &row.image);
        let series = Some(row.series_uid.clone()).filter(|s| !s.is_empty());
        let loaded = voxmark_io::load_volume(&src, &voxmark_io::LoadOptions { series })?;
        if let Some(dir) = image_out.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        write_nifti(image_out, &loaded.volume)?;
        modality = loaded.volume.meta.modality.clone();
    }
    let geo = read_nifti_geometry(image_out)?;
    let (out, sensitivity) =
        fuse_onto(&row.case, &grid, &geo.grid, opts.fusion, masks, maps, remap)?;
    let label = Volume::new(
        geo.grid,
        VoxelData::U8(out),
        Metadata {
            format: "nifti".into(),
            description: format!("voxmark export of {}", row.case)
                .chars()
                .take(79)
                .collect(),
            sform_code: geo.sform_code,
            qform_code: geo.qform_code,
            ..Default::default()
        },
    )?;
    write_nifti(label_out, &label)?;
    Ok((sha256_file(label_out)?, modality, sensitivity, wrote))
}

/// A case of a segmentation layout: the source image is loaded (its grid, and for a DICOM
/// SEG its series), the masks fused (majority vote; STAPLE as for the other layouts), and
/// the label written as a Slicer `.seg.nrrd` beside the image as NRRD, or as a DICOM SEG.
#[allow(clippy::too_many_arguments)]
fn write_case_seg(
    schema: &LabelSchema,
    opts: &ExportOptions,
    row: &CaseRow,
    masks: &[UsedMask],
    maps: Vec<Vec<u8>>,
    remap: &[u8; 256],
    image_out: &Path,
    label_out: &Path,
    grid: voxmark_volume::Grid,
) -> Result<CaseWritten> {
    use voxmark_io::label_file::{export_segmentation, SegFormat};
    let src = image_path(&opts.data_root, &row.image);
    let series = Some(row.series_uid.clone()).filter(|s| !s.is_empty());
    let loaded = voxmark_io::load_volume(&src, &voxmark_io::LoadOptions { series })?;
    let vol = &loaded.volume;
    let (out, sensitivity) =
        fuse_onto(&row.case, &grid, &vol.grid, opts.fusion, masks, maps, remap)?;
    if let Some(dir) = label_out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut wrote = false;
    let format = if opts.layout == Layout::SegNrrd {
        if !image_out.is_file() {
            voxmark_io::nrrd::write_nrrd_volume(image_out, vol, true)?;
            wrote = true;
        }
        SegFormat::SegNrrd
    } else {
        SegFormat::DicomSeg
    };
    let table = schema_table(schema);
    let who: Vec<&str> = masks.iter().map(|m| m.annotator.as_str()).collect();
    export_segmentation(
        label_out,
        format,
        vol,
        Some(&src),
        &out,
        &table,
        &[],
        &who.join(", "),
    )?;
    Ok((
        sha256_file(label_out)?,
        vol.meta.modality.clone(),
        sensitivity,
        wrote,
    ))
}

/// The schema as a label table (values, names, colours).
fn schema_table(schema: &LabelSchema) -> Vec<voxmark_volume::label_table::LabelInfo> {
    schema
        .labels
        .iter()
        .map(|l| voxmark_volume::label_table::LabelInfo {
            value: l.value,
            name: l.name.clone(),
            color: l.color,
            visible: true,
            locked: false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_and_folds() {
        assert_eq!(
            nnunet_folder(7, "liver study").unwrap_or_default(),
            "Dataset007_liver_study"
        );
        assert!(nnunet_folder(0, "x").is_err() && nnunet_folder(1000, "x").is_err());
        assert!(nnunet_folder(5, "  ").is_err());
        let cases: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
        let f = folds_for(&cases, 3);
        let mut sizes = [0; 3];
        f.values().for_each(|&k| sizes[k] += 1);
        assert_eq!(sizes.iter().sum::<usize>(), 10);
        assert!(sizes.iter().all(|&s| (3..=4).contains(&s)));
        // Deterministic, and independent of the order the cases come in.
        let mut rev = cases.clone();
        rev.reverse();
        assert_eq!(folds_for(&rev, 3), f);
    }
}
