//! The history through REST and Connect: ZITADEL's event search (`/admin/v1/events/_search`)
//! and a user's changes (`/management/v1/users/{id}/changes/_search`), with ZITADEL's event
//! type names, payloads and editors, filters, order, and who may read them.

use crate::helpers::*;
use serde_json::{json, Value};

fn types(events: &Value) -> Vec<String> {
    events
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["type"]["type"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn events_and_changes_carry_zitadels_types_payloads_and_editors() {
    let app = spawn_app().await;
    let admin = admin_token();
    let body = json!({
        "userId": "h1",
        "username": "hanna",
        "organization": {"orgId": "org-a"},
        "profile": {"givenName": "Hanna", "familyName": "Hist"},
        "email": {"email": "hanna@example.com", "isVerified": true},
    });
    let r = app.post("/v2/users/human", &admin, Some(&body)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    app.create_user("v1", "org-b").await;
    for action in ["deactivate", "reactivate", "lock", "unlock"] {
        assert_eq!(app.change("h1", action, &admin).await.status, 200);
    }
    let r = app
        .post(
            "/v2/users/h1/metadata",
            &admin,
            Some(&json!({"metadata": [{"key": "k", "value": "dg=="}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(app.change("v1", "delete", &admin).await.status, 200);

    // One user's changes, oldest first.
    let r = app
        .post(
            "/management/v1/users/h1/changes/_search",
            &admin,
            Some(&json!({"query": {"asc": true}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let changes = r.body["result"].as_array().cloned().unwrap_or_default();
    let keys: Vec<&str> = changes
        .iter()
        .map(|c| c["eventType"]["key"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        [
            "EventTypes.user.human.added",
            "EventTypes.user.deactivated",
            "EventTypes.user.reactivated",
            "EventTypes.user.locked",
            "EventTypes.user.unlocked",
            "EventTypes.user.metadata.set",
        ]
    );
    let sequences: Vec<u64> = changes
        .iter()
        .map(|c| c["sequence"].as_str().unwrap_or("0").parse().unwrap_or(0))
        .collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5, 6]);
    assert!(changes
        .iter()
        .all(|c| c["editorId"] == "admin" && c["resourceOwnerId"] == "org-a"));
    // After a sequence, newest first, limited.
    let r = app
        .post(
            "/management/v1/users/h1/changes/_search",
            &admin,
            Some(&json!({"query": {"sequence": "3", "limit": 2}})),
        )
        .await;
    let sequences: Vec<&str> = r.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sequence"].as_str().unwrap())
        .collect();
    // Newest first, "after" sequence 3 is before it: 2, 1 (ZITADEL pages backwards so).
    assert_eq!(sequences, ["2", "1"]);
    let r = app
        .post(
            "/management/v1/users/h1/changes/_search",
            &admin,
            Some(&json!({"query": {"sequence": "3", "limit": 2, "asc": true}})),
        )
        .await;
    let ascending: Vec<&str> = r.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sequence"].as_str().unwrap())
        .collect();
    assert_eq!(ascending, ["4", "5"]);

    // The instance's events: newest first by default, filtered by aggregate and type.
    let r = app
        .post("/admin/v1/events/_search", &admin, Some(&json!({})))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let all = types(&r.body["events"]);
    assert_eq!(all.len(), 8, "{all:?}");
    assert_eq!(all[0], "user.removed");
    let r = app
        .post(
            "/admin/v1/events/_search",
            &admin,
            Some(&json!({"aggregateId": "h1", "asc": true, "eventTypes": ["user.human.added", "user.locked"]})),
        )
        .await;
    let events = r.body["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        types(&r.body["events"]),
        ["user.human.added", "user.locked"]
    );
    let added = &events[0];
    assert_eq!(added["aggregate"]["id"], "h1");
    assert_eq!(added["aggregate"]["type"]["type"], "user");
    assert_eq!(added["aggregate"]["resourceOwner"], "org-a");
    assert_eq!(added["editor"]["userId"], "admin");
    assert_eq!(added["sequence"], "1");
    assert_eq!(added["payload"]["userName"], "hanna");
    assert_eq!(added["payload"]["firstName"], "Hanna");
    assert_eq!(added["payload"]["email"], "hanna@example.com");
    assert!(added["creationDate"].is_string());
    // A lifecycle event has no payload.
    assert!(events[1].get("payload").is_none(), "{:?}", events[1]);
    // Groups, resource owner, limit.
    let r = app
        .post(
            "/admin/v1/events/_search",
            &admin,
            Some(&json!({"eventTypes": ["user.human"], "resourceOwner": "org-a"})),
        )
        .await;
    assert_eq!(types(&r.body["events"]), ["user.human.added"]);
    let r = app
        .post(
            "/admin/v1/events/_search",
            &admin,
            Some(&json!({"resourceOwner": "org-b", "limit": 1, "asc": true})),
        )
        .await;
    assert_eq!(types(&r.body["events"]), ["user.schemauser.created"]);
    let r = app
        .post(
            "/admin/v1/events/_search",
            &admin,
            Some(&json!({"aggregateTypes": ["org"]})),
        )
        .await;
    assert_eq!(types(&r.body["events"]), Vec::<String>::new());
    // The same over Connect.
    let r = app
        .post(
            "/zitadel.admin.v1.AdminService/ListEvents",
            &admin,
            Some(&json!({"aggregateId": "v1"})),
        )
        .await;
    assert_eq!(
        types(&r.body["events"]),
        ["user.removed", "user.schemauser.created"]
    );
    let r = app
        .post(
            "/zitadel.admin.v1.AdminService/ListEventTypes",
            &admin,
            Some(&json!({})),
        )
        .await;
    let listed = r.body["eventTypes"].as_array().cloned().unwrap_or_default();
    assert!(listed.iter().any(|t| t["type"] == "user.deactivated"
        && t["localized"]["key"] == "EventTypes.user.deactivated"));
    let r = app
        .post(
            "/admin/v1/aggregates/types/_search",
            &admin,
            Some(&json!({})),
        )
        .await;
    assert_eq!(r.body["aggregateTypes"][0]["type"], "user");

    // Who may read: events need events.read on the instance; changes need user.read on the
    // user's organization. A deleted user's changes stay readable; an unknown user's are 404.
    let org_owner = org_token("ORG_OWNER", "org-a");
    let r = app
        .post("/admin/v1/events/_search", &org_owner, Some(&json!({})))
        .await;
    assert_error(&r, 403, 7, Some("AUTH-AWfge"));
    let r = app
        .post(
            "/management/v1/users/h1/changes/_search",
            &org_owner,
            Some(&json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app
        .post(
            "/management/v1/users/v1/changes/_search",
            &org_owner,
            Some(&json!({})),
        )
        .await;
    assert_error(&r, 403, 7, Some("AUTH-AWfge"));
    let r = app
        .post(
            "/management/v1/users/v1/changes/_search",
            &admin,
            Some(&json!({})),
        )
        .await;
    assert_eq!(r.body["result"].as_array().map(Vec::len), Some(2));
    let r = app
        .post(
            "/management/v1/users/nobody/changes/_search",
            &admin,
            Some(&json!({})),
        )
        .await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    let viewer = sign(&claims("viewer", &[("IAM_OWNER_VIEWER", None)]));
    let r = app
        .post(
            "/admin/v1/events/_search",
            &viewer,
            Some(&json!({"limit": 1})),
        )
        .await;
    assert_eq!(types(&r.body["events"]).len(), 1);
}

#[tokio::test]
async fn a_long_history_reads_whole_in_order_through_both_searches_and_after_a_restart() {
    // Enough changes that a user's older events move out of its record into chunks.
    let mut app = spawn_app().await;
    let admin = admin_token();
    app.create_user("long", "org-a").await;
    app.create_user("short", "org-a").await;
    let changes = 150u64;
    for i in 0..changes {
        let action = if i % 2 == 0 {
            "deactivate"
        } else {
            "reactivate"
        };
        assert_eq!(app.change("long", action, &admin).await.status, 200);
    }
    assert_eq!(app.change("short", "lock", &admin).await.status, 200);
    let sequences_of = |body: &Value| -> Vec<u64> {
        body["result"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| c["sequence"].as_str().unwrap_or("0").parse().unwrap_or(0))
                    .collect()
            })
            .unwrap_or_default()
    };
    let expected: Vec<u64> = (1..=changes + 1).collect();
    for round in ["served", "restarted"] {
        let r = app
            .post(
                "/management/v1/users/long/changes/_search",
                &admin,
                Some(&json!({"query": {"asc": true, "limit": 1000}})),
            )
            .await;
        assert_eq!(r.status, 200, "{round}: {:?}", r.body);
        assert_eq!(sequences_of(&r.body), expected, "{round}");
        // A page from the middle: after sequence 60, oldest first.
        let r = app
            .post(
                "/management/v1/users/long/changes/_search",
                &admin,
                Some(&json!({"query": {"sequence": "60", "limit": 3, "asc": true}})),
            )
            .await;
        assert_eq!(sequences_of(&r.body), [61, 62, 63], "{round}");
        // The instance's events hold every event of both users once.
        let r = app
            .post(
                "/admin/v1/events/_search",
                &admin,
                Some(&json!({"asc": true, "limit": 1000})),
            )
            .await;
        assert_eq!(r.status, 200, "{round}: {:?}", r.body);
        let events = r.body["events"].as_array().cloned().unwrap_or_default();
        let of = |id: &str| {
            events
                .iter()
                .filter(|e| e["aggregate"]["id"] == id)
                .map(|e| e["sequence"].as_str().unwrap_or("0").parse().unwrap_or(0))
                .collect::<Vec<u64>>()
        };
        assert_eq!(of("long"), expected, "{round}");
        assert_eq!(of("short"), [1, 2], "{round}");
        // The chunks and tails are sled's layout; PostgreSQL keeps one row per event.
        if round == "served" && !on_postgres() {
            app.kill();
            let (ok, report) = app.check();
            assert!(ok, "{report}");
            assert!(
                report.contains(&format!("{} events", changes + 3)),
                "{report}"
            );
            app.start_again();
        }
    }
}
