ASK 'Who is the CFO of Norvale?' WITH k = 0;
