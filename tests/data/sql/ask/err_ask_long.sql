-- over 100 evidence chunks
ASK 'Who is the CFO?' WITH k = 101;
