//! What a project's QA report says, computed from the database and the stored masks (the
//! HTML page is drawn from this by [`super::report_html`]; `--json` prints it as is).
//!
//! - **Progress over time**: every annotation's status at the end of each hour (a project of
//!   up to 3 days), day (up to 120 days) or week, replayed from the status history.
//! - **Per annotator**: annotations, submitted, approved, changes requested (events), the
//!   median *active* time per annotation, agreement with the others on the same cases, and
//!   agreement of their first submission with the version the reviewer approved.
//!   Active time is estimated from the times recorded in the project — assignment, every
//!   saved version, every status change — summing the gaps of at most 30 minutes (a longer
//!   gap is a break). The editor's crash journal stays on the annotator's machine, so its
//!   keystroke times are not available to a project-wide report.
//! - **Per label**: the distribution of inter-annotator Dice over all pairs of annotators of a
//!   case, and the worst pairs, with the `voxmark view --project P --case ID` command that
//!   opens them.
//! - **Flagged cases**: the worst pairs get a thumbnail — the slice with the most voxels of
//!   disagreement, the image windowed under both masks (agreement green, only the first
//!   annotator red, only the second blue), rendered by the engine's CPU slice renderer.
//!
//! Annotations count once submitted (submitted, changes requested, approved); drafts are
//! work in progress.

use super::{image_path, int, read_mask_bytes, text, Project, StatusReport};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use voxmark_qa::metrics::{compare_masks, is_orthogonal, percentile_sorted};
use voxmark_render::slice::{render_rgba_cpu, HostOverlays, SliceOptions};
use voxmark_volume::error::Result;
use voxmark_volume::geometry::view::{ViewGeometry, ViewKind};
use voxmark_volume::labels::{labels_for, same_grid};
use voxmark_volume::{Grid, WindowPreset};

/// Report settings.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// How the project was named on the command line (for the `voxmark view` commands).
    pub project_arg: String,
    /// Where the images are (thumbnails show the image when known; masks alone otherwise).
    pub data_root: Option<PathBuf>,
    /// Pairs with a label's Dice below this are flagged.
    pub flag_below: f64,
    /// At most this many flagged pairs get a thumbnail.
    pub thumbnails: usize,
    /// Cases compared at once (0: one per core; never more than the cores).
    pub jobs: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            project_arg: String::new(),
            data_root: None,
            flag_below: 0.8,
            thumbnails: 12,
            jobs: 0,
        }
    }
}

/// Status counts at the end of one day (or week).
#[derive(Debug, Clone, Serialize)]
pub struct TimelinePoint {
    pub date: String,
    pub by_status: BTreeMap<String, i64>,
    /// Annotations in round 2 or later.
    pub later_rounds: i64,
}

/// One annotator's numbers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AnnotatorStats {
    pub name: String,
    pub annotations: i64,
    pub submitted: i64,
    pub approved: i64,
    /// Times a reviewer requested changes on their work.
    pub changes_requested: i64,
    /// Markups (points, lines, boxes, …) in the latest versions of this annotator's
    /// annotations.
    #[serde(default)]
    pub markups: i64,
    pub median_active_minutes: Option<f64>,
    /// Mean over labels and cases of Dice / HD95 against the other annotators of the case.
    pub dice_vs_others: Option<f64>,
    pub hd95_vs_others_mm: Option<f64>,
    /// The same per label value: (mean Dice, mean HD95 in mm).
    pub vs_others_by_label: BTreeMap<u8, (f64, Option<f64>)>,
    /// First submission against the approved version (1.0 when approved unchanged).
    pub dice_first_vs_approved: Option<f64>,
    pub hd95_first_vs_approved_mm: Option<f64>,
    /// Gold-case submissions scored, passed, and their mean Dice (over labels).
    pub gold_scored: i64,
    pub gold_passed: i64,
    pub gold_mean_dice: Option<f64>,
}

/// Agreement of two annotators on one case.
#[derive(Debug, Clone, Serialize)]
pub struct PairAgreement {
    pub case: String,
    pub a: String,
    pub b: String,
    /// Per label value present in either: (Dice, HD95 in mm when both have it).
    pub labels: BTreeMap<u8, (f64, Option<f64>)>,
}

/// Inter-annotator agreement of one label.
#[derive(Debug, Clone, Serialize)]
pub struct LabelStats {
    pub value: u8,
    pub name: String,
    /// Dice of every pair that has the label, ascending.
    pub dice: Vec<f64>,
    pub median: Option<f64>,
    pub q1: Option<f64>,
    pub q3: Option<f64>,
    /// Worst pairs: (case, a, b, Dice).
    pub worst: Vec<(String, String, String, f64)>,
}

