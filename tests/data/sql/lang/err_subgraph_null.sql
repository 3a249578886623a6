SELECT subject FROM subgraph(NULL);
