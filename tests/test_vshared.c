/* test_vshared.c — one vector index shared by several searchers (the
 * server's reader slots): both find by vectors through it, the index
 * outlives a searcher that drops it, "none" with a reason makes hybrid
 * answer from BM25 and vector mode fail with that reason, a newer index
 * swapped in is seen, the lane can run on the caller's thread, threads
 * search one shared index at once, and an index behind the catalog (a
 * server's under a writer) never returns a chunk removed since: deleted,
 * replaced, removed after a search has read the change log, and again
 * with a newer index. */
#include "retrieval.h"
#include "check.h"

#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

static const char *const docs[][2] = {
    {"crane.txt", "The harbour crane lifted forty containers before the storm."},
    {"revenue.txt", "Norvale Systems reported quarterly revenue growth of nine percent."},
    {"firmware.txt", "Firmware 4.2.1 froze the heading value of the PX-9000-v2 controller."},
};

static void ingest(const char *dir, int from, int to)
{
    cc_kb *kb = NULL;
    cr_ingest_opts io;
    cr_ingest_stats st;
    cr_vectors_stats vs;
    memset(&st, 0, sizeof st);
    CHECK_OK(cc_kb_open(dir, CC_KB_WRITE, &kb));
    if (!kb) return;
    CHECK_OK(cr_ingest_opts_from_kb(kb, &io));
    for (int i = from; i < to; i++)
        CHECK_OK(cr_ingest_data(kb, docs[i][0], CR_FMT_TXT, docs[i][1], strlen(docs[i][1]), &io, &st));
    CHECK_OK(cr_vectors_sync(kb, &vs));
    cc_kb_close(kb);
}

/* The uri of the top hit of a search, or "" when none / failed (in a
 * buffer of the calling thread's). */
