/* pgindex.c — indexes on a PostgreSQL graph store's statement table.
 * Redland's postgresql storage makes Statements<model id> without any
 * index, so every lookup (a context removed, a triple looked up by
 * cairn check, a SPARQL pattern) scans the whole model: a cost that grows
 * with the store for each lookup.  A writer adds two indexes, by context
 * and by subject-predicate-object, when they are missing.  It connects
 * with libpq on the same parameters as Redland (keyword arrays, no
 * string building); libpq's messages carry no password. */
#include "graph_int.h"

#include <libpq-fe.h>
#include <string.h>

static cc_status pq_fail(PGconn *c, PGresult *r, const char *what)
{
    const char *m = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
    size_t n = m ? strlen(m) : 0;
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' ')) n--;
    if (r) PQclear(r);
    return cc_seterr(CC_IO, "%s: %.*s", what, (int)n, m ? m : "");
}

static void quiet(void *arg, const char *msg) { (void)arg; (void)msg; }   /* NOTICEs */

cc_status cg_pg_ensure_indexes(const cg_storage *g)
{
    const char *keys[] = {"host", "port", "dbname", "user", "password", "connect_timeout", NULL};
    const char *vals[] = {g->host, g->port, g->dbname, g->user, g->password, "10", NULL};
    const char *params[1];
    cc_buf sql = CC_BUF_INIT(0);
    PGconn *c;
    PGresult *r;
    cc_status s = CC_OK;
    const char *id;
    size_t i;
    C_ASSERT(g && g->kind == CG_STORAGE_POSTGRESQL);
    if (!g->password || !*g->password) {      /* empty: libpq reads ~/.pgpass */
        keys[4] = "connect_timeout";
        vals[4] = "10";
        keys[5] = vals[5] = NULL;
    }
    c = PQconnectdbParams(keys, vals, 0);
    if (!c) return cc_seterr(CC_NOMEM, "out of memory");
    if (PQstatus(c) != CONNECTION_OK) { s = pq_fail(c, NULL, "connecting"); goto out; }
    PQsetNoticeProcessor(c, quiet, NULL);
    params[0] = g->model;
    r = PQexecParams(c, "SELECT ID FROM Models WHERE Name = $1", 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) { s = pq_fail(c, r, "finding the model"); goto out; }
    if (PQntuples(r) != 1) {
        PQclear(r);
        s = cc_seterr(CC_IO, "the model %s is not in the Models table", g->model);
        goto out;
    }
    id = PQgetvalue(r, 0, 0);
    for (i = 0; id[i]; i++)
        if (id[i] < '0' || id[i] > '9') break;
    if (!i || id[i] || i > 20) {
        PQclear(r);
        s = cc_seterr(CC_CORRUPT, "the model %s has a strange id in the Models table", g->model);
        goto out;
    }
    if (cc_buf_printf(&sql, "CREATE INDEX IF NOT EXISTS statements%s_c ON statements%s (Context);"
                      "CREATE INDEX IF NOT EXISTS statements%s_spo ON statements%s "
                      "(Subject, Predicate, Object)", id, id, id, id)) {
        PQclear(r);
        s = cc_seterr(CC_NOMEM, "out of memory");
        goto out;
    }
    PQclear(r);
    r = PQexec(c, sql.data);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) { s = pq_fail(c, r, "making its indexes"); goto out; }
    PQclear(r);
out:
    PQfinish(c);
    cc_buf_free(&sql);
    return s;
}
