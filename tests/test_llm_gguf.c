/* test_llm_gguf.c — GGUF reader and writer: a file written here with every
 * metadata type (arrays and nested arrays included) and several tensor
 * types reads back exactly; hostile variants (truncated at every byte,
 * absurd counts and lengths, bad type ids, data past EOF, misaligned
 * offsets, overflowing shapes, deep nesting) are errors, never crashes. */
#include "llm.h"
#include "check.h"

#include <unistd.h>

#define CL_CHECK_OK(expr) do { cl_status s_ = (expr); check_count++; if (s_ != CL_OK) { \
    check_failures++; fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #expr, \
    cl_status_str(s_), cl_errmsg()); } } while (0)

/* ---- a tiny byte builder for hand-made (hostile) files ---- */
typedef struct bb { uint8_t p[4096]; size_t n; } bb;
static void b8(bb *b, uint8_t v) { if (b->n < sizeof b->p) b->p[b->n++] = v; }
static void b32(bb *b, uint32_t v) { int i; for (i = 0; i < 4; i++) b8(b, (uint8_t)(v >> (8 * i))); }
static void b64(bb *b, uint64_t v) { int i; for (i = 0; i < 8; i++) b8(b, (uint8_t)(v >> (8 * i))); }
static void bstr(bb *b, const char *s) { size_t i, n = strlen(s); b64(b, n); for (i = 0; i < n; i++) b8(b, (uint8_t)s[i]); }
static void bhead(bb *b, uint32_t ver, uint64_t nt, uint64_t nkv) { b->n = 0; b32(b, 0x46554747); b32(b, ver); b64(b, nt); b64(b, nkv); }
static void bpad(bb *b, size_t a) { while (b->n % a) b8(b, 0); }

static cl_status open_bb(const bb *b)
{
    cl_gguf *g = NULL;
    cl_status s = cl_gguf_open_mem(b->p, b->n, &g);
    if (s == CL_OK) cl_gguf_close(g);
    else CHECK(g == NULL && strlen(cl_errmsg()) > 0);
    return s;
}

#define EXPECT_BAD(b, label) do { cl_status s_ = open_bb(b); CHECK_MSG(s_ != CL_OK, "%s was accepted", label); \
    if (s_ != CL_OK && getenv("VERBOSE")) printf("  %-28s -> %s\n", label, cl_errmsg()); } while (0)

