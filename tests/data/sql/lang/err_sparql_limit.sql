SPARQL 'SELECT ?s WHERE { ?s ?p ?o }' LIMIT 0;
