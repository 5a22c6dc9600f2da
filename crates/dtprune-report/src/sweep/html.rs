//! The HTML page of a sweep: the best trial and how it was chosen, the front plots (validation
//! and test accuracy against sparsity, baselines on the same axes) and every trial's row.

use std::fmt::Write as _;

use super::plot::{FrontPlot, Metric};
use super::table::{SweepTable, TrialRow};
use crate::error::Result;
use crate::html::{esc, CSS};
use crate::plots::{render_svg, Plot};

/// The report page of a sweep (self-contained, like the run report).
pub fn sweep_html(table: &SweepTable, title: &str) -> Result<String> {
    let mut h = String::with_capacity(128 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
         <header><h1>{t}</h1><p class=\"meta\">{} trials, {} baselines; swept: {}.</p></header>\n",
        table.trials.len(),
        table.baselines.len(),
        esc(&table.keys.join(", ")),
        t = esc(title),
    );
    h.push_str("<section id=\"best\"><h2>Best trial</h2>\n");
    let _ = writeln!(
        h,
        "<p>The most compressed trial on the front of validation accuracy against compression whose validation \
         accuracy is within {} points of the front's highest. Chosen on validation accuracy only; its config is \
         <code>best.toml</code>.</p>",
        table.within * 100.0
    );
    match table.best_trial() {
        Some(b) => rows(&mut h, table, &[b]),
        None => h.push_str("<p class=\"missing\">No finished trial.</p>\n"),
    }
    h.push_str("</section>\n<section id=\"front\"><h2>Accuracy vs sparsity</h2>\n");
    for (metric, caption) in [
        (Metric::Validation, "Grey dots: every trial. Line: the Pareto front on validation accuracy; large dot: the best trial. Dashed: baselines (same epochs and seed)."),
        (Metric::Test, "The same trials on the test set; the front and the best trial are still the ones chosen on validation."),
    ] {
        let svg = render_svg(Plot::Front(&FrontPlot::new(table, metric)))?;
        let svg = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
        let _ = writeln!(h, "<figure class=\"plot\">{svg}<figcaption>{}</figcaption></figure>", esc(caption));
    }
    h.push_str("</section>\n<section id=\"front-table\"><h2>Pareto front</h2>\n");
    rows(&mut h, table, &table.front());
    if !table.baselines.is_empty() {
        h.push_str("</section>\n<section id=\"baselines\"><h2>Baselines</h2>\n");
        rows(&mut h, table, &table.baselines.iter().collect::<Vec<_>>());
    }
    h.push_str("</section>\n<section id=\"trials\"><h2>Every trial</h2>\n");
    rows(&mut h, table, &table.trials.iter().collect::<Vec<_>>());
    h.push_str("</section>\n</body>\n</html>\n");
    Ok(h)
}

fn rows(h: &mut String, table: &SweepTable, rows: &[&TrialRow]) {
    h.push_str("<div class=\"scroll\"><table><thead><tr><th>trial</th>");
    for k in &table.keys {
        let _ = write!(h, "<th>{}</th>", esc(k));
    }
    h.push_str("<th>policy</th><th>val acc</th><th>test acc</th><th>sparsity</th><th>compression</th><th>epochs</th><th>seconds</th><th>front</th></tr></thead><tbody>\n");
    for r in rows {
        let m = &r.metrics;
        let _ = write!(h, "<tr><td class=\"name\" title=\"{}\">{}</td>", esc(&r.dir.display().to_string()), esc(&r.id));
        for k in &table.keys {
            let _ = write!(h, "<td>{}</td>", esc(&r.value_text(k)));
        }
        let _ = writeln!(
            h,
            "<td>{}</td><td>{:.2}%</td><td>{:.2}%</td><td>{:.2}%</td><td>{:.1}×</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>",
            esc(&r.policy),
            m.val_accuracy * 100.0,
            m.test_accuracy * 100.0,
            m.sparsity * 100.0,
            m.compression,
            m.epochs,
            m.seconds,
            if r.on_front { "●" } else { "" }
        );
    }
    h.push_str("</tbody></table></div>\n");
}
