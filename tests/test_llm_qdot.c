/* test_llm_qdot.c — the integer dot-product path (llm/qdot.c, simd.c) for
 * Q8_0, Q4_0, Q4_K and Q6_K weights on awkward sizes (one block, tails of
 * 1..3 blocks after the 4-block unroll, 19 super-blocks as in a 4864-wide
 * row): the activation quantiser's invariants, the AVX2 kernels equal to
 * the portable C path bit for bit, each result equal (to float rounding)
 * to the exact dot product of the dequantised weights with the dequantised
 * activations (so a wrong nibble, scale or min shows), and within the
 * activation quantisation bound of the float path: |int - float| <=
 * sum_i |w_i| * d(i) / 2, d(i) the scale of x_i's activation block. Then
 * the CPU backend's matrix product on the integer path: the same bits with
 * 1 and 3 threads, in a batch and one row at a time, and the row-range
 * kernel of decode equal to the per-row kernel over a sub-range. */
#include "backend.h"
#include "check.h"
#define LLM_RAND_SEED 777
#include "llm_rand.h"

#include <math.h>
#include <stdlib.h>


/* Inputs with varied block magnitudes, a zero block and an outlier. */
static void random_x(float *x, int n, int it)
{
    int i;
    for (i = 0; i < n; i++) x[i] = uni() * (float)(1 + (i / 32) % 5) * 0.5f;
    if (n >= 64 && it % 2) memset(x + 32, 0, 32 * sizeof *x);
    x[rnd() % (uint32_t)n] = 40.0f * (it % 3 ? 1.0f : -1.0f);
}

