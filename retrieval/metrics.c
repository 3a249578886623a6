/*
 * metrics.c — retrieval evaluation: nDCG@k (graded or binary gains),
 * recall@k, reciprocal rank (MRR over a run) and average precision (MAP
 * over a run). Definitions are in retrieval.h next to cr_metrics.
 * Judgements are looked up by binary search in a sorted copy.
 */
#include "retrieval.h"

#include <math.h>
#include <string.h>

static int qrel_cmp(const void *a_, const void *b_)
{
    const cr_qrel *a = a_, *b = b_;
    return (a->id > b->id) - (a->id < b->id);
}

static int gain_desc(const void *a_, const void *b_)
{
    double a = *(const double *)a_, b = *(const double *)b_;
    return (a < b) - (a > b);
}

/* By id, then position (stored in gain). */
static int pair_cmp(const void *a_, const void *b_)
{
    const cr_qrel *a = a_, *b = b_;
    if (a->id != b->id) return (a->id > b->id) - (a->id < b->id);
    return (a->gain > b->gain) - (a->gain < b->gain);
}

static const cr_qrel *qrel_find(const cr_qrel *q, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (q[mid].id == id) return &q[mid];
        if (q[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

cc_status cr_metrics_query(const int64_t *ranked, size_t n_ranked,
                           const cr_qrel *qrels, size_t n_qrels, int k,
                           int gain_mode, cr_metrics *out)
{
    C_ASSERT(out && (n_ranked == 0 || ranked) && (n_qrels == 0 || qrels));
    memset(out, 0, sizeof *out);
    if (gain_mode != CR_GAIN_GRADED && gain_mode != CR_GAIN_BINARY)
        return cc_seterr(CC_INVALID, "unknown gain mode %d", gain_mode);
    if (n_qrels == 0) return CC_OK;
    cr_qrel *q = malloc(n_qrels * sizeof *q);
    double *ideal = malloc(n_qrels * sizeof *ideal);
    size_t cut = k > 0 && (size_t)k < n_ranked ? (size_t)k : n_ranked;
    cr_qrel *pairs = cut ? malloc(cut * sizeof *pairs) : NULL;   /* (id, position) */
    unsigned char *dup = cut ? malloc(cut) : NULL;
    cc_status s = CC_OK;
    if (!q || !ideal || (cut && (!pairs || !dup))) {
        s = cc_seterr(CC_NOMEM, "out of memory computing metrics");
        goto done;
    }
    memcpy(q, qrels, n_qrels * sizeof *q);
    qsort(q, n_qrels, sizeof *q, qrel_cmp);
    size_t n_rel = 0;
    for (size_t i = 0; i < n_qrels; i++) {
        if (!isfinite(q[i].gain)) {
            s = cc_seterr(CC_INVALID, "judgement for id %lld has a non-finite gain",
                          (long long)q[i].id);
            goto done;
        }
        if (i && q[i].id == q[i - 1].id) {
            s = cc_seterr(CC_INVALID, "id %lld is judged twice", (long long)q[i].id);
            goto done;
        }
        if (q[i].gain > 0)
            ideal[n_rel++] = gain_mode == CR_GAIN_BINARY ? 1.0 : q[i].gain;
    }
    if (n_rel == 0) goto done;

    /* dup[i]: ranked[i] already appeared earlier in the top `cut`; it is
     * skipped and takes no rank. Found by sorting (id, position) pairs. */
    for (size_t i = 0; i < cut; i++) { pairs[i].id = ranked[i]; pairs[i].gain = (double)i; }
    if (cut) {
        qsort(pairs, cut, sizeof *pairs, pair_cmp);
        memset(dup, 0, cut);
    }
    for (size_t i = 1; i < cut; i++)
        if (pairs[i].id == pairs[i - 1].id) dup[(size_t)pairs[i].gain] = 1;

    double dcg = 0, ap = 0, rr = 0;
    size_t hits = 0, pos = 0;
    for (size_t i = 0; i < cut; i++) {
        if (dup[i]) continue;
        pos++;
        const cr_qrel *r = qrel_find(q, n_qrels, ranked[i]);
        if (!r || r->gain <= 0) continue;
        double g = gain_mode == CR_GAIN_BINARY ? 1.0 : r->gain;
        dcg += g / log2((double)pos + 1.0);
        hits++;
        ap += (double)hits / (double)pos;
        if (rr == 0) rr = 1.0 / (double)pos;
    }
    qsort(ideal, n_rel, sizeof *ideal, gain_desc);
    size_t icut = k > 0 && (size_t)k < n_rel ? (size_t)k : n_rel;
    double idcg = 0;
    for (size_t i = 0; i < icut; i++) idcg += ideal[i] / log2((double)i + 2.0);
    out->ndcg = idcg > 0 ? dcg / idcg : 0;
    out->recall = (double)hits / (double)n_rel;
    out->rr = rr;
    out->ap = ap / (double)n_rel;
done:
    free(q);
    free(ideal);
    free(pairs);
    free(dup);
    return s;
}

cc_status cr_metrics_run(const cr_eval_query *queries, size_t n_queries, int k,
                         int gain_mode, cr_metrics *out, size_t *n_scored)
{
    C_ASSERT(out && (n_queries == 0 || queries));
    memset(out, 0, sizeof *out);
    if (n_scored) *n_scored = 0;
    cr_metrics sum = { 0, 0, 0, 0 };
    size_t scored = 0;
    for (size_t i = 0; i < n_queries; i++) {
        const cr_eval_query *e = &queries[i];
        int relevant = 0;
        for (size_t j = 0; j < e->n_qrels && !relevant; j++) relevant = e->qrels[j].gain > 0;
        if (!relevant) continue;
        cr_metrics m;
        cc_status s = cr_metrics_query(e->ranked, e->n_ranked, e->qrels, e->n_qrels, k,
                                       gain_mode, &m);
        if (s != CC_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", cc_errmsg());
            return cc_seterr(s, "query %zu: %s", i, msg);
        }
        sum.ndcg += m.ndcg;
        sum.recall += m.recall;
        sum.rr += m.rr;
        sum.ap += m.ap;
        scored++;
    }
    if (scored) {
        out->ndcg = sum.ndcg / (double)scored;
        out->recall = sum.recall / (double)scored;
        out->rr = sum.rr / (double)scored;
        out->ap = sum.ap / (double)scored;
    }
    if (n_scored) *n_scored = scored;
    return CC_OK;
}
