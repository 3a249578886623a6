/* qdot.c — the integer dot-product path for quantised weights: the float
 * input vector is quantised once per matrix product to 8-bit integers
 * (cl_act_quantize), and each weight row is then multiplied with it in
 * integers, block by block, with one float multiply-add per block (Q8_0,
 * Q4_0 weights: activation blocks of 32) or per super-block (Q4_K, Q6_K:
 * activation blocks of 256 with sums per 16, as GGML's Q8_K).
 *
 * This file is the portable reference. simd.c's AVX2 kernels compute the
 * same values bit for bit: every integer sum is exact, and the float steps
 * are written here in the AVX2 kernels' order (for Q8_0: block k of a
 * row goes to accumulator k % 4, eight lanes each, lane l taking the
 * integer sum of values 4l..4l+3 of the block, then the lanes are added as
 * hsum8 does; for Q4_0 see dot_q4_0; for the K-quants: one integer per super-block and one fused
 * multiply-add). tests/test_llm_simd.c checks the equality. */
#include "llm_int.h"

#include <math.h>
#include <string.h>

size_t cl_act_bytes(int wtype, uint64_t n)
{
    switch (wtype) {
    case CL_TYPE_Q8_0: return n % 32 ? 0 : (size_t)((n / 32 + 3) / 4) * sizeof(cl_act_q8x4);
    case CL_TYPE_Q4_0: return n % 32 ? 0 : (size_t)((n / 32 + 1) / 2) * sizeof(cl_act_q8x2);
    case CL_TYPE_Q4_K:
    case CL_TYPE_Q6_K: return n % 256 ? 0 : (size_t)(n / 256) * sizeof(cl_act_q8k);
    }
    return 0;
}

/* q = round-to-nearest-even(x / d) with d = max|x| / 127: |q| <= 127
 * (never -128, which the kernels' sign trick could not negate). */
static float quant_block(const float *x, int n, int8_t *q)
{
    float amax = 0.0f, d, id;
    int j;
    for (j = 0; j < n; j++) /* NaN is skipped, as the AVX2 max_ps(|x|, amax) does */
        if (fabsf(x[j]) > amax) amax = fabsf(x[j]);
    d = amax / 127.0f;
    id = d > 0.0f ? 127.0f / amax : 0.0f;
    for (j = 0; j < n; j++) {
        float v = nearbyintf(x[j] * id); /* NaN (from an infinite or NaN input) gives 0 */
        q[j] = (int8_t)(v >= 127.0f ? 127 : v <= -127.0f ? -127 : v == v ? (int)v : 0);
    }
    return d;
}

void cl_act_bsums(cl_act_q8k *y)
{
    int g, j;
    for (g = 0; g < 16; g++) {
        int s = 0;
        for (j = 0; j < 16; j++) s += y->qs[16 * g + j];
        y->bsums[g] = (int16_t)s;
    }
}

void cl_act_q4_put(cl_act_q8x2 *y, int h, const int8_t *q, float d)
{
    int i;
    memcpy(y->lo + 16 * h, q, 16);
    memcpy(y->hi + 16 * h, q + 16, 16);
    for (i = 0; i < 8; i++)
        y->s8[8 * h + i] = (int16_t)(8 * (q[2 * i] + q[2 * i + 1] + q[16 + 2 * i] + q[16 + 2 * i + 1]));
    for (i = 0; i < 4; i++) y->d[4 * h + i] = d;
}

void cl_act_quantize_ref(int wtype, const float *x, uint64_t n, void *out)
{
    uint64_t i;
    if (wtype == CL_TYPE_Q8_0) {
        cl_act_q8x4 *y = out;
        for (i = 0; i < n; i += 32) {
            if (i % 128 == 0) memset(y + i / 128, 0, sizeof *y); /* padding blocks stay zero */
            y[i / 128].d[i / 32 % 4] = quant_block(x + i, 32, y[i / 128].qs[i / 32 % 4]);
        }
    } else if (wtype == CL_TYPE_Q4_0) {
        cl_act_q8x2 *y = out;
        int8_t q[32];
        for (i = 0; i < n; i += 32) {
            float d = quant_block(x + i, 32, q);
            if (i % 64 == 0) memset(y + i / 64, 0, sizeof *y); /* block 1 stays zero when n / 32 is odd */
            cl_act_q4_put(y + i / 64, (int)(i / 32 % 2), q, d);
        }
    } else {
        cl_act_q8k *y = out;
        for (i = 0; i < n; i += 256, y++) {
            y->d = quant_block(x + i, 256, y->qs);
            cl_act_bsums(y);
        }
    }
}

/* The AVX2 hsum8 order: ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)). */
static float hsum8_ref(const float *v)
{
    float a0 = v[0] + v[4], a1 = v[1] + v[5], a2 = v[2] + v[6], a3 = v[3] + v[7];
    return (a0 + a2) + (a1 + a3);
}

/* Q8_0 rows. */
static float dot_q8_0(const uint8_t *b, const cl_act_q8x4 *y4, uint64_t n)
{
    float acc[4][8], sum[8];
    uint64_t i, k;
    int l, j;
    memset(acc, 0, sizeof acc);
    for (i = 0, k = 0; i < n; i += 32, k++, b += 34) {
        const cl_act_q8x4 *y = y4 + k / 4;
        float dd = cl_fp16_to_f32(cl_ld16(b)) * y->d[k % 4];
        for (l = 0; l < 8; l++) {
            int s = 0;
            for (j = 4 * l; j < 4 * l + 4; j++) s += (int8_t)b[2 + j] * y->qs[k % 4][j];
            acc[k % 4][l] = fmaf(dd, (float)s, acc[k % 4][l]);
        }
    }
    for (l = 0; l < 8; l++) sum[l] = (acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l]);
    return hsum8_ref(sum);
}

