//! The knowledge base as people keep it: entries with their origin, review-by date and
//! state; edits and retirements made in the panel survive restarts and win over the
//! shipped files.

use super::{insert_audit, now, text, Store, StoreError};
use crate::routing::KnowledgeEntry;
use sqlx::Row;

/// A knowledge entry with what the panel shows about it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KnowledgeRow {
    /// The entry.
    pub entry: KnowledgeEntry,
    /// `starter`, `knowledge-dir`, `staff` (learned from a decision), `panel` (written there).
    pub origin: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Day by which a person should check it again (`YYYY-MM-DD`).
    pub review_by: Option<String>,
    /// Taken out of use.
    pub retired: bool,
    /// Last edited in the panel (unix seconds) and by whom.
    pub edited_at: Option<i64>,
    /// Who edited it last.
    pub edited_by: Option<String>,
}

/// Which entries a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnowledgeFilter {
    /// Words in subject, question or answer.
    pub text: Option<String>,
    /// Only those whose review-by day is today or earlier.
    pub due_by: Option<String>,
    /// Only those approved for citizens.
    pub approved_only: bool,
    /// Retired ones too.
    pub with_retired: bool,
}

const COLUMNS: &str = "id, department_id, subject, text, answer, approved, origin, created_at, \
                       review_by, retired, edited_at, edited_by";

fn knowledge_row(row: &sqlx::any::AnyRow) -> Result<KnowledgeRow, StoreError> {
    let origin: String = row.try_get(6)?;
    Ok(KnowledgeRow {
        entry: KnowledgeEntry {
            id: row.try_get(0)?,
            department: row.try_get(1)?,
            subject: row.try_get(2)?,
            text: row.try_get(3)?,
            answer: row.try_get(4)?,
            confirmed: origin == "staff",
            approved: row.try_get::<i64, _>(5)? != 0,
            boundary: false,
        },
        origin,
        created_at: row.try_get(7)?,
        review_by: row.try_get(8)?,
        retired: row.try_get::<i64, _>(9)? != 0,
        edited_at: row.try_get(10)?,
        edited_by: row.try_get(11)?,
    })
}

impl Store {
    /// Entries matching a filter, due ones first, at most `limit`.
    pub async fn knowledge_rows(
        &self,
        filter: &KnowledgeFilter,
        limit: i64,
    ) -> Result<Vec<KnowledgeRow>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM knowledge_entries WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        if !filter.with_retired {
            sql.push_str(" AND retired = 0");
        }
        if filter.approved_only {
            sql.push_str(" AND approved = 1");
        }
        if let Some(day) = &filter.due_by {
            binds.push(day.clone());
            sql.push_str(&format!(" AND review_by <= ${}", binds.len()));
        }
        if let Some(t) = filter.text.as_deref().filter(|t| !t.trim().is_empty()) {
            let escaped = t
                .trim()
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            binds.push(format!("%{escaped}%"));
            let p = binds.len();
            sql.push_str(&format!(
                " AND (LOWER(subject) LIKE ${p} ESCAPE '\\' OR LOWER(text) LIKE ${p} ESCAPE '\\' \
                 OR LOWER(answer) LIKE ${p} ESCAPE '\\' OR LOWER(id) LIKE ${p} ESCAPE '\\')"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY CASE WHEN review_by IS NULL THEN 1 ELSE 0 END, review_by, id LIMIT {}",
            limit.max(0)
        ));
        let mut query = sqlx::query(&sql);
        for b in &binds {
            query = query.bind(b.as_str());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(knowledge_row).collect()
    }

    /// One entry.
    pub async fn knowledge_row(&self, id: &str) -> Result<Option<KnowledgeRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM knowledge_entries WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(knowledge_row).transpose()
    }

