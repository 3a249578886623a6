/* test_llm_attn.c — the CPU backend's grouped-query attention (llm/attn.c,
 * simd.c, cpu.c): query heads of one KV head handled together over chunks
 * of CL_ATTN_CHUNK positions, merged per head. Against a double-precision
 * softmax attention, on the AVX2 and the portable path, for queries whose
 * positions cross chunk boundaries (1, 127..129, 256, 300 positions seen),
 * a group of 7 heads per KV head with head_dim 64 (the Qwen2.5-0.5B shape)
 * and an ungrouped head_dim of 20 (not a multiple of 8); then the same bits
 * with 1 and 3 threads, and in a batch and one query at a time (a decode
 * step must not depend on how the earlier positions were filled). Then the
 * same over an F16 cache (kv_f16): the exact reference runs over the
 * halves widened to double, so the tolerance stays the float one (the
 * halves are read exactly, F16C or portable). Then over a Q8_0 cache
 * (kv_q8): the reference runs over the dequantised blocks and over the
 * query as the kernels quantise it (per block of 32), so again only float
 * rounding separates them; the AVX2 and portable stores give the same
 * bytes, the two paths the same scores (outputs within float tolerance),
 * and a head size that is not a multiple of 32 is refused. The AVX2 chunk
 * merge gives the portable merge's bits. */
#include "backend.h"
#include "check.h"
#define LLM_RAND_SEED 4242
#include "llm_rand.h"

#include <math.h>
#include <stdlib.h>

enum { LMAX = 320 };

typedef struct shape {
    uint32_t n_head, n_kv, hd;
} shape;

static float *kc, *vc, *qs, *o1, *o2;
static uint16_t *kh, *vh; /* the F16 cache: kc/vc rounded to half */
static uint8_t *k8, *v8;   /* the Q8_0 cache of kc/vc */
static float *qref;        /* when set: the query values the reference uses (the quantised ones) */
static float *qbuf;        /* the quantised query values */

static void fill(const shape *s)
{
    size_t i, kvd = (size_t)s->n_kv * s->hd;
    for (i = 0; i < LMAX * kvd; i++) {
        kc[i] = 3.0f * uni(); /* peaky softmax: scores up to ~10 */
        vc[i] = uni();
    }
    for (i = 0; i < (size_t)LMAX * s->n_head * s->hd; i++) qs[i] = uni();
}

static cl_attn_args args(const shape *s, uint32_t pos0, uint32_t nb, float *out)
{
    cl_attn_args a = {qs + (size_t)pos0 * s->n_head * s->hd, kc, vc, out, nb, pos0, s->n_head, s->n_kv, s->hd, 0, 0, 0};
    a.scale = 1.0f / sqrtf((float)s->hd);
    return a;
}

/* max |out - exact| over the nb queries */
static double worst_error(const shape *s, const cl_attn_args *a)
{
    uint32_t b, h, t, i, grp = s->n_head / s->n_kv, kvd = s->n_kv * s->hd;
    double worst = 0, *sc = malloc(LMAX * sizeof *sc);
    for (b = 0; b < a->nb; b++)
        for (h = 0; h < s->n_head; h++) {
            const float *q = (qref ? qref + (a->q - qs) : a->q) + ((size_t)b * s->n_head + h) * s->hd;
            uint32_t pos = a->pos0 + b, kh = h / grp;
            double mx = -INFINITY, l = 0;
            for (t = 0; t <= pos; t++) {
                double d = 0;
                for (i = 0; i < s->hd; i++) d += (double)q[i] * kc[(size_t)t * kvd + kh * s->hd + i];
                sc[t] = d * a->scale;
                if (sc[t] > mx) mx = sc[t];
            }
            for (t = 0; t <= pos; t++) l += (sc[t] = exp(sc[t] - mx));
            for (i = 0; i < s->hd; i++) {
                double o = 0, e;
                for (t = 0; t <= pos; t++) o += sc[t] * vc[(size_t)t * kvd + kh * s->hd + i];
                e = fabs(o / l - a->out[((size_t)b * s->n_head + h) * s->hd + i]);
                if (e > worst) worst = e;
            }
        }
    free(sc);
    return worst;
}

