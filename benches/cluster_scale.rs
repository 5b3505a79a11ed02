//! Brevduva at the scale of a large municipality, on PostgreSQL: the admin panel's queue with
//! 1,000,000 cases, and end-to-end triage with one, two and three instances on one database.
//!
//! **The database.** A throwaway PostgreSQL cluster (the newest `/usr/lib/postgresql/*/bin`,
//! run as user `postgres`, PostgreSQL's default settings apart from port and socket folder)
//! keeps its data in `target/bench-cluster/pg`. It is started on a free 127.0.0.1 port, or
//! reused when it still runs from an earlier run, and stopped with `pg_ctl` at the end.
//!
//! **Part A — the queue page with 1,000,000 cases.**
//! 1. Seeding, once (database `brevduva_bench`, reused while its `bench_seed` row says it holds
//!    `BENCH_CLUSTER_CASES` cases; a migration that no longer matches the cached database
//!    starts the seeding again): `BENCH_CLUSTER_SEED_MAILS` realistic citizen mails (the
//!    starter knowledge base's enquiries with varied greetings, senders, addresses and
//!    signatures; about 4 % urgent; 6 % replies joining earlier cases) go through the real
//!    pipeline, `Triage::process_batch`, 250 at a time. Then SQL copies those cases, with their
//!    messages, routing decisions and outbox entries (sent), until there are
//!    `BENCH_CLUSTER_CASES`: created evenly over the three years before the pipeline's cases,
//!    numbered `KC-YYYY-NNNNNN` per year in creation order (after the pipeline's own numbers in
//!    the current year), citizens' addresses varied (about 1.7 cases per address), status by age:
//!    of the last 60 days' cases 30 % triage, 50 % routed, 20 % closed; of older ones 0.4 %
//!    triage, 2.6 % routed, the rest closed (about 2 % triage and 5 % routed in all). Then
//!    `VACUUM ANALYZE`. The seeding times are printed and kept in `bench_seed`.
//! 2. A Kontaktcenter user and a session are created; the panel is served in-process on a free
//!    127.0.0.1 port by its own multi-thread tokio runtime. The queue and 20 case pages must
//!    answer 200 with the session cookie before anything is measured.
//! 3. `wrk` (50 connections, 2 threads, `--latency`) loads, interleaved, `BENCH_CLUSTER_RUNS`
//!    times `BENCH_CLUSTER_SECONDS` each after a 3 s warm-up: `/healthz` (the floor: no session,
//!    no database), the queue `/` (the first 50 open cases in queue order, filter counts cached
//!    5 s) and case pages rotating over 20 cases spread over the whole range (4 with a thread of
//!    several messages), via a wrk Lua script.
//!
//! Prints p50 / p99 / requests per second per run, the medians with ratios to the floor, the
//! store calls behind the pages one at a time, and `EXPLAIN (ANALYZE, BUFFERS)` of the queue
//! query, the filter counts' two queries and a case's thread.
//!
//! **Part B — end-to-end triage with 1, 2 and 3 instances.** For each instance count k, a fresh
//! Dovecot with six accounts `kc1`..`kc6` (each an INBOX) holds `BENCH_CLUSTER_MAILS` mails
//! spread evenly (the same mails in every run; every mail a new case); a fresh smtp-sink
//! receives; a fresh database `brevduva_triage_k` is shared by k processes of the `brevduva`
//! binary that cargo builds for this bench (`brevduva run`, each with its own config file and
//! data dir in `target/bench-cluster/instance-N`, where each run leaves its log
//! `run-MODE-kK-roundR.log`; all six mailboxes as `[[imap]]` accounts; a `[cluster]` section
//! with `instance_name = "bench-N"`, `lease_seconds = BENCH_CLUSTER_LEASE_SECONDS`,
//! `outbox_claim_seconds = 120` and `index_poll_ms = 1000`, less any key `check-config` calls
//! unknown; without the section only k = 1 runs).
//! - **cold**: all k are started at once with the backlog already waiting; timed from the start
//!   (start-up and the mailbox leases' hand-over count).
//! - **warm**: all k are started, and once every one answers `/healthz` and the leases are
//!   spread (k holders, at most ceil(6 / k) mailboxes each), the backlog appears at once
//!   (renamed into the Maildirs' `new/`); timed from then: the steady state.
//!
//! Timed until every mail is a case, and until no outbox entry is pending; then exactly-once is
//! checked: cases = messages = distinct Message-IDs = mails, no Message-ID twice in smtp-sink, as
//! many mails received as outbox entries sent, every mail \Seen. The instances get SIGTERM
//! (SIGKILL after 15 s). Prints per run mails per second (end to end, and intake alone), the
//! lease holders over time, the mails per mailbox, the CPU seconds of the instances, of
//! PostgreSQL and of the rest while measured, and the backends waiting for a lock (sampled
//! with every poll, about 15 times a second, by lock type and statement); then medians per
//! mode and k, with ratios to k = 1.
//!
//! Everything (PostgreSQL, Dovecot, smtp-sink, the instances, wrk) shares this machine's cores
//! (the output says how many): the figures say how Brevduva scales on one machine, not on
//! several.
//!
//! `cargo bench --bench cluster_scale` (as root; needs `wrk`, PostgreSQL, Dovecot and smtp-sink:
//! `scripts/test.sh` installs them). One line of JSON with every figure at the end. Environment,
//! with defaults:
//! - `BENCH_CLUSTER_PARTS` (`ab`): `a`, `b` or `ab`;
//! - `BENCH_CLUSTER_CASES` (1000000), `BENCH_CLUSTER_SEED_MAILS` (6000), `BENCH_CLUSTER_RESEED`
//!   (`1` seeds again);
//! - `BENCH_CLUSTER_SECONDS` (15) per wrk run, `BENCH_CLUSTER_RUNS` (3);
//! - `BENCH_CLUSTER_MAILS` (6000), `BENCH_CLUSTER_INSTANCES` (`1,2,3`), `BENCH_CLUSTER_MODE`
//!   (`both`; or `cold`, `warm`), `BENCH_CLUSTER_ROUNDS` (3), `BENCH_CLUSTER_LEASE_SECONDS` (10),
//!   `BENCH_CLUSTER_TIMEOUT` (600 s per run), `BENCH_CLUSTER_STALL` (60: a run fails when nothing
//!   is stored or sent for that many seconds; it then prints every lease change and the
//!   instances' last log lines).
//!
//! The first run seeds for about 3 minutes (7 GiB in `target/bench-cluster/pg`); on this 2-core
//! machine a run takes about 8 minutes after that.

/// The same allocator as the `brevduva` binary (the panel is served in this process).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/panel_client.rs"]
mod panel_client;
#[path = "../tests/integration/servers.rs"]
mod servers;
#[path = "support/wrk.rs"]
mod wrk;

use brevduva::app::Application;
use brevduva::config::{Config, Secret};
use brevduva::domain::{CaseNumber, Role};
use brevduva::store::{NewUser, QueueFilter};
use brevduva::web::{PanelSettings, PanelState};
use panel_client::{env_or, get, hex, load_wrk, target_dir, timed, CONNECTIONS, THREADS};
use servers::{Dovecot, SmtpSink};
use sha2::Digest;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wrk::{median, Run};

const BATCH: usize = 250;
const MAILBOXES: usize = 6;
const BENCH_DB: &str = "brevduva_bench";
/// Three years, in seconds.
const SPAN: i64 = 3 * 365 * 86_400;

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

// ---------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------

/// A PostgreSQL cluster run by user `postgres`; stopped on drop.
struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

/// Runs a shell command as user `postgres`; panics with its output if it fails.
fn as_postgres(command: &str) -> String {
    let out = Command::new("su")
        .args(["postgres", "-s", "/bin/sh", "-c", command])
        .stdin(Stdio::null())
        .output()
        .expect("su postgres");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "`{command}` failed:\n{text}");
    text
}

/// uid and gid of a user, from /etc/passwd.
fn user_ids(name: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == name)
        .map(|f| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        .unwrap_or_else(|| panic!("no user {name}: apt-get install -y postgresql"))
}

