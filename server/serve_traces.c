/* serve_traces.c — the REST routes the trace browser reads (issue 9):
 *
 *   GET /v1/traces              filtered, sorted, paged list (with each
 *                               trace's own chain-link status)
 *   GET /v1/traces/verify       the whole chain (ca_trace_verify)
 *   GET /v1/traces/export       the filtered traces as JSONL, streamed
 *   GET /v1/traces/{id}         one trace's JSON plus its verification
 *   GET /v1/traces/{id}/raw     the stored JSON document byte for byte
 *   GET /v1/chunks/{id}         a chunk's text and offsets and its document
 *
 * Filters (list and export): from, to (prefixes of the UTC ISO 8601
 * created_at, both inclusive: to=2026-12-01 takes that whole day), caller
 * (exact), q (substring of the question or the answer text; ASCII letters
 * case-insensitive), status (ok | broken). List only: sort (time | caller |
 * question), order (asc | desc; default time desc), limit (1..1000, 50),
 * offset.
 *
 * A trace's verification status, from its row alone and the row before it:
 * "ok"; "edited" (hash != sha256(prev_hash || json)); "relinked" (prev_hash
 * is not the previous row's hash: a trace before it was deleted, or the
 * rows were reordered).
 *
 * The status filter does not re-hash every trace on each request: the
 * server remembers, per process, how far the chain has been hashed (the
 * last seq, its stored hash, the row count up to it) and which rows up to
 * there were not "ok"; a request hashes only the traces added since. The
 * remembered prefix is dropped (and hashed again on the next filtered
 * request) when rows up to it were deleted, its last row's hash changed, a
 * listed row's fresh status disagrees with it, or GET /v1/traces/verify
 * found the chain broken (or intact where a row was remembered broken).
 * An edit to the JSON of an already-hashed trace is therefore seen by the
 * filter only after one of those; GET /v1/traces/verify, the detail routes,
 * each listed row's "verification" and `cairn trace verify` always hash
 * afresh. */
#define _GNU_SOURCE
#include "serve.h"
#include "ask.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define LIST_LIMIT_MAX 1000
#define TEXT_ARG_MAX   1000          /* bytes of caller / q */

/* The hash of the row before t (by seq), or 64 zeros for the first. */
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define BEFORE_SQL "coalesce((SELECT p.hash FROM traces p WHERE p.seq < t.seq" \
                   " ORDER BY p.seq DESC LIMIT 1), '" ZERO_HASH "')"

/* ---------------------------------------------------------------- status */

/* "ok", "edited" or "relinked" (see the top of the file); computed into
 * computed[65] when not NULL. */
static const char *row_status(const char *prev, const char *before, const char *json,
                              const char *hash, char *computed)
{
    cc_sha256 c;
    uint8_t d[32];
    char hex[65];
    if (!prev || !before || !json || !hash) return "edited";
    cc_sha256_init(&c);
    cc_sha256_update(&c, prev, strlen(prev));
    cc_sha256_update(&c, json, strlen(json));
    cc_sha256_final(&c, d);
    cc_hex(d, 32, hex);
    if (computed) memcpy(computed, hex, 65);
    if (strcmp(hex, hash)) return "edited";
    if (strcmp(prev, before)) return "relinked";
    return "ok";
}

static const char *status_message(const char *st)
{
    if (!strcmp(st, "ok"))
        return "its hash matches its content and it links to the trace before it";
    if (!strcmp(st, "edited"))
        return "edited: its stored hash does not match sha256(prev_hash || json)";
    return "relinked: its prev_hash is not the hash of the trace before it (a trace before it"
           " was deleted, or the traces were reordered)";
}

/* SQL: cairn_trace_status(prev_hash, before, json, hash) -> row_status */
static void sql_trace_status(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    sqlite3_result_text(ctx, row_status((const char *)sqlite3_value_text(argv[0]),
                                        (const char *)sqlite3_value_text(argv[1]),
                                        (const char *)sqlite3_value_text(argv[2]),
                                        (const char *)sqlite3_value_text(argv[3]), NULL),
                        -1, SQLITE_STATIC);
}

/* ---------------------------------------------------------------- hashed prefix */

/* What one request uses of the hashed prefix: the traces with seq <= upto
 * are "ok" unless their seq is in bad (ascending). Read by the SQL
 * function cairn_trace_known(seq, :vsnap) through sqlite3_bind_pointer. */
typedef struct vsnap {
    int64_t  upto;
    int64_t *bad;      /* owned; free with vsnap_free */
    size_t   n_bad;
} vsnap;

