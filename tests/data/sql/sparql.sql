-- SPARQL is not part of the language yet
SPARQL 'SELECT ?s WHERE { ?s ?p ?o }';
