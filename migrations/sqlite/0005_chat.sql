-- The citizen chat's questions, for statistics and for writing new knowledge entries.
-- The text (redacted) and the conversation id are removed after chat.keep_text_days;
-- what stays is anonymous: when, language, kind of reply, topic. SQLite. Append-only.

CREATE TABLE chat_questions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    asked_at        INTEGER NOT NULL,
    conversation_id TEXT,
    language        TEXT NOT NULL,
    question        TEXT,
    kind            TEXT NOT NULL,
    topic           TEXT,
    topic_title     TEXT,
    department      TEXT,
    case_number     TEXT
);
CREATE INDEX chat_questions_asked ON chat_questions (asked_at);
CREATE INDEX chat_questions_conversation ON chat_questions (conversation_id);
