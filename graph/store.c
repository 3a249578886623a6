/* store.c — the Redland (librdf) triple store of a KB: storage "hashes"
 * with hash-type "bdb" under KB/graph/, contexts on, and the predicate
 * index (p2so) too, so a pattern binding only the predicate is no scan.  Every triple is
 * added in the context of the chunk it came from; removing a chunk removes
 * its context.  librdf's log messages go to the handle's message. */
#include "graph_int.h"

#include <redland.h>
#include <string.h>

static int on_log(void *user, librdf_log_message *msg)
{
    cg_store *st = user;
    const char *m = librdf_log_message_message(msg);
    if (librdf_log_message_level(msg) >= LIBRDF_LOG_ERROR) {
        cc_buf_reset(&st->err);
        cc_buf_puts(&st->err, m ? m : "librdf error");
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

cc_status cg_store_open(const char *dir, int flags, cg_store **out)
{
    cg_store *st;
    cc_buf opt = CC_BUF_INIT(8192);
    C_ASSERT(dir && out);
    *out = NULL;
    if (strchr(dir, '\'') || strchr(dir, '\\'))
        return cc_seterr(CC_INVALID, "graph directory '%s' has a quote or backslash", dir);
    st = calloc(1, sizeof *st);
    if (!st) return CC_NOMEM;
    cc_buf_init(&st->err, 4096);
    if (!(st->world = librdf_new_world())) goto nomem;
    librdf_world_set_logger(st->world, st, on_log);
    librdf_world_open(st->world);
    if (cc_buf_printf(&opt, "hash-type='bdb',dir='%s',contexts='yes',index-predicates='yes',"
                      "new='%s',write='%s'",
                      dir, flags & CG_STORE_CREATE ? "yes" : "no",
                      flags & CG_STORE_READONLY ? "no" : "yes"))
        goto nomem;
    st->storage = librdf_new_storage(st->world, "hashes", "cairn", opt.data);
    cc_buf_free(&opt);
    if (!st->storage) {
        cc_seterr(CC_IO, "cannot open the Redland store in %s: %s", dir,
                  st->err.len ? st->err.data : "librdf_new_storage failed");
        cg_store_close(st);
        return CC_IO;
    }
    if (!(st->model = librdf_new_model(st->world, st->storage, NULL))) {
        cc_seterr(CC_IO, "cannot make a Redland model in %s", dir);
        cg_store_close(st);
        return CC_IO;
    }
    st->readonly = (flags & CG_STORE_READONLY) != 0;
    *out = st;
    return CC_OK;
nomem:
    cc_buf_free(&opt);
    cg_store_close(st);
    return CC_NOMEM;
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
