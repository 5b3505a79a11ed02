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

/// What the panel's statistics need of one case (no content).
#[derive(Debug, Clone, PartialEq)]
pub struct CaseStatRow {
    /// Unix seconds.
    pub created_at: i64,
    /// Its department now.
    pub department: Option<String>,
    /// Its language.
    pub language: String,
    /// The campaign that brought it in.
    pub campaign: Option<String>,
    /// Routed without a person.
    pub auto_routed: bool,
    /// When it first reached a department (automatically or by a person).
    pub first_routed_at: Option<i64>,
    /// People's confirmations.
    pub confirmed: i64,
    /// People's corrections.
    pub corrected: i64,
    /// When the first reply to the citizen was queued.
    pub first_reply_at: Option<i64>,
}

/// One row of the table per week.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekRow {
    /// `2026-W48`.
    pub week: String,
    /// Cases per department, in the order of `department_names`.
    pub counts: Vec<i64>,
    /// All cases that week.
    pub total: i64,
}

/// How staff met the routing of one department.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionCounts {
    /// The department (`-` for none).
    pub department: String,
    /// Routed there without a person.
    pub auto: i64,
    /// Confirmed by a person.
    pub confirmed: i64,
    /// Moved there, or elsewhere, by a person.
    pub corrected: i64,
}

/// The panel's statistics over a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PanelStats {
    /// Cases created in the period.
    pub total: i64,
    /// Of these, routed without a person.
    pub auto_routed: i64,
    /// Per Swedish day, every day of the period.
    pub per_day: Vec<(String, i64)>,
    /// Per department, most first.
    pub per_department: Vec<(String, i64)>,
    /// Departments in the order of the week columns.
    pub department_names: Vec<String>,
    /// Per ISO week.
    pub weeks: Vec<WeekRow>,
    /// Per language, most first.
    pub languages: Vec<(String, i64)>,
    /// Per campaign, most first.
    pub campaigns: Vec<(String, i64)>,
    /// Confirmations and corrections per department.
    pub decisions: Vec<DecisionCounts>,
    /// Median seconds from arrival to a department.
    pub median_route_seconds: Option<i64>,
    /// Median seconds from arrival to the first reply.
    pub median_answer_seconds: Option<i64>,
}

impl PanelStats {
    /// Counts the rows of cases created from `since` through `until` (Swedish days).
    pub fn count(rows: &[CaseStatRow], since: time::Date, until: time::Date) -> Self {
        let mut stats = PanelStats::default();
        let mut per_day: BTreeMap<time::Date, i64> = BTreeMap::new();
        let mut day = since;
        while day <= until && per_day.len() < 3700 {
            per_day.insert(day, 0);
            match day.next_day() {
                Some(next) => day = next,
                None => break,
            }
        }
        let mut per_department: BTreeMap<String, i64> = BTreeMap::new();
        let mut weeks: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        let mut languages: BTreeMap<String, i64> = BTreeMap::new();
        let mut campaigns: BTreeMap<String, i64> = BTreeMap::new();
        let mut decisions: BTreeMap<String, DecisionCounts> = BTreeMap::new();
        let mut route_times = Vec::new();
        let mut answer_times = Vec::new();
        for r in rows {
            let Some(day) = swedish_date_at(r.created_at) else {
                continue;
            };
            if day < since || day > until {
                continue;
            }
            let department = r.department.clone().unwrap_or_else(|| "-".into());
            stats.total += 1;
            stats.auto_routed += i64::from(r.auto_routed);
            *per_day.entry(day).or_default() += 1;
            *per_department.entry(department.clone()).or_default() += 1;
            let (year, week, _) = day.to_iso_week_date();
            *weeks
                .entry(format!("{year}-W{week:02}"))
                .or_default()
                .entry(department.clone())
                .or_default() += 1;
            *languages.entry(r.language.clone()).or_default() += 1;
            if let Some(c) = &r.campaign {
                *campaigns.entry(c.clone()).or_default() += 1;
            }
            let d = decisions
                .entry(department.clone())
                .or_insert_with(|| DecisionCounts {
                    department,
                    auto: 0,
                    confirmed: 0,
                    corrected: 0,
                });
            d.auto += i64::from(r.auto_routed);
            d.confirmed += r.confirmed;
            d.corrected += r.corrected;
            if let Some(at) = r.first_routed_at {
                route_times.push((at - r.created_at).max(0));
            }
            if let Some(at) = r.first_reply_at {
                answer_times.push((at - r.created_at).max(0));
            }
        }
        let most_first = |m: BTreeMap<String, i64>| {
            let mut v: Vec<(String, i64)> = m.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            v
        };
        stats.per_day = per_day
            .into_iter()
            .map(|(d, n)| (d.to_string(), n))
            .collect();
        stats.per_department = most_first(per_department);
        stats.department_names = stats
            .per_department
            .iter()
            .map(|(d, _)| d.clone())
            .collect();
        stats.weeks = weeks
            .into_iter()
            .map(|(week, counts)| {
                let row: Vec<i64> = stats
                    .department_names
                    .iter()
                    .map(|d| counts.get(d).copied().unwrap_or(0))
                    .collect();
                WeekRow {
                    week,
                    total: row.iter().sum(),
                    counts: row,
                }
            })
            .collect();
        stats.languages = most_first(languages);
        stats.campaigns = most_first(campaigns);
        stats.decisions = decisions.into_values().collect();
        stats.median_route_seconds = median(&mut route_times);
        stats.median_answer_seconds = median(&mut answer_times);
        stats
    }
}

