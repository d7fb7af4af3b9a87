//! `zitadel.internal_permission.v2.InternalPermissionService` (and v2beta, wire-compatible for
//! what userd serves): administrators, i.e. users' roles on the instance or an organization.
//! Projects do not exist in userd, so a project or project grant resource is refused.

use super::{timestamp, Method};
use crate::app::{
    self, AdminFilter, AdminSort, Administrator, Core, GrantRoles, ListAdministrators,
    RequestContext,
};
use crate::auth::members::Resource;
use crate::domain::TextMatch;
use crate::error::{ApiError, ErrorCode};
use crate::pb::zitadel::filter::v2 as filter;
use crate::pb::zitadel::internal_permission::v2 as pb;

/// How deep `and`/`or`/`not` may nest (ZITADEL's bound).
const MAX_FILTER_DEPTH: usize = 20;

fn invalid(text: impl Into<String>) -> ApiError {
    ApiError::with_text(ErrorCode::InvalidV2Request, text.into())
}

/// A field of 1 to 200 characters (the protos' rule).
fn bounded(value: String, field: &str) -> Result<String, ApiError> {
    let n = value.chars().count();
    if n == 0 || n > 200 {
        return Err(invalid(format!(
            "{field}: value length must be between 1 and 200 runes, inclusive"
        )));
    }
    Ok(value)
}

/// The resource of a change request; `missing` is the method's error when none is set.
fn resource(r: Option<pb::ResourceType>, missing: ErrorCode) -> Result<Resource, ApiError> {
    use pb::resource_type::Resource as R;
    match r.and_then(|r| r.resource) {
        None => Err(missing.into()),
        Some(R::Instance(true)) => Ok(Resource::Instance),
        Some(R::Instance(false)) => Err(invalid("resource.instance: value must equal true")),
        Some(R::OrganizationId(id)) => Ok(Resource::Org(bounded(id, "resource.organizationId")?)),
        Some(R::ProjectId(_) | R::ProjectGrant(_)) => {
            Err(ErrorCode::AdminProjectUnsupported.into())
        }
    }
}

/// Role keys: each 1 to 200 characters (uniqueness and validity are the core's).
fn roles(roles: Vec<String>) -> Result<Vec<String>, ApiError> {
    roles.into_iter().map(|r| bounded(r, "roles[]")).collect()
}

fn time_filter(f: &filter::TimestampFilter) -> Result<app::TimeFilter, ApiError> {
    super::timestamp_filter(f).ok_or_else(|| invalid("unknown timestamp filter method"))
}

/// A text filter: `zitadel.filter.v2.TextFilterMethod` numbers its methods as v2's
/// `TextQueryMethod` does.
fn text_filter(value: String, method: i32, field: &str) -> Result<TextMatch, ApiError> {
    super::text_query(bounded(value, field)?, method)
}

