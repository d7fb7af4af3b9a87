//! What is acknowledged survives kill -9 and a restart; the store refuses settings it was not
//! made with; start-up errors name what is wrong.

use crate::helpers::*;
use std::process::Command;

#[tokio::test]
async fn acknowledged_changes_survive_kill_9_and_restart() {
    let mut app = spawn_app().await;
    let admin = admin_token();
    let mut expected = Vec::new();
    for i in 0..24 {
        let id = format!("keep-{i}");
        app.create_user(&id, "org-a").await;
        let actions: &[&str] = match i % 4 {
            0 => &[],
            1 => &["deactivate"],
            2 => &["lock", "deactivate", "reactivate"],
            _ => &["delete"],
        };
        for a in actions {
            assert_eq!(app.change(&id, a, &admin).await.status, 200);
        }
        let state = app.state_of(&id).await;
        expected.push((id, state));
    }
    app.restart();
    for (id, state) in &expected {
        assert_eq!(&app.state_of(id).await, state, "{id} after restart");
    }
    // The history continues where it stopped.
    let r = app.change("keep-1", "reactivate", &admin).await;
    assert_eq!(r.body["details"]["sequence"], serde_json::json!("3"));
}

#[tokio::test]
async fn a_store_refuses_another_shard_count_and_a_second_process() {
    if sled_only("a_store_refuses_another_shard_count_and_a_second_process") {
        return;
    }
    let mut app = spawn_app().await;
    app.create_user("x", "org-a").await;
    let dir = app.data_dir();
    // A second userd on the same data directory while the first runs.
    let out = Command::new(userd_bin())
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env("USERD_AUTH__HS256_SECRET", SECRET)
        .env("USERD_STORAGE__SHARDS", "4")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&*dir.to_string_lossy()), "{err}");
    app.kill();
    // Another shard count on an existing store.
    let out = Command::new(userd_bin())
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env("USERD_AUTH__HS256_SECRET", SECRET)
        .env("USERD_STORAGE__SHARDS", "8")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("created with 4 shards"), "{err}");
}

#[tokio::test]
async fn bad_configuration_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        "[server]\nbind = \"127.0.0.1:0\"\nworkerz = 2\n",
    )
    .unwrap();
    let out = Command::new(userd_bin())
        .arg("serve")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.workerz"));
    let out = Command::new(userd_bin())
        .args(["serve", "--config", "/nonexistent/userd.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let clean = tempfile::tempdir().unwrap();
    let out = Command::new(userd_bin())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .current_dir(clean.path())
        .env("USERD_STORAGE__DURABILITY", "whenever")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("storage.durability"));
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let r = app
        .send(reqwest::Method::GET, "/debug/healthz", None, None)
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .send(reqwest::Method::GET, "/debug/ready", None, None)
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn periodic_durability_answers_and_keeps_changes_after_a_clean_stop() {
    let mut app = spawn_app_with(&[
        ("USERD_STORAGE__DURABILITY", "periodic"),
        ("USERD_STORAGE__FLUSH_INTERVAL_MS", "20"),
    ])
    .await;
    let admin = admin_token();
    app.create_user("p", "org-a").await;
    assert_eq!(app.change("p", "deactivate", &admin).await.status, 200);
    // Wait well past the flush interval, then crash: the change is on disk.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.restart();
    assert_eq!(
        app.state_of("p").await,
        Some(("USER_STATE_INACTIVE".into(), 2))
    );
}
