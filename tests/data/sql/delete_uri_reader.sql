DELETE DOCUMENT 'alpha.txt';
