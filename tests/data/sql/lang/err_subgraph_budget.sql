SELECT subject FROM subgraph('Ana Ruiz', 1, 0);
