//! Fuzz target `compact_model`: see `checks::compact_model`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::compact_model(data));
