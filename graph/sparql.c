/* sparql.c — reading the KB's Redland store: read-only SPARQL through
 * Rasqal/librdf with a result limit and a time limit, the triples
 * iterator, and export as N-Quads or Turtle.
 *
 * SPARQL: the query is parsed by Rasqal ("sparql11", which knows both the
 * query and the update forms) and only the SELECT, ASK, CONSTRUCT and
 * DESCRIBE verbs go on.  It then runs in a child process (fork) on the
 * store opened read-only, writing its answer into a pipe; the parent
 * reads it with a deadline and kills the child when it passes.  Neither
 * Rasqal nor librdf can be interrupted in the middle of a join, so a
 * process is the only way to a hard time limit; it also keeps a crash or
 * runaway memory of the query engine out of a server.  The child touches
 * only the store (no SQLite, no KB handle) and ends with _exit.  It closes
 * every descriptor it inherited but its pipe, opens the store, then
 * confines itself (sandbox.c: no file opened, created or
 * changed, no process started, nothing written but to the pipe, no
 * network but the PostgreSQL storage's) before Rasqal parses the query.
 *
 * Pipe protocol: one byte, 'O' (the rest is the answer) or 'E' (the rest
 * is an error message); then EOF. */
#include "graph_int.h"

#include <rasqal/rasqal.h>
#include <redland.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LIMIT_DEFAULT    1000
#define LIMIT_MAX        1000000
#define TIMEOUT_DEFAULT  10000
/* the query child's resident memory beyond what it inherits
 * (graph.sparql_memory_mb; 0: no bound) */
#define MEMORY_DEFAULT_MB 2048
#define MEMORY_MAX_MB     1048576
#define MEMORY_POLL_MS    20

/* ---------------------------------------------------------------- the verb */

typedef struct parse_log {
    cc_buf msg;
} parse_log;

static void on_rasqal_log(void *user, raptor_log_message *m)
{
    parse_log *pl = user;
    if (m->level < RAPTOR_LOG_LEVEL_ERROR || pl->msg.len) return;
    if (m->locator && m->locator->line > 0)
        cc_buf_printf(&pl->msg, "line %d: ", m->locator->line);
    cc_buf_puts(&pl->msg, m->text ? m->text : "syntax error");
}

/* rasqal_query_graph_pattern_visit2 callback: stops (nonzero) at a SERVICE
 * pattern, which Rasqal would run by fetching the remote endpoint's URL. */
static int find_service(rasqal_query *q, rasqal_graph_pattern *gp, void *found)
{
    (void)q;
    if (rasqal_graph_pattern_get_operator(gp) != RASQAL_GRAPH_PATTERN_OPERATOR_SERVICE) return 0;
    *(int *)found = 1;
    return 1;
}

/* Parses query with Rasqal; CC_OK only for a read form that reads only the
 * store (no SERVICE: a federated query would make the process that runs it
 * fetch any URL the caller names).  *verb gets the
 * verb's name ("SELECT", ...).  Message on the KB. */
