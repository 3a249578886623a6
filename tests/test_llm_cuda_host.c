/* test_llm_cuda_host.c — the CUDA backend's host-side logic, on any machine
 * (no GPU needed): CAIRN_GPU parsing; the upload list (every tensor once, a
 * tied output head not twice) and its 256-byte-aligned layout; the memory
 * plan (weights, KV cache, activations, attention partials, logits) against
 * sizes computed here from the model's shape; the free-memory check and its
 * message; refusal of shapes and types the kernels do not take; and the
 * backend choice at cl_model_open (CPU fallback, CAIRN_GPU=0/1). */
#include "backend.h"
#include "check.h"
#include "cuda/gpu.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>

static char path[512];

static const cl_tensor *T(const cl_gguf *g, const char *name)
{
    return cl_gguf_find_tensor(g, name);
}

static const cl_tensor *TL(const cl_gguf *g, int l, const char *what)
{
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", l, what);
    return cl_gguf_find_tensor(g, name);
}

/* The whole-step description of a tiny model, built here from its tensors. */
typedef struct desc {
    cl_gguf *g;
    cl_fwd_model m;
    cl_fwd_layer L[8];
    double inv_freq[128];
} desc;

static int make_desc(const char *arch, int type, uint32_t n_ctx, desc *d)
{
    cl_tiny_opts o;
    const cl_tensor *e;
    uint32_t l;
    memset(&o, 0, sizeof o);
    memset(d, 0, sizeof *d);
    o.arch = arch;
    o.type = type;
    o.seed = 7;
    o.n_ctx = n_ctx;
    o.n_layer = 3;
    CHECK_MSG(cl_make_tiny_opts(&o, path) == CL_OK, "%s", cl_errmsg());
    if (cl_gguf_open(path, &d->g) != CL_OK) return 0;
    e = T(d->g, "token_embd.weight");
    d->m.n_embd = (uint32_t)e->ne[0];
    d->m.n_vocab = (uint32_t)e->ne[1];
    d->m.n_layer = 3;
    d->m.n_head = 4;
    d->m.n_head_kv = 2;
    d->m.head_dim = d->m.n_embd / 4;
    d->m.n_ff = (uint32_t)TL(d->g, 0, "ffn_gate.weight")->ne[1];
    d->m.n_ctx = n_ctx;
    d->m.eps = 1e-5f;
    d->m.rope_mscale = 1.0f;
    d->m.neox = strcmp(arch, "llama") != 0;
    d->m.inv_freq = d->inv_freq;
    d->m.embd = e;
    d->m.out_norm = T(d->g, "output_norm.weight");
    d->m.out = T(d->g, "output.weight") ? T(d->g, "output.weight") : e;
    for (l = 0; l < 3; l++) {
        cl_fwd_layer *L = &d->L[l];
        L->attn_norm = TL(d->g, l, "attn_norm.weight");
        L->wq = TL(d->g, l, "attn_q.weight");
        L->wk = TL(d->g, l, "attn_k.weight");
        L->wv = TL(d->g, l, "attn_v.weight");
        L->wo = TL(d->g, l, "attn_output.weight");
        L->bq = TL(d->g, l, "attn_q.bias");
        L->bk = TL(d->g, l, "attn_k.bias");
        L->bv = TL(d->g, l, "attn_v.bias");
        L->q_norm = TL(d->g, l, "attn_q_norm.weight");
        L->k_norm = TL(d->g, l, "attn_k_norm.weight");
        L->ffn_norm = TL(d->g, l, "ffn_norm.weight");
        L->gate = TL(d->g, l, "ffn_gate.weight");
        L->up = TL(d->g, l, "ffn_up.weight");
        L->down = TL(d->g, l, "ffn_down.weight");
    }
    d->m.layers = d->L;
    return 1;
}

