/*
 * fusion.c — Reciprocal Rank Fusion of the retrieval lanes.
 *
 *   score(c) = Σ_l weight[l] / (k + rank_l(c))
 *
 * over the lanes that found chunk c (a chunk found by one lane still
 * counts). Entries of all lanes are gathered into one array, sorted by
 * (chunk id, lane, rank) so each chunk's entries are adjacent, merged, then
 * sorted by (score desc, chunk id asc): O(n log n) for n hits in all.
 * Sums run in lane order, so the result is the same on every machine.
 */
#include "retrieval.h"

#include <math.h>
#include <string.h>

typedef struct entry {
    int64_t id;
    int     lane;
    int     rank;      /* 1-based position in the lane */
    double  score;     /* the lane's raw score */
} entry;

static int entry_cmp(const void *a_, const void *b_)
{
    const entry *a = a_, *b = b_;
    if (a->id != b->id) return a->id < b->id ? -1 : 1;
    if (a->lane != b->lane) return a->lane - b->lane;
    return (a->rank > b->rank) - (a->rank < b->rank);
}

static int hit_cmp(const void *a_, const void *b_)
{
    const cr_hit *a = a_, *b = b_;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->chunk_id > b->chunk_id) - (a->chunk_id < b->chunk_id);
}

cc_status cr_fuse_rrf(const cr_hit *const lanes[CR_LANE_COUNT],
                      const size_t n[CR_LANE_COUNT], const cr_fuse_opts *opts,
                      cr_hit **out, size_t *n_out)
{
    C_ASSERT(lanes && n && out && n_out);
    *out = NULL;
    *n_out = 0;
    static const cr_fuse_opts dflt = CR_FUSE_OPTS_DEFAULT;
    if (!opts) opts = &dflt;
    if (!isfinite(opts->k) || opts->k < 0)
        return cc_seterr(CC_INVALID, "RRF k must be a finite number >= 0 (got %g)", opts->k);
    size_t total = 0;
    for (int l = 0; l < CR_LANE_COUNT; l++) {
        if (!isfinite(opts->weight[l]) || opts->weight[l] < 0)
            return cc_seterr(CC_INVALID, "RRF weight of lane %d must be a finite number >= 0 "
                             "(got %g)", l, opts->weight[l]);
        if (n[l] && !lanes[l])
            return cc_seterr(CC_INVALID, "lane %d has %zu hits but no list", l, n[l]);
        if (n[l] > (size_t)INT32_MAX)
            return cc_seterr(CC_TOOBIG, "lane %d has too many hits (%zu)", l, n[l]);
        total += n[l];
    }
    if (total == 0) return CC_OK;

    entry stackbuf[256];
    entry *e = total <= 256 ? stackbuf : malloc(total * sizeof *e);
    if (!e) return cc_seterr(CC_NOMEM, "out of memory fusing %zu hits", total);
    size_t m = 0;
    for (int l = 0; l < CR_LANE_COUNT; l++)
        for (size_t i = 0; i < n[l]; i++) {
            const cr_hit *h = &lanes[l][i];
            e[m].id = h->chunk_id;
            e[m].lane = l;
            e[m].rank = (int)i + 1;
            e[m].score = h->rank[l] ? h->lane_score[l] : h->score;
            m++;
        }
    qsort(e, m, sizeof *e, entry_cmp);

    size_t groups = 0;
    for (size_t i = 0; i < m; i++)
        if (i == 0 || e[i].id != e[i - 1].id) groups++;
    cr_hit *res = calloc(groups, sizeof *res);
    if (!res) {
        if (e != stackbuf) free(e);
        return cc_seterr(CC_NOMEM, "out of memory fusing %zu hits", total);
    }
    size_t g = 0;
    for (size_t i = 0; i < m;) {
        cr_hit *h = &res[g++];
        h->chunk_id = e[i].id;
        size_t j = i;
        for (; j < m && e[j].id == e[i].id; j++) {
            int l = e[j].lane;
            if (h->rank[l]) continue;              /* repeated in a lane: best rank kept */
            h->rank[l] = e[j].rank;
            h->lane_score[l] = e[j].score;
        }
        double s = 0;
        for (int l = 0; l < CR_LANE_COUNT; l++)
            if (h->rank[l]) s += opts->weight[l] / (opts->k + (double)h->rank[l]);
        h->score = s;
        i = j;
    }
    if (e != stackbuf) free(e);
    qsort(res, groups, sizeof *res, hit_cmp);
    if (opts->limit && opts->limit < groups) {
        groups = opts->limit;
        cr_hit *shrunk = realloc(res, groups * sizeof *res);
        if (shrunk) res = shrunk;
    }
    *out = res;
    *n_out = groups;
    return CC_OK;
}
