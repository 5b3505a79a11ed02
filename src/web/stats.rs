//! Statistics for Kontaktcenter: enquiries per day and week by department, campaign and
//! language; the share routed automatically; confirmations against corrections; median
//! times to route and to answer; overdue cases. Charts are SVG drawn here; the numbers
//! are also tables and CSV.

use super::auth::Staff;
use super::chart::bar_chart;
use super::{Lang, Notice, PageContext, PanelError, PanelState};
use crate::store::PanelStats;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use time::Date;

#[derive(Deserialize, Default)]
pub(super) struct Period {
    since: Option<String>,
    until: Option<String>,
}

impl Period {
    /// The days asked for; the last 30 days by default; at most ten years.
    fn days(&self) -> Result<(Date, Date), PanelError> {
        let parse = |s: &Option<String>| -> Result<Option<Date>, PanelError> {
            match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => {
                    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
                        .map(Some)
                        .map_err(|_| PanelError::BadRequest("date"))
                }
            }
        };
        let today = crate::domain::working_days::swedish_today();
        let until = parse(&self.until)?.unwrap_or(today);
        let since = parse(&self.since)?.unwrap_or(until - time::Duration::days(29));
        if since > until || (until - since).whole_days() > 3660 {
            return Err(PanelError::BadRequest("period"));
        }
        Ok((since, until))
    }
}

/// The unix seconds around a period of Swedish days: Swedish days start at most two hours
/// before UTC midnight, so the period is widened and the counting drops the edges.
fn period_seconds(since: Date, until: Date) -> (i64, i64) {
    (
        since.midnight().assume_utc().unix_timestamp() - 2 * 3600,
        until.midnight().assume_utc().unix_timestamp() + 86_400 + 2 * 3600,
    )
}

async fn stats_for(state: &PanelState, since: Date, until: Date) -> Result<PanelStats, PanelError> {
    let (from, to) = period_seconds(since, until);
    let rows = state.store().case_stat_rows(from, to).await?;
    Ok(PanelStats::count(&rows, since, until))
}

fn duration(seconds: Option<i64>) -> String {
    match seconds {
        None => "–".into(),
        Some(s) if s < 120 => format!("{s} s"),
        Some(s) if s < 2 * 3600 => format!("{} min", s / 60),
        Some(s) if s < 2 * 86_400 => format!("{:.1} h", s as f64 / 3600.0),
        Some(s) => format!("{:.1} d", s as f64 / 86_400.0),
    }
}

fn share(part: i64, whole: i64) -> String {
    if whole == 0 {
        "–".into()
    } else {
        format!("{:.0} %", part as f64 * 100.0 / whole as f64)
    }
}

/// The statistics page.
pub(super) async fn page(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    notice: Notice,
    Query(period): Query<Period>,
) -> Result<Response, PanelError> {
    staff.must_triage()?;
    let (since, until) = period.days()?;
    let s = stats_for(&state, since, until).await?;
    let (counts, _) = state.queue_counts(None).await?;
    let per_day_chart = bar_chart(&state.word(language, "enquiries_per_day"), &s.per_day);
    let per_department_chart = bar_chart(
        &state.word(language, "enquiries_per_department"),
        &s.per_department,
    );
    let chat = state.store().chat_stats(since, until).await?;
    let chat_per_day: Vec<(String, i64)> = chat
        .per_day
        .iter()
        .map(|(d, n, _)| (d.clone(), *n))
        .collect();
    let chat_chart = bar_chart(&state.word(language, "chat_per_day"), &chat_per_day);
    let ctx = PageContext::new(language, &staff, "stats_title", "stats", notice);
    state.page(
        "stats.html",
        &ctx,
        json!({
            "since": since.to_string(), "until": until.to_string(),
            "per_day_chart": per_day_chart, "per_department_chart": per_department_chart,
            "chat_chart": chat_chart,
            "chat": {
                "questions": chat.questions,
                "answered_share": share(chat.answered, chat.questions),
                "urgent": chat.urgent,
                "handoffs": chat.handoffs,
                "per_day": chat.per_day,
                "unanswered_topics": chat.unanswered_topics,
            },
            "s": {
                "total": s.total,
                "auto_share": share(s.auto_routed, s.total),
                "median_route": duration(s.median_route_seconds),
                "median_answer": duration(s.median_answer_seconds),
                "overdue": counts.overdue,
                "department_names": s.department_names,
                "weeks": s.weeks,
                "languages": s.languages,
                "campaigns": s.campaigns,
                "decisions": s.decisions.iter().map(|d| json!({
                    "department": d.department, "auto": d.auto, "confirmed": d.confirmed,
                    "corrected": d.corrected,
                    "corrected_share": share(d.corrected, d.confirmed + d.corrected),
                })).collect::<Vec<_>>(),
            },
        }),
    )
}

/// The same numbers as CSV: one row per day and department, then the decision counts.
pub(super) async fn csv(
    State(state): State<PanelState>,
    staff: Staff,
    Query(period): Query<Period>,
) -> Result<Response, PanelError> {
    staff.must_triage()?;
    let (since, until) = period.days()?;
    let s = stats_for(&state, since, until).await?;
    let mut out = String::from("week,department,cases\n");
    for w in &s.weeks {
        for (d, n) in s.department_names.iter().zip(&w.counts) {
            out.push_str(&format!("{},{},{}\n", w.week, csv_field(d), n));
        }
    }
    out.push_str("\nday,cases\n");
    for (d, n) in &s.per_day {
        out.push_str(&format!("{d},{n}\n"));
    }
    out.push_str("\ndepartment,routed_automatically,confirmed,corrected\n");
    for d in &s.decisions {
        out.push_str(&format!(
            "{},{},{},{}\n",
            csv_field(&d.department),
            d.auto,
            d.confirmed,
            d.corrected
        ));
    }
    out.push_str("\nlanguage,cases\n");
    for (l, n) in &s.languages {
        out.push_str(&format!("{},{n}\n", csv_field(l)));
    }
    out.push_str("\ncampaign,cases\n");
    for (c, n) in &s.campaigns {
        out.push_str(&format!("{},{n}\n", csv_field(c)));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"brevduva-statistik-{since}-{until}.csv\""),
            ),
        ],
        out,
    )
        .into_response())
}

/// A CSV field: quoted when needed, and never read as a formula by a spreadsheet.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) && s != "-" {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("bygg-miljo"), "bygg-miljo");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-"), "-");
    }

    #[test]
    fn periods_default_to_thirty_days_and_refuse_nonsense() {
        let p = Period::default();
        let (since, until) = p.days().unwrap();
        assert_eq!((until - since).whole_days(), 29);
        let bad = Period {
            since: Some("2026-13-01".into()),
            until: None,
        };
        assert!(bad.days().is_err());
        let backwards = Period {
            since: Some("2026-11-02".into()),
            until: Some("2026-11-01".into()),
        };
        assert!(backwards.days().is_err());
        assert_eq!(duration(Some(90)), "90 s");
        assert_eq!(duration(Some(7200)), "2.0 h");
        assert_eq!(share(1, 4), "25 %");
    }
}
