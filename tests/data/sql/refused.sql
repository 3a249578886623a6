DELETE FROM documents;
