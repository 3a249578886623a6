/* cmd_graph.c — `cairn graph`: the knowledge graph from the command line.
 *   subgraph KB --question Q [--hops H] [--budget N] [--format text|json|turtle|dot]
 *   entities KB [QUERY] [--limit N] [--json]
 *   export   KB --format nquads|turtle
 *   sparql   KB 'SELECT ...' [--limit N] [--timeout-ms T] [--format table|json]
 *   triples  KB [--subject IRI] [--predicate IRI] [--object IRI | --literal T] [--chunk N]
 *   rebuild  KB
 * subgraph and entities read the catalog; export and sparql read the
 * Redland store (caught up first when no other process is writing). */
#include "cli.h"
#include "graph.h"

#include <sqlite3.h>
#include <string.h>

static const char *const usage =
    "graph subgraph KB --question \"...\" [--hops H] [--budget N] [--format text|json|turtle|dot]\n"
    "       cairn graph entities KB [QUERY] [--limit N] [--json]\n"
    "       cairn graph export KB --format nquads|turtle\n"
    "       cairn graph sparql KB 'SELECT ...' [--limit N] [--timeout-ms T] [--format table|json]\n"
    "       cairn graph triples KB [--subject IRI] [--predicate IRI] [--object IRI | --literal TEXT] [--chunk N]\n"
    "       cairn graph rebuild KB [--wait SECONDS]\n"
    "       cairn graph split KB ENTITY [ALIAS]   list merges into ENTITY, or undo one\n"
    "       cairn graph extract KB --extractor llm [--model FILE.gguf] [--dry-run] [--json]\n"
    "  Writers (rebuild, split with ALIAS, extract) take --wait SECONDS: wait up to\n"
    "  SECONDS for another writer (a running server's, an ingest) to let go of the KB.";

/* ---------------------------------------------------------------- subgraph */

static void json_s(cc_buf *b, const char *s) { cc_buf_json_str(b, s ? s : "", s ? strlen(s) : 0); }

static void sub_json(cc_buf *b, const cg_subgraph *g)
{
    size_t i, j;
    cc_buf_puts(b, "{\"seeds\":[");
    for (i = 0; i < g->n_seeds; i++) {
        cc_buf_printf(b, "%s{\"entity\":%lld,\"label\":", i ? "," : "", (long long)g->seeds[i].entity_id);
        json_s(b, g->seeds[i].label);
        cc_buf_printf(b, ",\"from\":\"%s\"}", g->seeds[i].from);
    }
    cc_buf_puts(b, "],\"triples\":[");
    for (i = 0; i < g->n_triples; i++) {
        const cg_triple *t = &g->triples[i];
        cc_buf_printf(b, "%s{\"subject\":", i ? "," : "");
        json_s(b, t->subject);
        cc_buf_puts(b, ",\"predicate\":");
        json_s(b, t->predicate);
        cc_buf_puts(b, ",\"object\":");
        json_s(b, t->object);
        cc_buf_printf(b, ",\"subject_id\":%lld,\"object_id\":%lld,\"status\":\"%s\","
                      "\"confidence\":%.3f,\"support\":%d,\"hops\":%d,\"score\":%.6f,\"provenance\":[",
                      (long long)t->subject_id, (long long)t->object_id,
                      cg_rel_status_str(t->status), t->confidence, t->support, t->hops, t->score);
        for (j = 0; j < t->n_prov; j++) {
            const cg_prov *p = &t->prov[j];
            cc_buf_printf(b, "%s{\"chunk\":%lld,\"document\":", j ? "," : "", (long long)p->chunk_id);
            json_s(b, p->doc_uri);
            cc_buf_printf(b, ",\"start_char\":%lld,\"end_char\":%lld,\"pattern\":",
                          (long long)p->start_char, (long long)p->end_char);
            json_s(b, p->pattern);
            cc_buf_puts(b, ",\"extractor\":");
            json_s(b, p->extractor);
            cc_buf_printf(b, ",\"confidence\":%.3f,\"status\":\"%s\"}", p->confidence,
                          cg_rel_status_str(p->status));
        }
        cc_buf_puts(b, "]}");
    }
    cc_buf_puts(b, "]}\n");
}

/* An entity's IRI (urn:cairn:entity:KEY, as the store has it). */
static void entity_iri(cc_buf *b, sqlite3_stmt *q, int64_t id)
{
    const char *key = NULL;
    int n = 0;
    sqlite3_bind_int64(q, 1, id);
    if (sqlite3_step(q) == SQLITE_ROW) {
        key = (const char *)sqlite3_column_text(q, 0);
        n = sqlite3_column_bytes(q, 0);
    }
    cc_buf_puts(b, "<urn:cairn:entity:");
    if (key) cg_iri_escape(b, key, (size_t)n);
    else cc_buf_printf(b, "id-%lld", (long long)id);
    cc_buf_putc(b, '>');
    sqlite3_reset(q);
}

