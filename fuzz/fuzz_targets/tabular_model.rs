//! Fuzz target `tabular_model`: see `checks::tabular_model`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::tabular_model(data));
