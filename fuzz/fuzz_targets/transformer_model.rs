//! Fuzz target `transformer_model`: see `checks::transformer_model`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::transformer_model(data));
