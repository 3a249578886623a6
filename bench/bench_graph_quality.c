/* bench_graph_quality.c — precision and recall of the rules extractor
 * against hand-labelled chunks (datasets/eval/graph_labels.jsonl; rules
 * in datasets/eval/LABELLING.md).  Each chunk's text is extracted alone.
 *
 * Entities: a predicted mention is one the extractor returns, less common-
 * noun concepts (CG_MF_CONCEPT: "shipping company" after "is a"; not
 * names).  Three matchings, each gold mention matched at most once:
 * exact span and type, exact span any type, overlapping span any type.
 * Relations: predicted = confirmed relations between two non-value,
 * non-concept mentions (co-occurrence edges are inferred and reported
 * apart).  A prediction matches a gold relation when its subject overlaps
 * an occurrence of the gold subject and its object one of the gold object
 * (directed; "undirected" also accepts the reverse); predicates are not
 * compared (the labels use free names).  Precision: predictions matching
 * some gold relation / predictions; recall: gold relations matched / gold.
 * Usage: bench_graph_quality [labels.jsonl] */
#include "graph.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gold { int64_t start, end; const char *type, *text; int hit[3]; } gold;

typedef struct counts { size_t tp, pred, gold; } counts;

static void pr(const char *what, const counts *c)
{
    double p = c->pred ? (double)c->tp / (double)c->pred : 0, r = c->gold ? (double)c->tp / (double)c->gold : 0;
    printf("  %-34s P %5.1f%%  R %5.1f%%  F1 %5.1f%%  (%zu predicted, %zu gold)\n", what, 100 * p,
           100 * r, p + r > 0 ? 200 * p * r / (p + r) : 0.0, c->pred, c->gold);
}

static int overlaps(int64_t a0, int64_t a1, int64_t b0, int64_t b1) { return a0 < b1 && b0 < a1; }