static uint8_t *make_good(size_t *len)
{
    cl_gguf_writer *w = NULL;
    uint8_t *img = NULL;
    static const float f32s[3] = {1.5f, -2.25f, 1e-3f};
    static const int32_t i32s[4] = {-1, 0, 7, 2147483647};
    static const uint8_t u8s[3] = {0, 128, 255};
    static const char *strs[3] = {"alpha", "", "\xe2\x96\x81gamma"};
    float t0[2 * 8];
    float q8src[64];
    uint8_t q8[2 * 34], q4k[144];
    uint64_t ne0[2] = {8, 2}, ne1[1] = {64}, ne2[1] = {256};
    int i;
    bb nest;

    for (i = 0; i < 16; i++) t0[i] = (float)i * 0.5f - 3.0f;
    for (i = 0; i < 64; i++) q8src[i] = (float)(i % 9) - 4.0f;
    memset(q4k, 0, sizeof q4k);
    q4k[1] = 0x3C; /* d = 1 */
    q4k[4] = 1;    /* sub-block 0 scale 1 */
    q4k[16] = 0x05;
    CL_CHECK_OK(cl_gguf_writer_new(&w));
    CL_CHECK_OK(cl_gguf_writer_set_alignment(w, 64));
    CL_CHECK_OK(cl_gguf_writer_add_str(w, "general.architecture", "llama"));
    CL_CHECK_OK(cl_gguf_writer_add_u32(w, "test.u32", 4000000000u));
    CL_CHECK_OK(cl_gguf_writer_add_i32(w, "test.i32", -42));
    CL_CHECK_OK(cl_gguf_writer_add_f32(w, "test.f32", 0.15625f));
    CL_CHECK_OK(cl_gguf_writer_add_bool(w, "test.bool", 1));
    CL_CHECK_OK(cl_gguf_writer_add_arr(w, "test.arr_f32", CL_GGUF_FLOAT32, f32s, 3));
    CL_CHECK_OK(cl_gguf_writer_add_arr(w, "test.arr_i32", CL_GGUF_INT32, i32s, 4));
    CL_CHECK_OK(cl_gguf_writer_add_arr(w, "test.arr_u8", CL_GGUF_UINT8, u8s, 3));
    CL_CHECK_OK(cl_gguf_writer_add_arr_str(w, "test.arr_str", strs, 3));
    {
        uint8_t u16[2] = {0x34, 0x12}, i8 = 0xFE, i16[2] = {0xFF, 0xFF}, u64[8] = {1, 0, 0, 0, 0, 0, 0, 0x80};
        uint8_t i64[8] = {0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, f64[8] = {0, 0, 0, 0, 0, 0, 0xF8, 0x3F};
        CL_CHECK_OK(cl_gguf_writer_add_raw(w, "test.u16", CL_GGUF_UINT16, u16, 2));
        CL_CHECK_OK(cl_gguf_writer_add_raw(w, "test.i8", CL_GGUF_INT8, &i8, 1));
        CL_CHECK_OK(cl_gguf_writer_add_raw(w, "test.i16", CL_GGUF_INT16, i16, 2));
        CL_CHECK_OK(cl_gguf_writer_add_raw(w, "test.u64", CL_GGUF_UINT64, u64, 8));
        CL_CHECK_OK(cl_gguf_writer_add_raw(w, "test.i64", CL_GGUF_INT64, i64, 8));
        CL_CHECK_OK(cl_gguf_writer_add_raw(w, "test.f64", CL_GGUF_FLOAT64, f64, 8));
    }
    /* nested: array of 2 arrays: [[1,2,3] (u16), ["x","yz"]] */
    nest.n = 0;
    b32(&nest, CL_GGUF_ARRAY);
    b64(&nest, 2);
    b32(&nest, CL_GGUF_UINT16); b64(&nest, 3); b8(&nest, 1); b8(&nest, 0); b8(&nest, 2); b8(&nest, 0); b8(&nest, 3); b8(&nest, 0);
    b32(&nest, CL_GGUF_STRING); b64(&nest, 2); bstr(&nest, "x"); bstr(&nest, "yz");
    CL_CHECK_OK(cl_gguf_writer_add_raw(w, "test.nested", CL_GGUF_ARRAY, nest.p, nest.n));
    CL_CHECK_OK(cl_gguf_writer_add_tensor(w, "t.f32", CL_TYPE_F32, 2, ne0, t0, sizeof t0));
    CL_CHECK_OK(cl_quantize_row(CL_TYPE_Q8_0, q8src, q8, 64));
    CL_CHECK_OK(cl_gguf_writer_add_tensor(w, "t.q8_0", CL_TYPE_Q8_0, 1, ne1, q8, sizeof q8));
    CL_CHECK_OK(cl_gguf_writer_add_tensor(w, "t.q4_k", CL_TYPE_Q4_K, 1, ne2, q4k, sizeof q4k));
    CHECK(cl_gguf_writer_add_tensor(w, "t.bad", CL_TYPE_Q8_0, 1, ne1, q8, 10) == CL_ERR_INVALID);
    CL_CHECK_OK(cl_gguf_writer_finish(w, &img, len));
    cl_gguf_writer_free(w);
    return img;
}

static void test_good(const uint8_t *img, size_t len)
{
    cl_gguf *g = NULL;
    uint32_t u;
    int32_t i;
    uint64_t u64;
    float f;
    int b;
    const char *s;
    size_t sl;
    cl_gguf_arr a, c;
    int64_t iv;
    const cl_tensor *t;
    float row[256];

    CL_CHECK_OK(cl_gguf_open_mem(img, len, &g));
    if (!g) return;
    CHECK(cl_gguf_version(g) == 3);
    CHECK(cl_gguf_alignment(g) == 64);
    CHECK(cl_gguf_data_offset(g) % 64 == 0);
    CHECK(cl_gguf_n_kv(g) == 17);
    CHECK(cl_gguf_n_tensors(g) == 3);
    CHECK(cl_gguf_find_key(g, "test.i32") >= 0);
    CHECK(cl_gguf_find_key(g, "nope") == -1);
    CL_CHECK_OK(cl_gguf_get_str(g, "general.architecture", &s, &sl));
    CHECK_STR(s, "llama");
    CHECK(sl == 5);
    CL_CHECK_OK(cl_gguf_get_u32(g, "test.u32", &u));
    CHECK(u == 4000000000u);
    CHECK(cl_gguf_get_i32(g, "test.u32", &i) == CL_ERR_RANGE);
    CL_CHECK_OK(cl_gguf_get_i32(g, "test.i32", &i));
    CHECK(i == -42);
    CHECK(cl_gguf_get_u32(g, "test.i32", &u) == CL_ERR_RANGE);
    CL_CHECK_OK(cl_gguf_get_f32(g, "test.f32", &f));
    CHECK(f == 0.15625f);
    CL_CHECK_OK(cl_gguf_get_bool(g, "test.bool", &b));
    CHECK(b == 1);
    CHECK(cl_gguf_get_bool(g, "test.i32", &b) == CL_ERR_TYPE);
    CHECK(cl_gguf_get_str(g, "test.i32", &s, &sl) == CL_ERR_TYPE);
    CHECK(cl_gguf_get_u32(g, "missing", &u) == CL_ERR_NOTFOUND);
    CL_CHECK_OK(cl_gguf_get_u32(g, "test.u16", &u));
    CHECK(u == 0x1234);
    CL_CHECK_OK(cl_gguf_get_i32(g, "test.i8", &i));
    CHECK(i == -2);
    CL_CHECK_OK(cl_gguf_get_i32(g, "test.i16", &i));
    CHECK(i == -1);
    CL_CHECK_OK(cl_gguf_get_u64(g, "test.u64", &u64));
    CHECK(u64 == 0x8000000000000001ull);
    CL_CHECK_OK(cl_gguf_get_i32(g, "test.i64", &i));
    CHECK(i == -2);
    CL_CHECK_OK(cl_gguf_get_f32(g, "test.f64", &f));
    CHECK(f == 1.5f);
    CHECK(cl_gguf_kv_type(g, cl_gguf_find_key(g, "test.f64")) == CL_GGUF_FLOAT64);

    CL_CHECK_OK(cl_gguf_get_arr(g, "test.arr_f32", &a));
    CHECK(a.type == CL_GGUF_FLOAT32 && a.n == 3);
    CL_CHECK_OK(cl_gguf_arr_get_f32(&a, 1, &f));
    CHECK(f == -2.25f);
    CHECK(cl_gguf_arr_get_f32(&a, 3, &f) == CL_ERR_RANGE);
    CHECK(cl_gguf_arr_get_int(&a, 0, &iv) == CL_ERR_TYPE);
    CL_CHECK_OK(cl_gguf_get_arr(g, "test.arr_i32", &a));
    CL_CHECK_OK(cl_gguf_arr_get_int(&a, 0, &iv));
    CHECK(iv == -1);
    CL_CHECK_OK(cl_gguf_arr_get_int(&a, 3, &iv));
    CHECK(iv == 2147483647);
    CL_CHECK_OK(cl_gguf_get_arr(g, "test.arr_u8", &a));
    CL_CHECK_OK(cl_gguf_arr_get_int(&a, 2, &iv));
    CHECK(iv == 255);
    CL_CHECK_OK(cl_gguf_get_arr(g, "test.arr_str", &a));
    CHECK(a.type == CL_GGUF_STRING && a.n == 3);
    CL_CHECK_OK(cl_gguf_arr_get_str(&a, 1, &s, &sl));
    CHECK(sl == 0);
    CL_CHECK_OK(cl_gguf_arr_get_str(&a, 2, &s, &sl));
    CHECK(sl == 8 && !memcmp(s, "\xe2\x96\x81gamma", 8));
    CL_CHECK_OK(cl_gguf_get_arr(g, "test.nested", &a));
    CHECK(a.type == CL_GGUF_ARRAY && a.n == 2);
    CL_CHECK_OK(cl_gguf_arr_get_arr(&a, 0, &c));
    CHECK(c.type == CL_GGUF_UINT16 && c.n == 3);
    CL_CHECK_OK(cl_gguf_arr_get_int(&c, 2, &iv));
    CHECK(iv == 3);
    CL_CHECK_OK(cl_gguf_arr_get_arr(&a, 1, &c));
    CHECK(c.type == CL_GGUF_STRING && c.n == 2);
    CL_CHECK_OK(cl_gguf_arr_get_str(&c, 1, &s, &sl));
    CHECK(sl == 2 && !memcmp(s, "yz", 2));
    CHECK(cl_gguf_arr_get_arr(&a, 2, &c) == CL_ERR_RANGE);

    t = cl_gguf_find_tensor(g, "t.f32");
    CHECK(t != NULL);
    if (t) {
        CHECK(t->type == CL_TYPE_F32 && t->n_dims == 2 && t->ne[0] == 8 && t->ne[1] == 2);
        CHECK(t->n_elements == 16 && t->n_bytes == 64);
        CHECK(((const uint8_t *)t->data - img) % 64 == 0);
        CL_CHECK_OK(cl_dequantize_row(t->type, (const uint8_t *)t->data + 32, row, 8));
        CHECK(row[0] == 8 * 0.5f - 3.0f && row[7] == 15 * 0.5f - 3.0f);
    }
    t = cl_gguf_find_tensor(g, "t.q8_0");
    CHECK(t && t->type == CL_TYPE_Q8_0 && t->n_bytes == 68);
    if (t) {
        CL_CHECK_OK(cl_dequantize_row(t->type, t->data, row, 64));
        CHECK(row[0] > -4.02f && row[0] < -3.98f && row[10] > -3.02f && row[10] < -2.98f); /* fp16 d */
    }
    t = cl_gguf_find_tensor(g, "t.q4_k");
    CHECK(t && t->type == CL_TYPE_Q4_K && t->n_bytes == 144);
    if (t) {
        CL_CHECK_OK(cl_dequantize_row(t->type, t->data, row, 256));
        CHECK(row[0] == 5.0f && row[1] == 0.0f);
    }
    CHECK(cl_gguf_find_tensor(g, "t.none") == NULL);
    CHECK(cl_gguf_tensor(g, 3) == NULL);
    cl_gguf_close(g);
}

static void test_truncated(const uint8_t *img, size_t len)
{
    size_t cut;
    int accepted = 0;
    for (cut = 0; cut < len; cut++) {
        /* copy so that ASan sees reads past the cut */
        uint8_t *p = malloc(cut ? cut : 1);
        cl_gguf *g = NULL;
        memcpy(p, img, cut);
        if (cl_gguf_open_mem(p, cut, &g) == CL_OK) {
            accepted++;
            cl_gguf_close(g);
        }
        free(p);
    }
    CHECK_MSG(accepted == 0, "%d truncated prefixes accepted", accepted);
    printf("truncation: %zu prefixes tried, all rejected: %s\n", len, accepted ? "no" : "yes");
}

/* Every single-byte change must parse or fail cleanly (ASan catches the rest). */
static void test_flips(const uint8_t *img, size_t len)
{
    size_t i, header_end = len > 800 ? 800 : len;
    int ok = 0, bad = 0;
    uint8_t *p = malloc(len);
    for (i = 0; i < header_end; i++) {
        static const uint8_t vals[3] = {0xFF, 0x00, 0x7F};
        int k;
        for (k = 0; k < 3; k++) {
            cl_gguf *g = NULL;
            memcpy(p, img, len);
            p[i] = vals[k];
            if (cl_gguf_open_mem(p, len, &g) == CL_OK) { ok++; cl_gguf_close(g); }
            else bad++;
        }
    }
    free(p);
    CHECK(bad > 0);
    printf("byte changes: %d parsed, %d rejected\n", ok, bad);
}

static void test_hostile(void)
{
    bb b;
    /* bad magic, version */
    bhead(&b, 3, 0, 0); b.p[0] = 'X'; EXPECT_BAD(&b, "bad magic");
    bhead(&b, 1, 0, 0); EXPECT_BAD(&b, "version 1");
    bhead(&b, 4, 0, 0); EXPECT_BAD(&b, "version 4");
    /* empty file is fine: no keys, no tensors */
    bhead(&b, 3, 0, 0); CHECK(open_bb(&b) == CL_OK);
    bhead(&b, 2, 0, 0); CHECK(open_bb(&b) == CL_OK);
    /* absurd counts */
    bhead(&b, 3, 0, UINT64_MAX); EXPECT_BAD(&b, "n_kv = 2^64-1");
    bhead(&b, 3, (uint64_t)1 << 62, 0); EXPECT_BAD(&b, "n_tensors = 2^62");
    bhead(&b, 3, 0, 1); bstr(&b, "k"); b32(&b, CL_GGUF_UINT32); EXPECT_BAD(&b, "value missing");
    /* absurd lengths */
    bhead(&b, 3, 0, 1); b64(&b, UINT64_MAX); b8(&b, 'k'); b32(&b, 4); b32(&b, 1); EXPECT_BAD(&b, "key length 2^64-1");
    bhead(&b, 3, 0, 1); bstr(&b, "k"); b32(&b, CL_GGUF_STRING); b64(&b, (uint64_t)1 << 40); EXPECT_BAD(&b, "string length 2^40");
    bhead(&b, 3, 0, 1); bstr(&b, "k"); b32(&b, CL_GGUF_ARRAY); b32(&b, CL_GGUF_UINT64); b64(&b, (uint64_t)1 << 61);
    EXPECT_BAD(&b, "array length * 8 overflows");
    bhead(&b, 3, 0, 1); bstr(&b, "k"); b32(&b, CL_GGUF_ARRAY); b32(&b, CL_GGUF_STRING); b64(&b, UINT64_MAX);
    EXPECT_BAD(&b, "string array length");
    bhead(&b, 3, 0, 1); bstr(&b, "k"); b32(&b, CL_GGUF_ARRAY); b32(&b, CL_GGUF_STRING); b64(&b, 2); bstr(&b, "a"); b64(&b, 99);
    EXPECT_BAD(&b, "array string past EOF");
    /* bad type ids */
    bhead(&b, 3, 0, 1); bstr(&b, "k"); b32(&b, 13); b32(&b, 0); EXPECT_BAD(&b, "kv type 13");
    bhead(&b, 3, 0, 1); bstr(&b, "k"); b32(&b, 0xFFFFFFFF); b32(&b, 0); EXPECT_BAD(&b, "kv type 2^32-1");
    bhead(&b, 3, 0, 1); bstr(&b, "k"); b32(&b, CL_GGUF_ARRAY); b32(&b, 77); b64(&b, 0); EXPECT_BAD(&b, "array elem type 77");
    /* empty and duplicate keys */
    bhead(&b, 3, 0, 1); bstr(&b, ""); b32(&b, CL_GGUF_UINT8); b8(&b, 0); bpad(&b, 64); b64(&b, 0); EXPECT_BAD(&b, "empty key");
    bhead(&b, 3, 0, 2); bstr(&b, "k"); b32(&b, CL_GGUF_UINT8); b8(&b, 0); bstr(&b, "k"); b32(&b, CL_GGUF_UINT8); b8(&b, 0);
    EXPECT_BAD(&b, "duplicate key");
    /* nesting too deep */
    {
        int d;
        bhead(&b, 3, 0, 1); bstr(&b, "k"); b32(&b, CL_GGUF_ARRAY);
        for (d = 0; d < 40; d++) { b32(&b, CL_GGUF_ARRAY); b64(&b, 1); }
        b32(&b, CL_GGUF_UINT8); b64(&b, 0);
        EXPECT_BAD(&b, "arrays nested 40 deep");
    }
    /* alignment */
    bhead(&b, 3, 0, 1); bstr(&b, "general.alignment"); b32(&b, CL_GGUF_UINT32); b32(&b, 48); EXPECT_BAD(&b, "alignment 48");
    bhead(&b, 3, 0, 1); bstr(&b, "general.alignment"); b32(&b, CL_GGUF_UINT32); b32(&b, 0); EXPECT_BAD(&b, "alignment 0");
    bhead(&b, 3, 0, 1); bstr(&b, "general.alignment"); b32(&b, CL_GGUF_INT32); b32(&b, 32); EXPECT_BAD(&b, "alignment int32");
    /* tensors: one F32 tensor of 8 values, variants */
#define TENSOR(nd, ne0, ne1, type, off) do { bhead(&b, 3, 1, 0); bstr(&b, "w"); b32(&b, nd); b64(&b, ne0); \
    if ((nd) > 1) { b64(&b, ne1); } \
    b32(&b, type); b64(&b, off); bpad(&b, 32); } while (0)
    TENSOR(1, 8, 0, CL_TYPE_F32, 0); { int i; for (i = 0; i < 32; i++) b8(&b, 0); } CHECK(open_bb(&b) == CL_OK);
    TENSOR(1, 8, 0, CL_TYPE_F32, 0); { int i; for (i = 0; i < 31; i++) b8(&b, 0); } EXPECT_BAD(&b, "data one byte short");
    TENSOR(1, 8, 0, CL_TYPE_F32, 64); { int i; for (i = 0; i < 64; i++) b8(&b, 0); } EXPECT_BAD(&b, "data past EOF");
    TENSOR(1, 8, 0, CL_TYPE_F32, UINT64_MAX - 31); { int i; for (i = 0; i < 32; i++) b8(&b, 0); } EXPECT_BAD(&b, "offset near 2^64");
    TENSOR(1, 8, 0, CL_TYPE_F32, 4); { int i; for (i = 0; i < 64; i++) b8(&b, 0); } EXPECT_BAD(&b, "misaligned offset");
    TENSOR(2, (uint64_t)1 << 40, (uint64_t)1 << 40, CL_TYPE_F32, 0); EXPECT_BAD(&b, "shape 2^40 x 2^40");
    TENSOR(2, (uint64_t)1 << 31, (uint64_t)1 << 31, CL_TYPE_F32, 0); EXPECT_BAD(&b, "shape 2^31 x 2^31 (bytes)");
    TENSOR(1, UINT64_MAX, 0, CL_TYPE_F32, 0); EXPECT_BAD(&b, "negative dim");
    TENSOR(1, 8, 0, 99, 0); EXPECT_BAD(&b, "tensor type 99");
    TENSOR(1, 8, 0, 4, 0); EXPECT_BAD(&b, "tensor type 4 (removed)");
    TENSOR(1, 40, 0, CL_TYPE_Q8_0, 0); EXPECT_BAD(&b, "row not a block multiple");
    bhead(&b, 3, 1, 0); bstr(&b, "w"); b32(&b, 5); { int i; for (i = 0; i < 64; i++) b8(&b, 0); } EXPECT_BAD(&b, "5 dims");
    bhead(&b, 3, 1, 0); bstr(&b, "w"); b32(&b, 0); b32(&b, 0); b64(&b, 0); { int i; for (i = 0; i < 64; i++) b8(&b, 0); } EXPECT_BAD(&b, "0 dims");
    bhead(&b, 3, 1, 0); b64(&b, 0); b32(&b, 1); b64(&b, 8); b32(&b, 0); b64(&b, 0); { int i; for (i = 0; i < 64; i++) b8(&b, 0); } EXPECT_BAD(&b, "empty tensor name");
    bhead(&b, 3, 2, 0);
    bstr(&b, "w"); b32(&b, 1); b64(&b, 8); b32(&b, 0); b64(&b, 0);
    bstr(&b, "w"); b32(&b, 1); b64(&b, 8); b32(&b, 0); b64(&b, 32);
    bpad(&b, 32); { int i; for (i = 0; i < 64; i++) b8(&b, 0); }
    EXPECT_BAD(&b, "duplicate tensor name");
}

