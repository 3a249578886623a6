SELECT * FROM search('x', 'fuzzy');
