/* cmd_trace.c — `cairn trace KB list|show ID|verify|export`: the
 * explainability traces stored by `cairn ask`. */
#include "cli.h"
#include "ask.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static const char trace_usage[] =
    "trace KB list | show ID | verify | export [--format jsonl]\n"
    "  list     one line per trace: seq, id, time, caller, question\n"
    "  show ID  the trace's JSON document\n"
    "  verify   walk the hash chain; names the first edited, deleted or\n"
    "           reordered trace (exit 1)\n"
    "  export   every trace, one JSON document per line (jsonl)\n";

int cmd_trace(int argc, char **argv)
{
    const char *kbdir, *sub, *fmt = "jsonl", *id = NULL;
    cc_kb *kb;
    sqlite3_stmt *st = NULL;
    int ret = 0, rc, r;
    if (argc >= 2 && !strcmp(argv[1], "--help")) { fputs(trace_usage, stdout); return 0; }
    if (argc < 3) return cli_usage(trace_usage);
    kbdir = argv[1];
    sub = argv[2];
    for (int i = 3; i < argc; i++) {
        if ((r = cli_opt_str(argc, argv, &i, "--format", &fmt))) {
            if (r < 0) return 2;
            continue;
        }
        if (!strcmp(sub, "show") && !id) { id = argv[i]; continue; }
        cli_error("unexpected argument '%s'", argv[i]);
        return cli_usage(trace_usage);
    }
    if (strcmp(fmt, "jsonl")) return cli_error("unknown format '%s' (only jsonl)", fmt);
    if (!strcmp(sub, "show") && !id) return cli_usage(trace_usage);
    if (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "verify") &&
        strcmp(sub, "export")) {
        cli_error("unknown trace command '%s'", sub);
        return cli_usage(trace_usage);
    }
    if (cc_kb_open(kbdir, CC_KB_READ, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    if (!strcmp(sub, "verify")) {
        int64_t n;
        if (ca_trace_verify(kb, &n) != CC_OK) ret = cli_error("trace chain broken: %s", cc_kb_errmsg(kb));
        else printf("%lld traces verified, chain intact\n", (long long)n);
        cc_kb_close(kb);
        return ret;
    }
    const char *sql = !strcmp(sub, "list")
        ? "SELECT seq, id, created_at, caller, question FROM traces ORDER BY seq"
        : !strcmp(sub, "show") ? "SELECT json FROM traces WHERE id = ?1"
        : "SELECT json FROM traces ORDER BY seq";
    if (sqlite3_prepare_v2(cc_kb_db(kb), sql, -1, &st, NULL) != SQLITE_OK) {
        cc_kb_sqlerr(kb, "reading traces");
        ret = cli_error("%s", cc_kb_errmsg(kb));
        goto out;
    }
    if (id) sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        if (!strcmp(sub, "list"))
            printf("%lld  %s  %s  %s  %.80s\n", (long long)sqlite3_column_int64(st, 0),
                   sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
                   sqlite3_column_text(st, 3), sqlite3_column_text(st, 4));
        else printf("%s\n", sqlite3_column_text(st, 0));
    }
    if (rc != SQLITE_DONE) {
        cc_kb_sqlerr(kb, "reading traces");
        ret = cli_error("%s", cc_kb_errmsg(kb));
    } else if (id && !n) ret = cli_error("no trace with id '%s' (see `cairn trace KB list`)", id);
out:
    sqlite3_finalize(st);
    cc_kb_close(kb);
    return ret;
}
