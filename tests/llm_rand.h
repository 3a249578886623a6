/* llm_rand.h — seeded random numbers and random weight rows for the llm
 * kernel tests (test_llm_simd, test_llm_qdot, test_llm_cuda). Define
 * LLM_RAND_SEED before including to pick the sequence; one copy per test
 * program (everything is static). */
#ifndef CAIRN_TESTS_LLM_RAND_H
#define CAIRN_TESTS_LLM_RAND_H

#include "llm_int.h"

#include <stdint.h>
#include <string.h>

#ifndef LLM_RAND_SEED
#define LLM_RAND_SEED 1
#endif

static uint64_t rng = LLM_RAND_SEED;
static inline uint32_t rnd(void) /* splitmix64, high bits */
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}
/* uniform in [-1, 1) */
static inline float uni(void) { return (float)rnd() / 4294967296.0f * 2.0f - 1.0f; }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

/* A random row of n values of `type` into buf: random bytes with sensible
 * (finite, small) block scales. */
static inline void random_row(int type, uint8_t *buf, int n)
{
    size_t bb = cl_type_block_bytes(type);
    int bs = cl_type_block_size(type), i, j;
    for (i = 0; i < n / bs; i++) {
        uint8_t *b = buf + (size_t)i * bb;
        for (j = 0; j < (int)bb; j++) b[j] = (uint8_t)rnd();
        switch (type) {
        case CL_TYPE_F32: { float v = uni(); memcpy(b, &v, 4); } break;
        case CL_TYPE_F16: put16(b, cl_f32_to_fp16(uni())); break;
        case CL_TYPE_Q8_0: case CL_TYPE_Q4_0: put16(b, cl_f32_to_fp16(0.01f + 0.05f * (uni() + 1))); break;
        case CL_TYPE_Q4_K: put16(b, cl_f32_to_fp16(0.002f * (uni() + 1.5f))); put16(b + 2, cl_f32_to_fp16(0.001f * (uni() + 1.5f))); break;
        case CL_TYPE_Q6_K: put16(b + 208, cl_f32_to_fp16(0.002f * (uni() + 1.5f))); break;
        }
    }
}

#endif
