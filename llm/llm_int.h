/* llm_int.h — helpers shared inside llm/ (not part of the public API). */
#ifndef CAIRN_LLM_INT_H
#define CAIRN_LLM_INT_H

#include "llm.h"

#include <stdarg.h>
#include <string.h>

/* Sets the thread's message and returns s. */
cl_status cl_err(cl_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cl_tokenize, except that no control token is matched where it would
 * overlap one of the n_plain spans [plain[2i], plain[2i+1]) (sorted, not
 * overlapping): text there is encoded as plain text, and the text around
 * is pre-tokenized as one, exactly as cl_tokenize would (tokenizer.c). */
cl_status cl_tokenize_plain(const cl_tokenizer *t, const char *text, size_t len, int add_special,
                            int parse_special, const size_t *plain, size_t n_plain, cl_token **out,
                            size_t *n_out);

/* Little-endian loads from possibly unaligned bytes. */
static inline uint16_t cl_ld16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t cl_ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t cl_ld64(const uint8_t *p) { return cl_ld32(p) | ((uint64_t)cl_ld32(p + 4) << 32); }

/* Unicode helpers (llm/unicode.c). */
enum {
    CL_UC_LETTER = 1, CL_UC_NUMBER = 2, CL_UC_MARK = 4, CL_UC_PUNCT = 8, CL_UC_SYMBOL = 16,
    CL_UC_SEPARATOR = 32, CL_UC_CONTROL = 64, CL_UC_WHITESPACE = 128, CL_UC_MARK_NONSPACING = 256
};
unsigned cl_uc_flags(uint32_t cp);
uint32_t cl_uc_tolower(uint32_t cp);
/* Canonical decomposition with nonspacing marks removed (BERT's accent
 * stripping): writes up to 4 code points, returns how many (0 allowed). */
int cl_uc_strip_accents(uint32_t cp, uint32_t out[4]);
/* Decode one UTF-8 sequence at s[0..n): returns its byte length (>=1) and
 * the code point; an invalid byte gives length 1 and U+FFFD. */
size_t cl_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Encode cp; returns bytes written (1..4) to out. */
int cl_utf8_encode(uint32_t cp, char out[4]);

/* Dot products (quant.c, simd.c). A cl_dot_fn computes sum_i row[i]*x[i]
 * over n values of `type` (n a multiple of the block size, checked by the
 * caller). cl_dot_ref is the portable reference; cl_dot_select(1) gives the
 * AVX2/FMA kernels when the processor has them (and CAIRN_LLM_SIMD is not
 * 0), otherwise cl_dot_ref; cl_dot_select(0) always gives cl_dot_ref. */
typedef float (*cl_dot_fn)(int type, const uint8_t *row, const float *x, uint64_t n);
float cl_dot_ref(int type, const uint8_t *row, const float *x, uint64_t n);
cl_dot_fn cl_dot_select(int simd);
int cl_simd_avx2(void); /* 1 when the AVX2/FMA/F16C kernels are in use */
/* The simd argument of the cl_*_select functions: CL_SIMD_OFF the portable
 * kernels; CL_SIMD_BEST the widest the processor has (when cl_simd_avx512:
 * AVX-512 for cl_qdot_select and cl_qdot_rows_select, simd512.c, and for
 * cl_attn_part_q8_select and cl_attn_part_h_select, simd.c; AVX2 for the
 * others); CL_SIMD_AVX2 at most AVX2 (for comparisons). */
#define CL_SIMD_OFF 0
#define CL_SIMD_BEST 1
#define CL_SIMD_AVX2 2
int cl_simd_avx512(void); /* 1 when the AVX-512 kernels are in use (CAIRN_LLM_SIMD=avx2 turns them off) */
/* The target of the AVX-512 kernels (simd.c, simd512.c; x86-64 only) */
#define CL_T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,avx2,fma,f16c")))
/* Four dot products of one row with x + r*ldx (r < 4), bit for bit equal
 * to four calls of the cl_dot_select(simd) kernel; faster for Q8_0, Q4_0,
 * Q4_K and Q6_K (the weights are converted once for the four). */
typedef void (*cl_dot4_fn)(int type, const uint8_t *row, const float *x, size_t ldx, uint64_t n, float *out);
cl_dot4_fn cl_dot4_select(int simd);
/* The integer path for quantised weights (qdot.c, simd.c): the input
 * vector is quantised once per matrix product to 8-bit blocks, then each
 * weight row is multiplied with it in integers. Q8_0 rows take cl_act_q8x4
 * groups of four blocks of 32 values (the scales together, so that the
 * kernel converts four weight scales at once; a last group of fewer
 * blocks is padded with zero blocks), Q4_0 rows cl_act_q8x2 (two blocks of 32 laid out
 * as the AVX2 kernel reads two 18-byte Q4_0 blocks: first halves, second
 * halves, then 8 * the sums that Q4_0's offset of 8 multiplies), Q4_K
 * and Q6_K rows cl_act_q8k blocks of 256 (with the sums of each 16 quants);
 * |qs| <= 127, x ~ d * qs. */
typedef struct cl_act_q8x4 {
    float d[4];      /* the scale of block j */
    int8_t qs[4][32]; /* the quants of block j */
} cl_act_q8x4;
typedef struct cl_act_q8x2 { /* blocks h = 0, 1 (an odd count ends with an all-zero block 1) */
    int8_t lo[32]; /* lo[16h + j] = quant j of block h (j < 16) */
    int8_t hi[32]; /* hi[16h + j] = quant 16 + j of block h */
    int16_t s8[16]; /* s8[8h + i] = 8 * (lo[16h+2i] + lo[16h+2i+1] + hi[16h+2i] + hi[16h+2i+1]) */
    float d[8];     /* d[4h..4h+3] = the scale of block h (four copies: the kernel's lanes) */
} cl_act_q8x2;
typedef struct cl_act_q8k {
    float d;
    int16_t bsums[16];
    int8_t qs[256];
} cl_act_q8k;
/* Bytes of the quantised form of n inputs for weights of wtype; 0 when
 * wtype has no integer path (F32, F16, BF16) or n is not a multiple of its
 * activation block. */
size_t cl_act_bytes(int wtype, uint64_t n);
/* Quantises x[0..n) for wtype into out (cl_act_bytes(wtype, n) bytes).
 * cl_act_quantize_select(1) is the AVX2 version when in use, giving the
 * same bytes. */
typedef void (*cl_act_quantize_fn)(int wtype, const float *x, uint64_t n, void *out);
void cl_act_quantize_ref(int wtype, const float *x, uint64_t n, void *out);
cl_act_quantize_fn cl_act_quantize_select(int simd);
/* sum_i row[i] * xq[i] for a row of n values of wtype and its quantised
 * input; cl_qdot_select(1) gives the AVX2 kernels, equal bit for bit to
 * cl_qdot_ref. */
typedef float (*cl_qdot_fn)(int wtype, const uint8_t *row, const void *xq, uint64_t n);
float cl_qdot_ref(int wtype, const uint8_t *row, const void *xq, uint64_t n);
cl_qdot_fn cl_qdot_select(int simd);
/* y[r] = qdot(row r) + (bias ? bias[r] : 0) for r in [r0, r1), row r at
 * w + r * rb: the decode matrix-vector product, the type dispatched once
 * per range rather than once per row (the same bits as the cl_qdot_fn of
 * the same select per row, the bias added after it in float). */
typedef void (*cl_qdot_rows_fn)(int wtype, const uint8_t *w, size_t rb, const void *xq, uint64_t n, const float *bias,
                                float *y, uint64_t r0, uint64_t r1);
void cl_qdot_rows_ref(int wtype, const uint8_t *w, size_t rb, const void *xq, uint64_t n, const float *bias, float *y,
                      uint64_t r0, uint64_t r1);
cl_qdot_rows_fn cl_qdot_rows_select(int simd);
/* Bytes ahead that the matrix-vector loops ask the cache for (into L2:
 * prefetcht1). The likely reason it pays: the hardware prefetchers stop
 * at each 4 KiB page (the weights are a file mapping on 4 KiB pages),
 * so a thread streaming a matrix alone keeps too few reads in flight.
 *
 * The integer kernels (simd.c, simd512.c) ask inside their block loop
 * when decode's row loop runs them (their argument pf 1; prefill passes
 * 0: it reads each row once per input): CL_PF_DECL at the start of a row,
 * then CL_PF_STEP(pf, b, len) before each block of len bytes at b asks
 * for every line it has not asked for yet up to CL_ROW_PREFETCH bytes past
 * the block's end, so the requests are spread over the arithmetic rather
 * than sent in a burst per row. At the end of a range the last 4 KiB
 * asked for lie past it (a prefetch never faults). cpu.c's float row loop
 * asks once per row (cl_prefetch_ahead: the next row's worth, never past
 * row r1 of the range), as the integer loop did before.
 *
 * Measured on an Intel Xeon guest, 2 threads, Qwen2.5-0.5B shape
 * (docs/benchmarks.md). Once per row against none: decode 1.15-1.4x with
 * the Q4_K mix, 1.0-1.13x with Q8_0 weights, 1.08-1.19x with F16
 * weights; 2-16 KiB ahead the same, 1 KiB less, into L1 0.9x,
 * non-temporal 0.55x, one line in two or one per page little or no gain.
 * In the block loop against once per row: decode 1.06-1.17x more. */
#define CL_ROW_PREFETCH 4096
#define CL_PF_DECL(b) uintptr_t pf_ = ((uintptr_t)(b) + CL_ROW_PREFETCH) & ~(uintptr_t)63
#define CL_PF_STEP(pf, b, len)                                                                                     \
    for (; (pf) && pf_ < (uintptr_t)(b) + CL_ROW_PREFETCH + (len); pf_ += 64) __builtin_prefetch((const void *)pf_, 0, 2)
static inline void cl_prefetch_ahead(const uint8_t *w, size_t rb, uint64_t r, uint64_t r1)
{
    size_t at = (size_t)r * rb + CL_ROW_PREFETCH, end = (size_t)r1 * rb;
    size_t stop = at + rb < end ? at + rb : end;
    for (; at < stop; at += 64) __builtin_prefetch(w + at, 0, 2);
}
/* The body of a SIMD cl_qdot_rows_fn (simd.c, simd512.c): each file's
 * kernels qdot_q8_0, qdot_q4_0, qdot_q4_k and qdot_q6_k (float
 * KERNEL(row, xq, n, pf), called with pf 1: see CL_PF_STEP) inlined into
 * one row loop per type, other types by the portable path. The empty asm
 * keeps the kernel's result a separate float rounding before the bias is
 * added (no contraction into the kernel's last operation), as in the
 * per-row path. */
#define CL_QDOT_ROWS_1(KERNEL)                                                                                     \
    for (r = r0; r < r1; r++) {                                                                                    \
        float d_ = KERNEL(w + r * rb, xq, n, 1);                                                                   \
        __asm__("" : "+x"(d_));                                                                                    \
        y[r] = d_ + (bias ? bias[r] : 0.0f);                                                                       \
    }                                                                                                              \
    return;
#define CL_QDOT_ROWS_BODY()                                                                                        \
    uint64_t r;                                                                                                    \
    switch (wtype) {                                                                                               \
    case CL_TYPE_Q8_0: CL_QDOT_ROWS_1(qdot_q8_0)                                                                   \
    case CL_TYPE_Q4_0: CL_QDOT_ROWS_1(qdot_q4_0)                                                                   \
    case CL_TYPE_Q4_K: CL_QDOT_ROWS_1(qdot_q4_k)                                                                   \
    case CL_TYPE_Q6_K: CL_QDOT_ROWS_1(qdot_q6_k)                                                                   \
    }                                                                                                              \
    cl_qdot_rows_ref(wtype, w, rb, xq, n, bias, y, r0, r1)
/* simd512.c's kernels (x86-64 only; call them only when cl_simd_avx512) */
float cl_qdot_avx512(int wtype, const uint8_t *row, const void *xq, uint64_t n);
void cl_qdot_rows_avx512(int wtype, const uint8_t *w, size_t rb, const void *xq, uint64_t n, const float *bias, float *y,
                         uint64_t r0, uint64_t r1);
/* Integer corrections shared by both paths: sum_j min_j * (sum of the
 * inputs of sub-block j) for a Q4_K block, 32 * sum_g scale_g * (sum of
 * group g) for a Q6_K block. */
int32_t cl_q4k_mins(const uint8_t *b, const cl_act_q8k *y);
/* A Q4_K block's eight 6-bit scales (sm[0..7]) and mins (sm[8..15]) from
 * its 12 packed bytes, four at a time in 32-bit words (as scmin_k4 in
 * qdot.c, which gives the same values one at a time; simd.c, simd512.c). */
static inline void cl_q4k_scmins(const uint8_t *p, uint32_t u[4])
{
    uint32_t lo_min;
    memcpy(u, p, 12);
    u[3] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4); /* mins 4..7 */
    lo_min = u[1] & 0x3f3f3f3fu;                                              /* mins 0..3 */
    u[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);         /* scales 4..7 */
    u[2] = lo_min;
    u[0] &= 0x3f3f3f3fu; /* scales 0..3 */
}
void cl_act_bsums(cl_act_q8k *y); /* fills y->bsums from y->qs */
/* stores block h (of two) of y: the 32 quants q and scale d, with its sums */
void cl_act_q4_put(cl_act_q8x2 *y, int h, const int8_t *q, float d);
int32_t cl_q6k_offs(const uint8_t *b, const cl_act_q8k *y);
/* Decode attention (attn.c): one chunk of nt cache positions (rows ld
 * floats apart at k and v) for the ng query heads q[0..ng*hd) that share a
 * KV head. Writes per head g at part + g*(hd+2): the maximum m of the
 * scaled scores, l = sum exp(score - m) and o[hd] = sum exp(score - m) *
 * v_row; s is scratch for ng * nt floats. cl_attn_merge combines n_parts
 * such records of one head (stride floats apart, chunk order) into out[hd]
 * = sum o * exp(m - M) / sum l * exp(m - M). cl_attn_part_select(1) gives
 * the AVX2 version when in use (other rounding, within float tolerance). */
