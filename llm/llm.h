/* llm.h — cairn's inference engine (library cairn_llm, prefix cl_).
 *
 * This is the one public header of llm/. llm/ depends on nothing else in the
 * project: it has its own status enum and its own message buffer.
 *
 * What is here so far:
 *   - status codes and the last error message (thread-local);
 *   - a GGUF v2/v3 reader over mmap (every count, length, offset and shape is
 *     checked against the file size before use) and a small GGUF writer;
 *   - tensor types F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K: row dequantisation
 *     and the dot product of a quantised row with a float vector;
 *   - tokenizers built from GGUF metadata: byte-level BPE ("gpt2"),
 *     SentencePiece BPE ("llama") and WordPiece ("bert");
 *   - a decoder forward pass (llama, qwen2, qwen3) with a KV cache and
 *     batched prefill, on a backend table (CPU: thread pool, AVX2 kernels);
 *   - a prefix-reusing KV cache in blocks of tokens (cl_kvcache), used by
 *     cl_generate's prefill;
 *   - sampling, stop strings and streaming generation (cl_generate), chat
 *     templates, constrained decoding to a JSON-schema subset;
 *   - a writer of tiny random test models.
 */
#ifndef CAIRN_LLM_H
#define CAIRN_LLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ status */

/* 0 = OK; values are only ever appended. */
typedef enum cl_status {
    CL_OK = 0,
    CL_ERR_IO = 1,        /* open/read/mmap failed */
    CL_ERR_FORMAT = 2,    /* malformed or hostile file */
    CL_ERR_NOMEM = 3,     /* allocation failed */
    CL_ERR_NOTFOUND = 4,  /* key or tensor not present */
    CL_ERR_TYPE = 5,      /* value has another type than asked for */
    CL_ERR_RANGE = 6,     /* index or argument out of range */
    CL_ERR_UNSUPPORTED = 7, /* valid but not handled (tensor type, tokenizer) */
    CL_ERR_INVALID = 8    /* bad argument from the caller */
} cl_status;

/* A static English name for a status ("ok", "format error", ...). */
const char *cl_status_str(cl_status s);

/* The message of the last failure on this thread (borrowed, valid until the
 * next failing cl_ call on this thread). Never NULL. */
const char *cl_errmsg(void);

/* -------------------------------------------------------------- gguf types */

typedef enum cl_gguf_type {
    CL_GGUF_UINT8 = 0, CL_GGUF_INT8 = 1, CL_GGUF_UINT16 = 2, CL_GGUF_INT16 = 3,
    CL_GGUF_UINT32 = 4, CL_GGUF_INT32 = 5, CL_GGUF_FLOAT32 = 6, CL_GGUF_BOOL = 7,
    CL_GGUF_STRING = 8, CL_GGUF_ARRAY = 9, CL_GGUF_UINT64 = 10, CL_GGUF_INT64 = 11,
    CL_GGUF_FLOAT64 = 12,
    CL_GGUF_TYPE_COUNT = 13
} cl_gguf_type;

/* Tensor element types, numbered as GGML numbers them. */
typedef enum cl_type {
    CL_TYPE_F32 = 0, CL_TYPE_F16 = 1, CL_TYPE_Q4_0 = 2, CL_TYPE_Q4_1 = 3,
    CL_TYPE_Q5_0 = 6, CL_TYPE_Q5_1 = 7, CL_TYPE_Q8_0 = 8, CL_TYPE_Q8_1 = 9,
    CL_TYPE_Q2_K = 10, CL_TYPE_Q3_K = 11, CL_TYPE_Q4_K = 12, CL_TYPE_Q5_K = 13,
    CL_TYPE_Q6_K = 14, CL_TYPE_Q8_K = 15,
    CL_TYPE_I8 = 24, CL_TYPE_I16 = 25, CL_TYPE_I32 = 26, CL_TYPE_I64 = 27,
    CL_TYPE_F64 = 28, CL_TYPE_BF16 = 30,
    CL_TYPE_COUNT = 40 /* upper bound for tables, not a type */
} cl_type;

/* Name ("Q4_K"), or NULL for an unknown id. */
const char *cl_type_name(int type);
/* Values per block and bytes per block (both 0 for types this library does
 * not know the layout of). */
int cl_type_block_size(int type);
size_t cl_type_block_bytes(int type);
/* 1 when llm/ can dequantise and dot this type. */
int cl_type_supported(int type);
/* Bytes of a row of n values; CL_ERR_RANGE when n is not a multiple of the
 * block size, CL_ERR_UNSUPPORTED for an unknown layout. */
cl_status cl_type_row_bytes(int type, uint64_t n, size_t *out);

#define CL_GGUF_MAX_DIMS 4
#define CL_GGUF_DEFAULT_ALIGNMENT 32

typedef struct cl_gguf cl_gguf;

