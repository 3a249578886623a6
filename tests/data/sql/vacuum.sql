VACUUM INTO '/tmp/cairn-sql-vacuum.db';
