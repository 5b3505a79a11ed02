//! The IMAP worker: reads every new mail of a folder exactly once and never deletes.
//!
//! Each folder gets its own connection. A pass ([`sync_folder`], the step function)
//! fetches the UIDs above the checkpoint with `BODY.PEEK[]` in batches, commits a case for
//! each mail, then marks the batch (`\Seen`, or MOVE) and only then advances the checkpoint.
//! A crash anywhere means the batch is fetched again and recognised by its Message-ID.
//! Between passes the connection IDLEs (renewed before the server's 30 minutes) or polls.
//! A lost connection is retried with exponential backoff and jitter.

use crate::cluster::Cluster;
use crate::config::{AfterProcessing, AuthMethod, ImapAccountConfig, Security};
use crate::oauth::{xoauth2_response, TokenSource};
use crate::source::IntakeReport;
use crate::store::Checkpoint;
use crate::store::Lease;
use crate::tls::MailStream;
use crate::triage::{Triage, TriageError};
use async_imap::extensions::idle::IdleResponse;
use futures_util::TryStreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Errors of the IMAP worker.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// The server could not be reached.
    #[error("connecting: {0}")]
    Connect(#[from] std::io::Error),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The server refused the login.
    #[error("login refused: {0}")]
    Login(String),
    /// An IMAP command failed.
    #[error("imap: {0}")]
    Protocol(#[from] async_imap::error::Error),
    /// No token for XOAUTH2.
    #[error(transparent)]
    OAuth(#[from] crate::oauth::OAuthError),
    /// A mail could not be committed (it will be fetched again).
    #[error(transparent)]
    Triage(#[from] TriageError),
    /// The checkpoint could not be written.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The server took too long.
    #[error("timed out: {0}")]
    Timeout(&'static str),
}

/// A logged-in IMAP session.
pub type Session = async_imap::Session<MailStream>;

/// One IMAP account: its configuration, TLS and token source.
pub struct ImapAccount {
    config: ImapAccountConfig,
    tls: Option<tokio_rustls::TlsConnector>,
    tokens: Option<TokenSource>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

struct XOAuth2(String);

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        std::mem::take(&mut self.0)
    }
}

impl ImapAccount {
    /// Prepares an account (TLS roots, token source); connects nothing yet.
    pub fn new(config: ImapAccountConfig) -> Result<Self, ImapError> {
        let tls = match config.security {
            Security::Plain => None,
            _ => Some(crate::tls::connector(config.ca_file.as_deref())?),
        };
        let tokens =
            (config.auth == AuthMethod::Xoauth2).then(|| TokenSource::new(config.oauth.clone()));
        Ok(Self {
            config,
            tls,
            tokens,
        })
    }

    /// The account's configuration.
    pub fn config(&self) -> &ImapAccountConfig {
        &self.config
    }

    async fn tls_wrap(&self, tcp: TcpStream) -> Result<MailStream, ImapError> {
        let connector = self
            .tls
            .as_ref()
            .expect("tls is configured for tls and starttls");
        let name = rustls_pki_types::ServerName::try_from(self.config.host.clone())
            .map_err(|_| ImapError::Login(format!("invalid host name {:?}", self.config.host)))?;
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| ImapError::Timeout("tls handshake"))??;
        Ok(MailStream::Tls(Box::new(tls)))
    }

    /// Connects, secures the connection and logs in.
    pub async fn connect(&self) -> Result<Session, ImapError> {
        let address = (self.config.host.as_str(), self.config.effective_port());
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| ImapError::Timeout("connect"))??;
        tcp.set_nodelay(true)?;
        let stream = match self.config.security {
            Security::Tls => self.tls_wrap(tcp).await?,
            Security::Plain | Security::Starttls => MailStream::Plain(tcp),
        };
        let mut client = async_imap::Client::new(stream);
        tokio::time::timeout(CONNECT_TIMEOUT, client.read_response())
            .await
            .map_err(|_| ImapError::Timeout("greeting"))??
            .ok_or(ImapError::Login(
                "connection closed before the greeting".into(),
            ))?;
        if self.config.security == Security::Starttls {
            client.run_command_and_check_ok("STARTTLS", None).await?;
            let MailStream::Plain(tcp) = client.into_inner() else {
                unreachable!("starttls starts plain")
            };
            client = async_imap::Client::new(self.tls_wrap(tcp).await?);
        }
        let login = async {
            match &self.tokens {
                Some(tokens) => {
                    let token = tokens.token().await?;
                    let response = xoauth2_response(&self.config.username, &token);
                    match client.authenticate("XOAUTH2", XOAuth2(response)).await {
                        Ok(session) => Ok(session),
                        Err((e, _)) => {
                            tokens.invalidate().await;
                            Err(ImapError::Login(e.to_string()))
                        }
                    }
                }
                None => client
                    .login(&self.config.username, self.config.password.expose())
                    .await
                    .map_err(|(e, _)| ImapError::Login(e.to_string())),
            }
        };
        tokio::time::timeout(COMMAND_TIMEOUT, login)
            .await
            .map_err(|_| ImapError::Timeout("login"))?
    }
}

/// The label under which a folder's state is kept: `account/folder`.
pub fn mailbox_label(account: &str, folder: &str) -> String {
    format!("{account}/{folder}")
}

/// Collapses sorted UIDs into an IMAP sequence set: `1:3,7,9:10`.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// Where to begin in a folder: above the checkpoint, or from the start when UIDVALIDITY
/// changed (then every mail is fetched again and recognised by its Message-ID).
pub fn resume_after(checkpoint: Option<Checkpoint>, uid_validity: u32) -> u32 {
    match checkpoint {
        Some(c) if c.uid_validity == uid_validity => c.last_uid,
        _ => 0,
    }
}

/// One pass over a folder (the step function): every mail above the checkpoint is committed
/// as a case (or recognised), marked, and checkpointed, batch by batch. Stops early, with
/// everything done so far marked and checkpointed, when `stop` turns true.
pub async fn sync_folder(
    triage: &Triage,
    session: &mut Session,
    account: &ImapAccount,
    folder: &str,
    move_supported: bool,
    lease: Option<&Lease>,
    stop: &watch::Receiver<bool>,
) -> Result<IntakeReport, ImapError> {
    let config = account.config();
    let source = format!("imap:{}", mailbox_label(&config.name, folder));
    let mailbox = timed(session.select(folder), "select").await??;
    let uid_validity = mailbox.uid_validity.unwrap_or(0);
    let store = triage.store();
    let checkpoint = store.checkpoint(&config.name, folder).await?;
    if checkpoint.is_some_and(|c| c.uid_validity != uid_validity) {
        tracing::warn!(mailbox = %mailbox_label(&config.name, folder), "uidvalidity changed; resynchronising by message-id");
    }
    let last_uid = resume_after(checkpoint, uid_validity);
    let mut report = IntakeReport::default();
    if mailbox.exists == 0 {
        store
            .mailbox_succeeded(&mailbox_label(&config.name, folder))
            .await?;
        return Ok(report);
    }
    let found = timed(
        session.uid_search(format!("UID {}:*", last_uid.saturating_add(1))),
        "search",
    )
    .await??;
    let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > last_uid).collect();
    uids.sort_unstable();

    for batch in uids.chunks(config.batch_size) {
        let set = uid_set(batch);
        let mut fetched: Vec<(u32, Vec<u8>)> = {
            let stream = timed(session.uid_fetch(&set, "(UID BODY.PEEK[])"), "fetch").await??;
            let fetches: Vec<_> = timed(stream.try_collect::<Vec<_>>(), "fetch").await??;
            fetches
                .into_iter()
                .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
                .collect()
        };
        fetched.sort_by_key(|(uid, _)| *uid);
        if *stop.borrow() || fetched.is_empty() {
            break;
        }
        let (done, raws): (Vec<u32>, Vec<Vec<u8>>) = fetched.into_iter().unzip();
        for outcome in triage.process_batch_under(raws, &source, lease).await? {
            report.files += 1;
            report.count(&outcome);
        }
        mark_processed(session, config, &done, move_supported).await?;
        let highest = *done.last().expect("not empty");
        store
            .save_checkpoint(
                &config.name,
                folder,
                Checkpoint {
                    uid_validity,
                    last_uid: highest,
                },
                lease,
            )
            .await?;
    }
    store
        .mailbox_succeeded(&mailbox_label(&config.name, folder))
        .await?;
    Ok(report)
}

