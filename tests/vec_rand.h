/* vec_rand.h — seeded random numbers and random unit vectors for the
 * vector-index tests (test_vindex, test_vector_delta, test_vclone,
 * test_vector_walk). Define VEC_RAND_SEED before including to pick the
 * sequence; one copy per test program (everything is static). */
#ifndef CAIRN_TESTS_VEC_RAND_H
#define CAIRN_TESTS_VEC_RAND_H

#include <math.h>
#include <stdint.h>

#ifndef VEC_RAND_SEED
#define VEC_RAND_SEED 0x9E3779B97F4A7C15ULL
#endif

static uint64_t rng = VEC_RAND_SEED;

/* uniform in [0, 1): xorshift64, 53 high bits */
static inline double urand(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* v[0..d) a random unit vector */
static inline void rand_unit(float *v, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++) { v[i] = (float)(urand() * 2 - 1); s += (double)v[i] * v[i]; }
    for (int i = 0; i < d; i++) v[i] = (float)(v[i] / sqrt(s));
}

#endif
