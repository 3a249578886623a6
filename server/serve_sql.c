/* serve_sql.c — POST /v1/sql: read-only SQL over the catalog's user-facing
 * views (sql/sql.h), as JSON.
 *
 * Body: {"query": str, "timeout_ms": 1..60000}. Response: {"rows": [...],
 * "statements": n} — rows of the last statement that returned any, each an
 * object keyed by column name (cq_exec's JSON mode). Statement time limit:
 * the setting serve.sql_timeout_ms (5000) unless the request asks for less.
 * Results over 8 MiB are refused (413): add a LIMIT. Refused statements
 * (writes, ATTACH, PRAGMA changes) and syntax errors are 400 with SQLite's
 * message and position; the time limit is 400 statement_timeout. */
#define _GNU_SOURCE
#include "serve.h"
#include "sql.h"

#include <string.h>

#define SQL_OUT_MAX ((size_t)8 << 20)

enum MHD_Result serve_sql(serve_req *r)
{
    static const char *const fields[] = {"query", "timeout_ms", NULL};
    cJSON *j, *q, *tj, *out, *rows = NULL, *last = NULL;
    int64_t tmax = 5000;
    cq_session *qs;
    cc_buf res = CC_BUF_INIT(SQL_OUT_MAX);
    int n_st = 0;
    cc_status s;
    enum MHD_Result ret;
    if (!(j = serve_parse_body(r))) return MHD_YES;
    if (serve_check_fields(r, j, fields, "sn")) { cJSON_Delete(j); return MHD_YES; }
    q = cJSON_GetObjectItemCaseSensitive(j, "query");
    tj = cJSON_GetObjectItemCaseSensitive(j, "timeout_ms");
    if (!q || !*q->valuestring) {
        cJSON_Delete(j);
        return serve_send_error(r, 400, "bad_field", "field \"query\" (a non-empty string) is required");
    }
    {
        serve_slot *sl = serve_slot_take();
        if (sl->kb && cc_kb_setting_i64(sl->kb, "serve.sql_timeout_ms", 5000, &tmax) != CC_OK)
            tmax = 5000;
        serve_slot_give(sl);
        if (tmax < 1 || tmax > 600000) tmax = 5000;
    }
    if (tj) {
        if (!(tj->valuedouble >= 1 && tj->valuedouble <= 60000) || tj->valuedouble != (int)tj->valuedouble) {
            cJSON_Delete(j);
            return serve_send_error(r, 400, "bad_field", "field \"timeout_ms\" must be an integer in 1..60000");
        }
        if (tj->valuedouble < tmax) tmax = (int64_t)tj->valuedouble;
    }
    if (cq_open(serve_kbdir(), &qs) != CC_OK) {
        cJSON_Delete(j);
        return serve_send_error(r, 500, "internal", "%s", cc_errmsg());
    }
    cq_set_timeout_ms(qs, (int)tmax);
    s = cq_exec(qs, q->valuestring, CQ_JSON, &res, &n_st);
    if (s == CC_INTERRUPTED) {
        ret = serve_send_error(r, 400, "statement_timeout", "the statement ran past its time limit "
                               "of %lld ms (setting serve.sql_timeout_ms)", (long long)tmax);
    } else if (s == CC_TOOBIG) {
        ret = serve_send_error(r, 413, "result_too_large", "the result is over %zu bytes; add a "
                               "LIMIT", SQL_OUT_MAX);
    } else if (s) {
        ret = serve_send_error(r, s == CC_INVALID ? 400 : 500, s == CC_INVALID ? "bad_query" : "internal",
                               "%s", cq_errmsg(qs));
    } else {
        /* cq_exec's JSON mode writes one array per statement with rows,
         * each followed by a newline; keep the last. */
        const char *p = res.data ? res.data : "", *end;
        int cut = 0;
        while (*p) {
            cJSON *a = cJSON_ParseWithOpts(p, &end, 0);
            if (!a) { cut = 1; break; }   /* an append past the cap was dropped */
            cJSON_Delete(last);
            last = a;
            p = end;
            while (*p == '\n' || *p == ' ') p++;
        }
        if (cut) {
            cJSON_Delete(last);
            ret = serve_send_error(r, 413, "result_too_large", "the result is over %zu bytes; "
                                   "add a LIMIT", SQL_OUT_MAX);
            goto done;
        }
        rows = last ? last : cJSON_CreateArray();
        out = cJSON_CreateObject();
        cJSON_AddItemToObject(out, "rows", rows);
        cJSON_AddNumberToObject(out, "count", cJSON_GetArraySize(rows));
        cJSON_AddNumberToObject(out, "statements", n_st);
        ret = serve_send_json(r, 200, out);
    }
done:
    cq_close(qs);
    cc_buf_free(&res);
    cJSON_Delete(j);
    return ret;
}