#define CL_ATTN_CHUNK 128
typedef void (*cl_attn_part_fn)(const float *q, uint32_t ng, uint32_t hd, const float *k, const float *v, size_t ld,
                                uint32_t nt, float scale, float *s, float *part);
void cl_attn_part_ref(const float *q, uint32_t ng, uint32_t hd, const float *k, const float *v, size_t ld, uint32_t nt,
                      float scale, float *s, float *part);
cl_attn_part_fn cl_attn_part_select(int simd);
/* The same over a cache of IEEE halves (CL_KV_F16; ld counts halves): the
 * values are converted as they are read (F16C in the AVX2 version, exact
 * either way), so the result equals the float version's over the widened
 * cache up to summation order. */
typedef void (*cl_attn_part_h_fn)(const float *q, uint32_t ng, uint32_t hd, const uint16_t *k, const uint16_t *v,
                                  size_t ld, uint32_t nt, float scale, float *s, float *part);
void cl_attn_part_h_ref(const float *q, uint32_t ng, uint32_t hd, const uint16_t *k, const uint16_t *v, size_t ld,
                        uint32_t nt, float scale, float *s, float *part);
cl_attn_part_h_fn cl_attn_part_h_select(int simd);
/* dst[i] = src[i] rounded to half (round to nearest even; beyond the half
 * range: infinity), for storing K/V; cl_kv_store_f16_select(1) is the F16C
 * version when in use (the same bits for every value but NaN payloads). */
