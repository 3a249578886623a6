/* simd512.c — AVX-512 kernels (F, BW, VL, VNNI, VBMI) for decode's integer
 * dot products: a quantised weight row against the 8-bit input (qdot.c's
 * cl_qdot_ref), for Q8_0, Q4_0, Q4_K and Q6_K. They do per 512-bit
 * operation what simd.c's AVX2 kernels do per 256, and VNNI's dpbusd /
 * dpwssd fold the widening multiply and the pair sums into one
 * instruction. Each result is cl_qdot_ref's bit for bit: the integer sums
 * are exact in any order, and every float operation (per-block products,
 * accumulators, the final sums) is the reference's, in its order
 * (tests/test_llm_qdot.c compares them).
 *
 * Chosen at run time (cl_simd_avx512, simd.c) when the processor and the
 * operating system have these; CAIRN_LLM_SIMD=avx2 keeps to the AVX2
 * kernels, CAIRN_LLM_SIMD=0 to the portable ones. Decode's
 * matrix-vector product (cl_qdot_rows_select, compute-bound on a few
 * cores) and the batched products of prefill (cl_qdot_select) use them. */
#include "llm_int.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define T512 CL_T512

T512 static inline __m256i ld256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
T512 static inline __m512i ld512(const void *p) { return _mm512_loadu_si512(p); }

/* 32 bytes at lo, then 32 at hi */
T512 static inline __m512i ld2x256(const void *lo, const void *hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(ld256(lo)), ld256(hi), 1);
}

T512 static inline float h2f(const uint8_t *p) { return _cvtsh_ss(cl_ld16(p)); }

/* hsum8_ref's order: ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)) */
T512 static inline float hsum8(__m256 v)
{
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_shuffle_ps(a, a, 1));
    return _mm_cvtss_f32(a);
}

T512 static inline __m256 lo8(__m512 v) { return _mm512_castps512_ps256(v); }
T512 static inline __m256 hi8(__m512 v) { return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)); }

T512 static inline int32_t hsum_i32(__m512i v)
{
    __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
    __m128i a = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    a = _mm_add_epi32(a, _mm_unpackhi_epi64(a, a));
    a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 1));
    return _mm_cvtsi128_si32(a);
}

/* ------------------------------------------------------------------ Q8_0 */

/* Lane l (of 16): sum of w[j] * y[j] over j = 4l..4l+3, as floats (exact).
 * dpbusd multiplies unsigned by signed bytes: |w| (128 for -128, right as
 * unsigned), with w's sign moved to y (|y| <= 127). */
T512 static inline __m512 dot64_i8(__m512i w, __m512i y)
{
    __m512i ys = _mm512_mask_sub_epi8(y, _mm512_movepi8_mask(w), _mm512_setzero_si512(), y);
    return _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), ys));
}

/* Four blocks (136 bytes at b) against one cl_act_q8x4: block j's eight
 * lane sums times its scale product go to accumulator j, as in dot_q8_0:
 * a01 holds accumulators 0 (low half) and 1, a23 2 and 3. m01, m23: the
 * lanes of the blocks that exist (a short last group leaves the others
 * as they are). */
T512 static inline void q8_group(const uint8_t *b, const cl_act_q8x4 *y, __m512 *a01, __m512 *a23, __mmask16 m01,
                                 __mmask16 m23)
{
    const __m512i i01 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i i23 = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    int32_t w;
    __m128i h;
    __m512 d4;
    memcpy(&w, b, 4);
    h = _mm_insert_epi16(_mm_cvtsi32_si128(w), cl_ld16(b + 34), 1);
    h = _mm_insert_epi16(_mm_insert_epi16(h, cl_ld16(b + 68), 2), cl_ld16(b + 102), 3);
    d4 = _mm512_castps128_ps512(_mm_mul_ps(_mm_cvtph_ps(h), _mm_loadu_ps(y->d)));
    *a01 = _mm512_mask3_fmadd_ps(_mm512_permutexvar_ps(i01, d4), dot64_i8(ld2x256(b + 2, b + 36), ld512(y->qs[0])),
                                 *a01, m01);
    *a23 = _mm512_mask3_fmadd_ps(_mm512_permutexvar_ps(i23, d4), dot64_i8(ld2x256(b + 70, b + 104), ld512(y->qs[2])),
                                 *a23, m23);
}

