/* rdf.c — KB/graph/, the Redland store derived from the catalog: what goes
 * in it (schemas/cairn.ttl), catching it up from the change log, rebuilding
 * it, the graph lock, and comparing it with the catalog (cairn check).
 *
 * Files under KB/graph/:
 *   cairn-{sp2o,po2s,so2p,p2so,contexts}.db   Redland "hashes" storage on BDB
 *   state   text, rewritten by temp file + rename (+ fsyncs for clean 0,
 *           see state_write):
 *             cairn-graph-state 1            format version (STATE_FORMAT)
 *             vocabulary 1                   schemas/cairn.ttl version
 *             generation G                   catalog generation reflected
 *             clean 1|0                      0 while an update is under way
 *             size NAME BYTES                one line per store file (bdb)
 *             storage postgresql host=..     the PostgreSQL model it is in
 *                                            (no line: bdb; no password)
 *   lock    flock()ed: LOCK_EX by the updater, LOCK_SH by readers
 *
 * An update first rewrites state with clean 0, then changes the store,
 * closes it (BDB writes its pages), fdatasyncs each store file once
 * (Berkeley DB's own syncs are deferred to that point, bdb_cache.c) and
 * rewrites state with clean 1, the new generation and the files'
 * sizes.  A crash in between leaves clean 0:
 * the next writer rebuilds.  A file whose size differs from the recorded
 * one (truncated, replaced) also means a rebuild.
 *
 * On the postgresql storage (graph.storage, storage.c) the triples are
 * in a model of a PostgreSQL database (each row committed as it is
 * written: clean 0 covers an interrupted update); state and lock stay here, beside
 * the catalog whose generation they name.  State naming another storage
 * than the settings' means a rebuild.
 *
 * On bdb the triples of a context are not added one by one through
 * librdf: they are queued in a batch (bdb_direct.c) and put into the five
 * files sorted by key, through librdf's own handles, by a thread per
 * file up to one per CPU; a full batch is written in the background
 * while the next is filled (batch_send); the batch is written
 * before a removal and at the end of the update (BATCH_BYTES at most in
 * memory).
 *
 * A chunk from which nothing was extracted (no mention, no relation) gets
 * no context: a large corpus of plain text costs no store space.
 *
 * The change log gives, per generation, a document whose chunks
 * [lo, hi] were added or removed.  Chunk ids are never reused, so an 'add'
 * writes the document's context and each chunk's context from the tables
 * as they are now (a document removed since is skipped: its 'remove'
 * follows), and a 'remove' deletes those contexts.  A triple stated by
 * another chunk lives in that chunk's context too, so it stays. */
#include "graph_int.h"

#include <redland.h>
#include <sqlite3.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATE_FORMAT  1
/* 2: entity and predicate descriptions in the document context, compact
 * assertions.  A store of vocabulary 1 is still read (readers, cairn
 * check: it is a complete store of the older layout); the next writer
 * rebuilds it. */
#define VOCAB_VERSION 2
#define VOCAB_OLDEST  1
#define N_FILES       5
#define READ_WAIT_MS  10000

static const char *const db_files[N_FILES] = {
    "cairn-sp2o.db", "cairn-po2s.db", "cairn-so2p.db", "cairn-p2so.db", "cairn-contexts.db"
};

#define NS_CAIRN "urn:cairn:ns#"
#define NS_RDF   "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#define NS_RDFS  "http://www.w3.org/2000/01/rdf-schema#"
#define NS_XSD   "http://www.w3.org/2001/XMLSchema#"
#define NS_PROV  "http://www.w3.org/ns/prov#"

/* ---------------------------------------------------------------- IRIs */

cc_status cg_iri_escape(cc_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        cc_status st;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            st = cc_buf_putc(out, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            st = cc_buf_append(out, e, 3);
        }
        if (st) return st;
    }
    return CC_OK;
}

static const char *type_class(const char *type)
{
    static const struct { const char *name, *cls; } map[] = {
        {"person", NS_CAIRN "Person"},   {"organisation", NS_CAIRN "Organisation"},
        {"place", NS_CAIRN "Place"},     {"product", NS_CAIRN "Product"},
        {"date", NS_CAIRN "Date"},       {"amount", NS_CAIRN "Amount"},
        {"percent", NS_CAIRN "Percent"}, {"quantity", NS_CAIRN "Quantity"},
    };
    size_t i;
    for (i = 0; type && i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(type, map[i].name)) return map[i].cls;
    return NS_CAIRN "Other";
}

/* ---------------------------------------------------------------- files and state */

typedef struct gstate {
    int64_t generation;
    int     vocab;          /* VOCAB_OLDEST..VOCAB_VERSION */
    int     clean;
    int     nsize;
    int64_t size[N_FILES];
    char    storage[512];   /* cg_storage_describe; "bdb" when not recorded */
} gstate;

static cc_status gpath(cc_kb *kb, const char *name, cc_buf *out)
{
    cc_buf_reset(out);
    if (cc_kb_path(kb, "graph", out)) return CC_NOMEM;
    if (name && (cc_buf_putc(out, '/') || cc_buf_puts(out, name))) return CC_NOMEM;
    return CC_OK;
}

static int64_t file_size(cc_kb *kb, const char *name)
{
    cc_buf p = CC_BUF_INIT(0);
    struct stat sb;
    int64_t n = -1;
    if (!gpath(kb, name, &p) && stat(p.data, &sb) == 0) n = (int64_t)sb.st_size;
    cc_buf_free(&p);
    return n;
}

/* Reads KB/graph/state.  CC_NOTFOUND: missing; CC_CORRUPT: unreadable;
 * CC_VERSION: another format or a vocabulary this build cannot read. */
static cc_status state_read(cc_kb *kb, gstate *g)
{
    cc_buf p = CC_BUF_INIT(0);
    char text[2048], *line, *end;
    size_t n;
    FILE *f;
    int fmt = 0, vocab = 0, have_gen = 0, have_clean = 0, nsize = 0;
    memset(g, 0, sizeof *g);
    if (gpath(kb, "state", &p)) return CC_NOMEM;
    f = fopen(p.data, "rb");
    cc_buf_free(&p);
    if (!f) return errno == ENOENT ? CC_NOTFOUND : CC_CORRUPT;
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    if (n == sizeof text - 1 || memchr(text, 0, n)) return CC_CORRUPT;
    for (line = text; *line; line = end) {
        char *sp, *val;
        int64_t v;
        end = strchr(line, '\n');
        if (!end) return CC_CORRUPT;          /* every line ends: not cut off */
        *end++ = 0;
        if (!(sp = strchr(line, ' '))) return CC_CORRUPT;
        *sp = 0;
        val = sp + 1;
        if (!strcmp(line, "storage")) {
            if (strlen(val) >= sizeof g->storage) return CC_CORRUPT;
            memcpy(g->storage, val, strlen(val) + 1);
            continue;
        }
        if (!strcmp(line, "size")) {
            char *sp2 = strchr(val, ' ');
            int i;
            if (!sp2) return CC_CORRUPT;
            *sp2 = 0;
            if (cc_parse_i64(sp2 + 1, 0, INT64_MAX, &v)) return CC_CORRUPT;
            for (i = 0; i < N_FILES && strcmp(db_files[i], val); i++) {}
            if (i == N_FILES) return CC_CORRUPT;
            g->size[i] = v;
            nsize++;
            continue;
        }
        if (cc_parse_i64(val, 0, INT64_MAX, &v)) return CC_CORRUPT;
        if (!strcmp(line, "cairn-graph-state")) fmt = (int)(v < 1000 ? v : 1000);
        else if (!strcmp(line, "vocabulary")) vocab = (int)(v < 1000 ? v : 1000);
        else if (!strcmp(line, "generation")) { g->generation = v; have_gen = 1; }
        else if (!strcmp(line, "clean")) { g->clean = v == 1; have_clean = 1; }
    }
    if (fmt != STATE_FORMAT || vocab < VOCAB_OLDEST || vocab > VOCAB_VERSION)
        return fmt ? CC_VERSION : CC_CORRUPT;
    g->vocab = vocab;
    if (!have_gen || !have_clean || (nsize != N_FILES && nsize != 0)) return CC_CORRUPT;
    if (!g->storage[0]) memcpy(g->storage, "bdb", 4);
    if (!strcmp(g->storage, "bdb") && nsize != N_FILES) return CC_CORRUPT;
    g->nsize = nsize;
    return CC_OK;
}

