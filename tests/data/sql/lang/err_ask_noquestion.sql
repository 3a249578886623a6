ASK Who is the CFO;