/* The Q8_0 kernels' scores, SIMD against portable, bit for bit: a chunk
 * record's first value is the largest score, so a window of one row gives
 * that row's score (the SIMD kernel's padded short block) and windows of 8
 * and 13 rows at every start give the largest of a whole block of 8 (the
 * AVX2 kernel's main path) and of a block and a short one, 16 and 21 the
 * same for the AVX-512 kernel's blocks of 16; every KV head, every query
 * head of the group. Then the AVX-512 kernel's whole records (maximum,
 * sum, V sums) against the AVX2 kernel's, bit for bit, on windows of 1 to
 * 40 rows (where the processor has AVX-512; elsewhere both are AVX2). */
static void q8_scores_same(const shape *s)
{
    static const uint32_t lens[] = {1, 8, 13, 16, 21};
    uint32_t grp = s->n_head / s->n_kv, kh, t, w, g, bad = 0, n = 0;
    size_t ld = (size_t)s->n_kv * s->hd / 32 * CL_KV_Q8_BLOCK, per = (size_t)grp * (s->hd + 2);
    float *sc = malloc((size_t)grp * 40 * sizeof *sc), *pa = malloc(per * sizeof *pa), *pb = malloc(per * sizeof *pb);
    cl_attn_part_q8_fn simd = cl_attn_part_q8_select(CL_SIMD_BEST), avx2 = cl_attn_part_q8_select(CL_SIMD_AVX2);
    if (!sc || !pa || !pb) {
        CHECK(0);
        free(sc), free(pa), free(pb);
        return;
    }
    for (kh = 0; kh < s->n_kv; kh++)
        for (w = 0; w < sizeof lens / sizeof *lens; w++)
            for (t = 0; t + lens[w] <= LMAX; t++) {
                const uint8_t *k = k8 + t * ld + (size_t)kh * (s->hd / 32) * CL_KV_Q8_BLOCK;
                const float *q = qs + (size_t)kh * grp * s->hd;
                simd(q, grp, s->hd, k, k, ld, lens[w], 0.125f, sc, pa, NULL);
                cl_attn_part_q8_ref(q, grp, s->hd, k, k, ld, lens[w], 0.125f, sc, pb, NULL);
                for (g = 0; g < grp; g++, n++) bad += memcmp(pa + g * (s->hd + 2), pb + g * (s->hd + 2), sizeof(float)) != 0;
            }
    CHECK_MSG(bad == 0, "Q8_0 scores, heads %u/%u head_dim %u: %u of %u SIMD maxima differ from the portable ones",
              s->n_head, s->n_kv, s->hd, bad, n);
    for (kh = 0, bad = n = 0; kh < s->n_kv; kh++)
        for (w = 1; w <= 40; w++)
            for (t = 0; t + w <= LMAX; t += 7) {
                const uint8_t *k = k8 + t * ld + (size_t)kh * (s->hd / 32) * CL_KV_Q8_BLOCK;
                const uint8_t *v = v8 + t * ld + (size_t)kh * (s->hd / 32) * CL_KV_Q8_BLOCK;
                const float *q = qs + (size_t)kh * grp * s->hd;
                simd(q, grp, s->hd, k, v, ld, w, 0.125f, sc, pa, NULL);
                avx2(q, grp, s->hd, k, v, ld, w, 0.125f, sc, pb, NULL);
                bad += memcmp(pa, pb, per * sizeof *pa) != 0, n++;
            }
    CHECK_MSG(bad == 0, "Q8_0 records, heads %u/%u head_dim %u: %u of %u AVX-512 records differ from the AVX2 ones",
              s->n_head, s->n_kv, s->hd, bad, n);
    free(sc), free(pa), free(pb);
}

