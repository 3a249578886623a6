-- TRACE: the stored trace summarised as rows (@TRACE@ is the id of the
-- trace the test stored with `cairn ask` before running this file)
TRACE '@TRACE@';
