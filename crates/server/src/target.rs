//! Where a project lives for its users: a project database (a folder or a postgresql://
//! URL, opened directly) or a team server (`https://host:port`, after `voxmark login`). The
//! CLI's `project` commands and the shell's project panel call one method per operation and
//! get the same records either way; over a server, the server decides from the login who is
//! asking and what they may see, and images come through the client's cache.

use crate::client::{enc, is_server_url, Client};
use std::path::{Path, PathBuf};
use voxmark_project::accounts::AuditEntry;
use voxmark_project::db::Location;
use voxmark_project::review_db::Status;
use voxmark_project::schema::LabelSchema;
use voxmark_project::{image_path, CaseRow, Project, ProjectComment, StatusReport, VersionInfo};
use voxmark_volume::error::{Error, Result};

/// The local user's name (`$USER`): who acts on a local project when `--by` is not given.
pub fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}

/// A query string of the given parameters (percent-encoded; absent ones left out).
fn query(params: &[(&str, Option<&str>)]) -> String {
    params
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", enc(v))))
        .collect::<Vec<_>>()
        .join("&")
}

/// A project on a team server: the client, and the project's name, schema and settings as
/// the server gives them (asked for once, when first needed: a command that needs none of
/// them sends only its own request).
pub struct RemoteProject {
    pub client: Client,
    info: std::sync::OnceLock<crate::api::ProjectInfo>,
}

impl RemoteProject {
    pub fn info(&self) -> Result<&crate::api::ProjectInfo> {
        if let Some(i) = self.info.get() {
            return Ok(i);
        }
        let i = self.client.project()?;
        Ok(self.info.get_or_init(|| i))
    }
}

pub enum Target {
    Local(Box<Project>),
    Remote(Box<RemoteProject>),
}

impl Target {
    /// A folder, a postgresql:// URL, or a team server's URL (with a stored login).
    pub fn open(p: &str) -> Result<Self> {
        if is_server_url(p) {
            Ok(Target::Remote(Box::new(RemoteProject {
                client: Client::connect(p)?,
                info: std::sync::OnceLock::new(),
            })))
        } else {
            Ok(Target::Local(Box::new(Project::open(&Location::parse(
                p,
            )?)?)))
        }
    }

    /// The project's name (a server's URL while the server does not answer).
    pub fn name(&self) -> &str {
        match self {
            Target::Local(p) => &p.name,
            Target::Remote(r) => r
                .info()
                .map(|i| i.name.as_str())
                .unwrap_or(r.client.base.as_str()),
        }
    }

    pub fn schema(&self) -> Result<&LabelSchema> {
        match self {
            Target::Local(p) => Ok(&p.schema),
            Target::Remote(r) => Ok(&r.info()?.schema),
        }
    }

    /// Where it is, for messages and for naming working-copy folders (no secret in it).
    pub fn place(&self) -> String {
        match self {
            Target::Local(p) => match p.location() {
                Location::Folder(d) => std::fs::canonicalize(d)
                    .unwrap_or_else(|_| d.clone())
                    .display()
                    .to_string(),
                Location::Server(u) => u.split('?').next().unwrap_or(u).to_string(),
            },
            Target::Remote(r) => r.client.base.clone(),
        }
    }

    /// The logged-in user, over a server.
    pub fn login_user(&self) -> Option<&str> {
        match self {
            Target::Local(_) => None,
            Target::Remote(r) => r.client.user.as_deref(),
        }
    }

    /// Over a server, the acting identity is the login's: a different `--annotator`/`--by`
    /// is refused here rather than silently replaced.
    fn same_user(c: &Client, flag: &str, given: &str) -> Result<()> {
        let me = c.user.as_deref().unwrap_or_default();
        if given != me {
            return Err(Error::invalid(format!(
                "{flag} {given}: you are logged in to {} as {me}; the server acts as the logged-in user",
                c.base
            )));
        }
        Ok(())
    }