/* The Q8_0 cache of the (already F16-rounded) kc/vc; kc/vc and qref
 * become the values the kernels compute with. */
static void test_q8(const shape *s, cl_backend *simd1, cl_backend *simd3, cl_backend *port)
{
    static const uint32_t cases[][2] = {{0, 1}, {5, 3}, {120, 16}, {126, 3}, {255, 2}, {290, 10}, {300, 1}};
    size_t n = (size_t)LMAX * s->n_kv * s->hd, nq = (size_t)LMAX * s->n_head * s->hd, i;
    size_t per = (size_t)s->n_head * s->hd;
    size_t qb = cl_act_bytes(CL_TYPE_Q8_0, s->hd);
    uint8_t *alt = malloc(n / 32 * CL_KV_Q8_BLOCK);
    cl_act_q8x4 *y = malloc(qb);
    uint32_t c, j;
    int simd;
    if (s->hd % 32) { /* refused, with a message */
        cl_attn_args a = args(s, 0, 1, o1);
        a.kcache = a.vcache = kc, a.kv_q8 = 1;
        CHECK(cl_be_attention(port, &a) == CL_ERR_INVALID && strstr(cl_errmsg(), "multiple of 32"));
        free(alt);
        free(y);
        return;
    }
    if (!alt || !y) {
        CHECK(0);
        free(alt);
        free(y);
        return;
    }
    for (i = 0; i < n; i++) kc[i] *= 1.0f + 0.25f * uni(); /* away from half values */
    cl_kv_store_q8(k8, kc, n, cl_act_quantize_select(1));
    cl_kv_store_q8(v8, vc, n, cl_act_quantize_select(1));
    cl_kv_store_q8(alt, kc, n, cl_act_quantize_ref);
    CHECK_MSG(memcmp(alt, k8, n / 32 * CL_KV_Q8_BLOCK) == 0, "Q8_0 store: the SIMD and portable bytes differ");
    q8_scores_same(s);
    for (i = 0; i < n; i += 32) { /* the cache's values, exactly: d * q */
        const uint8_t *kb = k8 + i / 32 * CL_KV_Q8_BLOCK, *vb = v8 + i / 32 * CL_KV_Q8_BLOCK;
        for (j = 0; j < 32; j++) {
            kc[i + j] = cl_fp16_to_f32(cl_ld16(kb)) * (float)(int8_t)kb[2 + j];
            vc[i + j] = cl_fp16_to_f32(cl_ld16(vb)) * (float)(int8_t)vb[2 + j];
        }
    }
    for (i = 0; i < nq; i += s->hd) { /* each head's query as the kernels quantise it */
        cl_act_quantize_ref(CL_TYPE_Q8_0, qs + i, s->hd, y);
        for (j = 0; j < s->hd; j++) qbuf[i + j] = y[j / 128].d[j / 32 % 4] * (float)y[j / 128].qs[j / 32 % 4][j % 32];
    }
    qref = qbuf;
    for (simd = 0; simd < 2; simd++) {
        double worst = 0;
        for (c = 0; c < sizeof cases / sizeof *cases; c++) {
            cl_attn_args a = args(s, cases[c][0], cases[c][1], o1);
            double e;
            a.kcache = k8, a.vcache = v8, a.kv_q8 = 1;
            CHECK(cl_be_attention(simd ? simd3 : port, &a) == CL_OK);
            e = worst_error(s, &a);
            if (e > worst) worst = e;
        }
        CHECK_MSG(worst < 2e-6, "Q8_0 cache, heads %u/%u, head_dim %u, %s path: max error %.3g", s->n_head, s->n_kv,
                  s->hd, simd ? "SIMD" : "portable", worst);
        printf("heads %u/%u head_dim %u %-8s Q8_0 cache: max |out - exact| = %.2g\n", s->n_head, s->n_kv, s->hd,
               simd ? "SIMD" : "portable", worst);
    }
    qref = NULL;
    for (c = 0; c < sizeof cases / sizeof *cases; c++) {
        cl_attn_args a = args(s, cases[c][0], cases[c][1], o1), a3 = args(s, cases[c][0], cases[c][1], o2);
        uint32_t b;
        int diff = 0;
        a.kcache = a3.kcache = k8, a.vcache = a3.vcache = v8, a.kv_q8 = a3.kv_q8 = 1;
        CHECK(cl_be_attention(simd1, &a) == CL_OK);
        CHECK(cl_be_attention(simd3, &a3) == CL_OK);
        CHECK_MSG(memcmp(o1, o2, cases[c][1] * per * sizeof(float)) == 0,
                  "Q8_0 cache, pos0 %u nb %u: 1 and 3 threads differ", cases[c][0], cases[c][1]);
        for (b = 0; b < cases[c][1]; b++) {
            cl_attn_args one = args(s, cases[c][0] + b, 1, o2);
            one.kcache = k8, one.vcache = v8, one.kv_q8 = 1;
            CHECK(cl_be_attention(simd3, &one) == CL_OK);
            diff += memcmp(o2, o1 + b * per, per * sizeof(float)) != 0;
        }
        CHECK_MSG(diff == 0, "Q8_0 cache, pos0 %u nb %u: %d queries differ between batch and one at a time",
                  cases[c][0], cases[c][1], diff);
    }
    free(alt);
    free(y);
}

