/* test_graph_store.c — the Redland store: triples in chunk contexts,
 * removal of one context, persistence across close/open. */
#include "graph.h"
#include "check.h"

#include <sys/stat.h>
#include <unistd.h>

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    char dir[1024];
    cg_store *st = NULL;
    size_t n = 0;
    const char *c1 = "urn:cairn:chunk:1", *c2 = "urn:cairn:chunk:2";
    const char *ana = "urn:cairn:entity:ana-ruiz", *nor = "urn:cairn:entity:norvale";
    const char *cfo = "urn:cairn:rel:cfo_of", *label = "http://www.w3.org/2000/01/rdf-schema#label";
    snprintf(dir, sizeof dir, "%s/graph-store-%ld", tmp ? tmp : "/tmp", (long)getpid());
    mkdir(dir, 0700);
    CHECK_OK(cg_store_open(dir, CG_STORE_CREATE, &st));
    if (!st) return check_done("graph_store");
    CHECK_OK(cg_store_add(st, c1, ana, cfo, nor, 0));
    CHECK_OK(cg_store_add(st, c1, ana, label, "Ana Ruiz", 1));
    CHECK_OK(cg_store_add(st, c2, ana, cfo, nor, 0));          /* same triple, second chunk */
    CHECK_OK(cg_store_add(st, c2, nor, label, "Norvale", 1));
    CHECK_OK(cg_store_add(st, c2, nor, label, "Norvale", 1));  /* duplicate: no-op */
    CHECK_OK(cg_store_count(st, c1, &n)); CHECK(n == 2);
    CHECK_OK(cg_store_count(st, c2, &n)); CHECK_MSG(n == 2, "n=%zu", n);
    CHECK_OK(cg_store_count(st, NULL, &n)); CHECK(n == 4);
    CHECK(cg_store_add(st, "", ana, cfo, nor, 0) == CC_INVALID);
    CHECK_OK(cg_store_remove_context(st, c1));
    CHECK_OK(cg_store_count(st, c1, &n)); CHECK(n == 0);
    CHECK_OK(cg_store_count(st, c2, &n)); CHECK_MSG(n == 2, "n=%zu", n);
    cg_store_close(st);
    st = NULL;
    /* reopen: what was written is there */
    CHECK_OK(cg_store_open(dir, CG_STORE_OPEN, &st));
    if (st) {
        CHECK_OK(cg_store_count(st, c2, &n)); CHECK_MSG(n == 2, "n=%zu", n);
        CHECK_OK(cg_store_count(st, c1, &n)); CHECK(n == 0);
        cg_store_close(st);
    }
    cg_store_close(NULL);
    CHECK(cg_store_open("/nonexistent/dir'x", CG_STORE_CREATE, &st) == CC_INVALID && !st);
    return check_done("graph_store");
}
