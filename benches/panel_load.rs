//! The admin panel under load: 100,000 cases in SQLite, 50 concurrent clients on loopback.
//!
//! 1. **Seeding** (once per case count, cached in `target/bench-panel/cases-N/`): realistic
//!    Swedish citizen mails across every department's topics (the starter knowledge base's
//!    enquiries dressed up with varied greetings, senders, addresses and signatures; some
//!    urgent, some for the sensitive departments, some replies joining earlier cases) go
//!    through the real pipeline, `Triage::process_batch`, 250 at a time. Seeding runs in a
//!    child process, so the peak memory reported below is the serving process's alone.
//! 2. A Kontaktcenter user and a session are created; the panel is served in-process on a
//!    free 127.0.0.1 port by its own multi-thread tokio runtime. The queue and a case page
//!    must answer 200 with the session cookie before anything is measured.
//! 3. `wrk` (50 connections, 2 threads, `--latency`; install it with `apt-get install -y
//!    wrk`) loads, side by side and interleaved, three times each after a short warm-up:
//!    - **floor**: `/healthz` (no session, no database),
//!    - **queue**: `/` (the first 50 open cases in queue order, counts cached 5 s),
//!    - **case**: `/cases/KC-…` rotating over 20 cases spread over the whole range (a few
//!      with a thread of several messages), via a wrk Lua script.
//!
//! Prints p50 / p99 / requests per second per run, the medians of the runs with ratios to
//! the floor, whether p99 ≤ 20 ms holds for the queue and the case page, the serving
//! process's peak RSS, the SQLite file size, sequential timings of the store calls behind
//! the two pages and the queue query's plan; then one JSON line.
//!
//! `cargo bench --bench panel_load`. Environment: `BENCH_PANEL_CASES` (default 100000),
//! `BENCH_PANEL_SECONDS` per wrk run (default 15), `BENCH_PANEL_RUNS` (default 3).

/// The same allocator as the `brevduva` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/openloop.rs"]
mod openloop;
#[path = "support/panel_client.rs"]
mod panel_client;
#[path = "support/wrk.rs"]
mod wrk;

use panel_client::{env_or, get, hex, load_wrk, target_dir, timed, CONNECTIONS, THREADS};
use wrk::{median, Run};

use brevduva::app::Application;
use brevduva::config::Config;
use brevduva::domain::{CaseNumber, Role};
use brevduva::store::{NewUser, QueueFilter};
use brevduva::web::{PanelSettings, PanelState};
use sha2::Digest;
use sqlx::Row;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const TARGET_P99_MS: f64 = 20.0;
const BATCH: usize = 250;

// ---------------------------------------------------------------------------------------
// Mail generation
// ---------------------------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct Enquiry {
    department: String,
    #[serde(default)]
    subject: String,
    text: String,
}

