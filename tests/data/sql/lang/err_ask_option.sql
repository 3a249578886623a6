ASK 'Who is the CFO of Norvale?' WITH depth = 3;