typedef struct cl_tensor {
    const char *name;      /* borrowed, NUL-terminated copy owned by the cl_gguf */
    int type;              /* cl_type */
    int n_dims;            /* 1..4 */
    uint64_t ne[CL_GGUF_MAX_DIMS]; /* ne[0] = values per row (fastest); unused dims = 1 */
    uint64_t n_elements;
    uint64_t offset;       /* from the start of the data section */
    size_t n_bytes;
    const void *data;      /* inside the mapping; valid until cl_gguf_close */
} cl_tensor;

/* Open and validate a GGUF file (v2 or v3). On failure *out is NULL and
 * cl_errmsg() says what is wrong and where. Close with cl_gguf_close. */
cl_status cl_gguf_open(const char *path, cl_gguf **out);
/* Same over a caller's buffer (not copied: it must outlive the handle). */
cl_status cl_gguf_open_mem(const void *data, size_t size, cl_gguf **out);
void cl_gguf_close(cl_gguf *g); /* NULL is a no-op */

uint32_t cl_gguf_version(const cl_gguf *g);
size_t cl_gguf_alignment(const cl_gguf *g);
uint64_t cl_gguf_data_offset(const cl_gguf *g);
size_t cl_gguf_file_size(const cl_gguf *g);

/* Metadata. Keys are indexed 0..n_kv-1; find returns -1 when absent. */
int64_t cl_gguf_n_kv(const cl_gguf *g);
int64_t cl_gguf_find_key(const cl_gguf *g, const char *key);
const char *cl_gguf_key(const cl_gguf *g, int64_t i); /* borrowed */
cl_gguf_type cl_gguf_kv_type(const cl_gguf *g, int64_t i);

/* Typed getters by key. CL_ERR_NOTFOUND when absent, CL_ERR_TYPE when the
 * stored type differs (u32/i32 also accept any integer type whose value
 * fits; f32 accepts FLOAT64). Strings are borrowed, not NUL-terminated in
 * the file: use the length (the _str getter gives a NUL-terminated copy
 * kept by the handle). */
cl_status cl_gguf_get_u32(const cl_gguf *g, const char *key, uint32_t *out);
cl_status cl_gguf_get_i32(const cl_gguf *g, const char *key, int32_t *out);
cl_status cl_gguf_get_u64(const cl_gguf *g, const char *key, uint64_t *out);
cl_status cl_gguf_get_f32(const cl_gguf *g, const char *key, float *out);
cl_status cl_gguf_get_bool(const cl_gguf *g, const char *key, int *out);
cl_status cl_gguf_get_str(const cl_gguf *g, const char *key, const char **out, size_t *len);

/* Arrays: element type and length; elements by index. For an array of
 * arrays, cl_gguf_arr_get_arr gives a view of the nested array. */
typedef struct cl_gguf_arr {
    const cl_gguf *g;
    cl_gguf_type type;  /* element type */
    uint64_t n;         /* element count */
    int64_t desc;       /* internal */
} cl_gguf_arr;

cl_status cl_gguf_get_arr(const cl_gguf *g, const char *key, cl_gguf_arr *out);
cl_status cl_gguf_arr_get_int(const cl_gguf_arr *a, uint64_t i, int64_t *out);   /* any int/bool */
cl_status cl_gguf_arr_get_f32(const cl_gguf_arr *a, uint64_t i, float *out);     /* f32/f64 */
cl_status cl_gguf_arr_get_str(const cl_gguf_arr *a, uint64_t i, const char **s, size_t *len);
cl_status cl_gguf_arr_get_arr(const cl_gguf_arr *a, uint64_t i, cl_gguf_arr *out);

/* Tensors. */
int64_t cl_gguf_n_tensors(const cl_gguf *g);
const cl_tensor *cl_gguf_tensor(const cl_gguf *g, int64_t i);           /* NULL if out of range */
const cl_tensor *cl_gguf_find_tensor(const cl_gguf *g, const char *name); /* NULL if absent */

/* ------------------------------------------------------------- gguf writer */

/* Builds a GGUF v3 file in memory: add KVs and tensors, then write. Values
 * are copied. Tensor data is placed at `alignment` (general.alignment is
 * written when it is not the default 32). */
typedef struct cl_gguf_writer cl_gguf_writer;

cl_status cl_gguf_writer_new(cl_gguf_writer **out);
void cl_gguf_writer_free(cl_gguf_writer *w);
cl_status cl_gguf_writer_set_alignment(cl_gguf_writer *w, uint32_t alignment);
cl_status cl_gguf_writer_add_u32(cl_gguf_writer *w, const char *key, uint32_t v);
cl_status cl_gguf_writer_add_i32(cl_gguf_writer *w, const char *key, int32_t v);
cl_status cl_gguf_writer_add_f32(cl_gguf_writer *w, const char *key, float v);
cl_status cl_gguf_writer_add_bool(cl_gguf_writer *w, const char *key, int v);
cl_status cl_gguf_writer_add_str(cl_gguf_writer *w, const char *key, const char *v);
/* An array of scalars: `elems` holds n values of elem_type (not STRING/ARRAY). */
cl_status cl_gguf_writer_add_arr(cl_gguf_writer *w, const char *key, cl_gguf_type elem_type,
                                 const void *elems, uint64_t n);