typedef void (*cl_kv_store_f16_fn)(uint16_t *dst, const float *src, size_t n);
void cl_kv_store_f16(uint16_t *dst, const float *src, size_t n);
cl_kv_store_f16_fn cl_kv_store_f16_select(int simd);
/* The same over a Q8_0 cache (CL_KV_Q8_0; k and v point at the head's
 * first block in a row, ld counts bytes between rows): the query heads are
 * quantised per block of 32 as cl_act_quantize(CL_TYPE_Q8_0) does, each
 * score is sum over blocks of fma(dk * dq, integer dot, acc) in block
 * order, times scale (the AVX2 version: the same bits, by maddubs/madd),
 * and V rows are widened to d * q floats (once per group in the AVX2
 * version) and summed as the float path does. hd must be a multiple of 32
 * and at most CL_KV_Q8_HD_MAX. */
#define CL_KV_Q8_BLOCK 34 /* bytes of one block of 32: half scale, 32 int8 */
#define CL_KV_Q8_HD_MAX 4096 /* the largest head_dim a Q8_0 cache takes (the quantised query lives on the stack) */
/* yq: the ng heads already quantised (cl_attn_q8_query: the same bytes),
 * read instead of quantising q again for every chunk; NULL: quantised here. */
typedef void (*cl_attn_part_q8_fn)(const float *q, uint32_t ng, uint32_t hd, const uint8_t *k, const uint8_t *v,
                                   size_t ld, uint32_t nt, float scale, float *s, float *part,
                                   const cl_act_q8x4 *yq);
