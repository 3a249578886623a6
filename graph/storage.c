/* storage.c — which Redland storage holds a KB's graph store, from the
 * KB's settings: "bdb" (Redland "hashes" on Berkeley DB files under
 * KB/graph/, the default) or "postgresql" (Redland's postgresql storage,
 * librdf-storage-postgresql, on a PostgreSQL server).
 *
 * Settings (cairn.json):
 *   graph.storage              "bdb" | "postgresql"
 *   graph.postgresql.conninfo  libpq keyword=value pairs separated by
 *                              spaces: host, port, dbname, user (no
 *                              quoting; a password is refused: cairn.json
 *                              is readable through SHOW SETTINGS)
 *   graph.postgresql.model     the model name inside that database; each
 *                              KB has its own (Redland keeps one table
 *                              Statements<hash of name> per model), so two
 *                              KBs on one database never collide
 * Missing fields come from PGHOST, PGPORT, PGUSER, PGDATABASE, then
 * localhost, 5432, the login name, the user name.  The password comes from
 * PGPASSWORD, else (empty) libpq reads ~/.pgpass or PGPASSFILE.
 *
 * Redland builds its connection string with unquoted %s, and its option
 * string quotes values with single quotes: a value with a space, a quote,
 * a backslash or a control character is refused rather than passed on. */
#include "graph_int.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cg_storage_free(cg_storage *g)
{
    if (!g) return;
    free(g->dir); free(g->host); free(g->port); free(g->dbname);
    free(g->user); free(g->password); free(g->model);
    memset(g, 0, sizeof *g);
}

/* 1 when v can go into Redland's option string and libpq's conninfo. */
static int plain_value(const char *v)
{
    const unsigned char *p;
    for (p = (const unsigned char *)v; *p; p++)
        if (*p <= ' ' || *p == '\'' || *p == '"' || *p == '\\' || *p == ',' || *p == 127) return 0;
    return 1;
}

static cc_status set_field(char **slot, const char *v, size_t n)
{
    free(*slot);
    *slot = cc_strndup(v, n);
    return *slot ? CC_OK : CC_NOMEM;
}

cc_status cg_storage_parse_conninfo(const char *conninfo, cg_storage *g)
{
    const char *p = conninfo;
    C_ASSERT(conninfo && g);
    while (*p) {
        const char *k, *eq, *v;
        size_t kn, vn;
        char **slot;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        k = p;
        while (*p && *p != '=' && *p != ' ' && *p != '\t') p++;
        kn = (size_t)(p - k);
        if (*p != '=')
            return cc_seterr(CC_INVALID, "graph.postgresql.conninfo: '%.*s' is not keyword=value",
                             (int)(kn > 40 ? 40 : kn), k);
        eq = p++;
        v = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        vn = (size_t)(p - v);
        if (kn == 8 && !strncmp(k, "password", 8))
            return cc_seterr(CC_INVALID, "graph.postgresql.conninfo has a password (masked here): "
                             "cairn.json is readable by SHOW SETTINGS, so put the password in "
                             "PGPASSWORD or ~/.pgpass instead");
        if (kn == 4 && !strncmp(k, "host", 4)) slot = &g->host;
        else if (kn == 4 && !strncmp(k, "port", 4)) slot = &g->port;
        else if ((kn == 6 && !strncmp(k, "dbname", 6)) || (kn == 8 && !strncmp(k, "database", 8)))
            slot = &g->dbname;
        else if (kn == 4 && !strncmp(k, "user", 4)) slot = &g->user;
        else
            return cc_seterr(CC_INVALID, "graph.postgresql.conninfo: unknown keyword '%.*s' "
                             "(host, port, dbname and user are understood)",
                             (int)(kn > 40 ? 40 : kn), k);
        if (!vn || *v == '\'' || *v == '"')
            return cc_seterr(CC_INVALID, "graph.postgresql.conninfo: %.*s needs a plain value "
                             "(no quotes, no spaces)", (int)(eq - k), k);
        if (set_field(slot, v, vn)) return CC_NOMEM;
        if (!plain_value(*slot))
            return cc_seterr(CC_INVALID, "graph.postgresql.conninfo: the value of %.*s has a quote, "
                             "backslash or comma, which Redland's postgresql storage cannot pass",
                             (int)(eq - k), k);
    }
    if (g->port) {
        int64_t port;
        if (cc_parse_i64(g->port, 1, 65535, &port))
            return cc_seterr(CC_INVALID, "graph.postgresql.conninfo: port '%s' is not 1-65535", g->port);
    }
    return CC_OK;
}

