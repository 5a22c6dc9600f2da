//! `render_report` on bad input: a clear error naming the file (and line), or a page that says
//! what is missing; never a panic, never an empty page.

mod common;

use std::fs;
use std::path::PathBuf;

use dtprune_report::{render_report, tb_from_history, write_run_metrics_csv, ReportError};

#[test]
fn folder_that_is_not_a_run() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("notes.txt"), "hello").unwrap();
    let out = d.path().join("r.html");
    let err = render_report(&[d.path().to_path_buf()], &out).unwrap_err();
    assert!(matches!(err, ReportError::NotARun { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("not a dtprune run directory"), "{msg}");
    assert!(
        msg.contains("history.jsonl") && msg.contains("summary.json"),
        "{msg}"
    );
    assert!(!out.exists(), "no report on error");

    let err = render_report(&[d.path().join("missing")], &out).unwrap_err();
    assert!(err.to_string().contains("no such directory"), "{err}");
    // A file given instead of a folder.
    let err = render_report(&[d.path().join("notes.txt")], &out).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert!(matches!(render_report(&[], &out), Err(ReportError::NoRuns)));
}

#[test]
fn broken_history_line_names_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let good = fs::read_to_string(common::fixture("run-a/history.jsonl")).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    let cut = &lines[3][..lines[3].len() / 2]; // a line cut short, as by a killed writer
    lines[3] = cut;
    fs::write(d.path().join("history.jsonl"), lines.join("\n")).unwrap();
    let err = render_report(&[d.path().to_path_buf()], &d.path().join("r.html")).unwrap_err();
    let msg = err.to_string();
    let expected = format!("{}:4:", d.path().join("history.jsonl").display());
    assert!(msg.starts_with(&expected), "{msg}");
    assert!(matches!(err, ReportError::HistoryLine { line: 4, .. }));

    assert!(matches!(
        tb_from_history(d.path()),
        Err(ReportError::HistoryLine { line: 4, .. })
    ));
    assert!(matches!(
        write_run_metrics_csv(d.path()),
        Err(ReportError::HistoryLine { line: 4, .. })
    ));
}

#[test]
fn invalid_summary_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("summary.json"), "{\"epochs\": \"six\"}").unwrap();
    let err = render_report(&[d.path().to_path_buf()], &d.path().join("r.html")).unwrap_err();
    assert!(
        err.to_string().contains("summary.json: invalid summary"),
        "{err}"
    );
}

#[test]
fn empty_run_gives_a_page_that_says_so() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("history.jsonl"), "\n").unwrap();
    let out = d.path().join("out/r.html");
    render_report(&[d.path().to_path_buf()], &out).unwrap();
    let html = fs::read_to_string(&out).unwrap();
    assert!(html.contains("<title>dtprune report:"));
    assert!(html.contains("history.jsonl has no epochs"));
    assert!(html.contains("summary.json is missing"));
    assert!(html.contains("No run has both sparsity and validation accuracy"));
    assert!(html.contains("No per-epoch history"));

    assert!(matches!(
        tb_from_history(d.path()),
        Err(ReportError::EmptyHistory { .. })
    ));
    assert!(matches!(
        write_run_metrics_csv(d.path()),
        Err(ReportError::EmptyHistory { .. })
    ));
}

#[test]
fn summary_only_run_uses_final_figures() {
    let d = tempfile::tempdir().unwrap();
    fs::copy(
        common::fixture("run-a/summary.json"),
        d.path().join("summary.json"),
    )
    .unwrap();
    let out = d.path().join("r.html");
    render_report(&[d.path().to_path_buf()], &out).unwrap();
    let html = fs::read_to_string(&out).unwrap();
    assert!(html.contains("history.jsonl is missing"));
    assert!(html.contains("final figures from summary.json"));
    assert!(html.contains("fc1.weight"));
    assert!(html.contains("97.27%"), "test accuracy from summary");
    // The trade-off plot still gets the run's final point.
    assert!(html.contains("<svg"));
}

#[test]
fn fixture_csv_and_plots() {
    let d = tempfile::tempdir().unwrap();
    for f in ["history.jsonl", "summary.json"] {
        fs::copy(common::fixture("run-a").join(f), d.path().join(f)).unwrap();
    }
    let csv_path = write_run_metrics_csv(d.path()).unwrap();
    let csv = fs::read_to_string(&csv_path).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 7);
    assert_eq!(
        lines[0],
        "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,sparsity,\
         sparsity:fc1.weight,sparsity:fc2.weight,sparsity:fc3.weight,\
         threshold:fc1.weight,threshold:fc2.weight,threshold:fc3.weight,prune_count,rollbacks"
    );
    // Epoch 4 of run-a: no prune, one rollback.
    assert!(
        lines[4].starts_with("4,0.0874,0.9735,0.1015,0.9695,0.001,4.48,"),
        "{}",
        lines[4]
    );
    assert!(lines[4].ends_with(",0,1"), "{}", lines[4]);

    let run = dtprune_report::Run::load(d.path()).unwrap();
    let files = dtprune_report::write_run_plots(&run, &d.path().join("plots")).unwrap();
    assert_eq!(files.len(), 6);
    for f in &files {
        assert!(
            fs::metadata(f).unwrap().len() > 5_000,
            "{} too small",
            f.display()
        );
    }
    let _: Vec<PathBuf> = files;
}
