/* test_graph_bdb_direct.c — the store's writer puts sorted batches of
 * (triple, context) pairs straight into the Berkeley DB files
 * (graph/bdb_direct.c).  The same pairs written through librdf
 * (context_add_statement) and through a batch (in two writes, out of
 * order, a triple in several contexts, typed, plain and language
 * literals, a literal over 64 KB, a blank node, non-ASCII) give the same records in all five files (key and
 * value bytes, as multisets), whether the batch's five files are put by
 * one thread, two or five, and in the background (start, wait); librdf then counts, finds and removes them
 * as its own.  A build without <db.h> skips. */
#include "graph_int.h"
#include "check.h"

#include <sys/stat.h>
#include <unistd.h>

#ifndef CAIRN_HAVE_DB_H
int main(void)
{
    printf("graph_bdb_direct: built without <db.h> (libdb5.3-dev): skipped\n");
    return 77;
}
#else
#include <db.h>

static const char *const files[5] = {
    "cairn-sp2o.db", "cairn-po2s.db", "cairn-so2p.db", "cairn-p2so.db", "cairn-contexts.db"
};

/* The pairs: ctx i of NCTX holds NTRIP triples; triple j of context i is
 * shared with context (i + 1) when j % 3 == 0. */
#define NCTX  12
#define NTRIP 300

static librdf_statement *make(librdf_world *w, int i, int j)
{
    char s[96], o[96];
    librdf_node *ns, *np, *no;
    librdf_uri *dt = NULL;
    int k = j % 3 == 0 ? j : i * 1000 + j;       /* shared across contexts, or not */
    snprintf(s, sizeof s, "urn:cairn:entity:%s-%d", k % 2 ? "ana" : "bj\xc3\xb6rn", k % 97);
    switch (k % 5) {
    case 0:
        snprintf(o, sizeof o, "urn:cairn:entity:org-%d", k);
        np = librdf_new_node_from_uri_string(w, (const unsigned char *)"urn:cairn:rel:cfo_of");
        no = librdf_new_node_from_uri_string(w, (const unsigned char *)o);
        break;
    case 1:
        snprintf(o, sizeof o, "%d", k);
        dt = librdf_new_uri(w, (const unsigned char *)"http://www.w3.org/2001/XMLSchema#integer");
        np = librdf_new_node_from_uri_string(w, (const unsigned char *)"urn:cairn:ns#startChar");
        no = librdf_new_node_from_typed_literal(w, (const unsigned char *)o, NULL, dt);
        break;
    case 2:
        snprintf(o, sizeof o, "Caf\xc3\xa9 %d", k);
        np = librdf_new_node_from_uri_string(w, (const unsigned char *)"http://www.w3.org/2000/01/rdf-schema#label");
        no = librdf_new_node_from_literal(w, (const unsigned char *)o, "fr", 0);
        break;
    case 4:
        if (k < 50) {       /* a literal over 64 KB (librdf's long form), and a blank node */
            static char big[70016];
            memset(big, 'x', sizeof big - 16);
            snprintf(big + sizeof big - 16, 16, "%d", k);
            np = librdf_new_node_from_uri_string(w, (const unsigned char *)"urn:cairn:ns#text");
            no = k % 2 ? librdf_new_node_from_literal(w, (const unsigned char *)big, NULL, 0)
                       : librdf_new_node_from_blank_identifier(w, (const unsigned char *)"b1");
            break;
        }
        /* fall through */
    default:
        snprintf(o, sizeof o, "name %d", k);
        np = librdf_new_node_from_uri_string(w, (const unsigned char *)"http://www.w3.org/2000/01/rdf-schema#label");
        no = librdf_new_node_from_literal(w, (const unsigned char *)o, NULL, 0);
        break;
    }
    if (dt) librdf_free_uri(dt);
    ns = librdf_new_node_from_uri_string(w, (const unsigned char *)s);
    return librdf_new_statement_from_nodes(w, ns, np, no);
}

static librdf_node *ctx_node(librdf_world *w, int i)
{
    char c[64];
    snprintf(c, sizeof c, "urn:cairn:chunk:%d", i);
    return librdf_new_node_from_uri_string(w, (const unsigned char *)c);
}

