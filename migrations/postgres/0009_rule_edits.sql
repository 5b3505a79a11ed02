-- Routing rules edited in the admin panel, kept in the database so that every instance
-- sharing it routes by the same rules, and so that every version stays on record (who,
-- when, what). The newest row of a department wins over its rule file; a row without
-- source gives the file back. PostgreSQL. Append-only.

CREATE TABLE rule_edits (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    department  TEXT NOT NULL,
    source      TEXT,
    edited_by   TEXT NOT NULL,
    edited_at   BIGINT NOT NULL
);
CREATE INDEX rule_edits_department ON rule_edits (department, id);
