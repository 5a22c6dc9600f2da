//! Renders reports from the fixture runs and loads them in headless Chromium: the DOM must
//! have the title, the tables and the plots, and a screenshot is kept for a human to look at
//! (path printed; under `target/tmp/`). Browser: env `DTPRUNE_CHROMIUM`, default
//! `/usr/bin/chromium` (Debian package `chromium`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dtprune_report::render_report;

fn chromium() -> Option<PathBuf> {
    let p = PathBuf::from(
        std::env::var("DTPRUNE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    if p.is_file() {
        Some(p)
    } else {
        common::missing_tool(
            &format!("headless browser {}", p.display()),
            "apt-get install chromium",
        );
        None
    }
}

/// Runs chromium headless on `page` with `extra` flags; returns stdout. A fresh profile dir
/// per call, no network services, killed after 120 s so a hung browser fails the test.
fn run_chromium(bin: &Path, page: &Path, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out_file = profile.path().join("stdout.txt");
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(&out_file).unwrap()
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

fn check_in_browser(runs: &[&str], label: &str, title: &str) {
    let Some(bin) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let run_dirs: Vec<PathBuf> = runs.iter().map(|r| common::fixture(r)).collect();
    render_report(&run_dirs, &report).unwrap();

    let dom = run_chromium(&bin, &report, &["--dump-dom".into()]);
    assert!(
        dom.contains(&format!("<title>{title}</title>")),
        "title missing from DOM:\n{}",
        &dom[..dom.len().min(2000)]
    );
    // Summary + per run: layers and events.
    assert_eq!(count(&dom, "<table"), 1 + 2 * runs.len(), "tables");
    // Trade-off + per run: metrics, thresholds, sparsity.
    assert_eq!(count(&dom, "<svg"), 1 + 3 * runs.len(), "plots");
    for needle in [
        "Summary",
        "Accuracy vs sparsity",
        "Event log",
        "fc1.weight",
        "rollback",
    ] {
        assert!(dom.contains(needle), "{needle} missing from DOM");
    }
    // The page must not reach for the network.
    for needle in ["http://", "https://", "<script", "<link"] {
        let allowed = count(&dom, "http://www.w3.org/2000/svg");
        if needle == "http://" {
            assert_eq!(count(&dom, needle), allowed, "external reference in report");
        } else {
            assert_eq!(count(&dom, needle), 0, "{needle} in report");
        }
    }

    let shot_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let shot = shot_dir.join(format!("report-{label}.png"));
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &bin,
        &report,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000".into(),
        ],
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(&png[..4], b"\x89PNG");
    assert!(
        png.len() > 50_000,
        "screenshot suspiciously small: {} bytes",
        png.len()
    );
    // Keep the report next to the screenshot for a look in a real browser.
    let _ = std::fs::copy(&report, shot_dir.join(format!("report-{label}.html")));
    println!("screenshot: {}", shot.display());
}

#[test]
fn single_run_report_loads_in_chromium() {
    check_in_browser(&["run-a"], "single", "dtprune report: run-a");
}

#[test]
fn two_run_report_loads_in_chromium() {
    check_in_browser(
        &["run-a", "run-b"],
        "compare",
        "dtprune report: 2 runs (run-a, run-b)",
    );
}
