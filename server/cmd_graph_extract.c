/* cmd_graph_extract.c — `cairn graph extract KB --extractor llm [--model F]`
 * (the LLM extractor over the chunks of a KB that it has not read yet) and
 * the LLM pass `cairn ingest --extractor llm|both` runs after storing
 * chunks: the cost estimate first, then the extraction, then the counts. */
#include "cli.h"
#include "graph.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The LLM extractor from the options, else the settings graph.llm_model,
 * graph.llm_ctx, graph.llm_max_tokens, graph.llm_kv_type.  NULL with a
 * message printed. */
cg_extractor *cli_llm_open(cc_kb *kb, const char *model)
{
    cg_llm_opts o;
    int64_t ctx = 0, max_out = 0;
    const char *kv = "";
    cg_extractor *ex = NULL;
    memset(&o, 0, sizeof o);
    if (!model && cc_kb_setting_str(kb, "graph.llm_model", "", &model) != CC_OK) {
        cli_error("%s", cc_kb_errmsg(kb));
        return NULL;
    }
    if (cc_kb_setting_i64(kb, "graph.llm_ctx", 4096, &ctx) != CC_OK ||
        cc_kb_setting_i64(kb, "graph.llm_max_tokens", 512, &max_out) != CC_OK ||
        cc_kb_setting_str(kb, "graph.llm_kv_type", "", &kv) != CC_OK) {
        cli_error("%s", cc_kb_errmsg(kb));
        return NULL;
    }
    if (ctx < 64 || ctx > 1 << 20 || max_out < 16 || max_out > 1 << 20) {
        cli_error("graph.llm_ctx must be 64..1048576 and graph.llm_max_tokens 16..1048576");
        return NULL;
    }
    o.model_path = model;
    o.n_ctx = (uint32_t)ctx;
    o.max_tokens = (size_t)max_out;
    o.kv_type = kv;
    o.kb = kb;   /* the model's sha256 is cached in the KB's settings */
    if (cg_extractor_llm_new(&o, &ex) != CC_OK) {
        cli_error("%s", cc_errmsg());
        return NULL;
    }
    return ex;
}