cl_status cl_gguf_writer_add_arr_str(cl_gguf_writer *w, const char *key,
                                     const char *const *strs, uint64_t n);
/* A raw, already-encoded value (type id + payload bytes), for tests and for
 * nested arrays. */
cl_status cl_gguf_writer_add_raw(cl_gguf_writer *w, const char *key, uint32_t type,
                                 const void *payload, size_t len);
/* ne[0] is the row length. data holds cl_type_row_bytes(...)*rows bytes. */
cl_status cl_gguf_writer_add_tensor(cl_gguf_writer *w, const char *name, int type, int n_dims,
                                    const uint64_t *ne, const void *data, size_t n_bytes);
/* The file image: *out is malloc'd, the caller frees it. */
cl_status cl_gguf_writer_finish(cl_gguf_writer *w, uint8_t **out, size_t *len);
cl_status cl_gguf_writer_write_file(cl_gguf_writer *w, const char *path);

/* ------------------------------------------------------------------- quant */

/* Block layouts (as GGML defines them; all little-endian, d/dmin are IEEE
 * half floats):
 *   Q8_0  34 bytes / 32 values : fp16 d, int8 q[32];            x = d*q
 *   Q4_0  18 bytes / 32 values : fp16 d, uint8 qs[16];          x[j] = d*((qs[j]&15)-8),
 *                                                               x[j+16] = d*((qs[j]>>4)-8)
 *   Q4_K 144 bytes / 256 values: fp16 d, fp16 dmin, uint8 scales[12] (8 6-bit
 *        scales + 8 6-bit mins), uint8 qs[128]; sub-block s of 32 values:
 *        x = d*sc[s]*q - dmin*m[s]
 *   Q6_K 210 bytes / 256 values: uint8 ql[128], uint8 qh[64], int8 scales[16],
 *        fp16 d; x = d*scales[i/16]*(q6 - 32)
 */
float cl_fp16_to_f32(uint16_t h);
uint16_t cl_f32_to_fp16(float f);   /* round to nearest even */
float cl_bf16_to_f32(uint16_t h);
uint16_t cl_f32_to_bf16(float f);   /* round to nearest even */

/* Dequantise n values (n a multiple of the block size) from row to out. */
cl_status cl_dequantize_row(int type, const void *row, float *out, uint64_t n);
/* sum_i row[i]*x[i] over n values, without dequantising the whole row. */
cl_status cl_dot_row(int type, const void *row, const float *x, uint64_t n, float *out);
/* Reference quantisers (round to nearest) for tests and tiny models:
 * Q8_0, Q4_0, Q4_K and Q6_K (simple scale/min choice, not llama.cpp's
 * search); CL_ERR_UNSUPPORTED otherwise. */
cl_status cl_quantize_row(int type, const float *x, void *out, uint64_t n);

/* --------------------------------------------------------------- tokenizer */

typedef int32_t cl_token;

typedef enum cl_tok_kind {
    CL_TOK_NONE = 0, CL_TOK_SPM = 1, CL_TOK_BPE = 2, CL_TOK_WPM = 3
} cl_tok_kind;

/* Token attributes from tokenizer.ggml.token_type */
enum {
    CL_TOKTYPE_UNDEFINED = 0, CL_TOKTYPE_NORMAL = 1, CL_TOKTYPE_UNKNOWN = 2,
    CL_TOKTYPE_CONTROL = 3, CL_TOKTYPE_USER_DEFINED = 4, CL_TOKTYPE_UNUSED = 5,
    CL_TOKTYPE_BYTE = 6
};

typedef struct cl_tokenizer cl_tokenizer;

/* Builds a tokenizer from a GGUF's tokenizer.ggml.* metadata (the vocabulary
 * is copied: the cl_gguf may be closed afterwards). Free with
 * cl_tokenizer_free. */
cl_status cl_tokenizer_new(const cl_gguf *g, cl_tokenizer **out);
void cl_tokenizer_free(cl_tokenizer *t);

cl_tok_kind cl_tokenizer_kind(const cl_tokenizer *t);
int32_t cl_tokenizer_n_vocab(const cl_tokenizer *t);
cl_token cl_tokenizer_bos(const cl_tokenizer *t); /* -1 when none */
cl_token cl_tokenizer_eos(const cl_tokenizer *t);
cl_token cl_tokenizer_unk(const cl_tokenizer *t);
/* Whether encode(add_special=1) adds BOS / EOS (from tokenizer.ggml.add_*_token
 * and the model's defaults: SPM and WPM add BOS ([CLS]) , WPM adds EOS ([SEP])). */
