/* bench_subgraph.c — cg_subgraph_extract latency (p50/p99) on a generated
 * graph written straight into a KB's catalog tables: E entities with
 * distinct two-word names, R relations whose subjects are skewed towards low ids
 * (hubs with thousands of edges, as real graphs have) and whose objects
 * are uniform, 10 relations per chunk, a mention of both ends per
 * relation, the names index (merged as cairn's writers leave it,
 * cr_fts_tidy).  Each query names two entities in the
 * question and passes two chunks; k = 2 hops, budget 60.
 * Queries name two entities, with or without two chunks passed as well.
 * Usage: bench_subgraph KBDIR [relations (1000000)] [queries (300)] [cache MB] [set]
 * set (names | chunks | hubs | hubchunks): run only that query set (the
 * others' questions are drawn and not asked, so each set's questions are
 * the same as in a full run): for instruction counts of one set.
 * KBDIR is created (and filled) when it does not exist, reused otherwise. */
#include "graph.h"
#include "retrieval.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *const syl[] = { "ta", "ko", "ri", "ven", "lo", "mar", "si", "de", "qua", "bel",
                                   "nor", "ka", "tis", "fen", "ru", "hal", "mo", "zan", "pe", "dru" };

static unsigned long long rng = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *const kind[] = { "Systems", "Labs", "Group", "Marine", "Energy", "Logistics" };

/* A distinct name for every id below 160,000: a capitalised
 * four-syllable word and a common second word ("Tarimarven Labs"). */
static void label(cc_buf *b, int64_t id)
{
    unsigned v = (unsigned)id;
    cc_buf_reset(b);
    for (int i = 0; i < 4; i++, v /= 20) cc_buf_puts(b, syl[v % 20]);
    b->data[0] = (char)(b->data[0] - 'a' + 'A');
    cc_buf_printf(b, " %s", kind[id % 6]);
}

static int exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "bench_subgraph: %s\n  in: %.120s\n", err ? err : "?", sql);
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

