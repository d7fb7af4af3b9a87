//! `userd serve --seed FILE`: a first start (a store that never held a user) loads the seed; a
//! later start, or a store with users, leaves everything as it is.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn a_seed_loads_on_the_first_start_only() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.jsonl");
    let lines: Vec<String> = (0..25)
        .map(|i| {
            json!({"userId": format!("s{i}"), "organization": {"orgId": "org-s"},
                   "schemaId": "person", "data": {"i": i}})
            .to_string()
        })
        .collect();
    std::fs::write(&seed, lines.join("\n")).unwrap();
    let seed_arg = seed.to_string_lossy().into_owned();
    let mut app = spawn_app_in(dir, &[("--seed", &seed_arg)]).await;
    let admin = admin_token();
    for i in [0, 24] {
        let (state, sequence) = app.state_of(&format!("s{i}")).await.expect("seeded");
        assert_eq!((state.as_str(), sequence), ("USER_STATE_ACTIVE", 1));
    }
    // Changes made after the seed survive a restart with the same flag: nothing is loaded again.
    assert_eq!(app.change("s0", "deactivate", &admin).await.status, 200);
    assert_eq!(app.change("s1", "delete", &admin).await.status, 200);
    std::fs::write(
        &seed,
        json!({"userId": "late", "organization": {"orgId": "org-s"}, "schemaId": "person", "data": {}})
            .to_string(),
    )
    .unwrap();
    app.restart();
    assert_eq!(
        app.state_of("s0").await,
        Some(("USER_STATE_INACTIVE".into(), 2))
    );
    assert_eq!(app.state_of("s1").await, None, "deleted stays deleted");
    assert_eq!(
        app.state_of("late").await,
        None,
        "a later start does not seed"
    );
    let r = app
        .post(
            "/v3alpha/users/search",
            &admin,
            Some(&json!({"query": {"limit": 100}})),
        )
        .await;
    assert_eq!(r.body["result"].as_array().map(Vec::len), Some(24));
}

#[tokio::test]
async fn a_bad_seed_stops_the_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.jsonl");
    std::fs::write(&seed, "{\"userId\": \"ok\", \"organization\": {\"orgId\": \"o\"}, \"schemaId\": \"s\", \"data\": {}}\nnot json\n").unwrap();
    let out = std::process::Command::new(userd_bin())
        .args(["serve", "--bind", "127.0.0.1:0", "--seed"])
        .arg(&seed)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("USERD_AUTH__HS256_SECRET", "x".repeat(32))
        .env_remove("USERD_STORAGE__BACKEND")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 bad lines") && err.contains("line 2"),
        "{err}"
    );
}