static cc_status check_verb(cc_kb *kb, const char *query, rasqal_query_verb *verb)
{
    rasqal_world *rw = rasqal_new_world();
    rasqal_query *rq = NULL;
    parse_log pl;
    cc_status s = CC_OK;
    cc_buf_init(&pl.msg, 4096);
    *verb = RASQAL_QUERY_VERB_UNKNOWN;
    if (!rw || rasqal_world_open(rw)) { s = cc_kb_seterr(kb, CC_NOMEM, "cannot start Rasqal"); goto out; }
    rasqal_world_set_log_handler(rw, &pl, on_rasqal_log);
    if (!(rq = rasqal_new_query(rw, "sparql11", NULL))) {
        s = cc_kb_seterr(kb, CC_UNSUPPORTED, "Rasqal has no SPARQL 1.1 parser");
        goto out;
    }
    if (rasqal_query_prepare(rq, (const unsigned char *)query, NULL)) {
        s = cc_kb_seterr(kb, CC_INVALID, "SPARQL: %s", pl.msg.len ? pl.msg.data : "syntax error");
        goto out;
    }
    *verb = rasqal_query_get_verb(rq);
    switch (*verb) {
    case RASQAL_QUERY_VERB_SELECT: case RASQAL_QUERY_VERB_ASK:
    case RASQAL_QUERY_VERB_CONSTRUCT: case RASQAL_QUERY_VERB_DESCRIBE:
        break;
    default:    /* INSERT, DELETE, UPDATE (LOAD, CLEAR, CREATE, ...), or none */
        s = cc_kb_seterr(kb, CC_INVALID, "SPARQL: %s%s; the graph store is read-only "
                         "(only SELECT, ASK, CONSTRUCT and DESCRIBE are allowed)",
                         *verb == RASQAL_QUERY_VERB_UNKNOWN ? "not a query"
                                                            : rasqal_query_verb_as_string(*verb),
                         *verb == RASQAL_QUERY_VERB_UNKNOWN ? "" : " is an update");
    }
    if (!s) {
        int service = 0;
        rasqal_query_graph_pattern_visit2(rq, find_service, &service);
        if (service)
            s = cc_kb_seterr(kb, CC_INVALID, "SPARQL: SERVICE (a federated query) is not allowed; "
                             "queries read only the KB's graph store");
    }
out:
    if (rq) rasqal_free_query(rq);
    if (rw) rasqal_free_world(rw);
    cc_buf_free(&pl.msg);
    return s;
}

/* ---------------------------------------------------------------- terms */

static cc_status json_term(cc_buf *o, librdf_node *n)
{
    cc_status s = CC_OK;
    switch (librdf_node_get_type(n)) {
    case LIBRDF_NODE_TYPE_RESOURCE: {
        const char *u = (const char *)librdf_uri_as_string(librdf_node_get_uri(n));
        s = cc_buf_puts(o, "{\"type\":\"uri\",\"value\":");
        if (!s) s = cc_buf_json_str(o, u, strlen(u));
        break;
    }
    case LIBRDF_NODE_TYPE_LITERAL: {
        size_t len = 0;
        const char *v = (const char *)librdf_node_get_literal_value_as_counted_string(n, &len);
        librdf_uri *dt = librdf_node_get_literal_value_datatype_uri(n);
        const char *lang = librdf_node_get_literal_value_language(n);
        s = cc_buf_puts(o, "{\"type\":\"literal\",\"value\":");
        if (!s) s = cc_buf_json_str(o, v ? v : "", v ? len : 0);
        if (!s && dt) {
            const char *d = (const char *)librdf_uri_as_string(dt);
            s = cc_buf_puts(o, ",\"datatype\":");
            if (!s) s = cc_buf_json_str(o, d, strlen(d));
        }
        if (!s && lang) {
            s = cc_buf_puts(o, ",\"lang\":");
            if (!s) s = cc_buf_json_str(o, lang, strlen(lang));
        }
        break;
    }
    default: {
        const char *b = (const char *)librdf_node_get_blank_identifier(n);
        s = cc_buf_puts(o, "{\"type\":\"bnode\",\"value\":");
        if (!s) s = cc_buf_json_str(o, b ? b : "", b ? strlen(b) : 0);
    }
    }
    return s ? s : cc_buf_putc(o, '}');
}

/* N-Triples form of a term: <iri>, "lexical"^^<dt> / @lang, _:id.  Escapes
 * per N-Triples (\" \\ \n \r \t, \uXXXX for other controls). */
static cc_status nt_str(cc_buf *o, const char *v, size_t n)
{
    size_t i;
    cc_status s = CC_OK;
    for (i = 0; i < n && !s; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"' || c == '\\') s = cc_buf_printf(o, "\\%c", c);
        else if (c == '\n') s = cc_buf_puts(o, "\\n");
        else if (c == '\r') s = cc_buf_puts(o, "\\r");
        else if (c == '\t') s = cc_buf_puts(o, "\\t");
        else if (c < 0x20 || c == 0x7f) s = cc_buf_printf(o, "\\u%04X", c);
        else s = cc_buf_putc(o, (char)c);
    }
    return s;
}

