SEARCH 'x' WITH mode = 'fuzzy';
