//! The flusher: one thread that makes every shard's written batches durable with one sled flush
//! and then releases their answers.
//!
//! `sled::Db::flush` covers every tree at once, so the flusher takes every batch queued while the
//! previous flush ran, from all shards, and pays for one flush. After it, each shard is told that
//! its batch is durable (or, if the flush failed, gets its answers back to undo the batch first).

use super::{Flushed, Waiting};
use crate::store::Store;
use actix::Recipient;
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

/// One shard's batch, written to sled and waiting for a flush.
pub(crate) struct FlushJob {
    pub(crate) waiting: Vec<Waiting>,
    /// The batch's state moves, counted once durable (before the answers leave).
    pub(crate) moves: Vec<super::StateMove>,
    pub(crate) shard: Recipient<Flushed>,
}

#[derive(Clone, Debug)]
pub struct Flusher {
    queue: mpsc::Sender<FlushJob>,
}

impl Flusher {
    /// Start the flusher thread. It ends when every sender is gone.
    pub fn start(store: Store) -> std::io::Result<Flusher> {
        let (tx, rx) = mpsc::channel::<FlushJob>();
        std::thread::Builder::new()
            .name("userd-flusher".into())
            .spawn(move || run(store, rx))?;
        Ok(Flusher { queue: tx })
    }

    /// Answer `job` once a flush covering its batch has returned.
    pub(crate) fn submit(&self, job: FlushJob) {
        if let Err(mpsc::SendError(job)) = self.queue.send(job) {
            // The flusher is gone: the batch cannot be made durable.
            job.shard.do_send(Flushed {
                failed: Some(job.waiting),
            });
        }
    }

    /// Answer now: nothing the answers rest on waits for a flush.
    pub(crate) fn answer(&self, waiting: Vec<Waiting>) {
        for (tx, reply) in waiting {
            // A caller that went away no longer needs its answer.
            let _ = tx.send(reply);
        }
    }
}

fn run(store: Store, rx: mpsc::Receiver<FlushJob>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while let Ok(more) = rx.try_recv() {
            jobs.push(more);
        }
        let started = std::time::Instant::now();
        let flushed = store.flush();
        crate::metrics::get()
            .flush_seconds
            .observe(started.elapsed().as_secs_f64());
        match flushed {
            Ok(_) => {
                for job in jobs {
                    super::count_moves(&job.moves);
                    for (tx, reply) in job.waiting {
                        let _ = tx.send(reply);
                    }
                    job.shard.do_send(Flushed { failed: None });
                }
            }
            Err(e) => {
                log::error!("flush failed, undoing {} batches: {e}", jobs.len());
                for job in jobs {
                    job.shard.do_send(Flushed {
                        failed: Some(job.waiting),
                    });
                }
            }
        }
    }
}
