/* fts.c — the BM25 lane: safe FTS5 query building and search over
 * chunks_fts (external content over chunks). */
#include "retrieval.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
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

/* ---------------------------------------------------------------- common terms
 *
 * BM25 over OR-ed terms scores every row that holds any of them. A term
 * found in a large share of the chunks ("chief", "ltd" in a KB of company
 * records) makes that most of the KB, for a term whose weight (idf) is
 * small. So when a query also holds rarer terms, the common ones (in more
 * than search.common_share of the chunks, default 5%, and more than
 * search.common_min chunks, default 1,000, so a small KB never changes)
 * leave the MATCH: FTS5 ranks the rows that hold a rarer term, a pool of
 * max(4k, 200) of them, and each pooled row then gets the common terms'
 * share of BM25 added with FTS5's own formula (k1 1.2, b 0.75, idf from the
 * term's document count, the row's token count from chunks_fts_docsize over
 * the average from the index's averages record; the term counted in the
 * row's text and section with unicode61's rules for ASCII). Within the pool
 * the order is then the full query's. Rows holding only common terms come
 * after every row holding a rarer term: when the pool holds k rows or more
 * they are not ranked; when it holds fewer (so every row holding a rarer
 * term is in it) the list is filled up to k with the rows holding only
 * common terms, in the full query's order and with its scores (a MATCH of
 * the common terms alone, ranked by the scan below or by FTS5, gives those
 * rows the same scores as the full query: a rarer term adds nothing to a
 * row without it), so a query gets k hits whenever k rows match it. When
 * no row holds a rarer term, the query is ranked in full, not answered
 * with nothing. Only ASCII terms are treated as common. The
 * document count of a common term is counted once and cached per KB (kept
 * while the KB's row count stays within 10%); deciding "common" costs a
 * probe that stops after the threshold's rows. */

#define BM25_K1     1.2
#define BM25_B      0.75
#define POOL_MIN    200
#define MAX_TERMS   32
#define CACHE_MAX   1024

typedef struct term {
    const char *w;      /* the query word (borrowed) */
    size_t      n;
    int         common;
    int64_t     df;
} term;

typedef struct df_entry {
    char   *key;        /* KB dir, NUL, term (lower case) */
    size_t  klen;
    int64_t df, nrow;
} df_entry;

static pthread_mutex_t df_mu = PTHREAD_MUTEX_INITIALIZER;
static df_entry df_cache[CACHE_MAX];
static size_t df_count;

static int df_get(const char *key, size_t klen, int64_t nrow, int64_t *df)
{
    int hit = 0;
    pthread_mutex_lock(&df_mu);
    for (size_t i = 0; i < df_count; i++)
        if (df_cache[i].klen == klen && !memcmp(df_cache[i].key, key, klen)) {
            int64_t d = df_cache[i].nrow - nrow;
            if (d < 0) d = -d;
            if (d * 10 <= nrow) { *df = df_cache[i].df; hit = 1; }
            else { free(df_cache[i].key); df_cache[i] = df_cache[--df_count]; }
            break;
        }
    pthread_mutex_unlock(&df_mu);
    return hit;
}

static void df_put(const char *key, size_t klen, int64_t nrow, int64_t df)
{
    char *k = malloc(klen);
    if (!k) return;
    memcpy(k, key, klen);
    pthread_mutex_lock(&df_mu);
    if (df_count == CACHE_MAX) {
        for (size_t i = 0; i < df_count; i++) free(df_cache[i].key);
        df_count = 0;
    }
    df_cache[df_count++] = (df_entry){k, klen, df, nrow};
    pthread_mutex_unlock(&df_mu);
}

/* SQLite's varint (as FTS5 stores its records). 0 when it runs past end. */
static size_t get_varint(const unsigned char *p, const unsigned char *end, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < 9; i++) {
        if (p + i >= end) return 0;
        if (i == 8) { *v = (x << 8) | p[i]; return 9; }
        x = (x << 7) | (p[i] & 0x7f);
        if (!(p[i] & 0x80)) { *v = x; return i + 1; }
    }
    return 0;
}

/* Rows and average tokens per row (all columns) from FTS5's averages
 * record. 0 when unavailable. */
static int fts_averages(sqlite3 *db, int64_t *nrow, double *avgdl)
{
    sqlite3_stmt *st;
    int ok = 0;
    if (sqlite3_prepare_v2(db, "SELECT block FROM chunks_fts_data WHERE id = 1", -1, &st, NULL))
        return 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *p = sqlite3_column_blob(st, 0);
        const unsigned char *end = p + sqlite3_column_bytes(st, 0);
        uint64_t rows = 0, v, total = 0;
        size_t m;
        if (p && (m = get_varint(p, end, &rows))) {
            for (p += m; p < end && (m = get_varint(p, end, &v)); p += m) total += v;
            if (rows > 0 && rows < ((uint64_t)1 << 62)) {
                *nrow = (int64_t)rows;
                *avgdl = (double)total / (double)rows;
                ok = *avgdl > 0;
            }
        }
    }
    sqlite3_finalize(st);
    return ok;
}

/* A word as an FTS5 phrase ("..." with quotes doubled). */
static cc_status put_phrase(cc_buf *b, const char *w, size_t n)
{
    if (cc_buf_putc(b, '"')) return CC_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (w[i] == '"' && cc_buf_putc(b, '"')) return CC_NOMEM;
        if (cc_buf_putc(b, w[i])) return CC_NOMEM;
    }
    return cc_buf_putc(b, '"') ? CC_NOMEM : CC_OK;
}

/* Rows holding the word: exact up to cap (cap + 1 means "more"); cap 0 = no
 * limit. -1 on error. */