    /// Saves an entry written or edited by a person (new ones get origin `panel`), with
    /// its audit entry.
    pub async fn save_knowledge_entry(
        &self,
        entry: &KnowledgeEntry,
        review_by: Option<&str>,
        actor: &str,
    ) -> Result<(), StoreError> {
        let at = now();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO knowledge_entries (id, department_id, subject, text, answer, origin, created_at, \
             approved, review_by, edited_at, edited_by) VALUES ($1, $2, $3, $4, $5, 'panel', $6, $7, $8, $6, $9) \
             ON CONFLICT (id) DO UPDATE SET department_id = excluded.department_id, subject = excluded.subject, \
             text = excluded.text, answer = excluded.answer, approved = excluded.approved, \
             review_by = excluded.review_by, edited_at = excluded.edited_at, edited_by = excluded.edited_by, \
             retired = 0",
        )
        .bind(text(&entry.id))
        .bind(entry.department.as_deref())
        .bind(text(&entry.subject))
        .bind(text(&entry.text))
        .bind(text(&entry.answer))
        .bind(at)
        .bind(i64::from(entry.approved))
        .bind(review_by)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        super::cluster::log_knowledge_changes(&mut tx, self.backend(), &[&entry.id]).await?;
        insert_audit(&mut *tx, actor, "knowledge-saved", None, &entry.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Retires an entry; returns whether it existed.
    pub async fn retire_knowledge_entry(&self, id: &str, actor: &str) -> Result<bool, StoreError> {
        let at = now();
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE knowledge_entries SET retired = 1, edited_at = $1, edited_by = $2 WHERE id = $3",
        )
        .bind(at)
        .bind(actor)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        super::cluster::log_knowledge_changes(&mut tx, self.backend(), &[id]).await?;
        insert_audit(&mut *tx, actor, "knowledge-retired", None, id).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// What the database adds to or changes in the shipped knowledge base: entries
    /// learned from decisions or written in the panel, and shipped entries edited or
    /// retired there. Retired ones come with `true`.
    pub async fn knowledge_changes(&self) -> Result<Vec<(KnowledgeEntry, bool)>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM knowledge_entries \
             WHERE origin IN ('staff', 'panel') OR edited_at IS NOT NULL ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| knowledge_row(r).map(|k| (k.entry, k.retired)))
            .collect()
    }
}

/// The shipped or configured entries with the database's changes applied: edits replace,
/// retirements remove, new entries join at the end.
pub fn apply_knowledge_changes(
    mut entries: Vec<KnowledgeEntry>,
    changes: Vec<(KnowledgeEntry, bool)>,
) -> Vec<KnowledgeEntry> {
    let mut position: std::collections::HashMap<String, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id.clone(), i))
        .collect();
    let mut retired = std::collections::HashSet::new();
    for (entry, is_retired) in changes {
        if is_retired {
            retired.insert(entry.id.clone());
        }
        match position.get(&entry.id) {
            Some(&i) => entries[i] = entry,
            None => {
                position.insert(entry.id.clone(), entries.len());
                entries.push(entry);
            }
        }
    }
    entries.retain(|e| !retired.contains(&e.id));
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, answer: &str) -> KnowledgeEntry {
        KnowledgeEntry {
            id: id.into(),
            department: Some("bygg-miljo".into()),
            subject: String::new(),
            text: "fråga".into(),
            answer: answer.into(),
            confirmed: false,
            approved: false,
            boundary: false,
        }
    }

    #[test]
    fn edits_replace_retirements_remove_and_new_entries_join() {
        let shipped = vec![entry("a", "1"), entry("b", "2"), entry("c", "3")];
        let changes = vec![
            (entry("b", "edited"), false),
            (entry("c", "3"), true),
            (entry("panel-1", "new"), false),
        ];
        let out = apply_knowledge_changes(shipped, changes);
        let got: Vec<(&str, &str)> = out
            .iter()
            .map(|e| (e.id.as_str(), e.answer.as_str()))
            .collect();
        assert_eq!(got, [("a", "1"), ("b", "edited"), ("panel-1", "new")]);
    }
}