impl Postgres {
    fn start(dir: &Path) -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect(
                "PostgreSQL is not installed (/usr/lib/postgresql): apt-get install -y postgresql",
            )
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists())
            .max_by_key(|b| {
                b.parent()
                    .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
                    .unwrap_or(0)
            })
            .expect("no /usr/lib/postgresql/*/bin/initdb");
        let (uid, gid) = user_ids("postgres");
        let d = dir.display();
        if !dir.join("PG_VERSION").exists() {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir).unwrap();
            std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
            println!("initdb {d}");
            as_postgres(&format!(
                "'{}' -D '{d}' -U postgres --auth=trust",
                bin.join("initdb").display()
            ));
        } else {
            use std::os::unix::fs::MetadataExt;
            if std::fs::metadata(dir).unwrap().uid() != uid {
                let ok = Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir)
                    .status()
                    .unwrap();
                assert!(ok.success(), "chown -R postgres {d}");
            }
        }
        let pg_ctl = bin.join("pg_ctl");
        let running = Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c"])
            .arg(format!("'{}' -D '{d}' status", pg_ctl.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let port = if running {
            let pid = std::fs::read_to_string(dir.join("postmaster.pid")).unwrap();
            let port: u16 = pid.lines().nth(3).unwrap().trim().parse().unwrap();
            println!("reusing the PostgreSQL cluster in {d}, still running on port {port}");
            port
        } else {
            let port = servers::free_port();
            let t = Instant::now();
            as_postgres(&format!(
                "'{}' -D '{d}' -l '{d}/log' -o \"-p {port} -k '{d}' -c listen_addresses=127.0.0.1\" -w start",
                pg_ctl.display()
            ));
            println!(
                "PostgreSQL ({}) started on 127.0.0.1:{port} in {:.1} s, data in {d}",
                bin.display(),
                t.elapsed().as_secs_f64()
            );
            port
        };
        Postgres {
            bin,
            dir: dir.to_owned(),
            port,
        }
    }

    /// CPU seconds used by the server so far (postmaster, backends, helpers).
    fn cpu_seconds(&self) -> f64 {
        std::fs::read_to_string(self.dir.join("postmaster.pid"))
            .ok()
            .and_then(|p| p.lines().next()?.trim().parse().ok())
            .map_or(0.0, tree_cpu)
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    async fn pool(&self, database: &str, connections: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&self.url(database))
            .await
            .unwrap_or_else(|e| panic!("connect to {database}: {e}"))
    }

    async fn exists(&self, database: &str) -> bool {
        let admin = self.pool("postgres", 1).await;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
            .bind(database)
            .fetch_one(&admin)
            .await
            .unwrap();
        admin.close().await;
        n > 0
    }

    /// Drops (if there) and creates a database.
    async fn recreate(&self, database: &str) {
        let admin = self.pool("postgres", 1).await;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            .execute(&admin)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
    }

    fn database_bytes(&self, rt: &tokio::runtime::Runtime, database: &str) -> i64 {
        rt.block_on(async {
            let admin = self.pool("postgres", 1).await;
            let n: i64 = sqlx::query_scalar("SELECT pg_database_size($1)")
                .bind(database)
                .fetch_one(&admin)
                .await
                .unwrap();
            admin.close().await;
            n
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let stopped = Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c"])
            .arg(format!(
                "'{}' -D '{}' -m fast -w stop",
                self.bin.join("pg_ctl").display(),
                self.dir.display()
            ))
            .stdout(Stdio::null())
            .status();
        println!(
            "PostgreSQL stopped ({})",
            if stopped.is_ok_and(|s| s.success()) {
                "pg_ctl stop"
            } else {
                "pg_ctl stop failed"
            }
        );
    }
}

// ---------------------------------------------------------------------------------------
// Realistic citizen mail
// ---------------------------------------------------------------------------------------

const FIRST: &[&str] = &[
    "Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Elin", "Mohammed", "Fatima", "Olena",
    "Sven", "Ingrid", "Ahmed", "Sara", "Mikael", "Lena", "Björn", "Maja", "Hassan", "Zeynep",
];
const LAST: &[&str] = &[
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Lindqvist",
    "Hussein",
    "Kovalenko",
    "Yilmaz",
    "Berg",
    "Sandberg",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "hotmail.se",
    "outlook.com",
    "telia.com",
    "icloud.com",
    "bredband.net",
    "live.se",
    "comhem.se",
];
const STREETS: &[&str] = &[
    "Storgatan",
    "Kyrkogatan",
    "Björkvägen",
    "Skolgatan",
    "Ringvägen",
    "Hamngatan",
    "Tallstigen",
    "Lärkvägen",
];
const OPENINGS: &[&str] = &["Hej!", "Hej,", "Hejsan!", "God dag,", "Hej kommunen!", ""];
const EXTRAS: &[&str] = &[
    "Jag bor på {street} {n}.",
    "Ni når mig på 070-{n}{n}{n} om ni undrar något.",
    "Jag har försökt ringa men kommer inte fram.",
    "Tacksam för snabbt svar.",
    "",
    "",
];
const CLOSINGS: &[&str] = &[
    "Med vänliga hälsningar\r\n{name}",
    "Mvh {name}",
    "Vänliga hälsningar,\r\n{name}\r\n{street} {n}",
    "Tack på förhand!\r\n{first}",
    "/{first}",
];
/// Sentences with the departments' urgent terms.
const URGENT: &[&str] = &[
    "Ett träd har fallit över vägen vid {street} och det är livsfarligt att passera.",
    "Vi har en vattenläcka på {street}, vatten forsar upp ur marken.",
    "Källaren står under vatten efter ett rörbrott.",
    "Min mamma har ramlat och trygghetslarmet fungerar inte.",
    "Jag vill göra en orosanmälan, ett barn i vårt hus far illa.",
];
const FOLLOW_UPS: &[&str] = &[
    "Tack för svaret! Men när blir det åtgärdat?",
    "Jag har inte hört något mer, vad händer nu?",
    "Här kommer uppgifterna ni bad om.",
];

/// Citizen mails built from the starter knowledge base's enquiries.
struct Mails {
    /// (department, subject, text)
    enquiries: Vec<(String, String, String)>,
    state: u64,
    serial: usize,
    /// Part of every Message-ID, so that runs do not collide.
    tag: String,
    /// Message-ids and subjects of earlier mails, for replies.
    earlier: Vec<(String, String)>,
}

impl Mails {
    fn new(tag: &str, seed: u64) -> Self {
        let enquiries = include_str!("../index/starter-kb.jsonl")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a knowledge entry");
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
                (s("department"), s("subject"), s("text"))
            })
            .collect();
        Self {
            enquiries,
            state: seed | 1,
            serial: 0,
            tag: tag.to_owned(),
            earlier: Vec::new(),
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[(self.next() % list.len() as u64) as usize]
    }

    fn fill(&mut self, template: &str, first: &str, last: &str) -> String {
        let n = (1 + self.next() % 98).to_string();
        let street = self.pick(STREETS);
        template
            .replace("{street}", street)
            .replace("{n}", &n)
            .replace("{name}", &format!("{first} {last}"))
            .replace("{first}", first)
    }

    /// One mail; `reply_percent` of them answer an earlier one (when there is one).
    fn mail(&mut self, reply_percent: u64) -> Vec<u8> {
        self.serial += 1;
        let (first, last, domain) = (self.pick(FIRST), self.pick(LAST), self.pick(DOMAINS));
        let address = format!(
            "{}.{}{}@{domain}",
            first.to_lowercase(),
            last.to_lowercase(),
            self.next() % 1000
        )
        .replace(['å', 'ä'], "a")
        .replace('ö', "o");
        let salt = self.next() % 99_991;
        let message_id = format!("{}.{}.{salt}@{domain}", self.tag, self.serial);
        let roll = self.next() % 100;
        let mut headers = String::new();
        let (subject, body) = if roll < reply_percent && !self.earlier.is_empty() {
            let k = (self.next() % self.earlier.len() as u64) as usize;
            let (parent, subject) = self.earlier[k].clone();
            headers = format!("In-Reply-To: <{parent}>\r\nReferences: <{parent}>\r\n");
            let text = self.pick(FOLLOW_UPS);
            let sign = self.fill("Mvh {name}", first, last);
            (
                format!("SV: {subject}"),
                format!("{text}\r\n\r\n{sign}\r\n\r\n> Tidigare meddelande\r\n"),
            )
        } else {
            let i = (self.next() % self.enquiries.len() as u64) as usize;
            let (department, subject, text) = self.enquiries[i].clone();
            let subject = if subject.is_empty() || roll % 5 == 0 {
                let words: Vec<&str> = text.split_whitespace().take(6).collect();
                words
                    .join(" ")
                    .trim_end_matches([',', '.', '!', '?'])
                    .to_owned()
            } else {
                subject
            };
            let urgent = if roll >= 97 || (roll >= 92 && department == "gata-park") {
                let u = self.pick(URGENT);
                format!("{}\r\n\r\n", self.fill(u, first, last))
            } else {
                String::new()
            };
            let opening = self.pick(OPENINGS);
            let extra = self.pick(EXTRAS);
            let extra = self.fill(extra, first, last);
            let closing = self.pick(CLOSINGS);
            let closing = self.fill(closing, first, last);
            let body =
                format!("{opening}\r\n\r\n{urgent}{text}\r\n\r\n{extra}\r\n\r\n{closing}\r\n");
            (subject, body.replace("\r\n\r\n\r\n", "\r\n\r\n"))
        };
        if headers.is_empty() && self.earlier.len() < 20_000 {
            self.earlier.push((message_id.clone(), subject.clone()));
        }
        let (hour, minute) = (7 + self.next() % 12, self.next() % 60);
        format!(
            "From: {first} {last} <{address}>\r\nTo: kontaktcenter@kommun.example\r\n\
             Subject: {subject}\r\nMessage-ID: <{message_id}>\r\n{headers}\
             Date: Fri, 27 Nov 2026 {hour:02}:{minute:02}:00 +0100\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}"
        )
        .into_bytes()
    }
}

// ---------------------------------------------------------------------------------------
// Part A: seeding
// ---------------------------------------------------------------------------------------

fn panel_config(pg: &Postgres) -> Config {
    let mut config = Config::default();
    config.storage.data_dir = target_dir().join("bench-cluster").join("panel-data");
    config.storage.database_url = Secret::new(pg.url(BENCH_DB));
    config.maildir.enabled = false;
    config
}

/// The seeding report kept in `bench_seed`, if the database holds exactly `cases` cases.
async fn seeded(pg: &Postgres, cases: i64) -> Option<serde_json::Value> {
    if !pg.exists(BENCH_DB).await {
        return None;
    }
    let pool = pg.pool(BENCH_DB, 1).await;
    let report: Option<String> = sqlx::query_scalar(
        "SELECT report FROM bench_seed WHERE cases = $1 AND (SELECT COUNT(*) FROM cases) = $1",
    )
    .bind(cases)
    .fetch_optional(&pool)
    .await
    .ok()
    .flatten();
    pool.close().await;
    report.and_then(|r| serde_json::from_str(&r).ok())
}

/// Seeds `brevduva_bench` from scratch: the pipeline, then SQL copies up to `cases`.
async fn seed(pg: &Postgres, cases: i64, mails: usize) -> serde_json::Value {
    let started = Instant::now();
    pg.recreate(BENCH_DB).await;
    let app = Application::build(panel_config(pg))
        .await
        .expect("application on the bench database");
    let build_seconds = started.elapsed().as_secs_f64();

    // 1. The real pipeline.
    let t = Instant::now();
    let mut generator = Mails::new("seed", 0x2545_f491_4f6c_dd1d);
    let mut sent = 0;
    while sent < mails {
        let n = (mails - sent).min(BATCH);
        // Replies only to mails of earlier, committed batches.
        let reply_percent = if sent > 0 { 6 } else { 0 };
        let raws: Vec<Vec<u8>> = (0..n).map(|_| generator.mail(reply_percent)).collect();
        app.triage
            .process_batch(raws, "bench")
            .await
            .expect("a batch through the pipeline");
        sent += n;
        if sent % 2000 < BATCH {
            eprintln!("  pipeline: {sent} mails after {:.0?}", t.elapsed());
        }
    }
    let pipeline_seconds = t.elapsed().as_secs_f64();
    let pipeline = app.store().counts().await.unwrap();
    println!(
        "pipeline: {mails} mails -> {} cases, {} messages in {pipeline_seconds:.1} s ({:.0} mails/s)",
        pipeline.cases,
        pipeline.messages,
        mails as f64 / pipeline_seconds
    );
    app.store().close().await;
    drop(app);

    // 2. Copies in SQL.
    let pool = pg.pool(BENCH_DB, 1).await;
    let t = Instant::now();
    let base = pipeline.cases;
    let copies = (cases - base).max(0);
    let mut steps = serde_json::Map::new();
    let step = |name: &str, sql: String| {
        let pool = pool.clone();
        let name = name.to_owned();
        async move {
            let t = Instant::now();
            let r = sqlx::query(&sql)
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}\n{sql}"));
            let s = t.elapsed().as_secs_f64();
            eprintln!("  {name}: {} rows in {s:.1} s", r.rows_affected());
            (name, s)
        }
    };
    // Outbox entries of the pipeline's cases were delivered long ago.
    let mut timed = vec![
        step(
            "outbox sent",
            "UPDATE outbox SET status = 'sent', attempts = 1, sent_at = created_at + 5 \
             WHERE status = 'pending'"
                .into(),
        )
        .await,
    ];
    if copies > 0 {
        // Which pipeline case each copy repeats, when it was created, its number and status.
        timed.push(step("plan copies", format!(
            "CREATE UNLOGGED TABLE bench_synth AS \
             WITH p AS (SELECT (SELECT MIN(created_at) FROM cases) - 86400 AS end_at, \
                               (SELECT MAX(id) FROM cases) AS max_id), \
             b AS (SELECT row_number() OVER (ORDER BY id) - 1 AS k, id, created_at FROM cases), \
             g AS (SELECT g, p.max_id + g AS id, \
                          p.end_at - {SPAN} + ((g - 1) * {SPAN}) / {copies} AS created_at, \
                          p.end_at, mod(abs(hashint8(g)::bigint), 1000) AS h, \
                          mod(abs(hashint8(g + 7777777)::bigint), 240) AS h2 \
                   FROM p, generate_series(1::bigint, {copies}::bigint) AS g), \
             y AS (SELECT g.*, b.id AS base_id, g.created_at - b.created_at AS shift, \
                          EXTRACT(YEAR FROM to_timestamp(g.created_at) AT TIME ZONE 'Europe/Stockholm')::bigint AS year \
                   FROM g JOIN b ON b.k = (g.g - 1) % {base}) \
             SELECT y.g, y.id, y.base_id, y.shift, y.created_at, y.year, \
                    row_number() OVER (PARTITION BY y.year ORDER BY y.g) \
                      + COALESCE((SELECT last_serial FROM case_number_counters n WHERE n.year = y.year), 0) AS serial, \
                    CASE WHEN y.created_at > y.end_at - 60 * 86400 \
                         THEN CASE WHEN y.h < 300 THEN 'triage' WHEN y.h < 800 THEN 'routed' ELSE 'closed' END \
                         ELSE CASE WHEN y.h < 4 THEN 'triage' WHEN y.h < 30 THEN 'routed' ELSE 'closed' END END AS status, \
                    y.created_at + 3600 * (1 + y.h2) AS done_at \
             FROM y"
        )).await);
        let max_serial: i64 = sqlx::query_scalar("SELECT MAX(serial) FROM bench_synth")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(
            max_serial <= 999_999,
            "case numbers have six digits: {max_serial} cases in one year"
        );
        // A citizen's address varied by copy (about 1.7 cases per address in the end).
        let vary = |column: &str| {
            format!(
                "CASE WHEN {column} IS NULL OR position('@' IN {column}) = 0 THEN {column} \
                 ELSE split_part({column}, '@', 1) || '.' || (s.g % 97) || '@' || split_part({column}, '@', 2) END"
            )
        };
        // A copy of a Message-ID: unique, still a Message-ID.
        let copy_id =
            |column: &str| format!("regexp_replace({column}, '^(<?)', '\\1c' || s.g || '.')");
        timed.push(step("cases", format!(
            "INSERT INTO cases (id, number, status, department_id, language, channel, urgent, sensitive, \
             auto_reply, bulk, citizen_address, subject, confidence, created_at, updated_at, campaign, \
             reply_due, closed_at) OVERRIDING SYSTEM VALUE \
             SELECT s.id, 'KC-' || s.year || '-' || lpad(s.serial::text, 6, '0'), s.status, c.department_id, \
                    c.language, c.channel, c.urgent, c.sensitive, c.auto_reply, c.bulk, {}, c.subject, \
                    c.confidence, s.created_at, \
                    CASE WHEN s.status = 'closed' THEN s.done_at ELSE s.created_at END, c.campaign, \
                    CASE WHEN c.reply_due IS NULL THEN NULL ELSE \
                      to_char(to_timestamp(s.created_at + 2 * 86400) AT TIME ZONE 'Europe/Stockholm', 'YYYY-MM-DD') END, \
                    CASE WHEN s.status = 'closed' THEN s.done_at END \
             FROM bench_synth s JOIN cases c ON c.id = s.base_id ORDER BY s.g",
            vary("c.citizen_address")
        )).await);
        timed.push(step("messages", format!(
            "INSERT INTO messages (case_id, dedupe_key, message_id, content_hash, source, from_address, subject, \
             sent_at, received_at, body_text, classification_text, attachments, in_reply_to, references_ids, \
             automation_reason, raw) \
             SELECT s.id, m.dedupe_key || '#c' || s.g, {}, m.content_hash, m.source, {}, m.subject, \
                    m.sent_at + s.shift, m.received_at + s.shift, m.body_text, m.classification_text, \
                    m.attachments, m.in_reply_to, m.references_ids, m.automation_reason, m.raw \
             FROM bench_synth s JOIN messages m ON m.case_id = s.base_id ORDER BY s.g, m.id",
            copy_id("m.message_id"),
            vary("m.from_address")
        )).await);
        timed.push(step("routing decisions", 
            "INSERT INTO routing_decisions (case_id, decided_by, department_id, confidence, auto_routed, \
             explanation, details, actor, created_at) \
             SELECT s.id, d.decided_by, d.department_id, d.confidence, d.auto_routed, d.explanation, \
                    d.details, d.actor, d.created_at + s.shift \
             FROM bench_synth s JOIN routing_decisions d ON d.case_id = s.base_id ORDER BY s.g, d.id".into()
        ).await);
        timed.push(step("outbox", format!(
            "INSERT INTO outbox (case_id, kind, message_id, recipient, status, attempts, next_attempt_at, \
             raw, created_at, sent_at) \
             SELECT s.id, o.kind, {}, CASE WHEN o.recipient = c.citizen_address THEN {} ELSE o.recipient END, \
                    'sent', 1, o.created_at + s.shift, o.raw, o.created_at + s.shift, o.created_at + s.shift + 5 \
             FROM bench_synth s JOIN cases c ON c.id = s.base_id JOIN outbox o ON o.case_id = s.base_id \
             ORDER BY s.g, o.id",
            copy_id("o.message_id"),
            vary("o.recipient")
        )).await);
        timed.push(step("counters",
            "INSERT INTO case_number_counters (year, last_serial) \
             SELECT year, MAX(serial) FROM bench_synth GROUP BY year \
             ON CONFLICT (year) DO UPDATE SET last_serial = GREATEST(case_number_counters.last_serial, EXCLUDED.last_serial)".into()
        ).await);
        timed.push(
            step(
                "identity",
                "SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT MAX(id) FROM cases))"
                    .into(),
            )
            .await,
        );
        timed.push(step("drop plan", "DROP TABLE bench_synth".into()).await);
    }
    let copy_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    timed.push(step("vacuum analyze", "VACUUM (ANALYZE)".into()).await);
    let vacuum_seconds = t.elapsed().as_secs_f64();
    for (name, s) in timed {
        steps.insert(name, serde_json::json!((s * 10.0).round() / 10.0));
    }
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let report = serde_json::json!({
        "cases": count("SELECT COUNT(*) FROM cases").await,
        "messages": count("SELECT COUNT(*) FROM messages").await,
        "outbox": count("SELECT COUNT(*) FROM outbox").await,
        "triage": count("SELECT COUNT(*) FROM cases WHERE status = 'triage'").await,
        "routed": count("SELECT COUNT(*) FROM cases WHERE status = 'routed'").await,
        "pipeline_mails": mails,
        "pipeline_cases": base,
        "build_seconds": build_seconds,
        "pipeline_seconds": pipeline_seconds,
        "copy_seconds": copy_seconds,
        "vacuum_analyze_seconds": vacuum_seconds,
        "total_seconds": started.elapsed().as_secs_f64(),
        "steps_seconds": steps,
    });
    assert_eq!(report["cases"], cases, "seeded case count");
    sqlx::query("CREATE TABLE bench_seed (cases BIGINT NOT NULL, report TEXT NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO bench_seed (cases, report) VALUES ($1, $2)")
        .bind(cases)
        .bind(report.to_string())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    report
}

