//! Who may act on which user: permissions, the organizations a caller holds one in, and the
//! access a request carries down to the shard actor.
//!
//! Pure data. The application core decides an [`Access`] once per request; the actor applies it
//! to the user's record after the existence check, so a caller without permission never learns
//! a user's state.

use crate::domain::User;

/// ZITADEL's permissions that userd checks: on users, and on memberships ("administrators")
/// of the instance (`iam.member.*`, held only through instance roles) and of organizations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    Read,
    Write,
    Delete,
    InstanceMemberRead,
    InstanceMemberWrite,
    InstanceMemberDelete,
    OrgMemberRead,
    OrgMemberWrite,
    OrgMemberDelete,
    /// The event API: instance-wide only.
    EventsRead,
    /// Actions' targets and executions (webhooks): instance-wide only.
    ActionTargetRead,
    ActionTargetWrite,
    ActionTargetDelete,
    ActionExecutionRead,
    ActionExecutionWrite,
    /// userd's own: copying the whole store (`userd backup`), instance-wide only.
    InstanceBackup,
}

impl Permission {
    /// The permissions on users.
    pub const USER: [Permission; 3] = [Permission::Read, Permission::Write, Permission::Delete];

    /// The permissions on memberships ("administrators").
    pub const MEMBER: [Permission; 6] = [
        Permission::InstanceMemberRead,
        Permission::InstanceMemberWrite,
        Permission::InstanceMemberDelete,
        Permission::OrgMemberRead,
        Permission::OrgMemberWrite,
        Permission::OrgMemberDelete,
    ];

    /// The permissions on the instance's events and actions.
    pub const INSTANCE: [Permission; 7] = [
        Permission::EventsRead,
        Permission::ActionTargetRead,
        Permission::ActionTargetWrite,
        Permission::ActionTargetDelete,
        Permission::ActionExecutionRead,
        Permission::ActionExecutionWrite,
        Permission::InstanceBackup,
    ];

    pub const ALL: [Permission; 16] = [
        Permission::Read,
        Permission::Write,
        Permission::Delete,
        Permission::InstanceMemberRead,
        Permission::InstanceMemberWrite,
        Permission::InstanceMemberDelete,
        Permission::OrgMemberRead,
        Permission::OrgMemberWrite,
        Permission::OrgMemberDelete,
        Permission::EventsRead,
        Permission::ActionTargetRead,
        Permission::ActionTargetWrite,
        Permission::ActionTargetDelete,
        Permission::ActionExecutionRead,
        Permission::ActionExecutionWrite,
        Permission::InstanceBackup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Permission::Read => "user.read",
            Permission::Write => "user.write",
            Permission::Delete => "user.delete",
            Permission::InstanceMemberRead => "iam.member.read",
            Permission::InstanceMemberWrite => "iam.member.write",
            Permission::InstanceMemberDelete => "iam.member.delete",
            Permission::OrgMemberRead => "org.member.read",
            Permission::OrgMemberWrite => "org.member.write",
            Permission::OrgMemberDelete => "org.member.delete",
            Permission::EventsRead => "events.read",
            Permission::ActionTargetRead => "action.target.read",
            Permission::ActionTargetWrite => "action.target.write",
            Permission::ActionTargetDelete => "action.target.delete",
            Permission::ActionExecutionRead => "action.execution.read",
            Permission::ActionExecutionWrite => "action.execution.write",
            Permission::InstanceBackup => "userd.backup",
        }
    }

    pub fn from_name(name: &str) -> Option<Permission> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The organizations in which a caller holds one permission.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OrgScope {
    /// An instance role: every organization.
    Everywhere,
    /// Only these organizations (possibly none).
    Orgs(Vec<String>),
}

impl OrgScope {
    pub fn allows(&self, org: &str) -> bool {
        match self {
            OrgScope::Everywhere => true,
            OrgScope::Orgs(orgs) => orgs.iter().any(|o| o == org),
        }
    }

    /// Whether every organization of `self` is one of `other`'s.
    pub fn within(&self, other: &OrgScope) -> bool {
        match (self, other) {
            (_, OrgScope::Everywhere) => true,
            (OrgScope::Everywhere, OrgScope::Orgs(_)) => false,
            (OrgScope::Orgs(mine), OrgScope::Orgs(theirs)) => {
                mine.iter().all(|o| theirs.contains(o))
            }
        }
    }

    /// The organizations of both.
    pub fn intersect(&self, other: &OrgScope) -> OrgScope {
        match (self, other) {
            (OrgScope::Everywhere, x) | (x, OrgScope::Everywhere) => x.clone(),
            (OrgScope::Orgs(a), OrgScope::Orgs(b)) => {
                OrgScope::Orgs(a.iter().filter(|o| b.contains(o)).cloned().collect())
            }
        }
    }

    /// Every organization of either.
    pub fn union(self, other: OrgScope) -> OrgScope {
        match (self, other) {
            (OrgScope::Everywhere, _) | (_, OrgScope::Everywhere) => OrgScope::Everywhere,
            (OrgScope::Orgs(mut a), OrgScope::Orgs(b)) => {
                a.extend(b);
                a.sort();
                a.dedup();
                OrgScope::Orgs(a)
            }
        }
    }
}

/// What a request may touch: users of the organizations in `scope`, and the caller's own user
/// when the surface's rules let a caller act on itself (ZITADEL's v2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub scope: OrgScope,
    pub own_user: Option<String>,
    /// The caller's user id: the editor of the events the request makes.
    pub editor: String,
}

impl Access {
    pub fn allows(&self, user: &User) -> bool {
        self.own_user.as_deref() == Some(user.id.as_str()) || self.scope.allows(&user.org)
    }
}
