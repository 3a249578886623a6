/* store.c — the Redland (librdf) triple store of a KB: storage "hashes"
 * with hash-type "bdb" under KB/graph/ (or Redland's "postgresql" storage,
 * one model of a PostgreSQL database: see storage.c), contexts on, and the predicate
 * index (p2so) too, so a pattern binding only the predicate is no scan.  Every triple is
 * added in the context of the chunk it came from; removing a chunk removes
 * its context.  librdf's log messages go to the handle's message. */
#include "graph_int.h"

#include <redland.h>
#include <string.h>

/* Replaces every copy of the password in st->err by "***". */
static void mask_err(cg_store *st)
{
    size_t n = st->mask ? strlen(st->mask) : 0;
    char *hit;
    if (!n || !st->err.len) return;
    while ((hit = strstr(st->err.data, st->mask)) != NULL) {
        cc_buf b = CC_BUF_INIT(0);
        size_t at = (size_t)(hit - st->err.data);
        if (cc_buf_append(&b, st->err.data, at) || cc_buf_puts(&b, "***") ||
            cc_buf_puts(&b, hit + n)) {
            cc_buf_free(&b);
            cc_buf_reset(&st->err);
            cc_buf_puts(&st->err, "librdf error (message withheld)");
            return;
        }
        cc_buf_free(&st->err);
        st->err = b;
    }
}

static int on_log(void *user, librdf_log_message *msg)
{
    cg_store *st = user;
    const char *m = librdf_log_message_message(msg);
    if (librdf_log_message_level(msg) >= LIBRDF_LOG_ERROR) {
        size_t n;
        cc_buf_reset(&st->err);
        cc_buf_puts(&st->err, m ? m : "librdf error");
        /* libpq's messages end in a newline: one line for the user */
        while ((n = st->err.len) && (st->err.data[n - 1] == '\n' || st->err.data[n - 1] == ' '))
            st->err.data[--st->err.len] = 0;
        mask_err(st);
    }
    return 1;    /* handled: nothing printed */
}

static cc_status fail(cg_store *st, cc_status s, const char *what)
{
    if (!st->err.len) cc_buf_printf(&st->err, "%s failed", what);
    else {
        char *old = cc_buf_detach(&st->err);
        cc_buf_printf(&st->err, "%s: %s", what, old ? old : "");
        free(old);
    }
    return s;
}

/* The storage name and options for Redland.  *where: for messages. */
static cc_status storage_args(const cg_storage *g, int flags, cc_buf *opt, cc_buf *where)
{
    const char *yes_new = flags & CG_STORE_CREATE ? "yes" : "no";
    if (g->kind == CG_STORAGE_BDB) {
        if (strchr(g->dir, '\'') || strchr(g->dir, '\\'))
            return cc_seterr(CC_INVALID, "graph directory '%s' has a quote or backslash", g->dir);
        if (cc_buf_puts(where, g->dir) ||
            cc_buf_printf(opt, "hash-type='bdb',dir='%s',contexts='yes',index-predicates='yes',"
                          "new='%s',write='%s'", g->dir, yes_new,
                          flags & CG_STORE_READONLY ? "no" : "yes"))
            return CC_NOMEM;
        return CC_OK;
    }
    if (cc_buf_puts(where, "the PostgreSQL graph store (") || cg_storage_describe(g, where) ||
        cc_buf_putc(where, ')') ||
        cc_buf_printf(opt, "host='%s',port='%s',dbname='%s',user='%s',password='%s',new='%s'",
                      g->host, g->port, g->dbname, g->user, g->password, yes_new))
        return CC_NOMEM;
    return CC_OK;
}

cc_status cg_store_open_storage(const cg_storage *g, int flags, cg_store **out)
{
    cg_store *st;
    cc_buf opt = CC_BUF_INIT(8192), where = CC_BUF_INIT(0);
    cc_status s;
    int pg;
    C_ASSERT(g && out);
    *out = NULL;
    pg = g->kind == CG_STORAGE_POSTGRESQL;
    if ((s = storage_args(g, flags, &opt, &where))) {
        cc_buf_free(&opt);
        cc_buf_free(&where);
        return s == CC_NOMEM ? cc_seterr(s, "out of memory") : s;
    }
    st = calloc(1, sizeof *st);
    if (!st) goto nomem;
    cc_buf_init(&st->err, 4096);
    if (pg && g->password && *g->password && !(st->mask = cc_strdup(g->password))) goto nomem;
    if (!(st->world = librdf_new_world())) goto nomem;
    librdf_world_set_logger(st->world, st, on_log);
    librdf_world_open(st->world);
    st->storage = librdf_new_storage(st->world, pg ? "postgresql" : "hashes",
                                     pg ? g->model : "cairn", opt.data);
    cc_buf_free(&opt);     /* it held the password */
    if (!st->storage) {
        const char *why = st->err.len ? st->err.data : "librdf_new_storage failed";
        if (pg && !st->err.len)
            why = "Redland has no postgresql storage (install librdf-storage-postgresql)";
        s = cc_seterr(CC_IO, "cannot open %s%s: %s", pg ? "" : "the Redland store in ",
                      where.data, why);
        goto fail;
    }
    if (!(st->model = librdf_new_model(st->world, st->storage, NULL))) {
        s = cc_seterr(CC_IO, "cannot make a Redland model in %s", where.data);
        goto fail;
    }
    /* No transaction around an update on postgresql: Redland adds a node
     * by INSERT and takes the duplicate-key error as "already there",
     * which would abort a transaction.  Each row commits on its own; an
     * interrupted update is caught by the state file (clean 0). */
    st->readonly = (flags & CG_STORE_READONLY) != 0;
    if (pg && !st->readonly && (s = cg_pg_ensure_indexes(g))) {
        char *why = cc_strdup(cc_errmsg());
        s = cc_seterr(s, "cannot index %s: %s", where.data, why ? why : "out of memory");
        free(why);
        goto fail;
    }
    cc_buf_free(&where);
    *out = st;
    return CC_OK;
nomem:
    s = cc_seterr(CC_NOMEM, "out of memory");
fail:
    cc_buf_free(&opt);
    cc_buf_free(&where);
    cg_store_close(st);
    return s;
}