void cl_attn_part_q8_ref(const float *q, uint32_t ng, uint32_t hd, const uint8_t *k, const uint8_t *v, size_t ld,
                         uint32_t nt, float scale, float *s, float *part, const cl_act_q8x4 *yq);
/* Quantises ng query heads of hd values for the _q8 kernels, as they would
 * (in parts of CL_KV_Q8_HD_MAX values, each starting a new cl_act_q8x4),
 * into y: cl_attn_q8_query_len(ng, hd) of them. */
size_t cl_attn_q8_query_len(uint32_t ng, uint32_t hd);
void cl_attn_q8_query(const float *q, uint32_t ng, uint32_t hd, cl_act_q8x4 *y, cl_act_quantize_fn quant);
cl_attn_part_q8_fn cl_attn_part_q8_select(int simd);
/* Stores n (a multiple of 32) values as n/32 Q8_0 blocks at dst, quantised
 * by quant (cl_act_quantize_select's: both give the same bytes) with the
 * scale rounded to half. */
void cl_kv_store_q8(uint8_t *dst, const float *src, size_t n, cl_act_quantize_fn quant);
void cl_attn_merge(const float *parts, uint32_t n_parts, size_t stride, uint32_t hd, float *out);
/* cl_attn_merge_select(1): the AVX2 version when in use, the same bits (the
 * same multiplies and adds, unfused, in the same order; the weights by expf). */
