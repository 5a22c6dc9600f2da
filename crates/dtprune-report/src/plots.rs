//! Plots of a run (and of several runs) as PNG or SVG, drawn with `plotters`.
//!
//! Text matters in these plots, and a fresh Debian machine (CI) has no fonts that plotters'
//! default `ttf` feature (font-kit + fontconfig) could find. So the crate uses plotters'
//! `ab_glyph` feature with DejaVu Sans embedded in the binary (`assets/`, Bitstream Vera
//! licence): the same glyphs everywhere, no system dependency. SVG output carries the text as
//! `<text>` elements and lets the browser render it; the embedded font only sizes the layout.

use std::error::Error;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::combinators::LogCoord;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::{ReportError, Result};
use crate::history::Run;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static FONT_INIT: Once = Once::new();

/// Registers the embedded font under the family names plotters asks for.
fn ensure_font() {
    FONT_INIT.call_once(|| {
        for family in ["sans-serif", "serif", "monospace"] {
            for style in [FontStyle::Normal, FontStyle::Bold] {
                // The font is a valid TTF compiled into the binary; failure would be a build bug.
                let _ = plotters::style::register_font(family, style, FONT);
            }
        }
    });
}

/// The plots this crate draws.
#[derive(Debug, Clone, Copy)]
pub enum Plot<'a> {
    /// Accuracy (top) and loss (bottom) vs epoch, prune and rollback epochs marked.
    Metrics(&'a Run),
    /// τ of each prunable tensor vs epoch (log scale when the values span > 30×).
    Thresholds(&'a Run),
    /// Sparsity of each prunable tensor and global sparsity vs epoch.
    Sparsity(&'a Run),
    /// Validation accuracy vs sparsity, one curve per run (one point per epoch, final epoch
    /// highlighted): the trade-off the user chooses from.
    Tradeoff(&'a [Run]),
    /// Validation accuracy vs pruning level, one curve per tensor pruned alone, with the
    /// unpruned baseline and the accuracy budget as dashed lines (`dtprune sensitivity`).
    Sensitivity(&'a Sensitivity),
    /// A sweep's trials, Pareto front, best trial and baselines, accuracy vs sparsity.
    Front(&'a crate::sweep::FrontPlot),
}

/// Input of [`Plot::Sensitivity`]: each prunable tensor pruned alone to several levels.
#[derive(Debug, Clone, PartialEq)]
pub struct Sensitivity {
    /// Shown in the caption (the run name).
    pub title: String,
    /// Validation accuracy of the unpruned model.
    pub baseline: f64,
    /// Largest accepted accuracy drop; drawn as a line at `baseline - budget`.
    pub budget: Option<f64>,
    pub curves: Vec<SensitivityCurve>,
}

/// One tensor's points: (level = fraction of its weights pruned, validation accuracy).
#[derive(Debug, Clone, PartialEq)]
pub struct SensitivityCurve {
    pub tensor: String,
    pub points: Vec<(f64, f64)>,
}

impl Plot<'_> {
    /// File stem used by [`write_run_plots`].
    pub fn stem(&self) -> &'static str {
        match self {
            Plot::Metrics(_) => "metrics",
            Plot::Thresholds(_) => "thresholds",
            Plot::Sparsity(_) => "sparsity",
            Plot::Tradeoff(_) => "tradeoff",
            Plot::Sensitivity(_) => "sensitivity",
            Plot::Front(_) => "front",
        }
    }

    fn size(&self) -> (u32, u32) {
        match self {
            Plot::Metrics(_) => (900, 640),
            _ => (900, 480),
        }
    }

    fn draw<DB>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), Box<dyn Error>>
    where
        DB: DrawingBackend,
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        match self {
            Plot::Metrics(run) => draw_metrics(root, run),
            Plot::Thresholds(run) => draw_thresholds(root, run),
            Plot::Sparsity(run) => draw_sparsity(root, run),
            Plot::Tradeoff(runs) => draw_tradeoff(root, runs),
            Plot::Sensitivity(s) => draw_sensitivity(root, s),
            Plot::Front(f) => crate::sweep::plot::draw_front(root, f),
        }?;
        root.present()?;
        Ok(())
    }
}

/// The plot as an SVG document (for inlining into HTML).
pub fn render_svg(plot: Plot<'_>) -> Result<String> {
    ensure_font();
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, plot.size()).into_drawing_area();
        plot.draw(&root).map_err(|e| plot_err(&plot, e))?;
    }
    Ok(s)
}

