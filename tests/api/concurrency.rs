//! One actor per shard serializes each user's changes: races resolve exactly as the state
//! machine says, with gap-free sequences.

use crate::helpers::*;
use std::collections::HashMap;

#[tokio::test]
async fn sixty_four_concurrent_reactivations_succeed_exactly_once() {
    let app = spawn_app().await;
    let admin = admin_token();
    app.create_user("racer", "org-a").await;
    assert_eq!(app.change("racer", "deactivate", &admin).await.status, 200);
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let client = app.client.clone();
        let url = format!("{}/v3alpha/users/racer/reactivate", app.address);
        let token = admin.clone();
        tasks.push(tokio::spawn(async move {
            let r = client.post(url).bearer_auth(token).send().await.unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap();
            (status, body)
        }));
    }
    let mut by_status: HashMap<u16, Vec<serde_json::Value>> = HashMap::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        by_status.entry(status).or_default().push(body);
    }
    assert_eq!(by_status.get(&200).map(Vec::len), Some(1), "{by_status:?}");
    assert_eq!(by_status.get(&400).map(Vec::len), Some(63));
    assert_eq!(
        by_status[&200][0]["details"]["sequence"],
        serde_json::json!("3")
    );
    for body in &by_status[&400] {
        assert_eq!(body["code"], serde_json::json!(9));
        assert_eq!(
            body["details"][0]["id"],
            serde_json::json!("COMMAND-s5qqcz97hf")
        );
    }
    assert_eq!(
        app.state_of("racer").await,
        Some(("USER_STATE_ACTIVE".into(), 3))
    );
}

#[tokio::test]
async fn concurrent_toggles_across_users_keep_every_sequence_exact() {
    let app = spawn_app().await;
    let admin = admin_token();
    let users: Vec<String> = (0..16).map(|i| format!("tog-{i}")).collect();
    for id in &users {
        app.create_user(id, "org-a").await;
    }
    // Each user gets its own task toggling 20 times; users run concurrently across shards.
    let mut tasks = Vec::new();
    for id in users.clone() {
        let client = app.client.clone();
        let base = app.address.clone();
        let token = admin.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20u64 {
                let action = if i % 2 == 0 {
                    "deactivate"
                } else {
                    "reactivate"
                };
                let r = client
                    .post(format!("{base}/v3alpha/users/{id}/{action}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let body: serde_json::Value = r.json().await.unwrap();
                assert_eq!(
                    body["details"]["sequence"],
                    serde_json::json!((i + 2).to_string())
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for id in &users {
        assert_eq!(
            app.state_of(id).await,
            Some(("USER_STATE_ACTIVE".into(), 21))
        );
    }
}
