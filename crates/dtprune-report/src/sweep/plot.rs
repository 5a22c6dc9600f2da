//! The front plot of a sweep: every trial as a dot, the Pareto front as a line, the best trial
//! highlighted, and the GMP / one-shot baselines as dashed lines on the same axes.

use std::error::Error;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::table::{SweepTable, TrialRow};
use crate::plots::{color, draw_panel, Panel, Series};

/// Which accuracy the plot's y axis shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// The front and the best trial are defined on validation accuracy.
    Validation,
    /// The same trials' test accuracy, for the honest picture of the chosen ones.
    Test,
}

/// Input of [`crate::Plot::Front`], points as (sparsity, accuracy).
#[derive(Debug, Clone, PartialEq)]
pub struct FrontPlot {
    pub metric: Metric,
    pub trials: Vec<(f64, f64)>,
    pub front: Vec<(f64, f64)>,
    pub best: Option<(f64, f64)>,
    /// One dashed curve per baseline policy, by sparsity.
    pub baselines: Vec<(String, Vec<(f64, f64)>)>,
}

impl FrontPlot {
    pub fn new(table: &SweepTable, metric: Metric) -> Self {
        let point = |r: &TrialRow| {
            let acc = match metric {
                Metric::Validation => r.metrics.val_accuracy,
                Metric::Test => r.metrics.test_accuracy,
            };
            (r.metrics.sparsity, acc)
        };
        let mut front: Vec<(f64, f64)> = table.front().into_iter().map(point).collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut policies: Vec<&str> = table.baselines.iter().map(|b| b.policy.as_str()).collect();
        policies.sort();
        policies.dedup();
        let baselines = policies
            .into_iter()
            .map(|p| {
                let mut pts: Vec<(f64, f64)> = table.baselines.iter().filter(|b| b.policy == p).map(point).collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                (p.to_string(), pts)
            })
            .collect();
        FrontPlot { metric, trials: table.trials.iter().map(point).collect(), front, best: table.best_trial().map(point), baselines }
    }
}

pub(crate) fn draw_front<DB>(root: &DrawingArea<DB, Shift>, f: &FrontPlot) -> Result<(), Box<dyn Error>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let mut series = vec![Series { line: false, ..Series::line("trial", f.trials.clone(), RGBColor(150, 150, 150)) }];
    series.push(Series { highlight: f.best, ..Series::line("Pareto front (validation)", f.front.clone(), color(0)) });
    for (i, (name, pts)) in f.baselines.iter().enumerate() {
        series.push(Series { dashed: true, ..Series::line(format!("baseline {name}"), pts.clone(), color(i + 1)) });
    }
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).filter(|x| x.is_finite());
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.06).max(0.005);
    let (what, caption) = match f.metric {
        Metric::Validation => ("validation accuracy", "validation accuracy vs sparsity (large dot: best trial)"),
        Metric::Test => ("test accuracy", "test accuracy vs sparsity, same trials (front chosen on validation)"),
    };
    let panel = Panel {
        caption: caption.to_string(),
        x_desc: "sparsity",
        y_desc: what,
        x_range: (lo - pad).max(-0.02)..(hi + pad).min(1.02),
        integer_x: false,
        series,
        marks: &[],
        legend_pos: SeriesLabelPosition::LowerLeft,
        log_y: false,
        y_clamp: Some((0.0, 1.0)),
        empty_message: "no finished trial",
    };
    draw_panel(root, &panel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::table::Metrics;
    use crate::{render_svg, Plot};

    fn row(id: &str, policy: &str, val: f64, sparsity: f64) -> TrialRow {
        let m = Metrics { val_accuracy: val, test_accuracy: val - 0.01, sparsity, compression: 1.0 / (1.0 - sparsity), epochs: 2, seconds: 1.0 };
        TrialRow { id: id.into(), dir: id.into(), policy: policy.into(), values: Default::default(), metrics: m, on_front: false }
    }

    #[test]
    fn points_come_from_the_table() {
        let trials = vec![row("0000", "performance", 0.98, 0.9), row("0001", "performance", 0.97, 0.95), row("0002", "performance", 0.96, 0.92)];
        let baselines = vec![row("gmp-0.95", "gmp", 0.965, 0.95), row("gmp-0.9", "gmp", 0.975, 0.9), row("oneshot-0.9", "oneshot", 0.97, 0.9)];
        let t = SweepTable::new(vec![], trials, baselines, 0.005);
        let p = FrontPlot::new(&t, Metric::Validation);
        assert_eq!(p.front, [(0.9, 0.98), (0.95, 0.97)], "0002 is dominated by 0001");
        assert_eq!(p.best, Some((0.9, 0.98)), "0.97 is a point below the top, outside 0.005");
        assert_eq!(p.baselines, [("gmp".to_string(), vec![(0.9, 0.975), (0.95, 0.965)]), ("oneshot".to_string(), vec![(0.9, 0.97)])]);
        let test = FrontPlot::new(&t, Metric::Test);
        assert_eq!(test.best, Some((0.9, 0.98 - 0.01)));
        let svg = render_svg(Plot::Front(&p)).unwrap();
        for label in ["Pareto front (validation)", "baseline gmp", "baseline oneshot", "trial"] {
            assert!(svg.contains(label), "the plot's legend lacks {label}");
        }
        let html = crate::sweep::sweep_html(&t, "s").unwrap();
        assert_eq!(html.matches("<svg").count(), 2, "validation and test plots");
        assert!(html.contains("<td class=\"name\" title=\"0000\">0000</td>"));
    }

    #[test]
    fn empty_sweep_draws_a_message() {
        let t = SweepTable::new(vec![], vec![], vec![], 0.005);
        assert!(render_svg(Plot::Front(&FrontPlot::new(&t, Metric::Validation))).unwrap().contains("no finished trial"));
    }
}
