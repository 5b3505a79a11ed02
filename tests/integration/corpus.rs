//! Every message of the shared real-world corpus is taken in without a panic or a hang, and
//! the counts add up.

use crate::helpers;
use brevduva::cli::import;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_message_becomes_a_case_a_join_a_duplicate_or_a_quarantine_entry() {
    let dir = tempfile::tempdir().unwrap();
    let app = helpers::app(dir.path(), None).await;
    let corpus = helpers::shared().join("mail-corpus");
    let started = std::time::Instant::now();
    let report = import(&app, std::slice::from_ref(&corpus))
        .await
        .expect("import succeeds");
    let elapsed = started.elapsed();
    eprintln!(
        "corpus import: {report:?} in {elapsed:?} ({:.0} messages/s)",
        report.messages as f64 / elapsed.as_secs_f64()
    );

    assert!(report.files >= 1300, "{report:?}");
    assert!(report.messages >= report.files, "{report:?}");
    assert_eq!(
        report.messages,
        report.cases + report.joined_existing + report.duplicates + report.quarantined,
        "every message is accounted for: {report:?}"
    );
    let counts = app.store().counts().await.unwrap();
    assert_eq!(counts.cases as usize, report.cases);
    assert_eq!(
        counts.messages as usize,
        report.cases + report.joined_existing,
        "each case or join stores its message"
    );
    assert_eq!(counts.quarantined as usize, report.quarantined);
    let malformed_quarantined =
        helpers::count(&app, "SELECT COUNT(*) FROM quarantine WHERE reason <> ''").await;
    assert_eq!(
        malformed_quarantined, counts.quarantined,
        "every quarantine entry has a reason"
    );
    // Raw bytes are kept exactly.
    let stored: i64 =
        helpers::count(&app, "SELECT COALESCE(SUM(LENGTH(raw)), 0) FROM messages").await;
    assert!(stored > 0);

    // Importing again changes nothing: every message is recognised.
    let again = import(&app, &[corpus]).await.unwrap();
    assert_eq!(again.messages, report.messages);
    assert_eq!(again.duplicates, report.messages, "{again:?}");
    assert_eq!(app.store().counts().await.unwrap().cases, counts.cases);
}
