-- hops is 1..4
EXPLAIN ASK 'Who is the CFO of Norvale?'
  WITH k = 3, hops = 9;
