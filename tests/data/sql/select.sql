-- plain SELECTs over the views
SELECT count(*) AS n FROM documents;
SELECT format, n_chunks FROM documents ORDER BY uri;
SELECT c.ordinal, c.section FROM chunks c JOIN documents d ON d.id = c.doc_id
 WHERE d.format = 'md' ORDER BY c.ordinal;
