-- only the extractive generator is wired in
EXPLAIN ASK 'Who is the CFO of Norvale?' WITH model = 'qwen3-0.6b';
