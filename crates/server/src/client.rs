//! The client side of the team server, as the CLI uses it: log in (the token stored with
//! mode 0600 in the user's config folder, keyed by the server's URL), JSON requests, mask
//! downloads and uploads, and case images fetched into a cache keyed by sha256 (under
//! `$XDG_CACHE_HOME/voxmark`), so that an annotator needs no shared filesystem.
//!
//! TLS: the system's roots plus a CA file given at login (`--ca-cert`, remembered with the
//! token) or in `SSL_CERT_FILE`. Passwords never travel on a command line and are never
//! stored; the token is.

use crate::api::{LoginResponse, ProjectInfo};
use crate::files::ImageListing;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;
use voxmark_project::VersionInfo;
use voxmark_volume::error::{Error, Result};

/// Whether a project argument names a team server rather than a folder or database.
pub fn is_server_url(p: &str) -> bool {
    p.starts_with("https://") || p.starts_with("http://")
}

/// One remembered login.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Login {
    pub user: String,
    pub token: String,
    pub expires_unix: i64,
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
}

/// `$VAR/voxmark` (an absolute `VAR`), else `$HOME/FALLBACK/voxmark` (the XDG base
/// directory rules).
fn xdg_dir(var: &str, fallback: &str, what: &str) -> Result<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback)))
        .map(|d| d.join("voxmark"))
        .ok_or_else(|| Error::invalid(format!("neither {var} nor HOME is set: nowhere to {what}")))
}

fn config_dir() -> Result<PathBuf> {
    xdg_dir("XDG_CONFIG_HOME", ".config", "keep the login")
}

/// Where downloaded images are kept.
pub fn cache_dir() -> Result<PathBuf> {
    xdg_dir("XDG_CACHE_HOME", ".cache", "cache images")
}

/// The file of remembered logins.
pub fn logins_path() -> Result<PathBuf> {
    Ok(config_dir()?.join("logins.json"))
}

/// `https://host:port` without a trailing slash or path.
pub fn normalize_url(url: &str) -> Result<String> {
    let u = url.trim_end_matches('/');
    if !is_server_url(u) {
        return Err(Error::invalid(format!(
            "{url:?} is not an http:// or https:// URL"
        )));
    }
    let rest = u.split_once("://").map(|x| x.1).unwrap_or("");
    if rest.is_empty() || rest.contains('/') || rest.contains('@') {
        return Err(Error::invalid(format!(
            "{url:?}: give the server as scheme://host:port only (no path, no credentials)"
        )));
    }
    Ok(u.to_string())
}