/// Saves the plot to `path`; the format follows the extension (`.png` or `.svg`).
pub fn save_plot(plot: Plot<'_>, path: &Path) -> Result<()> {
    ensure_font();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("svg") => {
            let svg = render_svg(plot)?;
            crate::html::write_atomic(path, svg.as_bytes())
        }
        Some("png") => {
            // Drawn to a temporary `.png` next to the target, then renamed: a failure never
            // leaves a half-written image under the final name.
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let tmp = parent.join(format!(".{name}.{}.tmp.png", std::process::id()));
            let drawn = {
                let root = BitMapBackend::new(&tmp, plot.size()).into_drawing_area();
                plot.draw(&root).map_err(|e| plot_err(&plot, e))
            };
            let result = drawn.and_then(|()| std::fs::rename(&tmp, path).map_err(|e| ReportError::io(path, e)));
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result
        }
        _ => Err(ReportError::PlotFormat {
            path: path.to_path_buf(),
        }),
    }
}

/// Writes the three per-run plots as both PNG and SVG into `dir` (`metrics.png`,
/// `metrics.svg`, `thresholds.*`, `sparsity.*`) and returns the paths written.
pub fn write_run_plots(run: &Run, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    let mut out = Vec::new();
    for plot in [
        Plot::Metrics(run),
        Plot::Thresholds(run),
        Plot::Sparsity(run),
    ] {
        for ext in ["png", "svg"] {
            let p = dir.join(format!("{}.{ext}", plot.stem()));
            save_plot(plot, &p)?;
            out.push(p);
        }
    }
    Ok(out)
}

