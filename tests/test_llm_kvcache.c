/* test_llm_kvcache.c — the prefix KV cache (llm/kvcache.c) on the CPU
 * backend: bookkeeping on the cache itself (hits, partial prefixes, a
 * changed early token invalidating everything after it, LRU eviction under
 * the byte budget, pinned blocks never freed, identities never shared),
 * then through a make-tiny model: logits bit-identical with and without
 * reuse (block size = prefill batch, so the same arithmetic runs in the
 * same batches: equality is exact, checked with memcmp), the per-prefill
 * stats, a model with other weights or RoPE settings sharing one cache
 * without ever hitting, and cl_generate reporting its hits; then the KV
 * element type: F16 (the default) and F32 models of one file sharing a
 * cache never take each other's blocks, an F16 block holds half the bytes,
 * and reuse is exact for both types. */
#include "llm_int.h"
#include "check.h"

#include <unistd.h>

#define B CL_KV_BLOCK

/* ------------------------------------------------------------ bookkeeping */

static float *blockdata(size_t bytes, float v)
{
    float *d = malloc(bytes);
    size_t i;
    for (i = 0; d && i < bytes / sizeof *d; i++) d[i] = v + (float)i;
    return d;
}

/* Inserts blocks 0..n-1 of toks as one chain; returns how many went in. */
static size_t insert_chain(cl_kvcache *c, const uint64_t id[2], const cl_token *toks, size_t n, size_t bytes)
{
    cl_kv_block *b[16] = {0};
    size_t i;
    for (i = 0; i < n; i++)
        if (!(b[i] = cl_kvc_insert(c, id, toks, i, i ? b[i - 1] : NULL, blockdata(bytes, (float)i), bytes))) break;
    cl_kvc_release(c, b, n);
    return i;
}

static size_t hits(cl_kvcache *c, const uint64_t id[2], const cl_token *toks, size_t n)
{
    cl_kv_block *b[16] = {0};
    size_t k = cl_kvc_lookup(c, id, toks, n, b);
    cl_kvc_release(c, b, k);
    return k;
}