static void test_mode(void)
{
    cl_gpu_mode m;
    CHECK(cl_gpu_mode_parse(NULL, &m) == CL_OK && m == CL_GPU_AUTO);
    CHECK(cl_gpu_mode_parse("", &m) == CL_OK && m == CL_GPU_AUTO);
    CHECK(cl_gpu_mode_parse("AUTO", &m) == CL_OK && m == CL_GPU_AUTO);
    CHECK(cl_gpu_mode_parse("0", &m) == CL_OK && m == CL_GPU_OFF);
    CHECK(cl_gpu_mode_parse("cpu", &m) == CL_OK && m == CL_GPU_OFF);
    CHECK(cl_gpu_mode_parse("off", &m) == CL_OK && m == CL_GPU_OFF);
    CHECK(cl_gpu_mode_parse("1", &m) == CL_OK && m == CL_GPU_ON);
    CHECK(cl_gpu_mode_parse("cuda", &m) == CL_OK && m == CL_GPU_ON);
    CHECK(cl_gpu_mode_parse("2", &m) == CL_ERR_INVALID && strstr(cl_errmsg(), "CAIRN_GPU"));
    CHECK(cl_gpu_mode_parse("yes please", &m) == CL_ERR_INVALID);
}

/* Upload list and plan for one architecture and type. */
static void test_plan(const char *arch, int type)
{
    desc d;
    cl_gpu_plan p;
    const cl_tensor *list[128];
    size_t n, i, j, per_layer;
    uint64_t sum = 0, raw = 0, kvd, qd, E, F, B;
    int tied;
    if (!make_desc(arch, type, 300, &d)) {
        CHECK_MSG(0, "open %s: %s", arch, cl_errmsg());
        return;
    }
    tied = d.m.out == d.m.embd;
    per_layer = 9 + (d.L[0].bq ? 3 : 0) + (d.L[0].q_norm ? 2 : 0);
    n = cl_gpu_tensors(&d.m, list, 128);
    CHECK_MSG(n == 3 - (size_t)tied + 3 * per_layer, "%s: %zu tensors", arch, n);
    CHECK(cl_gpu_tensors(&d.m, NULL, 0) == n); /* counting needs no room */
    CHECK(!strcmp(arch, "qwen2") ? tied : !tied); /* make-tiny ties the head for qwen2 only */
    for (i = 0; i < n && i < 128; i++) {
        CHECK(list[i] != NULL);
        for (j = 0; j < i; j++) CHECK(list[i] != list[j]);
        sum += cl_gpu_align(list[i]->n_bytes);
        raw += list[i]->n_bytes;
        CHECK(cl_gpu_align(list[i]->n_bytes) % CL_GPU_ALIGN == 0);
        CHECK(cl_gpu_align(list[i]->n_bytes) >= list[i]->n_bytes &&
              cl_gpu_align(list[i]->n_bytes) < list[i]->n_bytes + CL_GPU_ALIGN);
    }
    CHECK_MSG(cl_gpu_plan_make(&d.m, &p) == CL_OK, "%s", cl_errmsg());
    CHECK(p.weights == sum && p.weights >= raw);
    kvd = (uint64_t)d.m.n_head_kv * d.m.head_dim;
    qd = (uint64_t)d.m.n_head * d.m.head_dim;
    E = d.m.n_embd;
    F = d.m.n_ff;
    B = 256;
    CHECK(p.max_batch == 256);
    CHECK(p.n_split == 2); /* 300 positions in chunks of 256 */
    CHECK(p.kv == cl_gpu_align(2ull * 3 * 300 * kvd * 4));
    CHECK(p.act >= B * (2 * E + 2 * qd + 2 * kvd + 2 * F) * 4);
    CHECK(p.attn == cl_gpu_align(B * d.m.n_head * 2 * (d.m.head_dim + 2) * 4));
    CHECK(p.logits >= (uint64_t)CL_GPU_LOGIT_ROWS * d.m.n_vocab * 4);
    CHECK(p.total == p.weights + p.kv + p.act + p.attn + p.logits);
    /* the free-memory check: a margin over the plan, and a message that sizes it */
    CHECK(cl_gpu_plan_check(&p, p.total, "test device") == CL_ERR_NOMEM);
    CHECK(strstr(cl_errmsg(), "test device") && strstr(cl_errmsg(), "KV cache") && strstr(cl_errmsg(), "CAIRN_GPU=0"));
    CHECK(cl_gpu_plan_check(&p, p.total * 2 + (512ull << 20), "test device") == CL_OK);
    /* a short context: the batch is the context */
    d.m.n_ctx = 17;
    CHECK(cl_gpu_plan_make(&d.m, &p) == CL_OK && p.max_batch == 17 && p.n_split == 1);
    /* refusals */
    d.m.n_ctx = 300;
    d.m.head_dim = 512;
    CHECK(cl_gpu_plan_make(&d.m, &p) == CL_ERR_UNSUPPORTED && strstr(cl_errmsg(), "head size 512"));
    d.m.head_dim = 33;
    CHECK(cl_gpu_plan_make(&d.m, &p) == CL_ERR_UNSUPPORTED);
    d.m.head_dim = E / 4;
    {
        cl_tensor odd = *d.L[1].up;
        const cl_tensor *keep = d.L[1].up;
        odd.type = CL_TYPE_Q4_1;
        d.L[1].up = &odd;
        CHECK(cl_gpu_plan_make(&d.m, &p) == CL_ERR_UNSUPPORTED && strstr(cl_errmsg(), "Q4_1") &&
              strstr(cl_errmsg(), "blk.1.ffn_up.weight"));
        d.L[1].up = NULL;
        CHECK(cl_gpu_plan_make(&d.m, &p) == CL_ERR_INVALID);
        d.L[1].up = keep;
    }
    d.m.n_head_kv = 3;
    CHECK(cl_gpu_plan_make(&d.m, &p) == CL_ERR_INVALID);
    d.m.n_head_kv = 2;
    d.m.n_ctx = 0;
    CHECK(cl_gpu_plan_make(&d.m, &p) == CL_ERR_INVALID);
    cl_gguf_close(d.g);
}