// ---------------------------------------------------------------------------------------
// Part A: measuring
// ---------------------------------------------------------------------------------------

/// `EXPLAIN (ANALYZE, BUFFERS)` of a query, as lines.
async fn explain(pool: &PgPool, sql: &str) -> Vec<String> {
    sqlx::query(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"))
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("explain: {e}\n{sql}"))
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect()
}

/// The store calls behind the pages, one at a time with no other load, and the plans.
fn diagnose(
    rt: &tokio::runtime::Runtime,
    pg: &Postgres,
    triage: &brevduva::triage::Triage,
    token_hash: &str,
    number: &str,
    threaded_id: i64,
) -> serde_json::Value {
    let number = CaseNumber::parse(number).unwrap();
    let store = triage.store().clone();
    rt.block_on(async {
        let filter = QueueFilter::default();
        let calls = vec![
            (
                "session lookup (every page)",
                timed(100, || async {
                    store.session(token_hash).await.unwrap().unwrap();
                })
                .await,
            ),
            (
                "queue: 51 rows",
                timed(100, || async {
                    store.queue(&filter, None, 0, 51).await.unwrap();
                })
                .await,
            ),
            (
                "queue: page 1000 (offset 49,950)",
                timed(10, || async {
                    store.queue(&filter, None, 49_950, 51).await.unwrap();
                })
                .await,
            ),
            (
                "queue: filter counts (cached 5 s)",
                timed(10, || async {
                    store.queue_counts(None).await.unwrap();
                })
                .await,
            ),
            (
                "case: detail + thread",
                timed(100, || async {
                    store.case_detail(number).await.unwrap().unwrap();
                })
                .await,
            ),
            (
                "case: 3 suggested replies",
                timed(100, || async {
                    triage.suggest_replies(number, "Bench Mark").await.unwrap();
                })
                .await,
            ),
        ];
        println!("\nstore calls one at a time, no load (p50 / p99 ms):");
        for (name, (p50, p99)) in &calls {
            println!("  {name:<36} {p50:>8.2} {p99:>8.2}");
        }
        let pool = pg.pool(BENCH_DB, 1).await;
        let today = time::OffsetDateTime::now_utc().date();
        let queries = [
            (
                "queue page (the first 51 open cases in queue order)",
                "SELECT c.id, c.number, c.status, c.department_id, c.language, c.subject, c.confidence, \
                 c.urgent, c.sensitive, c.auto_reply, c.bulk, c.created_at, NULL, c.campaign, c.reply_due \
                 FROM cases c WHERE c.status <> 'closed' ORDER BY (CASE c.status WHEN 'triage' THEN 0 \
                 WHEN 'routed' THEN 1 ELSE 2 END), c.urgent DESC, c.created_at, c.id LIMIT 51 OFFSET 0"
                    .to_owned(),
            ),
            // As in `Store::queue_counts`: open cases grouped, closed ones counted.
            (
                "queue filter counts, open cases (every 5 s, in the background)",
                format!(
                    "SELECT c.status, COALESCE(c.department_id, ''), c.language, COALESCE(c.campaign, ''), \
                     c.urgent, c.sensitive, CASE WHEN c.reply_due < '{today}' THEN 1 ELSE 0 END, COUNT(*) \
                     FROM cases c WHERE c.status <> 'closed' GROUP BY 1, 2, 3, 4, 5, 6, 7"
                ),
            ),
            (
                "queue filter counts, closed cases (every 5 s, in the background)",
                "SELECT COUNT(*) FROM cases c WHERE c.status = 'closed'".to_owned(),
            ),
            (
                "case page: the thread",
                format!(
                    "SELECT id, from_address, subject, received_at, body_text, attachments, automation_reason, raw \
                     FROM messages WHERE case_id = {threaded_id} ORDER BY id"
                ),
            ),
        ];
        let mut plans = serde_json::Map::new();
        for (name, sql) in queries {
            let plan = explain(&pool, &sql).await;
            println!("\nEXPLAIN ANALYZE, {name}:");
            for line in &plan {
                println!("  {line}");
            }
            plans.insert(name.to_owned(), serde_json::json!(plan.join("\n")));
        }
        pool.close().await;
        serde_json::json!({
            "store_calls_ms": calls.iter().map(|(n, (p50, p99))| (n.to_string(), serde_json::json!({"p50": p50, "p99": p99}))).collect::<serde_json::Map<_, _>>(),
            "plans": plans,
        })
    })
}