static cc_status fsync_path(const char *path, int dir)
{
    int fd = open(path, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    int rc;
    if (fd < 0) return CC_IO;
    rc = fsync(fd);
    close(fd);
    return rc ? CC_IO : CC_OK;
}

/* Writes state (temp, fsync, rename, fsync of the directory; with !sync
 * temp and rename only).  Sizes are taken from the files (bdb); a
 * server-backed store records what it is instead.
 *
 * Only "clean 0" needs the syncs: it must be on disk before the store's
 * files change, or a crash could leave an older "clean 1" over changed
 * files.  The final "clean 1" of an update is written after the store's
 * files are synced (cg_bdb_sync_flush) and is written with !sync (two
 * device flushes fewer, 20-50 ms of a first ingestion's wall time on the
 * test VM): if a crash loses the rename or the file's contents, what is
 * found after it is the "clean 0" this update synced before it began, or
 * no state (a first build: no "clean 0" is written, see cg_graph_sync),
 * or an empty or partial state file (one block; state_read refuses one
 * without every field): "interrupted", "missing" or "damaged", each a
 * rebuild by the next writer, never a store taken for clean that is not.
 * The catalog itself commits with synchronous=NORMAL (core/kb.c), so its
 * last transactions may go in a power loss too; a state ahead of the
 * catalog is rebuilt as well.  tests/test_graph_rdf.sh checks these
 * states. */
static cc_status state_write(cc_kb *kb, const cg_storage *sg, int64_t gen, int clean, int sync)
{
    cc_buf body = CC_BUF_INIT(0), path = CC_BUF_INIT(0), tmp = CC_BUF_INIT(0);
    cc_status s = CC_NOMEM;
    FILE *f = NULL;
    int i;
    if (cc_buf_printf(&body, "cairn-graph-state %d\nvocabulary %d\ngeneration %lld\nclean %d\n",
                      STATE_FORMAT, VOCAB_VERSION, (long long)gen, clean))
        goto out;
    if (sg->kind != CG_STORAGE_BDB &&
        (cc_buf_puts(&body, "storage ") || cg_storage_describe(sg, &body) || cc_buf_putc(&body, '\n')))
        goto out;
    for (i = 0; i < N_FILES && sg->kind == CG_STORAGE_BDB; i++) {
        int64_t sz = file_size(kb, db_files[i]);
        if (cc_buf_printf(&body, "size %s %lld\n", db_files[i], (long long)(sz < 0 ? 0 : sz)))
            goto out;
    }
    if (gpath(kb, "state", &path) || gpath(kb, "state.tmp", &tmp)) goto out;
    s = CC_IO;
    if (!(f = fopen(tmp.data, "wb"))) goto err;
    if (fwrite(body.data, 1, body.len, f) != body.len || fflush(f) || (sync && fsync(fileno(f))))
        goto err;
    if (fclose(f)) { f = NULL; goto err; }
    f = NULL;
    if (rename(tmp.data, path.data)) goto err;
    gpath(kb, NULL, &path);
    if (sync) fsync_path(path.data, 1);
    s = CC_OK;
    goto out;
err:
    if (errno == ENOSPC || errno == EFBIG)
        s = cc_kb_seterr(kb, CC_FULL, "graph store: writing %s: disk full or file size limit reached (%s)",
                         tmp.data ? tmp.data : "state", strerror(errno));
    else
        s = cc_kb_seterr(kb, CC_IO, "graph store: writing %s: %s", tmp.data ? tmp.data : "state", strerror(errno));
    if (f) fclose(f);
    if (tmp.data) unlink(tmp.data);
out:
    if (s == CC_NOMEM) cc_kb_seterr(kb, s, "out of memory");
    cc_buf_free(&body);
    cc_buf_free(&path);
    cc_buf_free(&tmp);
    return s;
}

/* Opens KB/graph/lock and takes it.  exclusive: waits as long as needed;
 * shared: up to READ_WAIT_MS, then CC_BUSY.  *fd = -1 and CC_NOTFOUND
 * when a reader finds no lock file (the store was never built). */
static cc_status lock_take(cc_kb *kb, int exclusive, int *fd)
{
    cc_buf p = CC_BUF_INIT(0);
    double t0 = cc_now_ms();
    *fd = -1;
    if (gpath(kb, "lock", &p)) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    if (exclusive) {
        cc_buf dir = CC_BUF_INIT(0);
        if (!gpath(kb, NULL, &dir)) mkdir(dir.data, 0755);
        cc_buf_free(&dir);
        *fd = open(p.data, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    } else {
        *fd = open(p.data, O_RDONLY | O_CLOEXEC);
    }
    if (*fd < 0) {
        cc_status s = !exclusive && errno == ENOENT
            ? cc_kb_seterr(kb, CC_NOTFOUND, "the graph store of %s has not been built "
                           "(run: cairn graph rebuild %s)", cc_kb_dir(kb), cc_kb_dir(kb))
            : cc_kb_seterr(kb, CC_IO, "graph store: cannot open %s: %s", p.data, strerror(errno));
        cc_buf_free(&p);
        return s;
    }
    cc_buf_free(&p);
    for (;;) {
        if (flock(*fd, exclusive ? LOCK_EX : LOCK_SH | LOCK_NB) == 0) return CC_OK;
        if (errno == EINTR) continue;
        if (errno != EWOULDBLOCK || cc_now_ms() - t0 > READ_WAIT_MS) break;
        {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    close(*fd);
    *fd = -1;
    return cc_kb_seterr(kb, CC_BUSY, "the graph store of %s is being updated; try again",
                        cc_kb_dir(kb));
}

static void lock_drop(int fd)
{
    if (fd >= 0) { flock(fd, LOCK_UN); close(fd); }
}

static int store_enabled(cc_kb *kb, cc_status *st)
{
    const char *v;
    *st = cc_kb_setting_str(kb, "graph.store", "redland", &v);
    if (*st) return 0;
    if (!strcmp(v, "none")) return 0;
    if (strcmp(v, "redland")) {
        *st = cc_kb_seterr(kb, CC_INVALID, "graph.store must be \"redland\" or \"none\", not \"%s\"", v);
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- building contexts */

enum { T_IRI = 0, T_LIT, T_INT, T_DBL, T_TIME };

typedef struct trip {
    char *s, *p, *o;
    int   kind;            /* T_* of o */
} trip;

/* Triples queued for one context. */
typedef struct tq {
    trip  *t;
    size_t n, cap;
    size_t uniq;       /* n after the last dedup (doc queue: bounds its growth) */
} tq;

/* IRIs whose description (entity: type, label, key; predicate: type,
 * label) is already queued in the current document's context: a
 * document's chunks name the same entities and predicates again and
 * again (dense text: ~18 queued copies of each description per document
 * before this), and the description depends on the IRI alone (an
 * entity's key is unique, its label and type come with the row), so a
 * description is queued once per document.  Open addressing on strings
 * owned by the set; cleared per document. */
typedef struct iri_set {
    char  **slot;
    size_t  cap, n;
} iri_set;

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ull; }
    return h ^ (h >> 29);
}

static void iri_set_clear(iri_set *m)
{
    size_t i;
    for (i = 0; i < m->cap; i++) { free(m->slot[i]); m->slot[i] = NULL; }
    m->n = 0;
}

static void iri_set_free(iri_set *m)
{
    iri_set_clear(m);
    free(m->slot);
    memset(m, 0, sizeof *m);
}

/* 1: iri was in the set; 0: added now; -1: out of memory (not added). */
static int iri_set_add(iri_set *m, const char *iri)
{
    size_t i;
    if (2 * (m->n + 1) > m->cap) {          /* grow: at most half full */
        size_t cap = m->cap ? m->cap * 2 : 256, k;
        char **ns = calloc(cap, sizeof *ns);
        if (!ns) return -1;
        for (k = 0; k < m->cap; k++) {
            if (!m->slot[k]) continue;
            for (i = str_hash(m->slot[k]) & (cap - 1); ns[i]; i = (i + 1) & (cap - 1)) {}
            ns[i] = m->slot[k];
        }
        free(m->slot);
        m->slot = ns;
        m->cap = cap;
    }
    for (i = str_hash(iri) & (m->cap - 1); m->slot[i]; i = (i + 1) & (m->cap - 1))
        if (!strcmp(m->slot[i], iri)) return 1;
    if (!(m->slot[i] = cc_strdup(iri))) return -1;
    m->n++;
    return 0;
}

/* IRI nodes made for the triples written so far, by IRI: a node is
 * parsed and interned by raptor once and then copied (a reference) for
 * every triple naming it again: entity, class and predicate IRIs recur
 * in almost every triple.  Cleared when it holds NODE_CACHE_MAX nodes
 * (assertion and chunk IRIs are mostly seen once). */
#define NODE_CACHE_MAX 65536
typedef struct node_cache {
    struct { char *iri; librdf_node *node; } *slot;
    size_t cap, n;
} node_cache;

static void node_cache_clear(node_cache *m)
{
    size_t i;
    for (i = 0; i < m->cap; i++) {
        if (!m->slot[i].iri) continue;
        free(m->slot[i].iri);
        librdf_free_node(m->slot[i].node);
        m->slot[i].iri = NULL;
        m->slot[i].node = NULL;
    }
    m->n = 0;
}

static void node_cache_free(node_cache *m)
{
    node_cache_clear(m);
    free(m->slot);
    memset(m, 0, sizeof *m);
}

/* A new reference to the node of IRI iri (the caller frees it), or NULL. */
static librdf_node *node_uri(librdf_world *w, node_cache *m, const char *iri)
{
    librdf_node *n;
    size_t i;
    if (m->n >= NODE_CACHE_MAX) node_cache_clear(m);
    if (!m->cap) {
        if (!(m->slot = calloc(2 * NODE_CACHE_MAX, sizeof *m->slot))) goto uncached;
        m->cap = 2 * NODE_CACHE_MAX;         /* at most half full */
    }
    for (i = str_hash(iri) & (m->cap - 1); m->slot[i].iri; i = (i + 1) & (m->cap - 1))
        if (!strcmp(m->slot[i].iri, iri)) return librdf_new_node_from_node(m->slot[i].node);
    if (!(n = librdf_new_node_from_uri_string(w, (const unsigned char *)iri))) return NULL;
    if (!(m->slot[i].iri = cc_strdup(iri))) return n;
    m->slot[i].node = n;
    m->n++;
    return librdf_new_node_from_node(n);
uncached:
    return librdf_new_node_from_uri_string(w, (const unsigned char *)iri);
}

/* graph.store_assertions levels (assertions_setting) */
enum { AS_NONE = 0, AS_CONFIRMED, AS_COMPACT, AS_ALL };

/* What one sync is doing: the store, prepared statements, the triples of
 * the chunk context being built (cq) and of its document's context (dq:
 * the document, its run, and the description of every entity and
 * predicate its chunks state, written after the chunks); put() queues
 * into *q. */
typedef struct builder {
    cc_kb          *kb;
    cg_store       *st;
    librdf_uri     *dt[5];         /* datatypes by kind (T_INT, T_DBL, T_TIME) */
    sqlite3_stmt   *q_doc, *q_chunk, *q_ments, *q_rels, *q_xs;
    tq              cq, dq, *q;
    iri_set         described;     /* descriptions already in dq (put_entity, put_predicate) */
    node_cache      nodes;         /* IRI nodes by IRI (flush_ctx) */
    cc_buf          a, b;          /* scratch IRIs */
    int             assertions;    /* AS_* */
    cg_graph_stats *stats;
    cg_bdb_batch   *batch;         /* pairs written sorted (bdb_direct.c), or NULL: through librdf */
    cg_bdb_batch   *spare;         /* the batch filled before, written in the background; or NULL */
    size_t          batch_limit;   /* bytes at which batch is sent (batch_send) */
} builder;

/* Bytes of encoded pairs the two batches hold at most: at ~100 bytes a
 * record, up to ~65k (triple, context) pairs per write.  A batch is sent
 * to be written in the background (batch_send) at BATCH_FIRST bytes, the
 * next at twice that, and so on up to half of BATCH_BYTES: while one
 * batch's files are put by their threads the next is filled, so a small
 * store's sync is not all build, then all write, and a large one's
 * batches are still large (puts sorted by key land on the same pages).
 * The price: keys already in the tree from an earlier batch are put
 * between full pages (page splits), ~5% more instructions on the sample
 * corpus for ~7% fewer on the thread the ingestion waits for
 * (docs/benchmarks.md "Seventh round"). */
#define BATCH_BYTES ((size_t)64 << 20)
#define BATCH_FIRST ((size_t)4 << 20)

static cc_status b_err(builder *b, cc_status s, const char *what)
{
    if (s == CC_NOMEM) return cc_kb_seterr(b->kb, s, "out of memory");
    return cc_kb_seterr(b->kb, s, "graph store: %s: %s", what, cg_store_errmsg(b->st));
}

/* Queues (s, p, o) for the current context.  A literal with a NUL byte or
 * invalid UTF-8 is skipped and counted. */
static cc_status put(builder *b, const char *s, const char *p, const char *o, size_t olen,
                     int kind)
{
    tq *q = b->q;
    trip *t;
    if (kind != T_IRI && (memchr(o, 0, olen) || cc_utf8_check(o, olen) != olen)) {
        b->stats->skipped++;
        return CC_OK;
    }
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        trip *nt = realloc(q->t, cap * sizeof *nt);
        if (!nt) return CC_NOMEM;
        q->t = nt;
        q->cap = cap;
    }
    t = &q->t[q->n];
    t->s = cc_strdup(s);
    t->p = cc_strdup(p);
    t->o = cc_strndup(o, olen);
    t->kind = kind;
    if (!t->s || !t->p || !t->o) { free(t->s); free(t->p); free(t->o); return CC_NOMEM; }
    q->n++;
    return CC_OK;
}

static cc_status put_i64(builder *b, const char *s, const char *p, int64_t v)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%lld", (long long)v);
    return put(b, s, p, num, (size_t)n, T_INT);
}

static cc_status put_col(builder *b, const char *s, const char *p, sqlite3_stmt *q, int col,
                         int kind)
{
    const char *v = (const char *)sqlite3_column_text(q, col);
    if (!v) return CC_OK;
    return put(b, s, p, v, (size_t)sqlite3_column_bytes(q, col), kind);
}

static int trip_cmp(const void *x, const void *y)
{
    const trip *a = x, *b = y;
    int c = strcmp(a->s, b->s);
    if (!c) c = strcmp(a->p, b->p);
    if (!c) c = a->kind - b->kind;
    if (!c) c = strcmp(a->o, b->o);
    return c;
}

static void trips_clear(tq *q)
{
    size_t i;
    for (i = 0; i < q->n; i++) { free(q->t[i].s); free(q->t[i].p); free(q->t[i].o); }
    q->n = q->uniq = 0;
}

/* Sorts q and drops repeated triples. */
static void trips_dedup(tq *q)
{
    size_t i, k = 0;
    if (!q->n) return;
    qsort(q->t, q->n, sizeof *q->t, trip_cmp);
    for (i = 0; i < q->n; i++) {
        if (k && !trip_cmp(&q->t[i], &q->t[k - 1])) {
            free(q->t[i].s); free(q->t[i].p); free(q->t[i].o);
            continue;
        }
        q->t[k++] = q->t[i];
    }
    q->n = q->uniq = k;
}

/* Writes the pairs batched so far, the background write first (nothing
 * when the builder has no batch): librdf may use the store after it. */
static cc_status batch_write(builder *b)
{
    cc_status s;
    if (!b->batch) return CC_OK;
    if (b->spare && (s = cg_bdb_batch_wait(b->spare))) return b_err(b, s, "writing triples");
    s = cg_bdb_batch_write(b->batch);
    return s ? b_err(b, s, "writing triples") : CC_OK;
}

/* The batch is full: it is written in the background (once the one sent
 * before is written) and the spare becomes the batch to fill.  Without a
 * spare: written now. */
static cc_status batch_send(builder *b)
{
    cg_bdb_batch *t;
    cc_status s;
    if (!b->spare) return batch_write(b);
    if ((s = cg_bdb_batch_wait(b->spare))) return b_err(b, s, "writing triples");
    cg_bdb_batch_start(b->batch);
    t = b->spare;
    b->spare = b->batch;
    b->batch = t;
    if (b->batch_limit < BATCH_BYTES / 2) b->batch_limit *= 2;
    return CC_OK;
}

/* Adds the triples queued in q, each once, in context ctx; clears q. */
static cc_status flush_ctx(builder *b, tq *q, const char *ctx)
{
    librdf_world *w = b->st->world;
    librdf_node *c, *ps = NULL, *pp = NULL;     /* the previous triple's subject, predicate */
    cc_status s = CC_OK;
    size_t i;
    if (!q->n) return CC_OK;
    trips_dedup(q);
    if (!(c = librdf_new_node_from_uri_string(w, (const unsigned char *)ctx))) {
        trips_clear(q);
        return b_err(b, CC_INVALID, "making a context node");
    }
    for (i = 0; i < q->n && !s; i++) {
        const trip *t = &q->t[i];
        librdf_node *ns, *np, *no;
        librdf_statement *stmt;
        /* sorted: a triple mostly has the previous one's subject (and
         * predicate); a copy of that node is a reference, not a parse */
        ns = i && !strcmp(t->s, t[-1].s) && ps ? librdf_new_node_from_node(ps)
                                               : node_uri(w, &b->nodes, t->s);
        np = i && !strcmp(t->p, t[-1].p) && pp ? librdf_new_node_from_node(pp)
                                               : node_uri(w, &b->nodes, t->p);
        if (t->kind == T_IRI)
            no = node_uri(w, &b->nodes, t->o);
        else if (t->kind == T_LIT)
            no = librdf_new_node_from_typed_counted_literal(w, (const unsigned char *)t->o,
                                                            strlen(t->o), NULL, 0, NULL);
        else
            no = librdf_new_node_from_typed_counted_literal(w, (const unsigned char *)t->o,
                                                            strlen(t->o), NULL, 0, b->dt[t->kind]);
        if (!ns || !np || !no) {
            if (ns) librdf_free_node(ns);
            if (np) librdf_free_node(np);
            if (no) librdf_free_node(no);
            s = b_err(b, CC_INVALID, "making nodes");
            break;
        }
        if (ps) librdf_free_node(ps);
        if (pp) librdf_free_node(pp);
        ps = librdf_new_node_from_node(ns);       /* NULL: the next one is made anew */
        pp = librdf_new_node_from_node(np);
        stmt = librdf_new_statement_from_nodes(w, ns, np, no);   /* owns the nodes */
        if (!stmt) { s = b_err(b, CC_NOMEM, "making a statement"); break; }
        if (b->batch) {
            if ((s = cg_bdb_batch_add(b->batch, stmt, c)))
                s = b_err(b, s, s == CC_NOMEM ? "" : "encoding a triple");
            else
                b->stats->triples_added++;
        } else if (librdf_model_context_add_statement(b->st->model, c, stmt)) {
            s = b_err(b, CC_IO, "adding a triple");
        } else {
            b->stats->triples_added++;
        }
        librdf_free_statement(stmt);
    }
    if (ps) librdf_free_node(ps);
    if (pp) librdf_free_node(pp);
    librdf_free_node(c);
    trips_clear(q);
    if (!s && b->batch && cg_bdb_batch_bytes(b->batch) >= b->batch_limit) s = batch_send(b);
    return s;
}

static const char *iri_id(cc_buf *out, const char *kind, int64_t id)
{
    cc_buf_reset(out);
    return cc_buf_printf(out, "urn:cairn:%s:%lld", kind, (long long)id) ? NULL : out->data;
}

/* "urn:cairn:entity:" + escaped key, into out. */
static const char *iri_esc(cc_buf *out, const char *prefix, const char *v, size_t n)
{
    cc_buf_reset(out);
    if (cc_buf_puts(out, prefix) || cg_iri_escape(out, v, n)) return NULL;
    return out->data;
}

/* Queues an entity's description (type, label, key) in the document's
 * context; its IRI into iri. */
static cc_status put_entity(builder *b, sqlite3_stmt *q, int col_key, int col_label,
                            int col_type, cc_buf *iri)
{
    const char *e = iri_esc(iri, "urn:cairn:entity:", (const char *)sqlite3_column_text(q, col_key),
                            (size_t)sqlite3_column_bytes(q, col_key));
    const char *cls = type_class((const char *)sqlite3_column_text(q, col_type));
    tq *save = b->q;
    cc_status s;
    int seen;
    if (!e) return CC_NOMEM;
    if ((seen = iri_set_add(&b->described, e)) != 0) return seen > 0 ? CC_OK : CC_NOMEM;
    b->q = &b->dq;
    if (!(s = put(b, e, NS_RDF "type", cls, strlen(cls), T_IRI)) &&
        !(s = put_col(b, e, NS_RDFS "label", q, col_label, T_LIT)))
        s = put_col(b, e, NS_CAIRN "key", q, col_key, T_LIT);
    b->q = save;
    return s;
}

/* Queues a predicate's description (type, label) in the document's context. */
static cc_status put_predicate(builder *b, const char *p, sqlite3_stmt *q, int col)
{
    tq *save = b->q;
    cc_status s;
    int seen;
    if ((seen = iri_set_add(&b->described, p)) != 0) return seen > 0 ? CC_OK : CC_NOMEM;
    b->q = &b->dq;
    if (!(s = put(b, p, NS_RDF "type", NS_CAIRN "Predicate", strlen(NS_CAIRN "Predicate"), T_IRI)))
        s = put_col(b, p, NS_RDFS "label", q, col, T_LIT);
    b->q = save;
    return s;
}

static cc_status sqlerr(builder *b, const char *what) { return cc_kb_sqlerr(b->kb, what); }

/* Queues the description of a live document and its ingestion run in the
 * document queue (written by add_range after the chunks).  *live = 0 when
 * the document is deleted (nothing queued). */
static cc_status add_doc(builder *b, int64_t doc_id, int *live, int64_t *gen_out)
{
    sqlite3_stmt *q = b->q_doc;
    cc_buf doc = CC_BUF_INIT(0), run = CC_BUF_INIT(0);
    cc_status s = CC_OK;
    int rc;
    *live = 0;
    b->q = &b->dq;
    sqlite3_bind_int64(q, 1, doc_id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        int64_t gen = sqlite3_column_int64(q, 6);
        *live = 1;
        *gen_out = gen;
        if (!iri_id(&doc, "doc", doc_id) || !iri_id(&run, "run", gen)) { s = CC_NOMEM; goto out; }
        if ((s = put(b, doc.data, NS_RDF "type", NS_CAIRN "Document", strlen(NS_CAIRN "Document"), T_IRI)) ||
            (s = put_col(b, doc.data, NS_CAIRN "uri", q, 0, T_LIT)) ||
            (s = put_col(b, doc.data, NS_CAIRN "version", q, 1, T_INT)) ||
            (s = put_col(b, doc.data, NS_CAIRN "format", q, 2, T_LIT)) ||
            (s = put_col(b, doc.data, NS_CAIRN "sha256", q, 3, T_LIT)) ||
            (s = put_col(b, doc.data, NS_CAIRN "title", q, 4, T_LIT)) ||
            (s = put_col(b, doc.data, NS_PROV "generatedAtTime", q, 5, T_TIME)) ||
            (s = put(b, doc.data, NS_PROV "wasGeneratedBy", run.data, run.len, T_IRI)) ||
            (s = put(b, run.data, NS_RDF "type", NS_CAIRN "ExtractionRun",
                     strlen(NS_CAIRN "ExtractionRun"), T_IRI)) ||
            (s = put_i64(b, run.data, NS_CAIRN "generation", gen)) ||
            (s = put_col(b, run.data, NS_PROV "startedAtTime", q, 7, T_TIME)))
            goto out;
    } else if (rc != SQLITE_DONE) {
        s = sqlerr(b, "graph store: reading a document");
    }
out:
    sqlite3_reset(q);
    b->q = &b->cq;
    if (s) trips_clear(&b->dq);
    cc_buf_free(&doc);
    cc_buf_free(&run);
    return s == CC_NOMEM ? b_err(b, s, "") : s;
}

/* The context of one live chunk (nothing when it no longer exists); the
 * descriptions of what it names go to the document queue. */
static cc_status add_chunk(builder *b, int64_t chunk_id, int64_t gen)
{
    cc_buf chunk = CC_BUF_INIT(0), doc = CC_BUF_INIT(0), run = CC_BUF_INIT(0),
           si = CC_BUF_INIT(0), oi = CC_BUF_INIT(0), pi = CC_BUF_INIT(0), ai = CC_BUF_INIT(0),
           xi = CC_BUF_INIT(0);
    sqlite3_stmt *q = b->q_chunk;
    cc_status s = CC_OK;
    int rc, facts = 0;
    b->q = &b->cq;
    sqlite3_bind_int64(q, 1, chunk_id);
    rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(q);
        return rc == SQLITE_DONE ? CC_OK : sqlerr(b, "graph store: reading a chunk");
    }
    if (!iri_id(&chunk, "chunk", chunk_id) || !iri_id(&doc, "doc", sqlite3_column_int64(q, 0)) ||
        !iri_id(&run, "run", gen)) { s = CC_NOMEM; goto out; }
    if ((s = put(b, chunk.data, NS_RDF "type", NS_CAIRN "Chunk", strlen(NS_CAIRN "Chunk"), T_IRI)) ||
        (s = put(b, chunk.data, NS_PROV "wasDerivedFrom", doc.data, doc.len, T_IRI)) ||
        (s = put(b, chunk.data, NS_PROV "wasGeneratedBy", run.data, run.len, T_IRI)) ||
        (s = put_col(b, chunk.data, NS_CAIRN "ordinal", q, 1, T_INT)) ||
        (s = put_col(b, chunk.data, NS_CAIRN "startChar", q, 2, T_INT)) ||
        (s = put_col(b, chunk.data, NS_CAIRN "endChar", q, 3, T_INT)))
        goto out;
    sqlite3_reset(q);

    /* entities it mentions: the mention here, key, label and type in the document's context */
    q = b->q_ments;
    sqlite3_bind_int64(q, 1, chunk_id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if ((s = put_entity(b, q, 0, 1, 2, &si)) ||
            (s = put(b, chunk.data, NS_CAIRN "mentions", si.data, si.len, T_IRI)))
            goto out;
        facts++;
    }
    if (rc != SQLITE_DONE) { s = sqlerr(b, "graph store: reading mentions"); goto out; }
    sqlite3_reset(q);

    /* extractors that worked on it */
    q = b->q_xs;
    sqlite3_bind_int64(q, 1, chunk_id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (!iri_esc(&xi, "urn:cairn:extractor:", (const char *)sqlite3_column_text(q, 0),
                     (size_t)sqlite3_column_bytes(q, 0))) { s = CC_NOMEM; goto out; }
        if ((s = put(b, run.data, NS_PROV "wasAssociatedWith", xi.data, xi.len, T_IRI)) ||
            (s = put(b, xi.data, NS_RDF "type", NS_CAIRN "Extractor", strlen(NS_CAIRN "Extractor"), T_IRI)) ||
            (s = put_col(b, xi.data, NS_RDFS "label", q, 0, T_LIT)))
            goto out;
    }
    if (rc != SQLITE_DONE) { s = sqlerr(b, "graph store: reading extractors"); goto out; }
    sqlite3_reset(q);

    /* relations: the triple and (graph.store_assertions) its assertion */
    q = b->q_rels;
    sqlite3_bind_int64(q, 1, chunk_id);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(q, 12);
        int inferred = status && !strcmp(status, "inferred");
        const char *st_iri = inferred ? NS_CAIRN "inferred" : NS_CAIRN "confirmed";
        int full = b->assertions == AS_ALL || (b->assertions == AS_CONFIRMED && !inferred);
        cc_buf_reset(&ai);
        if ((s = put_entity(b, q, 1, 2, 3, &si)) || (s = put_entity(b, q, 5, 6, 7, &oi)))
            goto out;
        if (!iri_esc(&pi, "urn:cairn:rel:", (const char *)sqlite3_column_text(q, 4),
                     (size_t)sqlite3_column_bytes(q, 4)) ||
            !iri_esc(&xi, "urn:cairn:extractor:", (const char *)sqlite3_column_text(q, 13),
                     (size_t)sqlite3_column_bytes(q, 13)) ||
            cc_buf_printf(&ai, "%s/rel/%lld", chunk.data, (long long)sqlite3_column_int64(q, 0))) {
            s = CC_NOMEM;
            goto out;
        }
        if ((s = put(b, si.data, pi.data, oi.data, oi.len, T_IRI)) ||
            (s = put_predicate(b, pi.data, q, 4)))
            goto out;
        facts++;
        /* compact: confirmed relations only, without what the context and the
         * catalog's row (the id in the IRI) give: offsets, pattern, chunk,
         * run, extractor */
        if (!full && (b->assertions != AS_COMPACT || inferred)) continue;
        if ((s = put(b, ai.data, NS_RDF "type", NS_CAIRN "Assertion", strlen(NS_CAIRN "Assertion"), T_IRI)) ||
            (s = put(b, ai.data, NS_RDF "subject", si.data, si.len, T_IRI)) ||
            (s = put(b, ai.data, NS_RDF "predicate", pi.data, pi.len, T_IRI)) ||
            (s = put(b, ai.data, NS_RDF "object", oi.data, oi.len, T_IRI)) ||
            (s = put_col(b, ai.data, NS_CAIRN "confidence", q, 10, T_DBL)) ||
            (s = put(b, ai.data, NS_CAIRN "status", st_iri, strlen(st_iri), T_IRI)))
            goto out;
        if (!full) continue;
        if ((s = put_col(b, ai.data, NS_CAIRN "startChar", q, 8, T_INT)) ||
            (s = put_col(b, ai.data, NS_CAIRN "endChar", q, 9, T_INT)) ||
            (s = put_col(b, ai.data, NS_CAIRN "pattern", q, 11, T_LIT)) ||
            (s = put(b, ai.data, NS_PROV "wasDerivedFrom", chunk.data, chunk.len, T_IRI)) ||
            (s = put(b, ai.data, NS_PROV "wasGeneratedBy", run.data, run.len, T_IRI)) ||
            (s = put(b, ai.data, NS_PROV "wasAttributedTo", xi.data, xi.len, T_IRI)))
            goto out;
    }
    if (rc != SQLITE_DONE) { s = sqlerr(b, "graph store: reading relations"); goto out; }
    if (!facts) goto out;      /* nothing extracted: no context (see the top) */
    s = flush_ctx(b, &b->cq, chunk.data);
    if (!s) b->stats->contexts_added++;
out:
    sqlite3_reset(q);
    sqlite3_reset(b->q_chunk);
    trips_clear(&b->cq);
    cc_buf_free(&chunk); cc_buf_free(&doc); cc_buf_free(&run); cc_buf_free(&si);
    cc_buf_free(&oi); cc_buf_free(&pi); cc_buf_free(&ai); cc_buf_free(&xi);
    return s == CC_NOMEM ? b_err(b, s, "") : s;
}

