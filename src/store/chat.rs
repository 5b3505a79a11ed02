//! The chat's questions: recorded in batches by one writer, counted for the panel, and
//! made anonymous after a configured number of days.

use super::{text, Store, StoreError};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

/// One question asked in the chat, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatQuestion {
    /// Unix seconds.
    pub asked_at: i64,
    /// The conversation (removed with the text).
    pub conversation_id: String,
    /// `sv`, `en`, `uk`, `ar`.
    pub language: String,
    /// The question, redacted.
    pub question: String,
    /// `answer`, `not-sure`, `urgent`, `handoff`.
    pub kind: String,
    /// The entry answered from, or the closest one.
    pub topic: Option<String>,
    /// Its title.
    pub topic_title: Option<String>,
    /// Its department.
    pub department: Option<String>,
}

/// The chat in numbers over a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChatStats {
    /// Questions.
    pub questions: i64,
    /// Of these, answered from an approved entry.
    pub answered: i64,
    /// Urgent matters pointed on (112, 1177, 114 14, 90101).
    pub urgent: i64,
    /// Questions passed to Kontaktcenter as cases.
    pub handoffs: i64,
    /// Per Swedish day: questions and answered ones.
    pub per_day: Vec<(String, i64, i64)>,
    /// Questions the chat could not answer, by closest topic, most first: topic, count,
    /// and up to three of the (redacted) questions still kept.
    pub unanswered_topics: Vec<(String, i64, Vec<String>)>,
}

impl Store {
    /// Records questions in one transaction.
    pub async fn record_chat_questions(
        &self,
        questions: &[ChatQuestion],
    ) -> Result<(), StoreError> {
        if questions.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        for q in questions {
            sqlx::query(
                "INSERT INTO chat_questions (asked_at, conversation_id, language, question, kind, topic, \
                 topic_title, department) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(q.asked_at)
            .bind(&q.conversation_id)
            .bind(&q.language)
            .bind(text(&q.question))
            .bind(&q.kind)
            .bind(q.topic.as_deref())
            .bind(q.topic_title.as_deref().map(text))
            .bind(q.department.as_deref())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Notes the case a conversation's questions became.
    pub async fn chat_handed_off(
        &self,
        conversation_id: &str,
        case: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE chat_questions SET case_number = $1 WHERE conversation_id = $2")
            .bind(case)
            .bind(conversation_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Removes the text and conversation id of questions asked before `before` (unix
    /// seconds); returns how many were made anonymous.
    pub async fn anonymise_chat_questions(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE chat_questions SET question = NULL, conversation_id = NULL \
             WHERE asked_at < $1 AND (question IS NOT NULL OR conversation_id IS NOT NULL)",
        )
        .bind(before)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// The case a message (by Message-ID) belongs to.
    pub async fn case_of_message(&self, message_id: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT c.number FROM messages m JOIN cases c ON c.id = m.case_id WHERE m.message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The chat's numbers for questions asked from Swedish day `since` through `until`.
    pub async fn chat_stats(
        &self,
        since: time::Date,
        until: time::Date,
    ) -> Result<ChatStats, StoreError> {
        // Swedish days start at most two hours before UTC midnight: read a little more,
        // and leave out what falls outside.
        let from = since.midnight().assume_utc().unix_timestamp() - 2 * 3600;
        let to = until.midnight().assume_utc().unix_timestamp() + 86_400 + 2 * 3600;
        let rows = sqlx::query(
            "SELECT asked_at, kind, COALESCE(topic_title, ''), question, case_number FROM chat_questions \
             WHERE asked_at >= $1 AND asked_at < $2 ORDER BY asked_at",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        let mut stats = ChatStats::default();
        let mut days: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let mut topics: BTreeMap<String, (i64, Vec<String>)> = BTreeMap::new();
        let mut handed_off = std::collections::HashSet::new();
        for r in &rows {
            let at: i64 = r.try_get(0)?;
            let kind: String = r.try_get(1)?;
            let Some(day) = crate::domain::working_days::swedish_date_at(at) else {
                continue;
            };
            if day < since || day > until {
                continue;
            }
            let entry = days.entry(day.to_string()).or_default();
            entry.0 += 1;
            stats.questions += 1;
            match kind.as_str() {
                "answer" => {
                    stats.answered += 1;
                    entry.1 += 1;
                }
                "urgent" => stats.urgent += 1,
                _ => {
                    let topic: String = r.try_get(2)?;
                    let t = topics.entry(topic).or_default();
                    t.0 += 1;
                    if let Some(q) = r.try_get::<Option<String>, _>(3)? {
                        if t.1.len() < 3 {
                            t.1.push(q);
                        }
                    }
                }
            }
            if let Some(case) = r.try_get::<Option<String>, _>(4)? {
                handed_off.insert(case);
            }
        }
        stats.handoffs = handed_off.len() as i64;
        stats.per_day = days.into_iter().map(|(d, (a, b))| (d, a, b)).collect();
        let mut topics: Vec<(String, i64, Vec<String>)> =
            topics.into_iter().map(|(t, (n, q))| (t, n, q)).collect();
        topics.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        topics.truncate(20);
        stats.unanswered_topics = topics;
        Ok(stats)
    }
}
