//! Real mail servers for integration tests: Dovecot (IMAP, and on request its SMTP submission
//! service and OAuth 2.0 token checking) and Postfix's `smtp-sink` (SMTP).
//!
//! Each server runs in its own short temporary folder under `/tmp` on free ports of 127.0.0.1,
//! is ready (greeting received) when its constructor returns, and is stopped (and reaped) on drop.
//! See `../shared/docs/TEST-SERVERS.md`.
//!
//! Requirements (Debian 12), as root:
//! ```text
//! apt-get install -y --no-install-recommends dovecot-imapd openssl
//! apt-get install -y --no-install-recommends dovecot-submissiond   # only for DovecotOptions::submission_relay_port
//! echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
//! apt-get install -y --no-install-recommends postfix   # only for /usr/sbin/smtp-sink; no daemon is started
//! ```
//! The tests must run as root: Dovecot accesses mail as `nobody` and `smtp-sink` needs `-u nobody`.
//!
//! Costs: `Dovecot::start` about 0.1 s (plus ~20 ms for the certificate with TLS); dropping or
//! restarting a Dovecot takes about 1 s, because its master process sleeps one second while it
//! shuts down; `SmtpSink` starts and stops in a few milliseconds.
//!
//! Everything here blocks the calling thread. In `#[tokio::test]` (a current-thread runtime by
//! default) do not block while the code under test needs the runtime, e.g. in
//! [`SmtpSink::wait_for`] while the application sends: use `flavor = "multi_thread"`,
//! `tokio::task::spawn_blocking`, or poll [`SmtpSink::messages`] between `tokio::time::sleep`s.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The IMAP user that every [`Dovecot`] instance knows.
pub const IMAP_USER: &str = "kc";
/// The password of [`IMAP_USER`].
pub const IMAP_PASSWORD: &str = "secret";
/// The reply of [`SmtpSink::start_rejecting_temporarily`] to every RCPT TO.
pub const SOFT_REJECT_REPLY: &str = "450 4.3.0 Error: try again later";
/// The reply of [`SmtpSink::start_rejecting_permanently`] to every RCPT TO.
pub const HARD_REJECT_REPLY: &str = "550 5.1.1 Error: recipient rejected";

/// How long a server may take to accept connections and greet.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often to retry a start whose port was taken by someone else in the meantime.
const START_ATTEMPTS: usize = 3;

/// A free TCP port on 127.0.0.1.
///
/// The port is free when this returns; it is never handed out twice by this process, so two calls
/// for one server (IMAP and IMAPS) cannot collide. Another process may still take it before it is
/// used; the servers here then retry with new ports.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    for _ in 0..1000 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("bind an ephemeral port on 127.0.0.1");
        let port = listener
            .local_addr()
            .expect("local address of an ephemeral listener")
            .port();
        if handed_out.insert(port) {
            return port;
        }
    }
    panic!("no unused free port on 127.0.0.1 after 1000 attempts");
}

// ---------------------------------------------------------------------------------------------
// Dovecot
// ---------------------------------------------------------------------------------------------

/// What a [`Dovecot`] offers beyond plain IMAP; the default is what `Dovecot::start(false)` starts.
#[derive(Clone, Debug, Default)]
pub struct DovecotOptions {
    /// TLS as with `Dovecot::start(true)`: STARTTLS on the IMAP port and an imaps listener, and on
    /// the submission service STARTTLS and an implicit-TLS (submissions) listener.
    pub tls: bool,
    /// Also runs Dovecot's SMTP submission service (package `dovecot-submissiond`), which
    /// accepts mail after AUTH (PLAIN/LOGIN with [`IMAP_PASSWORD`], or XOAUTH2/OAUTHBEARER with
    /// `oauth2_introspection_url`) and relays it to 127.0.0.1 on this port (e.g. an [`SmtpSink`]).
    pub submission_relay_port: Option<u16>,
    /// Also accepts SASL XOAUTH2 and OAUTHBEARER (IMAP and submission): Dovecot's `oauth2`
    /// passdb checks each token by POSTing `token=...` to this URL (RFC 7662 introspection) and
    /// accepts it when the JSON answer has `"active": true` and `"username": "kc"`.
    /// PLAIN/LOGIN keep using [`IMAP_PASSWORD`].
    pub oauth2_introspection_url: Option<String>,
}

/// A running Dovecot 2.3 IMAP server for user [`IMAP_USER`] / [`IMAP_PASSWORD`], with Maildir
/// storage owned by `nobody`, hierarchy separator `/`, and optionally TLS (STARTTLS and imaps),
/// an SMTP submission service and XOAUTH2 (see [`DovecotOptions`]).
///
/// Test-friendly settings: failed logins are answered within 0.5 s and never slow down later
/// ones, and up to 1,000 simultaneous connections per user and address are allowed. The log is
/// `dir()/dovecot.log`.
pub struct Dovecot {
    dir: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
    tls_port: Option<u16>,
    submission_port: Option<u16>,
    submissions_port: Option<u16>,
    owner: (u32, u32),
    mailbox_dirs: Mutex<HashMap<String, PathBuf>>,
}