static void progress(void *ud, size_t done, size_t total)
{
    double *t0 = ud;
    double secs = (cc_now_ms() - *t0) / 1e3;
    fprintf(stderr, "\r[llm] %zu/%zu chunks  %.2f chunks/s ", done, total, secs > 0 ? done / secs : 0.0);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

static void print_estimate(const char *xid, const char *kv, const cg_llm_estimate *e, int json)
{
    if (json) {
        printf("{\"extractor\":\"%s\",\"kv_cache\":\"%s\",\"estimate\":{\"chunks\":%zu,\"chunks_cached\":%zu,"
               "\"chunks_done\":%zu,\"chunks_too_long\":%zu,\"prompt_tokens\":%zu,"
               "\"output_tokens\":%zu,\"output_tokens_max\":%zu,\"prefill_ms_per_token\":%.4f,"
               "\"decode_ms_per_token\":%.4f,\"seconds\":%.3f}",
               xid, kv ? kv : "", e->chunks, e->chunks_cached, e->chunks_done, e->chunks_too_long,
               e->prompt_tokens, e->output_tokens, e->output_tokens_max,
               e->prefill_ms_per_token, e->decode_ms_per_token, e->seconds);
        return;
    }
    printf("llm extraction with %s: %zu chunks to extract (%zu more reuse the output of a chunk"
           " with the same text, %zu already extracted, %zu too long for the context)\n",
           xid, e->chunks, e->chunks_cached, e->chunks_done, e->chunks_too_long);
    if (e->chunks)
        printf("  estimate: %zu prompt tokens, ~%zu output tokens (at most %zu), ~%.1f s"
               " (calibrated here: prefill %.3f ms/token, constrained decode %.3f ms/token)\n",
               e->prompt_tokens, e->output_tokens, e->output_tokens_max, e->seconds,
               e->prefill_ms_per_token, e->decode_ms_per_token);
    fflush(stdout);
}

static void print_result(const cg_llm_stats *s, double secs, const cg_llm_estimate *e, int json)
{
    if (s->chunks_failed)
        fprintf(stderr, "cairn: llm extraction: %zu chunks failed (left for a later pass);"
                " the first: %s\n", s->chunks_failed, s->first_failure);
    if (json) {
        printf(",\"chunks_extracted\":%zu,\"chunks_cached\":%zu,\"chunks_skipped\":%zu,"
               "\"chunks_failed\":%zu,\"entities_kept\":%zu,\"entities_dropped\":%zu,"
               "\"relations_kept\":%zu,\"relations_dropped\":%zu,\"mentions\":%zu,"
               "\"outputs_unparsed\":%zu,\"outputs_truncated\":%zu,\"prompt_tokens\":%zu,"
               "\"output_tokens\":%zu,\"model_seconds\":%.3f,\"seconds\":%.3f}\n",
               s->chunks_extracted, s->chunks_cached, s->chunks_skipped, s->chunks_failed,
               s->entities_kept, s->entities_dropped, s->relations_kept, s->relations_dropped,
               s->mentions, s->outputs_unparsed, s->outputs_truncated, s->prompt_tokens,
               s->output_tokens, s->model_ms / 1e3, secs);
        return;
    }
    printf("llm extraction: %zu chunks extracted, %zu reused an earlier output, %zu skipped"
           " (already extracted), %zu failed; entities %zu kept, %zu dropped (not found in the"
           " chunk); relations %zu kept, %zu dropped; %zu mentions; outputs %zu unparsed, %zu"
           " repaired (cut at the token limit); %zu prompt + %zu output tokens; %.1f s"
           " (estimated %.1f s)\n",
           s->chunks_extracted, s->chunks_cached, s->chunks_skipped, s->chunks_failed,
           s->entities_kept, s->entities_dropped, s->relations_kept, s->relations_dropped,
           s->mentions, s->outputs_unparsed, s->outputs_truncated, s->prompt_tokens,
           s->output_tokens, secs, e->seconds);
}

int cli_llm_pass(cc_kb *kb, cg_extractor *ex, int64_t new_after, int dry_run, int json,
                 int *store_stale)
{
    cg_llm_estimate e;
    cg_llm_stats *st = cg_extractor_llm_stats(ex);
    size_t w_new = 0, w_old = 0;
    double t0;
    int tty = isatty(2) && !json;
    *store_stale = 0;
    if (cg_llm_estimate_kb(kb, ex, 0, &e) != CC_OK) return cli_error("%s", cc_kb_errmsg(kb));
    print_estimate(cg_extractor_id(ex), st ? st->kv_cache : NULL, &e, json);
    if (dry_run) {
        if (json) printf("}\n");
        return 0;
    }
    t0 = cc_now_ms();
    /* chunks stored by this ingestion first; then older ones not read yet,
     * whose graph store contexts then need rebuilding */
    if (new_after > 0 &&
        cg_llm_extract_kb(kb, ex, new_after, tty ? progress : NULL, &t0, &w_new) != CC_OK) {
        if (json) printf("}\n");
        return cli_error("%s", cc_kb_errmsg(kb));
    }
    if (cg_llm_extract_kb(kb, ex, 0, tty ? progress : NULL, &t0, &w_old) != CC_OK) {
        if (json) printf("}\n");
        return cli_error("%s", cc_kb_errmsg(kb));
    }
    *store_stale = w_old > 0;
    st->chunks_skipped = e.chunks_done;   /* the second listing counts the first's again */
    print_result(st, (cc_now_ms() - t0) / 1e3, &e, json);
    return 0;
}

static const char usage[] =
    "graph extract KB [--extractor llm] [--model FILE.gguf] [--dry-run] [--json]\n"
    "                 [--wait SECONDS]\n"
    "  Runs the LLM extractor over the chunks it has not read yet (a chunk with the\n"
    "  text of one already read reuses that output), after printing a cost estimate.\n"
    "  --model: else the setting graph.llm_model. --dry-run: the estimate only.\n"
    "  Settings: graph.llm_ctx (4096), graph.llm_max_tokens (512 per chunk),\n"
    "  graph.llm_kv_type (KV cache: f16, f32 or q8_0; empty: CAIRN_KV, else f16).\n";

int cmd_graph_extract(int argc, char **argv)
{
    const char *kbdir = NULL, *model = NULL, *name = "llm";
    int i, r, dry = 0, json = 0, stale = 0, rc;
    cc_kb *kb;
    cg_extractor *ex;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) { printf("usage: cairn %s", usage); return 0; }
        if ((r = cli_opt_str(argc, argv, &i, "--model", &model)) ||
            (r = cli_opt_str(argc, argv, &i, "--extractor", &name)) ||
            (r = cli_opt_wait(argc, argv, &i))) {
            if (r < 0) return 2;
            continue;
        }
        if (!strcmp(argv[i], "--dry-run")) { dry = 1; continue; }
        if (!strcmp(argv[i], "--json")) { json = 1; continue; }
        if (argv[i][0] == '-' || kbdir) return cli_usage(usage);
        kbdir = argv[i];
    }
    if (!kbdir) return cli_usage(usage);
    if (strcmp(name, "llm"))
        return cli_error("graph extract: --extractor must be llm (the rules extractor runs at"
                         " ingestion; `cairn graph rebuild` rebuilds the store)");
    if (cc_kb_open(kbdir, CC_KB_WRITE, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    if (!(ex = cli_llm_open(kb, model))) {
        cc_kb_close(kb);
        return 1;
    }
    rc = cli_llm_pass(kb, ex, 0, dry, json, &stale);
    if (!rc && stale) {
        cg_graph_stats gs;
        if (cg_sync_derived(kb, NULL) != CC_OK || cg_graph_sync(kb, 1, &gs) != CC_OK)
            rc = cli_error("updating the graph store: %s", cc_kb_errmsg(kb));
        else if (!json)
            printf("graph store rebuilt: %zu contexts, %zu triples\n", gs.contexts_added,
                   gs.triples_added);
    }
    cg_extractor_free(ex);
    cg_ingest_done();
    if (!dry) cli_fts_tidy(kb);   /* the pass added entity names */
    cc_kb_close(kb);
    return rc;
}