static void test_quantizer(void)
{
    static float x[4864];
    static uint8_t q[8192], q2[8192];
    int n = 4864, i, g, bad = 0;
    const cl_act_q8k *y = (const cl_act_q8k *)q;
    const cl_act_q8x4 *y8 = (const cl_act_q8x4 *)q;
    CHECK(cl_act_bytes(CL_TYPE_Q8_0, 4864) == 38 * sizeof(cl_act_q8x4));
    CHECK(cl_act_bytes(CL_TYPE_Q8_0, 96) == sizeof(cl_act_q8x4) && cl_act_bytes(CL_TYPE_Q8_0, 160) == 2 * sizeof(cl_act_q8x4));
    CHECK(cl_act_bytes(CL_TYPE_Q6_K, 4864) == 19 * sizeof(cl_act_q8k));
    CHECK(cl_act_bytes(CL_TYPE_Q4_K, 96) == 0 && cl_act_bytes(CL_TYPE_F32, 256) == 0 && cl_act_bytes(CL_TYPE_F16, 256) == 0);
    CHECK(cl_act_bytes(CL_TYPE_Q4_0, 100) == 0 && cl_act_bytes(CL_TYPE_Q4_0, 64) == sizeof(cl_act_q8x2) &&
          cl_act_bytes(CL_TYPE_Q4_0, 96) == 2 * sizeof(cl_act_q8x2));
    random_x(x, n, 1);
    cl_act_quantize_ref(CL_TYPE_Q6_K, x, (uint64_t)n, q);
    cl_act_quantize_select(1)(CL_TYPE_Q6_K, x, (uint64_t)n, q2);
    CHECK(memcmp(q, q2, cl_act_bytes(CL_TYPE_Q6_K, (uint64_t)n)) == 0);
    for (i = 0; i < n / 256; i++)
        for (g = 0; g < 16; g++) {
            int s = 0, j;
            for (j = 0; j < 16; j++) {
                int v = y[i].qs[16 * g + j];
                float xv = x[256 * i + 16 * g + j];
                s += v;
                bad += v < -127 || v > 127 || fabsf(y[i].d * (float)v - xv) > y[i].d * 0.5001f + 1e-7f;
            }
            bad += s != y[i].bsums[g];
        }
    CHECK_MSG(bad == 0, "%d Q8_K activation values or sums wrong", bad);
    cl_act_quantize_ref(CL_TYPE_Q8_0, x, (uint64_t)n, q);
    cl_act_quantize_select(1)(CL_TYPE_Q8_0, x, (uint64_t)n, q2);
    CHECK(memcmp(q, q2, cl_act_bytes(CL_TYPE_Q8_0, (uint64_t)n)) == 0);
    CHECK(y8[0].d[1] == 0.0f); /* the zero block */
    for (i = 0; i < n; i++) {
        int v = y8[i / 128].qs[i / 32 % 4][i % 32];
        float d = y8[i / 128].d[i / 32 % 4];
        bad += v < -127 || v > 127 || fabsf(d * (float)v - x[i]) > d * 0.5001f + 1e-7f;
    }
    CHECK_MSG(bad == 0, "%d Q8 activation values wrong", bad);
    { /* Q4_0's pair layout, with an odd block count (7 blocks = 4 pairs, the last block 1 all zero) */
        const cl_act_q8x2 *p = (const cl_act_q8x2 *)q;
        int nq = 224, h, k;
        CHECK(cl_act_bytes(CL_TYPE_Q4_0, (uint64_t)nq) == 4 * sizeof(cl_act_q8x2));
        memset(q, 0x55, sizeof q);
        memset(q2, 0xaa, sizeof q2);
        cl_act_quantize_ref(CL_TYPE_Q4_0, x, (uint64_t)nq, q);
        cl_act_quantize_select(1)(CL_TYPE_Q4_0, x, (uint64_t)nq, q2);
        CHECK(memcmp(q, q2, cl_act_bytes(CL_TYPE_Q4_0, (uint64_t)nq)) == 0);
        for (k = 0, bad = 0; k < 8; k++) {
            const cl_act_q8x2 *y2 = p + k / 2;
            h = k % 2;
            for (i = 0; i < 4; i++) bad += y2->d[4 * h + i] != y2->d[4 * h]; /* four copies */
            for (i = 0; i < 32; i++) {
                int v = i < 16 ? y2->lo[16 * h + i] : y2->hi[16 * h + i - 16];
                if (k == 7) bad += v != 0 || y2->d[4 * h] != 0.0f; /* the padding block */
                else bad += v < -127 || v > 127 || fabsf(y2->d[4 * h] * (float)v - x[32 * k + i]) > y2->d[4 * h] * 0.5001f + 1e-7f;
            }
            for (i = 0; i < 8; i++)
                bad += y2->s8[8 * h + i] != 8 * (y2->lo[16 * h + 2 * i] + y2->lo[16 * h + 2 * i + 1] +
                                                  y2->hi[16 * h + 2 * i] + y2->hi[16 * h + 2 * i + 1]);
        }
        CHECK_MSG(bad == 0, "%d Q4_0 pair-layout values, scales or sums wrong", bad);
    }
    for (g = 0, bad = 0; g < 300; g++) { /* the AVX2 quantiser gives the same bytes: random magnitudes, */
        int t = g % 3 == 0 ? CL_TYPE_Q4_K : g % 3 == 1 ? CL_TYPE_Q8_0 : CL_TYPE_Q4_0, m = g % 4 ? 512 : 256;
        float scale = ldexpf(1.0f, (int)(rnd() % 40) - 20);
        for (i = 0; i < m; i++) x[i] = uni() * scale;
        if (g % 5 == 0) /* ties: max 127 makes the scale 1, and k + 0.5 rounds to even */
            for (i = 0; i < m; i++) x[i] = i % 32 == 0 ? 127.0f : (float)(i % 50) - 24.5f;
        if (g % 7 == 0) x[rnd() % (uint32_t)m] = g % 2 ? INFINITY : NAN; /* and non-finite inputs */
        cl_act_quantize_ref(t, x, (uint64_t)m, q);
        cl_act_quantize_select(1)(t, x, (uint64_t)m, q2);
        bad += memcmp(q, q2, cl_act_bytes(t, (uint64_t)m)) != 0;
    }
    CHECK_MSG(bad == 0, "%d vectors quantised differently by the AVX2 and portable paths", bad);
    for (i = 0; i < 32; i++) x[i] = (float)(i % 50) - 24.5f;
    x[0] = 127.0f;
    cl_act_quantize_ref(CL_TYPE_Q8_0, x, 32, q);
    CHECK(y8[0].d[0] * 127.0f == 127.0f && y8[0].qs[0][1] == -24 && y8[0].qs[0][2] == -22 && y8[0].qs[0][3] == -22);
    { /* an infinite input: no undefined conversion, values stay in range */
        x[5] = INFINITY;
        cl_act_quantize_ref(CL_TYPE_Q8_0, x, 32, q);
        for (i = 0, bad = 0; i < 32; i++) bad += y8[0].qs[0][i] < -127;
        CHECK(bad == 0);
    }
}

/* Scale and quant of input i in a quantised vector for wtype. */
static void act_value(int wtype, const void *xq, int i, float *d, int *q)
{
    if (wtype == CL_TYPE_Q8_0) {
        const cl_act_q8x4 *y = (const cl_act_q8x4 *)xq + i / 128;
        *d = y->d[i / 32 % 4], *q = y->qs[i / 32 % 4][i % 32];
    } else if (wtype == CL_TYPE_Q4_0) {
        const cl_act_q8x2 *y = (const cl_act_q8x2 *)xq + i / 64;
        int h = i / 32 % 2, j = i % 32;
        *d = y->d[4 * h], *q = j < 16 ? y->lo[16 * h + j] : y->hi[16 * h + j - 16];
    } else {
        const cl_act_q8k *y = (const cl_act_q8k *)xq + i / 256;
        *d = y->d, *q = y->qs[i % 256];
    }
}

