SELECT * FROM search;
