/* attn.c — grouped-query decode attention in chunks of positions
 * (flash-decoding): the query heads that share one KV head are handled
 * together, so each K and V row of a chunk is read from memory once for
 * the whole group; each chunk leaves, per head, its score maximum m, the
 * sum l of exp(score - m) and the unnormalised sum o of exp(score - m) * V,
 * and cl_attn_merge combines the chunks of one head in chunk order.
 *
 * This file is the portable path; simd.c has the AVX2 one (same
 * operations, other rounding: a vectorised exp, other summation orders).
 * The cache holds floats or IEEE halves (cl_kv_type): the _h variants
 * read halves directly, converting each value as it is used, so that no
 * whole-cache conversion is ever made. Over a Q8_0 cache (the _q8
 * variant) the query heads are quantised to 8-bit blocks first and K.q is
 * taken in integers, block by block (see llm_int.h for the exact order,
 * which the AVX2 version follows bit for bit).
 *
 * Both are deterministic: a result depends only on the query, the cache
 * rows and the chunk boundaries (fixed multiples of CL_ATTN_CHUNK), never
 * on the thread count or on how the cache was filled. */
#include "llm_int.h"

#include <math.h>
#include <string.h>

/* One cache value: float, or IEEE half (portable conversion, exact). */
static inline float kv_at(const void *base, size_t i, int f16)
{
    return f16 ? cl_fp16_to_f32(((const uint16_t *)base)[i]) : ((const float *)base)[i];
}

static void part_ref(const float *q, uint32_t ng, uint32_t hd, const void *k, const void *v, size_t ld, uint32_t nt,
                     float scale, float *s, float *part, int f16)
{
    uint32_t g, t, i;
    for (g = 0; g < ng; g++) {
        const float *qg = q + (size_t)g * hd;
        float *pg = part + (size_t)g * (hd + 2), *o = pg + 2, mx = -INFINITY, l = 0.0f;
        for (t = 0; t < nt; t++) {
            float d = 0.0f;
            for (i = 0; i < hd; i++) d += kv_at(k, (size_t)t * ld + i, f16) * qg[i];
            s[t] = d * scale;
            if (s[t] > mx) mx = s[t];
        }
        for (t = 0; t < nt; t++) l += (s[t] = expf(s[t] - mx));
        memset(o, 0, hd * sizeof *o);
        for (t = 0; t < nt; t++)
            for (i = 0; i < hd; i++) o[i] += s[t] * kv_at(v, (size_t)t * ld + i, f16);
        pg[0] = mx;
        pg[1] = l;
    }
}

void cl_attn_part_ref(const float *q, uint32_t ng, uint32_t hd, const float *k, const float *v, size_t ld, uint32_t nt,
                      float scale, float *s, float *part)
{
    part_ref(q, ng, hd, k, v, ld, nt, scale, s, part, 0);
}

void cl_attn_part_h_ref(const float *q, uint32_t ng, uint32_t hd, const uint16_t *k, const uint16_t *v, size_t ld,
                        uint32_t nt, float scale, float *s, float *part)
{
    part_ref(q, ng, hd, k, v, ld, nt, scale, s, part, 1);
}

/* Query values quantised at once (a larger group is taken in parts, each
 * reading the chunk's K and V again): 16 heads of 256. */
#define Q8_QMAX CL_KV_Q8_HD_MAX

size_t cl_attn_q8_query_len(uint32_t ng, uint32_t hd) { return ((size_t)ng * hd + 127) / 128; }

void cl_attn_q8_query(const float *q, uint32_t ng, uint32_t hd, cl_act_q8x4 *y, cl_act_quantize_fn quant)
{
    uint32_t g0, step = Q8_QMAX / hd;
    for (g0 = 0; g0 < ng; g0 += step) /* part g0 starts at value g0 * hd, a multiple of Q8_QMAX (of 128) */
        quant(CL_TYPE_Q8_0, q + (size_t)g0 * hd, (uint64_t)(ng - g0 < step ? ng - g0 : step) * hd,
              y + (size_t)g0 * hd / 128);
}

