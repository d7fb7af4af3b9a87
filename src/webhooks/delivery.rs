//! The delivery worker: one thread of its own (never an HTTP worker or a shard's), one task
//! per target, each sending its target's outbox in position order, one delivery at a time.
//!
//! At least once: a delivery leaves the outbox only after the target took it. A failure waits
//! (doubling from `backoff_initial_ms` up to `backoff_max_ms`) and holds back the target's later
//! deliveries, so a user's events arrive in sequence order; after `max_attempts` the delivery
//! is parked (kept, listed, retried by hand) and the queue moves on. With several nodes on one
//! database, a lease per target lets one node at a time send its queue.

use super::guard::{self, Denied};
use super::{sign, Routes, Settings, Target, TargetKind};
use crate::config::WebhooksConfig;
use crate::domain::Timestamp;
use crate::store::{Backend, Outgoing, Settle};
use std::collections::HashMap;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

/// How often an idle target's queue is looked at.
const POLL: Duration = Duration::from_millis(100);
/// How much longer than a send's timeout a lease lasts.
const LEASE_MARGIN: Duration = Duration::from_secs(10);
/// How often the settings are read again (another node may have changed them).
const RELOAD: Duration = Duration::from_secs(1);
/// Deliveries read from the outbox at once.
const BATCH: usize = 32;

#[derive(Debug)]
struct Deliverer {
    store: Arc<dyn Backend>,
    routes: Arc<Routes>,
    config: WebhooksConfig,
    deny: Arc<Vec<Denied>>,
    /// Who holds the leases this process takes.
    holder: String,
}