typedef void (*cl_attn_merge_fn)(const float *parts, uint32_t n_parts, size_t stride, uint32_t hd, float *out);
cl_attn_merge_fn cl_attn_merge_select(int simd);

/* Streaming with stop strings (sample.c): text[0..len) is everything
 * generated so far and text[0..emitted) has been given out. Sets *emit_to
 * to how far the text may now be given out and returns 1 when a stop string
 * occurs (the text ends at *emit_to, before it). Unless final, bytes that
 * could start a stop string or that end in an incomplete UTF-8 sequence
 * are held back. */
int cl_stop_scan(const char *const *stop, size_t n_stop, const char *text, size_t len, size_t emitted, int final,
                 size_t *emit_to);

/* JSON-schema matcher (json.c): a pushdown state over the bytes of a value
 * of a cl_json_schema. Plain struct: copy it to try a continuation. */
#define CL_JSON_DEPTH 16
typedef struct cl_json_frame {
    uint64_t alive;     /* literal candidates still matching; string: see json.c */
    uint16_t node, idx;
    uint32_t pos;       /* bytes of a string (up to maxLength 65536), a number or a literal */
    uint8_t kind, phase, quoted;
} cl_json_frame;
typedef struct cl_json_state {
    const cl_json_schema *sc;
    int depth, ws_run;
    cl_json_frame f[CL_JSON_DEPTH];
} cl_json_state;
void cl_json_state_init(cl_json_state *st, const cl_json_schema *sc);
/* Feeds n bytes; 0 when they cannot continue a valid value (state then undefined). */
int cl_json_feed(cl_json_state *st, const uint8_t *s, size_t n);
/* 1 when the bytes so far form a whole value. */
int cl_json_complete(const cl_json_state *st);

/* BERT encoder (llm/bert.c), used by the embedding handle (llm/embed.c). */
typedef struct cl_bert cl_bert;
typedef struct cl_bert_hparams {
    uint32_t n_vocab, n_embd, n_layer, n_head, n_ff;
    uint32_t n_ctx_train; /* positions that can be embedded */
    float eps;            /* LayerNorm epsilon */
    int pooling;          /* bert.pooling_type (CL_POOL_*; CLS when absent) */
} cl_bert_hparams;
#define CL_BERT_MAX_THREADS 64
/* g is borrowed and must outlive the encoder (weights stay in its mapping).
 * n_threads: 1..CL_BERT_MAX_THREADS (clamped). */
