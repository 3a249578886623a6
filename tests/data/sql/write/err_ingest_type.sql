INGEST '../select.out';
