-- The queue's filter counts group the open cases only (a small share of all cases once a
-- few years have passed) and count the closed ones through a narrow index. SQLite.
-- Append-only.

CREATE INDEX cases_open_counts ON cases (status, department_id, language, campaign, urgent, sensitive, reply_due)
    WHERE status <> 'closed';
CREATE INDEX cases_status ON cases (status);
