//! The binary (prost) and JSON (pbjson, protojson rules) encodings of the RPC messages agree:
//! every message round-trips through each to the same value, and the JSON has protojson's
//! shape (lowerCamelCase, 64-bit integers as strings, enums by name).

use proptest::prelude::*;
use prost::Message;
use userd::pb::zitadel::object::v2 as obj;
use userd::pb::zitadel::user::v2 as user;

fn timestamp() -> impl Strategy<Value = userd::pb::Timestamp> {
    (0i64..253_402_300_799, 0i32..1_000_000_000)
        .prop_map(|(seconds, nanos)| userd::pb::Timestamp { seconds, nanos })
}

fn details() -> impl Strategy<Value = obj::Details> {
    (
        any::<u64>(),
        prop::option::of(timestamp()),
        ".{0,12}",
        prop::option::of(timestamp()),
    )
        .prop_map(
            |(sequence, change_date, resource_owner, creation_date)| obj::Details {
                sequence,
                change_date,
                resource_owner,
                creation_date,
            },
        )
}

fn human() -> impl Strategy<Value = user::HumanUser> {
    (
        ".{0,10}",
        0i32..6,
        ".{0,10}",
        prop::collection::vec(".{0,8}", 0..3),
        ".{1,8}",
        ".{1,8}",
        prop::option::of(1i32..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(user_id, state, username, login_names, given, family, gender, verified, change)| {
                user::HumanUser {
                    user_id,
                    state,
                    username,
                    login_names,
                    profile: Some(user::HumanProfile {
                        given_name: given,
                        family_name: family,
                        gender,
                        ..Default::default()
                    }),
                    email: Some(user::HumanEmail {
                        email: "a@b.c".into(),
                        is_verified: verified,
                    }),
                    password_change_required: change,
                    ..Default::default()
                }
            },
        )
}

fn a_user() -> impl Strategy<Value = user::User> {
    (
        ".{1,20}",
        details(),
        0i32..6,
        ".{0,10}",
        prop::option::of(human()),
    )
        .prop_map(|(user_id, details, state, username, human)| user::User {
            user_id,
            details: Some(details),
            state,
            username: username.clone(),
            login_names: vec![username.clone()],
            preferred_login_name: username,
            r#type: human.map(user::user::Type::Human),
        })
}

fn add_human_request() -> impl Strategy<Value = user::AddHumanUserRequest> {
    (
        prop::option::of(".{1,20}"),
        ".{1,10}",
        ".{1,10}",
        prop_oneof![Just(None), any::<bool>().prop_map(Some)],
        any::<bool>(),
        ".{1,20}",
    )
        .prop_map(|(user_id, org, given, verified, with_password, password)| {
            user::AddHumanUserRequest {
                user_id,
                username: Some("minnie".into()),
                organization: Some(obj::Organization {
                    org: Some(obj::organization::Org::OrgId(org)),
                }),
                profile: Some(user::SetHumanProfile {
                    given_name: given,
                    family_name: "Mouse".into(),
                    ..Default::default()
                }),
                email: Some(user::SetHumanEmail {
                    email: "m@example.com".into(),
                    verification: verified.map(user::set_human_email::Verification::IsVerified),
                }),
                password_type: with_password.then_some(
                    user::add_human_user_request::PasswordType::Password(user::Password {
                        password,
                        change_required: false,
                    }),
                ),
                ..Default::default()
            }
        })
}

fn list_request() -> impl Strategy<Value = user::ListUsersRequest> {
    (
        any::<u64>(),
        any::<u32>(),
        any::<bool>(),
        0i32..6,
        prop::collection::vec(".{1,8}", 0..4),
        ".{0,8}",
    )
        .prop_map(
            |(offset, limit, asc, state, ids, org)| user::ListUsersRequest {
                query: Some(obj::ListQuery {
                    offset,
                    limit: limit.into(),
                    asc,
                }),
                queries: vec![
                    user::SearchQuery {
                        query: Some(user::search_query::Query::StateQuery(user::StateQuery {
                            state,
                        })),
                    },
                    user::SearchQuery {
                        query: Some(user::search_query::Query::InUserIdsQuery(
                            user::InUserIdQuery { user_ids: ids },
                        )),
                    },
                    user::SearchQuery {
                        query: Some(user::search_query::Query::OrganizationIdQuery(
                            user::OrganizationIdQuery {
                                organization_id: org,
                            },
                        )),
                    },
                ],
                ..Default::default()
            },
        )
}

/// Binary and JSON round trips both give back `m`.
fn round_trips<M>(m: &M) -> Result<serde_json::Value, TestCaseError>
where
    M: Message
        + Default
        + PartialEq
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let binary =
        M::decode(m.encode_to_vec().as_slice()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&binary, m);
    let json = serde_json::to_value(m).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: M = serde_json::from_value(json.clone())
        .map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
    prop_assert_eq!(&back, m);
    Ok(json)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn details_and_users_round_trip(d in details(), u in a_user()) {
        let json = round_trips(&d)?;
        if d.sequence != 0 {
            prop_assert_eq!(&json["sequence"], &serde_json::json!(d.sequence.to_string()), "uint64 as a string");
        }
        prop_assert!(json.get("resource_owner").is_none(), "lowerCamelCase names");
        let response = user::GetUserByIdResponse { details: Some(d), user: Some(u.clone()) };
        let json = round_trips(&response)?;
        if u.state != 0 {
            prop_assert!(json["user"]["state"].as_str().is_some_and(|s| s.starts_with("USER_STATE_")), "enums by name");
        }
        round_trips(&user::ListUsersResponse {
            details: Some(obj::ListDetails { total_result: 1, processed_sequence: 0, timestamp: None }),
            result: vec![u],
            ..Default::default()
        })?;
    }

    #[test]
    fn requests_round_trip(a in add_human_request(), l in list_request(), id in ".{0,30}") {
        round_trips(&a)?;
        round_trips(&l)?;
        round_trips(&user::ReactivateUserRequest { user_id: id.clone() })?;
        round_trips(&user::DeactivateUserRequest { user_id: id.clone() })?;
        round_trips(&user::LockUserRequest { user_id: id.clone() })?;
        round_trips(&user::UnlockUserRequest { user_id: id.clone() })?;
        round_trips(&user::DeleteUserRequest { user_id: id.clone() })?;
        round_trips(&user::GetUserByIdRequest { user_id: id })?;
    }

    #[test]
    fn change_responses_round_trip(d in details()) {
        round_trips(&user::ReactivateUserResponse { details: Some(d.clone()) })?;
        round_trips(&user::AddHumanUserResponse { user_id: "x".into(), details: Some(d), ..Default::default() })?;
    }
}

