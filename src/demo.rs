//! `brevduva demo`: a fresh data dir, the shipped rules and knowledge base, the bundled
//! sample mails triaged through the real pipeline, a table, and the case list on the web.

use crate::app::Application;
use crate::cli::Common;
use crate::source::{process_maildir, Maildir};
use anyhow::{bail, Context};
use std::path::Path;

const MARKER: &str = ".brevduva-demo";

/// Runs the demo.
pub async fn run(common: &Common, once: bool) -> anyhow::Result<()> {
    let mut config = crate::cli::load_config(common)?;
    if common_data_dir_is_default(&config) {
        config.storage.data_dir = "brevduva-demo".into();
    }
    let dir = config.storage.data_dir.clone();
    prepare_fresh_dir(&dir)?;
    config.maildir.path = Some(dir.join("maildir"));
    let listener = if once {
        None
    } else {
        Some(
            tokio::net::TcpListener::bind(&config.web.listen)
                .await
                .with_context(|| format!("listening on {}", config.web.listen))?,
        )
    };
    // The demo municipality has approved its starter answers for the chat (the chat still
    // never answers from a sensitive department). A real municipality approves its own.
    let application = Application::build_with(config, |entries| {
        entries
            .into_iter()
            .map(|e| crate::routing::KnowledgeEntry {
                approved: true,
                ..e
            })
            .collect()
    })
    .await?;
    let maildir = Maildir::open(&application.config.maildir_path())?;
    for (i, (name, raw)) in crate::defaults::demo_mails().iter().enumerate() {
        let file = Path::new(name)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("mail");
        maildir.deliver(&format!("{:04}.{file}", i), raw)?;
    }
    let report = process_maildir(&application.triage, &maildir).await?;
    let delivery = application.flush_outbox().await?;
    let cases = application.store().recent_cases(1000).await?;
    println!(
        "{:<15} {:<44} {:<16} {:>5} {:<4} VARFÖR",
        "ÄRENDE", "ÄMNE", "AVDELNING", "SÄKER", "FLAG"
    );
    for c in cases.iter().rev() {
        let department = match (c.status, c.department.as_deref()) {
            (crate::domain::CaseStatus::Triage, Some(d)) => format!("({d})"),
            (_, Some(d)) => d.to_owned(),
            (_, None) => "–".to_owned(),
        };
        let confidence = c
            .confidence
            .map(|v| format!("{:.2}", v))
            .unwrap_or_default();
        let flags: String = [
            (c.flags.urgent, 'B'),
            (c.flags.sensitive, 'S'),
            (c.flags.auto_reply, 'A'),
            (c.flags.bulk, 'M'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| *f)
        .collect();
        println!(
            "{:<15} {:<44} {:<16} {:>5} {:<4} {}",
            c.number.to_string(),
            clip(&c.subject, 44),
            department,
            confidence,
            flags,
            clip(c.explanation.as_deref().unwrap_or(""), 100)
        );
    }
    println!(
        "\n{} mejl: {} nya ärenden, {} anslutna till befintliga, {} dubbletter, {} i karantän. {} utgående mejl i {}.",
        report.messages,
        report.cases,
        report.joined_existing,
        report.duplicates,
        report.quarantined,
        delivery.sent,
        application.config.outbox_dir().display()
    );
    println!("(avdelning inom parentes = förslag som väntar på granskning; – = ingen förvaltning föreslås, en person avgör; flaggor: B brådskande, S sekretess, A automatiskt svar, M massutskick)");
    if let Some(listener) = listener {
        let password = crate::web::generate_password();
        let hash = {
            let password = password.clone();
            tokio::task::spawn_blocking(move || crate::web::hash_password(&password))
                .await?
                .map_err(|e| anyhow::anyhow!("hashing the demo password: {e}"))?
        };
        application
            .store()
            .create_user(&crate::store::NewUser {
                username: "demo".into(),
                display_name: "Demo Kontaktcenter".into(),
                role: crate::domain::Role::Admin,
                departments: Vec::new(),
                password_hash: hash,
            })
            .await?;
        println!(
            "Panelen: http://{addr}  användare demo, lösenord {password}\nChatten: http://{addr}/chat  (Ctrl-C avslutar)",
            addr = listener.local_addr()?
        );
        application
            .run(listener, crate::cli::shutdown_signal())
            .await?;
    }
    Ok(())
}

fn common_data_dir_is_default(config: &crate::config::Config) -> bool {
    config.storage.data_dir == crate::config::StorageConfig::default().data_dir
}

/// Empties a demo data dir from an earlier run; refuses to touch any other folder.
fn prepare_fresh_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            bail!(
                "{} exists and is not a demo data dir; choose another with --data-dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("removing old demo data in {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(MARKER),
        "brevduva demo data; removed by the next `brevduva demo`\n",
    )?;
    Ok(())
}

fn clip(s: &str, max: usize) -> String {
    let one_line = s.replace(['\n', '\r', '\t'], " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut out: String = one_line.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}
