//! Several instances of the `brevduva` binary on one PostgreSQL database, one Dovecot and
//! one smtp-sink: the work is shared without fetching a mail twice or losing one when an
//! instance is killed, outgoing mail is sent by one instance at a time, sessions, the
//! knowledge base and the routing rules edited in the panel are shared through the
//! database alone.

use crate::helpers;
use crate::servers::{free_port, Dovecot, SmtpSink};
use brevduva::routing::KnowledgeEntry;
use brevduva::store::{NewUser, Store};
use sqlx::AnyPool;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Lease time in the tests: a dead reader's mailboxes are taken over within about this long.
const LEASE_SECONDS: u64 = 3;

/// Where the instances of one test read and send.
struct Setup {
    database: String,
    imap: Option<(u16, Vec<String>)>,
    smtp_port: Option<u16>,
}

/// One running `brevduva run` process.
struct Instance {
    name: String,
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Instance {
    fn start(dir: &Path, name: &str, setup: &Setup) -> Instance {
        let port = free_port();
        let home = dir.join(name);
        std::fs::create_dir_all(&home).unwrap();
        let mut toml = format!(
            "[storage]\ndata_dir = \"data\"\ndatabase_url = \"{}\"\n\
             [maildir]\nenabled = false\n\
             [web]\nlisten = \"127.0.0.1:{port}\"\n\
             [chat]\nrequests_per_minute_per_client = 10000\n\
             [cluster]\ninstance_name = \"{name}\"\nlease_seconds = {LEASE_SECONDS}\nindex_poll_ms = 200\n",
            setup.database
        );
        if let Some((imap_port, folders)) = &setup.imap {
            let folders: Vec<String> = folders.iter().map(|f| format!("{f:?}")).collect();
            toml.push_str(&format!(
                "[[imap]]\nname = \"kc\"\nhost = \"127.0.0.1\"\nport = {imap_port}\nsecurity = \"plain\"\n\
                 username = \"kc\"\npassword = \"secret\"\nfolders = [{}]\nbatch_size = 50\n",
                folders.join(", ")
            ));
        }
        if let Some(smtp_port) = setup.smtp_port {
            toml.push_str(&format!(
                "[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"plain\"\nauth = \"none\"\n"
            ));
        }
        let config = home.join("brevduva.toml");
        std::fs::write(&config, toml).unwrap();
        let log = home.join("log.txt");
        let child = Command::new(env!("CARGO_BIN_EXE_brevduva"))
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut instance = Instance {
            name: name.to_owned(),
            child,
            port,
            log,
        };
        instance.wait_ready();
        instance
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited with {status}: {}", self.name, self.log_text());
            }
            if http(self.port, "GET", "/readyz", &[], "").is_some_and(|(s, _)| s == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready: {}",
                self.name,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL: no goodbye, no lease given back
        self.child.wait().unwrap();
    }

    fn stop(&mut self) {
        if self.child.try_wait().unwrap().is_none() {
            // SIGTERM: the orderly way, leases given back.
            sigterm(self.child.id());
            let deadline = Instant::now() + Duration::from_secs(30);
            while self.child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    self.child.kill().unwrap();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SIGTERM through the shell's own `kill` (no extra package needed).
fn sigterm(pid: u32) {
    let _ = Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status();
}

/// A minimal HTTP/1.1 request on loopback; `None` when nothing answers.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text))
}

async fn scalar(pool: &AnyPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .expect(sql)
}

/// A new account with an open session, straight in the database (as logging in makes
/// one): its cookie header value and form token. `key` makes each session's token its own.
async fn signed_in(
    store: &Store,
    username: &str,
    role: brevduva::domain::Role,
    key: char,
) -> (String, String) {
    let user = store
        .create_user(&NewUser {
            username: username.into(),
            display_name: username.into(),
            role,
            departments: vec![],
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$not-used-here".into(),
        })
        .await
        .unwrap()
        .expect("a new account");
    let token = key.to_string().repeat(64);
    let csrf = key.to_string().repeat(43);
    store
        .open_session(user, &brevduva::web::token_hash(&token), &csrf, 3600)
        .await
        .unwrap();
    (format!("brevduva_session={token}"), csrf)
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Message-IDs the sink received, with how often.
fn received_ids(sink: &SmtpSink) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for raw in sink.messages() {
        let text = String::from_utf8_lossy(&raw);
        let id = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("Message-ID:")
                    .or_else(|| l.strip_prefix("Message-Id:"))
            })
            .map(|v| v.trim().trim_matches(['<', '>']).to_owned())
            .expect("every sent mail has a Message-ID");
        *ids.entry(id).or_insert(0) += 1;
    }
    ids
}

const BACKLOG: usize = 2_000;
const FOLDERS: [&str; 6] = [
    "INBOX", "Inkorg2", "Inkorg3", "Inkorg4", "Inkorg5", "Inkorg6",
];

#[test]
fn three_instances_take_a_backlog_exactly_once_and_one_takes_over_from_a_killed_reader() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let database = rt.block_on(helpers::postgres_database());
    // A plain pool, which migrates nothing: the three instances find a fresh database and
    // migrate it as they start together.
    let pool = rt.block_on(async {
        sqlx::any::install_default_drivers();
        AnyPool::connect(&database).await.unwrap()
    });
    let dovecot = Dovecot::start(false);
    for folder in &FOLDERS[1..] {
        dovecot.create_mailbox(folder);
    }
    for (f, folder) in FOLDERS.iter().enumerate() {
        let mails: Vec<Vec<u8>> = (0..BACKLOG)
            .filter(|i| i % FOLDERS.len() == f)
            .map(helpers::citizen_mail)
            .collect();
        dovecot.append_many(folder, &mails);
    }
    let sink = SmtpSink::start();
    let setup = Setup {
        database: database.clone(),
        imap: Some((
            dovecot.port(),
            FOLDERS.iter().map(|f| f.to_string()).collect(),
        )),
        smtp_port: Some(sink.port()),
    };
    let dir = tempfile::tempdir().unwrap();
    // Three instances start at the same moment (and migrate the fresh database together).
    let mut instances: Vec<Instance> = std::thread::scope(|s| {
        let handles: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|name| {
                let (dir, setup) = (dir.path(), &setup);
                s.spawn(move || Instance::start(dir, name, setup))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let cases = |pool: &AnyPool| rt.block_on(scalar(pool, "SELECT COUNT(*) FROM cases"));

    // Once a share of the backlog is in, kill the instance reading the most mailboxes.
    let started = Instant::now();
    while cases(&pool) < (BACKLOG / 5) as i64 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "a fifth of the backlog not in after 2 minutes: {}",
            instances
                .iter()
                .map(|i| format!("--- {}:\n{}", i.name, i.log_text()))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let holders: Vec<(String, i64)> = rt.block_on(async {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT holder, COUNT(*) FROM mailbox_leases \
             WHERE expires_at > CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT) \
             GROUP BY holder ORDER BY COUNT(*) DESC, holder",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    });
    assert!(!holders.is_empty(), "someone reads the mailboxes");
    let victim = holders[0].0.clone();
    let at_kill = cases(&pool);
    instances
        .iter_mut()
        .find(|i| i.name == victim)
        .expect("the holder is one of ours")
        .kill();
    let killed_at = Instant::now();
    // Its mailboxes are taken over once its leases run out (a lease, plus up to a third
    // of one until the others look again).
    let orphaned = |pool: &AnyPool| -> i64 {
        rt.block_on(async {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM mailbox_leases WHERE holder = $1 \
                 OR expires_at < CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT)",
            )
            .bind(&victim)
            .fetch_one(pool)
            .await
            .unwrap()
        })
    };
    wait_until(
        "the killed reader's mailboxes taken over",
        Duration::from_secs(60),
        || orphaned(&pool) == 0,
    );
    let takeover = killed_at.elapsed();
    assert!(
        takeover <= Duration::from_secs(LEASE_SECONDS * 4),
        "taken over after {takeover:?} with a lease of {LEASE_SECONDS} s"
    );

    wait_until("the whole backlog", Duration::from_secs(240), || {
        cases(&pool) >= BACKLOG as i64
    });
    let took = killed_at.elapsed();
    // The metrics of a survivor say who reads what now.
    let survivor = instances.iter().find(|i| i.name != victim).unwrap();
    let (status, metrics) = http(survivor.port, "GET", "/metrics", &[], "").unwrap();
    assert_eq!(status, 200);
    let lease_lines: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("brevduva_mailbox_lease_remaining_seconds{"))
        .collect();
    assert_eq!(lease_lines.len(), FOLDERS.len(), "{metrics}");
    assert!(lease_lines
        .iter()
        .all(|l| !l.contains(&format!("instance=\"{victim}\""))));
    // The mailboxes of the killed reader were taken over by the others.
    let (held_by_dead, holders_alive) = rt.block_on(async {
        let dead: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM mailbox_leases WHERE holder = $1 \
             AND expires_at > CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT)",
        )
        .bind(&victim)
        .fetch_one(&pool)
        .await
        .unwrap();
        let alive: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT holder) FROM mailbox_leases WHERE holder <> $1",
        )
        .bind(&victim)
        .fetch_one(&pool)
        .await
        .unwrap();
        (dead, alive)
    });
    assert_eq!(held_by_dead, 0, "a dead instance holds no live lease");
    assert!(holders_alive >= 1);

    // Every mail became exactly one case and one stored message; every mail went out once
    // to the sink, apart from at most one batch the killed instance was sending.
    wait_until("the outbox emptied", Duration::from_secs(120), || {
        rt.block_on(scalar(
            &pool,
            "SELECT COUNT(*) FROM outbox WHERE status <> 'sent'",
        )) == 0
    });
    rt.block_on(async {
        assert_eq!(
            scalar(&pool, "SELECT COUNT(*) FROM cases").await,
            BACKLOG as i64
        );
        assert_eq!(
            scalar(&pool, "SELECT COUNT(*) FROM messages").await,
            BACKLOG as i64
        );
        assert_eq!(
            scalar(&pool, "SELECT COUNT(DISTINCT dedupe_key) FROM messages").await,
            BACKLOG as i64
        );
        assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM quarantine").await, 0);
        assert_eq!(
            scalar(
                &pool,
                "SELECT COUNT(*) FROM outbox WHERE kind = 'acknowledgement'"
            )
            .await,
            BACKLOG as i64,
            "one acknowledgement per mail"
        );
    });
    let outbox = rt.block_on(scalar(&pool, "SELECT COUNT(*) FROM outbox")) as usize;
    sink.wait_for(outbox, Duration::from_secs(60));
    let ids = received_ids(&sink);
    assert_eq!(ids.len(), outbox, "every outgoing mail reached the sink");
    let resent: usize = ids.values().map(|n| n - 1).sum();
    assert!(
        resent <= 10,
        "{resent} mails sent twice (at most the killed instance's batch)"
    );
    for (f, folder) in FOLDERS.iter().enumerate() {
        let expected = (0..BACKLOG).filter(|i| i % FOLDERS.len() == f).count();
        assert_eq!(
            dovecot.count(folder),
            (expected, expected),
            "{folder}: all kept and seen"
        );
    }
    eprintln!(
        "backlog of {BACKLOG}: {at_kill} cases when {victim} was killed; mailboxes taken over after {:.1} s; the rest took {:.1} s; {resent} resent",
        takeover.as_secs_f64(),
        took.as_secs_f64()
    );
    for i in &mut instances {
        i.stop();
    }
}

