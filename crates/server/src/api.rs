//! The `/api/v1` handlers and the OpenAPI document generated from them (utoipa).
//!
//! Each handler: authenticate ([`Authed`]), check the role table ([`policy::require`]),
//! load what the object rules need (the case's slots), check them, do the work on a pooled
//! connection, audit. Errors are JSON `{"error": "..."}` with a 4xx that names the problem;
//! server-side failures are 500 with a generic message (details go to the server's log, not
//! to the client: they can hold paths of the server's disk).

use crate::auth;
use crate::files::{self, ImageListing};
use crate::listen::Remote;
use crate::policy::{self, Action};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Multipart, Path, Query, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use utoipa::OpenApi;
use voxmark_project::accounts::{unix_now, AuditEntry, Role, TokenState, UserInfo};
use voxmark_project::review_db::Status;
use voxmark_project::{image_path, CaseRow, ProjectComment, StatusReport, VersionInfo};
use voxmark_volume::error::Error;
use voxmark_volume::fs::clock::now_rfc3339;

type St = State<Arc<AppState>>;

/// Largest JSON request body.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// Largest markups file sent with a mask.
pub const MAX_MARKUPS_BYTES: usize = 16 * 1024 * 1024;
/// Largest body of any request (a mask's own bound, from its case's grid, is checked while
/// it streams in).
pub const MAX_UPLOAD_BYTES: usize = 4 << 30;
/// Most of an oversized upload read (and dropped) after refusing it, so that the client
/// reads the 413; past this the connection is closed.
pub const MAX_DRAIN_BYTES: usize = 64 << 20;
/// A request must be answered within this (a 4 GiB upload at 20 MB/s fits).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// An error answer: a status and a message, as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
    fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, m)
    }
    fn bad(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, m)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::NotFound(_) | Error::SeriesNotFound { .. } => StatusCode::NOT_FOUND,
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::Conflict(_) | Error::Locked { .. } => StatusCode::CONFLICT,
            Error::Format { .. }
            | Error::Truncated { .. }
            | Error::Unsupported { .. }
            | Error::Mismatch(_)
            | Error::Series { .. }
            | Error::SeriesChoice { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            eprintln!("voxmark serve: internal error: {e}");
            return Self::new(
                status,
                "the server failed to do this (its log says why); try again later",
            );
        }
        Self::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// An authenticated request's user.
#[derive(Debug, Clone)]
pub struct Authed {
    pub user: UserInfo,
    pub token_sha256: String,
    pub remote: String,
}

fn remote_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<Remote>()
        .map(|r| r.0.ip().to_string())
        .unwrap_or_else(|| "-".into())
}

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Self> {
        let remote = remote_of(parts);
        let Some(h) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "no Authorization header: log in (`voxmark login URL --user NAME`) and send `Authorization: Bearer TOKEN`",
            ));
        };
        let token = h
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "the Authorization header is not `Bearer TOKEN`",
                )
            })?;
        let sha = auth::token_sha256(token);
        let now = unix_now();
        let s2 = sha.clone();
        let state_of = state.pool.run(move |p| p.token_state(&s2, now)).await?;
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
        match state_of {
            TokenState::Valid(user) => Ok(Authed {
                user,
                token_sha256: sha,
                remote,
            }),
            TokenState::Expired => Err(unauthorized(
                "the token has expired: log in again (`voxmark login`)",
            )),
            TokenState::Revoked => Err(unauthorized(
                "the token was revoked: log in again (`voxmark login`)",
            )),
            TokenState::UserDisabled(n) => Err(unauthorized(&format!(
                "account {n} is disabled; ask the project's admin"
            ))),
            TokenState::Unknown => Err(unauthorized("unknown token: log in (`voxmark login`)")),
        }
    }
}

/// What the audit records of one request.
struct Audit<'a> {
    action: &'a str,
    case: Option<&'a str>,
    annotator: Option<&'a str>,
    version: Option<i64>,
}

impl<'a> Audit<'a> {
    fn new(action: &'a str) -> Self {
        Self {
            action,
            case: None,
            annotator: None,
            version: None,
        }
    }
    fn case(mut self, c: &'a str) -> Self {
        self.case = Some(c);
        self
    }
    fn slot(mut self, c: &'a str, a: &'a str) -> Self {
        self.case = Some(c);
        self.annotator = Some(a);
        self
    }
}

/// Appends the outcome of a request to the audit log, then returns it. A request whose
/// audit record cannot be written fails (500): nothing happens unrecorded — except that a
/// change already committed stays committed, and the log says so.
async fn audited<T>(
    state: &Arc<AppState>,
    who: &Authed,
    a: Audit<'_>,
    version_of: impl Fn(&T) -> Option<i64>,
    detail: &str,
    r: ApiResult<T>,
) -> ApiResult<T> {
    let (outcome, detail) = match &r {
        Ok(_) => (200, detail.to_string()),
        Err(e) => (e.status.as_u16() as i64, e.message.clone()),
    };
    let version = a.version.or_else(|| r.as_ref().ok().and_then(&version_of));
    let entry = AuditEntry {
        at: now_rfc3339(),
        user: who.user.name.clone(),
        role: who.user.role.as_str().into(),
        remote: who.remote.clone(),
        action: a.action.into(),
        case: a.case.map(str::to_string),
        annotator: a.annotator.map(str::to_string),
        version,
        outcome,
        detail: detail.chars().take(500).collect(),
    };
    let logged = state.pool.run(move |p| p.append_audit(&entry)).await;
    if let Err(e) = logged {
        eprintln!(
            "voxmark serve: AUDIT FAILED for {} {} by {} ({e}); outcome {outcome}",
            a.action,
            a.case.unwrap_or("-"),
            who.user.name
        );
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the audit log could not be written; the request's outcome is unknown — check before retrying",
        ));
    }
    r
}

fn no_version<T>(_: &T) -> Option<i64> {
    None
}

/// A JSON body: content type `application/json`, at most [`MAX_JSON_BYTES`], well formed.
fn json_body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> ApiResult<T> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the body must be application/json (got {:?})",
                ct.chars().take(80).collect::<String>()
            ),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad(format!("the JSON body is not valid: {e}")))
}

fn require(who: &Authed, action: Action, what: &str) -> ApiResult<()> {
    policy::require(who.user.role, action, what).map_err(ApiError::forbidden)
}