static void ttl_str(cc_buf *b, const char *s)
{
    cc_buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') cc_buf_printf(b, "\\%c", c);
        else if (c == '\n') cc_buf_puts(b, "\\n");
        else if (c == '\r') cc_buf_puts(b, "\\r");
        else if (c < 0x20) cc_buf_printf(b, "\\u%04X", c);
        else cc_buf_putc(b, (char)c);
    }
    cc_buf_putc(b, '"');
}

static void sub_turtle(cc_buf *b, cc_kb *kb, const cg_subgraph *g)
{
    sqlite3_stmt *q = NULL;
    size_t i;
    sqlite3_prepare_v2(cc_kb_db(kb), "SELECT key FROM entities WHERE id = ?1", -1, &q, NULL);
    cc_buf_puts(b, "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
                   "@prefix cairn: <urn:cairn:ns#> .\n\n");
    for (i = 0; i < g->n_triples; i++) {
        const cg_triple *t = &g->triples[i];
        cc_buf_printf(b, "# score %.4f, support %d, confidence %.2f, %s, %d hop%s\n", t->score,
                      t->support, t->confidence, cg_rel_status_str(t->status), t->hops,
                      t->hops == 1 ? "" : "s");
        entity_iri(b, q, t->subject_id);
        cc_buf_puts(b, " <urn:cairn:rel:");
        cg_iri_escape(b, t->predicate, strlen(t->predicate));
        cc_buf_puts(b, "> ");
        entity_iri(b, q, t->object_id);
        cc_buf_puts(b, " .\n");
        entity_iri(b, q, t->subject_id);
        cc_buf_puts(b, " rdfs:label ");
        ttl_str(b, t->subject);
        cc_buf_puts(b, " .\n");
        entity_iri(b, q, t->object_id);
        cc_buf_puts(b, " rdfs:label ");
        ttl_str(b, t->object);
        cc_buf_puts(b, " .\n");
    }
    sqlite3_finalize(q);
}

static void dot_str(cc_buf *b, const char *s)
{
    cc_buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') cc_buf_putc(b, '\\');
        if (*s == '\n') { cc_buf_puts(b, "\\n"); continue; }
        cc_buf_putc(b, *s);
    }
    cc_buf_putc(b, '"');
}

static void sub_dot(cc_buf *b, const cg_subgraph *g)
{
    size_t i;
    cc_buf_puts(b, "digraph subgraph {\n  rankdir=LR;\n  node [shape=box];\n");
    for (i = 0; i < g->n_seeds; i++)
        cc_buf_printf(b, "  e%lld [style=bold];\n", (long long)g->seeds[i].entity_id);
    for (i = 0; i < g->n_triples; i++) {
        const cg_triple *t = &g->triples[i];
        cc_buf_printf(b, "  e%lld [label=", (long long)t->subject_id);
        dot_str(b, t->subject);
        cc_buf_printf(b, "];\n  e%lld [label=", (long long)t->object_id);
        dot_str(b, t->object);
        cc_buf_printf(b, "];\n  e%lld -> e%lld [label=", (long long)t->subject_id, (long long)t->object_id);
        dot_str(b, t->predicate);
        cc_buf_printf(b, "%s];\n", t->status == CG_REL_INFERRED ? ", style=dashed" : "");
    }
    cc_buf_puts(b, "}\n");
}

static void sub_text(cc_buf *b, const cg_subgraph *g)
{
    size_t i, j;
    cc_buf_puts(b, "seeds:");
    for (i = 0; i < g->n_seeds; i++)
        cc_buf_printf(b, "%s %s (%s)", i ? "," : "", g->seeds[i].label, g->seeds[i].from);
    cc_buf_printf(b, "%s\n%zu triple%s\n", g->n_seeds ? "" : " none", g->n_triples,
                  g->n_triples == 1 ? "" : "s");
    for (i = 0; i < g->n_triples; i++) {
        const cg_triple *t = &g->triples[i];
        cc_buf_printf(b, "%6.3f  %s --%s--> %s  [%s, support %d, confidence %.2f, %d hop%s]\n",
                      t->score, t->subject, t->predicate, t->object, cg_rel_status_str(t->status),
                      t->support, t->confidence, t->hops, t->hops == 1 ? "" : "s");
        for (j = 0; j < t->n_prov; j++)
            cc_buf_printf(b, "        chunk %lld of %s [%lld, %lld) %s %s\n",
                          (long long)t->prov[j].chunk_id, t->prov[j].doc_uri,
                          (long long)t->prov[j].start_char, (long long)t->prov[j].end_char,
                          t->prov[j].pattern, t->prov[j].extractor);
    }
}

