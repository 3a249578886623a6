UPDATE main.documents SET title = 'x';
