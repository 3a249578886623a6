SPARQL 'ASK { ?s ?p ?o }' LIMIT 5 OFFSET 2;