fn part_a(rt: &tokio::runtime::Runtime, pg: &Postgres) -> serde_json::Value {
    let cases: i64 = env_or("BENCH_CLUSTER_CASES", 1_000_000);
    let seed_mails: usize = env_or("BENCH_CLUSTER_SEED_MAILS", 6000);
    let seconds: u64 = env_or("BENCH_CLUSTER_SECONDS", 15);
    let runs: usize = env_or("BENCH_CLUSTER_RUNS", 3);
    assert!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is missing: apt-get install -y wrk"
    );
    println!("\n== Part A: the queue page with {cases} cases in PostgreSQL ==");

    // 1. The seeded database, made once.
    let reseed = std::env::var("BENCH_CLUSTER_RESEED").is_ok_and(|v| v == "1");
    let mut seeding = if reseed {
        None
    } else {
        rt.block_on(seeded(pg, cases))
    };
    let mut app = None;
    if let Some(report) = &seeding {
        println!(
            "reusing the seeded database {BENCH_DB} ({cases} cases; it took {:.0} s to seed)",
            report["total_seconds"].as_f64().unwrap_or(f64::NAN)
        );
        match rt.block_on(Application::build(panel_config(pg))) {
            Ok(built) => app = Some(built),
            Err(e) => {
                // E.g. a migration file changed since the database was seeded.
                println!("the seeded database does not open ({e:#}); seeding it again");
                seeding = None;
            }
        }
    }
    let seeding = match seeding {
        Some(report) => report,
        None => {
            println!(
                "seeding {cases} cases into {BENCH_DB}: {seed_mails} mails through the pipeline, then copies in SQL ..."
            );
            let report = rt.block_on(seed(pg, cases, seed_mails));
            println!(
                "seeded {} cases ({} triage, {} routed), {} messages, {} outbox entries in {:.0} s: \
                 pipeline {:.1} s ({} mails -> {} cases), copies {:.0} s, VACUUM ANALYZE {:.0} s",
                report["cases"],
                report["triage"],
                report["routed"],
                report["messages"],
                report["outbox"],
                report["total_seconds"].as_f64().unwrap(),
                report["pipeline_seconds"].as_f64().unwrap(),
                report["pipeline_mails"],
                report["pipeline_cases"],
                report["copy_seconds"].as_f64().unwrap(),
                report["vacuum_analyze_seconds"].as_f64().unwrap(),
            );
            report
        }
    };
    let app = app.unwrap_or_else(|| {
        rt.block_on(Application::build(panel_config(pg)))
            .expect("application on the seeded database")
    });
    let db_bytes = pg.database_bytes(rt, BENCH_DB);
    println!(
        "database {BENCH_DB}: {:.2} GiB",
        db_bytes as f64 / 1073741824.0
    );

    // 2. A session and the panel.
    let store = app.store().clone();
    let token = {
        let mut b = [0u8; 32];
        getrandom::getrandom(&mut b).unwrap();
        hex(&b)
    };
    let token_hash = hex(&sha2::Sha256::digest(token.as_bytes()));
    let user = rt.block_on(async {
        let created = store
            .create_user(&NewUser {
                username: "bench".into(),
                display_name: "Bench Mark".into(),
                role: Role::Kontaktcenter,
                departments: Vec::new(),
                password_hash: brevduva::web::hash_password("bench-password-not-used").unwrap(),
            })
            .await
            .unwrap();
        match created {
            Some(id) => id,
            None => store.account("bench").await.unwrap().unwrap().member.id,
        }
    });
    rt.block_on(store.open_session(user, &token_hash, &hex(&[7; 16]), 24 * 3600))
        .unwrap();
    let cookie = format!("brevduva_session={token}");

    // Case pages: 16 spread over the ids, 4 with a thread from the second half.
    let (numbers, threaded_id) = rt.block_on(async {
        let pool = pg.pool(BENCH_DB, 1).await;
        let max: i64 = sqlx::query_scalar("SELECT MAX(id) FROM cases")
            .fetch_one(&pool)
            .await
            .unwrap();
        let ids: Vec<i64> = (0..16).map(|i| 1 + max * (2 * i + 1) / 32).collect();
        let mut numbers: Vec<String> =
            sqlx::query_scalar("SELECT number FROM cases WHERE id = ANY($1) ORDER BY id")
                .bind(&ids)
                .fetch_all(&pool)
                .await
                .unwrap();
        let threaded: Vec<(i64, String)> = sqlx::query(
            "SELECT c.id, c.number FROM cases c WHERE c.id IN (SELECT case_id FROM messages \
             WHERE case_id > $1 GROUP BY case_id HAVING COUNT(*) > 1 ORDER BY case_id LIMIT 4)",
        )
        .bind(max / 2)
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
        pool.close().await;
        let threaded_id = threaded.first().map(|t| t.0).unwrap_or(ids[0]);
        numbers.extend(threaded.into_iter().map(|t| t.1));
        (numbers, threaded_id)
    });
    assert!(numbers.len() >= 16, "case numbers to load: {numbers:?}");

    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let state = {
        let _in_runtime = rt.enter(); // the panel starts background writers
        PanelState::new(app.triage.clone(), PanelSettings::from_config(&app.config))
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(brevduva::web::serve(listener, state, async {
        let _ = stopped.await;
    }));

    let t = Instant::now();
    let (status, body) = get(port, "/", &cookie);
    assert_eq!(status, 200, "queue page:\n{body}");
    let rows = body.matches("/cases/KC-").count();
    println!(
        "queue page: 200, {} bytes, {rows} case links (first answer after {:.0} ms, counting included)",
        body.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    assert!(rows >= 50, "the queue shows fewer than 50 cases");
    for n in &numbers {
        let (status, body) = get(port, &format!("/cases/{n}"), &cookie);
        assert_eq!(status, 200, "case page {n}:\n{body}");
        assert!(body.contains(n.as_str()), "case page {n} lacks its number");
    }
    println!(
        "case pages: 200 for all {} ({} .. {})",
        numbers.len(),
        numbers[0],
        numbers[15]
    );

    // 3. Load.
    let script = target_dir().join("bench-cluster").join("cases.lua");
    std::fs::write(
        &script,
        format!(
            "local paths = {{{}}}\nlocal i = 0\nrequest = function()\n  i = i + 1\n  \
             return wrk.format(nil, paths[(i % #paths) + 1])\nend\n",
            numbers
                .iter()
                .map(|n| format!("\"/cases/{n}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let targets: [(&str, String, Option<&Path>); 3] = [
        ("/healthz", format!("{base}/healthz"), None),
        ("queue /", format!("{base}/"), None),
        ("case page", format!("{base}/"), Some(script.as_path())),
    ];
    let loadavg = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    println!("load average before: {}; warming up ...", loadavg());
    for (_, url, script) in &targets {
        load_wrk(url, &cookie, *script, 3);
    }
    println!(
        "{runs} interleaved runs of {seconds} s, {CONNECTIONS} connections, {THREADS} wrk threads, {cases} cases"
    );
    let mut results: Vec<Vec<Run>> = vec![Vec::new(); targets.len()];
    for run in 0..runs {
        for (i, (name, url, script)) in targets.iter().enumerate() {
            let r = load_wrk(url, &cookie, *script, seconds);
            println!(
                "run {run}: {name:<10} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.1} ms  {:>8.0} req/s  ({} requests)",
                r.p50_ms, r.p99_ms, r.max_ms, r.rps, r.requests
            );
            results[i].push(r);
        }
    }
    println!("load average after: {}", loadavg());
    let med: Vec<Run> = results
        .iter()
        .map(|rs| Run {
            p50_ms: median(rs.iter().map(|r| r.p50_ms).collect()),
            p99_ms: median(rs.iter().map(|r| r.p99_ms).collect()),
            max_ms: median(rs.iter().map(|r| r.max_ms).collect()),
            rps: median(rs.iter().map(|r| r.rps).collect()),
            requests: 0,
        })
        .collect();
    let floor = med[0];
    println!("\nmedians of {runs} runs ({cases} cases in PostgreSQL):");
    println!(
        "{:<10} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11} {:>13}",
        "endpoint", "p50 ms", "p99 ms", "max ms", "req/s", "p50/floor", "p99/floor", "floor/req/s"
    );
    for ((name, _, _), m) in targets.iter().zip(&med) {
        println!(
            "{name:<10} {:>9.2} {:>9.2} {:>9.1} {:>9.0} {:>11.1} {:>11.1} {:>13.1}",
            m.p50_ms,
            m.p99_ms,
            m.max_ms,
            m.rps,
            m.p50_ms / floor.p50_ms,
            m.p99_ms / floor.p99_ms,
            floor.rps / m.rps
        );
    }

    let diagnosis = diagnose(
        rt,
        pg,
        &app.triage,
        &token_hash,
        &numbers[numbers.len() - 1],
        threaded_id,
    );
    let _ = stop.send(());
    rt.block_on(server).unwrap().unwrap();
    rt.block_on(store.close());

    let j = |r: &Run| serde_json::json!({"p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "max_ms": r.max_ms, "rps": r.rps.round()});
    serde_json::json!({
        "cases": cases,
        "database_gib": (db_bytes as f64 / 1073741824.0 * 100.0).round() / 100.0,
        "connections": CONNECTIONS,
        "seconds": seconds,
        "runs": runs,
        "healthz": j(&med[0]),
        "queue": j(&med[1]),
        "case": j(&med[2]),
        "queue_p99_over_floor": med[1].p99_ms / floor.p99_ms,
        "case_p99_over_floor": med[2].p99_ms / floor.p99_ms,
        "floor_rps_over_queue": floor.rps / med[1].rps,
        "floor_rps_over_case": floor.rps / med[2].rps,
        "seeding": seeding,
        "diagnosis": diagnosis,
    })
}

// ---------------------------------------------------------------------------------------
// Part B: several instances
// ---------------------------------------------------------------------------------------

/// The Maildir folders of Dovecot accounts kc1..kc6 (added to the test Dovecot's users).
fn add_accounts(dovecot: &Dovecot) -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let root = dovecot.dir();
    let users = root.join("users");
    let mut text = std::fs::read_to_string(&users).unwrap();
    let mail = root.join("mail");
    let meta = std::fs::metadata(&mail).unwrap();
    let (uid, gid) = (meta.uid(), meta.gid());
    let mut dirs = Vec::new();
    for i in 1..=MAILBOXES {
        text.push_str(&format!("kc{i}:{{PLAIN}}secret\n"));
        let home = mail.join(format!("kc{i}"));
        for sub in ["", "cur", "new", "tmp"] {
            let d = home.join(sub);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .unwrap();
            std::os::unix::fs::chown(&d, Some(uid), Some(gid)).unwrap();
        }
        dirs.push(home);
    }
    // Dovecot's passwd-file is read again when it changes.
    std::fs::write(&users, text).unwrap();
    dirs
}

/// Writes mails into the mailboxes' `tmp/` (owned by Dovecot's mail user), round robin;
/// returns (tmp, new) paths to rename when the backlog is to appear.
fn stage_mails(mailboxes: &[PathBuf], mails: &[Vec<u8>]) -> Vec<(PathBuf, PathBuf)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&mailboxes[0]).unwrap();
    let (uid, gid) = (meta.uid(), meta.gid());
    let host = "bench";
    let secs = now_unix();
    mails
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let dir = &mailboxes[i % mailboxes.len()];
            let name = format!("{secs}.M{i}P{}.{host},S={}", std::process::id(), raw.len());
            let tmp = dir.join("tmp").join(&name);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .unwrap();
            f.write_all(raw).unwrap();
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid)).unwrap();
            (tmp, dir.join("new").join(&name))
        })
        .collect()
}

