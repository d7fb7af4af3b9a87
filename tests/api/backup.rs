//! `userd backup` of a running server under write load, `userd check` on the copy, and `userd
//! restore` into the data directory of a stopped server.

use crate::helpers::*;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Acknowledged changes: (user id, sequence answered, when the answer arrived).
type Acks = Arc<Mutex<Vec<(String, u64, Instant)>>>;

/// Toggle `id` until `stop`, recording every acknowledged change.
async fn toggle(app: Arc<TestApp>, id: String, acks: Acks, stop: Arc<AtomicBool>) {
    let token = admin_token();
    let mut active = true;
    while !stop.load(Ordering::Relaxed) {
        let action = if active { "deactivate" } else { "reactivate" };
        let r = app.change(&id, action, &token).await;
        assert_eq!(r.status, 200, "{id} {action}: {:?}", r.body);
        let sequence = r.body["details"]["sequence"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("a sequence");
        acks.lock()
            .unwrap()
            .push((id.clone(), sequence, Instant::now()));
        active = !active;
    }
}

/// Create users `{prefix}0, 1, ...` until `stop`, recording each creation (sequence 1).
async fn create(app: Arc<TestApp>, prefix: String, acks: Acks, stop: Arc<AtomicBool>) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let id = format!("{prefix}{n}");
        app.create_user(&id, "org-b").await;
        acks.lock().unwrap().push((id, 1, Instant::now()));
        n += 1;
    }
}

