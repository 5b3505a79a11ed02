//! Real mail: the IMAP worker against a real Dovecot and the SMTP outbox against a real
//! smtp-sink (both started per test on free loopback ports by `servers`).

use crate::helpers;
use crate::servers::{Dovecot, SmtpSink};
use brevduva::app::Application;
use brevduva::config::{Config, Security};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A configuration reading kc's INBOX on the Dovecot and sending through the sink.
pub fn mail_config(dir: &Path, dovecot: &Dovecot, sink: &SmtpSink) -> Config {
    let mut config = crate::local_mail::local_mail_config(dir, dovecot.port(), sink.port());
    config.web.listen = "127.0.0.1:0".into();
    config.outbox.retry_base_seconds = 1;
    config
}

/// The service running in the background of a test.
pub struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The store, to look at while it runs.
    pub store: brevduva::store::Store,
}

impl Running {
    pub async fn start(config: Config) -> Running {
        let app = Application::build(config).await.expect("builds");
        let store = app.store().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(app.run(listener, rx));
        Running { stop, task, store }
    }

    pub async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("stops in time")
            .unwrap()
            .unwrap();
    }
}

/// Waits until `check` holds, polling; panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn header(raw: &[u8], name: &str) -> Option<String> {
    let parsed = mail_parser::MessageParser::default().parse(raw)?;
    parsed.header_raw(name).map(|v| v.trim().to_owned())
}

fn kind(raw: &[u8]) -> &'static str {
    match header(raw, "Message-ID") {
        Some(id) if id.starts_with("<forward.") => "forward",
        Some(id) if id.starts_with("<acknowledgement.") => "acknowledgement",
        _ => "other",
    }
}