T512 static inline __attribute__((always_inline)) float qdot_q8_0(const uint8_t *b, const void *xq, uint64_t n, int pf)
{
    const cl_act_q8x4 *y = xq;
    __m512 a01 = _mm512_setzero_ps(), a23 = _mm512_setzero_ps();
    uint64_t nb = n / 32, k = 0;
    CL_PF_DECL(b);
    for (; k + 4 <= nb; k += 4, b += 136, y++) {
        CL_PF_STEP(pf, b, 136);
        q8_group(b, y, &a01, &a23, 0xffff, 0xffff);
    }
    if (k < nb) { /* 1..3 blocks: copied out (no read past the row); the input is padded with zero blocks */
        uint8_t t[136] = {0};
        uint64_t r = nb - k;
        memcpy(t, b, 34 * r);
        q8_group(t, y, &a01, &a23, r > 1 ? 0xffff : 0x00ff, r > 2 ? 0x00ff : 0);
    }
    return hsum8(_mm256_add_ps(_mm256_add_ps(lo8(a01), hi8(a01)), _mm256_add_ps(lo8(a23), hi8(a23))));
}

/* ------------------------------------------------------------------ Q4_0 */

/* Two pairs of blocks (72 bytes at b) against four blocks of input:
 * their low and high quants ylo, yhi (block h of pair p at bytes 32p +
 * 16h), s the starting integer sums (minus the pair sums of s8, for Q4_0's
 * offset of 8) and yd the inputs' scales per lane: lane 8p + 4h + l as
 * dot_q4_0 makes it for block h of pair p, the pairs going to accumulators
 * 0 (low half of a) and 1; m: the lanes of the pairs that exist. The four
 * blocks' quant bytes are gathered by one byte permutation of the 72 bytes
 * (two overlapping loads). */
T512 static inline __m512 q4_core(const uint8_t *b, __m512i ylo, __m512i yhi, __m512i s, __m512 yd, __m512 a,
                                  __mmask16 m)
{
    /* byte i of the result: quant byte i % 16 of block i / 16, at offset
     * 18 * (i / 16) + 2 + i % 16 of b: from the first load (b) below 64, else
     * from the second (b + 8), whose byte o - 8 is index 64 + o - 8 */
    const __m512i gather = _mm512_set_epi8(127, 126, 125, 124, 123, 122, 121, 120, 63, 62, 61, 60, 59, 58, 57, 56,
                                           53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38,
                                           35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20,
                                           17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2);
    /* 16-bit lane k < 16: the fp16 scale of block k / 4 (bytes 18 * (k / 4), + 1) */
    const __m512i scales = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x3736, 0x3736, 0x3736,
                                            0x3736, 0x2524, 0x2524, 0x2524, 0x2524, 0x1312, 0x1312, 0x1312, 0x1312,
                                            0x0100, 0x0100, 0x0100, 0x0100);
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512i b0 = ld512(b), v = _mm512_permutex2var_epi8(b0, gather, ld512(b + 8));
    __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    __m512 dd;
    s = _mm512_dpbusd_epi32(s, lo, ylo);
    s = _mm512_dpbusd_epi32(s, hi, yhi);
    /* [d0 x 4, d1 x 4, d2 x 4, d3 x 4] times the inputs' scales */
    dd = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi8(scales, b0))), yd);
    return _mm512_mask3_fmadd_ps(dd, _mm512_cvtepi32_ps(s), a, m);
}

/* q4_core against y[0], y[1] (cl_act_q8x2), each operand's two halves
 * merged as loaded */
