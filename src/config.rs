//! Configuration: one TOML file (`brevduva.example.toml` documents every key), then
//! `BREVDUVA__SECTION__KEY` environment variables on top. Secrets never print.

use crate::diagnostics::{Problem, Problems};
use crate::domain::EmailAddress;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Prefix of environment variables that override the file.
pub const ENV_PREFIX: &str = "BREVDUVA__";

/// A value that must never be printed or logged.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces `env:NAME` with the value of the environment variable `NAME`, so passwords
    /// need not be written in the file.
    fn resolve(&mut self, env: &std::collections::HashMap<String, String>) -> Result<(), String> {
        if let Some(name) = self.0.strip_prefix("env:") {
            match env.get(name) {
                Some(value) => self.0 = value.clone(),
                None => return Err(format!("environment variable {name} is not set")),
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Everything Brevduva is told from outside.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Who we are.
    pub municipality: MunicipalityConfig,
    /// Where data lives.
    pub storage: StorageConfig,
    /// How mail is routed.
    pub routing: RoutingConfig,
    /// Mail templates.
    pub templates: TemplatesConfig,
    /// The Maildir source.
    pub maildir: MaildirConfig,
    /// The outbox.
    pub outbox: OutboxConfig,
    /// The web server.
    pub web: WebConfig,
    /// Limits against hostile input.
    pub limits: LimitsConfig,
    /// IMAP mailboxes to read (`[[imap]]`, any number).
    pub imap: Vec<ImapAccountConfig>,
    /// The SMTP server that sends; without it, mail is written as files into the outbox folder.
    pub smtp: Option<SmtpConfig>,
    /// Campaigns to recognise (`[[campaigns]]`, any number).
    pub campaigns: Vec<CampaignConfig>,
    /// Answers from approved FAQ entries in the acknowledgement (off by default).
    pub automatic_answers: AutomaticAnswersConfig,
    /// The citizen chat.
    pub chat: ChatConfig,
    /// The read audit and personal data.
    pub privacy: PrivacyConfig,
    /// Retention rules (`[[retention]]`, any number; the most specific one applies).
    pub retention: Vec<RetentionRule>,
    /// Several instances on one PostgreSQL database.
    pub cluster: ClusterConfig,
    /// Several municipalities on one installation (`[[tenants]]`, any number); each
    /// tenant's own configuration file holds its database, mailboxes, rules and the rest.
    pub tenants: Vec<TenantConfig>,
}

/// `[cluster]`: how instances sharing one database divide the work.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This instance's name, unique among those sharing the database; empty: host name
    /// and process id.
    pub instance_name: String,
    /// A mailbox's reader renews its lease this often (a third of the lease) and another
    /// instance takes the mailbox over at most this many seconds after the reader died.
    pub lease_seconds: u64,
    /// How often each instance reads the knowledge change log, so that its index
    /// follows what people and other instances changed.
    pub index_poll_ms: u64,
    /// How long a panel session is trusted from memory before the database is asked
    /// again (a log-out on another instance takes at most this long to count here).
    /// Empty: 5 seconds on SQLite (one instance), 0 on PostgreSQL.
    pub session_cache_seconds: Option<u64>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            instance_name: String::new(),
            lease_seconds: 30,
            index_poll_ms: 1000,
            session_cache_seconds: None,
        }
    }
}

impl ClusterConfig {
    /// The configured name, or `host-pid`.
    pub fn instance_name(&self) -> String {
        if !self.instance_name.is_empty() {
            return self.instance_name.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "brevduva".into());
        format!("{host}-{}", std::process::id())
    }
}

/// `[[tenants]]`: one municipality on a shared installation.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Short name (letters, digits, `-`), shown in logs.
    pub name: String,
    /// Host names its panel and chat answer on (the `Host` header), e.g.
    /// `["brevduva.falun.se"]`. Every request for another host is refused.
    pub hosts: Vec<String>,
    /// Its own configuration file: database, data dir, mailboxes, SMTP, rules,
    /// knowledge base, templates, municipality. Relative to this file.
    pub config: PathBuf,
}

/// How a connection is protected.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    #[default]
    Tls,
    /// A plain connection upgraded with STARTTLS (IMAP 143, SMTP 587).
    Starttls,
    /// No encryption at all: only for a server on the same machine or a test.
    Plain,
}

