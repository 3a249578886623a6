-- INGEST in a writer session (cairn sql --write), from the corpus directory
SHOW STATS;
INGEST 'alpha.txt';
INGEST '.';
SELECT uri, format, n_chunks FROM documents ORDER BY uri;
SEARCH 'flight recorder Gdansk' WITH mode = 'bm25', k = 2;
