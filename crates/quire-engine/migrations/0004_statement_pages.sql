-- The financial-statement pages of each document (crate::statements), as a
-- JSON array of {page, kind}; '[]' when it has none. NULL for documents
-- imported before statement pages were told: the next import reads them
-- again for this (without embedding them again).
ALTER TABLE documents ADD COLUMN statements TEXT;
