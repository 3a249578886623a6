/*
 * ask.h — answers a question from a KB's own sources: hybrid retrieval
 * (retrieval's searcher, RRF-fused), then the `extractive` generator (the
 * best-supported evidence sentences, each quoted with a citation [n] that
 * maps to a chunk, its document and an exact character span), then checks,
 * then one explainability trace stored append-only and hash-chained in the
 * catalog's `traces` table (schema: schemas/trace.schema.json).
 *
 * Stages: retrieval -> graph (cg_subgraph_extract from the evidence chunks
 * and the question; its triples support sentence scores) -> prompt (the
 * context within a token budget, evidence wrapped as untrusted data, and
 * passages that look like prompt injection marked) -> generation
 * (`extractive`, or `gguf` with a model) -> checks -> trace.
 *
 * Settings (cairn.json): ask.k (evidence chunks, 5), ask.max_sentences (3),
 * ask.min_score (0.4) and ask.min_support (0.25): the extractive answer
 * abstains below them (see ask.c for the scores); ask.type_gate (0): 1 also
 * abstains when no supported sentence holds the answer type; ask.model (a
 * GGUF file: the gguf generator), ask.max_tokens (256), ask.prompt_tokens
 * (the prompt's token budget, 2048), ask.graph_hops (1: the subgraph's
 * depth for ask; graph.hops stays the graph module's default),
 * ask.kv_cache_mb (256: the byte budget of the model's prefix KV cache,
 * kept with the model between asks in one process; 0 = off), ask.kv_type
 * (the element type of the model's KV cache: "f16", the CPU default,
 * "f32" or "q8_0"; "" = the engine's default, which the environment
 * variable CAIRN_KV can set).
 *
 * Prefix: ca_.  Errors are on the KB handle (cc_kb_errmsg).
 */
#ifndef CAIRN_ASK_H
#define CAIRN_ASK_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CA_QUESTION_MAX_BYTES 65536
/* The trace document's layout (schemas/trace.schema.json). 2: prompt,
 * model, generation, injections, cpu_ms; first-cut traces have no
 * trace_version field (1). */
#define CA_TRACE_VERSION 2

typedef struct ca_ask_opts {
    int         k;         /* evidence chunks, 1..100; 0 = setting ask.k */
    const char *caller;    /* recorded in the trace; NULL = "cli" */
    int         hops;      /* graph stage, 1..4; 0 = setting ask.graph_hops (1) */
    const char *model;     /* GGUF file: the gguf generator; NULL = setting ask.model
                              (none: extractive); "" = extractive whatever the setting */
    int         max_tokens;   /* gguf: answer tokens; 0 = setting ask.max_tokens (256) */
    /* gguf: called with each piece of generated text as it comes (may be NULL) */
    void      (*on_token)(void *ctx, const char *text, size_t n);
    void       *on_token_ctx;
    /* retrieval's searcher over this KB, kept open by the caller (a server,
     * a benchmark) so its indexes load once; NULL = open one for this ask */
    struct cr_searcher *searcher;
    /* Optional: called as each stage finishes ("retrieval", "graph", "prompt",
     * "generate", "checks") with its time and a small JSON object of counts
     * (borrowed for the call). Runs on the caller's thread. */
    void      (*on_stage)(void *ctx, const char *stage, double ms, const char *detail_json);
    void       *stage_ctx;
    /* Optional: where the trace is appended. NULL = kb itself, which must
     * then be writable. Otherwise kb may be read-only: once the answer is
     * made, trace_open lends a handle on the same KB that may append to its
     * logs (cc_kb_begin_log: the server's CC_KB_LOG handle, which needs no
     * writer lock; a CLI's CC_KB_WRITE handle, waiting for the writer
     * lock), the trace is appended through it in one log transaction, and
     * trace_done gives it back with the trace id (NULL when the append
     * failed), so the caller can add its audit row. The ask thus holds a
     * writer only for the append, not while it retrieves and generates. A failing trace_open returns its
     * status with the reason in cc_errmsg(); the ask then fails (no answer
     * without its trace). trace_done is called only after trace_open
     * succeeded. */
    cc_status (*trace_open)(void *ctx, cc_kb **wkb);
    void      (*trace_done)(void *ctx, cc_kb *wkb, const char *trace_id);
    void       *trace_ctx;
} ca_ask_opts;

/* Citation [id]: a quoted sentence's source. */
typedef struct ca_citation {
    int     id;                    /* 1, 2, ... as printed in the answer */
    int64_t chunk_id;
    char   *uri;                   /* document uri */
    int64_t start_char, end_char;  /* the sentence's span in the document, code points */
} ca_citation;

typedef struct ca_answer {
    int          abstained;   /* 1: evidence too thin; text says what was missing */
    char        *text;        /* the answer, sentences followed by [n] markers */
    ca_citation *cites;
    size_t       n_cites;
    int          checks_ok;   /* 1 when every check passed */
    char         trace_id[40];
    char        *trace_json;  /* the stored trace document */
} ca_answer;

/* Answers `question` (UTF-8, 1..CA_QUESTION_MAX_BYTES bytes, not all
 * whitespace) from kb, which must be writable (the trace is appended).
 * Empty: CC_INVALID; too long: CC_TOOBIG; invalid UTF-8: CC_INVALID; the
 * message is on the KB handle. An abstention is CC_OK with abstained = 1.
 * *out is freed with ca_answer_free. o may be NULL. */
cc_status ca_ask(cc_kb *kb, const char *question, const ca_ask_opts *o, ca_answer **out);
void      ca_answer_free(ca_answer *a);

/* Replay of a stored trace: the ask re-run with its recorded k,
 * generator, model file and max_tokens (other settings are the KB's
 * current ones; a difference is reported). The re-run stores its own trace
 * (caller "replay"). */
typedef struct ca_replay {
    int   identical;        /* 1: same answer text and same cited chunks */
    char  trace_id[40];     /* the re-run's trace */
    char *old_text, *new_text;
    char *why;              /* what differs between the two runs (KB generation,
                               evidence, settings, model, prompt); "" when nothing */
} ca_replay;

/* CC_NOTFOUND when there is no trace with that id; the re-run's errors
 * (a model file gone) are on the KB handle. *out is freed with
 * ca_replay_free. kb must be writable. */
cc_status ca_trace_replay(cc_kb *kb, const char *trace_id, ca_replay **out);
void      ca_replay_free(ca_replay *r);

/* Looks for prompt-injection-like text in s[0..n): phrases such as
 * "ignore previous instructions", "you are now", "system prompt",
 * "disregard ... above", and chat-template role markers ("<|im_start|>",
 * "[INST]", "<<SYS>>"). Returns 1 on the first, with *pattern (a static
 * string naming it) and *off (its byte offset); 0 when none. */
int ca_injection_scan(const char *s, size_t n, const char **pattern, size_t *off);

/* Walks the trace chain in seq order: each row's prev_hash must be the
 * previous row's hash (64 zeros for the first) and its hash must be
 * sha256(prev_hash || json). *n_checked gets the number of traces read.
 * On the first bad trace returns CC_CORRUPT with a message on the KB
 * handle naming it (id and seq) and saying whether it was edited or a
 * trace before it was deleted or reordered. (Deleting the newest trace is
 * not detectable from the chain alone.) */
cc_status ca_trace_verify(cc_kb *kb, int64_t *n_checked);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_ASK_H */
