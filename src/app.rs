//! Assembling Brevduva from its configuration: rules, knowledge base, templates, store,
//! classifier, pipeline and transport; and running the long-lived workers.

use crate::cluster::Cluster;
use crate::config::Config;
use crate::diagnostics::{Problem, Problems};
use crate::domain::EmailAddress;
use crate::outbox::{
    deliver_due, sample_context, FileTransport, RetryPolicy, Sender, Templates, Transport,
};
use crate::routing::{
    Classifier, ClassifierSettings, KnowledgeEntry, KnowledgeIndex, RoutingRules,
};
use crate::source::{process_maildir, Maildir};
use crate::store::Store;
use crate::triage::{Triage, TriageSettings};
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

/// Puts a SQLite backup in place of the configured database: the backup is checked first
/// (a Brevduva database whose migrations this version knows), the current database is
/// kept beside it as `brevduva.db.before-restore-<unix seconds>`, and the knowledge index
/// is rebuilt from the restored database at the next start.
pub async fn restore_sqlite(config: &Config, backup: &std::path::Path) -> anyhow::Result<()> {
    let url = config.database_url();
    let Some(target) = url.expose().strip_prefix("sqlite://") else {
        anyhow::bail!("restore puts back SQLite backups; for PostgreSQL use pg_restore");
    };
    let target = std::path::PathBuf::from(target.split('?').next().unwrap_or(target));
    if !backup.is_file() {
        anyhow::bail!("{} is not a file", backup.display());
    }
    // Check the backup on a copy, so not even its journal is touched.
    let staging = target.with_extension("db.restoring");
    std::fs::copy(backup, &staging).with_context(|| format!("reading {}", backup.display()))?;
    let checked = async {
        // A Brevduva database has its cases table before any migration runs on it.
        sqlx::any::install_default_drivers();
        let raw =
            sqlx::AnyPool::connect(&format!("sqlite://{}?mode=ro", staging.display())).await?;
        let has_cases: Result<i64, _> = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
            .fetch_one(&raw)
            .await;
        raw.close().await;
        has_cases?;
        let store = Store::connect(&format!("sqlite://{}", staging.display())).await?;
        let counts = store.counts().await?;
        store.close().await;
        Ok::<_, crate::store::StoreError>(counts)
    }
    .await;
    let counts = match checked {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            anyhow::bail!("{} is not a Brevduva database: {e}", backup.display());
        }
    };
    if target.exists() {
        let kept = target.with_extension(format!("db.before-restore-{}", crate::store::now()));
        std::fs::rename(&target, &kept).with_context(|| format!("keeping {}", target.display()))?;
    }
    for suffix in ["db-wal", "db-shm"] {
        let _ = std::fs::remove_file(target.with_extension(suffix));
    }
    std::fs::rename(&staging, &target).with_context(|| format!("writing {}", target.display()))?;
    tracing::info!(cases = counts.cases, "database restored");
    Ok(())
}

/// Loads the routing rules from the configured folder or the embedded defaults.
pub fn load_rules(config: &Config) -> Result<RoutingRules, Problems> {
    let rules = match &config.routing.rules_dir {
        Some(dir) => RoutingRules::load_dir(dir)?,
        None => RoutingRules::parse_files(&crate::defaults::routing_rules())?,
    };
    if rules
        .department(&config.routing.fallback_department)
        .is_none()
    {
        return Err(Problems(vec![Problem::in_file(
            config
                .routing
                .rules_dir
                .as_deref()
                .unwrap_or(std::path::Path::new("routing-rules")),
            format!(
                "no rules for the fallback department {:?}",
                config.routing.fallback_department
            ),
        )]));
    }
    Ok(rules)
}

