//! Shared helpers of the integration tests: fixture paths and the "missing tool" policy
//! (fail under CI, skip with a notice on a developer machine).
#![allow(dead_code)] // each test crate uses a different subset

use std::path::PathBuf;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Called when an external tool a test needs is missing. Under CI (env `CI` set) the test
/// fails, so a CI image that lost the tool cannot pass silently; elsewhere it is skipped.
/// Returns normally only when the test should be skipped.
pub fn missing_tool(what: &str, hint: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is required under CI but missing: {hint}");
    }
    eprintln!("SKIPPED: {what} not available ({hint}); set CI=1 to make this a failure");
}
