/* subgraph.c — cg_subgraph_extract: seeds from chunks and the question,
 * a bounded breadth-first expansion over the relations table, triples
 * scored by support, confidence, status, seed distance and personalised
 * PageRank, the best `budget` kept with their provenance. */
#include "graph.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS      4000    /* relation rows read per call (enough for budgets of hundreds) */
#define MAX_WORD_NAMES 500     /* a question word in more names: phrases only */
#define MAX_PER_NODE  500     /* relation rows read per expanded entity */
#define MAX_SEEDS     64
#define MAX_QTOKENS   64
#define PPR_ALPHA     0.15
#define PPR_ITERS     20
#define CACHE_MB      16      /* default graph.subgraph_cache_mb (per connection) */

/* ---------------------------------------------------------------- output strings */

static const char *keep_str(cg_subgraph *g, const char *s)
{
    char *d;
    if (!s) s = "";
    if (g->n_strs_ == g->cap_strs_) {
        size_t cap = g->cap_strs_ ? g->cap_strs_ * 2 : 64;
        char **p = realloc(g->strs_, cap * sizeof *p);
        if (!p) return NULL;
        g->strs_ = p;
        g->cap_strs_ = cap;
    }
    if (!(d = strdup(s))) return NULL;
    g->strs_[g->n_strs_++] = d;
    return d;
}

void cg_subgraph_free(cg_subgraph *g)
{
    size_t i;
    if (!g) return;
    for (i = 0; i < g->n_strs_; i++) free(g->strs_[i]);
    free(g->strs_);
    free(g->seeds);
    free(g->triples);
    free(g->prov_);
    memset(g, 0, sizeof *g);
}

/* ---------------------------------------------------------------- int64 -> index map */

/* Open addressing with linear probing; a key and its value side by side,
 * so a probe touches one cache line. */
typedef struct ient { int64_t key; size_t val; } ient;
typedef struct imap { ient *e; size_t cap, n; } imap;

static size_t hash64(uint64_t x)
{
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33;
    return (size_t)x;
}

/* Resizes the map to cap slots (a power of two, more than twice its
 * entries).  -1: out of memory. */
static int imap_resize(imap *m, size_t cap)
{
    size_t i;
    ient *e = malloc(cap * sizeof *e);
    if (!e) return -1;
    for (i = 0; i < cap; i++) e[i].key = INT64_MIN;
    for (i = 0; i < m->cap; i++)
        if (m->e[i].key != INT64_MIN) {
            size_t j = hash64((uint64_t)m->e[i].key) & (cap - 1);
            while (e[j].key != INT64_MIN) j = (j + 1) & (cap - 1);
            e[j] = m->e[i];
        }
    free(m->e);
    m->e = e;
    m->cap = cap;
    return 0;
}

static int imap_grow(imap *m) { return imap_resize(m, m->cap ? m->cap * 2 : 256); }

/* Inserts key with value val unless present. Returns 1 when inserted, 0
 * when it was there (*val_out = its value, when val_out is given), -1 out
 * of memory: one probe sequence for a lookup and an insert. */