/// (messages, \Seen) in a Maildir.
fn seen_count(mailbox: &Path) -> (usize, usize) {
    let mut all = 0;
    let mut seen = 0;
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(mailbox.join(sub)).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            all += 1;
            if sub == "cur"
                && name
                    .split_once(":2,")
                    .is_some_and(|(_, flags)| flags.contains('S'))
            {
                seen += 1;
            }
        }
    }
    (all, seen)
}

/// One `brevduva run` process; SIGTERM (then SIGKILL) on drop.
struct Instance {
    name: String,
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Instance {
    fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill")
            .args(["-s", "TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "  {} did not stop within 15 s of SIGTERM: SIGKILL",
            self.name
        );
        let _ = child.kill();
        child.wait().ok()
    }

    /// The last 25 lines of the log, leaving out one line per case.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("case created"))
            .collect();
        format!(
            "--- {} ---\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(25)..].join("\n")
        )
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The instance's configuration file (TOML).
#[allow(clippy::too_many_arguments)]
fn instance_config(
    n: usize,
    dir: &Path,
    database_url: &str,
    web_port: u16,
    imap_port: u16,
    smtp_port: u16,
    cluster: Option<&[&str]>,
    lease_seconds: u64,
) -> String {
    let mut t = format!(
        "[storage]\ndata_dir = \"{}\"\ndatabase_url = \"{database_url}\"\n\n\
         [maildir]\nenabled = false\n\n[web]\nlisten = \"127.0.0.1:{web_port}\"\n\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"plain\"\nauth = \"none\"\ntimeout_seconds = 10\n\n",
        dir.display()
    );
    for i in 1..=MAILBOXES {
        t.push_str(&format!(
            "[[imap]]\nname = \"kc{i}\"\nhost = \"127.0.0.1\"\nport = {imap_port}\nsecurity = \"plain\"\n\
             username = \"kc{i}\"\npassword = \"secret\"\nfolders = [\"INBOX\"]\nbatch_size = 100\n\n"
        ));
    }
    if let Some(keys) = cluster {
        t.push_str("[cluster]\n");
        for k in keys {
            t.push_str(&cluster_line(k, n, lease_seconds));
        }
    }
    t
}

/// The `[cluster]` keys the binary accepts, of those the bench sets (`check-config` on a
/// config with them, leaving out every key it calls unknown); `None` without the section.
fn cluster_keys(binary: &Path, dir: &Path) -> Option<Vec<&'static str>> {
    let mut keys = vec![
        "instance_name",
        "lease_seconds",
        "outbox_claim_seconds",
        "index_poll_ms",
    ];
    let file = dir.join("cluster-check.toml");
    loop {
        let section: String = keys.iter().map(|k| cluster_line(k, 1, 10)).collect();
        std::fs::write(
            &file,
            format!(
                "[storage]\ndata_dir = \"{}\"\n[maildir]\nenabled = false\n[cluster]\n{section}",
                dir.join("check-data").display()
            ),
        )
        .unwrap();
        let out = Command::new(binary)
            .args(["check-config", "--config"])
            .arg(&file)
            .output()
            .expect("brevduva check-config");
        let text = String::from_utf8_lossy(&out.stderr);
        if text.contains("unknown field `cluster`") {
            return None;
        }
        if let Some(k) = keys
            .iter()
            .position(|k| text.contains(&format!("unknown field `{k}`")))
        {
            println!("this binary has no cluster.{}: left out", keys[k]);
            keys.remove(k);
            continue;
        }
        assert!(
            out.status.success(),
            "check-config with a [cluster] section failed:\n{text}{}",
            String::from_utf8_lossy(&out.stdout)
        );
        return Some(keys);
    }
}

/// One line of the `[cluster]` section.
fn cluster_line(key: &str, instance: usize, lease_seconds: u64) -> String {
    match key {
        "instance_name" => format!("instance_name = \"bench-{instance}\"\n"),
        "lease_seconds" => format!("lease_seconds = {lease_seconds}\n"),
        "outbox_claim_seconds" => "outbox_claim_seconds = 120\n".into(),
        "index_poll_ms" => "index_poll_ms = 1000\n".into(),
        other => panic!("cluster key {other}"),
    }
}

/// The mailbox leases now: live leases per holder ("bench-1:3 bench-2:3"; empty without
/// a lease table), and every lease ("kc1/INBOX=bench-1#2 kc2/INBOX=(expired)bench-2#1 ...").
async fn lease_state(pool: &PgPool) -> (String, String) {
    let rows = sqlx::query(
        "SELECT mailbox, holder, fence, expires_at > $1 FROM mailbox_leases ORDER BY mailbox",
    )
    .bind(now_unix())
    .fetch_all(pool)
    .await
    .unwrap_or_default();
    let mut per_holder: BTreeMap<String, usize> = BTreeMap::new();
    let mut detail = Vec::new();
    for r in &rows {
        let (mailbox, holder, fence, live): (String, String, i64, bool) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        if live {
            *per_holder.entry(holder.clone()).or_default() += 1;
        }
        let state = if live { "" } else { "(expired)" };
        detail.push(format!("{mailbox}={state}{holder}#{fence}"));
    }
    let summary = per_holder
        .iter()
        .map(|(h, n)| format!("{h}:{n}"))
        .collect::<Vec<_>>()
        .join(" ");
    (summary, detail.join(" "))
}

/// Lease changes: (seconds since start, per holder, every lease).
type Timeline = Vec<(f64, String, String)>;

/// Adds the lease state to the timeline if it changed.
fn note_leases(timeline: &mut Timeline, at: f64, (summary, detail): (String, String)) {
    if timeline.last().map(|l| &l.2) != Some(&detail) {
        timeline.push((at, summary, detail));
    }
}

/// WARN and ERROR lines of a log, counted by what they say (without times and values).
fn log_problems(path: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(at) = line.find(" WARN ").or_else(|| line.find(" ERROR ")) else {
            continue;
        };
        let what = line[at..].trim();
        let cut = [" db.statement=", " rows_affected=", " error=", " elapsed="]
            .iter()
            .filter_map(|m| what.find(m))
            .min()
            .unwrap_or(what.len())
            .min(160);
        *out.entry(what[..cut].to_owned()).or_default() += 1;
    }
    out
}

