/* simd.c — AVX2/FMA/F16C dot products of a quantised (or F32/F16) row with
 * a float vector, chosen at run time with __builtin_cpu_supports. The
 * functions carry __attribute__((target)), so the build needs no -mavx2;
 * on other processors (or with CAIRN_LLM_SIMD=0 in the environment) the
 * portable reference cl_dot_ref in quant.c is used. Each kernel computes
 * the same sum as the reference in another order (float rounding differs;
 * tests/test_llm_simd.c states the tolerance). Decode attention has
 * AVX-512 versions here too (attn_part_q8_avx512, attn_part_h_avx512:
 * the AVX2 kernels' bits, chosen when cl_simd_avx512); the integer
 * matrix-vector kernels' are in simd512.c. */
#include "llm_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define CL_HAVE_X86 1
#include <cpuid.h>
#include <immintrin.h>

#define TGT __attribute__((target("avx2,fma,f16c")))

TGT static inline float hsum8(__m256 v)
{
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}

TGT static inline float h2f(const uint8_t *p)
{
    return _cvtsh_ss(cl_ld16(p));
}

/* 8 signed bytes at q -> 8 floats */
TGT static inline __m256 i8x8(__m128i q) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)); }

TGT static float dot_f32(const uint8_t *b, const float *x, uint64_t n)
{
    const float *w = (const float *)(const void *)b; /* GGUF data is 32-byte aligned; loads are unaligned anyway */
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    uint64_t i = 0;
    float s;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) {
        float v;
        memcpy(&v, b + 4 * i, 4);
        s += v * x[i];
    }
    return s;
}

TGT static float dot_f16(const uint8_t *b, const float *x, uint64_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    uint64_t i = 0;
    float s;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(b + 2 * i))),
                             _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(b + 2 * i + 16))),
                             _mm256_loadu_ps(x + i + 8), a1);
    }
    s = hsum8(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += cl_fp16_to_f32(cl_ld16(b + 2 * i)) * x[i];
    return s;
}

TGT static float dot_q8_0(const uint8_t *b, const float *x, uint64_t n)
{
    __m256 acc = _mm256_setzero_ps();
    uint64_t i;
    for (i = 0; i < n; i += 32, b += 34) {
        const uint8_t *q = b + 2;
        __m256 s = _mm256_mul_ps(i8x8(_mm_loadl_epi64((const __m128i *)(const void *)q)), _mm256_loadu_ps(x + i));
        s = _mm256_fmadd_ps(i8x8(_mm_loadl_epi64((const __m128i *)(const void *)(q + 8))), _mm256_loadu_ps(x + i + 8), s);
        s = _mm256_fmadd_ps(i8x8(_mm_loadl_epi64((const __m128i *)(const void *)(q + 16))), _mm256_loadu_ps(x + i + 16), s);
        s = _mm256_fmadd_ps(i8x8(_mm_loadl_epi64((const __m128i *)(const void *)(q + 24))), _mm256_loadu_ps(x + i + 24), s);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b)), s, acc);
    }
    return hsum8(acc);
}

TGT static float dot_q4_0(const uint8_t *b, const float *x, uint64_t n)
{
    const __m128i m4 = _mm_set1_epi8(0x0f), e8 = _mm_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    uint64_t i;
    for (i = 0; i < n; i += 32, b += 18) {
        __m128i q = _mm_loadu_si128((const __m128i *)(const void *)(b + 2));
        __m128i lo = _mm_sub_epi8(_mm_and_si128(q, m4), e8);
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), e8);
        __m256 s = _mm256_mul_ps(i8x8(lo), _mm256_loadu_ps(x + i));
        s = _mm256_fmadd_ps(i8x8(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(x + i + 8), s);
        s = _mm256_fmadd_ps(i8x8(hi), _mm256_loadu_ps(x + i + 16), s);
        s = _mm256_fmadd_ps(i8x8(_mm_srli_si128(hi, 8)), _mm256_loadu_ps(x + i + 24), s);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b)), s, acc);
    }
    return hsum8(acc);
}

/* Four input rows x, x+ldx, x+2ldx, x+3ldx against one weight row, each
 * with exactly the operations (and order) of the one-row kernel above, so
 * the results are bit for bit those of four separate calls; the weight
 * blocks are loaded and converted once for the four. */
TGT static void dot4_q8_0(const uint8_t *b, const float *x, size_t ldx, uint64_t n, float *out)
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    uint64_t i;
    int r;
    for (i = 0; i < n; i += 32, b += 34) {
        const uint8_t *q = b + 2;
        __m256 q0 = i8x8(_mm_loadl_epi64((const __m128i *)(const void *)q));
        __m256 q1 = i8x8(_mm_loadl_epi64((const __m128i *)(const void *)(q + 8)));
        __m256 q2 = i8x8(_mm_loadl_epi64((const __m128i *)(const void *)(q + 16)));
        __m256 q3 = i8x8(_mm_loadl_epi64((const __m128i *)(const void *)(q + 24)));
        __m256 d = _mm256_set1_ps(h2f(b));
        for (r = 0; r < 4; r++) {
            const float *xr = x + (size_t)r * ldx + i;
            __m256 s = _mm256_mul_ps(q0, _mm256_loadu_ps(xr));
            s = _mm256_fmadd_ps(q1, _mm256_loadu_ps(xr + 8), s);
            s = _mm256_fmadd_ps(q2, _mm256_loadu_ps(xr + 16), s);
            s = _mm256_fmadd_ps(q3, _mm256_loadu_ps(xr + 24), s);
            acc[r] = _mm256_fmadd_ps(d, s, acc[r]);
        }
    }
    for (r = 0; r < 4; r++) out[r] = hsum8(acc[r]);
}

TGT static void dot4_q4_0(const uint8_t *b, const float *x, size_t ldx, uint64_t n, float *out)
{
    const __m128i m4 = _mm_set1_epi8(0x0f), e8 = _mm_set1_epi8(8);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    uint64_t i;
    int r;
    for (i = 0; i < n; i += 32, b += 18) {
        __m128i q = _mm_loadu_si128((const __m128i *)(const void *)(b + 2));
        __m128i lo = _mm_sub_epi8(_mm_and_si128(q, m4), e8);
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), e8);
        __m256 q0 = i8x8(lo), q1 = i8x8(_mm_srli_si128(lo, 8)), q2 = i8x8(hi), q3 = i8x8(_mm_srli_si128(hi, 8));
        __m256 d = _mm256_set1_ps(h2f(b));
        for (r = 0; r < 4; r++) {
            const float *xr = x + (size_t)r * ldx + i;
            __m256 s = _mm256_mul_ps(q0, _mm256_loadu_ps(xr));
            s = _mm256_fmadd_ps(q1, _mm256_loadu_ps(xr + 8), s);
            s = _mm256_fmadd_ps(q2, _mm256_loadu_ps(xr + 16), s);
            s = _mm256_fmadd_ps(q3, _mm256_loadu_ps(xr + 24), s);
            acc[r] = _mm256_fmadd_ps(d, s, acc[r]);
        }
    }
    for (r = 0; r < 4; r++) out[r] = hsum8(acc[r]);
}

static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* sum over 32 values of q (unsigned bytes in a 256-bit register) times x */
TGT static inline __m256 u8x32_dot(__m256i q, const float *x, __m256 *sx)
{
    __m128i a = _mm256_castsi256_si128(q), c = _mm256_extracti128_si256(q, 1);
    __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8), x2 = _mm256_loadu_ps(x + 16),
           x3 = _mm256_loadu_ps(x + 24);
    __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(a)), x0);
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(a, 8))), x1, s);
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c)), x2, s);
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(c, 8))), x3, s);
    *sx = _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
    return s;
}

TGT static float dot_q4_k(const uint8_t *b, const float *x, uint64_t n)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps();
    uint64_t i;
    for (i = 0; i < n; i += 256, b += 144) {
        float d = h2f(b), dmin = h2f(b + 2);
        const uint8_t *q = b + 16;
        int j;
        for (j = 0; j < 4; j++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(q + 32 * j));
            __m256 xs_lo, xs_hi, s_lo, s_hi;
            int sc, m;
            s_lo = u8x32_dot(_mm256_and_si256(v, m4), x + i + 64 * j, &xs_lo);
            s_hi = u8x32_dot(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), x + i + 64 * j + 32, &xs_hi);
            scale_min_k4(2 * j, b + 4, &sc, &m);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc), s_lo, acc);
            acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * (float)m), xs_lo, acc);
            scale_min_k4(2 * j + 1, b + 4, &sc, &m);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc), s_hi, acc);
            acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * (float)m), xs_hi, acc);
        }
    }
    return hsum8(acc);
}

TGT static float dot_q6_k(const uint8_t *b, const float *x, uint64_t n)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3), o32 = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    uint64_t i;
    for (i = 0; i < n; i += 256, b += 210) {
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        float d = h2f(b + 208);
        int h, k;
        for (h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(const void *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(const void *)(ql + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(const void *)qh), q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4));
            for (k = 0; k < 4; k++) {
                __m256i v = _mm256_sub_epi8(q[k], o32);
                __m128i a = _mm256_castsi256_si128(v), c = _mm256_extracti128_si256(v, 1);
                const float *xx = x + i + 128 * h + 32 * k;
                __m256 s0 = _mm256_mul_ps(i8x8(a), _mm256_loadu_ps(xx));
                __m256 s1 = _mm256_mul_ps(i8x8(c), _mm256_loadu_ps(xx + 16));
                s0 = _mm256_fmadd_ps(i8x8(_mm_srli_si128(a, 8)), _mm256_loadu_ps(xx + 8), s0);
                s1 = _mm256_fmadd_ps(i8x8(_mm_srli_si128(c, 8)), _mm256_loadu_ps(xx + 24), s1);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc[2 * k]), s0, acc);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc[2 * k + 1]), s1, acc);
            }
        }
    }
    return hsum8(acc);
}

