//! JSON shapes of the v3alpha surface, written the way protojson writes ZITADEL's messages:
//! lowerCamelCase names, 64-bit integers as strings, enums by name, defaults omitted.

use crate::domain::{Contact, Profile, User};
use crate::shard::ChangeDetails;
use serde::Serialize;
use serde_json::value::RawValue;

/// `zitadel.object.v2.Details`.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Details {
    pub sequence: String,
    pub change_date: String,
    pub resource_owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<String>,
}

impl From<&ChangeDetails> for Details {
    fn from(d: &ChangeDetails) -> Self {
        Details {
            sequence: d.sequence.to_string(),
            change_date: d.changed_at.to_rfc3339(),
            resource_owner: d.org.clone(),
            creation_date: None,
        }
    }
}

impl From<&User> for Details {
    fn from(u: &User) -> Self {
        Details {
            sequence: u.sequence.to_string(),
            change_date: u.changed_at.to_rfc3339(),
            resource_owner: u.org.clone(),
            creation_date: Some(u.created_at.to_rfc3339()),
        }
    }
}

/// The body of every state change: `{"details": {...}}`.
#[derive(Serialize, Debug)]
pub struct ChangeResponse {
    pub details: Details,
}

/// The body of a create: `{"userId", "details"}`.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct CreateResponse {
    pub user_id: String,
    pub details: Details,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct EmailJson {
    pub address: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_verified: bool,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct PhoneJson {
    pub number: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_verified: bool,
}

#[derive(Serialize, Debug)]
pub struct ContactJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<PhoneJson>,
}

impl ContactJson {
    fn from_contact(c: &Contact) -> Option<ContactJson> {
        if c.email.is_none() && c.phone.is_none() {
            return None;
        }
        Some(ContactJson {
            email: c.email.as_ref().map(|e| EmailJson {
                address: e.address.clone(),
                is_verified: e.is_verified,
            }),
            phone: c.phone.as_ref().map(|p| PhoneJson {
                number: p.number.clone(),
                is_verified: p.is_verified,
            }),
        })
    }
}

/// `zitadel.user.v3alpha.User`.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct UserJson {
    pub user_id: String,
    pub details: Details,
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactJson>,
}

impl From<&User> for UserJson {
    fn from(u: &User) -> Self {
        let (schema_id, data, contact) = match &u.profile {
            Profile::V3 {
                schema_id,
                data_json,
                contact,
            } => (
                Some(schema_id.clone()),
                RawValue::from_string(data_json.clone()).ok(),
                ContactJson::from_contact(contact),
            ),
            // A v2 human has no schema or data; its email and phone are its contact.
            Profile::V2(_) => (None, None, ContactJson::from_contact(&u.profile.contact())),
        };
        UserJson {
            user_id: u.id.clone(),
            details: Details::from(u),
            state: u.state.name(),
            schema_id,
            data,
            contact,
        }
    }
}

/// `GetUserResponse`.
#[derive(Serialize, Debug)]
pub struct GetUserResponse {
    pub details: Details,
    pub user: UserJson,
}

/// `zitadel.object.v2.ListDetails`.
#[derive(Serialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// `SearchUsersResponse`.
#[derive(Serialize, Debug)]
pub struct SearchResponse {
    pub details: ListDetails,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub result: Vec<UserJson>,
}
