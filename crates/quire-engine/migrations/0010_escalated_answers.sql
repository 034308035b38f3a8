-- Answers given by the escalation model, kept per (question, passages,
-- model): `key` is escalation::cache_key; `text` the model's own words,
-- checked against the passages again when reused.
CREATE TABLE escalated_answers (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);
