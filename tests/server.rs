//! `voxmark serve` as a team uses it: real server processes on 127.0.0.1 and free ports, real
//! HTTP(S) clients, SQLite and (with `VOXMARK_TEST_PG`) PostgreSQL.
//!
//! - the permission table of docs/server.md, every role × every row, on fresh fixtures;
//! - blind double annotation end to end through the CLI client;
//! - refusals: malformed JSON, wrong content types, oversized bodies, path traversal,
//!   SQL-like names, expired and revoked tokens, plain HTTP to the TLS port, rate limiting —
//!   and the server keeps serving;
//! - TLS with a self-signed certificate made here (trusted through `--ca-cert` and
//!   `SSL_CERT_FILE`, refused without);
//! - two servers on one PostgreSQL project: 50 concurrent claims, each case once; racing
//!   saves: one wins, the other gets 409;
//! - `kill -9` in the middle of a mask upload: no version, and the client says so.

mod common;

use common::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const PW: &str = "a good long password";

/// A running `voxmark serve`.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(project: &str, data_root: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(bin())
            .args([
                "serve",
                "--project",
                project,
                "--listen",
                "127.0.0.1:0",
                "--data-root",
            ])
            .arg(data_root)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start voxmark serve: {e}"));
        let out = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .rsplit("listening on ")
            .next()
            .filter(|u| u.starts_with("http"))
            .unwrap_or_else(|| panic!("voxmark serve did not start: {line:?}"))
            .to_string();
        Server { child, url }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