/// How to log in.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// Username and password (IMAP LOGIN, SMTP PLAIN/LOGIN).
    #[default]
    Password,
    /// SASL XOAUTH2 with an OAuth 2.0 access token (Microsoft 365, Google Workspace).
    Xoauth2,
    /// No authentication (SMTP relay on the same machine).
    None,
}

/// Where XOAUTH2 access tokens come from.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthConfig {
    /// A command that prints an access token on standard output, e.g. `["/usr/local/bin/get-token", "imap"]`.
    pub token_command: Vec<String>,
    /// OAuth 2.0 token endpoint for the client-credentials grant
    /// (Microsoft 365: `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`).
    pub token_url: String,
    /// Application (client) id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: Secret,
    /// Scope (Microsoft 365: `https://outlook.office365.com/.default`).
    pub scope: String,
}

/// What happens to a mail in the IMAP folder once its case is committed. Nothing is ever deleted.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AfterProcessing {
    /// Set the `\Seen` flag.
    #[default]
    Seen,
    /// Move it to `move_to` (MOVE, or COPY + `\Deleted` + UID EXPUNGE of that one message).
    Move,
}

/// `[[imap]]`: one IMAP account.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ImapAccountConfig {
    /// A short name for logs, the panel and checkpoints; unique.
    pub name: String,
    /// Server host name.
    pub host: String,
    /// Port; 0 means 993 for tls, 143 otherwise.
    pub port: u16,
    /// tls, starttls or plain.
    pub security: Security,
    /// Extra CA certificate (PEM) to trust, for a municipality's own CA.
    pub ca_file: Option<PathBuf>,
    /// password or xoauth2.
    pub auth: AuthMethod,
    /// Login name.
    pub username: String,
    /// Password (for auth = "password").
    pub password: Secret,
    /// Token source (for auth = "xoauth2").
    pub oauth: OAuthConfig,
    /// Folders to read; each gets its own connection (IDLE watches one folder).
    pub folders: Vec<String>,
    /// seen or move.
    pub after_processing: AfterProcessing,
    /// Folder to move processed mail to (after_processing = "move"); created when missing.
    pub move_to: String,
    /// Messages fetched per round trip.
    pub batch_size: usize,
    /// Seconds between checks when the server has no IDLE; with IDLE, the folder is
    /// also checked this often in case a notification went missing.
    pub poll_seconds: u64,
    /// IDLE is renewed after this many seconds (servers drop it after 30 minutes).
    pub idle_renew_seconds: u64,
    /// Warn (logs, panel) when the mailbox has been unreachable this long.
    pub unreachable_warning_minutes: u64,
}

impl Default for ImapAccountConfig {
    fn default() -> Self {
        Self {
            name: "kontaktcenter".into(),
            host: String::new(),
            port: 0,
            security: Security::Tls,
            ca_file: None,
            auth: AuthMethod::Password,
            username: String::new(),
            password: Secret::default(),
            oauth: OAuthConfig::default(),
            folders: vec!["INBOX".into()],
            after_processing: AfterProcessing::Seen,
            move_to: "Brevduva/Behandlat".into(),
            batch_size: 50,
            poll_seconds: 60,
            idle_renew_seconds: 25 * 60,
            unreachable_warning_minutes: 15,
        }
    }
}

impl ImapAccountConfig {
    /// The port, with the default for the security mode.
    pub fn effective_port(&self) -> u16 {
        match (self.port, self.security) {
            (0, Security::Tls) => 993,
            (0, _) => 143,
            (p, _) => p,
        }
    }
}

/// `[smtp]`: the server that sends forwards, acknowledgements and replies.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Server host name.
    pub host: String,
    /// Port; 0 means 465 for tls, 587 for starttls, 25 for plain.
    pub port: u16,
    /// tls, starttls or plain.
    pub security: Security,
    /// Extra CA certificate (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// password, xoauth2 or none.
    pub auth: AuthMethod,
    /// Login name.
    pub username: String,
    /// Password (auth = "password").
    pub password: Secret,
    /// Token source (auth = "xoauth2").
    pub oauth: OAuthConfig,
    /// Seconds before a connection attempt or command times out.
    pub timeout_seconds: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 0,
            security: Security::Starttls,
            ca_file: None,
            auth: AuthMethod::Password,
            username: String::new(),
            password: Secret::default(),
            oauth: OAuthConfig::default(),
            timeout_seconds: 30,
        }
    }
}

