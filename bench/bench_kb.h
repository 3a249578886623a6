/* bench_kb.h — what the KB benchmarks (bench_vector, bench_walkrecall)
 * share: their query texts and the exact reference index. Errors exit with
 * a message. */
#ifndef CAIRN_BENCH_KB_H
#define CAIRN_BENCH_KB_H

#include "retrieval.h"

#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bench_die(const char *what, const char *msg)
{
    fprintf(stderr, "%s: %s\n", what, msg);
    exit(1);
}

/* The first Q queries that bench/serve_load.sh sends ("wA wB"), or, with
 * BENCH_QUERIES=FILE in the environment, the file's non-empty lines (taken
 * again from the top when Q is more). Free with bench_queries_free. */
static char **bench_queries(int64_t Q)
{
    char **qs = calloc(Q > 0 ? (size_t)Q : 1, sizeof *qs);
    const char *qf = getenv("BENCH_QUERIES");
    FILE *f = qf ? fopen(qf, "r") : NULL;
    char line[8192];
    if (!qs) bench_die("alloc", "out of memory");
    if (qf && !f) bench_die(qf, "cannot open the queries file");
    for (int64_t i = 0; i < Q; i++) {
        if (f) {
            size_t n = 0;
            for (int pass = 0; n == 0 && pass < 2; ) {
                if (!fgets(line, sizeof line, f)) { rewind(f); pass++; continue; }
                n = strcspn(line, "\r\n");
                line[n] = 0;
            }
            if (n == 0) bench_die(qf, "no queries in the file");
        } else {
            int64_t m = i + 1;
            snprintf(line, sizeof line, "w%lld w%lld", (long long)((m * 7919) % 50000),
                     (long long)((m * 104729) % 50000));
        }
        if (!(qs[i] = cc_strdup(line))) bench_die("alloc", "out of memory");
    }
    if (f) fclose(f);
    return qs;
}

static void bench_queries_free(char **qs, int64_t Q)
{
    for (int64_t i = 0; qs && i < Q; i++) free(qs[i]);
    free(qs);
}

/* Every chunk of kb re-embedded by e into a FAISS flat index (inner
 * product, ids = chunk ids): the exact reference for recall. */
static FaissIndex *bench_exact_index(cc_kb *kb, cr_embedder *e)
{
    enum { B = 512 };
    int d = cr_embedder_dim(e);
    FaissIndex *flat;
    sqlite3_stmt *st;
    const char *texts[B];
    char *own[B];
    int64_t ids[B];
    float *v = malloc((size_t)B * d * sizeof *v);
    size_t n = 0;
    if (!v) bench_die("alloc", "out of memory");
    if (faiss_index_factory(&flat, d, "IDMap,Flat", METRIC_INNER_PRODUCT))
        bench_die("flat", faiss_get_last_error());
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT id, text FROM chunks ORDER BY id", -1, &st,
                           NULL) != SQLITE_OK)
        bench_die("chunks", sqlite3_errmsg(cc_kb_db(kb)));
    for (int rc;;) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            ids[n] = sqlite3_column_int64(st, 0);
            if (!(own[n] = cc_strdup((const char *)sqlite3_column_text(st, 1))))
                bench_die("alloc", "out of memory");
            texts[n] = own[n];
            n++;
        }
        if (n && (n == B || rc != SQLITE_ROW)) {
            if (cr_embedder_embed(e, texts, NULL, n, v) != CC_OK)
                bench_die("embed", cr_embedder_errmsg(e));
            if (faiss_Index_add_with_ids(flat, (idx_t)n, v, ids))
                bench_die("add", faiss_get_last_error());
            for (size_t i = 0; i < n; i++) free(own[i]);
            n = 0;
        }
        if (rc != SQLITE_ROW) break;
    }
    sqlite3_finalize(st);
    free(v);
    return flat;
}

#endif
