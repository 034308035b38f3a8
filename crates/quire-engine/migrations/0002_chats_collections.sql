-- Saved conversations. Each answer keeps the query retrieval ran and the
-- sources it cited (JSON), so a resumed chat shows its citations again.
CREATE TABLE chats (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    title      TEXT NOT NULL,
    scope      TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id     INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content     TEXT NOT NULL,
    query       TEXT,
    cited       TEXT,
    not_covered INTEGER NOT NULL DEFAULT 0,
    stopped     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

CREATE INDEX messages_chat ON messages (chat_id, id);

-- Named groups of documents a question or a chat can be limited to.
CREATE TABLE collections (
    name       TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);

CREATE TABLE collection_documents (
    collection TEXT NOT NULL REFERENCES collections (name) ON DELETE CASCADE ON UPDATE CASCADE,
    doc_id     TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    PRIMARY KEY (collection, doc_id)
);
