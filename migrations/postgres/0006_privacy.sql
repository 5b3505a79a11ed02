-- Retention (gallring), legal hold and the read audit. PostgreSQL. Append-only.

ALTER TABLE cases ADD COLUMN legal_hold BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN content_removed_at BIGINT;
ALTER TABLE cases ADD COLUMN anonymised_at BIGINT;
CREATE INDEX cases_created ON cases (created_at);
CREATE INDEX messages_from ON messages (from_address);
CREATE INDEX outbox_recipient ON outbox (recipient);
CREATE INDEX audit_log_actor ON audit_log (actor, at);