/* Q4_0 rows, two blocks at a time (the AVX2 order): pair p goes to
 * accumulator p % 2, block h of the pair to lanes 4h..4h+3, lane 4h + l
 * taking the integer sum of (quant - 8) * input over quants 4l..4l+3 and
 * 16+4l..16+4l+3 of the block. With an odd number of blocks the last
 * pair's block 1 adds 0 * 0 (as the AVX2 kernel does). */
static float dot_q4_0(const uint8_t *b, const cl_act_q8x2 *y, uint64_t n)
{
    float acc[2][8], sum[8];
    uint64_t nb = n / 32, k;
    int l, j;
    memset(acc, 0, sizeof acc);
    for (k = 0; k < nb + nb % 2; k++) {
        const cl_act_q8x2 *yp = y + k / 2;
        int h = (int)(k % 2);
        float dd = k < nb ? cl_fp16_to_f32(cl_ld16(b + 18 * k)) * yp->d[4 * h] : 0.0f;
        for (l = 0; l < 4; l++) {
            int s = 0;
            for (j = 4 * l; j < 4 * l + 4 && k < nb; j++) {
                const uint8_t q = b[18 * k + 2 + j];
                s += ((q & 0x0f) - 8) * yp->lo[16 * h + j] + ((q >> 4) - 8) * yp->hi[16 * h + j];
            }
            acc[k / 2 % 2][4 * h + l] = fmaf(dd, (float)s, acc[k / 2 % 2][4 * h + l]);
        }
    }
    for (l = 0; l < 8; l++) sum[l] = acc[0][l] + acc[1][l];
    return hsum8_ref(sum);
}

/* Q4_K's 6-bit scale and min of sub-block j (as quant.c's). */
static void scmin_k4(int j, const uint8_t *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

int32_t cl_q4k_mins(const uint8_t *b, const cl_act_q8k *y)
{
    int32_t s = 0;
    int j, sc, m;
    for (j = 0; j < 8; j++) {
        scmin_k4(j, b + 4, &sc, &m);
        s += m * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
    return s;
}

int32_t cl_q6k_offs(const uint8_t *b, const cl_act_q8k *y)
{
    const int8_t *sc = (const int8_t *)(b + 192);
    int32_t s = 0;
    int g;
    for (g = 0; g < 16; g++) s += sc[g] * y->bsums[g];
    return 32 * s;
}

static float dot_q4_k(const uint8_t *b, const cl_act_q8k *y, uint64_t n)
{
    float acc = 0.0f, accm = 0.0f;
    uint64_t i;
    for (i = 0; i < n; i += 256, b += 144, y++) {
        const uint8_t *q = b + 16;
        int32_t isum = 0;
        int j, l, sc, m;
        for (j = 0; j < 4; j++) {
            int32_t lo = 0, hi = 0;
            for (l = 0; l < 32; l++) {
                lo += (q[32 * j + l] & 0x0f) * y->qs[64 * j + l];
                hi += (q[32 * j + l] >> 4) * y->qs[64 * j + 32 + l];
            }
            scmin_k4(2 * j, b + 4, &sc, &m);
            isum += sc * lo;
            scmin_k4(2 * j + 1, b + 4, &sc, &m);
            isum += sc * hi;
        }
        acc = fmaf(cl_fp16_to_f32(cl_ld16(b)) * y->d, (float)isum, acc);
        accm = fmaf(cl_fp16_to_f32(cl_ld16(b + 2)) * y->d, (float)cl_q4k_mins(b, y), accm);
    }
    return acc - accm;
}

static float dot_q6_k(const uint8_t *b, const cl_act_q8k *y, uint64_t n)
{
    float acc = 0.0f;
    uint64_t i;
    for (i = 0; i < n; i += 256, b += 210, y++) {
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        int32_t isum = 0;
        int h, l;
        for (h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8) {
            const int8_t *yq = y->qs + 128 * h;
            int32_t s[8] = {0};
            for (l = 0; l < 32; l++) {
                int q1 = (ql[l] & 0x0f) | ((qh[l] & 3) << 4), q2 = (ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4);
                int q3 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4), q4 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
                s[l / 16] += q1 * yq[l];
                s[2 + l / 16] += q2 * yq[l + 32];
                s[4 + l / 16] += q3 * yq[l + 64];
                s[6 + l / 16] += q4 * yq[l + 96];
            }
            for (l = 0; l < 8; l++) isum += sc[l] * s[l];
        }
        isum -= cl_q6k_offs(b, y);
        acc = fmaf(cl_fp16_to_f32(cl_ld16(b + 208)) * y->d, (float)isum, acc);
    }
    return acc;
}

float cl_qdot_ref(int wtype, const uint8_t *row, const void *xq, uint64_t n)
{
    switch (wtype) {
    case CL_TYPE_Q8_0: return dot_q8_0(row, xq, n);
    case CL_TYPE_Q4_0: return dot_q4_0(row, xq, n);
    case CL_TYPE_Q4_K: return dot_q4_k(row, xq, n);
    case CL_TYPE_Q6_K: return dot_q6_k(row, xq, n);
    }
    return 0.0f;
}

void cl_qdot_rows_ref(int wtype, const uint8_t *w, size_t rb, const void *xq, uint64_t n, const float *bias, float *y,
                      uint64_t r0, uint64_t r1)
{
    uint64_t r;
    for (r = r0; r < r1; r++) y[r] = cl_qdot_ref(wtype, w + r * rb, xq, n) + (bias ? bias[r] : 0.0f);
}