static int imap_add(imap *m, int64_t key, size_t val, size_t *val_out)
{
    size_t j;
    if ((m->n + 1) * 2 > m->cap && imap_grow(m)) return -1;
    j = hash64((uint64_t)key) & (m->cap - 1);
    while (m->e[j].key != INT64_MIN) {
        if (m->e[j].key == key) {
            if (val_out) *val_out = m->e[j].val;
            return 0;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->e[j].key = key;
    m->e[j].val = val;
    m->n++;
    return 1;
}

static void imap_free(imap *m) { free(m->e); }

/* ---------------------------------------------------------------- working state */

typedef struct node {
    int64_t id;
    int dist;
    const char *label, *type;   /* read once for the output (NULL: not yet) */
} node;

typedef struct row {      /* one relations row (what scoring needs) */
    int64_t id, chunk;
    float conf;
    cg_rel_status status;
    size_t triple;
} row;

typedef struct tri {
    size_t s, o;           /* node indices */
    const char *pred;      /* in the output */
    float conf;
    int confirmed, support, hops;
    double weight;         /* tri_weight, once support is known */
    double score;
    size_t first_row, n_rows;   /* after grouping */
} tri;

typedef struct work {
    cc_kb *kb;
    sqlite3 *db;
    cg_subgraph *g;
    node *nodes; size_t n_nodes, cap_nodes;
    imap node_of, seen_rel;
    row *rows; size_t n_rows, cap_rows;
    tri *tris; size_t n_tris, cap_tris;
    /* triple key -> index: open addressing over tris; a slot holds the
     * node indices too, so a probe reads the triple only on a match */
    struct tslot { uint32_t s, o, idx; } *tmap; size_t tmap_cap;
    const char *interned[32]; size_t n_interned;
    /* predicates: one copy each in the output (pred_str), found by hash */
    struct pslot { size_t hash; const char *str; } *preds; size_t pred_cap, n_preds;
    struct adj_cache *cache;    /* the connection's (NULL: read every row through SQLite) */
    int cache_ok;               /* checked against this call's snapshot (cache_validate) */
    const char **cpred; size_t n_cpred;   /* cache predicate index -> pred_str */
} work;

static cc_status nomem(work *w) { return cc_kb_seterr(w->kb, CC_NOMEM, "out of memory"); }

static size_t node_add(work *w, int64_t id, int dist)
{
    size_t i = w->n_nodes;
    int r;
    if (w->n_nodes == w->cap_nodes) {
        size_t cap = w->cap_nodes ? w->cap_nodes * 2 : 64;
        node *p = realloc(w->nodes, cap * sizeof *p);
        if (!p) return SIZE_MAX;
        w->nodes = p;
        w->cap_nodes = cap;
    }
    if ((r = imap_add(&w->node_of, id, w->n_nodes, &i)) <= 0) return r < 0 ? SIZE_MAX : i;
    memset(&w->nodes[i], 0, sizeof w->nodes[i]);
    w->nodes[i].id = id;
    w->nodes[i].dist = dist;
    w->n_nodes++;
    return i;
}

static const char *intern(work *w, const char *s)
{
    size_t i;
    if (!s) s = "";
    for (i = 0; i < w->n_interned; i++)
        if (!strcmp(w->interned[i], s)) return w->interned[i];
    s = keep_str(w->g, s);
    if (s && w->n_interned < 32) w->interned[w->n_interned++] = s;
    return s;
}

static size_t str_hash(const char *s)
{
    size_t h = 1469598103934665603ULL;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

/* The output's copy of predicate p (one per distinct text, so triples
 * compare predicates by pointer); NULL: out of memory. */
static const char *pred_str(work *w, const char *p)
{
    size_t h, j, i;
    if (!p) p = "";
    h = str_hash(p);
    if ((w->n_preds + 1) * 2 > w->pred_cap) {
        size_t cap = w->pred_cap ? w->pred_cap * 2 : 32;
        struct pslot *n = calloc(cap, sizeof *n);
        if (!n) return NULL;
        for (i = 0; i < w->pred_cap; i++)
            if (w->preds[i].str) {
                for (j = w->preds[i].hash & (cap - 1); n[j].str; j = (j + 1) & (cap - 1)) {}
                n[j] = w->preds[i];
            }
        free(w->preds);
        w->preds = n;
        w->pred_cap = cap;
    }
    for (j = h & (w->pred_cap - 1); w->preds[j].str; j = (j + 1) & (w->pred_cap - 1))
        if (w->preds[j].hash == h && !strcmp(w->preds[j].str, p)) return w->preds[j].str;
    if (!(w->preds[j].str = keep_str(w->g, p))) return NULL;
    w->preds[j].hash = h;
    w->n_preds++;
    return w->preds[j].str;
}

static size_t tri_hash(size_t s, size_t o, const char *p)
{
    return hash64(((uint64_t)s << 32 | (uint64_t)o) ^ (uint64_t)(uintptr_t)p);
}

static int tmap_resize(work *w, size_t cap)
{
    size_t i;
    struct tslot *m = malloc(cap * sizeof *m);
    if (!m) return -1;
    for (i = 0; i < cap; i++) m[i].idx = UINT32_MAX;
    for (i = 0; i < w->n_tris; i++) {
        size_t j = tri_hash(w->tris[i].s, w->tris[i].o, w->tris[i].pred) & (cap - 1);
        while (m[j].idx != UINT32_MAX) j = (j + 1) & (cap - 1);
        m[j].s = (uint32_t)w->tris[i].s;
        m[j].o = (uint32_t)w->tris[i].o;
        m[j].idx = (uint32_t)i;
    }
    free(w->tmap);
    w->tmap = m;
    w->tmap_cap = cap;
    return 0;
}

static int tmap_grow(work *w) { return tmap_resize(w, w->tmap_cap ? w->tmap_cap * 2 : 256); }

/* The triple (s, pred, o), added when new; pred is a pred_str.  SIZE_MAX:
 * out of memory. */
static size_t tri_get(work *w, size_t s, size_t o, const char *pred)
{
    size_t j;
    tri *t;
    if ((w->n_tris + 1) * 2 > w->tmap_cap && tmap_grow(w)) return SIZE_MAX;
    j = tri_hash(s, o, pred) & (w->tmap_cap - 1);
    while (w->tmap[j].idx != UINT32_MAX) {
        const struct tslot *x = &w->tmap[j];
        if (x->s == s && x->o == o && w->tris[x->idx].pred == pred) return x->idx;
        j = (j + 1) & (w->tmap_cap - 1);
    }
    if (w->n_tris == w->cap_tris) {
        size_t cap = w->cap_tris ? w->cap_tris * 2 : 64;
        tri *p = realloc(w->tris, cap * sizeof *p);
        if (!p) return SIZE_MAX;
        w->tris = p;
        w->cap_tris = cap;
    }
    t = &w->tris[w->n_tris];
    memset(t, 0, sizeof *t);
    t->s = s;
    t->o = o;
    t->pred = pred;
    t->hops = 1 << 20;
    w->tmap[j].s = (uint32_t)s;
    w->tmap[j].o = (uint32_t)o;
    w->tmap[j].idx = (uint32_t)w->n_tris;
    return w->n_tris++;
}

/* ---------------------------------------------------------------- adjacency cache */

/* The rows the expansion reads for an entity (its first MAX_PER_NODE
 * relations rows as subject, or as object, in the covering index's
 * order), kept per database connection across calls: a server, ask and
 * the bench run many subgraphs over the same hubs, and most of a call's
 * time was SQLite stepping these rows.  A list is replayed exactly as the
 * statement would return it, so the answers are the same bits.  Each
 * question word's count class (question_seeds) is kept the same way.
 *
 * Validity: the cache records the connection's data version
 * (SQLITE_FCNTL_DATA_VERSION: it changes on every commit to the catalog,
 * by this connection or any other, in this process or another) read
 * inside the call's read transaction, and is emptied when it differs.  It
 * is used only when the call opened that transaction itself (no pending
 * writes of the caller's).  It lives as long as the connection: it hangs
 * on a no-op SQL function whose destructor SQLite calls at close (SQLite
 * 3.40 has no client data), found through a registry under a mutex.
 * Size: graph.subgraph_cache_mb (default CACHE_MB, 0: off) of rows; when
 * full it is emptied and refilled. */
typedef struct arow {            /* one relations row, as the expansion reads it */
    int64_t id, other, chunk;    /* other: the end that is not the entity */
    float conf;
    uint32_t pred;               /* predicate index << 1 | confirmed */
} arow;

typedef struct alist { uint32_t off, n; } alist;

typedef struct adj_cache {
    sqlite3 *db;
    unsigned version;
    imap at[2];                  /* entity id -> lists index: as subject, as object */
    alist *lists; size_t n_lists, cap_lists;
    arow *rows; size_t n_rows, cap_rows, max_rows;
    char **preds; size_t n_preds, cap_preds;          /* predicate texts by index */
    struct { size_t hash; uint32_t idx; } *pmap; size_t pmap_cap;   /* idx UINT32_MAX: empty */
    /* question words: how many entity names each is in (a word_df) */
    struct wslot { char *word; size_t hash; int df; } *words; size_t n_words;
} adj_cache;

#define CACHE_WORDS 4096      /* slots of the words' table (half filled at most) */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static adj_cache **reg;
static size_t n_reg, cap_reg;

static void cache_empty(adj_cache *c)
{
    if (c->words) {
        for (size_t i = 0; i < CACHE_WORDS; i++) {
            free(c->words[i].word);
            c->words[i].word = NULL;
        }
        c->n_words = 0;
    }
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < c->at[k].cap; i++) c->at[k].e[i].key = INT64_MIN;
        c->at[k].n = 0;
    }
    c->n_lists = 0;
    c->n_rows = 0;
}

static void cache_free(adj_cache *c)
{
    cache_empty(c);
    free(c->words);
    for (size_t i = 0; i < c->n_preds; i++) free(c->preds[i]);
    free(c->preds);
    free(c->pmap);
    imap_free(&c->at[0]);
    imap_free(&c->at[1]);
    free(c->lists);
    free(c->rows);
    free(c);
}

/* SQLite's destructor of the marker function: the connection closes. */
static void cache_destroy(void *p)
{
    adj_cache *c = p;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < n_reg; i++)
        if (reg[i] == c) {
            reg[i] = reg[--n_reg];
            break;
        }
    pthread_mutex_unlock(&reg_lock);
    cache_free(c);
}

static void cache_marker(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc; (void)argv;
    sqlite3_result_null(ctx);
}

/* The cache of connection db, made on first use; NULL: none (out of
 * memory, or SQLite refused the marker). */