/// A pair worth a look, with its picture.
#[derive(Debug, Clone, Serialize)]
pub struct Flagged {
    pub case: String,
    pub a: String,
    pub b: String,
    pub label: u8,
    pub dice: f64,
    /// Voxel axis and index of the slice shown.
    pub axis: usize,
    pub slice: usize,
    pub disagreeing_voxels: u64,
    pub view_command: String,
    /// PNG bytes (not in the JSON).
    #[serde(skip)]
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Whether the image is under the masks (false: its file was not found).
    pub with_image: bool,
}

/// Everything the report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub project: String,
    /// The project as named on the command line (for `voxmark view --project`).
    pub project_arg: String,
    pub generated_at: String,
    pub status: StatusReport,
    pub by_round: BTreeMap<i64, BTreeMap<String, i64>>,
    pub timeline: Vec<TimelinePoint>,
    pub annotators: Vec<AnnotatorStats>,
    pub labels: Vec<LabelStats>,
    pub pairs: Vec<PairAgreement>,
    pub flagged: Vec<Flagged>,
    /// Every scored gold submission, oldest first.
    pub gold: Vec<super::gold::GoldScore>,
    pub gold_settings: super::gold::GoldSettings,
    /// The project's labels (names for the tables).
    pub schema_labels: Vec<super::schema::SchemaLabel>,
    pub notes: Vec<String>,
}

