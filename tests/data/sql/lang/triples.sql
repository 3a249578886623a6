-- triples: the graph store, one row per (triple, context)
SELECT subject, predicate, object, object_is_literal, datatype, context, chunk_id
  FROM triples WHERE subject = 'urn:cairn:entity:ana%20ruiz'
   AND predicate = 'urn:cairn:rel:cfo_of';
-- subject and predicate go to the store's index (idxNum 3 = both)
EXPLAIN QUERY PLAN SELECT * FROM triples WHERE subject = 'urn:cairn:entity:ana%20ruiz'
   AND predicate = 'urn:cairn:rel:cfo_of';
-- joined with the chunks and documents views
SELECT t.object, d.uri, c.ordinal FROM triples t
  JOIN chunks c ON c.id = t.chunk_id JOIN documents d ON d.id = c.doc_id
 WHERE t.subject = 'urn:cairn:entity:ana%20ruiz' AND t.predicate LIKE 'urn:cairn:rel:%'
   AND t.predicate <> 'urn:cairn:rel:co_occurs_with'
 ORDER BY t.object, d.uri;
-- every stored relation has its triple in its chunk's context, once per
-- distinct (chunk, subject, predicate, object)
SELECT (SELECT count(*) FROM triples WHERE predicate LIKE 'urn:cairn:rel:%'
          AND chunk_id IS NOT NULL) AS triples,
       (SELECT count(*) FROM (SELECT DISTINCT chunk_id, subject_id, predicate, object_id
          FROM relations)) AS relations;
SELECT count(*) AS missing FROM (SELECT DISTINCT chunk_id, predicate FROM relations) r
 WHERE NOT EXISTS (SELECT 1 FROM triples t WHERE t.chunk_id = r.chunk_id
                   AND t.predicate = 'urn:cairn:rel:' || r.predicate);
-- an object given as text matches IRIs and literals; object_is_literal narrows it
SELECT object_is_literal, count(*) AS n FROM triples WHERE object = 'Ana Ruiz'
 GROUP BY object_is_literal;
SELECT count(*) AS n FROM triples WHERE object = 'urn:cairn:entity:norvale'
   AND object_is_literal = 0;
-- the same count as SPARQL over the union graph
SELECT count(*) AS n FROM triples WHERE predicate = 'http://www.w3.org/2000/01/rdf-schema#label'
   AND object = 'Ana Ruiz';
SPARQL 'SELECT (COUNT(*) AS ?n) WHERE { ?e <http://www.w3.org/2000/01/rdf-schema#label> "Ana Ruiz" }';
-- GROUP BY and ORDER BY: the most stated relation kinds in one chunk
SELECT predicate, count(*) AS n FROM triples WHERE chunk_id = 10
   AND predicate LIKE 'urn:cairn:rel:%' GROUP BY predicate ORDER BY n DESC, predicate LIMIT 4;
-- values that match nothing: not an IRI, chunk 0, NULL
SELECT count(*) AS n FROM triples WHERE subject = 'not an iri';
SELECT count(*) AS n FROM triples WHERE chunk_id = 0;
SELECT count(*) AS n FROM triples WHERE predicate = NULL;
