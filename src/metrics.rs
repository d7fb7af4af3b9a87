//! Process-wide counters, gauges and histograms, rendered in Prometheus' text format at
//! `/debug/metrics` by the `prometheus` crate.
//!
//! Hot paths only touch atomics (label lookups are cached per route and shard); users by state
//! are read from the store's counts when scraped, never counted by a scan.

use prometheus::core::Collector;
use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::LazyLock;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];
/// Upper bounds of the batch-size buckets.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Everything userd counts.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pub batch_size: Histogram,
    pub flush_seconds: Histogram,
    users: IntGaugeVec,
    mailbox: IntGaugeVec,
    token_rejections: IntCounterVec,
    /// Deliveries a webhook target took.
    pub webhook_sent: IntCounter,
    /// Delivery attempts that failed.
    pub webhook_failed: IntCounter,
    /// Deliveries parked after their last attempt.
    pub webhook_parked: IntCounter,
    webhook_lag: GaugeVec,
}

/// A metric of a fixed, valid definition: registering it cannot fail, except twice, which
/// `Metrics::new` never does.
fn register<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> Option<M> {
    let metric = metric.ok()?;
    registry.register(Box::new(metric.clone())).ok()?;
    Some(metric)
}

impl Metrics {
    fn new() -> Option<Metrics> {
        let r = Registry::new();
        Some(Metrics {
            requests: register(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "userd_http_requests_total",
                        "Requests answered, by route and status.",
                    ),
                    &["route", "status"],
                ),
            )?,
            latency: register(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "userd_http_request_duration_seconds",
                        "Request latency, by route.",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                    &["route"],
                ),
            )?,
            batch_size: register(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "userd_commit_batch_size",
                        "Requests decided per shard group (group commit).",
                    )
                    .buckets(BATCH_BUCKETS.to_vec()),
                ),
            )?,
            flush_seconds: register(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "userd_flush_duration_seconds",
                        "Duration of each commit's write and sync.",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                ),
            )?,
            users: register(
                &r,
                IntGaugeVec::new(Opts::new("userd_users", "Users by state."), &["state"]),
            )?,
            mailbox: register(
                &r,
                IntGaugeVec::new(
                    Opts::new(
                        "userd_shard_mailbox_depth",
                        "Requests sent to a shard actor and not yet decided.",
                    ),
                    &["shard"],
                ),
            )?,
            token_rejections: register(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "userd_token_rejections_total",
                        "Refused bearer tokens, by reason.",
                    ),
                    &["reason"],
                ),
            )?,
            webhook_sent: register(
                &r,
                IntCounter::new(
                    "userd_webhook_deliveries_sent_total",
                    "Event deliveries a target took.",
                ),
            )?,
            webhook_failed: register(
                &r,
                IntCounter::new(
                    "userd_webhook_delivery_failures_total",
                    "Delivery attempts that failed (each is retried or parked).",
                ),
            )?,
            webhook_parked: register(
                &r,
                IntCounter::new(
                    "userd_webhook_deliveries_parked_total",
                    "Deliveries given up on after their last attempt (listed, retried by hand).",
                ),
            )?,
            webhook_lag: register(
                &r,
                GaugeVec::new(
                    Opts::new(
                        "userd_webhook_oldest_pending_seconds",
                        "Age of the oldest delivery a target has not taken yet (0: none pending).",
                    ),
                    &["target"],
                ),
            )?,
            registry: r,
        })
    }
}

static METRICS: LazyLock<Option<Metrics>> = LazyLock::new(|| {
    let metrics = Metrics::new();
    if metrics.is_none() {
        log::error!("metrics could not be registered; /debug/metrics stays empty");
    }
    metrics
});

/// The process's metrics (None only if the registry refused userd's fixed definitions).
pub fn get() -> Option<&'static Metrics> {
    METRICS.as_ref()
}

impl Metrics {
    /// One answered request on `route` (the matched pattern, or "unmatched").
    pub fn request(&self, route: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        self.requests
            .with_label_values(&[route, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
    }

    /// A refused token, by reason.
    pub fn token_rejected(&self, reason: &'static str) {
        self.token_rejections.with_label_values(&[reason]).inc();
    }

    /// The age of target `target`'s oldest pending delivery (its event's time), or none.
    pub fn webhook_lag(&self, target: &str, oldest: Option<crate::domain::Timestamp>) {
        let age = oldest.map_or(0.0, |at| {
            (crate::domain::Timestamp::now().0.saturating_sub(at.0)).max(0) as f64 / 1e9
        });
        self.webhook_lag.with_label_values(&[target]).set(age);
    }

    /// Drop the lag gauges of targets `keep` says are gone.
    pub fn webhook_lag_forget(&self, keep: impl Fn(&str) -> bool) {
        for family in self.webhook_lag.collect() {
            for metric in family.get_metric() {
                for label in metric.get_label() {
                    if !keep(label.value()) {
                        let _ = self.webhook_lag.remove_label_values(&[label.value()]);
                    }
                }
            }
        }
    }

    /// The mailbox-depth gauge of `shard`.
    pub fn shard_mailbox(&self, shard: usize) -> IntGauge {
        self.mailbox
            .with_label_values(&[shard.to_string().as_str()])
    }

    /// The text format, with users by state from `counts` (indexed by state number).
    pub fn render(&self, counts: [i64; 6]) -> String {
        for state in crate::domain::UserState::ALL {
            if state == crate::domain::UserState::Unspecified {
                continue;
            }
            if let Some(n) = counts.get(state.number() as usize) {
                self.users.with_label_values(&[state.name()]).set(*n);
            }
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            log::error!("metrics could not be rendered: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
