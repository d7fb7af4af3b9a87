//! A full disk, for real: the data directory is a small tmpfs that a filler file fills. While
//! full, changes answer 503 and readiness says not ready (reads may answer 503 too: sled's IO
//! errors stick); once space is freed, userd recovers by itself (no restart), every change
//! answered 201 is there, and no change answered "not applied" is ever visible, before or after
//! recovery or a restart. Needs root to mount the tmpfs; skipped with a message otherwise.

use crate::helpers::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs mounted at a path, unmounted (lazily, whatever still holds it) on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(at)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        // The temporary directory around it could not be removed while it was mounted.
        if let Some(parent) = self.0.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

/// Fill the filesystem holding `path` with a file of zeros until it is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("filler file");
    let chunk = vec![0u8; 1 << 20];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
}

async fn ready_status(app: &TestApp) -> u16 {
    app.get("/debug/ready", &admin_token()).await.status
}

async fn wait_ready(app: &TestApp, want: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if ready_status(app).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn create(app: &TestApp, id: &str) -> (u16, Option<String>) {
    let r = app
        .post(
            "/v3alpha/users",
            &admin_token(),
            Some(&json!({
                "userId": id,
                "organization": {"orgId": "org-a"},
                "schemaId": "person",
                // Large enough that sled needs new space soon.
                "data": {"name": "n".repeat(400)},
            })),
        )
        .await;
    let error_id = r.body["details"][0]["id"].as_str().map(str::to_string);
    if r.status != 201 {
        assert_eq!(r.status, 503, "{id}: {:?}", r.body);
        assert_eq!(r.body["code"], json!(14), "{:?}", r.body);
    }
    (r.status, error_id)
}

async fn status_of(app: &TestApp, id: &str) -> u16 {
    let r = app
        .get(&format!("/v3alpha/users/{id}"), &admin_token())
        .await;
    if r.status == 503 {
        assert_eq!(r.body["code"], json!(14), "{:?}", r.body);
        assert_eq!(
            r.body["details"][0]["id"],
            json!("USERD-STORE-0003"),
            "{:?}",
            r.body
        );
    }
    r.status
}

#[tokio::test]
async fn a_full_disk_answers_503_and_userd_recovers_once_space_is_freed() {
    if sled_only("a_full_disk_answers_503_and_userd_recovers_once_space_is_freed") {
        return;
    }
    full_disk(&[]).await;
}

#[tokio::test]
async fn a_full_disk_under_periodic_durability_recovers_too() {
    if sled_only("a_full_disk_under_periodic_durability_recovers_too") {
        return;
    }
    full_disk(&[("USERD_STORAGE__DURABILITY", "periodic")]).await;
}

async fn full_disk(env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let _mount = match Tmpfs::mount(&dir.path().join("data"), "48m") {
        Ok(m) => m,
        Err(e) => {
            eprintln!("skipped: cannot mount a tmpfs for the data directory ({e}); needs root");
            return;
        }
    };
    let mut app = spawn_app_in(dir, env).await;
    for i in 0..20 {
        app.create_user(&format!("before-{i}"), "org-a").await;
    }
    assert_eq!(ready_status(&app).await, 200);

    let filler = app.data_dir().join("filler");
    fill(&filler);
    // Create until the store refuses (sled needs new space within a checkpoint or two).
    let mut answers: BTreeMap<String, (u16, Option<String>)> = BTreeMap::new();
    let started = Instant::now();
    let mut refused_in_a_row = 0;
    for i in 0..20_000 {
        let id = format!("full-{i}");
        let answer = create(&app, &id).await;
        refused_in_a_row = if answer.0 == 503 {
            refused_in_a_row + 1
        } else {
            0
        };
        answers.insert(id, answer);
        if refused_in_a_row >= 20 || started.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    assert!(refused_in_a_row >= 20, "the full disk was never noticed");
    let not_applied: Vec<&String> = answers
        .iter()
        .filter(|(_, (_, e))| e.as_deref() == Some("USERD-STORE-0001"))
        .map(|(id, _)| id)
        .collect();
    let accepted: Vec<&String> = answers
        .iter()
        .filter(|(_, (s, _))| *s == 201)
        .map(|(id, _)| id)
        .collect();
    assert!(!not_applied.is_empty());
    assert!(
        wait_ready(&app, 503, Duration::from_secs(5)).await,
        "readiness must say not ready while writes fail"
    );
    // Nothing answered "not applied" is visible (a read answers 404, or 503 while sled is
    // broken).
    for id in &not_applied {
        assert_ne!(
            status_of(&app, id).await,
            200,
            "{id} was answered not applied"
        );
    }
    // Still full: still refused, still not ready.
    assert_eq!(create(&app, "while-full").await.0, 503);
    assert_ne!(status_of(&app, "while-full").await, 200);
    assert_eq!(ready_status(&app).await, 503);

    // Free the space: userd recovers by itself.
    std::fs::remove_file(&filler).expect("remove filler");
    let freed = Instant::now();
    assert!(
        wait_ready(&app, 200, Duration::from_secs(15)).await,
        "not ready 15 s after space was freed: {}",
        app.log()
    );
    eprintln!(
        "disk full: {} creates accepted, {} refused; ready again {:?} after space was freed",
        accepted.len(),
        answers.len() - accepted.len(),
        freed.elapsed()
    );
    for id in &accepted {
        assert_eq!(status_of(&app, id).await, 200, "{id} was accepted");
    }
    for id in &not_applied {
        assert_eq!(
            status_of(&app, id).await,
            404,
            "{id} was answered not applied"
        );
    }
    // Changes work again, including one that was refused before.
    assert_eq!(create(&app, "after-0").await.0, 201);
    assert_eq!(
        app.change("before-1", "deactivate", &admin_token())
            .await
            .status,
        200
    );

    // A clean stop leaves a store that checks clean and holds exactly what was acknowledged.
    app.signal("-TERM");
    let status = app
        .wait_exit(Duration::from_secs(15))
        .expect("userd exits after SIGTERM");
    assert!(status.success(), "exit status {status:?}: {}", app.log());
    let (clean, report) = app.check();
    assert!(clean, "{report}");
    app.start_again();
    for id in &accepted {
        assert_eq!(status_of(&app, id).await, 200, "{id} after restart");
    }
    for id in &not_applied {
        assert_eq!(status_of(&app, id).await, 404, "{id} after restart");
    }
    assert_eq!(create(&app, not_applied[0]).await.0, 201);
}
