/* test_llm_pool.c — the CPU backend's thread pool: every op it shares out
 * (matmul with one and several input rows, matmul_n, ffn_up, swiglu,
 * attention over F32, F16 and Q8_0 caches, decode at a long context and a
 * batch) gives the same bits with 2, 3 and 4 threads as with one, on sizes
 * that do not divide evenly among the threads or into chunks, run many
 * times in a row (late workers joining a later job, chunks taken in any
 * order), with the workers spinning between jobs and with them sleeping at
 * once (CAIRN_POOL_SPIN=0: every job wakes them, and the caller often
 * finishes a job before they arrive). */
#include "backend.h"
#include "check.h"
#define LLM_RAND_SEED 4242
#include "llm_rand.h"

#include <stdlib.h>

enum { K = 256, NB = 3, REPS = 12, NH = 14, NKV = 2, HD = 64, LCTX = 4100 };

typedef struct mat {
    cl_tensor t;
    uint8_t *w;
} mat;

static mat make(int type, uint64_t k, uint64_t r)
{
    mat m;
    size_t rb = cl_type_block_bytes(type) * (k / (uint64_t)cl_type_block_size(type));
    uint64_t i;
    cl_tensor t = {"w", type, 2, {k, r, 1, 1}, k * r, 0, rb * r, NULL};
    m.w = malloc(rb * r);
    for (i = 0; i < r; i++) random_row(type, m.w + i * rb, (int)k);
    t.data = m.w;
    m.t = t;
    return m;
}

/* Runs op `which` on backend b, writing its outputs to out (zeroed first). */
static float X[NB * K], bias[1000];

static size_t run_mm(cl_backend *b, const mat *m, uint32_t nb, float *out)
{
    size_t n = (size_t)nb * m->t.ne[1];
    memset(out, 0, n * sizeof *out);
    cl_be_matmul(b, &m->t, bias, X, nb, out);
    return n;
}

static size_t run_mm_n(cl_backend *b, const mat *m3, uint32_t nb, float *out)
{
    const cl_tensor *W[3] = {&m3[0].t, &m3[1].t, &m3[2].t};
    const float *bs[3] = {bias, NULL, bias};
    float *Y[3];
    size_t n = 0;
    int i;
    for (i = 0; i < 3; i++) {
        Y[i] = out + n;
        n += (size_t)nb * m3[i].t.ne[1];
    }
    memset(out, 0, n * sizeof *out);
    cl_be_matmul_n(b, 3, W, bs, X, nb, Y);
    return n;
}

static size_t run_ffn(cl_backend *b, const mat *gu, uint32_t nb, float *out)
{
    size_t n = (size_t)nb * gu[0].t.ne[1];
    memset(out, 0, 2 * n * sizeof *out);
    cl_be_ffn_up(b, &gu[0].t, &gu[1].t, X, nb, out, out + n);
    return n; /* G only: U is scratch */
}

static void check_mats(cl_backend *one, cl_backend *many, int nt, const char *spin)
{
    static const int types[] = {CL_TYPE_F32, CL_TYPE_Q8_0, CL_TYPE_Q4_K, CL_TYPE_Q6_K};
    static const uint64_t rows[] = {1, 37, 161, 997};
    static float ref[2 * NB * 2000], got[2 * NB * 2000];
    size_t t, r, rep;
    uint32_t nb;
    for (t = 0; t < sizeof types / sizeof *types; t++)
        for (nb = 1; nb <= NB; nb += NB - 1) {
            for (r = 0; r < sizeof rows / sizeof *rows; r++) {
                mat m = make(types[t], K, rows[r]);
                size_t n = run_mm(one, &m, nb, ref);
                int diff = 0;
                for (rep = 0; rep < REPS; rep++) {
                    run_mm(many, &m, nb, got);
                    diff += memcmp(ref, got, n * sizeof *ref) != 0;
                }
                CHECK_MSG(diff == 0, "matmul %s %llu rows, %u inputs, %d threads (spin %s): %d of %d runs differ",
                          cl_type_name(types[t]), (unsigned long long)rows[r], nb, nt, spin, diff, REPS);
                free(m.w);
            }
            { /* q, k and v of unequal heights in one job */
                mat m3[3] = {make(types[t], K, 161), make(types[t], K, 37), make(types[t], K, 37)};
                size_t n = run_mm_n(one, m3, nb, ref);
                int diff = 0, i;
                for (rep = 0; rep < REPS; rep++) {
                    run_mm_n(many, m3, nb, got);
                    diff += memcmp(ref, got, n * sizeof *ref) != 0;
                }
                CHECK_MSG(diff == 0, "matmul_n %s, %u inputs, %d threads (spin %s): %d of %d runs differ",
                          cl_type_name(types[t]), nb, nt, spin, diff, REPS);
                for (i = 0; i < 3; i++) free(m3[i].w);
            }
            { /* gate and up with swiglu in one job */
                mat gu[2] = {make(types[t], K, 997), make(types[t], K, 997)};
                size_t n = run_ffn(one, gu, nb, ref);
                int diff = 0;
                for (rep = 0; rep < REPS; rep++) {
                    run_ffn(many, gu, nb, got);
                    diff += memcmp(ref, got, n * sizeof *ref) != 0;
                }
                CHECK_MSG(diff == 0, "ffn_up %s, %u inputs, %d threads (spin %s): %d of %d runs differ",
                          cl_type_name(types[t]), nb, nt, spin, diff, REPS);
                free(gu[0].w);
                free(gu[1].w);
            }
        }
}

