/* cmd_ask.c — `cairn ask KB "question"`: an answer with citations (the
 * extractive generator, or a GGUF model with --model / ask.model, its text
 * streamed as it comes), and the id of its stored trace. */
#include "cli.h"
#include "ask.h"

#include <sqlite3.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char ask_usage[] =
    "ask KB \"question\" [options]\n"
    "  Answers from the KB's own documents: hybrid retrieval, then the best\n"
    "  evidence sentences quoted with citations [n] (document, chunk, chars).\n"
    "  Abstains when the evidence is too thin (settings ask.min_score,\n"
    "  ask.min_support). With a model, the model writes the answer from the\n"
    "  assembled prompt (streamed), and the same checks run on it.\n"
    "  Every ask stores a trace: see `cairn trace`.\n"
    "options:\n"
    "  -k N            evidence chunks (1..100, default setting ask.k = 5)\n"
    "  --hops H        graph expansion from the evidence (1..4, default setting\n"
    "                  ask.graph_hops = 1)\n"
    "  --model FILE    a GGUF decoder (default setting ask.model; none: extractive)\n"
    "  --extractive    the extractive generator even when ask.model is set\n"
    "  --max-tokens N  answer tokens for a model (default setting ask.max_tokens = 256)\n"
    "  --json          print the whole trace (JSON) instead\n";

static void stream(void *ctx, const char *s, size_t n)
{
    (void)ctx;
    fwrite(s, 1, n, stdout);
    fflush(stdout);
}

/* The ask runs on a read-only handle and appends its trace through a
 * CC_KB_LOG handle in a log transaction (cc_kb_begin_log): no writer lock,
 * so an ask neither blocks an ingest nor waits for it to end. It waits only
 * for SQLite's write lock (an ingest's batch transaction, the server's
 * write), up to the setting ask.trace_wait_s (60), saying so once. */
typedef struct trace_wait {
    const char *kbdir;
    int64_t     secs;
    double      t0;
    int         said, gave_up;
} trace_wait;

/* SQLite's busy handler on the trace handle: n is the number of earlier
 * calls for this lock; 0 gives up (SQLITE_BUSY). */
static int trace_busy(void *ctx, int n)
{
    trace_wait *tw = ctx;
    if (n == 0) tw->t0 = cc_now_ms();
    if (cc_now_ms() - tw->t0 >= (double)tw->secs * 1000.0) {
        tw->gave_up = 1;
        return 0;
    }
    if (!tw->said++) fprintf(stderr, "cairn: another writer holds the KB; waiting to store the trace\n");
    usleep(20 * 1000);
    return 1;
}

static cc_status trace_open(void *ctx, cc_kb **wkb)
{
    trace_wait *tw = ctx;
    cc_status s = cc_kb_open(tw->kbdir, CC_KB_READ | CC_KB_LOG, wkb);
    if (s == CC_OK) sqlite3_busy_handler(cc_kb_db(*wkb), trace_busy, tw);
    return s;
}

static void trace_done(void *ctx, cc_kb *wkb, const char *trace_id)
{
    (void)ctx;
    (void)trace_id;
    cc_kb_close(wkb);
}

/* Prints one answer; streams a model's text when not json. */
static int ask_print(cc_kb *kb, const char *question, ca_ask_opts *o, int json)
{
    ca_answer *a;
    int streamed = 0;
    if (!json && o->model && o->model[0]) {
        o->on_token = stream;
        streamed = 1;
    }
    if (!json && !o->model) {   /* ask.model may name one */
        const char *m = NULL;
        if (cc_kb_setting_str(kb, "ask.model", "", &m) == CC_OK && m && m[0]) {
            o->on_token = stream;
            streamed = 1;
        }
    }
    if (ca_ask(kb, question, o, &a) != CC_OK) {
        const trace_wait *tw = o->trace_open == trace_open ? o->trace_ctx : NULL;
        if (streamed) putchar('\n');
        if (tw && tw->gave_up)
            return cli_error("another writer held the KB for %lld s (setting ask.trace_wait_s), "
                             "so the trace could not be stored; ask again when it is done",
                             (long long)tw->secs);
        return cli_error("%s", cc_kb_errmsg(kb));
    }
    if (json) {
        printf("%s\n", a->trace_json);
    } else {
        if (streamed) printf("\n");
        else printf("%s\n", a->text);
        for (size_t i = 0; i < a->n_cites; i++)
            printf("  [%d] %s  chunk %lld, chars %lld-%lld\n", a->cites[i].id, a->cites[i].uri,
                   (long long)a->cites[i].chunk_id, (long long)a->cites[i].start_char,
                   (long long)a->cites[i].end_char);
        if (!a->checks_ok) printf("  checks FAILED (see the trace's checks)\n");
        printf("trace %s\n", a->trace_id);
    }
    ca_answer_free(a);
    return 0;
}

/* Prints one answer with the extractive generator or ask.model. */
int cli_ask_print(cc_kb *kb, const char *question, int k, int json)
{
    ca_ask_opts o = {.k = k, .caller = "cli"};
    return ask_print(kb, question, &o, json);
}

int cmd_ask(int argc, char **argv)
{
    const char *kbdir = NULL, *q = NULL, *model = NULL;
    int64_t k = 0, hops = 0, maxt = 0;
    int json = 0, r, ret;
    cc_kb *kb;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) { fputs(ask_usage, stdout); return 0; }
        if ((r = cli_opt_int(argc, argv, &i, "-k", 1, 100, &k))) {
            if (r < 0) return 2;
            continue;
        }
        if ((r = cli_opt_int(argc, argv, &i, "--hops", 1, 4, &hops))) {
            if (r < 0) return 2;
            continue;
        }
        if ((r = cli_opt_int(argc, argv, &i, "--max-tokens", 1, 100000, &maxt))) {
            if (r < 0) return 2;
            continue;
        }
        if ((r = cli_opt_str(argc, argv, &i, "--model", &model))) {
            if (r < 0) return 2;
            continue;
        }
        if (!strcmp(argv[i], "--extractive")) { model = ""; continue; }
        if (!strcmp(argv[i], "--json")) { json = 1; continue; }
        if (argv[i][0] == '-' && argv[i][1] && !(kbdir && !q)) {
            cli_error("unknown option %s", argv[i]);
            return cli_usage(ask_usage);
        }
        if (!kbdir) kbdir = argv[i];
        else if (!q) q = argv[i];
        else { cli_error("unexpected argument '%s' (quote the question)", argv[i]); return 2; }
    }
    if (!kbdir || !q) return cli_usage(ask_usage);
    if (cc_kb_open(kbdir, CC_KB_READ, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    trace_wait tw = {.kbdir = kbdir};
    if (cc_kb_setting_i64(kb, "ask.trace_wait_s", 60, &tw.secs) != CC_OK || tw.secs < 0 ||
        tw.secs > 86400) {
        cli_error("setting ask.trace_wait_s must be 0..86400 seconds");
        cc_kb_close(kb);
        return 1;
    }
    ca_ask_opts o = {.k = (int)k, .caller = "cli", .hops = (int)hops, .model = model,
                     .max_tokens = (int)maxt, .trace_open = trace_open,
                     .trace_done = trace_done, .trace_ctx = &tw};
    ret = ask_print(kb, q, &o, json);
    cc_kb_close(kb);
    return ret;
}