/// The median (the lower middle for an even count).
fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(values[(values.len() - 1) / 2])
}

impl Store {
    /// What the statistics need of every case created in `[from, to)` (unix seconds).
    pub async fn case_stat_rows(&self, from: i64, to: i64) -> Result<Vec<CaseStatRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.created_at, c.department_id, c.language, c.campaign, \
             (SELECT COALESCE(MAX(d.auto_routed), 0) FROM routing_decisions d WHERE d.case_id = c.id), \
             (SELECT MIN(d.created_at) FROM routing_decisions d WHERE d.case_id = c.id \
                AND (d.auto_routed = 1 OR d.decided_by = 'person')), \
             (SELECT COUNT(*) FROM audit_log a WHERE a.case_id = c.id AND a.action = 'confirm'), \
             (SELECT COUNT(*) FROM audit_log a WHERE a.case_id = c.id AND a.action = 'reroute'), \
             (SELECT MIN(o.created_at) FROM outbox o WHERE o.case_id = c.id AND o.kind = 'reply') \
             FROM cases c WHERE c.created_at >= $1 AND c.created_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CaseStatRow {
                    created_at: r.try_get(0)?,
                    department: r.try_get(1)?,
                    language: r.try_get(2)?,
                    campaign: r.try_get(3)?,
                    auto_routed: r.try_get::<i64, _>(4)? != 0,
                    first_routed_at: r.try_get(5)?,
                    confirmed: r.try_get(6)?,
                    corrected: r.try_get(7)?,
                    first_reply_at: r.try_get(8)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn row(created_at: i64, department: &str, auto: bool) -> CaseStatRow {
        CaseStatRow {
            created_at,
            department: Some(department.into()),
            language: "sv".into(),
            campaign: None,
            auto_routed: auto,
            first_routed_at: Some(created_at + if auto { 1 } else { 3600 }),
            confirmed: i64::from(!auto),
            corrected: 0,
            first_reply_at: None,
        }
    }

    #[test]
    fn counts_days_weeks_departments_and_medians() {
        // 2026-11-23 (Monday, week 48) 09:00 UTC and the next Monday (week 49).
        let monday = 1_795_424_400;
        let rows = vec![
            row(monday, "bygg-miljo", true),
            row(monday + 60, "bygg-miljo", false),
            row(monday + 7 * 86_400, "utbildning", true),
            row(monday - 30 * 86_400, "utbildning", true),
        ];
        let s = PanelStats::count(&rows, date!(2026 - 11 - 23), date!(2026 - 11 - 30));
        assert_eq!(s.total, 3, "the row before the period is left out");
        assert_eq!(s.auto_routed, 2);
        assert_eq!(
            s.per_day.len(),
            8,
            "every day of the period, empty ones too"
        );
        assert_eq!(s.per_day[0], ("2026-11-23".into(), 2));
        assert_eq!(s.per_department[0], ("bygg-miljo".into(), 2));
        assert_eq!(s.weeks.len(), 2);
        assert_eq!(s.weeks[0].week, "2026-W48");
        assert_eq!(s.weeks[0].counts, vec![2, 0]);
        assert_eq!(s.median_route_seconds, Some(1));
        let bygg = s
            .decisions
            .iter()
            .find(|d| d.department == "bygg-miljo")
            .unwrap();
        assert_eq!((bygg.auto, bygg.confirmed, bygg.corrected), (1, 1, 0));
    }
}