static adj_cache *cache_of(sqlite3 *db, size_t max_rows)
{
    adj_cache *c = NULL;
    size_t i;
    pthread_mutex_lock(&reg_lock);
    for (i = 0; i < n_reg && reg[i]->db != db; i++) {}
    if (i < n_reg) c = reg[i];
    pthread_mutex_unlock(&reg_lock);
    if (c) {
        if (c->max_rows != max_rows) {          /* the setting changed */
            cache_empty(c);
            c->max_rows = max_rows;
        }
        return c;
    }
    if (!(c = calloc(1, sizeof *c))) return NULL;
    c->db = db;
    c->max_rows = max_rows;
    pthread_mutex_lock(&reg_lock);
    if (n_reg == cap_reg) {
        size_t cap = cap_reg ? cap_reg * 2 : 8;
        adj_cache **p = realloc(reg, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&reg_lock);
            free(c);
            return NULL;
        }
        reg = p;
        cap_reg = cap;
    }
    reg[n_reg++] = c;
    pthread_mutex_unlock(&reg_lock);
    /* on failure SQLite calls cache_destroy itself */
    if (sqlite3_create_function_v2(db, "cairn_subgraph_cache", 0, SQLITE_UTF8, c, cache_marker,
                                   NULL, NULL, cache_destroy) != SQLITE_OK)
        return NULL;
    return c;
}

/* The index of predicate p in c (added when new); UINT32_MAX: out of
 * memory or too many. */
static uint32_t cache_pred(adj_cache *c, const char *p)
{
    size_t h, j, i;
    if (!p) p = "";
    h = str_hash(p);
    if ((c->n_preds + 1) * 2 > c->pmap_cap) {
        size_t cap = c->pmap_cap ? c->pmap_cap * 2 : 32;
        void *n = malloc(cap * sizeof *c->pmap);
        if (!n) return UINT32_MAX;
        free(c->pmap);
        c->pmap = n;
        c->pmap_cap = cap;
        for (j = 0; j < cap; j++) c->pmap[j].idx = UINT32_MAX;
        for (i = 0; i < c->n_preds; i++) {
            size_t hi = str_hash(c->preds[i]);
            for (j = hi & (cap - 1); c->pmap[j].idx != UINT32_MAX; j = (j + 1) & (cap - 1)) {}
            c->pmap[j].hash = hi;
            c->pmap[j].idx = (uint32_t)i;
        }
    }
    for (j = h & (c->pmap_cap - 1); c->pmap[j].idx != UINT32_MAX; j = (j + 1) & (c->pmap_cap - 1))
        if (c->pmap[j].hash == h && !strcmp(c->preds[c->pmap[j].idx], p)) return c->pmap[j].idx;
    if (c->n_preds >= (UINT32_MAX >> 1) - 1) return UINT32_MAX;
    if (c->n_preds == c->cap_preds) {
        size_t cap = c->cap_preds ? c->cap_preds * 2 : 32;
        char **q = realloc(c->preds, cap * sizeof *q);
        if (!q) return UINT32_MAX;
        c->preds = q;
        c->cap_preds = cap;
    }
    if (!(c->preds[c->n_preds] = strdup(p))) return UINT32_MAX;
    c->pmap[j].hash = h;
    c->pmap[j].idx = (uint32_t)c->n_preds;
    return (uint32_t)c->n_preds++;
}

/* The cached count class of question word w (n bytes); -1: not cached. */
static int cache_word_get(const adj_cache *c, const char *w, size_t n)
{
    size_t h = 1469598103934665603ULL, j;
    if (!c->words) return -1;
    for (j = 0; j < n; j++) h = (h ^ (unsigned char)w[j]) * 1099511628211ULL;
    for (j = h & (CACHE_WORDS - 1); c->words[j].word; j = (j + 1) & (CACHE_WORDS - 1))
        if (c->words[j].hash == h && !strncmp(c->words[j].word, w, n) && !c->words[j].word[n])
            return c->words[j].df;
    return -1;
}

/* Records word w's count class (nothing when out of memory; the table is
 * emptied when half full). */
static void cache_word_put(adj_cache *c, const char *w, size_t n, int df)
{
    size_t h = 1469598103934665603ULL, j;
    char *d;
    if (!c->words && !(c->words = calloc(CACHE_WORDS, sizeof *c->words))) return;
    if (c->n_words * 2 >= CACHE_WORDS) {
        for (j = 0; j < CACHE_WORDS; j++) {
            free(c->words[j].word);
            c->words[j].word = NULL;
        }
        c->n_words = 0;
    }
    for (j = 0; j < n; j++) h = (h ^ (unsigned char)w[j]) * 1099511628211ULL;
    for (j = h & (CACHE_WORDS - 1); c->words[j].word; j = (j + 1) & (CACHE_WORDS - 1))
        if (c->words[j].hash == h && !strncmp(c->words[j].word, w, n) && !c->words[j].word[n])
            return;
    if (!(d = malloc(n + 1))) return;
    memcpy(d, w, n);
    d[n] = 0;
    c->words[j].word = d;
    c->words[j].hash = h;
    c->words[j].df = df;
    c->n_words++;
}

/* Checks the cache against this call's snapshot, once, after the call's
 * first read (the data version is the snapshot's only then): emptied when
 * the catalog changed since it was filled; not used when the version
 * cannot be read. */
static void cache_validate(work *w)
{
    unsigned v = 0;
    if (!w->cache || w->cache_ok) return;
    if (sqlite3_file_control(w->db, "main", SQLITE_FCNTL_DATA_VERSION, &v) != SQLITE_OK) {
        w->cache = NULL;
        return;
    }
    if (v != w->cache->version) {
        cache_empty(w->cache);
        w->cache->version = v;
    }
    w->cache_ok = 1;
}

/* ---------------------------------------------------------------- seeds */

static cc_status add_seed(work *w, int64_t id, const char *from)
{
    cg_subgraph *g = w->g;
    size_t i;
    for (i = 0; i < g->n_seeds; i++)
        if (g->seeds[i].entity_id == id) return CC_OK;
    if (g->n_seeds >= MAX_SEEDS) return CC_OK;
    if (!g->seeds && !(g->seeds = calloc(MAX_SEEDS, sizeof *g->seeds))) return nomem(w);
    g->seeds[g->n_seeds].entity_id = id;
    g->seeds[g->n_seeds].from = from;
    g->n_seeds++;
    if (node_add(w, id, 0) == SIZE_MAX) return nomem(w);
    return CC_OK;
}

/* 1 when key (a cg_norm_key) occurs in hay (also one) as whole words. */
static int has_words(const char *hay, const char *key)
{
    size_t n = strlen(key);
    const char *p = hay;
    if (!n) return 0;
    while ((p = strstr(p, key))) {
        if ((p == hay || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ')) return 1;
        p++;
    }
    return 0;
}

/* 1 when the raw word w (an all-capitals short form) occurs in s as a word. */
static int has_exact_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    const char *p = s;
    while ((p = strstr(p, word))) {
        int before = p == s || !isalnum((unsigned char)p[-1]);
        int after = !isalnum((unsigned char)p[n]);
        if (before && after) return 1;
        p++;
    }
    return 0;
}

static int all_caps(const char *s, size_t n)
{
    size_t i, letters = 0;
    for (i = 0; i < n; i++) {
        if (islower((unsigned char)s[i])) return 0;
        if (isupper((unsigned char)s[i])) letters++;
    }
    return letters > 0;
}

/* How many entity names a question word is in (FTS5, as a quoted
 * phrase).  WORD_ABSENT_ALONE: in none, and maybe no token at all (only
 * bytes >= 0x80, which unicode61 may all take as separators), so a phrase
 * with a neighbour is still asked for. */
typedef enum { WORD_IN_NAMES, WORD_COMMON, WORD_ABSENT, WORD_ABSENT_ALONE } word_df;

/* 1 when the word has an ASCII letter or digit: at least one FTS5 token. */
static int has_token(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isalnum((unsigned char)s[i])) return 1;
    return 0;
}