/// Seconds since 1970 of an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SSZ` (what voxmark writes).
pub fn parse_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil (H. Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

fn civil_date(secs: i64) -> String {
    let (year, month, day) = voxmark_volume::fs::clock::civil_from_days(secs.div_euclid(86_400));
    format!("{year:04}-{month:02}-{day:02}")
}

/// Active minutes of a sorted list of event times: gaps up to 30 min summed.
pub fn active_minutes(times: &[i64]) -> Option<f64> {
    if times.len() < 2 {
        return None;
    }
    let s: i64 = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|&g| (0..=1800).contains(&g))
        .sum();
    Some(s as f64 / 60.0)
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(percentile_sorted(v, 50.0))
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// One annotation as the report sees it.
struct Ann {
    id: i64,
    case: String,
    image: String,
    series_uid: String,
    annotator: String,
    status: String,
    round: i64,
    latest: i64,
    assigned_at: String,
}

/// What the report reads from the database: the annotations, the status history, the
/// version list and the markups saved with each latest version.
struct Records {
    anns: Vec<Ann>,
    /// (annotation, to status, round, at)
    history: Vec<(i64, String, i64, String)>,
    /// (annotation, version, round, saved at)
    versions: Vec<(i64, i64, i64, String)>,
    /// annotation → the latest version's markups (`.mrk.json` text)
    markups: BTreeMap<i64, String>,
}

/// Pairwise agreement over the cases (see [`Project::agreement`]).
#[derive(Default)]
struct Agreement {
    pairs: Vec<PairAgreement>,
    /// annotator → (Dice, HD95) against every other annotator
    vs_others: BTreeMap<String, (Vec<f64>, Vec<f64>)>,
    by_label: BTreeMap<(String, u8), (Vec<f64>, Vec<f64>)>,
    /// annotator → (Dice, HD95) of the first submission against the approved version
    first_vs_final: BTreeMap<String, (Vec<f64>, Vec<f64>)>,
    /// (Dice, case, annotator a, annotator b, label), one per compared label
    candidates: Vec<(f64, String, String, String, u8)>,
    /// The masks of the pairs that may be flagged (bounded).
    masks_of: BTreeMap<(String, String), (Grid, Vec<u8>)>,
    skipped_hd: bool,
}

impl Project {
    /// Computes the report (see the module docs). `progress(done, total)` after each case.
    pub fn report(
        &mut self,
        opts: &ReportOptions,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Report> {
        let status = self.status()?;
        let rec = self.report_records()?;
        let mut notes = Vec::new();
        let by_round = rounds_now(&rec.anns);
        let timeline = timeline(&rec);
        let (mut stats, first_round_version) = annotator_stats(&rec);
        let mut agreement = self.agreement(&rec, &first_round_version, opts, progress, &mut notes);
        agreement.fold_into(&mut stats, &mut notes);
        let gold = self.gold_scores(None)?;
        add_gold_scores(&mut stats, &gold);
        let labels = self.label_stats(&agreement.candidates);
        let flagged = flagged_pairs(&rec.anns, &mut agreement, opts, &mut notes);
        let pairs = agreement.pairs;
        Ok(Report {
            project: self.name.clone(),
            project_arg: if opts.project_arg.is_empty() {
                self.name.clone()
            } else {
                opts.project_arg.clone()
            },
            generated_at: voxmark_volume::fs::clock::now_rfc3339(),
            status,
            by_round,
            timeline,
            annotators: stats.into_values().collect(),
            labels,
            pairs,
            flagged,
            gold_settings: self.settings.gold.clone(),
            schema_labels: self.schema.labels.clone(),
            gold,
            notes,
        })
    }

    /// The annotations, status history, versions and latest markups, in one read.
    fn report_records(&mut self) -> Result<Records> {
        self.db.read(|db| {
            let anns = db
                .query(
                    "SELECT a.id, c.case_key, c.image, c.series_uid, a.annotator, a.status, a.round, a.latest_version, a.assigned_at
                     FROM annotations a JOIN cases c ON c.id = a.case_id ORDER BY c.id, a.annotator",
                    &[],
                )?
                .iter()
                .map(|r| Ann {
                    id: int(&r[0]),
                    case: text(&r[1]),
                    image: text(&r[2]),
                    series_uid: text(&r[3]),
                    annotator: text(&r[4]),
                    status: text(&r[5]),
                    round: int(&r[6]),
                    latest: int(&r[7]),
                    assigned_at: text(&r[8]),
                })
                .collect::<Vec<_>>();
            let history: Vec<(i64, String, i64, String)> = db
                .query(
                    "SELECT annotation_id, to_status, round, at FROM status_history ORDER BY at, id",
                    &[],
                )?
                .iter()
                .map(|r| (int(&r[0]), text(&r[1]), int(&r[2]), text(&r[3])))
                .collect();
            let versions: Vec<(i64, i64, i64, String)> = db
                .query(
                    "SELECT annotation_id, version, round, saved_at FROM versions ORDER BY annotation_id, version",
                    &[],
                )?
                .iter()
                .map(|r| (int(&r[0]), int(&r[1]), int(&r[2]), text(&r[3])))
                .collect();
            // The markups saved with each annotation's latest version.
            let markups: BTreeMap<i64, String> = db
                .query(
                    "SELECT v.annotation_id, v.markups FROM versions v JOIN annotations a
                     ON a.id = v.annotation_id AND a.latest_version = v.version
                     WHERE v.markups IS NOT NULL",
                    &[],
                )?
                .iter()
                .map(|r| (int(&r[0]), text(&r[1])))
                .collect();
            Ok(Records {
                anns,
                history,
                versions,
                markups,
            })
        })
    }

    /// Agreement, per case, between the latest versions of every submitted annotation (two
    /// or more annotators), and of a first submission with its approved version where review
    /// changed it. Masks are decoded only where they are compared. `progress(done, total)`
    /// after each case.
    fn agreement(
        &mut self,
        rec: &Records,
        first_round_version: &BTreeMap<i64, i64>,
        opts: &ReportOptions,
        progress: &mut dyn FnMut(usize, usize),
        notes: &mut Vec<String>,
    ) -> Agreement {
        let anns = &rec.anns;
        let mut ag = Agreement::default();
        let Agreement {
            pairs,
            vs_others,
            by_label,
            first_vs_final,
            candidates,
            masks_of,
            skipped_hd,
        } = &mut ag;
        let mut by_case: BTreeMap<&str, Vec<&Ann>> = BTreeMap::new();
        for a in anns.iter() {
            if a.status != "draft" && a.latest >= 1 {
                by_case.entry(a.case.as_str()).or_default().push(a);
            }
        }
        let total = by_case.len();
        let workers = crate::export::export_workers(opts.jobs);
        let pool = match rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .thread_name(|i| format!("voxmark-report-{i}"))
            .build()
        {
            Ok(p) => p,
            Err(e) => {
                notes.push(format!("report workers: {e}; comparing on this thread"));
                match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
                    Ok(p) => p,
                    Err(_) => return ag,
                }
            }
        };
        // Approved as first submitted: no mask compared (agreement 1 by definition).
        let changed_in_review = |a: &Ann| {
            a.status == "approved"
                && first_round_version
                    .get(&a.id)
                    .is_some_and(|&v| v != a.latest)
        };
        let schema = self.schema.clone();
        let cases: Vec<(&str, Vec<&Ann>)> = by_case.into_iter().collect();
        let mut done = 0usize;
        // Batches of two cases per worker: the database is read here, in order; masks are
        // decoded and compared on the workers; the results are added up here in case order,
        // so the report is the serial one's.
        for batch in cases.chunks(2 * workers) {
            let inputs: Vec<CaseMasks> = batch
                .iter()
                .map(|(case, list)| {
                    let mut masks = Vec::new();
                    for a in list {
                        // Masks are read only where they are compared: two or more
                        // annotators, or an approved version that differs from the round-1
                        // submission.
                        if list.len() < 2 && !changed_in_review(a) {
                            continue;
                        }
                        let latest = self.get_version(&a.case, &a.annotator, Some(a.latest));
                        let first = first_round_version
                            .get(&a.id)
                            .filter(|_| changed_in_review(a))
                            .map(|&v| (v, self.get_version(&a.case, &a.annotator, Some(v))));
                        masks.push((
                            *a,
                            latest.map(|(_, b)| b),
                            first.map(|(v, r)| (v, r.map(|(_, b)| b))),
                        ));
                    }
                    CaseMasks { case, masks }
                })
                .collect();
            let outs: Vec<CaseCompared> = pool.install(|| {
                use rayon::prelude::*;
                inputs
                    .par_iter()
                    .map(|c| compare_case(c, &schema))
                    .collect()
            });
            for ((case, list), out) in batch.iter().zip(outs) {
                for a in list {
                    if a.status == "approved" && !changed_in_review(a) {
                        let e = first_vs_final.entry(a.annotator.clone()).or_default();
                        e.0.push(1.0);
                        e.1.push(0.0);
                    }
                }
                notes.extend(out.notes);
                for (who, dice, hd) in out.first_vs_final {
                    let e = first_vs_final.entry(who).or_default();
                    e.0.extend(dice);
                    e.1.extend(hd);
                }
                for (i, j, compared) in out.pairs {
                    let (a, b) = (out.maps[i].0, out.maps[j].0);
                    let Some((ortho, agreements)) = compared else {
                        notes.push(format!(
                            "case {case}: {} and {} are on different grids; not compared",
                            a.annotator, b.annotator
                        ));
                        continue;
                    };
                    *skipped_hd |= !ortho;
                    let mut labels = BTreeMap::new();
                    for l in agreements {
                        let hd = if ortho { l.hausdorff95_mm } else { None };
                        labels.insert(l.label, (l.dice, hd));
                        for who in [&a.annotator, &b.annotator] {
                            let e = vs_others.entry(who.clone()).or_default();
                            e.0.push(l.dice);
                            e.1.extend(hd);
                            let e = by_label.entry((who.clone(), l.label)).or_default();
                            e.0.push(l.dice);
                            e.1.extend(hd);
                        }
                        candidates.push((
                            l.dice,
                            case.to_string(),
                            a.annotator.clone(),
                            b.annotator.clone(),
                            l.label,
                        ));
                    }
                    pairs.push(PairAgreement {
                        case: case.to_string(),
                        a: a.annotator.clone(),
                        b: b.annotator.clone(),
                        labels,
                    });
                }
                // Keep the masks of cases that may be flagged (bounded: the worst are chosen
                // below).
                for (a, g, m) in out.maps {
                    if list.len() >= 2 {
                        masks_of.insert((case.to_string(), a.annotator.clone()), (g, m));
                    }
                }
                if masks_of.len() > 4 * opts.thumbnails.max(1) + 64 {
                    // Drop masks of pairs that cannot be among the worst any more.
                    candidates.sort_by(|x, y| x.0.total_cmp(&y.0));
                    let keep: BTreeSet<(String, String)> = candidates
                        .iter()
                        .take(opts.thumbnails)
                        .flat_map(|c| [(c.1.clone(), c.2.clone()), (c.1.clone(), c.3.clone())])
                        .collect();
                    masks_of.retain(|k, _| keep.contains(k));
                }
                done += 1;
                progress(done, total);
            }
        }
        ag
    }

    /// Dice quartiles per schema label over the compared pairs, and the ten worst pairs.
    fn label_stats(&self, candidates: &[(f64, String, String, String, u8)]) -> Vec<LabelStats> {
        self.schema
            .labels
            .iter()
            .map(|l| {
                let mut rows: Vec<(f64, String, String, String)> = candidates
                    .iter()
                    .filter(|c| c.4 == l.value)
                    .map(|c| (c.0, c.1.clone(), c.2.clone(), c.3.clone()))
                    .collect();
                rows.sort_by(|x, y| x.0.total_cmp(&y.0));
                let dice: Vec<f64> = rows.iter().map(|r| r.0).collect();
                let q = |p: f64| (!dice.is_empty()).then(|| percentile_sorted(&dice, p));
                LabelStats {
                    value: l.value,
                    name: l.name.clone(),
                    median: q(50.0),
                    q1: q(25.0),
                    q3: q(75.0),
                    worst: rows
                        .iter()
                        .take(10)
                        .map(|r| (r.1.clone(), r.2.clone(), r.3.clone(), r.0))
                        .collect(),
                    dice,
                }
            })
            .collect()
    }
}

/// One case's stored masks as read from the database for [`compare_case`]: per annotation
/// compared, its latest version's bytes and (reviewed since) its round-1 version's.
struct CaseMasks<'a> {
    case: &'a str,
    #[allow(clippy::type_complexity)]
    masks: Vec<(&'a Ann, Result<Vec<u8>>, Option<(i64, Result<Vec<u8>>)>)>,
}

/// What a worker found for one case: the decoded masks, notes (masks that could not be
/// read), the first-submission-vs-approved comparisons and the pairwise ones (None: the
/// pair's grids differ; else whether HD95 applies and the per-label agreement).
struct CaseCompared<'a> {
    maps: Vec<(&'a Ann, Grid, Vec<u8>)>,
    notes: Vec<String>,
    first_vs_final: Vec<(String, Vec<f64>, Vec<f64>)>,
    #[allow(clippy::type_complexity)]
    pairs: Vec<(
        usize,
        usize,
        Option<(bool, Vec<voxmark_qa::metrics::LabelAgreement>)>,
    )>,
}

/// A stored mask's labels and grid.
fn decode_mask(bytes: &[u8], case: &str, annotator: &str, version: i64) -> Result<(Grid, Vec<u8>)> {
    let what = format!("case {case} by {annotator} version {version}");
    let v = read_mask_bytes(bytes, &what)?;
    let labels = labels_for(&v, Path::new(&what), &v.grid)?;
    Ok((v.grid, labels))
}

/// The schema's labels present in `a` or `b`.
fn schema_labels_in(schema: &crate::schema::LabelSchema, a: &[u8], b: &[u8]) -> Vec<u8> {
    let present = voxmark_qa::metrics::labels_present(a, b);
    schema
        .labels
        .iter()
        .map(|l| l.value)
        .filter(|v| present.contains(v))
        .collect()
}

/// Decodes and compares one case's masks (a report worker; no database).
fn compare_case<'a>(c: &CaseMasks<'a>, schema: &crate::schema::LabelSchema) -> CaseCompared<'a> {
    let mut out = CaseCompared {
        maps: Vec::new(),
        notes: Vec::new(),
        first_vs_final: Vec::new(),
        pairs: Vec::new(),
    };
    let mut firsts = Vec::new();
    for (a, latest, first) in &c.masks {
        match latest.as_ref().map_err(|e| e.to_string()).and_then(|b| {
            decode_mask(b, &a.case, &a.annotator, a.latest).map_err(|e| e.to_string())
        }) {
            Ok((g, m)) => {
                firsts.push(first);
                out.maps.push((*a, g, m));
            }
            Err(e) => out
                .notes
                .push(format!("case {} by {}: {e}", c.case, a.annotator)),
        }
    }
    // First submission against the approved version, where review changed it.
    for ((a, g, m), first) in out.maps.iter().zip(firsts) {
        let Some((v, bytes)) = first else {
            continue;
        };
        let mut dice = Vec::new();
        let mut hd = Vec::new();
        if let Some((g1, m1)) = bytes
            .as_ref()
            .ok()
            .and_then(|b| decode_mask(b, &a.case, &a.annotator, *v).ok())
        {
            if same_grid(&g1, g) {
                let present = schema_labels_in(schema, &m1, m);
                for l in compare_masks(&m1, m, g, &present, 1.0) {
                    dice.push(l.dice);
                    hd.extend(l.hausdorff95_mm);
                }
            }
        }
        out.first_vs_final.push((a.annotator.clone(), dice, hd));
    }
    for i in 0..out.maps.len() {
        for j in i + 1..out.maps.len() {
            let (_, ga, ma) = &out.maps[i];
            let (_, gb, mb) = &out.maps[j];
            if !same_grid(ga, gb) {
                out.pairs.push((i, j, None));
                continue;
            }
            let present = schema_labels_in(schema, ma, mb);
            let ortho = is_orthogonal(ga);
            out.pairs.push((
                i,
                j,
                Some((ortho, compare_masks(ma, mb, ga, &present, 1.0))),
            ));
        }
    }
    out
}

