//! Development tools of the core: returning the store to a seed while serving. The shards are
//! paused around the store's reset, so every request is decided either before it (and answered
//! before the reset begins) or after it, on the seed.

use super::Core;
use crate::domain::{NewUser, Timestamp};
use crate::error::{ApiError, ErrorCode};
use crate::store::ImportCounts;
use std::sync::Arc;

impl Core {
    /// Replace every user with `users` (a seed), durably, then answer. Resets run one at a
    /// time, to the end even if the caller goes away.
    pub async fn reset(self: &Arc<Self>, users: Vec<NewUser>) -> Result<ImportCounts, ApiError> {
        let core = self.clone();
        let work = actix_rt::spawn(async move {
            let _one_at_a_time = core.resets.lock().await;
            let started = std::time::Instant::now();
            let paused = core.shards.pause().await;
            let outcome = core.store.reset(users, Timestamp::now()).await;
            drop(paused);
            match &outcome {
                Ok(counts) => log::warn!(
                    "reset to the seed: {} users ({} duplicates skipped) in {} ms",
                    counts.imported,
                    counts.duplicates,
                    started.elapsed().as_millis()
                ),
                Err(e) => log::error!("reset failed: {e}"),
            }
            outcome
        });
        work.await
            .map_err(|_| ApiError::from(ErrorCode::Internal))?
            .map_err(|e| crate::shard::store_error(&e))
    }
}