async fn mark_processed(
    session: &mut Session,
    config: &ImapAccountConfig,
    uids: &[u32],
    move_supported: bool,
) -> Result<(), ImapError> {
    let set = uid_set(uids);
    match config.after_processing {
        AfterProcessing::Seen => {
            let stream =
                timed(session.uid_store(&set, "+FLAGS.SILENT (\\Seen)"), "store").await??;
            timed(stream.try_collect::<Vec<_>>(), "store").await??;
        }
        AfterProcessing::Move if move_supported => {
            timed(session.uid_mv(&set, &config.move_to), "move").await??;
        }
        AfterProcessing::Move => {
            // COPY, flag the originals, and expunge exactly those UIDs (UIDPLUS); nothing else is deleted.
            timed(session.uid_copy(&set, &config.move_to), "copy").await??;
            let stream = timed(
                session.uid_store(&set, "+FLAGS.SILENT (\\Seen \\Deleted)"),
                "store",
            )
            .await??;
            timed(stream.try_collect::<Vec<_>>(), "store").await??;
            let stream = timed(session.uid_expunge(&set), "expunge").await??;
            timed(stream.try_collect::<Vec<_>>(), "expunge").await??;
        }
    }
    Ok(())
}

async fn timed<F: std::future::Future>(f: F, what: &'static str) -> Result<F::Output, ImapError> {
    tokio::time::timeout(COMMAND_TIMEOUT, f)
        .await
        .map_err(|_| ImapError::Timeout(what))
}