/// Start the worker thread.
pub fn start(
    store: Arc<dyn Backend>,
    routes: Arc<Routes>,
    config: WebhooksConfig,
    deny: Vec<Denied>,
) -> std::io::Result<()> {
    let holder = format!(
        "{}-{}",
        std::process::id(),
        sign::new_key().unwrap_or_default()
    );
    let deliverer = Arc::new(Deliverer {
        store,
        routes,
        config,
        deny: Arc::new(deny),
        holder,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    std::thread::Builder::new()
        .name("userd-webhooks".into())
        .spawn(move || runtime.block_on(supervise(deliverer)))?;
    Ok(())
}

/// Keep one task per target and the settings fresh.
async fn supervise(d: Arc<Deliverer>) {
    let mut tasks: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        let version = d.routes.version();
        match Settings::load(d.store.as_ref()).await {
            Ok(settings) => d.routes.replace_if_unchanged(settings, version),
            Err(e) => log::warn!("webhook settings not read: {e}"),
        }
        let settings = d.routes.current();
        tasks.retain(|_, task| !task.is_finished());
        for id in settings.targets.keys() {
            if !tasks.contains_key(id) {
                tasks.insert(id.clone(), tokio::spawn(run_target(d.clone(), id.clone())));
            }
        }
        if let Some(m) = crate::metrics::get() {
            m.webhook_lag_forget(|target| settings.targets.contains_key(target));
        }
        tokio::time::sleep(RELOAD).await;
    }
}

/// Send one target's queue until the target is deleted.
async fn run_target(d: Arc<Deliverer>, id: String) {
    loop {
        if !d.routes.current().targets.contains_key(&id) {
            return;
        }
        // Idle: look without the lease (reads only).
        let pending = d.next_batch(&id).await;
        if let Some(m) = crate::metrics::get() {
            m.webhook_lag(&id, pending.first().map(|e| e.delivery.at));
        }
        if pending.is_empty() {
            tokio::time::sleep(POLL).await;
            continue;
        }
        // Busy: take the lease, then read the queue again (another node may have sent some).
        if !d.hold_lease(&id).await {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        for entry in d.next_batch(&id).await {
            let Some(target) = d.routes.current().targets.get(&id).cloned() else {
                return;
            };
            let now = Timestamp::now();
            if entry.next_at > now {
                let wait = u64::try_from(entry.next_at.0.saturating_sub(now.0)).unwrap_or(0);
                tokio::time::sleep(Duration::from_nanos(wait).min(Duration::from_secs(1))).await;
                break;
            }
            // Each send is covered by the lease, renewed for at least its timeout.
            if !d.hold_lease(&id).await || !d.deliver(&target, entry).await {
                break;
            }
        }
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Deliverer {
    /// The head of a target's queue (empty if it cannot be read now).
    async fn next_batch(&self, id: &str) -> Vec<Outgoing> {
        match self
            .store
            .outbox(Some(id.to_owned()), false, 0, BATCH)
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                log::warn!("outbox of target {id} not read: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                Vec::new()
            }
        }
    }

    /// Take or renew the target's lease for longer than one send can take.
    async fn hold_lease(&self, id: &str) -> bool {
        let timeout = self
            .routes
            .current()
            .targets
            .get(id)
            .map_or(0, |t| t.timeout_ms);
        let length = Duration::from_millis(timeout) + LEASE_MARGIN;
        match self
            .store
            .lease(format!("target/{id}"), self.holder.clone(), length)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                log::warn!("webhook lease for target {id} not taken: {e}");
                false
            }
        }
    }

    /// One attempt at one delivery, and its settlement. True if the queue may go on.
    async fn deliver(&self, target: &Target, entry: Outgoing) -> bool {
        let (t, body) = (target.clone(), entry.delivery.body.clone());
        let (deny, max) = (self.deny.clone(), self.config.max_response_bytes);
        let sent = tokio::task::spawn_blocking(move || send(&t, &body, &deny, max))
            .await
            .unwrap_or_else(|_| Err("the sending thread failed".into()));
        let metrics = crate::metrics::get();
        let settle = match sent {
            Ok(()) => {
                if let Some(m) = metrics {
                    m.webhook_sent.inc();
                }
                Settle::Delivered
            }
            Err(error) => {
                let attempts = entry.attempts.saturating_add(1);
                log::info!(
                    "delivery {} of user {} (sequence {}) to target {} failed (attempt {attempts}): {error}",
                    entry.position,
                    entry.delivery.user_id,
                    entry.delivery.sequence,
                    target.id
                );
                if let Some(m) = metrics {
                    m.webhook_failed.inc();
                }
                if attempts >= self.config.max_attempts.max(1) {
                    if let Some(m) = metrics {
                        m.webhook_parked.inc();
                    }
                    Settle::Park { attempts, error }
                } else {
                    Settle::Retry {
                        attempts,
                        next_at: Timestamp(
                            Timestamp::now()
                                .0
                                .saturating_add(nanos(backoff(&self.config, attempts))),
                        ),
                        error,
                    }
                }
            }
        };
        let moves_on = matches!(settle, Settle::Delivered | Settle::Park { .. });
        match self
            .store
            .settle(target.id.clone(), entry.position, settle)
            .await
        {
            Ok(_) => moves_on,
            Err(e) => {
                // Sent again later: at least once.
                log::warn!("delivery {} not settled: {e}", entry.position);
                tokio::time::sleep(Duration::from_secs(1)).await;
                false
            }
        }
    }
}

/// The wait after the `attempts`-th failure.
pub fn backoff(config: &WebhooksConfig, attempts: u32) -> Duration {
    let factor = 1u64
        .checked_shl(attempts.saturating_sub(1))
        .unwrap_or(u64::MAX);
    Duration::from_millis(
        config
            .backoff_initial_ms
            .saturating_mul(factor)
            .min(config.backoff_max_ms),
    )
}

/// Post `body` to the target, signed; Ok if the target took it. Blocking: run off the async
/// threads.
fn send(target: &Target, body: &str, deny: &[Denied], max_bytes: u64) -> Result<(), String> {
    let endpoint = guard::check_endpoint(&target.endpoint, deny)?;
    // The name is checked again as it resolves now.
    let addrs: Vec<_> = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", endpoint.host))?
        .collect();
    if addrs.iter().any(|a| guard::ip_denied(a.ip(), deny)) {
        return Err(format!("{} resolves to a denied address", endpoint.host));
    }
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(target.timeout_ms.max(1))))
        .max_redirects(0)
        .http_status_as_error(false)
        .build();
    // Connect only to the addresses just checked: a name that resolves elsewhere a moment
    // later (DNS rebinding) does not move the connection.
    let agent = ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::new(),
        Pinned(addrs),
    );
    let signature = sign::signature(&target.signing_key, Timestamp::now().unix_seconds(), body);
    let mut response = agent
        .post(&target.endpoint)
        .header("Content-Type", "application/json")
        .header(sign::HEADER, &signature)
        .send(body)
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    // Read (at most the cap of) the answer, so the connection ends cleanly; its content does
    // not matter for an event.
    let _ = response
        .body_mut()
        .with_config()
        .limit(max_bytes)
        .read_to_vec();
    match target.kind {
        TargetKind::Async => Ok(()),
        _ if (200..300).contains(&status) => Ok(()),
        _ => Err(format!("the target answered HTTP {status}")),
    }
}

/// A resolver that answers the addresses checked before the request.
#[derive(Debug)]
struct Pinned(Vec<std::net::SocketAddr>);

impl ureq::unversioned::resolver::Resolver for Pinned {
    fn resolve(
        &self,
        _uri: &http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let mut addrs = self.empty();
        for addr in &self.0 {
            if addrs.try_push(*addr).is_err() {
                break;
            }
        }
        if addrs.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_most() {
        let config = WebhooksConfig {
            backoff_initial_ms: 100,
            backoff_max_ms: 1000,
            ..WebhooksConfig::default()
        };
        let waits: Vec<u128> = (1..=6).map(|n| backoff(&config, n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff(&config, 200).as_millis(), 1000);
    }
}
