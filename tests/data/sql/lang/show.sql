-- SHOW: each kind, WHERE with any SQLite expression, LIMIT
SHOW STATS;
show documents where format = 'html' and title like '%Harbour%' limit 1;
SHOW DOCUMENTS WHERE (bytes > 0 AND uri LIKE './people/%') LIMIT 2;
SHOW ENTITIES WHERE label IN ('Norvale Systems GmbH', 'Ana Ruiz') LIMIT 5;
SHOW TRACES LIMIT 5;
SHOW SETTINGS WHERE key LIKE 'chunk.%';
SHOW STATS WHERE documents > 1000
