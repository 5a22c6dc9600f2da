//! Points where a test can stop the run to kill it there (`DTPRUNE_TEST_PAUSE_AT=POINT,...`):
//! the process prints `dtprune-test-hook: paused at POINT` on stderr and sleeps until killed
//! (or asked to stop). Only the kill-and-resume, Ctrl-C and lock tests set the variable; unset,
//! a point costs one comparison.
//!
//! Points: `step:N` (after optimizer step N, counted over the run), `prune:E` (inside the
//! epoch-end prune of epoch E: the engine has decided, the model is not yet updated),
//! `checkpoint:E` (half of the checkpoint after epoch E is written to its temporary file),
//! `checkpoint:stop` (the same for the checkpoint a stop request writes).

use std::sync::OnceLock;

pub const ENV: &str = "DTPRUNE_TEST_PAUSE_AT";

/// The points asked for (comma separated).
fn armed() -> &'static [String] {
    static POINTS: OnceLock<Vec<String>> = OnceLock::new();
    POINTS.get_or_init(|| std::env::var(ENV).map(|v| v.split(',').map(str::to_string).collect()).unwrap_or_default())
}

/// Whether the test asked to stop at `point`.
pub fn is_armed(point: &str) -> bool {
    armed().iter().any(|p| p == point)
}

/// Stops here forever if the test asked for `point`.
pub fn pause_at(point: &str) {
    if is_armed(point) {
        pause(point);
    }
}

/// Announces the pause and sleeps until the process is killed — or, so a test can send
/// Ctrl-C to a run at a known point, until a stop is requested ([`crate::stop`]). A pause
/// reached after the stop request lasts until the process is killed (a second Ctrl-C).
pub fn pause(point: &str) {
    eprintln!("dtprune-test-hook: paused at {point}");
    let stopping = crate::stop::requested();
    while crate::stop::requested() == stopping {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Whether any pause point is set (skip building point names when not).
pub fn active() -> bool {
    !armed().is_empty()
}
