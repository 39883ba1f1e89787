//! The shell on a project (`voxmark view --project P --annotator NAME`), driven through the
//! offscreen harness: Next case claims and opens a case on the annotator's working copy,
//! Ctrl+S stores the mask as a version bit for bit, Submit moves it to review, a version saved
//! elsewhere in the meantime makes the next save refused (naming who) without losing the
//! local save, reopening keeps the unstored work and says a newer version exists, "keep
//! mine" stores it on top; a reviewer in a second shell opens submitted work from the
//! waiting list, sends it back and later approves it.
#![cfg(feature = "gui")]

mod common;

use common::{ok, shell_labels as labels};
use eframe::egui::{Key, Modifiers};
use voxmark_app::headless::Headless;
use voxmark_app::project_session::ProjectSession;
use voxmark_app::shell::{Dialog, Shell};
use voxmark_edit::ops::{EditOp, Editable};
use voxmark_project::db::Location;
use voxmark_project::review_db::Status;
use voxmark_project::schema::LabelSchema;
use voxmark_project::{Project, Settings};
use voxmark_volume::phantom::Phantom;

/// Waits until the document is open (failing at once on an error dialog).
fn opened(h: &mut Headless) {
    let done = ok(h.frames_until(3000, |s| {
        (!s.is_loading() && s.doc.is_some()) || matches!(s.dialog, Some(Dialog::Error(_)))
    }));
    if let Some(Dialog::Error(m)) = &h.shell.dialog {
        panic!("{m}");
    }
    assert!(done, "the case opened");
}

#[test]
fn an_annotator_works_a_project_case_in_the_shell() {
    let Some(gpu) = common::gpu().map(|g| &*Box::leak(Box::new(g))) else {
        return;
    };
    let tmp = common::tempdir();
    for (engine, p) in common::project_engines("shell", tmp.path()) {
        let root = tmp.path().join(engine);
        ok(std::fs::create_dir_all(&root));
        annotate_and_review(gpu, &root, &p);
    }
}