T512 static inline __m512 q4_group(const uint8_t *b, const cl_act_q8x2 *y0, const cl_act_q8x2 *y1, __m512 a,
                                   __mmask16 m)
{
    __m512i s = _mm512_sub_epi32(_mm512_setzero_si512(),
                                 _mm512_madd_epi16(ld2x256(y0->s8, y1->s8), _mm512_set1_epi16(1)));
    return q4_core(b, ld2x256(y0->lo, y1->lo), ld2x256(y0->hi, y1->hi), s,
                   _mm512_castsi512_ps(ld2x256(y0->d, y1->d)), a, m);
}

/* Two cl_act_q8x2 (four blocks) as q4_group reads them, each operand one
 * 64-byte load: [y0 lo | y1 lo], [y0 hi | y1 hi], the 16 lanes' offsets
 * (minus the sums of pairs of y0 s8 then y1 s8, as q4_group's madd takes
 * them) and [y0 d | y1 d]. Decode's row loop lays the input out so once
 * per call (q4_relay) rather than merging the halves in every row. */
typedef struct q4_in {
    int8_t lo[64], hi[64];
    int32_t off[16];
    float d[16];
} q4_in;

#define Q4_IN_MAX 160 /* groups of four blocks relaid on the stack: rows up to 20480 values */

T512 static void q4_relay(const cl_act_q8x2 *y, uint64_t ng, q4_in *x)
{
    uint64_t g;
    int i;
    for (g = 0; g < ng; g++, y += 2, x++) {
        memcpy(x->lo, y[0].lo, 32), memcpy(x->lo + 32, y[1].lo, 32);
        memcpy(x->hi, y[0].hi, 32), memcpy(x->hi + 32, y[1].hi, 32);
        for (i = 0; i < 8; i++) {
            x->off[i] = -((int32_t)y[0].s8[2 * i] + y[0].s8[2 * i + 1]);
            x->off[8 + i] = -((int32_t)y[1].s8[2 * i] + y[1].s8[2 * i + 1]);
        }
        memcpy(x->d, y[0].d, 32), memcpy(x->d + 8, y[1].d, 32);
    }
}

/* q4_group over a relaid input: the same integer sums and float steps, so
 * the same bits */
T512 static inline __m512 q4_group_in(const uint8_t *b, const q4_in *x, __m512 a)
{
    return q4_core(b, ld512(x->lo), ld512(x->hi), ld512(x->off), _mm512_loadu_ps(x->d), a, 0xffff);
}

/* Q4_0 row b against the input xq; x: the same input relaid (q4_relay,
 * n / 128 groups) or NULL (a constant where inlined). A last group of 1..3
 * blocks is copied out and takes xq either way. */
T512 static inline __attribute__((always_inline)) float qdot_q4_0_x(const uint8_t *b, const q4_in *x, const void *xq,
                                                                    uint64_t n, int pf)
{
    static const cl_act_q8x2 zero; /* the input of a pair that does not exist */
    const cl_act_q8x2 *y = xq;
    __m512 a = _mm512_setzero_ps();
    uint64_t nb = n / 32, k = 0;
    CL_PF_DECL(b);
    for (; k + 4 <= nb; k += 4, b += 72, y += 2) {
        CL_PF_STEP(pf, b, 72);
        a = x ? q4_group_in(b, x++, a) : q4_group(b, y, y + 1, a, 0xffff);
    }
    if (k < nb) { /* 1..3 blocks copied out; an odd last block's pair partner is all zero, as in dot_q4_0 */
        uint8_t t[72] = {0};
        uint64_t r = nb - k;
        memcpy(t, b, 18 * r);
        a = q4_group(t, y, r > 2 ? y + 1 : &zero, a, r > 2 ? 0xffff : 0x00ff);
    }
    return hsum8(_mm256_add_ps(lo8(a), hi8(a)));
}

T512 static inline __attribute__((always_inline)) float qdot_q4_0(const uint8_t *b, const void *xq, uint64_t n, int pf)
{
    return qdot_q4_0_x(b, NULL, xq, n, pf);
}

/* ------------------------------------------------------------------ Q4_K */

