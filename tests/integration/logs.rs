//! No personal data in logs: addresses, subjects and text of citizens' mail never appear,
//! even at debug level.

use std::process::Command;

#[test]
fn logs_carry_no_addresses_subjects_or_text() {
    let dir = tempfile::tempdir().unwrap();
    let mails = concat!(env!("CARGO_MANIFEST_DIR"), "/demo/mails");
    let out = Command::new(env!("CARGO_BIN_EXE_brevduva"))
        .args(["import", "--data-dir", dir.path().to_str().unwrap(), mails])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(out.status.success());
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.contains("case created"),
        "the log is not empty: {logs}"
    );
    for entry in std::fs::read_dir(mails).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "eml") {
            continue;
        }
        let parsed = brevduva::ingest::parse_mail(&std::fs::read(&path).unwrap(), 1 << 24).unwrap();
        if let Some(from) = &parsed.from {
            assert!(
                !logs.contains(from.as_str()),
                "{} leaks its sender",
                path.display()
            );
        }
        if parsed.subject.len() > 8 {
            assert!(
                !logs.contains(&parsed.subject),
                "{} leaks its subject",
                path.display()
            );
        }
        let line = parsed.text.lines().find(|l| l.len() > 30).unwrap_or("");
        if !line.is_empty() {
            assert!(
                !logs.contains(line.trim()),
                "{} leaks its text",
                path.display()
            );
        }
    }
}

#[test]
fn logs_are_json_lines_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let mails = concat!(env!("CARGO_MANIFEST_DIR"), "/demo/mails");
    let out = Command::new(env!("CARGO_BIN_EXE_brevduva"))
        .args(["import", "--data-dir", dir.path().to_str().unwrap(), mails])
        .env("RUST_LOG", "info")
        .env("BREVDUVA_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(out.status.success());
    let logs = String::from_utf8_lossy(&out.stderr);
    let mut lines = 0;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            value["level"].is_string() && value["fields"].is_object(),
            "{line}"
        );
        lines += 1;
    }
    assert!(lines > 10, "{logs}");
}