fn plot_err(plot: &Plot<'_>, e: Box<dyn Error>) -> ReportError {
    ReportError::Plot {
        what: plot.stem().to_string(),
        message: e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------

/// Tableau 10: distinct, colour-blind-friendlier than plotters' default palette.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const PRUNE_COLOR: RGBColor = RGBColor(255, 160, 60);
const ROLLBACK_COLOR: RGBColor = RGBColor(200, 30, 30);

pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

pub(crate) struct Series {
    pub(crate) label: String,
    pub(crate) points: Vec<(f64, f64)>,
    pub(crate) color: RGBColor,
    pub(crate) width: u32,
    pub(crate) markers: bool,
    /// Join the points with a line (false: a scatter of markers).
    pub(crate) line: bool,
    /// Draw this point as a large marker (the final epoch of a trade-off curve).
    pub(crate) highlight: Option<(f64, f64)>,
    /// Dashed reference line (baseline, budget) instead of a data curve.
    pub(crate) dashed: bool,
}

impl Series {
    pub(crate) fn line(label: impl Into<String>, points: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Series {
            label: label.into(),
            points,
            color,
            width: 2,
            markers: true,
            line: true,
            highlight: None,
            dashed: false,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Mark {
    Prune,
    Rollback,
}

pub(crate) struct Panel<'a> {
    pub(crate) caption: String,
    pub(crate) x_desc: &'a str,
    pub(crate) y_desc: &'a str,
    pub(crate) x_range: Range<f64>,
    /// Epoch axis: label integer ticks only.
    pub(crate) integer_x: bool,
    pub(crate) series: Vec<Series>,
    pub(crate) marks: &'a [(f64, Mark)],
    pub(crate) legend_pos: SeriesLabelPosition,
    pub(crate) log_y: bool,
    /// Clamp the automatic y range into this interval (e.g. [0, 1] for fractions).
    pub(crate) y_clamp: Option<(f64, f64)>,
    /// Shown in the middle of the panel when there is nothing to draw.
    pub(crate) empty_message: &'a str,
}

fn draw_metrics<DB>(root: &DrawingArea<DB, Shift>, run: &Run) -> Result<(), Box<dyn Error>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let h = &run.history;
    let marks = event_marks(run);
    let xr = epoch_range(run);
    let pts = |f: fn(&crate::history::EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        h.iter()
            .filter_map(|r| f(r).map(|v| (r.epoch as f64, v)))
            .collect()
    };
    let (top, bottom) = root.split_vertically(root.dim_in_pixel().1 / 2);
    let acc = Panel {
        caption: format!("{}: accuracy", run.name),
        x_desc: "epoch",
        y_desc: "accuracy",
        x_range: xr.clone(),
        integer_x: true,
        series: vec![
            Series::line("train accuracy", pts(|r| r.train_accuracy), color(0)),
            Series::line("val accuracy", pts(|r| r.val_accuracy), color(1)),
        ],
        marks: &marks,
        legend_pos: SeriesLabelPosition::LowerRight,
        log_y: false,
        y_clamp: Some((0.0, 1.0)),
        empty_message: "no accuracy recorded",
    };
    draw_panel(&top, &acc)?;
    let loss = Panel {
        caption: format!("{}: loss", run.name),
        x_desc: "epoch",
        y_desc: "loss",
        x_range: xr,
        integer_x: true,
        series: vec![
            Series::line("train loss", pts(|r| r.train_loss), color(0)),
            Series::line("val loss", pts(|r| r.val_loss), color(1)),
        ],
        marks: &marks,
        legend_pos: SeriesLabelPosition::UpperRight,
        log_y: false,
        y_clamp: Some((0.0, f64::INFINITY)),
        empty_message: "no loss recorded",
    };
    draw_panel(&bottom, &loss)
}

fn draw_thresholds<DB>(root: &DrawingArea<DB, Shift>, run: &Run) -> Result<(), Box<dyn Error>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let marks = event_marks(run);
    let series: Vec<Series> = run
        .tensor_names()
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let points = run
                .history
                .iter()
                .filter_map(|r| {
                    r.tensors
                        .get(&name)
                        .and_then(|t| t.threshold)
                        .map(|v| (r.epoch as f64, v))
                })
                .collect();
            Series::line(name, points, color(i))
        })
        .filter(|s: &Series| !s.points.is_empty())
        .collect();
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_y = lo > 0.0 && hi / lo > 30.0;
    let panel = Panel {
        caption: format!("{}: threshold τ per tensor", run.name),
        x_desc: "epoch",
        y_desc: if log_y { "τ (log scale)" } else { "τ" },
        x_range: epoch_range(run),
        integer_x: true,
        series,
        marks: &marks,
        legend_pos: SeriesLabelPosition::UpperLeft,
        log_y,
        y_clamp: Some((0.0, f64::INFINITY)),
        empty_message: "no thresholds recorded (the policy has no τ)",
    };
    draw_panel(root, &panel)
}

fn draw_sparsity<DB>(root: &DrawingArea<DB, Shift>, run: &Run) -> Result<(), Box<dyn Error>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let marks = event_marks(run);
    let mut series: Vec<Series> = run
        .tensor_names()
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let points = run
                .history
                .iter()
                .filter_map(|r| {
                    r.tensors
                        .get(&name)
                        .and_then(|t| t.sparsity)
                        .map(|v| (r.epoch as f64, v))
                })
                .collect();
            Series::line(name, points, color(i))
        })
        .filter(|s: &Series| !s.points.is_empty())
        .collect();
    let global: Vec<(f64, f64)> = run
        .history
        .iter()
        .filter_map(|r| r.sparsity.map(|v| (r.epoch as f64, v)))
        .collect();
    if !global.is_empty() {
        series.push(Series {
            width: 4,
            ..Series::line("global", global, BLACK)
        });
    }
    let panel = Panel {
        caption: format!("{}: sparsity per tensor", run.name),
        x_desc: "epoch",
        y_desc: "sparsity (fraction of weights pruned)",
        x_range: epoch_range(run),
        integer_x: true,
        series,
        marks: &marks,
        legend_pos: SeriesLabelPosition::UpperLeft,
        log_y: false,
        y_clamp: Some((0.0, 1.0)),
        empty_message: "no sparsity recorded",
    };
    draw_panel(root, &panel)
}

