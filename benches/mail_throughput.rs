//! End-to-end mail throughput against real servers, beside its floor, in one run.
//!
//! A backlog of mails (10,000 unless `BENCH_MESSAGES` says otherwise) is put into a real
//! Dovecot; then
//! - **floor**: the same mails fetched raw over IMAP (`BODY.PEEK[]`, batches of 100) and the
//!   same number of messages as the pipeline sent, sent raw over SMTP to a real smtp-sink;
//! - **brevduva**: `Application::run` triages the backlog and delivers every forward and
//!   acknowledgement to the same smtp-sink.
//!
//! Prints messages per second for both and their ratio, for each run and the median
//! (`BENCH_RUNS`, default 1). Run with `cargo bench --bench mail_throughput`.

#[path = "../tests/integration/servers.rs"]
mod servers;

#[path = "../tests/integration/local_mail.rs"]
mod local_mail;

use brevduva::app::Application;
use brevduva::config::Config;
use futures_util::TryStreamExt;
use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use servers::{Dovecot, SmtpSink};
use std::time::{Duration, Instant};

const TOPICS: &[&str] = &[
    "Hej! Soptunnan har inte tömts på två veckor på vår gata.",
    "Behöver vi bygglov för ett uterum på 15 kvadratmeter?",
    "Gatlampan utanför vårt hus är trasig sedan en månad.",
    "Hur ansöker jag om förskoleplats för mitt barn?",
    "Jag har fått en faktura med fel belopp.",
    "Finns det sommarjobb för ungdomar i år?",
    "När har biblioteket öppet i jul?",
    "Min pappa behöver hemtjänst, hur gör vi?",
];

fn mail(run: usize, i: usize) -> Vec<u8> {
    format!(
        "From: Person {i} <person{i}@example.se>\r\nTo: kontaktcenter@kommun.example\r\nSubject: Fråga {i}\r\n\
         Message-ID: <bench.{run}.{i}@example.se>\r\nDate: Fri, 27 Nov 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n\r\nVänliga hälsningar\r\nPerson {i}\r\n",
        TOPICS[i % TOPICS.len()]
    )
    .into_bytes()
}

fn config(dir: &std::path::Path, dovecot: &Dovecot, sink: &SmtpSink) -> Config {
    local_mail::local_mail_config(dir, dovecot.port(), sink.port())
}

async fn end_to_end(config: Config, messages: i64) -> (Duration, i64) {
    let app = Application::build(config)
        .await
        .expect("application builds");
    let store = app.store().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let task = tokio::spawn(app.run(listener, rx));
    let mut intake_done = None;
    loop {
        let c = store.counts().await.unwrap();
        if c.cases >= messages && intake_done.is_none() {
            intake_done = Some(started.elapsed());
            println!(
                "  all {messages} cases committed after {:.2?}",
                started.elapsed()
            );
        }
        if c.cases >= messages && c.outbox_pending == 0 {
            let elapsed = started.elapsed();
            stop.send(true).unwrap();
            task.await.unwrap().unwrap();
            return (elapsed, c.outbox);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn floor_fetch(config: &Config) -> (Duration, usize) {
    let account = brevduva::source::imap::ImapAccount::new(config.imap[0].clone()).unwrap();
    let started = Instant::now();
    let mut session = account.connect().await.unwrap();
    let mailbox = session.select("INBOX").await.unwrap();
    let mut fetched = 0;
    let mut bytes = 0;
    let mut from = 1u32;
    while from <= mailbox.exists {
        let to = (from + 99).min(mailbox.exists);
        let stream = session
            .fetch(format!("{from}:{to}"), "(UID BODY.PEEK[])")
            .await
            .unwrap();
        let batch: Vec<_> = stream.try_collect().await.unwrap();
        fetched += batch.len();
        bytes += batch
            .iter()
            .filter_map(|f| f.body())
            .map(<[u8]>::len)
            .sum::<usize>();
        from = to + 1;
    }
    session.logout().await.unwrap();
    assert!(bytes > 0);
    (started.elapsed(), fetched)
}

async fn floor_send(sink: &SmtpSink, raw: &[u8], count: i64) -> Duration {
    // The fastest plain way: one connection, TCP_NODELAY, message after message.
    let started = Instant::now();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", sink.port()))
        .await
        .unwrap();
    tcp.set_nodelay(true).unwrap();
    let mut connection =
        AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &ClientId::default())
            .await
            .unwrap();
    let envelope = Envelope::new(
        Some("kontaktcenter@kommun.example".parse().unwrap()),
        vec!["dept@kommun.example".parse().unwrap()],
    )
    .unwrap();
    for _ in 0..count {
        connection.send(&envelope, raw).await.unwrap();
    }
    connection.quit().await.unwrap();
    started.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("mail_throughput: a benchmark; run it with `cargo bench --bench mail_throughput`");
        return;
    }
    let n: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut e2e_rates, mut floor_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let dovecot = Dovecot::start(false);
        let sink = SmtpSink::start();
        let mails: Vec<Vec<u8>> = (0..n).map(|i| mail(run, i)).collect();
        dovecot.append_many("INBOX", &mails);
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), &dovecot, &sink);
        let (fetch_time, fetched) = rt.block_on(floor_fetch(&config));
        assert_eq!(fetched, n);
        let (e2e_time, outbox) = rt.block_on(end_to_end(config, n as i64));
        let send_time = rt.block_on(floor_send(&sink, &mails[0], outbox));
        let e2e = n as f64 / e2e_time.as_secs_f64();
        let floor = n as f64 / (fetch_time + send_time).as_secs_f64();
        println!(
            "run {run}: {n} mails, {outbox} sent | brevduva {e2e:.0} mails/s ({e2e_time:.2?}) | floor {floor:.0} mails/s (fetch {fetch_time:.2?}, send {send_time:.2?}) | floor/brevduva {:.2}",
            floor / e2e
        );
        e2e_rates.push(e2e);
        floor_rates.push(floor);
        ratios.push(floor / e2e);
    }
    println!(
        "{}",
        serde_json::json!({
            "messages": n,
            "runs": runs,
            "end_to_end_per_s_median": median(e2e_rates),
            "floor_per_s_median": median(floor_rates),
            "floor_over_end_to_end_median": median(ratios),
        })
    );
}