/// Case ids and account names in paths: what the project accepts, nothing that could be a
/// path or a query.
fn check_key(what: &str, v: &str) -> ApiResult<()> {
    if v.is_empty()
        || v.len() > 200
        || v.chars().any(|c| c.is_control() || c == '/' || c == '\\')
        || v == "."
        || v == ".."
    {
        return Err(ApiError::bad(format!(
            "{what} {:?} is not a valid name",
            v.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

/// The slot (`case`, `annotator`) and every slot of its case; 404 when the case or slot is
/// missing.
async fn slot_and_case(
    state: &Arc<AppState>,
    case: &str,
    annotator: &str,
) -> ApiResult<(CaseRow, Vec<CaseRow>, bool, i64)> {
    let (c, a) = (case.to_string(), annotator.to_string());
    let (slots, blind, per_case) = state
        .pool
        .run(move |p| {
            Ok((
                p.case_slots(&c)?,
                p.settings.blind,
                p.settings.annotators_per_case,
            ))
        })
        .await?;
    let slot = slots
        .iter()
        .find(|s| s.annotator.as_deref() == Some(&a))
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("case {case} has no slot of {annotator}"),
            )
        })?;
    Ok((slot, slots, blind, per_case))
}

/// The role check, then the slot's object rule for reading.
async fn readable_slot(
    state: &Arc<AppState>,
    who: &Authed,
    case: &str,
    annotator: &str,
) -> ApiResult<CaseRow> {
    check_key("case", case)?;
    check_key("annotator", annotator)?;
    require(who, Action::ReadSlot, "read annotations")?;
    // An annotator asking for someone else's slot is refused before anything is looked up,
    // so that the answer does not tell whether it exists.
    if who.user.role == Role::Annotator && annotator != who.user.name {
        return Err(ApiError::forbidden(
            "an annotator reads only their own slots",
        ));
    }
    let (slot, slots, blind, per_case) = slot_and_case(state, case, annotator).await?;
    policy::may_read_slot(
        &who.user.name,
        who.user.role,
        &slot,
        &slots,
        blind,
        per_case,
    )
    .map_err(ApiError::forbidden)?;
    Ok(slot)
}

// ---------------------------------------------------------------------------------------
// Login

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
    /// Shown in token lists (e.g. the client's host name).
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub user: String,
    pub role: Role,
    /// Unix seconds.
    pub expires_unix: i64,
}

/// Exchanges a name and password for a bearer token.
#[utoipa::path(post, path = "/api/v1/login", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(state): St,
    headers: HeaderMap,
    parts: RemoteAddr,
    body: Bytes,
) -> ApiResult<Json<LoginResponse>> {
    let req: LoginRequest = json_body(&headers, &body)?;
    let remote = parts.0;
    if req.password.len() > 1024 || req.user.len() > 200 {
        return Err(ApiError::bad("user name or password too long"));
    }
    let now = unix_now();
    let (name, r2) = (req.user.clone(), remote.clone());
    let (by_user, by_remote, latest) = state
        .pool
        .run(move |p| p.login_failures(&name, &r2, now - auth::FAILURE_WINDOW_S))
        .await?;
    let wait = auth::retry_after(by_user, by_remote, latest, now);
    if wait > 0 {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins: try again in {wait} s"),
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    let name = req.user.clone();
    let creds = state.pool.run(move |p| p.user_credentials(&name)).await?;
    let password = req.password.clone();
    let (user, ok) = tokio::task::spawn_blocking(move || match creds {
        Some((u, hash)) => {
            let ok = auth::verify_password(&hash, &password);
            (Some(u), ok)
        }
        None => {
            auth::verify_password(auth::decoy_hash(), &password);
            (None, false)
        }
    })
    .await
    .map_err(|e| ApiError::from(Error::Worker(e.to_string())))?;
    let user = match (user, ok) {
        (Some(u), true) if !u.disabled => u,
        (Some(u), true) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!("account {} is disabled; ask the project's admin", u.name),
            ))
        }
        _ => {
            let (name, r2) = (req.user.clone(), remote.clone());
            state
                .pool
                .run(move |p| p.add_login_failure(&name, &r2, now))
                .await?;
            let entry = AuditEntry {
                at: now_rfc3339(),
                // Only a well-formed name is written: a login name is attacker-chosen, and
                // the audit is printed on an admin's terminal.
                user: if voxmark_project::accounts::check_user_name(&req.user).is_ok() {
                    req.user.clone()
                } else {
                    "(not an account name)".into()
                },
                role: "-".into(),
                remote: remote.clone(),
                action: "login".into(),
                case: None,
                annotator: None,
                version: None,
                outcome: 401,
                detail: "wrong user name or password".into(),
            };
            state.pool.run(move |p| p.append_audit(&entry)).await?;
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "wrong user name or password",
            ));
        }
    };
    let token = auth::new_token()?;
    let sha = auth::token_sha256(&token);
    let expires = now + state.session_s;
    let label = format!(
        "login from {remote}{}",
        req.label
            .as_deref()
            .map(|l| format!(" ({})", l.chars().take(60).collect::<String>()))
            .unwrap_or_default()
    );
    let name = user.name.clone();
    state
        .pool
        .run(move |p| {
            p.clear_login_failures(&name)?;
            p.add_token(&name, &sha, &label, expires)
        })
        .await?;
    let who = Authed {
        user: user.clone(),
        token_sha256: String::new(),
        remote,
    };
    let r = Ok(Json(LoginResponse {
        token,
        user: user.name.clone(),
        role: user.role,
        expires_unix: expires,
    }));
    audited(&state, &who, Audit::new("login"), no_version, "", r).await
}

/// The client's address (an extractor).
pub struct RemoteAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RemoteAddr {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        Ok(RemoteAddr(remote_of(parts)))
    }
}

/// Revokes the token this request carries.
#[utoipa::path(post, path = "/api/v1/logout", security(("bearer" = [])),
    responses((status = 200, body = Done), (status = 401, body = ErrorBody)))]