static cc_status nt_term(cc_buf *o, librdf_node *n)
{
    cc_status s;
    if (!n) return cc_buf_puts(o, "");
    switch (librdf_node_get_type(n)) {
    case LIBRDF_NODE_TYPE_RESOURCE: {
        const char *u = (const char *)librdf_uri_as_string(librdf_node_get_uri(n));
        /* our IRIs are percent-encoded; others may hold anything: escape */
        if ((s = cc_buf_putc(o, '<'))) return s;
        for (; *u; u++) {
            unsigned char c = (unsigned char)*u;
            if (c <= 0x20 || strchr("<>\"{}|^`\\", c)) s = cc_buf_printf(o, "\\u%04X", c);
            else s = cc_buf_putc(o, (char)c);
            if (s) return s;
        }
        return cc_buf_putc(o, '>');
    }
    case LIBRDF_NODE_TYPE_LITERAL: {
        size_t len = 0;
        const char *v = (const char *)librdf_node_get_literal_value_as_counted_string(n, &len);
        librdf_uri *dt = librdf_node_get_literal_value_datatype_uri(n);
        const char *lang = librdf_node_get_literal_value_language(n);
        if ((s = cc_buf_putc(o, '"')) || (s = nt_str(o, v ? v : "", v ? len : 0)) ||
            (s = cc_buf_putc(o, '"')))
            return s;
        if (dt) return cc_buf_printf(o, "^^<%s>", (const char *)librdf_uri_as_string(dt));
        if (lang) return cc_buf_printf(o, "@%s", lang);
        return CC_OK;
    }
    default:
        return cc_buf_printf(o, "_:%s", (const char *)librdf_node_get_blank_identifier(n));
    }
}

/* ---------------------------------------------------------------- running a query (child) */

