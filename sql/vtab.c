/* vtab.c — what search(), subgraph() and triples share as SQLite virtual
 * tables: one registration record per module (its cq_vtab_def, its
 * context, the sqlite3_module built from the def), and the connect,
 * disconnect, open, close, error and table-valued-function argument
 * plumbing. Each table's own file keeps only its rows: xBestIndex (or the
 * argument helper), xFilter, xNext, xEof, xColumn, xRowid. */
#include "sql_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct vtab_reg {
    sqlite3_module     module;   /* first: SQLite holds a pointer to it until the module is dropped */
    const cq_vtab_def *def;
    void              *ctx;
    void             (*ctx_free)(void *);
} vtab_reg;

static int x_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                     sqlite3_vtab **out, char **err)
{
    vtab_reg *r = aux;
    cq_vtab *v;
    int rc;
    (void)argc; (void)argv;
    rc = sqlite3_declare_vtab(db, r->def->schema);
    if (rc != SQLITE_OK) {
        *err = sqlite3_mprintf("%s", sqlite3_errmsg(db));
        return rc;
    }
    if (!(v = sqlite3_malloc(sizeof *v))) return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->def = r->def;
    v->ctx = r->ctx;
    *out = &v->base;
    return SQLITE_OK;
}

static int x_disconnect(sqlite3_vtab *v) { sqlite3_free(v); return SQLITE_OK; }

static int x_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    const cq_vtab *v = (const cq_vtab *)vt;
    sqlite3_vtab_cursor *c = sqlite3_malloc((int)v->def->cursor_size);
    if (!c) return SQLITE_NOMEM;
    memset(c, 0, v->def->cursor_size);
    *out = c;
    return SQLITE_OK;
}

static int x_close(sqlite3_vtab_cursor *cur)
{
    const cq_vtab *v = (const cq_vtab *)cur->pVtab;
    if (v->def->clear) v->def->clear(cur);
    sqlite3_free(cur);
    return SQLITE_OK;
}

static void reg_free(void *p)
{
    vtab_reg *r = p;
    if (!r) return;
    if (r->ctx_free) r->ctx_free(r->ctx);
    sqlite3_free(r);
}

int cq_vtab_register(sqlite3 *db, const cq_vtab_def *def, void *ctx, void (*ctx_free)(void *))
{
    vtab_reg *r = sqlite3_malloc(sizeof *r);
    if (!r) {
        if (ctx_free) ctx_free(ctx);
        return SQLITE_NOMEM;
    }
    memset(r, 0, sizeof *r);
    r->def = def;
    r->ctx = ctx;
    r->ctx_free = ctx_free;
    r->module.iVersion = 0;
    r->module.xConnect = x_connect;     /* no xCreate: eponymous only */
    r->module.xBestIndex = def->best_index;
    r->module.xDisconnect = x_disconnect;
    r->module.xOpen = x_open;
    r->module.xClose = x_close;
    r->module.xFilter = def->filter;
    r->module.xNext = def->next;
    r->module.xEof = def->eof;
    r->module.xColumn = def->column;
    r->module.xRowid = def->rowid;
    /* on failure SQLite calls the destructor itself */
    return sqlite3_create_module_v2(db, def->name, &r->module, r, reg_free);
}

int cq_vtab_err(sqlite3_vtab *vt, const char *msg)
{
    const cq_vtab *v = (const cq_vtab *)vt;
    sqlite3_free(vt->zErrMsg);
    vt->zErrMsg = sqlite3_mprintf("%s: %s", v->def->err_prefix, msg);
    return SQLITE_ERROR;
}

int cq_vtab_args_best_index(sqlite3_index_info *ix, int first_arg, int n_args, double cost,
                            sqlite3_int64 rows)
{
    int i, pos[CQ_VTAB_ARGS_MAX], bits = 0, argn = 0, b;
    C_ASSERT(n_args >= 1 && n_args <= CQ_VTAB_ARGS_MAX);
    for (b = 0; b < CQ_VTAB_ARGS_MAX; b++) pos[b] = -1;
    for (i = 0; i < ix->nConstraint; i++) {
        int c = ix->aConstraint[i].iColumn;
        if (c < first_arg || c >= first_arg + n_args ||
            ix->aConstraint[i].op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
        if (!ix->aConstraint[i].usable) return SQLITE_CONSTRAINT;
        pos[c - first_arg] = i;
    }
    if (pos[0] < 0) return SQLITE_CONSTRAINT;          /* the first argument is required */
    for (b = 0; b < n_args; b++) {
        if (pos[b] < 0) continue;
        bits |= 1 << b;
        ix->aConstraintUsage[pos[b]].argvIndex = ++argn;
        ix->aConstraintUsage[pos[b]].omit = 1;
    }
    ix->idxNum = bits;
    ix->estimatedCost = cost;
    ix->estimatedRows = rows;
    return SQLITE_OK;
}