const FIRST: &[&str] = &[
    "Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Elin", "Mohammed", "Fatima", "Olena",
    "Sven", "Ingrid", "Ahmed", "Sara", "Mikael", "Lena", "Oskar", "Emma", "Ali", "Kerstin",
    "Björn", "Maja", "Nils", "Aisha", "Per", "Birgitta", "Hassan", "Ebba", "Gunnar", "Zeynep",
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
    "Gustafsson",
    "Pettersson",
    "Jonsson",
    "Lindberg",
    "Lindqvist",
    "Hussein",
    "Kovalenko",
    "Yilmaz",
    "Berg",
    "Holm",
    "Sandberg",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "hotmail.se",
    "outlook.com",
    "telia.com",
    "live.se",
    "icloud.com",
    "bredband.net",
    "yahoo.se",
    "spray.se",
    "comhem.se",
];
const STREETS: &[&str] = &[
    "Storgatan",
    "Kyrkogatan",
    "Björkvägen",
    "Skolgatan",
    "Ringvägen",
    "Parkvägen",
    "Industrigatan",
    "Hamngatan",
    "Ekbacken",
    "Tallstigen",
    "Järnvägsgatan",
    "Lärkvägen",
];
const GREETINGS: &[&str] = &[
    "Hej!",
    "Hej,",
    "Hejsan!",
    "God dag,",
    "Hej Kontaktcenter,",
    "Hej kommunen!",
    "",
];
const DETAILS: &[&str] = &[
    "Jag bor på {street} {n}.",
    "Det gäller adressen {street} {n}.",
    "Ni når mig på 070-{n}{n} om ni behöver fråga något.",
    "Jag har försökt ringa men kommer inte fram.",
    "Jag skrev om detta för ett tag sedan men har inte fått något svar.",
    "Tacksam för snabbt svar.",
    "Min granne har samma fråga.",
    "",
    "",
];
const CLOSINGS: &[&str] = &[
    "Med vänliga hälsningar\r\n{name}",
    "Mvh {name}",
    "Vänliga hälsningar,\r\n{name}\r\n{street} {n}",
    "Tack på förhand!\r\n{first}",
    "Hälsningar {first}",
    "/{first}",
];
/// Sentences that contain the departments' urgent terms.
const URGENT: &[&str] = &[
    "Ett träd har fallit över vägen vid {street} och det är livsfarligt att passera.",
    "Det är ett stort hål i vägen på {street}, bilar kör rakt ner i det.",
    "Det finns rasrisk i slänten bakom {street} {n} efter regnet.",
    "Vi har en vattenläcka på {street}, vatten forsar upp ur marken.",
    "Källaren står under vatten efter ett rörbrott.",
    "Min mamma har ramlat och trygghetslarmet fungerar inte.",
    "Hemtjänsten har inte kommit i dag och pappa ligger på golvet.",
    "Jag vill göra en orosanmälan, ett barn i vårt hus far illa.",
    "Grannen hotar mig och min familj.",
];

struct Generator {
    enquiries: Vec<Enquiry>,
    seed: u64,
    /// Message-ids already committed, with their subjects, for replies.
    sent: Vec<(String, String)>,
    serial: usize,
}

impl Generator {
    fn new() -> Self {
        let kb = include_str!("../index/starter-kb.jsonl");
        let enquiries = kb
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("a knowledge entry"))
            .collect();
        Self {
            enquiries,
            seed: 0x2545_f491_4f6c_dd1d,
            sent: Vec::new(),
            serial: 0,
        }
    }

    fn next(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[(self.next() % list.len() as u64) as usize]
    }

    fn fill(&mut self, template: &str, first: &str, last: &str) -> String {
        let n = 1 + self.next() % 98;
        let street = self.pick(STREETS);
        template
            .replace("{street}", street)
            .replace("{n}", &n.to_string())
            .replace("{name}", &format!("{first} {last}"))
            .replace("{first}", first)
    }

    /// One mail; `may_reply` allows a reply to an earlier (committed) mail.
    fn mail(&mut self, may_reply: bool) -> Vec<u8> {
        self.serial += 1;
        let serial = self.serial;
        let first = self.pick(FIRST);
        let last = self.pick(LAST);
        let domain = self.pick(DOMAINS);
        let address = format!(
            "{}.{}{}@{domain}",
            first.to_lowercase(),
            last.to_lowercase(),
            self.next() % 1000
        )
        .replace(['å', 'ä'], "a")
        .replace('ö', "o");
        let message_id = format!("bench.{serial}.{}@{domain}", self.next() % 100_000);
        let day = 1 + self.next() % 28;
        let hour = 6 + self.next() % 16;
        let minute = self.next() % 60;
        let roll = self.next() % 100;
        let (subject, body, in_reply_to) = if may_reply && roll < 6 && !self.sent.is_empty() {
            // A citizen answering in an earlier thread.
            let k = (self.next() % self.sent.len() as u64) as usize;
            let (parent, subject) = self.sent[k].clone();
            let text = self.pick(&[
                "Tack för svaret! Men jag undrar fortfarande när det blir åtgärdat?",
                "Jag har inte hört något mer, vad händer nu?",
                "Här kommer de uppgifter ni bad om. Hör av er om något saknas.",
                "Det har blivit värre sedan jag skrev senast.",
            ]);
            (
                format!("SV: {subject}"),
                format!(
                    "{text}\r\n\r\n{}\r\n\r\n> Tidigare meddelande",
                    self.fill("Mvh {name}", first, last)
                ),
                Some(parent),
            )
        } else {
            let i = (self.next() % self.enquiries.len() as u64) as usize;
            let (department, enquiry_subject, text) = {
                let e = &self.enquiries[i];
                (e.department.clone(), e.subject.clone(), e.text.clone())
            };
            let subject = if enquiry_subject.is_empty() || roll % 5 == 0 {
                let words: Vec<&str> = text.split_whitespace().take(6).collect();
                words.join(" ").trim_end_matches([',', '.', '!']).to_owned()
            } else if roll % 7 == 0 {
                format!("Fråga om {}", enquiry_subject.to_lowercase())
            } else {
                enquiry_subject
            };
            let greeting = self.pick(GREETINGS);
            let detail = self.pick(DETAILS);
            let detail = self.fill(detail, first, last);
            let closing = self.pick(CLOSINGS);
            let closing = self.fill(closing, first, last);
            // About 4 % urgent (more often for the departments with urgent terms).
            let urgent = if roll >= 96 || (roll >= 90 && department == "gata-park") {
                let u = self.pick(URGENT);
                format!("{}\r\n\r\n", self.fill(u, first, last))
            } else {
                String::new()
            };
            let body =
                format!("{greeting}\r\n\r\n{urgent}{text}\r\n\r\n{detail}\r\n\r\n{closing}\r\n");
            (subject, body.replace("\r\n\r\n\r\n", "\r\n\r\n"), None)
        };
        if in_reply_to.is_none() && self.sent.len() < 20_000 {
            self.sent.push((message_id.clone(), subject.clone()));
        }
        let reply_headers = in_reply_to
            .map(|p| format!("In-Reply-To: <{p}>\r\nReferences: <{p}>\r\n"))
            .unwrap_or_default();
        format!(
            "From: {first} {last} <{address}>\r\nTo: kontaktcenter@kommun.example\r\n\
             Subject: {subject}\r\nMessage-ID: <{message_id}>\r\n{reply_headers}\
             Date: Mon, {day} Sep 2026 {hour:02}:{minute:02}:00 +0200\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}"
        )
        .into_bytes()
    }
}

