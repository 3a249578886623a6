/* test_graph_subgraph_cache.c — the expansion's per-connection cache of
 * relations rows (graph/subgraph.c): answers with the cache (warm, and
 * across the cache emptying itself when full) are the same bits as
 * without it; a write to the relations, on the same connection or on
 * another, is seen by the next subgraph; the setting is checked. */
#include "graph.h"
#include "check.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define N_ENT 400
#define N_Q   30

/* FNV-1a over everything an answer holds, in order. */
static unsigned long long mix(unsigned long long h, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ull;
    return h;
}

static unsigned long long answer_hash(const cg_subgraph *g)
{
    unsigned long long h = 1469598103934665603ull;
    for (size_t i = 0; i < g->n_triples; i++) {
        const cg_triple *t = &g->triples[i];
        h = mix(h, &t->subject_id, sizeof t->subject_id);
        h = mix(h, &t->object_id, sizeof t->object_id);
        h = mix(h, t->predicate, strlen(t->predicate));
        h = mix(h, &t->score, sizeof t->score);
        h = mix(h, &t->confidence, sizeof t->confidence);
        h = mix(h, &t->support, sizeof t->support);
        h = mix(h, &t->hops, sizeof t->hops);
        h = mix(h, &t->status, sizeof t->status);
        for (size_t p = 0; p < t->n_prov; p++) {
            h = mix(h, &t->prov[p].relation_id, sizeof t->prov[p].relation_id);
            h = mix(h, &t->prov[p].chunk_id, sizeof t->prov[p].chunk_id);
        }
    }
    for (size_t i = 0; i < g->n_seeds; i++) h = mix(h, &g->seeds[i].entity_id, sizeof g->seeds[i].entity_id);
    return h;
}

static void question(char *q, size_t n, int i)
{
    /* hubs (low ids) and others; deterministic */
    snprintf(q, n, "What links Node%d and Node%d?", 1 + (i * 37) % N_ENT, 1 + (i * 7) % 20);
}