#define VSNAP_PTR "cairn_trace_vsnap"

static void vsnap_free(vsnap *v)
{
    free(v->bad);
    memset(v, 0, sizeof *v);
}

static struct {
    pthread_mutex_t mu;
    int64_t         upto;        /* last seq hashed (0: none) */
    int64_t         count;       /* rows with seq <= upto */
    char            hash[65];    /* stored hash of row upto: the next row's expected prev_hash */
    int64_t        *bad;         /* seqs <= upto not "ok", ascending */
    size_t          n_bad, cap;
} VC = {.mu = PTHREAD_MUTEX_INITIALIZER, .hash = ZERO_HASH};

static void vc_reset_locked(void)
{
    VC.upto = VC.count = 0;
    memcpy(VC.hash, ZERO_HASH, 65);
    VC.n_bad = 0;
}

/* Forgets the hashed prefix: the next filtered request hashes every trace. */
static void vc_invalidate(void)
{
    pthread_mutex_lock(&VC.mu);
    vc_reset_locked();
    pthread_mutex_unlock(&VC.mu);
}

/* Checks the hashed prefix against db (rows deleted up to it, its last
 * row's hash changed: start over), hashes the traces after it, and copies
 * the result to *out. Returns SQLITE_OK or the failing SQLite code (out is
 * then empty, upto 0: the caller's SQL hashes every row itself). */
static int vc_refresh(sqlite3 *db, vsnap *out)
{
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_OK;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&VC.mu);
    if (VC.upto > 0) {
        const char *h;
        rc = sqlite3_prepare_v2(db, "SELECT count(*), (SELECT hash FROM traces WHERE seq = ?1)"
                                " FROM traces WHERE seq <= ?1", -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, VC.upto);
            if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                rc = SQLITE_OK;
                h = (const char *)sqlite3_column_text(st, 1);
                if (sqlite3_column_int64(st, 0) != VC.count || !h || strcmp(h, VC.hash))
                    vc_reset_locked();
            }
        }
        sqlite3_finalize(st);
        st = NULL;
        if (rc != SQLITE_OK) goto fail;
    }
    rc = sqlite3_prepare_v2(db, "SELECT seq, json, prev_hash, hash FROM traces WHERE seq > ?1"
                            " ORDER BY seq", -1, &st, NULL);
    if (rc != SQLITE_OK) goto fail;
    sqlite3_bind_int64(st, 1, VC.upto);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *json = (const char *)sqlite3_column_text(st, 1);
        const char *prev = (const char *)sqlite3_column_text(st, 2);
        const char *hash = (const char *)sqlite3_column_text(st, 3);
        int64_t seq = sqlite3_column_int64(st, 0);
        if (strcmp(row_status(prev, VC.hash, json, hash, NULL), "ok")) {
            if (VC.n_bad == VC.cap) {
                size_t cap = VC.cap ? VC.cap * 2 : 64;
                int64_t *nb = realloc(VC.bad, cap * sizeof *nb);
                if (!nb) { rc = SQLITE_NOMEM; goto fail; }
                VC.bad = nb;
                VC.cap = cap;
            }
            VC.bad[VC.n_bad++] = seq;
        }
        /* the next row's "before" is this row's stored hash, as in BEFORE_SQL */
        if (hash && strlen(hash) < sizeof VC.hash) memcpy(VC.hash, hash, strlen(hash) + 1);
        else memcpy(VC.hash, "-", 2);   /* NULL or longer: no prev_hash links to it */
        VC.upto = seq;
        VC.count++;
    }
    if (rc != SQLITE_DONE) goto fail;
    rc = SQLITE_OK;
    sqlite3_finalize(st);
    out->upto = VC.upto;
    if (VC.n_bad) {
        if (!(out->bad = malloc(VC.n_bad * sizeof *out->bad))) {
            out->upto = 0;
        } else {
            memcpy(out->bad, VC.bad, VC.n_bad * sizeof *out->bad);
            out->n_bad = VC.n_bad;
        }
    }
    pthread_mutex_unlock(&VC.mu);
    return rc;
fail:
    sqlite3_finalize(st);
    vc_reset_locked();
    pthread_mutex_unlock(&VC.mu);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* 1 when seq (<= v->upto) was "ok" when hashed. */
static int vsnap_ok(const vsnap *v, int64_t seq)
{
    return !v->n_bad || !bsearch(&seq, v->bad, v->n_bad, sizeof *v->bad, cmp_i64);
}