impl SmtpConfig {
    /// The port, with the default for the security mode.
    pub fn effective_port(&self) -> u16 {
        match (self.port, self.security) {
            (0, Security::Tls) => 465,
            (0, Security::Starttls) => 587,
            (0, Security::Plain) => 25,
            (p, _) => p,
        }
    }
}

/// `[municipality]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MunicipalityConfig {
    /// Name used in mails: "Exempelby kommun".
    pub name: String,
    /// The public address citizens write to; From of everything we send.
    pub kontaktcenter_address: String,
    /// Display name on what we send.
    pub kontaktcenter_name: String,
    /// Further addresses that are ours (never acknowledged, loop protection).
    pub own_addresses: Vec<String>,
    /// Working days within which the citizen can expect an answer.
    pub service_promise_working_days: u32,
    /// When Kontaktcenter opens on working days, `HH:MM` Swedish time.
    pub office_opens: String,
    /// When it closes.
    pub office_closes: String,
}

impl MunicipalityConfig {
    /// The opening hours, if both times are valid `HH:MM` and opening comes first.
    pub fn office_hours(&self) -> Option<crate::domain::working_days::OfficeHours> {
        let parse = |s: &str| {
            let (h, m) = s.trim().split_once(':')?;
            time::Time::from_hms(h.parse().ok()?, m.parse().ok()?, 0).ok()
        };
        let opens = parse(&self.office_opens)?;
        let closes = parse(&self.office_closes)?;
        (opens < closes).then_some(crate::domain::working_days::OfficeHours { opens, closes })
    }
}

/// A campaign (`[[campaigns]]`): a social post or a notice that points people to a
/// plus-address or asks for a word in the subject, counted in `brevduva stats`.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CampaignConfig {
    /// Short id stored on the case: "ukraina".
    pub id: String,
    /// Name for people.
    pub name: String,
    /// Plus-address tags: "ukraina" for kontaktcenter+ukraina@.
    pub plus_tags: Vec<String>,
    /// Words or tags in the subject: "#ukraina", "Vinterväg".
    pub subject_tags: Vec<String>,
}

/// `[automatic_answers]`: answering from an approved FAQ entry in the acknowledgement.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AutomaticAnswersConfig {
    /// Off unless turned on.
    pub enabled: bool,
    /// The share of the enquiry's words the FAQ entry must cover (0..1).
    pub min_similarity: f64,
    /// The routing confidence the case must reach, for the FAQ entry's department.
    pub min_confidence: f64,
}

impl Default for AutomaticAnswersConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            min_similarity: 0.9,
            min_confidence: 0.95,
        }
    }
}

/// `[privacy]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// Audit log entries (who read, exported or changed what) are kept this many days.
    pub audit_keep_days: u64,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            audit_keep_days: 730,
        }
    }
}

/// `[[retention]]`: how long a department's cases of a category keep their content and
/// their personal data. Days count from the case's last activity.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetentionRule {
    /// A department id, or `*` for every department (and cases without one).
    #[serde(default = "any")]
    pub department: String,
    /// `email`, `chat`, `automatic` (auto-replies, bulk mail), or `*` for every case.
    #[serde(default = "any")]
    pub category: String,
    /// After this many days the message bodies, attachments, notes and outgoing mail of a
    /// case are removed.
    pub remove_content_after_days: Option<u64>,
    /// After this many days the case is anonymised: only its number, department, dates,
    /// channel and campaign stay (and, for cases registered as allmän handling, the
    /// registry's metadata: subject and sender).
    pub anonymise_after_days: Option<u64>,
}

fn any() -> String {
    "*".into()
}

/// `[chat]`: the citizen chat at `/chat` and `/api/chat`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// Serve the chat (the panel is served either way).
    pub enabled: bool,
    /// The share of a question's words an approved answer must cover (0..1); below it the
    /// chat says it is not sure and offers to pass the question on.
    pub min_confidence: f64,
    /// Longest message, in characters.
    pub max_message_chars: usize,
    /// Messages one client address may send per minute.
    pub requests_per_minute_per_client: u32,
    /// Questions one client address may pass to Kontaktcenter per hour.
    pub handoffs_per_hour_per_client: u32,
    /// After this many days a question's text and conversation id are removed; only the
    /// topic and whether it was answered stay, for statistics.
    pub keep_text_days: u64,
    /// Websites that may show the chat in a frame (`https://www.kommun.se`), for the
    /// embeddable script.
    pub embed_origins: Vec<String>,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_confidence: 0.5,
            max_message_chars: 1000,
            requests_per_minute_per_client: 30,
            handoffs_per_hour_per_client: 5,
            keep_text_days: 30,
            embed_origins: Vec::new(),
        }
    }
}

