/* test_llm_cuda.c — GPU parity (ctest label gpu; "SKIP: no CUDA device"
 * and exit 77 without one): the CUDA backend against the CPU backend.
 *
 * 1. Every kernel on random inputs of awkward sizes (rows, values and
 *    batches that are not multiples of the warp, the 64x64 tile, the
 *    16-value step or the 256-position attention chunk): matrix products of
 *    all seven weight types (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K) through
 *    both the matrix-vector (<= 8 tokens) and the tiled (> 8) kernels, with
 *    and without bias; RMSNorm; RoPE in both pairings; SwiGLU; attention
 *    (one and several splits, grouped-query); argmax with ties.
 *    Tolerance for sums: |gpu - cpu| <= 1e-4 * sum_i |w_i x_i| + 1e-5 (the
 *    same float products summed in another order; a wrong nibble or scale
 *    moves a sum by ~1/n of that mass, far above the bound). Element-wise
 *    ops: 1e-5 * (|cpu| + 1) (expf may differ by an ulp or two, and the
 *    device contracts a*b - c into a fused multiply-add).
 * 2. Whole models: make-tiny llama, qwen2, qwen3 in F32, F16, Q8_0, Q4_0,
 *    Q4_K, Q6_K: all logits of a 45-token prefill (tiled path, several
 *    device batches not needed: 45 < 256), then 6 decode steps, then a
 *    KV-cache fill to 700 positions and 3 decode steps (three attention
 *    splits). Tolerance: max |gpu - cpu| <= 2e-3 * max(1, max |cpu|) (errors
 *    of 1e-6 per product grow through the layers; a wrong kernel gives O(1)).
 *    LLM_CUDA_QUICK=1 (for compute-sanitizer runs): one type per architecture.
 *    The CPU side runs with CAIRN_CPU_DOT=float (see main).
 * 3. Greedy generations of 24 tokens are identical, unless the CPU's own
 *    top two logits at the first difference are within that tolerance (a
 *    near-tie, reported, not failed). */
#include "backend.h"
#include "check.h"
#define LLM_RAND_SEED 4242
#include "llm_rand.h"
#include "cuda/gpu.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>


static cl_backend cpu, gpu;
static char path[512];

/* A random weight matrix of R rows of K values stored as type. */
static uint8_t *make_w(int type, uint32_t K, uint32_t R, cl_tensor *t, float **deq)
{
    size_t rb = 0, r, i;
    uint8_t *buf;
    float *row = malloc(K * sizeof *row);
    cl_type_row_bytes(type, K, &rb);
    buf = malloc(rb * R);
    *deq = malloc((size_t)K * R * sizeof **deq);
    for (r = 0; r < R; r++) {
        uint8_t *o = buf + r * rb;
        for (i = 0; i < K; i++) row[i] = 0.1f * uni();
        if (type == CL_TYPE_F32) memcpy(o, row, K * 4);
        else if (type == CL_TYPE_F16 || type == CL_TYPE_BF16)
            for (i = 0; i < K; i++) {
                uint16_t h = type == CL_TYPE_F16 ? cl_f32_to_fp16(row[i]) : cl_f32_to_bf16(row[i]);
                o[2 * i] = (uint8_t)h, o[2 * i + 1] = (uint8_t)(h >> 8);
            }
        else CHECK(cl_quantize_row(type, row, o, K) == CL_OK);
        cl_dequantize_row(type, o, *deq + r * K, K);
    }
    free(row);
    memset(t, 0, sizeof *t);
    t->name = "w";
    t->type = type;
    t->n_dims = 2;
    t->ne[0] = K, t->ne[1] = R, t->ne[2] = t->ne[3] = 1;
    t->n_elements = (uint64_t)K * R;
    t->n_bytes = rb * R;
    t->data = buf;
    return buf;
}