/* 16-bit lanes 0..15 take scale a, lanes 16..31 scale b (of 8 in 16-bit lanes) */
#define PICK2(A, B) _mm512_setr_epi64(A * 0x0001000100010001ll, A * 0x0001000100010001ll, A * 0x0001000100010001ll, \
                                      A * 0x0001000100010001ll, B * 0x0001000100010001ll, B * 0x0001000100010001ll, \
                                      B * 0x0001000100010001ll, B * 0x0001000100010001ll)

/* cl_q4k_scmins in one register: the 8 scales in bytes 0..7, the 8 mins
 * in bytes 8..15, from the 12 scale bytes at p (16 bytes read: the block
 * goes on with its quants). With u = the three 32-bit words at p, lanes
 * 0..3 are u0 & 0x3f.., (u2 & 0x0f..) | top bits of u0, u1 & 0x3f..,
 * (u2 >> 4 & 0x0f..) | top bits of u1 (the top two bits of each byte, >> 2,
 * are (x >> 6 & 3) << 4 per byte). */
T512 static inline __m128i q4k_scmins128(const uint8_t *p)
{
    const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    const __m128i a = _mm_shuffle_epi32(x, 0x98), /* u0 u2 u1 u2 */
        t = _mm_shuffle_epi32(x, 0x50);           /* u0 u0 u1 u1 */
    const __m128i lo = _mm_and_si128(_mm_srlv_epi32(a, _mm_setr_epi32(0, 0, 0, 4)),
                                     _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    return _mm_or_si128(lo, _mm_and_si128(_mm_srli_epi32(t, 2), _mm_setr_epi32(0, 0x30303030, 0, 0x30303030)));
}

/* In dot_q4_k, the 32 bytes of sub-block pair j give quants 64j..64j+31
 * (low nibbles, scale 2j) and 64j+32..64j+63 (high nibbles, scale 2j+1).
 * Here 64 bytes (pairs j, j+1) at once: the low nibbles against [inputs
 * 64j.. | 64j+64..] (y0, y2), the high ones against the inputs 32 further
 * on (y1, y3), each 16-bit pair sum times its sub-block's scale by
 * dpwssd; pairs: the input's 8 sums of two bsums, which the mins
 * multiply. One super-block's float steps, as dot_q4_k takes them. */
T512 static inline __attribute__((always_inline)) void q4k_block(const uint8_t *b, __m512i y0, __m512i y1,
                                                                __m512i y2, __m512i y3, __m128i pairs, float yd,
                                                                float *acc, float *accm)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m512i p02 = PICK2(0, 2), p13 = PICK2(1, 3), p46 = PICK2(4, 6), p57 = PICK2(5, 7);
    const uint8_t *q = b + 16;
    __m512i s = _mm512_setzero_si512(), v0 = ld512(q), v1 = ld512(q + 64);
    __m128i sm = q4k_scmins128(b + 4), mm;
    __m512i sc = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sm));
    /* sum_j min_j * (bsums[2j] + bsums[2j+1]), as simd.c */
    mm = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), pairs);
    mm = _mm_add_epi32(mm, _mm_shuffle_epi32(mm, 0x4e));
    mm = _mm_add_epi32(mm, _mm_shuffle_epi32(mm, 0xb1));
    s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(_mm512_and_si512(v0, m4), y0), _mm512_permutexvar_epi16(p02, sc));
    s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(v0, 4), m4), y1),
                            _mm512_permutexvar_epi16(p13, sc));
    s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(_mm512_and_si512(v1, m4), y2), _mm512_permutexvar_epi16(p46, sc));
    s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(v1, 4), m4), y3),
                            _mm512_permutexvar_epi16(p57, sc));
    *acc = fmaf(h2f(b) * yd, (float)hsum_i32(s), *acc);
    *accm = fmaf(h2f(b + 2) * yd, (float)_mm_cvtsi128_si32(mm), *accm);
}