/// Loads the knowledge base from the configured folder or the embedded starter base, and
/// checks that every entry names a department that has rules.
pub fn load_knowledge(
    config: &Config,
    rules: &RoutingRules,
) -> Result<Vec<KnowledgeEntry>, Problems> {
    let files: Vec<(PathBuf, String)> = match &config.routing.knowledge_dir {
        Some(dir) => crate::defaults::read_folder(dir, "jsonl").map_err(|e| {
            Problems(vec![Problem::in_file(
                dir,
                format!("cannot read knowledge folder: {e}"),
            )])
        })?,
        None => crate::defaults::knowledge_base(),
    };
    let mut problems = Problems::default();
    let mut entries = Vec::new();
    for (path, source) in &files {
        match crate::routing::knowledge::parse_jsonl(path, source) {
            Ok(found) => {
                for entry in found {
                    match entry.department.as_deref() {
                        Some(d) if rules.department(d).is_some() => entries.push(entry),
                        other => {
                            let line = source
                                .lines()
                                .position(|l| l.contains(&format!("\"{}\"", entry.id)))
                                .map(|i| i + 1);
                            problems.push(Problem {
                                file: path.clone(),
                                line,
                                message: format!(
                                    "entry {:?} names department {:?}, which has no rules",
                                    entry.id,
                                    other.unwrap_or("null")
                                ),
                            });
                        }
                    }
                }
            }
            Err(mut found) => problems.0.append(&mut found.0),
        }
    }
    problems.into_result(entries)
}

/// Loads the mail templates and renders each with every variable Brevduva provides, so a
/// template that needs anything else is reported here and not in a citizen's mail.
pub fn load_templates(config: &Config) -> Result<Templates, Problems> {
    let files = match &config.templates.dir {
        Some(dir) => crate::defaults::read_folder(dir, "txt").map_err(|e| {
            Problems(vec![Problem::in_file(
                dir,
                format!("cannot read templates folder: {e}"),
            )])
        })?,
        None => crate::defaults::templates(),
    };
    let templates = Templates::parse_files(&files)?;
    let context = sample_context();
    let mut problems = Problems::default();
    for kind in crate::outbox::REQUIRED_TEMPLATES {
        problems.0.extend(templates.check_kind(kind, &context).0);
    }
    problems.into_result(templates)
}

/// The files a configuration points at, loaded and validated.
pub struct LoadedFiles {
    /// Routing rules.
    pub rules: RoutingRules,
    /// Knowledge base entries.
    pub knowledge: Vec<KnowledgeEntry>,
    /// Mail templates.
    pub templates: Templates,
}

/// Loads rules, knowledge base and templates once, reporting every problem in all of them.
pub fn load_files(config: &Config) -> Result<LoadedFiles, Problems> {
    let mut problems = Problems::default();
    let rules_and_knowledge = match load_rules(config) {
        Ok(rules) => match load_knowledge(config, &rules) {
            Ok(knowledge) => Some((rules, knowledge)),
            Err(p) => {
                problems.0.extend(p.0);
                None
            }
        },
        Err(p) => {
            problems.0.extend(p.0);
            None
        }
    };
    let templates = load_templates(config)
        .map_err(|p| problems.0.extend(p.0))
        .ok();
    match (rules_and_knowledge, templates) {
        (Some((rules, knowledge)), Some(templates)) if problems.is_empty() => Ok(LoadedFiles {
            rules,
            knowledge,
            templates,
        }),
        _ => Err(problems),
    }
}

/// Everything `check-config` checks: configuration, rules, knowledge base and templates.
pub fn check(config: &Config) -> Problems {
    let mut problems = load_files(config).err().unwrap_or_default();
    for tenant in &config.tenants {
        match Config::load(Some(&tenant.config), tenant_environment()) {
            Ok(own) => problems.0.extend(check(&own).0),
            Err(found) => problems.0.extend(found.0),
        }
    }
    problems
}

