//! Data tools of the core: backups of the running store, and returning it to a seed while
//! serving. The shards are paused around a reset, so every request is decided either before it
//! (and answered before the reset begins) or after it, on the seed.

use super::Core;
use crate::domain::{OrgScope, Permission};
use crate::error::{ApiError, ErrorCode};
use crate::store::{ImportCounts, Imported, Snapshot};
use std::sync::{Arc, PoisonError};

impl Core {
    /// Make new username claims wait, then wait until the claims in flight are done (their
    /// requests decided and durable; the shards still run).
    async fn close_claims(&self) {
        self.claims
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        loop {
            let empty = self
                .claims
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .names
                .is_empty();
            if empty {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    fn open_claims(&self) {
        self.claims
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = false;
    }

    /// A copy of the whole store as one moment of it, for callers holding `userd.backup` on the
    /// instance (instance owners).
    pub async fn backup(&self, ctx: &super::RequestContext) -> Result<Snapshot, ApiError> {
        let caller = self.authenticate(ctx).await?;
        if caller.scope(Permission::InstanceBackup) != OrgScope::Everywhere {
            return Err(ErrorCode::PermissionDenied.into());
        }
        // One at a time: each takes a copy's worth of disk.
        let _one_at_a_time = self.resets.lock().await;
        self.store
            .backup()
            .await
            .map_err(|e| crate::shard::store_error(&e))?
            .ok_or_else(|| ErrorCode::BackupUnsupported.into())
    }

    /// Replace every user with `users` (a seed), durably, then answer. Resets run one at a
    /// time, to the end even if the caller goes away.
    pub async fn reset(self: &Arc<Self>, users: Vec<Imported>) -> Result<ImportCounts, ApiError> {
        let core = self.clone();
        let work = actix_rt::spawn(async move {
            let _one_at_a_time = core.resets.lock().await;
            let started = std::time::Instant::now();
            // Names claimed before the reset are decided first; later claims wait, so that no
            // name is checked against the usernames the reset replaces.
            core.close_claims().await;
            let paused = core.shards.pause().await;
            let outcome = core.store.reset(users).await;
            drop(paused);
            core.open_claims();
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