    /// Where case `row`'s image is on this machine: under the data root (a local project),
    /// or fetched from the server into the cache. `progress(done, total)` in bytes.
    pub fn image(
        &self,
        row: &CaseRow,
        data_root: Option<&Path>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Option<PathBuf>> {
        Ok(match self {
            Target::Local(p) => p.data_root(data_root).map(|d| image_path(&d, &row.image)),
            Target::Remote(r) => Some(r.client.fetch_image(&row.case, progress)?.0),
        })
    }

    /// Refuses label values outside the schema (the server checks again).
    pub fn check_mask(&self, labels: &[u8], origin: &Path) -> Result<()> {
        self.schema()?.check_mask(labels, origin)
    }

    /// Stores `mask` (NIfTI bytes on the case's grid) as the slot's next version.
    pub fn save_version(
        &mut self,
        case: &str,
        annotator: &str,
        mask: &[u8],
        markups: Option<&str>,
        base: Option<i64>,
    ) -> Result<VersionInfo> {
        match self {
            Target::Local(p) => p.save_version(case, annotator, mask, markups, base, annotator),
            Target::Remote(r) => {
                Self::same_user(&r.client, "--annotator", annotator)?;
                r.client.save_mask(
                    case,
                    annotator,
                    mask.to_vec(),
                    markups.map(str::to_string),
                    base,
                )
            }
        }
    }

    /// The annotator's queue: changes requested, then drafts, then submitted work.
    pub fn queue(&mut self, annotator: &str) -> Result<Vec<CaseRow>> {
        if let Target::Local(p) = self {
            return p.queue(annotator);
        }
        let mut q: Vec<CaseRow> = self
            .cases(None, Some(annotator))?
            .into_iter()
            .filter(|r| r.status != "approved")
            .collect();
        let rank = |s: &str| match s {
            "changes_requested" => 0,
            "draft" => 1,
            _ => 2,
        };
        q.sort_by_key(|r| rank(&r.status));
        Ok(q)
    }

    /// The comments on a slot (and the notes of its status changes).
    pub fn comments(&mut self, case: &str, annotator: &str) -> Result<Vec<ProjectComment>> {
        match self {
            Target::Local(p) => p.comments(case, annotator),
            Target::Remote(r) => r
                .client
                .get_json(&format!("{}/comments", Client::slot_path(case, annotator))),
        }
    }

    pub fn status(&mut self) -> Result<StatusReport> {
        Ok(match self {
            Target::Local(p) => p.status()?,
            Target::Remote(r) => r.client.get_json("/api/v1/status")?,
        })
    }

    pub fn cases(&mut self, status: Option<&str>, annotator: Option<&str>) -> Result<Vec<CaseRow>> {
        Ok(match self {
            Target::Local(p) => p.cases(status, annotator)?,
            Target::Remote(r) => {
                let q = query(&[("status", status), ("annotator", annotator)]);
                r.client.get_json(&format!("/api/v1/cases?{q}"))?
            }
        })
    }

    pub fn next(&mut self, annotator: &str) -> Result<Option<CaseRow>> {
        Ok(match self {
            Target::Local(p) => p.next(annotator)?,
            Target::Remote(r) => {
                Self::same_user(&r.client, "--annotator", annotator)?;
                r.client.post_json("/api/v1/next", &serde_json::json!({}))?
            }
        })
    }

    pub fn assign(
        &mut self,
        annotator: &str,
        cases: &[String],
        count: Option<usize>,
    ) -> Result<Vec<CaseRow>> {
        Ok(match self {
            Target::Local(p) => match count {
                Some(n) => p.assign_count(annotator, n)?,
                None => p.assign(annotator, cases)?,
            },
            Target::Remote(r) => r.client.post_json(
                "/api/v1/assign",
                &serde_json::json!({"annotator": annotator, "cases": cases, "count": count}),
            )?,
        })
    }

    pub fn versions(&mut self, case: &str, annotator: &str) -> Result<Vec<VersionInfo>> {
        Ok(match self {
            Target::Local(p) => p.versions(case, annotator)?,
            Target::Remote(r) => {
                let c = &r.client;
                c.get_json(&format!("{}/versions", Client::slot_path(case, annotator)))?
            }
        })
    }

    /// A version's record, mask bytes and markups.
    pub fn get_version(
        &mut self,
        case: &str,
        annotator: &str,
        version: Option<i64>,
    ) -> Result<(VersionInfo, Vec<u8>, Option<String>)> {
        match self {
            Target::Local(p) => {
                let (info, bytes) = p.get_version(case, annotator, version)?;
                let markups = p.version_markups(case, annotator, Some(info.version))?;
                Ok((info, bytes, markups))
            }
            Target::Remote(r) => {
                let c = &r.client;
                let v = version.map_or("latest".to_string(), |v| v.to_string());
                let slot = Client::slot_path(case, annotator);
                let (h, bytes) = c.get_bytes(&format!("{slot}/versions/{v}"))?;
                let header = |k: &str| {
                    h.get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                let info = VersionInfo {
                    case: case.to_string(),
                    annotator: annotator.to_string(),
                    version: header("x-voxmark-version").parse().map_err(|_| {
                        Error::invalid(format!("{}: the answer names no version", c.base))
                    })?,
                    round: header("x-voxmark-round").parse().unwrap_or(0),
                    sha256: header("x-voxmark-sha256"),
                    bytes: bytes.len() as i64,
                    author: header("x-voxmark-author"),
                    saved_at: header("x-voxmark-saved-at"),
                };
                if voxmark_volume::fs::sha256_hex(&bytes) != info.sha256 {
                    return Err(Error::invalid(format!(
                        "{}: the mask arrived damaged (its sha256 differs); try again",
                        c.base
                    )));
                }
                let markups =
                    match c.get_bytes(&format!("{slot}/versions/{}/markups", info.version)) {
                        Ok((_, m)) => Some(String::from_utf8(m).map_err(|_| {
                            Error::invalid(format!("{}: the markups are not UTF-8", c.base))
                        })?),
                        Err(Error::NotFound(_)) => None,
                        Err(e) => return Err(e),
                    };
                Ok((info, bytes, markups))
            }
        }
    }

    pub fn set_status(
        &mut self,
        case: &str,
        annotator: &str,
        to: Status,
        by: Option<&str>,
        note: Option<&str>,
    ) -> Result<CaseRow> {
        Ok(match self {
            Target::Local(p) => {
                let by = match (to, by) {
                    (_, Some(b)) => b.to_string(),
                    (Status::Submitted | Status::Draft, None) => annotator.to_string(),
                    (_, None) => user(),
                };
                p.set_status(case, annotator, to, &by, note)?
            }
            Target::Remote(r) => {
                let c = &r.client;
                if let Some(b) = by {
                    Self::same_user(c, "--by", b)?;
                }
                c.post_json(
                    &format!("{}/status", Client::slot_path(case, annotator)),
                    &serde_json::json!({"to": to.as_str(), "note": note}),
                )?
            }
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn comment(
        &mut self,
        case: &str,
        annotator: &str,
        by: Option<&str>,
        text: &str,
        at: Option<[i64; 3]>,
        label: Option<u8>,
    ) -> Result<String> {
        match self {
            Target::Local(p) => {
                let by = by.map(str::to_string).unwrap_or_else(user);
                p.comment(case, annotator, &by, text, at, label)?;
                Ok(by)
            }
            Target::Remote(r) => {
                let c = &r.client;
                if let Some(b) = by {
                    Self::same_user(c, "--by", b)?;
                }
                let _: serde_json::Value = c.post_json(
                    &format!("{}/comments", Client::slot_path(case, annotator)),
                    &serde_json::json!({"text": text, "at": at, "label": label}),
                )?;
                Ok(c.user.clone().unwrap_or_default())
            }
        }
    }

    /// Adds cases: local paths (a local project), or paths relative to the server's data
    /// root (a server).
    pub fn add_cases(&mut self, paths: &[PathBuf], root: Option<&Path>) -> Result<Vec<CaseRow>> {
        match self {
            Target::Local(p) => p.add_cases(paths, root),
            Target::Remote(r) => {
                let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                r.client
                    .post_json("/api/v1/cases", &serde_json::json!({ "paths": paths }))
            }
        }
    }

    /// Scores of gold-case submissions (of `annotator`, or everyone's).
    pub fn gold_scores(
        &mut self,
        annotator: Option<&str>,
    ) -> Result<Vec<voxmark_project::gold::GoldScore>> {
        match self {
            Target::Local(p) => p.gold_scores(annotator),
            Target::Remote(r) => {
                let all: Vec<voxmark_project::gold::GoldScore> =
                    r.client.get_json("/api/v1/gold-scores")?;
                Ok(all
                    .into_iter()
                    .filter(|g| annotator.is_none_or(|a| g.annotator == a))
                    .collect())
            }
        }
    }

    /// The QA report (computed where the project is): its numbers as JSON when `json`, the
    /// page when `html`.
    pub fn report(
        &mut self,
        opts: &voxmark_project::report::ReportOptions,
        json: bool,
        html: bool,
    ) -> Result<(Option<serde_json::Value>, Option<String>)> {
        match self {
            Target::Local(p) => {
                let rep = p.report(opts, &mut |_, _| {})?;
                let page = html
                    .then(|| voxmark_project::report_html::render_html(&rep))
                    .transpose()?;
                let v = json
                    .then(|| serde_json::to_value(&rep))
                    .transpose()
                    .map_err(|e| Error::Corrupt(e.to_string()))?;
                Ok((v, page))
            }
            Target::Remote(r) => {
                let q = |format: &str| {
                    format!(
                        "/api/v1/report?format={format}&flag_below={}&thumbnails={}&project_arg={}",
                        opts.flag_below,
                        opts.thumbnails,
                        enc(&opts.project_arg)
                    )
                };
                let v = json.then(|| r.client.get_json(&q("json"))).transpose()?;
                let page = match html {
                    true => {
                        let (_, b) = r.client.get_bytes(&q("html"))?;
                        Some(String::from_utf8(b).map_err(|_| {
                            Error::invalid(format!(
                                "{}: the report page is not UTF-8",
                                r.client.base
                            ))
                        })?)
                    }
                    false => None,
                };
                Ok((v, page))
            }
        }
    }

    /// Exports the training set into `out` (see `project export`). Over a server the
    /// server builds it and this fetches what changed (files checked by sha256); files an
    /// earlier export from the server put in `out` and this one no longer has are removed.
    pub fn export(
        &mut self,
        req: &crate::api::ExportRequest,
        out: &Path,
        data_root: Option<&Path>,
        progress: &mut dyn FnMut(usize, usize, &str),
    ) -> Result<voxmark_project::export::ExportSummary> {
        match self {
            Target::Local(p) => {
                let data_root = p.data_root(data_root).ok_or_else(|| {
                    Error::invalid(
                        "the images are needed for the export: give --data-root or VOXMARK_DATA_ROOT",
                    )
                })?;
                let opts = req.options(out, data_root)?;
                p.export(&opts, progress)
            }
            Target::Remote(r) => {
                let res: crate::api::ExportResult = r.client.post_json("/api/v1/export", req)?;
                std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
                let layout = req.layout.name();
                let total = res.files.len();
                for (i, f) in res.files.iter().enumerate() {
                    let dest = out.join(r.client.relative(&f.name)?);
                    let same = std::fs::read(&dest)
                        .ok()
                        .is_some_and(|b| voxmark_volume::fs::sha256_hex(&b) == f.sha256);
                    if !same {
                        if let Some(d) = dest.parent() {
                            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
                        }
                        let path = format!(
                            "/api/v1/export/{layout}/files/{}",
                            f.name.split('/').map(enc).collect::<Vec<_>>().join("/")
                        );
                        r.client.download(&path, &dest, &f.sha256, &mut |_| {})?;
                    }
                    progress(i + 1, total, &f.name);
                }
                // What an earlier fetch wrote and this export lacks (a case no longer done).
                let record = out.join(".voxmark-server-files.json");
                let before: Vec<String> = std::fs::read_to_string(&record)
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or_default();
                let now: Vec<String> = res.files.iter().map(|f| f.name.clone()).collect();
                for gone in before.iter().filter(|n| !now.contains(n)) {
                    let p = out.join(gone);
                    if p.starts_with(out) && p.is_file() {
                        std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
                    }
                }
                let text =
                    serde_json::to_string(&now).map_err(|e| Error::Corrupt(e.to_string()))?;
                voxmark_volume::fs::atomic::write_atomically(&record, |w| {
                    w.write_all(text.as_bytes())
                })?;
                let mut summary = res.summary;
                summary.root = out.join(&res.root);
                summary.manifest = summary.root.join(voxmark_project::export::MANIFEST);
                Ok(summary)
            }
        }
    }

    /// The gold-standard protocol.
    pub fn gold_settings(&mut self) -> Result<voxmark_project::gold::GoldSettings> {
        match self {
            Target::Local(p) => Ok(p.settings.gold.clone()),
            Target::Remote(r) => Ok(r.client.project()?.settings.gold),
        }
    }

    pub fn set_gold_settings(&mut self, g: voxmark_project::gold::GoldSettings) -> Result<()> {
        match self {
            Target::Local(p) => p.set_gold_settings(g),
            Target::Remote(r) => {
                let _: serde_json::Value = r
                    .client
                    .patch_json("/api/v1/settings", &serde_json::json!({ "gold": g }))?;
                Ok(())
            }
        }
    }

    /// Makes `case` gold from `annotator`'s approved version, by `by` (over a server: the
    /// login).
    pub fn gold_from(
        &mut self,
        case: &str,
        annotator: &str,
        by: Option<&str>,
    ) -> Result<voxmark_project::gold::GoldRef> {
        match self {
            Target::Local(p) => {
                p.set_gold_from(case, annotator, &by.map_or_else(user, str::to_string))
            }
            Target::Remote(r) => {
                if let Some(b) = by {
                    Self::same_user(&r.client, "--by", b)?;
                }
                r.client.post_json(
                    &format!("/api/v1/cases/{}/gold", enc(case)),
                    &serde_json::json!({ "from_annotator": annotator }),
                )
            }
        }
    }

    pub fn audit(&mut self, user: Option<&str>, case: Option<&str>) -> Result<Vec<AuditEntry>> {
        Ok(match self {
            Target::Local(p) => p.audit(user, case)?,
            Target::Remote(r) => {
                let q = query(&[("user", user), ("case", case)]);
                r.client.get_json(&format!("/api/v1/audit?{q}"))?
            }
        })
    }
}
