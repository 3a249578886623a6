/* bench_gpu.c — cl_bench_gpu (`cairn model bench --gpu`, llm_gpu_bench):
 * prefill and decode speed of a model on the CUDA backend against the
 * device's own copy bandwidth, measured in the same run. */
#include "backend.h"
#include "cuda/gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

cl_status cl_bench_gpu(const char *path, uint32_t n_prompt, const uint32_t *ctx, size_t n_ctx, uint32_t n_decode)
{
    cl_model *m = NULL;
    const cl_model_info *I;
    cl_token *toks = NULL;
    float *lg = NULL;
    char dev[300];
    double bw = 0, wb, best = 0;
    uint32_t max_ctx = n_prompt, i, r;
    uint64_t rng = 12345, kvd;
    const char *env = getenv("CAIRN_GPU");
    char *saved = env ? strdup(env) : NULL;
    size_t k;
    cl_status s;
    if (!n_prompt || !n_decode || !n_ctx) return cl_err(CL_ERR_INVALID, "bench: empty prompt, decode or context list");
    for (k = 0; k < n_ctx; k++) max_ctx = ctx[k] > max_ctx ? ctx[k] : max_ctx;
    if ((s = cl_gpu_copy_gbps((size_t)1 << 30, 10, &bw, dev, sizeof dev))) {
        free(saved);
        return cl_err(s, "bench --gpu: %s", cl_errmsg());
    }
    setenv("CAIRN_GPU", "1", 1); /* the GPU or an error that says why */
    s = cl_model_open(path, max_ctx + n_decode, &m);
    if (saved) setenv("CAIRN_GPU", saved, 1);
    else unsetenv("CAIRN_GPU");
    free(saved);
    if (s) return s;
    I = cl_model_get_info(m);
    if (I->n_ctx < max_ctx + n_decode) {
        s = cl_err(CL_ERR_RANGE, "bench --gpu: the model's context (%u) is shorter than %u + %u", I->n_ctx, max_ctx,
                   n_decode);
        goto out;
    }
    if (!(lg = malloc(I->n_vocab * sizeof *lg)) || !(toks = malloc(((size_t)max_ctx + n_decode) * sizeof *toks))) {
        s = cl_err(CL_ERR_NOMEM, "bench --gpu: out of memory");
        goto out;
    }
    for (i = 0; i < max_ctx + n_decode; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (cl_token)((rng >> 33) % (uint64_t)cl_tokenizer_n_vocab(cl_model_tokenizer(m)));
    }
    wb = (double)cl_model_weight_bytes(m);
    kvd = (uint64_t)I->n_head_kv * I->head_dim;
    printf("device: %s\n", dev);
    printf("model: %s (%s, %u layers, embd %u, ff %u, heads %u/%u, vocab %u), backend %s\n", path, I->arch,
           I->n_layer, I->n_embd, I->n_ff, I->n_head, I->n_head_kv, I->n_vocab, cl_model_backend(m));
    printf("weights read per token: %.1f MiB\n", wb / 1048576.0);
    printf("device copy bandwidth (cudaMemcpy device to device, read+write, 1 GiB, best of 10): %.1f GB/s\n", bw);
    /* prefill: the first call also loads the kernels; best of 3 after it */
    for (r = 0; r < 4; r++) {
        double t0 = now_s(), dt;
        if ((s = cl_model_eval_batch(m, toks, n_prompt, 0, lg, 0))) goto out;
        dt = now_s() - t0;
        if (r && (best == 0 || dt < best)) best = dt;
    }
    printf("prefill: %u tokens in %.2f ms = %.0f tokens/s\n", n_prompt, best * 1e3, n_prompt / best);
    printf("%8s %13s %14s %18s %12s\n", "context", "decode tok/s", "ms per token", "achieved GB/s", "of copy bw");
    for (k = 0; k < n_ctx; k++) {
        uint32_t c = ctx[k], np = c < n_prompt ? c : n_prompt, p;
        double t0, td, bytes;
        if ((s = cl_model_eval_batch(m, toks, np, 0, lg, 0))) goto out;
        if (np < c && (s = cl_model_kv_fill(m, np, c))) goto out;
        if ((s = cl_model_eval(m, toks[c], c, lg))) goto out; /* warm-up at this context */
        t0 = now_s();
        for (p = 1; p <= n_decode; p++)
            if ((s = cl_model_eval(m, toks[c + p - 1], c + p - 1, lg))) goto out;
        td = now_s() - t0;
        /* per token: every weight once, and K and V of c positions in every layer */
        bytes = wb + 2.0 * I->n_layer * (double)c * (double)kvd * sizeof(float);
        printf("%8u %13.1f %14.3f %18.1f %12.3f\n", c, n_decode / td, td * 1e3 / n_decode, bytes * n_decode / td / 1e9,
               bytes * n_decode / td / 1e9 / bw);
        fflush(stdout);
    }
    s = CL_OK;
out:
    free(toks);
    free(lg);
    cl_model_free(m);
    return s;
}
