//! Counts of enquiries for communicators: per campaign, department, language and day.

use super::{Store, StoreError};
use crate::domain::working_days::{swedish_date_at, swedish_today};
use crate::domain::CaseStatus;
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

/// Enquiries since a day, counted several ways (counts only; no case content).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EnquiryStats {
    /// The first day counted (`YYYY-MM-DD`, Swedish date).
    pub since: String,
    /// Cases created since then.
    pub total: u64,
    /// Per campaign (`-` for none).
    pub per_campaign: BTreeMap<String, u64>,
    /// Per department (`-` for none yet).
    pub per_department: BTreeMap<String, u64>,
    /// Per language.
    pub per_language: BTreeMap<String, u64>,
    /// Per day (`YYYY-MM-DD`).
    pub per_day: BTreeMap<String, u64>,
    /// Of these, open cases past their promised day.
    pub overdue: u64,
}

impl Store {
    /// Counts the cases created on or after a Swedish day.
    pub async fn enquiry_stats(&self, since: time::Date) -> Result<EnquiryStats, StoreError> {
        // The day starts at Swedish midnight: at most two hours before UTC midnight.
        let from = since.midnight().assume_utc().unix_timestamp() - 2 * 3600;
        let rows = sqlx::query(
            "SELECT created_at, campaign, department_id, language, status, reply_due \
             FROM cases WHERE created_at >= $1",
        )
        .bind(from)
        .fetch_all(self.pool())
        .await?;
        let today = swedish_today();
        let mut stats = EnquiryStats {
            since: since.to_string(),
            ..EnquiryStats::default()
        };
        for row in rows {
            let created: i64 = row.try_get(0)?;
            let day = swedish_date_at(created).ok_or(StoreError::Corrupt("cases.created_at"))?;
            if day < since {
                continue;
            }
            let name = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            stats.total += 1;
            *stats.per_day.entry(day.to_string()).or_default() += 1;
            *stats.per_campaign.entry(name(row.try_get(1)?)).or_default() += 1;
            *stats
                .per_department
                .entry(name(row.try_get(2)?))
                .or_default() += 1;
            *stats.per_language.entry(row.try_get(3)?).or_default() += 1;
            let status = CaseStatus::parse(&row.try_get::<String, _>(4)?)
                .ok_or(StoreError::Corrupt("cases.status"))?;
            let due: Option<String> = row.try_get(5)?;
            if super::cases::is_overdue(status, due.as_deref(), today)? {
                stats.overdue += 1;
            }
        }
        Ok(stats)
    }
}