/// How many annotations are in each round and status now.
fn rounds_now(anns: &[Ann]) -> BTreeMap<i64, BTreeMap<String, i64>> {
    let mut by_round: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    for a in anns {
        *by_round
            .entry(a.round)
            .or_default()
            .entry(a.status.clone())
            .or_insert(0) += 1;
    }
    by_round
}

/// The timeline: the status history replayed into counts per status at the end of each
/// hour (a project of a few days), day (up to 120 days) or week.
fn timeline(rec: &Records) -> Vec<TimelinePoint> {
    let (anns, history) = (&rec.anns, &rec.history);
    let mut events: Vec<(i64, i64, String, i64)> = Vec::new(); // (t, ann, status, round)
    for a in anns.iter() {
        if let Some(t) = parse_utc(&a.assigned_at) {
            events.push((t, a.id, "draft".into(), 1));
        }
    }
    for (id, to, round, at) in history.iter() {
        if let Some(t) = parse_utc(at) {
            events.push((t, *id, to.clone(), *round));
        }
    }
    events.sort();
    let mut out = Vec::new();
    if let (Some(first), Some(last)) = (events.first(), events.last()) {
        // Hours for a project of a few days, days up to 120, then weeks.
        let span = last.0 - first.0;
        let step = if span <= 3 * 86_400 {
            3600
        } else if span <= 120 * 86_400 {
            86_400
        } else {
            7 * 86_400
        };
        let mut state: BTreeMap<i64, (String, i64)> = BTreeMap::new();
        let mut i = 0;
        let mut t = first.0.div_euclid(step) * step;
        loop {
            let end = t + step;
            while i < events.len() && events[i].0 < end {
                let (_, id, s, r) = &events[i];
                state.insert(*id, (s.clone(), *r));
                i += 1;
            }
            let mut by_status = BTreeMap::new();
            for s in ["draft", "submitted", "changes_requested", "approved"] {
                by_status.insert(s.to_string(), 0);
            }
            let mut later = 0;
            for (s, r) in state.values() {
                *by_status.entry(s.clone()).or_insert(0) += 1;
                later += i64::from(*r >= 2);
            }
            let date = if step == 3600 {
                format!("{} {:02}:00", civil_date(t), t.rem_euclid(86_400) / 3600)
            } else {
                civil_date(t)
            };
            out.push(TimelinePoint {
                date,
                by_status,
                later_rounds: later,
            });
            if end > last.0 {
                break;
            }
            t = end;
        }
    }
    out
}