static int has_pred(const cg_subgraph *g, const char *pred)
{
    for (size_t i = 0; i < g->n_triples; i++)
        if (!strcmp(g->triples[i].predicate, pred)) return 1;
    return 0;
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    char dir[1024], q[128], sql[1024];
    cc_kb *kb = NULL, *rd = NULL;
    sqlite3 *db;
    cg_subgraph g;
    cg_subgraph_opts o = {2, 60}, all = {2, 10000};
    unsigned long long off[N_Q];
    int i, pass;

    snprintf(dir, sizeof dir, "%s/graph-subgraph-cache-%ld", tmp ? tmp : "/tmp", (long)getpid());
    CHECK_OK(cc_kb_create(dir));
    CHECK_OK(cc_kb_open(dir, CC_KB_WRITE, &kb));
    if (!kb) return check_done("graph_subgraph_cache");
    db = cc_kb_db(kb);
    /* N_ENT entities "NodeI" and 60,000 relations, subjects skewed to
     * low ids (hubs past the 500 rows read per entity), more rows than a
     * 1 MB cache holds (32,768) */
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
             " INSERT INTO entities(id, key, label, type) SELECT i, 'node' || i, 'Node' || i,"
             " 'organisation' FROM n;"
             "INSERT INTO entity_names(rowid, names) SELECT id, label FROM entities;", N_ENT);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)"
             " INSERT INTO relations(id, subject_id, predicate, object_id, chunk_id, start_char,"
             " end_char, pattern, extractor, confidence, status) SELECT i,"
             " (i * 7919) %% ((i * 104729) %% %d + 1) + 1,"
             " CASE i %% 4 WHEN 0 THEN 'acquire' WHEN 1 THEN 'supply' WHEN 2 THEN 'hire' ELSE 'is_a' END,"
             " (i * 31) %% %d + 1, i / 10 + 1, 0, 80, 'svo', 'rules/1', 0.2 + (i %% 80) / 100.0,"
             " CASE WHEN i %% 3 = 0 THEN 'inferred' ELSE 'confirmed' END FROM n;"
             "DELETE FROM relations WHERE subject_id = object_id;", N_ENT, N_ENT);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);

    /* without the cache: the reference answers */
    CHECK_OK(cc_kb_setting_set(kb, "graph.subgraph_cache_mb", "0"));
    for (i = 0; i < N_Q; i++) {
        question(q, sizeof q, i);
        CHECK_OK(cg_subgraph_extract(kb, q, NULL, 0, &o, &g));
        CHECK_MSG(g.n_seeds >= 1 && g.n_triples == 60, "%s: %zu seeds, %zu triples", q, g.n_seeds,
                  g.n_triples);
        off[i] = answer_hash(&g);
        cg_subgraph_free(&g);
    }
    /* a 1 MB cache (filled, read warm, emptied when full): the same bits,
     * pass after pass */
    CHECK_OK(cc_kb_setting_set(kb, "graph.subgraph_cache_mb", "1"));
    for (pass = 0; pass < 3; pass++)
        for (i = 0; i < N_Q; i++) {
            question(q, sizeof q, i);
            CHECK_OK(cg_subgraph_extract(kb, q, NULL, 0, &o, &g));
            CHECK_MSG(answer_hash(&g) == off[i], "pass %d, %s: answer differs from the uncached one",
                      pass, q);
            cg_subgraph_free(&g);
        }
    /* the default cache, warm */
    CHECK_OK(cc_kb_setting_set(kb, "graph.subgraph_cache_mb", "16"));
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < N_Q; i++) {
            question(q, sizeof q, i);
            CHECK_OK(cg_subgraph_extract(kb, q, NULL, 0, &o, &g));
            CHECK_MSG(answer_hash(&g) == off[i], "16 MB, pass %d, %s: answer differs", pass, q);
            cg_subgraph_free(&g);
        }

    /* a write on the same connection is seen by the next subgraph (all
     * the triples read are returned) */
    snprintf(q, sizeof q, "What about Node%d?", N_ENT);
    CHECK_OK(cg_subgraph_extract(kb, q, NULL, 0, &all, &g));
    CHECK(g.n_seeds == 1 && !has_pred(&g, "founded_by"));
    cg_subgraph_free(&g);
    CHECK(sqlite3_exec(db, "INSERT INTO relations(subject_id, predicate, object_id, chunk_id, start_char,"
                           " end_char, pattern, extractor, confidence, status) VALUES (400,"
                           " 'founded_by', 399, 1, 0, 80, 'svo', 'rules/1', 0.99, 'confirmed')",
                       NULL, NULL, NULL) == SQLITE_OK);
    CHECK_OK(cg_subgraph_extract(kb, q, NULL, 0, &all, &g));
    CHECK_MSG(has_pred(&g, "founded_by"), "a relation written on the connection is not in its subgraph");
    cg_subgraph_free(&g);

    /* a write by another connection is seen by a reader whose cache holds
     * the entity's rows; a delete as well */
    CHECK_OK(cc_kb_open(dir, CC_KB_READ, &rd));
    if (rd) {
        CHECK_OK(cg_subgraph_extract(rd, q, NULL, 0, &all, &g));
        CHECK(has_pred(&g, "founded_by") && !has_pred(&g, "merged_with"));
        cg_subgraph_free(&g);
        CHECK(sqlite3_exec(db, "INSERT INTO relations(subject_id, predicate, object_id, chunk_id,"
                               " start_char, end_char, pattern, extractor, confidence, status)"
                               " VALUES (398, 'merged_with', 400, 2, 0, 80, 'svo', 'rules/1', 0.99,"
                               " 'confirmed'); DELETE FROM relations WHERE predicate = 'founded_by'",
                           NULL, NULL, NULL) == SQLITE_OK);
        CHECK_OK(cg_subgraph_extract(rd, q, NULL, 0, &all, &g));
        CHECK_MSG(has_pred(&g, "merged_with") && !has_pred(&g, "founded_by"),
                  "another connection's write is not seen by the reader's subgraph");
        cg_subgraph_free(&g);
        cc_kb_close(rd);
    }

    /* a question word in no name is remembered as such; a name written
     * since is found (the words' counts are emptied with the rows) */
    CHECK_OK(cg_subgraph_extract(kb, "What about Zyxwolt Node3?", NULL, 0, &o, &g));
    CHECK(g.n_seeds == 1);
    cg_subgraph_free(&g);
    CHECK(sqlite3_exec(db, "INSERT INTO entities(id, key, label, type) VALUES (401, 'zyxwolt',"
                           " 'Zyxwolt', 'organisation'); INSERT INTO entity_names(rowid, names)"
                           " VALUES (401, 'Zyxwolt')", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_OK(cg_subgraph_extract(kb, "What about Zyxwolt Node3?", NULL, 0, &o, &g));
    CHECK_MSG(g.n_seeds == 2, "a name written since is not a seed: %zu seeds", g.n_seeds);
    cg_subgraph_free(&g);

    /* the setting: a whole number in 0..65536 */
    CHECK_OK(cc_kb_setting_set(kb, "graph.subgraph_cache_mb", "-1"));
    CHECK(cg_subgraph_extract(kb, q, NULL, 0, &o, &g) == CC_INVALID);
    CHECK(strstr(cc_kb_errmsg(kb), "graph.subgraph_cache_mb") != NULL);
    CHECK_OK(cc_kb_setting_set(kb, "graph.subgraph_cache_mb", "1.5"));
    CHECK(cg_subgraph_extract(kb, q, NULL, 0, &o, &g) == CC_INVALID);

    cc_kb_close(kb);
    return check_done("graph_subgraph_cache");
}