fn config(dir: &Path) -> Config {
    let mut config = Config::default();
    config.storage.data_dir = dir.to_path_buf();
    config
}

/// Seeds `dir` with exactly `cases` cases (run in a child process).
fn seed(dir: &Path, cases: i64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let started = Instant::now();
        let app = Application::build(config(dir)).await.expect("application");
        let mut generator = Generator::new();
        let mut mails = 0usize;
        loop {
            let have = app.store().counts().await.unwrap().cases;
            if have >= cases {
                break;
            }
            let n = ((cases - have) as usize).min(BATCH);
            // Replies only point at mails of earlier, committed batches.
            let may_reply = mails > 0;
            let raws: Vec<Vec<u8>> = (0..n).map(|_| generator.mail(may_reply)).collect();
            mails += raws.len();
            app.triage
                .process_batch(raws, "bench")
                .await
                .expect("batch");
            if mails % 10_000 < BATCH {
                eprintln!(
                    "  seeded {have} cases from {mails} mails after {:.0?}",
                    started.elapsed()
                );
            }
        }
        let counts = app.store().counts().await.unwrap();
        app.store().close().await;
        println!(
            "{}",
            serde_json::json!({
                "seed_seconds": started.elapsed().as_secs_f64(),
                "mails": mails,
                "cases": counts.cases,
                "seed_peak_rss_mib": resident_kib("VmHWM:") / 1024,
            })
        );
    });
}

// ---------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------

