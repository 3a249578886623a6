TRACE 'tr_does_not_exist';