static cc_status remove_ctx(builder *b, const char *kind, int64_t id)
{
    cc_buf c = CC_BUF_INIT(0);
    size_t n = 0;
    cc_status s;
    if (!iri_id(&c, kind, id)) return b_err(b, CC_NOMEM, "");
    if ((s = batch_write(b))) { cc_buf_free(&c); return s; }   /* librdf reads what was added */
    /* count first: only contexts that were there are reported removed */
    if ((s = cg_store_count(b->st, c.data, &n)) == CC_OK && n &&
        (s = cg_store_remove_context(b->st, c.data)) == CC_OK)
        b->stats->contexts_removed++;
    cc_buf_free(&c);
    return s ? b_err(b, s, "removing a context") : CC_OK;
}

static const char *const sql_doc =
    "SELECT d.uri, d.version, d.format, d.sha256, d.title, d.ingested_at, d.generation,"
    " (SELECT at FROM changes WHERE generation = d.generation)"
    " FROM documents d WHERE d.id = ?1 AND d.deleted = 0";
static const char *const sql_chunk =
    "SELECT doc_id, ordinal, start_char, end_char FROM chunks WHERE id = ?1";
static const char *const sql_ments =
    "SELECT e.key, e.label, e.type FROM entities e WHERE e.id IN"
    " (SELECT entity_id FROM mentions WHERE chunk_id = ?1)";