static int64_t count_rows(sqlite3 *db, const char *w, size_t n, int64_t cap)
{
    cc_buf q = CC_BUF_INIT(0);
    sqlite3_stmt *st = NULL;
    int64_t c = -1;
    if (put_phrase(&q, w, n) == CC_OK &&
        sqlite3_prepare_v2(db, cap ? "SELECT count(*) FROM (SELECT 1 FROM chunks_fts"
                                     " WHERE chunks_fts MATCH ?1 LIMIT ?2)"
                                   : "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, q.data, (int)q.len, SQLITE_STATIC);
        if (cap) sqlite3_bind_int64(st, 2, cap + 1);
        if (sqlite3_step(st) == SQLITE_ROW) c = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    cc_buf_free(&q);
    return c;
}

/* ASCII tokens of unicode61 (letters and digits, lower-cased; any other
 * ASCII byte separates). Writes at most max tokens as (offset, length). */
static size_t ascii_tokens(const char *s, size_t len, size_t *off, size_t *tl, size_t max)
{
    size_t i = 0, n = 0;
    while (i < len && n < max) {
        while (i < len && (unsigned char)s[i] < 0x80 && !isalnum((unsigned char)s[i])) i++;
        if (i >= len) break;
        off[n] = i;
        while (i < len && ((unsigned char)s[i] >= 0x80 || isalnum((unsigned char)s[i]))) i++;
        tl[n] = i - off[n];
        n++;
    }
    return n;
}

static int tok_eq(const char *a, size_t na, const char *b, size_t nb)
{
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return 0;
    return 1;
}

/* Occurrences of the phrase w (its tokens in order) in text. */
static int64_t phrase_count(const char *w, size_t wn, const char *text, size_t len)
{
    size_t po[16], pl[16], np, i = 0;
    int64_t c = 0;
    np = ascii_tokens(w, wn, po, pl, 16);
    if (!np || !text) return 0;
    while (i < len) {
        size_t to[16], tl[16], j;
        /* tokens starting at i, as many as the phrase has */
        size_t nt = ascii_tokens(text + i, len - i, to, tl, np);
        if (nt < np) break;
        for (j = 0; j < np && tok_eq(w + po[j], pl[j], text + i + to[j], tl[j]); j++) {}
        if (j == np) c++;
        i += to[0] + tl[0];
    }
    return c;
}

/* Words of the query as the plain query builds them (stop words dropped
 * unless nothing else is left). Returns how many (at most max); 0 when the
 * query has none or more than max. */
static size_t query_words(const char *text, term *t, size_t max)
{
    for (int skip = 1; skip >= 0; skip--) {
        const char *p = text;
        size_t n = 0;
        while (*p) {
            const char *w;
            size_t len;
            while (*p && isspace((unsigned char)*p)) p++;
            w = p;
            while (*p && !isspace((unsigned char)*p)) p++;
            len = (size_t)(p - w);
            if (!len || !has_word_char(w, len)) continue;
            if (skip && is_stopword(w, len)) continue;
            if (n == max) return 0;
            t[n].w = w;
            t[n].n = len;
            t[n].common = 0;
            t[n].df = 0;
            n++;
        }
        if (n) return n;
    }
    return 0;
}

static int cmp_hit(const void *a, const void *b)
{
    const cr_hit *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->chunk_id < y->chunk_id ? -1 : x->chunk_id > y->chunk_id;
}

/* The settings search.common_share and search.common_min: 1 when pruning
 * is on (both valid), 0 when off or unreadable. */
static int common_settings(cc_kb *kb, double *share, int64_t *cmin)
{
    return !cc_kb_setting_f64(kb, "search.common_share", 0.05, share) &&
           !cc_kb_setting_i64(kb, "search.common_min", 1000, cmin) && *share > 0 && *cmin >= 1;
}

/* The row count above which a term is common in a table of nrow rows; 0
 * when no term can be (the table is not larger than the threshold). */
static int64_t common_thr(double share, int64_t cmin, int64_t nrow)
{
    int64_t thr = (int64_t)(share * (double)nrow);
    if (thr < cmin) thr = cmin;
    return nrow > thr ? thr : 0;
}

/* The KB's common-term threshold (common_settings, common_thr over the
 * averages record's row count). 1 when a term can be common here (nrow,
 * avgdl and thr set); 0 when pruning does not apply. */
static int common_threshold(cc_kb *kb, int64_t *nrow, double *avgdl, int64_t *thr)
{
    double share;
    int64_t cmin;
    if (!common_settings(kb, &share, &cmin) || !fts_averages(cc_kb_db(kb), nrow, avgdl)) return 0;
    return (*thr = common_thr(share, cmin, *nrow)) != 0;
}

/* 1 when the term is ASCII (only those can be common). */
static int term_ascii(const term *t)
{
    for (size_t j = 0; j < t->n; j++)
        if ((unsigned char)t->w[j] >= 0x80) return 0;
    return 1;
}

/* The common-term cache's key of an ASCII term: the KB's directory, a NUL,
 * the term in lower case. 0, or -1 when out of memory. */
static int common_key(cc_kb *kb, const term *t, cc_buf *key)
{
    cc_buf_reset(key);
    if (cc_buf_puts(key, cc_kb_dir(kb)) || cc_buf_putc(key, 0)) return -1;
    for (size_t j = 0; j < t->n; j++)
        if (cc_buf_putc(key, (char)tolower((unsigned char)t->w[j]))) return -1;
    return 0;
}

/* score plus the common terms' shares of a row's BM25 (FTS5's formula),
 * added one term at a time in query order: each common term of t counted
 * in the row's text and section, idf from its document count, dl the
 * row's length in tokens. */
static double add_common(double score, const term *t, size_t nt, int64_t nrow, double avgdl,
                         double dl, const char *tx, size_t txn, const char *se, size_t sen)
{
    for (size_t i = 0; i < nt; i++) {
        double f, idf;
        if (!t[i].common) continue;
        f = (double)(phrase_count(t[i].w, t[i].n, tx, txn) + phrase_count(t[i].w, t[i].n, se, sen));
        if (f <= 0) continue;
        idf = log(((double)nrow - (double)t[i].df + 0.5) / ((double)t[i].df + 0.5));
        if (idf <= 0) idf = 1e-6;
        score += idf * (f * (BM25_K1 + 1)) / (f + BM25_K1 * (1 - BM25_B + BM25_B * dl / avgdl));
    }
    return score;
}

static cc_status fill_common(cc_kb *kb, sqlite3_stmt **keep, const term *t, size_t nt, int k,
                             cr_hit **h, size_t *m);

/* The pruned search (see above). 1: done (hits and n set, or an error in s);
 * 0: not applicable here (no common term, or no rarer one), use the plain
 * query. */
static int bm25_pruned(cc_kb *kb, sqlite3_stmt **keep, const char *query, int k, cr_hit **hits,
                       size_t *n, cc_status *s)
{
    sqlite3 *db = cc_kb_db(kb);
    term t[MAX_TERMS];
    size_t nt = query_words(query, t, MAX_TERMS), i, ncommon = 0, nrare = 0, m = 0;
    int64_t nrow = 0, thr = 0;
    double avgdl = 0;
    cc_buf q = CC_BUF_INIT(0), key = CC_BUF_INIT(0);
    sqlite3_stmt *st = NULL, *sz = NULL;
    cr_hit *h = NULL;
    int rc, pool, ret = 1;

    if (nt < 2 || !common_threshold(kb, &nrow, &avgdl, &thr)) return 0;
    /* common or not: a common term's count is cached (no probe); others
     * are probed, and a common one is counted in full once */
    for (i = 0; i < nt; i++) {
        int64_t c;
        if (!term_ascii(&t[i])) { nrare++; continue; }
        if (common_key(kb, &t[i], &key)) goto nomem;
        if (df_get(key.data, key.len, nrow, &c) && c > thr) {
            t[i].common = 1;
            t[i].df = c;
            ncommon++;
            continue;
        }
        if ((c = count_rows(db, t[i].w, t[i].n, thr)) < 0) goto plain;
        if (c <= thr) { nrare++; continue; }
        if ((c = count_rows(db, t[i].w, t[i].n, 0)) < 0) goto plain;
        df_put(key.data, key.len, nrow, c);
        t[i].common = 1;
        t[i].df = c;
        ncommon++;
    }
    if (!ncommon || !nrare) goto plain;
    /* the rarer terms rank the pool */
    for (i = 0, m = 0; i < nt; i++) {
        if (t[i].common) continue;
        if ((m++ && cc_buf_puts(&q, " OR ")) || put_phrase(&q, t[i].w, t[i].n)) goto nomem;
    }
    pool = k * 4 > POOL_MIN ? k * 4 : POOL_MIN;
    if (pool > 10000) pool = 10000;
    if (sqlite3_prepare_v2(db, "SELECT rowid, -bm25(chunks_fts), text, section FROM chunks_fts "
                           "WHERE chunks_fts MATCH ?1 ORDER BY rank LIMIT ?2", -1, &st, NULL)) {
        *s = cc_kb_sqlerr(kb, "preparing the BM25 query");
        goto done;
    }
    if (sqlite3_prepare_v2(db, "SELECT sz FROM chunks_fts_docsize WHERE id = ?1", -1, &sz, NULL))
        sz = NULL;     /* no sizes stored: every row counts as average */
    sqlite3_bind_text(st, 1, q.data, (int)q.len, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, pool);
    if (!(h = calloc((size_t)pool, sizeof *h))) goto nomem;
    m = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && m < (size_t)pool) {
        const char *tx = (const char *)sqlite3_column_text(st, 2);
        size_t txn = (size_t)sqlite3_column_bytes(st, 2);
        const char *se = (const char *)sqlite3_column_text(st, 3);
        size_t sen = (size_t)sqlite3_column_bytes(st, 3);
        double score = sqlite3_column_double(st, 1), dl = avgdl;
        h[m].chunk_id = sqlite3_column_int64(st, 0);
        if (sz) sqlite3_bind_int64(sz, 1, h[m].chunk_id);
        if (sz && sqlite3_step(sz) == SQLITE_ROW) {    /* the row's tokens, all columns */
            const unsigned char *p = sqlite3_column_blob(sz, 0);
            const unsigned char *end = p + sqlite3_column_bytes(sz, 0);
            uint64_t v, tot = 0;
            size_t used;
            for (; p && p < end && (used = get_varint(p, end, &v)); p += used) tot += v;
            dl = (double)tot;
        }
        if (sz) sqlite3_reset(sz);
        score = add_common(score, t, nt, nrow, avgdl, dl, tx, txn, se, sen);
        h[m].score = h[m].lane_score[CR_LANE_BM25] = score;
        m++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        *s = cc_kb_sqlerr(kb, "BM25 search");
        goto done;
    }
    if (!m) goto plain;   /* no rarer word is in the KB: all in full, not an empty answer */
    qsort(h, m, sizeof *h, cmp_hit);
    if (m > (size_t)k) m = (size_t)k;
    for (i = 0; i < m; i++) h[i].rank[CR_LANE_BM25] = (int)i + 1;
    /* a short pool holds every row with a rarer term: fill from the rest */
    if (m < (size_t)k && (*s = fill_common(kb, keep, t, nt, k, &h, &m))) goto done;
    *hits = h;
    *n = m;
    h = NULL;
    *s = CC_OK;
    goto done;
plain:
    ret = 0;
    goto done;
nomem:
    *s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
done:
    free(h);
    sqlite3_finalize(st);
    sqlite3_finalize(sz);
    cc_buf_free(&q);
    cc_buf_free(&key);
    return ret;
}

/* ---------------------------------------------------------------- the scan
 *
 * FTS5's ORDER BY rank runs bm25() for every matching row (and again for
 * the rows returned, for the caller's -bm25()), each call reading the
 * row's size from chunks_fts_docsize, re-reads every phrase's doclist to
 * count its rows (the idf), and sorts on a nested statement it prepares
 * per query. The scan gets the same numbers in one pass: an
 * unordered MATCH of the same expression whose auxiliary function
 * (cairn_lane_row, registered per connection through the fts5_api) records,
 * per row, its id, its token count (all columns) and each phrase's number
 * of instances (xInst). A phrase's document count is the number of rows
 * of the OR-ed match holding it (every row holding a phrase matches the
 * OR), which is what bm25()'s xQueryPhrase counts. Scores are then FTS5's
 * bm25() formula with its constants, evaluated in its order of operations
 * and phrases, so they are the same doubles; ties go to the lower id, as
 * FTS5's sort of rows visited in id order leaves them. When an ASCII
 * phrase passes the common-term threshold the scan stops and the pruned
 * search above takes the query (it would have pruned it).
 *
 * Row sizes are cached per connection (a committed row's id is never
 * reused and its size never changes, schemas/catalog.sql; so the cache is
 * not used inside a transaction that has written: in autocommit mode or a
 * read transaction every row the connection sees is committed), for ids
 * below 2^22 and sizes below
 * 65,536; the cache lives and dies with the connection (the function's
 * destructor runs when SQLite closes it). */

#define LANE_FN       "cairn_lane_row"
#define LANE_PTR      "cairn_lane_scan"
#define DSZ_MAX_ID    ((int64_t)1 << 22)
#define SCAN_MAX_ROWS ((size_t)1 << 21)    /* beyond: FTS5 ranks (memory) */
#define SCAN_MAX_CELLS ((size_t)1 << 23)   /* rows x phrases */

/* The scan's row cap: SCAN_MAX_ROWS, or CAIRN_BM25_SCAN_ROWS (256 or
 * more) read once per process, so the FTS5-ranked fallback can be run on a
 * small KB (tests/test_bm25_fallback.c) and compared with the scan. */
static size_t scan_rows = SCAN_MAX_ROWS;
static pthread_once_t scan_rows_once = PTHREAD_ONCE_INIT;

static void scan_rows_init(void)
{
    const char *e = getenv("CAIRN_BM25_SCAN_ROWS");
    int64_t v;
    if (e && cc_parse_i64(e, 256, (int64_t)SCAN_MAX_ROWS, &v) == CC_OK) scan_rows = (size_t)v;
}
#define DSZ_BULK_AFTER 8192

typedef struct lane_conn {
    sqlite3          *db;
    uint16_t         *dsz;     /* tokens of row id, 0 = not cached */
    size_t            ndsz;
    size_t            misses;  /* sizes read one by one */
    int64_t           nrow;    /* the table's rows at the last scan */
    int               bulk;    /* the whole table was loaded once */
    struct lane_conn *next;
} lane_conn;

static pthread_mutex_t lane_mu = PTHREAD_MUTEX_INITIALIZER;
static lane_conn *lanes;

typedef struct lane_scan {
    lane_conn *cache;          /* row sizes; NULL inside a transaction */
    int       np;              /* phrases in the MATCH (<= MAX_TERMS) */
    unsigned  may_common;      /* bit i: phrase i counts towards the threshold */
    double    share;           /* common share; 0 = no threshold */
    int64_t   cmin;
    int64_t   thr;             /* set at the first row; 0 = none */
    int       started, over;   /* over: a phrase passed thr */
    int       full;            /* more than scan_rows rows */
    sqlite3_int64 nrow, ntok;  /* rows and tokens of the table */
    int64_t   nhit[MAX_TERMS];
    size_t    n, cap;
    int64_t  *id;              /* n */
    int      *dl;              /* n: tokens in the row, all columns */
    uint32_t *f;               /* n x np: instances of phrase i in the row */
} lane_scan;

static void lane_conn_free(void *p)
{
    lane_conn *c = p, **pp;
    pthread_mutex_lock(&lane_mu);
    for (pp = &lanes; *pp; pp = &(*pp)->next)
        if (*pp == c) { *pp = c->next; break; }
    pthread_mutex_unlock(&lane_mu);
    free(c->dsz);
    free(c);
}

static void dsz_put(lane_conn *c, int64_t id, int dl)
{
    if (id < 0 || id >= DSZ_MAX_ID || dl <= 0 || dl >= 65536) return;
    if ((size_t)id >= c->ndsz) {
        size_t nn = c->ndsz ? c->ndsz : 4096;
        uint16_t *d;
        while (nn <= (size_t)id) nn *= 2;
        if (nn > (size_t)DSZ_MAX_ID) nn = (size_t)DSZ_MAX_ID;
        if (!(d = realloc(c->dsz, nn * sizeof *d))) return;    /* stays uncached */
        memset(d + c->ndsz, 0, (nn - c->ndsz) * sizeof *d);
        c->dsz = d;
        c->ndsz = nn;
    }
    c->dsz[id] = (uint16_t)dl;
}

/* A busy connection (sizes of a quarter of the rows, at most
 * DSZ_BULK_AFTER, read one by one) reads the rest in one pass over
 * chunks_fts_docsize, about a fifth of a lookup's cost per row. A failure
 * leaves the cache as it was. */
static void dsz_load(sqlite3 *db, lane_conn *c)
{
    sqlite3_stmt *st;
    c->bulk = 1;
    if (sqlite3_prepare_v2(db, "SELECT id, sz FROM chunks_fts_docsize WHERE id < ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, DSZ_MAX_ID);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *p = sqlite3_column_blob(st, 1);
        const unsigned char *end = p + sqlite3_column_bytes(st, 1);
        uint64_t v, tot = 0;
        size_t used;
        for (; p && p < end && (used = get_varint(p, end, &v)); p += used) tot += v;
        if (tot < 65536) dsz_put(c, sqlite3_column_int64(st, 0), (int)tot);
    }
    sqlite3_finalize(st);
}

/* The row's tokens (all columns), from the cache or xColumnSize. */
static int row_tokens(const Fts5ExtensionApi *api, Fts5Context *fc, lane_conn *c,
                      int64_t id, int *dl)
{
    int rc;
    if (c && id >= 0 && (size_t)id < c->ndsz && c->dsz[id]) { *dl = c->dsz[id]; return SQLITE_OK; }
    if ((rc = api->xColumnSize(fc, -1, dl)) != SQLITE_OK) return rc;
    if (c) {
        c->misses++;
        dsz_put(c, id, *dl);
    }
    return SQLITE_OK;
}

/* cairn_lane_row(chunks_fts, scan): records the current row in *scan. */
static void lane_row(const Fts5ExtensionApi *api, Fts5Context *fc, sqlite3_context *ctx,
                     int nval, sqlite3_value **val)
{
    lane_scan *s = nval == 1 ? sqlite3_value_pointer(val[0], LANE_PTR) : NULL;
    uint32_t *f;
    int ninst, rc, i;
    if (!s) { sqlite3_result_error(ctx, LANE_FN ": no scan to record into", -1); return; }
    if (s->over || s->full) return;
    if (!s->started) {
        if (api->xPhraseCount(fc) != s->np) {
            sqlite3_result_error(ctx, LANE_FN ": phrase count differs from the query's", -1);
            return;
        }
        if ((rc = api->xRowCount(fc, &s->nrow)) || (rc = api->xColumnTotalSize(fc, -1, &s->ntok))) {
            sqlite3_result_error_code(ctx, rc);
            return;
        }
        if (s->share > 0 && s->nrow > 0 && s->ntok > 0)   /* as bm25_pruned decides */
            s->thr = common_thr(s->share, s->cmin, s->nrow);
        s->started = 1;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        int64_t *id;
        int *dl;
        uint32_t *nf;
        if (nc > scan_rows || nc * (size_t)s->np > SCAN_MAX_CELLS) { s->full = 1; return; }
        if (!(id = realloc(s->id, nc * sizeof *id))) goto nomem;
        s->id = id;
        if (!(dl = realloc(s->dl, nc * sizeof *dl))) goto nomem;
        s->dl = dl;
        if (!(nf = realloc(s->f, nc * (size_t)s->np * sizeof *nf))) goto nomem;
        s->f = nf;
        s->cap = nc;
    }
    f = s->f + s->n * (size_t)s->np;
    memset(f, 0, (size_t)s->np * sizeof *f);
    if ((rc = api->xInstCount(fc, &ninst))) { sqlite3_result_error_code(ctx, rc); return; }
    for (i = 0; i < ninst; i++) {
        int ip, ic, io;
        if ((rc = api->xInst(fc, i, &ip, &ic, &io))) { sqlite3_result_error_code(ctx, rc); return; }
        if (ip >= 0 && ip < s->np) f[ip]++;
    }
    s->id[s->n] = api->xRowid(fc);
    if ((rc = row_tokens(api, fc, s->cache, s->id[s->n], &s->dl[s->n]))) {
        sqlite3_result_error_code(ctx, rc);
        return;
    }
    for (i = 0; i < s->np; i++)
        if (f[i] && ++s->nhit[i] > s->thr && s->thr && (s->may_common >> i & 1)) s->over = 1;
    s->n++;
    return;
nomem:
    sqlite3_result_error_nomem(ctx);
}

/* The connection's registration of cairn_lane_row: NULL when FTS5's API
 * is unavailable (the caller uses FTS5's own ranking). */
static lane_conn *lane_ready(sqlite3 *db)
{
    lane_conn *c;
    fts5_api *api = NULL;
    sqlite3_stmt *st;
    pthread_mutex_lock(&lane_mu);
    for (c = lanes; c && c->db != db; c = c->next) {}
    pthread_mutex_unlock(&lane_mu);
    if (c) return c;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK) return NULL;
    sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    if (!api || api->iVersion < 2 || !(c = calloc(1, sizeof *c))) return NULL;
    c->db = db;
    if (api->xCreateFunction(api, LANE_FN, c, lane_row, lane_conn_free) != SQLITE_OK) {
        free(c);
        return NULL;
    }
    pthread_mutex_lock(&lane_mu);
    c->next = lanes;
    lanes = c;
    pthread_mutex_unlock(&lane_mu);
    return c;
}

/* The k best of the scan's rows: a heap whose root is the worst kept. */
typedef struct scored { double score; int64_t id; size_t row; } scored;

static int below(const scored *a, const scored *b)     /* a ranks after b */
{
    return a->score < b->score || (a->score == b->score && a->id > b->id);
}

static void heap_down(scored *hp, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        scored x;
        if (l < n && below(&hp[l], &hp[w])) w = l;
        if (r < n && below(&hp[r], &hp[w])) w = r;
        if (w == i) return;
        x = hp[i]; hp[i] = hp[w]; hp[w] = x;
        i = w;
    }
}