/// Per annotator: annotations, markups, approvals, submissions, changes requested, and the
/// median active time per annotation (from the times of their own steps); with each
/// annotation's round-1 version (for first-submission agreement).
fn annotator_stats(rec: &Records) -> (BTreeMap<String, AnnotatorStats>, BTreeMap<i64, i64>) {
    let (anns, history, versions, markups) = (&rec.anns, &rec.history, &rec.versions, &rec.markups);
    let mut stats: BTreeMap<String, AnnotatorStats> = BTreeMap::new();
    let mut times: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for a in anns.iter() {
        let s = stats
            .entry(a.annotator.clone())
            .or_insert_with(|| AnnotatorStats {
                name: a.annotator.clone(),
                ..Default::default()
            });
        s.annotations += 1;
        s.markups += markups
            .get(&a.id)
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .and_then(|d| voxmark_io::markups::from_slicer_json(&d).ok())
            .map_or(0, |m| m.markups.len() as i64);
        s.approved += i64::from(a.status == "approved");
        s.submitted += i64::from(a.status != "draft");
        times
            .entry(a.id)
            .or_default()
            .extend(parse_utc(&a.assigned_at));
    }
    let owner: BTreeMap<i64, &str> = anns.iter().map(|a| (a.id, a.annotator.as_str())).collect();
    for (id, to, _, at) in history.iter() {
        if to == "changes_requested" {
            if let Some(s) = owner.get(id).and_then(|o| stats.get_mut(*o)) {
                s.changes_requested += 1;
            }
        }
        // The annotator's own steps (submit, withdraw) are work; a review is not theirs.
        if to == "submitted" || to == "draft" {
            times.entry(*id).or_default().extend(parse_utc(at));
        }
    }
    let mut first_round_version: BTreeMap<i64, i64> = BTreeMap::new();
    for (id, v, round, at) in versions.iter() {
        times.entry(*id).or_default().extend(parse_utc(at));
        if *round == 1 {
            first_round_version.insert(*id, *v);
        }
    }
    let mut active: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (id, t) in &mut times {
        t.sort_unstable();
        if let (Some(m), Some(o)) = (active_minutes(t), owner.get(id)) {
            active.entry(o).or_default().push(m);
        }
    }
    for (o, mut v) in active {
        if let Some(s) = stats.get_mut(o) {
            s.median_active_minutes = median(&mut v);
        }
    }
    (stats, first_round_version)
}

