-- A file attached to a message is a document of its own: `parent` is the
-- message's document id, `part` the attachment's number in the message (the
-- reader's count, from 1), by which its bytes are found again. NULL for a
-- document that is a file on disk.
ALTER TABLE documents ADD COLUMN parent TEXT;
ALTER TABLE documents ADD COLUMN part INTEGER;
CREATE INDEX documents_parent ON documents (parent);