async fn logout(State(state): St, who: Authed) -> ApiResult<Json<Done>> {
    let sha = who.token_sha256.clone();
    let r = state.pool.run(move |p| p.revoke_token_hash(&sha)).await;
    let r = r
        .map(|_| {
            Json(Done {
                done: "logged out".into(),
            })
        })
        .map_err(ApiError::from);
    audited(&state, &who, Audit::new("logout"), no_version, "", r).await
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Done {
    pub done: String,
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/me", security(("bearer" = [])), responses((status = 200, body = UserInfo)))]
async fn me(who: Authed) -> Json<UserInfo> {
    Json(who.user)
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProjectInfo {
    pub name: String,
    pub schema: voxmark_project::schema::LabelSchema,
    pub settings: voxmark_project::Settings,
}

/// The project's name, label schema and settings.
#[utoipa::path(get, path = "/api/v1/project", security(("bearer" = [])), responses((status = 200, body = ProjectInfo)))]
async fn project(State(state): St, who: Authed) -> ApiResult<Json<ProjectInfo>> {
    require(&who, Action::Basic, "read the project")?;
    let info = state
        .pool
        .run(|p| {
            Ok(ProjectInfo {
                name: p.name.clone(),
                schema: p.schema.clone(),
                settings: p.settings.clone(),
            })
        })
        .await?;
    Ok(Json(info))
}

/// Counts by status, annotator and round (as `voxmark project status --json`).
#[utoipa::path(get, path = "/api/v1/status", security(("bearer" = [])), responses((status = 200, body = StatusReport)))]
async fn status(State(state): St, who: Authed) -> ApiResult<Json<StatusReport>> {
    require(&who, Action::Basic, "read the status")?;
    Ok(Json(state.pool.run(|p| p.status()).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct CasesQuery {
    pub status: Option<String>,
    pub annotator: Option<String>,
}

/// Case slots (as `voxmark project cases --json`), those the caller may see: an annotator
/// their own, a reviewer submitted work, a viewer approved work, admin and lead all.
#[utoipa::path(get, path = "/api/v1/cases", params(CasesQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<CaseRow>)))]
async fn cases(
    State(state): St,
    who: Authed,
    Query(q): Query<CasesQuery>,
) -> ApiResult<Json<Vec<CaseRow>>> {
    require(&who, Action::Basic, "list cases")?;
    let rows = state
        .pool
        .run(move |p| p.cases(q.status.as_deref(), q.annotator.as_deref()))
        .await?;
    Ok(Json(
        rows.into_iter()
            .filter(|r| policy::visible_in_listing(&who.user.name, who.user.role, r))
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AddCasesRequest {
    /// Images relative to the server's data root (NIfTI files, DICOM folders, CSV lists).
    pub paths: Vec<String>,
}

/// Adds cases from images under the server's data root.
#[utoipa::path(post, path = "/api/v1/cases", request_body = AddCasesRequest, security(("bearer" = [])),
    responses((status = 200, body = Vec<CaseRow>), (status = 403, body = ErrorBody)))]
async fn add_cases(
    State(state): St,
    who: Authed,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Vec<CaseRow>>> {
    require(&who, Action::AddCases, "add cases")?;
    let r = async {
        let req: AddCasesRequest = json_body(&headers, &body)?;
        let root = state.data_root.clone().ok_or_else(|| {
            ApiError::bad("the server has no data root (start it with --data-root)")
        })?;
        let mut paths = Vec::new();
        for p in &req.paths {
            let rel = std::path::Path::new(p);
            if p.is_empty()
                || rel.is_absolute()
                || rel
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(ApiError::bad(format!(
                    "{:?}: give paths relative to the data root, without `..`",
                    p.chars().take(200).collect::<String>()
                )));
            }
            paths.push(root.join(rel));
        }
        Ok(Json(
            state
                .pool
                .run(move |p| p.add_cases(&paths, Some(&root)))
                .await?,
        ))
    }
    .await;
    let detail = match &r {
        Ok(rows) => format!("{} case(s) added", rows.len()),
        Err(_) => String::new(),
    };
    audited(
        &state,
        &who,
        Audit::new("add-cases"),
        no_version,
        &detail,
        r,
    )
    .await
}

/// Claims the caller's next case (their changes-requested work first, then assigned drafts,
/// then a new case); `null` when none is left.
#[utoipa::path(post, path = "/api/v1/next", security(("bearer" = [])),
    responses((status = 200, body = Option<CaseRow>), (status = 403, body = ErrorBody)))]
async fn next(State(state): St, who: Authed) -> ApiResult<Json<Option<CaseRow>>> {
    require(&who, Action::Claim, "claim cases")?;
    let name = who.user.name.clone();
    let r = state
        .pool
        .run(move |p| p.next(&name))
        .await
        .map_err(ApiError::from);
    let case = r
        .as_ref()
        .ok()
        .and_then(|c| c.as_ref().map(|c| c.case.clone()));
    let mut a = Audit::new("next");
    a.case = case.as_deref();
    a.annotator = case.as_ref().map(|_| who.user.name.as_str());
    audited(&state, &who, a, no_version, "", r.map(Json)).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AssignRequest {
    pub annotator: String,
    #[serde(default)]
    pub cases: Vec<String>,
    pub count: Option<usize>,
}

/// Assigns named cases, or the next `count` unclaimed ones, to an annotator.
#[utoipa::path(post, path = "/api/v1/assign", request_body = AssignRequest, security(("bearer" = [])),
    responses((status = 200, body = Vec<CaseRow>), (status = 403, body = ErrorBody)))]
async fn assign(
    State(state): St,
    who: Authed,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Vec<CaseRow>>> {
    require(&who, Action::Assign, "assign cases")?;
    let r = async {
        let req: AssignRequest = json_body(&headers, &body)?;
        check_key("annotator", &req.annotator)?;
        let name = req.annotator.clone();
        let target = state.pool.run(move |p| p.user(&name)).await?;
        match target {
            Some(u) if matches!(u.role, Role::Annotator | Role::Admin) && !u.disabled => {}
            Some(u) => {
                return Err(ApiError::bad(format!(
                    "{} is a {}{}: only annotators (and admins) annotate",
                    u.name,
                    u.role.as_str(),
                    if u.disabled { ", disabled" } else { "" }
                )))
            }
            None => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("no account {}", req.annotator),
                ))
            }
        }
        let rows = state
            .pool
            .run(move |p| match req.count {
                Some(n) => p.assign_count(&req.annotator, n.min(100_000)),
                None => p.assign(&req.annotator, &req.cases),
            })
            .await?;
        Ok(Json(rows))
    }
    .await;
    audited(&state, &who, Audit::new("assign"), no_version, "", r).await
}

// ---------------------------------------------------------------------------------------
// Images

/// The role and object checks for reading `case`'s image, then its file listing (and the
/// files' paths on this server), for the listing and the file endpoints alike.
async fn readable_listing(
    state: &Arc<AppState>,
    who: &Authed,
    case: &str,
) -> ApiResult<(ImageListing, Vec<PathBuf>)> {
    check_key("case", case)?;
    require(who, Action::ReadImage, "read images")?;
    let c = case.to_string();
    let found = state
        .pool
        .run(move |p| Ok((p.case_slots(&c)?, p.case_image(&c)?)))
        .await;
    let (slots, (image, series_uid)) = match found {
        Ok(v) => v,
        // To those who may read only some cases, a missing case looks like one of the others.
        Err(Error::NotFound(_)) if matches!(who.user.role, Role::Annotator | Role::Viewer) => {
            let empty: [CaseRow; 0] = [];
            let refusal = policy::may_read_image(&who.user.name, who.user.role, &empty)
                .err()
                .unwrap_or_default();
            return Err(ApiError::forbidden(refusal));
        }
        Err(e) => return Err(e.into()),
    };
    policy::may_read_image(&who.user.name, who.user.role, &slots).map_err(ApiError::forbidden)?;
    let root = state.data_root.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server has no data root (start it with --data-root)",
        )
    })?;
    let (st, case) = (Arc::clone(state), case.to_string());
    let path = image_path(&root, &image);
    tokio::task::spawn_blocking(move || st.files.listing(&case, &path, &series_uid))
        .await
        .map_err(|e| ApiError::from(Error::Worker(e.to_string())))?
        .map_err(ApiError::from)
}

/// The files that make up a case's image, with sizes and sha256.
#[utoipa::path(get, path = "/api/v1/cases/{case}/image", security(("bearer" = [])),
    params(("case" = String, Path)), responses((status = 200, body = ImageListing), (status = 403, body = ErrorBody)))]
async fn image_listing(
    State(state): St,
    who: Authed,
    Path(case): Path<String>,
) -> ApiResult<Json<ImageListing>> {
    let r = async { Ok(Json(readable_listing(&state, &who, &case).await?.0)) }.await;
    audited(
        &state,
        &who,
        Audit::new("read-image").case(&case),
        no_version,
        "",
        r,
    )
    .await
}

