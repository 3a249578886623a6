-- DELETE DOCUMENT by id and by uri; the derived rows go with it
INGEST 'beta.md';
SELECT id, uri FROM documents ORDER BY id;
DELETE DOCUMENT 1;
SELECT uri FROM documents;
SELECT count(*) AS mentions_left FROM mentions m JOIN main.chunks c ON c.id = m.chunk_id
 WHERE c.doc_id = 1;
DELETE DOCUMENT 'beta.md';
SHOW STATS;
SELECT id, uri, deleted FROM document_versions ORDER BY id;
