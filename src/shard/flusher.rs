//! The flusher: one thread that makes every shard's applied batches durable with one sled flush
//! and then releases their answers.
//!
//! `sled::Db::flush` covers every tree at once, so the flusher takes everything queued while the
//! previous flush ran, from all shards, and pays for one flush. Under `periodic` durability it is
//! not used: answers leave at once and sled flushes in the background.

use super::Waiting;
use crate::error;
use crate::store::Store;
use std::sync::mpsc;

/// When an acknowledged change is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// 200 only after a flush covering the change returned.
    Fsync,
    /// 200 at once; sled flushes every `flush_interval_ms`.
    Periodic,
}

#[derive(Clone, Debug)]
pub struct Flusher {
    queue: Option<mpsc::Sender<Vec<Waiting>>>,
}

impl Flusher {
    /// Start the flusher thread for `durability`. The thread ends when every sender is gone.
    pub fn start(store: Store, durability: Durability) -> std::io::Result<Flusher> {
        if durability == Durability::Periodic {
            return Ok(Flusher { queue: None });
        }
        let (tx, rx) = mpsc::channel::<Vec<Waiting>>();
        std::thread::Builder::new()
            .name("userd-flusher".into())
            .spawn(move || run(store, rx))?;
        Ok(Flusher { queue: Some(tx) })
    }

    /// Answer `waiting` once its changes are durable.
    pub(crate) fn submit(&self, waiting: Vec<Waiting>) {
        let Some(queue) = &self.queue else {
            answer(waiting);
            return;
        };
        if let Err(mpsc::SendError(waiting)) = queue.send(waiting) {
            // The flusher is gone: nothing can be made durable any more.
            answer(
                waiting
                    .into_iter()
                    .map(|(tx, _)| (tx, Err(error::SHUTTING_DOWN.into())))
                    .collect(),
            );
        }
    }
}

fn run(store: Store, rx: mpsc::Receiver<Vec<Waiting>>) {
    while let Ok(mut waiting) = rx.recv() {
        while let Ok(more) = rx.try_recv() {
            waiting.extend(more);
        }
        if let Err(e) = store.flush() {
            log::error!("flush failed: {e}");
            for (_, reply) in waiting.iter_mut() {
                if reply.is_ok() {
                    *reply = Err(error::STORE_UNAVAILABLE.into());
                }
            }
        }
        answer(waiting);
    }
}

fn answer(waiting: Vec<Waiting>) {
    for (tx, reply) in waiting {
        // A caller that went away no longer needs its answer.
        let _ = tx.send(reply);
    }
}
