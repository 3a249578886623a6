/* test_graph_sync_defer.c — Berkeley DB's fsyncs of the Redland store,
 * deferred by the writer (graph/bdb_cache.c): while a thread defers, the
 * files its store syncs are remembered once each (five for a new store,
 * however many times Berkeley DB syncs them); another thread's syncs are
 * not touched; cg_bdb_sync_flush syncs them and forgets them, drop forgets
 * them; the store reads back the same either way.  A build or libdb
 * without the fsync hook: skipped. */
#include "graph_int.h"
#include "check.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *c1 = "urn:cairn:chunk:1", *ana = "urn:cairn:entity:ana-ruiz",
                  *label = "http://www.w3.org/2000/01/rdf-schema#label";

/* Writes n labels into a new store in dir and closes it. */
static void write_store(const char *dir, int n)
{
    cg_store *st = NULL;
    cg_bdb_cache_begin(4);
    CHECK_OK(cg_store_open(dir, CG_STORE_CREATE, &st));
    cg_bdb_cache_end();
    if (!st) return;
    for (int i = 0; i < n; i++) {           /* more than one page per file */
        char lit[32];
        snprintf(lit, sizeof lit, "name %d", i);
        CHECK_OK(cg_store_add(st, c1, ana, label, lit, 1));
    }
    cg_store_close(st);
}

static size_t count(const char *dir)
{
    cg_store *st = NULL;
    size_t n = 0;
    CHECK_OK(cg_store_open(dir, CG_STORE_READONLY, &st));
    if (!st) return 0;
    CHECK_OK(cg_store_count(st, c1, &n));
    cg_store_close(st);
    return n;
}

typedef struct other { const char *dir; unsigned pending; } other;

/* Another thread writing its own store while the main thread defers. */
static void *other_thread(void *p)
{
    other *o = p;
    write_store(o->dir, 50);
    o->pending = cg_bdb_sync_pending();
    return NULL;
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    char a[1024], b[1024], c[1024], cmd[3300];
    other o = {b, 99};
    pthread_t th;
    snprintf(a, sizeof a, "%s/graph-defer-a-%ld", tmp ? tmp : "/tmp", (long)getpid());
    snprintf(b, sizeof b, "%s/graph-defer-b-%ld", tmp ? tmp : "/tmp", (long)getpid());
    snprintf(c, sizeof c, "%s/graph-defer-c-%ld", tmp ? tmp : "/tmp", (long)getpid());
    mkdir(a, 0700);
    mkdir(b, 0700);
    mkdir(c, 0700);

    CHECK_OK(cg_bdb_sync_flush());          /* nothing deferred: nothing to do */
    if (!cg_bdb_sync_defer()) {
        printf("graph_sync_defer: Berkeley DB's fsync cannot be replaced here: skipped\n");
        return 77;
    }
    write_store(a, 400);
    /* created (temporary name, renamed: same file), synced by librdf, by
     * DB->close and by the cache: one entry per file */
    CHECK_MSG(cg_bdb_sync_pending() == 5, "%u files pending", cg_bdb_sync_pending());
    CHECK(pthread_create(&th, NULL, other_thread, &o) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_MSG(o.pending == 0, "the other thread deferred %u", o.pending);
    CHECK(cg_bdb_sync_pending() == 5);
    CHECK_OK(cg_bdb_sync_flush());
    CHECK(cg_bdb_sync_pending() == 0);
    CHECK_MSG(count(a) == 400, "a: %zu", count(a));
    CHECK_MSG(count(b) == 50, "b: %zu", count(b));

    /* not deferring any more: a store written now syncs as usual */
    write_store(c, 10);
    CHECK(cg_bdb_sync_pending() == 0);

    /* dropped: forgotten unsynced, the pages were still written */
    CHECK(cg_bdb_sync_defer() == 1);
    {
        cg_store *st = NULL;
        CHECK_OK(cg_store_open(c, CG_STORE_OPEN, &st));
        if (st) {
            CHECK_OK(cg_store_add(st, c1, ana, label, "one more", 1));
            cg_store_close(st);
        }
    }
    CHECK(cg_bdb_sync_pending() > 0 && cg_bdb_sync_pending() <= 5);
    cg_bdb_sync_drop();
    CHECK(cg_bdb_sync_pending() == 0);
    CHECK_MSG(count(c) == 11, "c: %zu", count(c));
    /* a defer after a defer starts afresh */
    CHECK(cg_bdb_sync_defer() == 1);
    CHECK(cg_bdb_sync_defer() == 1 && cg_bdb_sync_pending() == 0);
    cg_bdb_sync_drop();

    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s'", a, b, c);
    CHECK(system(cmd) == 0);
    return check_done("graph_sync_defer");
}
