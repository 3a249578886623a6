/*
 * fusion.c — Reciprocal Rank Fusion of the retrieval lanes.
 *
 *   score(c) = Σ_l weight[l] / (k + rank_l(c))
 *
 * over the lanes that found chunk c (a chunk found by one lane still
 * counts). Entries of all lanes are gathered into one array, sorted by
 * (chunk id, lane, rank) so each chunk's entries are adjacent, merged, then
 * sorted by (score desc, chunk id asc): O(n log n) for n hits in all. Both
 * sorts are heapsorts in place (glibc's qsort allocates a buffer for a
 * hybrid request's ~100 entries: 1.8% of its CPU); both orders are total,
 * so any correct sort gives the same result.
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

/* name(e, n, first): the `first` smallest of e[0..n) by cmp, in order,
 * into e[0..first) (first >= n: all of e sorted), the rest of e left in
 * some order; a heap's partial sort, in place. */
#define HEAPSORT(name, T, cmp)                                                  \
    static void name##_down(T *e, size_t n, size_t i) /* max-heap on cmp */    \
    {                                                                           \
        for (;;) {                                                              \
            size_t l = 2 * i + 1, r = l + 1, w = i;                             \
            T x;                                                                \
            if (l < n && cmp(&e[l], &e[w]) > 0) w = l;                          \
            if (r < n && cmp(&e[r], &e[w]) > 0) w = r;                          \
            if (w == i) return;                                                 \
            x = e[i]; e[i] = e[w]; e[w] = x;                                    \
            i = w;                                                              \
        }                                                                       \
    }                                                                           \
    static void name(T *e, size_t n, size_t first)                              \
    {                                                                           \
        size_t i;                                                               \
        T x;                                                                    \
        if (first > n) first = n;                                               \
        if (first < 1) return;                                                  \
        /* a max-heap of e[0..first), then each later entry smaller than    \
         * its root swapped in: the heap holds the `first` smallest */        \
        for (i = first / 2; i-- > 0;) name##_down(e, first, i);                 \
        for (i = first; i < n; i++)                                             \
            if (cmp(&e[i], &e[0]) < 0) {                                        \
                x = e[0]; e[0] = e[i]; e[i] = x;                                \
                name##_down(e, first, 0);                                       \
            }                                                                   \
        for (i = first - 1; i > 0; i--) {   /* the largest to the back */      \
            x = e[0]; e[0] = e[i]; e[i] = x;                                    \
            name##_down(e, i, 0);                                               \
        }                                                                       \
    }

HEAPSORT(sort_entries, entry, entry_cmp)
HEAPSORT(sort_hits, cr_hit, hit_cmp)

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
    sort_entries(e, m, m);

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
    sort_hits(res, groups, opts->limit ? opts->limit : groups);
    if (opts->limit && opts->limit < groups) {
        groups = opts->limit;
        cr_hit *shrunk = realloc(res, groups * sizeof *res);
        if (shrunk) res = shrunk;
    }
    *out = res;
    *n_out = groups;
    return CC_OK;
}
