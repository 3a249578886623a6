SELECT 1 AS first;
INGEST 'no-such-file.txt';
