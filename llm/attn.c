/* attn.c — grouped-query decode attention in chunks of positions
 * (flash-decoding): the query heads that share one KV head are handled
 * together, so each K and V row of a chunk is read from memory once for
 * the whole group; each chunk leaves, per head, its score maximum m, the
 * sum l of exp(score - m) and the unnormalised sum o of exp(score - m) * V,
 * and cl_attn_merge combines the chunks of one head in chunk order.
 *
 * This file is the portable path; simd.c has the AVX2 one (same
 * operations, other rounding: a vectorised exp, other summation orders).
 * Both are deterministic: a result depends only on the query, the cache
 * rows and the chunk boundaries (fixed multiples of CL_ATTN_CHUNK), never
 * on the thread count or on how the cache was filled. */
#include "llm_int.h"

#include <math.h>
#include <string.h>

void cl_attn_part_ref(const float *q, uint32_t ng, uint32_t hd, const float *k, const float *v, size_t ld, uint32_t nt,
                      float scale, float *s, float *part)
{
    uint32_t g, t, i;
    for (g = 0; g < ng; g++) {
        const float *qg = q + (size_t)g * hd;
        float *pg = part + (size_t)g * (hd + 2), *o = pg + 2, mx = -INFINITY, l = 0.0f;
        for (t = 0; t < nt; t++) {
            const float *kt = k + (size_t)t * ld;
            float d = 0.0f;
            for (i = 0; i < hd; i++) d += kt[i] * qg[i];
            s[t] = d * scale;
            if (s[t] > mx) mx = s[t];
        }
        for (t = 0; t < nt; t++) l += (s[t] = expf(s[t] - mx));
        memset(o, 0, hd * sizeof *o);
        for (t = 0; t < nt; t++) {
            const float *vt = v + (size_t)t * ld;
            for (i = 0; i < hd; i++) o[i] += s[t] * vt[i];
        }
        pg[0] = mx;
        pg[1] = l;
    }
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
