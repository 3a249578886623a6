SEARCH 'x' 'y';
