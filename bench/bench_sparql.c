/* bench_sparql.c — SPARQL latency over a KB's graph store (cg_sparql_exec:
 * verb check, shared lock, fork, read-only store open, query, JSON) and
 * the triples iterator, each query run N times; prints p50 / p99 in ms.
 * Usage: bench_sparql KB [N]   (the KB's store must be built). */
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, double *t, int n, size_t bytes)
{
    qsort(t, (size_t)n, sizeof *t, cmp);
    printf("%-34s p50 %8.2f ms  p99 %8.2f ms  (%zu bytes of JSON)\n", name, t[n / 2],
           t[(int)(n * 0.99) < n ? (int)(n * 0.99) : n - 1], bytes);
}

int main(int argc, char **argv)
{
    static const struct { const char *name, *q; } qs[] = {
        {"ASK (any triple)", "ASK { ?s ?p ?o }"},
        {"labels of persons (LIMIT 100)",
         "SELECT ?e ?l WHERE { ?e a <urn:cairn:ns#Person> ;"
         " <http://www.w3.org/2000/01/rdf-schema#label> ?l } LIMIT 100"},
        {"one predicate, all triples", "SELECT ?s ?o WHERE { ?s <urn:cairn:rel:cfo_of> ?o }"},
        {"assertions + confidence (LIMIT 100)",
         "SELECT ?a ?c WHERE { ?a a <urn:cairn:ns#Assertion> ; <urn:cairn:ns#confidence> ?c } LIMIT 100"},
        {"2-hop join from a label",
         "SELECT ?p ?o ?l WHERE { ?e <http://www.w3.org/2000/01/rdf-schema#label> \"Norvale\" ."
         " ?e ?p ?o . ?o <http://www.w3.org/2000/01/rdf-schema#label> ?l } LIMIT 100"},
        {"count all triples", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"},
    };
    int64_t n = 30;
    int i, j;
    double *t;
    cc_kb *kb;
    cc_buf out = CC_BUF_INIT(0);
    if (argc < 2 || (argc > 2 && cc_parse_i64(argv[2], 1, 100000, &n) != CC_OK)) {
        fprintf(stderr, "usage: bench_sparql KB [N]\n");
        return 2;
    }
    if (cc_kb_open(argv[1], CC_KB_READ, &kb)) { fprintf(stderr, "%s\n", cc_errmsg()); return 1; }
    if (!(t = malloc((size_t)n * sizeof *t))) return 1;
    for (i = 0; i < (int)(sizeof qs / sizeof qs[0]); i++) {
        for (j = 0; j < n; j++) {
            double t0 = cc_now_ms();
            cc_buf_reset(&out);
            if (cg_sparql_exec(kb, qs[i].q, 100000, 60000, &out)) {
                fprintf(stderr, "%s: %s\n", qs[i].name, cc_kb_errmsg(kb));
                return 1;
            }
            t[j] = cc_now_ms() - t0;
        }
        report(qs[i].name, t, (int)n, out.len);
    }
    for (j = 0; j < n; j++) {    /* the iterator: one subject, every context */
        cg_triple_pattern p = {0};
        cg_triples *it;
        cg_triple_row r;
        int has = 1;
        size_t rows = 0;
        double t0 = cc_now_ms();
        p.predicate = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";
        p.object = "urn:cairn:ns#Organisation";
        if (cg_triples_open(kb, &p, &it)) { fprintf(stderr, "%s\n", cc_kb_errmsg(kb)); return 1; }
        while (!cg_triples_next(it, &r, &has) && has) rows++;
        cg_triples_close(it);
        t[j] = cc_now_ms() - t0;
        if (!j) printf("(iterator: %zu rows)\n", rows);
    }
    report("iterator: ?s rdf:type Organisation", t, (int)n, 0);
    free(t);
    cc_buf_free(&out);
    cc_kb_close(kb);
    return 0;
}
