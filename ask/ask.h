/*
 * ask.h — answers a question from a KB's own sources: hybrid retrieval
 * (retrieval's searcher, RRF-fused), then the `extractive` generator (the
 * best-supported evidence sentences, each quoted with a citation [n] that
 * maps to a chunk, its document and an exact character span), then checks,
 * then one explainability trace stored append-only and hash-chained in the
 * catalog's `traces` table (schema: schemas/trace.schema.json).
 *
 * Stages: retrieval -> graph (cg_subgraph_extract from the evidence chunks
 * and the question, recorded in the trace; not yet used in the answer's
 * scores) -> extractive generation -> checks -> trace.
 *
 * Settings (cairn.json): ask.k (evidence chunks, 5), ask.max_sentences (3),
 * ask.min_score (0.4: the answer abstains when no sentence scores this
 * much; see ask.c for the score).
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

typedef struct ca_ask_opts {
    int         k;         /* evidence chunks, 1..100; 0 = setting ask.k */
    const char *caller;    /* recorded in the trace; NULL = "cli" */
    /* Optional: called as each stage finishes ("retrieval", "graph",
     * "generate", "checks") with its time and a small JSON object of counts
     * (borrowed for the call). Runs on the caller's thread. */
    void      (*on_stage)(void *ctx, const char *stage, double ms, const char *detail_json);
    void       *stage_ctx;
    int         hops;      /* graph stage: 1..4; 0 = setting graph.hops */
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