static cc_status question_seeds(work *w, const char *q)
{
    cc_buf match = CC_BUF_INIT(1 << 16), qkey = CC_BUF_INIT(0), akey = CC_BUF_INIT(0);
    sqlite3_stmt *st = NULL, *df = NULL;
    const char *p = q, *wb[MAX_QTOKENS];
    size_t wn[MAX_QTOKENS], nw = 0, i;
    word_df wdf[MAX_QTOKENS];
    int ntok = 0;
    cc_status s = CC_OK;

    if (cg_norm_key(q, strlen(q), &qkey, NULL) || !qkey.data) goto done;  /* bad UTF-8: no seeds */
    /* the question's words */
    while (*p && nw < MAX_QTOKENS) {
        const char *b;
        while (*p && !(isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80)) p++;
        b = p;
        while (*p && (isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80)) p++;
        if (p - b < 2) continue;
        wb[nw] = b;
        wn[nw++] = (size_t)(p - b);
    }
    /* a word in more than MAX_WORD_NAMES names ("Systems", "Group") would
     * make the query rank thousands of names: it only counts in a phrase
     * with a neighbour ("Tarimarven Systems"); the others are OR-ed.  A
     * word in no name ("What", "agree") is left out, and so is a phrase
     * with it (when it has a token: an ASCII letter or digit): neither
     * matches a row, so the rows and their bm25 ranks are the same (a
     * phrase without a hit adds exactly 0 to a row's score), and FTS5 does
     * not look its terms up three times (match, sort, idf) */
    if (nw && sqlite3_prepare_v2(w->db, "SELECT count(*) FROM (SELECT 1 FROM entity_names"
                                 " WHERE entity_names MATCH ?1 LIMIT ?2)", -1, &df, NULL)
                  != SQLITE_OK) {
        s = cc_kb_sqlerr(w->kb, "finding entities named in the question");
        goto done;
    }
    for (i = 0; i < nw; i++) {
        int n = 0;
        size_t j;
        for (j = 0; j < i && (wn[j] != wn[i] || memcmp(wb[j], wb[i], wn[i])); j++) {}
        if (j < i) {                      /* the same word again: asked once */
            wdf[i] = wdf[j];
            continue;
        }
        if (w->cache_ok && (n = cache_word_get(w->cache, wb[i], wn[i])) >= 0) {
            wdf[i] = (word_df)n;          /* counted by an earlier call on this snapshot's data */
            continue;
        }
        cc_buf_reset(&akey);
        if (cc_buf_putc(&akey, '"') || cc_buf_append(&akey, wb[i], wn[i]) || cc_buf_putc(&akey, '"')) {
            s = nomem(w);
            goto done;
        }
        sqlite3_bind_text(df, 1, akey.data, (int)akey.len, SQLITE_STATIC);
        sqlite3_bind_int(df, 2, MAX_WORD_NAMES + 1);
        if (sqlite3_step(df) == SQLITE_ROW) n = sqlite3_column_int(df, 0);
        sqlite3_reset(df);
        wdf[i] = n > MAX_WORD_NAMES ? WORD_COMMON : n > 0 ? WORD_IN_NAMES
               : has_token(wb[i], wn[i]) ? WORD_ABSENT : WORD_ABSENT_ALONE;
        cache_validate(w);                /* the statement has read: the snapshot is open */
        if (w->cache_ok) cache_word_put(w->cache, wb[i], wn[i], (int)wdf[i]);
    }
    for (i = 0; i < nw; i++) {
        int common = wdf[i] == WORD_COMMON;
        if (wdf[i] == WORD_ABSENT || wdf[i] == WORD_ABSENT_ALONE) continue;
        for (int side = common ? -1 : 0; side <= (common ? 1 : 0); side += common ? 2 : 1) {
            size_t a = side < 0 ? i - 1 : i, z = side > 0 ? i + 1 : i;
            if ((side < 0 && i == 0) || (side > 0 && i + 1 >= nw)) continue;
            if (wdf[a] == WORD_ABSENT || wdf[z] == WORD_ABSENT) continue;
            if ((ntok++ && cc_buf_puts(&match, " OR ")) || cc_buf_putc(&match, '"')) {
                s = nomem(w);
                goto done;
            }
            for (size_t t = a; t <= z; t++)
                if ((t > a && cc_buf_putc(&match, ' ')) || cc_buf_append(&match, wb[t], wn[t])) {
                    s = nomem(w);
                    goto done;
                }
            if (cc_buf_putc(&match, '"')) { s = nomem(w); goto done; }
        }
    }
    if (!ntok) goto done;
    if (cc_buf_putc(&match, 0)) { s = nomem(w); goto done; }
    if (sqlite3_prepare_v2(w->db,
                           "SELECT n.rowid, n.names, coalesce(e.merged_into, e.id) FROM entity_names n"
                           " JOIN entities e ON e.id = n.rowid"
                           " WHERE entity_names MATCH ?1 ORDER BY rank LIMIT 200",
                           -1, &st, NULL) != SQLITE_OK) {
        s = cc_kb_sqlerr(w->kb, "finding entities named in the question");
        goto done;
    }
    sqlite3_bind_text(st, 1, match.data, -1, SQLITE_STATIC);
    for (;;) {
        int rc = sqlite3_step(st);
        const char *names, *a;
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) {
            s = cc_kb_sqlerr(w->kb, "finding entities named in the question");
            goto done;
        }
        names = (const char *)sqlite3_column_text(st, 1);
        for (a = names; a && *a;) {        /* aliases are " | "-separated */
            const char *e = strstr(a, " | ");
            size_t n = e ? (size_t)(e - a) : strlen(a);
            int hit = 0;
            if (all_caps(a, n) && n <= 12) {     /* short forms: exact case */
                char word[16];
                memcpy(word, a, n);
                word[n] = 0;
                hit = has_exact_word(q, word);
            } else if (!cg_norm_key(a, n, &akey, NULL) && akey.data && akey.len >= 2) {
                hit = has_words(qkey.data, akey.data);
            }
            if (!hit) {      /* a name's first word, capitalised: "Norvale" */
                size_t fw = 0;
                char word[64];
                while (fw < n && a[fw] != ' ') fw++;
                if (fw >= 4 && fw < n && fw < sizeof word && isupper((unsigned char)a[0])) {
                    memcpy(word, a, fw);
                    word[fw] = 0;
                    hit = has_exact_word(q, word);
                }
            }
            if (hit) {
                if ((s = add_seed(w, sqlite3_column_int64(st, 2), "question"))) goto done;
                break;
            }
            a = e ? e + 3 : NULL;
        }
    }
done:
    sqlite3_finalize(st);
    sqlite3_finalize(df);
    cc_buf_free(&match);
    cc_buf_free(&qkey);
    cc_buf_free(&akey);
    return s;
}

