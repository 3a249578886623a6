/* main.c — `cairn`: command dispatch and the shared CLI helpers. */
#include "cli.h"
#include "retrieval.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <string.h>

static const struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"init",   cmd_init,   "init KB                      create a knowledge base"},
    {"ingest", cmd_ingest, "ingest KB PATH...            add or update documents (- for stdin)"},
    {"rm",     cmd_rm,     "rm KB DOC...                 delete documents (uri or #id)"},
    {"search", cmd_search, "search KB \"text\" [-k N]      hybrid search (BM25 + vectors, RRF)"},
    {"ask",    cmd_ask,    "ask KB \"question\" [-k N]      answer with citations (extractive) and a trace"},
    {"trace",  cmd_trace,  "trace KB list|show ID|verify|export  the stored explainability traces"},
    {"reindex", cmd_reindex, "reindex KB [--embedder E]    rebuild the vector index"},
    {"graph",  cmd_graph,  "graph subgraph|entities|export|sparql|triples|rebuild|split KB ...  the knowledge graph"},
    {"sql",    cmd_sql,    "sql KB \"SELECT ...\"         read-only SQL over the catalog"},
    {"shell",  cmd_shell,  "shell KB [--write]           interactive query shell"},
    {"model",  cmd_model,  "model info|tokenize FILE ...  inspect a GGUF model"},
    {"serve",  cmd_serve,  "serve KB [--listen H:P]      REST API over HTTP (keys and TLS off loopback)"},
    {"keys",   cmd_keys,   "keys KB add|list|revoke      API keys and roles for serve"},
    {"check",  cmd_check,  "check KB                     verify catalog and index consistency"},
    {"optimize", cmd_optimize, "optimize KB                  merge the full-text indexes after large ingests"},
    {"demo",   cmd_demo,   "demo [KB]                    build a KB from datasets/ and search it"},
};

int cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("cairn: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int cli_usage(const char *usage)
{
    fprintf(stderr, "usage: cairn %s\n", usage);
    return 2;
}

int cli_opt_str(int argc, char **argv, int *i, const char *name, const char **out)
{
    if (strcmp(argv[*i], name) != 0) return 0;
    if (*i + 1 >= argc) {
        cli_error("option %s needs a value", name);
        return -1;
    }
    *out = argv[++*i];
    return 1;
}

int cli_opt_int(int argc, char **argv, int *i, const char *name, int64_t lo, int64_t hi,
                int64_t *out)
{
    const char *v;
    int r = cli_opt_str(argc, argv, i, name, &v);
    if (r != 1) return r;
    if (cc_parse_i64(v, lo, hi, out) != CC_OK) {
        cli_error("option %s: %s", name, cc_errmsg());
        return -1;
    }
    return 1;
}

/* SECONDS as a decimal in [0, 86400] into milliseconds; -1 if not one */
static int64_t wait_ms(const char *v)
{
    char *end;
    double x;
    if (!v || !*v) return -1;
    errno = 0;
    x = strtod(v, &end);
    if (errno || *end || !(x >= 0 && x <= 86400)) return -1;
    return (int64_t)(x * 1000.0 + 0.5);
}

int cli_opt_secs(int argc, char **argv, int *i, const char *name, int64_t *ms)
{
    const char *v;
    int r = cli_opt_str(argc, argv, i, name, &v);
    if (r != 1) return r;
    if ((*ms = wait_ms(v)) < 0) {
        cli_error("option %s: '%s' is not a number of seconds from 0 to 86400", name, v);
        return -1;
    }
    return 1;
}

int cli_opt_wait(int argc, char **argv, int *i)
{
    int64_t ms;
    int r = cli_opt_secs(argc, argv, i, "--wait", &ms);
    if (r == 1) cc_kb_set_lock_wait(ms);
    return r;
}

static void help(FILE *f)
{
    size_t i;
    fprintf(f, "cairn %s — knowledge-graph and hybrid-retrieval database\n\nusage:\n",
            CAIRN_VERSION);
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  cairn %s\n", commands[i].summary);
    fprintf(f, "\nRun 'cairn COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    size_t i;
    /* A file-size limit must surface as an error (EFBIG), not kill us. */
    signal(SIGXFSZ, SIG_IGN);
    cr_blas_quiet(0);   /* no BLAS workers spinning beside us (retrieval.h) */
    /* No global allocation statistics: they cost a mutex per malloc. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (argc < 2) { help(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        help(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) { printf("cairn %s\n", CAIRN_VERSION); return 0; }
    if (strcmp(argv[1], "serve") != 0) {   /* the server's writer answers 503 at once */
        const char *w = getenv("CAIRN_LOCK_WAIT");
        int64_t ms = wait_ms(w);
        if (w && *w && ms < 0) {   /* empty: as if unset */
            cli_error("CAIRN_LOCK_WAIT='%s' is not a number of seconds from 0 to 86400", w);
            return 2;
        }
        if (ms > 0) cc_kb_set_lock_wait(ms);
        cc_kb_set_lock_hint(", or give the command --wait SECONDS "
                            "(or CAIRN_LOCK_WAIT=SECONDS) to wait for it");
    }
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    cli_error("unknown command '%s' (try: cairn --help)", argv[1]);
    return 2;
}
