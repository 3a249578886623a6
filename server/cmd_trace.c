/* cmd_trace.c — `cairn trace KB list|show ID|verify|export|replay ID`:
 * the explainability traces stored by `cairn ask`. */
#include "cli.h"
#include "ask.h"

#include <sqlite3.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char trace_usage[] =
    "trace KB list | show ID | verify | export [--since TIME] [--format jsonl] | replay ID\n"
    "  list     one line per trace: seq, id, time, caller, question\n"
    "  show ID  the trace's JSON document\n"
    "  verify   walk the hash chain; names the first edited, deleted or\n"
    "           reordered trace (exit 1)\n"
    "  export   every trace, one JSON document per line (jsonl); --since TIME:\n"
    "           only those created at or after TIME (UTC, ISO 8601: 2026-12-01\n"
    "           or 2026-12-01T06:30:00Z)\n"
    "  replay ID  re-run that ask with its recorded k, generator, model and\n"
    "           max_tokens; says whether the answer is identical and, if not,\n"
    "           what changed (KB generation, evidence, settings, model); exit 1\n"
    "           when it differs. The re-run stores its own trace.\n";

/* TIME for --since: YYYY-MM-DD, optionally followed by T and a time. */
static int since_ok(const char *t)
{
    static const char shape[] = "dddd-dd-dd";
    for (int i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)t[i]) : t[i] != shape[i]) return 0;
    return t[10] == 0 || t[10] == 'T';
}

static int replay(const char *kbdir, const char *id)
{
    cc_kb *kb;
    ca_replay *r;
    int ret;
    if (cc_kb_open(kbdir, CC_KB_WRITE, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    if (ca_trace_replay(kb, id, &r) != CC_OK) {
        ret = cli_error("replay of %s: %s", id, cc_kb_errmsg(kb));
        cc_kb_close(kb);
        return ret;
    }
    printf("%s: %s\n", id, r->identical ? "identical answer" : "the answer DIFFERS");
    if (!r->identical) printf("then: %s\nnow:  %s\n", r->old_text, r->new_text);
    if (r->why[0]) printf("%s: %s\n", r->identical ? "note" : "why", r->why);
    else if (!r->identical) printf("why: nothing recorded changed (KB generation, evidence,"
                                   " settings and model are the same)\n");
    printf("replay trace %s\n", r->trace_id);
    ret = !r->identical;
    ca_replay_free(r);
    cc_kb_close(kb);
    return ret;
}

int cmd_trace(int argc, char **argv)
{
    const char *kbdir, *sub, *fmt = "jsonl", *id = NULL, *since = NULL;
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
        if ((r = cli_opt_str(argc, argv, &i, "--since", &since))) {
            if (r < 0) return 2;
            continue;
        }
        if ((!strcmp(sub, "show") || !strcmp(sub, "replay")) && !id) { id = argv[i]; continue; }
        cli_error("unexpected argument '%s'", argv[i]);
        return cli_usage(trace_usage);
    }
    if (strcmp(fmt, "jsonl")) return cli_error("unknown format '%s' (only jsonl)", fmt);
    if ((!strcmp(sub, "show") || !strcmp(sub, "replay")) && !id) return cli_usage(trace_usage);
    if (since && !since_ok(since))
        return cli_error("--since '%s': give a UTC date or time, 2026-12-01 or 2026-12-01T06:30:00Z", since);
    if (!strcmp(sub, "replay")) return replay(kbdir, id);
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
        : "SELECT json FROM traces WHERE created_at >= ?1 ORDER BY seq";
    if (sqlite3_prepare_v2(cc_kb_db(kb), sql, -1, &st, NULL) != SQLITE_OK) {
        cc_kb_sqlerr(kb, "reading traces");
        ret = cli_error("%s", cc_kb_errmsg(kb));
        goto out;
    }
    if (id) sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    else if (!strcmp(sub, "export")) sqlite3_bind_text(st, 1, since ? since : "", -1, SQLITE_STATIC);
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
