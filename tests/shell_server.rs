//! The shell's project panel over a team server (`voxmark serve`, a child process on
//! 127.0.0.1): after `voxmark login`, `view --project URL` needs no database and no data
//! root — Next case claims through the server and opens the image fetched into the cache,
//! Ctrl+S uploads the working copy as a version bit for bit, Submit moves it to review, and
//! the server's audit log has each step.
//!
//! Its own test binary: it sets the process's XDG_CONFIG_HOME, XDG_CACHE_HOME and
//! XDG_DATA_HOME (login, image cache, working copies). In one process with
//! `shell_project`'s test, its XDG_DATA_HOME moved that test's working-copy folder under it
//! (its reopen then found no copy and fetched the stored version).
#![cfg(feature = "gui")]

mod common;

use common::ok;
use eframe::egui::{Key, Modifiers};
use voxmark_app::headless::Headless;
use voxmark_app::project_session::ProjectSession;
use voxmark_app::shell::{Dialog, Shell};
use voxmark_edit::ops::{EditOp, Editable};
use voxmark_project::db::Location;
use voxmark_project::schema::LabelSchema;
use voxmark_project::{Project, Settings};
use voxmark_volume::phantom::Phantom;

#[test]
fn the_shell_works_a_case_from_a_team_server() {
    let Some(gpu) = common::gpu().map(|g| &*Box::leak(Box::new(g))) else {
        return;
    };
    let tmp = common::tempdir();
    let root = tmp.path();
    let data = root.join("data");
    ok(std::fs::create_dir_all(&data));
    let v = ok(Phantom::new([40, 36, 24])).volume();
    ok(voxmark_io::nifti::write_nifti(&data.join("a.nii.gz"), &v));
    let p = root.join("proj").display().to_string();
    let loc = ok(Location::parse(&p));
    let schema = ok(LabelSchema::parse(
        r#"{"labels":[{"value":1,"name":"bone","color":[0.9,0.9,0.8]}]}"#,
        std::path::Path::new("schema.json"),
    ));
    let mut admin = ok(Project::init(&loc, "chest", &schema, &Settings::default()));
    ok(admin.add_cases(std::slice::from_ref(&data), Some(&data)));
    let pw = "a long password for ann";
    let hash = ok(voxmark_server::auth::hash_password(pw));
    ok(admin.add_user("ann", voxmark_project::accounts::Role::Annotator, &hash));
    let mut server = ok(std::process::Command::new(common::bin())
        .args([
            "serve",
            "--project",
            &p,
            "--listen",
            "127.0.0.1:0",
            "--data-root",
        ])
        .arg(&data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn());
    let mut line = String::new();
    ok(std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap_or_else(|| panic!("stdout"))),
        &mut line,
    ));
    let url = line
        .trim()
        .rsplit("listening on ")
        .next()
        .unwrap_or("")
        .to_string();
    // This process is the user's shell: its config, cache and data folders are the test's.
    for (var, dir) in [
        ("XDG_CONFIG_HOME", "cfg"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_DATA_HOME", "xdg"),
    ] {
        std::env::set_var(var, root.join(dir));
    }
    let login = ok(std::process::Command::new(common::bin())
        .args(["login", &url, "--user", "ann"])
        .env("VOXMARK_PASSWORD", pw)
        .output());
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    // Another name than the login's is refused; none means the login's.
    assert!(ProjectSession::open(&url, Some("bob"), None).is_err());
    let session = ok(ProjectSession::open(&url, None, None));
    assert_eq!(session.annotator, "ann");
    assert!(session.work_dir.starts_with(root.join("xdg")));
    let mut shell = Shell::empty(gpu);
    shell.start_project(session, None);
    let mut h = Headless::new(shell, [1200, 800]);
    ok(h.idle(2));
    h.shell.project_next();
    let done = ok(h.frames_until(3000, |s| {
        (!s.is_loading() && s.doc.is_some()) || matches!(s.dialog, Some(Dialog::Error(_)))
    }));
    if let Some(Dialog::Error(m)) = &h.shell.dialog {
        panic!("{m}");
    }
    assert!(done, "the case opened");
    let image = h
        .shell
        .doc
        .as_ref()
        .and_then(|d| d.image_path.clone())
        .unwrap_or_default();
    assert!(image.starts_with(root.join("cache")), "{}", image.display());
    assert_eq!(
        ok(std::fs::read(&image)),
        ok(std::fs::read(data.join("a.nii.gz"))),
        "the cached image is the server's file"
    );
    h.shell.apply(EditOp::Threshold {
        range: [400.0, 3000.0],
        label: 1,
        roi: None,
        editable: Editable::Everywhere,
    });
    assert!(common::shell_labels(&h).contains(&1));
    ok(h.key(Key::S, Modifiers::COMMAND));
    assert!(ok(h.frames_until(2000, |s| !s.is_saving())));
    assert!(h.shell.dialog.is_none(), "{}", h.shell.status);
    let copy = h
        .shell
        .doc
        .as_ref()
        .map(|d| d.labels_path.clone())
        .unwrap_or_default();
    let mut proj = ok(Project::open(&loc));
    let (v1, bytes) = ok(proj.get_version("a", "ann", None));
    assert_eq!((v1.version, v1.author.as_str()), (1, "ann"));
    assert!(
        bytes == ok(std::fs::read(&copy)),
        "version 1 is the saved file bit for bit"
    );
    h.shell.project_submit();
    assert_eq!(ok(proj.cases(None, Some("ann")))[0].status, "submitted");
    let audit = ok(proj.audit(Some("ann"), Some("a")));
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    for a in ["next", "read-image", "save", "submit"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let _ = server.kill();
    let _ = server.wait();
}
