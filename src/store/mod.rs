//! The database: cases, messages, routing decisions, the outbox, quarantine, knowledge
//! entries and the audit log, on SQLite (one file, WAL) or PostgreSQL.
//!
//! Both backends share one dialect of SQL through sqlx's `Any` driver; the schema lives in
//! `migrations/sqlite` and `migrations/postgres`, file for file, and runs at start.

mod accounts;
mod cases;
mod casework;
mod chat;
mod cluster;
mod decisions;
mod intake;
mod knowledge;
mod mailboxes;
mod outbox;
mod privacy;
mod rules;
mod stats;

pub use accounts::{Account, NewUser, SessionRecord};
pub use cases::{CaseRow, NewCase, NewDecision, NewMessage, ThreadMatch};
pub use casework::{
    CaseDetail, CaseMessage, DecisionRow, NoteRow, OutgoingRow, QueueCounts, QueueFilter,
    StatusFilter,
};
pub use chat::{ChatQuestion, ChatStats};
pub use cluster::{Lease, LeaseRow, Renewal};
pub use decisions::{CaseForDecision, StaffDecisionRecord};
pub use intake::IntakeBatch;
pub use knowledge::{apply_knowledge_changes, KnowledgeFilter, KnowledgeRow};
pub use mailboxes::{Checkpoint, MailboxStatus, OperationsSnapshot};
pub use outbox::{DueOutbox, NewOutboxEntry, OutboxEntry};
pub use privacy::{AuditRow, PersonCase, ReadRecord};
pub use rules::{RuleEdit, RuleEditsVersion, RuleVersion};
pub use stats::{CaseStatRow, DecisionCounts, EnquiryStats, PanelStats, WeekRow};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::time::Duration;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no supported backend.
    #[error("unsupported database url: use sqlite://PATH or postgres://...")]
    UnsupportedUrl,
    /// A query or the connection failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back.
    #[error("corrupt stored value in {0}")]
    Corrupt(&'static str),
}

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects, applies pending migrations, and returns the store.
    ///
    /// `sqlite://PATH` (the file is created) or `postgres://USER@HOST:PORT/DB`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 4,
                // Room for every folder's batch and lease renewal, the outbox and the panel.
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Self { pool, backend })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for queries that belong to one module.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Records an action in the audit log.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        case: Option<crate::domain::CaseId>,
        detail: &str,
    ) -> Result<(), StoreError> {
        insert_audit(&self.pool, actor, action, case, detail).await
    }

    /// Makes the departments table match the routing rules (insert or update by id).
    pub async fn sync_departments(
        &self,
        departments: &[crate::routing::Department],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for d in departments {
            sqlx::query(
                "INSERT INTO departments (id, name, forward_to, sensitive) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, forward_to = excluded.forward_to, \
                 sensitive = excluded.sensitive",
            )
            .bind(d.id.as_str())
            .bind(&d.name)
            .bind(d.forward_to.as_str())
            .bind(i64::from(d.sensitive))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Makes the knowledge_entries table hold these entries (insert or update by id), so the
    /// database keeps every entry the index was built from.
    pub async fn sync_knowledge(
        &self,
        entries: &[crate::routing::KnowledgeEntry],
        origin: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let at = now();
        for e in entries {
            sqlx::query(
                "INSERT INTO knowledge_entries (id, department_id, subject, text, answer, origin, created_at, approved) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET department_id = excluded.department_id, \
                 subject = excluded.subject, text = excluded.text, answer = excluded.answer, origin = excluded.origin, \
                 approved = excluded.approved WHERE knowledge_entries.edited_at IS NULL",
            )
            .bind(text(&e.id))
            .bind(e.department.as_deref())
            .bind(text(&e.subject))
            .bind(text(&e.text))
            .bind(text(&e.answer))
            .bind(origin)
            .bind(at)
            .bind(i64::from(e.approved))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes a consistent copy of a SQLite database to `to` while it is in use
    /// (`VACUUM INTO`). PostgreSQL is backed up with its own tools (`pg_dump`).
    pub async fn backup_sqlite(&self, to: &std::path::Path) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::UnsupportedUrl);
        }
        sqlx::query("VACUUM INTO $1")
            .bind(to.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Counts rows of the main tables, for reports and tests.
    pub async fn counts(&self) -> Result<Counts, StoreError> {
        let one = |sql: &'static str| async move {
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&self.pool).await?;
            Ok::<_, StoreError>(n)
        };
        Ok(Counts {
            cases: one("SELECT COUNT(*) FROM cases").await?,
            messages: one("SELECT COUNT(*) FROM messages").await?,
            quarantined: one("SELECT COUNT(*) FROM quarantine").await?,
            outbox: one("SELECT COUNT(*) FROM outbox").await?,
            outbox_pending: one("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").await?,
        })
    }
}

/// Row counts of the main tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Cases.
    pub cases: i64,
    /// Stored messages.
    pub messages: i64,
    /// Quarantined messages.
    pub quarantined: i64,
    /// Outbox entries in any state.
    pub outbox: i64,
    /// Outbox entries waiting to be sent.
    pub outbox_pending: i64,
}

/// Writes one audit log row, on the pool or inside a transaction.
pub(crate) async fn insert_audit<'e, E>(
    executor: E,
    actor: &str,
    action: &str,
    case: Option<crate::domain::CaseId>,
    detail: &str,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, case_id, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now())
    .bind(actor)
    .bind(action)
    .bind(case.map(|c| c.0))
    .bind(detail)
    .execute(executor)
    .await?;
    Ok(())
}

/// Now, as unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Removes NUL characters, which PostgreSQL text cannot hold.
pub(crate) fn text(s: &str) -> String {
    s.replace('\0', "")
}