/* u8x32_dot with the 32 quants already converted (q[0..3]) */
TGT static inline __m256 f32x32_dot(const __m256 *q, const float *x, __m256 *sx)
{
    __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8), x2 = _mm256_loadu_ps(x + 16),
           x3 = _mm256_loadu_ps(x + 24);
    __m256 s = _mm256_mul_ps(q[0], x0);
    s = _mm256_fmadd_ps(q[1], x1, s);
    s = _mm256_fmadd_ps(q[2], x2, s);
    s = _mm256_fmadd_ps(q[3], x3, s);
    *sx = _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
    return s;
}

TGT static inline void u8x32_to_f32(__m256i v, __m256 *q)
{
    __m128i a = _mm256_castsi256_si128(v), c = _mm256_extracti128_si256(v, 1);
    q[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(a));
    q[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(a, 8)));
    q[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c));
    q[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(c, 8)));
}

/* dot_q4_k for four input rows (same operations per row) */
TGT static void dot4_q4_k(const uint8_t *b, const float *x, size_t ldx, uint64_t n, float *out)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    uint64_t i;
    int r;
    for (i = 0; i < n; i += 256, b += 144) {
        float d = h2f(b), dmin = h2f(b + 2);
        const uint8_t *q = b + 16;
        int j;
        for (j = 0; j < 4; j++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(q + 32 * j));
            __m256 ql[4], qh[4], dl, ml, dh, mh;
            int sc, m;
            u8x32_to_f32(_mm256_and_si256(v, m4), ql);
            u8x32_to_f32(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), qh);
            scale_min_k4(2 * j, b + 4, &sc, &m);
            dl = _mm256_set1_ps(d * (float)sc);
            ml = _mm256_set1_ps(dmin * (float)m);
            scale_min_k4(2 * j + 1, b + 4, &sc, &m);
            dh = _mm256_set1_ps(d * (float)sc);
            mh = _mm256_set1_ps(dmin * (float)m);
            for (r = 0; r < 4; r++) {
                const float *xr = x + (size_t)r * ldx + i + 64 * j;
                __m256 xs_lo, xs_hi, s_lo = f32x32_dot(ql, xr, &xs_lo), s_hi = f32x32_dot(qh, xr + 32, &xs_hi);
                acc[r] = _mm256_fmadd_ps(dl, s_lo, acc[r]);
                acc[r] = _mm256_fnmadd_ps(ml, xs_lo, acc[r]);
                acc[r] = _mm256_fmadd_ps(dh, s_hi, acc[r]);
                acc[r] = _mm256_fnmadd_ps(mh, xs_hi, acc[r]);
            }
        }
    }
    for (r = 0; r < 4; r++) out[r] = hsum8(acc[r]);
}

/* dot_q6_k for four input rows (same operations per row) */
TGT static void dot4_q6_k(const uint8_t *b, const float *x, size_t ldx, uint64_t n, float *out)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3), o32 = _mm256_set1_epi8(32);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    uint64_t i;
    int r;
    for (i = 0; i < n; i += 256, b += 210) {
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        float d = h2f(b + 208);
        int h, k;
        for (h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(const void *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(const void *)(ql + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(const void *)qh), q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4));
            for (k = 0; k < 4; k++) {
                __m256i v = _mm256_sub_epi8(q[k], o32);
                __m128i a = _mm256_castsi256_si128(v), c = _mm256_extracti128_si256(v, 1);
                __m256 fa = i8x8(a), fa8 = i8x8(_mm_srli_si128(a, 8)), fc = i8x8(c), fc8 = i8x8(_mm_srli_si128(c, 8));
                __m256 d0 = _mm256_set1_ps(d * (float)sc[2 * k]), d1 = _mm256_set1_ps(d * (float)sc[2 * k + 1]);
                for (r = 0; r < 4; r++) {
                    const float *xx = x + (size_t)r * ldx + i + 128 * h + 32 * k;
                    __m256 s0 = _mm256_mul_ps(fa, _mm256_loadu_ps(xx));
                    __m256 s1 = _mm256_mul_ps(fc, _mm256_loadu_ps(xx + 16));
                    s0 = _mm256_fmadd_ps(fa8, _mm256_loadu_ps(xx + 8), s0);
                    s1 = _mm256_fmadd_ps(fc8, _mm256_loadu_ps(xx + 24), s1);
                    acc[r] = _mm256_fmadd_ps(d0, s0, acc[r]);
                    acc[r] = _mm256_fmadd_ps(d1, s1, acc[r]);
                }
            }
        }
    }
    for (r = 0; r < 4; r++) out[r] = hsum8(acc[r]);
}

/* ---------------------------------------------- integer path (see qdot.c) */

TGT static inline __m256i ld256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

TGT static inline float h2f_ld(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2); /* x86 is little-endian */
    return _cvtsh_ss(h);
}

TGT static inline int32_t hsum_i32(__m256i v)
{
    __m128i a = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    a = _mm_add_epi32(a, _mm_unpackhi_epi64(a, a));
    a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 1));
    return _mm_cvtsi128_si32(a);
}

/* Lane l (of 8): sum of w[j] * y[j] over j = 4l..4l+3, as floats (exact).
 * |w| <= 128 and |y| <= 127: |w| is taken unsigned and its sign moved to
 * y, and no 16-bit pair sum can saturate (2 * 128 * 127 < 32768). */
TGT static inline __m256 dot32_i8(__m256i w, __m256i y)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

/* Block k goes to accumulator k % 4 (qdot.c's order); dd is its scale
 * product (fp16 weight scale x input scale, one float rounding). */
#define B32_STEP(A, DD, J)                                                                                          \
    A = _mm256_fmadd_ps(DD, dot32_i8(ld256(b + 34 * (J) + 2), ld256(y->qs[J])), A)

TGT static inline __attribute__((always_inline)) float qdot_q8_0(const uint8_t *b, const void *xq, uint64_t n, int pf)
{
    const cl_act_q8x4 *y = xq;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    const __m256i i1 = _mm256_set1_epi32(1), i2 = _mm256_set1_epi32(2), i3 = _mm256_set1_epi32(3);
    uint64_t nb = n / 32, k = 0;
    CL_PF_DECL(b);
    for (; k + 4 <= nb; k += 4, b += 136, y++) { /* the four weight scales converted together */
        int32_t w;
        __m128i h;
        __m256 d4;
        CL_PF_STEP(pf, b, 136);
        memcpy(&w, b, 4);
        h = _mm_insert_epi16(_mm_cvtsi32_si128(w), cl_ld16(b + 34), 1);
        h = _mm_insert_epi16(_mm_insert_epi16(h, cl_ld16(b + 68), 2), cl_ld16(b + 102), 3);
        d4 = _mm256_castps128_ps256(_mm_mul_ps(_mm_cvtph_ps(h), _mm_loadu_ps(y->d)));
        B32_STEP(a0, _mm256_broadcastss_ps(_mm256_castps256_ps128(d4)), 0);
        B32_STEP(a1, _mm256_permutevar8x32_ps(d4, i1), 1);
        B32_STEP(a2, _mm256_permutevar8x32_ps(d4, i2), 2);
        B32_STEP(a3, _mm256_permutevar8x32_ps(d4, i3), 3);
    }
    if (k < nb) B32_STEP(a0, _mm256_set1_ps(h2f_ld(b) * y->d[0]), 0);
    if (k + 1 < nb) B32_STEP(a1, _mm256_set1_ps(h2f_ld(b + 34) * y->d[1]), 1);
    if (k + 2 < nb) B32_STEP(a2, _mm256_set1_ps(h2f_ld(b + 68) * y->d[2]), 2);
    return hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}
#undef B32_STEP

/* Two Q4_0 blocks (v: their 16 quant bytes each, block 0 in the low half;
 * hw: their fp16 scales) against a cl_act_q8x2 pair: the nibbles taken
 * unsigned by maddubs, the offset of 8 subtracted in 16-bit lanes
 * (|lo + hi - s8| <= 2 * 3810 + 4064, no saturation), lane 4h + l the
 * integer sum of quants 4l..4l+3 and 16+4l..16+4l+3 of block h; qdot.c's
 * dot_q4_0 in the same order. */
TGT static inline __m256 q4_pair(__m256i v, __m128i hw, const cl_act_q8x2 *y, __m256 acc)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m128i bc = _mm_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3); /* [d0 x 4, d1 x 4] */
    __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, ld256(y->lo)), _mm256_maddubs_epi16(hi, ld256(y->hi)));
    __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_sub_epi16(p, ld256(y->s8)), _mm256_set1_epi16(1)));
    __m256 dd = _mm256_mul_ps(_mm256_cvtph_ps(_mm_shuffle_epi8(hw, bc)), _mm256_loadu_ps(y->d));
    return _mm256_fmadd_ps(dd, s, acc);
}

/* the fp16 scales of the blocks at b and b + 18 in 16-bit lanes 0 and 1
 * (lane 1 zero for one block: b2 NULL) */
TGT static inline __m128i q4_scales(const uint8_t *b, const uint8_t *b2)
{
    int32_t w;
    memcpy(&w, b, 4); /* the scale and the first quant byte; lane 1 is replaced */
    return _mm_insert_epi16(_mm_cvtsi32_si128(w), b2 ? cl_ld16(b2) : 0, 1);
}