/* A cl_act_q8k block as q4k_block reads it, each operand one 64-byte
 * load: quants [0..31 | 64..95], [32..63 | 96..127], [128..159 |
 * 192..223], [160..191 | 224..255], the 8 pair sums and the scale.
 * Decode's row loop lays the input out so once per call (q4k_relay)
 * rather than merging the halves in every row. */
typedef struct q4k_in {
    int8_t qs[4][64] __attribute__((aligned(64))); /* 320 bytes a block: each operand on its own line */
    int16_t pairs[8];
    float d;
} q4k_in;

#define Q4K_IN_MAX 80 /* super-blocks relaid on the stack: rows up to 20480 values */

T512 static void q4k_relay(const cl_act_q8k *y, uint64_t nb, q4k_in *x)
{
    static const int at[4][2] = {{0, 64}, {32, 96}, {128, 192}, {160, 224}};
    uint64_t k;
    int i;
    for (k = 0; k < nb; k++, y++, x++) {
        for (i = 0; i < 4; i++) memcpy(x->qs[i], y->qs + at[i][0], 32), memcpy(x->qs[i] + 32, y->qs + at[i][1], 32);
        for (i = 0; i < 8; i++) x->pairs[i] = (int16_t)(y->bsums[2 * i] + y->bsums[2 * i + 1]);
        x->d = y->d;
    }
}

/* Q4_K row b against the input xq; x: the same input relaid (q4k_relay,
 * n / 256 blocks) or NULL (a constant where inlined). Either way the same
 * integer sums and float steps, so the same bits. */
T512 static inline __attribute__((always_inline)) float qdot_q4_k_x(const uint8_t *b, const q4k_in *x, const void *xq,
                                                                    uint64_t n, int pf)
{
    const cl_act_q8k *y = xq;
    float acc = 0.0f, accm = 0.0f;
    uint64_t i;
    CL_PF_DECL(b);
    for (i = 0; i < n; i += 256, b += 144, y++) {
        CL_PF_STEP(pf, b, 144);
        if (x) {
            q4k_block(b, ld512(x->qs[0]), ld512(x->qs[1]), ld512(x->qs[2]), ld512(x->qs[3]),
                      _mm_loadu_si128((const __m128i *)(const void *)x->pairs), x->d, &acc, &accm);
            x++;
        } else
            q4k_block(b, ld2x256(y->qs, y->qs + 64), ld2x256(y->qs + 32, y->qs + 96),
                      ld2x256(y->qs + 128, y->qs + 192), ld2x256(y->qs + 160, y->qs + 224),
                      _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y->bsums),
                                     _mm_loadu_si128((const __m128i *)(y->bsums + 8))),
                      y->d, &acc, &accm);
    }
    return acc - accm;
}

T512 static inline __attribute__((always_inline)) float qdot_q4_k(const uint8_t *b, const void *xq, uint64_t n, int pf)
{
    return qdot_q4_k_x(b, NULL, xq, n, pf);
}

/* ------------------------------------------------------------------ Q6_K */

/* 16-bit lanes 8g..8g+7 take scale a + g (g < 4) */
#define PICK4(A) _mm512_setr_epi64((A) * 0x0001000100010001ll, (A) * 0x0001000100010001ll,             \
                                   (A + 1) * 0x0001000100010001ll, (A + 1) * 0x0001000100010001ll, \
                                   (A + 2) * 0x0001000100010001ll, (A + 2) * 0x0001000100010001ll, \
                                   (A + 3) * 0x0001000100010001ll, (A + 3) * 0x0001000100010001ll)

/* Per half of 128 quants: the 64 low-nibble bytes ql and 32 high-bit bytes
 * qh make [q1 | q2] (inputs 0..63) and [q3 | q4] (64..127) of dot_q6_k,
 * unsigned 0..63; the -32 is taken once per super-block as in simd.c
 * (cl_q6k_offs). Each 16-bit pair sum times its group's scale by dpwssd. */
