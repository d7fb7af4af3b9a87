//! Listings served from the indexes, through the real server: pages in creation order on every
//! surface, consistent while users are created and deleted, filters that agree with a model, a
//! scan that stays within its budget, and `userd check` catching a damaged index.

use crate::helpers::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::HashSet;

fn ids(body: &Value) -> Vec<String> {
    body["result"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|u| u["userId"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Page through `path` with `limit` users per page; every page's ids, in order.
async fn pages(app: &TestApp, path: &str, body: Value, limit: u64, asc: bool) -> Vec<String> {
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let mut request = body.clone();
        request["query"] = json!({"offset": offset, "limit": limit, "asc": asc});
        let r = app.post(path, &admin_token(), Some(&request)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let page = ids(&r.body);
        if page.is_empty() {
            return all;
        }
        offset += page.len() as u64;
        all.extend(page);
    }
}

#[tokio::test]
async fn pages_follow_creation_order_and_deleted_users_never_show() {
    let app = spawn_app().await;
    let admin = admin_token();
    let mut created = Vec::new();
    for i in 0..25 {
        let id = format!("p{i:02}");
        let org = if i % 3 == 0 { "org-b" } else { "org-a" };
        app.create_user(&id, org).await;
        created.push((id, org));
    }
    for gone in ["p03", "p10", "p11"] {
        assert_eq!(app.change(gone, "delete", &admin).await.status, 200);
    }
    let live: Vec<&(String, &str)> = created
        .iter()
        .filter(|(id, _)| !["p03", "p10", "p11"].contains(&id.as_str()))
        .collect();
    let oldest_first: Vec<String> = live.iter().map(|(id, _)| id.clone()).collect();
    let mut newest_first = oldest_first.clone();
    newest_first.reverse();

    for path in ["/v3alpha/users/search", "/v2/users"] {
        assert_eq!(
            pages(&app, path, json!({}), 7, true).await,
            oldest_first,
            "{path}"
        );
        assert_eq!(
            pages(&app, path, json!({}), 4, false).await,
            newest_first,
            "{path}"
        );
    }
    let org_b: Vec<String> = live
        .iter()
        .filter(|(_, org)| *org == "org-b")
        .map(|(id, _)| id.clone())
        .collect();
    let filter = json!({"filters": [{"organizationIdFilter": {"organizationId": "org-b"}}]});
    assert_eq!(
        pages(&app, "/v3alpha/users/search", filter.clone(), 2, true).await,
        org_b
    );
    let r = app
        .post("/v3alpha/users/search", &admin, Some(&filter))
        .await;
    assert_eq!(
        r.body["details"]["totalResult"],
        json!(org_b.len().to_string())
    );
    // An org owner's listing is its organization's users, from that org's index.
    let r = app
        .post(
            "/v2/users",
            &org_token("ORG_OWNER", "org-b"),
            Some(&json!({"query": {"asc": true}})),
        )
        .await;
    assert_eq!(ids(&r.body), org_b);
    assert_eq!(
        r.body["details"]["totalResult"],
        json!(org_b.len().to_string())
    );
}

#[tokio::test]
async fn paging_stays_consistent_while_users_come_and_go() {
    let app = spawn_app().await;
    let admin = admin_token();
    for i in 0..60 {
        app.create_user(&format!("c{i:03}"), "org-a").await;
    }
    // A writer creates newer users and deletes older ones while a reader pages oldest first.
    let writer = {
        let client = app.client.clone();
        let base = app.address.clone();
        let admin = admin.clone();
        tokio::spawn(async move {
            let mut deleted = Vec::new();
            for i in 0..40 {
                let r = client
                    .post(format!("{base}/v3alpha/users"))
                    .bearer_auth(&admin)
                    .json(&json!({"userId": format!("n{i:03}"), "organization": {"orgId": "org-a"}, "schemaId": "s", "data": {}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                if i % 2 == 0 {
                    let id = format!("c{:03}", 59 - i);
                    let r = client
                        .delete(format!("{base}/v3alpha/users/{id}"))
                        .bearer_auth(&admin)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    deleted.push((id, std::time::Instant::now()));
                }
            }
            deleted
        })
    };
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut asked_at: Vec<(String, std::time::Instant)> = Vec::new();
    let mut offset = 0;
    for _ in 0..200 {
        let asked = std::time::Instant::now();
        let r = app
            .post(
                "/v3alpha/users/search",
                &admin,
                Some(&json!({"query": {"offset": offset, "limit": 5, "asc": true}})),
            )
            .await;
        assert_eq!(r.status, 200);
        let page: Vec<(String, String)> = r.body["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|u| {
                (
                    u["details"]["creationDate"].as_str().unwrap().to_string(),
                    u["userId"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        if page.is_empty() && writer.is_finished() {
            break;
        }
        offset += page.len();
        asked_at.extend(page.iter().map(|(_, id)| (id.clone(), asked)));
        seen.extend(page);
    }
    let deleted = writer.await.unwrap();
    // In order (creation time, then id), and nobody twice.
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| {
        let t = |s: &str| chrono_like(s);
        (t(&a.0), &a.1).cmp(&(t(&b.0), &b.1))
    });
    assert_eq!(seen, sorted, "pages in creation order");
    let unique: HashSet<&String> = seen.iter().map(|(_, id)| id).collect();
    assert_eq!(unique.len(), seen.len(), "no user listed twice");
    // A user whose delete was answered before a page was asked for is not on that page.
    for (id, asked) in &asked_at {
        if let Some((_, done)) = deleted.iter().find(|(d, _)| d == id) {
            assert!(done > asked, "{id} listed after its delete was answered");
        }
    }
    // Afterwards, exactly the live users, in order.
    let gone: HashSet<String> = deleted.into_iter().map(|(id, _)| id).collect();
    let mut expected: Vec<String> = (0..60)
        .map(|i| format!("c{i:03}"))
        .filter(|id| !gone.contains(id))
        .collect();
    expected.extend((0..40).map(|i| format!("n{i:03}")));
    assert_eq!(
        pages(&app, "/v3alpha/users/search", json!({}), 1000, true).await,
        expected
    );
}

/// RFC 3339 UTC times compare as text once their fractions have the same length.
fn chrono_like(s: &str) -> String {
    let (main, frac) = s
        .trim_end_matches('Z')
        .split_once('.')
        .unwrap_or((s.trim_end_matches('Z'), ""));
    format!("{main}.{frac:0<9}")
}

/// A v2 human for the model test: (id, org, username, email, state after setup).
#[derive(Clone, Debug)]
struct Known {
    id: String,
    org: &'static str,
    username: String,
    email: String,
    state: &'static str,
}

const NAMES: [&str; 8] = ["ada", "adam", "Bob", "bea", "cyd", "dora", "ED", "eddie"];

fn text_matches(have: &str, want: &str, method: usize) -> bool {
    let (have, want) = if method % 2 == 1 {
        (have.to_lowercase(), want.to_lowercase())
    } else {
        (have.to_string(), want.to_string())
    };
    match method / 2 {
        0 => have == want,
        1 => have.starts_with(&want),
        2 => have.contains(&want),
        _ => have.ends_with(&want),
    }
}

#[derive(Clone, Debug)]
enum Query {
    Username(String, usize),
    Email(String, usize),
    Org(&'static str),
    State(&'static str),
    Ids(Vec<String>),
    Not(Box<Query>),
    Or(Vec<Query>),
}

impl Query {
    fn json(&self) -> Value {
        const METHODS: [&str; 8] = [
            "TEXT_QUERY_METHOD_EQUALS",
            "TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE",
            "TEXT_QUERY_METHOD_STARTS_WITH",
            "TEXT_QUERY_METHOD_STARTS_WITH_IGNORE_CASE",
            "TEXT_QUERY_METHOD_CONTAINS",
            "TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE",
            "TEXT_QUERY_METHOD_ENDS_WITH",
            "TEXT_QUERY_METHOD_ENDS_WITH_IGNORE_CASE",
        ];
        match self {
            Query::Username(v, m) => {
                json!({"userNameQuery": {"userName": v, "method": METHODS[*m]}})
            }
            Query::Email(v, m) => {
                json!({"emailQuery": {"emailAddress": v, "method": METHODS[*m]}})
            }
            Query::Org(o) => json!({"organizationIdQuery": {"organizationId": o}}),
            Query::State(s) => json!({"stateQuery": {"state": s}}),
            Query::Ids(ids) => json!({"inUserIdsQuery": {"userIds": ids}}),
            Query::Not(q) => json!({"notQuery": {"query": q.json()}}),
            Query::Or(qs) => {
                json!({"orQuery": {"queries": qs.iter().map(Query::json).collect::<Vec<_>>()}})
            }
        }
    }

    fn keeps(&self, u: &Known) -> bool {
        match self {
            Query::Username(v, m) => text_matches(&u.username, v, *m),
            Query::Email(v, m) => text_matches(&u.email, v, *m),
            Query::Org(o) => u.org == *o,
            Query::State(s) => u.state == *s,
            Query::Ids(ids) => ids.contains(&u.id),
            Query::Not(q) => !q.keeps(u),
            Query::Or(qs) => qs.iter().any(|q| q.keeps(u)),
        }
    }
}

fn query() -> impl Strategy<Value = Query> {
    let leaf = prop_oneof![
        (
            prop::sample::select(vec!["ad", "ADA", "b", "e", "dora", "x"]),
            0usize..8
        )
            .prop_map(|(v, m)| Query::Username(v.to_string(), m)),
        (
            prop::sample::select(vec!["ada@", "@Example.com", "BOB", "e"]),
            0usize..8
        )
            .prop_map(|(v, m)| Query::Email(v.to_string(), m)),
        prop::sample::select(vec!["org-a", "org-b"]).prop_map(Query::Org),
        prop::sample::select(vec![
            "USER_STATE_ACTIVE",
            "USER_STATE_INACTIVE",
            "USER_STATE_INITIAL"
        ])
        .prop_map(Query::State),
        prop::collection::vec(0usize..10, 0..3)
            .prop_map(|ns| Query::Ids(ns.iter().map(|n| format!("h{n}")).collect())),
    ];
    leaf.prop_recursive(2, 4, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|q| Query::Not(Box::new(q))),
            prop::collection::vec(inner, 1..3).prop_map(Query::Or),
        ]
    })
}

#[test]
fn v2_listing_filters_agree_with_a_model() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(spawn_app());
    let admin = admin_token();
    // Eight humans in two orgs, in creation order; one deactivated, one deleted, some INITIAL.
    let mut known = Vec::new();
    rt.block_on(async {
        for (i, name) in NAMES.iter().enumerate() {
            let org = if i % 3 == 0 { "org-b" } else { "org-a" };
            let email = format!("{name}@Example.com");
            let mut body = json!({
                "userId": format!("h{i}"),
                "username": name,
                "organization": {"orgId": org},
                "profile": {"givenName": "G", "familyName": "F"},
                "email": {"email": email},
            });
            if i % 2 == 0 {
                body["password"] = json!({"password": "Pw-123456"});
            }
            let r = app.post("/v2/users/human", &admin, Some(&body)).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            known.push(Known {
                id: format!("h{i}"),
                org,
                username: name.to_string(),
                email,
                state: if i % 2 == 0 {
                    "USER_STATE_ACTIVE"
                } else {
                    "USER_STATE_INITIAL"
                },
            });
        }
        assert_eq!(
            app.post("/v2/users/h2/deactivate", &admin, None)
                .await
                .status,
            200
        );
        known[2].state = "USER_STATE_INACTIVE";
        let r = app
            .send(reqwest::Method::DELETE, "/v2/users/h5", Some(&admin), None)
            .await;
        assert_eq!(r.status, 200);
    });
    known.remove(5);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (
        prop::collection::vec(query(), 0..3),
        0u64..4,
        1u64..5,
        any::<bool>(),
    );
    runner
        .run(&strategy, |(queries, offset, limit, asc)| {
            let body = json!({
                "queries": queries.iter().map(Query::json).collect::<Vec<_>>(),
                "query": {"offset": offset, "limit": limit, "asc": asc},
            });
            let r = rt.block_on(app.post("/v2/users", &admin, Some(&body)));
            prop_assert_eq!(r.status, 200, "{:?}", r.body);
            let mut matching: Vec<&Known> = known
                .iter()
                .filter(|u| queries.iter().all(|q| q.keeps(u)))
                .collect();
            if !asc {
                matching.reverse();
            }
            let want: Vec<String> = matching
                .iter()
                .skip(offset as usize)
                .take(limit as usize)
                .map(|u| u.id.clone())
                .collect();
            prop_assert_eq!(ids(&r.body), want, "{}", body);
            let total = r.body["details"]["totalResult"]
                .as_str()
                .map_or(0, |t| t.parse::<usize>().unwrap());
            prop_assert_eq!(total, matching.len(), "{}", body);
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn a_listing_no_index_serves_stops_at_its_budget() {
    if sled_only("a_listing_no_index_serves_stops_at_its_budget") {
        return;
    }
    // 3,000 users: a scan of them takes longer than the 1 ms budget.
    let mut app = spawn_app_with(&[("USERD_STORAGE__SCAN_BUDGET_MS", "1")]).await;
    app.kill();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    let lines: Vec<String> = (0..3000)
        .map(|i| format!(r#"{{"userId": "s{i:04}", "organization": {{"orgId": "org-a"}}, "schemaId": "person", "data": {{}}, "contact": {{"email": {{"address": "s{i}@example.com"}}}}}}"#))
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = std::process::Command::new(userd_bin())
        .arg("import")
        .arg(&file)
        .arg("--data-dir")
        .arg(app.data_dir())
        .env("USERD_STORAGE__SHARDS", "4")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.start_again();
    let admin = admin_token();
    let contains = json!({"filters": [{"emailFilter": {"address": "999@", "method": "TEXT_FILTER_METHOD_CONTAINS"}}]});
    let (status, body) = resources_search(&app, &admin, &contains).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], json!("resource_exhausted"), "{body}");
    // Indexed listings are not scans: a page and an exact email still answer.
    let r = app.post("/v3alpha/users/search", &admin, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["details"]["totalResult"], json!("3000"));
    let exact = json!({"filters": [{"emailFilter": {"address": "S999@example.com", "method": "TEXT_FILTER_METHOD_EQUALS_IGNORE_CASE"}}]});
    let (status, body) = resources_search(&app, &admin, &exact).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"][0]["details"]["id"], json!("s0999"));
}

/// `ZITADELUsers/SearchUsers` over Connect JSON.
async fn resources_search(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    let r = app
        .client
        .post(format!(
            "{}/zitadel.resources.user.v3alpha.ZITADELUsers/SearchUsers",
            app.address
        ))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn check_reports_a_damaged_index() {
    if sled_only("check_reports_a_damaged_index") {
        return;
    }
    use userd::store::sled::layout::{time_bytes, TreeId};
    let mut app = spawn_app().await;
    for id in ["i1", "i2", "i3"] {
        app.create_user(id, "org-a").await;
    }
    app.kill();
    let (ok, report) = app.check();
    assert!(ok, "{report}");
    {
        let store = userd::store::sled::SledStore::open_existing(&app.data_dir(), 1 << 20).unwrap();
        // i2's creation-order key goes missing; a key for a user who does not exist appears.
        let i2 = store.get_user("i2").unwrap().unwrap();
        let mut key = time_bytes(i2.created_at.0).to_vec();
        key.extend_from_slice(b"i2");
        store.remove_raw(TreeId::Created, &key).unwrap();
        let mut stray = time_bytes(5).to_vec();
        stray.extend_from_slice(b"ghost");
        store.put_raw(TreeId::Created, &stray, &[]).unwrap();
    }
    let (ok, report) = app.check();
    assert!(!ok, "{report}");
    assert!(
        report.contains("\"i2\" is missing from idx-created"),
        "{report}"
    );
    assert!(report.contains("names user \"ghost\""), "{report}");
}

#[tokio::test]
async fn case_insensitive_filters_fold_unicode_and_a_nul_in_a_name_is_kept() {
    let app = spawn_app().await;
    let admin = admin_token();
    for (id, given, display) in [
        ("emile", "Émile", "É. Zola"),
        ("nul", "Nu\u{0}l", "With\u{0}Nul"),
    ] {
        let body = json!({
            "userId": id,
            "username": id,
            "organization": {"orgId": "org-u"},
            "profile": {"givenName": given, "familyName": "F", "displayName": display},
            "email": {"email": format!("{id}@example.com")},
        });
        let r = app.post("/v2/users/human", &admin, Some(&body)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let search = |value: &str, method: &str| json!({"queries": [{"firstNameQuery": {"firstName": value, "method": method}}]});
    let ids = |r: &Reply| -> Vec<String> {
        r.body["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|u| u["userId"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let r = app
        .post(
            "/v2/users",
            &admin,
            Some(&search("éMILE", "TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE")),
        )
        .await;
    assert_eq!(ids(&r), vec!["emile"], "{:?}", r.body);
    let r = app
        .post(
            "/v2/users",
            &admin,
            Some(&search("émi", "TEXT_QUERY_METHOD_STARTS_WITH")),
        )
        .await;
    assert!(
        ids(&r).is_empty(),
        "case matters without IGNORE_CASE: {:?}",
        r.body
    );
    // The name with a NUL reads back exactly, and the store stays ready.
    let r = app.get("/v2/users/nul", &admin).await;
    assert_eq!(
        r.body["user"]["human"]["profile"]["givenName"],
        json!("Nu\u{0}l")
    );
    let r = app
        .post(
            "/v2/users",
            &admin,
            Some(&search("Nu", "TEXT_QUERY_METHOD_STARTS_WITH")),
        )
        .await;
    assert_eq!(ids(&r), vec!["nul"], "{:?}", r.body);
    assert_eq!(app.get("/debug/ready", &admin).await.status, 200);
    assert_eq!(app.change("nul", "lock", &admin).await.status, 200);
}