/* SQL: cairn_trace_known(seq, :vsnap) -> 1 ("ok") or 0, for seq <= upto */
static void sql_trace_known(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const vsnap *v = sqlite3_value_pointer(argv[1], VSNAP_PTR);
    (void)argc;
    if (!v) { sqlite3_result_error(ctx, "cairn_trace_known: no snapshot bound", -1); return; }
    sqlite3_result_int(ctx, vsnap_ok(v, sqlite3_value_int64(argv[0])));
}

/* ---------------------------------------------------------------- filters */

enum { SORT_TIME, SORT_CALLER, SORT_QUESTION };

typedef struct filt {
    const char *from, *to, *caller, *q, *status;   /* borrowed from the connection */
    int         sort, desc;
    int64_t     limit, offset;
} filt;

typedef struct argcheck {
    const char *const *allowed;
    const char        *bad;       /* first unknown argument */
} argcheck;

static enum MHD_Result arg_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    argcheck *a = cls;
    int i;
    (void)kind; (void)value;
    for (i = 0; a->allowed[i] && strcmp(a->allowed[i], key); i++) {}
    if (!a->allowed[i] && !a->bad) a->bad = key;
    return MHD_YES;
}

/* A prefix of an ISO 8601 UTC time: starts with 4 digits, then only
 * digits and - : T Z . (4..40 bytes). */
static int time_ok(const char *s)
{
    size_t n = strlen(s), i;
    if (n < 4 || n > 40) return 0;
    for (i = 0; i < n; i++) {
        if (i < 4 ? (s[i] < '0' || s[i] > '9')
                  : !((s[i] >= '0' && s[i] <= '9') || strchr("-:TZ.", s[i]))) return 0;
    }
    return 1;
}

/* Reads and checks the query arguments; paged = the list's sort/paging.
 * On bad input fills rp with a 400 and returns -1. */
static int filt_parse(struct MHD_Connection *c, int paged, filt *f, serve_reply *rp)
{
    static const char *const list_args[] = {"from", "to", "caller", "q", "status", "sort",
                                            "order", "limit", "offset", NULL};
    argcheck a = {list_args, NULL};
    const char *v;
    memset(f, 0, sizeof *f);
    f->desc = 1;
    f->limit = paged ? 50 : -1;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, arg_iter, &a);
    if (!a.bad && !paged) {   /* export: filters only */
        static const char *const paging[] = {"sort", "order", "limit", "offset", NULL};
        for (int i = 0; paging[i]; i++)
            if (MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, paging[i])) a.bad = paging[i];
    }
    if (a.bad) {
        serve_reply_error(rp, 400, "bad_parameter", "unknown parameter \"%.64s\" (use %s)", a.bad,
                          paged ? "from, to, caller, q, status, sort, order, limit, offset"
                                : "from, to, caller, q, status");
        return -1;
    }
#define ARG(name) MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name)
    f->from = ARG("from");
    f->to = ARG("to");
    f->caller = ARG("caller");
    f->q = ARG("q");
    f->status = ARG("status");
    if ((f->from && !time_ok(f->from)) || (f->to && !time_ok(f->to))) {
        serve_reply_error(rp, 400, "bad_parameter",
                          "from and to must be UTC ISO 8601 times or their prefixes, e.g."
                          " 2026-12-01 or 2026-12-01T06:05");
        return -1;
    }
    if ((f->caller && strlen(f->caller) > TEXT_ARG_MAX) || (f->q && strlen(f->q) > TEXT_ARG_MAX)) {
        serve_reply_error(rp, 400, "bad_parameter", "caller and q are limited to %d bytes",
                          TEXT_ARG_MAX);
        return -1;
    }
    if ((f->caller && cc_utf8_check(f->caller, strlen(f->caller)) < strlen(f->caller)) ||
        (f->q && cc_utf8_check(f->q, strlen(f->q)) < strlen(f->q))) {
        serve_reply_error(rp, 400, "invalid_utf8", "caller and q must be valid UTF-8");
        return -1;
    }
    if (f->q && !*f->q) f->q = NULL;
    if (f->caller && !*f->caller) f->caller = NULL;
    if (f->status && !*f->status) f->status = NULL;
    if (f->status && strcmp(f->status, "ok") && strcmp(f->status, "broken")) {
        serve_reply_error(rp, 400, "bad_parameter", "status must be ok or broken");
        return -1;
    }
    if (!paged) return 0;
    if ((v = ARG("sort")) && *v) {
        if (!strcmp(v, "time")) f->sort = SORT_TIME;
        else if (!strcmp(v, "caller")) f->sort = SORT_CALLER;
        else if (!strcmp(v, "question")) f->sort = SORT_QUESTION;
        else {
            serve_reply_error(rp, 400, "bad_parameter", "sort must be time, caller or question");
            return -1;
        }
    }
    if ((v = ARG("order")) && *v) {
        if (strcmp(v, "asc") && strcmp(v, "desc")) {
            serve_reply_error(rp, 400, "bad_parameter", "order must be asc or desc");
            return -1;
        }
        f->desc = !strcmp(v, "desc");
    }
    if (((v = ARG("limit")) && cc_parse_i64(v, 1, LIST_LIMIT_MAX, &f->limit) != CC_OK) ||
        ((v = ARG("offset")) && cc_parse_i64(v, 0, INT64_MAX / 2, &f->offset) != CC_OK)) {
        serve_reply_error(rp, 400, "bad_parameter",
                          "limit must be an integer in 1..%d and offset >= 0", LIST_LIMIT_MAX);
        return -1;
    }
