-- update forms are refused with the graph library's message
SELECT 1 AS before;
SPARQL 'INSERT DATA { <urn:x:a> <urn:x:b> <urn:x:c> }';
SELECT 2 AS never;
