SELECT * FROM search('x', 'bm25', 0);
