-- EXPLAIN ASK names the generator it would run: here a GGUF model
EXPLAIN ASK 'Who is the CFO of Norvale?' WITH model = 'qwen3-0.6b.gguf';
