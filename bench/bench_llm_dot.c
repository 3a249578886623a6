/* bench_llm_dot.c — one thread's matrix-vector throughput (GB/s of weights
 * read) of llm/'s dot-product kernels for each quantised type, measured in
 * the same run: the float path (weights times a float vector, what decode
 * used before the integer path) against the integer path (the input
 * quantised once per pass, then cl_qdot_rows_select's row loop over the
 * whole matrix as decode does, prefetches included), the
 * integer path with the AVX2 kernels and with the AVX-512 ones (simd512.c;
 * the same as AVX2 where the processor lacks them). Two sizes: 128 KiB of rows (stays in L2: the compute
 * ceiling) and 256 MiB (streams from memory). Best of N interleaved
 * rounds, so that other processes on a shared machine disturb it less.
 *
 * Usage: bench_llm_dot [rounds = 9] [cpu]
 * "cpu" times by the thread's CPU time instead of wall time (on a shared,
 * loaded machine this leaves out the time the thread was not running).
 * Decode is memory-bound when the in-L2 rate times the threads clearly
 * exceeds the copy bandwidth (`cairn model bench` measures that). */
#include "llm_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static clockid_t clk = CLOCK_MONOTONIC;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    static const int types[] = {CL_TYPE_Q8_0, CL_TYPE_Q4_0, CL_TYPE_Q4_K, CL_TYPE_Q6_K};
    static const char *mode_name[3] = {"float path", "int AVX2", "int AVX-512"};
    int rounds = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 9, t;
    size_t big = (size_t)256 << 20, small = (size_t)128 << 10;
    uint8_t *w = malloc(big);
    float *y = malloc(big / 128 * sizeof(float)); /* one result per row: every row is over 128 bytes */
    static float x[4864];
    static uint8_t xq[32768];
    volatile float sink = 0;
    size_t i;
    if (rounds < 1) rounds = 1;
    if (argc > 2 && !strcmp(argv[2], "cpu")) clk = CLOCK_THREAD_CPUTIME_ID;
    if (!w || !y) {
        fprintf(stderr, "bench_llm_dot: out of memory for %zu bytes\n", big);
        return 1;
    }
    for (i = 0; i < big; i++) w[i] = (uint8_t)((i * 2654435761u) >> 13); /* random quants and scales */
    for (i = 0; i < 4864; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    printf("one thread, best of %d rounds, %s time; AVX2 kernels: %s; AVX-512 kernels: %s\n", rounds,
           clk == CLOCK_MONOTONIC ? "wall" : "thread CPU", cl_simd_avx2() ? "yes" : "no",
           cl_simd_avx512() ? "yes" : "no");
    printf("%-5s %5s %-11s %14s %16s\n", "type", "K", "kernel", "in-L2 GB/s", "streaming GB/s");
    for (t = 0; t < 4; t++) {
        int type = types[t], m, r, sz;
        uint64_t K = type == CL_TYPE_Q8_0 || type == CL_TYPE_Q4_0 ? 896 : 4864; /* Qwen2.5-0.5B's row widths */
        size_t rb = 0, rows;
        double best[3][2] = {{0}};
        cl_dot_fn fdot = cl_dot_select(1);
        cl_qdot_rows_fn qrows[3] = {NULL, cl_qdot_rows_select(CL_SIMD_AVX2), cl_qdot_rows_select(CL_SIMD_BEST)};
        cl_act_quantize_fn actq = cl_act_quantize_select(1);
        size_t bb = cl_type_block_bytes(type), b;
        uint16_t h = cl_f32_to_fp16(0.01f);
        if (cl_type_row_bytes(type, K, &rb) != CL_OK || cl_act_bytes(type, K) > sizeof xq) return 1;
        for (b = 0; b + bb <= big; b += bb) { /* normal fp16 scales (random bytes give subnormals, NaN) */
            size_t at = type == CL_TYPE_Q6_K ? 208 : 0;
            w[b + at] = (uint8_t)h, w[b + at + 1] = (uint8_t)(h >> 8);
            if (type == CL_TYPE_Q4_K) w[b + 2] = (uint8_t)h, w[b + 3] = (uint8_t)(h >> 8);
        }
        for (r = 0; r < rounds; r++)
            for (m = 0; m < 3; m++)
                for (sz = 0; sz < 2; sz++) {
                    int reps = sz ? 1 : 400, rep;
                    double t0, g;
                    size_t k;
                    rows = (sz ? big : small) / rb;
                    t0 = now_s();
                    for (rep = 0; rep < reps; rep++) {
                        if (m) actq(type, x, K, xq);
                        if (m == 0)
                            for (k = 0; k < rows; k++) sink += fdot(type, w + k * rb, x, K);
                        else {
                            qrows[m](type, w, rb, xq, K, NULL, y, 0, rows);
                            sink += y[rows - 1];
                        }
                    }
                    g = (double)rows * rb * reps / (now_s() - t0) / 1e9;
                    if (g > best[m][sz]) best[m][sz] = g;
                }
        for (m = 0; m < 3; m++)
            printf("%-5s %5llu %-11s %14.2f %16.2f\n", cl_type_name(type), (unsigned long long)K, mode_name[m],
                   best[m][0], best[m][1]);
    }
    free(w);
    free(y);
    return 0;
}