static void test_bookkeeping(void)
{
    const size_t bytes = 4096, per = bytes + 256; /* data + a generous bound on the header */
    uint64_t id[2] = {0xcbf29ce484222325ull, 0}, other[2];
    cl_token t[8 * B], u[8 * B];
    cl_kv_block *pin[16] = {0};
    cl_kvcache *c = NULL;
    cl_kvcache_stats st;
    size_t i, k;
    cl_kv_ident_add(id, "model-a", 7);
    other[0] = 0xcbf29ce484222325ull;
    other[1] = 0;
    cl_kv_ident_add(other, "model-b", 7);
    for (i = 0; i < 8 * B; i++) t[i] = (cl_token)(i * 7 % 251);
    CHECK(cl_kvcache_new(100 * per, &c) == CL_OK);
    if (!c) return;

    CHECK(hits(c, id, t, 4) == 0);
    CHECK(insert_chain(c, id, t, 4, bytes) == 4);
    CHECK(hits(c, id, t, 4) == 4);
    CHECK(hits(c, id, t, 2) == 2);  /* a shorter prompt takes what it covers */
    CHECK(hits(c, id, t, 6) == 4);  /* a longer one the cached part */
    CHECK(hits(c, other, t, 4) == 0); /* another identity never shares */
    /* a changed token invalidates its block and every later one */
    memcpy(u, t, sizeof t);
    u[2 * B + 5]++;
    CHECK(hits(c, id, u, 4) == 2);
    memcpy(u, t, sizeof t);
    u[0]++;
    CHECK(hits(c, id, u, 4) == 0);
    /* the same tokens of block 1 after another block 0 do not match block 1 */
    memcpy(u + B, t + B, 3 * B * sizeof *t);
    CHECK(insert_chain(c, id, u, 1, bytes) == 1);
    CHECK(hits(c, id, u, 4) == 1);
    /* a branch: the shared block 0 is reused, the rest stored anew */
    memcpy(u, t, sizeof t);
    u[3 * B]++;
    k = cl_kvc_lookup(c, id, u, 4, pin);
    CHECK(k == 3);
    CHECK((pin[3] = cl_kvc_insert(c, id, u, 3, pin[2], blockdata(bytes, 9), bytes)) != NULL);
    cl_kvc_release(c, pin, 4);
    CHECK(hits(c, id, u, 4) == 4 && hits(c, id, t, 4) == 4);
    /* an insert without its parent is refused */
    CHECK(cl_kvc_insert(c, id, t, 5, NULL, blockdata(bytes, 0), bytes) == NULL);
    cl_kvcache_get_stats(c, &st);
    CHECK(st.n_blocks == 6 && st.n_pinned == 0 && st.bytes <= st.budget_bytes);

    /* eviction: a budget of 3 blocks keeps the most recently used */
    cl_kvcache_clear(c);
    cl_kvcache_get_stats(c, &st);
    CHECK(st.n_blocks == 0 && st.bytes == 0);
    cl_kvcache_set_budget(c, 3 * per);
    CHECK(insert_chain(c, id, t, 3, bytes) == 3);
    CHECK(insert_chain(c, id, u, 1, bytes) == 1); /* u starts as t does: block 0 exists already */
    memcpy(u, t, sizeof t);
    u[0] = 250;
    CHECK(insert_chain(c, id, u, 2, bytes) == 2); /* needs two: evicts t's deepest blocks first */
    cl_kvcache_get_stats(c, &st);
    CHECK(st.bytes <= 3 * per && st.n_blocks == 3 && st.evictions == 2);
    CHECK(hits(c, id, t, 3) == 1); /* t's root was touched last of its chain: it stayed */
    CHECK(hits(c, id, u, 2) == 2);

    /* pinned blocks are never freed, whatever the budget */
    cl_kvcache_clear(c);
    cl_kvcache_set_budget(c, 4 * per);
    CHECK(insert_chain(c, id, t, 4, bytes) == 4);
    CHECK(cl_kvc_lookup(c, id, t, 2, pin) == 2);
    cl_kvcache_set_budget(c, 0);
    cl_kvcache_get_stats(c, &st);
    CHECK(st.n_blocks == 2 && st.n_pinned == 2);
    {
        const float *d = cl_kv_block_data(pin[1]); /* still readable (ASan would say) */
        CHECK(d[0] == 1.0f && d[bytes / sizeof *d - 1] == 1.0f + (float)(bytes / sizeof *d - 1));
    }
    /* with everything pinned, nothing new fits */
    CHECK(cl_kvc_insert(c, id, t, 2, pin[1], blockdata(bytes, 0), bytes) == NULL);
    cl_kvcache_clear(c); /* skips pinned blocks */
    cl_kvcache_get_stats(c, &st);
    CHECK(st.n_blocks == 2);
    cl_kvc_release(c, pin, 2); /* over budget now: evicted on release */
    cl_kvcache_get_stats(c, &st);
    CHECK(st.n_blocks == 0 && st.bytes == 0 && st.n_pinned == 0);
    /* a block bigger than the budget is not stored */
    cl_kvcache_set_budget(c, bytes / 2);
    CHECK(insert_chain(c, id, t, 1, bytes) == 0);

    /* handle references */
    CHECK(cl_kvcache_ref(c) == c);
    cl_kvcache_free(c);
    cl_kvcache_get_stats(c, &st); /* still alive */
    CHECK(st.n_blocks == 0);
    cl_kvcache_free(c);
    cl_kvcache_free(NULL);
}

/* ------------------------------------------------------------ on a model */

static cl_model *open_model(const char *path)
{
    cl_model *m = NULL;
    CHECK_MSG(cl_model_open(path, 0, &m) == CL_OK, "%s", cl_errmsg());
    if (m) cl_model_set_threads(m, 2);
    return m;
}

static int prefill(cl_model *m, const cl_token *t, size_t n, float *lg, cl_kv_stats *st)
{
    cl_status s = cl_model_prefill(m, t, n, lg, st);
    CHECK_MSG(s == CL_OK, "%s", cl_errmsg());
    return s == CL_OK;
}

