/* quant.c — tensor element types: block layouts, fp16/bf16 conversion, row
 * dequantisation and quantised-row dot products (block by block: a row is
 * never dequantised whole). Layouts follow GGML exactly; see llm.h. */
#include "llm_int.h"

#include <math.h>
#include <string.h>

#define QK 32
#define QK_K 256

static const struct tinfo {
    const char *name;
    int block;
    size_t bytes;
} tinfo[CL_TYPE_COUNT] = {
    [CL_TYPE_F32] = {"F32", 1, 4},       [CL_TYPE_F16] = {"F16", 1, 2},
    [CL_TYPE_Q4_0] = {"Q4_0", 32, 18},   [CL_TYPE_Q4_1] = {"Q4_1", 32, 20},
    [CL_TYPE_Q5_0] = {"Q5_0", 32, 22},   [CL_TYPE_Q5_1] = {"Q5_1", 32, 24},
    [CL_TYPE_Q8_0] = {"Q8_0", 32, 34},   [CL_TYPE_Q8_1] = {"Q8_1", 32, 36},
    [CL_TYPE_Q2_K] = {"Q2_K", 256, 84},  [CL_TYPE_Q3_K] = {"Q3_K", 256, 110},
    [CL_TYPE_Q4_K] = {"Q4_K", 256, 144}, [CL_TYPE_Q5_K] = {"Q5_K", 256, 176},
    [CL_TYPE_Q6_K] = {"Q6_K", 256, 210}, [CL_TYPE_Q8_K] = {"Q8_K", 256, 292},
    [CL_TYPE_I8] = {"I8", 1, 1},         [CL_TYPE_I16] = {"I16", 1, 2},
    [CL_TYPE_I32] = {"I32", 1, 4},       [CL_TYPE_I64] = {"I64", 1, 8},
    [CL_TYPE_F64] = {"F64", 1, 8},       [CL_TYPE_BF16] = {"BF16", 1, 2},
};

const char *cl_type_name(int type)
{
    return type >= 0 && type < CL_TYPE_COUNT ? tinfo[type].name : NULL;
}

int cl_type_block_size(int type)
{
    return type >= 0 && type < CL_TYPE_COUNT ? tinfo[type].block : 0;
}

size_t cl_type_block_bytes(int type)
{
    return type >= 0 && type < CL_TYPE_COUNT ? tinfo[type].bytes : 0;
}

int cl_type_supported(int type)
{
    switch (type) {
    case CL_TYPE_F32: case CL_TYPE_F16: case CL_TYPE_BF16: case CL_TYPE_Q8_0:
    case CL_TYPE_Q4_0: case CL_TYPE_Q4_K: case CL_TYPE_Q6_K:
        return 1;
    }
    return 0;
}

cl_status cl_type_row_bytes(int type, uint64_t n, size_t *out)
{
    int bs = cl_type_block_size(type);
    uint64_t blocks;
    if (!bs) return cl_err(CL_ERR_UNSUPPORTED, "unknown tensor type %d", type);
    if (n % (uint64_t)bs)
        return cl_err(CL_ERR_RANGE, "%llu values is not a multiple of %s's block size %d",
                      (unsigned long long)n, cl_type_name(type), bs);
    blocks = n / (uint64_t)bs;
    if (blocks > SIZE_MAX / cl_type_block_bytes(type)) return cl_err(CL_ERR_RANGE, "row too large");
    *out = (size_t)blocks * cl_type_block_bytes(type);
    return CL_OK;
}

/* ------------------------------------------------------------ fp16 / bf16 */

float cl_fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    float f;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 */
        f = ldexpf((float)man, -24);
        return sign ? -f : f;
    }
    if (exp == 31) u = sign | 0x7f800000u | (man << 13);
    else u = sign | ((exp + 112) << 23) | (man << 13);
    memcpy(&f, &u, 4);
    return f;
}