fn run(cmd: &mut std::process::Command) -> (bool, String) {
    let out = cmd.output().expect("run userd");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn a_backup_under_write_load_restores_every_change_acknowledged_before_it() {
    if on_postgres() {
        // PostgreSQL is backed up with its own tools.
        let app = spawn_app().await;
        let r = app.post("/userd/v1/backup", &admin_token(), None).await;
        assert_error(&r, 400, 9, Some("USERD-BACKUP-0001"));
        return;
    }
    // Enough users that the copy takes a while, so commits land while it runs.
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.jsonl");
    let lines: Vec<String> = (0..20_000)
        .map(|i| {
            json!({"userId": format!("s{i}"), "organization": {"orgId": "org-s"},
                   "schemaId": "person", "data": {"i": i, "pad": "x".repeat(200)}})
            .to_string()
        })
        .collect();
    std::fs::write(&seed, lines.join("\n")).unwrap();
    let seed = seed.to_string_lossy().into_owned();
    let app = Arc::new(
        spawn_app_in(
            dir,
            &[
                ("--seed", &seed),
                ("USERD_LOG__LEVEL", "warn,userd::store::sled::backup=info"),
            ],
        )
        .await,
    );
    for i in 0..6 {
        app.create_user(&format!("t{i}"), "org-b").await;
    }
    // Only instance owners may copy the store.
    let r = app
        .post("/userd/v1/backup", &org_token("ORG_OWNER", "org-b"), None)
        .await;
    assert_error(&r, 403, 7, None);

    let acks: Acks = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut load: Vec<_> = (0..6)
        .map(|i| {
            tokio::spawn(toggle(
                app.clone(),
                format!("t{i}"),
                acks.clone(),
                stop.clone(),
            ))
        })
        .collect();
    load.push(tokio::spawn(create(
        app.clone(),
        "c".into(),
        acks.clone(),
        stop.clone(),
    )));
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;

    let backup_dir = tempfile::tempdir().unwrap();
    let dest = backup_dir.path().join("copy");
    let began = Instant::now();
    // Off the test's thread, so that the load goes on meanwhile.
    let (address, target) = (app.address.clone(), dest.clone());
    let (ok, out) = tokio::task::spawn_blocking(move || {
        run(std::process::Command::new(userd_bin())
            .arg("backup")
            .arg(&target)
            .args(["--url", &address, "--token", &admin_token()]))
    })
    .await
    .expect("backup command");
    let ended = Instant::now();
    assert!(ok, "{out}");
    assert!(out.contains("check passed"), "{out}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("load task");
    }
    let acks = std::mem::take(&mut *acks.lock().unwrap());
    let during = acks
        .iter()
        .filter(|(_, _, at)| *at > began && *at < ended)
        .count();
    let after = acks.iter().filter(|(_, _, at)| *at >= ended).count();
    eprintln!(
        "backup took {} ms; {} changes acknowledged before it, {during} during, {after} after",
        (ended - began).as_millis(),
        acks.len() - during - after
    );
    assert!(during > 0 && after > 0, "the server kept serving");
    // Commits went on during the copy, and the backup carries them.
    let log = app.log();
    let kept: u64 = log
        .lines()
        .rev()
        .find_map(|l| {
            let (before, _) = l.split_once(" writes made meanwhile")?;
            before.rsplit(' ').next()?.parse().ok()
        })
        .expect("the backup's log line");
    eprintln!("the backup carried {kept} writes made during its copy");
    assert!(kept > 0, "{log}");

    // The copy passes check on its own.
    let (ok, report) = run(std::process::Command::new(userd_bin())
        .args(["check", "--data-dir"])
        .arg(&dest));
    assert!(ok, "{report}");

    // Restore refuses the data directory of a running server.
    let (ok, out) = run(std::process::Command::new(userd_bin())
        .arg("restore")
        .arg(&dest)
        .arg("--data-dir")
        .arg(app.data_dir()));
    assert!(!ok && out.contains("stop the server"), "{out}");

    // Restored into a stopped server's directory: every change acknowledged before the backup
    // began is there.
    let restored_dir = tempfile::tempdir().unwrap();
    let (ok, out) = run(std::process::Command::new(userd_bin())
        .arg("restore")
        .arg(&dest)
        .arg("--data-dir")
        .arg(restored_dir.path().join("data")));
    assert!(ok, "{out}");
    let restored = spawn_app_in(restored_dir, &[]).await;
    let mut latest: std::collections::HashMap<&str, u64> = Default::default();
    for (id, sequence, at) in &acks {
        if *at <= began {
            let s = latest.entry(id.as_str()).or_default();
            *s = (*s).max(*sequence);
        }
    }
    assert!(latest.len() > 6, "creations and toggles before the backup");
    for (id, sequence) in &latest {
        let (_, got) = restored
            .state_of(id)
            .await
            .unwrap_or_else(|| panic!("{id} is missing from the restored store"));
        assert!(
            got >= *sequence,
            "{id}: restored at {got}, acknowledged {sequence}"
        );
    }
    // The restored server takes changes.
    assert_eq!(
        restored.change("t0", "delete", &admin_token()).await.status,
        200
    );
    let r = restored
        .post(
            "/v3alpha/users/search",
            &admin_token(),
            Some(&json!({"query": {"limit": 1}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn a_damaged_backup_is_refused_and_leaves_nothing() {
    if sled_only("the backup stream") {
        return;
    }
    let app = spawn_app().await;
    app.create_user("one", "org-b").await;
    let stream = app
        .client
        .post(format!("{}/userd/v1/backup", app.address))
        .bearer_auth(admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let bytes = stream.bytes().await.unwrap().to_vec();
    assert!(bytes.starts_with(b"USERD-BACKUP 1\n"));
    // A server answering with a cut stream: `userd backup` fails and writes nothing.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let cut = bytes[..bytes.len() - 20].to_vec();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut conn, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                cut.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&cut);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("copy");
    let (ok, out) = run(std::process::Command::new(userd_bin())
        .arg("backup")
        .arg(&dest)
        .args(["--url", &format!("http://127.0.0.1:{port}"), "--token", "x"]));
    assert!(!ok, "{out}");
    assert!(
        out.contains("incomplete") || out.contains("damaged"),
        "{out}"
    );
    assert!(!dest.exists(), "nothing is left behind");
    // A directory that exists already is refused and left as it is.
    let keep = dir.path().join("keep.txt");
    std::fs::write(&keep, "mine").unwrap();
    let (ok, out) = run(std::process::Command::new(userd_bin())
        .arg("backup")
        .arg(dir.path())
        .args(["--url", &app.address, "--token", &admin_token()]));
    assert!(!ok && out.contains("must not exist"), "{out}");
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "mine");
}
