/* test_llm_quant.c — tensor types: fp16/bf16 conversion, and dequantisation
 * of blocks built byte by byte here (Q8_0, Q4_0, Q4_K, Q6_K) against values
 * computed independently from the chosen scales and quants; dot products of
 * quantised rows against the same expectation. */
#include "llm.h"
#include "check.h"

#include <math.h>

#define CL_CHECK_OK(expr) do { cl_status s_ = (expr); check_count++; if (s_ != CL_OK) { \
    check_failures++; fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #expr, \
    cl_status_str(s_), cl_errmsg()); } } while (0)

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

/* Compares out[] with want[] exactly; dot with x against a double sum. */
static void check_row(int type, const uint8_t *row, const float *want, int n, const char *what)
{
    float out[512], x[512], dot = 0;
    double ref = 0;
    int i, bad = 0;
    CL_CHECK_OK(cl_dequantize_row(type, row, out, (uint64_t)n));
    for (i = 0; i < n; i++)
        if (out[i] != want[i]) {
            if (bad++ < 5) fprintf(stderr, "%s[%d] = %g, want %g\n", what, i, out[i], want[i]);
        }
    CHECK_MSG(bad == 0, "%s: %d values differ", what, bad);
    for (i = 0; i < n; i++) {
        x[i] = (float)((i % 7) - 3) * 0.25f + (float)(i % 3) * 0.125f;
        ref += (double)want[i] * x[i];
    }
    CL_CHECK_OK(cl_dot_row(type, row, x, (uint64_t)n, &dot));
    CHECK_MSG(fabs(dot - ref) <= 1e-4 * (1 + fabs(ref)), "%s dot %g, want %g", what, dot, ref);
}

static void test_fp16(void)
{
    uint32_t h;
    int bad = 0;
    CHECK(cl_fp16_to_f32(0x3C00) == 1.0f);
    CHECK(cl_fp16_to_f32(0xC000) == -2.0f);
    CHECK(cl_fp16_to_f32(0x7BFF) == 65504.0f);
    CHECK(cl_fp16_to_f32(0x0001) == ldexpf(1.0f, -24));
    CHECK(cl_fp16_to_f32(0x0400) == ldexpf(1.0f, -14));
    CHECK(isinf(cl_fp16_to_f32(0x7C00)));
    CHECK(isnan(cl_fp16_to_f32(0x7E00)));
    CHECK(cl_fp16_to_f32(0x3555) == 0.333251953125f);
    CHECK(cl_f32_to_fp16(1.0f) == 0x3C00);
    CHECK(cl_f32_to_fp16(0.1f) == 0x2E66);
    CHECK(cl_f32_to_fp16(1e6f) == 0x7C00);
    /* 1 + 2^-11 is halfway between 1 and the next half: ties to even */
    CHECK(cl_f32_to_fp16(1.0f + ldexpf(1.0f, -11)) == 0x3C00);
    CHECK(cl_f32_to_fp16(1.0f + 3 * ldexpf(1.0f, -11)) == 0x3C02);
    for (h = 0; h < 65536; h++) {
        float f = cl_fp16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        if (cl_f32_to_fp16(f) != h) bad++;
    }
    CHECK_MSG(bad == 0, "%d halves do not round-trip", bad);
    CHECK(cl_bf16_to_f32(0x3F80) == 1.0f);
    CHECK(cl_bf16_to_f32(0xC040) == -3.0f);
    CHECK(cl_f32_to_bf16(1.0f) == 0x3F80);
    CHECK(cl_f32_to_bf16(1.00390625f) == 0x3F80); /* halfway, ties to even */
}

static void test_q8_0_q4_0(void)
{
    uint8_t b[2 * 34];
    float want[64];
    int j, k;
    /* two Q8_0 blocks: d = 0.5 and d = -1.5, q = j - 16 and 100 - 7j */
    for (k = 0; k < 2; k++) {
        uint8_t *p = b + 34 * k;
        put16(p, k ? 0xBE00 : 0x3800);
        for (j = 0; j < 32; j++) {
            int q = k ? 100 - 7 * j : j - 16;
            if (q < -128) q = -128;
            p[2 + j] = (uint8_t)(int8_t)q;
            want[32 * k + j] = (k ? -1.5f : 0.5f) * (float)q;
        }
    }
    check_row(CL_TYPE_Q8_0, b, want, 64, "Q8_0");

    /* Q4_0: d = 2; byte j holds value j (low nibble) and value j+16 (high) */
    {
        uint8_t q[18];
        put16(q, 0x4000);
        for (j = 0; j < 16; j++) {
            int lo = j, hi = 15 - j;
            q[2 + j] = (uint8_t)(lo | (hi << 4));
            want[j] = 2.0f * (float)(lo - 8);
            want[j + 16] = 2.0f * (float)(hi - 8);
        }
        check_row(CL_TYPE_Q4_0, q, want, 32, "Q4_0");
    }
}

