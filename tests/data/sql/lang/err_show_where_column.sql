SHOW DOCUMENTS
  WHERE format = 'md' AND colour = 'red';
