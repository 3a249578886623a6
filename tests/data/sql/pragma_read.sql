PRAGMA table_info(documents);
SELECT name FROM pragma_table_info('documents');