fn draw_tradeoff<DB>(root: &DrawingArea<DB, Shift>, runs: &[Run]) -> Result<(), Box<dyn Error>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let series: Vec<Series> = runs
        .iter()
        .enumerate()
        .map(|(i, run)| {
            let mut points: Vec<(f64, f64)> = run
                .history
                .iter()
                .filter_map(|r| Some((r.sparsity?, r.val_accuracy?)))
                .collect();
            if points.is_empty() {
                // A run without history still has its final figures.
                if let Some(s) = &run.summary {
                    if let (Some(sp), Some(acc)) = (s.sparsity, s.val_accuracy) {
                        points.push((sp, acc));
                    }
                }
            }
            let highlight = points.last().copied();
            Series {
                width: 1,
                highlight,
                ..Series::line(run.name.clone(), points, color(i))
            }
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    let panel = Panel {
        caption: "accuracy vs sparsity (large dot: final epoch)".to_string(),
        x_desc: "sparsity",
        y_desc: "validation accuracy",
        // A little room left of 0% so dense epoch-1 points do not sit on the axis.
        x_range: -0.02..1.02,
        integer_x: false,
        series,
        marks: &[],
        legend_pos: SeriesLabelPosition::LowerLeft,
        log_y: false,
        y_clamp: Some((0.0, 1.0)),
        empty_message: "no run has both sparsity and validation accuracy",
    };
    draw_panel(root, &panel)
}

fn draw_sensitivity<DB>(root: &DrawingArea<DB, Shift>, s: &Sensitivity) -> Result<(), Box<dyn Error>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let mut series: Vec<Series> = s
        .curves
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut points = c.points.clone();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series::line(c.tensor.clone(), points, color(i))
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    let levels = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let lo = levels.clone().fold(f64::INFINITY, f64::min);
    let hi = levels.fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.04).max(0.01);
    let x_range = (lo - pad).max(-0.02)..(hi + pad).min(1.02);
    if !series.is_empty() && s.baseline.is_finite() {
        let reference = |label: String, y: f64, c: RGBColor| Series {
            width: 1,
            markers: false,
            dashed: true,
            ..Series::line(label, vec![(x_range.start, y), (x_range.end, y)], c)
        };
        series.push(reference(format!("baseline {:.2}%", s.baseline * 100.0), s.baseline, BLACK));
        if let Some(b) = s.budget.filter(|b| *b > 0.0 && b.is_finite()) {
            series.push(reference(format!("budget: baseline − {:.2} pt", b * 100.0), s.baseline - b, RGBColor(150, 150, 150)));
        }
    }
    let panel = Panel {
        caption: format!("{}: sensitivity (each tensor pruned alone)", s.title),
        x_desc: "fraction of the tensor's weights pruned",
        y_desc: "validation accuracy",
        x_range,
        integer_x: false,
        series,
        marks: &[],
        legend_pos: SeriesLabelPosition::LowerLeft,
        log_y: false,
        y_clamp: Some((0.0, 1.0)),
        empty_message: "no sensitivity measurements",
    };
    draw_panel(root, &panel)
}