fn resident_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The store calls behind the pages, one at a time with no other load (p50 / p99 ms),
/// and the queue query's plan.
fn diagnose(
    rt: &tokio::runtime::Runtime,
    triage: &brevduva::triage::Triage,
    token_hash: &str,
    number: &str,
) {
    let number = CaseNumber::parse(number).unwrap();
    let store = triage.store().clone();
    let diagnosis = rt.block_on(async {
        let filter = QueueFilter::default();
        let n = 100;
        let session = timed(n, || async {
            store.session(token_hash).await.unwrap().unwrap();
        })
        .await;
        let queue = timed(n, || async {
            store.queue(&filter, None, 0, 51).await.unwrap();
        })
        .await;
        let counts = timed(10, || async {
            store.queue_counts(None).await.unwrap();
        })
        .await;
        let detail = timed(n, || async {
            store.case_detail(number).await.unwrap().unwrap();
        })
        .await;
        let suggest = timed(n, || async {
            triage.suggest_replies(number, "Bench Mark").await.unwrap();
        })
        .await;
        let plan: Vec<String> = sqlx::query(
            "EXPLAIN QUERY PLAN SELECT c.id, c.number, c.status, c.department_id, c.language, c.subject, \
             c.confidence, c.urgent, c.sensitive, c.auto_reply, c.bulk, c.created_at, \
             (SELECT d.explanation FROM routing_decisions d WHERE d.case_id = c.id ORDER BY d.id DESC LIMIT 1), \
             c.campaign, c.reply_due FROM cases c WHERE c.status <> 'closed' \
             ORDER BY (CASE c.status WHEN 'triage' THEN 0 WHEN 'routed' THEN 1 ELSE 2 END), \
             c.urgent DESC, c.created_at, c.id LIMIT 51 OFFSET 0",
        )
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(3))
        .collect();
        (session, queue, counts, detail, suggest, plan)
    });
    let (session, queue, counts, detail, suggest, plan) = diagnosis;
    println!("\nstore calls one at a time, no load (p50 / p99 ms):");
    for (name, (p50, p99)) in [
        ("session lookup (every page)", session),
        ("queue: 51 rows", queue),
        ("queue: filter counts (cached 5 s)", counts),
        ("case: detail + thread", detail),
        ("case: 3 suggested replies", suggest),
    ] {
        println!("  {name:<36} {p50:>8.2} {p99:>8.2}");
    }
    println!("queue query plan: {}", plan.join(" | "));
}

