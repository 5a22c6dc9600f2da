//! Reporting for dtprune runs, without Burn: everything here works from the files a run
//! directory holds (`history.jsonl`, `summary.json`, see `docs/history-schema.md`).
//!
//! - [`tb`]: TensorBoard event files (live [`tb::EventWriter`], or [`tb::tb_from_history`]);
//! - [`csv`]: `metrics.csv`, one row per epoch;
//! - [`plots`]: PNG/SVG plots with plotters and an embedded font;
//! - [`html`]: one self-contained HTML report for one or more runs ([`render_report`]);
//! - [`sweep`]: search spaces, trial tables, the Pareto front and the sweep page.

pub mod csv;
pub mod error;
pub mod history;
pub mod html;
pub mod plots;
pub mod sweep;
pub mod tb;

pub use crate::csv::{metrics_csv, write_metrics_csv, write_run_metrics_csv};
pub use crate::error::{ReportError, Result};
pub use crate::history::{EpochRecord, PruneEvent, Run, Summary, TensorStats};
pub use crate::html::{render_report, report_html};
pub use crate::plots::{render_svg, save_plot, write_run_plots, Plot, Sensitivity, SensitivityCurve};
pub use crate::tb::{tb_from_history, EventWriter};
