/* test_graph_bdb_cache.c — the Redland store's writer gets a real Berkeley
 * DB page cache (graph/bdb_cache.c): librdf's db_create calls reach
 * cairn's wrapper (one sized handle per store file) only while a thread
 * asked for it, and the store written that way reads back the same.
 * A writer that only adds (cg_bdb_fast_compare) gets handles that
 * compare keys with memcmp (key_cmp, key_prefix):
 * a B-tree of keys that share long prefixes, are prefixes of one another
 * and hold bytes over 0x7f, written through such a handle on small pages
 * (several levels), reads back through a default handle in Berkeley DB's
 * documented order (bytes as unsigned, then the shorter first) and finds
 * every key.  A build without <db.h> has no wrapper: the test then skips. */
#include "graph_int.h"
#include "check.h"

#include <sys/stat.h>
#include <unistd.h>

#ifdef CAIRN_HAVE_DB_H
#include <db.h>

#define NKEYS 20000

typedef struct key { unsigned char b[64]; u_int32_t n; } key;

/* Berkeley DB's default order, as its documentation states it. */
static int doc_order(const void *x, const void *y)
{
    const key *a = x, *b = y;
    u_int32_t i;
    for (i = 0; i < a->n && i < b->n; i++)
        if (a->b[i] != b->b[i]) return a->b[i] < b->b[i] ? -1 : 1;
    return a->n < b->n ? -1 : a->n > b->n;
}

static void order_check(const char *dir)
{
    static key k[NKEYS];
    static const char *const stem[3] = {"urn:cairn:entity:", "urn:cairn:chunk:1", "x"};
    char path[1100];
    uint64_t seed = 42;
    DB *db = NULL, *plain = NULL;
    DBC *cur = NULL;
    DBT dk, dv;
    int (*fn_w)(DB *, const DBT *, const DBT *) = NULL, (*fn_p)(DB *, const DBT *, const DBT *) = NULL;
    size_t i, n = 0, found = 0, in_order = 0;
    snprintf(path, sizeof path, "%s/order.db", dir);
    for (i = 0; i < NKEYS; i++) {
        size_t len = strlen(stem[i % 3]), extra;
        memcpy(k[i].b, stem[i % 3], len);
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        extra = (seed >> 33) % 24;      /* 0: the stem alone, a prefix of the others */
        for (size_t j = 0; j < extra; j++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            /* few letters, so keys share prefixes; and bytes 0x00 and 0xe9/0xff */
            k[i].b[len + j] = "ab\x00\xe9\xff"[(seed >> 40) % 5];
        }
        k[i].n = (u_int32_t)(len + extra);
    }
    /* a cache alone: the default comparison (a catch-up that removes) */
    cg_bdb_cache_begin(1);
    CHECK(db_create(&db, NULL, 0) == 0);
    CHECK(db_create(&plain, NULL, 0) == 0);
    if (!db || !plain) return;
    CHECK(db->get_bt_compare(db, &fn_w) == 0 && plain->get_bt_compare(plain, &fn_p) == 0);
    CHECK_MSG(fn_w == fn_p, "without cg_bdb_fast_compare the writer's handle keeps the default");
    db->close(db, 0);
    plain->close(plain, 0);
    db = NULL;
    /* asked: cairn's comparison; the default again after cg_bdb_cache_end */
    cg_bdb_fast_compare(1);
    CHECK(db_create(&db, NULL, 0) == 0);
    cg_bdb_cache_end();
    CHECK(db_create(&plain, NULL, 0) == 0);
    if (!db || !plain) return;
    CHECK(db->get_bt_compare(db, &fn_w) == 0 && plain->get_bt_compare(plain, &fn_p) == 0);
    CHECK_MSG(fn_w && fn_w != fn_p, "the writer's handle has cairn's comparison");
    plain->close(plain, 0);
    CHECK(db->set_pagesize(db, 512) == 0);
    CHECK(db->open(db, NULL, path, NULL, DB_BTREE, DB_CREATE, 0600) == 0);
    for (i = 0; i < NKEYS; i++) {
        memset(&dk, 0, sizeof dk);
        memset(&dv, 0, sizeof dv);
        dk.data = k[i].b;
        dk.size = k[i].n;
        dv.data = &i;
        dv.size = sizeof i;
        (void)db->put(db, NULL, &dk, &dv, 0);      /* a repeated key: replaced */
    }
    CHECK(db->close(db, 0) == 0);

    qsort(k, NKEYS, sizeof *k, doc_order);
    for (i = 0; i < NKEYS; i++)                    /* distinct keys, in order */
        if (!i || doc_order(&k[i - 1], &k[i])) k[n++] = k[i];
    CHECK(db_create(&plain, NULL, 0) == 0);
    if (!plain) return;
    CHECK(plain->open(plain, NULL, path, NULL, DB_BTREE, DB_RDONLY, 0) == 0);
    CHECK(plain->cursor(plain, NULL, &cur, 0) == 0);
    for (i = 0; cur; i++) {
        memset(&dk, 0, sizeof dk);
        memset(&dv, 0, sizeof dv);
        if (cur->get(cur, &dk, &dv, DB_NEXT)) break;
        if (i < n && dk.size == k[i].n && !memcmp(dk.data, k[i].b, dk.size)) in_order++;
    }
    CHECK_MSG(i == n && in_order == n, "%zu keys read, %zu of %zu in the documented order",
              i, in_order, n);
    if (cur) cur->close(cur);
    for (i = 0; i < n; i++) {
        memset(&dk, 0, sizeof dk);
        memset(&dv, 0, sizeof dv);
        dk.data = k[i].b;
        dk.size = k[i].n;
        if (plain->get(plain, NULL, &dk, &dv, 0) == 0) found++;
    }
    CHECK_MSG(found == n && n > 1000, "a default handle finds %zu of %zu keys", found, n);
    plain->close(plain, 0);
}
#endif

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
#ifdef CAIRN_HAVE_DB_H
    order_check(dir2);
#endif
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
