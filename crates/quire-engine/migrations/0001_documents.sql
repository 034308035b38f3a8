-- Documents in the library. Chunk text and vectors live in LanceDB; this is
-- the catalog: where each file came from, its hash, and how its import went.
CREATE TABLE documents (
    id            TEXT PRIMARY KEY,
    path          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    format        TEXT,
    encoding      TEXT,
    size          INTEGER NOT NULL,
    hash          TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('importing', 'imported', 'failed')),
    error_code    TEXT,
    error_message TEXT,
    pages         INTEGER,
    chunks        INTEGER NOT NULL DEFAULT 0,
    chars         INTEGER NOT NULL DEFAULT 0,
    added_at      INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE INDEX documents_status ON documents (status);

-- Facts about the library as a whole, e.g. which embedding model made its vectors.
CREATE TABLE library_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