static cc_status chunk_seeds(work *w, const int64_t *ids, size_t n)
{
    sqlite3_stmt *st = NULL;
    size_t i;
    cc_status s = CC_OK;
    if (!n) return CC_OK;
    if (sqlite3_prepare_v2(w->db,
                           "SELECT DISTINCT coalesce(e.merged_into, e.id) FROM mentions m"
                           " JOIN entities e ON e.id = m.entity_id WHERE m.chunk_id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return cc_kb_sqlerr(w->kb, "finding the entities of chunks");
    for (i = 0; i < n && !s; i++) {
        int rc;
        sqlite3_bind_int64(st, 1, ids[i]);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            if ((s = add_seed(w, sqlite3_column_int64(st, 0), "chunk"))) break;
        if (!s && rc != SQLITE_DONE && rc != SQLITE_ROW)
            s = cc_kb_sqlerr(w->kb, "finding the entities of chunks");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (!s) cache_validate(w);   /* a statement has read: the snapshot is open */
    return s;
}

/* ---------------------------------------------------------------- expansion */

/* Capacity for n rows, nodes and triples (and their maps).  -1: out of
 * memory. */
static int reserve(work *w, size_t n)
{
    size_t cap = 256;
    void *p;
    while (cap < 2 * n) cap *= 2;
    if ((w->node_of.cap < cap && imap_resize(&w->node_of, cap)) ||
        (w->seen_rel.cap < cap && imap_resize(&w->seen_rel, cap)) ||
        (w->tmap_cap < cap && tmap_resize(w, cap)))
        return -1;
    if (w->cap_rows < n) {
        if (!(p = realloc(w->rows, n * sizeof *w->rows))) return -1;
        w->rows = p;
        w->cap_rows = n;
    }
    if (w->cap_nodes < n) {
        if (!(p = realloc(w->nodes, n * sizeof *w->nodes))) return -1;
        w->nodes = p;
        w->cap_nodes = n;
    }
    if (w->cap_tris < n) {
        if (!(p = realloc(w->tris, n * sizeof *w->tris))) return -1;
        w->tris = p;
        w->cap_tris = n;
    }
    return 0;
}

/* Takes relations row rid, not seen before (read for node i, bound as
 * subject when k is 0, as object when 1, at hop h): its other end a node,
 * its triple found or added.  -1: out of memory. */
static int take_row(work *w, size_t i, int k, int h, int64_t rid, int64_t other,
                    const char *pred, int64_t chunk, float conf, int confirmed)
{
    size_t a, b, t;
    row *r;
    /* the end bound to ?1 is node i itself: not looked up */
    if (!pred ||
        (a = k ? node_add(w, other, h + 1) : i) == SIZE_MAX ||
        (b = k ? i : node_add(w, other, h + 1)) == SIZE_MAX ||
        (t = tri_get(w, a, b, pred)) == SIZE_MAX)
        return -1;
    if (w->n_rows == w->cap_rows) {
        size_t cap = w->cap_rows ? w->cap_rows * 2 : 256;
        row *p = realloc(w->rows, cap * sizeof *p);
        if (!p) return -1;
        w->rows = p;
        w->cap_rows = cap;
    }
    r = &w->rows[w->n_rows++];
    r->id = rid;
    r->chunk = chunk;
    r->conf = conf;
    r->status = confirmed ? CG_REL_CONFIRMED : CG_REL_INFERRED;
    r->triple = t;
    if (h < w->tris[t].hops) w->tris[t].hops = h;
    return 0;
}

/* The cached rows of entity nid in direction k: read through st (bound,
 * stepped to the end: the whole list, at most MAX_PER_NODE rows) when not
 * cached yet.  *out NULL with CC_OK: the cache could not take them (out
 * of memory); the caller reads them through st as without a cache. */
static cc_status cache_list(work *w, sqlite3_stmt *st, int k, int64_t nid, const alist **out)
{
    adj_cache *c = w->cache;
    size_t li = c->n_lists;
    alist *l;
    int rc, r;
    *out = NULL;
    if ((r = imap_add(&c->at[k], nid, li, &li)) < 0) return CC_OK;
    if (!r) {
        *out = &c->lists[li];
        return CC_OK;
    }
    /* room for a whole list, or the cache starts over */
    if (c->n_rows + MAX_PER_NODE > c->max_rows || c->n_lists >= UINT32_MAX) {
        cache_empty(c);
        li = 0;
        if (imap_add(&c->at[k], nid, li, NULL) < 0) return CC_OK;
    }
    if (c->n_rows + MAX_PER_NODE > c->cap_rows) {
        size_t cap = c->cap_rows ? c->cap_rows * 2 : 4096;
        arow *p;
        while (cap < c->n_rows + MAX_PER_NODE) cap *= 2;
        if (cap > c->max_rows) cap = c->max_rows;
        if (!(p = realloc(c->rows, cap * sizeof *p))) goto nomem;
        c->rows = p;
        c->cap_rows = cap;
    }
    if (c->n_lists == c->cap_lists) {
        size_t cap = c->cap_lists ? c->cap_lists * 2 : 1024;
        alist *p = realloc(c->lists, cap * sizeof *p);
        if (!p) goto nomem;
        c->lists = p;
        c->cap_lists = cap;
    }
    l = &c->lists[c->n_lists++];
    l->off = (uint32_t)c->n_rows;
    l->n = 0;
    sqlite3_bind_int64(st, 1, nid);
    sqlite3_bind_int(st, 2, MAX_PER_NODE);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        arow *a = &c->rows[c->n_rows];
        uint32_t pi = cache_pred(c, (const char *)sqlite3_column_text(st, 2));
        if (pi == UINT32_MAX) {
            sqlite3_reset(st);
            goto nomem;
        }
        a->id = sqlite3_column_int64(st, 0);
        a->other = sqlite3_column_int64(st, 1);
        a->chunk = sqlite3_column_int64(st, 3);
        a->conf = (float)sqlite3_column_double(st, 4);
        a->pred = pi << 1 | !strcmp((const char *)sqlite3_column_text(st, 5), "confirmed");
        c->n_rows++;
        l->n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        cache_empty(c);
        return cc_kb_sqlerr(w->kb, "reading relations");
    }
    *out = l;
    return CC_OK;
nomem:
    cache_empty(c);      /* consistent again; this call reads without it */
    w->cache = NULL;
    return CC_OK;
}

/* The output's predicate for the cache's predicate index pi. */
static const char *cached_pred(work *w, uint32_t pi)
{
    if (pi >= w->n_cpred) {
        size_t cap = w->n_cpred ? w->n_cpred : 32;
        const char **p;
        while (cap <= pi) cap *= 2;
        if (!(p = realloc(w->cpred, cap * sizeof *p))) return NULL;
        memset(p + w->n_cpred, 0, (cap - w->n_cpred) * sizeof *p);
        w->cpred = p;
        w->n_cpred = cap;
    }
    if (!w->cpred[pi]) w->cpred[pi] = pred_str(w, w->cache->preds[pi]);
    return w->cpred[pi];
}

static cc_status expand(work *w, int hops)
{
    static const char *const sql[2] = {
        /* read from the covering indexes relations_subject / _object; the
         * rest of a row is read for the triples kept (build_output).  The
         * end bound to ?1 is not read: it is the entity expanded */
        "SELECT id, object_id, predicate, chunk_id, confidence, status"
        " FROM relations WHERE subject_id = ?1 LIMIT ?2",
        "SELECT id, subject_id, predicate, chunk_id, confidence, status"
        " FROM relations WHERE object_id = ?1 LIMIT ?2",
    };
    sqlite3_stmt *st[2] = {NULL, NULL};
    cc_status s = CC_OK;
    size_t i, lo = 0, hi;
    int h, k;

    /* room for what a full read usually needs (MAX_ROWS rows, about as
     * many nodes and triples): no regrowing and rehashing on the way */
    if (reserve(w, MAX_ROWS + 2)) { s = nomem(w); goto done; }
    for (k = 0; k < 2; k++)
        if (sqlite3_prepare_v2(w->db, sql[k], -1, &st[k], NULL) != SQLITE_OK) {
            s = cc_kb_sqlerr(w->kb, "reading relations");
            goto done;
        }
    for (h = 0; h < hops && w->n_rows < MAX_ROWS; h++) {
        hi = w->n_nodes;     /* nodes [lo, hi) are at distance h */
        for (i = lo; i < hi && w->n_rows < MAX_ROWS; i++) {
            int64_t nid = w->nodes[i].id;
            for (k = 0; k < 2; k++) {
                const alist *l = NULL;
                int rc, r;
                if (w->cache && (s = cache_list(w, st[k], k, nid, &l))) goto done;
                if (l) {             /* the same rows, in the same order, from the cache */
                    const arow *a = w->cache->rows + l->off, *end = a + l->n;
                    for (; a < end; a++) {
                        if (!(r = imap_add(&w->seen_rel, a->id, 0, NULL))) continue;   /* seen */
                        if (r < 0 || take_row(w, i, k, h, a->id, a->other,
                                              cached_pred(w, a->pred >> 1), a->chunk, a->conf,
                                              (int)(a->pred & 1))) {
                            s = nomem(w);
                            goto done;
                        }
                        if (w->n_rows >= MAX_ROWS) break;
                    }
                    continue;
                }
                sqlite3_bind_int64(st[k], 1, nid);
                sqlite3_bind_int(st[k], 2, MAX_PER_NODE);
                while ((rc = sqlite3_step(st[k])) == SQLITE_ROW) {
                    int64_t rid = sqlite3_column_int64(st[k], 0);
                    if (!(r = imap_add(&w->seen_rel, rid, 0, NULL))) continue;     /* seen */
                    if (r < 0 ||
                        take_row(w, i, k, h, rid, sqlite3_column_int64(st[k], 1),
                                 pred_str(w, (const char *)sqlite3_column_text(st[k], 2)),
                                 sqlite3_column_int64(st[k], 3),
                                 (float)sqlite3_column_double(st[k], 4),
                                 !strcmp((const char *)sqlite3_column_text(st[k], 5), "confirmed"))) {
                        s = nomem(w);
                        goto done;
                    }
                    if (w->n_rows >= MAX_ROWS) break;
                }
                if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
                    s = cc_kb_sqlerr(w->kb, "reading relations");
                    goto done;
                }
                sqlite3_reset(st[k]);
            }
        }
        lo = hi;
    }
done:
    sqlite3_finalize(st[0]);
    sqlite3_finalize(st[1]);
    return s;
}

/* ---------------------------------------------------------------- scoring */

static int by_triple(const void *a, const void *b)
{
    const row *x = a, *y = b;
    if (x->triple != y->triple) return x->triple < y->triple ? -1 : 1;
    if (x->chunk != y->chunk) return x->chunk < y->chunk ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int by_chunk(const row *x, const row *y)
{
    if (x->chunk != y->chunk) return x->chunk < y->chunk ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The rows in by_triple order: a counting sort on the triple index, then
 * each triple's rows by chunk and id (insertion sort for the usual few,
 * qsort for many); the order qsort with by_triple gives, in linear time
 * and without its copying.  -1: out of memory. */
static int sort_rows(work *w)
{
    size_t i, n = w->n_rows, nt = w->n_tris, *at = calloc(nt + 1, sizeof *at);
    row *out = malloc((n ? n : 1) * sizeof *out);
    if (!at || !out) { free(at); free(out); return -1; }
    for (i = 0; i < n; i++) at[w->rows[i].triple + 1]++;
    for (i = 0; i < nt; i++) at[i + 1] += at[i];
    for (i = 0; i < n; i++) out[at[w->rows[i].triple]++] = w->rows[i];
    for (i = 0; i < n;) {            /* at[t] is now the end of triple t's run */
        size_t end = at[out[i].triple], j, k;
        if (end - i > 32) qsort(out + i, end - i, sizeof *out, by_triple);
        else
            for (j = i + 1; j < end; j++) {
                row r = out[j];
                for (k = j; k > i && by_chunk(&r, &out[k - 1]) < 0; k--) out[k] = out[k - 1];
                out[k] = r;
            }
        i = end;
    }
    free(w->rows);
    w->rows = out;
    w->cap_rows = n ? n : 1;
    free(at);
    return 0;
}

/* Sorts the rows by triple, then chunk (sort_rows); counts each triple's
 * support (distinct chunks), best confidence and status.  -1: out of
 * memory. */
static int aggregate(work *w)
{
    size_t i;
    if (sort_rows(w)) return -1;
    for (i = 0; i < w->n_rows; i++) {
        const row *r = &w->rows[i];
        tri *t = &w->tris[r->triple];
        if (!t->n_rows) t->first_row = i;
        if (!t->n_rows || r->chunk != w->rows[i - 1].chunk) t->support++;
        if (r->conf > t->conf) t->conf = r->conf;
        if (r->status == CG_REL_CONFIRMED) t->confirmed = 1;
        t->n_rows++;
    }
    return 0;
}

static double tri_weight(const tri *t)
{
    return (t->confirmed ? 1.0 : 0.3) * (0.2 + t->conf) * (1.0 + log((double)t->support));
}

/* Personalised PageRank from the seeds over the expanded graph (edges
 * undirected, weighted by tri_weight).  The iterations run over compact
 * arrays (an edge is 16 bytes, a node's rank, next rank and weighted degree
 * are three arrays) instead of the 80-byte triples and 56-byte nodes: the
 * same operations in the same order, so the same bits.  -1: out of memory. */
typedef struct edge { uint32_t s, o; double x; } edge;

static int pagerank(work *w, size_t n_seeds)
{
    size_t i, it, nn = w->n_nodes, ne = w->n_tris, n_dead = 0, n_src = 0;
    double *ppr = malloc((nn ? nn : 1) * sizeof *ppr), *next = calloc(nn ? nn : 1, sizeof *next),
           *wdeg = calloc(nn ? nn : 1, sizeof *wdeg), restart = 1.0 / n_seeds;
    /* the nodes without edges (their rank is spread over the seeds) and
     * the seeds (dist 0), each in node order */
    size_t *dead = malloc((nn ? nn : 1) * sizeof *dead), *src = malloc((nn ? nn : 1) * sizeof *src);
    edge *e = malloc((ne ? ne : 1) * sizeof *e);
    if (!ppr || !next || !wdeg || !e || !dead || !src) {
        free(ppr); free(next); free(wdeg); free(e); free(dead); free(src);
        return -1;
    }
    for (i = 0; i < ne; i++) {
        double x = w->tris[i].weight = tri_weight(&w->tris[i]);   /* one log() per triple */
        e[i].s = (uint32_t)w->tris[i].s;
        e[i].o = (uint32_t)w->tris[i].o;
        e[i].x = x;
        wdeg[e[i].s] += x;
        wdeg[e[i].o] += x;
    }
    for (i = 0; i < nn; i++) {
        ppr[i] = w->nodes[i].dist == 0 ? restart : 0;
        if (w->nodes[i].dist == 0) src[n_src++] = i;
        if (wdeg[i] == 0) dead[n_dead++] = i;
    }
    /* each pass is the textbook one, in the same order of operations (so
     * the same bits): the restart term is 0 for a node that is not a seed
     * and adding 0 changes no rank, so it is added to the seeds only */
    for (it = 0; it < PPR_ITERS; it++) {
        double dangling = 0, teleport;
        for (i = 0; i < n_dead; i++) dangling += ppr[dead[i]];
        for (i = 0; i < ne; i++) {                /* next is all 0 here */
            uint32_t a = e[i].s, b = e[i].o;
            double x = e[i].x;
            next[b] += ppr[a] * x / wdeg[a];
            next[a] += ppr[b] * x / wdeg[b];
        }
        teleport = (PPR_ALPHA + (1 - PPR_ALPHA) * dangling) * restart;
        for (i = 0; i < nn; i++) {
            ppr[i] = (1 - PPR_ALPHA) * next[i];
            next[i] = 0;
        }
        for (i = 0; i < n_src; i++) ppr[src[i]] = ppr[src[i]] + teleport;
    }
    for (i = 0; i < ne; i++) {
        tri *t = &w->tris[i];
        double pr = (ppr[t->s] + ppr[t->o]) * (double)nn / 2;
        t->score = t->weight / (1.0 + t->hops) * (1.0 + pr);
    }
    free(ppr); free(next); free(wdeg); free(e); free(dead); free(src);
    return 0;
}

/* Best first: score, then support, then the order found (which is what
 * the stable sort this replaces kept for ties). */
static int tri_before(const tri *x, const tri *y)
{
    if (x->score != y->score) return x->score > y->score;
    if (x->support != y->support) return x->support > y->support;
    return x < y;
}

static int by_score(const void *a, const void *b)
{
    const tri *x = *(tri *const *)a, *y = *(tri *const *)b;
    return x == y ? 0 : tri_before(x, y) ? -1 : 1;
}

/* The k best of order[0..n) (a total order: tri_before), best first, in
 * order[0..k): a heap of the k best seen so far, worst on top, then a
 * sort of those k; n log k instead of sorting all n. */
static void top_k(tri **order, size_t n, size_t k)
{
    size_t i, j, c;
    if (k >= n / 2) { qsort(order, n, sizeof *order, by_score); return; }
    for (i = 1; i < k; i++)                    /* heapify order[0..k): worst on top */
        for (j = i; j && tri_before(order[(j - 1) / 2], order[j]); j = (j - 1) / 2) {
            tri *t = order[j]; order[j] = order[(j - 1) / 2]; order[(j - 1) / 2] = t;
        }
    for (i = k; i < n; i++) {
        if (!tri_before(order[i], order[0])) continue;
        order[0] = order[i];
        for (j = 0; (c = 2 * j + 1) < k; j = c) {
            if (c + 1 < k && tri_before(order[c], order[c + 1])) c++;
            if (!tri_before(order[j], order[c])) break;
            tri *t = order[j]; order[j] = order[c]; order[c] = t;
        }
    }
    qsort(order, k, sizeof *order, by_score);
}

/* ---------------------------------------------------------------- output */

static cc_status build_output(work *w, int budget)
{
    cg_subgraph *g = w->g;
    tri **order = NULL;
    sqlite3_stmt *ent = NULL, *doc = NULL, *chk = NULL;
    imap cmap = {0};                                   /* chunk id -> cinfo index */
    struct { int64_t doc_id; const char *uri; } *cinfo = NULL;   /* uri NULL: no such chunk */
    size_t n_cinfo = 0, cap_cinfo = 0;
    size_t i, j, n_keep, n_prov = 0;
    cc_status s = CC_OK;

    if (!w->n_tris) goto labels;
    if (!(order = malloc(w->n_tris * sizeof *order))) { s = nomem(w); goto done; }
    for (i = 0; i < w->n_tris; i++) order[i] = &w->tris[i];
    n_keep = w->n_tris < (size_t)budget ? w->n_tris : (size_t)budget;
    top_k(order, w->n_tris, n_keep);
    for (i = 0; i < n_keep; i++) n_prov += order[i]->n_rows;
    if (!(g->triples = calloc(n_keep, sizeof *g->triples)) ||
        !(g->prov_ = calloc(n_prov ? n_prov : 1, sizeof *g->prov_)))
        { s = nomem(w); goto done; }
    if (sqlite3_prepare_v2(w->db, "SELECT label, type FROM entities WHERE id = ?1", -1, &ent,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(w->db, "SELECT start_char, end_char, pattern, extractor FROM relations"
                                  " WHERE id = ?1", -1, &doc, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(w->db, "SELECT c.doc_id, d.uri FROM chunks c JOIN documents d"
                                  " ON d.id = c.doc_id WHERE c.id = ?1", -1, &chk, NULL) != SQLITE_OK) {
        s = cc_kb_sqlerr(w->kb, "reading the subgraph");
        goto done;
    }
    n_prov = 0;
    for (i = 0; i < n_keep; i++) {
        const tri *t = order[i];
        cg_triple *o = &g->triples[i];
        size_t k;
        const char **lab[2] = {&o->subject, &o->object}, **typ[2] = {&o->subject_type, &o->object_type};
        int64_t ids[2] = {w->nodes[t->s].id, w->nodes[t->o].id};
        o->subject_id = ids[0];
        o->object_id = ids[1];
        o->predicate = t->pred;
        o->status = t->confirmed ? CG_REL_CONFIRMED : CG_REL_INFERRED;
        o->confidence = t->conf;
        o->support = t->support;
        o->hops = t->hops;
        o->score = t->score;
        for (k = 0; k < 2; k++) {
            node *nd = &w->nodes[k ? t->o : t->s];   /* hubs recur: read each node once */
            if (!nd->label) {
                sqlite3_bind_int64(ent, 1, ids[k]);
                if (sqlite3_step(ent) == SQLITE_ROW) {
                    nd->label = keep_str(g, (const char *)sqlite3_column_text(ent, 0));
                    nd->type = keep_str(g, (const char *)sqlite3_column_text(ent, 1));
                } else {
                    nd->label = keep_str(g, "");
                    nd->type = keep_str(g, "other");
                }
                sqlite3_reset(ent);
                if (!nd->label || !nd->type) { s = nomem(w); goto done; }
            }
            *lab[k] = nd->label;
            *typ[k] = nd->type;
        }
        o->prov = &g->prov_[n_prov];
        for (j = t->first_row; j < t->first_row + t->n_rows; j++) {
            const row *r = &w->rows[j];
            cg_prov *p = &g->prov_[n_prov++];
            p->relation_id = r->id;
            p->chunk_id = r->chunk;
            p->confidence = r->conf;
            p->status = r->status;
            /* the chunk's document: read once per chunk (a chunk's
             * relations are often kept together) */
            size_t ci = n_cinfo;
            int added = imap_add(&cmap, r->chunk, n_cinfo, &ci);
            if (added < 0) { s = nomem(w); goto done; }
            if (added) {
                if (n_cinfo == cap_cinfo) {
                    size_t cap = cap_cinfo ? cap_cinfo * 2 : 64;
                    void *q = realloc(cinfo, cap * sizeof *cinfo);
                    if (!q) { s = nomem(w); goto done; }
                    cinfo = q;
                    cap_cinfo = cap;
                }
                sqlite3_bind_int64(chk, 1, r->chunk);
                cinfo[ci].uri = NULL;
                if (sqlite3_step(chk) == SQLITE_ROW) {
                    cinfo[ci].doc_id = sqlite3_column_int64(chk, 0);
                    if (!(cinfo[ci].uri = keep_str(g, (const char *)sqlite3_column_text(chk, 1))))
                        { s = nomem(w); goto done; }
                }
                sqlite3_reset(chk);
                n_cinfo++;
            }
            sqlite3_bind_int64(doc, 1, r->id);
            if (cinfo[ci].uri && sqlite3_step(doc) == SQLITE_ROW) {
                p->doc_id = cinfo[ci].doc_id;
                p->doc_uri = cinfo[ci].uri;
                p->start_char = sqlite3_column_int64(doc, 0);
                p->end_char = sqlite3_column_int64(doc, 1);
                p->pattern = intern(w, (const char *)sqlite3_column_text(doc, 2));
                p->extractor = intern(w, (const char *)sqlite3_column_text(doc, 3));
            } else {
                p->doc_uri = keep_str(g, "");
                p->pattern = intern(w, "");
                p->extractor = intern(w, "");
            }
            sqlite3_reset(doc);
            if (!p->doc_uri || !p->pattern || !p->extractor) { s = nomem(w); goto done; }
            o->n_prov++;
        }
        g->n_triples++;
    }
labels:
    if (!ent && sqlite3_prepare_v2(w->db, "SELECT label, type FROM entities WHERE id = ?1", -1,
                                   &ent, NULL) != SQLITE_OK) {
        s = cc_kb_sqlerr(w->kb, "reading the subgraph");
        goto done;
    }
    for (i = 0; i < g->n_seeds; i++) {
        /* seed i is node i (seeds are added first, each once): its label
         * was read already when it is an end of a kept triple */
        if (i < w->n_nodes && w->nodes[i].id == g->seeds[i].entity_id && w->nodes[i].label) {
            g->seeds[i].label = w->nodes[i].label;
            continue;
        }
        sqlite3_bind_int64(ent, 1, g->seeds[i].entity_id);
        g->seeds[i].label = keep_str(g, sqlite3_step(ent) == SQLITE_ROW
                                            ? (const char *)sqlite3_column_text(ent, 0) : "");
        sqlite3_reset(ent);
        if (!g->seeds[i].label) { s = nomem(w); goto done; }
    }
done:
    sqlite3_finalize(ent);
    sqlite3_finalize(doc);
    sqlite3_finalize(chk);
    imap_free(&cmap);
    free(cinfo);
    free(order);
    return s;
}

/* The expansion reads a few thousand index rows at random places: read
 * through the page cache (2 MB on a reader connection) a quarter of its
 * time went to pread copying pages.  The catalog is memory-mapped for
 * reading instead (up to SUBGRAPH_MMAP bytes; SQLite still writes with
 * write() and reads the WAL with read()), from the first subgraph on, for
 * the connection's life, unless the connection already maps it; failure
 * is ignored (the reads then go through pread as before). */
#define SUBGRAPH_MMAP ((sqlite3_int64)1 << 30)

static void map_catalog(sqlite3 *db)
{
    sqlite3_int64 cur = -1;
    char pragma[48];
    /* the file's current limit: a cheap check, so the pragma runs once */
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_MMAP_SIZE, &cur) != SQLITE_OK || cur > 0)
        return;
    snprintf(pragma, sizeof pragma, "PRAGMA mmap_size = %lld", (long long)SUBGRAPH_MMAP);
    (void)sqlite3_exec(db, pragma, NULL, NULL, NULL);
}

cc_status cg_subgraph_extract(cc_kb *kb, const char *question, const int64_t *chunk_ids,
                              size_t n_chunks, const cg_subgraph_opts *o, cg_subgraph *out)
{
    work w;
    int64_t hops = o ? o->hops : 0, budget = o ? o->budget : 0, cache_mb = 0;
    int own_txn = 0;
    cc_status s;

    memset(out, 0, sizeof *out);
    memset(&w, 0, sizeof w);
    w.kb = kb;
    w.db = cc_kb_db(kb);
    w.g = out;
    if (hops <= 0 && (s = cc_kb_setting_i64(kb, "graph.hops", 2, &hops))) return s;
    if (budget <= 0 && (s = cc_kb_setting_i64(kb, "graph.budget", 60, &budget))) return s;
    if (hops < 1 || hops > 4) return cc_kb_seterr(kb, CC_INVALID, "hops must be in 1..4");
    if (budget < 1 || budget > 10000)
        return cc_kb_seterr(kb, CC_INVALID, "budget must be in 1..10000");
    if ((s = cc_kb_setting_i64(kb, "graph.subgraph_cache_mb", CACHE_MB, &cache_mb))) return s;
    if (cache_mb < 0 || cache_mb > 65536)
        return cc_kb_seterr(kb, CC_INVALID, "setting graph.subgraph_cache_mb in cairn.json must be"
                            " in 0..65536 (MB per connection; 0: no cache)");

    /* one read transaction: one snapshot, and no lock taken per statement */
    if (sqlite3_get_autocommit(w.db)) {
        map_catalog(w.db);
        if (sqlite3_exec(w.db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK) own_txn = 1;
    }
    /* the connection's cache, when this call holds its own snapshot (no
     * pending writes of the caller's); checked after the first read */
    if (own_txn && cache_mb > 0)
        w.cache = cache_of(w.db, (size_t)cache_mb * (1u << 20) / sizeof(arow));
    if ((s = chunk_seeds(&w, chunk_ids, chunk_ids ? n_chunks : 0))) goto done;
    if (question && *question && (s = question_seeds(&w, question))) goto done;
    if (out->n_seeds) {
        cache_validate(&w);      /* the seeds were read: the snapshot is open */
        if ((s = expand(&w, (int)hops))) goto done;
        if (aggregate(&w)) { s = nomem(&w); goto done; }
        if (pagerank(&w, out->n_seeds)) { s = nomem(&w); goto done; }
    }
    s = build_output(&w, (int)budget);
done:
    if (own_txn) sqlite3_exec(w.db, "COMMIT", NULL, NULL, NULL);
    if (s) cg_subgraph_free(out);
    imap_free(&w.node_of);
    imap_free(&w.seen_rel);
    free(w.nodes);
    free(w.rows);
    free(w.tris);
    free(w.tmap);
    free(w.preds);
    free(w.cpred);
    return s;
}