static void heap_up(scored *hp, size_t i)
{
    while (i && below(&hp[i], &hp[(i - 1) / 2])) {
        scored x = hp[i];
        hp[i] = hp[(i - 1) / 2];
        hp[(i - 1) / 2] = x;
        i = (i - 1) / 2;
    }
}

enum { SCAN_DONE, SCAN_COMMON, SCAN_NONE };

/* Ranks the MATCH expression q (phrases t[0..nt), in order) as FTS5's
 * ORDER BY rank LIMIT k would. prune: stop with SCAN_COMMON when an ASCII
 * phrase passes the common-term threshold (search.common_share and
 * search.common_min, as bm25_pruned computes it). SCAN_DONE: hits and n set, or
 * an error in *s; SCAN_NONE: the scan is unavailable here. */
static int bm25_scan(cc_kb *kb, sqlite3_stmt **keep, const cc_buf *q, const term *t, size_t nt,
                     int prune, int k, cr_hit **hits, size_t *n, int **dls, cc_status *s)
{
    sqlite3 *db = cc_kb_db(kb);
    sqlite3_stmt *st = NULL;
    lane_conn *c;
    lane_scan sc;
    cr_hit *h = NULL;
    scored *hp = NULL;
    double idf[MAX_TERMS], avgdl;
    size_t i, m, kk, nh;
    int rc, r = SCAN_DONE;

    if (!nt || nt > MAX_TERMS || !(c = lane_ready(db))) return SCAN_NONE;
    pthread_once(&scan_rows_once, scan_rows_init);
    memset(&sc, 0, sizeof sc);
    /* in a transaction that has written, this connection may see rows that
     * a rollback takes back, ids and all: no cache there */
    if (sqlite3_get_autocommit(db) || sqlite3_txn_state(db, NULL) != SQLITE_TXN_WRITE) {
        sc.cache = c;
        if (!c->bulk && c->nrow > 0 && c->misses >= (size_t)(c->nrow / 4 < DSZ_BULK_AFTER ?
                                                              c->nrow / 4 : DSZ_BULK_AFTER))
            dsz_load(db, c);
    }
    sc.np = (int)nt;
    if (prune && common_settings(kb, &sc.share, &sc.cmin)) {
        for (i = 0; i < nt; i++)
            if (term_ascii(&t[i])) sc.may_common |= 1u << i;
    } else {
        sc.share = 0;
    }
    if (keep && *keep) {
        st = *keep;
    } else if (sqlite3_prepare_v3(db, "SELECT " LANE_FN "(chunks_fts, ?2) FROM chunks_fts "
                                  "WHERE chunks_fts MATCH ?1", -1,
                                  keep ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        st = NULL;
        r = SCAN_NONE;
        goto out;
    }
    sqlite3_bind_text(st, 1, q->data, (int)q->len, SQLITE_STATIC);
    sqlite3_bind_pointer(st, 2, &sc, LANE_PTR, NULL);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && !sc.over && !sc.full) {}
    if (sc.started) c->nrow = sc.nrow;
    if (sc.over || sc.full) { r = sc.over ? SCAN_COMMON : SCAN_NONE; goto out; }
    if (rc != SQLITE_DONE) { *s = cc_kb_sqlerr(kb, "BM25 search"); goto out; }
    *hits = NULL;
    *n = 0;
    *s = CC_OK;
    if (dls) *dls = NULL;
    if (!sc.n) goto out;
    /* fts5Bm25GetData and fts5Bm25Function (SQLite's fts5_aux.c), term by term */
    avgdl = (double)sc.ntok / (double)sc.nrow;
    for (i = 0; i < nt; i++) {
        double d = log(((double)(sc.nrow - sc.nhit[i]) + 0.5) / ((double)sc.nhit[i] + 0.5));
        idf[i] = d <= 0.0 ? 1e-6 : d;
    }
    kk = sc.n < (size_t)k ? sc.n : (size_t)k;
    if (!(hp = malloc(kk * sizeof *hp)) || !(h = calloc(kk, sizeof *h))) {
        *s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        goto out;
    }
    for (m = 0, nh = 0; m < sc.n; m++) {
        const double k1 = BM25_K1, b = BM25_B, D = (double)sc.dl[m];
        const uint32_t *f = sc.f + m * nt;
        scored x = {0.0, sc.id[m], m};
        for (i = 0; i < nt; i++) {
            double fr = (double)f[i];
            if (!f[i]) continue;       /* adds 0.0 */
            x.score += idf[i] * ((fr * (k1 + 1.0)) / (fr + k1 * (1 - b + b * D / avgdl)));
        }
        if (nh < kk) {
            hp[nh] = x;
            heap_up(hp, nh++);
        } else if (below(&hp[0], &x)) {
            hp[0] = x;
            heap_down(hp, nh, 0);
        }
    }
    /* best first: the heap's root (the worst kept) popped to the back, in
     * place (below is a total order: the same order qsort gave) */
    for (m = nh; m > 1; m--) {
        scored x = hp[0];
        hp[0] = hp[m - 1];
        hp[m - 1] = x;
        heap_down(hp, m - 1, 0);
    }
    for (m = 0; m < nh; m++) {
        h[m].chunk_id = hp[m].id;
        h[m].score = h[m].lane_score[CR_LANE_BM25] = hp[m].score;   /* -bm25() */
        h[m].rank[CR_LANE_BM25] = (int)m + 1;
    }
    if (dls) {                /* the rows' token counts, in the hits' order */
        int *d = malloc((nh ? nh : 1) * sizeof *d);
        if (!d) { *s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
        for (m = 0; m < nh; m++) d[m] = sc.dl[hp[m].row];
        *dls = d;
    }
    *hits = h;
    *n = nh;
    h = NULL;
out:
    if (keep && st) {          /* kept: no read transaction left open, no pointer to sc */
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        *keep = st;
    } else {
        sqlite3_finalize(st);
    }
    free(h);
    free(hp);
    free(sc.id);
    free(sc.dl);
    free(sc.f);
    return r;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* FTS5's own ranking: the best `want` rows of MATCH q (bm25() for every
 * matching row), ranked 1.. into a new *out[0..*n). A failing step is
 * CC_INVALID when raw (the query is the caller's FTS5 syntax), else the
 * SQLite error; errors on the KB handle. */
static cc_status fts_ranked(cc_kb *kb, const cc_buf *q, int want, int raw, cr_hit **out,
                            size_t *n)
{
    sqlite3_stmt *st = NULL;
    cr_hit *h = NULL;
    size_t m = 0;
    cc_status s = CC_OK;
    int rc;
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts "
                           "WHERE chunks_fts MATCH ?1 ORDER BY rank LIMIT ?2", -1, &st,
                           NULL) != SQLITE_OK) {
        s = cc_kb_sqlerr(kb, "preparing the BM25 query");
        goto out;
    }
    sqlite3_bind_text(st, 1, q->data, (int)q->len, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, want);
    if (!(h = calloc((size_t)want, sizeof *h))) {
        s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        goto out;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && m < (size_t)want) {
        h[m].chunk_id = sqlite3_column_int64(st, 0);
        h[m].score = h[m].lane_score[CR_LANE_BM25] = sqlite3_column_double(st, 1);
        h[m].rank[CR_LANE_BM25] = (int)m + 1;
        m++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        s = cc_kb_sqlerr(kb, "BM25 search");
        if (raw) s = CC_INVALID;
        goto out;
    }
    *out = h;
    *n = m;
    h = NULL;
out:
    free(h);
    sqlite3_finalize(st);
    return s;
}

