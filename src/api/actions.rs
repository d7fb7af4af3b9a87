//! `zitadel.action.v2.ActionService` (and v2beta, its subset on the wire): targets and event
//! executions; and userd's `userd.webhooks.v1.DeliveryService` over the outbox. Only event
//! conditions are kept: userd calls targets for events, never around requests or functions.

use super::{timestamp, Method};
use crate::app::{self, ConditionInput, Core, NewTarget, RequestContext, TargetPatch};
use crate::domain::TextMatch;
use crate::error::{ApiError, ErrorCode};
use crate::pb::userd::webhooks::v1 as deliveries;
use crate::pb::zitadel::action::v2 as pb;
use crate::pb::zitadel::filter::v2 as filter;
use crate::webhooks::{EventCondition, Execution, Target, TargetKind};

fn invalid(text: &str) -> ApiError {
    ApiError::with_text(ErrorCode::InvalidV2Request, text.to_owned())
}

fn bounded(value: &str, field: &str, max: usize) -> Result<(), ApiError> {
    if value.chars().count() > max {
        return Err(invalid(&format!(
            "{field}: value length must be at most {max} runes"
        )));
    }
    Ok(())
}

/// A protobuf duration as milliseconds, within ZITADEL's 0..270 s.
fn timeout_ms(d: &pbjson_types::Duration, field: &str) -> Result<u64, ApiError> {
    let ms = i128::from(d.seconds) * 1000 + i128::from(d.nanos) / 1_000_000;
    if d.seconds < 0 || d.nanos < 0 || ms > i128::from(app::MAX_TIMEOUT_MS) {
        return Err(invalid(&format!(
            "{field}: value must be inside range [0s, 4m30s]"
        )));
    }
    Ok(u64::try_from(ms).unwrap_or(0))
}

fn duration(ms: u64) -> pbjson_types::Duration {
    pbjson_types::Duration {
        seconds: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        // Below 10^9.
        nanos: i32::try_from((ms % 1000) * 1_000_000).unwrap_or(0),
    }
}

fn kind_of(t: pb::create_target_request::TargetType) -> TargetKind {
    use pb::create_target_request::TargetType as T;
    match t {
        T::RestWebhook(w) => TargetKind::Webhook {
            interrupt_on_error: w.interrupt_on_error,
        },
        T::RestCall(c) => TargetKind::Call {
            interrupt_on_error: c.interrupt_on_error,
        },
        T::RestAsync(_) => TargetKind::Async,
    }
}

fn wire_target(t: Target) -> pb::Target {
    use pb::target::TargetType as T;
    pb::Target {
        id: t.id,
        creation_date: Some(timestamp(t.created_at)),
        change_date: Some(timestamp(t.changed_at)),
        name: t.name,
        target_type: Some(match t.kind {
            TargetKind::Webhook { interrupt_on_error } => {
                T::RestWebhook(pb::RestWebhook { interrupt_on_error })
            }
            TargetKind::Call { interrupt_on_error } => {
                T::RestCall(pb::RestCall { interrupt_on_error })
            }
            TargetKind::Async => T::RestAsync(pb::RestAsync {}),
        }),
        timeout: Some(duration(t.timeout_ms)),
        endpoint: t.endpoint,
        signing_key: t.signing_key,
        payload_type: t.payload_type,
    }
}

/// The payload type to keep: JSON when unset; JWT and JWE are not sent by userd.
fn payload_type(n: i32) -> Result<i32, ApiError> {
    match pb::PayloadType::try_from(n) {
        Ok(pb::PayloadType::Unspecified | pb::PayloadType::Json) => {
            Ok(pb::PayloadType::Json as i32)
        }
        Ok(_) => Err(invalid(
            "payloadType: userd sends JSON payloads only (PAYLOAD_TYPE_JSON)",
        )),
        Err(_) => Err(invalid(
            "payloadType: value must be one of the defined enum values",
        )),
    }
}

/// `CreateTarget`.
#[derive(Debug)]
pub struct CreateTarget;

impl Method for CreateTarget {
    type Request = pb::CreateTargetRequest;
    type Response = pb::CreateTargetResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        bounded(&r.name, "name", 1000)?;
        bounded(&r.endpoint, "endpoint", 2048)?;
        // No type is a webhook, as ZITADEL's command takes it.
        let kind = r.target_type.map_or(
            TargetKind::Webhook {
                interrupt_on_error: false,
            },
            kind_of,
        );
        let timeout_ms = match &r.timeout {
            Some(d) => timeout_ms(d, "timeout")?,
            None => 0,
        };
        let target = core
            .create_target(
                ctx,
                NewTarget {
                    name: r.name,
                    kind,
                    timeout_ms,
                    endpoint: r.endpoint,
                    payload_type: payload_type(r.payload_type)?,
                },
            )
            .await?;
        Ok(pb::CreateTargetResponse {
            id: target.id,
            creation_date: Some(timestamp(target.created_at)),
            signing_key: target.signing_key,
        })
    }
}