static void test_file(const uint8_t *img, size_t len)
{
    const char *tmp = getenv("CAIRN_TMP");
    char path[1024];
    FILE *f;
    cl_gguf *g = NULL;
    snprintf(path, sizeof path, "%s/llm_gguf_test.gguf", tmp ? tmp : "/tmp");
    f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(img, 1, len, f) == len);
    fclose(f);
    CL_CHECK_OK(cl_gguf_open(path, &g));
    CHECK(g && cl_gguf_file_size(g) == len);
    CHECK(g && cl_gguf_find_tensor(g, "t.q4_k") != NULL);
    cl_gguf_close(g);
    /* a truncated file on disk */
    if (truncate(path, (off_t)(len - 1)) == 0) {
        g = NULL;
        CHECK(cl_gguf_open(path, &g) == CL_ERR_FORMAT);
        CHECK(g == NULL);
        CHECK(strstr(cl_errmsg(), path) != NULL);
    }
    unlink(path);
    CHECK(cl_gguf_open("/nonexistent/x.gguf", &g) == CL_ERR_IO);
    cl_gguf_close(NULL);
}

int main(void)
{
    size_t len = 0;
    uint8_t *img = make_good(&len);
    CHECK(img != NULL);
    if (img) {
        test_good(img, len);
        test_truncated(img, len);
        test_flips(img, len);
        test_file(img, len);
    }
    test_hostile();
    free(img);
    return check_done("llm_gguf");
}
