INSERT INTO main.entities(label, type, key) VALUES ('x', 'other', 'x');