T512 static inline __attribute__((always_inline)) float qdot_q6_k(const uint8_t *b, const void *xq, uint64_t n, int pf)
{
    const cl_act_q8k *y = xq;
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    /* 16-bit shift counts: 4 and 2 (q1, q2), 0 and 2 (q3, q4) */
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m512i pk[4] = {PICK4(0), PICK4(4), PICK4(8), PICK4(12)};
    float acc = 0.0f;
    uint64_t i;
    CL_PF_DECL(b);
    for (i = 0; i < n; i += 256, b += 210, y++) {
        const uint8_t *ql = b, *qh = b + 128;
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(b + 192)));
        __m512i sc = _mm512_castsi256_si512(sc16);
        /* -32 * sum_g sc[g] * bsums[g] */
        __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sc16, ld256(y->bsums)), 5);
        __m512i s = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), off));
        int h;
        CL_PF_STEP(pf, b, 210);
        for (h = 0; h < 2; h++, ql += 64, qh += 32) {
            const int8_t *yq = y->qs + 128 * h;
            __m512i l = ld512(ql), hb = _mm512_broadcast_i64x4(ld256(qh));
            /* (l & 0x0f) | (hi bits & 0x30): ternary logic A | (B & C) */
            __m512i q12 = _mm512_ternarylogic_epi64(_mm512_and_si512(l, m4), _mm512_sllv_epi16(hb, shl), m30, 0xf8);
            __m512i q34 = _mm512_ternarylogic_epi64(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                                    _mm512_srlv_epi16(hb, shr), m30, 0xf8);
            s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(q12, ld512(yq)), _mm512_permutexvar_epi16(pk[2 * h], sc));
            s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(q34, ld512(yq + 64)),
                                    _mm512_permutexvar_epi16(pk[2 * h + 1], sc));
        }
        acc = fmaf(h2f(b + 208) * y->d, (float)hsum_i32(s), acc);
    }
    return acc;
}

/* ------------------------------------------------------------------ rows */

/* Rows [r0, r1) against an input relaid once for them (RELAY into an
 * array of IN, NB units) and read by KERNEL_X */
#define RELAID_ROWS(IN, MAX, RELAY, NB, KERNEL_X)                                                                  \
    {                                                                                                              \
        IN x[MAX] __attribute__((aligned(64)));                                                                    \
        uint64_t r;                                                                                                \
        RELAY(xq, NB, x);                                                                                          \
        for (r = r0; r < r1; r++) {                                                                                \
            float d = KERNEL_X(w + r * rb, x, xq, n, 1);                                                           \
            __asm__("" : "+x"(d));                                                                                 \
            y[r] = d + (bias ? bias[r] : 0.0f);                                                                    \
        }                                                                                                          \
        return;                                                                                                    \
    }

T512 void cl_qdot_rows_avx512(int wtype, const uint8_t *w, size_t rb, const void *xq, uint64_t n, const float *bias,
                              float *y, uint64_t r0, uint64_t r1)
{
    if (wtype == CL_TYPE_Q4_0 && n / 128 <= Q4_IN_MAX) RELAID_ROWS(q4_in, Q4_IN_MAX, q4_relay, n / 128, qdot_q4_0_x)
    if (wtype == CL_TYPE_Q4_K && n / 256 <= Q4K_IN_MAX) RELAID_ROWS(q4k_in, Q4K_IN_MAX, q4k_relay, n / 256, qdot_q4_k_x)
    CL_QDOT_ROWS_BODY();
}
#undef RELAID_ROWS

T512 float cl_qdot_avx512(int wtype, const uint8_t *row, const void *xq, uint64_t n)
{
    switch (wtype) {
    case CL_TYPE_Q8_0: return qdot_q8_0(row, xq, n, 0);
    case CL_TYPE_Q4_0: return qdot_q4_0(row, xq, n, 0);
    case CL_TYPE_Q4_K: return qdot_q4_k(row, xq, n, 0);
    case CL_TYPE_Q6_K: return qdot_q6_k(row, xq, n, 0);
    }
    return cl_qdot_ref(wtype, row, xq, n);
}
#endif