static void test_matmul(void)
{
    static const int types[] = {CL_TYPE_F32, CL_TYPE_F16, CL_TYPE_BF16, CL_TYPE_Q8_0,
                                CL_TYPE_Q4_0, CL_TYPE_Q4_K, CL_TYPE_Q6_K};
    static const uint32_t nbs[] = {1, 3, 8, 9, 70};
    size_t t, k;
    for (t = 0; t < sizeof types / sizeof *types; t++) {
        int ty = types[t], bs = cl_type_block_size(ty);
        uint32_t K = bs == 256 ? 768 : bs == 32 ? 224 : 100, R = ty == CL_TYPE_Q4_0 ? 131 : 37;
        for (k = 0; k < sizeof nbs / sizeof *nbs; k++) {
            uint32_t nb = nbs[k], b, r, i;
            cl_tensor W;
            float *deq, *X = malloc((size_t)nb * K * 4), *Yc = malloc((size_t)nb * R * 4),
                        *Yg = malloc((size_t)nb * R * 4), bias[131];
            uint8_t *buf = make_w(ty, K, R, &W, &deq);
            int bad = 0, use_bias = k % 2;
            for (i = 0; i < nb * K; i++) X[i] = uni();
            for (r = 0; r < R; r++) bias[r] = uni();
            cl_be_matmul(&cpu, &W, use_bias ? bias : NULL, X, nb, Yc);
            cl_be_matmul(&gpu, &W, use_bias ? bias : NULL, X, nb, Yg);
            for (b = 0; b < nb; b++)
                for (r = 0; r < R; r++) {
                    double mass = 0;
                    for (i = 0; i < K; i++) mass += fabs((double)deq[(size_t)r * K + i] * X[(size_t)b * K + i]);
                    if (!(fabs(Yc[b * R + r] - Yg[b * R + r]) <= 1e-4 * mass + 1e-5) && bad++ < 3)
                        fprintf(stderr, "matmul %s K=%u R=%u nb=%u [%u][%u]: cpu %g gpu %g\n", cl_type_name(ty), K, R,
                                nb, b, r, Yc[b * R + r], Yg[b * R + r]);
                }
            CHECK_MSG(!bad, "matmul %s nb=%u: %d values off", cl_type_name(ty), nb, bad);
            free(buf), free(deq), free(X), free(Yc), free(Yg);
        }
    }
}

/* |a - b| <= rel * (|a| + 1): relative for large values, absolute near zero
 * (x0*c - x1*s may cancel, and the device fuses it into an FMA) */
static int close_rel(float a, float b, float rel) { return fabsf(a - b) <= rel * (fabsf(a) + 1.0f); }

static void test_small_ops(void)
{
    uint32_t n = 1000, rows = 5, i, bad = 0;
    float *x = malloc(n * rows * 4), *w = malloc(n * 4), *a = malloc(n * rows * 4), *b = malloc(n * rows * 4);
    for (i = 0; i < n * rows; i++) x[i] = 3 * uni();
    for (i = 0; i < n; i++) w[i] = uni();
    cl_be_rmsnorm(&cpu, a, x, w, n, rows, 1e-6f);
    cl_be_rmsnorm(&gpu, b, x, w, n, rows, 1e-6f);
    for (i = 0; i < n * rows; i++) bad += !close_rel(a[i], b[i], 1e-5f);
    CHECK_MSG(!bad, "rmsnorm: %u values off", bad);
    { /* RoPE: 5 heads of 96, both pairings */
        uint32_t d = 96, h = 5;
        float cs[96];
        int neox;
        for (i = 0; i < d / 2; i++) {
            double th = 17.0 * pow(10000.0, -2.0 * i / d);
            cs[2 * i] = (float)cos(th), cs[2 * i + 1] = (float)sin(th);
        }
        for (neox = 0; neox < 2; neox++) {
            memcpy(a, x, d * h * 4);
            memcpy(b, x, d * h * 4);
            cl_be_rope(&cpu, a, h, d, cs, neox);
            cl_be_rope(&gpu, b, h, d, cs, neox);
            for (bad = 0, i = 0; i < d * h; i++) bad += !close_rel(a[i], b[i], 1e-5f);
            CHECK_MSG(!bad, "rope neox=%d: %u values off", neox, bad);
        }
    }
    { /* SwiGLU over an odd count */
        size_t m = 10007, j;
        float *g1 = malloc(m * 4), *g2 = malloc(m * 4), *u = malloc(m * 4);
        for (j = 0; j < m; j++) g1[j] = g2[j] = 6 * uni(), u[j] = uni();
        cl_be_swiglu(&cpu, g1, u, m);
        cl_be_swiglu(&gpu, g2, u, m);
        for (bad = 0, j = 0; j < m; j++) bad += !close_rel(g1[j], g2[j], 1e-5f);
        CHECK_MSG(!bad, "swiglu: %u values off", bad);
        free(g1), free(g2), free(u);
    }
    { /* argmax: a planted maximum, then a tie (the first wins) */
        uint32_t N = 151937, got = 0;
        float *v = malloc(N * 4);
        for (i = 0; i < N; i++) v[i] = uni();
        v[98765] = 2.0f;
        CHECK(cl_gpu_argmax(v, N, &got) == CL_OK && got == 98765);
        v[1234] = 2.0f;
        CHECK(cl_gpu_argmax(v, N, &got) == CL_OK && got == 1234);
        v[N - 1] = 3.0f;
        CHECK(cl_gpu_argmax(v, N, &got) == CL_OK && got == N - 1);
        CHECK(cl_gpu_argmax(v, 7, &got) == CL_OK && got < 7);
        free(v);
    }
    free(x), free(w), free(a), free(b);
}