#[derive(Default)]
struct Poll {
    messages: i64,
    cases: i64,
    outbox: i64,
    pending: i64,
}

async fn poll(pool: &PgPool) -> Option<Poll> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM cases), \
         (SELECT COUNT(*) FROM outbox), (SELECT COUNT(*) FROM outbox WHERE status = 'pending')",
    )
    .fetch_one(pool)
    .await
    .ok()?;
    Some(Poll {
        messages: row.get(0),
        cases: row.get(1),
        outbox: row.get(2),
        pending: row.get(3),
    })
}

/// Message-IDs seen more than once in smtp-sink: (received, duplicates).
fn sink_duplicates(sink: &SmtpSink) -> (usize, usize, Vec<String>) {
    let received = sink.received();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for m in &received {
        let text = String::from_utf8_lossy(&m.raw);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let id = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
            .map(|l| l[11..].trim().to_owned())
            .unwrap_or_default();
        *ids.entry(id).or_default() += 1;
    }
    let dups: Vec<String> = ids
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, n)| format!("{id} x{n}"))
        .collect();
    (received.len(), dups.len(), dups)
}

/// CPU seconds the machine spent busy, and in all (`/proc/stat`, USER_HZ = 100).
fn machine_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0.0);
    // user nice system idle iowait irq softirq steal
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    (busy / 100.0, (busy + at(3) + at(4)) / 100.0)
}

/// (parent pid, CPU seconds of the process, CPU seconds of its reaped children).
fn process_cpu(pid: u32) -> Option<(u32, f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    Some((
        n(1) as u32,
        (n(11) + n(12)) / 100.0,
        (n(13) + n(14)) / 100.0,
    ))
}

/// CPU seconds of a process tree: the process, its living children and those it reaped.
fn tree_cpu(pid: u32) -> f64 {
    let Some((_, own, reaped)) = process_cpu(pid) else {
        return 0.0;
    };
    let children: f64 = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(process_cpu)
                .filter(|(ppid, _, _)| *ppid == pid)
                .map(|(_, cpu, _)| cpu)
                .sum()
        })
        .unwrap_or(0.0);
    own + reaped + children
}