/* Pair p goes to accumulator p % 2. */
TGT static inline __attribute__((always_inline)) float qdot_q4_0(const uint8_t *b, const void *xq, uint64_t n, int pf)
{
    const cl_act_q8x2 *y = xq;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    uint64_t nb = n / 32, k = 0;
    CL_PF_DECL(b);
    for (; k + 4 <= nb; k += 4, b += 72, y += 2) {
        CL_PF_STEP(pf, b, 72);
        a0 = q4_pair(_mm256_loadu2_m128i((const __m128i *)(const void *)(b + 20), (const __m128i *)(const void *)(b + 2)),
                     q4_scales(b, b + 18), y, a0);
        a1 = q4_pair(_mm256_loadu2_m128i((const __m128i *)(const void *)(b + 56), (const __m128i *)(const void *)(b + 38)),
                     q4_scales(b + 36, b + 54), y + 1, a1);
    }
    if (k + 2 <= nb) {
        a0 = q4_pair(_mm256_loadu2_m128i((const __m128i *)(const void *)(b + 20), (const __m128i *)(const void *)(b + 2)),
                     q4_scales(b, b + 18), y, a0);
        k += 2, b += 36, y++;
        if (k < nb) /* the odd last block: its pair's block 1 is zero (and so is its scale) */
            a1 = q4_pair(_mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(b + 2))), q4_scales(b, NULL), y, a1);
    } else if (k < nb) {
        a0 = q4_pair(_mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(b + 2))), q4_scales(b, NULL), y, a0);
    }
    return hsum8(_mm256_add_ps(a0, a1));
}

/* The eight 6-bit scales widened to 16 bits once per super-block, the
 * scale of each 32-value sub-block picked into all lanes by one byte
 * shuffle; two integer accumulators (integer sums are exact in any order). */
TGT static inline __attribute__((always_inline)) float qdot_q4_k(const uint8_t *b, const cl_act_q8k *y, uint64_t n, int pf)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    float acc = 0.0f, accm = 0.0f;
    uint64_t i;
    CL_PF_DECL(b);
    for (i = 0; i < n; i += 256, b += 144, y++) {
        const uint8_t *q = b + 16;
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256(), sc;
        __m128i mins, pairs, mm;
        uint32_t u[4];
        uint8_t sm[16];
        int j;
        CL_PF_STEP(pf, b, 144);
        cl_q4k_scmins(b + 4, u);
        memcpy(sm, u, 16);
        sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)sm)));
        /* sum_j min_j * (bsums[2j] + bsums[2j+1]): pairs fit int16 (|sum| <= 32 * 127) */
        mins = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(sm + 8)));
        pairs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y->bsums), _mm_loadu_si128((const __m128i *)(y->bsums + 8)));
        mm = _mm_madd_epi16(mins, pairs);
        mm = _mm_add_epi32(mm, _mm_shuffle_epi32(mm, 0x4e));
        mm = _mm_add_epi32(mm, _mm_shuffle_epi32(mm, 0xb1));
        for (j = 0; j < 4; j++) {
            __m256i v = ld256(q + 32 * j);
            __m256i plo = _mm256_maddubs_epi16(_mm256_and_si256(v, m4), ld256(y->qs + 64 * j));
            __m256i phi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), ld256(y->qs + 64 * j + 32));
            /* 16-bit lane 2j (bytes 4j, 4j+1) and lane 2j+1 of sc in every lane */
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(plo, _mm256_shuffle_epi8(sc, _mm256_set1_epi16((short)(0x0100 + 0x0101 * 4 * j)))));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(phi, _mm256_shuffle_epi8(sc, _mm256_set1_epi16((short)(0x0100 + 0x0101 * (4 * j + 2))))));
        }
        acc = fmaf(h2f_ld(b) * y->d, (float)hsum_i32(_mm256_add_epi32(s0, s1)), acc);
        accm = fmaf(h2f_ld(b + 2) * y->d, (float)_mm_cvtsi128_si32(mm), accm);
    }
    return acc - accm;
}

/* Q6_K: the quants unsigned (0..63), the -32 taken once per super-block
 * as 32 * sum(scale * bsums) (cl_q6k_offs, here in one madd); the 16
 * scales are widened once and each pair [sc(2k) x 8 | sc(2k+1) x 8] is
 * picked with one byte shuffle. All integer sums are exact, so the result
 * is qdot.c's bit for bit. */
TGT static inline __attribute__((always_inline)) float qdot_q6_k(const uint8_t *b, const cl_act_q8k *y, uint64_t n, int pf)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    const __m256i pick[4] = {
        _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3),
        _mm256_setr_epi8(4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7),
        _mm256_setr_epi8(8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11,
                         10, 11, 10, 11),
        _mm256_setr_epi8(12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15,
                         14, 15, 14, 15, 14, 15, 14, 15)};
    float acc = 0.0f;
    uint64_t i;
    CL_PF_DECL(b);
    for (i = 0; i < n; i += 256, b += 210, y++) {
        const uint8_t *ql = b, *qh = b + 128;
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(b + 192)));
        /* -32 * sum_g sc[g] * bsums[g] */
        __m256i s0 = _mm256_slli_epi32(_mm256_madd_epi16(sc16, ld256(y->bsums)), 5), s1 = _mm256_setzero_si256();
        int h;
        CL_PF_STEP(pf, b, 210);
        s0 = _mm256_sub_epi32(_mm256_setzero_si256(), s0);
        for (h = 0; h < 2; h++, ql += 64, qh += 32) {
            const int8_t *yq = y->qs + 128 * h;
            __m256i l0 = ld256(ql), l1 = ld256(ql + 32), hb = ld256(qh);
            __m256i sc = h ? _mm256_permute2x128_si256(sc16, sc16, 0x11) : _mm256_permute2x128_si256(sc16, sc16, 0x00); /* this half's 8 scales, twice */
            __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30));
            __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30));
            __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hb, m30));
            __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                         _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_maddubs_epi16(q0, ld256(yq)), _mm256_shuffle_epi8(sc, pick[0])));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_maddubs_epi16(q1, ld256(yq + 32)),
                                                        _mm256_shuffle_epi8(sc, pick[1])));
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_maddubs_epi16(q2, ld256(yq + 64)),
                                                        _mm256_shuffle_epi8(sc, pick[2])));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_maddubs_epi16(q3, ld256(yq + 96)),
                                                        _mm256_shuffle_epi8(sc, pick[3])));
        }
        acc = fmaf(h2f_ld(b + 208) * y->d, (float)hsum_i32(_mm256_add_epi32(s0, s1)), acc);
    }
    return acc;
}

/* qdot.c's quant_block on n (a multiple of 32) values, the same bytes:
 * the same max (NaN skipped), scale and product, round to nearest even. */
TGT static float quant_block_avx2(const float *x, int n, int8_t *q)
{
    const __m256 sign = _mm256_set1_ps(-0.0f), hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256 mx = _mm256_setzero_ps(), vid;
    __m128 m4;
    float amax, d, id;
    int j, k;
    for (j = 0; j < n; j += 8) mx = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), mx);
    m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    amax = _mm_cvtss_f32(m4);
    d = amax / 127.0f;
    id = amax > 0.0f ? 127.0f / amax : 0.0f;
    vid = _mm256_set1_ps(id);
    for (j = 0; j < n; j += 32) {
        __m256i v[4];
        for (k = 0; k < 4; k++) {
            __m256 f = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * k), vid),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            f = _mm256_and_ps(f, _mm256_cmp_ps(f, f, _CMP_ORD_Q)); /* NaN -> 0 */
            v[k] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(f, lo), hi));
        }
        v[0] = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
        _mm256_storeu_si256((__m256i *)(void *)(q + j), _mm256_permutevar8x32_epi32(v[0], perm));
    }
    return d;
}

static void simd_act_quantize(int wtype, const float *x, uint64_t n, void *out)
{
    uint64_t i;
    if (wtype == CL_TYPE_Q8_0) {
        cl_act_q8x4 *y = out;
        for (i = 0; i < n; i += 32) {
            if (i % 128 == 0) memset(y + i / 128, 0, sizeof *y);
            y[i / 128].d[i / 32 % 4] = quant_block_avx2(x + i, 32, y[i / 128].qs[i / 32 % 4]);
        }
    } else if (wtype == CL_TYPE_Q4_0) {
        cl_act_q8x2 *y = out;
        int8_t q[32];
        for (i = 0; i < n; i += 32) {
            float d = quant_block_avx2(x + i, 32, q);
            if (i % 64 == 0) memset(y + i / 64, 0, sizeof *y);
            cl_act_q4_put(y + i / 64, (int)(i / 32 % 2), q, d);
        }
    } else {
        cl_act_q8k *y = out;
        for (i = 0; i < n; i += 256, y++) {
            y->d = quant_block_avx2(x + i, 256, y->qs);
            cl_act_bsums(y);
        }
    }
}

/* ---- decode attention (attn.c's cl_attn_part_ref, vectorised) ---- */

/* e^x for x <= 0 (Cephes' polynomial, relative error ~2e-7; below -87.3
 * the result is flushed to 0, as expf's underflow gives 0 or a denormal).
 * Its constants, shared with exp512_neg (which must give the same bits): */
#define EXP_LO -87.3f
#define EXP_LOG2E 1.44269504088896341f
#define EXP_LN2_HI 0.693359375f
#define EXP_LN2_LO -2.12194440e-4f
#define EXP_P0 1.9875691500e-4f
#define EXP_P1 1.3981999507e-3f
#define EXP_P2 8.3334519073e-3f
#define EXP_P3 4.1665795894e-2f
#define EXP_P4 1.6666665459e-1f
#define EXP_P5 5.0000001201e-1f
TGT static inline __m256 exp256_neg(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(EXP_LO);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ), fx, y, z;
    __m256i e;
    x = _mm256_max_ps(x, lo);
    fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(EXP_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(EXP_LN2_HI), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(EXP_LN2_LO), x);
    z = _mm256_mul_ps(x, x);
    y = _mm256_fmadd_ps(_mm256_set1_ps(EXP_P0), x, _mm256_set1_ps(EXP_P1));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(EXP_P2));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(EXP_P3));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(EXP_P4));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(EXP_P5));
    y = _mm256_fmadd_ps(y, z, _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(under, y);
}