enum Body<'a> {
    None,
    Json(&'a str),
    Raw(&'a str, Vec<u8>),
    Mask(&'a [u8], Option<&'a str>),
}

struct Api {
    http: reqwest::blocking::Client,
    url: String,
}

impl Api {
    fn new(url: &str) -> Self {
        Api {
            http: reqwest::blocking::Client::builder().build().unwrap(),
            url: url.to_string(),
        }
    }

    fn call(&self, token: Option<&str>, method: &str, path: &str, body: Body) -> (u16, String) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self.http.request(m, format!("{}{path}", self.url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r = match body {
            Body::None => r,
            Body::Json(j) => r
                .header("content-type", "application/json")
                .body(j.to_string()),
            Body::Raw(ct, b) => r.header("content-type", ct).body(b),
            Body::Mask(m, markups) => {
                let mut f = reqwest::blocking::multipart::Form::new().part(
                    "mask",
                    reqwest::blocking::multipart::Part::bytes(m.to_vec()).file_name("m.nii.gz"),
                );
                if let Some(mk) = markups {
                    f = f.text("markups", mk.to_string());
                }
                r.multipart(f)
            }
        };
        let resp = r.send().unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.text().unwrap_or_default())
    }

    /// A call that must succeed; returns the body.
    fn ok(&self, token: &str, method: &str, path: &str, body: Body) -> String {
        let (s, b) = self.call(Some(token), method, path, body);
        assert_eq!(s, 200, "{method} {path}: {b}");
        b
    }

    fn login(&self, user: &str) -> String {
        let (s, b) = self.call(
            None,
            "POST",
            "/api/v1/login",
            Body::Json(&format!(r#"{{"user":"{user}","password":"{PW}"}}"#)),
        );
        assert_eq!(s, 200, "login {user}: {b}");
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        v["token"].as_str().unwrap().to_string()
    }
}

const MARKUPS: &str = r#"{"@schema":"https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#","markups":[]}"#;

/// A project with `cases` small images, the six accounts, a running server and their tokens.
struct Team {
    _dir: tempfile::TempDir,
    project: String,
    data: PathBuf,
    server: Server,
    api: Api,
    tokens: HashMap<String, String>,
    mask: Vec<u8>,
    next_case: usize,
    next_spare: usize,
}

fn voxmark(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(bin())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "voxmark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A valid mask for the test images (a small cube of label 1), NIfTI bytes.
fn make_mask(image: &Path, dir: &Path) -> Vec<u8> {
    let img = voxmark_io::load_volume(image, &Default::default()).unwrap();
    let [nx, ny, nz] = img.volume.grid.dims;
    let mut labels = vec![0u8; nx * ny * nz];
    for k in 1..3 {
        for j in 2..5 {
            for i in 2..5 {
                labels[i + nx * (j + ny * k)] = 1;
            }
        }
    }
    let p = dir.join("mask.nii.gz");
    voxmark_io::label_file::save_labels(&p, &img.volume, labels, &[]).unwrap();
    std::fs::read(p).unwrap()
}

const USERS: [(&str, &str); 6] = [
    ("adm", "admin"),
    ("lea", "lead"),
    ("rev", "reviewer"),
    ("ann", "annotator"),
    ("ann2", "annotator"),
    ("vie", "viewer"),
];

impl Team {
    fn new(project: Option<String>, cases: usize, per_case: &str) -> Team {
        let dir = tempdir();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let first = data.join("c000.nii.gz");
        voxmark(
            &[
                "phantom",
                "--out",
                first.to_str().unwrap(),
                "--size",
                "12,10,6",
            ],
            &[],
        );
        let mut paths = vec![first.display().to_string()];
        for i in 1..cases {
            let p = data.join(format!("c{i:03}.nii.gz"));
            std::fs::copy(&first, &p).unwrap();
            paths.push(p.display().to_string());
        }
        for i in 0..20 {
            std::fs::copy(&first, data.join(format!("s{i:03}.nii.gz"))).unwrap();
        }
        let schema = dir.path().join("schema.json");
        std::fs::write(
            &schema,
            r#"{"labels":[{"value":1,"name":"liver","color":[0.9,0.4,0.3]}]}"#,
        )
        .unwrap();
        let project = project.unwrap_or_else(|| dir.path().join("proj").display().to_string());
        voxmark(
            &[
                "project",
                "init",
                &project,
                "--schema",
                schema.to_str().unwrap(),
                "--annotators-per-case",
                per_case,
            ],
            &[],
        );
        let mut add = vec!["project", "add-cases", &project];
        add.extend(paths.iter().map(String::as_str));
        voxmark(&add, &[]);
        for (u, r) in USERS {
            voxmark(
                &[
                    "serve",
                    "user",
                    "add",
                    u,
                    "--role",
                    r,
                    "--project",
                    &project,
                ],
                &[("VOXMARK_PASSWORD", PW)],
            );
        }
        let server = Server::start(&project, &data, &[]);
        let api = Api::new(&server.url);
        let tokens = USERS
            .iter()
            .map(|(u, _)| (u.to_string(), api.login(u)))
            .collect();
        let mask = make_mask(&data.join("c000.nii.gz"), dir.path());
        Team {
            _dir: dir,
            project,
            data,
            server,
            api,
            tokens,
            mask,
            next_case: 0,
            next_spare: 0,
        }
    }

    fn t(&self, user: &str) -> &str {
        &self.tokens[user]
    }

    fn unassigned(&mut self) -> String {
        let c = format!("c{:03}", self.next_case);
        self.next_case += 1;
        c
    }

    fn save(&self, user: &str, case: &str) {
        self.api.ok(
            self.t(user),
            "POST",
            &format!("/api/v1/cases/{case}/slots/{user}/versions"),
            Body::Mask(&self.mask, Some(MARKUPS)),
        );
    }

    fn status(&self, by: &str, case: &str, annotator: &str, to: &str) {
        self.api.ok(
            self.t(by),
            "POST",
            &format!("/api/v1/cases/{case}/slots/{annotator}/status"),
            Body::Json(&format!(r#"{{"to":"{to}"}}"#)),
        );
    }

    fn half(&mut self) -> String {
        let c = self.unassigned();
        for a in ["ann", "ann2"] {
            self.api.ok(
                self.t("lea"),
                "POST",
                "/api/v1/assign",
                Body::Json(&format!(r#"{{"annotator":"{a}","cases":["{c}"]}}"#)),
            );
            self.save(a, &c);
        }
        self.status("ann", &c, "ann", "submitted");
        c
    }

    fn pair(&mut self) -> String {
        let c = self.half();
        self.status("ann2", &c, "ann2", "submitted");
        c
    }

    fn approved(&mut self) -> String {
        let c = self.pair();
        self.status("rev", &c, "ann", "approved");
        self.status("rev", &c, "ann2", "approved");
        c
    }
}

/// The rows of docs/server.md's permission table.
fn permission_table() -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/server.md"))
        .unwrap();
    let body = doc
        .split("<!-- permission-table -->")
        .nth(1)
        .and_then(|s| s.split("<!-- /permission-table -->").next())
        .expect("docs/server.md has a permission table between its markers");
    body.lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_role_gets_exactly_the_documented_status_on_every_endpoint() {
    let mut team = Team::new(None, 400, "2");
    let rows = permission_table();
    assert!(rows.len() >= 30, "the table has {} rows", rows.len());
    let actors = ["adm", "lea", "rev", "ann2", "vie"];
    // Every route of the OpenAPI document has a row (concrete names read back as the
    // document's parameters).
    let openapi: serde_json::Value = serde_json::from_str(&team.api.ok(
        team.t("adm"),
        "GET",
        "/api/v1/openapi.json",
        Body::None,
    ))
    .unwrap();
    let documented: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let p = r[1]
                .replace("/image/{case}.nii.gz", "/image/{name}")
                .replace("/slots/ann2/", "/slots/{annotator}/")
                .replace("/slots/ann/", "/slots/{annotator}/")
                .replace("/versions/latest", "/versions/{version}")
                .replace("/versions/1/", "/versions/{version}/")
                .replace("/users/vie", "/users/{name}")
                .replace(
                    "/export/folder/files/labels.json",
                    "/export/{layout}/files/{name}",
                );
            (r[0].to_lowercase(), p)
        })
        .collect();
    for (path, ops) in openapi["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            assert!(
                documented.contains(&(method.clone(), path.clone())),
                "{method} {path} (in the OpenAPI document) has no row in docs/server.md's table"
            );
        }
    }
    let mut wrong = Vec::new();
    let mut cells = 0;
    for row in &rows {
        let [method, path, fixture, body] = [&row[0], &row[1], &row[2], &row[3]];
        for (col, actor) in actors.iter().enumerate() {
            let want: u16 = row[4 + col].parse().unwrap();
            let case = match fixture.as_str() {
                "none" => String::new(),
                "unassigned" => team.unassigned(),
                "half" => team.half(),
                "pair" => team.pair(),
                "approved" => team.approved(),
                f => panic!("unknown fixture {f}"),
            };
            let uniq = format!("u{}x{col}", cells);
            let spare = format!("s{:03}.nii.gz", team.next_spare);
            if body.contains("{spare}") {
                team.next_spare += 1;
            }
            let path = path.replace("{case}", &case);
            let json = body
                .replace("{case}", &case)
                .replace("{uniq}", &uniq)
                .replace("{spare}", &spare);
            let login_body = format!(r#"{{"user":"{actor}","password":"{PW}"}}"#);
            // Logging out revokes the token it carries: that cell uses a fresh one.
            let fresh;
            let token = if path == "/api/v1/logout" {
                fresh = team.api.login(actor);
                fresh.as_str()
            } else {
                team.t(actor)
            };
            let b = match body.as_str() {
                "-" => Body::None,
                "login" => Body::Json(&login_body),
                "mask" => Body::Mask(&team.mask, None),
                _ => Body::Json(&json),
            };
            let (got, text) = team.api.call(Some(token), method, &path, b);
            cells += 1;
            if got != want {
                wrong.push(format!(
                    "{method} {path} [{fixture}] as {actor}: {got} (documented {want}): {text}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {cells} cells differ from docs/server.md:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Every one of those requests that changed something or read a mask was audited.
    let audit: Vec<serde_json::Value> = serde_json::from_str(&team.api.ok(
        team.t("adm"),
        "GET",
        "/api/v1/audit",
        Body::None,
    ))
    .unwrap();
    let refused_reads = audit
        .iter()
        .filter(|e| e["action"] == "read-mask" && e["outcome"] == 403 && e["user"] == "ann2")
        .count();
    assert!(
        refused_reads >= 3,
        "refused mask reads by ann2 audited: {refused_reads}"
    );
    // Requests name the client's address; the accounts made with `serve user add` on the
    // database directly name the command line.
    assert!(
        audit.iter().all(|e| e["remote"] == "127.0.0.1"
            || (e["remote"] == "command line" && e["action"] == "add-user")),
        "every record names where it came from"
    );
    assert_eq!(
        audit.iter().filter(|e| e["action"] == "add-user").count(),
        USERS.len() + 5,
        "the six accounts of the set-up, and the table row's five requests (one allowed, four refused)"
    );
}

#[test]
fn without_a_valid_token_everything_but_login_and_the_api_document_is_401() {
    let team = Team::new(None, 2, "1");
    for row in permission_table() {
        let path = row[1].replace("{case}", "c000");
        let (s, body) = team.api.call(None, &row[0], &path, Body::None);
        let public = path == "/api/v1/login" || path.ends_with("openapi.json");
        if public {
            assert_ne!(s, 401, "{} {path}", row[0]);
        } else {
            assert_eq!(s, 401, "{} {path}: {body}", row[0]);
            assert!(body.contains("Authorization"), "{body}");
        }
        let (s, _) = team
            .api
            .call(Some("vxm_not-a-token"), &row[0], &path, Body::None);
        if !public {
            assert_eq!(s, 401, "{} {path} with an unknown token", row[0]);
        }
    }
}

#[test]
fn blind_double_annotation_through_the_cli_client() {
    let team = Team::new(None, 3, "2");
    let cfg = |u: &str| team._dir.path().join(format!("home-{u}"));
    let as_user = |u: &str, args: &[&str]| -> (bool, String, String) {
        let out = Command::new(bin())
            .args(args)
            .env("XDG_CONFIG_HOME", cfg(u).join("config"))
            .env("XDG_CACHE_HOME", cfg(u).join("cache"))
            .env("VOXMARK_PASSWORD", PW)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let url = team.server.url.clone();
    for u in ["ann", "ann2", "rev", "adm"] {
        let (ok, _, err) = as_user(u, &["login", &url, "--user", u]);
        assert!(ok, "{err}");
        // The token is private to the user.
        let logins = cfg(u).join("config/voxmark/logins.json");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&logins).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", logins.display());
        }
        assert!(!std::fs::read_to_string(&logins).unwrap().contains(PW));
    }
    // Both claim the same first case; the image comes from the server into each cache.
    let mut claimed = Vec::new();
    for u in ["ann", "ann2"] {
        let (ok, out, err) = as_user(u, &["project", "next", &url, "--annotator", u, "--json"]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let img = PathBuf::from(v["image_path"].as_str().unwrap());
        assert!(img.starts_with(cfg(u).join("cache")), "{}", img.display());
        assert_eq!(
            std::fs::read(&img).unwrap(),
            std::fs::read(team.data.join("c000.nii.gz")).unwrap()
        );
        claimed.push(v["case"].as_str().unwrap().to_string());
    }
    assert_eq!(claimed, ["c000", "c000"]);
    // Claiming for someone else is refused on the client, and the server acts as the login.
    let (ok, _, err) = as_user("ann2", &["project", "next", &url, "--annotator", "ann"]);
    assert!(!ok && err.contains("logged in"), "{err}");
    let mask = team._dir.path().join("m.nii.gz");
    std::fs::write(&mask, &team.mask).unwrap();
    let (ok, _, err) = as_user(
        "ann",
        &[
            "project",
            "save",
            &url,
            "c000",
            "--annotator",
            "ann",
            "--mask",
            mask.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = as_user(
        "ann",
        &["project", "submit", &url, "c000", "--annotator", "ann"],
    );
    assert!(ok, "{err}");
    // Before ann2 submits, nobody reads ann's mask: not ann2, not the reviewer, not the admin.
    let got = team._dir.path().join("got.nii.gz");
    for u in ["ann2", "rev", "adm"] {
        let (ok, _, err) = as_user(
            u,
            &[
                "project",
                "get",
                &url,
                "c000",
                "--annotator",
                "ann",
                "-o",
                got.to_str().unwrap(),
            ],
        );
        assert!(!ok && err.contains("403"), "{u}: {err}");
        let (ok, _, err) = as_user(
            u,
            &["project", "versions", &url, "c000", "--annotator", "ann"],
        );
        assert!(!ok && err.contains("403"), "{u}: {err}");
    }
    let (ok, _, err) = as_user(
        "rev",
        &["project", "approve", &url, "c000", "--annotator", "ann"],
    );
    assert!(!ok && err.contains("blinded"), "{err}");
    // ann2's listing shows only ann2's slot; audit and gold scores are closed to annotators.
    let (ok, out, _) = as_user("ann2", &["project", "cases", &url, "--json"]);
    assert!(ok);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert!(rows.iter().all(|r| r["annotator"] == "ann2"), "{out}");
    let (ok, _, err) = as_user("ann2", &["project", "audit", &url]);
    assert!(!ok && err.contains("403"), "{err}");
    // ann2 saves and submits: the case is unblinded for the reviewer, still closed to ann2.
    let (ok, _, err) = as_user(
        "ann2",
        &[
            "project",
            "save",
            &url,
            "c000",
            "--annotator",
            "ann2",
            "--mask",
            mask.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = as_user(
        "ann2",
        &["project", "submit", &url, "c000", "--annotator", "ann2"],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = as_user(
        "ann2",
        &[
            "project",
            "get",
            &url,
            "c000",
            "--annotator",
            "ann",
            "-o",
            got.to_str().unwrap(),
        ],
    );
    assert!(!ok && err.contains("403"), "{err}");
    let (ok, _, err) = as_user(
        "rev",
        &[
            "project",
            "get",
            &url,
            "c000",
            "--annotator",
            "ann",
            "-o",
            got.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read(&got).unwrap(),
        team.mask,
        "the mask comes back bit for bit"
    );
    // A reviewer approves as themselves only.
    let (ok, _, err) = as_user(
        "rev",
        &[
            "project",
            "approve",
            &url,
            "c000",
            "--annotator",
            "ann",
            "--by",
            "adm",
        ],
    );
    assert!(!ok && err.contains("logged in"), "{err}");
    let (ok, _, err) = as_user(
        "rev",
        &["project", "approve", &url, "c000", "--annotator", "ann"],
    );
    assert!(ok, "{err}");
    // The audit (read by the admin through the CLI) has who did what, refusals included.
    let (ok, out, err) = as_user(
        "adm",
        &["project", "audit", &url, "--case", "c000", "--json"],
    );
    assert!(ok, "{err}");
    let log: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let has = |user: &str, action: &str, outcome: i64| {
        log.iter()
            .any(|e| e["user"] == user && e["action"] == action && e["outcome"] == outcome)
    };
    assert!(
        has("ann", "save", 200) && has("ann", "submit", 200),
        "{out}"
    );
    assert!(
        has("ann2", "read-mask", 403)
            && has("rev", "read-mask", 403)
            && has("adm", "read-mask", 403)
    );
    assert!(
        has("rev", "approve", 403) && has("rev", "approve", 200) && has("rev", "read-mask", 200)
    );
    // The same log, read from the database by the CLI, and no endpoint can change it.
    let local = voxmark(
        &[
            "project",
            "audit",
            &team.project,
            "--case",
            "c000",
            "--json",
        ],
        &[],
    );
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&local)
            .unwrap()
            .len(),
        log.len()
    );
    for m in ["DELETE", "PUT", "PATCH", "POST"] {
        let (s, _) = team
            .api
            .call(Some(team.t("adm")), m, "/api/v1/audit", Body::None);
        assert_eq!(s, 405, "{m} /api/v1/audit");
    }
    // The lead's tools over the server: the QA report (page and numbers), cases added
    // from the server's data root, gold scores; none of them for an annotator.
    let (ok, _, err) = as_user("lea", &["login", &url, "--user", "lea"]);
    assert!(ok, "{err}");
    let page = team._dir.path().join("report.html");
    let (ok, out, err) = as_user(
        "lea",
        &[
            "project",
            "report",
            &url,
            "-o",
            page.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let rep: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        rep["annotators"].as_array().is_some_and(|a| a.len() == 2),
        "{out}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("<svg") && html.contains(&format!("--project {url}")),
        "the page's view commands name the server"
    );
    let (ok, out, err) = as_user(
        "lea",
        &["project", "add-cases", &url, "s000.nii.gz", "--json"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()[0]["case"],
        "s000"
    );
    let (ok, _, err) = as_user("lea", &["project", "add-cases", &url, "../etc/passwd"]);
    assert!(!ok && err.contains("relative to the data root"), "{err}");
    let (ok, out, err) = as_user(
        "lea",
        &[
            "project",
            "gold-settings",
            &url,
            "--min-dice",
            "0.9",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["min_dice"],
        0.9
    );
    let (ok, out, err) = as_user(
        "lea",
        &[
            "project",
            "gold",
            &url,
            "c000",
            "--from-annotator",
            "ann",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let g: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        g["source"].as_str().unwrap().contains("by ann") && g["by"] == "lea",
        "{out}"
    );
    // The training set over the server is the local export, file for file.
    let (ok, _, err) = as_user(
        "rev",
        &["project", "approve", &url, "c000", "--annotator", "ann2"],
    );
    assert!(ok, "{err}");
    let (remote_out, local_out) = (
        team._dir.path().join("ds-remote"),
        team._dir.path().join("ds-local"),
    );
    let (ok, out, err) = as_user(
        "lea",
        &[
            "project",
            "export",
            &url,
            "--format",
            "nnunet",
            "-o",
            remote_out.to_str().unwrap(),
            "--channel-name",
            "CT",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["cases"], 1, "{out}");
    voxmark(
        &[
            "project",
            "export",
            &team.project,
            "--format",
            "nnunet",
            "-o",
            local_out.to_str().unwrap(),
            "--channel-name",
            "CT",
            "--data-root",
            team.data.to_str().unwrap(),
        ],
        &[],
    );
    for f in [
        "imagesTr/c000_0000.nii.gz",
        "labelsTr/c000.nii.gz",
        "dataset.json",
    ] {
        let (a, b) = (
            std::fs::read(remote_out.join("Dataset001_proj").join(f)).unwrap(),
            std::fs::read(local_out.join("Dataset001_proj").join(f)).unwrap(),
        );
        assert!(
            a == b,
            "{f} differs between the server's export and the local one"
        );
    }
    let local = voxmark(&["project", "gold-settings", &team.project, "--json"], &[]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&local).unwrap()["min_dice"],
        0.9
    );
    let (ok, _, err) = as_user("lea", &["project", "gold-scores", &url]);
    assert!(ok, "{err}");
    for cmd in [
        &["project", "report", &url, "--json"][..],
        &["project", "gold-scores", &url],
        &["project", "add-cases", &url, "s001.nii.gz"],
        &["project", "gold-settings", &url, "--rate", "0.5"],
        &["project", "gold", &url, "c000", "--from-annotator", "ann"],
        &[
            "project",
            "export",
            &url,
            "--format",
            "folder",
            "-o",
            "/tmp/never",
        ],
    ] {
        let (ok, _, err) = as_user("ann2", cmd);
        assert!(!ok && err.contains("403"), "{cmd:?}: {err}");
    }
    // Logging out revokes the token on the server.
    let token = std::fs::read_to_string(cfg("rev").join("config/voxmark/logins.json")).unwrap();
    let token: serde_json::Value = serde_json::from_str(&token).unwrap();
    let token = token[&url]["token"].as_str().unwrap().to_string();
    let (ok, _, _) = as_user("rev", &["logout", &url]);
    assert!(ok);
    let (s, b) = team.api.call(Some(&token), "GET", "/api/v1/me", Body::None);
    assert!(s == 401 && b.contains("revoked"), "{s} {b}");
}

#[test]
fn hostile_requests_get_a_clear_4xx_and_the_server_keeps_serving() {
    let mut team = Team::new(None, 20, "2");
    let api = &team.api;
    let t = team.t("lea").to_string();
    let expect = |s: (u16, String), want: u16, says: &str| {
        assert_eq!(s.0, want, "{}", s.1);
        let msg: serde_json::Value =
            serde_json::from_str(&s.1).unwrap_or_else(|_| panic!("not JSON: {}", s.1));
        let m = msg["error"].as_str().unwrap_or_default().to_lowercase();
        assert!(m.contains(says), "{m:?} lacks {says:?}");
    };
    // Malformed JSON, wrong content types.
    expect(
        api.call(
            Some(&t),
            "POST",
            "/api/v1/assign",
            Body::Json("{\"annotator\": "),
        ),
        400,
        "json",
    );
    expect(
        api.call(
            Some(&t),
            "POST",
            "/api/v1/assign",
            Body::Raw("text/plain", b"{}".to_vec()),
        ),
        415,
        "application/json",
    );
    expect(
        api.call(
            None,
            "POST",
            "/api/v1/login",
            Body::Raw("application/x-www-form-urlencoded", b"user=a".to_vec()),
        ),
        415,
        "application/json",
    );
    // A JSON body over the bound.
    let big = format!(
        r#"{{"annotator":"ann","cases":["{}"]}}"#,
        "x".repeat(100_000)
    );
    let (s, _) = api.call(Some(&t), "POST", "/api/v1/assign", Body::Json(&big));
    assert_eq!(s, 413);
    // Path traversal in case ids and file names; SQL-like names.
    expect(
        api.call(
            Some(&t),
            "GET",
            "/api/v1/cases/..%2F..%2Fetc/image",
            Body::None,
        ),
        400,
        "not a valid name",
    );
    let c = team.half();
    let api = &team.api;
    for name in [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "../../etc/passwd",
        "%2Fetc%2Fpasswd",
        "c000.nii.gz%00",
    ] {
        let (s, b) = api.call(
            Some(&t),
            "GET",
            &format!("/api/v1/cases/{c}/image/{name}"),
            Body::None,
        );
        assert!(s == 404 || s == 400, "{name}: {s} {b}");
        assert!(!b.contains("root:"), "{b}");
    }
    expect(
        api.call(
            Some(&t),
            "POST",
            "/api/v1/assign",
            Body::Json(r#"{"annotator":"x'; DROP TABLE users;--","cases":["c001"]}"#),
        ),
        404,
        "no account",
    );
    let (s, _) = api.call(
        None,
        "POST",
        "/api/v1/login",
        Body::Json(r#"{"user":"' OR 1=1 --","password":"' OR 1=1 --"}"#),
    );
    assert_eq!(s, 401);
    expect(
        api.call(Some(team.t("adm")), "POST", "/api/v1/users", Body::Json(r#"{"name":"bob'); DROP TABLE users;--","role":"viewer","password":"a long password"}"#)),
        400,
        "not a usable account name",
    );
    // A mask larger than its case allows (12×10×6 voxels), a mask that is not NIfTI, one on
    // another grid, one with values outside the schema.
    let ann2 = team.t("ann2").to_string();
    let slot = format!("/api/v1/cases/{c}/slots/ann2/versions");
    expect(
        api.call(
            Some(&ann2),
            "POST",
            &slot,
            Body::Mask(&vec![0u8; 2 << 20], None),
        ),
        413,
        "larger than case",
    );
    expect(
        api.call(
            Some(&ann2),
            "POST",
            &slot,
            Body::Mask(b"not a nifti file at all", None),
        ),
        422,
        "not a nifti",
    );
    let other = team._dir.path().join("other.nii.gz");
    voxmark(
        &[
            "phantom",
            "--out",
            other.to_str().unwrap(),
            "--size",
            "12,10,7",
        ],
        &[],
    );
    let other_mask = make_mask(&other, &team._dir.path().join("data"));
    let (s, b) = api.call(Some(&ann2), "POST", &slot, Body::Mask(&other_mask, None));
    assert_eq!(s, 422, "{b}");
    // The case's voxels with the rows reversed (a lossless reorientation the command-line
    // client takes across before upload): the server stores masks byte for byte, so it
    // takes only masks on the case's own grid.
    let flipped = {
        let img = voxmark_io::load_volume(&team.data.join("c000.nii.gz"), &Default::default())
            .unwrap()
            .volume;
        let [nx, ny, nz] = img.grid.dims;
        let mut g = img.grid;
        let y = g.world_from_voxel.y_axis;
        g.world_from_voxel.w_axis += y * (ny as f64 - 1.0);
        g.world_from_voxel.y_axis = -y;
        let mut labels = vec![0u8; nx * ny * nz];
        labels[nx * (ny - 1)] = 1;
        let v = voxmark_volume::Volume::new(
            g,
            voxmark_volume::VoxelData::U8(labels),
            voxmark_volume::Metadata {
                format: "nifti".into(),
                sform_code: 1,
                qform_code: 1,
                ..Default::default()
            },
        )
        .unwrap();
        let p = team._dir.path().join("flipped.nii.gz");
        voxmark_io::nifti::write_nifti(&p, &v).unwrap();
        std::fs::read(p).unwrap()
    };
    expect(
        api.call(Some(&ann2), "POST", &slot, Body::Mask(&flipped, None)),
        422,
        "not on the case's grid voxel for voxel",
    );
    let image = std::fs::read(team.data.join("c000.nii.gz")).unwrap();
    expect(
        api.call(Some(&ann2), "POST", &slot, Body::Mask(&image, None)),
        422,
        "is not an integer in 0..=255",
    );
    // The first bad voxel is named by (i, j, k): the phantom's corner is air (−1000 HU).
    let (_, b) = api.call(Some(&ann2), "POST", &slot, Body::Mask(&image, None));
    assert!(b.contains("at voxel (i, j, k) = (0, 0, 0)"), "{b}");
    expect(
        api.call(
            Some(&ann2),
            "POST",
            &slot,
            Body::Raw("application/octet-stream", team.mask.clone()),
        ),
        415,
        "multipart",
    );
    // A stale save: 409 naming who saved the newer version.
    let (s, b) = api.call(
        Some(&ann2),
        "POST",
        &format!("{slot}?base_version=0"),
        Body::Mask(&team.mask, None),
    );
    assert_eq!(s, 409, "{b}");
    assert!(b.contains("saved by ann2"), "{b}");
    // Expired and revoked tokens.
    let mut p = voxmark_project::Project::open(
        &voxmark_project::db::Location::parse(&team.project).unwrap(),
    )
    .unwrap();
    let expired = "vxm_expired-token-for-the-test";
    p.add_token(
        "ann",
        &voxmark_server::auth::token_sha256(expired),
        "test",
        voxmark_project::accounts::unix_now() - 1,
    )
    .unwrap();
    expect(
        api.call(Some(expired), "GET", "/api/v1/me", Body::None),
        401,
        "expired",
    );
    let tok = api.login("vie");
    api.ok(&tok, "POST", "/api/v1/logout", Body::None);
    expect(
        api.call(Some(&tok), "GET", "/api/v1/me", Body::None),
        401,
        "revoked",
    );
    // A disabled account's tokens stop at once; its login says why.
    let tok = api.login("ann");
    voxmark(
        &[
            "serve",
            "user",
            "disable",
            "ann",
            "--project",
            &team.project,
        ],
        &[],
    );
    // The change, made on the database directly, is in the audit log too.
    let log = voxmark(&["project", "audit", &team.project, "--json"], &[]);
    assert!(
        serde_json::from_str::<Vec<serde_json::Value>>(&log)
            .unwrap()
            .iter()
            .any(|e| e["action"] == "change-user"
                && e["detail"] == "account ann disabled"
                && e["remote"] == "command line"),
        "{log}"
    );
    expect(
        api.call(Some(&tok), "GET", "/api/v1/me", Body::None),
        401,
        "",
    );
    expect(
        api.call(
            None,
            "POST",
            "/api/v1/login",
            Body::Json(&format!(r#"{{"user":"ann","password":"{PW}"}}"#)),
        ),
        401,
        "disabled",
    );
    // Failed logins are rate limited (per account name; shared through the database).
    for _ in 0..auth_free() {
        let (s, _) = api.call(
            None,
            "POST",
            "/api/v1/login",
            Body::Json(r#"{"user":"rev","password":"wrong password!"}"#),
        );
        assert_eq!(s, 401);
    }
    let (s, b) = api.call(
        None,
        "POST",
        "/api/v1/login",
        Body::Json(&format!(r#"{{"user":"rev","password":"{PW}"}}"#)),
    );
    assert_eq!(s, 429, "even the right password waits: {b}");
    // Unknown endpoints, wrong methods.
    expect(
        api.call(Some(&t), "GET", "/api/v2/cases", Body::None),
        404,
        "no such endpoint",
    );
    // Still serving.
    api.ok(&t, "GET", "/api/v1/status", Body::None);
    // No secret in the server's output: run one with its log captured.
    drop(p);
}

fn auth_free() -> i64 {
    voxmark_server::auth::FREE_FAILURES
}

#[test]
fn nothing_secret_reaches_the_access_log() {
    let team = Team::new(None, 2, "1");
    let log = team._dir.path().join("serve.log");
    let mut child = Command::new(bin())
        .args([
            "serve",
            "--project",
            &team.project,
            "--listen",
            "127.0.0.1:0",
            "--data-root",
        ])
        .arg(&team.data)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let api = Api::new(line.trim().rsplit("listening on ").next().unwrap());
    let token = api.login("lea");
    api.ok(&token, "GET", "/api/v1/cases?annotator=ann", Body::None);
    let _ = api.call(
        None,
        "POST",
        "/api/v1/login",
        Body::Json(r#"{"user":"lea","password":"wrong-secret-pw"}"#),
    );
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("POST /api/v1/login 200") && text.contains("GET /api/v1/cases 200"),
        "{text}"
    );
    for secret in [token.as_str(), PW, "wrong-secret-pw", "annotator=ann"] {
        assert!(!text.contains(secret), "the log holds {secret:?}:\n{text}");
    }
}

/// Runs `openssl` to make a self-signed CA and a server certificate for 127.0.0.1 signed by
/// it (as a hospital's own CA would); returns (CA certificate, server certificate, key).
fn self_signed(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n).display().to_string();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl is installed by scripts/setup.sh");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=voxmark test CA",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("key.pem"),
        "-out",
        &p("server.csr"),
    ]);
    std::fs::write(dir.join("ext.cnf"), "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("ext.cnf"),
        "-out",
        &p("cert.pem"),
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

#[test]
fn tls_with_a_certificate_of_our_own_ca_and_plain_http_refused_on_its_port() {
    let team = Team::new(None, 2, "1");
    let (ca, cert, key) = self_signed(team._dir.path());
    let srv = Server::start(
        &team.project,
        &team.data,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(srv.url.starts_with("https://127.0.0.1:"), "{}", srv.url);
    let home = team._dir.path().join("home");
    let login = |extra: &[&str], env: &[(&str, &Path)]| {
        let mut c = Command::new(bin());
        c.args(["login", &srv.url, "--user", "ann"])
            .args(extra)
            .env("XDG_CONFIG_HOME", &home)
            .env("VOXMARK_PASSWORD", PW)
            .env_remove("SSL_CERT_FILE");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Not trusted: refused with a certificate error.
    let (ok, err) = login(&[], &[]);
    assert!(!ok && err.to_lowercase().contains("certificate"), "{err}");
    // Trusted by --ca-cert, then remembered for the next commands.
    let (ok, err) = login(&["--ca-cert", ca.to_str().unwrap()], &[]);
    assert!(ok, "{err}");
    let out = Command::new(bin())
        .args(["project", "status", &srv.url, "--json"])
        .env("XDG_CONFIG_HOME", &home)
        .env_remove("SSL_CERT_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Trusted through SSL_CERT_FILE.
    let (ok, err) = login(&[], &[("SSL_CERT_FILE", &ca)]);
    assert!(ok, "{err}");
    // Plain HTTP to the TLS port: a plain 400 that says so, and the server keeps serving.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", srv.port())).unwrap();
    s.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    use std::io::Read;
    let _ = s.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("HTTPS"),
        "{answer}"
    );
    let (ok, err) = login(&["--ca-cert", ca.to_str().unwrap()], &[]);
    assert!(ok, "{err}");
    // Plain HTTP beyond loopback is refused at start.
    let out = Command::new(bin())
        .args(["serve", "--project", &team.project, "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure-http"));
}

#[test]
fn a_server_killed_mid_upload_stores_nothing_and_the_client_says_so() {
    let mut team = Team::new(None, 4, "2");
    let c = team.half();
    let before = team.api.ok(
        team.t("ann2"),
        "GET",
        &format!("/api/v1/cases/{c}/slots/ann2/versions"),
        Body::None,
    );
    // Half a multipart upload on a raw connection, then kill -9.
    let boundary = "vxmboundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"mask\"; filename=\"m.nii.gz\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&team.mask);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut s = std::net::TcpStream::connect(("127.0.0.1", team.server.port())).unwrap();
    let head = format!(
        "POST /api/v1/cases/{c}/slots/ann2/versions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        team.t("ann2"),
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body[..body.len() / 2]).unwrap();
    s.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200)); // let the server start reading
    team.server.kill9();
    // Restarted on the same database: the version is absent, the slot still a draft at v1.
    team.server = Server::start(&team.project, &team.data, &[]);
    team.api = Api::new(&team.server.url);
    let after = team.api.ok(
        team.t("ann2"),
        "GET",
        &format!("/api/v1/cases/{c}/slots/ann2/versions"),
        Body::None,
    );
    assert_eq!(before, after, "a torn upload left a version");
    // The CLI client against a dead server: it says the save did not complete.
    let home = team._dir.path().join("home");
    let out = Command::new(bin())
        .args(["login", &team.server.url, "--user", "ann2"])
        .env("XDG_CONFIG_HOME", &home)
        .env("VOXMARK_PASSWORD", PW)
        .output()
        .unwrap();
    assert!(out.status.success());
    let url = team.server.url.clone();
    team.server.kill9();
    let mask = team._dir.path().join("m.nii.gz");
    std::fs::write(&mask, &team.mask).unwrap();
    let out = Command::new(bin())
        .args([
            "project",
            "save",
            &url,
            &c,
            "--annotator",
            "ann2",
            "--mask",
            mask.to_str().unwrap(),
        ])
        .env("XDG_CONFIG_HOME", &home)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("save again"), "{err}");
}

#[test]
fn two_servers_on_one_postgres_project_claim_each_case_once_and_racing_saves_conflict() {
    let dir = tempdir();
    let engines = project_engines("serve", dir.path());
    let Some((_, pg)) = engines.into_iter().find(|(e, _)| *e == "postgres") else {
        return; // project_engines said why (and fails under REQUIRE_PG=1)
    };
    let team = Team::new(Some(pg.clone()), 60, "1");
    let second = Server::start(&pg, &team.data, &[]);
    // 50 annotators.
    let mut p = voxmark_project::Project::open(&voxmark_project::db::Location::parse(&pg).unwrap())
        .unwrap();
    let hash = voxmark_server::auth::hash_password(PW).unwrap();
    for i in 0..50 {
        p.add_user(
            &format!("a{i:02}"),
            voxmark_project::accounts::Role::Annotator,
            &hash,
        )
        .unwrap();
    }
    let urls = [team.server.url.clone(), second.url.clone()];
    let tokens: Vec<(String, String)> = (0..50)
        .map(|i| {
            let api = Api::new(&urls[i % 2]);
            (urls[i % 2].clone(), api.login(&format!("a{i:02}")))
        })
        .collect();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(50));
    let claims: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = tokens
            .iter()
            .map(|(url, tok)| {
                let b = barrier.clone();
                s.spawn(move || {
                    let api = Api::new(url);
                    b.wait();
                    let body = api.ok(tok, "POST", "/api/v1/next", Body::None);
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                    v["case"].as_str().unwrap().to_string()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut unique = claims.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 50, "every case claimed once: {claims:?}");
    // Two sessions of one annotator save on top of the same version through both servers:
    // exactly one wins; the other gets 409 naming who saved first.
    let case = &claims[0];
    let (a, b) = (Api::new(&urls[0]), Api::new(&urls[1]));
    let ta = tokens[0].1.clone();
    let tb = b.login("a00");
    let slot = format!("/api/v1/cases/{case}/slots/a00/versions");
    a.ok(&ta, "POST", &slot, Body::Mask(&team.mask, None));
    let barrier = std::sync::Barrier::new(2);
    let results: Vec<(u16, String)> = std::thread::scope(|s| {
        let hs = [(&a, &ta), (&b, &tb)].map(|(api, t)| {
            let (barrier, slot, mask) = (&barrier, &slot, &team.mask);
            s.spawn(move || {
                barrier.wait();
                api.call(
                    Some(t),
                    "POST",
                    &format!("{slot}?base_version=1"),
                    Body::Mask(mask, None),
                )
            })
        });
        hs.map(|h| h.join().unwrap()).into_iter().collect()
    });
    let wins = results.iter().filter(|r| r.0 == 200).count();
    let conflicts: Vec<_> = results.iter().filter(|r| r.0 == 409).collect();
    assert_eq!((wins, conflicts.len()), (1, 1), "{results:?}");
    assert!(
        conflicts[0].1.contains("version 2 was saved by a00"),
        "{}",
        conflicts[0].1
    );
}

#[test]
fn images_come_as_their_files_with_etags_and_ranges_and_a_dicom_series_rebuilds_exactly() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let series = data.join("ct-series");
    std::fs::create_dir_all(&series).unwrap();
    voxmark(
        &[
            "phantom",
            "--out",
            &format!("{}/", series.display()),
            "--size",
            "24,20,12",
        ],
        &[],
    );
    let schema = dir.path().join("schema.json");
    std::fs::write(
        &schema,
        r#"{"labels":[{"value":1,"name":"body","color":[1,0,0]}]}"#,
    )
    .unwrap();
    let p = dir.path().join("proj").display().to_string();
    voxmark(
        &["project", "init", &p, "--schema", schema.to_str().unwrap()],
        &[],
    );
    let added = voxmark(
        &["project", "add-cases", &p, data.to_str().unwrap(), "--json"],
        &[],
    );
    let case = serde_json::from_str::<serde_json::Value>(&added).unwrap()[0]["case"]
        .as_str()
        .unwrap()
        .to_string();
    voxmark(
        &[
            "serve",
            "user",
            "add",
            "ann",
            "--role",
            "annotator",
            "--project",
            &p,
        ],
        &[("VOXMARK_PASSWORD", PW)],
    );
    let srv = Server::start(&p, &data, &[]);
    let api = Api::new(&srv.url);
    let home = dir.path().join("home");
    let env = |c: &mut Command| {
        c.env("XDG_CONFIG_HOME", home.join("cfg"))
            .env("XDG_CACHE_HOME", home.join("cache"));
    };
    let mut login = Command::new(bin());
    login
        .args(["login", &srv.url, "--user", "ann"])
        .env("VOXMARK_PASSWORD", PW);
    env(&mut login);
    assert!(login.output().unwrap().status.success());
    let mut next = Command::new(bin());
    next.args(["project", "next", &srv.url, "--annotator", "ann", "--json"]);
    env(&mut next);
    let out = next.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let local = PathBuf::from(v["image_path"].as_str().unwrap());
    assert!(
        local.is_dir() && local.starts_with(home.join("cache")),
        "{}",
        local.display()
    );
    // The rebuilt series reads back with the same geometry and voxels as the server's.
    let a = voxmark_io::load_volume(&series, &Default::default())
        .unwrap()
        .volume;
    let b = voxmark_io::load_volume(&local, &Default::default())
        .unwrap()
        .volume;
    assert_eq!(a.grid.dims, b.grid.dims);
    assert_eq!(a.grid.world_from_voxel, b.grid.world_from_voxel);
    assert!(a.data == b.data, "the voxels are the server's");
    // One file: ETag = sha256, 304 on If-None-Match, a byte range.
    let token = api.login("ann");
    let listing: serde_json::Value = serde_json::from_str(&api.ok(
        &token,
        "GET",
        &format!("/api/v1/cases/{case}/image"),
        Body::None,
    ))
    .unwrap();
    assert_eq!(listing["kind"], "dicom-series");
    let f = &listing["files"][0];
    let name = f["name"].as_str().unwrap();
    let on_disk = std::fs::read(series.join(name)).unwrap();
    assert_eq!(f["sha256"], voxmark_volume::fs::sha256_hex(&on_disk));
    let url = format!("{}/api/v1/cases/{case}/image/{name}", srv.url);
    let http = reqwest::blocking::Client::new();
    let r = http.get(&url).bearer_auth(&token).send().unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", f["sha256"].as_str().unwrap()));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().unwrap().as_ref(), on_disk.as_slice());
    let r = http
        .get(&url)
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 304);
    let r = http
        .get(&url)
        .bearer_auth(&token)
        .header("range", "bytes=128-131")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes 128-131/{}", on_disk.len())
    );
    assert_eq!(r.bytes().unwrap().as_ref(), &on_disk[128..132]);
    assert_eq!(&on_disk[128..132], b"DICM");
    let r = http
        .get(&url)
        .bearer_auth(&token)
        .header("range", "bytes=999999999-")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 416);
}