/* The fill of a short pruned list ("common terms" above). h[0..*m), *m <
 * k, are every row holding a rarer term of t (those marked common), ranked
 * 1..*m. Appends, up to k rows in all, the rows holding only common terms,
 * best first as the full query ranks them and with its scores: the best
 * k + *m of a MATCH of the common terms alone (the scan, or FTS5's ranking
 * when the scan is unavailable), less the rows already in h. *h is
 * reallocated to k entries. An error leaves *h[0..*m) as it was. */
static cc_status fill_common(cc_kb *kb, sqlite3_stmt **keep, const term *t, size_t nt, int k,
                             cr_hit **h, size_t *m)
{
    term ct[MAX_TERMS];
    cc_buf q = CC_BUF_INIT(0);
    cr_hit *f = NULL, *nh;
    int64_t *ids = NULL;
    size_t nc = 0, nf = 0, have = *m, i, j;
    int want = k + (int)have;
    cc_status s = CC_OK;

    for (i = 0; i < nt; i++) {
        if (!t[i].common) continue;
        if ((nc && cc_buf_puts(&q, " OR ")) || put_phrase(&q, t[i].w, t[i].n)) goto nomem;
        ct[nc++] = t[i];
    }
    if (!nc || have >= (size_t)k) goto out;
    if (bm25_scan(kb, keep, &q, ct, nc, 0, want, &f, &nf, NULL, &s) != SCAN_DONE && !s)
        s = fts_ranked(kb, &q, want, 0, &f, &nf);
    if (s) goto out;
    if (!(nh = realloc(*h, (size_t)k * sizeof *nh))) goto nomem;
    *h = nh;
    if (!(ids = malloc((have ? have : 1) * sizeof *ids))) goto nomem;
    for (i = 0; i < have; i++) ids[i] = nh[i].chunk_id;
    qsort(ids, have, sizeof *ids, cmp_id);
    for (j = 0, i = have; j < nf && i < (size_t)k; j++) {
        if (bsearch(&f[j].chunk_id, ids, have, sizeof *ids, cmp_id)) continue;
        memset(&nh[i], 0, sizeof nh[i]);
        nh[i].chunk_id = f[j].chunk_id;
        nh[i].score = nh[i].lane_score[CR_LANE_BM25] = f[j].score;
        nh[i].rank[CR_LANE_BM25] = (int)i + 1;
        i++;
    }
    *m = i;
    goto out;
nomem:
    s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
out:
    free(f);
    free(ids);
    cc_buf_free(&q);
    return s;
}

