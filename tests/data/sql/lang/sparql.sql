-- SPARQL 'query' [LIMIT n]: SELECT gives one column per variable (the term's value)
SPARQL 'PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT DISTINCT ?e ?label ?type WHERE {
  ?e rdfs:label ?label ; a ?type .
  FILTER(STRSTARTS(?label, "Ana") || STRSTARTS(?label, "Norvale"))
} ORDER BY ?label ?type';
-- the relations stated about one entity
SPARQL 'SELECT DISTINCT ?p ?o WHERE { <urn:cairn:entity:ana%20ruiz> ?p ?o .
  FILTER(STRSTARTS(STR(?p), "urn:cairn:rel:") && ?p != <urn:cairn:rel:co_occurs_with>) }
ORDER BY ?p ?o';
-- ASK
SPARQL 'ASK { <urn:cairn:entity:ana%20ruiz> <urn:cairn:rel:cfo_of> <urn:cairn:entity:norvale> }';
SPARQL 'ASK { <urn:cairn:entity:ana%20ruiz> <urn:cairn:rel:ceo_of> <urn:cairn:entity:norvale> }';
-- LIMIT caps the rows (the query itself has none)
SPARQL 'SELECT ?s ?t WHERE { ?s a ?t } ORDER BY ?t ?s' LIMIT 3;
-- CONSTRUCT: subject, predicate, object
SPARQL 'CONSTRUCT { ?s <urn:x:cfo> ?o } WHERE { ?s <urn:cairn:rel:cfo_of> ?o } ORDER BY ?s ?o' LIMIT 2;
-- '' inside the statement's string is one quote for SPARQL
SPARQL 'SELECT (COUNT(*) AS ?n) WHERE { ?e <http://www.w3.org/2000/01/rdf-schema#label> ?l FILTER(?l = ''Ana Ruiz'') }';
