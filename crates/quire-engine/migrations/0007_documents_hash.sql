-- A new file's content hash is looked up among the documents (a renamed or
-- moved file keeps its passages): an index, not a scan per file.
CREATE INDEX documents_hash ON documents (hash);
