/* test_graph_subgraph.c — cg_subgraph_extract over a real KB ingested with
 * extraction: seeds from the question (names, acronyms, nothing from
 * common words) and from chunks, hops, budget, ordering, provenance. */
#include "graph.h"
#include "check.h"

#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

static const char *docs[][2] = {
    {"a.txt", "Ana Ruiz, CFO of Norvale Systems GmbH, signed the contract in Rotterdam.\n\n"
              "Norvale Systems acquired Brightwater Sensors AB in 2021.\n"},
    {"b.txt", "Brightwater Sensors AB makes the BW-Lidar unit.\n\n"
              "Ingrid Solberg founded Brightwater Sensors AB.\n"},
    {"c.txt", "International Business Machines (IBM) sold Quillon Labs to Kestrel Avionics.\n"},
};

static int has_triple(const cg_subgraph *g, const char *s, const char *o)
{
    for (size_t i = 0; i < g->n_triples; i++)
        if (!strcmp(g->triples[i].subject, s) && !strcmp(g->triples[i].object, o)) return 1;
    return 0;
}

static int has_seed(const cg_subgraph *g, const char *label)
{
    for (size_t i = 0; i < g->n_seeds; i++)
        if (strstr(g->seeds[i].label, label)) return 1;
    return 0;
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    char dir[1024];
    cc_kb *kb = NULL;
    cr_ingest_opts io;
    cr_ingest_stats is = {0};
    cg_subgraph g;
    cg_subgraph_opts o = {0, 0};
    size_t i, j;

    snprintf(dir, sizeof dir, "%s/graph-subgraph-%ld", tmp ? tmp : "/tmp", (long)getpid());
    CHECK_OK(cc_kb_create(dir));
    CHECK_OK(cc_kb_open(dir, CC_KB_WRITE, &kb));
    if (!kb) return check_done("graph_subgraph");
    CHECK_OK(cg_ingest_opts_from_kb(kb, &io));
    for (i = 0; i < sizeof docs / sizeof *docs; i++)
        CHECK_OK(cr_ingest_data(kb, docs[i][0], CR_FMT_TXT, docs[i][1], strlen(docs[i][1]), &io, &is));

    /* a name in the question seeds it; 2 hops reach Brightwater's founder */
    CHECK_OK(cg_subgraph_extract(kb, "Who works for Norvale?", NULL, 0, &o, &g));
    CHECK(g.n_seeds == 1 && has_seed(&g, "Norvale"));
    CHECK(g.n_seeds && !strcmp(g.seeds[0].from, "question"));
    CHECK(has_triple(&g, "Ana Ruiz", "Norvale Systems GmbH"));
    CHECK_MSG(has_triple(&g, "Ingrid Solberg", "Brightwater Sensors AB"), "n=%zu", g.n_triples);
    for (i = 0; i < g.n_triples; i++) {
        const cg_triple *t = &g.triples[i];
        CHECK(t->hops >= 0 && t->hops <= 1);
        CHECK(t->support >= 1 && t->n_prov >= (size_t)t->support);
        CHECK(i == 0 || g.triples[i - 1].score >= t->score);
        for (j = 0; j < t->n_prov; j++) {
            CHECK(t->prov[j].doc_id > 0 && t->prov[j].chunk_id > 0);
            CHECK(t->prov[j].end_char > t->prov[j].start_char);
            CHECK_STR(t->prov[j].extractor, "rules/1");
            CHECK(strlen(t->prov[j].doc_uri) > 0 && strlen(t->prov[j].pattern) > 0);
        }
    }
    cg_subgraph_free(&g);

    /* one hop: only triples touching Norvale */
    o.hops = 1;
    CHECK_OK(cg_subgraph_extract(kb, "Who works for Norvale?", NULL, 0, &o, &g));
    CHECK(!has_triple(&g, "Ingrid Solberg", "Brightwater Sensors AB"));
    for (i = 0; i < g.n_triples; i++)
        CHECK(g.triples[i].subject_id == g.seeds[0].entity_id ||
              g.triples[i].object_id == g.seeds[0].entity_id);
    cg_subgraph_free(&g);

    /* budget */
    o.hops = 2; o.budget = 2;
    CHECK_OK(cg_subgraph_extract(kb, "Norvale", NULL, 0, &o, &g));
    CHECK(g.n_triples == 2);
    cg_subgraph_free(&g);

    /* every budget keeps the best triples of the full answer, in its order
     * (small budgets take the heap, large ones the full sort) */
    {
        cg_subgraph all;
        o.budget = 10000;
        CHECK_OK(cg_subgraph_extract(kb, "Norvale Ana Ruiz Brightwater", NULL, 0, &o, &all));
        CHECK_MSG(all.n_triples >= 6, "n=%zu", all.n_triples);
        for (int64_t b = 1; b <= (int64_t)all.n_triples; b++) {
            o.budget = b;
            CHECK_OK(cg_subgraph_extract(kb, "Norvale Ana Ruiz Brightwater", NULL, 0, &o, &g));
            CHECK(g.n_triples == (size_t)b);
            for (i = 0; i < g.n_triples && i < all.n_triples; i++)
                CHECK_MSG(g.triples[i].subject_id == all.triples[i].subject_id &&
                          g.triples[i].object_id == all.triples[i].object_id &&
                          !strcmp(g.triples[i].predicate, all.triples[i].predicate) &&
                          g.triples[i].score == all.triples[i].score,
                          "budget %lld, triple %zu", (long long)b, i);
            cg_subgraph_free(&g);
        }
        cg_subgraph_free(&all);
    }
    o.budget = 0;

    /* the catalog is read through a memory map from the first subgraph on */
    {
        sqlite3_stmt *s;
        sqlite3_int64 mm = 0;
        sqlite3_prepare_v2(cc_kb_db(kb), "PRAGMA mmap_size", -1, &s, NULL);
        if (sqlite3_step(s) == SQLITE_ROW) mm = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        CHECK_MSG(mm > 0, "mmap_size %lld", (long long)mm);
    }

    /* an acronym in the question finds the entity under its expansion */
    CHECK_OK(cg_subgraph_extract(kb, "What did IBM sell?", NULL, 0, &o, &g));
    CHECK(has_seed(&g, "International Business Machines"));
    cg_subgraph_free(&g);

    /* common words name nothing; FTS5 syntax in the question is harmless */
    CHECK_OK(cg_subgraph_extract(kb, "what is the unit of \"AND\" OR NEAR( * -", NULL, 0, &o, &g));
    CHECK_MSG(g.n_seeds == 0 && g.n_triples == 0, "seeds %zu", g.n_seeds);
    cg_subgraph_free(&g);

    /* chunk seeds: the entities mentioned in the chunk */
    {
        sqlite3_stmt *s;
        int64_t cid = 0;
        sqlite3_prepare_v2(cc_kb_db(kb), "SELECT c.id FROM chunks c JOIN documents d ON d.id ="
                           " c.doc_id WHERE d.uri = 'c.txt'", -1, &s, NULL);
        if (sqlite3_step(s) == SQLITE_ROW) cid = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        CHECK_OK(cg_subgraph_extract(kb, NULL, &cid, 1, &o, &g));
        CHECK(has_seed(&g, "Kestrel Avionics") && g.n_seeds >= 3);
        CHECK(g.n_seeds && !strcmp(g.seeds[0].from, "chunk"));
        CHECK(!has_triple(&g, "Ana Ruiz", "Norvale Systems GmbH"));
        cg_subgraph_free(&g);
    }

    /* nothing given, bad options, bad UTF-8 */
    CHECK_OK(cg_subgraph_extract(kb, "", NULL, 0, NULL, &g));
    CHECK(g.n_seeds == 0 && g.n_triples == 0);
    cg_subgraph_free(&g);
    o.hops = 9;
    CHECK(cg_subgraph_extract(kb, "Norvale", NULL, 0, &o, &g) == CC_INVALID);
    CHECK(g.n_triples == 0);
    o.hops = 0;
    CHECK_OK(cg_subgraph_extract(kb, "Norvale \xff\xfe", NULL, 0, &o, &g));
    cg_subgraph_free(&g);
    cg_subgraph_free(NULL);

    cc_kb_close(kb);
    return check_done("graph_subgraph");
}