static void test_model(const char *dir)
{
    char pa[512], pb[512], pc[512];
    cl_tiny_opts o;
    cl_model *m = NULL, *cold = NULL, *m2 = NULL, *mb = NULL, *mc = NULL;
    cl_kvcache *shared = NULL;
    cl_kv_stats st;
    float *lc = NULL, *lw = NULL;
    cl_token t[200], u[200];
    uint32_t nv;
    size_t i;
    snprintf(pa, sizeof pa, "%s/kv_a.gguf", dir);
    snprintf(pb, sizeof pb, "%s/kv_b.gguf", dir);
    snprintf(pc, sizeof pc, "%s/kv_c.gguf", dir);
    memset(&o, 0, sizeof o);
    o.arch = "qwen2";
    o.type = CL_TYPE_Q8_0;
    o.seed = 11;
    o.n_ctx = 256;
    CHECK(cl_make_tiny_opts(&o, pa) == CL_OK);
    o.seed = 12; /* other weights, same shapes and metadata */
    CHECK(cl_make_tiny_opts(&o, pb) == CL_OK);
    o.seed = 11; /* same weights, other RoPE */
    o.rope_scaling = "linear";
    o.rope_factor = 2.0f;
    CHECK(cl_make_tiny_opts(&o, pc) == CL_OK);
    if (!(m = open_model(pa)) || !(cold = open_model(pa))) goto out;
    cl_model_set_kvcache(cold, NULL);
    CHECK(cl_model_kvcache(cold) == NULL && cl_model_kvcache(m) != NULL);
    nv = cl_model_get_info(m)->n_vocab;
    if (!(lc = malloc(nv * sizeof *lc)) || !(lw = malloc(nv * sizeof *lw))) goto out;
    for (i = 0; i < 200; i++) t[i] = (cl_token)(3 + (i * 37 + i / 5) % 250);

    /* cold, without any cache */
    if (!prefill(cold, t, 100, lc, &st)) goto out;
    CHECK(st.hit_tokens == 0 && st.prefill_tokens == 100 && st.stored_blocks == 0);
    /* first time through the cache: nothing to reuse, 3 whole blocks stored */
    if (!prefill(m, t, 100, lw, &st)) goto out;
    CHECK(st.prompt_tokens == 100 && st.hit_blocks == 0 && st.prefill_tokens == 100 && st.stored_blocks == 3);
    CHECK(!memcmp(lc, lw, nv * sizeof *lc));
    /* again: 96 tokens reused, 4 evaluated, the same logits bit for bit */
    memset(lw, 0, nv * sizeof *lw);
    if (!prefill(m, t, 100, lw, &st)) goto out;
    CHECK(st.hit_blocks == 3 && st.hit_tokens == 96 && st.prefill_tokens == 4 && st.stored_blocks == 0);
    CHECK(!memcmp(lc, lw, nv * sizeof *lc));
    /* a longer prompt with the same start: reuse 3 blocks, store 2 more */
    if (!prefill(cold, t, 170, lc, NULL) || !prefill(m, t, 170, lw, &st)) goto out;
    CHECK(st.hit_blocks == 3 && st.stored_blocks == 2 && st.prefill_tokens == 170 - 96);
    CHECK(!memcmp(lc, lw, nv * sizeof *lc));
    /* exactly two blocks long: the last token is always evaluated, so one block is reused */
    if (!prefill(cold, t, 64, lc, NULL) || !prefill(m, t, 64, lw, &st)) goto out;
    CHECK(st.hit_blocks == 1 && st.prefill_tokens == 32);
    CHECK(!memcmp(lc, lw, nv * sizeof *lc));
    /* shorter than a block: no lookup at all */
    if (!prefill(cold, t, 20, lc, NULL) || !prefill(m, t, 20, lw, &st)) goto out;
    CHECK(st.hit_blocks == 0 && st.prefill_tokens == 20);
    CHECK(!memcmp(lc, lw, nv * sizeof *lc));
    /* a token changed at 40: block 0 reused, the changed suffix recomputed */
    memcpy(u, t, sizeof t);
    u[40] = (cl_token)(u[40] == 5 ? 6 : 5);
    if (!prefill(cold, u, 170, lc, NULL) || !prefill(m, u, 170, lw, &st)) goto out;
    CHECK(st.hit_blocks == 1 && st.stored_blocks == 4);
    CHECK(!memcmp(lc, lw, nv * sizeof *lc));
    /* a token changed at 3: nothing reused */
    u[3] = (cl_token)(u[3] == 5 ? 6 : 5);
    if (!prefill(cold, u, 100, lc, NULL) || !prefill(m, u, 100, lw, &st)) goto out;
    CHECK(st.hit_blocks == 0);
    CHECK(!memcmp(lc, lw, nv * sizeof *lc));
    /* bad tokens are refused before anything is stored */
    u[50] = (cl_token)nv;
    CHECK(cl_model_prefill(m, u, 100, lw, &st) == CL_ERR_RANGE);

    /* one cache shared by models: the same file (opened again, another
     * context size) hits; other weights or other RoPE never do */
    CHECK(cl_kvcache_new(CL_KVCACHE_DEFAULT_BYTES, &shared) == CL_OK);
    if (!shared) goto out;
    cl_model_set_kvcache(m, shared);
    if (!(mb = open_model(pb)) || !(mc = open_model(pc))) goto out;
    CHECK(cl_model_open(pa, 128, &m2) == CL_OK);
    if (!m2) goto out;
    cl_model_set_kvcache(mb, shared);
    cl_model_set_kvcache(mc, shared);
    cl_model_set_kvcache(m2, shared);
    cl_kvcache_free(shared); /* the models hold it now */
    if (!prefill(m, t, 100, lw, &st)) goto out;
    CHECK(st.hit_blocks == 0 && st.stored_blocks == 3);
    if (!prefill(mb, t, 100, lw, &st)) goto out;
    CHECK(st.hit_blocks == 0);
    if (!prefill(mc, t, 100, lw, &st)) goto out;
    CHECK(st.hit_blocks == 0);
    if (!prefill(m2, t, 100, lw, &st)) goto out;
    CHECK(st.hit_blocks == 3);
    if (!prefill(cold, t, 100, lc, NULL)) goto out;
    CHECK(!memcmp(lc, lw, nv * sizeof *lc));
    {
        cl_kvcache_stats cs;
        cl_kvcache_get_stats(cl_model_kvcache(m), &cs);
        CHECK(cs.n_blocks == 9 && cs.n_pinned == 0);
    }

    /* cl_generate reports the reuse, and the tokens are the same */
    {
        cl_gen_opts g;
        cl_gen_result r1, r2;
        memset(&g, 0, sizeof g);
        cl_sample_opts_default(&g.sample);
        g.max_tokens = 8;
        CHECK(cl_generate(cold, t, 150, &g, &r1) == CL_OK);
        CHECK(cl_generate(m, t, 150, &g, &r2) == CL_OK);
        CHECK(r1.kv.hit_tokens == 0 && r1.kv.prefill_tokens == 150);
        CHECK(r2.kv.prompt_tokens == 150 && r2.kv.hit_tokens == 96 && r2.kv.prefill_tokens == 54);
        CHECK(r1.n_tokens == r2.n_tokens && r1.tokens && r2.tokens &&
              !memcmp(r1.tokens, r2.tokens, r1.n_tokens * sizeof *r1.tokens));
        cl_gen_result_free(&r1);
        cl_gen_result_free(&r2);
    }
out:
    free(lc);
    free(lw);
    cl_model_free(m);
    cl_model_free(m2);
    cl_model_free(mb);
    cl_model_free(mc);
    cl_model_free(cold);
    unlink(pa);
    unlink(pb);
    unlink(pc);
}

