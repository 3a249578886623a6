SELECT writefile('/tmp/cairn-sql-test', 'x');
