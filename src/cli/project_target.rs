//! Where a `project` command's `P` points: a project database (a folder or a postgresql://
//! URL, opened directly) or a team server (`https://host:port`, after `voxmark login`). The
//! commands call one method per operation and print the same JSON either way; the server
//! decides, from the login, who is asking.

use anyhow::Context;
use voxmark_project::accounts::AuditEntry;
use voxmark_project::db::Location;
use voxmark_project::review_db::Status;
use voxmark_project::{CaseRow, Project, StatusReport, VersionInfo};
use voxmark_server::client::{enc, is_server_url, Client};

/// The local user's name (`$USER`): who acts on a local project when `--by` is not given.
pub fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}

pub enum Target {
    Local(Box<Project>),
    Remote(Client),
}

impl Target {
    pub fn open(p: &str) -> anyhow::Result<Self> {
        if is_server_url(p) {
            Ok(Target::Remote(Client::connect(p)?))
        } else {
            Ok(Target::Local(Box::new(Project::open(&Location::parse(
                p,
            )?)?)))
        }
    }

    /// The project database itself, for commands a server does not offer (yet).
    pub fn local(self, what: &str) -> anyhow::Result<Project> {
        match self {
            Target::Local(p) => Ok(*p),
            Target::Remote(c) => anyhow::bail!(
                "`voxmark project {what}` does not run over a team server ({}); run it where the project database is (its folder or postgresql:// URL)",
                c.base
            ),
        }
    }

    /// Over a server, the acting identity is the login's: a different `--annotator`/`--by`
    /// is refused here rather than silently replaced.
    fn same_user(c: &Client, flag: &str, given: &str) -> anyhow::Result<()> {
        let me = c.user.as_deref().unwrap_or_default();
        if given != me {
            anyhow::bail!(
                "{flag} {given}: you are logged in to {} as {me}; the server acts as the logged-in user",
                c.base
            );
        }
        Ok(())
    }

    pub fn status(&mut self) -> anyhow::Result<StatusReport> {
        Ok(match self {
            Target::Local(p) => p.status()?,
            Target::Remote(c) => c.get_json("/api/v1/status")?,
        })
    }

    pub fn cases(
        &mut self,
        status: Option<&str>,
        annotator: Option<&str>,
    ) -> anyhow::Result<Vec<CaseRow>> {
        Ok(match self {
            Target::Local(p) => p.cases(status, annotator)?,
            Target::Remote(c) => {
                let mut q = Vec::new();
                if let Some(s) = status {
                    q.push(format!("status={}", enc(s)));
                }
                if let Some(a) = annotator {
                    q.push(format!("annotator={}", enc(a)));
                }
                c.get_json(&format!("/api/v1/cases?{}", q.join("&")))?
            }
        })
    }

    pub fn next(&mut self, annotator: &str) -> anyhow::Result<Option<CaseRow>> {
        Ok(match self {
            Target::Local(p) => p.next(annotator)?,
            Target::Remote(c) => {
                Self::same_user(c, "--annotator", annotator)?;
                c.post_json("/api/v1/next", &serde_json::json!({}))?
            }
        })
    }

    pub fn assign(
        &mut self,
        annotator: &str,
        cases: &[String],
        count: Option<usize>,
    ) -> anyhow::Result<Vec<CaseRow>> {
        Ok(match self {
            Target::Local(p) => match count {
                Some(n) => p.assign_count(annotator, n)?,
                None => p.assign(annotator, cases)?,
            },
            Target::Remote(c) => c.post_json(
                "/api/v1/assign",
                &serde_json::json!({"annotator": annotator, "cases": cases, "count": count}),
            )?,
        })
    }

    pub fn versions(&mut self, case: &str, annotator: &str) -> anyhow::Result<Vec<VersionInfo>> {
        Ok(match self {
            Target::Local(p) => p.versions(case, annotator)?,
            Target::Remote(c) => {
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
    ) -> anyhow::Result<(VersionInfo, Vec<u8>, Option<String>)> {
        match self {
            Target::Local(p) => {
                let (info, bytes) = p.get_version(case, annotator, version)?;
                let markups = p.version_markups(case, annotator, Some(info.version))?;
                Ok((info, bytes, markups))
            }
            Target::Remote(c) => {
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
                    version: header("x-voxmark-version")
                        .parse()
                        .context("the server's answer has no version")?,
                    round: header("x-voxmark-round").parse().unwrap_or(0),
                    sha256: header("x-voxmark-sha256"),
                    bytes: bytes.len() as i64,
                    author: header("x-voxmark-author"),
                    saved_at: header("x-voxmark-saved-at"),
                };
                if voxmark_volume::fs::sha256_hex(&bytes) != info.sha256 {
                    anyhow::bail!(
                        "{}: the mask arrived damaged (its sha256 differs); try again",
                        c.base
                    );
                }
                let markups =
                    match c.get_bytes(&format!("{slot}/versions/{}/markups", info.version)) {
                        Ok((_, m)) => Some(String::from_utf8(m).context("markups are not UTF-8")?),
                        Err(voxmark_volume::Error::NotFound(_)) => None,
                        Err(e) => return Err(e.into()),
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
    ) -> anyhow::Result<CaseRow> {
        Ok(match self {
            Target::Local(p) => {
                let by = match (to, by) {
                    (_, Some(b)) => b.to_string(),
                    (Status::Submitted | Status::Draft, None) => annotator.to_string(),
                    (_, None) => user(),
                };
                p.set_status(case, annotator, to, &by, note)?
            }
            Target::Remote(c) => {
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
    ) -> anyhow::Result<String> {
        match self {
            Target::Local(p) => {
                let by = by.map(str::to_string).unwrap_or_else(user);
                p.comment(case, annotator, &by, text, at, label)?;
                Ok(by)
            }
            Target::Remote(c) => {
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

    pub fn audit(
        &mut self,
        user: Option<&str>,
        case: Option<&str>,
    ) -> anyhow::Result<Vec<AuditEntry>> {
        Ok(match self {
            Target::Local(p) => p.audit(user, case)?,
            Target::Remote(c) => {
                let mut q = Vec::new();
                if let Some(u) = user {
                    q.push(format!("user={}", enc(u)));
                }
                if let Some(k) = case {
                    q.push(format!("case={}", enc(k)));
                }
                c.get_json(&format!("/api/v1/audit?{}", q.join("&")))?
            }
        })
    }
}
