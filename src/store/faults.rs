//! Injected store failures, for tests of what userd does when the disk fails. Compiled in only
//! with the `fault-injection` feature (`POST /debug/faults`); otherwise the checks are no-ops.
//!
//! `WRITE` fails the write of a commit (nothing of it reaches the disk); `FLUSH` fails the sync
//! that makes a written commit durable.

use super::StoreError;
use std::sync::atomic::{AtomicBool, Ordering};

pub static WRITE: AtomicBool = AtomicBool::new(false);
pub static FLUSH: AtomicBool = AtomicBool::new(false);

/// Make writes and/or flushes fail until cleared.
pub fn set(write: bool, flush: bool) {
    WRITE.store(write, Ordering::SeqCst);
    FLUSH.store(flush, Ordering::SeqCst);
}

pub(crate) fn check(point: &AtomicBool, name: &str) -> Result<(), StoreError> {
    if cfg!(feature = "fault-injection") && point.load(Ordering::Relaxed) {
        return Err(StoreError::Io(format!("injected {name} fault")));
    }
    Ok(())
}
