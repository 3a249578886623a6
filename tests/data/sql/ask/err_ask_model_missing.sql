-- a model file that is not there: a clear error, nothing stored
ASK 'Who is the CFO?' WITH model = '/nonexistent/model.gguf';
