-- Files an import has been asked for and not yet finished (imported, found
-- unchanged, or failed). An import interrupted by a crash, a stop or the
-- app closing leaves its remaining files here; the next start resumes them.
CREATE TABLE import_queue (
    path      TEXT PRIMARY KEY,
    force     INTEGER NOT NULL DEFAULT 0,
    queued_at INTEGER NOT NULL
);
