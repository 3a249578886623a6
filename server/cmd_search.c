/* cmd_search.c — `cairn search KB "text"`: BM25 search with snippets. */
#include "cli.h"
#include "retrieval.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char search_usage[] =
    "search KB \"text\" [options]\n"
    "  Hybrid search: BM25 (FTS5) and vector lanes fused by Reciprocal Rank\n"
    "  Fusion. Typed text is searched as words, never as FTS5 syntax.\n"
    "options:\n"
    "  --mode M        bm25, vector or hybrid (default hybrid)\n"
    "  -k N            number of hits (1..10000, default 10)\n"
    "  --depth N       hits taken from each lane before fusion (default 50)\n"
    "  --rrf-k X       RRF constant k (default 60)\n"
    "  --weights B,V   RRF weights of the BM25 and vector lanes (default 1,1)\n"
    "  --explain       print each lane's rank and raw score for every hit\n"
    "  --raw           the text is an FTS5 query (expert; syntax errors are reported)\n"
    "  --json          one JSON object with the hits\n";

/* Appends the fields every JSON hit has, leaving the object open. */
static void put_hit_json(cc_buf *out, size_t rank, int64_t chunk, double score, const char *uri,
                         int64_t doc_id, int ordinal, int64_t start_char, int64_t end_char,
                         const char *section, const char *snippet)
{
    cc_buf_printf(out, "{\"rank\":%zu,\"chunk\":%lld,\"score\":%.6f,\"document\":", rank,
                  (long long)chunk, score);
    cc_buf_json_str(out, uri, strlen(uri));
    cc_buf_printf(out, ",\"document_id\":%lld,\"ordinal\":%d,\"start_char\":%lld,"
                  "\"end_char\":%lld,\"section\":", (long long)doc_id, ordinal,
                  (long long)start_char, (long long)end_char);
    if (section) cc_buf_json_str(out, section, strlen(section));
    else cc_buf_puts(out, "null");
    cc_buf_puts(out, ",\"snippet\":");
    cc_buf_json_str(out, snippet, strlen(snippet));
}

/* Runs the search and prints hits. Shared with `cairn demo`. The ranking is
 * the BM25 lane's (cr_bm25_search: the one /v1/search and hybrid search use,
 * common-term pruning included), so the CLI and the server agree; each hit
 * then gets its FTS5 snippet and location from one statement. */
int cli_search_print(cc_kb *kb, const char *text, int k, int raw, int json)
{
    cc_buf q = CC_BUF_INIT(0), err = CC_BUF_INIT(0), out = CC_BUF_INIT(0);
    sqlite3_stmt *st = NULL;
    cr_hit *hits = NULL;
    size_t nh = 0, i;
    int rc, n = 0, ret = 0;
    static const char sql[] =
        "SELECT snippet(chunks_fts, 0, ?3, ?4, '...', 16),"
        " c.ordinal, c.start_char, c.end_char, d.uri, d.id, c.section"
        " FROM chunks_fts AS f CROSS JOIN chunks AS c ON c.id = f.rowid"
        " CROSS JOIN documents AS d ON d.id = c.doc_id"
        " WHERE chunks_fts MATCH ?1 AND f.rowid = ?2";

    if (raw) {
        if (cc_buf_puts(&q, text)) { ret = cli_error("out of memory"); goto out; }
    } else if (cr_fts_query(text, &q, &err) != CC_OK) {
        ret = cli_error("%s", err.data ? err.data : "bad query");
        goto out;
    }
    if (cr_bm25_search(kb, text, k, raw ? CR_FTS_RAW : 0, &hits, &nh) != CC_OK) {
        ret = cli_error("%s", cc_kb_errmsg(kb));
        goto out;
    }
    if (sqlite3_prepare_v2(cc_kb_db(kb), sql, -1, &st, NULL) != SQLITE_OK) {
        cc_kb_sqlerr(kb, "search");
        ret = cli_error("%s", cc_kb_errmsg(kb));
        goto out;
    }
    sqlite3_bind_text(st, 1, q.data, (int)q.len, SQLITE_STATIC);
    {   /* bold on a terminal, brackets elsewhere */
        int bold = !json && isatty(1);
        sqlite3_bind_text(st, 3, bold ? "\033[1m" : "[", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, bold ? "\033[0m" : "]", -1, SQLITE_STATIC);
    }
    if (json) cc_buf_puts(&out, "{\"hits\":[");
    for (i = 0; i < nh; i++) {
        const char *snip, *uri, *section;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 2, hits[i].chunk_id);
        /* a writer may remove the chunk between the ranking and this read */
        if ((rc = sqlite3_step(st)) == SQLITE_DONE) continue;
        if (rc != SQLITE_ROW) {
            cc_kb_sqlerr(kb, raw ? "FTS5 query" : "search");
            ret = cli_error("%s", cc_kb_errmsg(kb));
            goto out;
        }
        snip = (const char *)sqlite3_column_text(st, 0);
        uri = (const char *)sqlite3_column_text(st, 4);
        section = (const char *)sqlite3_column_text(st, 6);
        if (!snip) snip = "";
        if (!uri) uri = "";
        if (json) {
            if (n) cc_buf_putc(&out, ',');
            put_hit_json(&out, (size_t)n + 1, hits[i].chunk_id, hits[i].score, uri,
                         sqlite3_column_int64(st, 5), sqlite3_column_int(st, 1),
                         sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3), section, snip);
            cc_buf_putc(&out, '}');
        } else {
            cc_buf_printf(&out, "%2d. %s  chunk %lld (#%d, chars %lld-%lld)  score %.3f\n",
                          n + 1, uri, (long long)hits[i].chunk_id, sqlite3_column_int(st, 1),
                          (long long)sqlite3_column_int64(st, 2),
                          (long long)sqlite3_column_int64(st, 3), hits[i].score);
            if (section) cc_buf_printf(&out, "    [%s]\n", section);
            cc_buf_puts(&out, "    ");
            for (const char *p = snip; *p; p++)   /* one line per snippet */
                cc_buf_putc(&out, *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p);
            cc_buf_putc(&out, '\n');
        }
        n++;
    }
    if (json) cc_buf_printf(&out, "],\"count\":%d}\n", n);
    else if (!n) cc_buf_puts(&out, "no matches\n");
    fwrite(out.data, 1, out.len, stdout);