/// `UpdateTarget`.
#[derive(Debug)]
pub struct UpdateTarget;

impl Method for UpdateTarget {
    type Request = pb::UpdateTargetRequest;
    type Response = pb::UpdateTargetResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        use pb::update_target_request::TargetType as T;
        if let Some(name) = &r.name {
            bounded(name, "name", 1000)?;
        }
        if let Some(endpoint) = &r.endpoint {
            bounded(endpoint, "endpoint", 2048)?;
        }
        let rotate_key = match &r.expiration_signing_key {
            Some(d) if d.seconds == 0 && d.nanos == 0 => true,
            Some(_) => {
                return Err(invalid(
                    "expirationSigningKey: userd replaces the key at once; only 0s is accepted",
                ))
            }
            None => false,
        };
        let timeout_ms = r
            .timeout
            .as_ref()
            .map(|d| timeout_ms(d, "timeout"))
            .transpose()?;
        let kind = r.target_type.map(|t| match t {
            T::RestWebhook(w) => TargetKind::Webhook {
                interrupt_on_error: w.interrupt_on_error,
            },
            T::RestCall(c) => TargetKind::Call {
                interrupt_on_error: c.interrupt_on_error,
            },
            T::RestAsync(_) => TargetKind::Async,
        });
        let payload = match r.payload_type {
            0 => None,
            n => Some(payload_type(n)?),
        };
        let target = core
            .update_target(
                ctx,
                TargetPatch {
                    id: r.id,
                    name: r.name,
                    kind,
                    timeout_ms,
                    endpoint: r.endpoint,
                    payload_type: payload,
                    rotate_key,
                },
            )
            .await?;
        Ok(pb::UpdateTargetResponse {
            change_date: Some(timestamp(target.changed_at)),
            signing_key: rotate_key.then_some(target.signing_key),
        })
    }

    fn set_path(request: &mut Self::Request, name: &str, value: String) {
        if name == "id" {
            request.id = value;
        }
    }
}

/// `DeleteTarget`: a missing target answers as a deleted one.
#[derive(Debug)]
pub struct DeleteTarget;

impl Method for DeleteTarget {
    type Request = pb::DeleteTargetRequest;
    type Response = pb::DeleteTargetResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        let at = core.delete_target(ctx, r.id).await?;
        Ok(pb::DeleteTargetResponse {
            deletion_date: Some(timestamp(at)),
        })
    }

    fn set_path(request: &mut Self::Request, name: &str, value: String) {
        if name == "id" {
            request.id = value;
        }
    }
}

/// `GetTarget`.
#[derive(Debug)]
pub struct GetTarget;

impl Method for GetTarget {
    type Request = pb::GetTargetRequest;
    type Response = pb::GetTargetResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        let target = core.get_target(ctx, r.id).await?;
        Ok(pb::GetTargetResponse {
            target: Some(wire_target(target)),
        })
    }

    fn set_path(request: &mut Self::Request, name: &str, value: String) {
        if name == "id" {
            request.id = value;
        }
    }
}

/// `ListTargets`: filtered by name or ids, sorted, paged.
#[derive(Debug)]
pub struct ListTargets;

impl Method for ListTargets {
    type Request = pb::ListTargetsRequest;
    type Response = pb::ListTargetsResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        use pb::target_search_filter::Filter as F;
        use pb::TargetFieldName as Col;
        let mut names = Vec::new();
        let mut id_sets = Vec::new();
        for f in r.filters {
            match f.filter {
                Some(F::TargetNameFilter(n)) => {
                    bounded(&n.target_name, "targetName", 200)?;
                    names.push(super::text_query(n.target_name, n.method)?);
                }
                Some(F::InTargetIdsFilter(ids)) => id_sets.push(ids.target_ids),
                None => return Err(invalid("filters: exactly one field is required in oneof")),
            }
        }
        let mut targets: Vec<Target> = core
            .list_targets(ctx)
            .await?
            .into_iter()
            .filter(|t| names.iter().all(|m: &TextMatch| m.matches(&t.name)))
            .filter(|t| id_sets.iter().all(|ids| ids.contains(&t.id)))
            .collect();
        let column = r
            .sorting_column
            .map(Col::try_from)
            .transpose()
            .map_err(|_| invalid("sortingColumn: unknown column"))?
            .unwrap_or(Col::CreatedDate);
        let page = r.pagination.unwrap_or_default();
        targets.sort_by(|a, b| {
            let order = match column {
                Col::Id => a.id.cmp(&b.id),
                Col::ChangedDate => a.changed_at.cmp(&b.changed_at),
                Col::Name => a.name.cmp(&b.name),
                Col::Url => a.endpoint.cmp(&b.endpoint),
                Col::Timeout => a.timeout_ms.cmp(&b.timeout_ms),
                _ => a.created_at.cmp(&b.created_at),
            }
            .then_with(|| a.id.cmp(&b.id));
            if page.asc {
                order
            } else {
                order.reverse()
            }
        });
        let (items, total, limit) = paginate(targets, &page);
        Ok(pb::ListTargetsResponse {
            pagination: Some(filter::PaginationResponse {
                total_result: total,
                applied_limit: limit,
            }),
            targets: items.into_iter().map(wire_target).collect(),
        })
    }
}

