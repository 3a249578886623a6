/* gpu_bench.c — llm_gpu_bench, a program of llm/'s own build (no other
 * part of cairn needed, so it builds wherever CMake and nvcc do): writes a
 * make-tiny model of a given shape when asked, then runs cl_bench_gpu on it.
 *   llm_gpu_bench [--arch A --type T --embd N --layers N --heads N --kv-heads N
 *                  --ff N --n-vocab N --ctx N] [--prompt N] [--contexts 128,4096]
 *                 [--decode N] FILE
 * With --arch the model is written to FILE first (as `cairn model make-tiny`). */
#include "gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int type_of(const char *s)
{
    static const struct { const char *n; int t; } T[] = {
        {"f32", CL_TYPE_F32}, {"f16", CL_TYPE_F16}, {"q8_0", CL_TYPE_Q8_0},
        {"q4_0", CL_TYPE_Q4_0}, {"q4_k", CL_TYPE_Q4_K}, {"q6_k", CL_TYPE_Q6_K}};
    size_t i;
    for (i = 0; i < sizeof T / sizeof *T; i++)
        if (!strcmp(s, T[i].n)) return T[i].t;
    return -1;
}

static int num(const char *opt, const char *v, uint32_t *out)
{
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (end == v || *end || x > 100000000ul) {
        fprintf(stderr, "llm_gpu_bench: %s wants a number, not '%s'\n", opt, v);
        return 1;
    }
    *out = (uint32_t)x;
    return 0;
}

int main(int argc, char **argv)
{
    cl_tiny_opts o;
    uint32_t prompt = 512, decode = 64, ctx[16];
    size_t n_ctx = 0;
    const char *path = NULL, *contexts = "128,4096", *type = "q8_0";
    int i, rc = 0;
    memset(&o, 0, sizeof o);
    o.seed = 1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            path = a;
            continue;
        }
        if (!v) {
            fprintf(stderr, "llm_gpu_bench: %s wants a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--arch")) o.arch = v;
        else if (!strcmp(a, "--type")) type = v;
        else if (!strcmp(a, "--contexts")) contexts = v;
        else if (!strcmp(a, "--embd")) rc = num(a, v, &o.n_embd);
        else if (!strcmp(a, "--layers")) rc = num(a, v, &o.n_layer);
        else if (!strcmp(a, "--heads")) rc = num(a, v, &o.n_head);
        else if (!strcmp(a, "--kv-heads")) rc = num(a, v, &o.n_head_kv);
        else if (!strcmp(a, "--ff")) rc = num(a, v, &o.n_ff);
        else if (!strcmp(a, "--n-vocab")) rc = num(a, v, &o.n_vocab);
        else if (!strcmp(a, "--ctx")) rc = num(a, v, &o.n_ctx);
        else if (!strcmp(a, "--prompt")) rc = num(a, v, &prompt);
        else if (!strcmp(a, "--decode")) rc = num(a, v, &decode);
        else {
            fprintf(stderr, "llm_gpu_bench: unknown option %s\n", a);
            return 2;
        }
        if (rc) return 2;
    }
    if (!path) {
        fprintf(stderr, "usage: llm_gpu_bench [--arch A --type T --embd N ...] [--prompt N] [--contexts C,C] "
                        "[--decode N] FILE\n");
        return 2;
    }
    {
        const char *p = contexts;
        while (*p && n_ctx < 16) {
            char *end;
            unsigned long c = strtoul(p, &end, 10);
            if (end == p || !c) {
                fprintf(stderr, "llm_gpu_bench: --contexts wants sizes like 128,4096, not '%s'\n", contexts);
                return 2;
            }
            ctx[n_ctx++] = (uint32_t)c;
            p = *end == ',' ? end + 1 : end;
        }
    }
    { /* a device first: no point writing a large model without one */
        double gb;
        char dev[300];
        if (cl_gpu_copy_gbps((size_t)1 << 20, 1, &gb, dev, sizeof dev) != CL_OK) {
            fprintf(stderr, "llm_gpu_bench: %s\n", cl_errmsg());
            return 1;
        }
    }
    if (o.arch) {
        if ((o.type = type_of(type)) < 0) {
            fprintf(stderr, "llm_gpu_bench: --type must be f32, f16, q8_0, q4_0, q4_k or q6_k\n");
            return 2;
        }
        if (cl_make_tiny_opts(&o, path) != CL_OK) {
            fprintf(stderr, "llm_gpu_bench: %s\n", cl_errmsg());
            return 1;
        }
    }
    if (cl_bench_gpu(path, prompt, ctx, n_ctx, decode) != CL_OK) {
        fprintf(stderr, "llm_gpu_bench: %s\n", cl_errmsg());
        return 1;
    }
    return 0;
}
