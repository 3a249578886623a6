/* bench_llm_attn.c — the CPU backend's decode attention alone, at the
 * Qwen2.5-0.5B attention shape (14 query heads, 2 KV heads, head_dim 64):
 * one query token at position ctx-1 over a float KV cache of random
 * values, 24 calls (one per layer, each over its own cache as in decode),
 * repeated; prints ms per token (24 layers) and the KV bytes read per
 * token. Usage: bench_llm_attn [--ctx 128,1024,4096] [--threads 2]
 * [--reps 20] [--kv f32|f16|q8_0] [--cold MiB] [--same-layer 0|1]
 * (f16: the cache holds the same values rounded to IEEE half, read as
 * halves; q8_0: quantised to Q8_0 blocks of 32, the query quantised and
 * K.q taken in integers). It uses only the backend interface, so the same
 * source linked against an older libcairn_llm measures the old attention
 * (--kv f32 there). --cold N reads N MiB of other memory before each
 * token, untimed, so that the cache rows come from memory as in decode,
 * where the weights pass through the caches between two tokens (without
 * it the rows of the last token may still be in the caches).
 * --same-layer 1 points all 24 calls at layer 0's cache: at ctx 1024 that
 * is 512 KiB of F16 rows, which stay in L2, so the time is the arithmetic
 * alone. */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    enum { NH = 14, NKV = 2, HD = 64, NL = 24 };
    const char *ctxs = "128,1024,4096";
    long threads = 2, reps = 20, cold = 0, same = 0;
    unsigned char *evict = NULL;
    volatile unsigned sink = 0;
    int i, f16 = 0, q8 = 0;
    cl_backend be;
    for (i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--ctx")) ctxs = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--reps")) reps = strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--cold")) cold = strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--same-layer")) same = strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--kv") && (!strcmp(argv[i + 1], "f16") || !strcmp(argv[i + 1], "f32") ||
                                               !strcmp(argv[i + 1], "q8_0"))) {
            f16 = !strcmp(argv[i + 1], "f16");
            q8 = !strcmp(argv[i + 1], "q8_0");
        }
        else {
            fprintf(stderr,
                    "bench_llm_attn: unknown option %s (--ctx LIST, --threads N, --reps N, --kv f32|f16|q8_0, "
                    "--cold MiB, --same-layer 0|1)\n",
                    argv[i]);
            return 2;
        }
    }
    if (threads < 1 || reps < 1 || cold < 0 || cold > 65536 || (same != 0 && same != 1) ||
        cl_backend_cpu_new((int)threads, 1, &be) != CL_OK) {
        fprintf(stderr, "bench_llm_attn: bad --threads/--reps/--cold/--same-layer or no CPU backend\n");
        return 2;
    }
    if (cold && !(evict = malloc((size_t)cold << 20))) return 1;
    if (evict) memset(evict, 1, (size_t)cold << 20);
    printf("attention, %d heads / %d KV heads, head_dim %d, %d layers, %ld threads, best of %ld, %s cache%s%s\n", NH,
           NKV, HD, NL, threads, reps, q8 ? "q8_0" : f16 ? "f16" : "f32", cold ? ", cold" : "",
           same ? ", every layer reading layer 0's cache" : "");
    printf("%8s %12s %14s %10s\n", "context", "ms/token", "KV MiB/token", "GB/s");
    while (*ctxs) {
        char *end;
        long ctx = strtol(ctxs, &end, 10);
        size_t kvn = (size_t)ctx * NKV * HD, k;
        float *kv, q[NH * HD], out[NH * HD];
        uint16_t *kvh = NULL;
        uint8_t *kvq = NULL;
        double esz = q8 ? CL_KV_Q8_BLOCK / 32.0 : f16 ? 2 : 4; /* bytes per value */
        double best = 1e30;
        long r;
        int l;
        if (end == ctxs || ctx < 1) break;
        ctxs = *end == ',' ? end + 1 : end;
        if (!(kv = malloc(kvn * 2 * NL * sizeof *kv))) return 1;
        for (k = 0; k < kvn * 2 * NL; k++) kv[k] = (float)((k * 2654435761u) % 2001) / 1000.0f - 1.0f;
        for (k = 0; k < NH * HD; k++) q[k] = (float)((k * 40503u) % 201) / 100.0f - 1.0f;
        if (f16) {
            if (!(kvh = malloc(kvn * 2 * NL * sizeof *kvh))) return 1;
            for (k = 0; k < kvn * 2 * NL; k++) kvh[k] = cl_f32_to_fp16(kv[k]);
        }
        if (q8) {
            if (!(kvq = malloc(kvn * 2 * NL / 32 * CL_KV_Q8_BLOCK))) return 1;
            cl_kv_store_q8(kvq, kv, kvn * 2 * NL, cl_act_quantize_select(1));
        }
        for (r = 0; r < reps; r++) {
            double t0, t;
            size_t e;
            for (e = 0; evict && e < ((size_t)cold << 20); e += 64) sink += evict[e];
            t0 = now();
            for (l = 0; l < NL; l++) {
                const int c = same ? 0 : l; /* the cache read */
                cl_attn_args a = {q, kv + kvn * 2 * c, kv + kvn * (2 * c + 1), out, 1, (uint32_t)ctx - 1,
                                  NH, NKV, HD, 0.125f, f16, q8};
                if (f16) a.kcache = kvh + kvn * 2 * c, a.vcache = kvh + kvn * (2 * c + 1);
                if (q8)
                    a.kcache = kvq + kvn / 32 * CL_KV_Q8_BLOCK * 2 * c,
                    a.vcache = kvq + kvn / 32 * CL_KV_Q8_BLOCK * (2 * c + 1);
                if (cl_be_attention(&be, &a) != CL_OK) return 1;
            }
            t = now() - t0;
            if (t < best) best = t;
        }
        printf("%8ld %12.3f %14.2f %10.2f\n", ctx, best * 1e3, kvn * 2.0 * NL * esz / 1048576.0,
               kvn * 2.0 * NL * esz / best / 1e9);
        free(kv);
        free(kvh);
        free(kvq);
    }
    cl_backend_free(&be);
    free(evict);
    (void)sink;
    return 0;
}
