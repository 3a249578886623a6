/* backend.h — the compute backend table inside llm/ (not public): a table of
 * function pointers plus a context, reached through the small inline
 * wrappers below, so that model code never writes be->i->matmul. The CPU
 * backend (cpu.c) is always built and is the reference; a CUDA backend
 * plugs in with the same table. All pointers given to the per-op entries
 * are host memory. Version 2 adds an optional whole-step path (load,
 * forward, hidden_row, kv_fill; NULL in the CPU table): a backend that has
 * it keeps the weights, the KV cache and the activations itself (the CUDA
 * backend: on the device) and model.c then calls forward once per batch. */
#ifndef CAIRN_LLM_BACKEND_H
#define CAIRN_LLM_BACKEND_H

#include "llm_int.h"

#define CL_BACKEND_VERSION 2

/* Causal attention over a KV cache for nb consecutive query tokens. */
typedef struct cl_attn_args {
    const float *q;      /* (nb, n_head * head_dim) */
    const void *kcache;  /* (n_ctx, n_head_kv * head_dim): positions 0..pos0+nb-1 filled */
    const void *vcache;  /* same shape as kcache */
    float *out;          /* (nb, n_head * head_dim) */
    uint32_t nb, pos0;   /* query b sits at position pos0 + b and sees 0..pos0+b */
    uint32_t n_head, n_head_kv, head_dim;
    float scale;         /* usually 1/sqrt(head_dim) */
    int kv_f16;          /* 1: the caches hold IEEE halves (CL_KV_F16; CPU backend only), 0: floats */
    int kv_q8;           /* 1: the caches hold Q8_0 rows (CL_KV_Q8_0; CPU backend only; kv_f16 is then 0) */
} cl_attn_args;

/* A decoder as the whole-step path sees it (model.c fills it; every pointer
 * is borrowed and must outlive the backend's use of it). Layer fields are
 * NULL where the architecture has no such tensor (biases: qwen2 only;
 * q_norm/k_norm: qwen3 only). Vectors are F32; matrices any supported type. */
typedef struct cl_fwd_layer {
    const cl_tensor *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *q_norm, *k_norm;
    const cl_tensor *ffn_norm, *gate, *up, *down;
} cl_fwd_layer;

typedef struct cl_fwd_model {
    uint32_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
    float eps;             /* RMSNorm epsilon */
    float rope_mscale;     /* RoPE cos/sin factor */
    int neox;              /* RoPE pairs (i, i+d/2) rather than (2i, 2i+1) */
    const double *inv_freq; /* (head_dim/2) angle per position of each pair */
    const cl_tensor *embd, *out_norm, *out; /* out may equal embd (tied) */
    const cl_fwd_layer *layers;             /* n_layer of them */
} cl_fwd_model;

typedef struct cl_backend_i {
    int version; /* CL_BACKEND_VERSION */
    const char *name;
    void (*free)(void *ctx);
    cl_status (*set_threads)(void *ctx, int n_threads);
    int (*threads)(void *ctx);
    /* Y[b][r] = W row r . X[b] (+ bias[r] when bias) for b < nb:
     * X is (nb, W->ne[0]), Y is (nb, W->ne[1]). W's type must be supported. */
    void (*matmul)(void *ctx, const cl_tensor *W, const float *bias, const float *X, uint32_t nb, float *Y);
    /* out[r] = x[r] / rms(x[r]) * w for rows r < rows of n values (out may be x) */
    void (*rmsnorm)(void *ctx, float *out, const float *x, const float *w, uint32_t n, uint32_t rows, float eps);
    /* Rotates n_heads heads of head_dim values at x by the angles whose
     * cosines and sines cs holds as (head_dim/2, 2); neox: pairs (i, i+d/2),
     * otherwise (2i, 2i+1). */
    void (*rope)(void *ctx, float *x, uint32_t n_heads, uint32_t head_dim, const float *cs, int neox);
    cl_status (*attention)(void *ctx, const cl_attn_args *a);
    /* g[i] = silu(g[i]) * u[i] */
    void (*swiglu)(void *ctx, float *g, const float *u, size_t n);
    /* ---- optional whole-step path (version 2; NULL when absent) ---- */
    /* Takes the model: uploads the weights once, sizes the KV cache for
     * m->n_ctx positions and the activations up front. Errors (out of device
     * memory included) leave the backend unusable for forward. */
    cl_status (*load)(void *ctx, const cl_fwd_model *m);
    /* Evaluates nb tokens at positions pos0.. (checked by the caller) and
     * writes the logits of the last token (all: of every token, nb rows). */
    cl_status (*forward)(void *ctx, const cl_token *toks, uint32_t nb, uint32_t pos0, float *logits, int all);
    /* The newest token's residual stream (n_embd floats, before the output
     * norm) after the last forward; zeros before any. */
    cl_status (*hidden_row)(void *ctx, float *out);
    /* Fills cache positions n_have..n_to-1 with copies of 0..n_have-1. */
    cl_status (*kv_fill)(void *ctx, uint32_t n_have, uint32_t n_to);
    /* ---- optional fused per-op entries (NULL: the wrappers below run the
     * separate ops; results are the same bits either way) ---- */
    /* Y[i] = W[i] X (+ bias[i]) for n <= CL_BE_MATMUL_N products of one
     * input X (nb rows), in one round of the thread pool: q, k and v. */
    void (*matmul_n)(void *ctx, uint32_t n, const cl_tensor *const *W, const float *const *bias, const float *X,
                     uint32_t nb, float *const *Y);
    /* G = gate X, U = up X, then G[i] = silu(G[i]) * U[i] (swiglu), in one
     * round: G and U are (nb, gate->ne[1]); U is scratch. */
    void (*ffn_up)(void *ctx, const cl_tensor *gate, const cl_tensor *up, const float *X, uint32_t nb, float *G,
                   float *U);
} cl_backend_i;

