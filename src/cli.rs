//! The command line: `demo`, `run`, `import`, `check-config`, `eval`.

use crate::app::{self, Application};
use crate::config::Config;
use crate::domain::CaseNumber;
use crate::routing::{ClassifierSettings, RoutingRules};
use crate::triage::StaffDecision;
use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

/// Brevduva: email triage for a municipality's Kontaktcenter.
#[derive(Debug, Parser)]
#[command(name = "brevduva", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What to do with dead letters.
#[derive(Debug, Subcommand)]
enum OutboxAction {
    /// List dead letters (newest first) with the server's answer.
    Dead,
    /// Send a dead letter again (`--all` for every one).
    Retry {
        /// The outbox entry id.
        id: Option<i64>,
        /// Every dead letter.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

/// A person's data, and legal holds.
#[derive(Debug, Subcommand)]
enum PrivacyAction {
    /// Write everything held about an address as one tar archive with a readable summary.
    Export {
        /// The person's email address.
        #[arg(long)]
        email: String,
        /// The archive to write (default: registerutdrag-<date>.tar).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Who asks (the audit log).
        #[arg(long)]
        by: String,
    },
    /// Remove or anonymise everything held about an address, everywhere.
    Erase {
        /// The person's email address.
        #[arg(long)]
        email: String,
        /// Who decides (the audit log).
        #[arg(long)]
        by: String,
    },
    /// Put a legal hold on a case (retention and erasure leave it alone), or lift it.
    Hold {
        /// The case number.
        number: String,
        /// Lift the hold.
        #[arg(long)]
        off: bool,
        /// Who decides (the audit log).
        #[arg(long)]
        by: String,
    },
}

/// Accounts of the admin panel.
#[derive(Debug, Subcommand)]
enum UserAction {
    /// Create an account. Prints a generated password once, unless one is given on
    /// standard input with --password-stdin.
    Add {
        /// Log-in name (letters, digits, `.`, `_`, `-`, `@`).
        username: String,
        /// admin, kontaktcenter or department.
        #[arg(long)]
        role: String,
        /// For department staff: a department id (repeat for several).
        #[arg(long = "department")]
        departments: Vec<String>,
        /// Name shown in the panel and under replies (default: the log-in name).
        #[arg(long)]
        name: Option<String>,
        /// Read the password (one line) from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password (ends the account's sessions).
    Password {
        /// Log-in name.
        username: String,
        /// Read the password (one line) from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
}

#[derive(Debug, Subcommand)]
enum CaseAction {
    /// Confirm the department a case was routed to (or suggested for).
    Confirm {
        /// The case number, `KC-2026-000123`.
        number: String,
        /// Who decides (kept in the decision and the audit log).
        #[arg(long)]
        by: String,
    },
    /// Print the three best past answers for a case, each made into a ready reply.
    Suggest {
        /// The case number.
        number: String,
        /// Name under the replies.
        #[arg(long, default_value = "Kontaktcenter")]
        by: String,
    },
    /// Send a reply to the citizen of a case (text from a file, or `-` for standard input).
    Reply {
        /// The case number.
        number: String,
        /// The reply text.
        #[arg(long)]
        file: PathBuf,
        /// Who writes (the signature, and the audit log).
        #[arg(long)]
        by: String,
    },
    /// Route a case to another department, forwarding it there.
    Route {
        /// The case number, `KC-2026-000123`.
        number: String,
        /// The department's id (the rule file's name, e.g. `bygg-miljo`).
        #[arg(long)]
        department: String,
        /// Why (kept in the decision and the audit log).
        #[arg(long, default_value = "")]
        reason: String,
        /// Who decides.
        #[arg(long)]
        by: String,
    },
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Configuration file (TOML); without it the embedded defaults are used.
    #[arg(long, global = true, env = "BREVDUVA_CONFIG")]
    config: Option<PathBuf>,
    /// Data folder (database, index, maildir, outbox); overrides the configuration.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Triage the bundled sample mails into a fresh data dir, print a table, and serve the case list.
    Demo {
        /// Exit after printing the table.
        #[arg(long)]
        once: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Run the service: Maildir intake, outbox delivery and the web server.
    Run {
        #[command(flatten)]
        common: Common,
    },
    /// Import .eml files, mbox files or Maildirs.
    Import {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Dead letters: list them with the server's answer, or put them back in the queue.
    Outbox {
        #[command(subcommand)]
        action: OutboxAction,
        #[command(flatten)]
        common: Common,
    },
    /// A person's routing decision: confirm or reroute a case. The redacted enquiry teaches
    /// the classifier (a running service takes it in at its next start).
    Case {
        #[command(subcommand)]
        action: CaseAction,
        #[command(flatten)]
        common: Common,
    },
    /// A person's data: export, erase; legal holds on cases.
    Privacy {
        #[command(subcommand)]
        action: PrivacyAction,
        #[command(flatten)]
        common: Common,
    },
    /// Apply the retention rules ([[retention]]) now; prints what was (or would be) done.
    Retention {
        /// Only list what would be removed or anonymised.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Copy the database while the service runs (SQLite), or print how to (PostgreSQL).
    Backup {
        /// The file to write (SQLite).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Put a SQLite backup back in place (stop the service first); the current database is
    /// kept beside it.
    Restore {
        /// A file written by `brevduva backup`.
        #[arg(long)]
        from: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Accounts of the admin panel: add, set a password, list.
    User {
        #[command(subcommand)]
        action: UserAction,
        #[command(flatten)]
        common: Common,
    },
    /// Enquiries per campaign, department, language and day since a date.
    Stats {
        /// First day, `YYYY-MM-DD`.
        #[arg(long)]
        since: String,
        /// One JSON object instead of tables.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Validate configuration, routing rules, knowledge base and templates.
    CheckConfig {
        #[command(flatten)]
        common: Common,
    },
    /// Evaluate the classifier on labelled enquiries (JSONL).
    Eval {
        /// Knowledge base JSONL; without it the shipped base and rules are used.
        #[arg(long)]
        kb: Option<PathBuf>,
        /// Test items JSONL.
        #[arg(long)]
        test: PathBuf,
        /// Folder of routing rules to use with --kb.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Auto-route threshold (default: the configuration's).
        #[arg(long)]
        threshold: Option<f64>,
        /// Feed each test item back with its true department after predicting it, as staff
        /// confirming or correcting cases would (reports the second half's accuracy).
        #[arg(long)]
        learn: bool,
        /// Measure the citizen chat instead: every knowledge entry is an approved answer,
        /// every item with an `answer_id` a chat message (reports answer_hit1).
        #[arg(long, conflicts_with = "learn")]
        chat: bool,
        /// Also list the items routed to the wrong department, with the explanation a
        /// person would have seen (before the JSON line).
        #[arg(long, conflicts_with = "chat")]
        misses: bool,
        #[command(flatten)]
        common: Common,
    },
}

pub(crate) fn load_config(common: &Common) -> anyhow::Result<Config> {
    let config = load_installation_config(common)?;
    if !config.tenants.is_empty() {
        bail!(
            "this configuration names tenants; give the tenant's own file with --config \
             (only run and check-config take the installation's file)"
        );
    }
    Ok(config)
}

/// The configuration as given, tenants and all (for `run` and `check-config`).
fn load_installation_config(common: &Common) -> anyhow::Result<Config> {
    let mut config = Config::load(common.config.as_deref(), std::env::vars())
        .map_err(|p| anyhow::anyhow!("configuration problems:\n{p}"))?;
    if let Some(dir) = &common.data_dir {
        config.storage.data_dir = dir.clone();
    }
    Ok(config)
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo { once, common } => crate::demo::run(&common, once).await,
        Command::Run { common } => {
            let config = load_installation_config(&common)?;
            let listener = tokio::net::TcpListener::bind(&config.web.listen)
                .await
                .with_context(|| format!("listening on {}", config.web.listen))?;
            tracing::info!(address = %listener.local_addr()?, "brevduva starting");
            if !config.tenants.is_empty() {
                return crate::app::run_tenants(&config, listener, shutdown_signal()).await;
            }
            let application = Application::build(config).await?;
            tracing::info!(address = %listener.local_addr()?, "brevduva running");
            application.run(listener, shutdown_signal()).await
        }
        Command::Import { paths, common } => {
            let config = load_config(&common)?;
            let application = Application::build(config).await?;
            let report = import(&application, &paths).await?;
            application.flush_outbox().await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::Outbox { action, common } => {
            let config = load_config(&common)?;
            let store = crate::store::Store::connect(config.database_url().expose()).await?;
            match action {
                OutboxAction::Dead => {
                    for (entry, error) in store.dead_letters(500).await? {
                        println!(
                            "{}\t{}\t{}\t{}\t{}",
                            entry.id,
                            entry.case_id,
                            entry.kind,
                            entry.attempts,
                            error.unwrap_or_default().replace(['\n', '\r'], " ")
                        );
                    }
                }
                OutboxAction::Retry { id, all } => {
                    if id.is_none() && !all {
                        bail!("name an outbox entry id, or --all");
                    }
                    let n = store
                        .retry_dead(id.map(crate::domain::OutboxId), crate::store::now())
                        .await?;
                    store
                        .audit(
                            "cli",
                            "outbox-retry",
                            None,
                            &format!("{n} dead letter(s) queued again"),
                        )
                        .await?;
                    println!("{n} dead letter(s) queued again");
                }
            }
            Ok(())
        }
        Command::User { action, common } => users(action, &common).await,
        Command::Privacy { action, common } => privacy(action, &common).await,
        Command::Backup { out, common } => {
            let config = load_config(&common)?;
            let url = config.database_url();
            if !url.expose().starts_with("sqlite:") {
                println!(
                    "PostgreSQL: back up with its own tools, for example\n  \
                     pg_dump --format=custom --file brevduva-$(date +%F).dump \"$BREVDUVA__STORAGE__DATABASE_URL\"\n\
                     and restore with\n  pg_restore --clean --if-exists --dbname \"$BREVDUVA__STORAGE__DATABASE_URL\" FILE"
                );
                return Ok(());
            }
            if out.exists() {
                bail!("{} exists already; choose a new file", out.display());
            }
            let store = crate::store::Store::connect(url.expose()).await?;
            store.backup_sqlite(&out).await?;
            store.audit("cli", "backup", None, "").await?;
            store.close().await;
            println!(
                "{}",
                serde_json::json!({ "backup": out, "bytes": std::fs::metadata(&out)?.len() })
            );
            Ok(())
        }
        Command::Restore { from, common } => {
            let config = load_config(&common)?;
            crate::app::restore_sqlite(&config, &from).await?;
            println!("{}", serde_json::json!({ "restored": from }));
            Ok(())
        }
        Command::Retention { dry_run, common } => {
            let config = load_config(&common)?;
            let store = crate::store::Store::connect(config.database_url().expose()).await?;
            let actions = crate::records::run_retention(
                &store,
                None,
                &config.retention,
                dry_run,
                "retention",
            )
            .await?;
            for a in &actions {
                println!("{}", serde_json::to_string(a)?);
            }
            let count = |step| actions.iter().filter(|a| a.step == step).count();
            println!(
                "{}",
                serde_json::json!({
                    "dry_run": dry_run,
                    "remove_content": count(crate::privacy::retention::RetentionStep::RemoveContent),
                    "anonymise": count(crate::privacy::retention::RetentionStep::Anonymise),
                })
            );
            store.close().await;
            Ok(())
        }
        Command::Case { action, common } => {
            let config = load_config(&common)?;
            let application = Application::build(config).await?;
            let parse_number = |n: &str| {
                CaseNumber::parse(n.trim())
                    .map_err(|_| anyhow::anyhow!("{n:?} is not a case number like KC-2026-000123"))
            };
            let (number, decision, by) = match action {
                CaseAction::Suggest { number, by } => {
                    let number = parse_number(&number)?;
                    for s in application.triage.suggest_replies(number, &by).await? {
                        println!("{}", serde_json::to_string(&s)?);
                    }
                    return Ok(());
                }
                CaseAction::Reply { number, file, by } => {
                    let number = parse_number(&number)?;
                    let text = if file.as_os_str() == "-" {
                        std::io::read_to_string(std::io::stdin())?
                    } else {
                        std::fs::read_to_string(&file)
                            .with_context(|| format!("reading {}", file.display()))?
                    };
                    let queued = application
                        .triage
                        .send_reply(number, &text, &by, &by)
                        .await?;
                    println!(
                        "{}",
                        serde_json::json!({ "case": number.to_string(), "queued": queued })
                    );
                    return Ok(());
                }
                CaseAction::Confirm { number, by } => (number, StaffDecision::Confirm, by),
                CaseAction::Route {
                    number,
                    department,
                    reason,
                    by,
                } => (number, StaffDecision::Reroute { department, reason }, by),
            };
            let number = parse_number(&number)?;
            let report = application.triage.decide(number, decision, &by).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::Stats {
            since,
            json,
            common,
        } => {
            let config = load_config(&common)?;
            let since = time::Date::parse(
                since.trim(),
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|_| anyhow::anyhow!("--since {since:?} is not a date like 2026-11-01"))?;
            let store = crate::store::Store::connect(config.database_url().expose()).await?;
            let stats = store.enquiry_stats(since).await?;
            if json {
                println!("{}", serde_json::to_string(&stats)?);
            } else {
                println!(
                    "Ärenden sedan {}: {} (varav försenade: {})",
                    stats.since, stats.total, stats.overdue
                );
                for (title, counts) in [
                    ("Kampanj", &stats.per_campaign),
                    ("Avdelning", &stats.per_department),
                    ("Språk", &stats.per_language),
                    ("Dag", &stats.per_day),
                ] {
                    println!("\n{title}");
                    for (k, v) in counts {
                        println!("  {k:<24} {v:>6}");
                    }
                }
            }
            Ok(())
        }
        Command::CheckConfig { common } => {
            let config = load_installation_config(&common)?;
            let problems = app::check(&config);
            if problems.is_empty() {
                println!(
                    "ok: configuration, routing rules, knowledge base and templates are valid"
                );
                Ok(())
            } else {
                bail!("{} problem(s):\n{problems}", problems.0.len())
            }
        }
        Command::Eval {
            kb,
            test,
            rules,
            threshold,
            learn,
            chat,
            misses,
            common,
        } => {
            let config = load_config(&common)?;
            let (entries, rules) = match kb {
                Some(kb) => {
                    let entries = read_jsonl(&kb, crate::routing::knowledge::parse_jsonl)?;
                    let rules = match rules {
                        Some(dir) => {
                            RoutingRules::load_dir(&dir).map_err(|p| anyhow::anyhow!("{p}"))?
                        }
                        None => RoutingRules::default(),
                    };
                    (entries, rules)
                }
                None => {
                    let rules = app::load_rules(&config).map_err(|p| anyhow::anyhow!("{p}"))?;
                    let entries =
                        app::load_knowledge(&config, &rules).map_err(|p| anyhow::anyhow!("{p}"))?;
                    (entries, rules)
                }
            };
            let items = read_jsonl(&test, crate::eval::parse_items)?;
            let settings = ClassifierSettings {
                auto_route_threshold: threshold.unwrap_or(config.routing.auto_route_threshold),
                neighbours: config.routing.neighbours,
            };
            if chat {
                let chat_settings = crate::chat::ChatSettings {
                    min_confidence: config.chat.min_confidence,
                    ..Default::default()
                };
                let report = tokio::task::spawn_blocking(move || {
                    crate::eval::evaluate_chat(entries, rules, &items, settings, chat_settings)
                })
                .await??;
                println!("{}", serde_json::to_string(&report)?);
                return Ok(());
            }
            let report = tokio::task::spawn_blocking(move || {
                crate::eval::evaluate(entries, rules, &items, settings, learn)
            })
            .await??;
            print!("{}", crate::eval::table(&report));
            if misses {
                print!("{}", crate::eval::misses(&report));
            }
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
    }
}

fn read_jsonl<T>(
    path: &Path,
    parse: fn(&Path, &str) -> Result<Vec<T>, crate::diagnostics::Problems>,
) -> anyhow::Result<Vec<T>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(path, &text).map_err(|p| anyhow::anyhow!("{p}"))
}

/// Imports every message under the paths.
pub async fn import(
    application: &Application,
    paths: &[PathBuf],
) -> anyhow::Result<crate::source::IntakeReport> {
    let files = crate::source::import::collect_files(paths)?;
    let mut report = crate::source::IntakeReport::default();
    let mut pending: Vec<Vec<u8>> = Vec::with_capacity(crate::source::INTAKE_BATCH);
    for file in &files {
        report.files += 1;
        pending.extend(
            crate::source::import::read_file(file)?
                .into_iter()
                .map(|m| m.raw),
        );
        if pending.len() >= crate::source::INTAKE_BATCH {
            import_batch(application, std::mem::take(&mut pending), &mut report).await?;
        }
    }
    import_batch(application, pending, &mut report).await?;
    Ok(report)
}

async fn import_batch(
    application: &Application,
    batch: Vec<Vec<u8>>,
    report: &mut crate::source::IntakeReport,
) -> anyhow::Result<()> {
    if !batch.is_empty() {
        for outcome in application.triage.process_batch(batch, "import").await? {
            report.count(&outcome);
        }
    }
    Ok(())
}

/// A receiver that turns true on Ctrl-C or SIGTERM.
pub(crate) fn shutdown_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("install SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    rx
}

/// A password from standard input, or a generated one that is printed once.
fn new_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        let password = line.trim_end_matches(['\n', '\r']).to_owned();
        if password.chars().count() < 12 {
            bail!("the password must be at least 12 characters");
        }
        return Ok((password, false));
    }
    Ok((crate::web::generate_password(), true))
}

async fn users(action: UserAction, common: &Common) -> anyhow::Result<()> {
    let config = load_config(common)?;
    std::fs::create_dir_all(&config.storage.data_dir)
        .with_context(|| format!("creating data dir {}", config.storage.data_dir.display()))?;
    let store = crate::store::Store::connect(config.database_url().expose()).await?;
    match action {
        UserAction::Add {
            username,
            role,
            departments,
            name,
            password_stdin,
        } => {
            let role = crate::domain::Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("--role must be admin, kontaktcenter or department")
            })?;
            let rules =
                app::load_rules(&config).map_err(|p| anyhow::anyhow!("routing rules:\n{p}"))?;
            let known: Vec<String> = rules.departments().map(|d| d.id.to_string()).collect();
            crate::domain::check_account(&username, role, &departments, &known)
                .map_err(|e| anyhow::anyhow!(e))?;
            let (password, generated) = new_password(password_stdin)?;
            let hash = tokio::task::spawn_blocking(move || {
                crate::web::hash_password(&password).map(|h| (h, password))
            })
            .await?
            .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
            let user = crate::store::NewUser {
                display_name: name.unwrap_or_else(|| username.clone()),
                username: username.clone(),
                role,
                departments,
                password_hash: hash.0,
            };
            if store.create_user(&user).await?.is_none() {
                bail!("an account named {username:?} exists already");
            }
            if generated {
                println!(
                    "created {username} ({}); password, shown once: {}",
                    role.as_str(),
                    hash.1
                );
            } else {
                println!("created {username} ({})", role.as_str());
            }
        }
        UserAction::Password {
            username,
            password_stdin,
        } => {
            let (password, generated) = new_password(password_stdin)?;
            let hash = tokio::task::spawn_blocking(move || {
                crate::web::hash_password(&password).map(|h| (h, password))
            })
            .await?
            .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
            if !store.set_password(&username, &hash.0).await? {
                bail!("no account is named {username:?}");
            }
            if generated {
                println!("new password for {username}, shown once: {}", hash.1);
            } else {
                println!("password set for {username}");
            }
        }
        UserAction::List => {
            for u in store.users().await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    u.username,
                    u.role.as_str(),
                    u.departments.join(","),
                    u.display_name
                );
            }
        }
    }
    store.close().await;
    Ok(())
}

async fn privacy(action: PrivacyAction, common: &Common) -> anyhow::Result<()> {
    let config = load_config(common)?;
    let store = crate::store::Store::connect(config.database_url().expose()).await?;
    match action {
        PrivacyAction::Export { email, out, by } => {
            let archive = crate::records::export_person(&store, &email, &by).await?;
            let out = out.unwrap_or_else(|| {
                PathBuf::from(format!(
                    "registerutdrag-{}.tar",
                    crate::domain::working_days::swedish_today()
                ))
            });
            std::fs::write(&out, &archive).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{}",
                serde_json::json!({ "archive": out, "bytes": archive.len() })
            );
        }
        PrivacyAction::Erase { email, by } => {
            let report = crate::records::erase_person(&store, None, &email, &by).await?;
            println!("{}", serde_json::to_string(&report)?);
        }
        PrivacyAction::Hold { number, off, by } => {
            let number = CaseNumber::parse(number.trim()).map_err(|_| {
                anyhow::anyhow!("{number:?} is not a case number like KC-2026-000123")
            })?;
            let (id, _, _) = store
                .case_summary(number)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no case has the number {number}"))?;
            store.set_legal_hold(id, !off, &by).await?;
            println!(
                "{}",
                serde_json::json!({ "case": number.to_string(), "legal_hold": !off })
            );
        }
    }
    store.close().await;
    Ok(())
}
