/* cmd_ask.c — `cairn ask KB "question"`: an extractive answer with
 * citations, and the id of its stored trace. */
#include "cli.h"
#include "ask.h"

#include <stdio.h>
#include <string.h>

static const char ask_usage[] =
    "ask KB \"question\" [options]\n"
    "  Answers from the KB's own documents: hybrid retrieval, then the best\n"
    "  evidence sentences quoted with citations [n] (document, chunk, chars).\n"
    "  Abstains when the evidence is too thin (setting ask.min_score).\n"
    "  Every ask stores a trace: see `cairn trace`.\n"
    "options:\n"
    "  -k N     evidence chunks (1..100, default setting ask.k = 5)\n"
    "  --json   print the whole trace (JSON) instead\n";

/* Prints one answer. Shared with `cairn demo`. */
int cli_ask_print(cc_kb *kb, const char *question, int k, int json)
{
    ca_ask_opts o = {.k = k, .caller = "cli"};
    ca_answer *a;
    if (ca_ask(kb, question, &o, &a) != CC_OK) return cli_error("%s", cc_kb_errmsg(kb));
    if (json) {
        printf("%s\n", a->trace_json);
    } else {
        printf("%s\n", a->text);
        for (size_t i = 0; i < a->n_cites; i++)
            printf("  [%d] %s  chunk %lld, chars %lld-%lld\n", a->cites[i].id, a->cites[i].uri,
                   (long long)a->cites[i].chunk_id, (long long)a->cites[i].start_char,
                   (long long)a->cites[i].end_char);
        if (!a->checks_ok) printf("  checks FAILED (see the trace)\n");
        printf("trace %s\n", a->trace_id);
    }
    ca_answer_free(a);
    return 0;
}

int cmd_ask(int argc, char **argv)
{
    const char *kbdir = NULL, *q = NULL;
    int64_t k = 0;
    int json = 0, r, ret;
    cc_kb *kb;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) { fputs(ask_usage, stdout); return 0; }
        if ((r = cli_opt_int(argc, argv, &i, "-k", 1, 100, &k))) {
            if (r < 0) return 2;
            continue;
        }
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
    if (cc_kb_open(kbdir, CC_KB_WRITE, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    ret = cli_ask_print(kb, q, (int)k, json);
    cc_kb_close(kb);
    return ret;
}