/* ng * hd <= Q8_QMAX; hd a multiple of 32; yq: q quantised, or NULL */
static void part_q8_one(const float *q, uint32_t ng, uint32_t hd, const uint8_t *k, const uint8_t *v, size_t ld,
                        uint32_t nt, float scale, float *s, float *part, const cl_act_q8x4 *yq)
{
    cl_act_q8x4 yl[Q8_QMAX / 128];
    const cl_act_q8x4 *y = yq ? yq : yl;
    uint32_t g, t, i, b, nbk = hd / 32;
    if (!yq) cl_act_quantize_ref(CL_TYPE_Q8_0, q, (uint64_t)ng * hd, yl);
    for (g = 0; g < ng; g++) {
        float *pg = part + (size_t)g * (hd + 2), *o = pg + 2, mx = -INFINITY, l = 0.0f;
        for (t = 0; t < nt; t++) {
            float acc = 0.0f;
            for (b = 0; b < nbk; b++) {
                const uint8_t *kb = k + (size_t)t * ld + (size_t)b * CL_KV_Q8_BLOCK;
                uint32_t j = g * nbk + b;
                const int8_t *qq = y[j / 4].qs[j % 4];
                int32_t isum = 0;
                for (i = 0; i < 32; i++) isum += (int8_t)kb[2 + i] * qq[i];
                acc = fmaf(cl_fp16_to_f32(cl_ld16(kb)) * y[j / 4].d[j % 4], (float)isum, acc);
            }
            s[t] = acc * scale;
            if (s[t] > mx) mx = s[t];
        }
        for (t = 0; t < nt; t++) l += (s[t] = expf(s[t] - mx));
        memset(o, 0, hd * sizeof *o);
        for (t = 0; t < nt; t++)
            for (b = 0; b < nbk; b++) {
                const uint8_t *vb = v + (size_t)t * ld + (size_t)b * CL_KV_Q8_BLOCK;
                float d = cl_fp16_to_f32(cl_ld16(vb));
                for (i = 0; i < 32; i++) o[b * 32 + i] += s[t] * (d * (float)(int8_t)vb[2 + i]);
            }
        pg[0] = mx;
        pg[1] = l;
    }
}

void cl_attn_part_q8_ref(const float *q, uint32_t ng, uint32_t hd, const uint8_t *k, const uint8_t *v, size_t ld,
                         uint32_t nt, float scale, float *s, float *part, const cl_act_q8x4 *yq)
{
    uint32_t g0, step = Q8_QMAX / hd;
    for (g0 = 0; g0 < ng; g0 += step)
        part_q8_one(q + (size_t)g0 * hd, ng - g0 < step ? ng - g0 : step, hd, k, v, ld, nt, scale, s,
                    part + (size_t)g0 * (hd + 2), yq ? yq + (size_t)g0 * hd / 128 : NULL);
}

void cl_kv_store_q8(uint8_t *dst, const float *src, size_t n, cl_act_quantize_fn quant)
{
    cl_act_q8x4 y;
    size_t i;
    for (i = 0; i + 32 <= n; i += 32, dst += CL_KV_Q8_BLOCK) {
        uint16_t h;
        quant(CL_TYPE_Q8_0, src + i, 32, &y);
        h = cl_f32_to_fp16(y.d[0]);
        dst[0] = (uint8_t)(h & 0xff);
        dst[1] = (uint8_t)(h >> 8);
        memcpy(dst + 2, y.qs[0], 32);
    }
}

void cl_kv_store_f16(uint16_t *dst, const float *src, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) dst[i] = cl_f32_to_fp16(src[i]);
}

void cl_attn_merge(const float *parts, uint32_t n_parts, size_t stride, uint32_t hd, float *out)
{
    float mx = -INFINITY, l = 0.0f;
    uint32_t c, i;
    for (c = 0; c < n_parts; c++)
        if (parts[c * stride] > mx) mx = parts[c * stride];
    memset(out, 0, hd * sizeof *out);
    for (c = 0; c < n_parts; c++) {
        const float *p = parts + c * stride;
        float w = expf(p[0] - mx);
        l += w * p[1];
        for (i = 0; i < hd; i++) out[i] += w * p[2 + i];
    }
    if (l > 0.0f)
        for (i = 0; i < hd; i++) out[i] /= l;
}