static const char *const sql_xs =
    "SELECT extractor FROM mentions WHERE chunk_id = ?1"
    " UNION SELECT extractor FROM relations WHERE chunk_id = ?1";
static const char *const sql_rels =
    "SELECT r.id, s.key, s.label, s.type, r.predicate, o.key, o.label, o.type,"
    " r.start_char, r.end_char, r.confidence, r.pattern, r.status, r.extractor"
    " FROM relations r JOIN entities s ON s.id = r.subject_id"
    " JOIN entities o ON o.id = r.object_id WHERE r.chunk_id = ?1";

/* graph.store_assertions: "compact" (default), "all", "confirmed" or "none"
 * (graph.h says what each stores). */
static cc_status assertions_setting(cc_kb *kb, int *level)
{
    const char *as;
    cc_status s = cc_kb_setting_str(kb, "graph.store_assertions", "compact", &as);
    if (s) return s;
    if (!strcmp(as, "all")) *level = AS_ALL;
    else if (!strcmp(as, "compact")) *level = AS_COMPACT;
    else if (!strcmp(as, "confirmed")) *level = AS_CONFIRMED;
    else if (!strcmp(as, "none")) *level = AS_NONE;
    else return cc_kb_seterr(kb, CC_INVALID, "graph.store_assertions must be \"compact\", "
                             "\"all\", \"confirmed\" or \"none\", not \"%s\"", as);
    return CC_OK;
}

