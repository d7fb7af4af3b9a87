//! Nothing acknowledged is ever lost: concurrent lifecycle traffic, SIGKILL at a random moment,
//! `userd check`, restart, and every acknowledged change must be there.

use crate::helpers::*;
use rand_lite::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A tiny xorshift generator: the test needs cheap, seedable randomness, not quality.
mod rand_lite {
    pub struct Rng(u64);
    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng(seed | 1)
        }
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        pub fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum S {
    Active,
    Inactive,
    Locked,
}

impl S {
    fn name(self) -> &'static str {
        match self {
            S::Active => "USER_STATE_ACTIVE",
            S::Inactive => "USER_STATE_INACTIVE",
            S::Locked => "USER_STATE_LOCKED",
        }
    }

    fn from_name(name: &str) -> S {
        match name {
            "USER_STATE_ACTIVE" => S::Active,
            "USER_STATE_INACTIVE" => S::Inactive,
            "USER_STATE_LOCKED" => S::Locked,
            other => panic!("unexpected state {other}"),
        }
    }
}

/// A change allowed from `s`, picked at random, and the state it leads to.
fn pick(rng: &mut Rng, s: S) -> (&'static str, S) {
    let options: &[(&str, S)] = match s {
        S::Active => &[("deactivate", S::Inactive), ("lock", S::Locked)],
        S::Inactive => &[("reactivate", S::Active)],
        S::Locked => &[("unlock", S::Active), ("deactivate", S::Inactive)],
    };
    options[rng.below(options.len() as u64) as usize]
}

/// What the client knows of one user: the last acknowledged state and sequence, and a change
/// whose answer never came (it may or may not have been applied).
#[derive(Clone, Debug)]
struct Known {
    state: S,
    sequence: u64,
    in_doubt: Option<S>,
}

