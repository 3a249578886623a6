SEARCH 'x' WITH depth = 3;
