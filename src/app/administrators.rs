//! Administrators: who holds which of ZITADEL's roles on the instance or an organization
//! (`auth::members` keeps them). Granting, changing and revoking need `iam.member.*` (instance)
//! or `org.member.*` (the organization); a caller always sees its own memberships.
//!
//! Memberships are not user events: they live in the members file, which one edit at a time
//! changes under its lock, off the request threads, and which the server reads again at once.

use super::{Core, Paging, RequestContext, TimeFilter};
use crate::auth::members::{self, Membership, Resource};
use crate::domain::{OrgScope, Permission, Profile, TextMatch, Timestamp, User, UserState};
use crate::error::{ApiError, ErrorCode};
use crate::shard::read_error;
use std::collections::HashMap;

/// Which method asks (they answer ZITADEL's error ids per method and resource).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminChange {
    Create,
    Update,
}

/// A user's roles on a resource, to grant or to set.
#[derive(Clone, Debug)]
pub struct GrantRoles {
    pub user_id: String,
    pub resource: Resource,
    pub roles: Vec<String>,
}

/// A listing's filters, as ZITADEL's `AdministratorSearchFilter`.
#[derive(Clone, Debug)]
pub enum AdminFilter {
    Created(TimeFilter),
    Changed(TimeFilter),
    UserIds(Vec<String>),
    UserOrg(String),
    LoginName(TextMatch),
    DisplayName(TextMatch),
    Resource(Resource),
    Role(String),
    And(Vec<AdminFilter>),
    Or(Vec<AdminFilter>),
    Not(Box<AdminFilter>),
}

/// The order of a listing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AdminSort {
    #[default]
    Created,
    Changed,
    UserId,
}

#[derive(Clone, Debug)]
pub struct ListAdministrators {
    pub filters: Vec<AdminFilter>,
    pub sort: AdminSort,
    pub paging: Paging,
}

/// The user of a membership as a listing shows it (empty fields when it no longer exists).
#[derive(Clone, Debug, Default)]
pub struct AdminUser {
    pub id: String,
    pub preferred_login_name: String,
    pub display_name: String,
    pub org: String,
}

#[derive(Clone, Debug)]
pub struct Administrator {
    pub membership: Membership,
    pub user: AdminUser,
}

#[derive(Clone, Debug)]
pub struct AdministratorPage {
    pub total: u64,
    pub limit: u64,
    pub items: Vec<Administrator>,
}

impl AdminFilter {
    fn passes(&self, a: &Administrator) -> bool {
        let m = &a.membership;
        let time = |t: Option<Timestamp>, f: &TimeFilter| f.passes(t.unwrap_or(Timestamp(0)));
        match self {
            AdminFilter::Created(f) => time(m.created, f),
            AdminFilter::Changed(f) => time(m.changed, f),
            AdminFilter::UserIds(ids) => ids.contains(&m.user_id),
            AdminFilter::UserOrg(org) => a.user.org == *org,
            AdminFilter::LoginName(t) => t.matches(&a.user.preferred_login_name),
            AdminFilter::DisplayName(t) => t.matches(&a.user.display_name),
            AdminFilter::Resource(r) => m.resource == *r,
            AdminFilter::Role(role) => m.roles.contains(role),
            AdminFilter::And(all) => all.iter().all(|f| f.passes(a)),
            AdminFilter::Or(any) => any.iter().any(|f| f.passes(a)),
            AdminFilter::Not(f) => !f.passes(a),
        }
    }
}

/// The permission a change of memberships on `resource` needs, and where the caller must hold it.
fn member_permission(
    resource: &Resource,
    instance: Permission,
    org: Permission,
) -> (Permission, Option<&str>) {
    match resource {
        Resource::Instance => (instance, None),
        Resource::Org(id) => (org, Some(id.as_str())),
    }
}

/// Whether `scope` covers the resource: the instance needs an instance role (everywhere).
fn covers(scope: &OrgScope, org: Option<&str>) -> bool {
    match org {
        None => *scope == OrgScope::Everywhere,
        Some(org) => scope.allows(org),
    }
}

fn admin_user(user: Option<&User>, id: &str) -> AdminUser {
    let Some(user) = user.filter(|u| u.state != UserState::Deleted) else {
        return AdminUser {
            id: id.to_string(),
            ..AdminUser::default()
        };
    };
    let display_name = match &user.profile {
        Profile::V2(h) if !h.display_name.is_empty() => h.display_name.clone(),
        Profile::V2(h) => format!("{} {}", h.given_name, h.family_name)
            .trim()
            .to_string(),
        _ => String::new(),
    };
    AdminUser {
        id: user.id.clone(),
        preferred_login_name: user.profile.username().unwrap_or_default().to_string(),
        display_name,
        org: user.org.clone(),
    }
}