/// The pages with one client (wrk -c1 -t1, 11 s): the latency of a request on its own.
fn one_client(targets: &[(&str, String, Option<&Path>)], cookie: &str) {
    println!("one client, 11 s each (so the 5 s counts cache expires twice):");
    for (name, url, script) in targets {
        let mut cmd = Command::new("wrk");
        cmd.args(["-t1", "-c1", "-d11s", "--latency", "-H"])
            .arg(format!("Cookie: {cookie}"));
        if let Some(s) = script {
            cmd.arg("-s").arg(s);
        }
        let out = cmd.arg(url).output().expect("wrk");
        let r = wrk::parse(&String::from_utf8_lossy(&out.stdout));
        println!(
            "  {name:<10} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.1} ms  {:>8.0} req/s",
            r.p50_ms, r.p99_ms, r.max_ms, r.rps
        );
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("panel_load: a benchmark; run it with `cargo bench --bench panel_load`");
        return;
    }
    let cases: i64 = env_or("BENCH_PANEL_CASES", 100_000);
    if let Some(dir) = std::env::var_os("BENCH_PANEL_SEED_DIR") {
        seed(Path::new(&dir), cases);
        return;
    }
    let seconds: u64 = env_or("BENCH_PANEL_SECONDS", 15);
    let runs: usize = env_or("BENCH_PANEL_RUNS", 3);
    assert!(
        Command::new("wrk").arg("--version").output().is_ok(),
        "wrk is missing: apt-get install -y wrk"
    );

    // 1. The seeded data dir, made once per case count.
    let dir = target_dir()
        .join("bench-panel")
        .join(format!("cases-{cases}"));
    let marker = dir.join(".seeded");
    let mut seeding = serde_json::Value::Null;
    if marker.exists() {
        println!("reusing the seeded data dir {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        println!("seeding {cases} cases into {} ...", dir.display());
        let out = Command::new(std::env::current_exe().unwrap())
            .arg("--bench")
            .env("BENCH_PANEL_SEED_DIR", &dir)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("seeding process");
        assert!(out.status.success(), "seeding failed");
        seeding = serde_json::from_slice(&out.stdout).expect("seeding report");
        println!(
            "seeded {} cases from {} mails in {:.1} s ({:.0} mails/s, peak RSS {} MiB)",
            seeding["cases"],
            seeding["mails"],
            seeding["seed_seconds"].as_f64().unwrap(),
            seeding["mails"].as_f64().unwrap() / seeding["seed_seconds"].as_f64().unwrap(),
            seeding["seed_peak_rss_mib"],
        );
        std::fs::write(&marker, seeding.to_string()).unwrap();
    }

    // 2. The panel, in-process, with a session.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = rt
        .block_on(Application::build(config(&dir)))
        .expect("application");
    let store = app.store().clone();
    let have = rt.block_on(store.counts()).unwrap().cases;
    assert_eq!(have, cases, "the seeded dir holds {have} cases");
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

    // Case pages: 20 spread over the range, 4 of them with a thread.
    let numbers: Vec<String> = rt.block_on(async {
        let step = (cases / 16).max(1);
        let mut v: Vec<String> = sqlx::query(&format!(
            "SELECT number FROM cases WHERE (id - 1) % {step} = {} ORDER BY id LIMIT 16",
            step / 2
        ))
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
        let threaded = sqlx::query(
            "SELECT c.number FROM cases c WHERE (SELECT COUNT(*) FROM messages m WHERE m.case_id = c.id) > 1 \
             ORDER BY c.id LIMIT 4 OFFSET 10",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        v.extend(threaded.iter().map(|r| r.get::<String, _>(0)));
        v
    });
    assert!(!numbers.is_empty());

    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let state = {
        let _in_runtime = rt.enter(); // the panel may start background tasks
        PanelState::new(app.triage.clone(), PanelSettings::from_config(&app.config))
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(brevduva::web::serve(listener, state, async {
        let _ = stopped.await;
    }));

    // Both pages must work with the cookie before anything is measured.
    let (status, body) = get(port, "/", &cookie);
    assert_eq!(status, 200, "queue page:\n{body}");
    let rows = body.matches("/cases/KC-").count();
    println!("queue page: 200, {} bytes, {rows} case links", body.len());
    assert!(rows >= 50, "the queue shows fewer than 50 cases");
    for n in &numbers {
        let (status, body) = get(port, &format!("/cases/{n}"), &cookie);
        assert_eq!(status, 200, "case page {n}:\n{body}");
        assert!(body.contains(n.as_str()), "case page {n} lacks its number");
    }
    let (_, body) = get(port, &format!("/cases/{}", numbers[0]), &cookie);
    println!(
        "case pages: 200 for all {} ({} bytes for {})",
        numbers.len(),
        body.len(),
        numbers[0]
    );
    let (status, _) = get(port, "/", "brevduva_session=none");
    assert_eq!(status, 303, "the queue without a session should redirect");

    // 3. Load.
    let script = dir.join("cases.lua");
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
    // For profiling one page alone: BENCH_PANEL_ONLY=queue (or case); no table then.
    if let Ok(only) = std::env::var("BENCH_PANEL_ONLY") {
        let i = match only.as_str() {
            "healthz" => 0,
            "queue" => 1,
            "case" => 2,
            other => panic!("BENCH_PANEL_ONLY: healthz, queue or case, not {other}"),
        };
        let (name, url, script) = &targets[i];
        diagnose(&rt, &app.triage, &token_hash, &numbers[0]);
        one_client(&targets, &cookie);
        println!(
            "server pid {}, {base}, header 'Cookie: {cookie}' (for wrk or perf by hand)",
            std::process::id()
        );
        for run in 0..runs {
            let r = load_wrk(url, &cookie, *script, seconds);
            println!(
                "run {run}: {name:<10} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.1} ms  {:>8.0} req/s",
                r.p50_ms, r.p99_ms, r.max_ms, r.rps
            );
        }
        let _ = stop.send(());
        rt.block_on(server).unwrap().unwrap();
        return;
    }
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    println!("load average before: {}", load());
    println!("warming up ...");
    for (_, url, script) in &targets {
        load_wrk(url, &cookie, *script, 3);
    }
    let rss_before_load_mib = resident_kib("VmRSS:") / 1024;
    let mut results: Vec<Vec<Run>> = vec![Vec::new(); targets.len()];
    println!(
        "\n{runs} interleaved runs of {seconds} s, {CONNECTIONS} connections, {THREADS} wrk threads, {cases} cases"
    );
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
    println!(
        "load average after: {} (wrk and the server use both cores: anything else running \
         at the same time shows up in the tail)",
        load()
    );
    let rss_peak_mib = resident_kib("VmHWM:") / 1024;
    let rss_after_mib = resident_kib("VmRSS:") / 1024;

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
    println!("\nmedians of {runs} runs:");
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
    let queue_ok = med[1].p99_ms <= TARGET_P99_MS;
    let case_ok = med[2].p99_ms <= TARGET_P99_MS;
    println!(
        "target p99 ≤ {TARGET_P99_MS} ms: queue {} ({:.2} ms), case page {} ({:.2} ms)",
        if queue_ok { "MET" } else { "MISSED" },
        med[1].p99_ms,
        if case_ok { "MET" } else { "MISSED" },
        med[2].p99_ms
    );

    // The target as a service level: pages offered at a fixed rate by 50 clients, each
    // latency counted from when its request was due (open loop), interleaved, three runs.
    let rate: f64 = env_or("BENCH_PANEL_RATE", 500.0);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let page = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n").into_bytes()
    };
    let queue_requests = vec![page("/")];
    let case_requests: Vec<Vec<u8>> = numbers
        .iter()
        .map(|n| page(&format!("/cases/{n}")))
        .collect();
    let mut open: [Vec<openloop::Run>; 2] = [Vec::new(), Vec::new()];
    println!("\nopen loop: {rate:.0} requests/s offered by {CONNECTIONS} clients, {runs} runs of {seconds} s");
    for run in 0..runs {
        for (i, (name, requests)) in [("queue", &queue_requests), ("case", &case_requests)]
            .iter()
            .enumerate()
        {
            let r = openloop::run(
                addr,
                (*requests).clone(),
                CONNECTIONS as usize,
                rate,
                seconds as f64,
            );
            println!(
                "run {run}: {name:<10} p50 {:>7.2} ms  p99 {:>7.2} ms  {:>6.0} req/s answered  {} errors",
                r.p50_ms, r.p99_ms, r.rps, r.errors
            );
            assert_eq!(r.errors, 0, "every page answered");
            open[i].push(r);
        }
    }
    let open_med: Vec<(f64, f64, f64)> = open
        .iter()
        .map(|rs| {
            (
                median(rs.iter().map(|r| r.p50_ms).collect()),
                median(rs.iter().map(|r| r.p99_ms).collect()),
                median(rs.iter().map(|r| r.rps).collect()),
            )
        })
        .collect();
    for (name, (p50, p99, rps)) in ["queue", "case page"].iter().zip(&open_med) {
        println!(
            "open loop {name:<10} at {rate:.0}/s: p50 {p50:.2} ms, p99 {p99:.2} ms ({rps:.0}/s answered): p99 ≤ {TARGET_P99_MS} ms {}",
            if *p99 <= TARGET_P99_MS { "MET" } else { "MISSED" }
        );
    }

    // 4. Memory and size.
    let db = app.config.storage.data_dir.join("brevduva.db");
    let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let db_bytes = size(db.clone());
    let wal_bytes = size(db.with_extension("db-wal"));
    println!(
        "serving process RSS: peak {rss_peak_mib} MiB (before load {rss_before_load_mib} MiB, after {rss_after_mib} MiB); \
         SQLite file {:.1} MiB (+ WAL {:.1} MiB)",
        db_bytes as f64 / 1048576.0,
        wal_bytes as f64 / 1048576.0
    );

    // Where the time goes.
    diagnose(&rt, &app.triage, &token_hash, &numbers[0]);
    one_client(&targets, &cookie);

    let _ = stop.send(());
    rt.block_on(server).unwrap().unwrap();
    rt.block_on(store.close());

    let j = |r: &Run| serde_json::json!({"p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "max_ms": r.max_ms, "rps": r.rps.round()});
    println!(
        "{}",
        serde_json::json!({
            "cases": cases,
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
            "target_p99_ms": TARGET_P99_MS,
            "queue_target_met": queue_ok,
            "case_target_met": case_ok,
            "rss_peak_mib": rss_peak_mib,
            "sqlite_mib": (db_bytes as f64 / 1048576.0 * 10.0).round() / 10.0,
            "seeding": seeding,
            "open_rate": rate,
            "open_queue": {"p50_ms": open_med[0].0, "p99_ms": open_med[0].1, "rps": open_med[0].2.round()},
            "open_case": {"p50_ms": open_med[1].0, "p99_ms": open_med[1].1, "rps": open_med[1].2.round()},
        })
    );
}
