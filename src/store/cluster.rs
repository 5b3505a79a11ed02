//! Several instances on one database: a heartbeat per instance, one lease per mailbox
//! (with a fencing number), and the knowledge change log each instance's index follows.
//!
//! Every time in this module comes from the database's clock, so instances on machines
//! whose clocks disagree still agree on when a lease ran out.

use super::{Backend, Store, StoreError};
use sqlx::{Any, Row, Transaction};

/// A mailbox lease held by this instance. `fence` grows with every new holder; writes made
/// under a lease check that it is still the current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The mailbox (`account/folder`).
    pub mailbox: String,
    /// The instance holding it.
    pub holder: String,
    /// The fencing number of this holding.
    pub fence: i64,
}

/// What renewing a lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Still ours, for another term.
    Renewed,
    /// Another instance holds it now (ours ran out).
    Lost,
}

/// Who holds a mailbox, for the operations page and metrics.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeaseRow {
    /// The mailbox.
    pub mailbox: String,
    /// The holding instance.
    pub holder: String,
    /// Its fencing number.
    pub fence: i64,
    /// Seconds until it runs out unless renewed (negative: ran out).
    pub expires_in: i64,
}

impl Store {
    /// The database's clock, in unix seconds, as an SQL expression.
    fn clock(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "CAST(strftime('%s', 'now') AS INTEGER)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT)",
        }
    }

    /// Says this instance is alive; returns how many instances were seen within
    /// `alive_seconds` (this one included).
    pub async fn heartbeat(
        &self,
        instance: &str,
        version: &str,
        alive_seconds: i64,
    ) -> Result<i64, StoreError> {
        let clock = self.clock();
        sqlx::query(&format!(
            "INSERT INTO instances (name, started_at, seen_at, version) VALUES ($1, {clock}, {clock}, $2) \
             ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at, version = excluded.version"
        ))
        .bind(instance)
        .bind(version)
        .execute(self.pool())
        .await?;
        Ok(sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM instances WHERE seen_at >= {clock} - $1"
        ))
        .bind(alive_seconds)
        .fetch_one(self.pool())
        .await?)
    }

    /// Says this instance has stopped, so the others count it out at once.
    pub async fn instance_stopped(&self, instance: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM instances WHERE name = $1")
            .bind(instance)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Takes a mailbox's lease for `seconds` if nobody holds it or the holder's ran out.
    /// Returns the lease, with a new fencing number, or `None` when another instance has it.
    pub async fn acquire_lease(
        &self,
        mailbox: &str,
        holder: &str,
        seconds: i64,
    ) -> Result<Option<Lease>, StoreError> {
        let clock = self.clock();
        let fence: Option<i64> = sqlx::query_scalar(&format!(
            "INSERT INTO mailbox_leases (mailbox, holder, fence, expires_at) VALUES ($1, $2, 1, {clock} + $3) \
             ON CONFLICT (mailbox) DO UPDATE SET holder = excluded.holder, \
             fence = mailbox_leases.fence + 1, expires_at = excluded.expires_at \
             WHERE mailbox_leases.expires_at < {clock} OR mailbox_leases.holder = excluded.holder \
             RETURNING fence"
        ))
        .bind(mailbox)
        .bind(holder)
        .bind(seconds)
        .fetch_optional(self.pool())
        .await?;
        Ok(fence.map(|fence| Lease {
            mailbox: mailbox.to_owned(),
            holder: holder.to_owned(),
            fence,
        }))
    }

    /// Extends a lease by `seconds` from now, if it is still this holding's.
    pub async fn renew_lease(&self, lease: &Lease, seconds: i64) -> Result<Renewal, StoreError> {
        let clock = self.clock();
        let done = sqlx::query(&format!(
            "UPDATE mailbox_leases SET expires_at = {clock} + $1 \
             WHERE mailbox = $2 AND holder = $3 AND fence = $4"
        ))
        .bind(seconds)
        .bind(&lease.mailbox)
        .bind(&lease.holder)
        .bind(lease.fence)
        .execute(self.pool())
        .await?;
        Ok(if done.rows_affected() == 1 {
            Renewal::Renewed
        } else {
            Renewal::Lost
        })
    }

    /// Gives a lease up at once, so another instance can take the mailbox without waiting.
    pub async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE mailbox_leases SET expires_at = 0 WHERE mailbox = $1 AND holder = $2 AND fence = $3",
        )
        .bind(&lease.mailbox)
        .bind(&lease.holder)
        .bind(lease.fence)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every mailbox lease, for the operations page.
    pub async fn leases(&self) -> Result<Vec<LeaseRow>, StoreError> {
        let clock = self.clock();
        let rows = sqlx::query(&format!(
            "SELECT mailbox, holder, fence, expires_at - {clock} FROM mailbox_leases ORDER BY mailbox"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LeaseRow {
                    mailbox: r.try_get(0)?,
                    holder: r.try_get(1)?,
                    fence: r.try_get(2)?,
                    expires_in: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// The last position in the knowledge change log (0 when empty).
    pub async fn knowledge_log_head(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(seq) FROM knowledge_log")
                .fetch_one(self.pool())
                .await?
                .unwrap_or(0),
        )
    }

    /// Changes after position `after`, in order: (position, entry id), at most `limit`.
    pub async fn knowledge_log_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, entry_id FROM knowledge_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}

/// Appends changed entries to the knowledge change log inside the writer's transaction.
/// On PostgreSQL the log is locked against other writers until the transaction ends, so
/// positions are handed out in commit order and a reader never skips a change that
/// commits late.
pub(super) async fn log_knowledge_changes(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    ids: &[&str],
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    if backend == Backend::Postgres {
        sqlx::query("LOCK TABLE knowledge_log IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut **tx)
            .await?;
    }
    let at = super::now();
    for id in ids {
        sqlx::query("INSERT INTO knowledge_log (entry_id, at) VALUES ($1, $2)")
            .bind(*id)
            .bind(at)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Checks, inside an intake transaction, that a mailbox lease is still the current
/// holding. On PostgreSQL the lease row stays share-locked until the transaction ends, so
/// no other instance can take the mailbox over between this check and the commit.
pub(super) async fn hold_lease(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    lease: &Lease,
) -> Result<bool, StoreError> {
    let lock = match backend {
        Backend::Postgres => " FOR SHARE",
        Backend::Sqlite => "",
    };
    let found: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT fence FROM mailbox_leases WHERE mailbox = $1 AND holder = $2 AND fence = $3{lock}"
    ))
    .bind(&lease.mailbox)
    .bind(&lease.holder)
    .bind(lease.fence)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(found.is_some())
}
