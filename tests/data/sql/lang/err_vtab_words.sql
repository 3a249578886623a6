SEARCH '!!!' WITH mode = 'bm25';
