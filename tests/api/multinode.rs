//! Several userd nodes on one PostgreSQL database (the PostgreSQL pass only): bursts of the same
//! transition for one user sent to every node at once move it exactly once per burst, every
//! other answer is ZITADEL's state error, the history stays gap-free (checked in SQL), and a
//! username raced for on every node is held by one user.

use crate::helpers::*;
use serde_json::json;

const NODES: usize = 3;
const PER_NODE: usize = 4;
const ROUNDS: usize = 20;

async fn nodes() -> Option<(String, Vec<TestApp>)> {
    let url = fresh_database().await?;
    let env = [
        ("USERD_STORAGE__BACKEND", "postgres"),
        ("USERD_STORAGE__POSTGRES__URL", url.as_str()),
        ("USERD_STORAGE__POSTGRES__POOL_SIZE", "4"),
    ];
    let mut apps = Vec::new();
    for _ in 0..NODES {
        apps.push(spawn_app_with(&env).await);
    }
    Some((url, apps))
}

#[tokio::test]
async fn racing_nodes_move_a_user_once_per_burst_and_keep_its_history_gap_free() {
    let Some((url, apps)) = nodes().await else {
        return;
    };
    let token = admin_token();
    apps[0].create_user("raced", "org-a").await;
    let (mut sent, mut moved, mut state_errors) = (0usize, 0usize, 0usize);
    for round in 0..ROUNDS {
        let (action, error_id) = if round % 2 == 0 {
            ("deactivate", "COMMAND-5gunjw0cd7")
        } else {
            ("reactivate", "COMMAND-s5qqcz97hf")
        };
        let mut burst = Vec::new();
        for app in &apps {
            for _ in 0..PER_NODE {
                burst.push(app.change("raced", action, &token));
            }
        }
        let replies = futures_util::future::join_all(burst).await;
        sent += replies.len();
        let ok = replies.iter().filter(|r| r.status == 200).count();
        assert_eq!(ok, 1, "round {round} ({action}): one move, got {replies:?}");
        moved += ok;
        for r in replies.iter().filter(|r| r.status != 200) {
            assert_error(r, 400, 9, Some(error_id));
            state_errors += 1;
        }
    }
    assert_eq!(moved, ROUNDS);
    assert_eq!(sent, moved + state_errors);
    // The history in SQL: creation plus one event per move, sequences 1..=n without a gap.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*), min(sequence), max(sequence), (SELECT sequence FROM users WHERE id = 'raced')
             FROM events WHERE user_id = 'raced'",
            &[],
        )
        .await
        .expect("history");
    let (n, first, last, record): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(
        (n, first, last, record),
        (ROUNDS as i64 + 1, 1, ROUNDS as i64 + 1, ROUNDS as i64 + 1)
    );
    eprintln!("multi-node race: {sent} requests, {moved} 200s, {state_errors} state errors, 0 sequence gaps");

    // A username raced for on every node: one holder, the others 409.
    let mut race = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        for j in 0..PER_NODE {
            let body = json!({
                "userId": format!("name-{i}-{j}"),
                "username": "contested",
                "organization": {"orgId": "org-a"},
                "profile": {"givenName": "C", "familyName": "D"},
                "email": {"email": format!("c{i}{j}@example.com")},
            });
            race.push(async move {
                app.post("/v2/users/human", &admin_token(), Some(&body))
                    .await
            });
        }
    }
    let replies = futures_util::future::join_all(race).await;
    let won = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(won, 1, "{replies:?}");
    for r in replies.iter().filter(|r| r.status != 200) {
        assert_error(r, 409, 6, Some("V3-DKcYh"));
    }
    let holders: i64 = client
        .query_one(
            "SELECT count(*) FROM users WHERE username = 'contested'",
            &[],
        )
        .await
        .expect("holders")
        .get(0);
    assert_eq!(holders, 1);

    // A machine deactivated through one node has its token refused on another at once.
    let r = apps[0]
        .post(
            "/v2/users/new",
            &token,
            Some(&json!({"userId": "roaming-bot", "organizationId": "org-a", "machine": {"name": "R"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let expires = chrono::DateTime::from_timestamp(now_secs() + 3600, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let issued = apps[0]
        .post(
            "/v2/users/roaming-bot/pats",
            &token,
            Some(&json!({"expirationDate": expires})),
        )
        .await;
    let pat = issued.body["token"].as_str().expect("token").to_string();
    assert_eq!(apps[1].get("/v2/users/roaming-bot", &pat).await.status, 200);
    let r = apps[2]
        .post("/v2/users/roaming-bot/deactivate", &token, None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_error(
        &apps[1].get("/v2/users/roaming-bot", &pat).await,
        401,
        16,
        None,
    );
}

/// `scripts/postgres.sh ACTION DIR`: its output.
fn postgres(action: &str, dir: &std::path::Path) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres.sh");
    let out = std::process::Command::new(script)
        .arg(action)
        .arg(dir)
        .output()
        .expect("scripts/postgres.sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
async fn a_database_outage_answers_503_applies_nothing_and_userd_recovers_by_itself() {
    if !on_postgres() {
        return;
    }
    // A database of its own, to stop without disturbing the other tests.
    let dir = tempfile::tempdir().expect("tempdir");
    let url = postgres("start", dir.path());
    let app = spawn_app_with(&[
        ("USERD_STORAGE__BACKEND", "postgres"),
        ("USERD_STORAGE__POSTGRES__URL", url.as_str()),
        ("USERD_STORAGE__POSTGRES__TIMEOUT_MS", "1000"),
    ])
    .await;
    let token = admin_token();
    app.create_user("steady", "org-a").await;
    assert_eq!(app.change("steady", "deactivate", &token).await.status, 200);

    postgres("kill", dir.path());
    let started = std::time::Instant::now();
    let r = app.change("steady", "reactivate", &token).await;
    assert_eq!(r.status, 503, "{:?}", r.body);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "answered within the timeout"
    );
    assert_eq!(app.get("/v3alpha/users/steady", &token).await.status, 503);
    let mut not_ready = false;
    for _ in 0..50 {
        if app.get("/debug/ready", &token).await.status == 503 {
            not_ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(not_ready, "/debug/ready says not ready");

    postgres("resume", dir.path());
    let mut recovered = false;
    for _ in 0..100 {
        if app.get("/debug/ready", &token).await.status == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "ready again once the database answers");
    // The reactivation that answered 503 did not happen: the user is still inactive.
    assert_eq!(app.change("steady", "reactivate", &token).await.status, 200);
    assert_eq!(app.state_of("steady").await.map(|s| s.1), Some(3));
    drop(app);
    postgres("stop", dir.path());
}

/// What one user's toggles saw.
#[derive(Default, Debug)]
struct Tally {
    ok: u64,
    /// 503 "may or may not be applied" (the commit's outcome is unknown).
    unknown: u64,
    /// Any other failure (503 not applied, a refused connection): nothing applied.
    failed: u64,
}

#[tokio::test]
async fn under_load_a_dead_node_and_a_stopped_database_lose_no_acknowledged_change() {
    if !on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let url = postgres("start", dir.path());
    let env = [
        ("USERD_STORAGE__BACKEND", "postgres"),
        ("USERD_STORAGE__POSTGRES__URL", url.as_str()),
        ("USERD_STORAGE__POSTGRES__TIMEOUT_MS", "1000"),
    ];
    let mut doomed = spawn_app_with(&env).await;
    let survivor = spawn_app_with(&env).await;
    const USERS: usize = 8;
    for i in 0..USERS {
        survivor.create_user(&format!("load-{i}"), "org-a").await;
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let token = admin_token();
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..USERS {
        let nodes = [doomed.address.clone(), survivor.address.clone()];
        let (stop, token, client) = (stop.clone(), token.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut node = i % 2;
            let mut active = true;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let action = if active { "deactivate" } else { "reactivate" };
                let sent = client
                    .post(format!("{}/v3alpha/users/load-{i}/{action}", nodes[node]))
                    .bearer_auth(&token)
                    .timeout(std::time::Duration::from_secs(5))
                    .send()
                    .await;
                let Ok(reply) = sent else {
                    // The node died (before or while answering): go to the other one. A
                    // request cut off mid-way may or may not have been applied.
                    tally.unknown += 1;
                    node = 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                };
                let status = reply.status().as_u16();
                let body: serde_json::Value = reply.json().await.unwrap_or_default();
                let message = body["message"].as_str().unwrap_or_default().to_string();
                match status {
                    200 => {
                        tally.ok += 1;
                        active = !active;
                    }
                    // A change whose outcome was unknown did apply: the state moved already.
                    400 => active = !active,
                    503 if message.contains("USERD-STORE-0002") => tally.unknown += 1,
                    _ => {
                        tally.failed += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                }
            }
            tally
        }));
    }
    let pause = |ms| tokio::time::sleep(std::time::Duration::from_millis(ms));
    pause(700).await;
    doomed.kill();
    pause(700).await;
    postgres("kill", dir.path());
    pause(1500).await;
    postgres("resume", dir.path());
    let mut ready = false;
    for _ in 0..100 {
        if survivor.get("/debug/ready", &token).await.status == 200 {
            ready = true;
            break;
        }
        pause(100).await;
    }
    assert!(ready, "the survivor recovers once the database is back");
    pause(700).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (mut acknowledged, mut unknown, mut failed) = (0, 0, 0);
    for (i, task) in tasks.into_iter().enumerate() {
        let tally = task.await.expect("toggle task");
        let (_, sequence) = survivor
            .state_of(&format!("load-{i}"))
            .await
            .expect("the user exists");
        let applied = sequence - 1;
        assert!(
            applied >= tally.ok,
            "user {i}: an acknowledged change was lost: {tally:?}, sequence {sequence}"
        );
        assert!(
            applied <= tally.ok + tally.unknown,
            "user {i}: a change that answered a failure was applied: {tally:?}, sequence {sequence}"
        );
        acknowledged += tally.ok;
        unknown += tally.unknown;
        failed += tally.failed;
    }
    assert!(
        acknowledged > 0 && failed > 0,
        "the load ran through the outage"
    );
    eprintln!("under load: {acknowledged} acknowledged changes, all kept; {failed} refused while the database was down; {unknown} unknown outcomes");
    drop(survivor);
    postgres("stop", dir.path());
}
