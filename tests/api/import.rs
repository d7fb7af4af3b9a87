//! `userd import` through the real binary: counts, bad lines by number, and resume-safety
//! (importing the same file twice reports duplicates and changes nothing).

use crate::helpers::*;
use std::process::Command;

fn import(app: &TestApp, file: &std::path::Path, extra: &[&str]) -> (bool, String, String) {
    let out = app
        .command()
        .arg("import")
        .arg(file)
        .arg("--data-dir")
        .arg(app.data_dir())
        .args(extra)
        .env("USERD_STORAGE__SHARDS", "4")
        .env("USERD_AUTH__HS256_SECRET", SECRET)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn import_counts_reports_bad_lines_and_is_safe_to_repeat() {
    let mut app = spawn_app().await;
    app.create_user("already-here", "org-a").await;
    app.kill();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    let mut lines = Vec::new();
    for i in 0..500 {
        lines.push(format!(r#"{{"userId": "imp-{i}", "organization": {{"orgId": "org-i"}}, "schemaId": "person", "data": {{"i": {i}}}}}"#));
    }
    lines.insert(10, "not json".into());
    lines.insert(20, r#"{"userId": "no-schema", "data": {}}"#.into());
    lines.insert(
        30,
        r#"{"userId": "already-here", "schemaId": "s", "data": {}}"#.into(),
    );
    lines.insert(40, String::new());
    lines.push(r#"{"schemaId": "s", "data": {"generated": true}}"#.into());
    std::fs::write(&file, lines.join("\n")).unwrap();

    let (ok, out, err) = import(&app, &file, &["--org", "org-default"]);
    assert!(!ok, "bad lines make the exit status non-zero");
    assert!(
        out.contains("imported 501 users (1 duplicates, 2 bad lines)"),
        "{out}"
    );
    assert!(err.contains("line 11: not JSON"), "{err}");
    assert!(err.contains("line 21:"), "{err}");

    // Again: everything is a duplicate, nothing changes.
    let (_, out, _) = import(&app, &file, &["--org", "org-default"]);
    assert!(
        out.contains("imported 0 users (502 duplicates, 2 bad lines)"),
        "{out}"
    );
    let (ok, report) = app.check();
    assert!(ok, "{report}");
    assert!(report.contains("checked 502 users"), "{report}");

    app.start_again();
    let admin = admin_token();
    let r = app.get("/v3alpha/users/imp-499", &admin).await;
    assert_eq!(r.body["user"]["data"], serde_json::json!({"i": 499}));
    assert_eq!(
        r.body["details"]["resourceOwner"],
        serde_json::json!("org-i")
    );
    assert_eq!(r.body["details"]["sequence"], serde_json::json!("1"));
    assert_eq!(app.change("imp-7", "deactivate", &admin).await.status, 200);
    // The line without an id got a generated one, in the --org organization.
    let r = app
        .post(
            "/v3alpha/users/search",
            &admin,
            Some(&serde_json::json!({"filters": [{"organizationIdFilter": {"organizationId": "org-default"}}]})),
        )
        .await;
    assert_eq!(r.body["details"]["totalResult"], serde_json::json!("1"));
    // Imported users are counted in the state gauges.
    let m = app
        .client
        .get(format!("{}/debug/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("userd_users{state=\"USER_STATE_ACTIVE\"} 501"),
        "{m}"
    );
}

#[tokio::test]
async fn import_reads_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(userd_bin())
        .args(["import", "-", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("USERD_STORAGE__SHARDS", "4")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..20 {
            writeln!(stdin, r#"{{"userId": "s{i}", "organization": {{"orgId": "o"}}, "schemaId": "s", "data": {{}}}}"#).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("imported 20 users (0 duplicates, 0 bad lines)"));
}
