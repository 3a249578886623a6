/* fuzz_sparql.c — libFuzzer harness: the read-only SPARQL gate
 * (cg_sparql_exec) on arbitrary query text against a small real KB (two
 * documents ingested with the rules extractor, the graph store built; in a
 * temporary directory under $CAIRN_TMP or /tmp, removed at exit). The text
 * up to the first NUL is the query; the input's size picks the row limit
 * (1..7) and the time limit is 500 ms. Properties:
 * - the answer is CC_OK with one JSON object (cJSON) of type select, ask
 *   or graph, at most `limit` rows or triples, a boolean "truncated"; or
 *   CC_INVALID / CC_INTERRUPTED with a message and nothing appended, or
 *   CC_ERROR when the engine's child process died (a librdf/Rasqal crash,
 *   kept out of the caller's process by design);
 * - a query that Rasqal parses as an update form, or with a SERVICE
 *   pattern, is refused (checked here with Rasqal directly);
 * - the store keeps its triples: the count is the same after every query. */
#define _XOPEN_SOURCE 700   /* nftw */
#include "graph.h"

#include <cjson/cJSON.h>
#include <ftw.h>
#include <pthread.h>
#include <rasqal/rasqal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

/* librdf 1.0.17 and Rasqal leak inside themselves (see test_graph_sparql.c);
 * leaks of cairn's own allocations are still reported. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:librdf.so.0\nleak:libraptor2.so.0\nleak:librasqal.so.3\n";
}

/* The query runs in a forked child. librdf 1.0.17 reads past a buffer in
 * some queries (GRAPH ?g with GROUP BY: a memcmp of 21 bytes on a 19-byte
 * node), which ASan reports in the child; the child then must just die
 * (the parent answers CC_ERROR, as it would for any crash of the engine),
 * not run libFuzzer's death callback, which would write a crash file for
 * the parent's input. Weak: only sanitizer builds have it. */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));
static void child_dies(void) { _exit(1); }
static void in_child(void)
{
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(child_dies);
}

static char dir[1024];
static cc_kb *kb;
static size_t n_triples;
static rasqal_world *rw;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void cleanup(void)
{
    cc_kb_close(kb);
    kb = NULL;
    if (dir[0]) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (rw) rasqal_free_world(rw);
}

static size_t count_triples(void)
{
    cg_triples *it = NULL;
    cg_triple_row r;
    size_t n = 0;
    int has = 0;
    FUZZ_ASSERT(cg_triples_open(kb, NULL, &it) == CC_OK);
    while (cg_triples_next(it, &r, &has) == CC_OK && has) n++;
    cg_triples_close(it);
    return n;
}

static void setup(void)
{
    static const char *const docs[][2] = {
        {"a.txt", "Ana Ruiz, CFO of Norvale Systems GmbH, met Kestrel Avionics in Rotterdam on 3 March 2021."},
        {"b.txt", "International Business Machines (IBM) acquired Red Hat for $34 billion. Marie Curie was a physicist."},
    };
    const char *tmp = getenv("CAIRN_TMP");
    cr_ingest_opts o;
    cr_ingest_stats is;
    cg_graph_stats gs;
    size_t i;
    snprintf(dir, sizeof dir, "%s/fuzz-sparql-XXXXXX", tmp ? tmp : "/tmp");
    FUZZ_ASSERT(mkdtemp(dir));
    atexit(cleanup);
    strncat(dir, "/kb", sizeof dir - strlen(dir) - 1);
    FUZZ_ASSERT(cc_kb_create(dir) == CC_OK && cc_kb_open(dir, CC_KB_WRITE, &kb) == CC_OK);
    FUZZ_ASSERT(cg_ingest_opts_from_kb(kb, &o) == CC_OK);
    memset(&is, 0, sizeof is);
    for (i = 0; i < 2; i++)
        FUZZ_ASSERT(cr_ingest_data(kb, docs[i][0], CR_FMT_TXT, docs[i][1], strlen(docs[i][1]), &o, &is) == CC_OK);
    FUZZ_ASSERT(cg_graph_sync(kb, 0, &gs) == CC_OK);
    n_triples = count_triples();
    FUZZ_ASSERT(n_triples > 20);
    *strrchr(dir, '/') = 0;   /* cleanup removes the whole temporary directory */
    FUZZ_ASSERT((rw = rasqal_new_world()) && !rasqal_world_open(rw));
    pthread_atfork(NULL, NULL, in_child);
}

