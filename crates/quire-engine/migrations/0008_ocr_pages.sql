-- The pages of each document whose text was recognised by OCR, as a JSON
-- array of page numbers (an unpaged document that was recognised: [0]).
-- NULL when none was (and for documents imported before this was kept).
ALTER TABLE documents ADD COLUMN ocr_pages TEXT;
