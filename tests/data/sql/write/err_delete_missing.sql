DELETE DOCUMENT 'gamma.txt';
