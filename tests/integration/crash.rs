//! Killing the process at any moment and starting again loses no message and creates no
//! duplicate case or outbox entry.

use crate::helpers;
use brevduva::source::Maildir;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MESSAGES: usize = 150;

fn write_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("brevduva.toml");
    std::fs::write(
        &path,
        "[storage]\ndata_dir = \"data\"\n[maildir]\npath = \"maildir\"\npoll_seconds = 1\n[web]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    path
}

#[test]
fn killing_the_process_at_any_moment_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let maildir = Maildir::open(&dir.path().join("maildir")).unwrap();
    for i in 0..MESSAGES {
        maildir
            .deliver(&format!("{i:05}.test"), &helpers::citizen_mail(i))
            .unwrap();
    }
    // A few messages are delivered twice under other names (the same mail fetched twice).
    for i in 0..5 {
        maildir
            .deliver(&format!("{i:05}.again"), &helpers::citizen_mail(i))
            .unwrap();
    }

    let binary = env!("CARGO_BIN_EXE_brevduva");
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(240);
    // Kill at spread-out moments: while starting, mid-batch, while delivering. A start takes
    // longer on a slow or busy machine (the index and the model are built first): when a
    // run took nothing in, the next ones are given longer, so the backlog still moves.
    let mut delay_ms = 150u64;
    let mut slack_ms = 0u64;
    let mut waiting = maildir.waiting().unwrap().len();
    while waiting > 0 {
        assert!(Instant::now() < deadline, "backlog not processed in time");
        let mut child = Command::new(binary)
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms + slack_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        delay_ms = 150 + (delay_ms * 7919 + 131) % 700;
        let now_waiting = maildir.waiting().unwrap().len();
        if now_waiting == waiting {
            slack_ms += 250;
        }
        waiting = now_waiting;
    }
    assert!(
        kills >= 2,
        "the backlog should survive several kills, got {kills}"
    );

    // One last orderly pass delivers whatever the kills left in the outbox.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let status = Command::new(binary)
        .args(["import", "--config"])
        .arg(&config)
        .arg(&empty)
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(status.success());

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let app = helpers::app(&dir.path().join("data"), None).await;
        let counts = app.store().counts().await.unwrap();
        assert_eq!(counts.cases as usize, MESSAGES, "one case per message");
        assert_eq!(counts.messages as usize, MESSAGES, "each message stored once");
        assert_eq!(counts.outbox_pending, 0);
        let per_case_max = |kind: &'static str| {
            let sql = format!("SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM outbox WHERE kind = '{kind}' GROUP BY case_id) t");
            let app = &app;
            async move { helpers::count(app, &sql).await }
        };
        assert!(per_case_max("forward").await <= 1, "at most one forward per case");
        assert_eq!(per_case_max("acknowledgement").await, 1, "exactly one acknowledgement per case");
        let acks = helpers::count(&app, "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement'").await;
        assert_eq!(acks as usize, MESSAGES);
        // Every sent entry is one file; a resend replaced its file instead of adding one.
        let files = std::fs::read_dir(dir.path().join("data/outbox")).unwrap().filter_map(|e| e.ok()).filter(|e| e.path().extension().is_some_and(|x| x == "eml")).count();
        assert_eq!(files as i64, counts.outbox);
        let processed = std::fs::read_dir(dir.path().join("maildir/cur")).unwrap().count();
        assert_eq!(processed, MESSAGES + 5, "every message moved to cur/, none deleted");
    });
    eprintln!("survived {kills} kills");
}