static const char *top(cc_kb *kb, cr_searcher *se, const char *q, int mode, cc_status *out_st)
{
    static __thread char uri[64];
    cr_search_opts o;
    cr_hit *h = NULL;
    size_t n = 0;
    sqlite3_stmt *st;
    cc_status s;
    uri[0] = 0;
    if (cr_search_opts_from_kb(kb, &o)) return uri;
    o.mode = mode;
    o.k = 1;
    s = cr_searcher_search(se, q, &o, &h, &n);
    if (out_st) *out_st = s;
    if (s == CC_OK && n &&
        sqlite3_prepare_v2(cc_kb_db(kb), "SELECT d.uri FROM chunks c JOIN documents d"
                           " ON d.id = c.doc_id WHERE c.id = ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, h[0].chunk_id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            snprintf(uri, sizeof uri, "%s", (const char *)sqlite3_column_text(st, 0));
        else
            fprintf(stderr, "lookup of chunk %lld: %d %s\n", (long long)h[0].chunk_id, rc,
                    sqlite3_errmsg(cc_kb_db(kb)));
        sqlite3_finalize(st);
    }
    if (s == CC_OK && !n) fprintf(stderr, "%s: no hits\n", q);
    free(h);
    return uri;
}

/* The chunk id of a live document's first chunk; 0 when none. */
static int64_t chunk_of(cc_kb *kb, const char *uri)
{
    sqlite3_stmt *st;
    int64_t id = 0;
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT min(c.id) FROM chunks c JOIN documents d"
                           " ON d.id = c.doc_id WHERE d.uri = ?1 AND d.deleted = 0", -1, &st,
                           NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id;
}

/* Searches q (k 10, mode); returns the number of hits (-1 on failure) and
 * sets *with to 1 when one of them is chunk id, and *checked to the
 * timing's live_checked. */
static int hits_of(cc_kb *kb, cr_searcher *se, const char *q, int mode, int64_t id, int *with,
                   int *checked)
{
    cr_search_opts o;
    cr_search_timing t;
    cr_hit *h = NULL;
    size_t n = 0;
    *with = 0;
    if (cr_search_opts_from_kb(kb, &o)) return -1;
    o.mode = mode;
    o.k = 10;
    if (cr_searcher_search(se, q, &o, &h, &n) != CC_OK) {
        fprintf(stderr, "%s: %s\n", q, cc_kb_errmsg(kb));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (h[i].chunk_id == id) *with = 1;
        if (mode == CR_MODE_VECTOR && h[i].rank[CR_LANE_VECTOR] != (int)i + 1) {
            fprintf(stderr, "%s: hit %zu has vector rank %d\n", q, i, h[i].rank[CR_LANE_VECTOR]);
            *with = 1;
        }
    }
    free(h);
    cr_searcher_last_timing(se, &t);
    *checked = t.live_checked;
    return (int)n;
}

static void write_doc(const char *dir, const char *uri, const char *text)
{
    cc_kb *w = NULL;
    cr_ingest_opts io;
    cr_ingest_stats st;
    int64_t removed = 0;
    memset(&st, 0, sizeof st);
    CHECK_OK(cc_kb_open(dir, CC_KB_WRITE, &w));
    if (!w) return;
    if (text) {
        CHECK_OK(cr_ingest_opts_from_kb(w, &io));
        CHECK_OK(cr_ingest_data(w, uri, CR_FMT_TXT, text, strlen(text), &io, &st));
    } else {
        CHECK_OK(cr_doc_remove(w, uri, &removed));
        CHECK(removed == 1);
    }
    cc_kb_close(w);   /* no vector sync: the index stays behind */
}

typedef struct { const char *dir; cr_vshared *v; int bad; } job;

static void *searcher_thread(void *arg)
{
    job *j = arg;
    cc_kb *kb = NULL;
    cr_searcher *se = NULL;
    if (cc_kb_open(j->dir, CC_KB_READ, &kb) || cr_searcher_open(kb, &se)) { j->bad++; goto out; }
    cr_searcher_set_lane_thread(se, 0);
    cr_searcher_share_vectors(se, j->v, NULL);
    for (int i = 0; i < 200; i++) {
        cc_status s = CC_OK;
        const char *u = top(kb, se, "revenues", CR_MODE_VECTOR, &s);
        if (strcmp(u, "revenue.txt")) {
            j->bad++;
            fprintf(stderr, "vector: got '%s' (%s: %s)\n", u, cc_status_str(s), cc_kb_errmsg(kb));
        }
        u = top(kb, se, "harbour crane", CR_MODE_HYBRID, &s);
        if (strcmp(u, "crane.txt")) {
            j->bad++;
            fprintf(stderr, "hybrid: got '%s' (%s: %s)\n", u, cc_status_str(s), cc_kb_errmsg(kb));
        }
    }
out:
    cr_searcher_close(se);
    cc_kb_close(kb);
    return NULL;
}

int main(void)
{
    char dir[] = "/tmp/cairn-vshared-XXXXXX";
    char kbdir[64];
    cc_kb *kb = NULL;
    cr_embedder *e = NULL;
    cr_vshared *v = NULL, *v2 = NULL;
    cr_searcher *a = NULL, *b = NULL;
    int64_t gen = 0;
    cc_status s = CC_OK;

    if (!mkdtemp(dir)) SKIP("cannot make a temporary directory");
    snprintf(kbdir, sizeof kbdir, "%s/kb", dir);
    CHECK_OK(cc_kb_create(kbdir));
    ingest(kbdir, 0, 2);

    CHECK_OK(cc_kb_open(kbdir, CC_KB_READ, &kb));
    if (!kb) return check_done("vshared");
    CHECK_OK(cr_embedder_from_kb(kb, &e));
    CHECK_OK(cr_vshared_open(kb, e, &v));
    if (!v) return check_done("vshared");
    CHECK_OK(cc_kb_generation(kb, &gen));
    CHECK(cr_vshared_generation(v) == gen);

    /* two searchers, one index */
    CHECK_OK(cr_searcher_open(kb, &a));
    CHECK_OK(cr_searcher_open(kb, &b));
    cr_searcher_set_lane_thread(b, 0);
    cr_searcher_share_vectors(a, v, NULL);
    cr_searcher_share_vectors(b, v, NULL);
    CHECK_STR(top(kb, a, "revenues", CR_MODE_VECTOR, NULL), "revenue.txt");
    CHECK_STR(top(kb, b, "revenues", CR_MODE_VECTOR, NULL), "revenue.txt");
    CHECK_STR(top(kb, b, "crane containers", CR_MODE_HYBRID, NULL), "crane.txt");
    CHECK(cr_searcher_vector_status(b) == NULL);

    /* none, with a reason: hybrid from BM25 alone, vector mode fails */
    cr_searcher_share_vectors(a, NULL, "test: no index for now");
    CHECK_STR(top(kb, a, "crane containers", CR_MODE_HYBRID, &s), "crane.txt");
    CHECK(s == CC_OK);
    CHECK(cr_searcher_vector_status(a) && strstr(cr_searcher_vector_status(a), "test: no index"));
    top(kb, a, "revenues", CR_MODE_VECTOR, &s);
    CHECK(s == CC_NOTFOUND && strstr(cc_kb_errmsg(kb), "test: no index"));
    /* b still holds v */
    CHECK_STR(top(kb, b, "revenues", CR_MODE_VECTOR, NULL), "revenue.txt");

    /* a newer index (one more document) swapped in for a; b keeps the old */
    ingest(kbdir, 2, 3);
    CHECK_OK(cr_vshared_open(kb, e, &v2));
    CHECK(v2 && cr_vshared_generation(v2) > cr_vshared_generation(v));
    cr_searcher_share_vectors(a, v2, NULL);
    CHECK_STR(top(kb, a, "firmware heading controller", CR_MODE_VECTOR, NULL), "firmware.txt");
    CHECK(strcmp(top(kb, b, "firmware heading controller", CR_MODE_VECTOR, NULL), "firmware.txt"));
    /* the owner drops v: b's reference keeps it alive */
    cr_vshared_unref(v);
    CHECK_STR(top(kb, b, "revenues", CR_MODE_VECTOR, NULL), "revenue.txt");
    cr_searcher_share_vectors(b, v2, NULL);    /* frees v (last reference) */
    CHECK_STR(top(kb, b, "firmware heading controller", CR_MODE_VECTOR, NULL), "firmware.txt");

    /* several threads, one shared index */
    {
        pthread_t t[4];
        job j[4];
        for (int i = 0; i < 4; i++) {
            j[i] = (job){kbdir, v2, 0};
            CHECK(pthread_create(&t[i], NULL, searcher_thread, &j[i]) == 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            CHECK_MSG(j[i].bad == 0, "thread %d: %d wrong answers", i, j[i].bad);
        }
    }

    /* the index behind the catalog: removed chunks never come back */
    {
        int64_t rev = chunk_of(kb, "revenue.txt"), crane = chunk_of(kb, "crane.txt");
        int64_t fw = chunk_of(kb, "firmware.txt");
        int with = 0, checked = 0;
        cr_vectors_stats vs;
        cr_vshared *v3 = NULL;
        cc_kb *w = NULL;
        CHECK(rev > 0 && crane > 0 && fw > 0);
        CHECK(hits_of(kb, a, "revenues", CR_MODE_VECTOR, rev, &with, &checked) == 3);
        CHECK(with && !checked);    /* at the catalog's generation: nothing to check */
        write_doc(kbdir, "revenue.txt", NULL);
        CHECK(hits_of(kb, a, "revenues", CR_MODE_VECTOR, rev, &with, &checked) == 2);
        CHECK(!with && checked);
        CHECK(hits_of(kb, b, "quarterly revenue growth", CR_MODE_HYBRID, rev, &with, &checked) >= 2);
        CHECK(!with && checked);
        /* replaced after a search has read the change log: its old chunk
         * goes, its new one is not in the index yet */
        write_doc(kbdir, "crane.txt", "The harbour crane was repainted yellow in spring.");
        CHECK(chunk_of(kb, "crane.txt") > crane);
        CHECK(hits_of(kb, a, "harbour crane", CR_MODE_VECTOR, crane, &with, &checked) == 1);
        CHECK(!with && checked);
        CHECK(hits_of(kb, a, "revenues", CR_MODE_VECTOR, rev, &with, &checked) == 1);
        CHECK(!with);
        CHECK(hits_of(kb, a, "harbour crane repainted", CR_MODE_HYBRID, crane, &with, &checked) == 2);
        CHECK(!with);
        /* a newer index (caught up) for a: nothing to check; then behind again */
        CHECK_OK(cc_kb_open(kbdir, CC_KB_WRITE, &w));
        if (w) {
            CHECK_OK(cr_vectors_sync(w, &vs));
            cc_kb_close(w);
        }
        CHECK_OK(cr_vshared_open(kb, e, &v3));
        if (v3) {
            cr_searcher_share_vectors(a, v3, NULL);
            cr_vshared_unref(v3);
            CHECK(hits_of(kb, a, "harbour crane", CR_MODE_VECTOR, fw, &with, &checked) == 2);
            CHECK(with && !checked);
            write_doc(kbdir, "firmware.txt", NULL);
            CHECK(hits_of(kb, a, "harbour crane", CR_MODE_VECTOR, fw, &with, &checked) == 1);
            CHECK(!with && checked);
        }
        /* b, still on the oldest index, has all three removed */
        CHECK(hits_of(kb, b, "firmware heading controller", CR_MODE_VECTOR, fw, &with, &checked) == 0);
    }

    cr_searcher_close(a);
    cr_searcher_close(b);
    cr_vshared_unref(v2);
    cr_embedder_close(e);
    cc_kb_close(kb);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0);
    }
    return check_done("vshared");
}