/// How long one IDLE waits before the folder is checked anyway: a notification the
/// server never sent (the cluster benchmark saw folders idle with mail waiting, mail
/// dropped straight into Dovecot's Maildir) then delays mail by at most `poll_seconds`,
/// never by the whole IDLE term.
fn idle_wait_seconds(config: &ImapAccountConfig) -> u64 {
    config.idle_renew_seconds.min(config.poll_seconds).max(1)
}

/// Exponential backoff with jitter: 1 s doubling up to 5 minutes.
pub fn backoff(attempt: u32) -> Duration {
    let base = 1000u64.saturating_mul(1 << attempt.min(9)).min(300_000);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = u64::from(nanos) % (base / 2 + 1);
    Duration::from_millis(base / 2 + jitter)
}

/// Watches one folder until `shutdown` turns true, whenever this instance holds the
/// folder's lease (one reader per mailbox among instances sharing the database).
pub async fn watch_folder(
    triage: Triage,
    account: Arc<ImapAccount>,
    folder: String,
    cluster: Arc<Cluster>,
    mut shutdown: watch::Receiver<bool>,
) {
    let label = mailbox_label(&account.config().name, &folder);
    while !*shutdown.borrow() {
        let Some(lease) = cluster.wait_for_lease(&label, &mut shutdown).await else {
            break;
        };
        let held = lease.clone();
        cluster
            .hold(lease, shutdown.clone(), |stop| {
                read_folder(&triage, &account, &folder, &held, stop)
            })
            .await;
    }
}