#[test]
fn unknown_json_fields_are_ignored() {
    let m: user::ReactivateUserRequest =
        serde_json::from_value(serde_json::json!({"userId": "u", "somethingNew": {"a": 1}}))
            .unwrap();
    assert_eq!(m.user_id, "u");
}

mod v3alpha {
    //! The seed's service, `zitadel.user.v3alpha.UserService`.
    use super::{details, round_trips};
    use proptest::prelude::*;
    use userd::pb::zitadel::object::v2 as obj;
    use userd::pb::zitadel::user::v3alpha as v3;

    fn data() -> impl Strategy<Value = userd::pb::JsonStruct> {
        prop::collection::btree_map("[a-z]{1,6}", (-1_000_000i32..1_000_000, ".{0,8}"), 0..4)
            .prop_map(|fields| {
                userd::pb::JsonStruct(
                    fields
                        .into_iter()
                        .enumerate()
                        .map(|(i, (k, (n, s)))| {
                            let value = if i % 2 == 0 {
                                serde_json::json!(n)
                            } else {
                                serde_json::json!(s)
                            };
                            (k, value)
                        })
                        .collect(),
                )
            })
    }

    fn a_user() -> impl Strategy<Value = v3::User> {
        (
            ".{0,12}",
            details(),
            0i32..6,
            data(),
            ".{0,8}",
            any::<bool>(),
        )
            .prop_map(
                |(user_id, details, state, data, schema_id, verified)| v3::User {
                    user_id,
                    details: Some(details),
                    contact: Some(v3::Contact {
                        email: Some(v3::Email {
                            address: "a@b.c".into(),
                            is_verified: verified,
                        }),
                        phone: None,
                    }),
                    state,
                    data: Some(data),
                    schema_id,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn messages_round_trip(u in a_user(), d in details(), id in ".{0,20}", data in data(), state in 0i32..6) {
            let json = round_trips(&v3::GetUserByIdResponse { user: Some(u.clone()), details: Some(d.clone()) })?;
            if !u.schema_id.is_empty() {
                prop_assert_eq!(&json["user"]["schemaId"], &serde_json::json!(u.schema_id), "the REST field name");
            }
            round_trips(&v3::ListUsersResponse {
                details: Some(obj::ListDetails { total_result: 1, processed_sequence: 0, timestamp: None }),
                result: vec![u],
            })?;
            round_trips(&v3::CreateUserRequest {
                user_id: Some(id.clone()),
                organization: Some(obj::Organization { org: Some(obj::organization::Org::OrgId("o".into())) }),
                contact: None,
                schema_id: "s".into(),
                data: Some(data),
                user: None,
            })?;
            round_trips(&v3::ListUsersRequest {
                query: Some(obj::ListQuery { offset: 3, limit: 10, asc: true }),
                filters: vec![
                    v3::SearchFilter { filter: Some(v3::search_filter::Filter::StateFilter(v3::StateFilter { state })) },
                    v3::SearchFilter { filter: Some(v3::search_filter::Filter::OrganizationIdFilter(v3::OrganizationIdFilter { organization_id: id.clone() })) },
                ],
            })?;
            round_trips(&v3::ReactivateUserRequest { user_id: id.clone() })?;
            round_trips(&v3::ReactivateUserResponse { details: Some(d.clone()) })?;
            round_trips(&v3::CreateUserResponse { user_id: id, details: Some(d) })?;
        }
    }
}