cc_status cg_store_open(const char *dir, int flags, cg_store **out)
{
    cg_storage g;
    C_ASSERT(dir && out);
    memset(&g, 0, sizeof g);
    g.kind = CG_STORAGE_BDB;
    g.dir = (char *)dir;       /* borrowed: g is not freed */
    return cg_store_open_storage(&g, flags, out);
}

void cg_store_close(cg_store *st)
{
    if (!st) return;
    if (st->model) {
        if (!st->readonly) librdf_model_sync(st->model);
        librdf_free_model(st->model);
    }
    if (st->storage) librdf_free_storage(st->storage);
    if (st->world) librdf_free_world(st->world);
    if (st->mask) {
        memset(st->mask, 0, strlen(st->mask));
        free(st->mask);
    }
    cc_buf_free(&st->err);
    free(st);
}

const char *cg_store_errmsg(const cg_store *st) { return st->err.data ? st->err.data : ""; }

static librdf_node *iri(cg_store *st, const char *s)
{
    return librdf_new_node_from_uri_string(st->world, (const unsigned char *)s);
}

cc_status cg_store_add(cg_store *st, const char *ctx, const char *s, const char *p,
                       const char *o, int o_literal)
{
    librdf_node *c = NULL, *ns = NULL, *np = NULL, *no = NULL;
    librdf_statement *stmt = NULL;
    cc_status rc = CC_OK;
    C_ASSERT(st && ctx && s && p && o);
    cc_buf_reset(&st->err);
    if (!*ctx || !*s || !*p) { cc_buf_puts(&st->err, "empty IRI"); return CC_INVALID; }
    c = iri(st, ctx);
    ns = iri(st, s);
    np = iri(st, p);
    no = o_literal ? librdf_new_node_from_literal(st->world, (const unsigned char *)o, NULL, 0)
                   : iri(st, o);
    if (!c || !ns || !np || !no) { rc = fail(st, CC_INVALID, "making nodes"); goto out; }
    stmt = librdf_new_statement_from_nodes(st->world, ns, np, no);
    ns = np = no = NULL;                        /* owned by the statement now */
    if (!stmt) { rc = fail(st, CC_NOMEM, "making a statement"); goto out; }
    {   /* the hashes storage keeps duplicates within a context: look first */
        librdf_stream *f = librdf_model_find_statements_in_context(st->model, stmt, c);
        int present = f && !librdf_stream_end(f);
        if (f) librdf_free_stream(f);
        if (!present && librdf_model_context_add_statement(st->model, c, stmt))
            rc = fail(st, CC_IO, "adding a triple");
    }
out:
    if (stmt) librdf_free_statement(stmt);
    if (ns) librdf_free_node(ns);
    if (np) librdf_free_node(np);
    if (no) librdf_free_node(no);
    if (c) librdf_free_node(c);
    return rc;
}

cc_status cg_store_remove_context(cg_store *st, const char *ctx)
{
    librdf_node *c;
    cc_status rc = CC_OK;
    C_ASSERT(st && ctx);
    cc_buf_reset(&st->err);
    if (!(c = iri(st, ctx))) return fail(st, CC_INVALID, "making the context node");
    if (librdf_model_context_remove_statements(st->model, c))
        rc = fail(st, CC_IO, "removing a context");
    librdf_free_node(c);
    return rc;
}

cc_status cg_store_count(cg_store *st, const char *ctx, size_t *out)
{
    librdf_stream *s;
    librdf_node *c = NULL;
    size_t n = 0;
    C_ASSERT(st && out);
    *out = 0;
    cc_buf_reset(&st->err);
    if (ctx) {
        if (!(c = iri(st, ctx))) return fail(st, CC_INVALID, "making the context node");
        s = librdf_model_context_as_stream(st->model, c);
    } else {
        s = librdf_model_as_stream(st->model);
    }
    if (!s) {
        if (c) librdf_free_node(c);
        return fail(st, CC_IO, "listing triples");
    }
    while (!librdf_stream_end(s)) { n++; librdf_stream_next(s); }
    librdf_free_stream(s);
    if (c) librdf_free_node(c);
    *out = n;
    return CC_OK;
}

cc_status cg_store_sync(cg_store *st)
{
    C_ASSERT(st);
    cc_buf_reset(&st->err);
    return librdf_model_sync(st->model) ? fail(st, CC_IO, "syncing the store") : CC_OK;
}
