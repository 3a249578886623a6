-- subgraph(question_or_entity [, hops [, budget]]): one row per provenance
SELECT rank, subject, predicate, object, status, support, uri, pattern
  FROM subgraph('Who is Ana Ruiz?', 1, 5) ORDER BY rank, uri;
-- an entity id seeds it too; GROUP BY rank folds provenance back to triples
SELECT count(*) AS rows, count(DISTINCT rank) AS triples,
       max(support) <= count(*) AS support_ok
  FROM subgraph((SELECT id FROM entities WHERE label = 'Ana Ruiz'), 1, 10);
-- every provenance row is a stored relation in that chunk, at that sentence
SELECT count(*) AS unmatched FROM subgraph('Norvale Systems GmbH', 2, 40) g
 WHERE NOT EXISTS (SELECT 1 FROM relations r WHERE r.chunk_id = g.chunk_id
                   AND r.predicate = g.predicate AND r.start_char = g.start_char
                   AND r.end_char = g.end_char AND r.pattern = g.pattern);
-- joins with the views, WHERE, GROUP BY, ORDER BY
SELECT d.format, count(*) AS n FROM subgraph('Norvale Systems GmbH', 1, 30) g
  JOIN documents d ON d.uri = g.uri
 WHERE g.status = 'confirmed' GROUP BY d.format ORDER BY n DESC, d.format;
-- the best six: rank, status and distance from the seeds
SELECT DISTINCT rank, status, hops FROM subgraph('Norvale Systems GmbH', 1, 6) ORDER BY rank;
-- an entity id that does not exist: no rows
SELECT count(*) AS n FROM subgraph(999999);
