//! Loads one data set by name and prints what a model would get, with the time each load took.
//! Speech features are cached in `$DTPRUNE_CACHE_DIR` (default `~/.cache/dtprune/features`):
//! point it at an empty folder to time the first load's feature computation.
//!
//! cargo run --release -p dtprune-data --example load_data -- NAME DATA_DIR [key=value ...]

use std::path::Path;
use std::time::Instant;

use dtprune_data::options::options_from_args;
use dtprune_data::{load_dataset, DatasetRequest, Splits};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: load_data NAME DATA_DIR [key=value ...]");
        std::process::exit(2);
    }
    let given = options_from_args(args[2..].iter().map(String::as_str)).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    for attempt in ["first load", "second load"] {
        let start = Instant::now();
        let request = DatasetRequest { data_dir: Some(Path::new(&args[1])), val_size: 1, options: &given };
        let data = match load_dataset(&args[0], &request) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        };
        let secs = start.elapsed().as_secs_f64();
        let (train, val, test) = data.splits.sizes();
        let shape = match &data.splits {
            Splits::Image(s) => format!("{}x{}x{}", s.train.channels(), s.train.rows(), s.train.cols()),
            Splits::Speech { splits, .. } => format!("{:?}", splits.shape()),
            Splits::Text { splits, .. } => format!("{:?}", splits.shape()),
            Splits::Table { splits, .. } => format!("{:?}", splits.shape()),
        };
        println!("{attempt}: {secs:.3} s; {}: {train} train / {val} val / {test} test, {shape}", data.splits.input());
    }
}
