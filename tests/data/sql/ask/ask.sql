-- ASK: the answer, its citations (each quoted sentence with its span), the
-- checks and the id of the trace it stored
ASK 'Who is the CFO of Norvale Systems?';
ASK 'Who is the CFO of Norvale Systems?' WITH k = 2, hops = 1, model = 'extractive';
-- the evidence is too thin: an abstention is an answer, not an error
ASK 'What is the airspeed velocity of an unladen swallow?';
SELECT count(*) AS traces, count(DISTINCT caller) AS callers, max(caller) AS caller FROM traces;
VERIFY TRACES;