static int do_subgraph(int argc, char **argv)
{
    const char *question = NULL, *format = "text";
    int64_t hops = 0, budget = 0;
    cg_subgraph_opts o = {0};
    cg_subgraph g = {0};
    cc_buf out = CC_BUF_INIT(0);
    cc_kb *kb;
    int i, r;
    if (argc < 2) return cli_usage(usage);
    for (i = 2; i < argc; i++) {
        if ((r = cli_opt_str(argc, argv, &i, "--question", &question)) ||
            (r = cli_opt_int(argc, argv, &i, "--hops", 1, 4, &hops)) ||
            (r = cli_opt_int(argc, argv, &i, "--budget", 1, 10000, &budget)) ||
            (r = cli_opt_str(argc, argv, &i, "--format", &format))) {
            if (r < 0) return 2;
            continue;
        }
        return cli_error("graph subgraph: unknown argument '%s'", argv[i]) + 1;
    }
    if (!question) return cli_error("graph subgraph: --question is required") + 1;
    if (strcmp(format, "text") && strcmp(format, "json") && strcmp(format, "turtle") &&
        strcmp(format, "dot"))
        return cli_error("graph subgraph: --format must be text, json, turtle or dot") + 1;
    if (cc_kb_open(argv[1], CC_KB_READ, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    o.hops = (int)hops;
    o.budget = (int)budget;
    if (cg_subgraph_extract(kb, question, NULL, 0, &o, &g) != CC_OK) {
        r = cli_error("%s", cc_kb_errmsg(kb));
        cc_kb_close(kb);
        return r;
    }
    if (!strcmp(format, "json")) sub_json(&out, &g);
    else if (!strcmp(format, "turtle")) sub_turtle(&out, kb, &g);
    else if (!strcmp(format, "dot")) sub_dot(&out, &g);
    else sub_text(&out, &g);
    if (out.len) fwrite(out.data, 1, out.len, stdout);
    cc_buf_free(&out);
    cg_subgraph_free(&g);
    cc_kb_close(kb);
    return 0;
}

/* ---------------------------------------------------------------- entities */

static int do_entities(int argc, char **argv)
{
    const char *query = NULL;
    int64_t limit = 50;
    int json = 0, i, r, rc, n = 0;
    cc_buf fts = CC_BUF_INIT(0), err = CC_BUF_INIT(0), out = CC_BUF_INIT(0);
    sqlite3_stmt *q = NULL;
    cc_kb *kb;
    if (argc < 2) return cli_usage(usage);
    for (i = 2; i < argc; i++) {
        if ((r = cli_opt_int(argc, argv, &i, "--limit", 1, 100000, &limit))) {
            if (r < 0) return 2;
            continue;
        }
        if (!strcmp(argv[i], "--json")) { json = 1; continue; }
        if (argv[i][0] == '-' && argv[i][1]) return cli_error("graph entities: unknown option '%s'", argv[i]) + 1;
        if (query) return cli_error("graph entities: one QUERY only (quote it)") + 1;
        query = argv[i];
    }
    if (query && cr_fts_query(query, &fts, &err) != CC_OK) {
        r = cli_error("graph entities: %s", err.data ? err.data : "bad query");
        cc_buf_free(&err);
        return r;
    }
    cc_buf_free(&err);
    if (cc_kb_open(argv[1], CC_KB_READ, &kb) != CC_OK) { cc_buf_free(&fts); return cli_error("%s", cc_errmsg()); }
    rc = sqlite3_prepare_v2(cc_kb_db(kb), query
        ? "SELECT e.id, e.label, e.type, (SELECT count(*) FROM mentions m WHERE m.entity_id = e.id),"
          " n.names FROM entity_names n JOIN entities e ON e.id = n.rowid"
          " WHERE entity_names MATCH ?1 AND e.merged_into IS NULL ORDER BY n.rank LIMIT ?2"
        : "SELECT e.id, e.label, e.type, count(m.id) AS c, (SELECT names FROM entity_names"
          " WHERE rowid = e.id) FROM entities e LEFT JOIN mentions m ON m.entity_id = e.id"
          " WHERE e.merged_into IS NULL GROUP BY e.id ORDER BY c DESC, e.id LIMIT ?2",
        -1, &q, NULL);
    if (rc != SQLITE_OK) {
        r = cli_error("graph entities: %s", sqlite3_errmsg(cc_kb_db(kb)));
        goto out;
    }
    if (query) sqlite3_bind_text(q, 1, fts.data, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, limit);
    if (json) cc_buf_puts(&out, "[");
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *label = (const char *)sqlite3_column_text(q, 1);
        const char *type = (const char *)sqlite3_column_text(q, 2);
        const char *names = (const char *)sqlite3_column_text(q, 4);
        if (json) {
            cc_buf_printf(&out, "%s{\"id\":%lld,\"label\":", n ? "," : "", (long long)sqlite3_column_int64(q, 0));
            json_s(&out, label);
            cc_buf_puts(&out, ",\"type\":");
            json_s(&out, type);
            cc_buf_printf(&out, ",\"mentions\":%lld,\"names\":", (long long)sqlite3_column_int64(q, 3));
            json_s(&out, names);
            cc_buf_putc(&out, '}');
        } else {
            cc_buf_printf(&out, "%8lld  %-13s %5lld  %s", (long long)sqlite3_column_int64(q, 0),
                          type ? type : "", (long long)sqlite3_column_int64(q, 3), label ? label : "");
            if (names && label && strcmp(names, label)) cc_buf_printf(&out, "  (%s)", names);
            cc_buf_putc(&out, '\n');
        }
        n++;
    }
    if (rc != SQLITE_DONE) { r = cli_error("graph entities: %s", sqlite3_errmsg(cc_kb_db(kb))); goto out; }
    if (json) cc_buf_puts(&out, "]\n");
    else if (!n) cc_buf_puts(&out, "no entities\n");
    if (out.len) fwrite(out.data, 1, out.len, stdout);
    r = 0;
out:
    sqlite3_finalize(q);
    cc_buf_free(&fts);
    cc_buf_free(&out);
    cc_kb_close(kb);
    return r;
}

/* ---------------------------------------------------------------- store commands */

/* Catches the store up when no other process is writing (it then will):
 * never waits for the lock (--wait / CAIRN_LOCK_WAIT are for writers). */
static void catch_up(const char *dir)
{
    cc_kb *kb;
    if (cc_kb_open(dir, CC_KB_WRITE | CC_KB_NOWAIT, &kb) != CC_OK) return;
    if (cg_graph_sync(kb, 0, NULL) != CC_OK)
        fprintf(stderr, "cairn: warning: %s\n", cc_kb_errmsg(kb));
    cc_kb_close(kb);
}

static int do_export(int argc, char **argv)
{
    const char *format = NULL;
    cc_kb *kb;
    size_t n = 0;
    int i, r;
    if (argc < 2) return cli_usage(usage);
    for (i = 2; i < argc; i++) {
        if ((r = cli_opt_str(argc, argv, &i, "--format", &format))) {
            if (r < 0) return 2;
            continue;
        }
        return cli_error("graph export: unknown argument '%s'", argv[i]) + 1;
    }
    if (!format) return cli_error("graph export: --format nquads|turtle is required") + 1;
    catch_up(argv[1]);
    if (cc_kb_open(argv[1], CC_KB_READ, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    r = cg_graph_export(kb, format, stdout, &n) != CC_OK ? cli_error("%s", cc_kb_errmsg(kb)) : 0;
    if (!r) fprintf(stderr, "exported %zu statements\n", n);
    cc_kb_close(kb);
    return r;
}

static int do_sparql(int argc, char **argv)
{
    const char *query = NULL, *format = "table";
    int64_t limit = 1000, timeout = 10000;
    cc_buf out = CC_BUF_INIT(0);
    cc_kb *kb;
    cc_status s;
    int i, r;
    if (argc < 2) return cli_usage(usage);
    for (i = 2; i < argc; i++) {
        if ((r = cli_opt_int(argc, argv, &i, "--limit", 1, 1000000, &limit)) ||
            (r = cli_opt_int(argc, argv, &i, "--timeout-ms", 1, 3600000, &timeout)) ||
            (r = cli_opt_str(argc, argv, &i, "--format", &format))) {
            if (r < 0) return 2;
            continue;
        }
        if (query) return cli_error("graph sparql: one query only (quote it)") + 1;
        query = argv[i];
    }
    if (!query) return cli_error("graph sparql: the query is missing") + 1;
    if (strcmp(format, "table") && strcmp(format, "json"))
        return cli_error("graph sparql: --format must be table or json") + 1;
    catch_up(argv[1]);
    if (cc_kb_open(argv[1], CC_KB_READ, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    s = !strcmp(format, "json") ? cg_sparql_exec(kb, query, (size_t)limit, timeout, &out)
                                : cg_sparql_exec_table(kb, query, (size_t)limit, timeout, &out);
    if (s != CC_OK) r = cli_error("%s", cc_kb_errmsg(kb));
    else {
        if (out.len) fwrite(out.data, 1, out.len, stdout);
        if (!strcmp(format, "json")) putchar('\n');
        r = 0;
    }
    cc_buf_free(&out);
    cc_kb_close(kb);
    return r;
}

/* One line per (triple, context), N-Quads-like, from the triples iterator. */
static int do_triples(int argc, char **argv)
{
    cg_triple_pattern pat = {0};
    cg_triples *it = NULL;
    cg_triple_row row;
    const char *lit = NULL;
    int64_t chunk = 0;
    size_t n = 0;
    cc_kb *kb;
    int i, r, has = 0;
    if (argc < 2) return cli_usage(usage);
    for (i = 2; i < argc; i++) {
        if ((r = cli_opt_str(argc, argv, &i, "--subject", &pat.subject)) ||
            (r = cli_opt_str(argc, argv, &i, "--predicate", &pat.predicate)) ||
            (r = cli_opt_str(argc, argv, &i, "--object", &pat.object)) ||
            (r = cli_opt_str(argc, argv, &i, "--literal", &lit)) ||
            (r = cli_opt_int(argc, argv, &i, "--chunk", 1, INT64_MAX, &chunk))) {
            if (r < 0) return 2;
            continue;
        }
        return cli_error("graph triples: unknown argument '%s'", argv[i]) + 1;
    }
    if (lit) {
        if (pat.object) return cli_error("graph triples: --object or --literal, not both") + 1;
        pat.object = lit;
        pat.object_literal = 1;
    }
    pat.chunk_id = chunk;
    catch_up(argv[1]);
    if (cc_kb_open(argv[1], CC_KB_READ, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    if (cg_triples_open(kb, &pat, &it) != CC_OK) {
        r = cli_error("%s", cc_kb_errmsg(kb));
        cc_kb_close(kb);
        return r;
    }
    while ((r = cg_triples_next(it, &row, &has)) == CC_OK && has) {
        if (row.object_literal) printf("<%s> <%s> \"%s\" <%s>\n", row.subject, row.predicate, row.object, row.context);
        else printf("<%s> <%s> <%s> <%s>\n", row.subject, row.predicate, row.object, row.context);
        n++;
    }
    if (r != CC_OK) r = cli_error("graph triples: %s", cg_triples_errmsg(it));
    else fprintf(stderr, "%zu triples\n", n);
    cg_triples_close(it);
    cc_kb_close(kb);
    return r ? 1 : 0;
}

static int do_rebuild(int argc, char **argv)
{
    cg_graph_stats gs;
    cc_kb *kb;
    int i = 2;
    if (argc == 4 && cli_opt_wait(argc, argv, &i) == 1) argc = 2;
    if (argc != 2) return cli_usage(usage);
    if (cc_kb_open(argv[1], CC_KB_WRITE, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    if (cg_graph_sync(kb, 1, &gs) != CC_OK) {
        int r = cli_error("%s", cc_kb_errmsg(kb));
        cc_kb_close(kb);
        return r;
    }
    printf("rebuilt the graph store of %s: %zu contexts, %zu triples, generation %lld, %.2f s",
           argv[1], gs.contexts_added, gs.triples_added, (long long)gs.generation, gs.ms / 1e3);
    if (gs.skipped) printf(" (%zu literals skipped: NUL byte or invalid UTF-8)", gs.skipped);
    putchar('\n');
    cc_kb_close(kb);
    return 0;
}

int cmd_graph(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        cli_usage(usage);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "subgraph")) return do_subgraph(argc - 1, argv + 1);
    if (!strcmp(argv[1], "entities")) return do_entities(argc - 1, argv + 1);
    if (!strcmp(argv[1], "export")) return do_export(argc - 1, argv + 1);
    if (!strcmp(argv[1], "sparql")) return do_sparql(argc - 1, argv + 1);
    if (!strcmp(argv[1], "rebuild")) return do_rebuild(argc - 1, argv + 1);
    if (!strcmp(argv[1], "triples")) return do_triples(argc - 1, argv + 1);
    if (!strcmp(argv[1], "split")) return cmd_graph_split(argc - 1, argv + 1);
    if (!strcmp(argv[1], "extract")) return cmd_graph_extract(argc - 1, argv + 1);
    cli_error("graph: unknown subcommand '%s'", argv[1]);
    return cli_usage(usage);
}
