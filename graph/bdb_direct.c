/* bdb_direct.c — writing (triple, context) pairs into a Redland "hashes"
 * store on Berkeley DB in batches sorted by key, through librdf's own
 * handles.
 *
 * librdf's context_add_statement puts five records per pair, one per file,
 * each a B-tree insert at a random position (the keys are encoded nodes):
 *   sp2o      key: subject, predicate        value: object, context
 *   po2s      key: predicate, object         value: subject, context
 *   so2p      key: subject, object           value: predicate, context
 *   p2so      key: predicate                 value: subject, object, context
 *   contexts  key: context                   value: subject, predicate, object
 * (librdf_statement_encode_parts2 / librdf_node_encode /
 * librdf_statement_encode2: the bytes are librdf's own.)  Once the B-trees
 * outgrow the page cache every such insert reads and writes pages.  Here
 * the same records are queued in memory and, at cg_bdb_batch_write, sorted
 * by key (Berkeley DB's default order: bytes, then length) and put, each
 * file by one thread (the five at once, up to one thread per CPU; or in
 * the background: cg_bdb_batch_start), so consecutive puts land on the
 * same leaf pages (equal keys are
 * grouped through a hash table and only the distinct keys sorted; a key's
 * further values go in with DB_AFTER on the cursor, without a search).
 * The files are
 * opened by librdf (cg_store_open_storage) with DB_DUP (unsorted
 * duplicates): a put appends to the key's values exactly as librdf's
 * does; the order of a key's values is the only difference, and nothing
 * reads it as meaningful (tests/test_graph_bdb_direct.c compares the files
 * record by record with librdf's).
 *
 * The DB handles are librdf's (found through bdb_cache.c's db_create):
 * same handle, same cache, so librdf sees the records at once; the batch
 * is written before librdf reads or removes anything (rdf.c).
 * CAIRN_GRAPH_WRITER=librdf in the environment turns this off (every pair
 * through librdf, as before: for comparisons). */
#define _GNU_SOURCE          /* qsort_r */
#include "graph_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef CAIRN_HAVE_DB_H
#include <db.h>
#endif

enum { F_SP2O, F_PO2S, F_SO2P, F_P2SO, F_CONTEXTS, N_DIRECT };

static const char *const file_suffix[N_DIRECT] = {
    "/cairn-sp2o.db", "/cairn-po2s.db", "/cairn-so2p.db", "/cairn-p2so.db", "/cairn-contexts.db"
};

/* In the put order (put_order): the record has the previous one's key.
 * A file's batch therefore holds fewer than 2^31 records. */
#define SAME_KEY 0x80000000u

typedef struct rec {
    size_t   off;            /* into the arena: key bytes, then value bytes */
    uint32_t klen, vlen;
} rec;

/* One write of a batch by its threads (put_worker). */
typedef struct put_job {
    struct cg_bdb_batch *b;
    atomic_uint   next;             /* index into claim_order */
    int           rc[N_DIRECT];     /* by file: 0 or the put's error */
} put_job;

struct cg_bdb_batch {
    cg_store *st;
    void     *db[N_DIRECT];  /* DB * (librdf's) */
    char     *mem;           /* arena of encoded keys and values */
    size_t    len, cap;
    rec      *r[N_DIRECT];
    size_t    n[N_DIRECT], ncap[N_DIRECT];
    unsigned char *enc;      /* scratch: one pair's four node encodings */
    size_t    enc_cap;
    unsigned  threads;       /* that put the files at once (put_worker) */
    put_job   job;           /* the write under way or last made */
    pthread_t th[N_DIRECT];  /* its threads */
    unsigned  nth;
    int       started;       /* cg_bdb_batch_start without cg_bdb_batch_wait yet */
};

