SELECT "uri FROM documents;