/* Fills an unset field from the environment variable env, else dflt. */
static cc_status fill(char **slot, const char *env, const char *dflt, const char *what)
{
    const char *v = env ? getenv(env) : NULL;
    if (*slot) return CC_OK;
    if (!v || !*v) v = dflt;
    if (!v) return cc_seterr(CC_INVALID, "graph store: no PostgreSQL %s (set it in "
                             "graph.postgresql.conninfo)", what);
    if (!plain_value(v))
        return cc_seterr(CC_INVALID, "graph store: the PostgreSQL %s from %s has a space, quote, "
                         "backslash or comma, which Redland's postgresql storage cannot pass",
                         what, env ? env : "the default");
    return set_field(slot, v, strlen(v));
}

cc_status cg_storage_from_kb(cc_kb *kb, cg_storage *g)
{
    const char *kind, *conninfo, *model, *pw;
    cc_buf dir = CC_BUF_INIT(0);
    cc_status s;
    memset(g, 0, sizeof *g);
    if ((s = cc_kb_setting_str(kb, "graph.storage", "bdb", &kind))) return s;
    if (!strcmp(kind, "bdb")) {
        g->kind = CG_STORAGE_BDB;
        if (cc_kb_path(kb, "graph", &dir)) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        g->dir = cc_buf_detach(&dir);
        return g->dir ? CC_OK : cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    }
    if (strcmp(kind, "postgresql"))
        return cc_kb_seterr(kb, CC_INVALID, "graph.storage must be \"bdb\" or \"postgresql\", not \"%s\"",
                            kind);
    g->kind = CG_STORAGE_POSTGRESQL;
    if ((s = cc_kb_setting_str(kb, "graph.postgresql.conninfo", "", &conninfo)) ||
        (s = cc_kb_setting_str(kb, "graph.postgresql.model", NULL, &model)))
        goto fail;
    if (!model || !*model || strlen(model) > 200 || !plain_value(model)) {
        s = cc_kb_seterr(kb, CC_INVALID, "graph.postgresql.model must name this KB's model in the "
                         "database: 1-200 characters, no spaces, quotes, backslashes or commas "
                         "(cairn init --graph-storage postgresql sets one)");
        goto fail;
    }
    if ((s = cg_storage_parse_conninfo(conninfo, g))) goto kbfail;
    {
        struct passwd *pw_ent = getpwuid(geteuid());
        const char *login = pw_ent && pw_ent->pw_name ? pw_ent->pw_name : NULL;
        if ((s = fill(&g->host, "PGHOST", "localhost", "host")) ||
            (s = fill(&g->port, "PGPORT", "5432", "port")) ||
            (s = fill(&g->user, "PGUSER", login, "user")) ||
            (s = fill(&g->dbname, "PGDATABASE", g->user, "database")))
            goto kbfail;
    }
    pw = getenv("PGPASSWORD");
    if (!pw) pw = "";
    if (!plain_value(pw)) {
        s = cc_kb_seterr(kb, CC_INVALID, "graph store: the password in PGPASSWORD has a space, "
                         "quote, backslash or comma, which Redland's postgresql storage cannot "
                         "pass (use ~/.pgpass)");
        goto fail;
    }
    if (!(g->password = cc_strdup(pw)) || !(g->model = cc_strdup(model))) {
        s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        goto fail;
    }
    return CC_OK;
kbfail:
    if (s == CC_NOMEM) cc_kb_seterr(kb, s, "out of memory");
    else cc_kb_seterr(kb, s, "%s", cc_errmsg());
fail:
    cg_storage_free(g);
    return s;
}

cc_status cg_storage_describe(const cg_storage *g, cc_buf *out)
{
    if (g->kind == CG_STORAGE_BDB) return cc_buf_puts(out, "bdb");
    return cc_buf_printf(out, "postgresql host=%s port=%s dbname=%s user=%s model=%s",
                         g->host, g->port, g->dbname, g->user, g->model);
}

cc_status cg_storage_copy(const cg_storage *from, cg_storage *to)
{
    memset(to, 0, sizeof *to);
    to->kind = from->kind;
#define DUP(f) if (from->f && !(to->f = cc_strdup(from->f))) goto nomem
    DUP(dir); DUP(host); DUP(port); DUP(dbname); DUP(user); DUP(password); DUP(model);
#undef DUP
    return CC_OK;
nomem:
    cg_storage_free(to);
    return CC_NOMEM;
}
