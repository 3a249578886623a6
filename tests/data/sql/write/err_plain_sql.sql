-- a writer session still runs plain SQL read-only
DELETE FROM main.documents;