/* The kernels of a level: "AVX2" or "AVX-512" (CL_SIMD_BEST where the
 * processor has it; elsewhere the same kernels as AVX2 again). */
static const char *level_name(int lv)
{
    return lv == CL_SIMD_AVX2 ? "AVX2" : cl_simd_avx512() ? "AVX-512" : "best (AVX2)";
}

static void test_kernels(int lv)
{
    static const int types[] = {CL_TYPE_Q8_0, CL_TYPE_Q4_0, CL_TYPE_Q4_K, CL_TYPE_Q6_K};
    static const int sizes32[] = {32, 64, 96, 128, 160, 224, 896, 928, 4864};
    static const int sizesK[] = {256, 512, 768, 1024, 1280, 4864};
    static uint8_t row[4864 * 2], xq[16384];
    static float x[4864], w[4864], xd[4864];
    cl_qdot_fn simd = cl_qdot_select(lv);
    int t, it, i, k;
    if (!cl_simd_avx2()) printf("note: no AVX2 here (or CAIRN_LLM_SIMD=0): the SIMD path is the reference\n");
    if (lv == CL_SIMD_BEST && !cl_simd_avx512())
        printf("note: no AVX-512 VNNI/VBMI here (or CAIRN_LLM_SIMD=avx2): its kernels are not tested\n");
    for (t = 0; t < 4; t++) {
        int K = types[t] == CL_TYPE_Q4_K || types[t] == CL_TYPE_Q6_K, ns = K ? 6 : 9;
        int differ = 0, off_exact = 0, off_bound = 0;
        double worst = 0, worst_bound = 0;
        for (k = 0; k < ns; k++)
            for (it = 0; it < 40; it++) {
                int n = K ? sizesK[k] : sizes32[k];
                double exact = 0, mass = 0, fl = 0, bound = 0;
                float a, b;
                random_row(types[t], row, n);
                random_x(x, n, it);
                if (cl_act_bytes(types[t], (uint64_t)n) > sizeof xq) {
                    CHECK(!"xq holds the quantised input");
                    return;
                }
                cl_act_quantize_ref(types[t], x, (uint64_t)n, xq);
                cl_dequantize_row(types[t], row, w, (uint64_t)n);
                for (i = 0; i < n; i++) {
                    float d;
                    int q;
                    act_value(types[t], xq, i, &d, &q);
                    xd[i] = d * (float)q;
                    exact += (double)w[i] * xd[i];
                    mass += fabs((double)w[i] * xd[i]);
                    fl += (double)w[i] * x[i];
                    bound += fabs((double)w[i]) * d * 0.5;
                }
                a = simd(types[t], row, xq, (uint64_t)n);
                b = cl_qdot_ref(types[t], row, xq, (uint64_t)n);
                differ += memcmp(&a, &b, sizeof a) != 0;
                /* float rounding of the per-block products and sums: far below a wrong quant */
                if (fabs(b - exact) > 1e-5 * mass + 1e-6) {
                    if (off_exact++ < 3)
                        fprintf(stderr, "%s n=%d: int path %.9g, exact %.9g (mass %g)\n", cl_type_name(types[t]), n, b,
                                exact, mass);
                }
                if (fabs(b - fl) > bound * 1.0001 + 1e-5 * mass + 1e-6) off_bound++;
                if (mass > 0 && fabs(b - exact) / mass > worst) worst = fabs(b - exact) / mass;
                if (bound > 0 && fabs(b - fl) / bound > worst_bound) worst_bound = fabs(b - fl) / bound;
            }
        CHECK_MSG(differ == 0, "%s: %d %s results differ from the portable path", cl_type_name(types[t]), differ,
                  level_name(lv));
        CHECK_MSG(off_exact == 0, "%s: %d results off the exact integer product", cl_type_name(types[t]), off_exact);
        CHECK_MSG(off_bound == 0, "%s: %d results outside the quantisation bound of the float path",
                  cl_type_name(types[t]), off_bound);
        printf("%-5s %s int path: max |int - exact| / mass = %.2g, max |int - float| / bound = %.2f\n",
               cl_type_name(types[t]), level_name(lv), worst, worst_bound);
    }
}