cl_status cl_bert_new(const cl_gguf *g, int n_threads, cl_bert **out);
void cl_bert_free(cl_bert *b); /* NULL is a no-op */
const cl_bert_hparams *cl_bert_get_hparams(const cl_bert *b);
/* Encodes n_seq token sequences in one batch, pools each (CL_POOL_MEAN, _CLS,
 * _LAST) and L2-normalises: out holds n_seq * n_embd floats. */
cl_status cl_bert_encode(cl_bert *b, const cl_token *const *toks, const size_t *n_toks, size_t n_seq, int pooling,
                         float *out);
/* v /= |v| (a zero vector stays zero). */
void cl_l2_normalize(float *v, size_t n);

/* Test models (tiny.c): adds tensor `name` of ne1 rows of ne0 values, seeded
 * random in [-a, a) plus center, stored as type (vectors, ne1 == 1: F32; a
 * K-quant row that is not a multiple of 256 falls back to Q4_0 / Q8_0).
 * Shared by tiny.c and tiny_bert.c. */
cl_status cl_tiny_add_w(cl_gguf_writer *w, uint64_t *rng, const char *name, int type, uint64_t ne0,
                        uint64_t ne1, float a, float center);

/* Prefix KV cache internals (kvcache.c; the public handle is cl_kvcache in
 * llm.h). ident is the 128-bit identity of a model and the settings that
 * shape its K/V (cl_model computes it at open); toks are a prompt's tokens. */
typedef struct cl_kv_block cl_kv_block;
/* Adds n bytes to an identity (start from {0xcbf29ce484222325, 0}). */
void cl_kv_ident_add(uint64_t ident[2], const void *p, size_t n);
/* The chained key: prev is the key of the blocks before (or ident[0]^ident[1]). */
uint64_t cl_kv_hash_block(uint64_t prev, const cl_token *toks);
/* Matches blocks 0, 1, .. of toks (n_blocks * CL_KV_BLOCK tokens) against the
 * cache and returns how many leading blocks hit; those are pinned and put in
 * out[0..], to be given back with cl_kvc_release. */
size_t cl_kvc_lookup(cl_kvcache *c, const uint64_t ident[2], const cl_token *toks, size_t n_blocks,
                     cl_kv_block **out);
/* Unpins n blocks (NULL entries skipped) and marks them used, b[0] last (most recent). */
void cl_kvc_release(cl_kvcache *c, cl_kv_block *const *b, size_t n);
/* Adds block `depth` of toks (whose parent, the block at depth-1, is pinned by
 * the caller; NULL at depth 0) with data (malloc'd, bytes long, layout
 * [2][n_layer][CL_KV_BLOCK] rows of the model's KV type: floats, halves
 * or Q8_0 blocks; the identity includes that type, so blocks of two types
 * never match each other); the cache takes data in every case (frees
 * it when the block exists already or does not fit the budget). Returns the
 * block, pinned (release it), or NULL when it could not be stored. */
cl_kv_block *cl_kvc_insert(cl_kvcache *c, const uint64_t ident[2], const cl_token *toks, size_t depth,
                           cl_kv_block *parent, void *data, size_t bytes);
const void *cl_kv_block_data(const cl_kv_block *b);
size_t cl_kv_block_bytes(const cl_kv_block *b); /* the data's length as inserted */
/* The copy step between a block and a sequence's contiguous caches (each
 * (n_layer, n_ctx) rows of row_bytes: cl_kv_row_bytes of the model's KV
 * type and n_head_kv * head_dim values), positions pos .. pos+CL_KV_BLOCK-1.
 * Host memory; a GPU backend supplies its own pair for device caches. */
void cl_kv_block_load(const void *blk, void *kcache, void *vcache, uint32_t n_layer, uint32_t n_ctx, size_t row_bytes,
                      uint32_t pos);
void cl_kv_block_save(void *blk, const void *kcache, const void *vcache, uint32_t n_layer, uint32_t n_ctx,
                      size_t row_bytes, uint32_t pos);

#endif
