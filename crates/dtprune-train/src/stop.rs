//! A request to stop the run cleanly (Ctrl-C / SIGTERM in the CLI, or any library caller): the
//! trainer finishes the current step, writes a checkpoint and returns
//! [`crate::TrainError::Interrupted`]. The flag is process-wide, as signals are.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// The shared flag; a signal handler (e.g. `signal_hook::flag::register`) may set it.
pub fn flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false))).clone()
}

/// Asks the running training to stop after its current step.
pub fn request() {
    flag().store(true, Ordering::SeqCst);
}

pub fn requested() -> bool {
    flag().load(Ordering::SeqCst)
}