static cc_status builder_init(builder *b, cc_kb *kb, cg_store *st, cg_graph_stats *stats)
{
    sqlite3 *db = cc_kb_db(kb);
    cc_status s;
    memset(b, 0, sizeof *b);
    if ((s = assertions_setting(kb, &b->assertions))) return s;
    /* the store just opened by this thread: its BDB handles, when found */
    if ((s = cg_bdb_batch_new(st, &b->batch)) == CC_NOMEM ||
        (b->batch && cg_bdb_batch_new(st, &b->spare) == CC_NOMEM))
        return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    b->batch_limit = BATCH_FIRST;
    b->kb = kb;
    b->st = st;
    b->stats = stats;
    b->q = &b->cq;
    cc_buf_init(&b->a, 0);
    cc_buf_init(&b->b, 0);
    b->dt[T_INT] = librdf_new_uri(st->world, (const unsigned char *)NS_XSD "integer");
    b->dt[T_DBL] = librdf_new_uri(st->world, (const unsigned char *)NS_XSD "double");
    b->dt[T_TIME] = librdf_new_uri(st->world, (const unsigned char *)NS_XSD "dateTime");
    if (!b->dt[T_INT] || !b->dt[T_DBL] || !b->dt[T_TIME])
        return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    if (sqlite3_prepare_v2(db, sql_doc, -1, &b->q_doc, NULL) ||
        sqlite3_prepare_v2(db, sql_chunk, -1, &b->q_chunk, NULL) ||
        sqlite3_prepare_v2(db, sql_ments, -1, &b->q_ments, NULL) ||
        sqlite3_prepare_v2(db, sql_xs, -1, &b->q_xs, NULL) ||
        sqlite3_prepare_v2(db, sql_rels, -1, &b->q_rels, NULL))
        return cc_kb_sqlerr(kb, "graph store: preparing");
    return CC_OK;
}

