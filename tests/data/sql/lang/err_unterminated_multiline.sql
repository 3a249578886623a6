SHOW STATS;
SEARCH 'Kestrel
acquisition;
