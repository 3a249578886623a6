/* plan.c — host-side logic of the CUDA backend (see gpu.h): no CUDA here,
 * so it is built and tested on every machine. */
#include "gpu.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

cl_status cl_gpu_mode_parse(const char *s, cl_gpu_mode *out)
{
    *out = CL_GPU_AUTO;
    if (!s || !*s || !strcasecmp(s, "auto")) return CL_OK;
    if (!strcmp(s, "0") || !strcasecmp(s, "off") || !strcasecmp(s, "cpu")) {
        *out = CL_GPU_OFF;
        return CL_OK;
    }
    if (!strcmp(s, "1") || !strcasecmp(s, "on") || !strcasecmp(s, "cuda")) {
        *out = CL_GPU_ON;
        return CL_OK;
    }
    return cl_err(CL_ERR_INVALID, "CAIRN_GPU='%.40s': use auto, 0 (the CPU) or 1 (the GPU, or an error)", s);
}

static size_t add(const cl_tensor **list, size_t cap, size_t n, const cl_tensor *t)
{
    if (!t) return n;
    if (n < cap) list[n] = t;
    return n + 1;
}

size_t cl_gpu_tensors(const cl_fwd_model *m, const cl_tensor **list, size_t cap)
{
    size_t n = 0;
    uint32_t l;
    n = add(list, cap, n, m->embd);
    n = add(list, cap, n, m->out_norm);
    if (m->out != m->embd) n = add(list, cap, n, m->out); /* a tied head is uploaded once */
    for (l = 0; l < m->n_layer; l++) {
        const cl_fwd_layer *L = &m->layers[l];
        const cl_tensor *t[] = {L->attn_norm, L->wq, L->wk, L->wv, L->wo, L->bq, L->bk, L->bv,
                                L->q_norm, L->k_norm, L->ffn_norm, L->gate, L->up, L->down};
        size_t i;
        for (i = 0; i < sizeof t / sizeof *t; i++) n = add(list, cap, n, t[i]);
    }
    return n;
}

uint64_t cl_gpu_align(uint64_t n) { return (n + CL_GPU_ALIGN - 1) / CL_GPU_ALIGN * CL_GPU_ALIGN; }

static int gpu_type(int t)
{
    return t == CL_TYPE_F32 || t == CL_TYPE_F16 || t == CL_TYPE_BF16 || t == CL_TYPE_Q8_0 || t == CL_TYPE_Q4_0 ||
           t == CL_TYPE_Q4_K || t == CL_TYPE_Q6_K;
}

cl_status cl_gpu_plan_make(const cl_fwd_model *m, cl_gpu_plan *p)
{
    uint64_t qd, kvd, E, F, B, w = 0;
    uint32_t l;
    size_t i;
    memset(p, 0, sizeof *p);
    if (!m->n_layer || !m->n_embd || !m->n_head || !m->n_head_kv || !m->n_ctx || !m->n_vocab || !m->layers)
        return cl_err(CL_ERR_INVALID, "gpu: the model has an empty dimension");
    if (m->head_dim % 2 || !m->head_dim || m->head_dim > CL_GPU_MAX_HEAD_DIM)
        return cl_err(CL_ERR_UNSUPPORTED, "gpu: head size %u is not supported on the GPU (even, at most %u)",
                      m->head_dim, CL_GPU_MAX_HEAD_DIM);
    if (m->n_head % m->n_head_kv) return cl_err(CL_ERR_INVALID, "gpu: %u heads over %u KV heads", m->n_head, m->n_head_kv);
    /* each tensor once, in upload order */
    for (l = 0; l < m->n_layer; l++) {
        const cl_fwd_layer *L = &m->layers[l];
        if (!L->attn_norm || !L->wq || !L->wk || !L->wv || !L->wo || !L->ffn_norm || !L->gate || !L->up || !L->down)
            return cl_err(CL_ERR_INVALID, "gpu: layer %u lacks a tensor", l);
    }
    if (!m->embd || !m->out_norm || !m->out) return cl_err(CL_ERR_INVALID, "gpu: the model lacks a tensor");
    {
        size_t n = cl_gpu_tensors(m, NULL, 0);
        const cl_tensor **list = malloc(n * sizeof *list);
        if (!list) return cl_err(CL_ERR_NOMEM, "gpu: out of memory");
        cl_gpu_tensors(m, list, n);
        for (i = 0; i < n; i++) {
            const cl_tensor *t = list[i];
            if (!gpu_type(t->type)) {
                cl_status s = cl_err(CL_ERR_UNSUPPORTED, "gpu: tensor %s has type %s, which the GPU kernels do not take",
                                     t->name ? t->name : "?", cl_type_name(t->type) ? cl_type_name(t->type) : "?");
                free(list);
                return s;
            }
            w += cl_gpu_align(t->n_bytes);
        }
        free(list);
    }
    qd = (uint64_t)m->n_head * m->head_dim;
    kvd = (uint64_t)m->n_head_kv * m->head_dim;
    E = m->n_embd;
    F = m->n_ff;
    B = m->n_ctx < CL_GPU_MAX_BATCH ? m->n_ctx : CL_GPU_MAX_BATCH;
    p->max_batch = (uint32_t)B;
    p->n_split = (m->n_ctx + CL_GPU_ATTN_CHUNK - 1) / CL_GPU_ATTN_CHUNK;
    p->weights = w;
    p->kv = cl_gpu_align(2ull * m->n_layer * m->n_ctx * kvd * sizeof(float));
    /* x, xb (E); q, ao (qd); k, v (kvd); hb, hb2 (F); RoPE cos/sin (head_dim); token ids */
    p->act = cl_gpu_align(B * (2 * E + 2 * qd + 2 * kvd + 2 * F + m->head_dim) * sizeof(float)) +
             cl_gpu_align(B * sizeof(int32_t)) + cl_gpu_align(m->head_dim / 2 * sizeof(double));
    p->attn = cl_gpu_align(B * m->n_head * (uint64_t)p->n_split * (m->head_dim + 2) * sizeof(float));
    p->logits = cl_gpu_align((uint64_t)CL_GPU_LOGIT_ROWS * m->n_vocab * sizeof(float)) + cl_gpu_align(sizeof(int32_t));
    p->total = p->weights + p->kv + p->act + p->attn + p->logits;
    if (p->kv / 2 / m->n_layer / m->n_ctx != kvd * sizeof(float))
        return cl_err(CL_ERR_RANGE, "gpu: the KV cache size overflows");
    return CL_OK;
}

cl_status cl_gpu_plan_check(const cl_gpu_plan *p, uint64_t free_bytes, const char *device)
{
    uint64_t need = p->total + p->total / 20 + (256ull << 20);
    if (need <= free_bytes) return CL_OK;
    return cl_err(CL_ERR_NOMEM,
                  "gpu: %s has %.1f MiB free; the model needs %.1f MiB (weights %.1f, KV cache %.1f, activations "
                  "%.1f, attention %.1f, logits %.1f) plus a margin: use a shorter context or CAIRN_GPU=0",
                  device ? device : "the device", free_bytes / 1048576.0, p->total / 1048576.0,
                  p->weights / 1048576.0, p->kv / 1048576.0, p->act / 1048576.0, p->attn / 1048576.0,
                  p->logits / 1048576.0);
}

int cl_gpu_say_fallback(const char *why)
{
    static atomic_int said;
    if (atomic_exchange(&said, 1)) return 0;
    fprintf(stderr, "cairn: llm: running on the CPU: %s\n", why);
    return 1;
}
