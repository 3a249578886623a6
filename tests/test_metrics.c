/* test_metrics.c — nDCG, recall, MRR, MAP on hand-computed examples. */
#include "retrieval.h"
#include "check.h"

#include <math.h>

static int near(double a, double b) { return fabs(a - b) < 1e-9; }

int main(void)
{
    cr_metrics m;
    /* Ranked: 1 2 3 4 5; relevant: 2 (gain 3), 4 (gain 1), 9 (gain 2, not retrieved). */
    int64_t r[5] = { 1, 2, 3, 4, 5 };
    cr_qrel q[4] = { { 2, 3 }, { 4, 1 }, { 9, 2 }, { 3, 0 } };
    CHECK_OK(cr_metrics_query(r, 5, q, 4, 5, CR_GAIN_GRADED, &m));
    /* DCG = 3/log2(3) + 1/log2(5); IDCG = 3/1 + 2/log2(3) + 1/2 */
    double dcg = 3 / log2(3.0) + 1 / log2(5.0), idcg = 3 + 2 / log2(3.0) + 0.5;
    CHECK(near(m.ndcg, dcg / idcg));
    CHECK(near(m.recall, 2.0 / 3));
    CHECK(near(m.rr, 0.5));
    CHECK(near(m.ap, (1.0 / 2 + 2.0 / 4) / 3));             /* = 1/3 */
    CHECK(near(m.ap, 1.0 / 3));

    /* Binary gains. */
    CHECK_OK(cr_metrics_query(r, 5, q, 4, 5, CR_GAIN_BINARY, &m));
    dcg = 1 / log2(3.0) + 1 / log2(5.0);
    idcg = 1 + 1 / log2(3.0) + 0.5;
    CHECK(near(m.ndcg, dcg / idcg));

    /* Cutoff k = 3: only doc 2 is in the top 3; IDCG@3 uses the 3 best gains. */
    CHECK_OK(cr_metrics_query(r, 5, q, 4, 3, CR_GAIN_GRADED, &m));
    CHECK(near(m.ndcg, (3 / log2(3.0)) / (3 + 2 / log2(3.0) + 0.5)));
    CHECK(near(m.recall, 1.0 / 3));
    CHECK(near(m.ap, 0.5 / 3));
    /* k = 1: IDCG@1 = 3, nothing relevant at rank 1. */
    CHECK_OK(cr_metrics_query(r, 5, q, 4, 1, CR_GAIN_GRADED, &m));
    CHECK(m.ndcg == 0 && m.rr == 0 && m.recall == 0);

    /* Perfect ranking: all 1. */
    int64_t p[3] = { 2, 9, 4 };
    CHECK_OK(cr_metrics_query(p, 3, q, 4, 10, CR_GAIN_GRADED, &m));
    CHECK(near(m.ndcg, 1) && near(m.recall, 1) && near(m.rr, 1) && near(m.ap, 1));

    /* Duplicates in the ranking count once and take no rank. */
    int64_t dup[4] = { 1, 1, 2, 2 };
    CHECK_OK(cr_metrics_query(dup, 4, q, 4, 0, CR_GAIN_GRADED, &m));
    CHECK(near(m.rr, 0.5));
    CHECK(near(m.ap, 0.5 / 3));

    /* No relevant judgement: zeros. Empty ranking: zeros. */
    cr_qrel none[1] = { { 1, 0 } };
    CHECK_OK(cr_metrics_query(r, 5, none, 1, 5, CR_GAIN_GRADED, &m));
    CHECK(m.ndcg == 0 && m.recall == 0 && m.rr == 0 && m.ap == 0);
    CHECK_OK(cr_metrics_query(NULL, 0, q, 4, 5, CR_GAIN_GRADED, &m));
    CHECK(m.ndcg == 0 && m.recall == 0);

    /* Bad judgements. */
    cr_qrel twice[2] = { { 4, 1 }, { 4, 2 } };
    CHECK(cr_metrics_query(r, 5, twice, 2, 5, CR_GAIN_GRADED, &m) == CC_INVALID);
    cr_qrel nan[1] = { { 4, NAN } };
    CHECK(cr_metrics_query(r, 5, nan, 1, 5, CR_GAIN_GRADED, &m) == CC_INVALID);
    CHECK(cr_metrics_query(r, 5, q, 4, 5, 7, &m) == CC_INVALID);

    /* A run: query A as above (AP 1/3, RR 1/2); query B relevant 7 at rank 3
     * (AP 1/3, RR 1/3); query C has no relevant judgement and is left out. */
    int64_t rb[3] = { 5, 6, 7 };
    cr_qrel qb[1] = { { 7, 1 } };
    cr_eval_query run[3] = { { r, 5, q, 4 }, { rb, 3, qb, 1 }, { r, 5, none, 1 } };
    size_t scored = 0;
    CHECK_OK(cr_metrics_run(run, 3, 10, CR_GAIN_BINARY, &m, &scored));
    CHECK(scored == 2);
    CHECK(near(m.rr, (0.5 + 1.0 / 3) / 2));          /* MRR */
    CHECK(near(m.ap, (1.0 / 3 + 1.0 / 3) / 2));      /* MAP */
    CHECK(near(m.recall, (2.0 / 3 + 1.0) / 2));
    double nb = (1 / log2(4.0)) / 1.0;
    double na = (1 / log2(3.0) + 1 / log2(5.0)) / (1 + 1 / log2(3.0) + 0.5);
    CHECK(near(m.ndcg, (na + nb) / 2));
    return check_done("metrics");
}