#[test]
fn an_instance_killed_while_sending_leaves_its_mail_to_another_and_nothing_is_sent_twice_meanwhile()
{
    let rt = tokio::runtime::Runtime::new().unwrap();
    let database = rt.block_on(helpers::postgres_database());
    let dovecot = Dovecot::start(false);
    let mails: Vec<Vec<u8>> = (0..8).map(helpers::citizen_mail).collect();
    dovecot.append_many("INBOX", &mails);
    // Each message takes the sink a second: an instance spends its time mid-send.
    let sink = SmtpSink::start_slow(1);
    let setup = Setup {
        database: database.clone(),
        imap: Some((dovecot.port(), vec!["INBOX".into()])),
        smtp_port: Some(sink.port()),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = Instance::start(dir.path(), "a", &setup);
    let pool = rt.block_on(AnyPool::connect(&database)).unwrap();
    wait_until("the cases", Duration::from_secs(60), || {
        rt.block_on(scalar(&pool, "SELECT COUNT(*) FROM cases")) == 8
    });
    let outbox = rt.block_on(scalar(&pool, "SELECT COUNT(*) FROM outbox")) as usize;
    assert!(outbox >= 8, "an acknowledgement per case, and forwards");
    // A second instance joins while the first is sending: it takes other entries, never
    // the ones the first holds.
    let mut b = Instance::start(dir.path(), "b", &setup);
    sink.wait_for(4, Duration::from_secs(60));
    let before_kill = received_ids(&sink);
    assert!(
        before_kill.values().all(|n| *n == 1),
        "nothing sent twice while both live: {before_kill:?}"
    );
    a.kill();
    wait_until("every entry sent", Duration::from_secs(120), || {
        rt.block_on(scalar(
            &pool,
            "SELECT COUNT(*) FROM outbox WHERE status = 'sent'",
        )) as usize
            == outbox
    });
    sink.wait_for(outbox, Duration::from_secs(30));
    let ids = received_ids(&sink);
    assert_eq!(ids.len(), outbox, "every entry reached the sink");
    let resent: usize = ids.values().map(|n| n - 1).sum();
    // What the killed instance had sent but not yet recorded goes again, under the same
    // Message-ID; nothing else does.
    assert!(resent <= 10, "{resent} resent");
    eprintln!("killed while sending: {resent} of {outbox} mails sent again under their Message-ID");
    b.stop();
}

#[test]
fn instances_share_sessions_and_follow_the_knowledge_base_and_rule_edits() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let database = rt.block_on(helpers::postgres_database());
    let setup = Setup {
        database: database.clone(),
        imap: None,
        smtp_port: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let a = Instance::start(dir.path(), "a", &setup);
    let store = rt.block_on(Store::connect(&database)).unwrap();

    let question = "Hur matar jag kommunens gröna drakar i stadsparken?";
    let ask = |port: u16| -> String {
        let body =
            serde_json::json!({ "conversation_id": "drakar-1", "message": question }).to_string();
        let (status, text) = http(
            port,
            "POST",
            "/api/chat",
            &[("Content-Type", "application/json")],
            &body,
        )
        .expect("the chat answers");
        assert_eq!(status, 200, "{text}");
        text
    };
    let entry = |answer: &str| KnowledgeEntry {
        id: "drakar".into(),
        department: Some("kultur-fritid".into()),
        subject: "Drakar i stadsparken".into(),
        text: question.into(),
        answer: answer.into(),
        confirmed: false,
        approved: true,
        boundary: false,
    };
    // Written on one instance (here: straight into the database, as the panel does)...
    rt.block_on(store.save_knowledge_entry(&entry("Drakarna matas på tisdagar."), None, "test"))
        .unwrap();
    // ...the running instance's index follows the change log...
    wait_until(
        "instance a answers from the new entry",
        Duration::from_secs(20),
        || ask(a.port).contains("Drakarna matas på tisdagar."),
    );
    // Routing rules edited in the panel of one instance...
    let (admin_cookie, admin_csrf) = rt.block_on(signed_in(
        &store,
        "admin.eva",
        brevduva::domain::Role::Admin,
        '8',
    ));
    let shipped = brevduva::defaults::routing_rules()
        .into_iter()
        .find(|(p, _)| p.ends_with("kultur-fritid.toml"))
        .unwrap()
        .1;
    let with_keyword =
        |word: &str| format!("{shipped}\n[[keywords]]\nterm = \"{word}\"\nweight = 4.0\n");
    let post_rules = |port: u16, path: &str, fields: &[(&str, &str)]| {
        let mut form = vec![("csrf", admin_csrf.as_str())];
        form.extend_from_slice(fields);
        let body = serde_urlencoded::to_string(&form).unwrap();
        let (status, text) = http(
            port,
            "POST",
            path,
            &[
                ("Cookie", &admin_cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Sec-Fetch-Site", "same-origin"),
            ],
            &body,
        )
        .unwrap();
        assert_eq!(status, 303, "{text}");
    };
    let counts = |port: u16, word: &str| -> bool {
        let path = format!(
            "/rules?{}",
            serde_urlencoded::to_string([("text", word)]).unwrap()
        );
        let (status, text) = http(port, "GET", &path, &[("Cookie", &admin_cookie)], "").unwrap();
        assert_eq!(status, 200, "{text}");
        text.contains(&format!("{word} (4.0)"))
    };
    post_rules(
        a.port,
        "/rules/kultur-fritid",
        &[("source", &with_keyword("drakflygning"))],
    );
    assert!(
        counts(a.port, "drakflygning"),
        "in use at once where it was saved"
    );

    // ...and an instance that joins later builds its index with the new entry and
    // routes by the edited rules from its start.
    let b = Instance::start(dir.path(), "b", &setup);
    assert!(counts(b.port, "drakflygning"));
    // An edit on one instance reaches the other within its poll, and so does going back
    // to the shipped file.
    post_rules(
        b.port,
        "/rules/kultur-fritid",
        &[("source", &with_keyword("drakfestival"))],
    );
    wait_until(
        "instance a follows the rule edit",
        Duration::from_secs(20),
        || counts(a.port, "drakfestival") && !counts(a.port, "drakflygning"),
    );
    post_rules(a.port, "/rules/kultur-fritid/revert", &[]);
    wait_until(
        "instance b goes back to the file",
        Duration::from_secs(20),
        || !counts(b.port, "drakfestival"),
    );
    assert!(
        ask(b.port).contains("Drakarna matas på tisdagar."),
        "{}",
        ask(b.port)
    );
    // An edit and a retirement reach both.
    rt.block_on(store.save_knowledge_entry(&entry("Drakarna matas på torsdagar."), None, "test"))
        .unwrap();
    for port in [a.port, b.port] {
        wait_until("the edit", Duration::from_secs(20), || {
            ask(port).contains("Drakarna matas på torsdagar.")
        });
    }
    rt.block_on(store.retire_knowledge_entry("drakar", "test"))
        .unwrap();
    for port in [a.port, b.port] {
        wait_until("the retirement", Duration::from_secs(20), || {
            !ask(port).contains("Drakarna matas")
        });
    }

    // A session opened on one instance works on the other; logging out on the second
    // ends it on the first at once.
    let (cookie, csrf) = rt.block_on(signed_in(
        &store,
        "kc.anna",
        brevduva::domain::Role::Kontaktcenter,
        '7',
    ));
    for port in [a.port, b.port] {
        let (status, text) = http(port, "GET", "/", &[("Cookie", &cookie)], "").unwrap();
        assert_eq!(status, 200, "{text}");
    }
    let form = format!("csrf={csrf}");
    let (status, _) = http(
        b.port,
        "POST",
        "/logout",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        &form,
    )
    .unwrap();
    assert_eq!(status, 303);
    let (status, text) = http(a.port, "GET", "/", &[("Cookie", &cookie)], "").unwrap();
    assert_eq!(status, 303, "logged out everywhere at once: {text}");
    assert!(text.contains("location: /login") || text.contains("Location: /login"));
    drop(a);
    drop(b);
}