/* The choice at cl_model_open: without a usable device (every CI machine)
 * auto runs on the CPU, 1 is an error that says why, 0 is the CPU. */
static void test_choice(void)
{
    cl_backend be;
    cl_model *m = NULL;
    cl_status have = cl_backend_cuda_new(&be);
    char why[512];
    snprintf(why, sizeof why, "%s", have ? cl_errmsg() : "");
#ifdef CAIRN_HAVE_CUDA
    CHECK(cl_gpu_compiled() == 1);
#else
    CHECK(cl_gpu_compiled() == 0 && have == CL_ERR_UNSUPPORTED && strstr(why, "no CUDA backend"));
#endif
    if (have == CL_OK) {
        CHECK_STR(be.i->name, "cuda");
        CHECK(be.i->version == CL_BACKEND_VERSION && be.i->load && be.i->forward && be.i->hidden_row && be.i->kv_fill);
        cl_backend_free(&be);
        printf("note: a CUDA device is present: the fallback is not exercised here\n");
    } else {
        CHECK(have == CL_ERR_UNSUPPORTED);
        CHECK(strstr(why, "CUDA") != NULL);
        printf("no GPU here: %s\n", why);
    }
    CHECK(cl_make_tiny("qwen3", CL_TYPE_Q8_0, 3, path) == CL_OK);
    unsetenv("CAIRN_GPU");
    CHECK_MSG(cl_model_open(path, 64, &m) == CL_OK, "%s", cl_errmsg());
    if (m) CHECK_STR(cl_model_backend(m), have == CL_OK ? "cuda" : "cpu");
    cl_model_free(m);
    m = NULL;
    setenv("CAIRN_GPU", "0", 1);
    CHECK(cl_model_open(path, 64, &m) == CL_OK);
    if (m) CHECK_STR(cl_model_backend(m), "cpu");
    cl_model_free(m);
    m = NULL;
    setenv("CAIRN_GPU", "1", 1);
    if (have == CL_OK) {
        CHECK(cl_model_open(path, 64, &m) == CL_OK);
        if (m) CHECK_STR(cl_model_backend(m), "cuda");
    } else {
        CHECK(cl_model_open(path, 64, &m) == CL_ERR_UNSUPPORTED && !m);
        CHECK(strstr(cl_errmsg(), "CAIRN_GPU=1") && strstr(cl_errmsg(), why));
    }
    cl_model_free(m);
    m = NULL;
    setenv("CAIRN_GPU", "maybe", 1);
    CHECK(cl_model_open(path, 64, &m) == CL_ERR_INVALID && !m);
    unsetenv("CAIRN_GPU");
    /* without a device the GPU helpers refuse cleanly */
    if (have != CL_OK) {
        double gb = 1;
        uint32_t am = 5;
        float x[3] = {1, 3, 2};
        char name[64] = "x";
        CHECK(cl_gpu_copy_gbps(1 << 20, 2, &gb, name, sizeof name) == CL_ERR_UNSUPPORTED && gb == 0.0);
        CHECK(cl_gpu_argmax(x, 3, &am) == CL_ERR_UNSUPPORTED && am == 0);
    }
}

