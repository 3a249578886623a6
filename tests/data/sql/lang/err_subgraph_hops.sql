SELECT subject FROM subgraph('Ana Ruiz', 7);