int cl_tokenizer_adds_bos(const cl_tokenizer *t);
int cl_tokenizer_adds_eos(const cl_tokenizer *t);
/* The token's text as stored in the vocabulary (borrowed), NULL if out of range. */
const char *cl_tokenizer_token_text(const cl_tokenizer *t, cl_token id);
int cl_tokenizer_token_type(const cl_tokenizer *t, cl_token id);
/* Exact lookup of a vocabulary string; -1 when absent. */
cl_token cl_tokenizer_find(const cl_tokenizer *t, const char *text, size_t len);

/* Encode UTF-8 text. add_special: add BOS/EOS as the model asks.
 * parse_special: text spans equal to control / user-defined tokens become
 * those tokens. *out is malloc'd (caller frees), *n_out its length. */
cl_status cl_tokenize(const cl_tokenizer *t, const char *text, size_t len, int add_special,
                      int parse_special, cl_token **out, size_t *n_out);

/* Decode tokens to UTF-8 text; control tokens are skipped unless
 * render_special. *out is malloc'd and NUL-terminated, the caller frees. */
cl_status cl_detokenize(const cl_tokenizer *t, const cl_token *ids, size_t n, int render_special,
                        char **out, size_t *len);

/* ------------------------------------------------------------------- model */

/* A decoder model (general.architecture llama, qwen2 or qwen3) loaded from a
 * GGUF file. The weights stay in the file's mapping; only the KV cache and
 * small work buffers are allocated. One sequence; the CPU backend runs a
 * pool of threads. */
typedef struct cl_model cl_model;

typedef struct cl_model_info {
    char arch[16];
    uint32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    uint32_t n_ctx_train; /* <arch>.context_length */
    uint32_t n_ctx;       /* KV cache size in tokens */
    float eps, rope_base;
    float rope_freq_scale; /* 1 / linear RoPE scaling factor (1 = none) */
    int kv_type;           /* cl_kv_type of the KV cache (never CL_KV_DEFAULT once open) */
} cl_model_info;

/* The element type of the KV cache. CL_KV_F16 (IEEE half, the CPU default)
 * halves the bytes that decode attention reads per token against CL_KV_F32;
 * K and V are rounded to half when stored (round to nearest even) and read
 * back exactly. CL_KV_Q8_0 (CPU only) halves them again: each (layer,
 * position, KV head) row of head_dim values is stored as blocks of 32 as
 * GGUF's Q8_0 lays them out (34 bytes: an IEEE half scale d, then 32 int8
 * q with |q| <= 127, value = d * q; d = max|x| / 127, q = round-to-even(x *
 * 127 / max|x|)); attention quantises the query the same way per block
 * and takes K.q in integers, and widens V rows to floats once per group of
 * query heads. It needs a head_dim that is a multiple of 32 (an error at
 * open otherwise). CL_KV_DEFAULT takes the environment variable CAIRN_KV
 * (f16, f32 or q8_0; anything else is an error at open) and else F16. The
 * CUDA backend keeps its device cache in F32 whatever is asked
 * (info.kv_type then says F32). */
typedef enum cl_kv_type { CL_KV_DEFAULT = 0, CL_KV_F32 = 1, CL_KV_F16 = 2, CL_KV_Q8_0 = 3 } cl_kv_type;
const char *cl_kv_type_name(int kv_type); /* "f32", "f16", "q8_0"; "default" for 0; NULL when invalid */
/* Parses "f32" / "f16" / "q8_0" (case-insensitive); -1 when name is none of them. */
int cl_kv_type_parse(const char *name);
/* Bytes that one cache row of n values takes: 4n (F32), 2n (F16), n/32 *
 * 34 (Q8_0); 0 when kv_type is invalid or default, or n is not a multiple
 * of 32 for Q8_0. */
size_t cl_kv_row_bytes(int kv_type, uint64_t n);
/* Bytes of a KV cache of n_ctx positions: 2 x n_layer x n_ctx x the row
 * bytes of n_head_kv x head_dim values of info's kv_type. */
uint64_t cl_model_kv_bytes(const cl_model_info *info, uint32_t n_ctx);

typedef struct cl_model_params {
    uint32_t n_ctx; /* KV cache size in tokens (0 or more than the trained context = the trained context) */
    int kv_type;    /* cl_kv_type; CL_KV_DEFAULT: see above */
} cl_model_params;

/* Opens and checks every tensor's presence, type and shape. n_ctx: KV cache
 * size in tokens (0 or more than the trained context = the trained context).
 * cl_model_open is cl_model_open_params with kv_type CL_KV_DEFAULT. */
cl_status cl_model_open(const char *path, uint32_t n_ctx, cl_model **out);
cl_status cl_model_open_params(const char *path, const cl_model_params *p, cl_model **out);
void cl_model_free(cl_model *m); /* NULL is a no-op */
const cl_model_info *cl_model_get_info(const cl_model *m);
const cl_tokenizer *cl_model_tokenizer(const cl_model *m); /* owned by the model */
const cl_gguf *cl_model_gguf(const cl_model *m);           /* owned by the model */

/* Threads of the CPU backend (n <= 0: the online cores, the default at
 * open). The pool is persistent: workers wait between operations. Results
 * do not depend on the thread count. */
