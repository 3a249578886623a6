/* cmd_sql.c — `cairn sql KB "statement; ..."`: read-only SQL over the
 * catalog's views plus cairn's own statements and the search() and
 * subgraph() tables (see sql/sql.h); --write opens a writer session (INGEST,
 * DELETE DOCUMENT). Statements come from the argument or -c, or from stdin
 * when it is "-" or absent; the first error stops the run (exit 1). */
#include "cli.h"
#include "sql.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char sql_usage[] =
    "sql KB [\"STATEMENTS\" | -c \"STATEMENTS\" | -] [--mode table|json|csv|line]\n"
    "       [--timeout MS] [--write [--wait SECONDS]]\n"
    "  Runs read-only SQL over the views documents, document_versions, chunks,\n"
    "  entities, mentions, relations, traces, the tables search(query, mode, k)\n"
    "  and subgraph(question_or_entity, hops, budget) and triples (the graph store:\n"
    "  subject, predicate, object, object_is_literal, datatype, context, chunk_id); also\n"
    "    SHOW DOCUMENTS|ENTITIES|TRACES|STATS|SETTINGS [WHERE expr] [LIMIT n]\n"
    "    SEARCH 'query' [WITH mode = 'bm25'|'vector'|'hybrid', k = n]\n"
    "    [EXPLAIN] ASK 'question' [WITH k = n, hops = n, model = 'extractive']\n"
    "    TRACE 'id' [AS JSON]      VERIFY TRACES\n"
    "    SPARQL 'query' [LIMIT n]  (read-only, over the graph store)\n"
    "    INGEST 'path'             DELETE DOCUMENT id | 'uri'   (--write only)\n"
    "  --write opens a writer session: it holds the KB's writer lock until it ends\n"
    "  (--wait SECONDS: wait up to SECONDS for another writer to let go of it).\n"
    "  Statements are separated by ';'. Stops at the first error (exit 1).";

int cmd_sql(int argc, char **argv)
{
    const char *kbdir = NULL, *text = NULL, *mode_s = "table";
    int64_t timeout = 10000;
    cq_mode mode;
    cq_session *s;
    cc_buf in = CC_BUF_INIT(64 << 20), out = CC_BUF_INIT(0);
    int i, r, ret = 0, writer = 0;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) { puts(sql_usage); return 0; }
        if (!strcmp(argv[i], "--write")) { writer = 1; continue; }
        if ((r = cli_opt_str(argc, argv, &i, "--mode", &mode_s))) {
            if (r < 0) return cli_usage(sql_usage);
            continue;
        }
        if ((r = cli_opt_str(argc, argv, &i, "-c", &text))) {
            if (r < 0) return cli_usage(sql_usage);
            continue;
        }
        if ((r = cli_opt_int(argc, argv, &i, "--timeout", 0, 86400000, &timeout)) ||
            (r = cli_opt_wait(argc, argv, &i))) {
            if (r < 0) return cli_usage(sql_usage);
            continue;
        }
        if (!kbdir) kbdir = argv[i];
        else if (!text) text = argv[i];
        else return cli_usage(sql_usage);
    }
    if (!kbdir) return cli_usage(sql_usage);
    if (!strcmp(mode_s, "table")) mode = CQ_TABLE;
    else if (!strcmp(mode_s, "json")) mode = CQ_JSON;
    else if (!strcmp(mode_s, "csv")) mode = CQ_CSV;
    else if (!strcmp(mode_s, "line")) mode = CQ_LINE;
    else { cli_error("--mode %s: use table, json, csv or line", mode_s); return 2; }
    if (!text || !strcmp(text, "-")) {
        char block[65536];
        size_t n;
        while ((n = fread(block, 1, sizeof block, stdin)) > 0)
            if (cc_buf_append(&in, block, n)) { cc_buf_free(&in); return cli_error("input over 64 MiB"); }
        if (memchr(in.data ? in.data : "", 0, in.len)) {
            cc_buf_free(&in);
            return cli_error("input contains a NUL byte");
        }
        text = in.data ? in.data : "";
    }
    /* kbdir must be a KB: open it the usual way first for a clear message */
    {
        cc_kb *kb;
        if (cc_kb_open(kbdir, CC_KB_READ, &kb) != CC_OK) {
            cc_buf_free(&in);
            return cli_error("%s", cc_errmsg());
        }
        cc_kb_close(kb);
    }
    if (cq_open_with(kbdir, writer ? CQ_OPEN_WRITE : CQ_OPEN_READ, &s) != CC_OK) { cc_buf_free(&in); return cli_error("%s", cc_errmsg()); }
    cq_set_timeout_ms(s, (int)timeout);
    if (mode == CQ_TABLE && isatty(1)) {          /* fit tables to the terminal */
        struct winsize ws;
        if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) cq_set_width(s, ws.ws_col);
    }
    ret = cq_exec(s, text, mode, &out, NULL) != CC_OK;
    if (out.len) fwrite(out.data, 1, out.len, stdout);   /* results before the error */
    fflush(stdout);
    if (ret) cli_error("%s", cq_errmsg(s));
    cq_close(s);
    cc_buf_free(&in);
    cc_buf_free(&out);
    return ret;
}
