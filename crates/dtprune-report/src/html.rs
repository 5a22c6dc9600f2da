//! The HTML report: one self-contained file (inline CSS, plots as inline SVG, no scripts, no
//! network fetches) that can be mailed to a colleague or opened from a CI artifact.
//!
//! Every section says what is missing instead of staying blank: a run without `summary.json`,
//! with an empty history, or with a policy that has no τ still gives a readable page.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{ReportError, Result};
use crate::history::{EpochRecord, Run, Summary};
use crate::plots::{render_svg, Plot};

/// Loads every run directory and writes the report to `out` (parent folders are created;
/// the file is written to a temporary name and renamed, so `out` is never half-written).
///
/// Fails with the first run that cannot be read (not a run directory, a broken history line
/// with its file and line number, an invalid summary); a run that is merely incomplete (no
/// summary, no epochs) is rendered with notes saying what is missing.
pub fn render_report(run_dirs: &[PathBuf], out: &Path) -> Result<()> {
    if run_dirs.is_empty() {
        return Err(ReportError::NoRuns);
    }
    let runs = run_dirs.iter().map(Run::load).collect::<Result<Vec<_>>>()?;
    let html = report_html(&runs)?;
    write_atomic(out, html.as_bytes())
}

/// The report page for already loaded runs.
pub fn report_html(runs: &[Run]) -> Result<String> {
    if runs.is_empty() {
        return Err(ReportError::NoRuns);
    }
    let names = unique_names(runs);
    let title = if runs.len() == 1 {
        format!("dtprune report: {}", names[0])
    } else {
        format!("dtprune report: {} runs ({})", runs.len(), names.join(", "))
    };
    let mut h = String::with_capacity(256 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    let _ = writeln!(
        h,
        "<header><h1>{}</h1><p class=\"meta\">Generated {} by dtprune-report {} from {} run{}.</p></header>",
        esc(&title),
        utc_now(),
        env!("CARGO_PKG_VERSION"),
        runs.len(),
        if runs.len() == 1 { "" } else { "s" }
    );

    // Summary: one column per run, so several runs compare side by side.
    h.push_str("<section id=\"summary\"><h2>Summary</h2>\n");
    summary_table(&mut h, runs, &names);
    h.push_str("</section>\n");

    h.push_str("<section id=\"tradeoff\"><h2>Accuracy vs sparsity</h2>\n");
    let any_point = runs.iter().any(|r| {
        r.history
            .iter()
            .any(|e| e.sparsity.is_some() && e.val_accuracy.is_some())
            || r.summary
                .as_ref()
                .is_some_and(|s| s.sparsity.is_some() && s.val_accuracy.is_some())
    });
    if any_point {
        // The trade-off plot labels runs by name; use the disambiguated names.
        let renamed: Vec<Run> = runs
            .iter()
            .zip(&names)
            .map(|(r, n)| Run {
                name: n.clone(),
                ..r.clone()
            })
            .collect();
        figure(&mut h, Plot::Tradeoff(&renamed), "Validation accuracy against sparsity, one point per epoch; the large dot is the final epoch.")?;
    } else {
        missing(
            &mut h,
            "No run has both sparsity and validation accuracy, so there is no trade-off to plot.",
        );
    }
    h.push_str("</section>\n");

    let _ = writeln!(
        h,
        "<div class=\"runs{}\" style=\"--cols:{}\">",
        if runs.len() > 1 { " multi" } else { "" },
        runs.len().min(3)
    );
    for (i, (run, name)) in runs.iter().zip(&names).enumerate() {
        run_section(&mut h, i, run, name)?;
    }
    h.push_str("</div>\n<footer>Self-contained report: no scripts, no external resources.</footer>\n</body>\n</html>\n");
    Ok(h)
}

fn run_section(h: &mut String, i: usize, run: &Run, name: &str) -> Result<()> {
    let _ = writeln!(
        h,
        "<section class=\"run\" id=\"run-{i}\"><h2>{}</h2><p class=\"path\">{}</p>",
        esc(name),
        esc(&run.dir.display().to_string())
    );
    for note in &run.notes {
        missing(h, note);
    }

    h.push_str("<h3>Layers</h3>\n");
    layer_table(h, run);

    h.push_str("<h3>Training curves</h3>\n");
    if run.history.is_empty() {
        missing(h, "No per-epoch history: nothing to plot.");
    } else {
        let run_named = Run {
            name: name.to_string(),
            ..run.clone()
        };
        figure(h, Plot::Metrics(&run_named), "Accuracy and loss per epoch. Orange lines: epochs with prune events; red lines: rollbacks.")?;
        h.push_str("<h3>Threshold τ per tensor</h3>\n");
        let has_tau = run
            .history
            .iter()
            .any(|r| r.tensors.values().any(|t| t.threshold.is_some()));
        if has_tau {
            figure(
                h,
                Plot::Thresholds(&run_named),
                "τ of each prunable tensor after each epoch's update.",
            )?;
        } else {
            missing(h, "No thresholds recorded: this run's policy has no τ.");
        }
        h.push_str("<h3>Sparsity per tensor</h3>\n");
        figure(
            h,
            Plot::Sparsity(&run_named),
            "Fraction of weights masked, per tensor and over all prunable weights (black).",
        )?;
    }

    h.push_str("<h3>Event log</h3>\n");
    event_table(h, &run.history);
    h.push_str("</section>\n");
    Ok(())
}

fn figure(h: &mut String, plot: Plot<'_>, caption: &str) -> Result<()> {
    let svg = render_svg(plot)?;
    let _ = writeln!(
        h,
        "<figure class=\"plot\">{}<figcaption>{}</figcaption></figure>",
        strip_xml_prolog(&svg),
        esc(caption)
    );
    Ok(())
}

fn missing(h: &mut String, text: &str) {
    let _ = writeln!(h, "<p class=\"missing\">{}</p>", esc(text));
}

fn summary_table(h: &mut String, runs: &[Run], names: &[String]) {
    type Getter = fn(&Run, Option<&Summary>, Option<&EpochRecord>) -> Option<String>;
    let rows: Vec<(&str, Getter)> = vec![
        ("model", |_, s, _| s?.model.clone()),
        ("dataset", |_, s, _| s?.dataset.clone()),
        ("policy", |_, s, _| s?.policy.as_ref().map(json_text)),
        ("epochs", |r, s, _| {
            s.and_then(|s| s.epochs)
                .map(|e| e.to_string())
                .or_else(|| r.last().map(|l| format!("{} (history)", l.epoch)))
        }),
        ("seed", |_, s, _| s?.seed.map(|v| v.to_string())),
        ("test accuracy", |_, s, _| s?.test_accuracy.map(pct)),
        ("val accuracy", |_, s, l| {
            s.and_then(|s| s.val_accuracy)
                .map(pct)
                .or_else(|| l?.val_accuracy.map(|v| format!("{} (history)", pct(v))))
        }),
        ("sparsity", |_, s, l| {
            s.and_then(|s| s.sparsity)
                .map(pct)
                .or_else(|| l?.sparsity.map(|v| format!("{} (history)", pct(v))))
        }),
        ("parameters (nonzero / total)", |_, s, _| {
            let s = s?;
            match (s.params_nonzero, s.params_total) {
                (Some(n), Some(t)) => Some(format!("{} / {}", thousands(n), thousands(t))),
                (None, Some(t)) => Some(format!("? / {}", thousands(t))),
                (Some(n), None) => Some(format!("{} / ?", thousands(n))),
                _ => None,
            }
        }),
        ("compression ratio", |_, s, _| {
            s?.compression_ratio.map(|c| format!("{c:.2}×"))
        }),
        ("prune events", |_, s, _| {
            s?.prune_events.map(|v| v.to_string())
        }),
        ("rollbacks", |_, s, _| s?.rollbacks.map(|v| v.to_string())),
        ("training time", |r, s, _| {
            s.and_then(|s| s.train_seconds).map(duration).or_else(|| {
                let t: f64 = r.history.iter().filter_map(|e| e.seconds).sum();
                (t > 0.0).then(|| format!("{} (history)", duration(t)))
            })
        }),
        ("seconds per epoch", |_, s, _| {
            s?.seconds_per_epoch.map(|v| format!("{v:.2} s"))
        }),
    ];
    h.push_str("<div class=\"scroll\"><table class=\"summary\">\n<thead><tr><th></th>");
    for n in names {
        let _ = write!(h, "<th>{}</th>", esc(n));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for (label, get) in &rows {
        let _ = write!(h, "<tr><th scope=\"row\">{}</th>", esc(label));
        for r in runs {
            cell(h, get(r, r.summary.as_ref(), r.last()));
        }
        h.push_str("</tr>\n");
    }
    // Keys the reader does not know yet (new trainer fields) are still shown.
    let mut extra_keys: Vec<&String> = runs
        .iter()
        .filter_map(|r| r.summary.as_ref())
        .flat_map(|s| s.extra.keys())
        .collect();
    extra_keys.sort();
    extra_keys.dedup();
    for k in extra_keys {
        let _ = write!(h, "<tr><th scope=\"row\">{}</th>", esc(k));
        for r in runs {
            cell(
                h,
                r.summary
                    .as_ref()
                    .and_then(|s| s.extra.get(k))
                    .map(json_text),
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("<tr><th scope=\"row\">summary.json</th>");
    for r in runs {
        cell(
            h,
            Some(
                if r.summary.is_some() {
                    "present"
                } else {
                    "missing"
                }
                .to_string(),
            ),
        );
    }
    h.push_str("</tr>\n</tbody></table></div>\n");
}

fn layer_table(h: &mut String, run: &Run) {
    if let Some(last) = run.last().filter(|l| !l.tensors.is_empty()) {
        let _ = write!(
            h,
            "<p class=\"note\">At the end of epoch {}.</p>\n<div class=\"scroll\"><table class=\"layers\">\n\
             <thead><tr><th>tensor</th><th>shape</th><th>params</th><th>nonzero</th><th>sparsity</th>\
             <th>τ</th><th>|w| mean</th><th>|w| std</th><th>near zero</th></tr></thead>\n<tbody>\n",
            last.epoch
        );
        for (name, t) in &last.tensors {
            let shape = if t.shape.is_empty() {
                None
            } else {
                Some(format!(
                    "[{}]",
                    t.shape
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            };
            let _ = write!(h, "<tr><td class=\"name\">{}</td>", esc(name));
            cell(h, shape);
            cell(h, t.numel.map(thousands));
            cell(h, t.nonzero.map(thousands));
            cell(h, t.sparsity.map(pct));
            cell(h, t.threshold.map(sig));
            cell(h, t.abs_mean.map(sig));
            cell(h, t.abs_std.map(sig));
            cell(h, t.near_zero.map(pct));
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody></table></div>\n");
        return;
    }
    // No per-epoch tensor data: fall back to the final per-layer figures of summary.json.
    let from_summary = run
        .summary
        .as_ref()
        .filter(|s| !s.sparsity_per_layer.is_empty() || !s.threshold_final.is_empty());
    if let Some(s) = from_summary {
        missing(
            h,
            "No per-tensor history; final figures from summary.json (shape and |w| unknown).",
        );
        let mut names: Vec<&String> = s
            .sparsity_per_layer
            .keys()
            .chain(s.threshold_final.keys())
            .collect();
        names.sort();
        names.dedup();
        h.push_str("<div class=\"scroll\"><table class=\"layers\">\n<thead><tr><th>tensor</th><th>sparsity</th><th>τ</th></tr></thead>\n<tbody>\n");
        for n in names {
            let _ = write!(h, "<tr><td class=\"name\">{}</td>", esc(n));
            cell(h, s.sparsity_per_layer.get(n).copied().map(pct));
            cell(h, s.threshold_final.get(n).copied().flatten().map(sig));
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody></table></div>\n");
    } else {
        missing(
            h,
            "No per-layer data: neither history.jsonl nor summary.json lists any tensor.",
        );
    }
}

fn event_table(h: &mut String, history: &[EpochRecord]) {
    let n: usize = history.iter().map(|r| r.events.len()).sum();
    if n == 0 {
        missing(h, "No prune, threshold or rollback events were recorded.");
        return;
    }
    let _ = write!(
        h,
        "<p class=\"note\">{n} event{}.</p>\n<div class=\"scroll events\"><table class=\"events\">\n\
         <thead><tr><th>epoch</th><th>kind</th><th>tensor</th><th>count</th><th>τ change</th><th>reason</th></tr></thead>\n<tbody>\n",
        if n == 1 { "" } else { "s" }
    );
    for r in history {
        for e in &r.events {
            let kind_class: String = e
                .kind
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect();
            let _ = write!(
                h,
                "<tr class=\"ev-{kind_class}\"><td>{}</td><td><span class=\"kind\">{}</span></td>",
                r.epoch,
                esc(&e.kind)
            );
            cell(h, Some(e.tensor.clone().unwrap_or_else(|| "all".into())));
            cell(h, e.count.map(thousands));
            let change = match (e.old, e.new) {
                (Some(o), Some(n)) => Some(format!("{} → {}", sig(o), sig(n))),
                (None, Some(n)) => Some(format!("→ {}", sig(n))),
                _ => None,
            };
            cell(h, change);
            let mut reason = e.reason.clone().unwrap_or_default();
            if let Some(ep) = e.event_epoch {
                if !reason.is_empty() {
                    reason.push_str("; ");
                }
                let _ = write!(reason, "undoes epoch {ep}");
            }
            let _ = writeln!(h, "<td class=\"reason\">{}</td></tr>", esc(&reason));
        }
    }
    h.push_str("</tbody></table></div>\n");
}

fn cell(h: &mut String, v: Option<String>) {
    match v {
        Some(v) => {
            let _ = write!(h, "<td>{}</td>", esc(&v));
        }
        None => h.push_str("<td class=\"na\">—</td>"),
    }
}

/// Directory names, made unique by prefixing parent folders where two runs share a name.
fn unique_names(runs: &[Run]) -> Vec<String> {
    let mut names: Vec<String> = runs.iter().map(|r| r.name.clone()).collect();
    for depth in 1..4 {
        let dup = |n: &String| names.iter().filter(|m| *m == n).count() > 1;
        if !names.iter().any(dup) {
            break;
        }
        names = runs
            .iter()
            .map(|r| {
                let canon = fs::canonicalize(&r.dir).unwrap_or_else(|_| r.dir.clone());
                let comps: Vec<String> = canon
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                let start = comps.len().saturating_sub(depth + 1);
                comps[start..].join("/")
            })
            .collect();
    }
    // Identical directories given twice: number them.
    let snapshot = names.clone();
    for (i, n) in names.iter_mut().enumerate() {
        if snapshot.iter().filter(|m| *m == n).count() > 1 {
            *n = format!("{n} #{}", i + 1);
        }
    }
    names
}

/// Writes `bytes` to `path` atomically (see `dtprune-fs`), creating parent folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| ReportError::io(parent, e))?;
    }
    dtprune_fs::write_atomic(path, bytes).map_err(|e| ReportError::io(path, e))
}

fn strip_xml_prolog(svg: &str) -> &str {
    match (svg.starts_with("<?xml"), svg.find("?>")) {
        (true, Some(i)) => svg[i + 2..].trim_start(),
        _ => svg,
    }
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        serde_json::Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), sig),
        // Nested objects (policy parameters, per-part parameters of a composite) as
        // `key=value` pairs, one per line, so wide values do not push the other runs off screen.
        serde_json::Value::Object(map) => map.iter().map(|(k, v)| format!("{k}={}", json_text(v))).collect::<Vec<_>>().join("\n"),
        other => other.to_string(),
    }
}

/// A fraction as a percentage with two decimals.
fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

/// Four significant digits; scientific notation outside [1e-3, 1e4).
fn sig(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if !(1e-3..1e4).contains(&a) {
        return format!("{v:.3e}");
    }
    let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
    format!("{v:.decimals$}")
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut o = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            o.push(',');
        }
        o.push(c);
    }
    o
}

fn duration(secs: f64) -> String {
    if secs < 120.0 {
        format!("{secs:.1} s")
    } else if secs < 7200.0 {
        format!("{} min {:.0} s", (secs / 60.0).floor(), secs % 60.0)
    } else {
        format!(
            "{:.0} h {:.0} min",
            (secs / 3600.0).floor(),
            (secs % 3600.0) / 60.0
        )
    }
}

/// Current UTC time as `YYYY-MM-DD HH:MM UTC` (no date crate needed for one timestamp).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub(crate) const CSS: &str = r#"
:root { --fg:#1d2329; --muted:#5f6b76; --line:#d8dee4; --bg:#ffffff; --head:#f3f5f7; --accent:#1f77b4; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
header h1 { margin: 0 0 4px; font-size: 24px; }
.meta, .path, .note, figcaption, footer { color: var(--muted); }
.path { margin-top: -6px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }
h2 { font-size: 19px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 22px 0 8px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: pre-line; }
thead th { background: var(--head); font-weight: 600; border-bottom: 2px solid var(--line); }
th[scope=row], td.name { text-align: left; }
th[scope=row] { font-weight: 500; color: var(--muted); }
td.name { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
td.na { color: #a0a8b0; text-align: center; }
td.reason { text-align: left; white-space: normal; min-width: 12em; }
.runs.multi td.reason { min-width: 9em; }
table.events { width: 100%; }
table.events th:nth-child(2), table.events th:nth-child(3), table.events th:nth-child(6),
table.events td:nth-child(2), table.events td:nth-child(3) { text-align: left; }
.runs.multi th, .runs.multi td { padding: 3px 6px; font-size: 13px; }
tbody tr:hover { background: #f8fafc; }
.scroll { overflow-x: auto; max-width: 100%; }
.scroll.events { max-height: 560px; overflow-y: auto; border: 1px solid var(--line); }
.scroll.events thead th { position: sticky; top: 0; }
.kind { display: inline-block; padding: 0 7px; border-radius: 9px; background: #e8eef4; font-size: 12px; }
.ev-prune .kind, .ev-structure .kind { background: #ffe3c4; }
.ev-rollback .kind, .ev-restore .kind { background: #ffd0d0; }
.ev-threshold .kind { background: #dbe9f7; }
.ev-regrow .kind { background: #d8f0d8; }
.missing { padding: 8px 12px; border-left: 4px solid #e0a030; background: #fff7e6; margin: 8px 0; }
figure.plot { margin: 8px 0 4px; max-width: 900px; }
figure.plot svg { width: 100%; height: auto; display: block; border: 1px solid var(--line); }
figcaption { font-size: 12px; margin-top: 4px; }
.runs { display: grid; grid-template-columns: repeat(var(--cols), minmax(0, 1fr)); gap: 0 32px; }
@media (max-width: 1100px) { .runs { grid-template-columns: minmax(0, 1fr); } }
.run { min-width: 0; }
footer { margin-top: 32px; font-size: 12px; }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_helpers() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(pct(0.5234), "52.34%");
        assert_eq!(sig(0.031234), "0.03123");
        assert_eq!(sig(1.5), "1.500");
        assert_eq!(sig(0.00001), "1.000e-5");
        assert_eq!(thousands(235200), "235,200");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(duration(75.25), "75.2 s");
        assert_eq!(duration(125.0), "2 min 5 s");
        // 2000-03-01 is day 11017 after the epoch; 1970-01-01 is day 0.
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/r.html");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let entries: Vec<_> = fs::read_dir(d.path().join("sub")).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn empty_run_page_says_what_is_missing() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("history.jsonl"), "").unwrap();
        let run = Run::load(d.path()).unwrap();
        let html = report_html(&[run]).unwrap();
        assert!(html.contains("history.jsonl has no epochs"));
        assert!(html.contains("summary.json is missing"));
        assert!(html.contains("No per-layer data"));
        assert!(html.contains("No prune, threshold or rollback events"));
        assert!(html.contains("<table class=\"summary\">"));
    }

    #[test]
    fn duplicate_names_are_disambiguated() {
        let d = tempfile::tempdir().unwrap();
        for p in ["a/run", "b/run"] {
            fs::create_dir_all(d.path().join(p)).unwrap();
            fs::write(d.path().join(p).join("history.jsonl"), "{\"epoch\":1}\n").unwrap();
        }
        let runs = vec![
            Run::load(d.path().join("a/run")).unwrap(),
            Run::load(d.path().join("b/run")).unwrap(),
        ];
        assert_eq!(unique_names(&runs), vec!["a/run", "b/run"]);
        let same = vec![runs[0].clone(), runs[0].clone()];
        let n = unique_names(&same);
        assert!(n[0].ends_with(" #1") && n[1].ends_with(" #2"), "{n:?}");
    }
}
