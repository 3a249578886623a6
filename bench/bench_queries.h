/* bench_queries.h — the query texts of the KB benchmarks (bench_vector,
 * bench_walkrecall): the first Q that bench/serve_load.sh sends ("wA wB"),
 * or, with BENCH_QUERIES=FILE in the environment, the file's non-empty
 * lines (taken again from the top when Q is more). Exits with a message on
 * an unreadable or empty file. Caller frees each and the array. */
#ifndef CAIRN_BENCH_QUERIES_H
#define CAIRN_BENCH_QUERIES_H

#include "core.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bench_queries_die(const char *what, const char *msg)
{
    fprintf(stderr, "%s: %s\n", what, msg);
    exit(1);
}

static char **bench_queries(int64_t Q)
{
    char **qs = calloc(Q > 0 ? (size_t)Q : 1, sizeof *qs);
    const char *qf = getenv("BENCH_QUERIES");
    FILE *f = qf ? fopen(qf, "r") : NULL;
    char line[8192];
    if (!qs) bench_queries_die("alloc", "out of memory");
    if (qf && !f) bench_queries_die(qf, "cannot open the queries file");
    for (int64_t i = 0; i < Q; i++) {
        if (f) {
            size_t n = 0;
            for (int pass = 0; n == 0 && pass < 2; ) {
                if (!fgets(line, sizeof line, f)) { rewind(f); pass++; continue; }
                n = strcspn(line, "\r\n");
                line[n] = 0;
            }
            if (n == 0) bench_queries_die(qf, "no queries in the file");
        } else {
            int64_t m = i + 1;
            snprintf(line, sizeof line, "w%lld w%lld", (long long)((m * 7919) % 50000),
                     (long long)((m * 104729) % 50000));
        }
        if (!(qs[i] = cc_strdup(line))) bench_queries_die("alloc", "out of memory");
    }
    if (f) fclose(f);
    return qs;
}

static void bench_queries_free(char **qs, int64_t Q)
{
    for (int64_t i = 0; qs && i < Q; i++) free(qs[i]);
    free(qs);
}

#endif