/* The pruned search (above) with the scan ranking the pool: when every
 * common word of the query is in the cache, the other words are ranked by
 * one scan (no probes: a scan that completes proves each of them under the
 * threshold, a scan that stops hands the query to bm25_pruned), and the
 * pool's common-term shares are added as bm25_pruned adds them, with the
 * row sizes the scan read. 1: done (or an error in s); 0: use
 * bm25_pruned. */
static int bm25_pruned_scan(cc_kb *kb, sqlite3_stmt **keep, const char *query, int k,
                            cr_hit **hits, size_t *n, cc_status *s)
{
    sqlite3 *db = cc_kb_db(kb);
    term t[MAX_TERMS], rt[MAX_TERMS];
    size_t nt = query_words(query, t, MAX_TERMS), i, m, np = 0, ncommon = 0, nrare = 0;
    int64_t nrow = 0, thr = 0;
    double avgdl = 0;
    cc_buf q = CC_BUF_INIT(0), key = CC_BUF_INIT(0);
    sqlite3_stmt *tx = NULL;
    cr_hit *h = NULL;
    int *dl = NULL, pool, r, done = 0;

    if (nt < 2 || !common_threshold(kb, &nrow, &avgdl, &thr)) return 0;
    for (i = 0; i < nt; i++) {
        int64_t c;
        if (term_ascii(&t[i])) {
            if (common_key(kb, &t[i], &key)) goto nomem;
            if (df_get(key.data, key.len, nrow, &c) && c > thr) {
                t[i].common = 1;
                t[i].df = c;
                ncommon++;
                continue;
            }
        }
        if ((nrare && cc_buf_puts(&q, " OR ")) || put_phrase(&q, t[i].w, t[i].n)) goto nomem;
        rt[nrare++] = t[i];
    }
    if (!ncommon || !nrare) goto out;
    pool = k * 4 > POOL_MIN ? k * 4 : POOL_MIN;
    if (pool > 10000) pool = 10000;
    r = bm25_scan(kb, keep, &q, rt, nrare, 1, pool, &h, &np, &dl, s);
    if (r != SCAN_DONE || (!*s && !np)) goto out;   /* none: bm25_pruned decides */
    done = 1;
    if (*s) goto out;
    if (sqlite3_prepare_v2(db, "SELECT text, section FROM chunks WHERE id = ?1", -1, &tx, NULL)) {
        *s = cc_kb_sqlerr(kb, "preparing the BM25 query");
        goto out;
    }
    for (m = 0; m < np; m++) {
        const char *te = NULL, *se = NULL;
        size_t ten = 0, sen = 0;
        double score = h[m].score, d = (double)dl[m];
        int rc;
        sqlite3_bind_int64(tx, 1, h[m].chunk_id);
        if ((rc = sqlite3_step(tx)) == SQLITE_ROW) {
            te = (const char *)sqlite3_column_text(tx, 0);
            ten = (size_t)sqlite3_column_bytes(tx, 0);
            se = (const char *)sqlite3_column_text(tx, 1);
            sen = (size_t)sqlite3_column_bytes(tx, 1);
        } else if (rc != SQLITE_DONE) {
            *s = cc_kb_sqlerr(kb, "BM25 search");
            goto out;
        }
        score = add_common(score, t, nt, nrow, avgdl, d, te, ten, se, sen);
        sqlite3_reset(tx);
        h[m].score = h[m].lane_score[CR_LANE_BM25] = score;
    }
    qsort(h, np, sizeof *h, cmp_hit);
    if (np > (size_t)k) np = (size_t)k;
    for (m = 0; m < np; m++) h[m].rank[CR_LANE_BM25] = (int)m + 1;
    if (np < (size_t)k && (*s = fill_common(kb, keep, t, nt, k, &h, &np))) goto out;
    *hits = h;
    *n = np;
    h = NULL;
    goto out;
nomem:
    *s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    done = 1;
out:
    sqlite3_finalize(tx);
    free(h);
    free(dl);
    cc_buf_free(&q);
    cc_buf_free(&key);
    return done;
}

