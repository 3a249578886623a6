-- SEARCH and the search() table, composed with joins, WHERE, ORDER BY, GROUP BY
SEARCH 'merger acquisition' WITH mode = 'bm25', k = 3;
SEARCH 'Brightwater' WITH k = 2, mode = 'BM25';
SELECT d.format, s.bm25_rank, s.vector_rank FROM search('flight recorder', 'bm25', 5) AS s
  JOIN documents d ON d.id = s.doc_id WHERE s.bm25_rank <= 3 ORDER BY s.bm25_rank;
SELECT count(*) AS n FROM search('Kestrel', 'vector', 7);
SELECT count(*) AS both_lanes FROM search('Kestrel acquisition', 'hybrid', 10)
  WHERE bm25_rank IS NOT NULL AND vector_rank IS NOT NULL;
SELECT substr(uri, 3, instr(substr(uri, 3), '/') - 1) AS folder, count(*) AS hits
  FROM search('harbour', 'bm25', 20) GROUP BY folder ORDER BY hits DESC, folder LIMIT 3;
SELECT uri FROM search WHERE query = 'Osterfell' AND mode = 'bm25' AND k = 2;
