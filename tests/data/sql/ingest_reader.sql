-- INGEST and DELETE DOCUMENT need a writer session
SELECT 1 AS before;
INGEST 'alpha.txt';
