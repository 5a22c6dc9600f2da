//! Fuzz target `recurrent_model`: see `checks::recurrent_model`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::recurrent_model(data));
