/* bench_ask.c — latency of ca_ask (extractive) in one process with a warm
 * searcher (indexes loaded once, as a server holds them): p50/p99 per stage
 * from each trace, wall clock and process CPU time.
 *
 *   bench_ask KB QUESTIONS.txt [rounds]
 *
 * QUESTIONS.txt holds one question a line; every question is asked `rounds`
 * times (default 1) after one warm-up ask. Each ask stores its trace, as
 * `cairn ask` does. */
#define _POSIX_C_SOURCE 200809L
#include "ask.h"
#include "retrieval.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_RET, ST_GRAPH, ST_PROMPT, ST_GEN, ST_CHK, ST_RGC, ST_TOTAL, ST_N };
static const char *const st_name[ST_N] = {"retrieval", "graph", "prompt", "generate", "checks",
                                          "ret+graph+checks", "ca_ask total"};

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    size_t i = (size_t)((double)n * p);
    qsort(v, n, sizeof *v, cmp_d);
    return n ? v[i < n ? i : n - 1] : 0;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(x) ? x->valuedouble : 0;
}

int main(int argc, char **argv)
{
    cc_kb *kb;
    cr_searcher *se;
    char *line = NULL, **qs = NULL;
    size_t cap = 0, nq = 0, n = 0;
    int64_t rounds = 1;
    FILE *f;
    if (argc < 3 || (argc > 3 && cc_parse_i64(argv[3], 1, 1000000, &rounds) != CC_OK)) {
        fprintf(stderr, "usage: bench_ask KB QUESTIONS.txt [rounds]\n");
        return 2;
    }
    if (!(f = fopen(argv[2], "r"))) { perror(argv[2]); return 1; }
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = 0;
        if (!line[0]) continue;
        char **g = realloc(qs, (nq + 1) * sizeof *g);
        if (!g || !(g[nq] = cc_strdup(line))) return 1;
        qs = g;
        nq++;
    }
    free(line);
    fclose(f);
    if (!nq) { fprintf(stderr, "no questions in %s\n", argv[2]); return 1; }
    if (cc_kb_open(argv[1], CC_KB_WRITE, &kb) != CC_OK) { fprintf(stderr, "%s\n", cc_errmsg()); return 1; }
    if (cr_searcher_open(kb, &se) != CC_OK) { fprintf(stderr, "%s\n", cc_kb_errmsg(kb)); return 1; }
    size_t total = nq * (size_t)rounds;
    double *wall[ST_N], *cpu[ST_N];
    for (int s = 0; s < ST_N; s++) {
        wall[s] = calloc(total, sizeof(double));
        cpu[s] = calloc(total, sizeof(double));
        if (!wall[s] || !cpu[s]) return 1;
    }
    for (size_t i = 0; i <= total; i++) {   /* i == 0: warm-up, not counted */
        ca_ask_opts o = {.caller = "bench", .model = "", .searcher = se};
        ca_answer *a;
        const char *q = qs[i ? (i - 1) % nq : 0];
        double t0 = cc_now_ms();
        if (ca_ask(kb, q, &o, &a) != CC_OK) {
            fprintf(stderr, "ask '%s': %s\n", q, cc_kb_errmsg(kb));
            return 1;
        }
        double t = cc_now_ms() - t0;
        cJSON *tr = cJSON_Parse(a->trace_json);
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(tr, "latency_ms"),
                    *c = cJSON_GetObjectItemCaseSensitive(tr, "cpu_ms");
        if (i) {
            wall[ST_RET][n] = num(l, "retrieval") + num(l, "open");
            wall[ST_GRAPH][n] = num(l, "graph");
            wall[ST_PROMPT][n] = num(l, "prompt");
            wall[ST_GEN][n] = num(l, "generate");
            wall[ST_CHK][n] = num(l, "checks");
            wall[ST_RGC][n] = wall[ST_RET][n] + wall[ST_GRAPH][n] + wall[ST_CHK][n];
            wall[ST_TOTAL][n] = t;
            cpu[ST_RET][n] = num(c, "retrieval");
            cpu[ST_GRAPH][n] = num(c, "graph");
            cpu[ST_PROMPT][n] = 0;
            cpu[ST_GEN][n] = num(c, "generate");
            cpu[ST_CHK][n] = num(c, "checks");
            cpu[ST_RGC][n] = cpu[ST_RET][n] + cpu[ST_GRAPH][n] + cpu[ST_CHK][n];
            cpu[ST_TOTAL][n] = 0;
            n++;
        }
        cJSON_Delete(tr);
        ca_answer_free(a);
    }
    printf("%zu asks (%zu questions x %lld), warm searcher\n", n, nq, (long long)rounds);
    printf("%-18s %10s %10s   %10s %10s\n", "stage", "wall p50", "wall p99", "cpu p50", "cpu p99");
    for (int s = 0; s < ST_N; s++) {
        int has_cpu = s != ST_PROMPT && s != ST_TOTAL;
        double cp50 = has_cpu ? pct(cpu[s], n, 0.5) : 0, cp99 = has_cpu ? pct(cpu[s], n, 0.99) : 0;
        printf("%-18s %7.2f ms %7.2f ms", st_name[s], pct(wall[s], n, 0.5), pct(wall[s], n, 0.99));
        if (has_cpu) printf("   %7.2f ms %7.2f ms", cp50, cp99);
        printf("\n");
        free(wall[s]);
        free(cpu[s]);
    }
    for (size_t i = 0; i < nq; i++) free(qs[i]);
    free(qs);
    cr_searcher_close(se);
    cc_kb_close(kb);
    return 0;
}
