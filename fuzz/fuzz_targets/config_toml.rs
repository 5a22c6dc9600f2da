//! Fuzz target `config_toml` (`--features train`): see `checks_train::config_toml`.
#![no_main]

#[path = "../checks_train.rs"]
mod checks_train;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks_train::config_toml(data));