/* Q4_K scale/min decoding (the AVX2 kernel unpacks all eight of each in
 * 32-bit words, qdot.c one at a time): packed bytes all ones, all zeros,
 * single bits and random, with activations at +-127 (the largest input
 * sums the min correction sees) and random; AVX2 == C bit for bit, and the
 * C path equal to the exact product of the dequantised values. */
static void test_q4k_scales(int lv)
{
    enum { NSB = 3, N = 256 * NSB };
    static uint8_t row[144 * NSB];
    static cl_act_q8k y[NSB];
    static float w[N];
    cl_qdot_fn simd = cl_qdot_select(lv);
    int it, i, k, differ = 0, off = 0;
    for (it = 0; it < 400; it++) {
        double exact = 0, mass = 0;
        float a, b;
        random_row(CL_TYPE_Q4_K, row, N);
        for (k = 0; k < NSB; k++) {
            uint8_t *sc = row + 144 * k + 4;
            for (i = 0; i < 12; i++)
                sc[i] = it % 5 == 0 ? 0xff : it % 5 == 1 ? 0 : it % 5 == 2 ? (uint8_t)(1u << ((it / 5 + i) % 8))
                                                                            : (uint8_t)rnd();
            y[k].d = 0.01f * (float)(k + 1);
            for (i = 0; i < 256; i++)
                y[k].qs[i] = (int8_t)(it % 3 == 0 ? 127 : it % 3 == 1 ? (i % 2 ? -127 : 127) * (i < 128 ? 1 : -1)
                                                                       : (int)(rnd() % 255) - 127);
            cl_act_bsums(&y[k]);
        }
        cl_dequantize_row(CL_TYPE_Q4_K, row, w, N);
        for (i = 0; i < N; i++) {
            double xd = (double)y[i / 256].d * y[i / 256].qs[i % 256];
            exact += (double)w[i] * xd;
            mass += fabs((double)w[i] * xd);
        }
        a = simd(CL_TYPE_Q4_K, row, y, N);
        b = cl_qdot_ref(CL_TYPE_Q4_K, row, y, N);
        differ += memcmp(&a, &b, sizeof a) != 0;
        off += fabs(b - exact) > 1e-5 * mass + 1e-6;
    }
    CHECK_MSG(differ == 0, "Q4_K scales: %d %s results differ from the portable path", differ, level_name(lv));
    CHECK_MSG(off == 0, "Q4_K scales: %d results off the exact product", off);
}

static void test_backend(int type)
{
    enum { K = 768, R = 37, NB = 6 };
    static uint8_t w[R * K * 2], xq[4096];
    static float X[NB * K], Y1[NB * R], Y3[NB * R], Yr[R], bias[R];
    size_t rb = 0;
    cl_tensor W = {"w", type, 2, {K, R, 1, 1}, (uint64_t)K * R, 0, 0, w};
    cl_backend b1, b3;
    int i, b, diff = 0;
    CHECK(cl_type_row_bytes(type, K, &rb) == CL_OK);
    W.n_bytes = rb * R;
    for (i = 0; i < R; i++) {
        random_row(type, w + (size_t)i * rb, K);
        bias[i] = uni();
    }
    for (i = 0; i < NB * K; i++) X[i] = uni();
    CHECK(cl_backend_cpu_new(1, 1, &b1) == CL_OK);
    CHECK(cl_backend_cpu_new(3, 1, &b3) == CL_OK);
    cl_be_matmul(&b1, &W, bias, X, NB, Y1);
    cl_be_matmul(&b3, &W, bias, X, NB, Y3);
    CHECK(memcmp(Y1, Y3, sizeof Y1) == 0);
    for (b = 0; b < NB; b++) {
        cl_be_matmul(&b3, &W, bias, X + b * K, 1, Yr);
        diff += memcmp(Yr, Y1 + b * R, sizeof Yr) != 0;
    }
    CHECK_MSG(diff == 0, "%s: %d batch rows differ from one-at-a-time", cl_type_name(type), diff);
    for (b = 0; b < NB; b++) { /* against the portable integer path, exactly */
        cl_act_quantize_ref(type, X + b * K, K, xq);
        for (i = 0; i < R; i++) {
            float want = cl_qdot_ref(type, w + (size_t)i * rb, xq, K) + bias[i];
            diff += memcmp(&want, &Y1[b * R + i], sizeof want) != 0;
        }
    }
    CHECK_MSG(diff == 0, "%s: %d products differ from the portable integer path", cl_type_name(type), diff);
    { /* the row-range kernel (decode) against the per-row one, on a sub-range, with and without bias */
        float Ya[R], Yb[R];
        cl_act_quantize_ref(type, X, K, xq);
        for (b = 0; b < 4; b++) { /* without and with bias, AVX2 and the best level */
            cl_qdot_rows_fn rows = cl_qdot_rows_select(b < 2 ? CL_SIMD_AVX2 : CL_SIMD_BEST);
            cl_qdot_fn one = cl_qdot_select(b < 2 ? CL_SIMD_AVX2 : CL_SIMD_BEST);
            memset(Ya, 0, sizeof Ya), memset(Yb, 0, sizeof Yb);
            rows(type, w, rb, xq, K, b % 2 ? bias : NULL, Ya, 3, R - 2);
            cl_qdot_rows_ref(type, w, rb, xq, K, b % 2 ? bias : NULL, Yb, 3, R - 2);
            diff += memcmp(Ya, Yb, sizeof Ya) != 0;
            for (i = 0; i < R; i++) {
                float want = i < 3 || i >= R - 2 ? 0.0f : one(type, w + (size_t)i * rb, xq, K) + (b % 2 ? bias[i] : 0.0f);
                diff += memcmp(&want, &Ya[i], sizeof want) != 0;
            }
        }
        CHECK_MSG(diff == 0, "%s: %d row-range results differ from the per-row kernel", cl_type_name(type), diff);
    }
    cl_backend_free(&b1);
    cl_backend_free(&b3);
}