/// The whole round on the project at `p` (a fresh folder or database), files under `root`.
fn annotate_and_review(gpu: &'static voxmark_gpu::GpuContext, root: &std::path::Path, p: &str) {
    // Working copies go to the user's data folder: here, the test's own.
    std::env::set_var("XDG_DATA_HOME", root.join("xdg"));
    let data = root.join("data");
    ok(std::fs::create_dir_all(&data));
    for name in ["a", "b"] {
        let v = ok(Phantom::new([40, 36, 24])).volume();
        ok(voxmark_io::nifti::write_nifti(
            &data.join(format!("{name}.nii.gz")),
            &v,
        ));
    }
    let loc = ok(Location::parse(p));
    let schema = ok(LabelSchema::parse(
        r#"{"labels":[{"value":1,"name":"bone","color":[0.9,0.9,0.8]},{"value":2,"name":"lung","color":[0.3,0.5,0.9]}]}"#,
        std::path::Path::new("schema.json"),
    ));
    let mut admin = ok(Project::init(&loc, "chest", &schema, &Settings::default()));
    ok(admin.add_cases(std::slice::from_ref(&data), Some(&data)));

    let session = ok(ProjectSession::open(p, Some("ann"), Some(&data)));
    let mut shell = Shell::empty(gpu);
    shell.start_project(session, None);
    let mut h = Headless::new(shell, [1200, 800]);
    ok(h.idle(2));
    assert!(h.shell.doc.is_none(), "nothing claimed before Next case");
    h.shell.project_next();
    assert!(ok(
        h.frames_until(3000, |s| !s.is_loading() && s.doc.is_some())
    ));
    let case = h
        .shell
        .project
        .as_ref()
        .and_then(|p| p.session.current.as_ref())
        .map(|c| c.row.case.clone())
        .unwrap_or_else(|| panic!("a case is open"));
    assert_eq!(case, "a");
    // The schema's labels are the label table; paint bone by threshold, save.
    let table: Vec<(u8, String)> = h
        .shell
        .doc
        .as_ref()
        .map(|d| {
            d.state
                .session
                .table()
                .iter()
                .map(|l| (l.value, l.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        table,
        vec![(1, "bone".to_string()), (2, "lung".to_string())]
    );
    h.shell.apply(EditOp::Threshold {
        range: [400.0, 3000.0],
        label: 1,
        roi: None,
        editable: Editable::Everywhere,
    });
    let painted = labels(&h);
    assert!(painted.contains(&1));
    ok(h.key(Key::S, Modifiers::COMMAND));
    assert!(ok(h.frames_until(2000, |s| !s.is_saving())));
    assert!(h.shell.dialog.is_none(), "{}", h.shell.status);
    let copy = h
        .shell
        .doc
        .as_ref()
        .map(|d| d.labels_path.clone())
        .unwrap_or_default();
    assert!(copy.starts_with(root.join("xdg")), "{}", copy.display());
    let mut proj = ok(Project::open(&loc));
    let (v1, bytes) = ok(proj.get_version("a", "ann", None));
    assert_eq!(v1.version, 1);
    assert!(
        bytes == ok(std::fs::read(&copy)),
        "version 1 is the saved file bit for bit"
    );
    let stored = ok(voxmark_io::nifti::read_nifti(&copy));
    let grid = h
        .shell
        .doc
        .as_ref()
        .map(|d| d.image().grid)
        .unwrap_or_else(|| panic!("doc"));
    assert_eq!(
        ok(voxmark_volume::labels::labels_for(&stored, &copy, &grid)),
        painted
    );
    // Submit; a reviewer sends it back; Next case reopens it first.
    h.shell.project_submit();
    assert_eq!(ok(proj.cases(None, Some("ann")))[0].status, "submitted");
    // The reviewer, in their own shell, opens it from the waiting list and sends it back.
    let session = ok(ProjectSession::open(p, Some("rev"), Some(&data)));
    let mut shell = Shell::empty(gpu);
    shell.start_project(session, None);
    let mut hr = Headless::new(shell, [1200, 800]);
    ok(hr.idle(2));
    let waiting = hr
        .shell
        .project
        .as_mut()
        .map(|p| ok(p.session.to_review()))
        .unwrap_or_default();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].annotator.as_deref(), Some("ann"));
    hr.shell.project_review(&waiting[0]);
    opened(&mut hr);
    assert_eq!(labels(&hr), painted, "the reviewer sees version 1");
    hr.shell
        .project_decide(Status::ChangesRequested, Some("lungs too"));
    let row = &ok(proj.cases(None, Some("ann")))[0];
    assert_eq!((row.status.as_str(), row.round), ("changes_requested", 1));
    h.shell.project_next();
    opened(&mut h);
    ok(h.idle(2));
    let notes: Vec<String> = h
        .shell
        .project
        .as_ref()
        .map(|p| p.comments().iter().map(|c| c.body.clone()).collect())
        .unwrap_or_default();
    assert!(
        notes.iter().any(|n| n == "changes_requested: lungs too"),
        "the annotator sees the reviewer's note: {notes:?}"
    );
    let cur = h
        .shell
        .project
        .as_ref()
        .and_then(|p| p.session.current.clone());
    assert_eq!(
        cur.as_ref().map(|c| (c.row.case.as_str(), c.base)),
        Some(("a", 1))
    );
    // Meanwhile the same annotator saves version 2 from another machine.
    ok(proj.save_version("a", "ann", &bytes, None, Some(1), "ann@laptop"));
    h.shell.apply(EditOp::Threshold {
        range: [-900.0, -700.0],
        label: 2,
        roi: None,
        editable: Editable::EmptyOnly,
    });
    let unstored = labels(&h);
    ok(h.key(Key::S, Modifiers::COMMAND));
    assert!(ok(h.frames_until(2000, |s| !s.is_saving())));
    match &h.shell.dialog {
        Some(Dialog::Error(m)) => assert!(
            m.contains("version 2 was saved by ann@laptop") && m.contains("labels are saved"),
            "{m}"
        ),
        _ => panic!(
            "the stale save is refused with a message ({})",
            h.shell.status
        ),
    }
    assert_eq!(
        ok(proj.versions("a", "ann")).len(),
        2,
        "nothing stored on top"
    );
    // The local save holds the work; reopening (after closing the window: one window owns
    // a working copy at a time) keeps it and says a newer version exists.
    drop(h);
    let session = ok(ProjectSession::open(p, Some("ann"), Some(&data)));
    let mut shell = Shell::empty(gpu);
    shell.start_project(session, None);
    let mut h2 = Headless::new(shell, [1200, 800]);
    assert!(ok(
        h2.frames_until(3000, |s| !s.is_loading() && s.doc.is_some())
    ));
    assert_eq!(labels(&h2), unstored, "the unstored work is what opens");
    assert!(
        h2.shell
            .status
            .contains("version 2 was saved by ann@laptop"),
        "{}",
        h2.shell.status
    );
    // Saving again is refused; after looking, "keep mine" stores it on top of version 2.
    ok(h2.key(Key::S, Modifiers::COMMAND));
    assert!(ok(h2.frames_until(2000, |s| !s.is_saving())));
    assert!(matches!(h2.shell.dialog, Some(Dialog::Error(_))));
    h2.shell.dialog = None;
    h2.shell.project_keep_mine();
    assert!(ok(h2.frames_until(2000, |s| !s.is_saving())));
    assert!(h2.shell.dialog.is_none(), "{}", h2.shell.status);
    let (v3, mine) = ok(proj.get_version("a", "ann", None));
    assert_eq!(v3.version, 3);
    let copy2 = h2
        .shell
        .doc
        .as_ref()
        .map(|d| d.labels_path.clone())
        .unwrap_or_default();
    assert!(mine == ok(std::fs::read(&copy2)));
    // Resubmitted (round 2); the reviewer approves it from the shell.
    h2.shell.project_submit();
    let row = ok(proj.cases(None, Some("ann")))[0].clone();
    assert_eq!((row.status.as_str(), row.round), ("submitted", 2));
    hr.shell.project_review(&row);
    opened(&mut hr);
    assert_eq!(labels(&hr), unstored, "the reviewer sees version 3");
    hr.shell.project_decide(Status::Approved, None);
    let st = ok(proj.status());
    assert_eq!(st.by_status.get("approved"), Some(&1));
    // `voxmark view --project P --case a` (the QA report's links): someone without an
    // annotation of the case opens the latest submitted one for review; the annotator opens
    // their own; an unknown case is an error naming it.
    for (who, want_review) in [("lead", true), ("ann", false)] {
        let session = ok(ProjectSession::open(p, Some(who), Some(&data)));
        let mut shell = Shell::empty(gpu);
        shell.start_project_case(session, "a");
        let mut hc = Headless::new(shell, [1200, 800]);
        opened(&mut hc);
        assert_eq!(labels(&hc), unstored, "{who} sees version 3");
        let reviewing = hc
            .shell
            .project
            .as_ref()
            .is_some_and(|p| p.session.reviewing.is_some());
        assert_eq!(reviewing, want_review, "{who}");
    }
    let session = ok(ProjectSession::open(p, Some("lead"), Some(&data)));
    let mut shell = Shell::empty(gpu);
    shell.start_project_case(session, "nope");
    match &shell.dialog {
        Some(Dialog::Error(m)) => assert!(m.contains("no case nope"), "{m}"),
        _ => panic!("an unknown case is an error"),
    }
}