cl_status cl_model_set_threads(cl_model *m, int n_threads);
int cl_model_threads(const cl_model *m);
/* The CPU kernels this process uses: "AVX-512 VNNI" (the integer dot
 * products and decode attention; the rest AVX2), "AVX2" or "portable C"
 * (CAIRN_LLM_SIMD=avx2 or 0 choose the latter two). */
const char *cl_cpu_kernels(void);

/* The backend the model runs on: "cuda" (weights, KV cache and activations
 * on the GPU, whole forward steps there) or "cpu". The environment variable
 * CAIRN_GPU chooses: unset/auto = the GPU when the build has CUDA and a
 * device takes the model, else the CPU (with one line on stderr saying why
 * when the build has CUDA);
 * 0 = the CPU; 1 = the GPU or an error from cl_model_open. */
const char *cl_model_backend(const cl_model *m);

/* Runs n tokens at positions pos..pos+n-1 in batches (prefill: each weight
 * row is read once per batch); positions before pos must have been
 * evaluated. all_logits: logits holds n * n_vocab values, one row per
 * token; otherwise n_vocab values for the last token. */
cl_status cl_model_eval_batch(cl_model *m, const cl_token *toks, size_t n, uint32_t pos, float *logits,
                              int all_logits);

/* Bytes of weights one decoded token reads (every matrix and norm, the
 * output head, one embedding row). */
uint64_t cl_model_weight_bytes(const cl_model *m);

/* For benchmarks: fills KV cache positions n_have..n_to-1 with copies of
 * the evaluated positions 0..n_have-1, so decode can be timed at a long
 * context without prefilling it all. */
cl_status cl_model_kv_fill(cl_model *m, uint32_t n_have, uint32_t n_to);

/* STREAM-like copy bandwidth in GB/s (bytes read + written per second, best
 * of reps) over two arrays of `bytes`, with n_threads threads. */
cl_status cl_bench_copy_gbps(size_t bytes, int n_threads, int reps, double *gbps);

/* `cairn model bench --gpu`: the model at path on the CUDA backend (an error
 * when it does not run there, saying why). Prints on stdout
 * the device, its device-to-device copy bandwidth measured in the same run,
 * prefill tokens/s for a prompt of n_prompt tokens (best of 3), and decode
 * tokens/s at each of the n_ctx contexts (the cache filled by copies past
 * n_prompt, n_decode tokens timed) with the bandwidth that achieves:
 * (weight bytes + KV bytes read per token) x tokens/s, and its fraction of
 * the copy bandwidth. */
cl_status cl_bench_gpu(const char *path, uint32_t n_prompt, const uint32_t *ctx, size_t n_ctx, uint32_t n_decode);

/* Runs one token at position pos (pos < n_ctx; positions 0..pos-1 must have
 * been evaluated before, for this sequence) and writes n_vocab logits
 * (logits NULL: the output head is skipped; see cl_model_hidden). */
cl_status cl_model_eval(cl_model *m, cl_token token, uint32_t pos, float *logits);

/* Greedy generation: evaluates the prompt from position 0, then appends the
 * arg-max token (lowest id on ties) up to n_new tokens or through EOS (EOS
 * is included in out). out holds n_new tokens. */
cl_status cl_model_generate(cl_model *m, const cl_token *prompt, size_t n_prompt, size_t n_new,
                            cl_token *out, size_t *n_out);

/* ------------------------------------------------------- prefix KV cache */

/* A cache of K/V for blocks of CL_KV_BLOCK prompt tokens, shared across
 * generations (and across models: entries carry the identity of the model
 * and of every setting that shapes K/V, so models never share entries).
 * A prompt whose leading whole blocks equal an earlier prompt's, token for
 * token from position 0, copies their K/V instead of prefilling them. Least
 * recently used blocks are evicted to stay within the budget; a block in use
 * is never freed. Thread-safe. Reused K/V give bit-identical logits: the
 * block size equals the prefill batch, so the remaining tokens are computed
 * in the same batches as without the cache. */
#define CL_KV_BLOCK 32
#define CL_KVCACHE_DEFAULT_BYTES ((size_t)256 << 20) /* 256 MiB */
typedef struct cl_kvcache cl_kvcache;

/* budget_bytes 0 keeps nothing (the cache is off). Free with cl_kvcache_free. */
cl_status cl_kvcache_new(size_t budget_bytes, cl_kvcache **out);
/* Handles are reference-counted: ref adds one, free drops one (the last frees
 * every block). NULL is a no-op for both. */
cl_kvcache *cl_kvcache_ref(cl_kvcache *c);
void cl_kvcache_free(cl_kvcache *c);
/* Changes the budget, evicting unpinned blocks down to it. */
void cl_kvcache_set_budget(cl_kvcache *c, size_t budget_bytes);
/* Drops every unpinned block. */
void cl_kvcache_clear(cl_kvcache *c);

