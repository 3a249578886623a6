ASK 'Who?' WITH k = 2 hops = 1;