static void test_shape(const shape *s)
{
    static const uint32_t cases[][2] = {{0, 1}, {5, 3}, {120, 16}, {126, 3}, {255, 2}, {290, 10}, {300, 1}};
    cl_backend simd1, simd3, port;
    uint32_t c, b;
    int simd;
    size_t per = (size_t)s->n_head * s->hd;
    fill(s);
    CHECK(cl_backend_cpu_new(1, 1, &simd1) == CL_OK);
    CHECK(cl_backend_cpu_new(3, 1, &simd3) == CL_OK);
    CHECK(cl_backend_cpu_new(2, 0, &port) == CL_OK);
    for (simd = 0; simd < 2; simd++) {
        double worst = 0;
        for (c = 0; c < sizeof cases / sizeof *cases; c++) {
            cl_attn_args a = args(s, cases[c][0], cases[c][1], o1);
            double e;
            CHECK(cl_be_attention(simd ? &simd3 : &port, &a) == CL_OK);
            e = worst_error(s, &a);
            if (e > worst) worst = e;
        }
        /* values are in [-1, 1]: float rounding of sums over <= 300 terms */
        CHECK_MSG(worst < 2e-6, "heads %u/%u, head_dim %u, %s path: max error %.3g", s->n_head, s->n_kv, s->hd,
                  simd ? "SIMD" : "portable", worst);
        printf("heads %u/%u head_dim %u %-8s max |out - exact| = %.2g\n", s->n_head, s->n_kv, s->hd,
               simd ? "SIMD" : "portable", worst);
    }
    for (c = 0; c < sizeof cases / sizeof *cases; c++) { /* thread count and batching do not change a bit */
        cl_attn_args a = args(s, cases[c][0], cases[c][1], o1), a3 = args(s, cases[c][0], cases[c][1], o2);
        int diff = 0;
        CHECK(cl_be_attention(&simd1, &a) == CL_OK);
        CHECK(cl_be_attention(&simd3, &a3) == CL_OK);
        CHECK_MSG(memcmp(o1, o2, cases[c][1] * per * sizeof(float)) == 0, "pos0 %u nb %u: 1 and 3 threads differ",
                  cases[c][0], cases[c][1]);
        for (b = 0; b < cases[c][1]; b++) {
            cl_attn_args one = args(s, cases[c][0] + b, 1, o2);
            CHECK(cl_be_attention(&simd3, &one) == CL_OK);
            diff += memcmp(o2, o1 + b * per, per * sizeof(float)) != 0;
        }
        CHECK_MSG(diff == 0, "pos0 %u nb %u: %d queries differ between batch and one at a time", cases[c][0],
                  cases[c][1], diff);
    }
    /* the F16 cache: kc/vc become their halves' values, exactly what the kernels read */
    for (c = 0; c < LMAX * s->n_kv * s->hd; c++) {
        kh[c] = cl_f32_to_fp16(kc[c]);
        vh[c] = cl_f32_to_fp16(vc[c]);
        kc[c] = cl_fp16_to_f32(kh[c]);
        vc[c] = cl_fp16_to_f32(vh[c]);
    }
    {
        uint16_t st[40];
        float src[40];
        cl_kv_store_f16_fn fast = cl_kv_store_f16_select(1);
        for (c = 0; c < 40; c++) src[c] = kc[c] * 1.0009765625f + (c == 39 ? 1e-6f : 0.0f); /* between halves */
        fast(st, src, 40);
        for (c = 0; c < 40; c++) CHECK_MSG(st[c] == cl_f32_to_fp16(src[c]), "half store %u differs", c);
    }
    for (simd = 0; simd < 2; simd++) {
        double worst = 0;
        for (c = 0; c < sizeof cases / sizeof *cases; c++) {
            cl_attn_args a = args(s, cases[c][0], cases[c][1], o1);
            double e;
            a.kcache = kh, a.vcache = vh, a.kv_f16 = 1;
            CHECK(cl_be_attention(simd ? &simd3 : &port, &a) == CL_OK);
            e = worst_error(s, &a);
            if (e > worst) worst = e;
        }
        CHECK_MSG(worst < 2e-6, "F16 cache, heads %u/%u, head_dim %u, %s path: max error %.3g", s->n_head, s->n_kv,
                  s->hd, simd ? "SIMD" : "portable", worst);
        printf("heads %u/%u head_dim %u %-8s F16 cache: max |out - exact| = %.2g\n", s->n_head, s->n_kv, s->hd,
               simd ? "SIMD" : "portable", worst);
    }
    for (c = 0; c < sizeof cases / sizeof *cases; c++) {
        cl_attn_args a = args(s, cases[c][0], cases[c][1], o1), a3 = args(s, cases[c][0], cases[c][1], o2);
        a.kcache = a3.kcache = kh, a.vcache = a3.vcache = vh, a.kv_f16 = a3.kv_f16 = 1;
        CHECK(cl_be_attention(&simd1, &a) == CL_OK);
        CHECK(cl_be_attention(&simd3, &a3) == CL_OK);
        CHECK_MSG(memcmp(o1, o2, cases[c][1] * per * sizeof(float)) == 0,
                  "F16 cache, pos0 %u nb %u: 1 and 3 threads differ", cases[c][0], cases[c][1]);
    }
    { /* the AVX-512 kernel's records against the AVX2 kernel's, bit for bit, on windows of 1 to 40 rows
         (where the processor has AVX-512; elsewhere both are AVX2) */
        cl_attn_part_h_fn k512 = cl_attn_part_h_select(CL_SIMD_BEST), k256 = cl_attn_part_h_select(CL_SIMD_AVX2);
        uint32_t grp = s->n_head / s->n_kv, kv, t, w, bad = 0, n = 0;
        size_t ld = (size_t)s->n_kv * s->hd, rec = (size_t)grp * (s->hd + 2);
        float *sc = malloc((size_t)grp * 40 * sizeof *sc), *pa = malloc(rec * sizeof *pa), *pb = malloc(rec * sizeof *pb);
        CHECK(sc && pa && pb);
        for (kv = 0; sc && pa && pb && kv < s->n_kv; kv++)
            for (w = 1; w <= 40; w++)
                for (t = 0; t + w <= LMAX; t += 7) {
                    const float *q = qs + (size_t)kv * grp * s->hd;
                    k512(q, grp, s->hd, kh + t * ld + kv * s->hd, vh + t * ld + kv * s->hd, ld, w, 0.125f, sc, pa);
                    k256(q, grp, s->hd, kh + t * ld + kv * s->hd, vh + t * ld + kv * s->hd, ld, w, 0.125f, sc, pb);
                    bad += memcmp(pa, pb, rec * sizeof *pa) != 0, n++;
                }
        CHECK_MSG(bad == 0, "F16 records, heads %u/%u head_dim %u: %u of %u AVX-512 records differ from the AVX2 ones",
                  s->n_head, s->n_kv, s->hd, bad, n);
        free(sc), free(pa), free(pb);
    }
    test_q8(s, &simd1, &simd3, &port);
    cl_backend_free(&simd1);
    cl_backend_free(&simd3);
    cl_backend_free(&port);
}

