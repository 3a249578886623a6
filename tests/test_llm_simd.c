/* test_llm_simd.c — the AVX2/FMA dot products against the portable
 * reference on random blocks of every type they handle (F32, F16, Q8_0,
 * Q4_0, Q4_K, Q6_K), and the CPU backend's matrix product: the same values
 * with 1 and 3 threads and in a batch as one row at a time.
 * Tolerance: |simd - ref| <= 1e-5 * sum_i |w_i * x_i| + 1e-6 (both sum the
 * same float products in another order; the bound is well above float
 * rounding for rows of <= 1024 values and far below any real error such as
 * a wrong nibble or scale, which moves the sum by ~1/n of that mass). */
#include "backend.h"
#include "check.h"
#define LLM_RAND_SEED 12345
#include "llm_rand.h"

#include <math.h>


static void test_kernels(void)
{
    static const int types[] = {CL_TYPE_F32, CL_TYPE_F16, CL_TYPE_Q8_0, CL_TYPE_Q4_0, CL_TYPE_Q4_K, CL_TYPE_Q6_K};
    static uint8_t row[1024 * 4];
    static float x[1024], deq[1024];
    cl_dot_fn simd = cl_dot_select(1), ref = cl_dot_select(0);
    int t, it, i;
    CHECK(ref == cl_dot_ref);
    if (!cl_simd_avx2()) printf("note: no AVX2/FMA/F16C here (or CAIRN_LLM_SIMD=0): SIMD path = reference\n");
    for (t = 0; t < (int)(sizeof types / sizeof *types); t++) {
        int bad = 0;
        double worst = 0;
        for (it = 0; it < 200; it++) {
            int n = (it % 4 + 1) * 256; /* 256..1024, a multiple of every block size */
            double mass = 0, exact = 0;
            float a, b;
            random_row(types[t], row, n);
            for (i = 0; i < n; i++) x[i] = uni();
            cl_dequantize_row(types[t], row, deq, (uint64_t)n);
            for (i = 0; i < n; i++) {
                mass += fabs((double)deq[i] * x[i]);
                exact += (double)deq[i] * x[i];
            }
            a = simd(types[t], row, x, (uint64_t)n);
            b = ref(types[t], row, x, (uint64_t)n);
            if (fabs((double)a - b) > 1e-5 * mass + 1e-6 || fabs((double)b - exact) > 1e-5 * mass + 1e-6) {
                if (bad++ < 3)
                    fprintf(stderr, "%s n=%d: simd %.9g ref %.9g exact %.9g (mass %g)\n", cl_type_name(types[t]), n, a,
                            b, exact, mass);
            }
            if (mass > 0 && fabs((double)a - b) / mass > worst) worst = fabs((double)a - b) / mass;
        }
        CHECK_MSG(bad == 0, "%s: %d of 200 rows outside the tolerance", cl_type_name(types[t]), bad);
        { /* the four-row kernels equal four one-row calls bit for bit */
            static float x4[4 * 1024];
            float o4[4], o1[4];
            int r, same = 1;
            random_row(types[t], row, 1024);
            for (i = 0; i < 4 * 1024; i++) x4[i] = uni();
            for (it = 0; it < 2; it++) {
                cl_dot4_select(it)(types[t], row, x4, 1024, 1024, o4);
                for (r = 0; r < 4; r++) o1[r] = cl_dot_select(it)(types[t], row, x4 + r * 1024, 1024);
                same &= !memcmp(o4, o1, sizeof o4);
            }
            CHECK_MSG(same, "%s: dot4 differs from four dots", cl_type_name(types[t]));
        }
        printf("%-5s max |simd-ref| / sum|w*x| = %.2g\n", cl_type_name(types[t]), worst);
    }
}

static void test_backend(void)
{
    enum { K = 512, R = 37, NB = 5 };
    static uint8_t w[R * K / 32 * 34];
    static float X[NB * K], Y1[NB * R], Y3[NB * R], Yr[R], bias[R];
    cl_tensor W = {"w", CL_TYPE_Q8_0, 2, {K, R, 1, 1}, (uint64_t)K * R, 0, sizeof w, w};
    cl_backend b1, b3;
    int i, b, diff = 0;
    for (i = 0; i < R; i++) {
        random_row(CL_TYPE_Q8_0, w + (size_t)i * (K / 32 * 34), K);
        bias[i] = uni();
    }
    for (i = 0; i < NB * K; i++) X[i] = uni();
    CHECK(cl_backend_cpu_new(1, 1, &b1) == CL_OK);
    CHECK(cl_backend_cpu_new(3, 1, &b3) == CL_OK);
    CHECK(cl_be_threads(&b1) == 1 && cl_be_threads(&b3) == 3);
    cl_be_matmul(&b1, &W, bias, X, NB, Y1);
    cl_be_matmul(&b3, &W, bias, X, NB, Y3);
    CHECK(memcmp(Y1, Y3, sizeof Y1) == 0);
    for (b = 0; b < NB; b++) {
        cl_be_matmul(&b3, &W, bias, X + b * K, 1, Yr);
        diff += memcmp(Yr, Y1 + b * R, sizeof Yr) != 0;
    }
    CHECK_MSG(diff == 0, "%d batch rows differ from one-at-a-time", diff);
    /* resize the pool and run again */
    CHECK(cl_be_set_threads(&b3, 2) == CL_OK && cl_be_threads(&b3) == 2);
    cl_be_matmul(&b3, &W, bias, X, NB, Y3);
    CHECK(memcmp(Y1, Y3, sizeof Y1) == 0);
    for (i = 0; i < R; i++) { /* against the float reference dot: Q8_0 weights take the integer path, whose
                                 8-bit input quantisation moves each x by at most d/2 (tests/test_llm_qdot.c) */
        const uint8_t *wr = w + (size_t)i * (K / 32 * 34);
        double bound = 1e-3;
        int k;
        for (k = 0; k < K; k++) {
            float amax = 0.0f;
            int j;
            for (j = k / 32 * 32; j < k / 32 * 32 + 32; j++) amax = fmaxf(amax, fabsf(X[j]));
            bound += fabs(cl_fp16_to_f32(cl_ld16(wr + k / 32 * 34)) * (double)(int8_t)wr[k / 32 * 34 + 2 + k % 32]) *
                     amax / 127.0 * 0.5;
        }
        diff += fabs(Y1[i] - (cl_dot_ref(CL_TYPE_Q8_0, wr, X, K) + bias[i])) > bound;
    }
    CHECK(diff == 0);
    cl_backend_free(&b1);
    cl_backend_free(&b3);
}

int main(void)
{
    test_kernels();
    test_backend();
    return check_done("llm_simd");
}
