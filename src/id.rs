//! Server-generated user ids: decimal strings of a time-ordered unsigned 64-bit number, like
//! ZITADEL's sonyflake ids (18 digits today).
//!
//! The high bits count milliseconds since 2020-01-01 and the low 20 bits a counter, so ids grow
//! with time and stay unique within a process; across restarts time has moved on. A generated id
//! that is nonetheless taken (a clock stepped back) is simply drawn again by the caller.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// 2020-01-01T00:00:00Z in Unix milliseconds.
const EPOCH_MS: u64 = 1_577_836_800_000;
const COUNTER_BITS: u32 = 20;

#[derive(Debug, Default)]
pub struct IdGenerator {
    last: AtomicU64,
}

impl IdGenerator {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next id: larger than every id this generator returned before.
    pub fn next_id(&self) -> String {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(EPOCH_MS);
        let floor = now_ms.saturating_sub(EPOCH_MS) << COUNTER_BITS;
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = floor.max(last + 1);
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next.to_string(),
                Err(seen) => last = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_increasing_18_digit_numbers() {
        let g = IdGenerator::new();
        let ids: Vec<u64> = (0..10_000).map(|_| g.next_id().parse().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ids[0].to_string().len(), 18);
    }
}
