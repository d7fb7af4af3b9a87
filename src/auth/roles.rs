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
        let all = [Read, Write, Delete];
        let table: [(&str, &[Permission]); 8] = [
            ("IAM_OWNER", &all),
            ("IAM_ORG_MANAGER", &all),
            ("IAM_USER_MANAGER", &all),
            ("IAM_LOGIN_CLIENT", &[Read, Write]),
            ("ORG_OWNER", &all),
            ("ORG_USER_MANAGER", &all),
            ("IAM_OWNER_VIEWER", &[Read]),
            ("ORG_OWNER_VIEWER", &[Read]),
        ];
        RoleTable {
            roles: table
                .into_iter()
                .map(|(role, perms)| (role.to_string(), perms.to_vec()))
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
