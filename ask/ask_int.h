/*
 * ask_int.h — what ask/'s files share and nobody else sees: the prompt
 * builder (prompt.c) and the gguf generator (gen_gguf.c).
 */
#ifndef CAIRN_ASK_INT_H
#define CAIRN_ASK_INT_H

#include "ask.h"
#include "graph.h"

/* One evidence chunk as the prompt builder sees it (borrowed strings). */
typedef struct ca_ev {
    int64_t     id;
    const char *uri, *text;
} ca_ev;

/* Counts tokens of s[0..n): a model's tokenizer, or NULL for the
 * estimator (one token per 4 bytes, rounded up). */
typedef size_t (*ca_count_fn)(void *ctx, const char *s, size_t n);

typedef struct ca_prompt {
    char   *text;          /* owned; NUL-terminated */
    size_t  len;
    size_t  tokens;        /* by count (or the estimator) */
    int     budget;
    int    *cite;          /* per input chunk (fused order): its [n] in the prompt, 0 = left out */
    int    *truncated;     /* per input chunk: 1 when its excerpt was cut to fit */
    size_t  n_chunks_in, n_triples_in;
    const cg_triple **triples;   /* [T1].. in prompt order (borrowed from the subgraph) */
    int     over_budget;   /* 1 when even the instructions and question do not fit */
    int     short_instructions;   /* 1: the full rules took over a third of the budget (a
                                     short context), the short ones went in */
    size_t  n_dropped;     /* chunks dropped because the whole prompt counted over budget */
    char    sha256[65];
} ca_prompt;

/* Assembles the prompt: instructions, then the evidence between explicit
 * untrusted-data markers (triples [T1].. then chunk excerpts [1].., each
 * group in a stable order: triples by their text, chunks by chunk id), then
 * the question. Everything within budget tokens; chunks go in by fused
 * rank until the budget is spent (the last one cut at a word boundary);
 * when the whole prompt counts over budget, the lowest-ranked chunks in it
 * are dropped (n_dropped) until it fits. The stable part comes first, so
 * that the model's prefix KV cache serves repeated and related questions.
 * p is filled (free with ca_prompt_free). CC_NOMEM only. */
cc_status ca_prompt_build(const char *question, const ca_ev *ev, size_t n_ev,
                          const cg_subgraph *g, int budget, ca_count_fn count, void *ctx,
                          ca_prompt *p);
void      ca_prompt_free(ca_prompt *p);   /* NULL-safe; leaves p zeroed */

/* The gguf generator (gen_gguf.c): a GGUF decoder from llm/, greedy. */
typedef struct ca_llm ca_llm;

/* Context tokens kept for the chat template around the prompt (ChatML with
 * Qwen's default system message takes about 30). */
#define CA_CHAT_RESERVE 64

typedef struct ca_gen {
    char   *text;              /* owned: the generated answer text */
    size_t  n_prompt_tokens, n_gen_tokens;
    double  t_prefill, t_decode;   /* ms */
    int     stopped_eos;       /* 1: the model ended with EOS; 0: max_new reached */
    int     chat_template;     /* 1: the prompt went in as a user message of the model's template */
    /* the prefix KV cache (llm/kvcache.c): prompt tokens, tokens reused
     * (prefill saved), blocks reused and newly stored */
    size_t  kv_prompt_tokens, kv_hit_tokens, kv_hit_blocks, kv_stored_blocks;
    int     model_kept;        /* 1: the model stayed loaded from an earlier ask in this process */
} ca_gen;

/* Opens the model at path with a KV cache of n_ctx tokens whose elements
 * are kv_type ("f16", "f32", "q8_0"; NULL or "" = the engine's default, see
 * cl_kv_type) and hashes the file (sha256). Errors on the KB handle. */
cc_status   ca_llm_open(cc_kb *kb, const char *path, uint32_t n_ctx, const char *kv_type, ca_llm **out);
void        ca_llm_close(ca_llm *m);   /* NULL-safe */
/* The KV cache size in tokens (the trained context at most). */
uint32_t    ca_llm_n_ctx(const ca_llm *m);
/* Tokens the model's chat template (or BOS) adds around the prompt text. */
size_t      ca_llm_overhead(const ca_llm *m);
/* 1 when ca_llm_open took the model kept from an earlier ask: ca_llm_close
 * keeps one model per process for the next ask of the same file and context
 * (with its prefix KV cache); ca_llm_release_kept frees it now. */
int         ca_llm_kept(const ca_llm *m);
void        ca_llm_release_kept(void);
/* The byte budget of the model's prefix KV cache (setting ask.kv_cache_mb). */
void        ca_llm_set_cache_budget(ca_llm *m, size_t bytes);
/* A ca_count_fn over the model's tokenizer (ctx = the ca_llm). */
size_t      ca_llm_count(void *ctx, const char *s, size_t n);
/* The model's identity as a JSON object (file, sha256, architecture,
 * tensor types, backend, context, KV cache type); borrowed from m. */
const char *ca_llm_identity(const ca_llm *m);
/* Greedy generation from the prompt (evidence tokenised with
 * parse_special = 0, so role markers in documents stay text), at most
 * max_new tokens, each piece of text passed to on_token (may be NULL) as
 * it comes. out->text is freed with ca_gen_free. Errors on the KB handle. */
cc_status   ca_llm_generate(cc_kb *kb, ca_llm *m, const ca_prompt *p, int max_new,
                            void (*on_token)(void *ctx, const char *s, size_t n), void *ctx,
                            ca_gen *out);
void        ca_gen_free(ca_gen *g);   /* NULL-safe */

#endif /* CAIRN_ASK_INT_H */