impl Core {
    /// Check the caller may change memberships on `resource` with `instance`/`org` permission.
    async fn member_caller(
        &self,
        ctx: &RequestContext,
        resource: &Resource,
        instance: Permission,
        org: Permission,
    ) -> Result<(), ApiError> {
        let caller = self.authenticate(ctx).await?;
        let (permission, org_id) = member_permission(resource, instance, org);
        if covers(&caller.scope(permission), org_id) {
            Ok(())
        } else {
            Err(ErrorCode::PermissionDenied.into())
        }
    }

    /// Validate `roles` for `resource` (instance roles `IAM_*`, organization roles `ORG_*`,
    /// each a role this instance knows, none twice).
    fn check_roles(
        &self,
        resource: &Resource,
        roles: &[String],
        change: AdminChange,
    ) -> Result<(), ApiError> {
        let (empty, invalid) = match (resource, change) {
            (Resource::Instance, AdminChange::Create) => (
                ErrorCode::InstanceMemberInvalid,
                ErrorCode::InstanceMemberInvalid,
            ),
            (Resource::Instance, AdminChange::Update) => (
                ErrorCode::InstanceMemberChangeInvalid,
                ErrorCode::InstanceMemberRolesInvalid,
            ),
            (Resource::Org(_), AdminChange::Create) => (
                ErrorCode::OrgMemberMissingRoles,
                ErrorCode::OrgMemberInvalid,
            ),
            (Resource::Org(_), AdminChange::Update) => (
                ErrorCode::OrgMemberChangeInvalid,
                ErrorCode::OrgMemberRolesInvalid,
            ),
        };
        if roles.is_empty() {
            return Err(empty.into());
        }
        let prefix = match resource {
            Resource::Instance => "IAM",
            Resource::Org(_) => "ORG",
        };
        for (i, role) in roles.iter().enumerate() {
            let written = crate::config::check_member_role(&resource.role_text(role));
            if !role.starts_with(prefix) || !self.verifier.is_role(role) || written.is_err() {
                return Err(ApiError::with_text(
                    invalid,
                    format!(
                        "{role} is not a role of {}",
                        match resource {
                            Resource::Instance => "the instance",
                            Resource::Org(_) => "an organization",
                        }
                    ),
                ));
            }
            if roles.iter().take(i).any(|r| r == role) {
                return Err(ApiError::with_text(
                    ErrorCode::InvalidV2Request,
                    format!("roles: {role} is named twice"),
                ));
            }
        }
        Ok(())
    }

