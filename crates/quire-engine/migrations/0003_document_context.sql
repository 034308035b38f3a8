-- What each document is (crate::context): a title for people and the header
-- embedded with its passages and matched against questions. NULL for
-- documents imported before headers existed: the next import reads them again.
ALTER TABLE documents ADD COLUMN title TEXT;
ALTER TABLE documents ADD COLUMN context TEXT;
