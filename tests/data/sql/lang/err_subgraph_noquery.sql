SELECT * FROM subgraph;