impl Default for MunicipalityConfig {
    fn default() -> Self {
        Self {
            name: "Exempelby kommun".into(),
            kontaktcenter_address: "kontaktcenter@kommun.example".into(),
            kontaktcenter_name: "Kontaktcenter".into(),
            own_addresses: Vec::new(),
            service_promise_working_days: 2,
            office_opens: "08:00".into(),
            office_closes: "16:30".into(),
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Folder for the SQLite file, the index, the Maildir and the file outbox.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://...`; empty means `sqlite://<data_dir>/brevduva.db`.
    pub database_url: Secret,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("brevduva-data"),
            database_url: Secret::default(),
        }
    }
}

/// `[routing]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// Folder of `<department>.toml` rule files; empty means the embedded defaults.
    pub rules_dir: Option<PathBuf>,
    /// Folder of knowledge base `.jsonl` files; empty means the embedded starter base.
    pub knowledge_dir: Option<PathBuf>,
    /// Confidence at or above which a case is routed without a person. The confidence is
    /// calibrated on held-out knowledge entries: 0.9 means about nine in ten right, and
    /// decisions at 0.9 or more were right at least 95% of the time on every eval set.
    pub auto_route_threshold: f64,
    /// How many past answers vote on a new enquiry.
    pub neighbours: usize,
    /// Department that handles everything unclear.
    pub fallback_department: String,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            rules_dir: None,
            knowledge_dir: None,
            auto_route_threshold: 0.9,
            neighbours: 12,
            fallback_department: "kontaktcenter".into(),
        }
    }
}

/// `[templates]`
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesConfig {
    /// Folder of mail templates; empty means the embedded defaults.
    pub dir: Option<PathBuf>,
}

/// `[maildir]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MaildirConfig {
    /// Whether `run` reads this Maildir.
    pub enabled: bool,
    /// The Maildir (with `new/`, `cur/`, `tmp/`); empty means `<data_dir>/maildir`.
    pub path: Option<PathBuf>,
    /// Seconds between looks into `new/`.
    pub poll_seconds: u64,
}

impl Default for MaildirConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            path: None,
            poll_seconds: 5,
        }
    }
}

/// `[outbox]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Folder where the file transport writes one `.eml` per message; empty means `<data_dir>/outbox`.
    pub dir: Option<PathBuf>,
    /// Give up on a message after this many hours of temporary failures.
    pub max_age_hours: u64,
    /// First retry delay in seconds; doubles with each attempt.
    pub retry_base_seconds: u64,
    /// At most this many automatic mails (acknowledgements) to one address per day.
    pub max_automatic_per_sender_per_day: u32,
    /// Reply-To of forwards: "citizen" (departments answer the citizen directly) or "kontaktcenter".
    pub forward_reply_to: ForwardReplyTo,
}

/// Where a department's "Reply" on a forward goes.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ForwardReplyTo {
    /// To the citizen.
    #[default]
    Citizen,
    /// Back to Kontaktcenter.
    Kontaktcenter,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            dir: None,
            max_age_hours: 48,
            retry_base_seconds: 30,
            max_automatic_per_sender_per_day: 5,
            forward_reply_to: ForwardReplyTo::Citizen,
        }
    }
}

/// `[web]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Address and port to listen on.
    pub listen: String,
    /// Mark session cookies `Secure` (sent over HTTPS only; browsers also send them to
    /// `localhost` and `127.0.0.1`). Turn off only behind a proxy that speaks plain HTTP
    /// to browsers on another host, which you should not do.
    pub secure_cookies: bool,
    /// A session ends after this many minutes without use.
    pub session_idle_minutes: u64,
    /// Log-in attempts allowed from one client address per 10 minutes.
    pub login_attempts_per_client: u32,
    /// Failed log-ins in a row that lock an account...
    pub lockout_after_failures: u32,
    /// ...for this many minutes.
    pub lockout_minutes: u64,
    /// A bearer token for `/metrics`; without one, only clients on this machine
    /// (loopback) may read it.
    pub metrics_token: Option<Secret>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            secure_cookies: true,
            session_idle_minutes: 480,
            login_attempts_per_client: 20,
            lockout_after_failures: 5,
            lockout_minutes: 15,
            metrics_token: None,
        }
    }
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Larger messages are quarantined unread.
    pub max_message_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 50 << 20,
        }
    }
}