/// Epochs that had prune / rollback events.
fn event_marks(run: &Run) -> Vec<(f64, Mark)> {
    let mut out = Vec::new();
    for r in &run.history {
        if r.events.iter().any(|e| e.is_prune()) {
            out.push((r.epoch as f64, Mark::Prune));
        }
        if r.events.iter().any(|e| e.is_rollback()) {
            out.push((r.epoch as f64, Mark::Rollback));
        }
    }
    out
}

fn epoch_range(run: &Run) -> Range<f64> {
    let lo = run.history.first().map(|r| r.epoch as f64).unwrap_or(1.0);
    let hi = run.history.last().map(|r| r.epoch as f64).unwrap_or(1.0);
    let pad = ((hi - lo) * 0.03).max(0.25);
    (lo - pad)..(hi + pad)
}

/// Padded data range of the y values, clamped; never empty.
fn y_range(panel: &Panel<'_>) -> Range<f64> {
    let vals = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite());
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    if panel.log_y {
        return (lo / 1.5)..(hi * 1.5);
    }
    let span = if hi > lo { hi - lo } else { hi.abs().max(1e-3) };
    let (mut a, mut b) = (lo - span * 0.08, hi + span * 0.08);
    if let Some((cl, ch)) = panel.y_clamp {
        a = a.max(cl);
        b = b.min(ch);
    }
    if b <= a {
        b = a + 1e-3;
    }
    a..b
}

pub(crate) fn draw_panel<DB>(area: &DrawingArea<DB, Shift>, panel: &Panel<'_>) -> Result<(), Box<dyn Error>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let yr = y_range(panel);
    if panel.log_y {
        draw_panel_with(
            area,
            panel,
            LogCoord::<f64>::from((yr.start..yr.end).log_scale()),
        )
    } else {
        draw_panel_with(area, panel, RangedCoordf64::from(yr))
    }
}

fn draw_panel_with<DB, Y>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel<'_>,
    y: Y,
) -> Result<(), Box<dyn Error>>
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(RangedCoordf64::from(panel.x_range.clone()), y)?;

    let integer_x = panel.integer_x;
    let x_fmt = move |x: &f64| {
        if integer_x {
            if (x - x.round()).abs() < 1e-9 {
                format!("{}", x.round() as i64)
            } else {
                String::new()
            }
        } else {
            let p = x * 100.0;
            // Never print "-0%".
            let p = if p.abs() < 1e-9 { 0.0 } else { p };
            format!("{p:.0}%")
        }
    };
    let span = panel.x_range.end - panel.x_range.start;
    let n_x = if integer_x {
        (span.round() as usize + 1).clamp(2, 12)
    } else {
        11
    };
    chart
        .configure_mesh()
        .x_desc(panel.x_desc)
        .y_desc(panel.y_desc)
        .x_labels(n_x)
        .y_labels(8)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|v: &f64| fmt_tick(*v))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(205, 205, 205))
        .draw()?;

    let has_data = panel.series.iter().any(|s| !s.points.is_empty());
    if !has_data {
        let (w, h) = area.dim_in_pixel();
        let style = TextStyle::from(("sans-serif", 18).into_font())
            .color(&RGBColor(120, 120, 120))
            .pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Center,
            ));
        area.draw_text(panel.empty_message, &style, (w as i32 / 2, h as i32 / 2))?;
        return Ok(());
    }

    // Event markers first, so the curves stay on top of them.
    let (y0, y1) = {
        let r = chart.y_range();
        (r.start, r.end)
    };
    let mut labelled = [false; 2];
    for &(x, mark) in panel.marks {
        let (c, label, idx) = match mark {
            Mark::Prune => (PRUNE_COLOR, "prune event", 0),
            Mark::Rollback => (ROLLBACK_COLOR, "rollback", 1),
        };
        let width = if mark == Mark::Rollback { 3 } else { 2 };
        let dx = if mark == Mark::Rollback {
            0.06 * span / 10.0
        } else {
            0.0
        };
        let ann = chart.draw_series(std::iter::once(PathElement::new(
            vec![(x + dx, y0), (x + dx, y1)],
            c.mix(0.55).stroke_width(width),
        )))?;
        if !labelled[idx] {
            labelled[idx] = true;
            ann.label(label).legend(move |(lx, ly)| {
                PathElement::new(vec![(lx + 6, ly - 7), (lx + 6, ly + 7)], c.stroke_width(3))
            });
        }
    }

    for s in &panel.series {
        let c = s.color;
        let ann = if s.dashed {
            chart.draw_series(DashedLineSeries::new(
                s.points.iter().copied(),
                8,
                5,
                c.stroke_width(s.width),
            ))?
        } else {
            // A scatter still needs an (empty) series to carry its legend entry.
            let points = s.points.iter().copied().filter(|_| s.line);
            chart.draw_series(LineSeries::new(points, c.stroke_width(s.width)))?
        };
        ann.label(s.label.clone()).legend(move |(lx, ly)| {
            PathElement::new(vec![(lx, ly), (lx + 18, ly)], c.stroke_width(3))
        });
        if s.markers {
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        }
        if let Some(p) = s.highlight {
            chart.draw_series(std::iter::once(Circle::new(p, 8, c.filled())))?;
            chart.draw_series(std::iter::once(Circle::new(p, 8, BLACK.stroke_width(1))))?;
        }
    }

    let n_labels = panel.series.len() + labelled.iter().filter(|b| **b).count();
    let legend_font = if n_labels > 10 { 11 } else { 13 };
    let (yr0, yr1) = (chart.y_range().start, chart.y_range().end);
    chart
        .configure_series_labels()
        .position(legend_corner(panel, yr0..yr1, n_labels))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .label_font(("sans-serif", legend_font))
        .draw()?;
    Ok(())
}

