//! Process-wide counters, gauges and histograms, rendered in Prometheus' text format at
//! `/debug/metrics`.
//!
//! Hot paths only touch atomics or a short-held lock; users by state are counted as changes
//! become durable (one scan at start-up), never by a scan per scrape.

use crate::domain::UserState;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];
/// Upper bounds of the batch-size buckets.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Record `value` (for sums, kept in millionths).
    pub fn observe(&self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros
            .fetch_add((value * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Everything userd counts.
#[derive(Debug)]
pub struct Metrics {
    requests: Mutex<BTreeMap<String, BTreeMap<u16, u64>>>,
    latency: Mutex<BTreeMap<String, &'static Histogram>>,
    pub batch_size: Histogram,
    pub flush_seconds: Histogram,
    users_by_state: [AtomicI64; 6],
    mailbox: Mutex<Vec<&'static AtomicI64>>,
    token_rejections: Mutex<BTreeMap<&'static str, u64>>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    requests: Mutex::new(BTreeMap::new()),
    latency: Mutex::new(BTreeMap::new()),
    batch_size: Histogram::new(&BATCH_BUCKETS),
    flush_seconds: Histogram::new(&LATENCY_BUCKETS),
    users_by_state: Default::default(),
    mailbox: Mutex::new(Vec::new()),
    token_rejections: Mutex::new(BTreeMap::new()),
});

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// One answered request on `route` (the matched pattern, or "unmatched").
    pub fn request(&self, route: &str, status: u16, elapsed: Duration) {
        if let Ok(mut map) = self.requests.lock() {
            match map.get_mut(route) {
                Some(by_status) => *by_status.entry(status).or_default() += 1,
                None => {
                    map.insert(route.to_string(), BTreeMap::from([(status, 1)]));
                }
            }
        }
        let histogram = match self.latency.lock() {
            Ok(mut map) => match map.get(route) {
                Some(h) => *h,
                None => {
                    let h: &'static Histogram =
                        Box::leak(Box::new(Histogram::new(&LATENCY_BUCKETS)));
                    map.insert(route.to_string(), h);
                    h
                }
            },
            Err(_) => return,
        };
        histogram.observe(elapsed.as_secs_f64());
    }

    /// A refused token, by reason.
    pub fn token_rejected(&self, reason: &'static str) {
        if let Ok(mut map) = self.token_rejections.lock() {
            *map.entry(reason).or_default() += 1;
        }
    }

    /// Set the count of users in `state` (start-up).
    pub fn set_users(&self, state: UserState, n: i64) {
        self.users_by_state[state.number() as usize].store(n, Ordering::Relaxed);
    }

    /// The users-by-state gauges, indexed by state number.
    pub fn users(&self) -> [i64; 6] {
        std::array::from_fn(|i| self.users_by_state[i].load(Ordering::Relaxed))
    }

    /// A durable change moved a user from `from` (None: a creation) to `to`.
    pub fn user_moved(&self, from: Option<UserState>, to: UserState) {
        if let Some(from) = from {
            self.users_by_state[from.number() as usize].fetch_sub(1, Ordering::Relaxed);
        }
        self.users_by_state[to.number() as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A mailbox-depth gauge for the next shard (shards register in order at start-up).
    pub fn register_shard(&self) -> &'static AtomicI64 {
        let gauge: &'static AtomicI64 = Box::leak(Box::new(AtomicI64::new(0)));
        if let Ok(mut list) = self.mailbox.lock() {
            list.push(gauge);
        }
        gauge
    }

    /// The text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP userd_http_requests_total Requests answered, by route and status.\n");
        out.push_str("# TYPE userd_http_requests_total counter\n");
        if let Ok(map) = self.requests.lock() {
            for (route, by_status) in map.iter() {
                for (status, n) in by_status {
                    let _ = writeln!(
                        out,
                        "userd_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                        escape(route)
                    );
                }
            }
        }
        out.push_str("# HELP userd_http_request_duration_seconds Request latency, by route.\n");
        out.push_str("# TYPE userd_http_request_duration_seconds histogram\n");
        if let Ok(map) = self.latency.lock() {
            for (route, h) in map.iter() {
                h.render(
                    &mut out,
                    "userd_http_request_duration_seconds",
                    &format!("route=\"{}\"", escape(route)),
                );
            }
        }
        out.push_str(
            "# HELP userd_shard_mailbox_depth Changes sent to a shard actor and not yet handled.\n",
        );
        out.push_str("# TYPE userd_shard_mailbox_depth gauge\n");
        if let Ok(list) = self.mailbox.lock() {
            for (shard, gauge) in list.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "userd_shard_mailbox_depth{{shard=\"{shard}\"}} {}",
                    gauge.load(Ordering::Relaxed).max(0)
                );
            }
        }
        out.push_str(
            "# HELP userd_commit_batch_size Changes written per shard batch (group commit).\n",
        );
        out.push_str("# TYPE userd_commit_batch_size histogram\n");
        self.batch_size
            .render(&mut out, "userd_commit_batch_size", "");
        out.push_str("# HELP userd_flush_duration_seconds Duration of each store flush.\n");
        out.push_str("# TYPE userd_flush_duration_seconds histogram\n");
        self.flush_seconds
            .render(&mut out, "userd_flush_duration_seconds", "");
        out.push_str("# HELP userd_users Users by state.\n");
        out.push_str("# TYPE userd_users gauge\n");
        for state in UserState::ALL {
            if state == UserState::Unspecified {
                continue;
            }
            let n = self.users_by_state[state.number() as usize].load(Ordering::Relaxed);
            let _ = writeln!(out, "userd_users{{state=\"{}\"}} {n}", state.name());
        }
        out.push_str("# HELP userd_token_rejections_total Refused bearer tokens, by reason.\n");
        out.push_str("# TYPE userd_token_rejections_total counter\n");
        if let Ok(map) = self.token_rejections.lock() {
            for (reason, n) in map.iter() {
                let _ = writeln!(
                    out,
                    "userd_token_rejections_total{{reason=\"{reason}\"}} {n}"
                );
            }
        }
        out
    }
}