/* Every record of dir/file as "hex(key) hex(value)" lines, sorted. */
typedef struct recs { char **r; size_t n, cap; } recs;

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dump(const char *dir, const char *file, recs *out)
{
    char path[1200];
    DB *db = NULL;
    DBC *cur = NULL;
    DBT k, v;
    memset(out, 0, sizeof *out);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    CHECK(db_create(&db, NULL, 0) == 0);
    if (!db) return;
    CHECK(db->set_flags(db, DB_DUP) == 0);
    if (db->open(db, NULL, path, NULL, DB_BTREE, DB_RDONLY, 0) || db->cursor(db, NULL, &cur, 0)) {
        CHECK_MSG(0, "cannot open %s", path);
        db->close(db, 0);
        return;
    }
    memset(&k, 0, sizeof k);
    memset(&v, 0, sizeof v);
    while (cur->get(cur, &k, &v, DB_NEXT) == 0) {
        char *line = malloc(2 * (k.size + v.size) + 2), *p = line;
        size_t i;
        if (!line) break;
        for (i = 0; i < k.size; i++, p += 2) snprintf(p, 3, "%02x", ((unsigned char *)k.data)[i]);
        *p++ = ' ';
        for (i = 0; i < v.size; i++, p += 2) snprintf(p, 3, "%02x", ((unsigned char *)v.data)[i]);
        *p = 0;
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 1024;
            out->r = realloc(out->r, out->cap * sizeof *out->r);
        }
        out->r[out->n++] = line;
    }
    cur->close(cur);
    db->close(db, 0);
    qsort(out->r, out->n, sizeof *out->r, str_cmp);
}

static void recs_free(recs *r)
{
    size_t i;
    for (i = 0; i < r->n; i++) free(r->r[i]);
    free(r->r);
}

/* Writes the test's pairs into a new store in dir through a batch put by
 * `threads` threads (in two writes, the contexts in another order than
 * a's); 1 when it was written. */
static int write_direct(const char *dir, unsigned threads)
{
    cg_store *b = NULL;
    cg_bdb_batch *batch = NULL;
    size_t n = 0;
    int i, j;
    mkdir(dir, 0700);
    cg_bdb_cache_begin(4);
    CHECK_OK(cg_store_open(dir, CG_STORE_CREATE, &b));
    if (b) CHECK_OK(cg_bdb_batch_new(b, &batch));
    cg_bdb_cache_end();
    if (!b || !batch) { cg_store_close(b); return 0; }
    cg_bdb_batch_set_threads(batch, threads);
    for (i = 0; i < NCTX; i++) {
        int ib = (i * 5) % NCTX;
        librdf_node *cb = ctx_node(b->world, ib);
        for (j = 0; j < NTRIP; j++) {
            librdf_statement *sb = make(b->world, ib, NTRIP - 1 - j);
            CHECK(sb != NULL);
            if (sb) CHECK_OK(cg_bdb_batch_add(batch, sb, cb));
            if (sb) librdf_free_statement(sb);
        }
        if (i == NCTX / 2 && threads == 1) {
            CHECK(cg_bdb_batch_bytes(batch) > 0);
            CHECK_OK(cg_bdb_batch_write(batch));
            CHECK(cg_bdb_batch_bytes(batch) == 0);
        } else if (i == NCTX / 2) {    /* in the background; nothing added meanwhile */
            librdf_statement *x = make(b->world, 0, 1);
            CHECK(cg_bdb_batch_bytes(batch) > 0);
            cg_bdb_batch_start(batch);
            CHECK(cg_bdb_batch_started(batch));
            if (x) CHECK(cg_bdb_batch_add(batch, x, cb) == CC_INVALID);
            if (x) librdf_free_statement(x);
            CHECK_OK(cg_bdb_batch_wait(batch));
            CHECK(!cg_bdb_batch_started(batch) && cg_bdb_batch_bytes(batch) == 0);
        }
        librdf_free_node(cb);
    }
    CHECK_OK(cg_bdb_batch_write(batch));
    cg_bdb_batch_free(batch);
    /* librdf sees the batch's pairs as its own */
    CHECK_OK(cg_store_count(b, "urn:cairn:chunk:3", &n));
    CHECK_MSG(n == NTRIP, "threads %u: n=%zu", threads, n);
    CHECK_OK(cg_store_count(b, NULL, &n));
    CHECK_MSG(n == (size_t)NCTX * NTRIP, "threads %u: n=%zu", threads, n);
    cg_store_close(b);
    return 1;
}