static void builder_free(builder *b)
{
    int i;
    cg_bdb_batch_free(b->spare);      /* waits for its background write */
    cg_bdb_batch_free(b->batch);
    b->batch = b->spare = NULL;
    trips_clear(&b->cq);
    trips_clear(&b->dq);
    iri_set_free(&b->described);
    node_cache_free(&b->nodes);
    free(b->cq.t);
    free(b->dq.t);
    for (i = 0; i < 5; i++) if (b->dt[i]) librdf_free_uri(b->dt[i]);
    sqlite3_finalize(b->q_doc);
    sqlite3_finalize(b->q_chunk);
    sqlite3_finalize(b->q_ments);
    sqlite3_finalize(b->q_xs);
    sqlite3_finalize(b->q_rels);
    cc_buf_free(&b->a);
    cc_buf_free(&b->b);
}

/* A document's contexts: its chunks' in [lo, hi], then its own (with
 * the descriptions its chunks queued, deduplicated as the queue grows). */
static cc_status add_range(builder *b, int64_t doc_id, int64_t lo, int64_t hi)
{
    int live = 0;
    int64_t gen = 0, c;
    cc_buf ctx = CC_BUF_INIT(0);
    cc_status s;
    iri_set_clear(&b->described);      /* dq holds this document's context only */
    s = add_doc(b, doc_id, &live, &gen);
    if (s || !live) return s;
    for (c = lo; c <= hi && !s; c++) {
        s = add_chunk(b, c, gen);
        if (b->dq.n > 2 * b->dq.uniq + 4096) trips_dedup(&b->dq);
    }
    if (!s && !iri_id(&ctx, "doc", doc_id)) s = b_err(b, CC_NOMEM, "");
    if (!s) s = flush_ctx(b, &b->dq, ctx.data);
    if (!s) b->stats->contexts_added++;
    trips_clear(&b->dq);
    cc_buf_free(&ctx);
    return s;
}

static cc_status add_all(builder *b)
{
    sqlite3_stmt *q;
    cc_status s = CC_OK;
    int rc;
    if (sqlite3_prepare_v2(cc_kb_db(b->kb), "SELECT d.id, min(c.id), max(c.id) FROM documents d"
                           " LEFT JOIN chunks c ON c.doc_id = d.id WHERE d.deleted = 0"
                           " GROUP BY d.id ORDER BY d.id", -1, &q, NULL))
        return cc_kb_sqlerr(b->kb, "graph store: listing documents");
    while (!s && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t lo = sqlite3_column_int64(q, 1), hi = sqlite3_column_int64(q, 2);
        if (sqlite3_column_type(q, 1) == SQLITE_NULL) { lo = 1; hi = 0; }
        s = add_range(b, sqlite3_column_int64(q, 0), lo, hi);
    }
    if (!s && rc != SQLITE_DONE) s = cc_kb_sqlerr(b->kb, "graph store: listing documents");
    sqlite3_finalize(q);
    if (!s) s = batch_write(b);
    return s;
}

static cc_status apply_changes(builder *b, int64_t from)
{
    sqlite3_stmt *q;
    cc_status s = CC_OK;
    int rc;
    if (sqlite3_prepare_v2(cc_kb_db(b->kb), "SELECT op, doc_id, chunk_lo, chunk_hi FROM changes"
                           " WHERE generation > ?1 ORDER BY generation", -1, &q, NULL))
        return cc_kb_sqlerr(b->kb, "graph store: reading the change log");
    sqlite3_bind_int64(q, 1, from);
    while (!s && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *op = (const char *)sqlite3_column_text(q, 0);
        int64_t doc = sqlite3_column_int64(q, 1), lo = sqlite3_column_int64(q, 2),
                hi = sqlite3_column_int64(q, 3), c;
        if (op && !strcmp(op, "add")) {
            s = add_range(b, doc, lo, hi);
        } else {
            s = remove_ctx(b, "doc", doc);
            for (c = lo; c <= hi && !s; c++) s = remove_ctx(b, "chunk", c);
        }
    }
    if (!s && rc != SQLITE_DONE) s = cc_kb_sqlerr(b->kb, "graph store: reading the change log");
    sqlite3_finalize(q);
    if (!s) s = batch_write(b);
    return s;
}

/* Removes Berkeley DB's create-time temporaries ("__db." + a store file's
 * name).  Without an environment Berkeley DB creates a file under that
 * name, writes its first pages and renames it (fileops/fop_util.c,
 * __fop_file_setup); a process killed in between leaves the temporary,
 * and every later create of that file takes it for another process's
 * create under way, waits 100 retries (100 s) and fails ("Retry limit
 * (100) exceeded").  A file that exists is opened, never created, whatever
 * temporary lies beside it; so the only opens that can meet one are the
 * creates of a rebuild (remove_files) and a catch-up's open of a store
 * missing a file, which needs_rebuild turns into a rebuild first.  They
 * are removed anyway by every writer as soon as it holds the store's lock
 * (cg_graph_sync): under it and the KB's writer lock no other creator can
 * be under way, and no open path is left to depend on the reasoning above.
 * Readers (cg_graph_open_read, sparql.c) open read-only: no create. */
static void remove_temps(cc_kb *kb, const cg_storage *sg)
{
    cc_buf p = CC_BUF_INIT(0), tmp = CC_BUF_INIT(0);
    int i;
    for (i = 0; i < N_FILES && sg->kind == CG_STORAGE_BDB; i++) {
        cc_buf_reset(&tmp);
        if (!cc_buf_printf(&tmp, "__db.%s", db_files[i]) && !gpath(kb, tmp.data, &p)) unlink(p.data);
    }
    cc_buf_free(&p);
    cc_buf_free(&tmp);
}