static int generate(const char *dir, long n_rel, int64_t n_ent)
{
    cc_kb *kb = NULL;
    sqlite3 *db;
    sqlite3_stmt *s;
    cc_buf b = CC_BUF_INIT(0), k = CC_BUF_INIT(0), sql = CC_BUF_INIT(0);
    int64_t i, n_chunks = n_rel / 10 + 1, n_docs = n_chunks / 10 + 1;
    double t0 = cc_now_ms();
    if (cc_kb_create(dir) || cc_kb_open(dir, CC_KB_WRITE, &kb)) {
        fprintf(stderr, "bench_subgraph: %s\n", cc_errmsg());
        return -1;
    }
    db = cc_kb_db(kb);
    if (cc_kb_begin(kb)) goto fail;
    /* secondary indexes are built after the rows (same definitions) */
    if (exec(db, "DROP INDEX mentions_chunk; DROP INDEX mentions_entity; DROP INDEX relations_chunk;"
                 " DROP INDEX relations_subject; DROP INDEX relations_object;"))
        goto fail;
    if (sqlite3_prepare_v2(db, "INSERT INTO entities(id, key, label, type) VALUES (?1, ?2, ?3,"
                           " 'organisation')", -1, &s, NULL))
        goto fail;
    for (i = 1; i <= n_ent; i++) {
        label(&b, i);
        cg_norm_key(b.data, b.len, &k, NULL);
        sqlite3_bind_int64(s, 1, i);
        sqlite3_bind_text(s, 2, k.data, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, b.data, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) { sqlite3_finalize(s); goto fail; }
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    cc_buf_printf(&sql,
        "INSERT INTO aliases(entity_id, alias, norm, source) SELECT id, label, key, 'label' FROM entities;"
        "INSERT INTO entity_names(rowid, names) SELECT id, label FROM entities;"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %lld)"
        " INSERT INTO documents(id, uri, version, sha256, format, bytes, chars, n_chunks, ingested_at,"
        " generation) SELECT i, 'gen://doc/' || i, 1, 'x', 'txt', 1000, 1000, 10, '2026-01-01T00:00:00Z', 1"
        " FROM n;"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %lld)"
        " INSERT INTO chunks(id, doc_id, ordinal, start_char, end_char, start_byte, end_byte,"
        " n_tokens, sha256, text) SELECT i, (i - 1) / 10 + 1, (i - 1) %% 10, 0, 100, 0, 100, 20, 'x',"
        " 'chunk ' || i FROM n;"
        /* subjects: |random| mod (|random| mod E + 1): ids near 1 are hubs */
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %ld)"
        " INSERT INTO relations(id, subject_id, predicate, object_id, chunk_id, start_char, end_char,"
        " pattern, extractor, confidence, status) SELECT i,"
        " abs(random()) %% (abs(random()) %% %lld + 1) + 1,"
        " CASE abs(random()) %% 6 WHEN 0 THEN 'acquire' WHEN 1 THEN 'supply' WHEN 2 THEN 'cfo_of'"
        " WHEN 3 THEN 'is_a' WHEN 4 THEN 'hire' ELSE 'co_occurs_with' END,"
        " abs(random()) %% %lld + 1, (i - 1) / 10 + 1, 0, 80, 'svo', 'rules/1',"
        " 0.2 + (abs(random()) %% 80) / 100.0,"
        " CASE WHEN abs(random()) %% 3 = 0 THEN 'inferred' ELSE 'confirmed' END FROM n;"
        "DELETE FROM relations WHERE subject_id = object_id;"
        "INSERT INTO mentions(entity_id, chunk_id, start_char, end_char, surface, extractor, confidence)"
        " SELECT DISTINCT e, c, 0, 10, 'x', 'rules/1', 0.8 FROM (SELECT subject_id AS e, chunk_id AS c"
        " FROM relations UNION ALL SELECT object_id, chunk_id FROM relations);"
        "CREATE INDEX mentions_chunk ON mentions(chunk_id);"
        "CREATE INDEX mentions_entity ON mentions(entity_id);"
        "CREATE INDEX relations_chunk ON relations(chunk_id);"
        "CREATE INDEX relations_subject ON relations(subject_id, object_id, predicate, chunk_id,"
        " confidence, status);"
        "CREATE INDEX relations_object ON relations(object_id, subject_id, predicate, chunk_id,"
        " confidence, status);",
        (long long)n_docs, (long long)n_chunks, n_rel, (long long)n_ent, (long long)n_ent);
    if (exec(db, sql.data) || cc_kb_commit(kb) || exec(db, "ANALYZE")) goto fail;
    /* as cairn's writers leave a KB after their last commit (ftsmerge.c):
     * the names index's segments merged when they call for it */
    if (cr_fts_tidy(kb, NULL, NULL, NULL)) goto fail;
    printf("generated %lld entities, %ld relations, %lld chunks in %.1f s\n", (long long)n_ent,
           n_rel, (long long)n_chunks, (cc_now_ms() - t0) / 1000);
    cc_buf_free(&b); cc_buf_free(&k); cc_buf_free(&sql);
    cc_kb_close(kb);
    return 0;
fail:
    fprintf(stderr, "bench_subgraph: generating failed: %s\n", cc_kb_errmsg(kb));
    cc_buf_free(&b); cc_buf_free(&k); cc_buf_free(&sql);
    cc_kb_rollback(kb);
    cc_kb_close(kb);
    return -1;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Runs n queries; hubs: seeds among the 50 most connected entities;
 * chunks: also pass two chunks (their entities are seeds too). */