/// One page of `items`: (the page, the total, the limit applied).
fn paginate<T>(items: Vec<T>, page: &filter::PaginationRequest) -> (Vec<T>, u64, u64) {
    let paging = app::Paging::new(page.offset, u64::from(page.limit), page.asc);
    let total = items.len() as u64;
    let items = items
        .into_iter()
        .skip(usize::try_from(paging.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(paging.limit).unwrap_or(usize::MAX))
        .collect();
    (items, total, paging.limit)
}

/// A condition as the core takes it.
fn condition(c: Option<pb::Condition>) -> ConditionInput {
    use pb::condition::ConditionType as C;
    use pb::event_execution::Condition as E;
    match c.and_then(|c| c.condition_type) {
        None => ConditionInput::Missing,
        Some(C::Event(e)) => match e.condition {
            Some(E::Event(name)) if !name.is_empty() => ConditionInput::Event(name),
            Some(E::Group(group)) if !group.is_empty() => ConditionInput::Group(group),
            Some(E::All(true)) => ConditionInput::All,
            _ => ConditionInput::EmptyEvent,
        },
        Some(C::Request(_) | C::Response(_) | C::Function(_)) => ConditionInput::Unsupported,
    }
}

fn wire_condition(c: &EventCondition) -> pb::Condition {
    use pb::event_execution::Condition as E;
    pb::Condition {
        condition_type: Some(pb::condition::ConditionType::Event(pb::EventExecution {
            condition: Some(match c {
                EventCondition::Event(e) => E::Event(e.clone()),
                EventCondition::Group(g) => E::Group(g.clone()),
                EventCondition::All => E::All(true),
            }),
        })),
    }
}

fn wire_execution(x: Execution) -> pb::Execution {
    pb::Execution {
        condition: Some(wire_condition(&x.condition)),
        creation_date: Some(timestamp(x.created_at)),
        change_date: Some(timestamp(x.changed_at)),
        targets: x.targets,
    }
}

/// `SetExecution`: an event condition's targets; an empty list removes the execution.
#[derive(Debug)]
pub struct SetExecution;

impl Method for SetExecution {
    type Request = pb::SetExecutionRequest;
    type Response = pb::SetExecutionResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        if let Some(pb::condition::ConditionType::Event(e)) =
            r.condition.as_ref().and_then(|c| c.condition_type.as_ref())
        {
            match &e.condition {
                Some(pb::event_execution::Condition::Event(s))
                | Some(pb::event_execution::Condition::Group(s)) => {
                    bounded(s, "condition.event", 1000)?
                }
                _ => {}
            }
        }
        let at = core
            .set_execution(ctx, condition(r.condition), r.targets)
            .await?;
        Ok(pb::SetExecutionResponse {
            set_date: Some(timestamp(at)),
        })
    }
}

/// `ListExecutions`: filtered by condition, type or target, paged.
#[derive(Debug)]
pub struct ListExecutions;

