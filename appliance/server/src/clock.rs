//! The store's clock: the wall clock, or in debug builds (the test suite's) the wall clock
//! moved forward by the number of seconds in `$STUDIOVAULT_TEST_CLOCK_FILE`, so end-to-end
//! tests can let a grace period, a gag or a retention limit pass. Release builds have no such
//! variable.

use studiovault_vault::{Clock, SystemClock};

#[cfg(debug_assertions)]
const TEST_CLOCK_FILE: &str = "STUDIOVAULT_TEST_CLOCK_FILE";

/// The wall clock plus the seconds a file holds, read at every call (a missing or unreadable
/// file adds nothing).
#[cfg(debug_assertions)]
struct TestClock(std::path::PathBuf);

#[cfg(debug_assertions)]
impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        let offset_secs = std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        SystemClock
            .now_ms()
            .saturating_add(offset_secs.saturating_mul(1000))
    }
}

pub fn store_clock() -> Box<dyn Clock> {
    #[cfg(debug_assertions)]
    if let Some(file) = std::env::var_os(TEST_CLOCK_FILE) {
        tracing::warn!("the store's clock follows a test clock file: a test build");
        return Box::new(TestClock(file.into()));
    }
    Box::new(SystemClock)
}