impl Config {
    /// Reads the file (if given), applies environment overrides from `env`, resolves
    /// relative paths against the file's folder, and validates. Every problem names its
    /// file and line, or the environment variable.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, Problems> {
        let (source, origin) = match file {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => (text, path.to_owned()),
                Err(e) => {
                    return Err(Problems(vec![Problem::in_file(
                        path,
                        format!("cannot read configuration: {e}"),
                    )]))
                }
            },
            None => (String::new(), PathBuf::from("(defaults)")),
        };
        // Parse the file alone first, so that errors point at its lines.
        let mut config: Config = toml::from_str(&source)
            .map_err(|e| Problems(vec![Problem::from_toml(&origin, &source, &e)]))?;
        let env: std::collections::HashMap<String, String> = env.into_iter().collect();
        let mut overrides: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        overrides.sort();
        if !overrides.is_empty() {
            let mut table: toml::Table = toml::from_str(&source).unwrap_or_default();
            for (key, value) in &overrides {
                set_path(&mut table, key, value);
            }
            config = Config::deserialize(toml::Value::Table(table)).map_err(|e| {
                let names: Vec<&str> = overrides.iter().map(|(k, _)| k.as_str()).collect();
                Problems(vec![Problem::in_file(
                    Path::new("environment"),
                    format!("{} (set by {})", e.message().trim(), names.join(", ")),
                )])
            })?;
        }
        if let Some(base) = file.and_then(Path::parent) {
            config.resolve_paths(base);
        }
        config
            .resolve_secrets(&env)
            .map_err(|message| Problems(vec![Problem::in_file(&origin, message)]))?;
        config.validate(&origin, &source)?;
        Ok(config)
    }

    fn resolve_secrets(
        &mut self,
        env: &std::collections::HashMap<String, String>,
    ) -> Result<(), String> {
        self.storage.database_url.resolve(env)?;
        if let Some(token) = &mut self.web.metrics_token {
            token.resolve(env)?;
        }
        for account in &mut self.imap {
            account.password.resolve(env)?;
            account.oauth.client_secret.resolve(env)?;
        }
        if let Some(smtp) = &mut self.smtp {
            smtp.password.resolve(env)?;
            smtp.oauth.client_secret.resolve(env)?;
        }
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() && !p.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.storage.data_dir);
        for account in &mut self.imap {
            if let Some(p) = &mut account.ca_file {
                resolve(p);
            }
        }
        if let Some(p) = self.smtp.as_mut().and_then(|s| s.ca_file.as_mut()) {
            resolve(p);
        }
        for tenant in &mut self.tenants {
            resolve(&mut tenant.config);
        }
        for p in [
            &mut self.routing.rules_dir,
            &mut self.routing.knowledge_dir,
            &mut self.templates.dir,
            &mut self.maildir.path,
            &mut self.outbox.dir,
        ]
        .into_iter()
        .flatten()
        {
            resolve(p);
        }
    }

    fn validate(&self, origin: &Path, source: &str) -> Result<(), Problems> {
        let mut problems = Problems::default();
        let line_of_key = |key: &str| -> Option<usize> {
            source
                .lines()
                .position(|l| {
                    l.trim_start().starts_with(key)
                        && l[l.find(key).unwrap_or(0) + key.len()..]
                            .trim_start()
                            .starts_with('=')
                })
                .map(|i| i + 1)
        };
        let mut problem = |key: &str, message: String| {
            problems.push(Problem {
                file: origin.to_owned(),
                line: line_of_key(key),
                message,
            });
        };
        if EmailAddress::parse(&self.municipality.kontaktcenter_address).is_err() {
            problem(
                "kontaktcenter_address",
                "municipality.kontaktcenter_address is not an email address".into(),
            );
        }
        for a in &self.municipality.own_addresses {
            if EmailAddress::parse(a).is_err() {
                problem(
                    "own_addresses",
                    format!("municipality.own_addresses: {a:?} is not an email address"),
                );
            }
        }
        if !(0.0..=1.0).contains(&self.routing.auto_route_threshold) {
            problem(
                "auto_route_threshold",
                "routing.auto_route_threshold must be between 0 and 1".into(),
            );
        }
        if self.routing.neighbours == 0 || self.routing.neighbours > 100 {
            problem(
                "neighbours",
                "routing.neighbours must be between 1 and 100".into(),
            );
        }
        if self.web.listen.parse::<std::net::SocketAddr>().is_err() {
            problem(
                "listen",
                format!("web.listen {:?} is not an address:port", self.web.listen),
            );
        }
        let url = self.storage.database_url.expose();
        let known_scheme = ["sqlite:", "postgres:", "postgresql:"]
            .iter()
            .any(|s| url.starts_with(s));
        if !url.is_empty() && !known_scheme {
            problem(
                "database_url",
                "storage.database_url must start with sqlite: or postgres:".into(),
            );
        }
        if self.municipality.office_hours().is_none() {
            problem(
                "office_opens",
                "municipality.office_opens and office_closes must be HH:MM, opening first".into(),
            );
        }
        let mut campaign_ids = std::collections::HashSet::new();
        for c in &self.campaigns {
            let valid_id = !c.id.is_empty()
                && c.id
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
            if !valid_id || !campaign_ids.insert(c.id.as_str()) {
                problem(
                    "id",
                    format!(
                        "campaign id {:?} must be unique, lowercase letters, digits and -",
                        c.id
                    ),
                );
            }
            if c.plus_tags.is_empty() && c.subject_tags.is_empty() {
                problem(
                    "id",
                    format!("campaign {:?} has neither plus_tags nor subject_tags", c.id),
                );
            }
        }
        let a = &self.automatic_answers;
        if !(0.0..=1.0).contains(&a.min_similarity) || !(0.0..=1.0).contains(&a.min_confidence) {
            problem(
                "min_similarity",
                "automatic_answers.min_similarity and min_confidence must be between 0 and 1"
                    .into(),
            );
        }
        for r in &self.retention {
            if !matches!(r.category.as_str(), "*" | "email" | "chat" | "automatic") {
                problem(
                    "category",
                    format!(
                        "retention category {:?}: use email, chat, automatic or *",
                        r.category
                    ),
                );
            }
            if let (Some(content), Some(anonymise)) =
                (r.remove_content_after_days, r.anonymise_after_days)
            {
                if anonymise < content {
                    problem(
                        "anonymise_after_days",
                        "retention: anonymise_after_days must not come before remove_content_after_days".into(),
                    );
                }
            }
            if r.remove_content_after_days.is_none() && r.anonymise_after_days.is_none() {
                problem(
                    "department",
                    "retention: a rule needs remove_content_after_days or anonymise_after_days"
                        .into(),
                );
            }
        }
        let chat = &self.chat;
        if !(0.0..=1.0).contains(&chat.min_confidence) {
            problem(
                "min_confidence",
                "chat.min_confidence must be between 0 and 1".into(),
            );
        }
        if chat.max_message_chars == 0 || chat.requests_per_minute_per_client == 0 {
            problem(
                "max_message_chars",
                "chat.max_message_chars and requests_per_minute_per_client must be above 0".into(),
            );
        }
        for origin in &chat.embed_origins {
            let plain = origin.starts_with("https://") || origin.starts_with("http://");
            if !plain || origin.contains([' ', ';', ',', '\'', '"']) || origin.ends_with('/') {
                problem(
                    "embed_origins",
                    format!("chat.embed_origins: {origin:?} is not an origin like \"https://www.kommun.se\""),
                );
            }
        }
        if self.limits.max_message_bytes < 1024 {
            problem(
                "max_message_bytes",
                "limits.max_message_bytes must be at least 1024".into(),
            );
        }
        let mut names = std::collections::HashSet::new();
        for account in &self.imap {
            if account.name.is_empty() || !names.insert(account.name.as_str()) {
                problem(
                    "name",
                    format!(
                        "imap account name {:?} must be set and unique",
                        account.name
                    ),
                );
            }
            if account.host.is_empty() {
                problem(
                    "host",
                    format!("imap account {:?} has no host", account.name),
                );
            }
            if account.username.is_empty() {
                problem(
                    "username",
                    format!("imap account {:?} has no username", account.name),
                );
            }
            if account.folders.is_empty() {
                problem(
                    "folders",
                    format!("imap account {:?} reads no folders", account.name),
                );
            }
            if account.batch_size == 0 || account.batch_size > 1000 {
                problem(
                    "batch_size",
                    format!(
                        "imap account {:?}: batch_size must be between 1 and 1000",
                        account.name
                    ),
                );
            }
            if account.idle_renew_seconds == 0 || account.idle_renew_seconds >= 29 * 60 {
                problem(
                    "idle_renew_seconds",
                    format!(
                        "imap account {:?}: idle_renew_seconds must be between 1 and 1739",
                        account.name
                    ),
                );
            }
            if account.after_processing == AfterProcessing::Move && account.move_to.is_empty() {
                problem(
                    "move_to",
                    format!(
                        "imap account {:?}: move_to must name a folder",
                        account.name
                    ),
                );
            }
            if account.auth == AuthMethod::None {
                problem(
                    "auth",
                    format!(
                        "imap account {:?}: auth must be password or xoauth2",
                        account.name
                    ),
                );
            }
            check_oauth(&mut problem, &account.name, account.auth, &account.oauth);
        }
        if let Some(smtp) = &self.smtp {
            if smtp.host.is_empty() {
                problem("host", "smtp.host is empty".into());
            }
            check_oauth(&mut problem, "smtp", smtp.auth, &smtp.oauth);
        }
        if self.maildir.poll_seconds == 0 {
            problem(
                "poll_seconds",
                "maildir.poll_seconds must be at least 1".into(),
            );
        }
        if self.cluster.lease_seconds < 3 {
            problem(
                "lease_seconds",
                "cluster.lease_seconds must be at least 3".into(),
            );
        }
        if self.cluster.index_poll_ms < 50 {
            problem(
                "index_poll_ms",
                "cluster.index_poll_ms must be at least 50".into(),
            );
        }
        if !self.tenants.is_empty() && (!self.imap.is_empty() || self.smtp.is_some()) {
            problem(
                "tenants",
                "with [[tenants]], mailboxes and SMTP belong in each tenant's own file".into(),
            );
        }
        let mut hosts = std::collections::HashSet::new();
        let mut names = std::collections::HashSet::new();
        for t in &self.tenants {
            let valid_name = !t.name.is_empty()
                && t.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !valid_name || !names.insert(t.name.clone()) {
                problem(
                    "name",
                    format!(
                        "tenants: {:?} is not a unique name of letters, digits and -",
                        t.name
                    ),
                );
            }
            if t.hosts.is_empty() {
                problem("hosts", format!("tenant {:?} has no hosts", t.name));
            }
            for h in &t.hosts {
                if !hosts.insert(h.to_ascii_lowercase()) {
                    problem("hosts", format!("host {h:?} belongs to two tenants"));
                }
            }
        }
        problems.into_result(())
    }

    /// The database URL, defaulting to a SQLite file in the data dir.
    pub fn database_url(&self) -> Secret {
        if self.storage.database_url.expose().is_empty() {
            Secret::new(format!(
                "sqlite://{}",
                self.storage.data_dir.join("brevduva.db").display()
            ))
        } else {
            self.storage.database_url.clone()
        }
    }

    /// The Maildir the service reads.
    pub fn maildir_path(&self) -> PathBuf {
        self.maildir
            .path
            .clone()
            .unwrap_or_else(|| self.storage.data_dir.join("maildir"))
    }

    /// The folder of the file transport.
    pub fn outbox_dir(&self) -> PathBuf {
        self.outbox
            .dir
            .clone()
            .unwrap_or_else(|| self.storage.data_dir.join("outbox"))
    }

    /// The folder of the on-disk knowledge index.
    pub fn index_dir(&self) -> PathBuf {
        self.storage.data_dir.join("index")
    }
}