/* FNV-1a over n bytes at p, continuing from h. */
static unsigned long long mix(unsigned long long h, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ull;
    return h;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int run(cc_kb *kb, int n, int64_t n_ent, int64_t n_chunks, int hubs, int chunks, int skip)
{
    double *ms = calloc((size_t)n, sizeof *ms), *cpu = calloc((size_t)n, sizeof *cpu), tot = 0;
    unsigned long long sum = 1469598103934665603ull;   /* of the answers, in order */
    unsigned long long full = sum;     /* and of everything else: scores' bits, provenance, seeds */
    cc_buf q = CC_BUF_INIT(0), l = CC_BUF_INIT(0);
    cg_subgraph_opts o = { 2, 60 };
    size_t triples = 0, seeds = 0;
    for (int i = 0; i < n; i++) {
        cg_subgraph g;
        int64_t a = hubs ? 1 + rnd(50) : 1 + rnd((unsigned)n_ent);
        int64_t b = hubs ? 1 + rnd(50) : 1 + rnd((unsigned)n_ent);
        int64_t ch[2] = { 1 + rnd((unsigned)n_chunks), 1 + rnd((unsigned)n_chunks) };
        double t0, c0;
        if (skip) continue;
        cc_buf_reset(&q);
        label(&l, a);
        cc_buf_printf(&q, "What did %s agree with ", l.data);
        label(&l, b);
        cc_buf_printf(&q, "%s last year?", l.data);
        t0 = cc_now_ms();
        c0 = cpu_ms();
        if (cg_subgraph_extract(kb, q.data, chunks ? ch : NULL, chunks ? 2 : 0, &o, &g) != CC_OK) {
            fprintf(stderr, "bench_subgraph: %s\n", cc_kb_errmsg(kb));
            free(ms);
            free(cpu);
            return -1;
        }
        ms[i] = cc_now_ms() - t0;
        cpu[i] = cpu_ms() - c0;
        for (size_t j = 0; j < g.n_triples; j++) {
            const cg_triple *t = &g.triples[j];
            unsigned long long v[4] = { (unsigned long long)t->subject_id,
                                        (unsigned long long)t->object_id,
                                        (unsigned long long)t->support, t->n_prov };
            for (int k = 0; k < 4; k++) sum = (sum ^ v[k]) * 1099511628211ull;
            for (const char *c = t->predicate; *c; c++) sum = (sum ^ (unsigned char)*c) * 1099511628211ull;
            full = mix(full, &t->score, sizeof t->score);
            full = mix(full, &t->confidence, sizeof t->confidence);
            full = mix(full, &t->hops, sizeof t->hops);
            full = mix(full, &t->status, sizeof t->status);
            full = mix(full, t->subject, strlen(t->subject));
            full = mix(full, t->object, strlen(t->object));
            full = mix(full, t->subject_type, strlen(t->subject_type));
            full = mix(full, t->object_type, strlen(t->object_type));
            for (size_t p = 0; p < t->n_prov; p++) {
                const cg_prov *v = &t->prov[p];
                int64_t x[5] = { v->relation_id, v->chunk_id, v->doc_id, v->start_char, v->end_char };
                full = mix(full, x, sizeof x);
                full = mix(full, &v->confidence, sizeof v->confidence);
                full = mix(full, &v->status, sizeof v->status);
                full = mix(full, v->doc_uri, strlen(v->doc_uri));
                full = mix(full, v->pattern, strlen(v->pattern));
                full = mix(full, v->extractor, strlen(v->extractor));
            }
        }
        for (size_t j = 0; j < g.n_seeds; j++) {
            full = mix(full, &g.seeds[j].entity_id, sizeof g.seeds[j].entity_id);
            full = mix(full, g.seeds[j].label, strlen(g.seeds[j].label));
            full = mix(full, g.seeds[j].from, strlen(g.seeds[j].from));
        }
        tot += ms[i];
        triples += g.n_triples;
        seeds += g.n_seeds;
        cg_subgraph_free(&g);
    }
    if (skip) {
        free(ms);
        free(cpu);
        cc_buf_free(&q);
        cc_buf_free(&l);
        return 0;
    }
    qsort(ms, (size_t)n, sizeof *ms, cmp_d);
    qsort(cpu, (size_t)n, sizeof *cpu, cmp_d);
    printf("%-13s%-9s %4d queries  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  mean %7.2f ms"
           "  cpu p50 %6.2f p99 %6.2f ms  (%.1f seeds, %.1f triples per answer; answers %016llx,"
           " in full %016llx)\n",
           hubs ? "hub names" : "random names", chunks ? "+chunks" : "", n,
           ms[n / 2], ms[(int)(n * 0.99)], ms[n - 1], tot / n, cpu[n / 2], cpu[(int)(n * 0.99)],
           (double)seeds / n, (double)triples / n, sum, full);
    free(ms);
    free(cpu);
    cc_buf_free(&q);
    cc_buf_free(&l);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir;
    long n_rel = 1000000, cache_mb = 0;
    int n_q = 300, only = -1;       /* -1: every set */
    int64_t n_ent, n_chunks;
    struct stat st;
    cc_kb *kb;
    sqlite3_stmt *s;
    /* as cairn (server/main.c) runs: no global allocation statistics,
     * which cost a mutex per SQLite malloc; CAIRN_BENCH_MEMSTATUS=1 keeps
     * them (how this bench ran before 2 December) */
    if (!getenv("CAIRN_BENCH_MEMSTATUS") || strcmp(getenv("CAIRN_BENCH_MEMSTATUS"), "1"))
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: bench_subgraph KBDIR [relations] [queries] [cache MB] [set]\n");
        return 2;
    }
    dir = argv[1];
    if (argc > 2) n_rel = strtol(argv[2], NULL, 10);
    if (argc > 3) n_q = (int)strtol(argv[3], NULL, 10);
    if (argc > 4) cache_mb = strtol(argv[4], NULL, 10);
    if (argc > 5) {
        static const char *const names[4] = { "names", "chunks", "hubs", "hubchunks" };
        for (only = 0; only < 4 && strcmp(argv[5], names[only]); only++) {}
        if (only == 4) {
            fprintf(stderr, "bench_subgraph: set is names, chunks, hubs or hubchunks\n");
            return 2;
        }
    }
    if (n_rel < 1000 || n_rel > 100000000 || n_q < 10 || n_q > 100000) {
        fprintf(stderr, "bench_subgraph: relations 1000..1e8, queries 10..1e5\n");
        return 2;
    }
    if (stat(dir, &st) != 0 && generate(dir, n_rel, n_rel / 10 > 160000 ? 160000 : n_rel / 10))
        return 1;
    if (cc_kb_open(dir, CC_KB_READ, &kb)) { fprintf(stderr, "%s\n", cc_errmsg()); return 1; }
    if (cache_mb > 0) {       /* a bigger page cache than the default */
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA cache_size = -%ld", cache_mb * 1024);
        sqlite3_exec(cc_kb_db(kb), pragma, NULL, NULL, NULL);
        printf("page cache: %ld MB\n", cache_mb);
    }
    sqlite3_prepare_v2(cc_kb_db(kb), "SELECT (SELECT max(id) FROM entities), (SELECT max(id) FROM"
                       " chunks), (SELECT count(*) FROM relations)", -1, &s, NULL);
    sqlite3_step(s);
    n_ent = sqlite3_column_int64(s, 0);
    n_chunks = sqlite3_column_int64(s, 1);
    printf("graph: %lld entities, %lld relations, %lld chunks; k = 2, budget 60\n",
           (long long)n_ent, (long long)sqlite3_column_int64(s, 2), (long long)n_chunks);
    sqlite3_finalize(s);
    if (n_ent < 50 || n_chunks < 1) { fprintf(stderr, "bench_subgraph: empty graph\n"); return 1; }
    /* warm the page cache as a running server would have it */
    run(kb, 20, n_ent, n_chunks, 0, 1, 0);
    if (run(kb, n_q, n_ent, n_chunks, 0, 0, only >= 0 && only != 0) ||
        run(kb, n_q, n_ent, n_chunks, 0, 1, only >= 0 && only != 1) ||
        run(kb, n_q / 3, n_ent, n_chunks, 1, 0, only >= 0 && only != 2) ||
        run(kb, n_q / 3, n_ent, n_chunks, 1, 1, only >= 0 && only != 3))
        return 1;
    cc_kb_close(kb);
    return 0;
}
