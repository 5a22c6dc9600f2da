//! Fuzz target `graph_model`: see `checks::graph_model`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::graph_model(data));
