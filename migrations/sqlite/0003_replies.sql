-- Campaigns and the answer promise on cases; approved FAQ entries. SQLite. Append-only.

ALTER TABLE cases ADD COLUMN campaign TEXT;
ALTER TABLE cases ADD COLUMN reply_due TEXT;
CREATE INDEX cases_campaign ON cases (campaign);
CREATE INDEX cases_reply_due ON cases (reply_due);

ALTER TABLE knowledge_entries ADD COLUMN approved INTEGER NOT NULL DEFAULT 0;