/// The corner where the legend covers the fewest data: each series is sampled along its
/// segments and the samples inside a legend-sized box at each corner are counted. Ties go to
/// the panel's preferred corner, then in the order UL, UR, LL, LR.
fn legend_corner(panel: &Panel<'_>, yr: Range<f64>, n_labels: usize) -> SeriesLabelPosition {
    use SeriesLabelPosition::*;
    let (x0, x1) = (panel.x_range.start, panel.x_range.end);
    let norm_y = |y: f64| {
        if panel.log_y {
            (y.ln() - yr.start.ln()) / (yr.end.ln() - yr.start.ln())
        } else {
            (y - yr.start) / (yr.end - yr.start)
        }
    };
    let mut samples: Vec<(f64, f64)> = Vec::new();
    for s in &panel.series {
        for w in s.points.windows(2) {
            for k in 0..10 {
                let t = k as f64 / 10.0;
                let x = w[0].0 + (w[1].0 - w[0].0) * t;
                let y = w[0].1 + (w[1].1 - w[0].1) * t;
                samples.push(((x - x0) / (x1 - x0), norm_y(y)));
            }
        }
        if let Some(&(x, y)) = s.points.last() {
            samples.push(((x - x0) / (x1 - x0), norm_y(y)));
        }
    }
    let bw = 0.30;
    let bh = (0.07 * n_labels as f64 + 0.06).min(0.9);
    let corner_of = |p: &SeriesLabelPosition| -> usize {
        match p {
            UpperLeft => 0,
            UpperRight => 1,
            LowerLeft => 2,
            _ => 3,
        }
    };
    let hits = |c: usize| {
        samples
            .iter()
            .filter(|(x, y)| {
                let in_x = if c.is_multiple_of(2) {
                    *x < bw
                } else {
                    *x > 1.0 - bw
                };
                let in_y = if c < 2 { *y > 1.0 - bh } else { *y < bh };
                in_x && in_y
            })
            .count()
    };
    let preferred = corner_of(&panel.legend_pos);
    let best = std::iter::once(preferred)
        .chain(0..4)
        .min_by_key(|&c| hits(c))
        .unwrap_or(preferred);
    [UpperLeft, UpperRight, LowerLeft, LowerRight][best].clone()
}

