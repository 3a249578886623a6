ASK '  ';