/* Decode's row-range kernel on rows of 32-value blocks whose count leaves
 * 0..3 blocks after the groups of four (the Q4_0 kernel relays its input
 * for whole groups and takes the rest as the per-row kernel does), on
 * K-quant rows of 1 to 96 super-blocks (Q4_K relays its input up to 80),
 * and on rows longer than the relaid input's room: the per-row kernel's
 * bits and the portable path's. */
static void test_rows_tails(void)
{
    static const int types[] = {CL_TYPE_Q4_0, CL_TYPE_Q8_0, CL_TYPE_Q4_K, CL_TYPE_Q6_K};
    static const int ks[] = {32, 64, 96, 128, 256, 512, 800, 864, 896, 928, 4864, 20480, 20512, 20736, 24576};
    enum { R = 5, KMAX = 24576 };
    static uint8_t w[R * KMAX * 2], xq[KMAX * 2];
    static float X[KMAX], Y[R];
    int t, k, i, lv, diff = 0, n = 0;
    for (i = 0; i < KMAX; i++) X[i] = uni();
    for (t = 0; t < (int)(sizeof types / sizeof *types); t++)
        for (k = 0; k < (int)(sizeof ks / sizeof *ks); k++) {
            size_t rb = 0;
            if ((types[t] == CL_TYPE_Q4_K || types[t] == CL_TYPE_Q6_K) && ks[k] % 256) continue; /* whole super-blocks */
            CHECK(cl_type_row_bytes(types[t], ks[k], &rb) == CL_OK);
            CHECK(cl_act_bytes(types[t], ks[k]) <= sizeof xq);
            for (i = 0; i < R; i++) random_row(types[t], w + (size_t)i * rb, ks[k]);
            cl_act_quantize_ref(types[t], X, ks[k], xq);
            for (lv = 0; lv < 2; lv++) {
                cl_qdot_rows_fn rows = cl_qdot_rows_select(lv ? CL_SIMD_BEST : CL_SIMD_AVX2);
                cl_qdot_fn one = cl_qdot_select(lv ? CL_SIMD_BEST : CL_SIMD_AVX2);
                rows(types[t], w, rb, xq, ks[k], NULL, Y, 0, R);
                for (i = 0; i < R; i++) {
                    float a = one(types[t], w + (size_t)i * rb, xq, ks[k]),
                          b = cl_qdot_ref(types[t], w + (size_t)i * rb, xq, ks[k]);
                    diff += memcmp(&a, &Y[i], sizeof a) != 0 || memcmp(&b, &Y[i], sizeof b) != 0, n++;
                }
            }
        }
    CHECK_MSG(diff == 0, "row-range kernel: %d of %d results differ from the per-row and portable ones", diff, n);
}

int main(void)
{
    test_quantizer();
    test_kernels(CL_SIMD_AVX2);
    test_kernels(CL_SIMD_BEST);
    test_q4k_scales(CL_SIMD_AVX2);
    test_q4k_scales(CL_SIMD_BEST);
    test_backend(CL_TYPE_Q8_0);
    test_backend(CL_TYPE_Q4_0);
    test_backend(CL_TYPE_Q4_K);
    test_backend(CL_TYPE_Q6_K);
    test_rows_tails();
    return check_done("llm_qdot");
}
