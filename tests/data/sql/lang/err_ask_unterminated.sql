ASK 'Who is the CFO
of Norvale?;
