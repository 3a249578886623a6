-- EXPLAIN ASK: the plan and the evidence (retrieval hits, seeds, triples
-- with their first provenance); no answer is generated and no trace written
EXPLAIN ASK 'Who acquired Norvale Systems?' WITH k = 2, hops = 1;
SELECT count(*) AS traces FROM traces;