/// A built Brevduva: store, pipeline and transport.
pub struct Application {
    /// The configuration it was built from.
    pub config: Config,
    /// The pipeline (holds the store and classifier).
    pub triage: Triage,
    /// Where outgoing mail goes.
    pub transport: Transport,
    /// Retry policy of the outbox.
    pub retry: RetryPolicy,
    /// IMAP accounts to read.
    pub imap_accounts: Vec<Arc<crate::source::imap::ImapAccount>>,
    /// This instance among those sharing the database.
    pub cluster: Arc<Cluster>,
    /// The knowledge change log's position the index was built at.
    pub knowledge_position: i64,
    /// What the rules in use were built from (the rule edits and the files).
    pub rules_seen: crate::cluster::RulesSeen,
}

impl Application {
    /// Builds everything: loads and validates files, connects and migrates the database,
    /// and opens (or rebuilds) the knowledge index in the data dir.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, |entries| entries).await
    }

    /// Like [`Application::build`], with a say over the shipped or configured knowledge
    /// entries before anything is stored or indexed (the demo approves them for the chat).
    pub async fn build_with(
        config: Config,
        adjust_knowledge: impl FnOnce(
            Vec<crate::routing::KnowledgeEntry>,
        ) -> Vec<crate::routing::KnowledgeEntry>,
    ) -> anyhow::Result<Self> {
        // Read before the files are loaded: a change after this is seen by the follower.
        let rule_files = rule_source(&config).files();
        let rule_files_seen = crate::cluster::fingerprint(&rule_files);
        let LoadedFiles {
            rules,
            knowledge: entries,
            templates,
        } = load_files(&config)
            .map_err(|problems| anyhow::anyhow!("configuration problems:\n{problems}"))?;
        let entries = adjust_knowledge(entries);
        std::fs::create_dir_all(&config.storage.data_dir)
            .with_context(|| format!("creating data dir {}", config.storage.data_dir.display()))?;
        let store = Store::connect(config.database_url().expose())
            .await
            .context("opening the database")?;
        // Rules edited in the panel take the place of their departments' files.
        let rules_seen = crate::cluster::RulesSeen {
            edits: store.rule_edits_version().await?,
            files: rule_files_seen,
        };
        let stored = store.current_rule_edits().await?;
        let rules = if stored.is_empty() {
            rules
        } else {
            let base = rule_files.context("reading the rule files")?;
            crate::cluster::rules_with_edits(&stored, &base, &config.routing.fallback_department)?.0
        };
        let departments: Vec<_> = rules.departments().cloned().collect();
        store.sync_departments(&departments).await?;
        let origin = if config.routing.knowledge_dir.is_some() {
            "knowledge-dir"
        } else {
            "starter"
        };
        store.sync_knowledge(&entries, origin).await?;
        // Read before the changes: anything logged while the index is built is applied
        // again by the follower, which does no harm.
        let knowledge_position = store.knowledge_log_head().await?;
        // What staff decisions taught earlier runs, and what people wrote, edited or
        // retired in the panel, changes the shipped or configured base.
        let entries =
            crate::store::apply_knowledge_changes(entries, store.knowledge_changes().await?);
        let index_dir = config.index_dir();
        let index =
            tokio::task::spawn_blocking(move || KnowledgeIndex::open_or_build(&index_dir, entries))
                .await?
                .context("building the knowledge index")?;
        let settings = ClassifierSettings {
            auto_route_threshold: config.routing.auto_route_threshold,
            neighbours: config.routing.neighbours,
        };
        // Training takes seconds on a large knowledge base: off the runtime.
        let classifier = Arc::new(
            tokio::task::spawn_blocking(move || Classifier::new(rules, index, settings)).await?,
        );
        let m = &config.municipality;
        let sender = Sender {
            address: EmailAddress::parse(&m.kontaktcenter_address)?,
            name: m.kontaktcenter_name.clone(),
            municipality: m.name.clone(),
            promise_days: m.service_promise_working_days,
        };
        let own_addresses = m
            .own_addresses
            .iter()
            .filter_map(|a| EmailAddress::parse(a).ok())
            .collect();
        let triage = Triage::new(
            store,
            classifier,
            Arc::new(templates),
            TriageSettings {
                sender,
                own_addresses,
                fallback_department: config.routing.fallback_department.clone(),
                max_message_bytes: config.limits.max_message_bytes,
                max_automatic_per_sender_per_day: config.outbox.max_automatic_per_sender_per_day,
                forward_reply_to_citizen: config.outbox.forward_reply_to
                    == crate::config::ForwardReplyTo::Citizen,
                campaigns: crate::campaigns::Campaigns::new(config.campaigns.clone()),
                office_hours: config
                    .municipality
                    .office_hours()
                    .context("municipality.office_opens/office_closes")?,
                automatic_answers: config.automatic_answers.clone(),
            },
        );
        let transport = match &config.smtp {
            Some(smtp) => Transport::Smtp(Box::new(
                crate::outbox::smtp::SmtpTransport::new(
                    smtp.clone(),
                    EmailAddress::parse(&m.kontaktcenter_address)?,
                )
                .context("setting up smtp")?,
            )),
            None => Transport::File(
                FileTransport::new(&config.outbox_dir()).context("creating the outbox folder")?,
            ),
        };
        let imap_accounts = config
            .imap
            .iter()
            .map(|a| crate::source::imap::ImapAccount::new(a.clone()).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()
            .context("setting up imap accounts")?;
        let mailboxes = config.imap.iter().map(|a| a.folders.len()).sum();
        let cluster = Cluster::new(triage.store().clone(), &config.cluster, mailboxes);
        let retry = RetryPolicy {
            base_seconds: config.outbox.retry_base_seconds as i64,
            max_delay_seconds: 3600,
            max_age_seconds: (config.outbox.max_age_hours * 3600) as i64,
        };
        Ok(Self {
            config,
            triage,
            transport,
            retry,
            imap_accounts,
            cluster,
            knowledge_position,
            rules_seen,
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.triage.store()
    }

    /// Delivers every due outbox entry now (used by `demo` and `import`).
    pub async fn flush_outbox(&self) -> anyhow::Result<crate::outbox::DeliveryReport> {
        let mut total = crate::outbox::DeliveryReport::default();
        loop {
            let r = deliver_due(self.store(), &self.transport, self.retry, 100).await?;
            total.sent += r.sent;
            total.retrying += r.retrying;
            total.dead += r.dead;
            if r.sent == 0 {
                return Ok(total);
            }
        }
    }

    /// Runs the Maildir and IMAP workers, the outbox worker and the web server until `shutdown`
    /// turns true; each worker finishes the message in hand first.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let app = Arc::new(self);
        let workers = Arc::clone(&app).start_workers(shutdown.clone()).await?;
        crate::web::serve_panel(listener, app.triage.clone(), &app.config, async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await?;
        workers.finish().await?;
        app.store().close().await;
        Ok(())
    }

    /// Starts the Maildir and IMAP readers, the outbox worker, housekeeping, the
    /// heartbeat and the knowledge and rule followers; they run until `shutdown` turns true.
    pub async fn start_workers(
        self: Arc<Self>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Workers> {
        let app = self;
        let maildir = Maildir::open(&app.config.maildir_path()).context("opening the maildir")?;
        let poll = Duration::from_secs(app.config.maildir.poll_seconds);
        let intake = {
            let app = Arc::clone(&app);
            let mut shutdown = shutdown.clone();
            let enabled = app.config.maildir.enabled;
            tokio::spawn(
                async move {
                    while enabled && !*shutdown.borrow() {
                        match process_maildir(&app.triage, &maildir).await {
                            Ok(r) if r.messages > 0 => tracing::info!(
                                messages = r.messages,
                                cases = r.cases,
                                "maildir processed"
                            ),
                            Ok(_) => {}
                            Err(e) => tracing::error!(error = %e, "maildir step failed; retrying"),
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(poll) => {}
                            _ = shutdown.changed() => {}
                        }
                    }
                }
                .in_current_span(),
            )
        };
        // Say this instance is alive before reading: the others count it in their share.
        if let Err(e) = app.cluster.heartbeat().await {
            tracing::warn!(error = %e, "heartbeat failed");
        }
        let heartbeat = tokio::spawn(
            Arc::clone(&app.cluster)
                .keep_alive(shutdown.clone())
                .in_current_span(),
        );
        let follower = tokio::spawn(
            crate::cluster::follow_knowledge(
                app.store().clone(),
                Arc::clone(app.triage.classifier()),
                app.knowledge_position,
                Duration::from_millis(app.config.cluster.index_poll_ms),
                shutdown.clone(),
            )
            .in_current_span(),
        );
        let rule_follower = tokio::spawn(
            crate::cluster::follow_rules(
                app.store().clone(),
                Arc::clone(app.triage.classifier()),
                rule_source(&app.config),
                app.rules_seen,
                Duration::from_millis(app.config.cluster.index_poll_ms),
                shutdown.clone(),
            )
            .in_current_span(),
        );
        let mut folders = Vec::new();
        for account in &app.imap_accounts {
            for folder in &account.config().folders {
                folders.push(tokio::spawn(
                    crate::source::imap::watch_folder(
                        app.triage.clone(),
                        Arc::clone(account),
                        folder.clone(),
                        Arc::clone(&app.cluster),
                        shutdown.clone(),
                    )
                    .in_current_span(),
                ));
            }
        }
        let delivery = {
            let app = Arc::clone(&app);
            let mut shutdown = shutdown.clone();
            let queued = app.triage.outbox_ready();
            tokio::spawn(
                async move {
                    while !*shutdown.borrow() {
                        let idle =
                            match deliver_due(app.store(), &app.transport, app.retry, 200).await {
                                Ok(r) => r.is_idle(),
                                Err(e) => {
                                    tracing::error!(error = %e, "outbox step failed; retrying");
                                    true
                                }
                            };
                        if idle {
                            // Woken at once when triage queues mail; the timer catches retries
                            // that come due.
                            tokio::select! {
                                _ = queued.notified() => {}
                                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                                _ = shutdown.changed() => {}
                            }
                        }
                    }
                }
                .in_current_span(),
            )
        };
        let housekeeping = {
            let app = Arc::clone(&app);
            let mut shutdown = shutdown.clone();
            let keep = Duration::from_secs(app.config.chat.keep_text_days * 86_400);
            tokio::spawn(
                async move {
                    // Housekeeping, at start and every hour: chat questions keep their text
                    // for a configured time, then only anonymous figures stay; the retention
                    // rules run; audit entries older than their keeping time go.
                    let audit_keep = app.config.privacy.audit_keep_days as i64 * 86_400;
                    while !*shutdown.borrow() {
                        let before = crate::store::now() - keep.as_secs() as i64;
                        match app.store().anonymise_chat_questions(before).await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(questions = n, "chat questions made anonymous"),
                            Err(e) => {
                                tracing::error!(error = %e, "anonymising chat questions failed")
                            }
                        }
                        match crate::records::run_retention(
                            app.store(),
                            Some(app.triage.classifier()),
                            &app.config.retention,
                            false,
                            "retention",
                        )
                        .await
                        {
                            Ok(done) if done.is_empty() => {}
                            Ok(done) => tracing::info!(cases = done.len(), "retention applied"),
                            Err(e) => tracing::error!(error = %e, "retention failed"),
                        }
                        match app
                            .store()
                            .purge_audit_log(crate::store::now() - audit_keep)
                            .await
                        {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(entries = n, "old audit entries removed"),
                            Err(e) => tracing::error!(error = %e, "purging the audit log failed"),
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                            _ = shutdown.changed() => {}
                        }
                    }
                }
                .in_current_span(),
            )
        };
        let mut handles = vec![
            intake,
            delivery,
            housekeeping,
            follower,
            rule_follower,
            heartbeat,
        ];
        handles.extend(folders);
        Ok(Workers(handles))
    }
}

/// The running workers of one application.
pub struct Workers(Vec<tokio::task::JoinHandle<()>>);

impl Workers {
    /// Waits until every worker has finished (after shutdown).
    pub async fn finish(self) -> anyhow::Result<()> {
        for handle in self.0 {
            handle.await?;
        }
        Ok(())
    }
}

/// Runs several municipalities on one installation: each `[[tenants]]` file is built into
/// its own application (its database, data dir, mailboxes, rules, knowledge base,
/// templates), their workers run side by side, and one web server answers each tenant's
/// host names with that tenant's panel and chat.
pub async fn run_tenants(
    config: &Config,
    listener: tokio::net::TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let applications = build_tenants(config).await?;
    let mut workers = Vec::new();
    let mut panels = Vec::new();
    for (tenant, app) in &applications {
        let span = tracing::info_span!("tenant", tenant = %tenant.name);
        workers.push(
            Arc::clone(app)
                .start_workers(shutdown.clone())
                .instrument(span)
                .await?,
        );
        panels.push(crate::web::TenantPanel {
            hosts: tenant.hosts.clone(),
            state: crate::web::PanelState::new(
                app.triage.clone(),
                crate::web::PanelSettings::from_config(&app.config),
            ),
        });
    }
    tracing::info!(tenants = applications.len(), "tenants running");
    crate::web::serve_tenants(listener, panels, async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    })
    .await?;
    for w in workers {
        w.finish().await?;
    }
    for (_, app) in &applications {
        app.store().close().await;
    }
    Ok(())
}

/// The environment a tenant's file is read with: secrets (`env:NAME`) yes, but not the
/// `BREVDUVA__…` overrides, which are the installation's and would make every tenant alike.
fn tenant_environment() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| !k.starts_with(crate::config::ENV_PREFIX))
        .collect()
}