/* The chunk merge: the AVX2 version gives the portable one's bits (records
 * with scores far apart, so that some chunks' weights underflow). */
static void test_merge(void)
{
    enum { NP = 37, HD = 96 };
    static float parts[NP * (HD + 2)], a[HD], b[HD];
    cl_attn_merge_fn fast = cl_attn_merge_select(1);
    uint32_t n, i;
    for (i = 0; i < NP * (HD + 2); i++) parts[i] = uni();
    for (n = 0; n < NP; n++) {
        parts[n * (HD + 2)] = 40.0f * uni(); /* the chunk's max score */
        parts[n * (HD + 2) + 1] = 1.0f + 60.0f * (uni() + 1.0f); /* its sum of exp */
    }
    for (n = 1; n <= NP; n++) {
        cl_attn_merge(parts, n, HD + 2, HD, a);
        fast(parts, n, HD + 2, HD, b);
        CHECK_MSG(memcmp(a, b, sizeof a) == 0, "merge of %u chunks: the SIMD and portable results differ", n);
    }
}

int main(void)
{
    /* head_dim 64 and 128 take the SIMD kernel's constant-offset versions, 32 and 96 its general one

     * (and 20 heads of 256 in one group: the Q8_0 kernels quantise such a group's query in two parts) */
    static const shape shapes[] = {{14, 2, 64}, {4, 4, 20}, {8, 1, 128}, {6, 2, 32}, {6, 2, 96}, {20, 1, 256}};
    size_t i;
    kc = malloc((size_t)LMAX * 8 * 128 * sizeof(float) * 2);
    vc = kc + (size_t)LMAX * 8 * 128;
    kh = malloc((size_t)LMAX * 8 * 128 * sizeof(uint16_t) * 2);
    vh = kh ? kh + (size_t)LMAX * 8 * 128 : NULL;
    k8 = malloc((size_t)LMAX * 8 * 128 / 32 * CL_KV_Q8_BLOCK * 2);
    v8 = k8 ? k8 + (size_t)LMAX * 8 * 128 / 32 * CL_KV_Q8_BLOCK : NULL;
    qs = malloc((size_t)LMAX * 20 * 256 * sizeof(float));
    qbuf = malloc((size_t)LMAX * 20 * 256 * sizeof(float));
    o1 = malloc((size_t)LMAX * 20 * 256 * sizeof(float));
    o2 = malloc((size_t)LMAX * 20 * 256 * sizeof(float));
    if (!kc || !kh || !k8 || !qs || !qbuf || !o1 || !o2) return 1;
    if (!cl_simd_avx2()) printf("note: no AVX2 here (or CAIRN_LLM_SIMD=0): the SIMD path is the portable one\n");
    for (i = 0; i < sizeof shapes / sizeof *shapes; i++) test_shape(&shapes[i]);
    test_merge();
    free(kc);
    free(kh);
    free(k8);
    free(qs);
    free(qbuf);
    free(o1);
    free(o2);
    return check_done("llm_attn");
}
