SEARCH Kestrel;
