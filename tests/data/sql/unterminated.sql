SELECT 'abc FROM documents;