impl Agreement {
    /// Each annotator's mean agreement (with the others, per label, first submission vs
    /// approved) into their statistics; a note when HD95 was left out.
    fn fold_into(&mut self, stats: &mut BTreeMap<String, AnnotatorStats>, notes: &mut Vec<String>) {
        if self.skipped_hd {
            notes.push("HD95 is left out for cases whose voxel axes are not orthogonal".into());
        }
        for (name, (d, h)) in std::mem::take(&mut self.vs_others) {
            if let Some(s) = stats.get_mut(&name) {
                s.dice_vs_others = mean(&d);
                s.hd95_vs_others_mm = mean(&h);
            }
        }
        for ((name, label), (d, h)) in std::mem::take(&mut self.by_label) {
            if let (Some(s), Some(md)) = (stats.get_mut(&name), mean(&d)) {
                s.vs_others_by_label.insert(label, (md, mean(&h)));
            }
        }
        for (name, (d, h)) in std::mem::take(&mut self.first_vs_final) {
            if let Some(s) = stats.get_mut(&name) {
                s.dice_first_vs_approved = mean(&d);
                s.hd95_first_vs_approved_mm = mean(&h);
            }
        }
    }
}

/// Gold cases scored, passed and the mean Dice, per annotator.
fn add_gold_scores(stats: &mut BTreeMap<String, AnnotatorStats>, gold: &[super::gold::GoldScore]) {
    let mut gold_dice: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for g in gold {
        if let Some(s) = stats.get_mut(&g.annotator) {
            s.gold_scored += 1;
            s.gold_passed += i64::from(g.passed);
        }
        gold_dice
            .entry(g.annotator.as_str())
            .or_default()
            .extend(g.labels.iter().map(|l| l.dice));
    }
    for (name, d) in gold_dice {
        if let Some(s) = stats.get_mut(name) {
            s.gold_mean_dice = mean(&d);
        }
    }
}