out:
    sqlite3_finalize(st);
    free(hits);
    cc_buf_free(&q);
    cc_buf_free(&err);
    cc_buf_free(&out);
    return ret;
}

/* Prints fused or vector hits: one catalog lookup per hit. */
static int print_hits(cc_kb *kb, const cr_hit *h, size_t n, int json, int explain,
                      const char *note)
{
    sqlite3_stmt *st;
    cc_buf out = CC_BUF_INIT(0);
    size_t i;
    static const char *const lane_name[CR_LANE_COUNT] = {"bm25", "vector"};
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT d.uri, d.id, c.ordinal, c.start_char,"
                           " c.end_char, c.section, substr(c.text, 1, 160) FROM chunks c"
                           " JOIN documents d ON d.id = c.doc_id WHERE c.id = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        cc_kb_sqlerr(kb, "search");
        return cli_error("%s", cc_kb_errmsg(kb));
    }
    if (json) cc_buf_puts(&out, "{\"hits\":[");
    for (i = 0; i < n; i++) {
        const char *uri, *section, *text;
        int l;
        sqlite3_bind_int64(st, 1, h[i].chunk_id);
        if (sqlite3_step(st) != SQLITE_ROW) { sqlite3_reset(st); continue; }
        uri = (const char *)sqlite3_column_text(st, 0);
        section = (const char *)sqlite3_column_text(st, 5);
        text = (const char *)sqlite3_column_text(st, 6);
        if (!text) text = "";
        if (json) {
            if (i) cc_buf_putc(&out, ',');
            put_hit_json(&out, i + 1, h[i].chunk_id, h[i].score, uri,
                         sqlite3_column_int64(st, 1), sqlite3_column_int(st, 2),
                         sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4), section, text);
            cc_buf_puts(&out, ",\"lanes\":{");
            for (l = 0; l < CR_LANE_COUNT; l++) {
                if (l) cc_buf_putc(&out, ',');
                cc_buf_printf(&out, "\"%s\":", lane_name[l]);
                if (h[i].rank[l])
                    cc_buf_printf(&out, "{\"rank\":%d,\"score\":%.6f}", h[i].rank[l],
                                  h[i].lane_score[l]);
                else
                    cc_buf_puts(&out, "null");
            }
            cc_buf_puts(&out, "}}");
        } else {
            cc_buf_printf(&out, "%2zu. %s  chunk %lld (#%d, chars %lld-%lld)  score %.4f\n",
                          i + 1, uri, (long long)h[i].chunk_id, sqlite3_column_int(st, 2),
                          (long long)sqlite3_column_int64(st, 3),
                          (long long)sqlite3_column_int64(st, 4), h[i].score);
            if (explain) {
                cc_buf_puts(&out, "    lanes:");
                for (l = 0; l < CR_LANE_COUNT; l++) {
                    if (h[i].rank[l])
                        cc_buf_printf(&out, "  %s rank %d score %.4f", lane_name[l],
                                      h[i].rank[l], h[i].lane_score[l]);
                    else
                        cc_buf_printf(&out, "  %s -", lane_name[l]);
                }
                cc_buf_putc(&out, '\n');
            }
            if (section) cc_buf_printf(&out, "    [%s]\n", section);
            cc_buf_puts(&out, "    ");
            for (const char *p = text; *p; p++)
                cc_buf_putc(&out, *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p);
            cc_buf_puts(&out, "...\n");
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (json) {
        cc_buf_printf(&out, "],\"count\":%zu", n);
        if (note) { cc_buf_puts(&out, ",\"note\":"); cc_buf_json_str(&out, note, strlen(note)); }
        cc_buf_puts(&out, "}\n");
    } else {
        if (!n) cc_buf_puts(&out, "no matches\n");
        if (note) cc_buf_printf(&out, "note: vector lane unavailable: %s\n", note);
    }
    fwrite(out.data, 1, out.len, stdout);
    cc_buf_free(&out);
    return 0;
}

