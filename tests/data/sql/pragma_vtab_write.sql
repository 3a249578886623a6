-- a PRAGMA table-valued function with an argument sets it
SELECT * FROM pragma_user_version(7);