typedef struct cl_kvcache_stats {
    size_t budget_bytes, bytes; /* bytes: block data plus bookkeeping */
    size_t n_blocks, n_pinned;
    uint64_t hits, misses;      /* lookups that reused at least one block / none */
    uint64_t inserts, evictions;
} cl_kvcache_stats;
void cl_kvcache_get_stats(cl_kvcache *c, cl_kvcache_stats *st);

/* What one prefill took from the cache. */
typedef struct cl_kv_stats {
    uint32_t prompt_tokens;  /* tokens of the prompt */
    uint32_t hit_blocks;     /* leading blocks reused */
    uint32_t hit_tokens;     /* = hit_blocks * CL_KV_BLOCK: prefill tokens saved */
    uint32_t prefill_tokens; /* tokens actually evaluated (prompt - hit) */
    uint32_t stored_blocks;  /* new blocks this prefill added to the cache */
} cl_kv_stats;

/* Each model opens with a cache of its own (CL_KVCACHE_DEFAULT_BYTES).
 * set_kvcache replaces it with c (a reference is taken; NULL: no cache),
 * e.g. one cache shared by several models. kvcache: the model's (borrowed). */
void cl_model_set_kvcache(cl_model *m, cl_kvcache *c);
cl_kvcache *cl_model_kvcache(const cl_model *m);

/* Evaluates a prompt from position 0 (like cl_model_eval_batch at pos 0,
 * last token's logits), taking leading whole blocks from the model's cache
 * (at most (n-1)/CL_KV_BLOCK of them: the last token is always evaluated)
 * and storing the prompt's new whole blocks in it. st may be NULL. */
cl_status cl_model_prefill(cl_model *m, const cl_token *toks, size_t n, float *logits, cl_kv_stats *st);

/* ---------------------------------------------------------------- sampling */

/* Sampling settings. The order is: repetition penalty on the logits of the
 * last repeat_last_n tokens (positive logits divided by the penalty,
 * negative ones multiplied), the allowed-token mask, then greedy when
 * temperature <= 0; otherwise logits / temperature, top-k, softmax, top-p
 * (the smallest set of most likely tokens whose mass reaches top_p), min-p
 * (drop tokens below min_p times the best one's probability), renormalise
 * and draw with the seeded PRNG (xoshiro256**). Ties go to the lower id.
 * The same seed and settings on the same logits give the same tokens. */
typedef struct cl_sample_opts {
    float temperature;       /* <= 0: greedy (default 0) */
    int32_t top_k;           /* 0: off */
    float top_p;             /* >= 1: off (default 1) */
    float min_p;             /* 0: off */
    float repeat_penalty;    /* 1: off (default 1) */
    int32_t repeat_last_n;   /* tokens of history the penalty looks at (default 64) */
    uint64_t seed;
} cl_sample_opts;

void cl_sample_opts_default(cl_sample_opts *o);

typedef struct cl_sampler cl_sampler;

/* A sampler for a vocabulary of n_vocab; free with cl_sampler_free. Bad
 * settings (negative top_k, top_p <= 0, ...) are CL_ERR_INVALID. */
cl_status cl_sampler_new(const cl_sample_opts *o, int32_t n_vocab, cl_sampler **out);
void cl_sampler_free(cl_sampler *s); /* NULL is a no-op */
/* Adds a token to the history that the repetition penalty looks at. */
void cl_sampler_accept(cl_sampler *s, cl_token t);
/* Picks a token from n_vocab logits (modified in place). allowed: NULL, or
 * n_vocab bytes where 0 forbids the token; CL_ERR_INVALID when nothing is
 * allowed. */
cl_status cl_sampler_sample(cl_sampler *s, float *logits, const uint8_t *allowed, cl_token *out);

/* -------------------------------------------------------------- generation */

/* A JSON-schema subset for constrained decoding: "type" object (with
 * "properties", "required"), array (with "items"), string (with
 * "maxLength"), number, integer, boolean, and "enum" of strings; other keys
 * (description, title, ...) are ignored, anything else is refused with a
 * message. Generated objects give their properties in the schema's order
 * (optional ones may be left out). */
typedef struct cl_json_schema cl_json_schema;
cl_status cl_json_schema_parse(const char *json, size_t len, cl_json_schema **out);
void cl_json_schema_free(cl_json_schema *s); /* NULL is a no-op */

/* Called once per generated token with the text that this token releases
 * (piece, len bytes, not NUL-terminated; may be empty when bytes are held
 * back: an incomplete UTF-8 sequence or a possible start of a stop string).
 * The text of all calls together is the result's text. Return nonzero to
 * cancel the generation. */
typedef int (*cl_token_cb)(void *user, cl_token tok, const char *piece, size_t len);

typedef struct cl_gen_opts {
    cl_sample_opts sample;
    size_t max_tokens;           /* 0: until EOS or the context is full */
    const char *const *stop;     /* n_stop stop strings (borrowed), matched on the */
    size_t n_stop;               /* detokenised text; the match is not emitted */
    cl_token_cb on_token;        /* NULL: none */
    void *user;
    const cl_json_schema *schema; /* NULL: free text; else the output is one JSON value of the schema */
} cl_gen_opts;

