INGEST datasets/corpus;
