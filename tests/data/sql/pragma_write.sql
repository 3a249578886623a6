-- reading a PRAGMA is allowed; setting one is refused
PRAGMA encoding;
PRAGMA user_version = 7;