#[tokio::test]
async fn kill_9_under_load_loses_no_acknowledged_change() {
    const USERS: usize = 240;
    const CLIENTS: usize = 24;
    const CYCLES: u64 = 6;
    let mut app = spawn_app().await;
    let known: Arc<Mutex<HashMap<String, Known>>> = Arc::default();
    for i in 0..USERS {
        let id = format!("crash-{i}");
        app.create_user(&id, "org-a").await;
        known.lock().unwrap().insert(
            id,
            Known {
                state: S::Active,
                sequence: 1,
                in_doubt: None,
            },
        );
    }
    let admin = admin_token();
    let mut acknowledged_total = 0u64;
    let mut rng = Rng::new(0x5eed_1234);
    for cycle in 0..CYCLES {
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let client = app.client.clone();
            let base = app.address.clone();
            let token = admin.clone();
            let known = known.clone();
            let mut rng = Rng::new(rng.next());
            tasks.push(tokio::spawn(async move {
                let mut acknowledged = 0u64;
                // Each client owns the users i with i % CLIENTS == c: one request per user at a time.
                let mine: Vec<String> = (c..USERS)
                    .step_by(CLIENTS)
                    .map(|i| format!("crash-{i}"))
                    .collect();
                loop {
                    let id = &mine[rng.below(mine.len() as u64) as usize];
                    let state = known.lock().unwrap()[id].state;
                    let (action, next) = pick(&mut rng, state);
                    let sent = client
                        .post(format!("{base}/v3alpha/users/{id}/{action}"))
                        .bearer_auth(&token)
                        .send()
                        .await;
                    let reply = match sent {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            r.json::<serde_json::Value>().await.map(|b| (status, b))
                        }
                        Err(e) => Err(e),
                    };
                    let mut known = known.lock().unwrap();
                    let entry = known.get_mut(id).unwrap();
                    match reply {
                        Ok((200, body)) => {
                            let seq: u64 = body["details"]["sequence"]
                                .as_str()
                                .unwrap()
                                .parse()
                                .unwrap();
                            assert_eq!(seq, entry.sequence + 1, "{id} {action}");
                            entry.state = next;
                            entry.sequence = seq;
                            acknowledged += 1;
                        }
                        Ok((status, body)) => panic!("{id} {action}: {status} {body}"),
                        Err(_) => {
                            // The server died: this change may or may not have been applied.
                            entry.in_doubt = Some(next);
                            return acknowledged;
                        }
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(150 + rng.below(250))).await;
        app.kill();
        for t in tasks {
            acknowledged_total += t.await.unwrap();
        }
        let (ok, report) = app.check();
        assert!(ok, "cycle {cycle}: userd check failed:\n{report}");
        app.start_again();
        let snapshot: Vec<(String, Known)> = known
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (id, k) in snapshot {
            let (state, seq) = app.state_of(&id).await.expect("user exists");
            let state = S::from_name(&state);
            let applied_in_doubt = k.in_doubt.filter(|s| *s == state && seq == k.sequence + 1);
            assert!(
                (seq == k.sequence && state == k.state) || applied_in_doubt.is_some(),
                "cycle {cycle}: {id} acknowledged {:?}/{}, after restart {}/{seq} (in doubt: {:?})",
                k.state.name(),
                k.sequence,
                state.name(),
                k.in_doubt
            );
            let mut known = known.lock().unwrap();
            let entry = known.get_mut(&id).unwrap();
            entry.state = state;
            entry.sequence = seq;
            entry.in_doubt = None;
        }
    }
    eprintln!(
        "crash test: {CYCLES} kill -9 cycles, {acknowledged_total} acknowledged changes checked, 0 lost"
    );
    assert!(
        acknowledged_total > CYCLES * 10,
        "too little traffic: {acknowledged_total}"
    );
}

#[tokio::test]
async fn sigterm_during_load_answers_everything_received_and_exits_0() {
    stop_during_load("-TERM").await;
}

#[tokio::test]
async fn sigint_during_load_answers_everything_received_and_exits_0() {
    stop_during_load("-INT").await;
}

async fn stop_during_load(signal: &str) {
    let mut app = spawn_app().await;
    let admin = admin_token();
    let users: Vec<String> = (0..64).map(|i| format!("term-{i}")).collect();
    for id in &users {
        app.create_user(id, "org-a").await;
    }
    // One connection per request, so a request is either refused or fully answered.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let acked: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let mut tasks = Vec::new();
    for id in users.clone() {
        let client = client.clone();
        let base = app.address.clone();
        let token = admin.clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut answered = HashMap::<u16, u64>::new();
            let mut failed_sends = 0u64;
            for i in 0.. {
                let action = if i % 2 == 0 {
                    "deactivate"
                } else {
                    "reactivate"
                };
                match client
                    .post(format!("{base}/v3alpha/users/{id}/{action}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body: serde_json::Value = r.json().await.expect("a JSON answer");
                        *answered.entry(status).or_default() += 1;
                        match status {
                            200 => {
                                let seq = body["details"]["sequence"]
                                    .as_str()
                                    .unwrap()
                                    .parse()
                                    .unwrap();
                                acked.lock().unwrap().insert(id.clone(), seq);
                            }
                            503 => assert_eq!(body["code"], serde_json::json!(14)),
                            other => panic!("{id}: unexpected {other} {body}"),
                        }
                        if status == 503 {
                            break;
                        }
                    }
                    Err(_) => {
                        failed_sends += 1;
                        break;
                    }
                }
            }
            (answered, failed_sends)
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    app.signal(signal);
    let status = app
        .wait_exit(Duration::from_secs(15))
        .expect("userd exits after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    let mut ok = 0;
    for t in tasks {
        let (answered, _) = t.await.unwrap();
        ok += answered.get(&200).copied().unwrap_or(0);
    }
    assert!(ok > 64, "load ran: {ok}");
    let (clean, report) = app.check();
    assert!(clean, "{report}");
    app.start_again();
    let acked = acked.lock().unwrap().clone();
    for (id, seq) in acked {
        let (_, stored) = app.state_of(&id).await.unwrap();
        assert_eq!(stored, seq, "{id}: every 200 is on disk");
    }
}

#[tokio::test]
async fn a_corrupt_record_answers_500_and_check_reports_it() {
    if sled_only("a_corrupt_record_answers_500_and_check_reports_it") {
        return;
    }
    let mut app = spawn_app().await;
    let admin = admin_token();
    app.create_user("sound", "org-a").await;
    app.create_user("broken", "org-a").await;
    app.change("broken", "deactivate", &admin).await;
    app.kill();
    {
        use userd::store::sled::layout::{user_key, TreeId};
        let store = userd::store::sled::SledStore::open_existing(&app.data_dir(), 1 << 20).unwrap();
        let shard = TreeId::Shard(userd::store::shard_of("broken", 4) as u16);
        store
            .put_raw(shard, &user_key("broken"), &[1u8, 0xff, 0xfe])
            .unwrap();
    }
    let (ok, report) = app.check();
    assert!(!ok);
    assert!(report.contains("ubroken"), "{report}");
    app.start_again();
    let r = app.get("/v3alpha/users/broken", &admin).await;
    assert_error(&r, 500, 13, None);
    let r = app.change("broken", "reactivate", &admin).await;
    assert_error(&r, 500, 13, None);
    let r = app.post("/v3alpha/users/search", &admin, None).await;
    assert_error(&r, 500, 13, None);
    // Everything else keeps working.
    assert_eq!(app.change("sound", "lock", &admin).await.status, 200);
    assert_eq!(app.state_of("sound").await.unwrap().0, "USER_STATE_LOCKED");
}

#[tokio::test]
async fn check_passes_on_a_healthy_store_and_refuses_a_missing_one() {
    let mut app = spawn_app().await;
    let admin = admin_token();
    for i in 0..20 {
        let id = format!("h{i}");
        app.create_user(&id, "org-a").await;
        app.change(&id, "lock", &admin).await;
        if i % 3 == 0 {
            app.change(&id, "delete", &admin).await;
        }
    }
    app.kill();
    let (ok, report) = app.check();
    assert!(ok, "{report}");
    assert!(report.contains("checked 20 users and"), "{report}");
    let out = std::process::Command::new(userd_bin())
        .args(["check", "--data-dir", "/nonexistent/userd-data"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn periodic_durability_loses_at_most_the_last_interval() {
    // With a 60 s sync interval nothing is synced before the kill, but every answered commit
    // was written to the operating system: a crash of the process loses nothing (only a power
    // loss could lose the last interval).
    let mut app = spawn_app_with(&[
        ("USERD_STORAGE__DURABILITY", "periodic"),
        ("USERD_STORAGE__FLUSH_INTERVAL_MS", "60000"),
    ])
    .await;
    let admin = admin_token();
    app.create_user("w", "org-a").await;
    app.restart();
    assert_eq!(
        app.state_of("w").await,
        Some(("USER_STATE_ACTIVE".into(), 1)),
        "answered inside the window, kept through kill -9"
    );
    app.kill();
    let (ok, report) = app.check();
    assert!(ok, "{report}");
    // With a 50 ms interval, a change older than the interval survives kill -9.
    let mut app = spawn_app_with(&[
        ("USERD_STORAGE__DURABILITY", "periodic"),
        ("USERD_STORAGE__FLUSH_INTERVAL_MS", "50"),
    ])
    .await;
    for i in 0..20 {
        app.create_user(&format!("p{i}"), "org-a").await;
        assert_eq!(
            app.change(&format!("p{i}"), "lock", &admin).await.status,
            200
        );
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    app.restart();
    for i in 0..20 {
        assert_eq!(
            app.state_of(&format!("p{i}")).await,
            Some(("USER_STATE_LOCKED".into(), 2))
        );
    }
}

#[tokio::test]
async fn an_event_past_its_record_is_an_unanswered_change_and_the_next_change_replaces_it() {
    if sled_only("an_event_past_its_record_is_an_unanswered_change_and_the_next_change_replaces_it")
    {
        return;
    }
    // The one torn state a crash can leave: a change's event written, its record not.
    let mut app = spawn_app().await;
    let admin = admin_token();
    app.create_user("torn", "org-a").await;
    app.kill();
    {
        use userd::domain::{Event, EventKind, Timestamp};
        use userd::store::sled::layout::{encode, event_key, TreeId};
        let store = userd::store::sled::SledStore::open_existing(&app.data_dir(), 1 << 20).unwrap();
        let stray = Event {
            sequence: 2,
            at: Timestamp::now(),
            kind: EventKind::Locked,
            editor: String::new(),
        };
        let shard = TreeId::Shard(userd::store::shard_of("torn", 4) as u16);
        store
            .put_raw(shard, &event_key("torn", 2), &encode(&stray))
            .unwrap();
    }
    let (ok, report) = app.check();
    assert!(ok, "{report}");
    assert!(
        report.contains("1 events of changes that were never answered"),
        "{report}"
    );

    // Readers go by the record: the lock never happened.
    app.start_again();
    assert_eq!(
        app.state_of("torn").await,
        Some(("USER_STATE_ACTIVE".into(), 1))
    );
    // The next change takes sequence 2 and replaces the stray event.
    let r = app.change("torn", "deactivate", &admin).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["details"]["sequence"], serde_json::json!("2"));
    app.kill();
    let (ok, report) = app.check();
    assert!(ok, "{report}");
    assert!(!report.contains("never answered"), "{report}");
}