typedef enum cl_stop_reason {
    CL_STOP_EOS = 0,     /* an end-of-generation token (EOS, <|im_end|>, <|eot_id|>, ...) */
    CL_STOP_MAX = 1,     /* max_tokens reached */
    CL_STOP_STRING = 2,  /* a stop string was found */
    CL_STOP_CANCEL = 3,  /* the callback returned nonzero */
    CL_STOP_CONTEXT = 4, /* the KV cache is full */
    CL_STOP_SCHEMA = 5   /* the JSON value asked for by the schema is complete */
} cl_stop_reason;

typedef struct cl_gen_result {
    char *text;          /* generated text without the stop string, NUL-terminated */
    size_t len;
    cl_token *tokens;    /* generated tokens (the end token included) */
    size_t n_tokens;
    cl_stop_reason stop_reason;
    double prefill_ms, decode_ms; /* wall time of the prompt and of the rest */
    cl_kv_stats kv;      /* what the prefill reused from the model's prefix cache */
} cl_gen_result;

/* Generates from the prompt (evaluated from position 0 in batches, reusing
 * the model's prefix KV cache: cl_model_prefill) with the model's tokenizer. *out is filled even on failure (partial results);
 * release with cl_gen_result_free. */
cl_status cl_generate(cl_model *m, const cl_token *prompt, size_t n_prompt, const cl_gen_opts *o,
                      cl_gen_result *out);
void cl_gen_result_free(cl_gen_result *r); /* frees the arrays, not r; NULL is a no-op */

/* ------------------------------------------------------------------ chat */

/* Prompt formats for chat models (see chat.c for the exact strings). */
typedef enum cl_chat_format {
    CL_CHAT_NONE = 0,
    CL_CHAT_CHATML = 1, /* Qwen: <|im_start|>role\n...<|im_end|>\n */
    CL_CHAT_LLAMA3 = 2  /* <|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
} cl_chat_format;

typedef struct cl_chat_template {
    cl_chat_format format;
    const char *default_system; /* static; system message added when none is given (Qwen), or NULL */
} cl_chat_template;

typedef struct cl_chat_msg {
    const char *role;    /* system, user, assistant or tool */
    const char *content;
} cl_chat_msg;

/* The format named by tokenizer.chat_template (recognised, not executed),
 * else by the architecture (qwen2, qwen3: ChatML) or the vocabulary's
 * special tokens. CL_ERR_UNSUPPORTED with a message for anything else. */
cl_status cl_chat_template_from_gguf(const cl_gguf *g, cl_chat_template *out);

/* Renders messages to prompt text; add_generation_prompt appends the
 * assistant header. The text carries BOS where the format wants it
 * (<|begin_of_text|> for Llama-3; ChatML has none): tokenize it with
 * add_special = 0 and parse_special = 1. *out is malloc'd, NUL-terminated,
 * the caller frees; len may be NULL. */
cl_status cl_chat_render(const cl_chat_template *t, const cl_chat_msg *msgs, size_t n, int add_generation_prompt,
                         char **out, size_t *len);
/* The rendered prompt's tokens (add_special = 0): the format's own text
 * with its control tokens parsed, each message's content as plain text
 * (parse_special = 0), so that a message cannot spell the format's control
 * tokens (end its turn, open a system turn). *out is malloc'd (the caller
 * frees), *n_out its length. For prompts from outside (the server's chat
 * completions). */
cl_status cl_chat_tokenize(const cl_tokenizer *tk, const cl_chat_template *t, const cl_chat_msg *msgs, size_t n,
                           int add_generation_prompt, cl_token **out, size_t *n_out);

/* Writes a tiny, fully standard GGUF decoder for tests: arch "llama",
 * "qwen2" (Q/K/V biases, tied output head) or "qwen3" (QK-norm), matrices of
 * type F32, F16 or Q8_0 (norms and biases F32), seeded random weights, GQA
 * (4 query heads, 2 KV heads), a built-in byte-level BPE vocabulary. */
cl_status cl_make_tiny(const char *arch, int type, uint64_t seed, const char *path);

/* The same with sizes: fields left 0 take the tiny defaults (embd 64, 4
 * heads, 2 KV heads, ffn 96, 2 layers, context 64; embd and ffn 256 for the
 * K-quants, whose rows are multiples of 256). Types also Q4_0, Q4_K (with
 * ffn_down and the embedding in Q6_K, as Q4_K_M does) and Q6_K; matrices
 * whose rows are not a multiple of 256 fall back from Q4_K to Q4_0 and from
 * Q6_K to Q8_0. n_vocab
 * larger than the built-in vocabulary adds embedding/output rows that no
 * token maps to (for benchmarks at a real model's shape). rope_scaling
 * (e.g. "linear", "yarn"; NULL = none) and rope_factor go to the metadata
 * (yarn also gets original_context_length = context / factor). */