/// Short tick labels: 3 significant digits, scientific for very small or large values.
fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::parse_history;

    #[test]
    fn tick_format() {
        assert_eq!(fmt_tick(0.0), "0");
        assert_eq!(fmt_tick(0.5), "0.5");
        assert_eq!(fmt_tick(0.031), "0.031");
        assert_eq!(fmt_tick(0.0314159), "0.0314");
        assert_eq!(fmt_tick(12.0), "12");
        assert_eq!(fmt_tick(0.0001), "1.0e-4");
    }

    fn run(text: &str) -> Run {
        Run {
            dir: PathBuf::from("r"),
            name: "r<&>".into(),
            history: parse_history(text, Path::new("h")).unwrap(),
            summary: None,
            notes: vec![],
        }
    }

    #[test]
    fn svg_has_text_and_escapes() {
        let r = run(concat!(
            r#"{"epoch":1,"train_loss":1.0,"val_loss":0.9,"val_accuracy":0.8,"sparsity":0.0,"tensors":{"w":{"sparsity":0.0,"threshold":0.01}}}"#,
            "\n",
            r#"{"epoch":2,"train_loss":0.5,"val_loss":0.6,"val_accuracy":0.85,"sparsity":0.4,"tensors":{"w":{"sparsity":0.4,"threshold":0.02}},"events":[{"kind":"prune","count":4},{"kind":"rollback","count":1}]}"#,
        ));
        let svg = render_svg(Plot::Metrics(&r)).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.contains("val accuracy"));
        assert!(svg.contains("prune event"));
        assert!(svg.contains("rollback"));
        assert!(
            !svg.contains("r<&>"),
            "run name must be escaped in SVG text"
        );
        for p in [
            Plot::Thresholds(&r),
            Plot::Sparsity(&r),
            Plot::Tradeoff(std::slice::from_ref(&r)),
        ] {
            let svg = render_svg(p).unwrap();
            assert!(svg.contains("</svg>"));
        }
    }

    #[test]
    fn sensitivity_plot_has_curves_baseline_and_budget() {
        let s = Sensitivity {
            title: "run".into(),
            baseline: 0.97,
            budget: Some(0.005),
            curves: vec![
                SensitivityCurve { tensor: "fc1.weight".into(), points: vec![(0.9, 0.96), (0.5, 0.97)] },
                SensitivityCurve { tensor: "fc3.weight".into(), points: vec![(0.5, 0.95), (0.9, 0.6)] },
            ],
        };
        let svg = render_svg(Plot::Sensitivity(&s)).unwrap();
        for text in ["fc1.weight", "fc3.weight", "baseline 97.00%", "budget", "90%"] {
            assert!(svg.contains(text), "missing {text}");
        }
        let d = tempfile::tempdir().unwrap();
        save_plot(Plot::Sensitivity(&s), &d.path().join("sensitivity.png")).unwrap();
        let png = std::fs::read(d.path().join("sensitivity.png")).unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
        // Only the final file remains: the temporary PNG was renamed.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        let empty = Sensitivity { curves: vec![], ..s };
        assert!(render_svg(Plot::Sensitivity(&empty)).unwrap().contains("no sensitivity measurements"));
    }

    #[test]
    fn empty_run_draws_a_message_not_a_blank() {
        let r = run("");
        let svg = render_svg(Plot::Metrics(&r)).unwrap();
        assert!(svg.contains("no accuracy recorded"));
        let d = tempfile::tempdir().unwrap();
        let files = write_run_plots(&r, d.path()).unwrap();
        assert_eq!(files.len(), 6);
        let png = std::fs::read(d.path().join("metrics.png")).unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
        assert!(matches!(
            save_plot(Plot::Metrics(&r), &d.path().join("x.jpg")),
            Err(ReportError::PlotFormat { .. })
        ));
    }
}