static void test_attention(void)
{
    static const uint32_t cases[][5] = {/* nb, pos0, n_head, n_head_kv, head_dim */
                                        {1, 0, 6, 2, 80},  {3, 600, 6, 2, 80},  {1, 255, 4, 4, 64},
                                        {1, 256, 4, 1, 64}, {37, 5, 14, 2, 64}, {2, 1000, 8, 8, 128}};
    size_t c;
    for (c = 0; c < sizeof cases / sizeof *cases; c++) {
        uint32_t nb = cases[c][0], pos0 = cases[c][1], H = cases[c][2], KH = cases[c][3], hd = cases[c][4], i, bad = 0;
        size_t qn = (size_t)nb * H * hd, kvn = ((size_t)pos0 + nb) * KH * hd;
        float *q = malloc(qn * 4), *k = malloc(kvn * 4), *v = malloc(kvn * 4), *o1 = malloc(qn * 4),
              *o2 = malloc(qn * 4);
        cl_attn_args a = {0}; /* zero: no warm ranges, float caches */
        for (i = 0; i < qn; i++) q[i] = uni();
        for (i = 0; i < kvn; i++) k[i] = uni(), v[i] = uni();
        a.q = q, a.kcache = k, a.vcache = v, a.nb = nb, a.pos0 = pos0, a.n_head = H, a.n_head_kv = KH, a.head_dim = hd;
        a.scale = 1.0f / sqrtf((float)hd);
        a.kv_f16 = 0; /* float caches: the CUDA per-op attention takes F32 only */
        a.out = o1;
        CHECK(cl_be_attention(&cpu, &a) == CL_OK);
        a.out = o2;
        CHECK_MSG(cl_be_attention(&gpu, &a) == CL_OK, "%s", cl_errmsg());
        for (i = 0; i < qn; i++) bad += !(fabsf(o1[i] - o2[i]) <= 1e-4f);
        CHECK_MSG(!bad, "attention nb=%u pos0=%u heads %u/%u hd %u: %u values off", nb, pos0, H, KH, hd, bad);
        free(q), free(k), free(v), free(o1), free(o2);
    }
}

static float maxdiff(const float *a, const float *b, size_t n, float *scale)
{
    float d = 0, s = 1;
    size_t i;
    for (i = 0; i < n; i++) {
        if (!(fabsf(a[i] - b[i]) <= d)) d = fabsf(a[i] - b[i]);
        if (fabsf(a[i]) > s) s = fabsf(a[i]);
    }
    *scale = s;
    return d;
}

