/* test_bm25_fallback.c — test_bm25_fill's checks on the path the BM25 scan
 * leaves to FTS5's own ranking: with CAIRN_BM25_SCAN_ROWS at 256 (fts.c,
 * the scan's row cap) and 900 chunks, "harbour" OR "ltd" matches ~450 rows,
 * so the unpruned searches and the pruned list's fill (fill_common) are
 * answered by the FTS5-ranked query (fts_ranked) instead of the scan. The
 * answers must still be the rare rows first, then the unpruned ranking's
 * rows with its scores. */
#define NDOC 900
#define SCAN_ROWS 256
#define TEST_NAME "bm25_fallback"
#include "test_bm25_fill.c"