/* 1 when mention m overlaps an occurrence of the gold name `text` */
static int on_name(const cg_mention *m, const gold *g, size_t ng, const char *text)
{
    for (size_t i = 0; i < ng; i++)
        if (!strcmp(g[i].text, text) && overlaps(m->start_char, m->end_char, g[i].start, g[i].end))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : CAIRN_SRC "/datasets/eval/graph_labels.jsonl";
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, n_chunks = 0, k;
    ssize_t len;
    cg_extractor *ex = NULL;
    cg_extraction x;
    counts ent[3] = {{0}}, rel = {0}, relu = {0}, cooc = {0};
    counts bytype[CG_TYPE_COUNT] = {{0}};
    size_t gold_d = 0, gold_u = 0;     /* gold relations matched */
    if (!f) { fprintf(stderr, "bench_graph_quality: cannot open %s\n", path); return 1; }
    if (cg_extractor_rules_new(NULL, &ex)) { fprintf(stderr, "%s\n", cc_errmsg()); return 1; }
    cg_extraction_init(&x);
    while ((len = getline(&line, &cap, f)) > 0) {
        cJSON *j = cJSON_Parse(line), *e, *r;
        const char *text;
        gold *g = NULL;
        size_t ng = 0, nr, i, m;
        unsigned char *relhit;
        cg_chunk c;
        if (!j || !cJSON_IsString(cJSON_GetObjectItem(j, "text"))) {
            fprintf(stderr, "bench_graph_quality: %s: bad line %zu\n", path, n_chunks + 1);
            return 1;
        }
        text = cJSON_GetObjectItem(j, "text")->valuestring;
        e = cJSON_GetObjectItem(j, "entities");
        r = cJSON_GetObjectItem(j, "relations");
        g = calloc((size_t)cJSON_GetArraySize(e) + 1, sizeof *g);
        for (cJSON *it = e ? e->child : NULL; it; it = it->next, ng++) {
            g[ng].start = (int64_t)cJSON_GetObjectItem(it, "start")->valuedouble;
            g[ng].end = (int64_t)cJSON_GetObjectItem(it, "end")->valuedouble;
            g[ng].type = cJSON_GetObjectItem(it, "type")->valuestring;
            g[ng].text = cJSON_GetObjectItem(it, "text")->valuestring;
            for (k = 0; k < CG_TYPE_COUNT; k++)
                if (!strcmp(g[ng].type, cg_type_str((cg_type)k))) bytype[k].gold++;
        }
        c = (cg_chunk){ text, strlen(text), 0, 0 };
        if (cg_extractor_run(ex, &c, &x) != CC_OK) {
            fprintf(stderr, "bench_graph_quality: %s\n", cg_extractor_errmsg(ex));
            return 1;
        }
        /* entities */
        for (k = 0; k < 3; k++) ent[k].gold += ng;
        for (m = 0; m < x.n_mentions; m++) {
            const cg_mention *p = &x.mentions[m];
            if (p->flags & CG_MF_CONCEPT) continue;
            for (k = 0; k < 3; k++) ent[k].pred++;
            bytype[p->type].pred++;
            for (k = 0; k < 3; k++)
                for (i = 0; i < ng; i++) {
                    int ok = k == 2 ? overlaps(p->start_char, p->end_char, g[i].start, g[i].end)
                                    : p->start_char == g[i].start && p->end_char == g[i].end &&
                                          (k == 1 || !strcmp(g[i].type, cg_type_str(p->type)));
                    if (ok && !g[i].hit[k]) {
                        g[i].hit[k] = 1;
                        ent[k].tp++;
                        if (k == 0) bytype[p->type].tp++;
                        break;
                    }
                }
        }
        /* relations */
        nr = (size_t)cJSON_GetArraySize(r);
        relhit = calloc(nr + 1, 2);
        rel.gold += nr;
        relu.gold += nr;
        for (m = 0; m < x.n_relations; m++) {
            const cg_relation *p = &x.relations[m];
            const cg_mention *s = &x.mentions[p->subj], *o = &x.mentions[p->obj];
            int any = 0, anyu = 0;
            if ((s->flags | o->flags) & (CG_MF_VALUE | CG_MF_CONCEPT)) continue;
            if (p->status == CG_REL_INFERRED) cooc.pred++;
            else { rel.pred++; relu.pred++; }
            i = 0;
            for (cJSON *it = r ? r->child : NULL; it; it = it->next, i++) {
                const char *gs = cJSON_GetObjectItem(it, "subject")->valuestring;
                const char *go = cJSON_GetObjectItem(it, "object")->valuestring;
                int d = on_name(s, g, ng, gs) && on_name(o, g, ng, go);
                int u = d || (on_name(s, g, ng, go) && on_name(o, g, ng, gs));
                if (p->status == CG_REL_INFERRED) { if (u) any = 1; continue; }
                if (d) { any = 1; relhit[2 * i] = 1; }
                if (u) { anyu = 1; relhit[2 * i + 1] = 1; }
            }
            if (p->status == CG_REL_INFERRED) cooc.tp += (size_t)any;
            else { rel.tp += (size_t)any; relu.tp += (size_t)anyu; }
        }
        for (i = 0; i < nr; i++) { gold_d += relhit[2 * i]; gold_u += relhit[2 * i + 1]; }
        free(relhit);
        free(g);
        cJSON_Delete(j);
        n_chunks++;
    }
    free(line);
    fclose(f);
    cg_extraction_free(&x);
    cg_extractor_free(ex);
    {
        double rp = rel.pred ? (double)rel.tp / (double)rel.pred : 0;
        double rr = rel.gold ? (double)gold_d / (double)rel.gold : 0;
        double up = relu.pred ? (double)relu.tp / (double)relu.pred : 0;
        double ur = relu.gold ? (double)gold_u / (double)relu.gold : 0;
        printf("graph quality: %zu labelled chunks (%s), extractor rules/1\n", n_chunks, path);
        printf("entities\n");
        pr("exact span + type", &ent[0]);
        pr("exact span, any type", &ent[1]);
        pr("overlapping span, any type", &ent[2]);
        printf("entities by predicted/gold type (exact span + type)\n");
        for (k = 0; k < CG_TYPE_COUNT; k++)
            if (bytype[k].gold || bytype[k].pred) pr(cg_type_str((cg_type)k), &bytype[k]);
        printf("relations (confirmed, between names; predicate not compared)\n");
        printf("  %-34s P %5.1f%%  R %5.1f%%  (%zu predicted, %zu gold)\n", "directed", 100 * rp,
               100 * rr, rel.pred, rel.gold);
        printf("  %-34s P %5.1f%%  R %5.1f%%\n", "either direction", 100 * up, 100 * ur);
        printf("co-occurrence edges (inferred): %zu, %.1f%% of them on a labelled relation\n",
               cooc.pred, cooc.pred ? 100.0 * (double)cooc.tp / (double)cooc.pred : 0.0);
    }
    return 0;
}