#undef ARG
    return 0;
}

/* Appends " WHERE ..." for f over `traces t` (named parameters). */
static cc_status filt_where(const filt *f, cc_buf *sql)
{
    cc_status s = cc_buf_puts(sql, " WHERE 1");
    if (!s && f->from) s = cc_buf_puts(sql, " AND substr(t.created_at, 1, length(:from)) >= :from");
    if (!s && f->to) s = cc_buf_puts(sql, " AND substr(t.created_at, 1, length(:to)) <= :to");
    if (!s && f->caller) s = cc_buf_puts(sql, " AND t.caller = :caller");
    if (!s && f->q)
        s = cc_buf_puts(sql, " AND (instr(lower(t.question), lower(:q)) > 0 OR (json_valid(t.json)"
                             " AND instr(lower(json_extract(t.json, '$.answer.text')), lower(:q)) > 0))");
    if (!s && f->status)
        s = cc_buf_puts(sql, " AND (CASE WHEN t.seq <= :vupto THEN cairn_trace_known(t.seq, :vsnap)"
                             " ELSE cairn_trace_status(t.prev_hash, " BEFORE_SQL
                             ", t.json, t.hash) = 'ok' END) = (:status = 'ok')");
    return s;
}

static void bind_name(sqlite3_stmt *st, const char *name, const char *v)
{
    int i = sqlite3_bind_parameter_index(st, name);
    if (i && v) sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

/* v: the hashed prefix for the status filter (its rows are looked up, the
 * others hashed); must outlive the statement's steps. */
static void filt_bind(const filt *f, const vsnap *v, sqlite3_stmt *st)
{
    int i;
    bind_name(st, ":from", f->from);
    bind_name(st, ":to", f->to);
    bind_name(st, ":caller", f->caller);
    bind_name(st, ":q", f->q);
    bind_name(st, ":status", f->status);
    if ((i = sqlite3_bind_parameter_index(st, ":vupto"))) sqlite3_bind_int64(st, i, v->upto);
    if ((i = sqlite3_bind_parameter_index(st, ":vsnap")))
        sqlite3_bind_pointer(st, i, (void *)v, VSNAP_PTR, NULL);
}

/* Prepares sql on db with the status function installed; 500 on failure. */
static sqlite3_stmt *prepare(sqlite3 *db, const cc_buf *sql, serve_reply *rp)
{
    sqlite3_stmt *st = NULL;
    if (!sql->data) { serve_reply_error(rp, 500, "internal", "out of memory"); return NULL; }
    sqlite3_create_function(db, "cairn_trace_status", 4, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                            sql_trace_status, NULL, NULL);
    sqlite3_create_function(db, "cairn_trace_known", 2, SQLITE_UTF8, NULL, sql_trace_known, NULL,
                            NULL);
    if (sqlite3_prepare_v2(db, sql->data, (int)sql->len, &st, NULL) != SQLITE_OK) {
        serve_reply_error(rp, 500, "internal", "reading traces: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

static void reply_json(serve_reply *rp, int status, cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s || cc_buf_puts(&rp->body, s) != CC_OK) {
        free(s);
        serve_reply_error(rp, 500, "internal", "out of memory");
        return;
    }
    free(s);
    rp->status = status;
    rp->ctype = "application/json";
}

static void add_text(cJSON *o, const char *name, const unsigned char *v)
{
    if (v) cJSON_AddStringToObject(o, name, (const char *)v);
    else cJSON_AddNullToObject(o, name);
}

/* ---------------------------------------------------------------- list */

static void do_list(struct MHD_Connection *c, cc_kb *kb, serve_reply *rp)
{
    static const char *const sort_col[] = {"t.seq", "t.caller", "t.question"};
    sqlite3 *db = cc_kb_db(kb);
    cc_buf sql = CC_BUF_INIT(0);
    sqlite3_stmt *st = NULL;
    cJSON *out, *arr, *callers;
    filt f;
    int rc;
    int64_t total = 0;
    const char *dir;
    vsnap v = {0};
    if (filt_parse(c, 1, &f, rp)) return;
    if (f.status && vc_refresh(db, &v) != SQLITE_OK) {
        serve_reply_error(rp, 500, "internal", "reading traces: %s", sqlite3_errmsg(db));
        return;
    }
    dir = f.desc ? "DESC" : "ASC";
    /* the page: seqs picked (and sorted) first, so the JSON of rows off the
     * page is never carried through the sorter; the filter runs once, the
     * window count giving the total */
    cc_buf_printf(&sql, "SELECT t.seq, t.id, t.created_at, t.caller, t.question,"
                  " CASE WHEN json_valid(t.json) THEN json_extract(t.json, '$.answer.abstained') END,"
                  " CASE WHEN json_valid(t.json) THEN json_extract(t.json, '$.checks.ok') END,"
                  " CASE WHEN json_valid(t.json) THEN json_array_length(t.json, '$.answer.sentences') END,"
                  " CASE WHEN json_valid(t.json) THEN substr(json_extract(t.json, '$.answer.text'), 1, 240) END,"
                  " t.prev_hash, " BEFORE_SQL ", t.json, t.hash, p.n"
                  " FROM (SELECT t.seq AS s, %s AS k, count(*) OVER () AS n FROM traces t",
                  sort_col[f.sort]);
    filt_where(&f, &sql);
    cc_buf_printf(&sql, " ORDER BY k %s, t.seq %s LIMIT :limit OFFSET :offset) p"
                  " JOIN traces t ON t.seq = p.s ORDER BY p.k %s, p.s %s", dir, dir, dir, dir);
    if (!(st = prepare(db, &sql, rp))) goto out;
    filt_bind(&f, &v, st);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":limit"), f.limit);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":offset"), f.offset);
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "traces");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *t = cJSON_CreateObject();
        const char *ver;
        int64_t seq = sqlite3_column_int64(st, 0);
        total = sqlite3_column_int64(st, 13);
        cJSON_AddNumberToObject(t, "seq", (double)sqlite3_column_int64(st, 0));
        add_text(t, "id", sqlite3_column_text(st, 1));
        add_text(t, "created_at", sqlite3_column_text(st, 2));
        add_text(t, "caller", sqlite3_column_text(st, 3));
        add_text(t, "question", sqlite3_column_text(st, 4));
        if (sqlite3_column_type(st, 5) == SQLITE_NULL) cJSON_AddNullToObject(t, "abstained");
        else cJSON_AddBoolToObject(t, "abstained", sqlite3_column_int(st, 5));
        if (sqlite3_column_type(st, 6) == SQLITE_NULL) cJSON_AddNullToObject(t, "checks_ok");
        else cJSON_AddBoolToObject(t, "checks_ok", sqlite3_column_int(st, 6));
        cJSON_AddNumberToObject(t, "citations", sqlite3_column_int(st, 7));
        add_text(t, "answer", sqlite3_column_text(st, 8));
        ver = row_status((const char *)sqlite3_column_text(st, 9),
                         (const char *)sqlite3_column_text(st, 10),
                         (const char *)sqlite3_column_text(st, 11),
                         (const char *)sqlite3_column_text(st, 12), NULL);
        /* the page is hashed afresh: a row edited after the prefix was
         * hashed makes the next filtered request hash everything again */
        if (f.status && seq <= v.upto && vsnap_ok(&v, seq) != !strcmp(ver, "ok")) vc_invalidate();
        cJSON_AddStringToObject(t, "verification", ver);
        cJSON_AddItemToArray(arr, t);
    }
    if (rc != SQLITE_DONE) {
        cJSON_Delete(out);
        serve_reply_error(rp, 500, "internal", "reading traces: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!cJSON_GetArraySize(arr) && f.offset > 0) {   /* past the end: count apart */
        cc_buf_reset(&sql);
        cc_buf_puts(&sql, "SELECT count(*) FROM traces t");
        filt_where(&f, &sql);
        if (!(st = prepare(db, &sql, rp))) { cJSON_Delete(out); goto out; }
        filt_bind(&f, &v, st);
        if (sqlite3_step(st) != SQLITE_ROW) {
            cJSON_Delete(out);
            serve_reply_error(rp, 500, "internal", "reading traces: %s", sqlite3_errmsg(db));
            goto out;
        }
        total = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
    }
    cJSON_AddNumberToObject(out, "count", cJSON_GetArraySize(arr));
    cJSON_AddNumberToObject(out, "total", (double)total);
    cJSON_AddNumberToObject(out, "offset", (double)f.offset);
    if (f.offset + cJSON_GetArraySize(arr) < total)
        cJSON_AddNumberToObject(out, "next_offset", (double)(f.offset + cJSON_GetArraySize(arr)));
    /* the callers there are, for the page's filter suggestions */
    callers = cJSON_AddArrayToObject(out, "callers");
    if (sqlite3_prepare_v2(db, "SELECT DISTINCT caller FROM traces ORDER BY caller LIMIT 100", -1,
                           &st, NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW)
            cJSON_AddItemToArray(callers,
                                 cJSON_CreateString((const char *)sqlite3_column_text(st, 0)));
    reply_json(rp, 200, out);
out:
    sqlite3_finalize(st);
    cc_buf_free(&sql);
    vsnap_free(&v);
}

/* ---------------------------------------------------------------- one trace */

/* Trace ids are tr_ + hex; anything else outside [A-Za-z0-9_-]{1,64} is
 * not looked up. */
static int id_ok(const char *s, size_t n)
{
    size_t i;
    if (!n || n > 64) return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' || s[i] == '-')) return 0;
    return 1;
}

static void do_trace(cc_kb *kb, const char *id, int raw, serve_reply *rp)
{
    sqlite3 *db = cc_kb_db(kb);
    sqlite3_stmt *st = NULL;
    const char *json, *prev, *before, *hash, *status;
    char computed[65] = "";
    cJSON *head, *ver, *chk;
    char *hs = NULL;
    int parses;
    if (sqlite3_prepare_v2(db, "SELECT t.seq, t.json, t.prev_hash, " BEFORE_SQL ", t.hash"
                           " FROM traces t WHERE t.id = ?1", -1, &st, NULL) != SQLITE_OK) {
        serve_reply_error(rp, 500, "internal", "reading traces: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        serve_reply_error(rp, 404, "not_found", "no trace with id \"%s\"", id);
        goto out;
    }
    json = (const char *)sqlite3_column_text(st, 1);
    prev = (const char *)sqlite3_column_text(st, 2);
    before = (const char *)sqlite3_column_text(st, 3);
    hash = (const char *)sqlite3_column_text(st, 4);
    status = row_status(prev, before, json, hash, computed);
    if (raw) {   /* the stored document, so an auditor can recompute the hash */
        if (cc_buf_puts(&rp->body, json ? json : "") != CC_OK) {
            serve_reply_error(rp, 500, "internal", "out of memory");
            goto out;
        }
        rp->status = 200;
        rp->ctype = "application/json";
        serve_reply_header(rp, "Content-Disposition", "attachment; filename=\"%s.json\"", id);
        serve_reply_header(rp, "X-Cairn-Trace-Seq", "%lld", (long long)sqlite3_column_int64(st, 0));
        serve_reply_header(rp, "X-Cairn-Trace-Prev-Hash", "%s", prev ? prev : "");
        serve_reply_header(rp, "X-Cairn-Trace-Hash", "%s", hash ? hash : "");
        serve_reply_header(rp, "X-Cairn-Trace-Verification", "%s", status);
        goto out;
    }
    head = cJSON_CreateObject();
    cJSON_AddNumberToObject(head, "seq", (double)sqlite3_column_int64(st, 0));
    cJSON_AddStringToObject(head, "id", id);
    ver = cJSON_AddObjectToObject(head, "verification");
    cJSON_AddStringToObject(ver, "status", status);
    cJSON_AddStringToObject(ver, "message", status_message(status));
    add_text(ver, "prev_hash", (const unsigned char *)prev);
    add_text(ver, "previous_row_hash", (const unsigned char *)before);
    add_text(ver, "hash", (const unsigned char *)hash);
    cJSON_AddStringToObject(ver, "computed_hash", computed);
    /* the stored JSON goes in verbatim when it parses, else as a string */
    chk = json ? cJSON_ParseWithLength(json, strlen(json)) : NULL;
    parses = chk != NULL;
    cJSON_Delete(chk);
    if (!parses) add_text(head, "raw", (const unsigned char *)json);
    hs = cJSON_PrintUnformatted(head);
    cJSON_Delete(head);
    if (!hs || cc_buf_append(&rp->body, hs, strlen(hs) - 1) ||
        cc_buf_puts(&rp->body, ",\"trace\":") ||
        cc_buf_puts(&rp->body, parses ? json : "null") || cc_buf_putc(&rp->body, '}')) {
        serve_reply_error(rp, 500, "internal", "out of memory");
        goto out;
    }
    rp->status = 200;
    rp->ctype = "application/json";
out:
    free(hs);
    sqlite3_finalize(st);
}

static void do_verify(cc_kb *kb, serve_reply *rp)
{
    int64_t n = 0;
    cJSON *out = cJSON_CreateObject();
    cc_status s = ca_trace_verify(kb, &n);
    /* a broken chain (or a remembered broken row in an intact one): the
     * filter's next request hashes the chain again */
    pthread_mutex_lock(&VC.mu);
    if (s != CC_OK || VC.n_bad) vc_reset_locked();
    pthread_mutex_unlock(&VC.mu);
    cJSON_AddBoolToObject(out, "ok", s == CC_OK);
    cJSON_AddNumberToObject(out, "checked", (double)n);
    if (s != CC_OK) cJSON_AddStringToObject(out, "message", cc_kb_errmsg(kb));
    else cJSON_AddStringToObject(out, "message", "chain intact (deleting the newest trace is not"
                                                 " detectable from the chain alone)");
    reply_json(rp, 200, out);
}

/* ---------------------------------------------------------------- export */

/* A streamed export owns its own read handle: the reader slot is given back
 * when the handler returns, while the stream runs for as long as the
 * client reads. The statement's read transaction makes it one snapshot. */
typedef struct export_ctx {
    cc_kb        *kb;
    sqlite3_stmt *st;
    const char   *line;     /* current row's JSON (valid until the next step) */
    size_t        len, off; /* len includes the '\n' */
    int           done;     /* stepping past SQLITE_DONE would start over */
    vsnap         v;        /* the status filter's hashed prefix (bound to st) */
} export_ctx;

static void export_free(void *cls)
{
    export_ctx *x = cls;
    if (!x) return;
    sqlite3_finalize(x->st);
    cc_kb_close(x->kb);
    vsnap_free(&x->v);
    free(x);
}

static ssize_t export_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    export_ctx *x = cls;
    size_t n = 0;
    (void)pos;
    while (n < max) {
        if (x->off == x->len) {
            int rc = x->done ? SQLITE_DONE : sqlite3_step(x->st);
            if (rc == SQLITE_DONE) { x->done = 1; break; }
            if (rc != SQLITE_ROW) {
                x->done = 1;   /* the client sees a cut-off stream, not a complete one */
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            x->line = (const char *)sqlite3_column_text(x->st, 0);
            x->len = (x->line ? strlen(x->line) : 0) + 1;
            x->off = 0;
        }
        size_t take = x->len - x->off;
        if (take > max - n) take = max - n;
        if (x->off + take == x->len) {   /* the line's end: its '\n' */
            memcpy(buf + n, x->line + x->off, take - 1);
            buf[n + take - 1] = '\n';
        } else {
            memcpy(buf + n, x->line + x->off, take);
        }
        x->off += take;
        n += take;
    }
    return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void do_export(struct MHD_Connection *c, const char *kbdir, serve_reply *rp)
{
    cc_buf sql = CC_BUF_INIT(0);
    export_ctx *x;
    filt f;
    if (filt_parse(c, 0, &f, rp)) return;
    if (!(x = calloc(1, sizeof *x))) { serve_reply_error(rp, 500, "internal", "out of memory"); return; }
    if (cc_kb_open(kbdir, CC_KB_READ, &x->kb) != CC_OK) {
        serve_reply_error(rp, 500, "internal", "cannot open the KB: %s", cc_errmsg());
        export_free(x);
        return;
    }
    if (f.status && vc_refresh(cc_kb_db(x->kb), &x->v) != SQLITE_OK) {
        serve_reply_error(rp, 500, "internal", "reading traces: %s", sqlite3_errmsg(cc_kb_db(x->kb)));
        export_free(x);
        return;
    }
    cc_buf_puts(&sql, "SELECT t.json FROM traces t");
    filt_where(&f, &sql);
    cc_buf_puts(&sql, " ORDER BY t.seq");
    if (!(x->st = prepare(cc_kb_db(x->kb), &sql, rp))) {
        export_free(x);
        cc_buf_free(&sql);
        return;
    }
    cc_buf_free(&sql);
    filt_bind(&f, &x->v, x->st);
    rp->stream = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, export_read, x,
                                                   export_free);
    if (!rp->stream) {
        export_free(x);
        serve_reply_error(rp, 500, "internal", "out of memory");
        return;
    }
    rp->status = 200;
    rp->ctype = "application/x-ndjson";
    serve_reply_header(rp, "Content-Disposition", "attachment; filename=\"traces.jsonl\"");
}

/* ---------------------------------------------------------------- chunks */

static void do_chunk(cc_kb *kb, int64_t id, serve_reply *rp)
{
    sqlite3 *db = cc_kb_db(kb);
    sqlite3_stmt *st = NULL;
    cJSON *out, *d, *meta;
    const char *m;
    if (sqlite3_prepare_v2(db, "SELECT c.id, c.doc_id, c.ordinal, c.section, c.start_char,"
                           " c.end_char, c.sha256, c.text, d.uri, d.version, d.sha256, d.format,"
                           " d.title, d.meta, d.ingested_at, d.deleted, d.chars, d.bytes"
                           " FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        serve_reply_error(rp, 500, "internal", "reading chunks: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        serve_reply_error(rp, 404, "not_found", "no chunk with id %lld (its document may have"
                          " been replaced or removed since)", (long long)id);
        goto out;
    }
    out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "id", (double)sqlite3_column_int64(st, 0));
    cJSON_AddNumberToObject(out, "ordinal", sqlite3_column_int(st, 2));
    add_text(out, "section", sqlite3_column_text(st, 3));
    cJSON_AddNumberToObject(out, "start_char", (double)sqlite3_column_int64(st, 4));
    cJSON_AddNumberToObject(out, "end_char", (double)sqlite3_column_int64(st, 5));
    add_text(out, "sha256", sqlite3_column_text(st, 6));
    add_text(out, "text", sqlite3_column_text(st, 7));
    d = cJSON_AddObjectToObject(out, "document");
    cJSON_AddNumberToObject(d, "id", (double)sqlite3_column_int64(st, 1));
    add_text(d, "uri", sqlite3_column_text(st, 8));
    cJSON_AddNumberToObject(d, "version", sqlite3_column_int(st, 9));
    add_text(d, "sha256", sqlite3_column_text(st, 10));
    add_text(d, "format", sqlite3_column_text(st, 11));
    add_text(d, "title", sqlite3_column_text(st, 12));
    m = (const char *)sqlite3_column_text(st, 13);
    if (m && (meta = cJSON_Parse(m))) cJSON_AddItemToObject(d, "meta", meta);
    else add_text(d, "meta", (const unsigned char *)m);
    add_text(d, "ingested_at", sqlite3_column_text(st, 14));
    cJSON_AddBoolToObject(d, "deleted", sqlite3_column_int(st, 15));
    cJSON_AddNumberToObject(d, "chars", (double)sqlite3_column_int64(st, 16));
    cJSON_AddNumberToObject(d, "bytes", (double)sqlite3_column_int64(st, 17));
    reply_json(rp, 200, out);
out:
    sqlite3_finalize(st);
}

/* ---------------------------------------------------------------- dispatch */

void serve_traces_handle(struct MHD_Connection *c, cc_kb *kb, const char *kbdir,
                         const char *method, const char *url, serve_reply *rp)
{
    if (strcmp(method, "GET")) {
        rp->allow = "GET";
        serve_reply_error(rp, 405, "method_not_allowed", "%s allows GET", url);
        return;
    }
    if (!kb) {
        serve_reply_error(rp, 500, "internal", "cannot open the KB: %s", cc_errmsg());
        return;
    }
    if (!strncmp(url, "/v1/chunks/", 11)) {
        int64_t id;
        if (cc_parse_i64(url + 11, 0, INT64_MAX, &id) != CC_OK)
            serve_reply_error(rp, 404, "not_found", "no such resource: %s (chunk ids are integers)",
                              url);
        else do_chunk(kb, id, rp);
        return;
    }
    if (!url[10]) { do_list(c, kb, rp); return; }
    const char *rest = url + 11, *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    if (!slash && !strcmp(rest, "verify")) { do_verify(kb, rp); return; }
    if (!slash && !strcmp(rest, "export")) { do_export(c, kbdir, rp); return; }
    if (id_ok(rest, n) && (!slash || !strcmp(slash, "/raw"))) {
        char id[65];
        memcpy(id, rest, n);
        id[n] = 0;
        do_trace(kb, id, slash != NULL, rp);
        return;
    }
    serve_reply_error(rp, 404, "not_found", "no such resource: %.200s", url);
}