/* F32 and F16 caches of one file: blocks kept apart, half the bytes for
 * F16, exact reuse for each. */
static void test_kv_types(const char *dir)
{
    char pa[512];
    cl_tiny_opts o;
    cl_model_params p32 = {0, CL_KV_F32}, p16 = {0, CL_KV_F16}, p32b = {200, CL_KV_F32};
    cl_model *m16 = NULL, *m32 = NULL, *m32b = NULL, *cold32 = NULL;
    cl_kvcache *shared = NULL;
    cl_kvcache_stats a, b, c;
    cl_kv_stats st;
    float *lc = NULL, *lw = NULL;
    cl_token t[100];
    uint32_t nv, kvd;
    size_t i;
    snprintf(pa, sizeof pa, "%s/kv_t.gguf", dir);
    memset(&o, 0, sizeof o);
    o.arch = "qwen2";
    o.type = CL_TYPE_Q8_0;
    o.seed = 21;
    o.n_ctx = 256;
    CHECK(cl_make_tiny_opts(&o, pa) == CL_OK);
    CHECK_MSG(cl_model_open_params(pa, &p16, &m16) == CL_OK, "%s", cl_errmsg());
    CHECK_MSG(cl_model_open_params(pa, &p32, &m32) == CL_OK, "%s", cl_errmsg());
    CHECK(cl_model_open_params(pa, &p32b, &m32b) == CL_OK);
    CHECK(cl_model_open_params(pa, &p32, &cold32) == CL_OK);
    if (!m16 || !m32 || !m32b || !cold32) goto out;
    CHECK(cl_model_get_info(m16)->kv_type == CL_KV_F16 && cl_model_get_info(m32)->kv_type == CL_KV_F32);
    cl_model_set_kvcache(cold32, NULL);
    CHECK(cl_kvcache_new(CL_KVCACHE_DEFAULT_BYTES, &shared) == CL_OK);
    if (!shared) goto out;
    cl_model_set_kvcache(m16, shared);
    cl_model_set_kvcache(m32, shared);
    cl_model_set_kvcache(m32b, shared);
    cl_kvcache_free(shared);
    nv = cl_model_get_info(m16)->n_vocab;
    kvd = cl_model_get_info(m16)->n_head_kv * cl_model_get_info(m16)->head_dim;
    if (!(lc = malloc(nv * sizeof *lc)) || !(lw = malloc(nv * sizeof *lw))) goto out;
    for (i = 0; i < 100; i++) t[i] = (cl_token)(3 + (i * 41 + i / 3) % 250);
    cl_kvcache_get_stats(cl_model_kvcache(m16), &a);
    if (!prefill(m16, t, 100, lw, &st)) goto out;
    CHECK(st.hit_blocks == 0 && st.stored_blocks == 3);
    cl_kvcache_get_stats(cl_model_kvcache(m16), &b);
    if (!prefill(m32, t, 100, lw, &st)) goto out; /* the F16 blocks are not its own */
    CHECK(st.hit_blocks == 0 && st.stored_blocks == 3);
    cl_kvcache_get_stats(cl_model_kvcache(m16), &c);
    /* per block: 2 x n_layer x 32 positions x kvd values, plus the same header */
    CHECK_MSG((c.bytes - b.bytes) - (b.bytes - a.bytes) == 3 * (size_t)2 * cl_model_get_info(m16)->n_layer * B * kvd * 2,
              "F32 blocks %zu bytes, F16 blocks %zu bytes", c.bytes - b.bytes, b.bytes - a.bytes);
    if (!prefill(m32b, t, 100, lw, &st)) goto out; /* another F32 model of the file: its blocks */
    CHECK(st.hit_blocks == 3);
    if (!prefill(cold32, t, 100, lc, NULL)) goto out;
    CHECK(!memcmp(lc, lw, nv * sizeof *lc));
    if (!prefill(m16, t, 100, lw, &st)) goto out; /* and F16 still finds its own */
    CHECK(st.hit_blocks == 3);
    /* the halves differ from the floats: F16 logits are not F32's (how
     * close they are is test_llm_forward.sh's business: a half flip can
     * turn an 8-bit input quant of these Q8_0 weights) */
    CHECK(memcmp(lc, lw, nv * sizeof *lc) != 0);
out:
    free(lc);
    free(lw);
    cl_model_free(m16);
    cl_model_free(m32);
    cl_model_free(m32b);
    cl_model_free(cold32);
    unlink(pa);
}