static void quiet(void *user, raptor_log_message *m) { (void)user; (void)m; }

static int has_service(rasqal_query *q, rasqal_graph_pattern *gp, void *found)
{
    (void)q;
    if (rasqal_graph_pattern_get_operator(gp) != RASQAL_GRAPH_PATTERN_OPERATOR_SERVICE) return 0;
    *(int *)found = 1;
    return 1;
}

/* 1: Rasqal reads a query form without SERVICE; 0: an update form or a
 * SERVICE pattern (must be refused); -1: it does not parse. */
static int rasqal_says(const char *text)
{
    rasqal_query *rq;
    int r = -1, service = 0;
    rasqal_world_set_log_handler(rw, NULL, quiet);
    if (!(rq = rasqal_new_query(rw, "sparql11", NULL))) return -1;
    if (!rasqal_query_prepare(rq, (const unsigned char *)text, NULL)) {
        rasqal_query_verb v = rasqal_query_get_verb(rq);
        r = v == RASQAL_QUERY_VERB_SELECT || v == RASQAL_QUERY_VERB_ASK || v == RASQAL_QUERY_VERB_CONSTRUCT ||
            v == RASQAL_QUERY_VERB_DESCRIBE;
        if (r) rasqal_query_graph_pattern_visit2(rq, has_service, &service);
        if (service) r = 0;
    }
    rasqal_free_query(rq);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = malloc(size + 1);
    size_t limit = 1 + size % 7;
    cc_buf b = CC_BUF_INIT(1 << 24);
    cc_status s;
    int says;
    if (!kb) setup();
    FUZZ_ASSERT(q);
    memcpy(q, data, size);
    q[size] = 0;                    /* a C string: the query ends at a NUL */
    s = cg_sparql_exec(kb, q, limit, 500, &b);
    says = rasqal_says(q);
    /* CC_ERROR: the query engine's process died (librdf/Rasqal crash on
     * some queries, e.g. VALUES with BIND); contained by design */
    FUZZ_ASSERT(s == CC_OK || s == CC_INVALID || s == CC_INTERRUPTED ||
                (s == CC_ERROR && strstr(cc_kb_errmsg(kb), "query process failed")));
    if (says == 0) FUZZ_ASSERT(s == CC_INVALID);
    if (s != CC_OK) {
        FUZZ_ASSERT(b.len == 0 && *cc_kb_errmsg(kb));
    } else {
        cJSON *j = cJSON_ParseWithLength(b.data, b.len), *t, *rows;
        FUZZ_ASSERT(j && cJSON_IsObject(j));
        t = cJSON_GetObjectItemCaseSensitive(j, "type");
        FUZZ_ASSERT(cJSON_IsString(t));
        if (!strcmp(t->valuestring, "ask")) {
            FUZZ_ASSERT(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(j, "boolean")));
        } else {
            int sel = !strcmp(t->valuestring, "select");
            FUZZ_ASSERT(sel || !strcmp(t->valuestring, "graph"));
            rows = cJSON_GetObjectItemCaseSensitive(j, sel ? "rows" : "triples");
            FUZZ_ASSERT(cJSON_IsArray(rows) && (size_t)cJSON_GetArraySize(rows) <= limit);
            FUZZ_ASSERT(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(j, "truncated")));
        }
        cJSON_Delete(j);
    }
    FUZZ_ASSERT(count_triples() == n_triples);
    cc_buf_free(&b);
    free(q);
    return 0;
}