/// The worst pairs below the flag threshold (one per case and pair), each with a thumbnail
/// of its slice of most disagreement (over the image when the data root is known).
fn flagged_pairs(
    anns: &[Ann],
    ag: &mut Agreement,
    opts: &ReportOptions,
    notes: &mut Vec<String>,
) -> Vec<Flagged> {
    let view = |case: &str| {
        format!(
            "voxmark view --project {} --case {}",
            shell_quote(&opts.project_arg),
            shell_quote(case)
        )
    };
    let candidates = &mut ag.candidates;
    let masks_of = &ag.masks_of;
    candidates.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut flagged = Vec::new();
    let mut seen = BTreeSet::new();
    for (dice, case, a, b, label) in std::mem::take(candidates) {
        if dice >= opts.flag_below || flagged.len() >= opts.thumbnails {
            break;
        }
        if !seen.insert((case.clone(), a.clone(), b.clone())) {
            continue;
        }
        let (Some((g, ma)), Some((_, mb))) = (
            masks_of.get(&(case.clone(), a.clone())),
            masks_of.get(&(case.clone(), b.clone())),
        ) else {
            continue;
        };
        let ann = anns.iter().find(|x| x.case == case);
        let image = ann.and_then(|x| {
            let root = opts.data_root.as_ref()?;
            let p = image_path(root, &x.image);
            let series = Some(x.series_uid.clone()).filter(|s| !s.is_empty());
            voxmark_io::load_volume(&p, &voxmark_io::LoadOptions { series }).ok()
        });
        match thumbnail(g, ma, mb, label, image.as_ref().map(|l| &l.volume)) {
            Ok((png, w, h, axis, slice, n, with_image)) => flagged.push(Flagged {
                view_command: view(&case),
                case,
                a,
                b,
                label,
                dice,
                axis,
                slice,
                disagreeing_voxels: n,
                png,
                width: w,
                height: h,
                with_image,
            }),
            Err(e) => notes.push(format!("case {case}: thumbnail: {e}")),
        }
    }
    flagged
}

