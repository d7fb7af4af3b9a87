//! The history on the wire: `zitadel.admin.v1.AdminService`'s event API (`ListEvents`,
//! `ListEventTypes`, `ListAggregateTypes`) and `zitadel.management.v1`'s `ListUserChanges`.
//! Every event is of a user aggregate; its resource owner is the user's organization.

use super::{time_of, timestamp, Method};
use crate::app::{self, Core, RequestContext, UserChanges};
use crate::domain::events::{self, AGGREGATE_TYPE};
use crate::domain::OrgScope;
use crate::error::{ApiError, ErrorCode};
use crate::pb::zitadel::admin::v1 as admin;
use crate::pb::zitadel::change::v1 as change;
use crate::pb::zitadel::event::v1 as event;
use crate::pb::zitadel::management::v1 as management;
use crate::pb::zitadel::v1::LocalizedMessage;
use crate::store::{EventQuery, StoredEvent};

fn invalid(text: &str) -> ApiError {
    ApiError::with_text(ErrorCode::InvalidV2Request, text.to_owned())
}

/// A text filter of at most 200 characters; empty means none.
fn optional(value: String, field: &str) -> Result<Option<String>, ApiError> {
    if value.contains('\0') {
        return Err(invalid(&format!("{field}: value must not contain NUL")));
    }
    if value.chars().count() > 200 {
        return Err(invalid(&format!(
            "{field}: value length must be at most 200 runes"
        )));
    }
    Ok(Some(value).filter(|v| !v.is_empty()))
}

fn localized(key: String) -> Option<LocalizedMessage> {
    Some(LocalizedMessage {
        key,
        localized_message: String::new(),
    })
}

fn event_type(name: &str) -> event::EventType {
    event::EventType {
        r#type: name.to_owned(),
        localized: localized(format!("EventTypes.{name}")),
    }
}

fn aggregate_type() -> event::AggregateType {
    event::AggregateType {
        r#type: AGGREGATE_TYPE.to_owned(),
        localized: localized(format!("AggregateTypes.{AGGREGATE_TYPE}")),
    }
}

/// One stored event in `zitadel.event.v1.Event`'s shape.
pub fn wire_event(e: StoredEvent) -> event::Event {
    let payload = events::payload(&e.event.kind);
    event::Event {
        editor: Some(event::Editor {
            user_id: e.event.editor,
            display_name: String::new(),
            service: String::new(),
        }),
        aggregate: Some(event::Aggregate {
            id: e.user_id,
            r#type: Some(aggregate_type()),
            resource_owner: e.org,
        }),
        sequence: e.event.sequence,
        creation_date: Some(timestamp(e.event.at)),
        payload: (!payload.is_empty()).then_some(crate::pb::JsonStruct(payload)),
        r#type: Some(event_type(events::event_type(&e.event.kind))),
    }
}

/// `ListEvents`: the instance's events, newest first unless `asc`.
#[derive(Debug)]
pub struct ListEvents;

impl Method for ListEvents {
    type Request = admin::ListEventsRequest;
    type Response = admin::ListEventsResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        use admin::list_events_request::CreationDateFilter as F;
        if r.event_types.len() > 30 {
            return Err(invalid("eventTypes: value must contain at most 30 items"));
        }
        if r.aggregate_types.len() > 10 {
            return Err(invalid(
                "aggregateTypes: value must contain at most 10 items",
            ));
        }
        let (mut since, mut until) = (None, None);
        #[allow(deprecated)]
        let from = match r.creation_date_filter {
            Some(F::Range(range)) => {
                since = range.since.as_ref().map(time_of);
                until = range.until.as_ref().map(time_of);
                None
            }
            Some(F::From(from)) => Some(time_of(&from)),
            None => r.creation_date.as_ref().map(time_of),
        };
        // ZITADEL's `from`: events after it when ascending, before it when descending.
        if let Some(from) = from {
            if r.asc {
                since = Some(from);
            } else {
                until = Some(from);
            }
        }
        let query = EventQuery {
            user_id: optional(r.aggregate_id, "aggregateId")?,
            org: optional(r.resource_owner, "resourceOwner")?,
            editor: optional(r.editor_user_id, "editorUserId")?,
            types: r
                .event_types
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect(),
            after_sequence: r.sequence,
            since,
            until,
            scope: OrgScope::Everywhere,
            asc: r.asc,
            limit: app::page_size(u64::from(r.limit)),
        };
        let found = core.search_events(ctx, query).await?;
        // Every event is a user's: a search for other aggregate types finds none.
        let users =
            r.aggregate_types.is_empty() || r.aggregate_types.iter().any(|t| t == AGGREGATE_TYPE);
        Ok(admin::ListEventsResponse {
            events: if users {
                found.into_iter().map(wire_event).collect()
            } else {
                Vec::new()
            },
        })
    }
}

/// `ListEventTypes`: every event type userd writes.
#[derive(Debug)]
pub struct ListEventTypes;

impl Method for ListEventTypes {
    type Request = admin::ListEventTypesRequest;
    type Response = admin::ListEventTypesResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        _: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        core.may_read_events(ctx).await?;
        Ok(admin::ListEventTypesResponse {
            event_types: events::EVENT_TYPES.iter().map(|t| event_type(t)).collect(),
        })
    }
}

/// `ListAggregateTypes`: userd keeps users only.
#[derive(Debug)]
pub struct ListAggregateTypes;

impl Method for ListAggregateTypes {
    type Request = admin::ListAggregateTypesRequest;
    type Response = admin::ListAggregateTypesResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        _: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        core.may_read_events(ctx).await?;
        Ok(admin::ListAggregateTypesResponse {
            aggregate_types: vec![aggregate_type()],
        })
    }
}

/// `ListUserChanges`: one user's history, newest first unless `query.asc`.
#[derive(Debug)]
pub struct ListUserChanges;

impl Method for ListUserChanges {
    type Request = management::ListUserChangesRequest;
    type Response = management::ListUserChangesResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        let user_id = app::user_id(&r.user_id)?;
        let q = r.query.unwrap_or_default();
        let request = UserChanges {
            user_id,
            after_sequence: q.sequence,
            limit: app::page_size(u64::from(q.limit)),
            asc: q.asc,
        };
        let found = core.user_changes(ctx, request).await?;
        Ok(management::ListUserChangesResponse {
            result: found
                .into_iter()
                .map(|e| change::Change {
                    change_date: Some(timestamp(e.event.at)),
                    event_type: localized(format!(
                        "EventTypes.{}",
                        events::event_type(&e.event.kind)
                    )),
                    sequence: e.event.sequence,
                    editor_id: e.event.editor,
                    editor_display_name: String::new(),
                    resource_owner_id: e.org,
                    editor_preferred_login_name: String::new(),
                    editor_avatar_url: String::new(),
                })
                .collect(),
        })
    }

    fn set_user_id(request: &mut Self::Request, id: String) {
        request.user_id = id;
    }
}
