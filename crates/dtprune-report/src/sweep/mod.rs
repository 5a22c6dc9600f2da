//! Sweeps without Burn: the search space (`--grid`, `--random`), the table of finished trials,
//! the accuracy-vs-compression Pareto front, the best-trial rule, and the sweep's page and plot.
//! The `dtprune sweep` command builds and runs the trials; everything it decides from their
//! results lives here, so it is tested without training anything.

pub mod error;
pub mod front;
pub mod html;
pub mod plot;
pub mod space;
pub mod table;

pub use error::SweepError;
pub use front::{choose_best, pareto_front};
pub use html::sweep_html;
pub use plot::{FrontPlot, Metric};
pub use space::{parse_grid, parse_random, Assignment, GridDim, RandomDim, SearchSpace};
pub use table::{config_value, read_finished, varied_keys, FinishedRun, Metrics, SweepTable, TrialRow};
