-- Folders kept in sync with the library while Quire runs (and reconciled
-- with the disk when it starts): new and changed files are imported, deleted
-- files removed, renamed or moved files keep their passages.
CREATE TABLE watched_folders (
    path     TEXT PRIMARY KEY,
    added_at INTEGER NOT NULL
);
