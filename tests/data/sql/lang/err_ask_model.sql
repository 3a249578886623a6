ASK 'Who?' WITH model = gpt;