/* The device kernels' reading of every block layout (run on the host)
 * against quant.c's dequantisation, on random rows of 768 values. */
static void test_dequant(void)
{
    static const int types[] = {CL_TYPE_F32, CL_TYPE_F16, CL_TYPE_BF16, CL_TYPE_Q8_0,
                                CL_TYPE_Q4_0, CL_TYPE_Q4_K, CL_TYPE_Q6_K};
    static float x[768], a[768], b[768];
    static uint8_t row[768 * 4];
    uint64_t s = 99;
    size_t t;
    int i, it;
    for (t = 0; t < sizeof types / sizeof *types; t++) {
        int bad = 0;
        for (it = 0; it < 20; it++) {
            for (i = 0; i < 768; i++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                x[i] = ((float)(s >> 40) / 16777216.0f - 0.5f) * (it + 1) * 0.1f;
            }
            if (types[t] == CL_TYPE_F32) memcpy(row, x, sizeof x);
            else if (types[t] == CL_TYPE_F16 || types[t] == CL_TYPE_BF16)
                for (i = 0; i < 768; i++) {
                    uint16_t h = types[t] == CL_TYPE_F16 ? cl_f32_to_fp16(x[i]) : cl_f32_to_bf16(x[i]);
                    row[2 * i] = (uint8_t)h, row[2 * i + 1] = (uint8_t)(h >> 8);
                }
            else CHECK(cl_quantize_row(types[t], x, row, 768) == CL_OK);
            CHECK(cl_dequantize_row(types[t], row, a, 768) == CL_OK);
#ifdef CAIRN_HAVE_CUDA
            CHECK(cl_gpu_host_dequant(types[t], row, 768, b) == CL_OK);
            for (i = 0; i < 768; i++) bad += !(fabsf(a[i] - b[i]) <= 1e-6f * fabsf(a[i]) + 1e-9f);
#else
            CHECK(cl_gpu_host_dequant(types[t], row, 768, b) == CL_ERR_UNSUPPORTED);
#endif
        }
        CHECK_MSG(!bad, "GPU dequantisation of %s: %d values differ from quant.c", cl_type_name(types[t]), bad);
    }
#ifdef CAIRN_HAVE_CUDA
    CHECK(cl_gpu_host_dequant(CL_TYPE_Q4_1, row, 32, b) == CL_ERR_UNSUPPORTED);
#endif
}

int main(void)
{
    static const char *archs[] = {"llama", "qwen2", "qwen3"};
    static const int types[] = {CL_TYPE_F32, CL_TYPE_F16, CL_TYPE_Q8_0, CL_TYPE_Q4_0, CL_TYPE_Q4_K, CL_TYPE_Q6_K};
    const char *tmp = getenv("CAIRN_TMP") ? getenv("CAIRN_TMP") : "/tmp";
    size_t a, t;
    snprintf(path, sizeof path, "%s/llm_cuda_host_%d.gguf", tmp, (int)getpid());
    test_mode();
    test_dequant();
    for (a = 0; a < 3; a++)
        for (t = 0; t < sizeof types / sizeof *types; t++) test_plan(archs[a], types[t]);
    test_choice();
    remove(path);
    return check_done("llm_cuda_host");
}