/// Loads and builds every tenant of a configuration. A tenant's file gets no environment
/// overrides (those are the installation's), and no two tenants may share a database or
/// a data dir.
pub async fn build_tenants(
    config: &Config,
) -> anyhow::Result<Vec<(crate::config::TenantConfig, Arc<Application>)>> {
    let mut databases = std::collections::HashMap::new();
    let mut data_dirs = std::collections::HashMap::new();
    let mut loaded = Vec::new();
    for tenant in &config.tenants {
        let own = Config::load(Some(&tenant.config), tenant_environment()).map_err(|problems| {
            anyhow::anyhow!(
                "tenant {}: configuration problems:\n{problems}",
                tenant.name
            )
        })?;
        if !own.tenants.is_empty() {
            anyhow::bail!(
                "tenant {}: a tenant's file cannot name tenants",
                tenant.name
            );
        }
        let database = own.database_url().expose().to_owned();
        if let Some(other) = databases.insert(database, tenant.name.clone()) {
            anyhow::bail!(
                "tenants {other} and {} share a database; each needs its own",
                tenant.name
            );
        }
        if let Some(other) = data_dirs.insert(own.storage.data_dir.clone(), tenant.name.clone()) {
            anyhow::bail!(
                "tenants {other} and {} share a data dir; each needs its own",
                tenant.name
            );
        }
        loaded.push((tenant.clone(), own));
    }
    let mut applications = Vec::new();
    for (tenant, own) in loaded {
        let app = Application::build(own)
            .instrument(tracing::info_span!("tenant", tenant = %tenant.name))
            .await
            .with_context(|| format!("tenant {}", tenant.name))?;
        applications.push((tenant, Arc::new(app)));
    }
    Ok(applications)
}

/// Where the routing rules come from.
fn rule_source(config: &Config) -> crate::cluster::RuleSource {
    crate::cluster::RuleSource {
        rules_dir: config.routing.rules_dir.clone(),
        fallback: config.routing.fallback_department.clone(),
    }
}
