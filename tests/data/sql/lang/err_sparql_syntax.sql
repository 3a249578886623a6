-- a query that does not parse: the SPARQL parser's message and line
SPARQL 'SELECT ?s WHERE {
  ?s ?p
}';