async fn cases(store: &brevduva::store::Store) -> i64 {
    store.counts().await.unwrap().cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_appended_while_idling_is_triaged_forwarded_and_acknowledged() {
    let dovecot = Dovecot::start(false);
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(mail_config(dir.path(), &dovecot, &sink)).await;
    let store = running.store.clone();
    eventually(Duration::from_secs(20), "mailbox connected", || async {
        store
            .mailbox_statuses()
            .await
            .unwrap()
            .iter()
            .any(|m| m.state == "connected")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await; // now idling

    let started = Instant::now();
    dovecot.append("INBOX", &helpers::citizen_mail(1)); // a building permit question: forwarded
    let arrived = tokio::task::spawn_blocking(move || {
        let n = sink.wait_for(2, Duration::from_secs(30));
        (n, sink)
    });
    let (n, sink) = arrived.await.unwrap();
    let latency = started.elapsed();
    eprintln!("idle to forward and acknowledgement at the smtp server: {latency:?}");
    assert_eq!(n, 2, "a forward and an acknowledgement");
    let messages = sink.messages();
    let ack = messages
        .iter()
        .find(|m| kind(m) == "acknowledgement")
        .expect("acknowledgement sent");
    assert_eq!(
        header(ack, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert!(header(ack, "X-Loop").is_some());
    let forward = messages
        .iter()
        .find(|m| kind(m) == "forward")
        .expect("forward sent");
    let subject = mail_parser::MessageParser::default()
        .parse(forward)
        .unwrap()
        .subject()
        .unwrap()
        .to_owned();
    assert!(subject.starts_with("[KC-"), "{subject}");
    assert_eq!(
        header(forward, "Reply-To").as_deref(),
        Some("medborgare1@example.se")
    );
    assert_eq!(
        dovecot.count("INBOX"),
        (1, 1),
        "kept and marked seen, not deleted"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_1000_messages_is_processed_exactly_once() {
    let dovecot = Dovecot::start(false);
    let sink = SmtpSink::start();
    let mails: Vec<Vec<u8>> = (0..1000).map(helpers::citizen_mail).collect();
    dovecot.append_many("INBOX", &mails);
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(mail_config(dir.path(), &dovecot, &sink)).await;
    let store = running.store.clone();
    let started = Instant::now();
    eventually(
        Duration::from_secs(240),
        "1000 cases and an empty outbox",
        || async {
            let c = store.counts().await.unwrap();
            c.cases == 1000 && c.outbox_pending == 0
        },
    )
    .await;
    eprintln!("1000-message backlog: {:?}", started.elapsed());
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.messages, 1000);
    let sent = sink.wait_for(counts.outbox as usize, Duration::from_secs(30));
    assert_eq!(
        sent as i64, counts.outbox,
        "every outbox entry reached the server once"
    );
    assert_eq!(dovecot.count("INBOX"), (1000, 1000));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_restarting_and_smtp_failing_temporarily_lose_nothing() {
    let mut dovecot = Dovecot::start(false);
    let mut sink = SmtpSink::start_rejecting_temporarily();
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(mail_config(dir.path(), &dovecot, &sink)).await;
    let store = running.store.clone();
    for i in 0..5 {
        dovecot.append("INBOX", &helpers::citizen_mail(i));
    }
    eventually(Duration::from_secs(30), "first five cases", || async {
        cases(&store).await == 5
    })
    .await;
    dovecot.restart();
    for i in 5..10 {
        dovecot.append("INBOX", &helpers::citizen_mail(i));
    }
    eventually(
        Duration::from_secs(90),
        "ten cases after the restart",
        || async { cases(&store).await == 10 },
    )
    .await;
    let failed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE attempts > 0 AND status = 'pending'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(
        failed > 0,
        "the sink refused temporarily, so entries wait for a retry"
    );
    sink.switch_to_accepting();
    eventually(
        Duration::from_secs(120),
        "outbox delivered after recovery",
        || async { store.counts().await.unwrap().outbox_pending == 0 },
    )
    .await;
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.messages, 10);
    let dead: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'dead'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(dead, 0);
    assert_eq!(
        sink.wait_for(counts.outbox as usize, Duration::from_secs(30)) as i64,
        counts.outbox
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_smtp_refusal_ends_in_the_dead_letter_state_with_the_reason() {
    let dovecot = Dovecot::start(false);
    let sink = SmtpSink::start_rejecting_permanently();
    let dir = tempfile::tempdir().unwrap();
    let app = Application::build(mail_config(dir.path(), &dovecot, &sink))
        .await
        .unwrap();
    app.triage
        .process(helpers::citizen_mail(3), "test")
        .await
        .unwrap();
    let report = app.flush_outbox().await.unwrap();
    assert_eq!(report.sent, 0);
    assert!(report.dead >= 1, "{report:?}");
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status, last_error FROM outbox ORDER BY id LIMIT 1")
            .fetch_one(app.store().pool())
            .await
            .unwrap();
    assert_eq!(status, "dead");
    let error = error.expect("the server's answer is kept");
    assert!(error.contains("550"), "{error}");
    // Staff can see it and send it again.
    let dead = app.store().dead_letters(10).await.unwrap();
    assert_eq!(dead.len() as i64, report.dead as i64);
    let queued = app
        .store()
        .retry_dead(Some(dead[0].0.id), brevduva::store::now())
        .await
        .unwrap();
    assert_eq!(queued, 1);
    assert_eq!(app.store().counts().await.unwrap().outbox_pending, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_and_starttls_connections_are_verified_against_the_ca() {
    let dovecot = Dovecot::start(true);
    let sink = SmtpSink::start();
    for (security, port) in [
        (Security::Tls, dovecot.tls_port().unwrap()),
        (Security::Starttls, dovecot.port()),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = mail_config(dir.path(), &dovecot, &sink);
        config.imap[0].security = security;
        config.imap[0].port = port;
        config.imap[0].host = "localhost".into();
        config.imap[0].ca_file = dovecot.ca_pem_path();
        let account = brevduva::source::imap::ImapAccount::new(config.imap[0].clone()).unwrap();
        let mut session = account
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{security:?}: {e}"));
        session.select("INBOX").await.unwrap();
        session.logout().await.unwrap();
        // Without the CA the server is not trusted.
        config.imap[0].ca_file = None;
        let untrusted = brevduva::source::imap::ImapAccount::new(config.imap[0].clone()).unwrap();
        assert!(
            untrusted.connect().await.is_err(),
            "{security:?} must verify the certificate"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_responder_answering_our_acknowledgements_does_not_start_a_loop() {
    let dovecot = Dovecot::start(false);
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(mail_config(dir.path(), &dovecot, &sink)).await;
    let store = running.store.clone();
    dovecot.append("INBOX", &helpers::citizen_mail(7));
    let sink = tokio::task::spawn_blocking(move || {
        sink.wait_for(1, Duration::from_secs(30));
        sink
    })
    .await
    .unwrap();
    eventually(Duration::from_secs(30), "outbox delivered", || async {
        store.counts().await.unwrap().outbox_pending == 0
    })
    .await;
    let before = sink.messages().len();
    let ack = sink
        .messages()
        .into_iter()
        .find(|m| kind(m) == "acknowledgement")
        .expect("acknowledged");
    let ack_id = header(&ack, "Message-ID").unwrap();

    // 1. An out-of-office reply to our acknowledgement, properly marked.
    let ooo = format!(
        "From: medborgare7@example.se\r\nTo: kontaktcenter@kommun.example\r\nSubject: Automatiskt svar: Vi har tagit emot\r\n\
         Message-ID: <ooo1@example.se>\r\nIn-Reply-To: {ack_id}\r\nAuto-Submitted: auto-replied\r\n\r\nJag är borta.\r\n"
    );
    // 2. A badly behaved responder: no headers, no threading, but it quotes our X-Loop back.
    let rude = "From: robot@example.net\r\nTo: kontaktcenter@kommun.example\r\nSubject: Re: ditt meddelande\r\n\
         Message-ID: <rude1@example.net>\r\nX-Loop: kontaktcenter@kommun.example\r\n\r\nThanks for your mail\r\n";
    // 3. A responder that answers every mail without marks: rate-limited per sender per day.
    dovecot.append("INBOX", ooo.as_bytes());
    dovecot.append("INBOX", rude.as_bytes());
    for i in 0..8 {
        let m = format!("From: loop@example.org\r\nTo: kontaktcenter@kommun.example\r\nSubject: Re: svar {i}\r\nMessage-ID: <loop{i}@example.org>\r\n\r\nHej igen {i}\r\n");
        dovecot.append("INBOX", m.as_bytes());
    }
    eventually(Duration::from_secs(30), "all mail taken in", || async {
        store.counts().await.unwrap().messages == 11
    })
    .await;
    eventually(Duration::from_secs(30), "outbox delivered", || async {
        store.counts().await.unwrap().outbox_pending == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let acks_after: Vec<_> = sink
        .messages()
        .into_iter()
        .skip(before)
        .filter(|m| kind(m) == "acknowledgement")
        .collect();
    let to_loop = acks_after
        .iter()
        .filter(|m| header(m, "To").is_some_and(|t| t.contains("loop@example.org")))
        .count();
    assert_eq!(to_loop, 5, "the daily limit per sender holds");
    assert_eq!(
        acks_after.len(),
        5,
        "nothing answered the out-of-office or the looping robot"
    );
    running.stop().await;
}

#[test]
fn sigkill_during_an_imap_backlog_gives_one_case_one_forward_and_at_most_one_acknowledgement_per_mail(
) {
    const MAILS: usize = 1000;
    let dovecot = Dovecot::start(false);
    let sink = SmtpSink::start();
    let mails: Vec<Vec<u8>> = (0..MAILS).map(helpers::citizen_mail).collect();
    dovecot.append_many("INBOX", &mails);
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("brevduva.toml");
    std::fs::write(
        &config_path,
        format!(
            "[storage]\ndata_dir = \"data\"\n[maildir]\nenabled = false\n[web]\nlisten = \"127.0.0.1:0\"\n\
             [outbox]\nretry_base_seconds = 1\n\
             [[imap]]\nname = \"kc\"\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"plain\"\nusername = \"kc\"\npassword = \"secret\"\nbatch_size = 25\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"plain\"\nauth = \"none\"\n",
            dovecot.port(),
            sink.port()
        ),
    )
    .unwrap();
    let binary = env!("CARGO_BIN_EXE_brevduva");
    let spawn = || {
        std::process::Command::new(binary)
            .args(["run", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut delay = 700u64;
    for _ in 0..6 {
        let mut child = spawn();
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        delay = 400 + (delay * 7919 + 131) % 1500;
    }
    // Then let it finish.
    let mut child = spawn();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let data = dir.path().join("data");
    rt.block_on(async {
        let app = helpers::app(&data, None).await;
        eventually(
            Duration::from_secs(300),
            "backlog done and outbox empty",
            || async {
                let c = app.store().counts().await.unwrap();
                c.cases == MAILS as i64 && c.outbox_pending == 0
            },
        )
        .await;
    });
    child.kill().unwrap();
    child.wait().unwrap();
    rt.block_on(async {
        let app = helpers::app(&data, None).await;
        let counts = app.store().counts().await.unwrap();
        assert_eq!(counts.cases as usize, MAILS, "one case per mail");
        assert_eq!(counts.messages as usize, MAILS);
        let per_case = |kind: &'static str| {
            let sql = format!("SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM outbox WHERE kind = '{kind}' GROUP BY case_id) t");
            let app = &app;
            async move { helpers::count(app, &sql).await }
        };
        assert!(per_case("forward").await <= 1);
        assert!(per_case("acknowledgement").await <= 1);
        // At the server: one distinct forward Message-ID per forwarded case. A resend after a kill
        // between sending and recording carries the same Message-ID, so it is recognisable.
        let received = sink.wait_for(counts.outbox as usize, Duration::from_secs(30));
        let mut ids = std::collections::HashMap::<String, usize>::new();
        for m in sink.messages() {
            *ids.entry(header(&m, "Message-ID").unwrap_or_default()).or_default() += 1;
        }
        assert_eq!(ids.len() as i64, counts.outbox, "every outbox entry arrived, under its own Message-ID");
        let resends = received - ids.len();
        eprintln!("{MAILS} mails, {} outbox entries, {received} received, {resends} recognisable resends", counts.outbox);
        assert!(resends <= 7 * 4, "resends only around the kills");
    });
    assert_eq!(
        dovecot.count("INBOX"),
        (MAILS, MAILS),
        "all kept, all marked seen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_uidvalidity_resynchronises_by_message_id_without_duplicates() {
    let mut dovecot = Dovecot::start(false);
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let config = mail_config(dir.path(), &dovecot, &sink);
    let running = Running::start(config.clone()).await;
    let store = running.store.clone();
    for i in 0..3 {
        dovecot.append("INBOX", &helpers::citizen_mail(i));
    }
    eventually(
        Duration::from_secs(30),
        "three cases checkpointed",
        || async {
            store
                .checkpoint("kc", "INBOX")
                .await
                .unwrap()
                .is_some_and(|c| c.last_uid == 3)
        },
    )
    .await;
    let before = store
        .checkpoint("kc", "INBOX")
        .await
        .unwrap()
        .expect("checkpoint written");
    running.stop().await;

    // Dovecot loses its UID list: it hands out a new UIDVALIDITY and new UIDs for the same mail.
    let inbox = dovecot.dir().join("mail").join("kc");
    for entry in std::fs::read_dir(&inbox).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("dovecot-uidlist")
            || name.starts_with("dovecot.index")
            || name.starts_with("dovecot-uidvalidity")
        {
            std::fs::remove_file(&path).unwrap();
        }
    }
    std::thread::sleep(Duration::from_millis(1100));
    dovecot.restart();

    let running = Running::start(config).await;
    let store = running.store.clone();
    dovecot.append("INBOX", &helpers::citizen_mail(3));
    eventually(Duration::from_secs(30), "the new mail's case", || async {
        cases(&store).await == 4
    })
    .await;
    eventually(
        Duration::from_secs(30),
        "checkpoint under the new uidvalidity",
        || async {
            store
                .checkpoint("kc", "INBOX")
                .await
                .unwrap()
                .is_some_and(|c| c.uid_validity != before.uid_validity && c.last_uid >= 4)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counts = store.counts().await.unwrap();
    assert_eq!(
        counts.cases, 4,
        "the three earlier mails were recognised, not duplicated"
    );
    assert_eq!(counts.messages, 4);
    running.stop().await;
}
