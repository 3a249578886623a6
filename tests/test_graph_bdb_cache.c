/* test_graph_bdb_cache.c — the Redland store's writer gets a real Berkeley
 * DB page cache (graph/bdb_cache.c): librdf's db_create calls reach
 * cairn's wrapper (one sized handle per store file) only while a thread
 * asked for it, and the store written that way reads back the same.
 * A build without <db.h> has no wrapper: the test then skips. */
#include "graph_int.h"
#include "check.h"

#include <sys/stat.h>
#include <unistd.h>

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    char dir[1024], dir2[1024];
    cg_store *st = NULL;
    size_t n = 0;
    unsigned long before;
    const char *c1 = "urn:cairn:chunk:1", *ana = "urn:cairn:entity:ana-ruiz",
               *nor = "urn:cairn:entity:norvale", *cfo = "urn:cairn:rel:cfo_of";
    snprintf(dir, sizeof dir, "%s/graph-bdb-%ld", tmp ? tmp : "/tmp", (long)getpid());
    snprintf(dir2, sizeof dir2, "%s/graph-bdb2-%ld", tmp ? tmp : "/tmp", (long)getpid());
    mkdir(dir, 0700);
    mkdir(dir2, 0700);

    /* nobody asked: librdf's handles keep Berkeley DB's default */
    before = cg_bdb_cache_sized();
    CHECK_OK(cg_store_open(dir2, CG_STORE_CREATE, &st));
    cg_store_close(st);
    st = NULL;
    CHECK(cg_bdb_cache_sized() == before);

    /* asked: every file of the hashes storage (sp2o po2s so2p p2so contexts) */
    cg_bdb_cache_begin(4);
    CHECK_OK(cg_store_open(dir, CG_STORE_CREATE, &st));
    cg_bdb_cache_end();
#ifndef CAIRN_HAVE_DB_H
    if (cg_bdb_cache_sized() == before) {
        cg_store_close(st);
        printf("graph_bdb_cache: built without <db.h> (libdb5.3-dev): skipped\n");
        return 77;
    }
#endif
    CHECK_MSG(cg_bdb_cache_sized() - before >= 5, "%lu handles sized",
              cg_bdb_cache_sized() - before);
    if (!st) return check_done("graph_bdb_cache");
    for (int i = 0; i < 400; i++) {        /* more than one page per file */
        char lit[32];
        snprintf(lit, sizeof lit, "name %d", i);
        CHECK_OK(cg_store_add(st, c1, ana, "http://www.w3.org/2000/01/rdf-schema#label", lit, 1));
    }
    CHECK_OK(cg_store_add(st, c1, ana, cfo, nor, 0));
    cg_store_close(st);
    st = NULL;

    /* read back with the default cache: same triples */
    before = cg_bdb_cache_sized();
    CHECK_OK(cg_store_open(dir, CG_STORE_READONLY, &st));
    CHECK(cg_bdb_cache_sized() == before);
    if (st) {
        CHECK_OK(cg_store_count(st, c1, &n));
        CHECK_MSG(n == 401, "n=%zu", n);
        cg_store_close(st);
    }
    {
        char cmd[2200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, dir2);
        CHECK(system(cmd) == 0);
    }
    return check_done("graph_bdb_cache");
}