/// Reads one folder while the lease is held, until `stop` turns true: connect, sync, IDLE
/// or poll, reconnect with backoff on any failure.
async fn read_folder(
    triage: &Triage,
    account: &ImapAccount,
    folder: &str,
    lease: &Lease,
    mut stop: watch::Receiver<bool>,
) {
    let config = account.config();
    let label = mailbox_label(&config.name, folder);
    let mut attempt = 0u32;
    while !*stop.borrow() {
        let result = run_connection(triage, account, folder, lease, &mut stop).await;
        if *stop.borrow() {
            break;
        }
        if let Err(e) = result {
            let message = e.to_string();
            match triage.store().mailbox_failed(&label, &message).await {
                Ok(since) => {
                    let down_for = crate::store::now() - since;
                    if down_for >= (config.unreachable_warning_minutes * 60) as i64 {
                        tracing::error!(mailbox = %label, minutes = down_for / 60, error = %message, "mailbox unreachable for too long");
                    } else {
                        tracing::warn!(mailbox = %label, error = %message, attempt, "mailbox connection failed; retrying");
                    }
                }
                Err(store_error) => {
                    tracing::error!(mailbox = %label, error = %store_error, "cannot record mailbox state")
                }
            }
            let delay = backoff(attempt);
            attempt = attempt.saturating_add(1);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => {}
            }
        } else {
            attempt = 0;
        }
    }
}

async fn run_connection(
    triage: &Triage,
    account: &ImapAccount,
    folder: &str,
    lease: &Lease,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), ImapError> {
    let config = account.config();
    let label = mailbox_label(&config.name, folder);
    let mut session = account.connect().await?;
    let capabilities = timed(session.capabilities(), "capability").await??;
    let idle = capabilities.has_str("IDLE");
    let move_supported = capabilities.has_str("MOVE");
    if config.after_processing == AfterProcessing::Move {
        // Create the destination if missing; an error here means it exists.
        let _ = timed(session.create(&config.move_to), "create").await?;
    }
    tracing::info!(mailbox = %label, idle, "mailbox connected");
    loop {
        let report = sync_folder(
            triage,
            &mut session,
            account,
            folder,
            move_supported,
            Some(lease),
            shutdown,
        )
        .await?;
        if report.messages > 0 {
            tracing::info!(mailbox = %label, messages = report.messages, cases = report.cases, duplicates = report.duplicates, "mailbox synchronised");
        }
        if *shutdown.borrow() {
            let _ = timed(session.logout(), "logout").await;
            return Ok(());
        }
        if report.messages > 0 {
            // Mail may have arrived while this pass worked, announced before the next
            // IDLE began: look again until a pass finds nothing.
            continue;
        }
        if idle {
            let mut handle = session.idle();
            timed(handle.init(), "idle").await??;
            let response = {
                let (wait, interrupt) =
                    handle.wait_with_timeout(Duration::from_secs(idle_wait_seconds(config)));
                tokio::pin!(wait);
                let mut interrupt = Some(interrupt);
                tokio::select! {
                    r = &mut wait => r,
                    _ = shutdown.changed() => {
                        drop(interrupt.take());
                        wait.await
                    }
                }
            }?;
            if let IdleResponse::NewData(_) = response {
                tracing::debug!(mailbox = %label, "idle woke up");
            }
            session = timed(handle.done(), "idle done").await??;
        } else {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(config.poll_seconds)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_collapse_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn a_changed_uidvalidity_starts_again_from_the_beginning() {
        let c = Some(Checkpoint {
            uid_validity: 7,
            last_uid: 120,
        });
        assert_eq!(resume_after(c, 7), 120);
        assert_eq!(resume_after(c, 8), 0);
        assert_eq!(resume_after(None, 8), 0);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(
            backoff(0) >= Duration::from_millis(500) && backoff(0) <= Duration::from_millis(1000)
        );
        assert!(backoff(3) >= Duration::from_secs(4));
        assert!(backoff(30) <= Duration::from_secs(300));
    }
}
