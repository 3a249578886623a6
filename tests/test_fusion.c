/* test_fusion.c — Reciprocal Rank Fusion. */
#include "retrieval.h"
#include "check.h"

#include <math.h>

static cr_hit H(int64_t id, int lane, double s)
{
    cr_hit h;
    memset(&h, 0, sizeof h);
    h.chunk_id = id;
    h.score = s;
    h.rank[lane] = 1;          /* rank field of inputs is not used for ranking */
    h.lane_score[lane] = s;
    return h;
}

static int near(double a, double b) { return fabs(a - b) < 1e-12; }

int main(void)
{
    /* BM25: 10, 20, 30; vector: 20, 40, 10 */
    cr_hit bm[3] = { H(10, 0, 9.5), H(20, 0, 7.0), H(30, 0, 3.25) };
    cr_hit ve[3] = { H(20, 1, 0.9), H(40, 1, 0.8), H(10, 1, 0.5) };
    const cr_hit *lanes[2] = { bm, ve };
    size_t n[2] = { 3, 3 };
    cr_hit *out = NULL;
    size_t no = 0;
    CHECK_OK(cr_fuse_rrf(lanes, n, NULL, &out, &no));
    CHECK(no == 4);
    if (no == 4) {
        /* 20: 1/62 + 1/61; 10: 1/61 + 1/63; 40: 1/62; 30: 1/63 */
        CHECK(out[0].chunk_id == 20 && near(out[0].score, 1.0 / 62 + 1.0 / 61));
        CHECK(out[1].chunk_id == 10 && near(out[1].score, 1.0 / 61 + 1.0 / 63));
        CHECK(out[2].chunk_id == 40 && near(out[2].score, 1.0 / 62));
        CHECK(out[3].chunk_id == 30 && near(out[3].score, 1.0 / 63));
        CHECK(out[0].rank[0] == 2 && out[0].rank[1] == 1);
        CHECK(out[0].lane_score[0] == 7.0 && fabs(out[0].lane_score[1] - 0.9) < 1e-12);
        CHECK(out[2].rank[0] == 0 && out[2].rank[1] == 2);      /* one lane only */
        CHECK(out[3].rank[1] == 0 && out[3].lane_score[0] == 3.25);
    }
    free(out);

    /* Weights and k; limit. */
    cr_fuse_opts o = { 0.0, { 2.0, 0.5 }, 2 };
    CHECK_OK(cr_fuse_rrf(lanes, n, &o, &out, &no));
    CHECK(no == 2);
    if (no == 2) {
        /* 10: 2/1 + .5/3 = 2.1667; 20: 2/2 + .5/1 = 1.5 */
        CHECK(out[0].chunk_id == 10 && near(out[0].score, 2.0 + 0.5 / 3));
        CHECK(out[1].chunk_id == 20 && near(out[1].score, 1.5));
    }
    free(out);

    /* Ties: same rank in symmetric lanes → chunk id ascending. */
    cr_hit t1[2] = { H(7, 0, 1), H(3, 0, 1) };
    cr_hit t2[2] = { H(3, 1, 1), H(7, 1, 1) };
    const cr_hit *tl[2] = { t1, t2 };
    size_t tn[2] = { 2, 2 };
    CHECK_OK(cr_fuse_rrf(tl, tn, NULL, &out, &no));
    CHECK(no == 2 && out[0].chunk_id == 3 && out[1].chunk_id == 7);
    CHECK(no == 2 && out[0].score == out[1].score);
    free(out);

    /* A chunk repeated in one lane counts once, at its best rank. */
    cr_hit d1[3] = { H(5, 0, 3), H(6, 0, 2), H(5, 0, 1) };
    const cr_hit *dl[2] = { d1, NULL };
    size_t dn[2] = { 3, 0 };
    CHECK_OK(cr_fuse_rrf(dl, dn, NULL, &out, &no));
    CHECK(no == 2 && out[0].chunk_id == 5 && near(out[0].score, 1.0 / 61) && out[0].rank[0] == 1);
    free(out);

    /* Empty lanes. */
    const cr_hit *el[2] = { NULL, NULL };
    size_t en[2] = { 0, 0 };
    out = (cr_hit *)1;
    CHECK_OK(cr_fuse_rrf(el, en, NULL, &out, &no));
    CHECK(no == 0 && out == NULL);

    /* Bad parameters. */
    cr_fuse_opts b1 = { -1, { 1, 1 }, 0 }, b2 = { 60, { NAN, 1 }, 0 }, b3 = { 60, { 1, -0.5 }, 0 },
                 b4 = { NAN, { 1, 1 }, 0 }, b5 = { INFINITY, { 1, 1 }, 0 };
    CHECK(cr_fuse_rrf(lanes, n, &b1, &out, &no) == CC_INVALID);
    CHECK(cr_fuse_rrf(lanes, n, &b2, &out, &no) == CC_INVALID);
    CHECK(cr_fuse_rrf(lanes, n, &b3, &out, &no) == CC_INVALID);
    CHECK(cr_fuse_rrf(lanes, n, &b4, &out, &no) == CC_INVALID);
    CHECK(cr_fuse_rrf(lanes, n, &b5, &out, &no) == CC_INVALID);
    CHECK(strstr(cc_errmsg(), "k") != NULL);
    size_t badn[2] = { 3, 2 };
    const cr_hit *badl[2] = { bm, NULL };
    CHECK(cr_fuse_rrf(badl, badn, NULL, &out, &no) == CC_INVALID);

    /* Larger lists against a brute-force reference (O(n^2)). */
    enum { N = 100 };
    cr_hit A[N], B[N];
    uint64_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        A[i] = H((int64_t)(x >> 40) % 150, 0, N - i);
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        B[i] = H((int64_t)(x >> 40) % 150, 1, N - i);
    }
    const cr_hit *bl[2] = { A, B };
    size_t bn[2] = { N, N };
    CHECK_OK(cr_fuse_rrf(bl, bn, NULL, &out, &no));
    int ok = 1;
    for (size_t i = 0; i < no; i++) {
        double ref = 0;
        int fa = 0, fb = 0;
        for (int j = 0; j < N; j++) {
            if (!fa && A[j].chunk_id == out[i].chunk_id) { ref += 1.0 / (60 + j + 1); fa = 1; }
            if (!fb && B[j].chunk_id == out[i].chunk_id) { ref += 1.0 / (60 + j + 1); fb = 1; }
        }
        if (!near(ref, out[i].score)) ok = 0;
        if (i && (out[i - 1].score < out[i].score ||
                  (out[i - 1].score == out[i].score && out[i - 1].chunk_id > out[i].chunk_id)))
            ok = 0;
    }
    CHECK(ok);
    free(out);

    /* The fused order is total (score, then chunk id): a limit gives the
     * first `limit` of the unlimited answer, for lanes of 0..300 hits with
     * many ties (the heaps' partial sort against the full sort). */
    for (int len = 0; len <= 300; len += 23) {
        cr_hit *P = malloc((size_t)(len ? len : 1) * sizeof *P);
        cr_hit *Q = malloc((size_t)(len ? len : 1) * sizeof *Q);
        cr_hit *full = NULL, *part = NULL;
        size_t nfull = 0, npart = 0;
        static const size_t limits[] = {1, 2, 10, 50, 1000};
        CHECK(P && Q);
        if (!P || !Q) break;
        for (int i = 0; i < len; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            P[i] = H((int64_t)(x >> 40) % (len + 1), 0, 1);
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            Q[i] = H((int64_t)(x >> 40) % (len + 1), 1, 1);
        }
        const cr_hit *pl[2] = { P, Q };
        size_t pn[2] = { (size_t)len, (size_t)len / 2 };
        CHECK_OK(cr_fuse_rrf(pl, pn, NULL, &full, &nfull));
        for (size_t i = 1; i < nfull; i++)
            CHECK(full[i - 1].score > full[i].score ||
                  (full[i - 1].score == full[i].score && full[i - 1].chunk_id < full[i].chunk_id));
        for (size_t l = 0; l < sizeof limits / sizeof *limits; l++) {
            cr_fuse_opts lo = CR_FUSE_OPTS_DEFAULT;
            lo.limit = limits[l];
            CHECK_OK(cr_fuse_rrf(pl, pn, &lo, &part, &npart));
            CHECK(npart == (nfull < limits[l] ? nfull : limits[l]));
            for (size_t i = 0; i < npart && i < nfull; i++)
                CHECK(part[i].chunk_id == full[i].chunk_id && part[i].score == full[i].score &&
                      part[i].rank[0] == full[i].rank[0] && part[i].rank[1] == full[i].rank[1]);
            free(part);
            part = NULL;
        }
        free(full);
        free(P);
        free(Q);
    }

    /* Speed: two lanes of 100 hits. Reported; checked loosely (shared CI). */
    double t0 = cc_now_ms();
    int reps = 2000;
    for (int r = 0; r < reps; r++) {
        CHECK_OK(cr_fuse_rrf(bl, bn, NULL, &out, &no));
        free(out);
    }
    double us = (cc_now_ms() - t0) * 1000.0 / reps;
    printf("fusion 2x100: %.2f us/call\n", us);
    CHECK_MSG(us < 500, "%.1f us", us);
    return check_done("fusion");
}