impl Dovecot {
    /// Starts Dovecot on 127.0.0.1 with a plaintext IMAP listener, and when `tls` is true also an
    /// implicit-TLS imaps listener with a freshly generated self-signed certificate (SAN DNS:localhost,
    /// IP:127.0.0.1, basicConstraints=critical,CA:FALSE). User "kc" with password "secret" exists and
    /// has an empty INBOX. Returns once the server has sent its IMAP greeting; panics with the
    /// server's log otherwise.
    pub fn start(tls: bool) -> Dovecot {
        Dovecot::start_with(DovecotOptions {
            tls,
            ..DovecotOptions::default()
        })
    }

    /// Starts Dovecot as [`Dovecot::start`] does, with what `options` adds (see
    /// [`DovecotOptions`]). Returns once the IMAP and, if asked for, the submission service have
    /// sent their greetings and every port listens; panics with the server's log otherwise.
    pub fn start_with(options: DovecotOptions) -> Dovecot {
        if options.submission_relay_port.is_some() && !Path::new(SUBMISSION_BINARY).exists() {
            panic!(
                "dovecot's submission service is not installed ({SUBMISSION_BINARY}): \
                 apt-get install -y --no-install-recommends dovecot-submissiond"
            );
        }
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let mut dovecot = Dovecot::prepare(&options);
            match dovecot.launch() {
                Ok(()) => return dovecot,
                // Another process took one of our free ports before Dovecot bound it: new ports.
                Err(error) if error.contains("Address already in use") => failures.push(error),
                Err(error) => panic!("dovecot did not start: {error}"),
            }
        }
        panic!(
            "dovecot did not start after {START_ATTEMPTS} attempts: {}",
            failures.join("\n---\n")
        );
    }

    /// The plaintext IMAP port (which also offers STARTTLS when started with TLS).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The implicit-TLS IMAP (imaps) port, when started with TLS.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The SMTP submission port (STARTTLS when started with TLS), when started with
    /// [`DovecotOptions::submission_relay_port`].
    pub fn submission_port(&self) -> Option<u16> {
        self.submission_port
    }

    /// The implicit-TLS SMTP submission (submissions) port, when started with TLS and
    /// [`DovecotOptions::submission_relay_port`].
    pub fn submissions_port(&self) -> Option<u16> {
        self.submissions_port
    }

    /// The self-signed server certificate (PEM) to trust as a root, when started with TLS.
    pub fn ca_pem_path(&self) -> Option<PathBuf> {
        self.tls_port.map(|_| self.dir.path().join("cert.pem"))
    }

    /// The folder holding this instance's configuration, log (`dovecot.log`) and mail.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Appends a raw RFC 5322 message to a mailbox of user kc (e.g. "INBOX") without IMAP.
    ///
    /// The message is delivered the Maildir way (written to `tmp/`, owned by `nobody`, renamed into
    /// `new/`), which is what Dovecot's own delivery does minus the index update; Dovecot picks it up
    /// on its next sync, and an IDLE-ing client is told `* N EXISTS` through inotify (after about
    /// 0.5 s, Dovecot's own notify delay; `mailbox_idle_check_interval = 1 secs` is the fallback).
    /// The message is
    /// stored byte for byte, so use CRLF line endings as IMAP clients expect. The mailbox must
    /// exist (INBOX always does; see [`Dovecot::create_mailbox`]). Takes 10-150 µs and is safe
    /// to call from several threads.
    pub fn append(&self, mailbox: &str, raw: &[u8]) {
        let dir = self.mailbox_dir(mailbox);
        self.deliver(&dir, raw);
    }

    /// Appends many raw messages to a mailbox, in order (see [`Dovecot::append`]). 10,000 small
    /// messages took 0.12-1.6 s on ext4 (creating the files dominates) and 70 ms on tmpfs.
    pub fn append_many(&self, mailbox: &str, messages: &[Vec<u8>]) {
        let dir = self.mailbox_dir(mailbox);
        for raw in messages {
            self.deliver(&dir, raw);
        }
    }

    /// Creates a mailbox (folder) for user kc and subscribes to it, with `doveadm`.
    ///
    /// Use `/` as the hierarchy separator ("Ärenden/Klart"); names are given in UTF-8
    /// (IMAP clients see them in modified UTF-7). Panics if the mailbox already exists.
    pub fn create_mailbox(&self, name: &str) {
        self.doveadm(&["mailbox", "create", "-s", "-u", IMAP_USER, name]);
    }

    /// Stops the server (SIGTERM, wait until its pid is gone and its ports are free) and starts
    /// it again on the same ports with the same data. Connected clients are disconnected.
    /// Takes about 1 s.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(error) = self.launch() {
            panic!("dovecot did not restart: {error}");
        }
    }

    /// The number of messages in a mailbox and how many of them have the \Seen flag, read from
    /// the Maildir (files in `new/` are unseen; files in `cur/` are seen when their flags after
    /// ":2," contain 'S'). Does not touch Dovecot, so it does not disturb \Recent or the index.
    pub fn count(&self, mailbox: &str) -> (usize, usize) {
        let dir = self.mailbox_dir(mailbox);
        let mut previous = maildir_snapshot(&dir);
        // Dovecot renames files (new/ -> cur/, flag changes) while we list: take two equal
        // snapshots in a row.
        for _ in 0..100 {
            let current = maildir_snapshot(&dir);
            if current == previous {
                return count_snapshot(&current);
            }
            previous = current;
        }
        count_snapshot(&previous)
    }

    /// Creates the folder, certificate, configuration, users file and INBOX; does not start anything.
    fn prepare(options: &DovecotOptions) -> Dovecot {
        let tls = options.tls;
        let dir = short_tempdir("dv");
        let root = dir.path();
        let owner = nobody_ids();
        let port = free_port();
        let tls_port = if tls { Some(free_port()) } else { None };
        let submission_port = options.submission_relay_port.map(|_| free_port());
        let submissions_port = submission_port.filter(|_| tls).map(|_| free_port());
        if tls {
            generate_certificate(root);
        }
        let mut config = dovecot_config(root, port, tls_port);
        if let Some(url) = &options.oauth2_introspection_url {
            config = with_oauth2(&config, root, url);
        }
        if let (Some(relay), Some(port)) = (options.submission_relay_port, submission_port) {
            config = with_submission(&config, port, submissions_port, relay);
        }
        fs::write(root.join("dovecot.conf"), config).expect("write dovecot.conf");
        fs::write(
            root.join("users"),
            format!("{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}\n"),
        )
        .expect("write the dovecot users file");
        let mail = root.join("mail");
        make_owned_dir(&mail, 0o755, owner);
        let home = mail.join(IMAP_USER);
        make_owned_dir(&home, 0o700, owner);
        for sub in ["cur", "new", "tmp"] {
            make_owned_dir(&home.join(sub), 0o700, owner);
        }
        Dovecot {
            dir,
            child: None,
            port,
            tls_port,
            submission_port,
            submissions_port,
            owner,
            mailbox_dirs: Mutex::new(HashMap::new()),
        }
    }

    /// Starts the master process and waits for the IMAP greeting (and the imaps port).
    fn launch(&mut self) -> Result<(), String> {
        let root = self.dir.path();
        let log = root.join("dovecot.log");
        let stderr = root.join("stderr.log");
        let output = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr)
            .expect("open dovecot's stderr file");
        let mut command = Command::new(binary("dovecot", &["/usr/sbin/dovecot"]));
        command
            .arg("-F")
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("clone dovecot's stderr file"))
            .stderr(output);
        let child = match command.spawn() {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
                "dovecot is not installed: apt-get install -y --no-install-recommends dovecot-imapd"
            ),
            Err(error) => panic!("cannot run dovecot: {error}"),
        };
        let child = self.child.insert(child);
        let ready = wait_until_ready(child, self.port, Some("* OK"))
            .and_then(|()| match self.tls_port {
                Some(port) => wait_until_ready(child, port, None),
                None => Ok(()),
            })
            .and_then(|()| match self.submission_port {
                Some(port) => wait_until_ready(child, port, Some("220")),
                None => Ok(()),
            })
            .and_then(|()| match self.submissions_port {
                Some(port) => wait_until_ready(child, port, None),
                None => Ok(()),
            });
        ready.map_err(|error| {
            self.stop();
            format!(
                "{error}\n--- {} ---\n{}--- {} ---\n{}",
                log.display(),
                tail(&log),
                stderr.display(),
                tail(&stderr)
            )
        })
    }

    /// Stops the master process (SIGTERM, then SIGKILL) and every service process it had, and,
    /// if it was running, waits until its ports are free.
    ///
    /// An imap process that is busy with a client can outlive the master; it would then write
    /// into the folder while it is being removed, so it is stopped here too.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let master = child.id();
        let mut family = children_of(master);
        if let Ok(Some(_)) = child.try_wait() {
            // It failed to start or died: nothing listens any more, only stragglers may be left.
            stop_processes(&family);
            return;
        }
        signal(master, "TERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            family.extend(children_of(master));
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) | Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
        stop_processes(&family);
        wait_until_free(self.port);
        for port in [self.tls_port, self.submission_port, self.submissions_port]
            .into_iter()
            .flatten()
        {
            wait_until_free(port);
        }
    }

    /// Runs `doveadm` with this instance's configuration and returns its standard output.
    fn doveadm(&self, args: &[&str]) -> String {
        let output = Command::new(binary("doveadm", &["/usr/bin/doveadm"]))
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run doveadm");
        if !output.status.success() {
            panic!(
                "doveadm {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        String::from_utf8(output.stdout).expect("doveadm prints utf-8")
    }

    /// The Maildir folder of a mailbox (cached); panics if the mailbox does not exist.
    fn mailbox_dir(&self, mailbox: &str) -> PathBuf {
        let mut dirs = self
            .mailbox_dirs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(dir) = dirs.get(mailbox) {
            return dir.clone();
        }
        let dir = if mailbox.eq_ignore_ascii_case("INBOX") {
            self.dir.path().join("mail").join(IMAP_USER)
        } else {
            let path = self.doveadm(&["mailbox", "path", "-u", IMAP_USER, mailbox]);
            PathBuf::from(path.trim())
        };
        if !dir.join("new").is_dir() {
            panic!(
                "mailbox {mailbox:?} does not exist (no {}): create it with create_mailbox first",
                dir.join("new").display()
            );
        }
        dirs.insert(mailbox.to_owned(), dir.clone());
        dir
    }

    /// Writes one message into `dir/tmp`, gives it to `nobody` and renames it into `dir/new`.
    fn deliver(&self, dir: &Path, raw: &[u8]) {
        let name = maildir_name(raw.len());
        let tmp = dir.join("tmp").join(&name);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .unwrap_or_else(|error| panic!("create {}: {error}", tmp.display()));
        file.write_all(raw)
            .unwrap_or_else(|error| panic!("write {}: {error}", tmp.display()));
        std::os::unix::fs::fchown(&file, Some(self.owner.0), Some(self.owner.1))
            .unwrap_or_else(|error| panic!("give {} to nobody: {error}", tmp.display()));
        drop(file);
        let new = dir.join("new").join(&name);
        fs::rename(&tmp, &new)
            .unwrap_or_else(|error| panic!("move {} to new/: {error}", tmp.display()));
    }
}

impl Drop for Dovecot {
    /// Stops the server and waits for it and all its service processes (about 1 s), so that
    /// nothing outlives the test and the folder can be removed.
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Dovecot 2.3 configuration for one instance in `root`.
fn dovecot_config(root: &Path, port: u16, tls_port: Option<u16>) -> String {
    let root = root.display();
    let ssl = match tls_port {
        Some(_) => format!("ssl = yes\nssl_cert = <{root}/cert.pem\nssl_key = <{root}/key.pem\n"),
        None => "ssl = no\n".to_owned(),
    };
    // A second listener on port 0 is not opened; without it Dovecot would try port 993.
    let imaps_port = tls_port.unwrap_or(0);
    format!(
        "base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests log in wrongly on purpose: answer failures at once (well, within 0.5 s) and do not
# slow down later logins from 127.0.0.1 (the penalty is off when auth cannot open its socket).
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
# Many test connections come from one user and one address.
mail_max_userip_connections = 1000
mail_location = maildir:{root}/mail/%u
mail_fsync = never
# IDLE is woken by inotify; this is the fallback poll.
mailbox_idle_check_interval = 1 secs
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/mail/%u
}}
# One long-lived login process, started with the master: a login process that is still starting
# when the master is told to stop makes the stop take 5 s longer.
service imap-login {{
  service_count = 0
  process_min_avail = 1
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
"
    )
}

/// Where Debian's `dovecot-submissiond` puts the submission service.
const SUBMISSION_BINARY: &str = "/usr/lib/dovecot/submission";

/// Adds SASL XOAUTH2 and OAUTHBEARER to a configuration from [`dovecot_config`]: an `oauth2`
/// passdb for those mechanisms that asks `introspection_url` (POST `token=...`) about every
/// token, beside the passwd-file passdb, which then serves PLAIN and LOGIN only.
fn with_oauth2(config: &str, root: &Path, introspection_url: &str) -> String {
    let oauth2 = root.join("dovecot-oauth2.conf.ext");
    fs::write(
        &oauth2,
        format!(
            "introspection_mode = post
introspection_url = {introspection_url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 10000
"
        ),
    )
    .expect("write dovecot-oauth2.conf.ext");
    let root = root.display();
    let passwd_file = format!(
        "passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
"
    );
    assert!(config.contains(&passwd_file), "dovecot_config's passdb");
    config
        .replace(
            "auth_mechanisms = plain login\n",
            "auth_mechanisms = plain login xoauth2 oauthbearer\n",
        )
        .replace(
            &passwd_file,
            &format!(
                "passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {root}/users
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {}
}}
",
                oauth2.display()
            ),
        )
}

/// Adds Dovecot's SMTP submission service to a configuration from [`dovecot_config`]: a
/// listener on `port` (STARTTLS when the configuration has TLS), an implicit-TLS one on
/// `tls_port`, relaying every accepted message to 127.0.0.1:`relay_port` without TLS or AUTH.
fn with_submission(config: &str, port: u16, tls_port: Option<u16>, relay_port: u16) -> String {
    let mut config = config.replace("protocols = imap\n", "protocols = imap submission\n");
    let submissions = match tls_port {
        Some(tls_port) => format!(
            "  inet_listener submissions {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
"
        ),
        None => String::new(),
    };
    config.push_str(&format!(
        "hostname = localhost
submission_relay_host = 127.0.0.1
submission_relay_port = {relay_port}
submission_relay_ssl = no
# As for imap-login: one long-lived login process, started with the master.
service submission-login {{
  service_count = 0
  process_min_avail = 1
  inet_listener submission {{
    address = 127.0.0.1
    port = {port}
  }}
{submissions}}}
"
    ));
    config
}

/// Generates `cert.pem` and `key.pem` in `dir`: a self-signed P-256 certificate for localhost and
/// 127.0.0.1 that rustls accepts as an end-entity certificate (CA:FALSE).
fn generate_certificate(dir: &Path) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=localhost",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run openssl ({error}): apt-get install -y --no-install-recommends openssl"
            )
        });
    if !output.status.success() {
        panic!(
            "openssl could not generate a certificate: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// One listing of a Maildir: message base name (before ":2,") and whether it is \Seen.
fn maildir_snapshot(dir: &Path) -> HashMap<String, bool> {
    let mut messages = HashMap::new();
    // new/ before cur/: a message moved in between shows up in both and is counted once.
    for (sub, in_cur) in [("new", false), ("cur", true)] {
        let path = dir.join(sub);
        let entries =
            fs::read_dir(&path).unwrap_or_else(|error| panic!("list {}: {error}", path.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|error| panic!("list {}: {error}", path.display()));
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let (base, seen) = match name.split_once(":2,") {
                Some((base, flags)) => (base.to_owned(), in_cur && flags.contains('S')),
                None => (name, false),
            };
            let entry = messages.entry(base).or_insert(false);
            *entry = *entry || seen;
        }
    }
    messages
}

/// (messages, seen) of a snapshot.
fn count_snapshot(snapshot: &HashMap<String, bool>) -> (usize, usize) {
    (
        snapshot.len(),
        snapshot.values().filter(|seen| **seen).count(),
    )
}

/// A unique Maildir file name: `secs.MusecPpidQn.host,S=size`.
fn maildir_name(size: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static HOST: OnceLock<String> = OnceLock::new();
    let host = HOST.get_or_init(|| {
        let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host: String = host
            .trim()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
            .collect();
        if host.is_empty() {
            "localhost".to_owned()
        } else {
            host
        }
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.M{}P{}Q{n}.{host},S={size}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id()
    )
}

// ---------------------------------------------------------------------------------------------
// smtp-sink
// ---------------------------------------------------------------------------------------------

/// How a [`SmtpSink`] answers RCPT TO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SinkMode {
    Accept,
    /// Accepts everything, waiting this many seconds before answering each DATA (`-w`).
    Slow(u32),
    RejectTemporarily,
    RejectPermanently,
}

/// One message received by a [`SmtpSink`], with its envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkMessage {
    /// The MAIL FROM address, without angle brackets and parameters ("" for the null sender).
    pub mail_from: String,
    /// The RCPT TO addresses, without angle brackets and parameters, in the order sent.
    pub rcpt_to: Vec<String>,
    /// The message as sent after DATA (dot-unstuffed, without the final "."), with CRLF line endings.
    pub raw: Vec<u8>,
}

/// The name of the file, inside the sink folder, that collects all messages.
const SINK_FILE: &str = "messages";

/// A running Postfix `smtp-sink` that records every received message with its envelope.
///
/// smtp-sink offers ESMTP, PIPELINING, 8BITMIME, DSN and AUTH PLAIN LOGIN (any credentials
/// succeed), but not STARTTLS. It runs with `-D DIR/sink/messages`: each transaction is buffered
/// in an (unlinked) per-transaction file and appended to the shared file in one go when the final
/// "." arrives, before smtp-sink answers 250. So the shared file holds only complete messages, in
/// exact arrival order. (With `-d`, one file per message named `<strftime template><random hex>`,
/// the names are unique thanks to O_EXCL, but the order of several messages per second is lost:
/// file times are only as fine as the kernel tick, and the hex suffix is random.)
///
/// Each recorded message starts with the `-S` marker line, then smtp-sink's own headers
/// (X-Client-Addr, X-Client-Proto, X-Helo-Args, X-Mail-Args, X-Rcpt-Args per recipient and a
/// three-line Received), then the message with every CR removed, then one empty line.
/// [`SmtpSink::received`] undoes all of that.
pub struct SmtpSink {
    dir: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
    mode: SinkMode,
    marker: String,
}

impl SmtpSink {
    /// Starts smtp-sink on 127.0.0.1 on a free port, accepting everything (any sender, any
    /// recipient, any AUTH). Returns once it has sent its greeting.
    pub fn start() -> SmtpSink {
        SmtpSink::start_mode(SinkMode::Accept)
    }

    /// Starts smtp-sink accepting everything, but taking `seconds` before it answers each
    /// DATA command (`-w`), so a client spends that long on every message.
    pub fn start_slow(seconds: u32) -> SmtpSink {
        SmtpSink::start_mode(SinkMode::Slow(seconds))
    }

    /// Starts smtp-sink that answers [`SOFT_REJECT_REPLY`] (4xx) to every RCPT TO (`-r RCPT`);
    /// MAIL FROM is accepted, so clients see the failure per recipient and DATA gets 503.
    pub fn start_rejecting_temporarily() -> SmtpSink {
        SmtpSink::start_mode(SinkMode::RejectTemporarily)
    }

    /// Starts smtp-sink that answers [`HARD_REJECT_REPLY`] (5xx) to every RCPT TO (`-f RCPT`).
    pub fn start_rejecting_permanently() -> SmtpSink {
        SmtpSink::start_mode(SinkMode::RejectPermanently)
    }

    /// The SMTP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Replaces the running sink with an accepting one on the same port and folder (to test
    /// recovery after 4xx). Messages received so far are kept; open connections are cut, and
    /// transactions in progress leave nothing behind.
    pub fn switch_to_accepting(&mut self) {
        self.stop();
        self.mode = SinkMode::Accept;
        if let Err(error) = self.launch() {
            panic!("smtp-sink did not restart on port {}: {error}", self.port);
        }
    }

    /// The messages received so far, as sent (see [`SinkMessage::raw`]), in arrival order.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        self.received()
            .into_iter()
            .map(|message| message.raw)
            .collect()
    }

    /// The messages received so far with their envelopes, in arrival order. A message is listed
    /// as soon as the client has received 250 for its final ".".
    pub fn received(&self) -> Vec<SinkMessage> {
        let data = self.snapshot();
        let marker = self.marker.as_bytes();
        let mut messages = Vec::new();
        for (index, chunk) in split_on(&data, marker).into_iter().enumerate() {
            if index == 0 {
                assert!(
                    chunk.is_empty(),
                    "smtp-sink's file does not start with the marker"
                );
                continue;
            }
            let message = parse_dump(chunk).unwrap_or_else(|| {
                panic!(
                    "cannot parse message {index} of {}: {:?}",
                    self.sink_file().display(),
                    String::from_utf8_lossy(chunk)
                )
            });
            messages.push(message);
        }
        messages
    }

    /// Waits up to `timeout` until at least `n` messages arrived; returns how many there are.
    /// Blocks the thread (see the module documentation about tokio tests).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let count = split_on(&self.snapshot(), self.marker.as_bytes())
                .len()
                .saturating_sub(1);
            if count >= n || Instant::now() >= deadline {
                return count;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The folder holding smtp-sink's log (`smtp-sink.log`) and the messages (`sink/messages`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Prepares a folder and port, starts smtp-sink, retries with a new port if it was taken.
    fn start_mode(mode: SinkMode) -> SmtpSink {
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let dir = short_tempdir("ss");
            make_owned_dir(&dir.path().join("sink"), 0o755, nobody_ids());
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("the clock is after 1970");
            let marker = format!(
                "=====smtp-sink-message-{:x}-{:x}=====\n",
                std::process::id(),
                now.as_nanos()
            );
            let mut sink = SmtpSink {
                dir,
                child: None,
                port: free_port(),
                mode,
                marker,
            };
            match sink.launch() {
                Ok(()) => return sink,
                Err(error) if error.contains("in use") => failures.push(error),
                Err(error) => panic!("smtp-sink did not start: {error}"),
            }
        }
        panic!(
            "smtp-sink did not start after {START_ATTEMPTS} attempts: {}",
            failures.join("\n---\n")
        );
    }

    /// The folder smtp-sink writes into.
    fn sink_dir(&self) -> PathBuf {
        self.dir.path().join("sink")
    }

    /// The shared file with all messages.
    fn sink_file(&self) -> PathBuf {
        self.sink_dir().join(SINK_FILE)
    }

    /// Starts a sink process for the current mode and waits for its greeting.
    fn launch(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("smtp-sink.log");
        let output = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open smtp-sink's log file");
        let mut command = Command::new(binary("smtp-sink", &["/usr/sbin/smtp-sink"]));
        command.args(["-u", "nobody"]);
        match self.mode {
            SinkMode::Accept => {}
            SinkMode::Slow(seconds) => {
                command.args(["-w", &seconds.to_string()]);
            }
            SinkMode::RejectTemporarily => {
                command.args(["-r", "RCPT", "-b", SOFT_REJECT_REPLY]);
            }
            SinkMode::RejectPermanently => {
                command.args(["-f", "RCPT", "-B", HARD_REJECT_REPLY]);
            }
        }
        // -S takes C escapes: the marker's newline is passed as backslash-n.
        let start_string = self.marker.replace('\n', "\\n");
        command
            .arg("-S")
            .arg(start_string)
            .arg("-D")
            .arg(self.sink_file())
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("64")
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("clone smtp-sink's log file"))
            .stderr(output);
        let child = match command.spawn() {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
                "smtp-sink is not installed: echo \"postfix postfix/main_mailer_type select No configuration\" \
                 | debconf-set-selections; apt-get install -y --no-install-recommends postfix"
            ),
            Err(error) => panic!("cannot run smtp-sink: {error}"),
        };
        let child = self.child.insert(child);
        wait_until_ready(child, self.port, Some("220")).map_err(|error| {
            self.stop();
            format!("{error}\n--- {} ---\n{}", log.display(), tail(&log))
        })
    }

    /// Stops the sink without cutting a message in half: freezes it (SIGSTOP) at a moment when
    /// it is not appending to the shared file, then kills it and waits until the port is free.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            let deadline = Instant::now() + STOP_TIMEOUT;
            loop {
                signal(child.id(), "STOP");
                if !self.appending(&child) || Instant::now() >= deadline {
                    break;
                }
                signal(child.id(), "CONT");
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = child.kill();
            let _ = child.wait();
            wait_until_free(self.port);
        } else {
            let _ = child.wait();
        }
    }

    /// Whether the sink process has the shared file open, that is, is appending a message.
    fn appending(&self, child: &Child) -> bool {
        open_files(child.id(), &self.sink_dir()).contains(SINK_FILE)
    }

    /// The content of the shared file at a moment when no message was being appended.
    fn snapshot(&self) -> Vec<u8> {
        let path = self.sink_file();
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            let data = match fs::read(&path) {
                Ok(data) => data,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
                Err(error) => panic!("read {}: {error}", path.display()),
            };
            // Read first, check second: if smtp-sink is not appending now and the size is still
            // what we read, no append overlapped our read.
            let appending = self
                .child
                .as_ref()
                .is_some_and(|child| self.appending(child));
            let size = fs::metadata(&path).map(|metadata| metadata.len()).ok();
            if !appending && size == Some(data.len() as u64) {
                return data;
            }
            if Instant::now() >= deadline {
                panic!("{} kept changing for {STOP_TIMEOUT:?}", path.display());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for SmtpSink {
    /// Stops the sink and waits for it, so that nothing outlives the test.
    fn drop(&mut self) {
        self.stop();
    }
}

/// Splits `data` at every occurrence of `marker` (the marker itself is dropped).
fn split_on<'a>(data: &'a [u8], marker: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut index = 0;
    while index + marker.len() <= data.len() {
        if data[index..].starts_with(marker) {
            parts.push(&data[start..index]);
            index += marker.len();
            start = index;
        } else {
            index += 1;
        }
    }
    parts.push(&data[start..]);
    parts
}

/// Parses one message recorded by smtp-sink (after the marker); `None` if it is malformed.
fn parse_dump(data: &[u8]) -> Option<SinkMessage> {
    let mut rest = data;
    let mut mail_from = None;
    let mut rcpt_to = Vec::new();
    loop {
        let end = rest.iter().position(|&byte| byte == b'\n')?;
        let line = &rest[..end];
        rest = &rest[end + 1..];
        if let Some(args) = line.strip_prefix(b"X-Mail-Args: ") {
            mail_from = Some(envelope_address(args));
        } else if let Some(args) = line.strip_prefix(b"X-Rcpt-Args: ") {
            rcpt_to.push(envelope_address(args));
        } else if line.starts_with(b"Received: ") {
            // smtp-sink's Received header: two continuation lines, then the message.
            while rest.first() == Some(&b'\t') {
                let end = rest.iter().position(|&byte| byte == b'\n')?;
                rest = &rest[end + 1..];
            }
            break;
        } else if !line.starts_with(b"X-") {
            return None;
        }
    }
    // smtp-sink ends every message with an empty line of its own.
    let body = rest.strip_suffix(b"\n")?;
    let mut raw = Vec::with_capacity(body.len() + body.len() / 32);
    for &byte in body {
        if byte == b'\n' {
            raw.push(b'\r');
        }
        raw.push(byte);
    }
    Some(SinkMessage {
        mail_from: mail_from?,
        rcpt_to,
        raw,
    })
}

/// "<a@b> SIZE=12" -> "a@b".
fn envelope_address(args: &[u8]) -> String {
    let args = String::from_utf8_lossy(args);
    let args = args.trim();
    match args.strip_prefix('<') {
        Some(rest) => rest.split('>').next().unwrap_or_default().to_owned(),
        None => args
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// Names of the files in `dir` that process `pid` has open.
fn open_files(pid: u32, dir: &Path) -> HashSet<String> {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let mut open = HashSet::new();
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return open;
    };
    for entry in entries.flatten() {
        if let Ok(target) = fs::read_link(entry.path()) {
            if target.parent() == Some(dir.as_path()) {
                if let Some(name) = target.file_name() {
                    open.insert(name.to_string_lossy().into_owned());
                }
            }
        }
    }
    open
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// A temporary folder directly under /tmp (short, for socket paths), readable by `nobody`.
fn short_tempdir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .expect("create a temporary folder in /tmp");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
        .expect("make the temporary folder accessible to nobody");
    dir
}

/// Creates `path` with `mode`, owned by `owner`.
fn make_owned_dir(path: &Path, mode: u32, owner: (u32, u32)) {
    fs::create_dir_all(path).unwrap_or_else(|error| panic!("create {}: {error}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|error| panic!("chmod {}: {error}", path.display()));
    std::os::unix::fs::chown(path, Some(owner.0), Some(owner.1)).unwrap_or_else(|error| {
        panic!(
            "give {} to nobody: {error} (the tests must run as root)",
            path.display()
        )
    });
}

/// The uid and primary gid of `nobody` (65534/65534 on Debian: nobody/nogroup).
fn nobody_ids() -> (u32, u32) {
    static IDS: OnceLock<(u32, u32)> = OnceLock::new();
    *IDS.get_or_init(|| {
        let passwd = fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
        passwd
            .lines()
            .map(|line| line.split(':').collect::<Vec<_>>())
            .find(|fields| fields.len() > 3 && fields[0] == "nobody")
            .map(|fields| {
                (
                    fields[2].parse().expect("numeric uid of nobody"),
                    fields[3].parse().expect("numeric gid of nobody"),
                )
            })
            .expect("user nobody exists in /etc/passwd")
    })
}

/// The first existing candidate path of a program, or its bare name (looked up in PATH).
fn binary(name: &str, candidates: &[&str]) -> PathBuf {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Sends a signal (by name, e.g. "TERM") to a process, with the shell's built-in kill.
fn signal(pid: u32, name: &str) {
    let _ = Command::new("sh")
        .args([
            "-c",
            "kill -s \"$0\" \"$1\" 2>/dev/null",
            name,
            &pid.to_string(),
        ])
        .status();
}

/// A process that is not ours to reap: its pid and its start time (which tells a reused pid apart).
type Process = (u32, u64);

/// The state, parent pid and start time of a process, from `/proc/PID/stat`.
fn process_stat(pid: u32) -> Option<(char, u32, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ... starttime ...": comm may contain anything, so cut at the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let parent = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, parent, start))
}

/// The living children of a process.
fn children_of(parent: u32) -> BTreeSet<Process> {
    let mut children = BTreeSet::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return children;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
        else {
            continue;
        };
        if let Some((state, ppid, start)) = process_stat(pid) {
            if ppid == parent && state != 'Z' {
                children.insert((pid, start));
            }
        }
    }
    children
}

/// Whether a process still runs (a zombie that nobody reaps does not count).
fn running(&(pid, start): &Process) -> bool {
    matches!(process_stat(pid), Some((state, _, started)) if started == start && state != 'Z' && state != 'X')
}

/// Stops processes that are not our children: SIGTERM, up to 2 s, then SIGKILL.
fn stop_processes(processes: &BTreeSet<Process>) {
    let mut left: Vec<Process> = processes.iter().copied().filter(running).collect();
    for &(pid, _) in &left {
        signal(pid, "TERM");
    }
    for (grace, kill) in [
        (Duration::from_secs(2), true),
        (Duration::from_secs(1), false),
    ] {
        let deadline = Instant::now() + grace;
        while !left.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            left.retain(running);
        }
        if kill {
            for &(pid, _) in &left {
                signal(pid, "KILL");
            }
        }
    }
}

/// Waits until nothing listens on 127.0.0.1:`port` any more (at most [`STOP_TIMEOUT`]).
fn wait_until_free(port: u16) {
    let deadline = Instant::now() + STOP_TIMEOUT;
    // std sets SO_REUSEADDR, so this fails only while a socket still listens on the port.
    while TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until 127.0.0.1:`port` accepts connections and, with `greeting`, sends a first line
/// starting with it; fails early if the process exits.
fn wait_until_ready(child: &mut Child, port: u16, greeting: Option<&str>) -> Result<(), String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::from("no connection attempt yet");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the server exited with {status} before it listened on port {port}"
            ));
        }
        match TcpStream::connect_timeout(&address, Duration::from_millis(500)) {
            Ok(stream) => {
                let Some(expected) = greeting else {
                    return Ok(());
                };
                stream
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .expect("set a read timeout");
                let mut line = String::new();
                match BufReader::new(stream).read_line(&mut line) {
                    Ok(_) if line.starts_with(expected) => return Ok(()),
                    Ok(_) => last = format!("unexpected greeting {:?}", line.trim_end()),
                    Err(error) => last = format!("no greeting: {error}"),
                }
            }
            Err(error) => last = error.to_string(),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "port {port} was not ready within {START_TIMEOUT:?} (last: {last})"
    ))
}

/// The last lines of a log file, for panic messages.
fn tail(path: &Path) -> String {
    let text = fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_else(|error| format!("(cannot read: {error})\n"));
    let lines: Vec<&str> = text.lines().collect();
    let mut tail = lines[lines.len().saturating_sub(40)..].join("\n");
    tail.push('\n');
    tail
}
