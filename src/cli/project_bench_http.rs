//! `voxmark project bench P --http`: the team server under load, end to end over HTTP on
//! 127.0.0.1. A new project at `P` (a folder or an empty PostgreSQL database) gets cases that
//! all show one synthetic CT of `--mask-size` (the phantom, written once, hard-linked per
//! case), annotator accounts, and a `voxmark serve` running in this process; then, for each
//! client count, that many clients at once (each its own account and connection, as the CLI
//! client makes them):
//!
//! - claim: `POST /next` once each (a real claim: each takes a new case);
//! - save: upload a body mask of the phantom on the case's grid (decoded, checked against
//!   grid and schema, stored in the database);
//! - status and cases: `GET /status`, `GET /cases`, `--requests` times each;
//!
//! and one client downloads the image (`GET /cases/C/image/NAME`) against copying the file
//! locally. Latencies are per request, from the client: p50 and p99.

use std::path::Path;
use std::sync::Barrier;
use std::time::Instant;
use voxmark_project::accounts::Role;
use voxmark_project::db::Location;
use voxmark_project::schema::LabelSchema;
use voxmark_project::{NewCase, Project, Settings};
use voxmark_server::client::Client;

const PASSWORD: &str = "bench password (not a secret)";

/// p50 and p99 of `t` (ms), nearest rank.
fn p50_p99(t: &[f64]) -> (f64, f64) {
    let mut s = t.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return (0.0, 0.0);
    }
    let at = |q: f64| s[((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
    (at(0.50), at(0.99))
}

/// Runs `f(client, i)` on `clients` threads at once (released together), `each` times per
/// thread; returns every call's milliseconds.
fn concurrently(
    clients: &[Client],
    each: usize,
    f: &(dyn Fn(&Client, usize) -> anyhow::Result<()> + Sync),
) -> anyhow::Result<Vec<f64>> {
    let barrier = Barrier::new(clients.len());
    std::thread::scope(|s| {
        let hs: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let barrier = &barrier;
                s.spawn(move || -> anyhow::Result<Vec<f64>> {
                    barrier.wait();
                    let mut t = Vec::with_capacity(each);
                    for _ in 0..each {
                        let t0 = Instant::now();
                        f(c, i)?;
                        t.push(t0.elapsed().as_secs_f64() * 1e3);
                    }
                    Ok(t)
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in hs {
            all.extend(
                h.join()
                    .map_err(|_| anyhow::anyhow!("a bench client panicked"))??,
            );
        }
        Ok(all)
    })
}

#[derive(serde::Serialize)]
struct Row {
    op: String,
    engine: &'static str,
    clients: usize,
    requests: usize,
    p50_ms: f64,
    p99_ms: f64,
}

pub fn run(
    project: &str,
    size: [usize; 3],
    client_counts: &[usize],
    requests: usize,
    json: bool,
) -> anyhow::Result<()> {
    let loc = Location::parse(project)?;
    let engine = match loc {
        Location::Folder(_) => "sqlite",
        Location::Server(_) => "postgresql",
    };
    // A claim is timed once per account (a second `next` returns the queue head): with few
    // clients, several waves of fresh accounts give `requests` samples.
    let waves = |n: usize| (requests / n.max(1)).max(1);
    let accounts: usize = client_counts.iter().map(|&n| n * waves(n)).sum();
    let data = tempfile::tempdir()?;
    // One synthetic CT and a body mask on its grid.
    let phantom = voxmark_volume::phantom::Phantom::new(size)?;
    let vol = phantom.volume();
    let image = data.path().join("image.nii.gz");
    eprintln!("bench: writing a {size:?} CT and its mask");
    voxmark_io::nifti::write_nifti(&image, &vol)?;
    let [nx, ny, nz] = size;
    let mut labels = vec![0u8; nx * ny * nz];
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                if phantom.tissue(i, j, k) != voxmark_volume::phantom::Tissue::Air {
                    labels[i + nx * (j + ny * k)] = 1;
                }
            }
        }
    }
    let mask_path = data.path().join("mask.nii.gz");
    voxmark_io::label_file::save_labels(&mask_path, &vol, labels, &[])?;
    let mask = std::fs::read(&mask_path)?;
    let cases = accounts + 4;
    for i in 0..cases {
        std::fs::hard_link(&image, data.path().join(format!("case{i:04}.nii.gz")))?;
    }
    // The project, its cases and accounts.
    let schema = LabelSchema::parse(
        r#"{"labels":[{"value":1,"name":"body","color":[0.9,0.4,0.3]}]}"#,
        Path::new("bench"),
    )?;
    let mut p = Project::init(&loc, "bench", &schema, &Settings::default())?;
    let items: Vec<NewCase> = (0..cases)
        .map(|i| NewCase {
            image: format!("case{i:04}.nii.gz"),
            series_uid: String::new(),
            stem: format!("case{i:04}"),
        })
        .collect();
    p.add_case_records(&items, Some(&data.path().to_path_buf()))?;
    let hash = voxmark_server::auth::hash_password(PASSWORD)?;
    for a in 0..accounts {
        p.add_user(&format!("bench{a:03}"), Role::Annotator, &hash)?;
    }
    drop(p);
    // The server, in this process.
    let (tx, rx) = std::sync::mpsc::channel();
    let opts = voxmark_server::ServeOptions {
        project: loc.clone(),
        listen: "127.0.0.1:0".parse()?,
        data_root: Some(data.path().to_path_buf()),
        tls: None,
        insecure_http: false,
        session_hours: 1,
        connections: 8,
        access_log: false,
        upload_memory_mib: 2048,
        export_dir: None,
    };
    std::thread::spawn(move || {
        if let Err(e) = voxmark_server::serve(opts, |addr| {
            let _ = tx.send(addr);
        }) {
            eprintln!("bench: the server stopped: {e}");
        }
    });
    let url = format!("http://{}", rx.recv()?);
    let mut rows = Vec::new();
    let mut first = 0;
    for &n in client_counts {
        eprintln!("bench: {n} client(s)");
        let (mut claims, mut saves) = (Vec::new(), Vec::new());
        let mut clients = Vec::new();
        for _ in 0..waves(n) {
            // Fresh accounts, each its own connection, logged in before the clock starts.
            clients = (first..first + n)
                .map(|a| Client::login_token(&url, &format!("bench{a:03}"), PASSWORD, None))
                .collect::<voxmark_volume::Result<Vec<_>>>()?;
            first += n;
            let claimed: std::sync::Mutex<Vec<(usize, String)>> = Default::default();
            claims.extend(concurrently(&clients, 1, &|c, i| {
                let r: Option<voxmark_project::CaseRow> =
                    c.post_json("/api/v1/next", &serde_json::json!({}))?;
                let case = r
                    .ok_or_else(|| anyhow::anyhow!("no case left to claim"))?
                    .case;
                if let Ok(mut v) = claimed.lock() {
                    v.push((i, case));
                }
                Ok(())
            })?);
            let claimed = claimed.into_inner().unwrap_or_default();
            saves.extend(concurrently(&clients, 1, &|c, i| {
                let case = claimed
                    .iter()
                    .find(|(j, _)| *j == i)
                    .map(|(_, c)| c.clone())
                    .ok_or_else(|| anyhow::anyhow!("client {i} claimed nothing"))?;
                let user = c.user.clone().unwrap_or_default();
                c.save_mask(&case, &user, mask.clone(), None, Some(0))?;
                Ok(())
            })?);
        }
        let mut row = |op: &str, requests: usize, t: Vec<f64>| {
            let (p50, p99) = p50_p99(&t);
            rows.push(Row {
                op: op.into(),
                engine,
                clients: n,
                requests,
                p50_ms: p50,
                p99_ms: p99,
            });
        };
        row("claim (POST /next)", claims.len(), claims);
        let label = format!("save ({nx}×{ny}×{nz} mask, {} KiB)", mask.len() / 1024);
        row(&label, saves.len(), saves);
        let t = concurrently(&clients, requests, &|c, _| {
            c.get_json::<serde_json::Value>("/api/v1/status")?;
            Ok(())
        })?;
        row("status (GET /status)", n * requests, t);
        let t = concurrently(&clients, requests, &|c, _| {
            c.get_json::<serde_json::Value>("/api/v1/cases")?;
            Ok(())
        })?;
        row("cases (GET /cases)", n * requests, t);
    }
    // Image download against a local copy (both from the page cache).
    let c = Client::login_token(&url, "bench000", PASSWORD, None)?;
    let bytes = std::fs::metadata(&image)?.len() as f64;
    let mut http = Vec::new();
    let mut copy = Vec::new();
    let case = "case0000";
    for _ in 0..5 {
        let t0 = Instant::now();
        let (_, b) = c.get_bytes(&format!("/api/v1/cases/{case}/image/{case}.nii.gz"))?;
        http.push(t0.elapsed().as_secs_f64());
        anyhow::ensure!(b.len() as f64 == bytes, "the download is short");
        let t0 = Instant::now();
        std::fs::copy(&image, data.path().join("copy.nii.gz"))?;
        copy.push(t0.elapsed().as_secs_f64());
    }
    let mbs = |t: &[f64]| bytes / 1e6 / crate::bench::summary(t).0;
    let (http_mbs, copy_mbs) = (mbs(&http), mbs(&copy));
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "rows": rows,
                "image_bytes": bytes,
                "download_mb_s": http_mbs,
                "local_copy_mb_s": copy_mbs,
            }))?
        );
    } else {
        println!("{engine}: server on {url}, {cases} cases of {nx}×{ny}×{nz}");
        println!("| operation | engine | clients | requests | p50 ms | p99 ms |\n|---|---|---:|---:|---:|---:|");
        for r in &rows {
            println!(
                "| {} | {} | {} | {} | {:.1} | {:.1} |",
                r.op, r.engine, r.clients, r.requests, r.p50_ms, r.p99_ms
            );
        }
        println!(
            "image download ({:.1} MB): {http_mbs:.0} MB/s over HTTP, {copy_mbs:.0} MB/s copying the file locally",
            bytes / 1e6
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let t: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(p50_p99(&t), (50.0, 99.0));
        assert_eq!(p50_p99(&[7.0]), (7.0, 7.0));
        assert_eq!(p50_p99(&[]), (0.0, 0.0));
    }
}