/* The batch's arena and record arrays live in anonymous mappings advised
 * for transparent huge pages and grown by mremap (no copy).  A sync of
 * 7.5 MB of text queues ~100 MB of records, each written once: from
 * malloc, every 4 KB page cost a page fault on first touch (~10 us here,
 * about a third of the faults of a `cairn ingest` with the store), and a
 * realloc copied the array each time it doubled.  Where huge pages are
 * off the advice does nothing and the pages fault as before (map_grow). */
static void map_free(void *p, size_t n)
{
    if (p) munmap(p, n);
}

size_t cg_bdb_batch_bytes(const cg_bdb_batch *b)
{
    size_t i, n = b ? b->len : 0;
    for (i = 0; b && i < N_DIRECT; i++) n += b->n[i] * sizeof(rec);
    return n;
}

void cg_bdb_batch_free(cg_bdb_batch *b)
{
    int i;
    if (!b) return;
    if (b->started) (void)cg_bdb_batch_wait(b);   /* its threads read the batch */
    for (i = 0; i < N_DIRECT; i++) map_free(b->r[i], b->ncap[i] * sizeof(rec));
    map_free(b->mem, b->cap);
    free(b->enc);
    free(b);
}

#ifndef CAIRN_HAVE_DB_H

cc_status cg_bdb_batch_new(cg_store *st, cg_bdb_batch **out) { (void)st; *out = NULL; return CC_NOTFOUND; }
cc_status cg_bdb_batch_add(cg_bdb_batch *b, librdf_statement *stmt, librdf_node *ctx)
{ (void)b; (void)stmt; (void)ctx; return CC_INVALID; }
cc_status cg_bdb_batch_write(cg_bdb_batch *b) { (void)b; return CC_OK; }
void cg_bdb_batch_set_threads(cg_bdb_batch *b, unsigned n) { (void)b; (void)n; }
void cg_bdb_batch_start(cg_bdb_batch *b) { (void)b; }
int cg_bdb_batch_started(const cg_bdb_batch *b) { (void)b; return 0; }
cc_status cg_bdb_batch_wait(cg_bdb_batch *b) { (void)b; return CC_OK; }

#else

/* The threads a batch write uses: CAIRN_GRAPH_WRITER_THREADS (1-5: for
 * comparisons and tests), else one per online CPU, at most one per file. */
static unsigned default_threads(void)
{
    const char *env = getenv("CAIRN_GRAPH_WRITER_THREADS");
    int64_t v;
    long n;
    if (env && *env && !cc_parse_i64(env, 1, N_DIRECT, &v)) return (unsigned)v;
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > N_DIRECT ? N_DIRECT : (unsigned)n;
}

cc_status cg_bdb_batch_new(cg_store *st, cg_bdb_batch **out)
{
    const char *env = getenv("CAIRN_GRAPH_WRITER");
    cg_bdb_batch *b;
    unsigned i;
    int f, found = 0;
    *out = NULL;
    if (env && !strcmp(env, "librdf")) return CC_NOTFOUND;
    if (!(b = calloc(1, sizeof *b))) return CC_NOMEM;
    b->st = st;
    b->threads = default_threads();
    /* the handles librdf just opened for this store, by their file names */
    for (i = 0; cg_bdb_handle(i); i++) {
        DB *db = cg_bdb_handle(i);
        const char *fname = NULL, *dname = NULL;
        size_t fl;
        if (db->get_dbname(db, &fname, &dname) || !fname) continue;
        fl = strlen(fname);
        for (f = 0; f < N_DIRECT; f++) {
            size_t sl = strlen(file_suffix[f]);
            if (fl >= sl && !strcmp(fname + fl - sl, file_suffix[f]) && !b->db[f]) {
                b->db[f] = db;
                found++;
            }
        }
    }
    if (found != N_DIRECT) {
        free(b);
        return CC_NOTFOUND;
    }
    *out = b;
    return CC_OK;
}

/* Grows the mapping p of old bytes (NULL: none yet) to n; NULL on failure
 * (p is then unchanged). */
