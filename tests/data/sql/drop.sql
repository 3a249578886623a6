DROP VIEW documents;