/// `s` quoted for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Picture of the slice with the most disagreement about `label` between `a` and `b`:
/// (PNG, width, height, voxel axis, slice, disagreeing voxels on it, image shown).
#[allow(clippy::type_complexity)]
fn thumbnail(
    grid: &Grid,
    a: &[u8],
    b: &[u8],
    label: u8,
    image: Option<&voxmark_volume::Volume>,
) -> Result<(Vec<u8>, u32, u32, usize, usize, u64, bool)> {
    let dims = grid.dims;
    // Axial view; its normal is one voxel axis.
    let probe = ViewGeometry::new(grid, ViewKind::Axial, Some(0), None)?;
    let axis = probe.axis_n;
    let mut per_slice = vec![0u64; dims[axis]];
    let (nx, ny) = (dims[0], dims[1]);
    for (idx, (&x, &y)) in a.iter().zip(b).enumerate() {
        if (x == label) != (y == label) {
            let ijk = [idx % nx, (idx / nx) % ny, idx / (nx * ny)];
            per_slice[ijk[axis]] += 1;
        }
    }
    let (slice, &n) = per_slice
        .iter()
        .enumerate()
        .max_by_key(|(i, &c)| (c, std::cmp::Reverse(*i)))
        .unwrap_or((0, &0));
    let view = ViewGeometry::new(grid, ViewKind::Axial, Some(slice), None)?;
    // Overlay: agreement 2 (green), only A 1 (red), only B 3 (blue).
    let overlay: Vec<u8> = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| match (x == label, y == label) {
            (true, true) => 2,
            (true, false) => 1,
            (false, true) => 3,
            _ => 0,
        })
        .collect();
    let style = voxmark_gpu::kernels::mpr::LabelStyle {
        opacity: 0.55,
        ..Default::default()
    };
    let with_image = image.is_some_and(|v| same_grid(&v.grid, grid));
    let (data, window) = match image.filter(|_| with_image) {
        Some(v) => {
            // Window from the slice's own 1st-99th percentiles.
            let mut vals: Vec<f64> = (0..v.data.len())
                .filter(|&idx| {
                    let ijk = [idx % nx, (idx / nx) % ny, idx / (nx * ny)];
                    ijk[axis] == slice
                })
                .map(|idx| v.data.get_f64(idx))
                .filter(|x| x.is_finite())
                .collect();
            vals.sort_by(f64::total_cmp);
            let (lo, hi) = if vals.is_empty() {
                (0.0, 1.0)
            } else {
                (
                    percentile_sorted(&vals, 1.0),
                    percentile_sorted(&vals, 99.0),
                )
            };
            let width = (hi - lo).max(1e-6);
            (
                v.data.clone(),
                WindowPreset {
                    center: (lo + hi) / 2.0,
                    width,
                },
            )
        }
        None => (
            voxmark_volume::VoxelData::U8(vec![0; a.len()]),
            WindowPreset {
                center: 128.0,
                width: 256.0,
            },
        ),
    };
    let opts = SliceOptions {
        window,
        linear: false,
        labels: Some(style),
        crosshair: None,
    };
    let rgba = render_rgba_cpu(
        &data,
        dims,
        HostOverlays {
            labels: Some(&overlay),
            preview: None,
        },
        &view,
        &opts,
    )?;
    let [w, h] = view.size;
    let png = voxmark_render::png_out::encode_png(&rgba, w, h)?;
    Ok((png, w, h, axis, slice, n, with_image))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_and_active_minutes() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc("2000-03-01T00:00:01Z"), Some(951_868_801));
        let now = voxmark_volume::fs::clock::now_rfc3339();
        let t = parse_utc(&now).unwrap_or(0);
        assert_eq!(civil_date(t), now[..10]);
        assert_eq!(parse_utc("garbage"), None);
        // 10 + 5 minutes of work around a two-hour break.
        assert_eq!(
            active_minutes(&[0, 600, 600 + 7200, 600 + 7200 + 300]),
            Some(15.0)
        );
        assert_eq!(active_minutes(&[5]), None);
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("proj/dir"), "proj/dir");
    }
}
