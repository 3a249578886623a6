/* bench_kvcache.c — time to first token with the prefix KV cache
 * (llm/kvcache.c) on the CPU: a make-tiny decoder (default embd 512, 8
 * layers, 8 heads / 4 KV heads, ffn 1536, Q8_0, context 4096) and a prompt
 * of --tokens random ids (default 2048).
 *
 *   no cache   the model without a prefix cache (the baseline)
 *   cold       a cache cleared before each run (lookup misses, the prompt's
 *              blocks are stored: the cost the cache adds to a miss)
 *   same       the same prompt again (every whole block but the last reused)
 *   suffix     the same first tokens with the last --suffix (default 64)
 *              changed, as a new question after the same instructions and
 *              evidence
 *
 * TTFT = cl_generate with max_tokens 1 (prefill and the first sampled
 * token), median of --reps runs (default 5). Prints each and the ratios to
 * the no-cache baseline measured in the same run.
 *
 *   bench_kvcache [--tokens N] [--suffix N] [--reps N] [--threads N]
 *                 [--embd N] [--layers N] [--ffn N] */
#include "llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int arg(int argc, char **argv, const char *name, long lo, long hi, long *v)
{
    int i;
    for (i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) {
            char *end;
            long x = strtol(argv[i + 1], &end, 10);
            if (end == argv[i + 1] || *end || x < lo || x > hi) {
                fprintf(stderr, "bench_kvcache: %s must be %ld..%ld\n", name, lo, hi);
                return -1;
            }
            *v = x;
        }
    return 0;
}

/* One TTFT in ms; *st gets the prefill's cache use. */
static double ttft(cl_model *m, const cl_token *t, size_t n, cl_kv_stats *st)
{
    cl_gen_opts o;
    cl_gen_result r;
    double t0;
    memset(&o, 0, sizeof o);
    cl_sample_opts_default(&o.sample);
    o.max_tokens = 1;
    t0 = now_ms();
    if (cl_generate(m, t, n, &o, &r) != CL_OK) {
        fprintf(stderr, "bench_kvcache: %s\n", cl_errmsg());
        exit(1);
    }
    t0 = now_ms() - t0;
    *st = r.kv;
    cl_gen_result_free(&r);
    return t0;
}

int main(int argc, char **argv)
{
    long ntok = 2048, suffix = 64, reps = 5, threads = 2, embd = 512, layers = 8, ffn = 1536;
    char path[256];
    cl_tiny_opts o;
    cl_model *m = NULL;
    cl_token *t, *u;
    cl_kv_stats st[4];
    double res[4][64], med[4];
    const char *name[4] = {"no cache", "cold (miss + store)", "same prompt", "new suffix"};
    long i, r, k;
    uint64_t rng = 7;
    if (arg(argc, argv, "--tokens", 64, 4000, &ntok) || arg(argc, argv, "--suffix", 1, 4000, &suffix) ||
        arg(argc, argv, "--reps", 1, 64, &reps) || arg(argc, argv, "--threads", 1, 256, &threads) ||
        arg(argc, argv, "--embd", 64, 8192, &embd) || arg(argc, argv, "--layers", 1, 128, &layers) ||
        arg(argc, argv, "--ffn", 64, 32768, &ffn))
        return 2;
    if (suffix >= ntok) suffix = ntok - 1;
    snprintf(path, sizeof path, "%s/bench_kvcache.%d.gguf", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    memset(&o, 0, sizeof o);
    o.arch = "qwen2";
    o.type = CL_TYPE_Q8_0;
    o.seed = 1;
    o.n_embd = (uint32_t)embd;
    o.n_layer = (uint32_t)layers;
    o.n_head = 8;
    o.n_head_kv = 4;
    o.n_ff = (uint32_t)ffn;
    o.n_ctx = 4096;
    if (cl_make_tiny_opts(&o, path) != CL_OK || cl_model_open(path, 4096, &m) != CL_OK) {
        fprintf(stderr, "bench_kvcache: %s\n", cl_errmsg());
        unlink(path);
        return 1;
    }
    unlink(path); /* mapped: the file can go */
    cl_model_set_threads(m, (int)threads);
    t = malloc(ntok * sizeof *t);
    u = malloc(ntok * sizeof *u);
    if (!t || !u) return 1;
    for (i = 0; i < ntok; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        t[i] = (cl_token)((rng >> 33) % (uint64_t)cl_tokenizer_n_vocab(cl_model_tokenizer(m)));
    }
    {
        cl_kvcache *own = cl_kvcache_ref(cl_model_kvcache(m));
        ttft(m, t, ntok, &st[0]); /* warm the pages and the thread pool */
        for (r = 0; r < reps; r++) {
            cl_model_set_kvcache(m, NULL);
            res[0][r] = ttft(m, t, ntok, &st[0]);
            cl_model_set_kvcache(m, own);
            cl_kvcache_clear(own);
            res[1][r] = ttft(m, t, ntok, &st[1]);
            res[2][r] = ttft(m, t, ntok, &st[2]);
            memcpy(u, t, ntok * sizeof *t);
            for (i = ntok - suffix; i < ntok; i++) u[i] = (cl_token)((t[i] + 1 + r) % 256);
            res[3][r] = ttft(m, u, ntok, &st[3]);
        }
        cl_kvcache_free(own);
    }
    printf("model: make-tiny qwen2 Q8_0, embd %ld, %ld layers, 8 heads / 4 KV heads, ffn %ld; %ld threads\n", embd,
           layers, ffn, threads);
    printf("prompt: %ld tokens (new suffix: last %ld changed); TTFT median of %ld\n", ntok, suffix, reps);
    printf("%-22s %10s %10s %10s %8s\n", "case", "TTFT ms", "reused", "prefilled", "ratio");
    for (k = 0; k < 4; k++) {
        qsort(res[k], (size_t)reps, sizeof **res, cmp_d);
        med[k] = res[k][reps / 2];
    }
    for (k = 0; k < 4; k++)
        printf("%-22s %10.1f %10u %10u %8.3f\n", name[k], med[k], st[k].hit_tokens, st[k].prefill_tokens,
               med[k] / med[0]);
    free(t);
    free(u);
    cl_model_free(m);
    return 0;
}
