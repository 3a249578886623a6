SELECT name FROM pragma_table_info('documents') ORDER BY cid LIMIT 3;