/* the eight sums of a0..a7, in that order */
TGT static inline __m256 hsum8x8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6,
                                 __m256 a7)
{
    __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* Bytes ahead at which attention asks for the cache rows of a stream of
 * rows rb bytes apart: about CL_ROW_PREFETCH, at least one row */
static inline uintptr_t rows_ahead(size_t rb) { return rb * (rb < CL_ROW_PREFETCH ? CL_ROW_PREFETCH / rb : 1); }

/* Asks for every line of [p, p + len) into L2 (a prefetch never faults) */
static inline void prefetch_span(uintptr_t p, size_t len)
{
    uintptr_t o;
    for (o = p & ~(uintptr_t)63; o < p + len; o += 64) __builtin_prefetch((const void *)o, 0, 2);
}

/* Widens rows [t, t + n) of a half cache (row i at c + i * ld) into
 * blk[(i - t) * hd ..] (floats, L1-resident); rows n .. rows-1 of the block
 * repeat row t (the padding of a last, short block of scores). Before each
 * row it asks for the same head's row about CL_ROW_PREFETCH bytes further
 * on (into L2; at least one row on; a prefetch past the cache never
 * faults): attention at ctx 4096 1.27-1.46x in bench_llm_attn, decode
 * 1.02-1.05x (docs/benchmarks.md). */
TGT static inline __attribute__((always_inline)) void widen_rows(const uint16_t *c, size_t ld, uint32_t t, uint32_t n, uint32_t rows, uint32_t hd,
                                  float *blk)
{
    const uint16_t *const r0 = c + (size_t)t * ld, *ri = r0;
    const uintptr_t ahead = rows_ahead(2 * ld);
    uint32_t i, d;
    for (i = 0; i < rows; i++, ri += ld) { /* a running row pointer: no multiply per row */
        const uint16_t *r = i < n ? ri : r0;
        float *b = blk + (size_t)i * hd;
        prefetch_span((uintptr_t)ri + ahead, 2 * hd);
        for (d = 0; d + 32 <= hd; d += 32) {
            __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + d))),
                   w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + d + 8))),
                   w2 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + d + 16))),
                   w3 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + d + 24)));
            _mm256_store_ps(b + d, w0);
            _mm256_store_ps(b + d + 8, w1);
            _mm256_store_ps(b + d + 16, w2);
            _mm256_store_ps(b + d + 24, w3);
        }
        for (; d < hd; d += 8) _mm256_store_ps(b + d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + d))));
    }
}

/* Rows [t, t + n) of a Q8_0 cache (row i at c + i * ld bytes, hd / 32
 * blocks) widened into blk[(i - t) * hd ..]: value = d * q, one float
 * rounding, as the portable path computes it (the half scale broadcast and
 * converted by F16C: the same float as converting it alone). */
TGT static inline __attribute__((always_inline)) void widen_rows_q8(const uint8_t *c, size_t ld, uint32_t t, uint32_t n,
                                                                    uint32_t hd, float *blk)
{
    const uint8_t *r = c + (size_t)t * ld;
    uint32_t i, b;
    for (i = 0; i < n; i++, r += ld) {
        const uint8_t *rb = r;
        float *o = blk + (size_t)i * hd;
        for (b = 0; b < hd / 32; b++, rb += CL_KV_Q8_BLOCK, o += 32) {
            __m256 d = _mm256_cvtph_ps(_mm_set1_epi16((short)cl_ld16(rb)));
            _mm256_store_ps(o, _mm256_mul_ps(i8x8(_mm_loadl_epi64((const __m128i *)(const void *)(rb + 2))), d));
            _mm256_store_ps(o + 8, _mm256_mul_ps(i8x8(_mm_loadl_epi64((const __m128i *)(const void *)(rb + 10))), d));
            _mm256_store_ps(o + 16, _mm256_mul_ps(i8x8(_mm_loadl_epi64((const __m128i *)(const void *)(rb + 18))), d));
            _mm256_store_ps(o + 24, _mm256_mul_ps(i8x8(_mm_loadl_epi64((const __m128i *)(const void *)(rb + 26))), d));
        }
    }
}

/* the eight integer sums of a0..a7, in that order (exact) */
TGT static inline __m256i hsum8x8_i32(__m256i a0, __m256i a1, __m256i a2, __m256i a3, __m256i a4, __m256i a5,
                                      __m256i a6, __m256i a7)
{
    __m256i u0 = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
    __m256i u1 = _mm256_hadd_epi32(_mm256_hadd_epi32(a4, a5), _mm256_hadd_epi32(a6, a7));
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* 8 int32 lanes whose sum is the dot product of 32 int8 k and y, given
 * ya = |y| (|y|, |k| <= 127: no 16-bit pair sum saturates); y's sign moves
 * to k, so one sign per row rather than two */
TGT static inline __m256i dot32_i8_i32(__m256i k, __m256i y, __m256i ya)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ya, _mm256_sign_epi8(k, y)), _mm256_set1_epi16(1));
}

/* Block b of the scores of 8 rows of a Q8_0 cache (kr[i]: row i's first
 * block of the head) against ng query heads (head g's block b: quants
 * qp[g * nbk], scale dq[g * nbk]): per head the 8 exact integer dot
 * products, then acc[g] = fma(dk * dq, isum, acc[g]) per row (acc[g]
 * starts at 0), so that over the blocks in order each row's score takes
 * the portable path's operations. The 8 rows' quants stay in registers
 * for all the heads (loaded once per block rather than once per head). */
TGT static inline __attribute__((always_inline)) void q8_scores8_heads(const uint8_t *const *kr, uint32_t b,
                                                                      const int8_t *const *qp, const float *dq,
                                                                      uint32_t nbk, uint32_t ng, __m256 *acc)
{
    const uint32_t o = b * CL_KV_Q8_BLOCK;
    const __m256i k0 = ld256(kr[0] + o + 2), k1 = ld256(kr[1] + o + 2), k2 = ld256(kr[2] + o + 2),
                  k3 = ld256(kr[3] + o + 2), k4 = ld256(kr[4] + o + 2), k5 = ld256(kr[5] + o + 2),
                  k6 = ld256(kr[6] + o + 2), k7 = ld256(kr[7] + o + 2);
    const __m256 dk = _mm256_cvtph_ps(_mm_setr_epi16((short)cl_ld16(kr[0] + o), (short)cl_ld16(kr[1] + o),
                                                     (short)cl_ld16(kr[2] + o), (short)cl_ld16(kr[3] + o),
                                                     (short)cl_ld16(kr[4] + o), (short)cl_ld16(kr[5] + o),
                                                     (short)cl_ld16(kr[6] + o), (short)cl_ld16(kr[7] + o)));
    uint32_t g;
    for (g = 0; g < ng; g++) {
        __m256i qv = ld256(qp[g * nbk]), qa = _mm256_abs_epi8(qv);
        __m256i isum = hsum8x8_i32(dot32_i8_i32(k0, qv, qa), dot32_i8_i32(k1, qv, qa), dot32_i8_i32(k2, qv, qa),
                                   dot32_i8_i32(k3, qv, qa), dot32_i8_i32(k4, qv, qa), dot32_i8_i32(k5, qv, qa),
                                   dot32_i8_i32(k6, qv, qa), dot32_i8_i32(k7, qv, qa));
        acc[g] = _mm256_fmadd_ps(_mm256_mul_ps(dk, _mm256_set1_ps(dq[g * nbk])), _mm256_cvtepi32_ps(isum), acc[g]);
    }
}

#define CL_ATTN_HD_MAX 256 /* larger heads take the portable path */

/* The maximum of sg[0 .. nt): 8 lanes over the whole blocks of 8 (four
 * chains over the blocks of 32, so that max's latency does not bound the
 * loop; a maximum of numbers is exact in any order: attention 1.01-1.06x
 * in bench_llm_attn), those lanes in order, then the rest in order
 * (softmax_part and softmax_part512 both take it so, for the same bits) */
TGT static inline float head_max(const float *sg, uint32_t nt)
{
    __m256 vm = _mm256_set1_ps(-INFINITY), v1 = vm, v2 = vm, v3 = vm;
    float mx = -INFINITY, tmp[8];
    uint32_t t, i;
    for (t = 0; t + 32 <= nt; t += 32) {
        vm = _mm256_max_ps(vm, _mm256_loadu_ps(sg + t));
        v1 = _mm256_max_ps(v1, _mm256_loadu_ps(sg + t + 8));
        v2 = _mm256_max_ps(v2, _mm256_loadu_ps(sg + t + 16));
        v3 = _mm256_max_ps(v3, _mm256_loadu_ps(sg + t + 24));
    }
    vm = _mm256_max_ps(_mm256_max_ps(vm, v1), _mm256_max_ps(v2, v3));
    for (; t + 8 <= nt; t += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(sg + t));
    _mm256_storeu_ps(tmp, vm);
    for (i = 0; i < 8; i++)
        if (tmp[i] > mx) mx = tmp[i];
    for (; t < nt; t++)
        if (sg[t] > mx) mx = sg[t];
    return mx;
}

/* Softmax numerators of each head's scores s[g * nt ..] in place, and the
 * head's record in part: the maximum, the sum, and its o[hd] zeroed. */
TGT static inline __attribute__((always_inline)) void softmax_part(float *s, uint32_t ng, uint32_t hd, uint32_t nt,
                                                                   float *part)
{
    uint32_t g, t, i;
    for (g = 0; g < ng; g++) { /* softmax numerators, max and sum */
        float *sg = s + (size_t)g * nt, mx = head_max(sg, nt), l = 0.0f, tmp[8];
        __m256 vm = _mm256_set1_ps(mx), vl = _mm256_setzero_ps();
        for (t = 0; t + 8 <= nt; t += 8) {
            __m256 e = exp256_neg(_mm256_sub_ps(_mm256_loadu_ps(sg + t), vm));
            _mm256_storeu_ps(sg + t, e);
            vl = _mm256_add_ps(vl, e);
        }
        if (t < nt) {
            for (i = 0; i < 8; i++) tmp[i] = t + i < nt ? sg[t + i] - mx : -INFINITY;
            _mm256_storeu_ps(tmp, exp256_neg(_mm256_loadu_ps(tmp)));
            for (i = 0; t + i < nt; i++) sg[t + i] = tmp[i];
            vl = _mm256_add_ps(vl, _mm256_loadu_ps(tmp)); /* the padding gave 0 */
        }
        l = hsum8(vl);
        part[(size_t)g * (hd + 2)] = mx;
        part[(size_t)g * (hd + 2) + 1] = l;
        memset(part + (size_t)g * (hd + 2) + 2, 0, hd * sizeof(float));
    }
}

