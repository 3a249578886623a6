/* cmd_search.c — `cairn search KB "text"`: BM25 search with snippets. */
#include "cli.h"
#include "retrieval.h"

#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

static const char search_usage[] =
    "search KB \"text\" [options]\n"
    "  BM25 search over chunk text. Typed text is searched as words, never as\n"
    "  FTS5 syntax.\n"
    "options:\n"
    "  -k N      number of hits (1..10000, default 10)\n"
    "  --raw     the text is an FTS5 query (expert; syntax errors are reported)\n"
    "  --json    one JSON object with the hits\n";

/* Runs the search and prints hits. Shared with `cairn demo`. */
int cli_search_print(cc_kb *kb, const char *text, int k, int raw, int json)
{
    cc_buf q = CC_BUF_INIT(0), err = CC_BUF_INIT(0), out = CC_BUF_INIT(0);
    sqlite3_stmt *st = NULL;
    int rc, n = 0, ret = 0;
    /* CROSS JOIN keeps chunks_fts the outer loop, so ORDER BY rank is served
     * by FTS5 itself (no temp B-tree sort). */
    static const char sql[] =
        "SELECT f.rowid, -bm25(chunks_fts), snippet(chunks_fts, 0, ?3, ?4, '...', 16),"
        " c.ordinal, c.start_char, c.end_char, d.uri, d.id, c.section"
        " FROM chunks_fts AS f CROSS JOIN chunks AS c ON c.id = f.rowid"
        " CROSS JOIN documents AS d ON d.id = c.doc_id"
        " WHERE chunks_fts MATCH ?1 ORDER BY rank LIMIT ?2";

    if (raw) {
        if (cc_buf_puts(&q, text)) { ret = cli_error("out of memory"); goto out; }
    } else if (cr_fts_query(text, &q, &err) != CC_OK) {
        ret = cli_error("%s", err.data ? err.data : "bad query");
        goto out;
    }
    if (sqlite3_prepare_v2(cc_kb_db(kb), sql, -1, &st, NULL) != SQLITE_OK) {
        cc_kb_sqlerr(kb, "search");
        ret = cli_error("%s", cc_kb_errmsg(kb));
        goto out;
    }
    sqlite3_bind_text(st, 1, q.data, (int)q.len, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, k);
    {   /* bold on a terminal, brackets elsewhere */
        int bold = !json && isatty(1);
        sqlite3_bind_text(st, 3, bold ? "\033[1m" : "[", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, bold ? "\033[0m" : "]", -1, SQLITE_STATIC);
    }
    if (json) cc_buf_puts(&out, "{\"hits\":[");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *snip = (const char *)sqlite3_column_text(st, 2);
        const char *uri = (const char *)sqlite3_column_text(st, 6);
        const char *section = (const char *)sqlite3_column_text(st, 8);
        if (!snip) snip = "";
        if (json) {
            if (n) cc_buf_putc(&out, ',');
            cc_buf_printf(&out, "{\"rank\":%d,\"chunk\":%lld,\"score\":%.6f,\"document\":",
                          n + 1, (long long)sqlite3_column_int64(st, 0),
                          sqlite3_column_double(st, 1));
            cc_buf_json_str(&out, uri, strlen(uri));
            cc_buf_printf(&out, ",\"document_id\":%lld,\"ordinal\":%d,\"start_char\":%lld,"
                          "\"end_char\":%lld,\"section\":",
                          (long long)sqlite3_column_int64(st, 7), sqlite3_column_int(st, 3),
                          (long long)sqlite3_column_int64(st, 4),
                          (long long)sqlite3_column_int64(st, 5));
            if (section) cc_buf_json_str(&out, section, strlen(section));
            else cc_buf_puts(&out, "null");
            cc_buf_puts(&out, ",\"snippet\":");
            cc_buf_json_str(&out, snip, strlen(snip));
            cc_buf_putc(&out, '}');
        } else {
            cc_buf_printf(&out, "%2d. %s  chunk %lld (#%d, chars %lld-%lld)  score %.3f\n",
                          n + 1, uri, (long long)sqlite3_column_int64(st, 0),
                          sqlite3_column_int(st, 3), (long long)sqlite3_column_int64(st, 4),
                          (long long)sqlite3_column_int64(st, 5), sqlite3_column_double(st, 1));
            if (section) cc_buf_printf(&out, "    [%s]\n", section);
            cc_buf_puts(&out, "    ");
            for (const char *p = snip; *p; p++)   /* one line per snippet */
                cc_buf_putc(&out, *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p);
            cc_buf_putc(&out, '\n');
        }
        n++;
    }
    if (rc != SQLITE_DONE) {
        cc_kb_sqlerr(kb, raw ? "FTS5 query" : "search");
        ret = cli_error("%s", cc_kb_errmsg(kb));
        goto out;
    }
    if (json) cc_buf_printf(&out, "],\"count\":%d}\n", n);
    else if (!n) cc_buf_puts(&out, "no matches\n");
    fwrite(out.data, 1, out.len, stdout);
out:
    sqlite3_finalize(st);
    cc_buf_free(&q);
    cc_buf_free(&err);
    cc_buf_free(&out);
    return ret;
}

int cmd_search(int argc, char **argv)
{
    const char *kbdir = NULL, *text = NULL;
    int64_t k = 10;
    int raw = 0, json = 0, i, r, ret;
    cc_kb *kb;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) { fputs(search_usage, stdout); return 0; }
        if ((r = cli_opt_int(argc, argv, &i, "-k", 1, 10000, &k))) {
            if (r < 0) return cli_usage(search_usage);
            continue;
        }
        if (!strcmp(argv[i], "--raw")) { raw = 1; continue; }
        if (!strcmp(argv[i], "--json")) { json = 1; continue; }
        if (argv[i][0] == '-' && argv[i][1] && !(kbdir && !text)) {
            cli_error("unknown option %s", argv[i]);
            return cli_usage(search_usage);
        }
        if (!kbdir) kbdir = argv[i];
        else if (!text) text = argv[i];
        else { cli_error("unexpected argument '%s' (quote the search text)", argv[i]); return 2; }
    }
    if (!kbdir || !text) return cli_usage(search_usage);
    if (cc_kb_open(kbdir, CC_KB_READ, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    ret = cli_search_print(kb, text, (int)k, raw, json);
    cc_kb_close(kb);
    return ret;
}
