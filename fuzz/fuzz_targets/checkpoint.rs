//! Fuzz target `checkpoint` (`--features train`): see `checks_train::checkpoint`.
#![no_main]

#[path = "../checks_train.rs"]
mod checks_train;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks_train::checkpoint(data));