/* The scores of rows [0, nt) of a float cache (blk NULL) or a half cache
 * (each block of 8 rows widened into blk first) against ng query heads,
 * times scale, into s[g * nt + t]: 8 rows per pass, each row's products
 * summed in 8 lanes, then the lanes. */
TGT static inline __attribute__((always_inline)) void scores_float(const float *q, uint32_t ng, uint32_t hd,
                                                                   const void *k, size_t ld, uint32_t nt, float scale,
                                                                   float *s, float *blk)
{
    const __m256 vs = _mm256_set1_ps(scale);
    uint32_t g, t, i, d;
    for (t = 0; t < nt; t += 8) {
        uint32_t n8 = nt - t < 8 ? nt - t : 8;
        const float *kr[8]; /* the 8 rows (a short block repeats row t) */
        if (blk) widen_rows(k, ld, t, n8, 8, hd, blk);
        for (i = 0; i < 8; i++)
            kr[i] = blk ? blk + (size_t)i * hd : (const float *)k + (size_t)(t + (i < n8 ? i : 0)) * ld;
        for (g = 0; g < ng; g++) {
            const float *qg = q + (size_t)g * hd;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, r;
            float tmp[8];
            for (d = 0; d < hd; d += 8) {
                __m256 qv = _mm256_loadu_ps(qg + d);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(kr[0] + d), qv, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(kr[1] + d), qv, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(kr[2] + d), qv, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(kr[3] + d), qv, a3);
                a4 = _mm256_fmadd_ps(_mm256_loadu_ps(kr[4] + d), qv, a4);
                a5 = _mm256_fmadd_ps(_mm256_loadu_ps(kr[5] + d), qv, a5);
                a6 = _mm256_fmadd_ps(_mm256_loadu_ps(kr[6] + d), qv, a6);
                a7 = _mm256_fmadd_ps(_mm256_loadu_ps(kr[7] + d), qv, a7);
            }
            r = _mm256_mul_ps(hsum8x8(a0, a1, a2, a3, a4, a5, a6, a7), vs);
            if (n8 == 8) {
                _mm256_storeu_ps(s + (size_t)g * nt + t, r);
            } else {
                _mm256_storeu_ps(tmp, r);
                memcpy(s + (size_t)g * nt + t, tmp, n8 * sizeof *tmp);
            }
        }
    }
}

/* Positions in blocks of 8 rows (scores) and 16 rows (V sums): a block is
 * loaded from memory once and reused from L1 by every head of the group.
 * Over halves (blk != NULL, room for 16 rows of hd floats) each block is
 * first widened into blk by F16C, once for the whole group, and the heads
 * read the floats: one conversion per cached value rather than one per
 * value and head (7 at the Qwen2.5-0.5B shape; converting as loaded, the
 * conversions were as many as the multiply-adds). Either way the same
 * operations in the same order on the same float values, so the same bits
 * as converting as loaded. */
TGT static inline __attribute__((always_inline)) void attn_part_any(const float *q, uint32_t ng, uint32_t hd,
                                                                    const void *k, const void *v, size_t ld,
                                                                    uint32_t nt, float scale, float *s, float *part,
                                                                    float *blk, const cl_act_q8x4 *yq)
{
    const __m256 vs = _mm256_set1_ps(scale);
    uint32_t g, t, i, d, j;
    const int8_t *qp[CL_KV_Q8_HD_MAX / 32]; /* Q8_0: query block j's quants and scale (j = head * hd / 32 + block) */
    float dq[CL_KV_Q8_HD_MAX / 32];
    for (j = 0; yq && j < ng * hd / 32; j++) qp[j] = yq[j / 4].qs[j % 4], dq[j] = yq[j / 4].d[j % 4];
    for (t = 0; t < nt && yq; t += 8) { /* Q8_0 (yq: the quantised query heads): integer scores */
        uint32_t n8 = nt - t < 8 ? nt - t : 8, nbk = hd / 32, b;
        const uint8_t *kr[8];
        __m256 acc[CL_KV_Q8_HD_MAX / 32]; /* per head: the 8 rows' scores so far (ng * hd <= CL_KV_Q8_HD_MAX) */
        for (i = 0; i < 8; i++) kr[i] = (const uint8_t *)k + (size_t)(t + (i < n8 ? i : 0)) * ld;
        for (g = 0; g < ng; g++) acc[g] = _mm256_setzero_ps();
        for (b = 0; b < nbk; b++) /* block by block, the 8 rows' quants loaded once for every head */
            q8_scores8_heads(kr, b, qp + b, dq + b, nbk, ng, acc);
        for (g = 0; g < ng; g++) {
            __m256 r = _mm256_mul_ps(acc[g], vs);
            float tmp[8];
            if (n8 == 8) {
                _mm256_storeu_ps(s + (size_t)g * nt + t, r);
            } else {
                _mm256_storeu_ps(tmp, r);
                memcpy(s + (size_t)g * nt + t, tmp, n8 * sizeof *tmp);
            }
        }
    }
    if (!yq) scores_float(q, ng, hd, k, ld, nt, scale, s, blk);
    softmax_part(s, ng, hd, nt, part);
    for (t = 0; t < nt; t += 16) { /* o += p * V, 16 rows at a time for all heads */
        uint32_t te = nt - t < 16 ? nt : t + 16;
        const float *vb = blk ? blk : (const float *)v + (size_t)t * ld; /* row j at vb + (j - t) * vld */
        const size_t vld = blk ? hd : ld;
        if (yq) widen_rows_q8(v, ld, t, te - t, hd, blk);
        else if (blk) widen_rows(v, ld, t, te - t, te - t, hd, blk);
        for (g = 0; g < ng; g++) {
            const float *sg = s + (size_t)g * nt;
            float *o = part + (size_t)g * (hd + 2) + 2;
            for (d = 0; d < hd; d += 64) {
                uint32_t nv = hd - d < 64 ? (hd - d) / 8 : 8;
                if (nv == 8) {
                    __m256 o0 = _mm256_loadu_ps(o + d), o1 = _mm256_loadu_ps(o + d + 8),
                           o2 = _mm256_loadu_ps(o + d + 16), o3 = _mm256_loadu_ps(o + d + 24),
                           o4 = _mm256_loadu_ps(o + d + 32), o5 = _mm256_loadu_ps(o + d + 40),
                           o6 = _mm256_loadu_ps(o + d + 48), o7 = _mm256_loadu_ps(o + d + 56);
                    _Pragma("GCC unroll 4") /* loop overhead: 3 of 12 instructions per row and head */
                    for (j = t; j < te; j++) {
                        const float *vr = vb + (size_t)(j - t) * vld + d;
                        __m256 p = _mm256_broadcast_ss(sg + j);
                        o0 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vr), o0);
                        o1 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vr + 8), o1);
                        o2 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vr + 16), o2);
                        o3 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vr + 24), o3);
                        o4 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vr + 32), o4);
                        o5 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vr + 40), o5);
                        o6 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vr + 48), o6);
                        o7 = _mm256_fmadd_ps(p, _mm256_loadu_ps(vr + 56), o7);
                    }
                    _mm256_storeu_ps(o + d, o0);
                    _mm256_storeu_ps(o + d + 8, o1);
                    _mm256_storeu_ps(o + d + 16, o2);
                    _mm256_storeu_ps(o + d + 24, o3);
                    _mm256_storeu_ps(o + d + 32, o4);
                    _mm256_storeu_ps(o + d + 40, o5);
                    _mm256_storeu_ps(o + d + 48, o6);
                    _mm256_storeu_ps(o + d + 56, o7);
                } else {
                    for (j = t; j < te; j++) {
                        const float *vr = vb + (size_t)(j - t) * vld + d;
                        __m256 p = _mm256_broadcast_ss(sg + j);
                        for (i = 0; i < nv; i++)
                            _mm256_storeu_ps(o + d + 8 * i, _mm256_fmadd_ps(p, _mm256_loadu_ps(vr + 8 * i),
                                                                            _mm256_loadu_ps(o + d + 8 * i)));
                    }
                }
            }
        }
    }
}

TGT static void attn_part_avx2(const float *q, uint32_t ng, uint32_t hd, const float *k, const float *v, size_t ld,
                               uint32_t nt, float scale, float *s, float *part)
{
    if (hd % 8) {
        cl_attn_part_ref(q, ng, hd, k, v, ld, nt, scale, s, part);
        return;
    }
    if (hd == 64) attn_part_any(q, ng, 64, k, v, ld, nt, scale, s, part, NULL, NULL); /* constant offsets */
    else if (hd == 128) attn_part_any(q, ng, 128, k, v, ld, nt, scale, s, part, NULL, NULL);
    else attn_part_any(q, ng, hd, k, v, ld, nt, scale, s, part, NULL, NULL);
}

/* the same over halves, widened block by block on the stack */
TGT static void attn_part_h_avx2(const float *q, uint32_t ng, uint32_t hd, const uint16_t *k, const uint16_t *v,
                                 size_t ld, uint32_t nt, float scale, float *s, float *part)
{
    float blk[16 * CL_ATTN_HD_MAX] __attribute__((aligned(32)));
    if (hd % 8 || hd > CL_ATTN_HD_MAX) {
        cl_attn_part_h_ref(q, ng, hd, k, v, ld, nt, scale, s, part);
        return;
    }
    if (hd == 64) attn_part_any(q, ng, 64, k, v, ld, nt, scale, s, part, blk, NULL); /* the common head sizes: */
    else if (hd == 128) attn_part_any(q, ng, 128, k, v, ld, nt, scale, s, part, blk, NULL); /* constant offsets */
    else attn_part_any(q, ng, hd, k, v, ld, nt, scale, s, part, blk, NULL);
}