/* Q4_K: d = 1, dmin = 0.5; 8 sub-blocks of 32 with 6-bit scale sc[s] and min m[s]. */
static void test_q4_k(void)
{
    static const uint8_t sc[8] = {1, 17, 33, 63, 5, 20, 40, 62};
    static const uint8_t mn[8] = {0, 2, 31, 63, 16, 48, 7, 33};
    uint8_t b[2 * 144];
    float want[512];
    int s, l, k;
    memset(b, 0, sizeof b);
    for (k = 0; k < 2; k++) {
        uint8_t *p = b + 144 * k, *scales = p + 4, *qs = p + 16;
        float d = k ? 0.25f : 1.0f;
        put16(p, k ? 0x3400 : 0x3C00);
        put16(p + 2, 0x3800);
        /* packing of the 12 scale bytes: sub-blocks 0-3 in the low 6 bits of
         * bytes 0-3 (scales) and 4-7 (mins); sub-blocks 4-7 in the nibbles of
         * bytes 8-11, their top two bits in the top bits of bytes 0-7 */
        for (s = 0; s < 4; s++) {
            scales[s] |= sc[s] & 63;
            scales[s + 4] |= mn[s] & 63;
        }
        for (s = 4; s < 8; s++) {
            scales[s + 4] = (uint8_t)((sc[s] & 15) | ((mn[s] & 15) << 4));
            scales[s - 4] |= (uint8_t)((sc[s] >> 4) << 6);
            scales[s] |= (uint8_t)((mn[s] >> 4) << 6);
        }
        /* value v: chunk c = v/64 uses qs[32c..32c+31]; low nibbles for the
         * first 32 (sub-block 2c), high nibbles for the next 32 (2c+1) */
        for (s = 0; s < 8; s++)
            for (l = 0; l < 32; l++) {
                int q = (l * 5 + s * 3 + k) & 15, c = s / 2;
                if (s % 2 == 0) qs[32 * c + l] |= (uint8_t)q;
                else qs[32 * c + l] |= (uint8_t)(q << 4);
                want[256 * k + 32 * s + l] = d * (float)sc[s] * (float)q - 0.5f * (float)mn[s];
            }
    }
    check_row(CL_TYPE_Q4_K, b, want, 512, "Q4_K");
}

/* Q6_K: ql[128] qh[64] scales[16] d; value v: half h = v/128, group g = (v%128)/32, l = v%32. */
static void test_q6_k(void)
{
    uint8_t b[210];
    float want[256];
    int v;
    int8_t scl[16];
    memset(b, 0, sizeof b);
    for (v = 0; v < 16; v++) scl[v] = (int8_t)((v - 8) * 3 + 1);
    memcpy(b + 192, scl, 16);
    put16(b + 208, 0x3400); /* 0.25 */
    for (v = 0; v < 256; v++) {
        int h = v / 128, g = (v % 128) / 32, l = v % 32, q = (v * 7 + 3) % 64;
        uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
        int qi = l + (g & 1) * 32;
        if (g < 2) ql[qi] |= (uint8_t)(q & 15);
        else ql[qi] |= (uint8_t)((q & 15) << 4);
        qh[l] |= (uint8_t)((q >> 4) << (2 * g));
        want[v] = 0.25f * (float)scl[8 * h + l / 16 + 2 * g] * (float)(q - 32);
    }
    check_row(CL_TYPE_Q6_K, b, want, 256, "Q6_K");
}

static void test_plain_and_errors(void)
{
    uint16_t h[32], bf[32];
    float f[32], want[32], out[32], xq[32];
    uint8_t q8[34], q4[18];
    int i;
    for (i = 0; i < 32; i++) {
        want[i] = (float)(i - 10) * 0.5f;
        h[i] = cl_f32_to_fp16(want[i]);
        bf[i] = cl_f32_to_bf16(want[i]);
        f[i] = want[i];
    }
    check_row(CL_TYPE_F16, (const uint8_t *)h, want, 32, "F16");
    check_row(CL_TYPE_BF16, (const uint8_t *)bf, want, 32, "BF16");
    check_row(CL_TYPE_F32, (const uint8_t *)f, want, 32, "F32");
    /* reference quantisers: error within half a step */
    for (i = 0; i < 32; i++) xq[i] = sinf((float)i) * 3.0f;
    CL_CHECK_OK(cl_quantize_row(CL_TYPE_Q8_0, xq, q8, 32));
    CL_CHECK_OK(cl_dequantize_row(CL_TYPE_Q8_0, q8, out, 32));
    for (i = 0; i < 32; i++) CHECK(fabsf(out[i] - xq[i]) <= 3.0f / 127 * 0.51f);
    CL_CHECK_OK(cl_quantize_row(CL_TYPE_Q4_0, xq, q4, 32));
    CL_CHECK_OK(cl_dequantize_row(CL_TYPE_Q4_0, q4, out, 32));
    for (i = 0; i < 32; i++) CHECK(fabsf(out[i] - xq[i]) <= 3.0f / 8 * 1.01f); /* one step: +amax clamps to 7d */
    CHECK(cl_dequantize_row(CL_TYPE_Q8_0, q8, out, 31) == CL_ERR_RANGE);
    CHECK(cl_dequantize_row(CL_TYPE_Q5_K, q8, out, 256) == CL_ERR_UNSUPPORTED);
    CHECK(cl_dequantize_row(999, q8, out, 32) == CL_ERR_UNSUPPORTED);
    CHECK(cl_dequantize_row(-1, q8, out, 32) == CL_ERR_UNSUPPORTED);
    CHECK(strlen(cl_errmsg()) > 0);
    {
        size_t rb = 0;
        CL_CHECK_OK(cl_type_row_bytes(CL_TYPE_Q4_K, 512, &rb));
        CHECK(rb == 288);
        CL_CHECK_OK(cl_type_row_bytes(CL_TYPE_Q6_K, 256, &rb));
        CHECK(rb == 210);
        CHECK(cl_type_row_bytes(CL_TYPE_Q4_0, 33, &rb) == CL_ERR_RANGE);
    }
}

int main(void)
{
    test_fp16();
    test_q8_0_q4_0();
    test_q4_k();
    test_q6_k();
    test_plain_and_errors();
    return check_done("llm_quant");
}