/* Removes the store's files before they are created again, and their
 * create-time temporaries (remove_temps).  Called under the store's lock
 * and the KB's writer lock. */
static void remove_files(cc_kb *kb, const cg_storage *sg)
{
    cc_buf p = CC_BUF_INIT(0);
    int i;
    for (i = 0; i < N_FILES && sg->kind == CG_STORAGE_BDB; i++)
        if (!gpath(kb, db_files[i], &p)) unlink(p.data);
    cc_buf_free(&p);
    remove_temps(kb, sg);
}

/* 1 when state g names the storage sg. */
static int same_storage(const gstate *g, const cg_storage *sg)
{
    cc_buf d = CC_BUF_INIT(0);
    int same = !cg_storage_describe(sg, &d) && d.data && !strcmp(d.data, g->storage);
    cc_buf_free(&d);
    return same;
}

/* The reason the store must be rebuilt, or NULL when it can be caught up. */
static const char *needs_rebuild(cc_kb *kb, const cg_storage *sg, int64_t cur, gstate *g)
{
    cc_status s = state_read(kb, g);
    int i;
    if (s == CC_NOTFOUND) return "missing";
    if (s == CC_VERSION) return "another format";
    if (s) return "damaged";
    if (!g->clean) return "interrupted";
    if (g->vocab != VOCAB_VERSION) return "another format";
    if (!same_storage(g, sg)) return "another storage";
    for (i = 0; i < N_FILES && sg->kind == CG_STORAGE_BDB; i++)
        if (file_size(kb, db_files[i]) != g->size[i]) return "damaged";
    if (g->generation > cur) return "ahead of the catalog";
    return NULL;
}

/* Berkeley DB page cache of each store file while the writer has it open
 * (bdb_cache.c), instead of BDB's 256 KB default.  The writer puts its
 * records sorted by key (bdb_direct.c), so a batch walks each B-tree once
 * in key order and the cache needs the pages of that walk and the
 * internal pages, not the file.  One that held whole files (32 MB before)
 * filled with pages malloc'd and touched once each, a page fault per 4 KB
 * (~10 us in this VM): `cairn ingest` of MuSiQue (a 124 MB store) took
 * 0.81x the CPU with 4 MB, even though the pages evicted between batches
 * are read and written again (docs/benchmarks.md, "the store writer's
 * memory"). */
#define WRITER_CACHE_MB 4

cc_status cg_graph_sync(cc_kb *kb, int rebuild, cg_graph_stats *stats)
{
    cg_graph_stats tmp;
    cg_storage sg;
    cg_store *st = NULL;
    builder b;
    gstate g;
    const char *why;
    int64_t cur = 0;
    int fd = -1, began = 0, built = 0;
    double t0 = cc_now_ms();
    cc_status s;
    if (!stats) stats = &tmp;
    memset(stats, 0, sizeof *stats);
    memset(&b, 0, sizeof b);
    if (!cc_kb_writable(kb))
        return cc_kb_seterr(kb, CC_INVALID, "updating the graph store needs the writer lock");
    if (!store_enabled(kb, &s)) return s;
    {   /* settings are checked before the store is touched */
        int level;
        if ((s = assertions_setting(kb, &level))) return s;
    }
    if ((s = cg_storage_from_kb(kb, &sg))) return s;
    if ((s = lock_take(kb, 1, &fd))) { cg_storage_free(&sg); return s; }
    remove_temps(kb, &sg);                     /* a killed create's leftovers */
    cg_bdb_cache_begin(WRITER_CACHE_MB);       /* for the store opened below */
    cg_bdb_sync_defer();                       /* one fdatasync per file, before clean 1 */
    /* one read snapshot: the generation and the tables agree */
    if (sqlite3_get_autocommit(cc_kb_db(kb))) {
        if ((s = cc_kb_exec(kb, "BEGIN"))) goto out;
        began = 1;
    }
    if ((s = cc_kb_generation(kb, &cur))) goto out;
    why = rebuild ? "requested" : needs_rebuild(kb, &sg, cur, &g);
    if (!why && g.generation == cur) { stats->generation = cur; goto out; }   /* current */
    cg_bdb_handles_forget();                    /* builder_init finds the store's own */
    if (!why && cg_store_open_storage(&sg, CG_STORE_OPEN, &st) != CC_OK) {
        if (sg.kind != CG_STORAGE_BDB) {   /* a server out of reach is no reason to rebuild */
            s = cc_kb_seterr(kb, CC_IO, "graph store: %s (if the model is gone, cairn graph "
                             "rebuild %s recreates it)", cc_errmsg(), cc_kb_dir(kb));
            goto out;
        }
        why = "damaged";
    }
    /* under way; a store never built has no state to say otherwise: a
     * crash leaves it "missing" as it was (two fsyncs saved on a first
     * ingestion) */
    if ((!why || strcmp(why, "missing")) && (s = state_write(kb, &sg, why ? 0 : g.generation, 0, 1)))
        goto out;
again:
    if (why) {
        stats->rebuilt = 1;
        stats->rebuild_reason = why;
        remove_files(kb, &sg);
        cg_bdb_handles_forget();
        if ((s = cg_store_open_storage(&sg, CG_STORE_CREATE, &st))) {
            s = cc_kb_seterr(kb, s, "graph store: %s", cc_errmsg());
            goto out;
        }
    }
    built = 1;                                  /* builder_free undoes a partial init */
    if ((s = builder_init(&b, kb, st, stats))) goto out;
    s = why ? add_all(&b) : apply_changes(&b, g.generation);
    if (s && !why && s != CC_NOMEM && s != CC_FULL && s != CC_SQLITE) {
        /* the store failed under the catch-up (damage its sizes did not
         * show): rebuild it now rather than leave it to the next writer */
        builder_free(&b);
        built = 0;
        cg_store_close(st);
        st = NULL;
        cg_bdb_sync_defer();                    /* the files are removed: not synced */
        why = "damaged";
        stats->contexts_added = stats->contexts_removed = stats->triples_added = 0;
        stats->skipped = 0;
        goto again;
    }
    if (s) goto out;
    builder_free(&b);
    built = 0;
    cg_store_close(st);                         /* BDB writes its pages; sizes are final */
    st = NULL;
    if ((s = cg_bdb_sync_flush())) {            /* on disk before the state says clean */
        s = cc_kb_seterr(kb, s, "graph store: %s", cc_errmsg());
        goto out;
    }
    if ((s = state_write(kb, &sg, cur, 1, 0))) goto out;     /* no sync: see state_write */
    stats->generation = cur;
out:
    if (built) builder_free(&b);
    cg_store_close(st);    /* on failure state stays "clean 0": the next writer rebuilds */
    cg_bdb_sync_drop();
    if (began) cc_kb_exec(kb, "COMMIT");
    cg_bdb_cache_end();
    lock_drop(fd);
    cg_storage_free(&sg);
    stats->ms = cc_now_ms() - t0;
    return s;
}

/* ---------------------------------------------------------------- readers */