/* The body of the Q8_0 attention kernels: the query heads in groups of
 * at most Q8_QMAX values, each quantised here unless yq holds them, and
 * ANY(q, n, hd, k, v, ld, nt, scale, s, part, blk, y) per group (the
 * common head sizes as constants). */
#define Q8_GROUPS(ANY)                                                                                             \
    step = Q8_QMAX / hd;                                                                                           \
    for (g0 = 0; g0 < ng; g0 += step) {                                                                            \
        const float *qg = q + (size_t)g0 * hd;                                                                     \
        float *pg = part + (size_t)g0 * (hd + 2);                                                                  \
        const cl_act_q8x4 *y = yq ? yq + (size_t)g0 * hd / 128 : yl;                                               \
        n = ng - g0 < step ? ng - g0 : step;                                                                       \
        if (!yq) simd_act_quantize(CL_TYPE_Q8_0, qg, (uint64_t)n * hd, yl);                                        \
        if (hd == 64) ANY(qg, n, 64, k, v, ld, nt, scale, s, pg, blk, y);                                          \
        else if (hd == 128) ANY(qg, n, 128, k, v, ld, nt, scale, s, pg, blk, y);                                   \
        else ANY(qg, n, hd, k, v, ld, nt, scale, s, pg, blk, y);                                                   \
    }

/* the same over Q8_0 blocks: the query heads quantised (in parts of at
 * most Q8_QMAX values), K.q in integers, V widened block by block */
#define Q8_QMAX CL_KV_Q8_HD_MAX
TGT static void attn_part_q8_avx2(const float *q, uint32_t ng, uint32_t hd, const uint8_t *k, const uint8_t *v,
                                  size_t ld, uint32_t nt, float scale, float *s, float *part, const cl_act_q8x4 *yq)
{
    float blk[16 * CL_ATTN_HD_MAX] __attribute__((aligned(32)));
    cl_act_q8x4 yl[Q8_QMAX / 128];
    uint32_t g0, step, n;
    if (hd % 32 || hd > CL_ATTN_HD_MAX) {
        cl_attn_part_q8_ref(q, ng, hd, k, v, ld, nt, scale, s, part, yq);
        return;
    }
    Q8_GROUPS(attn_part_any);
}

#ifdef __x86_64__
#define T512 CL_T512

/* The quants of block b of 16 rows (kr[r]: row r's first block) as eight
 * vectors kt[l], lane r holding row r's quants 4l..4l+3, made unsigned (k ^
 * 0x80 = k + 128): rows r and r + 8 loaded into one register, then the
 * 8 x 8 transpose of 32-bit values in each half (unpack 32, unpack 64, a
 * 128-bit lane exchange). Plain loads, which the prefetchers follow (a
 * gather per group ran 1.4-1.8x slower at ctx 4096). */
T512 static inline __attribute__((always_inline)) void q8_rows16_t(const uint8_t *const *kr, uint32_t b, __m512i kt[8])
{
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    const uint32_t o = b * CL_KV_Q8_BLOCK + 2;
    __m512i z[8], t[8], u[8];
    int p;
    for (p = 0; p < 8; p++) z[p] = _mm512_inserti64x4(_mm512_castsi256_si512(ld256(kr[p] + o)), ld256(kr[p + 8] + o), 1);
    for (p = 0; p < 8; p += 2) {
        t[p] = _mm512_unpacklo_epi32(z[p], z[p + 1]);
        t[p + 1] = _mm512_unpackhi_epi32(z[p], z[p + 1]);
    }
    for (p = 0; p < 8; p += 4) {
        u[p] = _mm512_unpacklo_epi64(t[p], t[p + 2]);
        u[p + 1] = _mm512_unpackhi_epi64(t[p], t[p + 2]);
        u[p + 2] = _mm512_unpacklo_epi64(t[p + 1], t[p + 3]);
        u[p + 3] = _mm512_unpackhi_epi64(t[p + 1], t[p + 3]);
    }
    for (p = 0; p < 4; p++) {
        kt[p] = _mm512_xor_si512(_mm512_permutex2var_epi64(u[p], lo, u[p + 4]), x80);
        kt[p + 4] = _mm512_xor_si512(_mm512_permutex2var_epi64(u[p], hi, u[p + 4]), x80);
    }
}

/* exp256_neg on 16 lanes: the same operations, so the same bits per lane */
T512 static inline __m512 exp512_neg(__m512 x)
{
    const __m512 lo = _mm512_set1_ps(EXP_LO);
    const __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    __m512 fx, y, z;
    __m512i e;
    x = _mm512_max_ps(x, lo);
    fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(EXP_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(EXP_LN2_HI), x);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(EXP_LN2_LO), x);
    z = _mm512_mul_ps(x, x);
    y = _mm512_fmadd_ps(_mm512_set1_ps(EXP_P0), x, _mm512_set1_ps(EXP_P1));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(EXP_P2));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(EXP_P3));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(EXP_P4));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(EXP_P5));
    y = _mm512_fmadd_ps(y, z, _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
    e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps((__mmask16)~under, y, _mm512_castsi512_ps(e));
}

/* softmax_part with the exponentials 16 at a time, the same bits: the
 * maximum as softmax_part takes it, the 16 lanes' exponentials as
 * exp256_neg's, and the sum still 8 lanes at a time in row order (a short
 * tail's padding lanes give 0, and adding 0 changes no sum). */
T512 static inline __attribute__((always_inline)) void softmax_part512(float *s, uint32_t ng, uint32_t hd, uint32_t nt,
                                                                       float *part)
{
    uint32_t g, t;
    for (g = 0; g < ng; g++) {
        float *sg = s + (size_t)g * nt, mx = head_max(sg, nt);
        const __m512 m16 = _mm512_set1_ps(mx);
        __m256 vl = _mm256_setzero_ps();
        for (t = 0; t < nt; t += 16) {
            const __mmask16 m = nt - t < 16 ? (__mmask16)((1u << (nt - t)) - 1) : (__mmask16)0xffff;
            __m512 e = exp512_neg(_mm512_mask_sub_ps(_mm512_set1_ps(-INFINITY), m, _mm512_maskz_loadu_ps(m, sg + t), m16));
            _mm512_mask_storeu_ps(sg + t, m, e);
            vl = _mm256_add_ps(vl, _mm512_castps512_ps256(e));
            vl = _mm256_add_ps(vl, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));
        }
        part[(size_t)g * (hd + 2)] = mx;
        part[(size_t)g * (hd + 2) + 1] = hsum8(vl);
        memset(part + (size_t)g * (hd + 2) + 2, 0, hd * sizeof(float));
    }
}

/* o += p * V for the GH heads of s and part (GH a constant where
 * inlined) over rows [0, nt) of a Q8_0 cache (q8; ld in bytes) or a half
 * cache (ld in halves), each row's values converted to floats as loaded
 * (no block in memory): 32 values of all GH heads at a time, 2 * GH
 * independent fma chains, so that the chains' latency does not bound them.
 * The same fma per value in the same row order as attn_part_any. A half
 * row's whole part for the head is asked for CL_ROW_PREFETCH bytes ahead
 * (into L2) on the first pass; a Q8_0 row's, 16 rows ahead. */
T512 static inline __attribute__((always_inline)) void v_fused512(const void *v, size_t ld, uint32_t nt, uint32_t hd,
                                                                  const float *s, float *part, int q8, const uint32_t GH)
{
    const size_t rb = q8 ? ld : 2 * ld, hb = q8 ? (size_t)hd / 32 * CL_KV_Q8_BLOCK : (size_t)2 * hd;
    const uintptr_t ahead = q8 ? 16 * rb : rows_ahead(rb);
    uint32_t d, j, h;
    for (d = 0; d < hd; d += 32) {
        __m512 a[32];
        const char *r = (const char *)v + (q8 ? (size_t)d / 32 * CL_KV_Q8_BLOCK : (size_t)2 * d);
        _Pragma("GCC unroll 16") for (h = 0; h < GH; h++)
        {
            a[2 * h] = _mm512_loadu_ps(part + (size_t)h * (hd + 2) + 2 + d);
            a[2 * h + 1] = _mm512_loadu_ps(part + (size_t)h * (hd + 2) + 2 + d + 16);
        }
        for (j = 0; j < nt; j++, r += rb) {
            __m512 v0, v1;
            if (d == 0) prefetch_span((uintptr_t)r + ahead, hb);
            if (q8) {
                const __m512 dv = _mm512_set1_ps(h2f((const uint8_t *)r));
                v0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(r + 2)))), dv);
                v1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(r + 18)))), dv);
            } else {
                v0 = _mm512_cvtph_ps(ld256(r));
                v1 = _mm512_cvtph_ps(ld256(r + 32));
            }
            _Pragma("GCC unroll 16") for (h = 0; h < GH; h++)
            {
                __m512 pj = _mm512_set1_ps(s[(size_t)h * nt + j]);
                a[2 * h] = _mm512_fmadd_ps(pj, v0, a[2 * h]);
                a[2 * h + 1] = _mm512_fmadd_ps(pj, v1, a[2 * h + 1]);
            }
        }
        _Pragma("GCC unroll 16") for (h = 0; h < GH; h++)
        {
            _mm512_storeu_ps(part + (size_t)h * (hd + 2) + 2 + d, a[2 * h]);
            _mm512_storeu_ps(part + (size_t)h * (hd + 2) + 2 + d + 16, a[2 * h + 1]);
        }
    }
}

/* v_fused512 over ng heads, in groups of at most 8 (16 chains and the two
 * rows' registers fit the 32 vector registers); the group size a constant
 * in each call. */