impl Method for ListExecutions {
    type Request = pb::ListExecutionsRequest;
    type Response = pb::ListExecutionsResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        use pb::execution_search_filter::Filter as F;
        let mut executions = core.list_executions(ctx).await?;
        for f in r.filters {
            match f.filter {
                Some(F::InConditionsFilter(c)) => {
                    let wanted: Vec<Option<EventCondition>> = c
                        .conditions
                        .into_iter()
                        .map(|c| match condition(Some(c)) {
                            ConditionInput::Event(e) => Some(EventCondition::Event(e)),
                            ConditionInput::Group(g) => Some(EventCondition::Group(
                                g.strip_suffix(".*").unwrap_or(&g).to_owned(),
                            )),
                            ConditionInput::All => Some(EventCondition::All),
                            _ => None,
                        })
                        .collect();
                    executions.retain(|x| wanted.contains(&Some(x.condition.clone())));
                }
                Some(F::ExecutionTypeFilter(t)) => {
                    let events = t.execution_type == pb::ExecutionType::Event as i32
                        || t.execution_type == pb::ExecutionType::Unspecified as i32;
                    if !events {
                        executions.clear();
                    }
                }
                Some(F::TargetFilter(t)) => executions.retain(|x| x.targets.contains(&t.target_id)),
                None => return Err(invalid("filters: exactly one field is required in oneof")),
            }
        }
        let page = r.pagination.unwrap_or_default();
        let column = r.sorting_column.unwrap_or(0);
        executions.sort_by(|a, b| {
            let order = if column == pb::ExecutionFieldName::ChangedDate as i32 {
                a.changed_at.cmp(&b.changed_at)
            } else if column == pb::ExecutionFieldName::Id as i32 {
                a.condition.key().cmp(&b.condition.key())
            } else {
                a.created_at.cmp(&b.created_at)
            }
            .then_with(|| a.condition.cmp(&b.condition));
            if page.asc {
                order
            } else {
                order.reverse()
            }
        });
        let (items, total, limit) = paginate(executions, &page);
        Ok(pb::ListExecutionsResponse {
            pagination: Some(filter::PaginationResponse {
                total_result: total,
                applied_limit: limit,
            }),
            executions: items.into_iter().map(wire_execution).collect(),
        })
    }
}

/// Declares a method that answers an empty list to any signed-in caller: what userd has
/// none of.
macro_rules! nothing_to_list {
    ($($(#[$doc:meta])* $name:ident: $req:ident => $resp:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl Method for $name {
            type Request = pb::$req;
            type Response = pb::$resp;

            async fn call(
                core: &Core,
                ctx: &RequestContext,
                _: Self::Request,
            ) -> Result<Self::Response, ApiError> {
                core.authenticate(ctx).await?;
                Ok(pb::$resp::default())
            }
        }
    )*};
}

nothing_to_list! {
    /// `ListExecutionFunctions`: userd has no function hooks.
    ListExecutionFunctions: ListExecutionFunctionsRequest => ListExecutionFunctionsResponse;
    /// `ListExecutionMethods`: userd runs no executions around requests.
    ListExecutionMethods: ListExecutionMethodsRequest => ListExecutionMethodsResponse;
    /// `ListExecutionServices`: userd runs no executions around requests.
    ListExecutionServices: ListExecutionServicesRequest => ListExecutionServicesResponse;
}

/// `ListDeliveries`: the outbox, pending or parked.
#[derive(Debug)]
pub struct ListDeliveries;

impl Method for ListDeliveries {
    type Request = deliveries::ListDeliveriesRequest;
    type Response = deliveries::ListDeliveriesResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        let limit = app::page_size(u64::from(r.limit));
        let target = Some(r.target_id).filter(|t| !t.is_empty());
        let found = core
            .list_deliveries(ctx, target, r.parked, r.after_position, limit)
            .await?;
        Ok(deliveries::ListDeliveriesResponse {
            deliveries: found
                .into_iter()
                .map(|o| {
                    let event_type = serde_json::from_str::<serde_json::Value>(&o.delivery.body)
                        .ok()
                        .and_then(|b| b["event_type"].as_str().map(str::to_owned))
                        .unwrap_or_default();
                    deliveries::Delivery {
                        target_id: o.delivery.target,
                        position: o.position,
                        aggregate_id: o.delivery.user_id,
                        sequence: o.delivery.sequence,
                        event_type,
                        creation_date: Some(timestamp(o.delivery.at)),
                        attempts: o.attempts,
                        next_attempt_date: (o.next_at.0 > 0).then(|| timestamp(o.next_at)),
                        last_error: o.last_error,
                        parked: o.parked,
                    }
                })
                .collect(),
        })
    }
}

/// `RetryDelivery`: send a parked delivery again.
#[derive(Debug)]
pub struct RetryDelivery;

impl Method for RetryDelivery {
    type Request = deliveries::RetryDeliveryRequest;
    type Response = deliveries::RetryDeliveryResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        let at = core.retry_delivery(ctx, r.target_id, r.position).await?;
        Ok(deliveries::RetryDeliveryResponse {
            retry_date: Some(timestamp(at)),
        })
    }

    fn set_path(request: &mut Self::Request, name: &str, value: String) {
        match name {
            "targetId" => request.target_id = value,
            "position" => request.position = value.parse().unwrap_or(u64::MAX),
            _ => {}
        }
    }
}