static void test_model(const char *arch, int type)
{
    cl_tiny_opts o;
    cl_model *mc = NULL, *mg = NULL;
    const cl_model_info *I;
    cl_token toks[64], oc[24], og[24];
    size_t nc = 0, ng = 0, i;
    float *lc = NULL, *lg = NULL, d, s;
    uint32_t V, p;
    memset(&o, 0, sizeof o);
    o.arch = arch, o.type = type, o.seed = 11, o.n_ctx = 800, o.n_layer = 3;
    if (cl_make_tiny_opts(&o, path) != CL_OK) {
        CHECK_MSG(0, "make-tiny %s: %s", arch, cl_errmsg());
        return;
    }
    setenv("CAIRN_GPU", "0", 1);
    { /* the device cache is F32: so is the CPU reference's (the CPU default is F16) */
        cl_model_params p32 = {800, CL_KV_F32};
        CHECK(cl_model_open_params(path, &p32, &mc) == CL_OK);
    }
    setenv("CAIRN_GPU", "1", 1);
    CHECK_MSG(cl_model_open(path, 800, &mg) == CL_OK, "%s", cl_errmsg());
    if (!mc || !mg) goto out;
    CHECK_STR(cl_model_backend(mg), "cuda");
    I = cl_model_get_info(mc);
    V = I->n_vocab;
    lc = malloc((size_t)64 * V * 4), lg = malloc((size_t)64 * V * 4);
    for (i = 0; i < 64; i++) toks[i] = (cl_token)(rnd() % (V - 1));
    /* prefill, all logits */
    CHECK(cl_model_eval_batch(mc, toks, 45, 0, lc, 1) == CL_OK);
    CHECK_MSG(cl_model_eval_batch(mg, toks, 45, 0, lg, 1) == CL_OK, "%s", cl_errmsg());
    d = maxdiff(lc, lg, (size_t)45 * V, &s);
    CHECK_MSG(d <= 2e-3f * s, "%s %s prefill: max diff %g (scale %g)", arch, cl_type_name(type), d, s);
    /* decode */
    for (p = 45; p < 51; p++) {
        CHECK(cl_model_eval(mc, toks[p], p, lc) == CL_OK);
        CHECK(cl_model_eval(mg, toks[p], p, lg) == CL_OK);
        d = maxdiff(lc, lg, V, &s);
        CHECK_MSG(d <= 2e-3f * s, "%s %s decode at %u: max diff %g (scale %g)", arch, cl_type_name(type), p, d, s);
    }
    { /* the embedding hook */
        float *hc = malloc(I->n_embd * 4), *hg = malloc(I->n_embd * 4);
        cl_model_hidden(mc, hc);
        cl_model_hidden(mg, hg);
        d = maxdiff(hc, hg, I->n_embd, &s);
        CHECK_MSG(d <= 2e-3f * s, "%s hidden: max diff %g", arch, d);
        free(hc), free(hg);
    }
    /* a long context: copies up to 700 positions, three attention splits */
    CHECK(cl_model_kv_fill(mc, 51, 700) == CL_OK);
    CHECK(cl_model_kv_fill(mg, 51, 700) == CL_OK);
    for (p = 700; p < 703; p++) {
        CHECK(cl_model_eval(mc, toks[p - 700], p, lc) == CL_OK);
        CHECK(cl_model_eval(mg, toks[p - 700], p, lg) == CL_OK);
        d = maxdiff(lc, lg, V, &s);
        CHECK_MSG(d <= 2e-3f * s, "%s %s decode at %u: max diff %g (scale %g)", arch, cl_type_name(type), p, d, s);
    }
    /* greedy generations */
    CHECK(cl_model_generate(mc, toks, 10, 24, oc, &nc) == CL_OK);
    CHECK(cl_model_generate(mg, toks, 10, 24, og, &ng) == CL_OK);
    for (i = 0; i < nc && i < ng && oc[i] == og[i]; i++) {}
    if (i < nc || i < ng) {
        /* the CPU's logits where they part: a near-tie is reported, not failed */
        cl_token seq[64];
        float top = -INFINITY, theirs;
        uint32_t v;
        memcpy(seq, toks, 10 * sizeof *seq);
        memcpy(seq + 10, oc, i * sizeof *seq);
        CHECK(cl_model_eval_batch(mc, seq, 10 + i, 0, lc, 0) == CL_OK);
        for (v = 0; v < V; v++) top = lc[v] > top ? lc[v] : top;
        theirs = i < ng ? lc[og[i]] : top;
        if (top - theirs <= 2e-3f * (fabsf(top) > 1 ? fabsf(top) : 1))
            printf("note: %s %s greedy runs part at token %zu on a near-tie (%g vs %g)\n", arch, cl_type_name(type), i,
                   top, theirs);
        else
            CHECK_MSG(0, "%s %s greedy runs part at token %zu: cpu %d gpu %d (logits %g vs %g)", arch,
                      cl_type_name(type), i, i < nc ? oc[i] : -1, i < ng ? og[i] : -1, top, theirs);
    }
    printf("%-6s %-5s ok (prefill+decode+long-context logits, %zu greedy tokens)\n", arch, cl_type_name(type), nc);
out:
    unsetenv("CAIRN_GPU");
    free(lc), free(lg);
    cl_model_free(mc);
    cl_model_free(mg);
}

int main(void)
{
    static const char *archs[] = {"llama", "qwen2", "qwen3"};
    static const int types[] = {CL_TYPE_F32, CL_TYPE_F16, CL_TYPE_Q8_0, CL_TYPE_Q4_0, CL_TYPE_Q4_K, CL_TYPE_Q6_K};
    const char *tmp = getenv("CAIRN_TMP") ? getenv("CAIRN_TMP") : "/tmp";
    int quick = getenv("LLM_CUDA_QUICK") && !strcmp(getenv("LLM_CUDA_QUICK"), "1");
    size_t a, t;
    if (cl_backend_cuda_new(&gpu) != CL_OK) SKIP("no CUDA device (%s)", cl_errmsg());
    /* the GPU kernels multiply float activations; the CPU backend's default
     * quantises them to 8 bits for its integer dot products (qdot.c), which
     * moves sums by far more than the tolerances below: the reference here is
     * the CPU's float path (every CPU backend and model this process opens) */
    setenv("CAIRN_CPU_DOT", "float", 1);
    CHECK(cl_backend_cpu_new(2, 1, &cpu) == CL_OK);
    snprintf(path, sizeof path, "%s/llm_cuda_%d.gguf", tmp, (int)getpid());
    test_matmul();
    test_small_ops();
    test_attention();
    for (a = 0; a < 3; a++)
        for (t = 0; t < sizeof types / sizeof *types; t++)
            if (!quick || types[t] == (a == 1 ? CL_TYPE_Q4_K : CL_TYPE_Q8_0)) test_model(archs[a], types[t]);
    remove(path);
    cl_backend_free(&gpu);
    cl_backend_free(&cpu);
    return check_done("llm_cuda");
}
