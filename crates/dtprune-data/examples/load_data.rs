//! Loads one speech, text or table data set and prints what a model would get, with the time
//! each load took (the second load of a speech set reads the feature cache).
//!
//! cargo run --release -p dtprune-data --example load_data -- NAME DATA_DIR [key=value ...]

use std::path::{Path, PathBuf};
use std::time::Instant;

use dtprune_data::catalog::{load_dataset, HostData};
use dtprune_data::options::options_from_args;

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
    let cache = tempfile_dir();
    for attempt in ["first load", "second load"] {
        let start = Instant::now();
        let data = match load_dataset(&args[0], Path::new(&args[1]), &given, Some(&cache)) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        };
        let secs = start.elapsed().as_secs_f64();
        let summary = match &data {
            HostData::Speech(s) => format!(
                "speech: {} train / {} test, {:?}",
                s.train.len(),
                s.test.len(),
                s.shape()
            ),
            HostData::Text(s) => format!(
                "text: {} train / {} test, {:?}",
                s.train.len(),
                s.test.len(),
                s.shape()
            ),
            HostData::Table(s) => format!(
                "table: {} train / {} test, {:?}",
                s.train.len(),
                s.test.len(),
                s.shape()
            ),
        };
        println!("{attempt}: {secs:.3} s; {summary}");
    }
    let _ = std::fs::remove_dir_all(&cache);
}

fn tempfile_dir() -> PathBuf {
    std::env::temp_dir().join(format!("dtprune-load-data-{}", std::process::id()))
}