static void *map_grow(void *p, size_t old, size_t n)
{
    void *m = p ? mremap(p, old, n, MREMAP_MAYMOVE)
                : mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(m, n, MADV_HUGEPAGE);
#endif
    return m;
}

/* Reserves n bytes at the end of the arena; their offset into *off. */
static cc_status reserve(cg_bdb_batch *b, size_t n, size_t *off)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : (size_t)2 << 20;
        char *m;
        while (cap - b->len < n) cap *= 2;
        if (!(m = map_grow(b->mem, b->cap, cap))) return CC_NOMEM;
        b->mem = m;
        b->cap = cap;
    }
    *off = b->len;
    b->len += n;
    return CC_OK;
}

static cc_status push(cg_bdb_batch *b, int f, size_t off, size_t klen, size_t vlen)
{
    if (b->n[f] >= SAME_KEY - 1) return CC_NOMEM;    /* write the batch first */
    if (b->n[f] == b->ncap[f]) {
        size_t cap = b->ncap[f] ? b->ncap[f] * 2 : 4096;
        rec *r = map_grow(b->r[f], b->ncap[f] * sizeof *r, cap * sizeof *r);
        if (!r) return CC_NOMEM;
        b->r[f] = r;
        b->ncap[f] = cap;
    }
    b->r[f][b->n[f]++] = (rec){off, (uint32_t)klen, (uint32_t)vlen};
    return CC_OK;
}

/* The five records of one pair are made from the four nodes' encodings
 * (librdf_node_encode), each node encoded once: librdf's statement
 * encoding (librdf_statement_encode_parts2) is the byte 'x', then for
 * each part asked for, in the order subject, predicate, object, context,
 * its tag byte ('s', 'p', 'o', 'c') and the node's encoding; the
 * contexts file's key is the context node's encoding alone and its value
 * the statement's three parts (librdf_statement_encode2).  Encoding each
 * part again for every file (ten calls, each run twice: length, then
 * bytes) was 13% of a store sync.  tests/test_graph_bdb_direct.c
 * compares the files with librdf's own, record by record. */
enum { PART_S = 1, PART_P = 2, PART_O = 4, PART_C = 8 };

typedef struct enc { const unsigned char *p[4]; size_t n[4]; } enc;

static size_t rec_len(const enc *e, int parts)
{
    size_t n = 1;
    int i;
    for (i = 0; i < 4; i++)
        if (parts & (1 << i)) n += 1 + e->n[i];
    return n;
}

static unsigned char *rec_put(unsigned char *out, const enc *e, int parts)
{
    static const char tag[4] = {'s', 'p', 'o', 'c'};
    int i;
    *out++ = 'x';
    for (i = 0; i < 4; i++) {
        if (!(parts & (1 << i))) continue;
        *out++ = (unsigned char)tag[i];
        memcpy(out, e->p[i], e->n[i]);
        out += e->n[i];
    }
    return out;
}

static cc_status add_index(cg_bdb_batch *b, int f, const enc *e, int kparts, int vparts)
{
    size_t kl = rec_len(e, kparts), vl = rec_len(e, vparts), off;
    if (kl > UINT32_MAX || vl > UINT32_MAX) return CC_INVALID;
    if (reserve(b, kl + vl, &off)) return CC_NOMEM;
    rec_put(rec_put((unsigned char *)b->mem + off, e, kparts), e, vparts);
    return push(b, f, off, kl, vl);
}

/* Encodes node into b->enc at *at (grown as needed); its length into *n. */
static cc_status enc_node(cg_bdb_batch *b, librdf_node *node, size_t *at, size_t *n)
{
    size_t len = node ? librdf_node_encode(node, NULL, 0) : 0;
    if (!len) return CC_INVALID;
    if (b->enc_cap - *at < len) {
        size_t cap = b->enc_cap ? b->enc_cap : 4096;
        unsigned char *m;
        while (cap - *at < len) cap *= 2;
        if (!(m = realloc(b->enc, cap))) return CC_NOMEM;
        b->enc = m;
        b->enc_cap = cap;
    }
    if (librdf_node_encode(node, b->enc + *at, len) != len) return CC_INVALID;
    *n = len;
    *at += len;
    return CC_OK;
}

