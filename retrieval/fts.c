/* fts.c — the BM25 lane: safe FTS5 query building and search over
 * chunks_fts (external content over chunks). */
#include "retrieval.h"

#include <ctype.h>
#include <sqlite3.h>
#include <string.h>

/* Common English function words: dropped from queries unless nothing else
 * is left (BM25 gives them little weight, but OR-ing them costs time). */
static const char *const stopwords[] = {
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be",
    "been", "before", "but", "by", "can", "could", "did", "do", "does", "for", "from",
    "had", "has", "have", "he", "her", "his", "how", "i", "if", "in", "into", "is", "it",
    "its", "many", "much", "of", "on", "or", "our", "she", "so", "than", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "to", "was",
    "we", "were", "what", "when", "where", "which", "who", "whom", "whose", "why",
    "will", "with", "would", "you", "your",
};

static int is_stopword(const char *w, size_t n)
{
    char low[16];
    size_t i, lo = 0, hi = sizeof stopwords / sizeof stopwords[0];
    if (n >= sizeof low) return 0;
    for (i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)w[i]);
    low[n] = 0;
    while (lo < hi) {                 /* the table is sorted */
        size_t mid = (lo + hi) / 2;
        int c = strcmp(low, stopwords[mid]);
        if (!c) return 1;
        if (c < 0) hi = mid; else lo = mid + 1;
    }
    return 0;
}

/* A term is searchable when it holds a letter or digit (ASCII) or any
 * non-ASCII character (the unicode61 tokenizer decides which are letters). */
static int has_word_char(const char *w, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (isalnum((unsigned char)w[i]) || (unsigned char)w[i] >= 0x80) return 1;
    return 0;
}

static cc_status add_terms(const char *text, int skip_stop, cc_buf *out, int *count)
{
    const char *p = text;
    *count = 0;
    while (*p) {
        const char *w;
        size_t n, i;
        while (*p && isspace((unsigned char)*p)) p++;
        w = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        n = (size_t)(p - w);
        if (!n || !has_word_char(w, n)) continue;
        if (skip_stop && is_stopword(w, n)) continue;
        if (*count && cc_buf_puts(out, " OR ")) return CC_NOMEM;
        if (cc_buf_putc(out, '"')) return CC_NOMEM;
        for (i = 0; i < n; i++) {
            if (w[i] == '"' && cc_buf_putc(out, '"')) return CC_NOMEM;
            if (cc_buf_putc(out, w[i])) return CC_NOMEM;
        }
        if (cc_buf_putc(out, '"')) return CC_NOMEM;
        ++*count;
    }
    return CC_OK;
}

cc_status cr_fts_query(const char *text, cc_buf *out, cc_buf *err)
{
    int count;
    cc_status s;
    size_t bad;
    cc_buf_reset(out);
    if (!text) text = "";
    bad = cc_utf8_check(text, strlen(text));
    if (bad != strlen(text)) {
        cc_buf_reset(err);
        cc_buf_printf(err, "query is not valid UTF-8 (at byte %zu)", bad);
        return CC_INVALID;
    }
    if ((s = add_terms(text, 1, out, &count))) return s;
    if (!count && (s = add_terms(text, 0, out, &count))) return s;
    if (!count) {
        cc_buf_reset(err);
        cc_buf_puts(err, "query has no words to search for");
        return CC_INVALID;
    }
    return CC_OK;
}

cc_status cr_bm25_search(cc_kb *kb, const char *query, int k, int flags,
                         cr_hit **hits, size_t *n)
{
    cc_buf q = CC_BUF_INIT(0), err = CC_BUF_INIT(0);
    sqlite3_stmt *st = NULL;
    cr_hit *h = NULL;
    size_t m = 0;
    cc_status s = CC_OK;
    int rc;

    *hits = NULL;
    *n = 0;
    if (k < 1 || k > 10000)
        return cc_kb_seterr(kb, CC_INVALID, "k must be between 1 and 10000 (got %d)", k);
    if (flags & CR_FTS_RAW) {
        if (cc_buf_puts(&q, query ? query : "")) return CC_NOMEM;
    } else if ((s = cr_fts_query(query, &q, &err))) {
        cc_kb_seterr(kb, s, "%s", err.data ? err.data : "bad query");
        goto out;
    }
    if (sqlite3_prepare_v2(cc_kb_db(kb),
                           "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts "
                           "WHERE chunks_fts MATCH ?1 ORDER BY rank LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK) {
        s = cc_kb_sqlerr(kb, "preparing the BM25 query");
        goto out;
    }
    sqlite3_bind_text(st, 1, q.data, (int)q.len, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, k);
    h = calloc((size_t)k, sizeof *h);
    if (!h) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && m < (size_t)k) {
        h[m].chunk_id = sqlite3_column_int64(st, 0);
        h[m].score = h[m].lane_score[CR_LANE_BM25] = sqlite3_column_double(st, 1);
        h[m].rank[CR_LANE_BM25] = (int)m + 1;
        m++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        s = cc_kb_sqlerr(kb, "BM25 search");
        if (flags & CR_FTS_RAW) s = CC_INVALID;
        goto out;
    }
    *hits = h;
    *n = m;
    h = NULL;
out:
    free(h);
    sqlite3_finalize(st);
    cc_buf_free(&q);
    cc_buf_free(&err);
    return s;
}