/* Runs the query on the store sg; the answer into out. */
static cc_status run_query(const cg_storage *sg, const char *query, size_t limit, int table,
                           int64_t generation, int out_fd, cc_buf *out, cc_buf *err)
{
    cg_store *st = NULL;
    librdf_query *q = NULL;
    librdf_query_results *r = NULL;
    double t0 = cc_now_ms();
    size_t rows = 0;
    int truncated = 0, rc;
    cc_status s;
    if ((s = cg_store_open_storage(sg, CG_STORE_READONLY, &st))) {
        cc_buf_printf(err, "graph store: %s", cc_errmsg());
        return s;
    }
    /* the query's text is parsed only inside the sandbox */
    if ((rc = cg_sandbox_enter(out_fd, sg->kind == CG_STORAGE_POSTGRESQL))) {
        cc_buf_printf(err, "SPARQL: cannot confine the query process (seccomp: %s)", strerror(rc));
        s = CC_IO;
        goto out;
    }
    q = librdf_new_query(st->world, "sparql", NULL, (const unsigned char *)query, NULL);
    r = q ? librdf_model_query_execute(st->model, q) : NULL;
    if (!r) {
        cc_buf_printf(err, "SPARQL: %s", st->err.len ? st->err.data : "the query failed");
        s = CC_INVALID;
        goto out;
    }
    if (librdf_query_results_is_boolean(r)) {
        int b = librdf_query_results_get_boolean(r);
        s = table ? cc_buf_printf(out, "%s\n", b > 0 ? "true" : "false")
                  : cc_buf_printf(out, "{\"type\":\"ask\",\"boolean\":%s", b > 0 ? "true" : "false");
    } else if (librdf_query_results_is_bindings(r)) {
        int nv = librdf_query_results_get_bindings_count(r), i;
        s = table ? CC_OK : cc_buf_puts(out, "{\"type\":\"select\",\"vars\":[");
        for (i = 0; i < nv && !s; i++) {
            const char *name = librdf_query_results_get_binding_name(r, i);
            if (table) s = cc_buf_printf(out, "%s%s", i ? "\t" : "", name ? name : "");
            else {
                if (i) s = cc_buf_putc(out, ',');
                if (!s) s = cc_buf_json_str(out, name ? name : "", name ? strlen(name) : 0);
            }
        }
        if (!s) s = table ? cc_buf_putc(out, '\n') : cc_buf_puts(out, "],\"rows\":[");
        while (!s && !librdf_query_results_finished(r)) {
            int first = 1;
            if (rows == limit) { truncated = 1; break; }
            if (!table && rows) s = cc_buf_putc(out, ',');
            if (!s && !table) s = cc_buf_putc(out, '{');
            for (i = 0; i < nv && !s; i++) {
                librdf_node *v = librdf_query_results_get_binding_value(r, i);
                if (table) {
                    if (i) s = cc_buf_putc(out, '\t');
                    if (!s) s = nt_term(out, v);
                } else if (v) {
                    const char *name = librdf_query_results_get_binding_name(r, i);
                    if (!first) s = cc_buf_putc(out, ',');
                    first = 0;
                    if (!s) s = cc_buf_json_str(out, name ? name : "", name ? strlen(name) : 0);
                    if (!s) s = cc_buf_putc(out, ':');
                    if (!s) s = json_term(out, v);
                }
                if (v) librdf_free_node(v);
            }
            if (!s) s = table ? cc_buf_putc(out, '\n') : cc_buf_putc(out, '}');
            rows++;
            librdf_query_results_next(r);
        }
        if (!s && !table) s = cc_buf_putc(out, ']');
    } else if (librdf_query_results_is_graph(r)) {
        librdf_stream *g = librdf_query_results_as_stream(r);
        s = table ? CC_OK : cc_buf_puts(out, "{\"type\":\"graph\",\"triples\":[");
        while (!s && g && !librdf_stream_end(g)) {
            librdf_statement *t = librdf_stream_get_object(g);
            if (rows == limit) { truncated = 1; break; }
            if (table) {
                if (!(s = nt_term(out, librdf_statement_get_subject(t))) &&
                    !(s = cc_buf_putc(out, ' ')) &&
                    !(s = nt_term(out, librdf_statement_get_predicate(t))) &&
                    !(s = cc_buf_putc(out, ' ')) &&
                    !(s = nt_term(out, librdf_statement_get_object(t))))
                    s = cc_buf_puts(out, " .\n");
            } else {
                if (rows) s = cc_buf_putc(out, ',');
                if (!s && !(s = cc_buf_putc(out, '[')) &&
                    !(s = json_term(out, librdf_statement_get_subject(t))) &&
                    !(s = cc_buf_putc(out, ',')) &&
                    !(s = json_term(out, librdf_statement_get_predicate(t))) &&
                    !(s = cc_buf_putc(out, ',')) &&
                    !(s = json_term(out, librdf_statement_get_object(t))))
                    s = cc_buf_putc(out, ']');
            }
            rows++;
            librdf_stream_next(g);
        }
        if (g) librdf_free_stream(g);
        if (!s && !table) s = cc_buf_putc(out, ']');
    } else {
        cc_buf_puts(err, "SPARQL: the query gave no results of a known kind");
        s = CC_UNSUPPORTED;
        goto out;
    }
    if (!s) {
        if (table)
            s = truncated ? cc_buf_printf(out, "(stopped at the limit of %zu)\n", limit) : CC_OK;
        else
            s = cc_buf_printf(out, "%s,\"generation\":%lld,\"ms\":%.3f}",
                              librdf_query_results_is_boolean(r) ? ""
                              : truncated ? ",\"truncated\":true" : ",\"truncated\":false",
                              (long long)generation, cc_now_ms() - t0);
    }
    if (s) cc_buf_puts(err, s == CC_NOMEM || s == CC_TOOBIG ? "the answer is too large" : "failed");
out:
    if (r) librdf_free_query_results(r);
    if (q) librdf_free_query(q);
    cg_store_close(st);
    return s;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---------------------------------------------------------------- cg_sparql_exec */

static _Thread_local int over_memory;     /* cg_sparql_over_memory */

int cg_sparql_over_memory(void) { return over_memory; }

static cc_status sparql(cc_kb *kb, const char *query, size_t limit, int64_t timeout_ms,
                        int table, cc_buf *out)
{
    rasqal_query_verb verb;
    cg_store *st = NULL;
    cc_buf got = CC_BUF_INIT(0);
    cg_storage sg;
    int64_t gen = 0, mem_mb = 0, base;
    int fd = -1, pfd[2] = {-1, -1}, status = 0, timed_out = 0;
    double deadline;
    pid_t pid;
    cc_status s;
    C_ASSERT(kb && query && out);
    over_memory = 0;
    if (!limit) limit = LIMIT_DEFAULT;
    if (limit > LIMIT_MAX)
        return cc_kb_seterr(kb, CC_INVALID, "SPARQL: limit %zu is over %d", limit, LIMIT_MAX);
    if (timeout_ms <= 0) timeout_ms = TIMEOUT_DEFAULT;
    if (strlen(query) > (1u << 20))
        return cc_kb_seterr(kb, CC_TOOBIG, "SPARQL: the query is over 1 MiB");
    if ((s = check_verb(kb, query, &verb))) return s;
    if (cc_kb_setting_i64(kb, "graph.sparql_memory_mb", MEMORY_DEFAULT_MB, &mem_mb) != CC_OK ||
        mem_mb < 0 || mem_mb > MEMORY_MAX_MB)
        return cc_kb_seterr(kb, CC_INVALID, "setting graph.sparql_memory_mb must be 0 (no bound) "
                            "..%d", MEMORY_MAX_MB);
    if ((s = cg_storage_from_kb(kb, &sg))) return s;
    if ((s = cg_graph_open_read(kb, &st, &fd, &gen))) { cg_storage_free(&sg); return s; }
    cg_store_close(st);                 /* checked; the child opens its own */
    st = NULL;
    if (pipe(pfd)) { s = cc_kb_seterr(kb, CC_IO, "SPARQL: pipe: %s", strerror(errno)); goto out; }
    fflush(NULL);
    pid = fork();
    if (pid < 0) { s = cc_kb_seterr(kb, CC_NOMEM, "SPARQL: fork: %s", strerror(errno)); goto out; }
    if (pid == 0) {                     /* child: run, write, _exit */
        cc_buf ans = CC_BUF_INIT(0), err = CC_BUF_INIT(1 << 16);
        cc_status cs;
        cg_sandbox_close_inherited(pfd[1]);   /* pfd[0] and the server's sockets and files */
        cg_sandbox_oom_first();
        cs = run_query(&sg, query, limit, table, gen, pfd[1], &ans, &err);
        if (cs == CC_OK) {
            write_all(pfd[1], "O", 1);
            write_all(pfd[1], ans.data ? ans.data : "", ans.len);
        } else {
            write_all(pfd[1], "E", 1);
            write_all(pfd[1], err.data ? err.data : "failed", err.data ? err.len : 6);
        }
        _exit(0);
    }
    close(pfd[1]);
    pfd[1] = -1;
    deadline = cc_now_ms() + (double)timeout_ms;
    /* the child's memory is what it adds to what it inherited (fork
     * counts the parent's pages as the child's too), looked at every
     * MEMORY_POLL_MS */
    base = mem_mb ? cg_sandbox_resident_bytes(pid) : -1;
    for (;;) {
        struct pollfd p = {pfd[0], POLLIN, 0};
        char buf[65536];
        double left = deadline - cc_now_ms();
        ssize_t n;
        int pr;
        if (left <= 0) { timed_out = 1; break; }
        if (base >= 0) {
            int64_t now = cg_sandbox_resident_bytes(pid);
            if (now > base && now - base > mem_mb * ((int64_t)1 << 20)) {
                over_memory = 1;
                s = cc_kb_seterr(kb, CC_TOOBIG, "SPARQL: the query needed more than %lld MB of "
                                 "memory (setting graph.sparql_memory_mb); narrow it or raise the "
                                 "setting", (long long)mem_mb);
                break;
            }
            if (left > MEMORY_POLL_MS) left = MEMORY_POLL_MS;
        }
        pr = poll(&p, 1, (int)(left > 1e9 ? 1e9 : left) + 1);
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) { s = cc_kb_seterr(kb, CC_IO, "SPARQL: poll: %s", strerror(errno)); break; }
        if (pr == 0) continue;
        n = read(pfd[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;                              /* EOF: the child is done */
        if (cc_buf_append(&got, buf, (size_t)n)) {
            s = cc_kb_seterr(kb, CC_TOOBIG, "SPARQL: the answer is too large (lower --limit)");
            break;
        }
    }
    if (timed_out || s) kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (timed_out) {
        s = cc_kb_seterr(kb, CC_INTERRUPTED, "SPARQL: the query ran past its time limit of %lld ms",
                         (long long)timeout_ms);
        goto out;
    }
    if (s) goto out;
    if (!got.len || (got.data[0] != 'O' && got.data[0] != 'E')) {
        s = cc_kb_seterr(kb, CC_ERROR, "SPARQL: the query process failed (%s %d)",
                         WIFSIGNALED(status) ? "signal" : "status",
                         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        goto out;
    }
    if (got.data[0] == 'E') {
        s = cc_kb_seterr(kb, CC_INVALID, "%.*s", (int)(got.len - 1), got.data + 1);
        goto out;
    }
    if (cc_buf_append(out, got.data + 1, got.len - 1))
        s = cc_kb_seterr(kb, CC_TOOBIG, "SPARQL: the answer is too large (lower --limit)");
out:
    if (pfd[0] >= 0) close(pfd[0]);
    if (pfd[1] >= 0) close(pfd[1]);
    cg_graph_close_read(NULL, fd);
    cg_storage_free(&sg);
    cc_buf_free(&got);
    return s;
}

cc_status cg_sparql_exec(cc_kb *kb, const char *query, size_t limit, int64_t timeout_ms,
                         cc_buf *json_out)
{
    return sparql(kb, query, limit, timeout_ms, 0, json_out);
}

cc_status cg_sparql_exec_table(cc_kb *kb, const char *query, size_t limit, int64_t timeout_ms,
                               cc_buf *out)
{
    return sparql(kb, query, limit, timeout_ms, 1, out);
}

/* ---------------------------------------------------------------- triples iterator */

struct cg_triples {
    cg_store      *st;
    int            lock_fd;
    librdf_stream *stream;
    char          *object_literal;     /* filter, or NULL */
    char          *object_iri;         /* filter, or NULL (see cg_triples_open) */
    int            started;
    cc_buf         s, p, o, dt, c, err;
};

cc_status cg_triples_open(cc_kb *kb, const cg_triple_pattern *pat, cg_triples **out)
{
    cg_triples *it;
    librdf_world *w;
    librdf_node *ns = NULL, *np = NULL, *no = NULL;
    librdf_statement *stmt;
    cc_status s;
    C_ASSERT(kb && out);
    *out = NULL;
    if (!(it = calloc(1, sizeof *it))) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    it->lock_fd = -1;
    if ((s = cg_graph_open_read(kb, &it->st, &it->lock_fd, NULL))) { free(it); return s; }
    w = it->st->world;
    if (pat && pat->subject) ns = librdf_new_node_from_uri_string(w, (const unsigned char *)pat->subject);
    if (pat && pat->predicate) np = librdf_new_node_from_uri_string(w, (const unsigned char *)pat->predicate);
    /* With subject, predicate and object all bound and no context,
     * librdf 1.0.17 leaks every statement it returns: the object is
     * then matched here instead (the (s, p) index still narrows it). */
    if (pat && pat->object && !pat->object_literal && pat->subject && pat->predicate &&
        pat->chunk_id <= 0) {
        if (!(it->object_iri = cc_strdup(pat->object))) {
            s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
            goto fail;
        }
    } else if (pat && pat->object && !pat->object_literal) {
        no = librdf_new_node_from_uri_string(w, (const unsigned char *)pat->object);
    }
    if (pat && pat->object && pat->object_literal && !(it->object_literal = cc_strdup(pat->object))) {
        s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        goto fail;
    }
    if ((pat && pat->subject && !*pat->subject) || (pat && pat->predicate && !*pat->predicate) ||
        (pat && pat->subject && !ns) || (pat && pat->predicate && !np) ||
        (pat && pat->object && !pat->object_literal && !no && !it->object_iri)) {
        if (ns) librdf_free_node(ns);
        if (np) librdf_free_node(np);
        if (no) librdf_free_node(no);
        s = cc_kb_seterr(kb, CC_INVALID, "triples: a subject, predicate or object is not an IRI");
        goto fail;
    }
    if (!(stmt = librdf_new_statement_from_nodes(w, ns, np, no))) {
        s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        goto fail;
    }
    if (pat && pat->chunk_id > 0) {
        char ctx[64];
        librdf_node *c;
        snprintf(ctx, sizeof ctx, "urn:cairn:chunk:%lld", (long long)pat->chunk_id);
        c = librdf_new_node_from_uri_string(w, (const unsigned char *)ctx);
        it->stream = c ? librdf_model_find_statements_in_context(it->st->model, stmt, c) : NULL;
        if (c) librdf_free_node(c);
    } else {
        it->stream = librdf_model_find_statements(it->st->model, stmt);
    }
    librdf_free_statement(stmt);
    if (!it->stream) { s = cc_kb_seterr(kb, CC_IO, "triples: the store cannot be read"); goto fail; }
    *out = it;
    return CC_OK;
fail:
    cg_triples_close(it);
    return s;
}

static const char *node_text(librdf_node *n, cc_buf *b, int *literal, cc_buf *dt, int *has_dt)
{
    cc_buf_reset(b);
    if (literal) *literal = 0;
    if (has_dt) *has_dt = 0;
    switch (librdf_node_get_type(n)) {
    case LIBRDF_NODE_TYPE_RESOURCE:
        cc_buf_puts(b, (const char *)librdf_uri_as_string(librdf_node_get_uri(n)));
        break;
    case LIBRDF_NODE_TYPE_LITERAL: {
        size_t len = 0;
        const char *v = (const char *)librdf_node_get_literal_value_as_counted_string(n, &len);
        librdf_uri *u = librdf_node_get_literal_value_datatype_uri(n);
        if (literal) *literal = 1;
        cc_buf_append(b, v ? v : "", v ? len : 0);
        if (u && dt) {
            cc_buf_reset(dt);
            cc_buf_puts(dt, (const char *)librdf_uri_as_string(u));
            *has_dt = 1;
        }
        break;
    }
    default:
        cc_buf_puts(b, "_:");
        cc_buf_puts(b, (const char *)librdf_node_get_blank_identifier(n));
    }
    if (cc_buf_putc(b, 0)) return NULL;     /* makes data non-NULL */
    b->len--;
    return b->data;
}

cc_status cg_triples_next(cg_triples *it, cg_triple_row *row, int *has_row)
{
    C_ASSERT(it && row && has_row);
    *has_row = 0;
    memset(row, 0, sizeof *row);
    for (;;) {
        librdf_statement *t;
        librdf_node *c;
        int lit = 0, has_dt = 0;
        if (it->started) librdf_stream_next(it->stream);
        it->started = 1;
        if (librdf_stream_end(it->stream)) return CC_OK;
        if (!(t = librdf_stream_get_object(it->stream))) {
            cc_buf_reset(&it->err);
            cc_buf_puts(&it->err, "the store returned no statement");
            return CC_IO;
        }
        c = librdf_stream_get_context2(it->stream);
        if (!node_text(librdf_statement_get_object(t), &it->o, &lit, &it->dt, &has_dt))
            return CC_NOMEM;
        if (it->object_literal && (!lit || strcmp(it->o.data, it->object_literal))) continue;
        if (it->object_iri && (lit || strcmp(it->o.data, it->object_iri))) continue;
        if (!node_text(librdf_statement_get_subject(t), &it->s, NULL, NULL, NULL) ||
            !node_text(librdf_statement_get_predicate(t), &it->p, NULL, NULL, NULL))
            return CC_NOMEM;
        cc_buf_reset(&it->c);
        if (c && !node_text(c, &it->c, NULL, NULL, NULL)) return CC_NOMEM;
        row->subject = it->s.data;
        row->predicate = it->p.data;
        row->object = it->o.data;
        row->object_literal = lit;
        row->datatype = has_dt ? it->dt.data : NULL;
        row->context = it->c.len ? it->c.data : "";
        if (it->c.len > 16 && !strncmp(it->c.data, "urn:cairn:chunk:", 16))
            cc_parse_i64(it->c.data + 16, 1, INT64_MAX, &row->chunk_id);
        *has_row = 1;
        return CC_OK;
    }
}

const char *cg_triples_errmsg(const cg_triples *it) { return it->err.data ? it->err.data : ""; }

void cg_triples_close(cg_triples *it)
{
    if (!it) return;
    if (it->stream) librdf_free_stream(it->stream);
    cg_graph_close_read(it->st, it->lock_fd);
    free(it->object_literal);
    free(it->object_iri);
    cc_buf_free(&it->s); cc_buf_free(&it->p); cc_buf_free(&it->o);
    cc_buf_free(&it->dt); cc_buf_free(&it->c); cc_buf_free(&it->err);
    free(it);
}

/* ---------------------------------------------------------------- export */

static const struct { const char *prefix, *ns; } prefixes[] = {
    {"cairn", "urn:cairn:ns#"},
    {"prov", "http://www.w3.org/ns/prov#"},
    {"rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"},
    {"rdfs", "http://www.w3.org/2000/01/rdf-schema#"},
    {"xsd", "http://www.w3.org/2001/XMLSchema#"},
};

cc_status cg_graph_export(cc_kb *kb, const char *format, FILE *f, size_t *n)
{
    cg_store *st = NULL;
    librdf_stream *str = NULL;
    cc_buf line = CC_BUF_INIT(0);
    size_t count = 0, i;
    int fd = -1, nquads;
    cc_status s;
    C_ASSERT(kb && format && f);
    if (n) *n = 0;
    nquads = !strcmp(format, "nquads");
    if (!nquads && strcmp(format, "turtle"))
        return cc_kb_seterr(kb, CC_INVALID, "export format must be nquads or turtle, not \"%s\"", format);
    if ((s = cg_graph_open_read(kb, &st, &fd, NULL))) return s;
    if (nquads) {
        if (!(str = librdf_model_as_stream(st->model))) {
            s = cc_kb_seterr(kb, CC_IO, "export: the store cannot be read");
            goto out;
        }
        for (; !librdf_stream_end(str); librdf_stream_next(str)) {
            librdf_statement *t = librdf_stream_get_object(str);
            librdf_node *c = librdf_stream_get_context2(str);
            cc_buf_reset(&line);
            if ((s = nt_term(&line, librdf_statement_get_subject(t))) || (s = cc_buf_putc(&line, ' ')) ||
                (s = nt_term(&line, librdf_statement_get_predicate(t))) || (s = cc_buf_putc(&line, ' ')) ||
                (s = nt_term(&line, librdf_statement_get_object(t))) ||
                (c && ((s = cc_buf_putc(&line, ' ')) || (s = nt_term(&line, c)))) ||
                (s = cc_buf_puts(&line, " .\n"))) {
                s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
                goto out;
            }
            if (fwrite(line.data, 1, line.len, f) != line.len) {
                s = cc_kb_seterr(kb, CC_IO, "export: write failed: %s", strerror(errno));
                goto out;
            }
            count++;
        }
    } else {
        /* the union graph: each triple once (a memory model drops repeats) */
        librdf_storage *mem = librdf_new_storage(st->world, "memory", NULL, NULL);
        librdf_model *m = mem ? librdf_new_model(st->world, mem, NULL) : NULL;
        librdf_serializer *ser = m ? librdf_new_serializer(st->world, "turtle", NULL, NULL) : NULL;
        if (ser) {
            for (i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
                librdf_uri *u = librdf_new_uri(st->world, (const unsigned char *)prefixes[i].ns);
                if (u) { librdf_serializer_set_namespace(ser, u, prefixes[i].prefix); librdf_free_uri(u); }
            }
            str = librdf_model_as_stream(st->model);
            for (; str && !librdf_stream_end(str); librdf_stream_next(str)) {
                librdf_statement *t = librdf_stream_get_object(str);
                if (!librdf_model_contains_statement(m, t)) {
                    librdf_model_add_statement(m, t);
                    count++;
                }
            }
            if (!str || librdf_serializer_serialize_model_to_file_handle(ser, f, NULL, m))
                s = cc_kb_seterr(kb, CC_IO, "export: the Turtle serializer failed");
        } else {
            s = cc_kb_seterr(kb, CC_NOMEM, "export: cannot make a Turtle serializer");
        }
        if (ser) librdf_free_serializer(ser);
        if (m) librdf_free_model(m);
        if (mem) librdf_free_storage(mem);
    }
    if (!s && fflush(f)) s = cc_kb_seterr(kb, CC_IO, "export: write failed: %s", strerror(errno));
    if (!s && n) *n = count;
out:
    if (str) librdf_free_stream(str);
    cc_buf_free(&line);
    cg_graph_close_read(st, fd);
    return s;
}