    /// Run `edit` on the members file (one at a time, off the request threads), then make the
    /// server's view of the memberships current.
    async fn edit_members<R: Send + 'static>(
        &self,
        edit: impl FnOnce(&mut members::MemberFile, &[crate::config::Member]) -> Result<R, ApiError>
            + Send
            + 'static,
    ) -> Result<R, ApiError> {
        let all = self.verifier.members();
        let Some(path) = all.file().map(std::path::Path::to_path_buf) else {
            return Err(ErrorCode::AdminNoFile.into());
        };
        let _one_at_a_time = self.member_edits.lock().await;
        let configured = all.configured().to_vec();
        let outcome = tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            }
            let outcome = members::update(&path, |file| edit(file, &configured));
            all.reload_if_changed();
            outcome
        })
        .await
        .map_err(|_| ApiError::from(ErrorCode::Internal))?;
        outcome.map_err(|e| {
            log::error!("members file: {e}");
            ApiError::from(ErrorCode::Internal)
        })?
    }

    /// `CreateAdministrator`: grant roles on a resource where the user has none yet.
    pub async fn create_administrator(
        &self,
        ctx: &RequestContext,
        request: GrantRoles,
    ) -> Result<Timestamp, ApiError> {
        use Permission::{InstanceMemberWrite, OrgMemberWrite};
        self.member_caller(ctx, &request.resource, InstanceMemberWrite, OrgMemberWrite)
            .await?;
        self.check_roles(&request.resource, &request.roles, AdminChange::Create)?;
        let (not_found, exists) = match request.resource {
            Resource::Instance => (
                ErrorCode::InstanceMemberUserNotFound,
                ErrorCode::InstanceMemberExists,
            ),
            Resource::Org(_) => (ErrorCode::OrgMemberUserNotFound, ErrorCode::OrgMemberExists),
        };
        if self.live_user(&request.user_id).await?.is_none() {
            return Err(not_found.into());
        }
        let now = Timestamp::now();
        self.edit_members(move |file, configured| {
            let held = members::memberships(configured, file)
                .into_iter()
                .any(|m| m.user_id == request.user_id && m.resource == request.resource);
            if held {
                return Err(exists.into());
            }
            file.set_roles(&request.user_id, &request.resource, &request.roles, now);
            Ok(now)
        })
        .await
    }

    /// `UpdateAdministrator`: make `roles` the whole of the user's roles on the resource. The
    /// same roles in the same order change nothing and answer the last change's date.
    pub async fn update_administrator(
        &self,
        ctx: &RequestContext,
        request: GrantRoles,
    ) -> Result<Timestamp, ApiError> {
        use Permission::{InstanceMemberWrite, OrgMemberWrite};
        self.member_caller(ctx, &request.resource, InstanceMemberWrite, OrgMemberWrite)
            .await?;
        self.check_roles(&request.resource, &request.roles, AdminChange::Update)?;
        let not_found = match request.resource {
            Resource::Instance => ErrorCode::InstanceMemberNotFound,
            Resource::Org(_) => ErrorCode::OrgMemberNotFound,
        };
        let now = Timestamp::now();
        self.edit_members(move |file, configured| {
            let current = members::memberships(configured, file)
                .into_iter()
                .find(|m| m.user_id == request.user_id && m.resource == request.resource)
                .ok_or(ApiError::from(not_found))?;
            if current.configured {
                return Err(ErrorCode::AdminConfigured.into());
            }
            if current.roles == request.roles {
                return Ok(current.changed.unwrap_or(now));
            }
            file.set_roles(&request.user_id, &request.resource, &request.roles, now);
            Ok(now)
        })
        .await
    }

    /// `DeleteAdministrator`: revoke every role of the user on the resource. Revoking what is
    /// not granted succeeds without a date (the desired state holds).
    pub async fn delete_administrator(
        &self,
        ctx: &RequestContext,
        user_id: String,
        resource: Resource,
    ) -> Result<Option<Timestamp>, ApiError> {
        use Permission::{InstanceMemberDelete, OrgMemberDelete};
        self.member_caller(ctx, &resource, InstanceMemberDelete, OrgMemberDelete)
            .await?;
        let now = Timestamp::now();
        self.edit_members(move |file, configured| {
            let current = members::memberships(configured, file)
                .into_iter()
                .find(|m| m.user_id == user_id && m.resource == resource);
            match current {
                None => Ok(None),
                Some(m) if m.configured => Err(ErrorCode::AdminConfigured.into()),
                Some(_) => {
                    file.set_roles(&user_id, &resource, &[], now);
                    Ok(Some(now))
                }
            }
        })
        .await
    }

    /// `ListAdministrators`: the memberships the caller may read (`iam.member.read` for the
    /// instance's, `org.member.read` for an organization's, and its own), filtered, sorted and
    /// paged; the total counts every match the caller may read.
    pub async fn list_administrators(
        &self,
        ctx: &RequestContext,
        request: ListAdministrators,
    ) -> Result<AdministratorPage, ApiError> {
        let caller = self.authenticate(ctx).await?;
        let instance_scope = caller.scope(Permission::InstanceMemberRead);
        let org_scope = caller.scope(Permission::OrgMemberRead);
        let all = self.verifier.members();
        let file = match all.file().map(std::path::Path::to_path_buf) {
            Some(path) => tokio::task::spawn_blocking(move || members::read(&path))
                .await
                .map_err(|_| ApiError::from(ErrorCode::Internal))?
                .map_err(|e| {
                    log::error!("members file: {e}");
                    ApiError::from(ErrorCode::Internal)
                })?,
            None => members::MemberFile::default(),
        };
        let visible: Vec<Membership> = members::memberships(all.configured(), &file)
            .into_iter()
            .filter(|m| {
                m.user_id == caller.subject
                    || match &m.resource {
                        Resource::Instance => covers(&instance_scope, None),
                        Resource::Org(org) => covers(&org_scope, Some(org)),
                    }
            })
            .collect();
        // The members' users, each read once (point reads; the list is an operator's).
        let mut users: HashMap<String, AdminUser> = HashMap::new();
        for m in &visible {
            if !users.contains_key(&m.user_id) {
                let user = self
                    .store
                    .user(&m.user_id)
                    .await
                    .map_err(|e| read_error(&e))?;
                users.insert(m.user_id.clone(), admin_user(user.as_ref(), &m.user_id));
            }
        }
        let mut matches: Vec<Administrator> = visible
            .into_iter()
            .map(|membership| Administrator {
                user: users.get(&membership.user_id).cloned().unwrap_or_default(),
                membership,
            })
            .filter(|a| request.filters.iter().all(|f| f.passes(a)))
            .collect();
        matches.sort_by(|a, b| {
            let (a, b) = (&a.membership, &b.membership);
            let order = match request.sort {
                AdminSort::Created => a.created.cmp(&b.created),
                AdminSort::Changed => a.changed.cmp(&b.changed),
                AdminSort::UserId => a.user_id.cmp(&b.user_id),
            };
            order.then_with(|| (&a.user_id, &a.resource).cmp(&(&b.user_id, &b.resource)))
        });
        if !request.paging.asc {
            matches.reverse();
        }
        let total = matches.len() as u64;
        let items = matches
            .into_iter()
            .skip(usize::try_from(request.paging.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(request.paging.limit).unwrap_or(usize::MAX))
            .collect();
        Ok(AdministratorPage {
            total,
            limit: request.paging.limit,
            items,
        })
    }
}