cc_status cg_bdb_batch_add(cg_bdb_batch *b, librdf_statement *stmt, librdf_node *ctx)
{
    librdf_node *node[4] = {librdf_statement_get_subject(stmt), librdf_statement_get_predicate(stmt),
                            librdf_statement_get_object(stmt), ctx};
    size_t at = 0, start[4], kl, vl, off;
    enc e;
    cc_status s;
    int i;
    if (b->started) return CC_INVALID;     /* its threads read the arena */
    for (i = 0; i < 4; i++) {
        start[i] = at;
        if ((s = enc_node(b, node[i], &at, &e.n[i]))) return s;
    }
    for (i = 0; i < 4; i++) e.p[i] = b->enc + start[i];    /* b->enc no longer moves */
    if ((s = add_index(b, F_SP2O, &e, PART_S | PART_P, PART_O | PART_C)) ||
        (s = add_index(b, F_PO2S, &e, PART_P | PART_O, PART_S | PART_C)) ||
        (s = add_index(b, F_SO2P, &e, PART_S | PART_O, PART_P | PART_C)) ||
        (s = add_index(b, F_P2SO, &e, PART_P, PART_S | PART_O | PART_C)))
        return s;
    kl = e.n[3];
    vl = rec_len(&e, PART_S | PART_P | PART_O);
    if (vl > UINT32_MAX) return CC_INVALID;
    if (reserve(b, kl + vl, &off)) return CC_NOMEM;
    memcpy(b->mem + off, e.p[3], kl);
    rec_put((unsigned char *)b->mem + off + kl, &e, PART_S | PART_P | PART_O);
    return push(b, F_CONTEXTS, off, kl, vl);
}

/* One distinct key of a file's batch: its hash, the first and last of its
 * records (queued order, chained through next[]). */
typedef struct grp {
    uint64_t h;
    uint32_t first, last;
} grp;

typedef struct sort_ctx {
    const char *mem;
    const rec  *r;
} sort_ctx;

static uint64_t key_hash(const unsigned char *p, size_t n)
{
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ULL, v;
    for (; n >= 8; p += 8, n -= 8) {             /* 8 bytes a step */
        memcpy(&v, p, 8);
        h = (h ^ (v * 0xBF58476D1CE4E5B9ULL));
        h = ((h << 31) | (h >> 33)) * 0x94D049BB133111EBULL;
    }
    v = 0;
    memcpy(&v, p, n);
    h ^= v * 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 29;
    h *= 0x94D049BB133111EBULL;
    return h ^ (h >> 32);
}

static int same_key(const char *m, const rec *a, const rec *b)
{
    return a->klen == b->klen && !memcmp(m + a->off, m + b->off, a->klen);
}

/* Berkeley DB's default B-tree order (bytes, then the shorter first) on
 * the groups' keys. */
static int grp_cmp(const void *x, const void *y, void *arg)
{
    const sort_ctx *c = arg;
    const rec *a = &c->r[((const grp *)x)->first], *b = &c->r[((const grp *)y)->first];
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int d = memcmp(c->mem + a->off, c->mem + b->off, n);
    if (d) return d;
    return a->klen < b->klen ? -1 : a->klen > b->klen;
}

/* The order file f's records are put in, into ord (record indices, with
 * SAME_KEY): by key (records with
 * the same key together, in the order they were queued: a key's values
 * go to the end of its duplicates anyway), so that consecutive puts land
 * on the same leaf pages.  Equal keys are grouped through a hash table
 * first and only the distinct keys are sorted (most keys repeat: a
 * predicate, an entity's type, a triple stated by many chunks).  The
 * contexts file's records come grouped by context already: queued order. */