fn read_logins() -> Result<BTreeMap<String, Login>> {
    let p = logins_path()?;
    match std::fs::read_to_string(&p) {
        Ok(s) => serde_json::from_str(&s)
            .map_err(|e| Error::format(&p, format!("not a logins file: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(Error::io(&p, e)),
    }
}

fn write_logins(all: &BTreeMap<String, Login>) -> Result<()> {
    let p = logins_path()?;
    let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let text = serde_json::to_string_pretty(all).map_err(|e| Error::Corrupt(e.to_string()))?;
    // Written private from the start: tempfile creates its files with mode 0600 (on Unix),
    // and the rename keeps the mode.
    let mut tmp = tempfile::Builder::new()
        .prefix(".logins-")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    use std::io::Write;
    tmp.write_all(text.as_bytes())
        .map_err(|e| Error::io(&p, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(&p, e))?;
    tmp.persist(&p).map_err(|e| Error::io(&p, e.error))?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The remembered login for `url`.
pub fn stored_login(url: &str) -> Result<Option<Login>> {
    Ok(read_logins()?.remove(&normalize_url(url)?))
}

/// A connection to one server.
pub struct Client {
    pub base: String,
    token: Option<String>,
    pub user: Option<String>,
    http: reqwest::blocking::Client,
}

fn http_client(ca_cert: Option<&Path>) -> Result<reqwest::blocking::Client> {
    let mut b = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(900))
        .user_agent(concat!("voxmark/", env!("CARGO_PKG_VERSION")));
    let env_ca = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    for ca in ca_cert.map(Path::to_path_buf).into_iter().chain(env_ca) {
        let pem = std::fs::read(&ca).map_err(|e| Error::io(&ca, e))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| Error::format(&ca, format!("not a PEM CA file: {e}")))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| Error::invalid(format!("HTTP client: {e}")))
}

fn net_err(base: &str, e: reqwest::Error) -> Error {
    let mut msg = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    Error::invalid(format!("{base}: {msg}"))
}

/// Turns an error answer into an error naming the server and saying what it said.
fn answer_err(base: &str, status: reqwest::StatusCode, body: &str) -> Error {
    let said = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| body.chars().take(300).collect());
    let m = format!("{base}: {} {said}", status.as_u16());
    match status.as_u16() {
        404 => Error::NotFound(m),
        409 => Error::Conflict(m),
        _ => Error::invalid(m),
    }
}

impl Client {
    /// A client for `url` with the remembered login (an error asking to log in when none).
    pub fn connect(url: &str) -> Result<Self> {
        let base = normalize_url(url)?;
        let login = stored_login(&base)?.ok_or_else(|| {
            Error::invalid(format!(
                "not logged in to {base}: `voxmark login {base} --user NAME`"
            ))
        })?;
        Ok(Self {
            http: http_client(login.ca_cert.as_deref())?,
            base,
            token: Some(login.token),
            user: Some(login.user),
        })
    }

    /// A token for `user` (a login that is not remembered: benchmarks, services).
    pub fn login_token(
        url: &str,
        user: &str,
        password: &str,
        ca_cert: Option<&Path>,
    ) -> Result<Self> {
        let base = normalize_url(url)?;
        let mut c = Self {
            http: http_client(ca_cert)?,
            base,
            token: None,
            user: None,
        };
        let r: LoginResponse = c.post_json(
            "/api/v1/login",
            &serde_json::json!({"user": user, "password": password, "label": "bench"}),
        )?;
        c.token = Some(r.token);
        c.user = Some(r.user);
        Ok(c)
    }

    /// Logs in with a password and remembers the token (mode 0600).
    pub fn login(url: &str, user: &str, password: &str, ca_cert: Option<&Path>) -> Result<Login> {
        let base = normalize_url(url)?;
        let ca_cert = ca_cert
            .map(|p| std::fs::canonicalize(p).map_err(|e| Error::io(p, e)))
            .transpose()?;
        let c = Self {
            http: http_client(ca_cert.as_deref())?,
            base: base.clone(),
            token: None,
            user: None,
        };
        let host = std::env::var("HOSTNAME").ok();
        let r: LoginResponse = c.post_json(
            "/api/v1/login",
            &serde_json::json!({"user": user, "password": password, "label": host}),
        )?;
        let login = Login {
            user: r.user,
            token: r.token,
            expires_unix: r.expires_unix,
            ca_cert,
        };
        let mut all = read_logins()?;
        all.insert(base, login.clone());
        write_logins(&all)?;
        Ok(login)
    }

    /// Revokes the token on the server (when it answers) and forgets it.
    pub fn logout(url: &str) -> Result<bool> {
        let base = normalize_url(url)?;
        let mut all = read_logins()?;
        if !all.contains_key(&base) {
            return Ok(false);
        }
        if let Ok(c) = Self::connect(&base) {
            if let Err(e) =
                c.post_json::<serde_json::Value>("/api/v1/logout", &serde_json::json!({}))
            {
                eprintln!("note: the server did not revoke the token ({e}); it is forgotten here");
            }
        }
        all.remove(&base);
        write_logins(&all)?;
        Ok(true)
    }

    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        let r = self.http.request(m, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    fn send(&self, r: reqwest::blocking::RequestBuilder) -> Result<reqwest::blocking::Response> {
        let resp = r.send().map_err(|e| net_err(&self.base, e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.text().unwrap_or_default();
        Err(answer_err(&self.base, status, &body))
    }

    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self.send(self.req(reqwest::Method::GET, path))?;
        resp.json().map_err(|e| net_err(&self.base, e))
    }

    pub fn post_json<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        let resp = self.send(self.req(reqwest::Method::POST, path).json(body))?;
        resp.json().map_err(|e| net_err(&self.base, e))
    }

    pub fn patch_json<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        let resp = self.send(self.req(reqwest::Method::PATCH, path).json(body))?;
        resp.json().map_err(|e| net_err(&self.base, e))
    }

    /// The body of a GET, with the answer's headers.
    pub fn get_bytes(&self, path: &str) -> Result<(reqwest::header::HeaderMap, Vec<u8>)> {
        let mut resp = self.send(self.req(reqwest::Method::GET, path))?;
        let headers = resp.headers().clone();
        let mut out = Vec::new();
        resp.read_to_end(&mut out)
            .map_err(|e| Error::invalid(format!("{}: {e}", self.base)))?;
        Ok((headers, out))
    }

    pub fn project(&self) -> Result<ProjectInfo> {
        self.get_json("/api/v1/project")
    }

    /// A slot's URL path.
    pub fn slot_path(case: &str, annotator: &str) -> String {
        format!("/api/v1/cases/{}/slots/{}", enc(case), enc(annotator))
    }

    /// Stores `mask` (NIfTI bytes) and `markups` as the slot's next version. When the
    /// connection breaks mid-way, asks the server whether the version arrived (its latest
    /// version's sha256 is the mask's) and says which it is.
    pub fn save_mask(
        &self,
        case: &str,
        annotator: &str,
        mask: Vec<u8>,
        markups: Option<String>,
        base: Option<i64>,
    ) -> Result<VersionInfo> {
        let sha = voxmark_volume::fs::sha256_hex(&mask);
        let mut form = reqwest::blocking::multipart::Form::new().part(
            "mask",
            reqwest::blocking::multipart::Part::bytes(mask)
                .file_name("mask.nii.gz")
                .mime_str("application/octet-stream")
                .map_err(|e| Error::invalid(e.to_string()))?,
        );
        if let Some(m) = markups {
            form = form.text("markups", m);
        }
        let mut path = format!("{}/versions", Self::slot_path(case, annotator));
        if let Some(b) = base {
            path.push_str(&format!("?base_version={b}"));
        }
        match self
            .req(reqwest::Method::POST, &path)
            .multipart(form)
            .send()
        {
            Ok(resp) if resp.status().is_success() => {
                resp.json().map_err(|e| net_err(&self.base, e))
            }
            Ok(resp) => {
                let status = resp.status();
                Err(answer_err(
                    &self.base,
                    status,
                    &resp.text().unwrap_or_default(),
                ))
            }
            Err(e) => {
                // No answer: did it arrive? Versions are immutable, so a stored one with this
                // mask's sha256 is this save.
                let net = net_err(&self.base, e);
                let stored: Result<Vec<VersionInfo>> =
                    self.get_json(&format!("{}/versions", Self::slot_path(case, annotator)));
                match stored {
                    Ok(v) => match v.into_iter().last() {
                        Some(v) if v.sha256 == sha => Ok(v),
                        _ => Err(Error::invalid(format!(
                            "{net}\nthe save did not complete: the server holds no version with this mask; save again"
                        ))),
                    },
                    Err(check) => Err(Error::invalid(format!(
                        "{net}\nthe save may not have completed, and asking the server failed too ({check}): `voxmark project versions` shows a stored version with this mask's sha256 {sha} if it did; else save again"
                    ))),
                }
            }
        }
    }

    /// The case's image, fetched into the cache (files checked against their sha256; files
    /// already there are not fetched again). Returns the path to load and the series UID.
    pub fn fetch_image(
        &self,
        case: &str,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(PathBuf, String)> {
        let listing: ImageListing = self.get_json(&format!("/api/v1/cases/{}/image", enc(case)))?;
        let cache = cache_dir()?;
        let blobs = cache.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
        let host = self
            .base
            .split_once("://")
            .map(|x| x.1)
            .unwrap_or("server")
            .replace(':', "_");
        let case_dir = cache.join("cases").join(&host).join(sanitize(case));
        std::fs::create_dir_all(&case_dir).map_err(|e| Error::io(&case_dir, e))?;
        let total: u64 = listing.files.iter().map(|f| f.bytes).sum();
        let mut done = 0u64;
        for f in &listing.files {
            if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::invalid(format!(
                    "{}: a listed file has a malformed sha256",
                    self.base
                )));
            }
            let blob = blobs.join(&f.sha256);
            if !blob.exists() {
                let path = format!("/api/v1/cases/{}/image/{}", enc(case), enc_path(&f.name));
                self.download(&path, &blob, &f.sha256, &mut |n| progress(done + n, total))
                    .map_err(|e| Error::invalid(format!("file {} of case {case}: {e}", f.name)))?;
            }
            let dest = case_dir.join(self.relative(&f.name)?);
            if let Some(d) = dest.parent() {
                std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
            }
            let fresh = std::fs::read(&dest)
                .ok()
                .map(|b| voxmark_volume::fs::sha256_hex(&b))
                == Some(f.sha256.clone());
            if !fresh {
                let _ = std::fs::remove_file(&dest);
                if std::fs::hard_link(&blob, &dest).is_err() {
                    std::fs::copy(&blob, &dest).map_err(|e| Error::io(&dest, e))?;
                }
            }
            done += f.bytes;
            progress(done, total);
        }
        let path = if listing.kind == "file" {
            listing
                .files
                .first()
                .map(|f| case_dir.join(&f.name))
                .ok_or_else(|| {
                    Error::invalid(format!("{}: case {case} has no image file", self.base))
                })?
        } else {
            case_dir
        };
        Ok((path, listing.series_uid))
    }
}

impl Client {
    /// A file name the server listed, as a path below the folder it goes in: refused when it
    /// is absolute or climbs out (`..`), whatever the server says.
    pub fn relative<'a>(&self, name: &'a str) -> Result<&'a Path> {
        let rel = Path::new(name);
        if name.is_empty()
            || rel.is_absolute()
            || rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(Error::invalid(format!(
                "{}: the file name {name:?} is not a relative path below its folder",
                self.base
            )));
        }
        Ok(rel)
    }

    /// Streams `path` into `dest` (through a temporary file beside it), checking that its
    /// sha256 is `sha256` before it takes the name; a damaged or cut download leaves
    /// nothing at `dest`. `progress(bytes so far)`.
    pub fn download(
        &self,
        path: &str,
        dest: &Path,
        sha256: &str,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        use sha2::Digest;
        use std::io::Write;
        let mut resp = self.send(self.req(reqwest::Method::GET, path))?;
        let dir = dest.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".voxmark-download-")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        let mut h = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            let k = resp.read(&mut buf).map_err(|e| {
                Error::invalid(format!("{}: the download broke off: {e}", self.base))
            })?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            tmp.write_all(&buf[..k])
                .map_err(|e| Error::io(tmp.path(), e))?;
            n += k as u64;
            progress(n);
        }
        let got: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        if got != sha256 {
            return Err(Error::invalid(format!(
                "{}: it arrived damaged (sha256 differs); try again",
                self.base
            )));
        }
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(tmp.path(), e))?;
        tmp.persist(dest).map_err(|e| Error::io(dest, e.error))?;
        Ok(())
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Percent-encodes one path segment.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a relative path, keeping its slashes.
fn enc_path(s: &str) -> String {
    s.split('/').map(enc).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_scheme_host_port_only() {
        assert_eq!(normalize_url("https://h:8443/").unwrap(), "https://h:8443");
        assert!(normalize_url("https://h:8443/api").is_err());
        assert!(normalize_url("https://u:p@h").is_err());
        assert!(normalize_url("ftp://h").is_err());
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(enc("a b/../c"), "a%20b%2F..%2Fc");
        assert_eq!(enc_path("d/IM 1.dcm"), "d/IM%201.dcm");
    }
}