static void check_swiglu(cl_backend *one, cl_backend *many, int nt, const char *spin)
{
    enum { N = 5003 };
    static float g0[N], u[N], g1[N], g2[N];
    int i, rep, diff = 0;
    for (i = 0; i < N; i++) g0[i] = 4 * uni(), u[i] = uni();
    memcpy(g1, g0, sizeof g0);
    cl_be_swiglu(one, g1, u, N);
    for (rep = 0; rep < REPS; rep++) {
        memcpy(g2, g0, sizeof g0);
        cl_be_swiglu(many, g2, u, N);
        diff += memcmp(g1, g2, sizeof g1) != 0;
    }
    CHECK_MSG(diff == 0, "swiglu, %d threads (spin %s): %d of %d runs differ", nt, spin, diff, REPS);
}

static float *kc, *vc, *q, *o1, *o2;
static uint16_t *kh, *vh;
static uint8_t *k8, *v8;

static void fill_caches(void)
{
    size_t kvd = (size_t)NKV * HD, i, rb = kvd / 32 * CL_KV_Q8_BLOCK;
    kc = malloc((size_t)LCTX * kvd * sizeof *kc);
    vc = malloc((size_t)LCTX * kvd * sizeof *vc);
    kh = malloc((size_t)LCTX * kvd * sizeof *kh);
    vh = malloc((size_t)LCTX * kvd * sizeof *vh);
    k8 = malloc((size_t)LCTX * rb);
    v8 = malloc((size_t)LCTX * rb);
    q = malloc((size_t)LCTX * NH * HD * sizeof *q);
    o1 = malloc((size_t)16 * NH * HD * sizeof *o1);
    o2 = malloc((size_t)16 * NH * HD * sizeof *o2);
    for (i = 0; i < (size_t)LCTX * kvd; i++) {
        kc[i] = uni(), vc[i] = uni();
        kh[i] = cl_f32_to_fp16(kc[i]), vh[i] = cl_f32_to_fp16(vc[i]);
    }
    for (i = 0; i < LCTX; i++) {
        random_row(CL_TYPE_Q8_0, k8 + i * rb, (int)kvd);
        random_row(CL_TYPE_Q8_0, v8 + i * rb, (int)kvd);
    }
    for (i = 0; i < (size_t)LCTX * NH * HD; i++) q[i] = uni();
}

static void check_attention(cl_backend *one, cl_backend *many, int nt, const char *spin)
{
    static const uint32_t cases[][2] = {{0, 1}, {127, 1}, {300, 5}, {1000, 16}, {4095, 1}};
    static const char *const kinds[] = {"F32", "F16", "Q8_0"};
    int kind, rep;
    size_t c;
    for (kind = 0; kind < 3; kind++)
        for (c = 0; c < sizeof cases / sizeof *cases; c++) {
            uint32_t pos0 = cases[c][0], nb = cases[c][1];
            size_t n = (size_t)nb * NH * HD;
            const void *k = kind == 0 ? (const void *)kc : kind == 1 ? (const void *)kh : (const void *)k8;
            const void *v = kind == 0 ? (const void *)vc : kind == 1 ? (const void *)vh : (const void *)v8;
            cl_attn_args a = {q + (size_t)pos0 * NH * HD, k, v, o1, nb, pos0, NH, NKV, HD, 0.125f, kind == 1, kind == 2};
            int diff = 0;
            memset(o1, 0, n * sizeof *o1);
            CHECK(cl_be_attention(one, &a) == CL_OK);
            a.out = o2;
            for (rep = 0; rep < REPS; rep++) {
                memset(o2, 0, n * sizeof *o2);
                CHECK(cl_be_attention(many, &a) == CL_OK);
                diff += memcmp(o1, o2, n * sizeof *o1) != 0;
            }
            CHECK_MSG(diff == 0, "attention, %s cache, pos0 %u, %u queries, %d threads (spin %s): %d of %d runs differ",
                      kinds[kind], pos0, nb, nt, spin, diff, REPS);
        }
}

int main(void)
{
    static const char *const spins[] = {"1000", "0"};
    cl_backend one;
    int s, nt, i;
    for (i = 0; i < NB * K; i++) X[i] = uni();
    for (i = 0; i < 1000; i++) bias[i] = uni();
    fill_caches();
    CHECK(cl_backend_cpu_new(1, 1, &one) == CL_OK);
    for (s = 0; s < 2; s++) {
        setenv("CAIRN_POOL_SPIN", spins[s], 1);
        for (nt = 2; nt <= 4; nt++) {
            cl_backend many;
            CHECK(cl_backend_cpu_new(nt, 1, &many) == CL_OK);
            CHECK(cl_be_threads(&many) == nt);
            check_mats(&one, &many, nt, spins[s]);
            check_swiglu(&one, &many, nt, spins[s]);
            check_attention(&one, &many, nt, spins[s]);
            cl_backend_free(&many);
        }
    }
    unsetenv("CAIRN_POOL_SPIN");
    cl_backend_free(&one);
    free(kc), free(vc), free(kh), free(vh), free(k8), free(v8), free(q), free(o1), free(o2);
    return check_done("llm_pool");
}