T512 static inline __attribute__((always_inline)) void v_sums_fused(const void *v, size_t ld, uint32_t nt,
                                                                    uint32_t hd, uint32_t ng, const float *s,
                                                                    float *part, int q8)
{
    uint32_t g = 0;
#define VF(GH) v_fused512(v, ld, nt, hd, s + (size_t)g * nt, part + (size_t)g * (hd + 2), q8, GH)
    for (; ng - g >= 8; g += 8) VF(8);
    switch (ng - g) {
    case 7: VF(7); break;
    case 6: VF(6); break;
    case 5: VF(5); break;
    case 4: VF(4); break;
    case 3: VF(3); break;
    case 2: VF(2); break;
    case 1: VF(1); break;
    }
#undef VF
}

/* attn_part_any over a Q8_0 cache with AVX-512 (cl_simd_avx512), the same
 * bits: 16 rows at a time, a lane per row. Scores: each row's block b is
 * transposed into eight 32-bit groups of quants (q8_rows16_t, shared by the
 * heads), made unsigned by k ^ 0x80 = k + 128, and
 * dpbusd multiplies them with the head's query group broadcast; starting
 * from -128 * (sum of the query block) that is the exact integer sum, then
 * the same fma(dk * dq, isum, acc) per block as attn_part_any. Then
 * softmax_part512 and v_sums_fused (blk unused: the V rows are converted
 * as loaded). */
T512 static inline __attribute__((always_inline)) void attn_q8_any512(const float *q, uint32_t ng, uint32_t hd,
                                                                      const uint8_t *k, const uint8_t *v, size_t ld,
                                                                      uint32_t nt, float scale, float *s, float *part,
                                                                      float *blk, const cl_act_q8x4 *yq)
{
    const __m512 vs = _mm512_set1_ps(scale);
    const uint32_t nbk = hd / 32;
    const int8_t *qp[CL_KV_Q8_HD_MAX / 32]; /* query block j's quants, scale and sum (j = head * nbk + block) */
    float dq[CL_KV_Q8_HD_MAX / 32];
    int32_t qoff[CL_KV_Q8_HD_MAX / 32];
    uint32_t g, t, i, j, b, l;
    (void)q, (void)blk; /* q used quantised, in yq; blk not needed */
    for (j = 0; j < ng * nbk; j++) {
        int32_t sum = 0;
        qp[j] = yq[j / 4].qs[j % 4], dq[j] = yq[j / 4].d[j % 4];
        for (i = 0; i < 32; i++) sum += qp[j][i];
        qoff[j] = -128 * sum;
    }
    for (t = 0; t < nt; t += 16) {
        uint32_t n16 = nt - t < 16 ? nt - t : 16;
        __m512 acc[CL_KV_Q8_HD_MAX / 32];
        int32_t ro[16];
        const uint8_t *kr[16];
        __m512i ri;
        for (i = 0; i < 16; i++) { /* a short block repeats row t */
            ro[i] = (int32_t)((i < n16 ? i : 0) * ld);
            kr[i] = k + (size_t)t * ld + (size_t)ro[i];
        }
        ri = _mm512_loadu_si512(ro);
        for (i = 0; t + 16 + i < nt && i < 16; i++) { /* the next block's rows, ahead of the loads */
            const char *nr = (const char *)k + (size_t)(t + 16 + i) * ld;
            __builtin_prefetch(nr);
            __builtin_prefetch(nr + nbk * CL_KV_Q8_BLOCK - 1);
        }
        for (g = 0; g < ng; g++) acc[g] = _mm512_setzero_ps();
        for (b = 0; b < nbk; b++) {
            const uint8_t *kb = k + (size_t)t * ld + (size_t)b * CL_KV_Q8_BLOCK;
            __m512i kt[8];
            __m512 dk;
            q8_rows16_t(kr, b, kt);
            /* the 16 rows' scales (and their first two quants), in L1 after the loads */
            dk = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(ri, kb, 1)));
            for (g = 0; g < ng; g++) {
                const int8_t *q = qp[g * nbk + b];
                __m512i is = _mm512_set1_epi32(qoff[g * nbk + b]);
                for (l = 0; l < 8; l++) {
                    int32_t w;
                    memcpy(&w, q + 4 * l, 4);
                    is = _mm512_dpbusd_epi32(is, kt[l], _mm512_set1_epi32(w));
                }
                acc[g] = _mm512_fmadd_ps(_mm512_mul_ps(dk, _mm512_set1_ps(dq[g * nbk + b])), _mm512_cvtepi32_ps(is),
                                         acc[g]);
            }
        }
        for (g = 0; g < ng; g++)
            _mm512_mask_storeu_ps(s + (size_t)g * nt + t, (__mmask16)((1u << n16) - 1), _mm512_mul_ps(acc[g], vs));
    }
    softmax_part512(s, ng, hd, nt, part);
    v_sums_fused(v, ld, nt, hd, ng, s, part, 1);
}

/* Rows [t, t + n) of a half cache (row i at c + i * ld) widened into blk
 * as 8 pairs, rows r and r + 8 side by side: blk[(r * hd / 8 + j) * 16 ..]
 * holds row r's values 8j .. 8j + 7, then row r + 8's (rows n .. 15 repeat
 * row t). So one 16-float load gives two rows' 8 values for scores_h512.
 * The same prefetch as widen_rows. */
T512 static inline __attribute__((always_inline)) void widen_pairs16(const uint16_t *c, size_t ld, uint32_t t,
                                                                     uint32_t n, uint32_t hd, float *blk)
{
    const uint16_t *const r0 = c + (size_t)t * ld;
    const uintptr_t ahead = rows_ahead(2 * ld);
    uint32_t r, j;
    for (r = 0; r < 8; r++) {
        const uint16_t *a = r < n ? r0 + (size_t)r * ld : r0, *b = r + 8 < n ? r0 + (size_t)(r + 8) * ld : r0;
        prefetch_span((uintptr_t)(r0 + (size_t)r * ld) + ahead, 2 * hd);
        prefetch_span((uintptr_t)(r0 + (size_t)(r + 8) * ld) + ahead, 2 * hd);
        for (j = 0; j < hd / 8; j++) {
            __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(a + 8 * j))),
                                                _mm_loadu_si128((const __m128i *)(b + 8 * j)), 1);
            _mm512_store_ps(blk + ((size_t)r * hd / 8 + j) * 16, _mm512_cvtph_ps(h));
        }
    }
}

/* scores_float over a half cache with 16 rows per pass, the same bits:
 * rows r and r + 8 share a register (widen_pairs16), each 256-bit half
 * taking row r's or row r + 8's fma chains in scores_float's order, then
 * hsum8x8's additions per half (hadd as an add of the even and the odd
 * lanes, the final 128-bit exchange by two permutes); lanes 0-7 of the
 * result are rows t .. t + 7, lanes 8-15 rows t + 8 .. t + 15. */
T512 static inline __attribute__((always_inline)) void scores_h512(const float *q, uint32_t ng, uint32_t hd,
                                                                   const uint16_t *k, size_t ld, uint32_t nt,
                                                                   float scale, float *s, float *blk)
{
    const __m512 vs = _mm512_set1_ps(scale);
    const __m512i xlo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
                  xhi = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    const size_t pl = (size_t)2 * hd; /* floats per pair of rows */
    uint32_t g, t, j;
    for (t = 0; t < nt; t += 16) {
        uint32_t n16 = nt - t < 16 ? nt - t : 16;
        widen_pairs16(k, ld, t, n16, hd, blk);
        for (g = 0; g < ng; g++) {
            const float *qg = q + (size_t)g * hd;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, u0, u1;
#define HADD512(x, y) _mm512_add_ps(_mm512_shuffle_ps(x, y, 0x88), _mm512_shuffle_ps(x, y, 0xdd))
            for (j = 0; j < hd / 8; j++) {
                const float *b = blk + (size_t)j * 16;
                __m512 qv = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_loadu_pd((const double *)(qg + 8 * j))));
                a0 = _mm512_fmadd_ps(_mm512_load_ps(b), qv, a0);
                a1 = _mm512_fmadd_ps(_mm512_load_ps(b + pl), qv, a1);
                a2 = _mm512_fmadd_ps(_mm512_load_ps(b + 2 * pl), qv, a2);
                a3 = _mm512_fmadd_ps(_mm512_load_ps(b + 3 * pl), qv, a3);
                a4 = _mm512_fmadd_ps(_mm512_load_ps(b + 4 * pl), qv, a4);
                a5 = _mm512_fmadd_ps(_mm512_load_ps(b + 5 * pl), qv, a5);
                a6 = _mm512_fmadd_ps(_mm512_load_ps(b + 6 * pl), qv, a6);
                a7 = _mm512_fmadd_ps(_mm512_load_ps(b + 7 * pl), qv, a7);
            }
            u0 = HADD512(HADD512(a0, a1), HADD512(a2, a3));
            u1 = HADD512(HADD512(a4, a5), HADD512(a6, a7));
#undef HADD512
            _mm512_mask_storeu_ps(s + (size_t)g * nt + t, (__mmask16)((1u << n16) - 1),
                                  _mm512_mul_ps(_mm512_add_ps(_mm512_permutex2var_ps(u0, xlo, u1),
                                                              _mm512_permutex2var_ps(u0, xhi, u1)),
                                                vs));
        }
    }
}

/* attn_part_h_avx2 with 16 values per operation, the same bits:
 * scores_h512, softmax_part512, v_sums_fused. */
T512 static void attn_part_h_avx512(const float *q, uint32_t ng, uint32_t hd, const uint16_t *k, const uint16_t *v,
                                    size_t ld, uint32_t nt, float scale, float *s, float *part)
{
    float blk[16 * CL_ATTN_HD_MAX] __attribute__((aligned(64)));
    if (hd % 32 || hd > CL_ATTN_HD_MAX) {
        attn_part_h_avx2(q, ng, hd, k, v, ld, nt, scale, s, part);
        return;
    }
    if (hd == 64) { /* constant offsets */
        scores_h512(q, ng, 64, k, ld, nt, scale, s, blk);
        softmax_part512(s, ng, 64, nt, part);
        v_sums_fused(v, ld, nt, 64, ng, s, part, 0);
    } else {
        scores_h512(q, ng, hd, k, ld, nt, scale, s, blk);
        softmax_part512(s, ng, hd, nt, part);
        v_sums_fused(v, ld, nt, hd, ng, s, part, 0);
    }
}