fn search_filter(f: pb::AdministratorSearchFilter, depth: usize) -> Result<AdminFilter, ApiError> {
    use pb::administrator_search_filter::Filter as F;
    use pb::resource_filter::Resource as R;
    if depth > MAX_FILTER_DEPTH {
        return Err(ErrorCode::AdminFilterTooDeep.into());
    }
    let all = |queries: Vec<pb::AdministratorSearchFilter>| {
        queries
            .into_iter()
            .map(|q| search_filter(q, depth + 1))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(
        match f
            .filter
            .ok_or(ApiError::from(ErrorCode::AdminFilterInvalid))?
        {
            F::CreationDate(t) => AdminFilter::Created(time_filter(&t)?),
            F::ChangeDate(t) => AdminFilter::Changed(time_filter(&t)?),
            F::InUserIdsFilter(ids) => AdminFilter::UserIds(ids.ids),
            F::UserOrganizationId(id) => AdminFilter::UserOrg(id.id),
            F::UserPreferredLoginName(n) => AdminFilter::LoginName(text_filter(
                n.preferred_login_name,
                n.method,
                "userPreferredLoginName.preferredLoginName",
            )?),
            F::UserDisplayName(n) => AdminFilter::DisplayName(text_filter(
                n.display_name,
                n.method,
                "userDisplayName.displayName",
            )?),
            F::Resource(r) => match r.resource {
                Some(R::Instance(true)) => AdminFilter::Resource(Resource::Instance),
                Some(R::OrganizationId(id)) => AdminFilter::Resource(Resource::Org(id)),
                // No projects exist: such a filter matches nothing.
                Some(R::ProjectId(_) | R::ProjectGrant(_)) => AdminFilter::Or(Vec::new()),
                Some(R::Instance(false)) => {
                    return Err(invalid("resource.instance: value must equal true"))
                }
                None => return Err(invalid("resource: value is required")),
            },
            F::Role(r) => AdminFilter::Role(bounded(r.role_key, "role.roleKey")?),
            F::And(a) => AdminFilter::And(all(a.queries)?),
            F::Or(o) => AdminFilter::Or(all(o.queries)?),
            F::Not(n) => {
                let inner = n
                    .query
                    .map(|q| *q)
                    .ok_or(ApiError::from(ErrorCode::AdminFilterInvalid))?;
                AdminFilter::Not(Box::new(search_filter(inner, depth + 1)?))
            }
        },
    )
}

fn administrator(a: Administrator) -> pb::Administrator {
    use pb::administrator::Resource as R;
    let m = a.membership;
    pb::Administrator {
        creation_date: m.created.map(timestamp),
        change_date: m.changed.or(m.created).map(timestamp),
        user: Some(pb::User {
            id: a.user.id,
            preferred_login_name: a.user.preferred_login_name,
            display_name: a.user.display_name,
            organization_id: a.user.org,
        }),
        resource: Some(match m.resource {
            Resource::Instance => R::Instance(true),
            // userd keeps no organization names.
            Resource::Org(id) => R::Organization(pb::Organization {
                id,
                name: String::new(),
            }),
        }),
        roles: m.roles,
    }
}

/// `CreateAdministrator`.
#[derive(Debug)]
pub struct CreateAdministrator;

impl Method for CreateAdministrator {
    type Request = pb::CreateAdministratorRequest;
    type Response = pb::CreateAdministratorResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        let request = GrantRoles {
            user_id: bounded(r.user_id, "userId")?,
            resource: resource(r.resource, ErrorCode::AdminCreateResourceMissing)?,
            roles: roles(r.roles)?,
        };
        let at = core.create_administrator(ctx, request).await?;
        Ok(pb::CreateAdministratorResponse {
            creation_date: Some(timestamp(at)),
        })
    }
}

/// `UpdateAdministrator`.
#[derive(Debug)]
pub struct UpdateAdministrator;

impl Method for UpdateAdministrator {
    type Request = pb::UpdateAdministratorRequest;
    type Response = pb::UpdateAdministratorResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        let request = GrantRoles {
            user_id: bounded(r.user_id, "userId")?,
            resource: resource(r.resource, ErrorCode::AdminUpdateResourceMissing)?,
            roles: roles(r.roles)?,
        };
        let at = core.update_administrator(ctx, request).await?;
        Ok(pb::UpdateAdministratorResponse {
            change_date: Some(timestamp(at)),
        })
    }
}

/// `DeleteAdministrator`.
#[derive(Debug)]
pub struct DeleteAdministrator;

impl Method for DeleteAdministrator {
    type Request = pb::DeleteAdministratorRequest;
    type Response = pb::DeleteAdministratorResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        let user_id = bounded(r.user_id, "userId")?;
        let resource = resource(r.resource, ErrorCode::AdminDeleteResourceMissing)?;
        let at = core.delete_administrator(ctx, user_id, resource).await?;
        Ok(pb::DeleteAdministratorResponse {
            deletion_date: at.map(timestamp),
        })
    }
}

/// `ListAdministrators`.
#[derive(Debug)]
pub struct ListAdministratorsMethod;

impl Method for ListAdministratorsMethod {
    type Request = pb::ListAdministratorsRequest;
    type Response = pb::ListAdministratorsResponse;

    async fn call(
        core: &Core,
        ctx: &RequestContext,
        r: Self::Request,
    ) -> Result<Self::Response, ApiError> {
        use pb::AdministratorFieldName as F;
        let page = r.pagination.unwrap_or_default();
        let sort = match F::try_from(r.sorting_column)
            .map_err(|_| invalid("sortingColumn: unknown column"))?
        {
            F::Unspecified | F::CreationDate => AdminSort::Created,
            F::ChangeDate => AdminSort::Changed,
            F::UserId => AdminSort::UserId,
        };
        let filters = r
            .filters
            .into_iter()
            .map(|f| search_filter(f, 1))
            .collect::<Result<Vec<_>, _>>()?;
        let request = ListAdministrators {
            filters,
            sort,
            paging: app::Paging::new(page.offset, u64::from(page.limit), page.asc),
        };
        let found = core.list_administrators(ctx, request).await?;
        Ok(pb::ListAdministratorsResponse {
            pagination: Some(filter::PaginationResponse {
                total_result: found.total,
                applied_limit: found.limit,
            }),
            administrators: found.items.into_iter().map(administrator).collect(),
        })
    }
}