/* The records of every file of da and db_ are the same (multisets). */
static void same_files(const char *da, const char *db_, unsigned threads)
{
    size_t total = 0;
    int f;
    for (f = 0; f < 5; f++) {
        recs ra, rb;
        size_t k, diff = 0;
        dump(da, files[f], &ra);
        dump(db_, files[f], &rb);
        CHECK_MSG(ra.n == rb.n && ra.n > 0, "%s, %u threads: %zu records through librdf, %zu direct",
                  files[f], threads, ra.n, rb.n);
        for (k = 0; k < ra.n && k < rb.n; k++) diff += strcmp(ra.r[k], rb.r[k]) != 0;
        CHECK_MSG(diff == 0, "%s, %u threads: %zu records differ", files[f], threads, diff);
        total += ra.n;
        recs_free(&ra);
        recs_free(&rb);
    }
    CHECK_MSG(total == 5 * (size_t)NCTX * NTRIP, "%u threads: total=%zu", threads, total);
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    static const unsigned nthreads[3] = {1, 2, 5};
    char da[1024], db_[3][1024];
    cg_store *a = NULL, *b = NULL;
    cg_bdb_batch *batch = NULL;
    size_t n = 0;
    int i, j, t;
    snprintf(da, sizeof da, "%s/graph-direct-a-%ld", tmp ? tmp : "/tmp", (long)getpid());
    mkdir(da, 0700);

    /* a: through librdf */
    cg_bdb_cache_begin(4);
    CHECK_OK(cg_store_open(da, CG_STORE_CREATE, &a));
    /* no batch without the writer's handles */
    cg_bdb_handles_forget();
    CHECK(cg_bdb_batch_new(a, &batch) == CC_NOTFOUND && !batch);
    cg_bdb_cache_end();
    if (!a) return check_done("graph_bdb_direct");
    for (i = 0; i < NCTX; i++) {
        librdf_node *ca = ctx_node(a->world, i);
        for (j = 0; j < NTRIP; j++) {
            librdf_statement *sa = make(a->world, i, j);
            CHECK(sa != NULL);
            if (sa) CHECK(librdf_model_context_add_statement(a->model, ca, sa) == 0);
            if (sa) librdf_free_statement(sa);
        }
        librdf_free_node(ca);
    }
    cg_store_close(a);
    a = NULL;

    /* b: through a batch on librdf's handles, put by one thread, two (the
     * files split between them) and five (one each): same records in
     * every file as librdf's */
    for (t = 0; t < 3; t++) {
        snprintf(db_[t], sizeof db_[t], "%s/graph-direct-b%u-%ld", tmp ? tmp : "/tmp",
                 nthreads[t], (long)getpid());
        if (write_direct(db_[t], nthreads[t])) same_files(da, db_[t], nthreads[t]);
    }

    /* removing a context retracts exactly its pairs; a shared triple stays */
    CHECK_OK(cg_store_open(db_[1], CG_STORE_OPEN, &b));
    if (b) {
        CHECK_OK(cg_store_remove_context(b, "urn:cairn:chunk:4"));
        CHECK_OK(cg_store_count(b, "urn:cairn:chunk:4", &n));
        CHECK(n == 0);
        CHECK_OK(cg_store_count(b, "urn:cairn:chunk:5", &n));
        CHECK_MSG(n == NTRIP, "n=%zu", n);
        CHECK_OK(cg_store_count(b, NULL, &n));
        CHECK_MSG(n == (size_t)(NCTX - 1) * NTRIP, "n=%zu", n);
        cg_store_close(b);
    }
    {
        char cmd[4400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s' '%s'", da, db_[0], db_[1], db_[2]);
        CHECK(system(cmd) == 0);
    }
    return check_done("graph_bdb_direct");
}
#endif