#define CL_BE_MATMUL_N 3

typedef struct cl_backend {
    const cl_backend_i *i;
    void *ctx;
} cl_backend;

/* The CPU backend with n_threads workers (<= 0: the online cores). simd 0
 * forces the portable dot products. Free with cl_backend_free. */
cl_status cl_backend_cpu_new(int n_threads, int simd, cl_backend *out);
/* The CUDA backend (llm/cuda/): CL_ERR_UNSUPPORTED with a message saying
 * why when the build has no CUDA, no driver or no device is present. */
cl_status cl_backend_cuda_new(cl_backend *out);

static inline void cl_backend_free(cl_backend *b)
{
    if (b && b->i) b->i->free(b->ctx);
    if (b) b->i = NULL, b->ctx = NULL;
}
static inline cl_status cl_be_set_threads(cl_backend *b, int n) { return b->i->set_threads(b->ctx, n); }
static inline int cl_be_threads(cl_backend *b) { return b->i->threads(b->ctx); }
static inline void cl_be_matmul(cl_backend *b, const cl_tensor *W, const float *bias, const float *X, uint32_t nb,
                                float *Y)
{
    b->i->matmul(b->ctx, W, bias, X, nb, Y);
}
static inline void cl_be_rmsnorm(cl_backend *b, float *out, const float *x, const float *w, uint32_t n,
                                 uint32_t rows, float eps)
{
    b->i->rmsnorm(b->ctx, out, x, w, n, rows, eps);
}
static inline void cl_be_rope(cl_backend *b, float *x, uint32_t n_heads, uint32_t hd, const float *cs, int neox)
{
    b->i->rope(b->ctx, x, n_heads, hd, cs, neox);
}
static inline void cl_be_matmul_n(cl_backend *b, uint32_t n, const cl_tensor *const *W, const float *const *bias,
                                  const float *X, uint32_t nb, float *const *Y)
{
    uint32_t i;
    if (b->i->matmul_n && n <= CL_BE_MATMUL_N) {
        b->i->matmul_n(b->ctx, n, W, bias, X, nb, Y);
        return;
    }
    for (i = 0; i < n; i++) b->i->matmul(b->ctx, W[i], bias[i], X, nb, Y[i]);
}
static inline void cl_be_ffn_up(cl_backend *b, const cl_tensor *gate, const cl_tensor *up, const float *X, uint32_t nb,
                                float *G, float *U)
{
    if (b->i->ffn_up) {
        b->i->ffn_up(b->ctx, gate, up, X, nb, G, U);
        return;
    }
    b->i->matmul(b->ctx, gate, NULL, X, nb, G);
    b->i->matmul(b->ctx, up, NULL, X, nb, U);
    b->i->swiglu(b->ctx, G, U, (size_t)nb * gate->ne[1]);
}
static inline cl_status cl_be_attention(cl_backend *b, const cl_attn_args *a) { return b->i->attention(b->ctx, a); }
static inline void cl_be_swiglu(cl_backend *b, float *g, const float *u, size_t n) { b->i->swiglu(b->ctx, g, u, n); }

#endif