/* 1 when a word of the query is in the common-term cache (the pruned
 * search decides for it). */
static int any_cached(cc_kb *kb, const term *t, size_t nt)
{
    const char *dir = cc_kb_dir(kb);
    size_t dl = strlen(dir);
    int hit = 0;
    pthread_mutex_lock(&df_mu);
    for (size_t e = 0; e < df_count && !hit; e++) {
        const char *key = df_cache[e].key;
        if (df_cache[e].klen <= dl || memcmp(key, dir, dl + 1)) continue;
        for (size_t i = 0; i < nt && !hit; i++)
            hit = df_cache[e].klen - dl - 1 == t[i].n &&
                  tok_eq(key + dl + 1, t[i].n, t[i].w, t[i].n);
    }
    pthread_mutex_unlock(&df_mu);
    return hit;
}

cc_status cr_bm25_search(cc_kb *kb, const char *query, int k, int flags,
                         cr_hit **hits, size_t *n)
{
    return cr_bm25_search_keep(kb, query, k, flags, NULL, hits, n);
}

cc_status cr_bm25_search_keep(cc_kb *kb, const char *query, int k, int flags,
                              sqlite3_stmt **keep, cr_hit **hits, size_t *n)
{
    cc_buf q = CC_BUF_INIT(0), err = CC_BUF_INIT(0);
    cc_status s = CC_OK;

    *hits = NULL;
    *n = 0;
    if (k < 1 || k > 10000)
        return cc_kb_seterr(kb, CC_INVALID, "k must be between 1 and 10000 (got %d)", k);
    if (flags & CR_FTS_RAW) {
        if (cc_buf_puts(&q, query ? query : "")) return CC_NOMEM;
    } else if ((s = cr_fts_query(query, &q, &err))) {
        cc_kb_seterr(kb, s, "%s", err.data ? err.data : "bad query");
        goto out;
    } else {
        term t[MAX_TERMS];
        size_t nt = query_words(query, t, MAX_TERMS);
        int scan = nt > 0, r;
        /* the scan, unless a word may be common (then the pruned search) */
        if (scan && !any_cached(kb, t, nt)) {
            if ((r = bm25_scan(kb, keep, &q, t, nt, nt >= 2, k, hits, n, NULL, &s)) == SCAN_DONE)
                goto out;
            scan = r != SCAN_NONE;
        }
        if (scan && bm25_pruned_scan(kb, keep, query, k, hits, n, &s)) goto out;
        if (bm25_pruned(kb, keep, query, k, hits, n, &s)) goto out;
        if (scan && bm25_scan(kb, keep, &q, t, nt, 0, k, hits, n, NULL, &s) == SCAN_DONE) goto out;
    }
    s = fts_ranked(kb, &q, k, (flags & CR_FTS_RAW) != 0, hits, n);
out:
    cc_buf_free(&q);
    cc_buf_free(&err);
    return s;
}