/// CPU seconds so far: (machine busy, machine total, PostgreSQL, the instances).
fn cpu_snapshot(pg: &Postgres, instances: &[Instance]) -> [f64; 4] {
    let (busy, total) = machine_cpu();
    let instances = instances
        .iter()
        .filter_map(|i| i.child.as_ref())
        .map(|c| tree_cpu(c.id()))
        .sum();
    [busy, total, pg.cpu_seconds(), instances]
}

/// Backends of the current database waiting for a lock, by lock type and statement.
async fn lock_waits(pool: &PgPool) -> Vec<(String, i64)> {
    sqlx::query(
        "SELECT l.locktype || ': ' || left(regexp_replace(a.query, '\\s+', ' ', 'g'), 100), COUNT(*) \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE NOT l.granted AND a.datname = current_database() GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_default()
    .iter()
    .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
    .collect()
}

/// One measured run with `k` instances.
#[allow(clippy::too_many_arguments)]
fn run_instances(
    rt: &tokio::runtime::Runtime,
    pg: &Postgres,
    binary: &Path,
    k: usize,
    mails: usize,
    warm: bool,
    cluster: Option<&[&str]>,
    lease_seconds: u64,
    round: usize,
) -> serde_json::Value {
    let mode = if warm { "warm" } else { "cold" };
    let database = format!("brevduva_triage_{k}");
    rt.block_on(pg.recreate(&database));
    let dovecot = Dovecot::start(false);
    let sink = SmtpSink::start();
    let mailboxes = add_accounts(&dovecot);
    // The same mails in every run (each has its own database, Dovecot and smtp-sink).
    let mut generator = Mails::new("triage", 0x9e37_79b9_7f4a_7c15);
    let raws: Vec<Vec<u8>> = (0..mails).map(|_| generator.mail(0)).collect();
    let staged = stage_mails(&mailboxes, &raws);
    let release = |staged: &[(PathBuf, PathBuf)]| {
        for (tmp, new) in staged {
            std::fs::rename(tmp, new).unwrap();
        }
    };
    if !warm {
        release(&staged);
    }
    let url = pg.url(&database);
    let base = target_dir().join("bench-cluster");
    let mut instances: Vec<Instance> = Vec::new();
    let mut configs = Vec::new();
    for n in 1..=k {
        let dir = base.join(format!("instance-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        let port = servers::free_port();
        let file = dir.join("brevduva.toml");
        std::fs::write(
            &file,
            instance_config(
                n,
                &dir.join("data"),
                &url,
                port,
                dovecot.port(),
                sink.port(),
                cluster,
                lease_seconds,
            ),
        )
        .unwrap();
        configs.push((n, dir, port, file));
    }
    let pool = rt.block_on(pg.pool(&database, 2));
    let started = Instant::now();
    for (n, dir, port, file) in &configs {
        let log = dir.join(format!("run-{mode}-k{k}-round{round}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary)
            .args(["run", "--config"])
            .arg(file)
            .env("RUST_LOG", "info,sqlx=warn,tantivy=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start brevduva run");
        instances.push(Instance {
            name: format!("bench-{n}"),
            child: Some(child),
            port: *port,
            log,
        });
    }
    let mut timeline: Timeline = Vec::new();
    let mut t0 = started;
    let mut ready_seconds = None;
    if warm {
        // Every instance serves, and the leases are spread, before the backlog appears.
        for i in &instances {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                if get(i.port, "/healthz", "x=y").0 == 200 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} did not answer /healthz:\n{}",
                    i.name,
                    i.log_tail()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let limit = MAILBOXES.div_ceil(k);
        let deadline = Instant::now() + Duration::from_secs(lease_seconds * 4 + 5);
        loop {
            let state = rt.block_on(lease_state(&pool));
            let holders = state.0.clone();
            let counts: Vec<usize> = holders
                .split_whitespace()
                .filter_map(|h| h.rsplit_once(':')?.1.parse().ok())
                .collect();
            note_leases(&mut timeline, started.elapsed().as_secs_f64(), state);
            let spread = counts.len() == k
                && counts.iter().sum::<usize>() == MAILBOXES
                && counts.iter().all(|&c| c <= limit);
            if spread || cluster.is_none() || Instant::now() >= deadline {
                if cluster.is_some() && !spread {
                    println!(
                        "  the leases were not spread after {:.0} s: {holders}",
                        started.elapsed().as_secs_f64()
                    );
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        ready_seconds = Some(started.elapsed().as_secs_f64());
        t0 = Instant::now();
        release(&staged);
    }
    let timeout = Duration::from_secs(env_or("BENCH_CLUSTER_TIMEOUT", 600));
    let stall = Duration::from_secs(env_or("BENCH_CLUSTER_STALL", 60));
    let mut progress = (Instant::now(), -1, -1);
    let want = mails as i64;
    let (mut intake, mut done) = (None, None);
    let mut last = Poll::default();
    let mut last_lease_check = Instant::now() - Duration::from_secs(1);
    let mut failure = None;
    let cpu_start = cpu_snapshot(pg, &instances);
    let (mut samples, mut waiting, mut most_waiting) = (0usize, 0i64, 0i64);
    let mut waits_by_type: BTreeMap<String, i64> = BTreeMap::new();
    while done.is_none() {
        let waits = rt.block_on(lock_waits(&pool));
        let now_waiting: i64 = waits.iter().map(|w| w.1).sum();
        samples += 1;
        waiting += now_waiting;
        most_waiting = most_waiting.max(now_waiting);
        for (t, n) in waits {
            *waits_by_type.entry(t).or_default() += n;
        }
        if let Some(p) = rt.block_on(poll(&pool)) {
            if intake.is_none() && p.messages >= want {
                intake = Some(t0.elapsed().as_secs_f64());
            }
            if p.messages >= want && p.pending == 0 && p.outbox > 0 {
                done = Some(t0.elapsed().as_secs_f64());
            }
            if (p.messages, p.outbox - p.pending) != (progress.1, progress.2) {
                progress = (Instant::now(), p.messages, p.outbox - p.pending);
            }
            last = p;
        }
        if last_lease_check.elapsed() >= Duration::from_millis(250) {
            last_lease_check = Instant::now();
            let state = rt.block_on(lease_state(&pool));
            note_leases(&mut timeline, started.elapsed().as_secs_f64(), state);
        }
        if let Some(i) = instances.iter_mut().find_map(|i| {
            let exited = matches!(i.child.as_mut().map(Child::try_wait), Some(Ok(Some(_))));
            exited.then_some(i)
        }) {
            failure = Some(format!("{} exited:\n{}", i.name, i.log_tail()));
            break;
        }
        if done.is_none() && progress.0.elapsed() > stall {
            failure = Some(format!(
                "stalled: nothing stored or sent for {stall:?}; {} of {want} mails stored, {} outbox \
                 entries pending",
                last.messages, last.pending
            ));
            break;
        }
        if t0.elapsed() > timeout {
            failure = Some(format!(
                "timeout after {timeout:?}: {} of {want} mails stored, {} outbox entries pending",
                last.messages, last.pending
            ));
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The sink has every message the outbox calls sent (it writes before it answers 250).
    let sent: i64 = rt.block_on(async {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'sent'")
            .fetch_one(&pool)
            .await
            .unwrap_or(0)
    });
    let cpu_end = cpu_snapshot(pg, &instances);
    let cpu: Vec<f64> = cpu_end.iter().zip(cpu_start).map(|(e, s)| e - s).collect();
    let (busy, total, pg_cpu, instances_cpu) = (cpu[0], cpu[1], cpu[2], cpu[3]);
    let leases_end = rt.block_on(lease_state(&pool));
    for i in &mut instances {
        i.stop();
    }
    let stopped_after = started.elapsed().as_secs_f64();
    let (received, duplicate_ids, dups) = sink_duplicates(&sink);
    let (distinct_ids, per_source, final_poll): (i64, BTreeMap<String, i64>, Poll) =
        rt.block_on(async {
            let distinct: i64 =
                sqlx::query_scalar("SELECT COUNT(DISTINCT message_id) FROM messages")
                    .fetch_one(&pool)
                    .await
                    .unwrap_or(0);
            let per_source = sqlx::query(
                "SELECT source, COUNT(*) FROM messages GROUP BY source ORDER BY source",
            )
            .fetch_all(&pool)
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
            .collect();
            (distinct, per_source, poll(&pool).await.unwrap_or_default())
        });
    rt.block_on(pool.close());
    let seen: usize = mailboxes.iter().map(|m| seen_count(m).1).sum();
    let exactly_once = final_poll.cases == want
        && final_poll.messages == want
        && distinct_ids == want
        && duplicate_ids == 0
        && received as i64 == sent;
    let e2e = done.map(|s| mails as f64 / s);
    let intake_rate = intake.map(|s| mails as f64 / s);
    println!(
        "k={k} {mode} round {round}: {} | every mail a case after {} ({}), outbox empty after {} ({}); \
         {} cases, {} messages ({distinct_ids} distinct Message-IDs), {} outbox entries ({sent} sent), \
         smtp-sink {received} mails, {duplicate_ids} Message-IDs twice, {seen} of {mails} \\Seen after stop; exactly once: {}",
        failure.as_deref().map(|_| "FAILED").unwrap_or("ok"),
        intake.map(|s| format!("{s:.2} s")).unwrap_or("-".into()),
        intake_rate.map(|r| format!("{r:.0} mails/s")).unwrap_or("-".into()),
        done.map(|s| format!("{s:.2} s")).unwrap_or("-".into()),
        e2e.map(|r| format!("{r:.0} mails/s")).unwrap_or("-".into()),
        final_poll.cases,
        final_poll.messages,
        final_poll.outbox,
        if exactly_once { "yes" } else { "NO" },
    );
    if let Some(f) = &failure {
        println!("  {f}");
        println!("  leases at the end: {}", leases_end.1);
        println!("  every lease change (s since start):");
        for (at, _, detail) in &timeline {
            println!("    {at:>6.1}  {detail}");
        }
        for i in &instances {
            println!("{}", i.log_tail());
        }
    }
    if !dups.is_empty() {
        println!(
            "  duplicates in smtp-sink (first 10): {:?}",
            &dups[..dups.len().min(10)]
        );
    }
    if let Some(r) = ready_seconds {
        println!("  instances serving and leases spread {r:.1} s after start");
    }
    println!(
        "  lease holders over time (s since start): {}",
        timeline
            .iter()
            .enumerate()
            .filter(|(n, l)| *n == 0 || timeline[n - 1].1 != l.1)
            .map(|(_, (s, h, _))| format!("{s:.1}: [{h}]"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  mails per mailbox: {per_source:?}; stopped {stopped_after:.1} s after start");
    let mut problems: BTreeMap<String, usize> = BTreeMap::new();
    for i in &instances {
        for (what, n) in log_problems(&i.log) {
            *problems.entry(what).or_default() += n;
        }
    }
    if !problems.is_empty() {
        println!("  warnings and errors in the instances' logs:");
        for (what, n) in &problems {
            println!("    {n:>5}  {what}");
        }
    }
    let mean_waiting = waiting as f64 / samples.max(1) as f64;
    println!(
        "  CPU while measured: instances {instances_cpu:.1} s, PostgreSQL {pg_cpu:.1} s, the rest \
         (Dovecot, smtp-sink, this bench) {:.1} s; the machine {:.0} % busy; backends waiting \
         for a lock: {mean_waiting:.2} on average, at most {most_waiting} ({samples} samples)",
        busy - pg_cpu - instances_cpu,
        100.0 * busy / total.max(1e-9),
    );
    if !waits_by_type.is_empty() {
        println!("  lock waits by lock type and statement, summed over the samples:");
        for (what, n) in &waits_by_type {
            println!("    {n:>6}  {what}");
        }
    }
    drop(dovecot);
    drop(sink);
    serde_json::json!({
        "k": k,
        "mode": mode,
        "round": round,
        "mails": mails,
        "intake_seconds": intake,
        "end_to_end_seconds": done,
        "intake_per_s": intake_rate,
        "end_to_end_per_s": e2e,
        "ready_seconds": ready_seconds,
        "cases": final_poll.cases,
        "messages": final_poll.messages,
        "distinct_message_ids": distinct_ids,
        "outbox": final_poll.outbox,
        "outbox_sent": sent,
        "sink_received": received,
        "sink_duplicate_message_ids": duplicate_ids,
        "seen": seen,
        "exactly_once": exactly_once,
        "failure": failure,
        "lease_timeline": timeline.iter().map(|(s, h, d)| serde_json::json!([s, h, d])).collect::<Vec<_>>(),
        "leases_at_end": leases_end.1,
        "log_problems": problems,
        "cpu_seconds": {"instances": instances_cpu, "postgres": pg_cpu, "rest": busy - pg_cpu - instances_cpu, "machine_busy_share": busy / total.max(1e-9)},
        "lock_waiting_backends": {"mean": mean_waiting, "max": most_waiting, "samples": samples, "by_type": waits_by_type},
    })
}

fn part_b(rt: &tokio::runtime::Runtime, pg: &Postgres) -> serde_json::Value {
    let mails: usize = env_or("BENCH_CLUSTER_MAILS", 6000);
    let rounds: usize = env_or("BENCH_CLUSTER_ROUNDS", 3);
    let lease_seconds: u64 = env_or("BENCH_CLUSTER_LEASE_SECONDS", 10);
    let mode: String = env_or("BENCH_CLUSTER_MODE", "both".to_owned());
    let modes: Vec<bool> = match mode.as_str() {
        "cold" => vec![false],
        "warm" => vec![true],
        "both" => vec![false, true],
        other => panic!("BENCH_CLUSTER_MODE: cold, warm or both, not {other}"),
    };
    let mut ks: Vec<usize> = env_or("BENCH_CLUSTER_INSTANCES", "1,2,3".to_owned())
        .split(',')
        .filter_map(|k| k.trim().parse().ok())
        .collect();
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_brevduva"));
    let base = target_dir().join("bench-cluster");
    std::fs::create_dir_all(&base).unwrap();
    let cluster = cluster_keys(&binary, &base);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "\n== Part B: end-to-end triage, {mails} mails over {MAILBOXES} IMAP mailboxes, instances {ks:?}, \
         one PostgreSQL, one Dovecot, one smtp-sink; {cores} cores shared by all of them =="
    );
    println!("binary {}", binary.display());
    if cluster.is_none() {
        println!(
            "this binary has no [cluster] section: more than one instance would read every mailbox at once, \
             so only k = 1 runs"
        );
        ks.retain(|&k| k == 1);
    }
    let mut results = Vec::new();
    for round in 0..rounds {
        for &warm in &modes {
            for &k in &ks {
                results.push(run_instances(
                    rt,
                    pg,
                    &binary,
                    k,
                    mails,
                    warm,
                    cluster.as_deref(),
                    lease_seconds,
                    round,
                ));
            }
        }
    }
    // Medians per (mode, k) and ratios to k = 1.
    let mut summary = Vec::new();
    println!(
        "\nend-to-end triage on {cores} cores (medians of {rounds} round(s); mails/s until every \
         mail is a case and the outbox is empty):"
    );
    println!(
        "{:<6} {:>3} {:>12} {:>10} {:>14} {:>10} {:>13}",
        "mode", "k", "mails/s", "vs k=1", "intake/s", "vs k=1", "exactly once"
    );
    for &warm in &modes {
        let mode = if warm { "warm" } else { "cold" };
        let of = |k: usize, key: &str| -> Option<f64> {
            let v: Vec<f64> = results
                .iter()
                .filter(|r| r["k"] == k && r["mode"] == mode)
                .filter_map(|r| r[key].as_f64())
                .collect();
            (!v.is_empty()).then(|| median(v))
        };
        for &k in &ks {
            let (e2e, intake) = (of(k, "end_to_end_per_s"), of(k, "intake_per_s"));
            let (e1, i1) = (of(1, "end_to_end_per_s"), of(1, "intake_per_s"));
            let once = results
                .iter()
                .filter(|r| r["k"] == k && r["mode"] == mode)
                .all(|r| r["exactly_once"] == true);
            let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
            let f = |v: Option<f64>, d: usize| v.map(|v| format!("{v:.d$}")).unwrap_or("-".into());
            println!(
                "{mode:<6} {k:>3} {:>12} {:>10} {:>14} {:>10} {:>13}",
                f(e2e, 0),
                f(ratio(e2e, e1), 2),
                f(intake, 0),
                f(ratio(intake, i1), 2),
                if once { "yes" } else { "NO" }
            );
            summary.push(serde_json::json!({
                "mode": mode, "k": k,
                "end_to_end_per_s": e2e, "end_to_end_vs_1": ratio(e2e, e1),
                "intake_per_s": intake, "intake_vs_1": ratio(intake, i1),
                "exactly_once": once,
            }));
        }
    }
    serde_json::json!({
        "mails": mails,
        "mailboxes": MAILBOXES,
        "cores": cores,
        "cluster_keys": cluster,
        "lease_seconds": lease_seconds,
        "rounds": rounds,
        "summary": summary,
        "runs": results,
    })
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("cluster_scale: a benchmark; run it with `cargo bench --bench cluster_scale`");
        return;
    }
    let parts: String = env_or("BENCH_CLUSTER_PARTS", "ab".to_owned());
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = target_dir().join("bench-cluster");
    std::fs::create_dir_all(&base).unwrap();
    let pg = Postgres::start(&base.join("pg"));
    let a = parts.contains('a').then(|| part_a(&rt, &pg));
    let b = parts.contains('b').then(|| part_b(&rt, &pg));
    drop(pg);
    println!(
        "{}",
        serde_json::json!({
            "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "seconds": started.elapsed().as_secs_f64(),
            "queue_page": a,
            "triage_instances": b,
        })
    );
}
