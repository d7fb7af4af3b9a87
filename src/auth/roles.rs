//! ZITADEL roles to userd permissions: the default table of the contract, which config may
//! override role by role (like ZITADEL's `RolePermissionMappings`).
//!
//! Instance roles (`IAM_*`) hold in every organization whatever their org map holds; org roles
//! hold in the listed org ids only; unknown roles grant nothing.

use crate::config::RolePermissions;
use crate::domain::{OrgScope, Permission};
use std::collections::HashMap;

/// Which permissions each role grants.
#[derive(Clone, Debug)]
pub struct RoleTable {
    roles: HashMap<String, Vec<Permission>>,
}

impl Default for RoleTable {
    fn default() -> Self {
        use Permission::*;
        let user = [Read, Write, Delete];
        let members = Permission::MEMBER;
        // ZITADEL's roles of the instance and of organizations, with the permissions userd
        // checks (ZITADEL's defaults). Roles userd has nothing for still name valid memberships.
        let table: &[(&str, &[&[Permission]])] = &[
            ("IAM_OWNER", &[&user, &members, &Permission::INSTANCE]),
            (
                "IAM_OWNER_VIEWER",
                &[&[
                    Read,
                    InstanceMemberRead,
                    OrgMemberRead,
                    EventsRead,
                    ActionTargetRead,
                    ActionExecutionRead,
                ]],
            ),
            (
                "IAM_ORG_MANAGER",
                &[&user, &[OrgMemberRead, OrgMemberWrite, OrgMemberDelete]],
            ),
            (
                "IAM_USER_MANAGER",
                &[&user, &[OrgMemberRead, OrgMemberDelete]],
            ),
            (
                "IAM_LOGIN_CLIENT",
                &[&[
                    Read,
                    Write,
                    InstanceMemberRead,
                    InstanceMemberWrite,
                    OrgMemberRead,
                    OrgMemberWrite,
                ]],
            ),
            ("IAM_ADMIN_IMPERSONATOR", &[]),
            ("IAM_END_USER_IMPERSONATOR", &[]),
            (
                "ORG_OWNER",
                &[&user, &[OrgMemberRead, OrgMemberWrite, OrgMemberDelete]],
            ),
            ("ORG_USER_MANAGER", &[&user]),
            ("ORG_OWNER_VIEWER", &[&[Read, OrgMemberRead]]),
            ("ORG_SETTINGS_MANAGER", &[&[OrgMemberRead]]),
            ("ORG_USER_PERMISSION_EDITOR", &[&[OrgMemberRead]]),
            ("ORG_PROJECT_PERMISSION_EDITOR", &[&[OrgMemberRead]]),
            ("ORG_PROJECT_CREATOR", &[]),
            ("ORG_ADMIN_IMPERSONATOR", &[]),
            ("ORG_END_USER_IMPERSONATOR", &[]),
            ("ORG_USER_SELF_MANAGER", &[]),
        ];
        RoleTable {
            roles: table
                .iter()
                .map(|(role, perms)| (role.to_string(), perms.concat()))
                .collect(),
        }
    }
}

impl RoleTable {
    /// Replace the permissions of the named roles; other roles keep the default.
    pub fn with_overrides(mut self, overrides: &RolePermissions) -> Self {
        for (role, perms) in overrides {
            self.roles.insert(role.clone(), perms.clone());
        }
        self
    }

    /// Whether `name` is a role this instance knows (ZITADEL's, or one the configuration adds).
    pub fn is_role(&self, name: &str) -> bool {
        self.roles.contains_key(name)
    }

    /// Where the holder of `claim` has each permission.
    pub fn scopes(
        &self,
        claim: Option<&HashMap<String, serde_json::Value>>,
    ) -> HashMap<Permission, OrgScope> {
        let mut scopes: HashMap<Permission, OrgScope> = HashMap::new();
        for (role, orgs) in claim.into_iter().flatten() {
            let Some(perms) = self.roles.get(role) else {
                continue;
            };
            for perm in perms {
                let scope = scopes
                    .entry(*perm)
                    .or_insert_with(|| OrgScope::Orgs(Vec::new()));
                if role.starts_with("IAM_") {
                    *scope = OrgScope::Everywhere;
                } else if let (OrgScope::Orgs(list), Some(map)) = (&mut *scope, orgs.as_object()) {
                    list.extend(map.keys().cloned());
                }
            }
        }
        scopes
    }
}