fn check_oauth(
    problem: &mut impl FnMut(&str, String),
    name: &str,
    auth: AuthMethod,
    oauth: &OAuthConfig,
) {
    if auth != AuthMethod::Xoauth2 {
        return;
    }
    let command = !oauth.token_command.is_empty();
    let endpoint = !oauth.token_url.is_empty();
    if command == endpoint {
        problem(
            "token_command",
            format!("{name}: xoauth2 needs exactly one of oauth.token_command and oauth.token_url"),
        );
    }
    if endpoint && (oauth.client_id.is_empty() || oauth.client_secret.expose().is_empty()) {
        problem(
            "client_id",
            format!("{name}: oauth.token_url needs client_id and client_secret"),
        );
    }
}

/// Sets `BREVDUVA__A__B=value` as `a.b = value` in a table; the value is read as TOML when
/// it parses as a TOML value, else taken as a string.
fn set_path(table: &mut toml::Table, key: &str, value: &str) {
    let path: Vec<String> = key[ENV_PREFIX.len()..]
        .split("__")
        .map(|s| s.to_lowercase())
        .collect();
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    let mut current = table;
    for (i, part) in path.iter().enumerate() {
        if i == path.len() - 1 {
            current.insert(part.clone(), parsed);
            return;
        }
        let entry = current
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        current = entry.as_table_mut().expect("just made a table");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("brevduva.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn the_example_file_is_valid_and_documents_every_section() {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/brevduva.example.toml");
        let config = Config::load(Some(Path::new(example)), []).unwrap();
        assert_eq!(config.routing.fallback_department, "kontaktcenter");
        let text = std::fs::read_to_string(example).unwrap();
        for section in [
            "[municipality]",
            "[storage]",
            "[routing]",
            "[templates]",
            "[maildir]",
            "[outbox]",
            "[web]",
            "[limits]",
            "[cluster]",
            "[[tenants]]",
        ] {
            assert!(text.contains(section), "{section}");
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        let (_dir, path) = write("[web]\nlisten = \"127.0.0.1:9000\"\n");
        let env = [
            (
                "BREVDUVA__WEB__LISTEN".to_owned(),
                "127.0.0.1:9100".to_owned(),
            ),
            (
                "BREVDUVA__ROUTING__AUTO_ROUTE_THRESHOLD".to_owned(),
                "0.8".to_owned(),
            ),
            (
                "BREVDUVA__STORAGE__DATABASE_URL".to_owned(),
                "postgres://u:pw@h/db".to_owned(),
            ),
            ("OTHER".to_owned(), "x".to_owned()),
        ];
        let config = Config::load(Some(&path), env).unwrap();
        assert_eq!(config.web.listen, "127.0.0.1:9100");
        assert_eq!(config.routing.auto_route_threshold, 0.8);
        assert!(
            !format!("{config:?}").contains("pw"),
            "secrets must not print"
        );
    }

    #[test]
    fn secrets_can_come_from_the_environment() {
        let (_dir, path) = write("[[imap]]\nname = \"kc\"\nhost = \"imap.example\"\nusername = \"kc\"\npassword = \"env:KC_IMAP_PASSWORD\"\n");
        let config = Config::load(
            Some(&path),
            [("KC_IMAP_PASSWORD".to_owned(), "hemligt".to_owned())],
        )
        .unwrap();
        assert_eq!(config.imap[0].password.expose(), "hemligt");
        let err = Config::load(Some(&path), []).unwrap_err();
        assert!(
            err.to_string().contains("KC_IMAP_PASSWORD is not set"),
            "{err}"
        );
    }

    #[test]
    fn mistakes_name_file_and_line() {
        let cases = [
            ("[web]\nlisten = \"nowhere\"\n", 2, "web.listen"),
            (
                "[routing]\nneighbours = 5\nauto_route_threshold = 3\n",
                3,
                "auto_route_threshold",
            ),
            ("[routing]\nthreshold = 0.5\n", 2, "unknown field"),
            ("[web\n", 1, ""),
        ];
        for (text, line, needle) in cases {
            let (_dir, path) = write(text);
            let err = Config::load(Some(&path), []).unwrap_err();
            assert_eq!(err.0[0].line, Some(line), "{text}: {err}");
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
        let err = Config::load(Some(Path::new("/nonexistent/brevduva.toml")), []).unwrap_err();
        assert!(err.to_string().contains("cannot read configuration"));
        let err =
            Config::load(None, [("BREVDUVA__WEB__PORT".to_owned(), "1".to_owned())]).unwrap_err();
        assert!(err.to_string().contains("BREVDUVA__WEB__PORT"), "{err}");
    }
}
