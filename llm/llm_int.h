/* llm_int.h — helpers shared inside llm/ (not part of the public API). */
#ifndef CAIRN_LLM_INT_H
#define CAIRN_LLM_INT_H

#include "llm.h"

#include <stdarg.h>

/* Sets the thread's message and returns s. */
cl_status cl_err(cl_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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

#endif
