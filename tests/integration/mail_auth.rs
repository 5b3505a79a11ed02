//! Real mail with real authentication: the SMTP outbox over STARTTLS and implicit TLS with
//! AUTH PLAIN against Dovecot's submission service, and SASL XOAUTH2 against Dovecot for the
//! IMAP worker and the SMTP outbox. Dovecot relays what it accepts to a real smtp-sink.
//!
//! The identity provider that issues and checks OAuth 2.0 tokens (Microsoft 365, an OAuth
//! server) cannot exist on this machine: [`IdentityProvider`] stands in for its token
//! introspection endpoint. Brevduva gets its token from a `token_command`.

use crate::helpers;
use crate::mail::{eventually, Running};
use crate::servers::{Dovecot, DovecotOptions, SinkMessage, SmtpSink, IMAP_PASSWORD, IMAP_USER};
use brevduva::app::Application;
use brevduva::config::{AuthMethod, Config, OAuthConfig, Secret, Security, SmtpConfig};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The token the identity provider stand-in accepts for user kc.
const GOOD_TOKEN: &str = "ya29.kontaktcenter-good-token";
/// A token the identity provider stand-in does not know (expired, revoked, another tenant's).
const WRONG_TOKEN: &str = "ya29.expired-token";

/// Stand-in for the identity provider; Dovecot itself is real. A token introspection endpoint
/// (RFC 7662) on a free loopback port, as Dovecot's `oauth2` passdb asks it with
/// `introspection_mode = post`: `POST /introspect` with the form `token=...`, answered
/// `{"active": true, "username": "kc"}` for [`GOOD_TOKEN`] and `{"active": false}` for anything
/// else. Hand-written HTTP/1.1, one request per connection (`Connection: close`).
struct IdentityProvider {
    url: String,
    asked: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl IdentityProvider {
    async fn start() -> IdentityProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the identity provider stand-in");
        let url = format!(
            "http://127.0.0.1:{}/introspect",
            listener.local_addr().unwrap().port()
        );
        let asked = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&asked);
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let record = Arc::clone(&record);
                tokio::spawn(async move {
                    if let Some(token) = introspect(socket).await {
                        record
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(token);
                    }
                });
            }
        });
        IdentityProvider { url, asked, task }
    }

    /// The tokens Dovecot asked about, in order.
    fn asked(&self) -> Vec<String> {
        self.asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for IdentityProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers one introspection request; returns the token asked about.
async fn introspect(mut socket: tokio::net::TcpStream) -> Option<String> {
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    let (head_end, length) = loop {
        let n = socket.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&buffer[..n]);
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while request.len() < head_end + length {
        let n = socket.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&buffer[..n]);
    }
    let head = String::from_utf8_lossy(&request[..head_end]);
    assert!(
        head.starts_with("POST /introspect HTTP/1.1\r\n"),
        "dovecot asks with POST: {head}"
    );
    let body = String::from_utf8_lossy(&request[head_end..head_end + length]).into_owned();
    // The test tokens need no percent-decoding (letters, digits, '.', '-').
    let token = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .unwrap_or_default()
        .to_owned();
    let answer = if token == GOOD_TOKEN {
        format!(r#"{{"active": true, "username": "{IMAP_USER}"}}"#)
    } else {
        r#"{"active": false}"#.to_owned()
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
    socket.write_all(response.as_bytes()).await.ok()?;
    let _ = socket.shutdown().await;
    Some(token)
}

/// A `token_command` that prints `token`.
fn token_command(token: &str) -> OAuthConfig {
    OAuthConfig {
        token_command: vec!["sh".into(), "-c".into(), format!("printf '%s' '{token}'")],
        ..OAuthConfig::default()
    }
}

/// Data in `dir`, no mail intake, sending through Dovecot's submission service on `port` as
/// user kc with `security` and AUTH PLAIN/LOGIN (change `auth` for XOAUTH2).
fn submission_config(dir: &Path, port: u16, security: Security, ca_file: Option<&Path>) -> Config {
    let mut config = helpers::config(dir, None);
    config.maildir.enabled = false;
    config.web.listen = "127.0.0.1:0".into();
    config.outbox.retry_base_seconds = 1;
    config.smtp = Some(SmtpConfig {
        // The certificate names localhost (and 127.0.0.1).
        host: "localhost".into(),
        port,
        security,
        ca_file: ca_file.map(Path::to_owned),
        auth: AuthMethod::Password,
        username: IMAP_USER.into(),
        password: Secret::new(IMAP_PASSWORD),
        timeout_seconds: 10,
        ..SmtpConfig::default()
    });
    config
}

/// An outbox entry as stored: kind, Message-ID with angle brackets, recipient, status,
/// attempts, last error.
#[derive(Debug)]
struct Entry {
    kind: String,
    message_id: String,
    recipient: String,
    status: String,
    attempts: i64,
    last_error: Option<String>,
}

async fn outbox(store: &brevduva::store::Store) -> Vec<Entry> {
    type Row = (String, String, String, String, i64, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT kind, message_id, recipient, status, attempts, last_error FROM outbox ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .expect("read the outbox");
    rows.into_iter()
        .map(
            |(kind, message_id, recipient, status, attempts, last_error)| Entry {
                kind,
                message_id: format!("<{}>", message_id.trim_matches(['<', '>'])),
                recipient,
                status,
                attempts,
                last_error,
            },
        )
        .collect()
}

fn message_id(message: &SinkMessage) -> String {
    mail_parser::MessageParser::default()
        .parse(&message.raw)
        .and_then(|parsed| parsed.header_raw("Message-ID").map(|v| v.trim().to_owned()))
        .unwrap_or_default()
}

/// Waits (polling) until the sink has received a message with each of `ids`; returns those
/// messages. Panics with what did arrive after 30 s.
async fn arrived(sink: &SmtpSink, ids: &BTreeSet<String>) -> Vec<SinkMessage> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let received = sink.received();
        let wanted: Vec<SinkMessage> = received
            .iter()
            .filter(|m| ids.contains(&message_id(m)))
            .cloned()
            .collect();
        let found: BTreeSet<String> = wanted.iter().map(message_id).collect();
        if &found == ids {
            return wanted;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expected {ids:?} at smtp-sink, it received {:?}",
            received.iter().map(message_id).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks that every entry of `entries` reached the sink exactly once, through Dovecot's
/// submission service over TLS and after AUTH, addressed as stored.
async fn assert_delivered_through_submission(sink: &SmtpSink, entries: &[Entry], from: &str) {
    let kinds: BTreeSet<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["acknowledgement", "forward"]),
        "a building permit question is forwarded and acknowledged: {entries:?}"
    );
    let ids: BTreeSet<String> = entries.iter().map(|e| e.message_id.clone()).collect();
    let messages = arrived(sink, &ids).await;
    assert_eq!(
        messages.len(),
        entries.len(),
        "each sent once: {messages:?}"
    );
    for entry in entries {
        assert_eq!(entry.status, "sent", "{entry:?}");
        let message = messages
            .iter()
            .find(|m| message_id(m) == entry.message_id)
            .expect("arrived");
        assert_eq!(message.rcpt_to, vec![entry.recipient.clone()], "{entry:?}");
        assert_eq!(message.mail_from, from);
        // Dovecot's own Received header: ESMTPSA is ESMTP over TLS (S) after AUTH (A)
        // (RFC 3848), so the message really went through the submission service.
        let text = String::from_utf8_lossy(&message.raw);
        assert!(
            text.contains("by localhost with ESMTPSA"),
            "relayed by dovecot over tls after auth: {text}"
        );
    }
}

/// Waits (polling, up to 10 s) until Dovecot has logged at least `n` logins for a service and
/// SASL mechanism (its log process writes a moment after the client is let in); returns how
/// many it logged.
async fn wait_for_logins(dovecot: &Dovecot, service: &str, mechanism: &str, n: usize) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let count = logins(dovecot, service, mechanism);
        if count >= n || std::time::Instant::now() >= deadline {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Logins Dovecot logged for a service ("imap-login", "submission-login") and SASL mechanism.
fn logins(dovecot: &Dovecot, service: &str, mechanism: &str) -> usize {
    let log = std::fs::read_to_string(dovecot.dir().join("dovecot.log")).unwrap_or_default();
    let wanted = format!("user=<{IMAP_USER}>, method={mechanism},");
    log.lines()
        .filter(|line| {
            line.contains(&format!("{service}: Info: Login: ")) && line.contains(&wanted)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_sends_over_starttls_and_implicit_tls_with_auth_plain_through_dovecot_submission(
) {
    let sink = SmtpSink::start();
    let dovecot = Dovecot::start_with(DovecotOptions {
        tls: true,
        submission_relay_port: Some(sink.port()),
        ..DovecotOptions::default()
    });
    let ca = dovecot.ca_pem_path().expect("started with tls");
    let cases = [
        (Security::Starttls, dovecot.submission_port().unwrap(), 1),
        (Security::Tls, dovecot.submissions_port().unwrap(), 9),
    ];
    for (round, (security, port, mail)) in cases.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let config = submission_config(dir.path(), port, security, Some(&ca));
        let from = config.municipality.kontaktcenter_address.clone();
        let app = Application::build(config).await.expect("builds");
        app.triage
            .process(helpers::citizen_mail(mail), "test")
            .await
            .unwrap();
        let report = app.flush_outbox().await.unwrap();
        let entries = outbox(app.store()).await;
        assert_eq!(
            (report.sent, report.retrying, report.dead),
            (entries.len(), 0, 0),
            "{security:?}: {entries:?}"
        );
        assert_delivered_through_submission(&sink, &entries, &from).await;
        assert_eq!(
            wait_for_logins(&dovecot, "submission-login", "PLAIN", round + 1).await,
            round + 1,
            "{security:?}: one AUTH PLAIN login per round, the connection kept for both mails"
        );
    }
    assert_eq!(sink.received().len(), 4, "two rounds of two mails, no more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_submission_certificate_is_refused_and_the_outbox_keeps_the_mail_for_a_retry()
{
    let sink = SmtpSink::start();
    let dovecot = Dovecot::start_with(DovecotOptions {
        tls: true,
        submission_relay_port: Some(sink.port()),
        ..DovecotOptions::default()
    });
    let ca = dovecot.ca_pem_path().expect("started with tls");
    let cases = [
        (Security::Starttls, dovecot.submission_port().unwrap(), 17),
        (Security::Tls, dovecot.submissions_port().unwrap(), 25),
    ];
    for (security, port, mail) in cases {
        let earlier = sink.received().len();
        let logged_in = logins(&dovecot, "submission-login", "PLAIN");
        let dir = tempfile::tempdir().unwrap();
        // The system's roots only: Dovecot's self-signed certificate is not among them.
        let config = submission_config(dir.path(), port, security, None);
        let from = config.municipality.kontaktcenter_address.clone();
        let app = Application::build(config).await.expect("builds");
        app.triage
            .process(helpers::citizen_mail(mail), "test")
            .await
            .unwrap();
        let report = app.flush_outbox().await.unwrap();
        let entries = outbox(app.store()).await;
        assert!(!entries.is_empty());
        assert_eq!(
            (report.sent, report.retrying, report.dead),
            (0, entries.len(), 0),
            "{security:?}: refused, to be retried: {entries:?}"
        );
        for entry in &entries {
            assert_eq!(
                (entry.status.as_str(), entry.attempts),
                ("pending", 1),
                "{entry:?}"
            );
            let error = entry.last_error.as_deref().unwrap_or_default();
            eprintln!("{security:?} without the ca: {error}");
            assert!(
                error.contains("invalid peer certificate"),
                "{security:?}: the reason names the certificate: {error}"
            );
        }
        assert_eq!(
            sink.received().len(),
            earlier,
            "{security:?}: nothing got through"
        );
        assert_eq!(
            logins(&dovecot, "submission-login", "PLAIN"),
            logged_in,
            "{security:?}: no login over a connection to an untrusted server"
        );
        drop(app);

        // Nothing was lost: with the CA the same entries go out on their next attempt.
        let config = submission_config(dir.path(), port, security, Some(&ca));
        let app = Application::build(config).await.expect("builds");
        let store = app.store().clone();
        eventually(Duration::from_secs(30), "the retry delivered", || async {
            app.flush_outbox().await.unwrap();
            store.counts().await.unwrap().outbox_pending == 0
        })
        .await;
        let entries = outbox(&store).await;
        assert_delivered_through_submission(&sink, &entries, &from).await;
        assert!(
            entries.iter().all(|e| e.attempts == 2),
            "one refused attempt and one delivery each: {entries:?}"
        );
        assert_eq!(sink.received().len(), earlier + entries.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_imap_worker_logs_in_with_xoauth2_and_a_refused_token_loses_no_mail() {
    let provider = IdentityProvider::start().await;
    let sink = SmtpSink::start();
    let dovecot = Dovecot::start_with(DovecotOptions {
        tls: true,
        oauth2_introspection_url: Some(provider.url.clone()),
        ..DovecotOptions::default()
    });
    dovecot.append("INBOX", &helpers::citizen_mail(1));
    let dir = tempfile::tempdir().unwrap();
    let config_with = |token: &str| {
        let mut config = crate::mail::mail_config(dir.path(), &dovecot, &sink);
        let account = &mut config.imap[0];
        // Implicit TLS, as Microsoft 365 and Google Workspace offer it.
        account.security = Security::Tls;
        account.host = "localhost".into();
        account.port = dovecot.tls_port().unwrap();
        account.ca_file = dovecot.ca_pem_path();
        account.auth = AuthMethod::Xoauth2;
        // No password: the only way in is the token.
        account.password = Secret::default();
        account.oauth = token_command(token);
        config
    };

    // A token the identity provider does not accept: the login fails, visibly, and the mail stays.
    let running = Running::start(config_with(WRONG_TOKEN)).await;
    let store = running.store.clone();
    eventually(
        Duration::from_secs(30),
        "the mailbox marked unreachable",
        || async {
            store
                .mailbox_statuses()
                .await
                .unwrap()
                .iter()
                .any(|m| m.state == "unreachable")
        },
    )
    .await;
    let status = store.mailbox_statuses().await.unwrap().remove(0);
    let counts = store.counts().await.unwrap();
    running.stop().await;
    let error = status.last_error.clone().unwrap_or_default();
    eprintln!("refused xoauth2 login: {error}");
    assert_eq!(status.mailbox, "kc/INBOX");
    assert!(
        error.contains("login refused") && error.contains("AUTHENTICATIONFAILED"),
        "the panel names the refused login: {error}"
    );
    assert!(
        provider.asked().iter().any(|token| token == WRONG_TOKEN),
        "dovecot asked the identity provider: {:?}",
        provider.asked()
    );
    assert_eq!(logins(&dovecot, "imap-login", "XOAUTH2"), 0);
    assert_eq!((counts.cases, counts.messages), (0, 0));
    assert_eq!(dovecot.count("INBOX"), (1, 0), "the mail is kept, unseen");
    assert_eq!(sink.received().len(), 0);

    // The right token: the same mail is read, triaged, forwarded and acknowledged.
    let running = Running::start(config_with(GOOD_TOKEN)).await;
    let store = running.store.clone();
    eventually(
        Duration::from_secs(30),
        "the case made and its mail sent",
        || async {
            let counts = store.counts().await.unwrap();
            counts.cases == 1 && counts.outbox > 0 && counts.outbox_pending == 0
        },
    )
    .await;
    eventually(Duration::from_secs(30), "the mail marked seen", || async {
        dovecot.count("INBOX") == (1, 1)
    })
    .await;
    let statuses = store.mailbox_statuses().await.unwrap();
    let counts = store.counts().await.unwrap();
    let entries = outbox(&store).await;
    running.stop().await;
    assert!(
        wait_for_logins(&dovecot, "imap-login", "XOAUTH2", 1).await >= 1,
        "logged in with xoauth2"
    );
    assert!(provider.asked().iter().any(|token| token == GOOD_TOKEN));
    assert_eq!(statuses[0].state, "connected", "{statuses:?}");
    assert_eq!((counts.cases, counts.messages), (1, 1));
    let kinds: BTreeSet<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, BTreeSet::from(["acknowledgement", "forward"]));
    let ids: BTreeSet<String> = entries.iter().map(|e| e.message_id.clone()).collect();
    let messages = arrived(&sink, &ids).await;
    assert_eq!(messages.len(), entries.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_logs_in_to_dovecot_submission_with_xoauth2_and_a_refused_token_keeps_the_mail()
{
    let provider = IdentityProvider::start().await;
    let sink = SmtpSink::start();
    let dovecot = Dovecot::start_with(DovecotOptions {
        tls: true,
        submission_relay_port: Some(sink.port()),
        oauth2_introspection_url: Some(provider.url.clone()),
    });
    let ca = dovecot.ca_pem_path().expect("started with tls");
    let port = dovecot.submissions_port().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config_with = |token: &str| {
        let mut config = submission_config(dir.path(), port, Security::Tls, Some(&ca));
        let smtp = config.smtp.as_mut().unwrap();
        smtp.auth = AuthMethod::Xoauth2;
        smtp.password = Secret::default();
        smtp.oauth = token_command(token);
        config
    };

    // A refused token: a temporary failure with a clear reason; the mail waits.
    let config = config_with(WRONG_TOKEN);
    let from = config.municipality.kontaktcenter_address.clone();
    let app = Application::build(config).await.expect("builds");
    app.triage
        .process(helpers::citizen_mail(1), "test")
        .await
        .unwrap();
    let report = app.flush_outbox().await.unwrap();
    let entries = outbox(app.store()).await;
    assert_eq!(
        (report.sent, report.retrying, report.dead),
        (0, entries.len(), 0),
        "{entries:?}"
    );
    for entry in &entries {
        assert_eq!((entry.status.as_str(), entry.attempts), ("pending", 1));
        let error = entry.last_error.as_deref().unwrap_or_default();
        eprintln!("refused xoauth2 submission: {error}");
        assert!(
            error.contains("smtp login") && error.contains("535"),
            "the reason is the refused login: {error}"
        );
    }
    assert!(provider.asked().iter().any(|token| token == WRONG_TOKEN));
    assert_eq!(sink.received().len(), 0);
    drop(app);

    // The right token: the same entries go out on their next attempt.
    let app = Application::build(config_with(GOOD_TOKEN))
        .await
        .expect("builds");
    let store = app.store().clone();
    eventually(Duration::from_secs(30), "the retry delivered", || async {
        app.flush_outbox().await.unwrap();
        store.counts().await.unwrap().outbox_pending == 0
    })
    .await;
    assert_eq!(
        wait_for_logins(&dovecot, "submission-login", "XOAUTH2", 1).await,
        1,
        "one xoauth2 login, the connection kept for both mails"
    );
    assert!(provider.asked().iter().any(|token| token == GOOD_TOKEN));
    let entries = outbox(&store).await;
    assert_delivered_through_submission(&sink, &entries, &from).await;
    assert_eq!(sink.received().len(), entries.len(), "each sent once");
}
