SELECT readfile('/etc/passwd');