static cc_status put_order(cg_bdb_batch *b, int f, uint32_t *ord)
{
    const rec *r = b->r[f];
    size_t n = b->n[f], cap = 64, ng = 0, i, k = 0;
    uint32_t *slot = NULL, *next = NULL;
    grp *g = NULL;
    sort_ctx sc = {b->mem, r};
    if (f == F_CONTEXTS) {
        for (i = 0; i < n; i++)
            ord[i] = (uint32_t)i | (i && same_key(b->mem, &r[i - 1], &r[i]) ? SAME_KEY : 0);
        return CC_OK;
    }
    while (cap < 2 * n) cap *= 2;
    slot = calloc(cap, sizeof *slot);           /* group index + 1; 0: empty */
    next = malloc(n * sizeof *next);
    g = malloc(n * sizeof *g);
    if (!slot || !next || !g) { free(slot); free(next); free(g); return CC_NOMEM; }
    for (i = 0; i < n; i++) {
        uint64_t h = key_hash((const unsigned char *)b->mem + r[i].off, r[i].klen);
        size_t j = (size_t)h & (cap - 1);
        next[i] = UINT32_MAX;
        for (;; j = (j + 1) & (cap - 1)) {
            grp *e;
            if (!slot[j]) {
                g[ng] = (grp){h, (uint32_t)i, (uint32_t)i};
                slot[j] = (uint32_t)++ng;
                break;
            }
            e = &g[slot[j] - 1];
            if (e->h == h && same_key(b->mem, &r[e->first], &r[i])) {
                next[e->last] = (uint32_t)i;
                e->last = (uint32_t)i;
                break;
            }
        }
    }
    qsort_r(g, ng, sizeof *g, grp_cmp, &sc);
    for (i = 0; i < ng; i++) {
        uint32_t x;
        for (x = g[i].first; x != UINT32_MAX; x = next[x])
            ord[k++] = x | (x != g[i].first ? SAME_KEY : 0);
    }
    free(slot);
    free(next);
    free(g);
    return CC_OK;
}

/* Puts file f's queued records in key order through the file's handle.
 * 0, ENOMEM or Berkeley DB's error. */
static int write_file(cg_bdb_batch *b, int f)
{
    DB *db = b->db[f];
    DBC *cur = NULL;
    uint32_t *ord;
    size_t i;
    int rc;
    if (!(ord = malloc(b->n[f] * sizeof *ord))) return ENOMEM;
    if (put_order(b, f, ord)) { free(ord); return ENOMEM; }
    rc = db->cursor(db, NULL, &cur, 0);
    for (i = 0; i < b->n[f] && !rc; i++) {
        const rec *r = &b->r[f][ord[i] & ~SAME_KEY];
        DBT k, v;
        memset(&k, 0, sizeof k);
        memset(&v, 0, sizeof v);
        k.data = b->mem + r->off;
        k.size = r->klen;
        v.data = b->mem + r->off + r->klen;
        v.size = r->vlen;
        /* after the key's other values, as DB->put does with DB_DUP; the
         * cursor stays on the value just put, the last of its key's, so
         * the next value of the same key goes right after it, no search */
        rc = cur->put(cur, &k, &v, ord[i] & SAME_KEY ? DB_AFTER : DB_KEYLAST);
    }
    if (cur && cur->close(cur) && !rc) rc = EIO;
    free(ord);
    return rc;
}

/* Two or more threads put the five files at once (cg_bdb_batch_write),
 * each file wholly by one thread, through its own handle.  librdf opens
 * every file with db_create(&db, NULL, 0): no shared environment, each
 * handle has its own private environment, cache and file descriptor, and
 * without DB_THREAD a handle (and its cursors) may be used by one thread
 * at a time: here the thread that claimed the file, between the
 * pthread_create and pthread_join that order its use after the caller's
 * and before the caller's next (librdf's sync and close).  The batch's
 * arrays are only read while the threads run; each thread sorts into
 * its own buffer and keeps its error in rc[f].  The files are claimed in
 * the order below, the costliest first, so that two threads end close
 * together (thread CPU time of each file's puts, one thread, 1 MB of
 * dense text: so2p 649 ms, sp2o 628, p2so 532, po2s 447, contexts 369;
 * the sample corpus: 19-21 ms each but contexts, 15). */