/* Q8_0 caches (head_dim 64): blocks of 2 x n_layer x 32 rows of kvd/32
 * blocks of 34 bytes, kept apart from F16's, reused exactly (the logits of
 * a warm prefill are a cold one's, bit for bit); cl_model_kv_bytes says
 * the same row size; a head_dim of 16 is refused at open. */
static void test_kv_q8(const char *dir)
{
    char pa[512], pb[512];
    cl_tiny_opts o;
    cl_model_params p8 = {0, CL_KV_Q8_0}, p16 = {0, CL_KV_F16};
    cl_model *m8 = NULL, *m8b = NULL, *cold8 = NULL, *m16 = NULL, *bad = NULL;
    cl_kvcache *shared = NULL;
    cl_kvcache_stats a, b;
    cl_kv_stats st;
    float *lc = NULL, *lw = NULL;
    cl_token t[150];
    uint32_t nv, kvd;
    size_t i;
    cl_status s;
    snprintf(pa, sizeof pa, "%s/kv_q8.gguf", dir);
    snprintf(pb, sizeof pb, "%s/kv_q8_hd16.gguf", dir);
    memset(&o, 0, sizeof o);
    o.arch = "qwen2";
    o.type = CL_TYPE_Q4_K;
    o.seed = 5;
    o.n_ctx = 256;
    o.n_embd = 256; /* 4 heads of 64, 2 KV heads */
    CHECK(cl_make_tiny_opts(&o, pa) == CL_OK);
    o.type = CL_TYPE_F32;
    o.n_embd = 64; /* heads of 16 */
    CHECK(cl_make_tiny_opts(&o, pb) == CL_OK);
    s = cl_model_open_params(pb, &p8, &bad);
    CHECK_MSG(s == CL_ERR_UNSUPPORTED && !bad && strstr(cl_errmsg(), "multiple of 32"), "head_dim 16: %d %s", s,
              cl_errmsg());
    CHECK_MSG(cl_model_open_params(pa, &p8, &m8) == CL_OK, "%s", cl_errmsg());
    CHECK(cl_model_open_params(pa, &p8, &m8b) == CL_OK);
    CHECK(cl_model_open_params(pa, &p8, &cold8) == CL_OK);
    CHECK(cl_model_open_params(pa, &p16, &m16) == CL_OK);
    if (!m8 || !m8b || !cold8 || !m16) goto out;
    CHECK(cl_model_get_info(m8)->kv_type == CL_KV_Q8_0 && !strcmp(cl_kv_type_name(CL_KV_Q8_0), "q8_0"));
    kvd = cl_model_get_info(m8)->n_head_kv * cl_model_get_info(m8)->head_dim;
    CHECK(kvd == 128 && cl_kv_row_bytes(CL_KV_Q8_0, kvd) == 4 * 34 && cl_kv_row_bytes(CL_KV_Q8_0, 100) == 0);
    CHECK(cl_model_kv_bytes(cl_model_get_info(m8), 10) == 2ull * cl_model_get_info(m8)->n_layer * 10 * 4 * 34);
    cl_model_set_kvcache(cold8, NULL);
    CHECK(cl_kvcache_new(CL_KVCACHE_DEFAULT_BYTES, &shared) == CL_OK);
    if (!shared) goto out;
    cl_model_set_kvcache(m8, shared);
    cl_model_set_kvcache(m8b, shared);
    cl_model_set_kvcache(m16, shared);
    cl_kvcache_free(shared);
    nv = cl_model_get_info(m8)->n_vocab;
    if (!(lc = malloc(nv * sizeof *lc)) || !(lw = malloc(nv * sizeof *lw))) goto out;
    for (i = 0; i < 150; i++) t[i] = (cl_token)(3 + (i * 37 + i / 5) % 250);
    cl_kvcache_get_stats(cl_model_kvcache(m8), &a);
    if (!prefill(m8, t, 100, lw, &st)) goto out;
    CHECK(st.hit_blocks == 0 && st.stored_blocks == 3);
    cl_kvcache_get_stats(cl_model_kvcache(m8), &b);
    CHECK_MSG(b.bytes - a.bytes >= 3 * (size_t)2 * cl_model_get_info(m8)->n_layer * B * 4 * 34 &&
                  b.bytes - a.bytes < 3 * (size_t)2 * cl_model_get_info(m8)->n_layer * B * kvd * 2,
              "3 Q8_0 blocks took %zu bytes", b.bytes - a.bytes);
    if (!prefill(m16, t, 100, lw, &st)) goto out; /* the Q8_0 blocks are not F16's */
    CHECK(st.hit_blocks == 0 && st.stored_blocks == 3);
    if (!prefill(m8b, t, 150, lw, &st)) goto out; /* another Q8_0 model of the file: its blocks, then 54 more */
    CHECK(st.hit_blocks == 3 && st.prefill_tokens == 54);
    if (!prefill(cold8, t, 150, lc, NULL)) goto out;
    CHECK_MSG(!memcmp(lc, lw, nv * sizeof *lc), "Q8_0: a warm prefill's logits differ from a cold one's");
    { /* and decoding on from there: the same next logits */
        cl_token nx = 7;
        CHECK(cl_model_eval(m8b, nx, 150, lw) == CL_OK && cl_model_eval(cold8, nx, 150, lc) == CL_OK);
        CHECK(!memcmp(lc, lw, nv * sizeof *lc));
    }
out:
    free(lc);
    free(lw);
    cl_model_free(m8);
    cl_model_free(m8b);
    cl_model_free(cold8);
    cl_model_free(m16);
    unlink(pa);
    unlink(pb);
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    test_bookkeeping();
    test_model(tmp && *tmp ? tmp : "/tmp");
    test_kv_types(tmp && *tmp ? tmp : "/tmp");
    test_kv_q8(tmp && *tmp ? tmp : "/tmp");
    return check_done("llm_kvcache");
}
