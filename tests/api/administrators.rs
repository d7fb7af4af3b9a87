//! ZITADEL's administrator API (`zitadel.internal_permission.v2.InternalPermissionService`) over
//! Connect: grants land in the members file and act at once on the member's tokens; ZITADEL's
//! error ids per resource and method; who may grant, change, revoke and read what.

use crate::credentials::{add_pat, create_in, in_seconds};
use crate::helpers::*;
use serde_json::{json, Value};

const PATH: &str = "/zitadel.internal_permission.v2.InternalPermissionService";

async fn call(app: &TestApp, method: &str, token: &str, body: Value) -> Reply {
    app.post(&format!("{PATH}/{method}"), token, Some(&body))
        .await
}

/// Connect's error form: the status and ZITADEL's id in the message.
fn assert_connect(reply: &Reply, status: u16, id: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    let message = reply.body["message"].as_str().unwrap_or_default();
    assert!(message.contains(id), "{id} in {message}");
}

fn org(id: &str) -> Value {
    json!({"organizationId": id})
}

async fn human(app: &TestApp, id: &str, org: &str, username: &str) {
    let body = json!({
        "userId": id,
        "username": username,
        "organization": {"orgId": org},
        "profile": {"givenName": "Ada", "familyName": "Admin", "displayName": "Ada A."},
        "email": {"email": format!("{username}@example.com"), "isVerified": true},
    });
    let r = app
        .post("/v2/users/human", &admin_token(), Some(&body))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn administrators_are_granted_changed_listed_and_revoked_with_zitadels_errors() {
    let app = spawn_app().await;
    let admin = admin_token();
    human(&app, "ada", "org-a", "ada").await;
    human(&app, "bob", "org-b", "bob").await;

    // Grant, once.
    let body = json!({"userId": "ada", "resource": org("org-a"), "roles": ["ORG_OWNER"]});
    let r = call(&app, "CreateAdministrator", &admin, body.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["creationDate"].is_string());
    assert_connect(
        &call(&app, "CreateAdministrator", &admin, body).await,
        409,
        "ORG-poWwe",
    );
    let r = call(
        &app,
        "CreateAdministrator",
        &admin,
        json!({"userId": "ada", "resource": {"instance": true}, "roles": ["IAM_OWNER_VIEWER"]}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // Refusals, each with ZITADEL's id; none changes anything.
    let cases = [
        (
            json!({"userId": "ghost", "resource": org("org-a"), "roles": ["ORG_OWNER"]}),
            400,
            "ORG-GoXOn",
        ),
        (
            json!({"userId": "ghost", "resource": {"instance": true}, "roles": ["IAM_OWNER"]}),
            400,
            "INSTA-GSXOn",
        ),
        (
            json!({"userId": "bob", "resource": org("org-a"), "roles": ["IAM_OWNER"]}),
            400,
            "Org-4N8es",
        ),
        (
            json!({"userId": "bob", "resource": org("org-a"), "roles": ["NO_SUCH_ROLE"]}),
            400,
            "Org-4N8es",
        ),
        (
            json!({"userId": "bob", "resource": {"instance": true}, "roles": ["ORG_OWNER"]}),
            400,
            "INSTANCE-4m0fS",
        ),
        (
            json!({"userId": "bob", "resource": org("org-a"), "roles": []}),
            400,
            "ORG-4Mlfs",
        ),
        (
            json!({"userId": "bob", "roles": ["ORG_OWNER"]}),
            400,
            "ADMIN-IbPp47HDP5",
        ),
        (
            json!({"userId": "bob", "resource": {"projectId": "p1"}, "roles": ["PROJECT_OWNER"]}),
            400,
            "USERD-ADMIN-0001",
        ),
        (
            json!({"userId": "", "resource": org("org-a"), "roles": ["ORG_OWNER"]}),
            400,
            "USERD-V2-0001",
        ),
    ];
    for (body, status, id) in cases {
        assert_connect(
            &call(&app, "CreateAdministrator", &admin, body).await,
            status,
            id,
        );
    }
    // Who may grant: an organization's owner in its organization only, never on the instance.
    let owner_a = org_token("ORG_OWNER", "org-a");
    let r = call(
        &app,
        "CreateAdministrator",
        &owner_a,
        json!({"userId": "bob", "resource": {"instance": true}, "roles": ["IAM_OWNER"]}),
    )
    .await;
    assert_connect(&r, 403, "AUTH-AWfge");
    let r = call(
        &app,
        "CreateAdministrator",
        &owner_a,
        json!({"userId": "bob", "resource": org("org-b"), "roles": ["ORG_OWNER"]}),
    )
    .await;
    assert_connect(&r, 403, "AUTH-AWfge");
    let r = call(
        &app,
        "CreateAdministrator",
        &owner_a,
        json!({"userId": "bob", "resource": org("org-a"), "roles": ["ORG_OWNER_VIEWER"]}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // Listing: everything for the instance's owner, newest first by default.
    let r = call(&app, "ListAdministrators", &admin, json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["pagination"]["totalResult"], json!("3"));
    let listed = r.body["administrators"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(listed[0]["user"]["id"], json!("bob"));
    let ada_org = listed
        .iter()
        .find(|a| a["organization"]["id"] == json!("org-a") && a["user"]["id"] == json!("ada"));
    let ada_org = ada_org.expect("ada on org-a");
    assert_eq!(ada_org["roles"], json!(["ORG_OWNER"]));
    assert_eq!(ada_org["user"]["preferredLoginName"], json!("ada"));
    assert_eq!(ada_org["user"]["displayName"], json!("Ada A."));
    assert_eq!(ada_org["user"]["organizationId"], json!("org-a"));
    // Filters: a role, a resource, users, and a negation.
    let ids = |r: &Reply| -> Vec<String> {
        r.body["administrators"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                format!(
                    "{}@{}",
                    a["user"]["id"].as_str().unwrap_or(""),
                    a["organization"]["id"].as_str().unwrap_or("instance")
                )
            })
            .collect()
    };
    let r = call(
        &app,
        "ListAdministrators",
        &admin,
        json!({"filters": [{"role": {"roleKey": "ORG_OWNER"}}]}),
    )
    .await;
    assert_eq!(ids(&r), vec!["ada@org-a"]);
    let r = call(
        &app,
        "ListAdministrators",
        &admin,
        json!({"filters": [{"resource": {"instance": true}}]}),
    )
    .await;
    assert_eq!(ids(&r), vec!["ada@instance"]);
    let r = call(
        &app,
        "ListAdministrators",
        &admin,
        json!({
        "sortingColumn": "ADMINISTRATOR_FIELD_NAME_USER_ID", "pagination": {"asc": true},
        "filters": [{"not": {"query": {"inUserIdsFilter": {"ids": ["bob"]}}}}]}),
    )
    .await;
    assert_eq!(ids(&r).len(), 2);
    assert!(ids(&r).iter().all(|i| i.starts_with("ada@")));
    let r = call(
        &app,
        "ListAdministrators",
        &admin,
        json!({"filters": [{"userPreferredLoginName":
        {"preferredLoginName": "BO", "method": "TEXT_FILTER_METHOD_STARTS_WITH_IGNORE_CASE"}}]}),
    )
    .await;
    assert_eq!(ids(&r), vec!["bob@org-a"]);
    // Readers see what their permissions cover, and their own memberships.
    let r = call(
        &app,
        "ListAdministrators",
        &org_token("ORG_OWNER", "org-b"),
        json!({}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(ids(&r).is_empty(), "{:?}", r.body);
    let r = call(&app, "ListAdministrators", &owner_a, json!({})).await;
    assert_eq!(
        ids(&r).len(),
        2,
        "org-a's, not the instance's: {:?}",
        r.body
    );
    let ada = sign(&claims("ada", &[]));
    let r = call(&app, "ListAdministrators", &ada, json!({})).await;
    assert_eq!(ids(&r).len(), 2, "ada's own: {:?}", r.body);

    // Update: replaces the roles; the same roles change nothing.
    let r = call(&app, "UpdateAdministrator", &admin,
        json!({"userId": "ada", "resource": org("org-a"), "roles": ["ORG_OWNER_VIEWER", "ORG_USER_MANAGER"]})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let changed = r.body["changeDate"].clone();
    let r = call(&app, "UpdateAdministrator", &admin,
        json!({"userId": "ada", "resource": org("org-a"), "roles": ["ORG_OWNER_VIEWER", "ORG_USER_MANAGER"]})).await;
    assert_eq!(
        r.body["changeDate"], changed,
        "no change, the last change's date"
    );
    let cases = [
        (
            json!({"userId": "bob", "resource": org("org-b"), "roles": ["ORG_OWNER"]}),
            404,
            "Org-D8JxR",
        ),
        (
            json!({"userId": "bob", "resource": {"instance": true}, "roles": ["IAM_OWNER"]}),
            404,
            "INSTANCE-D8JxR",
        ),
        (
            json!({"userId": "ada", "resource": {"instance": true}, "roles": []}),
            400,
            "INSTANCE-LiaZi",
        ),
        (
            json!({"userId": "ada", "resource": {"instance": true}, "roles": ["ORG_OWNER"]}),
            400,
            "INSTANCE-3m9fs",
        ),
        (
            json!({"userId": "ada", "resource": org("org-a"), "roles": []}),
            400,
            "Org-LiaZi",
        ),
        (
            json!({"userId": "ada", "resource": org("org-a"), "roles": ["IAM_OWNER"]}),
            400,
            "IAM-m9fG8",
        ),
        (
            json!({"userId": "ada", "roles": ["IAM_OWNER"]}),
            400,
            "ADMIN-i0V2IbdloZ",
        ),
    ];
    for (body, status, id) in cases {
        assert_connect(
            &call(&app, "UpdateAdministrator", &admin, body).await,
            status,
            id,
        );
    }
    let r = call(
        &app,
        "ListAdministrators",
        &admin,
        json!({"filters": [{"role": {"roleKey": "ORG_USER_MANAGER"}}]}),
    )
    .await;
    assert_eq!(ids(&r), vec!["ada@org-a"]);

    // Delete: once with a date, then the desired state holds without one.
    let body = json!({"userId": "bob", "resource": org("org-a")});
    assert_connect(
        &call(
            &app,
            "DeleteAdministrator",
            &org_token("ORG_OWNER", "org-b"),
            body.clone(),
        )
        .await,
        403,
        "AUTH-AWfge",
    );
    let r = call(&app, "DeleteAdministrator", &owner_a, body.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["deletionDate"].is_string());
    let r = call(&app, "DeleteAdministrator", &owner_a, body).await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("deletionDate").is_none(), "{:?}", r.body);
    assert_connect(
        &call(
            &app,
            "DeleteAdministrator",
            &admin,
            json!({"userId": "bob"}),
        )
        .await,
        400,
        "ADMIN-3UOjLtuohh",
    );

    // The grants are in the members file, which `userd member list` reads too.
    let file = std::fs::read_to_string(app.data_dir().join("members.toml")).expect("members file");
    assert!(
        file.contains("ORG_OWNER_VIEWER:org-a") && file.contains("IAM_OWNER_VIEWER"),
        "{file}"
    );
    assert!(!file.contains("bob"), "{file}");
}

#[tokio::test]
async fn a_grant_acts_at_once_on_the_members_tokens_and_the_configuration_stays_in_charge() {
    let app = spawn_app_with(&[(
        "USERD_AUTHZ__MEMBERS",
        r#"[{user_id = "root-bot", roles = ["IAM_OWNER"]}]"#,
    )])
    .await;
    let admin = admin_token();
    let r = app.post("/v2/users/new", &admin,
        Some(&json!({"userId": "ops-bot", "organizationId": "org-a", "machine": {"name": "Ops"}}))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let issued = add_pat(&app, "ops-bot", &admin, &in_seconds(3600)).await;
    let pat = issued.body["token"].as_str().expect("token").to_string();
    assert_error(&create_in(&app, &pat, "m1", "org-a").await, 403, 7, None);

    let grant =
        json!({"userId": "ops-bot", "resource": org("org-a"), "roles": ["ORG_USER_MANAGER"]});
    assert_eq!(
        call(&app, "CreateAdministrator", &admin, grant)
            .await
            .status,
        200
    );
    assert_eq!(
        create_in(&app, &pat, "m1", "org-a").await.status,
        201,
        "the grant acts on the next request"
    );
    // The member manages users, not members.
    let r = call(
        &app,
        "CreateAdministrator",
        &pat,
        json!({"userId": "ops-bot", "resource": org("org-a"), "roles": ["ORG_OWNER"]}),
    )
    .await;
    assert_connect(&r, 403, "AUTH-AWfge");
    let revoke = json!({"userId": "ops-bot", "resource": org("org-a")});
    assert_eq!(
        call(&app, "DeleteAdministrator", &admin, revoke)
            .await
            .status,
        200
    );
    assert_error(&create_in(&app, &pat, "m2", "org-a").await, 403, 7, None);

    // A token cannot carry rights over memberships its issuer lacks: a user manager may not
    // mint one for an organization's owner; the organization's owner may.
    let grant = json!({"userId": "ops-bot", "resource": org("org-a"), "roles": ["ORG_OWNER"]});
    assert_eq!(
        call(&app, "CreateAdministrator", &admin, grant)
            .await
            .status,
        200
    );
    let manager = org_token("ORG_USER_MANAGER", "org-a");
    assert_error(
        &add_pat(&app, "ops-bot", &manager, &in_seconds(3600)).await,
        403,
        7,
        Some("AUTH-AWfge"),
    );
    let owner = org_token("ORG_OWNER", "org-a");
    assert_eq!(
        add_pat(&app, "ops-bot", &owner, &in_seconds(3600))
            .await
            .status,
        200
    );

    // The configuration's members are listed, dateless, and only the configuration changes them.
    let r = call(
        &app,
        "ListAdministrators",
        &admin,
        json!({"filters": [{"inUserIdsFilter": {"ids": ["root-bot"]}}]}),
    )
    .await;
    let listed = r.body["administrators"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(listed.len(), 1, "{:?}", r.body);
    assert_eq!(listed[0]["instance"], json!(true));
    let r = call(&app, "UpdateAdministrator", &admin,
        json!({"userId": "root-bot", "resource": {"instance": true}, "roles": ["IAM_OWNER_VIEWER"]})).await;
    assert_connect(&r, 400, "USERD-ADMIN-0002");
    let r = call(
        &app,
        "DeleteAdministrator",
        &admin,
        json!({"userId": "root-bot", "resource": {"instance": true}}),
    )
    .await;
    assert_connect(&r, 400, "USERD-ADMIN-0002");
    let r = call(
        &app,
        "CreateAdministrator",
        &admin,
        json!({"userId": "root-bot", "resource": {"instance": true}, "roles": ["IAM_OWNER"]}),
    )
    .await;
    // root-bot is not a stored user: the user check comes first.
    assert_connect(&r, 400, "INSTA-GSXOn");
}