typedef struct cl_tiny_opts {
    const char *arch;
    int type;
    uint64_t seed;
    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    const char *rope_scaling;
    float rope_factor;
} cl_tiny_opts;
cl_status cl_make_tiny_opts(const cl_tiny_opts *o, const char *path);

/* -------------------------------------------------------------- embeddings */

/* Pooling of token states into one vector, numbered as llama.cpp's
 * <arch>.pooling_type metadata. */
typedef enum cl_pooling {
    CL_POOL_UNSET = -1, /* take it from the model's metadata */
    CL_POOL_NONE = 0, CL_POOL_MEAN = 1, CL_POOL_CLS = 2, CL_POOL_LAST = 3
} cl_pooling;

/* "mean", "cls", "last", "none" (NULL for other values). */
const char *cl_pooling_name(int pooling);
/* The inverse; -1 for an unknown name. */
int cl_pooling_from_name(const char *name);

/* An embedding model: a BERT encoder (general.architecture "bert": absolute
 * positions, LayerNorm, GELU, token type 0, bidirectional attention) or a
 * decoder (llama, qwen2, qwen3) pooled over its final normed hidden states
 * (last-token pooling for decoder embedding models). Vectors are pooled as
 * the metadata's <arch>.pooling_type says (or as the caller overrides) and
 * L2-normalised. Weights stay mmapped. One call at a time per handle. */
typedef struct cl_embed cl_embed;

typedef struct cl_embed_params {
    int pooling;      /* CL_POOL_UNSET: from the metadata (BERT without the key: CLS;
                         a decoder without it is refused: not an embedding model) */
    uint32_t n_ctx;   /* most tokens per text (longer texts are cut, keeping the final
                         token); 0 = the model's context, at most 2048 for decoders */
    int n_threads;    /* BERT: threads per forward pass (0 or 1 = the calling thread
                         only; at most 64); results do not depend on it */
} cl_embed_params;

typedef struct cl_embed_info {
    char arch[16];
    uint32_t dim;       /* vector length (embedding_length) */
    int pooling;        /* CL_POOL_MEAN, _CLS or _LAST */
    uint32_t n_ctx;     /* most tokens per text */
    uint32_t n_layer, n_head, n_ff, n_vocab;
    int is_decoder;
} cl_embed_info;

/* Opens path; params may be NULL (defaults). A file that is not an embedding
 * model (unknown arch, a decoder with no pooling type) is an error naming why. */
cl_status cl_embed_open(const char *path, const cl_embed_params *params, cl_embed **out);
void cl_embed_free(cl_embed *e); /* NULL is a no-op */
const cl_embed_info *cl_embed_get_info(const cl_embed *e);
const cl_tokenizer *cl_embed_tokenizer(const cl_embed *e); /* owned by e */

/* Embeds n token sequences (BERT: in one batch) into out (n * dim floats,
 * caller-allocated). A sequence longer than n_ctx is CL_ERR_RANGE; an empty
 * one gives the zero vector. */
cl_status cl_embed_tokens(cl_embed *e, const cl_token *const *toks, const size_t *n_toks, size_t n, float *out);

/* Tokenizes n UTF-8 texts (special tokens added as the model asks, e.g.
 * [CLS] ... [SEP]), cuts each to n_ctx tokens keeping the final one, and
 * embeds them into out (n * dim floats), in batches of up to 4096 tokens. */
cl_status cl_embed_texts(cl_embed *e, const char *const *texts, const size_t *lens, size_t n, float *out);

/* Options of the BERT test-model writer. Zero fields take the tiny defaults
 * (64 dims, 2 layers, 4 heads, ffn 128, 128 positions). */
typedef struct cl_tiny_bert_opts {
    int type;               /* CL_TYPE_F32, _F16 or _Q8_0 for matrices (norms and biases F32) */
    uint64_t seed;
    int pooling;            /* written as bert.pooling_type; CL_POOL_UNSET = mean */
    uint32_t n_embd, n_layer, n_head, n_ff, n_ctx;
    const char *vocab_path; /* a GGUF whose tokenizer.ggml.* (WordPiece) is copied;
                               NULL = a small built-in WordPiece vocabulary */
} cl_tiny_bert_opts;

/* Writes a standard llama.cpp-style "bert" GGUF with seeded random weights. */
cl_status cl_make_tiny_bert(const cl_tiny_bert_opts *o, const char *path);

/* Rewrites the GGUF at path with "<arch>.pooling_type" = pooling added (or
 * replaced), e.g. to turn a tiny decoder into a last-token embedding model. */
cl_status cl_gguf_set_pooling(const char *path, int pooling);

/* The final normed hidden state (n_embd floats) of the last cl_model_eval;
 * cl_model_eval with logits NULL skips the output head. */
void cl_model_hidden(const cl_model *m, float *out);

#ifdef __cplusplus
}
#endif
#endif