/// One file of a case's image, by its listed name: ETag (its sha256), `If-None-Match`,
/// single byte ranges.
#[utoipa::path(get, path = "/api/v1/cases/{case}/image/{name}", security(("bearer" = [])),
    params(("case" = String, Path), ("name" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream"), (status = 206), (status = 304), (status = 416)))]
async fn image_file(
    State(state): St,
    who: Authed,
    Path((case, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (listing, paths) = readable_listing(&state, &who, &case).await?;
    let Some(i) = listing.files.iter().position(|f| f.name == name) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "case {case}'s image has no file {:?}",
                name.chars().take(200).collect::<String>()
            ),
        ));
    };
    let (file, path) = (&listing.files[i], &paths[i]);
    let etag = format!("\"{}\"", file.sha256);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let len = file.bytes;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(v) => Some(parse_range(v, len).ok_or_else(|| {
            let mut e = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("range {v:?} is not within 0..{len}"),
            );
            e.retry_after = None;
            e
        })?),
    };
    let (start, end) = range.unwrap_or((0, len.saturating_sub(1)));
    let count = if len == 0 { 0 } else { end - start + 1 };
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut f = tokio::fs::File::open(path)
        .await
        .map_err(|e| ApiError::from(Error::io(path, e)))?;
    f.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(|e| ApiError::from(Error::io(path, e)))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        f.take(count),
        256 * 1024,
    ));
    let mut resp = Response::builder()
        .status(if range.is_some() {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        })
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, count)
        .header(header::ETAG, etag)
        .header(header::ACCEPT_RANGES, "bytes");
    if range.is_some() {
        resp = resp.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"));
    }
    resp.body(body)
        .map_err(|e| ApiError::from(Error::Worker(e.to_string())))
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` (one range) within a file of `len` bytes.
fn parse_range(v: &str, len: u64) -> Option<(u64, u64)> {
    let spec = v.strip_prefix("bytes=")?.trim();
    if spec.contains(',') || len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return None;
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let s: u64 = a.parse().ok()?;
        let e: u64 = if b.is_empty() {
            len - 1
        } else {
            b.parse::<u64>().ok()?.min(len - 1)
        };
        (s, e)
    };
    (start <= end && start < len).then_some((start, end))
}

// ---------------------------------------------------------------------------------------
// Slots: versions, masks, status, comments

/// Every stored version of a slot (without masks).
#[utoipa::path(get, path = "/api/v1/cases/{case}/slots/{annotator}/versions", security(("bearer" = [])),
    params(("case" = String, Path), ("annotator" = String, Path)),
    responses((status = 200, body = Vec<VersionInfo>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn versions(
    State(state): St,
    who: Authed,
    Path((case, annotator)): Path<(String, String)>,
) -> ApiResult<Json<Vec<VersionInfo>>> {
    readable_slot(&state, &who, &case, &annotator).await?;
    let (c, a) = (case.clone(), annotator.clone());
    Ok(Json(state.pool.run(move |p| p.versions(&c, &a)).await?))
}

fn parse_version(v: &str) -> ApiResult<Option<i64>> {
    if v == "latest" {
        return Ok(None);
    }
    v.parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad(format!(
                "version {:?}: give a number from 1, or `latest`",
                v.chars().take(40).collect::<String>()
            ))
        })
}

/// A mask version's NIfTI bytes, bit for bit (ETag: its sha256; the record in
/// `X-Voxmark-Version`, `-Author`, `-Saved-At`, `-Sha256`).
#[utoipa::path(get, path = "/api/v1/cases/{case}/slots/{annotator}/versions/{version}", security(("bearer" = [])),
    params(("case" = String, Path), ("annotator" = String, Path), ("version" = String, Path, description = "a number, or `latest`")),
    responses((status = 200, content_type = "application/octet-stream"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_mask(
    State(state): St,
    who: Authed,
    Path((case, annotator, version)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let r = async {
        readable_slot(&state, &who, &case, &annotator).await?;
        let v = parse_version(&version)?;
        let (c, a) = (case.clone(), annotator.clone());
        Ok(state.pool.run(move |p| p.get_version(&c, &a, v)).await?)
    }
    .await;
    let r = audited(
        &state,
        &who,
        Audit::new("read-mask").slot(&case, &annotator),
        |(i, _): &(VersionInfo, Vec<u8>)| Some(i.version),
        "",
        r,
    )
    .await?;
    let (info, bytes) = r;
    let mut h = HeaderMap::new();
    let put = |h: &mut HeaderMap, k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    put(&mut h, "x-voxmark-version", info.version.to_string());
    put(&mut h, "x-voxmark-round", info.round.to_string());
    put(&mut h, "x-voxmark-author", info.author.clone());
    put(&mut h, "x-voxmark-saved-at", info.saved_at.clone());
    put(&mut h, "x-voxmark-sha256", info.sha256.clone());
    put(&mut h, "etag", format!("\"{}\"", info.sha256));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok((h, bytes).into_response())
}

/// The markups (`.mrk.json`) saved with a version; 404 when it has none.
#[utoipa::path(get, path = "/api/v1/cases/{case}/slots/{annotator}/versions/{version}/markups", security(("bearer" = [])),
    params(("case" = String, Path), ("annotator" = String, Path), ("version" = String, Path)),
    responses((status = 200, content_type = "application/json"), (status = 404, body = ErrorBody)))]
async fn get_markups(
    State(state): St,
    who: Authed,
    Path((case, annotator, version)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let r = async {
        readable_slot(&state, &who, &case, &annotator).await?;
        let v = parse_version(&version)?;
        let (c, a) = (case.clone(), annotator.clone());
        state
            .pool
            .run(move |p| p.version_markups(&c, &a, v))
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("case {case} by {annotator}: no markups with that version"),
                )
            })
    }
    .await;
    let text = audited(
        &state,
        &who,
        Audit::new("read-markups").slot(&case, &annotator),
        no_version,
        "",
        r,
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct SaveQuery {
    /// The version the edit started from (0: none); a newer one makes this a 409.
    pub base_version: Option<i64>,
}

/// Stores a mask (multipart/form-data: part `mask`, a NIfTI label map on the case's grid;
/// optional part `markups`, a `.mrk.json`) as the slot's next version. Only the slot's
/// annotator saves; the body is bounded by the case's grid; a stale `base_version` is a 409
/// naming who saved the newer version and when. Nothing is stored unless the whole body
/// arrived and checked out.
#[utoipa::path(post, path = "/api/v1/cases/{case}/slots/{annotator}/versions", security(("bearer" = [])),
    params(("case" = String, Path), ("annotator" = String, Path), SaveQuery),
    request_body(content_type = "multipart/form-data"),
    responses((status = 200, body = VersionInfo), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn save(
    State(state): St,
    who: Authed,
    Path((case, annotator)): Path<(String, String)>,
    Query(q): Query<SaveQuery>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Json<VersionInfo>> {
    let r = save_inner(&state, &who, &case, &annotator, q, &headers, multipart).await;
    audited(
        &state,
        &who,
        Audit::new("save").slot(&case, &annotator),
        |v: &Json<VersionInfo>| Some(v.version),
        "",
        r,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn save_inner(
    state: &Arc<AppState>,
    who: &Authed,
    case: &str,
    annotator: &str,
    q: SaveQuery,
    headers: &HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Json<VersionInfo>> {
    check_key("case", case)?;
    check_key("annotator", annotator)?;
    require(who, Action::WriteSlot, "save masks")?;
    policy::may_write_slot(&who.user.name, annotator).map_err(ApiError::forbidden)?;
    let (slot, _, _, _) = slot_and_case(state, case, annotator).await?;
    let root = state.data_root.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server has no data root (start it with --data-root)",
        )
    })?;
    let img = image_path(&root, &slot.image);
    let st = Arc::clone(state);
    let series = slot.series_uid.clone();
    let grid = tokio::task::spawn_blocking(move || st.files.grid(&img, &series))
        .await
        .map_err(|e| ApiError::from(Error::Worker(e.to_string())))??;
    let limit = files::mask_upload_limit(&grid);
    // Memory: the upload holds its size of the server's upload budget while it is read and
    // stored (its declared length, else its case's bound), so that many large uploads at
    // once wait instead of exhausting memory.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // An oversized body is refused while it streams in (below), after the client has been
    // heard: a 413 before reading would reach the client as a broken connection.
    let bound = limit + MAX_MARKUPS_BYTES as u64 + 64 * 1024;
    let mib = declared
        .unwrap_or(bound)
        .min(bound)
        .div_ceil(1 << 20)
        .max(1);
    if mib > state.upload_budget_mib as u64 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the upload needs {mib} MiB, more than this server holds for uploads at once ({} MiB, --upload-memory-mib)",
                state.upload_budget_mib
            ),
        ));
    }
    let _budget = state
        .upload_budget
        .acquire_many(mib as u32)
        .await
        .map_err(|_| ApiError::from(Error::Worker("the server is shutting down".into())))?;
    let mut multipart = multipart.map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("the body must be multipart/form-data with a part `mask`: {e}"),
        )
    })?;
    let (mut mask, mut markups): (Option<Vec<u8>>, Option<String>) = (None, None);
    while let Some(mut field) = multipart.next_field().await.map_err(|e| {
        ApiError::bad(format!(
            "the multipart body is malformed or ended early: {e}"
        ))
    })? {
        let name = field.name().unwrap_or("").to_string();
        let bound = match name.as_str() {
            "mask" => limit,
            "markups" => MAX_MARKUPS_BYTES as u64,
            other => {
                return Err(ApiError::bad(format!(
                    "unknown part {:?} (parts: mask, markups)",
                    other.chars().take(40).collect::<String>()
                )))
            }
        };
        let mut buf = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| ApiError::bad(format!("the upload ended early or is malformed: {e}")))?
        {
            if (buf.len() + chunk.len()) as u64 > bound {
                // Read (and drop) what the client is still sending, up to a cap, so that it
                // hears the 413 rather than a connection closed under its upload.
                let mut drained = 0usize;
                while drained < MAX_DRAIN_BYTES {
                    match field.chunk().await {
                        Ok(Some(c)) => drained += c.len(),
                        _ => break,
                    }
                }
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("part {name} is larger than case {case} allows ({bound} bytes for its {:?} grid)", grid.dims),
                ));
            }
            buf.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "mask" => mask = Some(buf),
            _ => {
                markups = Some(
                    String::from_utf8(buf)
                        .map_err(|_| ApiError::bad("the markups are not UTF-8 text"))?,
                )
            }
        }
    }
    let mask = mask.ok_or_else(|| ApiError::bad("no part `mask` in the upload"))?;
    if let Some(m) = &markups {
        serde_json::from_str::<serde_json::Value>(m)
            .map_err(|e| ApiError::bad(format!("the markups are not JSON: {e}")))?;
    }
    let (c, a, base) = (case.to_string(), annotator.to_string(), q.base_version);
    let info = state
        .pool
        .run(move |p| {
            // Decode on the case's grid, check against the schema, then store.
            let labels = decode_mask(&mask, &grid, &c)?;
            p.check_mask(
                &labels,
                std::path::Path::new(&format!("the uploaded mask of case {c}")),
            )?;
            p.save_version(&c, &a, &mask, markups.as_deref(), base, &a)
        })
        .await?;
    Ok(Json(info))
}

/// The labels of an uploaded NIfTI mask on `grid` (refused when it is not NIfTI or not on
/// the grid).
fn decode_mask(
    bytes: &[u8],
    grid: &voxmark_volume::grid::Grid,
    case: &str,
) -> voxmark_volume::error::Result<Vec<u8>> {
    use std::io::Write;
    let what = std::path::PathBuf::from(format!("the uploaded mask of case {case}"));
    let is_nifti = bytes.starts_with(&[0x1f, 0x8b])
        || (bytes.len() >= 4
            && matches!(
                i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
                348 | 540 | 0x5c01_0000 | 0x1c02_0000
            ));
    if !is_nifti {
        return Err(Error::format(
            &what,
            "not a NIfTI file (the client converts other formats before upload)",
        ));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".voxmark-upload-")
        .suffix(".nii.gz")
        .tempfile()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    let m = voxmark_io::label_file::read_label_map(tmp.path(), grid).map_err(|e| {
        let m = e.to_string();
        let tmp_name = format!("{}: ", tmp.path().display());
        Error::format(
            &what,
            m.replace(&tmp_name, "")
                .replace(&tmp.path().display().to_string(), "it"),
        )
    })?;
    if m.moved {
        // The bytes are stored as they are: they must be a mask on the case's grid (the
        // voxmark client takes other grids across before it uploads).
        return Err(Error::format(
            &what,
            "not on the case's grid voxel for voxel (reoriented or a box of it); upload the mask \
             on the case's grid",
        ));
    }
    Ok(m.labels)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct StatusRequest {
    /// `submitted`, `draft` (withdraw), `approved` or `changes_requested`.
    pub to: String,
    pub note: Option<String>,
}

/// Moves a slot along the review steps: its annotator submits or withdraws; a reviewer (not
/// the annotator; the case unblinded) approves or requests changes.
#[utoipa::path(post, path = "/api/v1/cases/{case}/slots/{annotator}/status", request_body = StatusRequest, security(("bearer" = [])),
    params(("case" = String, Path), ("annotator" = String, Path)),
    responses((status = 200, body = CaseRow), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn set_status(
    State(state): St,
    who: Authed,
    Path((case, annotator)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<CaseRow>> {
    let mut action = "status";
    let r = async {
        check_key("case", &case)?;
        check_key("annotator", &annotator)?;
        let req: StatusRequest = json_body(&headers, &body)?;
        let to = Status::parse(&req.to).ok_or_else(|| {
            ApiError::bad(format!(
                "`to` {:?}: one of submitted, draft, approved, changes_requested",
                req.to.chars().take(40).collect::<String>()
            ))
        })?;
        if req.note.as_ref().is_some_and(|n| n.len() > 10_000) {
            return Err(ApiError::bad("the note is longer than 10000 bytes"));
        }
        match to {
            Status::Submitted | Status::Draft => {
                action = if to == Status::Submitted {
                    "submit"
                } else {
                    "withdraw"
                };
                require(&who, Action::WriteSlot, "submit or withdraw annotations")?;
                policy::may_write_slot(&who.user.name, &annotator).map_err(ApiError::forbidden)?;
            }
            Status::Approved | Status::ChangesRequested => {
                action = if to == Status::Approved {
                    "approve"
                } else {
                    "request-changes"
                };
                require(&who, Action::Review, "review annotations")?;
                if who.user.role == Role::Annotator {
                    return Err(ApiError::forbidden("annotators do not review"));
                }
                let (slot, slots, blind, per_case) =
                    slot_and_case(&state, &case, &annotator).await?;
                policy::may_review_slot(
                    &who.user.name,
                    who.user.role,
                    &slot,
                    &slots,
                    blind,
                    per_case,
                )
                .map_err(ApiError::forbidden)?;
            }
        }
        let (c, a, by) = (case.clone(), annotator.clone(), who.user.name.clone());
        Ok(Json(
            state
                .pool
                .run(move |p| p.set_status(&c, &a, to, &by, req.note.as_deref()))
                .await?,
        ))
    }
    .await;
    audited(
        &state,
        &who,
        Audit::new(action).slot(&case, &annotator),
        |r: &Json<CaseRow>| Some(r.version),
        "",
        r,
    )
    .await
}

/// The comments on a slot (and the notes of its status changes).
#[utoipa::path(get, path = "/api/v1/cases/{case}/slots/{annotator}/comments", security(("bearer" = [])),
    params(("case" = String, Path), ("annotator" = String, Path)),
    responses((status = 200, body = Vec<ProjectComment>), (status = 403, body = ErrorBody)))]
async fn comments(
    State(state): St,
    who: Authed,
    Path((case, annotator)): Path<(String, String)>,
) -> ApiResult<Json<Vec<ProjectComment>>> {
    readable_slot(&state, &who, &case, &annotator).await?;
    Ok(Json(
        state
            .pool
            .run(move |p| p.comments(&case, &annotator))
            .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CommentRequest {
    pub text: String,
    /// Voxel (i, j, k) it points at.
    pub at: Option<[i64; 3]>,
    pub label: Option<u8>,
}

/// Comments on a slot: its annotator, or a reviewer who may review it.
#[utoipa::path(post, path = "/api/v1/cases/{case}/slots/{annotator}/comments", request_body = CommentRequest, security(("bearer" = [])),
    params(("case" = String, Path), ("annotator" = String, Path)),
    responses((status = 200, body = Done), (status = 403, body = ErrorBody)))]
async fn add_comment(
    State(state): St,
    who: Authed,
    Path((case, annotator)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Done>> {
    let r = async {
        check_key("case", &case)?;
        check_key("annotator", &annotator)?;
        require(&who, Action::Comment, "comment")?;
        if who.user.role == Role::Annotator && annotator != who.user.name {
            return Err(ApiError::forbidden(
                "an annotator comments only on their own slots",
            ));
        }
        let req: CommentRequest = json_body(&headers, &body)?;
        if req.text.trim().is_empty() || req.text.len() > 10_000 {
            return Err(ApiError::bad("a comment has 1 to 10000 bytes of text"));
        }
        let (slot, slots, blind, per_case) = slot_and_case(&state, &case, &annotator).await?;
        policy::may_comment_slot(
            &who.user.name,
            who.user.role,
            &slot,
            &slots,
            blind,
            per_case,
        )
        .map_err(ApiError::forbidden)?;
        let (c, a, by) = (case.clone(), annotator.clone(), who.user.name.clone());
        state
            .pool
            .run(move |p| p.comment(&c, &a, &by, &req.text, req.at, req.label))
            .await?;
        Ok(Json(Done {
            done: "comment added".into(),
        }))
    }
    .await;
    audited(
        &state,
        &who,
        Audit::new("comment").slot(&case, &annotator),
        no_version,
        "",
        r,
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Project administration

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SettingsRequest {
    pub blind: Option<bool>,
    /// The gold-standard protocol (replaces the whole of it).
    pub gold: Option<voxmark_project::gold::GoldSettings>,
}

/// Changes project settings (blinding).
#[utoipa::path(patch, path = "/api/v1/settings", request_body = SettingsRequest, security(("bearer" = [])),
    responses((status = 200, body = voxmark_project::Settings), (status = 403, body = ErrorBody)))]
async fn patch_settings(
    State(state): St,
    who: Authed,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<voxmark_project::Settings>> {
    let r = async {
        require(&who, Action::Settings, "change the project's settings")?;
        let req: SettingsRequest = json_body(&headers, &body)?;
        Ok(Json(
            state
                .pool
                .run(move |p| {
                    if let Some(b) = req.blind {
                        p.set_blind(b)?;
                    }
                    if let Some(g) = req.gold {
                        p.set_gold_settings(g)?;
                    }
                    Ok(p.settings.clone())
                })
                .await?,
        ))
    }
    .await;
    audited(&state, &who, Audit::new("settings"), no_version, "", r).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct GoldRequest {
    /// The annotator whose approved version becomes the case's reference.
    pub from_annotator: String,
}

/// Makes a case gold: its reference is the approved version of an expert's annotation.
#[utoipa::path(post, path = "/api/v1/cases/{case}/gold", request_body = GoldRequest, security(("bearer" = [])),
    params(("case" = String, Path)),
    responses((status = 200, body = voxmark_project::gold::GoldRef), (status = 403, body = ErrorBody)))]
async fn make_gold(
    State(state): St,
    who: Authed,
    Path(case): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<voxmark_project::gold::GoldRef>> {
    let r = async {
        check_key("case", &case)?;
        require(&who, Action::Gold, "make gold cases")?;
        let req: GoldRequest = json_body(&headers, &body)?;
        check_key("annotator", &req.from_annotator)?;
        let (c, by) = (case.clone(), who.user.name.clone());
        Ok(Json(
            state
                .pool
                .run(move |p| p.set_gold_from(&c, &req.from_annotator, &by))
                .await?,
        ))
    }
    .await;
    audited(
        &state,
        &who,
        Audit::new("make-gold").case(&case),
        no_version,
        "",
        r,
    )
    .await
}

/// Scores of gold-case submissions.
#[utoipa::path(get, path = "/api/v1/gold-scores", security(("bearer" = [])),
    responses((status = 200, body = Vec<serde_json::Value>), (status = 403, body = ErrorBody)))]
async fn gold_scores(State(state): St, who: Authed) -> ApiResult<Json<serde_json::Value>> {
    require(&who, Action::Gold, "read gold scores")?;
    let s = state.pool.run(|p| p.gold_scores(None)).await?;
    Ok(Json(serde_json::to_value(s).map_err(|e| {
        ApiError::from(Error::Corrupt(e.to_string()))
    })?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    /// `json` (the numbers, as `project report --json`) or `html` (the page).
    pub format: Option<String>,
    /// Pairs with a label's Dice below this are flagged (default 0.8).
    pub flag_below: Option<f64>,
    /// At most this many flagged pairs get a thumbnail (default 12).
    pub thumbnails: Option<usize>,
    /// How the page's `voxmark view --project P --case ID` commands name the project (the
    /// client's URL of this server).
    pub project_arg: Option<String>,
}

/// The QA report over the whole project: its numbers as JSON, or the self-contained page.
#[utoipa::path(get, path = "/api/v1/report", params(ReportQuery), security(("bearer" = [])),
    responses((status = 200, content_type = "application/json"), (status = 200, content_type = "text/html"), (status = 403, body = ErrorBody)))]
async fn report(
    State(state): St,
    who: Authed,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    let r = async {
        require(&who, Action::Report, "read the QA report")?;
        let html = match q.format.as_deref().unwrap_or("json") {
            "json" => false,
            "html" => true,
            f => {
                return Err(ApiError::bad(format!(
                    "format {:?}: json or html",
                    f.chars().take(20).collect::<String>()
                )))
            }
        };
        let flag_below = q.flag_below.unwrap_or(0.8);
        if !(0.0..=1.0).contains(&flag_below) {
            return Err(ApiError::bad("flag_below is a Dice between 0 and 1"));
        }
        let opts = voxmark_project::report::ReportOptions {
            project_arg: q
                .project_arg
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect(),
            data_root: state.data_root.clone(),
            flag_below,
            thumbnails: q.thumbnails.unwrap_or(12).min(100),
            // One worker per core of the server.
            jobs: 0,
        };
        let body = state
            .pool
            .run(move |p| {
                let rep = p.report(&opts, &mut |_, _| {})?;
                if html {
                    voxmark_project::report_html::render_html(&rep)
                } else {
                    serde_json::to_string_pretty(&rep).map_err(|e| Error::Corrupt(e.to_string()))
                }
            })
            .await?;
        Ok((html, body))
    }
    .await;
    let (html, body) = audited(&state, &who, Audit::new("report"), no_version, "", r).await?;
    let ct = if html {
        "text/html; charset=utf-8"
    } else {
        "application/json"
    };
    let mut r = ([(header::CONTENT_TYPE, ct)], body).into_response();
    if html {
        // The page is a file to keep, not a page of this origin: nothing in it runs here.
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox",
            ),
        );
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"voxmark-report.html\""),
        );
    }
    Ok(r)
}

fn approved() -> Vec<String> {
    vec!["approved".into()]
}

fn dataset_one() -> u32 {
    1
}

/// What `project export` takes, as JSON.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportRequest {
    /// `nnunet`, `monai`, `folder`, `seg-nrrd` or `dicom-seg`.
    #[schema(value_type = String)]
    pub layout: voxmark_project::export::Layout,
    #[serde(default = "approved")]
    pub statuses: Vec<String>,
    #[serde(default)]
    pub include_partial: bool,
    /// `majority` (default) or `staple`.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub fusion: Option<voxmark_project::export::Fusion>,
    #[serde(default = "dataset_one")]
    pub dataset_id: u32,
    pub dataset_name: Option<String>,
    pub folds: Option<usize>,
    pub channel_name: Option<String>,
    #[serde(default)]
    pub markups: bool,
    /// Cases written at once (default: the exporting machine's cores; never more).
    #[serde(default)]
    pub jobs: Option<usize>,
}

impl ExportRequest {
    /// The export's options, writing into `out` with the images under `data_root`.
    pub fn options(
        &self,
        out: &std::path::Path,
        data_root: PathBuf,
    ) -> voxmark_volume::error::Result<voxmark_project::export::ExportOptions> {
        let statuses = self
            .statuses
            .iter()
            .map(|s| {
                Status::parse(s).ok_or_else(|| {
                    Error::invalid(format!(
                        "status {:?}: one of draft, submitted, approved, changes_requested",
                        s.chars().take(40).collect::<String>()
                    ))
                })
            })
            .collect::<voxmark_volume::error::Result<Vec<_>>>()?;
        let short = |n: &Option<String>| n.as_ref().map(|n| n.chars().take(100).collect());
        Ok(voxmark_project::export::ExportOptions {
            layout: self.layout,
            out: out.to_path_buf(),
            statuses,
            include_partial: self.include_partial,
            fusion: self
                .fusion
                .unwrap_or(voxmark_project::export::Fusion::Majority),
            dataset_id: self.dataset_id,
            dataset_name: short(&self.dataset_name),
            folds: self.folds,
            channel_name: short(&self.channel_name),
            data_root,
            markups: self.markups,
            jobs: self.jobs.unwrap_or(0),
        })
    }
}

/// An export made on the server: what it did, where its root is (relative to the export's
/// folder) and every file in that folder, to fetch by name.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportResult {
    #[schema(value_type = Object)]
    pub summary: voxmark_project::export::ExportSummary,
    pub root: String,
    pub files: Vec<crate::files::ImageFile>,
}

/// Every regular file under `dir`, by its path relative to it (`/`-separated).
fn files_under(
    dir: &std::path::Path,
) -> voxmark_volume::error::Result<Vec<(String, std::path::PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let e = e.map_err(|e| Error::io(&d, e))?;
            let p = e.path();
            let t = e.file_type().map_err(|err| Error::io(&p, err))?;
            if t.is_dir() {
                stack.push(p);
            } else if t.is_file() {
                let rel = p
                    .strip_prefix(dir)
                    .map(|r| r.to_string_lossy().replace('\\', "/"))
                    .unwrap_or_default();
                // Temporaries of an interrupted write are not part of the dataset.
                if !rel
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .starts_with(".voxmark-")
                {
                    out.push((rel, p));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Exports the training set on the server (incremental, as `project export`), then lists
/// its files for the client to fetch. Admin and lead; like the local command, it takes the
/// done cases only unless `include_partial`.
#[utoipa::path(post, path = "/api/v1/export", request_body = ExportRequest, security(("bearer" = [])),
    responses((status = 200, body = ExportResult), (status = 403, body = ErrorBody)))]
async fn export(
    State(state): St,
    who: Authed,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ExportResult>> {
    let r = async {
        require(&who, Action::Report, "export the training set")?;
        let req: ExportRequest = json_body(&headers, &body)?;
        let data_root = state.data_root.clone().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server has no data root (start it with --data-root)",
            )
        })?;
        let out = state.export_dir.join(req.layout.name());
        let opts = req.options(&out, data_root)?;
        let _one = state.export_lock.lock().await;
        std::fs::create_dir_all(&out).map_err(|e| ApiError::from(Error::io(&out, e)))?;
        let summary = state
            .pool
            .run(move |p| p.export(&opts, &mut |_, _, _| {}))
            .await?;
        let st = Arc::clone(&state);
        let dir = out.clone();
        let listed = tokio::task::spawn_blocking(move || -> voxmark_volume::error::Result<_> {
            let all = files_under(&dir)?;
            let mut files = Vec::with_capacity(all.len());
            for (name, path) in &all {
                files.push(crate::files::ImageFile {
                    name: name.clone(),
                    bytes: std::fs::metadata(path)
                        .map_err(|e| Error::io(path, e))?
                        .len(),
                    sha256: st.files.sha256(path)?,
                });
            }
            Ok((all, files))
        })
        .await
        .map_err(|e| ApiError::from(Error::Worker(e.to_string())))??;
        let (all, files) = listed;
        if let Ok(mut m) = state.exported.lock() {
            m.insert(req.layout.name().to_string(), all);
        }
        let root = summary
            .root
            .strip_prefix(&out)
            .map(|r| r.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        Ok(Json(ExportResult {
            summary,
            root,
            files,
        }))
    }
    .await;
    audited(&state, &who, Audit::new("export"), no_version, "", r).await
}

/// One file of the last export of `layout` made over the API.
#[utoipa::path(get, path = "/api/v1/export/{layout}/files/{name}", security(("bearer" = [])),
    params(("layout" = String, Path), ("name" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn export_file(
    State(state): St,
    who: Authed,
    Path((layout, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    require(&who, Action::Report, "fetch the training set")?;
    let path = state
        .exported
        .lock()
        .ok()
        .and_then(|m| {
            m.get(&layout).and_then(|files| {
                files
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, p)| p.clone())
            })
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "no file {:?} in this server's last {} export (POST /api/v1/export first)",
                    name.chars().take(200).collect::<String>(),
                    layout.chars().take(20).collect::<String>()
                ),
            )
        })?;
    let f = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::from(Error::io(&path, e)))?;
    let len = f
        .metadata()
        .await
        .map_err(|e| ApiError::from(Error::io(&path, e)))?
        .len();
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, len)
        .body(Body::from_stream(
            tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024),
        ))
        .map_err(|e| ApiError::from(Error::Worker(e.to_string())))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    pub user: Option<String>,
    pub case: Option<String>,
}

/// The audit log (oldest first), optionally of one user or case. Read-only: no endpoint
/// changes it.
#[utoipa::path(get, path = "/api/v1/audit", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = ErrorBody)))]
async fn audit_log(
    State(state): St,
    who: Authed,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    require(&who, Action::Audit, "read the audit log")?;
    Ok(Json(
        state
            .pool
            .run(move |p| p.audit(q.user.as_deref(), q.case.as_deref()))
            .await?,
    ))
}

/// Every account.
#[utoipa::path(get, path = "/api/v1/users", security(("bearer" = [])),
    responses((status = 200, body = Vec<UserInfo>), (status = 403, body = ErrorBody)))]
async fn users(State(state): St, who: Authed) -> ApiResult<Json<Vec<UserInfo>>> {
    require(&who, Action::ListUsers, "list accounts")?;
    Ok(Json(state.pool.run(|p| p.users()).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    pub password: String,
}

/// Adds an account.
#[utoipa::path(post, path = "/api/v1/users", request_body = NewUser, security(("bearer" = [])),
    responses((status = 200, body = UserInfo), (status = 403, body = ErrorBody)))]
async fn add_user(
    State(state): St,
    who: Authed,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<UserInfo>> {
    let r = async {
        require(&who, Action::ManageUsers, "manage accounts")?;
        let req: NewUser = json_body(&headers, &body)?;
        voxmark_project::accounts::check_user_name(&req.name)?;
        auth::check_password(&req.name, &req.password)?;
        let pw = req.password.clone();
        let hash = tokio::task::spawn_blocking(move || auth::hash_password(&pw))
            .await
            .map_err(|e| ApiError::from(Error::Worker(e.to_string())))??;
        Ok(Json(
            state
                .pool
                .run(move |p| p.add_user(&req.name, req.role, &hash))
                .await?,
        ))
    }
    .await;
    audited(&state, &who, Audit::new("add-user"), no_version, "", r).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UserChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
}

/// Changes an account's role, disables or enables it (disabling revokes its tokens), or
/// sets its password (revoking its tokens).
#[utoipa::path(patch, path = "/api/v1/users/{name}", request_body = UserChange, security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = UserInfo), (status = 403, body = ErrorBody)))]
async fn change_user(
    State(state): St,
    who: Authed,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<UserInfo>> {
    let r = async {
        require(&who, Action::ManageUsers, "manage accounts")?;
        check_key("account", &name)?;
        let req: UserChange = json_body(&headers, &body)?;
        if name == who.user.name
            && (req.disabled == Some(true) || req.role.is_some_and(|r| r != Role::Admin))
        {
            return Err(ApiError::bad(
                "an admin cannot disable or demote themselves (ask another admin)",
            ));
        }
        let hash = match &req.password {
            Some(pw) => {
                auth::check_password(&name, pw)?;
                let pw = pw.clone();
                Some(
                    tokio::task::spawn_blocking(move || auth::hash_password(&pw))
                        .await
                        .map_err(|e| ApiError::from(Error::Worker(e.to_string())))??,
                )
            }
            None => None,
        };
        let n = name.clone();
        Ok(Json(
            state
                .pool
                .run(move |p| {
                    let mut u = p
                        .user(&n)?
                        .ok_or_else(|| Error::NotFound(format!("no account {n}")))?;
                    if let Some(r) = req.role {
                        u = p.set_user_role(&n, r)?;
                    }
                    if let Some(d) = req.disabled {
                        u = p.set_user_disabled(&n, d)?;
                    }
                    if let Some(h) = &hash {
                        u = p.set_user_password(&n, h)?;
                        p.revoke_user_tokens(&n)?;
                    }
                    Ok(u)
                })
                .await?,
        ))
    }
    .await;
    audited(
        &state,
        &who,
        Audit::new("change-user"),
        no_version,
        &format!("account {name}"),
        r,
    )
    .await
}

// ---------------------------------------------------------------------------------------

#[derive(OpenApi)]
#[openapi(
    info(title = "voxmark team server", description = "Annotation projects over HTTP: accounts, roles, blinded annotation, audit, images and masks."),
    paths(login, logout, me, project, status, cases, add_cases, next, assign, image_listing, image_file,
          versions, get_mask, get_markups, save, set_status, comments, add_comment, patch_settings,
          make_gold, gold_scores, report, export, export_file, audit_log, users, add_user, change_user),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi_json() -> Response {
    match ApiDoc::openapi().to_json() {
        Ok(s) => ([(header::CONTENT_TYPE, "application/json")], s).into_response(),
        Err(e) => ApiError::from(Error::Corrupt(e.to_string())).into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint (the API is described at /api/v1/openapi.json)",
    )
}

/// The access log: time, remote address, method, path (never the query or headers, which
/// can carry secrets), status, milliseconds.
async fn log_request(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let t0 = std::time::Instant::now();
    let remote = req
        .extensions()
        .get::<Remote>()
        .map(|r| r.0.to_string())
        .unwrap_or_else(|| "-".into());
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let resp = next.run(req).await;
    eprintln!(
        "{} {remote} {method} {} {} {:.1}ms",
        now_rfc3339(),
        path.chars().take(300).collect::<String>().escape_debug(),
        resp.status().as_u16(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    resp
}

/// Headers on every answer: no MIME sniffing, no framing, and no caching of the API's
/// answers by anyone but the client (masks and listings are patient data; image files are
/// revalidated by their ETag).
async fn safe_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        let cc = if h.contains_key(header::ETAG) {
            "private, no-cache"
        } else {
            "no-store"
        };
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
    }
    resp
}

/// The whole API (with the access log on stderr when `access_log`).
pub fn router(state: Arc<AppState>, access_log: bool) -> Router {
    let slots = "/api/v1/cases/{case}/slots/{annotator}";
    let api = Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/project", get(project))
        .route("/api/v1/status", get(status))
        .route("/api/v1/cases", get(cases).post(add_cases))
        .route("/api/v1/next", post(next))
        .route("/api/v1/assign", post(assign))
        .route("/api/v1/cases/{case}/image", get(image_listing))
        .route("/api/v1/cases/{case}/image/{*name}", get(image_file))
        .route(&format!("{slots}/versions/{{version}}"), get(get_mask))
        .route(
            &format!("{slots}/versions/{{version}}/markups"),
            get(get_markups),
        )
        .route(&format!("{slots}/status"), post(set_status))
        .route(
            &format!("{slots}/comments"),
            get(comments).post(add_comment),
        )
        .route("/api/v1/settings", axum::routing::patch(patch_settings))
        .route("/api/v1/cases/{case}/gold", post(make_gold))
        .route("/api/v1/gold-scores", get(gold_scores))
        .route("/api/v1/report", get(report))
        .route("/api/v1/export", post(export))
        .route("/api/v1/export/{layout}/files/{*name}", get(export_file))
        .route("/api/v1/audit", get(audit_log))
        .route("/api/v1/users", get(users).post(add_user))
        .route("/api/v1/users/{name}", axum::routing::patch(change_user))
        .route("/api/v1/openapi.json", get(openapi_json))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES));
    // The upload route: its own bound is the case's grid, checked while the body streams.
    let upload = Router::new()
        .route(&format!("{slots}/versions"), get(versions).post(save))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES));
    let app = api
        .merge(upload)
        .fallback(not_found)
        .layer(axum::middleware::from_fn(safe_headers));
    let app = if access_log {
        app.layer(axum::middleware::from_fn(log_request))
    } else {
        app
    };
    app.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        REQUEST_TIMEOUT,
    ))
    .with_state(state)
}
