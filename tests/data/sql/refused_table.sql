DELETE FROM main.documents;