int cmd_search(int argc, char **argv)
{
    const char *kbdir = NULL, *text = NULL;
    const char *mode_s = "hybrid", *weights = NULL, *rrfk = NULL;
    int64_t k = 10, depth = -1;
    int raw = 0, json = 0, explain = 0, i, r, ret;
    cc_kb *kb;
    cr_search_opts so;
    cr_searcher *se;
    cr_hit *hits = NULL;
    size_t n = 0;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) { fputs(search_usage, stdout); return 0; }
        if ((r = cli_opt_int(argc, argv, &i, "-k", 1, 10000, &k))) {
            if (r < 0) return cli_usage(search_usage);
            continue;
        }
        if ((r = cli_opt_int(argc, argv, &i, "--depth", 1, 10000, &depth))) {
            if (r < 0) return cli_usage(search_usage);
            continue;
        }
        if ((r = cli_opt_str(argc, argv, &i, "--mode", &mode_s)) ||
            (r = cli_opt_str(argc, argv, &i, "--weights", &weights)) ||
            (r = cli_opt_str(argc, argv, &i, "--rrf-k", &rrfk))) {
            if (r < 0) return cli_usage(search_usage);
            continue;
        }
        if (!strcmp(argv[i], "--explain")) { explain = 1; continue; }
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
    if (strcmp(mode_s, "bm25") && strcmp(mode_s, "vector") && strcmp(mode_s, "hybrid")) {
        cli_error("--mode %s: use bm25, vector or hybrid", mode_s);
        return 2;
    }
    if (cc_kb_open(kbdir, CC_KB_READ, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    /* plain BM25: the lane's ranking with FTS5 snippets */
    if (!strcmp(mode_s, "bm25") && !explain) {
        ret = cli_search_print(kb, text, (int)k, raw, json);
        cc_kb_close(kb);
        return ret;
    }
    if (cr_search_opts_from_kb(kb, &so) != CC_OK) {
        ret = cli_error("%s", cc_kb_errmsg(kb));
        cc_kb_close(kb);
        return ret;
    }
    so.mode = !strcmp(mode_s, "bm25") ? CR_MODE_BM25 : !strcmp(mode_s, "vector") ? CR_MODE_VECTOR
                                                                                  : CR_MODE_HYBRID;
    so.k = (int)k;
    if (depth > 0) so.depth = (int)depth;
    if (raw) so.flags |= CR_FTS_RAW;
    if (rrfk) {
        char *end;
        so.fusion_k = strtod(rrfk, &end);
        if (*end || end == rrfk) { cc_kb_close(kb); cli_error("--rrf-k %s: not a number", rrfk); return 2; }
    }
    if (weights) {
        char *end;
        so.weight[CR_LANE_BM25] = strtod(weights, &end);
        if (*end != ',' || end == weights) { cc_kb_close(kb); cli_error("--weights %s: use B,V (two numbers)", weights); return 2; }
        so.weight[CR_LANE_VECTOR] = strtod(end + 1, &end);
        if (*end) { cc_kb_close(kb); cli_error("--weights %s: use B,V (two numbers)", weights); return 2; }
    }
    if (cr_searcher_open(kb, &se) != CC_OK) { cc_kb_close(kb); return cli_error("out of memory"); }
    if (cr_searcher_search(se, text, &so, &hits, &n) != CC_OK)
        ret = cli_error("%s", cc_kb_errmsg(kb));
    else
        ret = print_hits(kb, hits, n, json, explain, cr_searcher_vector_status(se));
    free(hits);
    cr_searcher_close(se);
    cc_kb_close(kb);
    return ret;
}