static const int claim_order[N_DIRECT] = {F_SO2P, F_SP2O, F_P2SO, F_PO2S, F_CONTEXTS};

static void *put_worker(void *p)
{
    put_job *j = p;
    unsigned i;
    while ((i = atomic_fetch_add(&j->next, 1)) < N_DIRECT) {
        int f = claim_order[i];
        j->rc[f] = j->b->n[f] ? write_file(j->b, f) : 0;
    }
    return NULL;
}

void cg_bdb_batch_set_threads(cg_bdb_batch *b, unsigned n)
{
    if (b) b->threads = n < 1 ? 1 : n > N_DIRECT ? N_DIRECT : n;
}

/* The first thread error of the last write (rc[] by file) as the store's
 * message and a status; empties the batch. */
static cc_status write_done(cg_bdb_batch *b)
{
    cc_status s = CC_OK;
    int f;
    for (f = 0; f < N_DIRECT; f++) {
        int rc = b->job.rc[f];
        if (!rc) continue;
        cc_buf_reset(&b->st->err);
        if (rc == ENOMEM) {
            s = CC_NOMEM;
            cc_buf_puts(&b->st->err, "out of memory");
        } else {
            s = rc == ENOSPC ? CC_FULL : CC_IO;
            cc_buf_printf(&b->st->err, "Berkeley DB put into %s failed: %s", file_suffix[f] + 1,
                          rc > 0 ? strerror(rc) : "error inside Berkeley DB");
        }
        break;
    }
    for (f = 0; f < N_DIRECT; f++) b->n[f] = 0;
    b->len = 0;
    return s;
}

/* Files with records queued. */
static unsigned files_queued(const cg_bdb_batch *b)
{
    unsigned files = 0;
    int f;
    for (f = 0; f < N_DIRECT; f++) files += b->n[f] > 0;
    return files;
}

static void job_reset(cg_bdb_batch *b)
{
    memset(b->job.rc, 0, sizeof b->job.rc);
    b->job.b = b;
    atomic_store(&b->job.next, 0);
    b->nth = 0;
}

cc_status cg_bdb_batch_write(cg_bdb_batch *b)
{
    unsigned t, files;
    if (b->started) return CC_INVALID;     /* cg_bdb_batch_wait first */
    job_reset(b);
    files = files_queued(b);
    /* the caller is one of the threads; one that cannot start: fewer */
    for (t = 1; t < b->threads && t < files; t++)
        if (!pthread_create(&b->th[b->nth], NULL, put_worker, &b->job)) b->nth++;
    put_worker(&b->job);
    for (t = 0; t < b->nth; t++) pthread_join(b->th[t], NULL);
    b->nth = 0;
    return write_done(b);
}

void cg_bdb_batch_start(cg_bdb_batch *b)
{
    unsigned t, files;
    if (b->started) return;
    job_reset(b);
    files = files_queued(b);
    b->started = 1;
    /* one CPU is left to the caller, which fills the next batch meanwhile */
    for (t = 0; t + 1 < b->threads && t < files; t++)
        if (!pthread_create(&b->th[b->nth], NULL, put_worker, &b->job)) b->nth++;
    /* no thread started: the files are put by cg_bdb_batch_wait's caller */
}

int cg_bdb_batch_started(const cg_bdb_batch *b) { return b && b->started; }

cc_status cg_bdb_batch_wait(cg_bdb_batch *b)
{
    unsigned t;
    if (!b->started) return CC_OK;
    put_worker(&b->job);                   /* what no thread has claimed yet */
    for (t = 0; t < b->nth; t++) pthread_join(b->th[t], NULL);
    b->nth = 0;
    b->started = 0;
    return write_done(b);
}

#endif
