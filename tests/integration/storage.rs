//! The store behaves the same on SQLite and PostgreSQL: case numbers, deduplication,
//! threading, quarantine and the outbox.

use crate::helpers;
use brevduva::domain::OutboxKind;
use brevduva::triage::Outcome;

async fn pipeline_behaves(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let app = helpers::app(dir.path(), database_url).await;
    let t = &app.triage;

    let first = t.process(helpers::citizen_mail(1), "test").await.unwrap();
    let Outcome::NewCase {
        case_id, number, ..
    } = first.clone()
    else {
        panic!("{first:?}")
    };
    assert_eq!(number.serial(), 1);
    assert_eq!(
        t.process(helpers::citizen_mail(1), "test").await.unwrap(),
        Outcome::Duplicate
    );
    let second = t.process(helpers::citizen_mail(2), "test").await.unwrap();
    let Outcome::NewCase { number: n2, .. } = second else {
        panic!("{second:?}")
    };
    assert_eq!(n2.serial(), 2);

    // The citizen answers our acknowledgement: the answer joins the case.
    let ack = app
        .store()
        .outbox_for_case(case_id)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == OutboxKind::Acknowledgement)
        .expect("acknowledged");
    let reply = format!(
        "From: medborgare1@example.se\r\nSubject: Re: Vi har tagit emot ditt meddelande\r\nMessage-ID: <reply1@example.se>\r\n\
         In-Reply-To: <{}>\r\n\r\nEn sak till.\r\n",
        ack.message_id
    );
    assert_eq!(
        t.process(reply.into_bytes(), "test").await.unwrap(),
        Outcome::Joined { case_id, number }
    );
    // A mail that names the case number in its subject joins it too.
    let by_number = format!("From: x@example.se\r\nSubject: Angående {number}\r\nMessage-ID: <n@example.se>\r\n\r\nTillägg\r\n");
    assert_eq!(
        t.process(by_number.into_bytes(), "test").await.unwrap(),
        Outcome::Joined { case_id, number }
    );

    // Broken input is quarantined once, with a reason.
    let garbage = b"\x00\x01\x02 not a mail".to_vec();
    let q = t.process(garbage.clone(), "test").await.unwrap();
    assert!(matches!(q, Outcome::Quarantined { .. }), "{q:?}");
    assert!(matches!(
        t.process(b"   ".to_vec(), "test").await.unwrap(),
        Outcome::Quarantined { .. }
    ));
    assert_eq!(
        t.process(b"   ".to_vec(), "test").await.unwrap(),
        Outcome::Duplicate
    );

    // A mail with NUL bytes and no Message-ID is stored on both backends (by content hash).
    let nul = b"From: a@example.se\r\nSubject: nul\x00byte\r\n\r\nText\x00 med nolla\r\n".to_vec();
    assert!(matches!(
        t.process(nul.clone(), "test").await.unwrap(),
        Outcome::NewCase { .. }
    ));
    assert_eq!(t.process(nul, "test").await.unwrap(), Outcome::Duplicate);

    // One batch (as from one IMAP fetch): a new mail, the same mail again, an answer to it,
    // and broken bytes are told apart inside the one transaction.
    let batch_first = b"From: c@example.se\r\nSubject: Sopor\r\nMessage-ID: <batch1@example.se>\r\n\r\nSoptunnan har inte t\xc3\xb6mts.\r\n".to_vec();
    let batch_answer = b"From: c@example.se\r\nSubject: Re: Sopor\r\nMessage-ID: <batch2@example.se>\r\nIn-Reply-To: <batch1@example.se>\r\n\r\nOch lock saknas.\r\n".to_vec();
    let outcomes = t
        .process_batch(
            vec![
                batch_first.clone(),
                batch_first,
                batch_answer,
                b"\x00\x02".to_vec(),
            ],
            "test",
        )
        .await
        .unwrap();
    let Outcome::NewCase {
        case_id: batch_case,
        number: batch_number,
        ..
    } = outcomes[0].clone()
    else {
        panic!("{outcomes:?}")
    };
    assert_eq!(batch_number.serial(), 4);
    assert_eq!(outcomes[1], Outcome::Duplicate);
    assert_eq!(
        outcomes[2],
        Outcome::Joined {
            case_id: batch_case,
            number: batch_number
        }
    );
    assert!(
        matches!(outcomes[3], Outcome::Quarantined { .. }),
        "{outcomes:?}"
    );

    let counts = app.store().counts().await.unwrap();
    assert_eq!(counts.cases, 4);
    assert_eq!(counts.messages, 7);
    let delivered = app.flush_outbox().await.unwrap();
    assert_eq!(delivered.sent as i64, counts.outbox);
    assert_eq!(app.store().counts().await.unwrap().outbox_pending, 0);
    let decisions = helpers::count(&app, "SELECT COUNT(*) FROM routing_decisions").await;
    assert_eq!(decisions, 4, "one decision per case");
    let knowledge = helpers::count(&app, "SELECT COUNT(*) FROM knowledge_entries").await;
    assert_eq!(
        knowledge as usize,
        app.triage.classifier().index().len(),
        "the database keeps every indexed entry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_behaves_the_same_on_sqlite() {
    pipeline_behaves(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_behaves_the_same_on_postgres() {
    let url = helpers::postgres_database().await;
    pipeline_behaves(Some(&url)).await;
}
