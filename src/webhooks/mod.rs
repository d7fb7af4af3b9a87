//! Webhooks: ZITADEL's Actions v2 targets and event executions, kept as settings in the store,
//! and the routing table that turns a group's changes into the deliveries it owes.
//!
//! Invariant: the deliveries of a change are decided by the shard with the change, from the
//! routing table as it is then, and committed with it (the outbox); [`delivery`] sends them.

pub mod delivery;
pub mod guard;
pub mod sign;

use crate::domain::{events, Timestamp};
use crate::store::{Backend, Change, Delivery, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

/// How a target is called. Event executions never wait for an answer; the kinds differ in
/// what counts as delivered: any answer for `Async`, a 2xx for the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetKind {
    Webhook { interrupt_on_error: bool },
    Call { interrupt_on_error: bool },
    Async,
}

/// A target: where deliveries go and how they are signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub id: String,
    pub name: String,
    pub kind: TargetKind,
    pub endpoint: String,
    pub timeout_ms: u64,
    pub signing_key: String,
    /// ZITADEL's `PayloadType` number (1: JSON, the only one userd sends).
    pub payload_type: i32,
    pub created_at: Timestamp,
    pub changed_at: Timestamp,
}

/// What an execution reacts to. Only event conditions fire in userd (it has no request or
/// function hooks), so only they are kept.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventCondition {
    /// One event type (`user.deactivated`).
    Event(String),
    /// Every type of a group (`user`, `user.human`).
    Group(String),
    All,
}

impl EventCondition {
    /// The settings key of the execution with this condition.
    pub fn key(&self) -> String {
        match self {
            EventCondition::Event(t) => format!("execution/event/{t}"),
            EventCondition::Group(g) => format!("execution/event/{g}.*"),
            EventCondition::All => "execution/event".to_string(),
        }
    }
}

/// An execution: the targets called when its condition's events happen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    pub condition: EventCondition,
    pub targets: Vec<String>,
    pub created_at: Timestamp,
    pub changed_at: Timestamp,
}

/// The settings key of a target.
pub fn target_key(id: &str) -> String {
    format!("target/{id}")
}

/// Targets and executions as read from the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub targets: BTreeMap<String, Target>,
    /// By condition.
    pub executions: BTreeMap<EventCondition, Execution>,
}

impl Settings {
    /// Decode the store's settings; entries that do not decode are logged and skipped.
    pub fn from_entries(entries: Vec<(String, Vec<u8>)>) -> Settings {
        let mut settings = Settings::default();
        for (key, value) in entries {
            if key.starts_with("target/") {
                match serde_json::from_slice::<Target>(&value) {
                    Ok(t) => {
                        settings.targets.insert(t.id.clone(), t);
                    }
                    Err(e) => log::error!("setting {key} does not decode: {e}"),
                }
            } else if key.starts_with("execution/") {
                match serde_json::from_slice::<Execution>(&value) {
                    Ok(x) => {
                        settings.executions.insert(x.condition.clone(), x);
                    }
                    Err(e) => log::error!("setting {key} does not decode: {e}"),
                }
            }
        }
        settings
    }

    pub async fn load(store: &dyn Backend) -> Result<Settings, StoreError> {
        Ok(Settings::from_entries(store.settings().await?))
    }

    /// The targets called for `event_type`: the most specific execution wins (the event's
    /// own, then its groups from the longest, then the one for all events).
    pub fn targets_for(&self, event_type: &str) -> &[String] {
        let exact = EventCondition::Event(event_type.to_owned());
        if let Some(x) = self.executions.get(&exact) {
            return &x.targets;
        }
        let mut group = event_type;
        while let Some((head, _)) = group.rsplit_once('.') {
            if let Some(x) = self.executions.get(&EventCondition::Group(head.to_owned())) {
                return &x.targets;
            }
            group = head;
        }
        self.executions
            .get(&EventCondition::All)
            .map_or(&[], |x| &x.targets)
    }
}

/// The routing table the shards read (a snapshot swapped whole when settings change).
#[derive(Debug, Default)]
pub struct Routes {
    /// The settings, and how many times they were replaced.
    current: RwLock<(Arc<Settings>, u64)>,
    /// The instance id in payloads.
    pub instance_id: String,
}

impl Routes {
    pub fn new(settings: Settings, instance_id: String) -> Routes {
        Routes {
            current: RwLock::new((Arc::new(settings), 0)),
            instance_id,
        }
    }

    pub fn current(&self) -> Arc<Settings> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }

    /// How many times the settings were replaced.
    pub fn version(&self) -> u64 {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .1
    }

    /// Put settings just written in place.
    pub fn replace(&self, settings: Settings) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        *current = (Arc::new(settings), current.1 + 1);
    }

    /// Put settings read at `version` in place, unless they were replaced since (a read
    /// that started before a write must not undo it).
    pub fn replace_if_unchanged(&self, settings: Settings, version: u64) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if current.1 == version && *current.0 != settings {
            *current = (Arc::new(settings), version + 1);
        }
    }

    /// The deliveries `changes` owe, in their order.
    pub fn deliveries(&self, changes: &[Change]) -> Vec<Delivery> {
        let settings = self.current();
        if settings.executions.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for change in changes {
            let event_type = events::event_type(&change.event.kind);
            let targets = settings.targets_for(event_type);
            if targets.is_empty() {
                continue;
            }
            let body = self.payload(change, event_type);
            for target in targets {
                if settings.targets.contains_key(target) {
                    out.push(Delivery {
                        target: target.clone(),
                        user_id: change.after.id.clone(),
                        sequence: change.event.sequence,
                        at: change.event.at,
                        body: body.clone(),
                    });
                }
            }
        }
        out
    }

    /// ZITADEL's event-execution body for a change (empty fields left out, as ZITADEL's are).
    fn payload(&self, change: &Change, event_type: &str) -> String {
        use serde_json::Value;
        let event = &change.event;
        let mut body = serde_json::Map::new();
        let mut text = |key: &str, value: &str| {
            if !value.is_empty() {
                body.insert(key.to_owned(), Value::String(value.to_owned()));
            }
        };
        text("aggregateID", &change.after.id);
        text("aggregateType", events::AGGREGATE_TYPE);
        text("resourceOwner", &change.after.org);
        text("instanceID", &self.instance_id);
        text("version", "v1");
        text("event_type", event_type);
        text("created_at", &event.at.to_rfc3339());
        text("userID", &event.editor);
        body.insert("sequence".into(), Value::from(event.sequence));
        let payload = events::payload(&event.kind);
        if !payload.is_empty() {
            body.insert("event_payload".into(), Value::Object(payload));
        }
        Value::Object(body).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution(condition: EventCondition, target: &str) -> (EventCondition, Execution) {
        (
            condition.clone(),
            Execution {
                condition,
                targets: vec![target.into()],
                created_at: Timestamp(0),
                changed_at: Timestamp(0),
            },
        )
    }

    #[test]
    fn the_most_specific_execution_wins() {
        let settings = Settings {
            targets: BTreeMap::new(),
            executions: [
                execution(EventCondition::All, "all"),
                execution(EventCondition::Group("user".into()), "users"),
                execution(EventCondition::Group("user.human".into()), "humans"),
                execution(EventCondition::Event("user.locked".into()), "locks"),
            ]
            .into_iter()
            .collect(),
        };
        assert_eq!(settings.targets_for("user.locked"), ["locks"]);
        assert_eq!(settings.targets_for("user.human.email.changed"), ["humans"]);
        assert_eq!(settings.targets_for("user.deactivated"), ["users"]);
        assert_eq!(settings.targets_for("org.added"), ["all"]);
    }
}