T512 static void attn_part_q8_avx512(const float *q, uint32_t ng, uint32_t hd, const uint8_t *k, const uint8_t *v,
                                     size_t ld, uint32_t nt, float scale, float *s, float *part,
                                     const cl_act_q8x4 *yq)
{
    float *const blk = NULL; /* attn_q8_any512 needs no block */
    cl_act_q8x4 yl[Q8_QMAX / 128];
    uint32_t g0, step, n;
    if (hd % 32 || hd > CL_ATTN_HD_MAX || (uint64_t)15 * ld > 0x7fffffff) {
        cl_attn_part_q8_ref(q, ng, hd, k, v, ld, nt, scale, s, part, yq);
        return;
    }
    Q8_GROUPS(attn_q8_any512);
}
#endif

/* cl_attn_merge with 8 values per operation (it runs on one thread, per
 * head, over every chunk: at ctx 4096, 32 chunks x 14 heads x 64 values per
 * layer); mul then add, unfused, as the portable loop compiles (GCC would
 * otherwise contract them into FMAs here, the target having FMA). */
#if defined(__clang__)
#define NO_FMA_CONTRACT_FN TGT
#define NO_FMA_CONTRACT_BODY _Pragma("clang fp contract(off)")
#else
#define NO_FMA_CONTRACT_FN __attribute__((target("avx2,fma,f16c"), optimize("fp-contract=off")))
#define NO_FMA_CONTRACT_BODY
#endif
NO_FMA_CONTRACT_FN static void attn_merge_avx2(const float *parts, uint32_t n_parts, size_t stride, uint32_t hd,
                                               float *out)
{
    NO_FMA_CONTRACT_BODY
    float mx = -INFINITY, l = 0.0f;
    uint32_t c, i;
    if (hd % 8) {
        cl_attn_merge(parts, n_parts, stride, hd, out);
        return;
    }
    for (c = 0; c < n_parts; c++)
        if (parts[c * stride] > mx) mx = parts[c * stride];
    memset(out, 0, hd * sizeof *out);
    for (c = 0; c < n_parts; c++) {
        const float *p = parts + c * stride;
        float w = expf(p[0] - mx);
        __m256 vw = _mm256_set1_ps(w);
        l += w * p[1];
        for (i = 0; i < hd; i += 8)
            _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(out + i), _mm256_mul_ps(vw, _mm256_loadu_ps(p + 2 + i))));
    }
    if (l > 0.0f) {
        __m256 vl = _mm256_set1_ps(l);
        for (i = 0; i < hd; i += 8) _mm256_storeu_ps(out + i, _mm256_div_ps(_mm256_loadu_ps(out + i), vl));
    }
}

/* F16C rounding (to nearest even, as cl_f32_to_fp16) */
TGT static void kv_store_f16c(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = cl_f32_to_fp16(src[i]);
}

TGT static float simd_qdot(int wtype, const uint8_t *row, const void *xq, uint64_t n)
{
    switch (wtype) {
    case CL_TYPE_Q8_0: return qdot_q8_0(row, xq, n, 0);
    case CL_TYPE_Q4_0: return qdot_q4_0(row, xq, n, 0);
    case CL_TYPE_Q4_K: return qdot_q4_k(row, xq, n, 0);
    case CL_TYPE_Q6_K: return qdot_q6_k(row, xq, n, 0);
    }
    return cl_qdot_ref(wtype, row, xq, n);
}

TGT static void simd_qdot_rows(int wtype, const uint8_t *w, size_t rb, const void *xq, uint64_t n, const float *bias,
                               float *y, uint64_t r0, uint64_t r1)
{
    CL_QDOT_ROWS_BODY();
}

static float simd_dot(int type, const uint8_t *b, const float *x, uint64_t n)
{
    switch (type) {
    case CL_TYPE_F32: return dot_f32(b, x, n);
    case CL_TYPE_F16: return dot_f16(b, x, n);
    case CL_TYPE_Q8_0: return dot_q8_0(b, x, n);
    case CL_TYPE_Q4_0: return dot_q4_0(b, x, n);
    case CL_TYPE_Q4_K: return dot_q4_k(b, x, n);
    case CL_TYPE_Q6_K: return dot_q6_k(b, x, n);
    }
    return cl_dot_ref(type, b, x, n);
}
#endif

static void dot4_any(int type, const uint8_t *row, const float *x, size_t ldx, uint64_t n, float *out)
{
    cl_dot_fn dot = cl_dot_select(1);
    int r;
#ifdef CL_HAVE_X86
    if (cl_simd_avx2() && type == CL_TYPE_Q8_0) {
        dot4_q8_0(row, x, ldx, n, out);
        return;
    }
    if (cl_simd_avx2() && type == CL_TYPE_Q4_0) {
        dot4_q4_0(row, x, ldx, n, out);
        return;
    }
    if (cl_simd_avx2() && type == CL_TYPE_Q4_K) {
        dot4_q4_k(row, x, ldx, n, out);
        return;
    }
    if (cl_simd_avx2() && type == CL_TYPE_Q6_K) {
        dot4_q6_k(row, x, ldx, n, out);
        return;
    }
#endif
    for (r = 0; r < 4; r++) out[r] = dot(type, row, x + (size_t)r * ldx, n);
}

static void dot4_ref(int type, const uint8_t *row, const float *x, size_t ldx, uint64_t n, float *out)
{
    int r;
    for (r = 0; r < 4; r++) out[r] = cl_dot_ref(type, row, x + (size_t)r * ldx, n);
}

cl_dot4_fn cl_dot4_select(int simd) { return simd && cl_simd_avx2() ? dot4_any : dot4_ref; }

int cl_simd_avx2(void)
{
#ifdef CL_HAVE_X86
    static int cached = -1;
    if (cached < 0) {
        const char *e = getenv("CAIRN_LLM_SIMD");
        __builtin_cpu_init();
        unsigned a, b, c = 0, d;
        /* F16C is CPUID leaf 1, ECX bit 29 (clang 14 has no "f16c" for
         * __builtin_cpu_supports) */
        int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
        cached = !(e && e[0] == '0') && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                 f16c;
    }
    return cached;
#else
    return 0;
#endif
}

/* 1 when simd512.c's kernels are in use: AVX-512 F, BW, VL, VNNI and VBMI
 * in the processor (CPUID leaf 7), their registers enabled by the
 * operating system (XCR0: opmask and all 32 ZMM registers), the AVX2
 * kernels in use, and CAIRN_LLM_SIMD not "avx2". */
int cl_simd_avx512(void)
{
#if defined(CL_HAVE_X86) && defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) {
        const char *e = getenv("CAIRN_LLM_SIMD");
        unsigned a, b, c, d, xlo = 0, xhi = 0;
        int ok = cl_simd_avx2() && !(e && !strcmp(e, "avx2")) && __get_cpuid(1, &a, &b, &c, &d) && (c >> 27 & 1);
        if (ok) { /* OSXSAVE: XGETBV is allowed */
            __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
            ok = (xlo & 0xe6) == 0xe6 && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 16 & 1) &&
                 (b >> 30 & 1) && (b >> 31 & 1) && (c >> 1 & 1) && (c >> 11 & 1);
        }
        (void)xhi;
        cached = ok;
    }
    return cached;
#else
    return 0;
#endif
}

const char *cl_cpu_kernels(void)
{
    return cl_simd_avx512() ? "AVX-512 VNNI" : cl_simd_avx2() ? "AVX2" : "portable C";
}

/* The AVX2 kernel when asked for (simd) and the processor has it, else the
 * portable one; on other processors the AVX2 kernels do not exist. */
#ifdef CL_HAVE_X86
#define PICK(simd, fast, ref) ((simd) && cl_simd_avx2() ? (fast) : (ref))
#else
#define PICK(simd, fast, ref) ((void)(simd), (ref))
#endif

#if defined(CL_HAVE_X86) && defined(__x86_64__)
#define PICK512(simd, f512, fast, ref) ((simd) == CL_SIMD_BEST && cl_simd_avx512() ? (f512) : PICK(simd, fast, ref))
#else
#define PICK512(simd, f512, fast, ref) PICK(simd, fast, ref)
#endif

cl_qdot_fn cl_qdot_select(int simd) { return PICK512(simd, cl_qdot_avx512, simd_qdot, cl_qdot_ref); }
cl_qdot_rows_fn cl_qdot_rows_select(int simd)
{
    return PICK512(simd, cl_qdot_rows_avx512, simd_qdot_rows, cl_qdot_rows_ref);
}

cl_act_quantize_fn cl_act_quantize_select(int simd) { return PICK(simd, simd_act_quantize, cl_act_quantize_ref); }

cl_dot_fn cl_dot_select(int simd) { return PICK(simd, simd_dot, cl_dot_ref); }

cl_attn_part_fn cl_attn_part_select(int simd) { return PICK(simd, attn_part_avx2, cl_attn_part_ref); }

cl_attn_part_h_fn cl_attn_part_h_select(int simd)
{
    return PICK512(simd, attn_part_h_avx512, attn_part_h_avx2, cl_attn_part_h_ref);
}

cl_attn_part_q8_fn cl_attn_part_q8_select(int simd)
{
    return PICK512(simd, attn_part_q8_avx512, attn_part_q8_avx2, cl_attn_part_q8_ref);
}

cl_kv_store_f16_fn cl_kv_store_f16_select(int simd) { return PICK(simd, kv_store_f16c, cl_kv_store_f16); }

cl_attn_merge_fn cl_attn_merge_select(int simd) { return PICK(simd, attn_merge_avx2, cl_attn_merge); }