uint16_t cl_f32_to_fp16(float f)
{
    uint32_t u, sign, man;
    int exp;
    memcpy(&u, &f, 4);
    sign = (u >> 16) & 0x8000;
    exp = (int)((u >> 23) & 0xff);
    man = u & 0x7fffff;
    if (exp == 255) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    exp = exp - 127 + 15;
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        uint32_t m, shift, r, half;
        if (exp < -10) return (uint16_t)sign;
        m = man | 0x800000;
        shift = (uint32_t)(14 - exp);
        r = m >> shift;
        half = 1u << (shift - 1);
        if ((m & ((1u << shift) - 1)) > half || ((m & ((1u << shift) - 1)) == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    {
        uint32_t r = ((uint32_t)exp << 10) | (man >> 13), rem = man & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++; /* may carry into exponent: fine */
        return (uint16_t)(sign | r);
    }
}

float cl_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t cl_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 64); /* quiet NaN */
    return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

/* ------------------------------------------------------------ blocks */

static void deq_q8_0(const uint8_t *b, float *y)
{
    float d = cl_fp16_to_f32(cl_ld16(b));
    int j;
    for (j = 0; j < QK; j++) y[j] = d * (float)(int8_t)b[2 + j];
}

static void deq_q4_0(const uint8_t *b, float *y)
{
    float d = cl_fp16_to_f32(cl_ld16(b));
    const uint8_t *qs = b + 2;
    int j;
    for (j = 0; j < QK / 2; j++) {
        y[j] = d * (float)((qs[j] & 0x0f) - 8);
        y[j + QK / 2] = d * (float)((qs[j] >> 4) - 8);
    }
}

/* Q4_K: 8 sub-blocks of 32 values, 6-bit scale and min each, packed in 12 bytes. */
static void scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static void deq_q4_k(const uint8_t *b, float *y)
{
    float d = cl_fp16_to_f32(cl_ld16(b)), dmin = cl_fp16_to_f32(cl_ld16(b + 2));
    const uint8_t *scales = b + 4, *q = b + 16;
    int j, l, is = 0;
    for (j = 0; j < QK_K; j += 64) {
        uint8_t sc, m;
        float d1, m1, d2, m2;
        scale_min_k4(is, scales, &sc, &m);
        d1 = d * sc;
        m1 = dmin * m;
        scale_min_k4(is + 1, scales, &sc, &m);
        d2 = d * sc;
        m2 = dmin * m;
        for (l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0x0f) - m1;
        for (l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        q += 32;
        is += 2;
    }
}

static void deq_q6_k(const uint8_t *b, float *y)
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = cl_fp16_to_f32(cl_ld16(b + 208));
    int n, l;
    for (n = 0; n < QK_K; n += 128) {
        for (l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * sc[is] * (float)q1;
            y[l + 32] = d * sc[is + 2] * (float)q2;
            y[l + 64] = d * sc[is + 4] * (float)q3;
            y[l + 96] = d * sc[is + 6] * (float)q4;
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

/* Dequantise one block of `type` (block size values) into y. */
static void deq_block(int type, const uint8_t *b, float *y)
{
    switch (type) {
    case CL_TYPE_F32: memcpy(y, b, 4); break;
    case CL_TYPE_F16: y[0] = cl_fp16_to_f32(cl_ld16(b)); break;
    case CL_TYPE_BF16: y[0] = cl_bf16_to_f32(cl_ld16(b)); break;
    case CL_TYPE_Q8_0: deq_q8_0(b, y); break;
    case CL_TYPE_Q4_0: deq_q4_0(b, y); break;
    case CL_TYPE_Q4_K: deq_q4_k(b, y); break;
    case CL_TYPE_Q6_K: deq_q6_k(b, y); break;
    }
}

static cl_status check_row(int type, uint64_t n)
{
    if (!cl_type_supported(type))
        return cl_err(CL_ERR_UNSUPPORTED, "tensor type %s (%d) is not supported",
                      cl_type_name(type) ? cl_type_name(type) : "?", type);
    if (n % (uint64_t)cl_type_block_size(type))
        return cl_err(CL_ERR_RANGE, "%llu values is not a multiple of %s's block size %d",
                      (unsigned long long)n, cl_type_name(type), cl_type_block_size(type));
    return CL_OK;
}

cl_status cl_dequantize_row(int type, const void *row, float *out, uint64_t n)
{
    const uint8_t *b = row;
    uint64_t i, bs, bb;
    cl_status s = check_row(type, n);
    if (s) return s;
    bs = (uint64_t)cl_type_block_size(type);
    bb = cl_type_block_bytes(type);
    if (type == CL_TYPE_F32) {
        memcpy(out, row, n * 4);
        return CL_OK;
    }
    for (i = 0; i < n; i += bs, b += bb) deq_block(type, b, out + i);
    return CL_OK;
}

/* The portable reference dot product (row layout already checked). */
float cl_dot_ref(int type, const uint8_t *b, const float *x, uint64_t n)
{
    uint64_t i, bs = (uint64_t)cl_type_block_size(type), bb = cl_type_block_bytes(type);
    float sum = 0.0f, tmp[QK_K];
    int j;
    switch (type) {
    case CL_TYPE_F32:
        for (i = 0; i < n; i++) {
            float v;
            memcpy(&v, b + 4 * i, 4);
            sum += v * x[i];
        }
        break;
    case CL_TYPE_F16:
        for (i = 0; i < n; i++) sum += cl_fp16_to_f32(cl_ld16(b + 2 * i)) * x[i];
        break;
    case CL_TYPE_BF16:
        for (i = 0; i < n; i++) sum += cl_bf16_to_f32(cl_ld16(b + 2 * i)) * x[i];
        break;
    case CL_TYPE_Q8_0:
        /* integer quants times x, scaled once per block */
        for (i = 0; i < n; i += bs, b += bb) {
            float acc = 0.0f;
            for (j = 0; j < QK; j++) acc += (float)(int8_t)b[2 + j] * x[i + j];
            sum += cl_fp16_to_f32(cl_ld16(b)) * acc;
        }
        break;
    case CL_TYPE_Q4_0:
        for (i = 0; i < n; i += bs, b += bb) {
            float acc = 0.0f;
            for (j = 0; j < QK / 2; j++)
                acc += (float)((b[2 + j] & 0x0f) - 8) * x[i + j] +
                       (float)((b[2 + j] >> 4) - 8) * x[i + j + QK / 2];
            sum += cl_fp16_to_f32(cl_ld16(b)) * acc;
        }
        break;
    default: /* K-quants: one super-block at a time */
        for (i = 0; i < n; i += bs, b += bb) {
            deq_block(type, b, tmp);
            for (j = 0; j < (int)bs; j++) sum += tmp[j] * x[i + j];
        }
        break;
    }
    return sum;
}

cl_status cl_dot_row(int type, const void *row, const float *x, uint64_t n, float *out)
{
    cl_status s = check_row(type, n);
    if (s) return s;
    *out = cl_dot_ref(type, row, x, n);
    return CL_OK;
}

static void put_fp16(uint8_t *p, float f)
{
    uint16_t h = cl_f32_to_fp16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Q4_K super-block of 256 values: per sub-block of 32 a scale and a min
 * (x ~ sc*q - m, q in 0..15), both quantised to 6 bits against d and dmin. */
static void quant_q4_k(const float *x, uint8_t *b)
{
    float scale[8], mins[8], maxs = 0.0f, maxm = 0.0f, d, dmin;
    int sc[8], m[8], q[QK_K], s, l;
    for (s = 0; s < 8; s++) {
        float mn = 0.0f, mx = 0.0f;
        for (l = 0; l < 32; l++) {
            mn = fminf(mn, x[32 * s + l]);
            mx = fmaxf(mx, x[32 * s + l]);
        }
        scale[s] = (mx - mn) / 15.0f;
        mins[s] = -mn;
        maxs = fmaxf(maxs, scale[s]);
        maxm = fmaxf(maxm, mins[s]);
    }
    put_fp16(b, maxs / 63.0f);
    put_fp16(b + 2, maxm / 63.0f);
    d = cl_fp16_to_f32(cl_ld16(b));
    dmin = cl_fp16_to_f32(cl_ld16(b + 2));
    for (s = 0; s < 8; s++) {
        float ds, ms;
        sc[s] = d > 0.0f ? clampi((int)lroundf(scale[s] / d), 0, 63) : 0;
        m[s] = dmin > 0.0f ? clampi((int)lroundf(mins[s] / dmin), 0, 63) : 0;
        ds = d * (float)sc[s];
        ms = dmin * (float)m[s];
        for (l = 0; l < 32; l++) q[32 * s + l] = ds > 0.0f ? clampi((int)lroundf((x[32 * s + l] + ms) / ds), 0, 15) : 0;
    }
    for (s = 0; s < 4; s++) {
        b[4 + s] = (uint8_t)(sc[s] | ((sc[s + 4] >> 4) << 6));
        b[4 + s + 4] = (uint8_t)(m[s] | ((m[s + 4] >> 4) << 6));
        b[4 + s + 8] = (uint8_t)((sc[s + 4] & 0x0f) | ((m[s + 4] & 0x0f) << 4));
    }
    for (s = 0; s < 4; s++)
        for (l = 0; l < 32; l++) b[16 + 32 * s + l] = (uint8_t)(q[64 * s + l] | (q[64 * s + 32 + l] << 4));
}

/* Q6_K super-block: per group of 16 an int8 scale against d, q in -32..31. */
static void quant_q6_k(const float *x, uint8_t *b)
{
    float gs[16], maxs = 0.0f, d;
    int sc[16], q[QK_K], g, l, n;
    for (g = 0; g < 16; g++) {
        float amax = 0.0f;
        for (l = 0; l < 16; l++) amax = fmaxf(amax, fabsf(x[16 * g + l]));
        gs[g] = amax / 31.0f;
        maxs = fmaxf(maxs, gs[g]);
    }
    put_fp16(b + 208, maxs / 127.0f);
    d = cl_fp16_to_f32(cl_ld16(b + 208));
    for (g = 0; g < 16; g++) {
        float ds;
        sc[g] = d > 0.0f ? clampi((int)lroundf(gs[g] / d), -128, 127) : 0;
        b[192 + g] = (uint8_t)(int8_t)sc[g];
        ds = d * (float)sc[g];
        for (l = 0; l < 16; l++) q[16 * g + l] = (ds > 0.0f ? clampi((int)lroundf(x[16 * g + l] / ds), -32, 31) : 0) + 32;
    }
    for (n = 0; n < 2; n++)
        for (l = 0; l < 32; l++) {
            int q1 = q[128 * n + l], q2 = q[128 * n + l + 32], q3 = q[128 * n + l + 64], q4 = q[128 * n + l + 96];
            b[64 * n + l] = (uint8_t)((q1 & 15) | ((q3 & 15) << 4));
            b[64 * n + l + 32] = (uint8_t)((q2 & 15) | ((q4 & 15) << 4));
            b[128 + 32 * n + l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
        }
}

cl_status cl_quantize_row(int type, const float *x, void *out, uint64_t n)
{
    uint8_t *b = out;
    uint64_t i;
    int j;
    if (type == CL_TYPE_Q4_K || type == CL_TYPE_Q6_K) {
        if (n % QK_K) return cl_err(CL_ERR_RANGE, "%llu values is not a multiple of 256", (unsigned long long)n);
        for (i = 0; i < n; i += QK_K, b += cl_type_block_bytes(type))
            (type == CL_TYPE_Q4_K ? quant_q4_k : quant_q6_k)(x + i, b);
        return CL_OK;
    }
    if (type != CL_TYPE_Q8_0 && type != CL_TYPE_Q4_0)
        return cl_err(CL_ERR_UNSUPPORTED, "quantising to %s is not supported",
                      cl_type_name(type) ? cl_type_name(type) : "?");
    if (n % QK) return cl_err(CL_ERR_RANGE, "%llu values is not a multiple of 32", (unsigned long long)n);
    for (i = 0; i < n; i += QK) {
        const float *v = x + i;
        if (type == CL_TYPE_Q8_0) {
            float amax = 0.0f, d, id;
            for (j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(v[j]));
            d = amax / 127.0f;
            id = d ? 1.0f / d : 0.0f;
            b[0] = (uint8_t)(cl_f32_to_fp16(d) & 0xff);
            b[1] = (uint8_t)(cl_f32_to_fp16(d) >> 8);
            for (j = 0; j < QK; j++) b[2 + j] = (uint8_t)(int8_t)roundf(v[j] * id);
            b += 34;
        } else {
            float amax = 0.0f, max = 0.0f, d, id;
            for (j = 0; j < QK; j++)
                if (fabsf(v[j]) > amax) { amax = fabsf(v[j]); max = v[j]; }
            d = max / -8.0f;
            id = d ? 1.0f / d : 0.0f;
            b[0] = (uint8_t)(cl_f32_to_fp16(d) & 0xff);
            b[1] = (uint8_t)(cl_f32_to_fp16(d) >> 8);
            for (j = 0; j < QK / 2; j++) {
                int q0 = (int)(v[j] * id + 8.5f), q1 = (int)(v[j + QK / 2] * id + 8.5f);
                if (q0 > 15) q0 = 15;
                if (q1 > 15) q1 = 15;
                if (q0 < 0) q0 = 0;
                if (q1 < 0) q1 = 0;
                b[2 + j] = (uint8_t)(q0 | (q1 << 4));
            }
            b += 18;
        }
    }
    return CL_OK;
}