/* Opens the store for reading under the shared lock (see graph.h). */
cc_status cg_graph_open_read(cc_kb *kb, cg_store **out, int *lock_fd, int64_t *generation)
{
    cg_storage sg;
    gstate g;
    cc_status s;
    int i;
    *out = NULL;
    *lock_fd = -1;
    if (!store_enabled(kb, &s))
        return s ? s : cc_kb_seterr(kb, CC_NOTFOUND, "graph.store is \"none\" in %s: no graph store",
                                    cc_kb_dir(kb));
    if ((s = cg_storage_from_kb(kb, &sg))) return s;
    if ((s = lock_take(kb, 0, lock_fd))) { cg_storage_free(&sg); return s; }
    s = state_read(kb, &g);
    if (s == CC_NOTFOUND) {
        s = cc_kb_seterr(kb, CC_NOTFOUND, "the graph store of %s has not been built "
                         "(run: cairn graph rebuild %s)", cc_kb_dir(kb), cc_kb_dir(kb));
        goto fail;
    }
    if (s || !g.clean) {
        s = cc_kb_seterr(kb, CC_CORRUPT, "the graph store of %s is %s (the next write, or "
                         "cairn graph rebuild %s, rebuilds it)", cc_kb_dir(kb),
                         s == CC_VERSION ? "of another format" : s ? "damaged" : "incomplete (an update was interrupted)",
                         cc_kb_dir(kb));
        goto fail;
    }
    if (!same_storage(&g, &sg)) {
        s = cc_kb_seterr(kb, CC_CORRUPT, "the graph store of %s was built on another storage "
                         "(%s; the next write, or cairn graph rebuild %s, rebuilds it on the "
                         "one the settings name)", cc_kb_dir(kb), g.storage, cc_kb_dir(kb));
        goto fail;
    }
    for (i = 0; i < N_FILES && sg.kind == CG_STORAGE_BDB; i++)
        if (file_size(kb, db_files[i]) != g.size[i]) {
            s = cc_kb_seterr(kb, CC_CORRUPT, "the graph store of %s is damaged (%s has %lld bytes, "
                             "%lld recorded; cairn graph rebuild %s rebuilds it)", cc_kb_dir(kb),
                             db_files[i], (long long)file_size(kb, db_files[i]),
                             (long long)g.size[i], cc_kb_dir(kb));
            goto fail;
        }
    if ((s = cg_store_open_storage(&sg, CG_STORE_READONLY, out))) {
        /* a server that cannot be reached is not a damaged store */
        s = cc_kb_seterr(kb, sg.kind == CG_STORAGE_BDB ? CC_CORRUPT : CC_IO, "graph store: %s",
                         cc_errmsg());
        goto fail;
    }
    cg_storage_free(&sg);
    if (generation) *generation = g.generation;
    return CC_OK;
fail:
    cg_storage_free(&sg);
    lock_drop(*lock_fd);
    *lock_fd = -1;
    return s;
}

void cg_graph_close_read(cg_store *st, int lock_fd)
{
    cg_store_close(st);
    lock_drop(lock_fd);
}

/* ---------------------------------------------------------------- check */

static void problem(cc_buf *r, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(cc_buf *r, size_t *n, const char *fmt, ...)
{
    va_list ap;
    if (++*n > 20) return;
    va_start(ap, fmt);
    cc_buf_vprintf(r, fmt, ap);
    va_end(ap);
    cc_buf_putc(r, '\n');
}

/* 1 when the context IRI names a live chunk or document. */
static int ctx_live(sqlite3 *db, const char *iri)
{
    const char *sql = NULL, *num = NULL;
    sqlite3_stmt *q;
    int64_t id;
    int live = 0;
    if (!strncmp(iri, "urn:cairn:chunk:", 16)) { num = iri + 16; sql = "SELECT 1 FROM chunks WHERE id = ?1"; }
    else if (!strncmp(iri, "urn:cairn:doc:", 14)) {
        num = iri + 14;
        sql = "SELECT 1 FROM documents WHERE id = ?1 AND deleted = 0";
    }
    if (!sql || cc_parse_i64(num, 1, INT64_MAX, &id)) return 0;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL)) return 0;
    sqlite3_bind_int64(q, 1, id);
    live = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    return live;
}

cc_status cg_graph_check(cc_kb *kb, cc_buf *report, size_t *problems)
{
    sqlite3 *db = cc_kb_db(kb);
    cg_store *st = NULL;
    librdf_iterator *it = NULL;
    sqlite3_stmt *q = NULL;
    cc_buf si = CC_BUF_INIT(0), pi = CC_BUF_INIT(0), oi = CC_BUF_INIT(0), ci = CC_BUF_INIT(0);
    int64_t gen = 0, cur = 0, want = 0, nctx = 0, missing = 0;
    int fd = -1, rc;
    cc_status s;
    *problems = 0;
    if ((s = cc_kb_generation(kb, &cur))) return s;
    if ((s = cg_graph_open_read(kb, &st, &fd, &gen))) {
        cc_status e;
        if (s == CC_NOTFOUND && cur == 0) return CC_OK;   /* nothing ingested yet */
        if (s == CC_NOTFOUND && !store_enabled(kb, &e) && !e) return CC_OK;   /* "none" */
        problem(report, problems, "%s", cc_kb_errmsg(kb));
        return CC_OK;
    }
    if (gen != cur)
        problem(report, problems, "the store reflects generation %lld, the catalog is at %lld "
                "(the next write catches it up)", (long long)gen, (long long)cur);
    /* contexts: every one names a live chunk or document */
    if (!(it = librdf_model_get_contexts(st->model))) {
        problem(report, problems, "cannot list the store's contexts");
        goto out;
    }
    while (!librdf_iterator_end(it)) {
        librdf_node *c = librdf_iterator_get_object(it);
        librdf_uri *u = c ? librdf_node_get_uri(c) : NULL;
        const char *iri = u ? (const char *)librdf_uri_as_string(u) : "";
        nctx++;
        if (!ctx_live(db, iri)) problem(report, problems, "context <%s>: no such live chunk or document", iri);
        librdf_iterator_next(it);
    }
    if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM chunks c WHERE"
                           " EXISTS (SELECT 1 FROM mentions WHERE chunk_id = c.id) OR"
                           " EXISTS (SELECT 1 FROM relations WHERE chunk_id = c.id))"
                           " + (SELECT count(*) FROM documents WHERE deleted = 0)", -1, &q, NULL) ||
        sqlite3_step(q) != SQLITE_ROW) {
        s = cc_kb_sqlerr(kb, "graph check");
        goto out;
    }
    want = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    q = NULL;
    if (nctx != want)
        problem(report, problems, "%lld contexts in the store, %lld live documents and chunks "
                "with mentions or relations in the catalog", (long long)nctx, (long long)want);
    /* every live relation has its triple in its chunk's context */
    if (sqlite3_prepare_v2(db, "SELECT r.id, s.key, r.predicate, o.key, r.chunk_id FROM relations r"
                           " JOIN entities s ON s.id = r.subject_id"
                           " JOIN entities o ON o.id = r.object_id", -1, &q, NULL)) {
        s = cc_kb_sqlerr(kb, "graph check");
        goto out;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        librdf_node *ns, *np, *no, *nc;
        librdf_statement *stmt;
        librdf_stream *f;
        int found;
        if (!iri_esc(&si, "urn:cairn:entity:", (const char *)sqlite3_column_text(q, 1),
                     (size_t)sqlite3_column_bytes(q, 1)) ||
            !iri_esc(&pi, "urn:cairn:rel:", (const char *)sqlite3_column_text(q, 2),
                     (size_t)sqlite3_column_bytes(q, 2)) ||
            !iri_esc(&oi, "urn:cairn:entity:", (const char *)sqlite3_column_text(q, 3),
                     (size_t)sqlite3_column_bytes(q, 3)) ||
            !iri_id(&ci, "chunk", sqlite3_column_int64(q, 4))) {
            s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
            goto out;
        }
        ns = librdf_new_node_from_uri_string(st->world, (const unsigned char *)si.data);
        np = librdf_new_node_from_uri_string(st->world, (const unsigned char *)pi.data);
        no = librdf_new_node_from_uri_string(st->world, (const unsigned char *)oi.data);
        nc = librdf_new_node_from_uri_string(st->world, (const unsigned char *)ci.data);
        stmt = ns && np && no ? librdf_new_statement_from_nodes(st->world, ns, np, no) : NULL;
        if (!stmt) {
            if (ns) librdf_free_node(ns);
            if (np) librdf_free_node(np);
            if (no) librdf_free_node(no);
        }
        f = stmt && nc ? librdf_model_find_statements_in_context(st->model, stmt, nc) : NULL;
        found = f && !librdf_stream_end(f);
        if (f) librdf_free_stream(f);
        if (stmt) librdf_free_statement(stmt);
        if (nc) librdf_free_node(nc);
        if (!found) {
            missing++;
            problem(report, problems, "relation %lld (%s %s %s) has no triple in <%s>",
                    (long long)sqlite3_column_int64(q, 0), sqlite3_column_text(q, 1),
                    sqlite3_column_text(q, 2), sqlite3_column_text(q, 3), ci.data);
        }
    }
    if (rc != SQLITE_DONE) s = cc_kb_sqlerr(kb, "graph check");
out:
    if (*problems > 20) cc_buf_printf(report, "... %zu problems in all\n", *problems);
    if (it) librdf_free_iterator(it);
    sqlite3_finalize(q);
    cg_graph_close_read(st, fd);
    cc_buf_free(&si); cc_buf_free(&pi); cc_buf_free(&oi); cc_buf_free(&ci);
    (void)missing;
    return s;
}
