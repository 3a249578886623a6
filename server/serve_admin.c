/* serve_admin.c — `cairn serve` routes for auditors and admins:
 * GET /v1/audit (the audit log, paged, newest first), GET /v1/keys,
 * POST /v1/keys (creates a key; the response carries it once) and
 * DELETE /v1/keys/{id} (revokes). */
#define _GNU_SOURCE
#include "serve.h"

#include <sqlite3.h>
#include <string.h>

/* GET /v1/audit?limit=N&before=ID */
enum MHD_Result serve_audit_list(serve_req *r)
{
    const char *l = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "limit");
    const char *b = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "before");
    int64_t limit = 100, before = INT64_MAX, last = 0;
    serve_slot *s;
    sqlite3_stmt *st = NULL;
    cJSON *out, *arr;
    if ((l && cc_parse_i64(l, 1, 1000, &limit) != CC_OK) ||
        (b && cc_parse_i64(b, 1, INT64_MAX, &before) != CC_OK))
        return serve_send_error(r, 400, "bad_parameter",
                                "limit must be an integer in 1..1000 and before an id >= 1");
    s = serve_slot_take();
    if (!s->kb) {
        serve_slot_give(s);
        return serve_send_error(r, 500, "internal", "cannot open the KB: %s", cc_errmsg());
    }
    out = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(out, "entries");
    sqlite3_prepare_v2(cc_kb_db(s->kb), "SELECT id, at, actor, action, target, detail FROM audit"
                       " WHERE id < ?1 ORDER BY id DESC LIMIT ?2", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, before);
    sqlite3_bind_int64(st, 2, limit + 1);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        cJSON *e;
        int k;
        static const char *const col[] = {"id", "at", "actor", "action", "target", "detail"};
        if (cJSON_GetArraySize(arr) == limit) {
            cJSON_AddNumberToObject(out, "next_before", (double)last);
            break;
        }
        e = cJSON_CreateObject();
        last = sqlite3_column_int64(st, 0);
        cJSON_AddNumberToObject(e, "id", (double)last);
        for (k = 1; k < 6; k++) {
            const char *v = (const char *)sqlite3_column_text(st, k);
            if (v) cJSON_AddStringToObject(e, col[k], v);
            else cJSON_AddNullToObject(e, col[k]);
        }
        cJSON_AddItemToArray(arr, e);
    }
    sqlite3_finalize(st);
    serve_slot_give(s);
    cJSON_AddNumberToObject(out, "count", cJSON_GetArraySize(arr));
    return serve_send_json(r, 200, out);
}

enum MHD_Result serve_keys_get(serve_req *r)
{
    serve_slot *s = serve_slot_take();
    cJSON *arr, *out;
    if (!s->kb) {
        serve_slot_give(s);
        return serve_send_error(r, 500, "internal", "cannot open the KB: %s", cc_errmsg());
    }
    if (serve_keys_list(s->kb, &arr) != CC_OK) {
        enum MHD_Result ret = serve_send_error(r, 500, "internal", "%s", cc_kb_errmsg(s->kb));
        serve_slot_give(s);
        return ret;
    }
    serve_slot_give(s);
    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "keys", arr);
    return serve_send_json(r, 200, out);
}

static void json_free(void *j) { cJSON_Delete(j); }

/* On the writer thread: adds the key POST /v1/keys asked for (arg: its
 * checked JSON body). */
static int key_add_job(serve_req *r, cc_kb *kb, void *arg, serve_reply *rp)
{
    cJSON *j = arg, *out;
    cJSON *role_j = cJSON_GetObjectItemCaseSensitive(j, "role");
    cJSON *name_j = cJSON_GetObjectItemCaseSensitive(j, "name");
    serve_role role = serve_role_parse(role_j->valuestring);
    char key[SERVE_KEY_MAX];
    int64_t id;
    if (serve_key_add(kb, name_j ? name_j->valuestring : role_j->valuestring, role, r->actor, &id,
                      key) != CC_OK) {
        serve_reply_error(rp, 500, "internal", "%s", cc_kb_errmsg(kb));
        return 0;
    }
    out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "id", (double)id);
    cJSON_AddStringToObject(out, "role", serve_role_name(role));
    cJSON_AddStringToObject(out, "key", key);
    memset(key, 0, sizeof key);
    serve_reply_json(rp, 201, out);
    return 0;
}

/* On the writer thread: revokes key *arg (DELETE /v1/keys/{id}). */
static int key_revoke_job(serve_req *r, cc_kb *kb, void *arg, serve_reply *rp)
{
    int64_t id = *(int64_t *)arg;
    cc_status st = serve_key_revoke(kb, id, r->actor);
    if (st == CC_NOTFOUND) serve_reply_error(rp, 404, "not_found", "%s", cc_kb_errmsg(kb));
    else if (st == CC_EXISTS) serve_reply_error(rp, 409, "conflict", "%s", cc_kb_errmsg(kb));
    else if (st) serve_reply_error(rp, 500, "internal", "%s", cc_kb_errmsg(kb));
    else {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddNumberToObject(out, "id", (double)id);
        cJSON_AddBoolToObject(out, "revoked", 1);
        serve_reply_json(rp, 200, out);
    }
    return 0;
}

enum MHD_Result serve_keys_post(serve_req *r)
{
    static const char *const fields[] = {"role", "name", NULL};
    cJSON *j = serve_parse_body(r), *role_j;
    if (!j) return MHD_YES;
    if (serve_check_fields(r, j, fields, "ss")) { cJSON_Delete(j); return MHD_YES; }
    role_j = cJSON_GetObjectItemCaseSensitive(j, "role");
    if (!role_j || serve_role_parse(role_j->valuestring) == SERVE_ROLE_NONE) {
        cJSON_Delete(j);
        return serve_send_error(r, 400, "bad_field",
                                "field \"role\" is required: reader, writer, auditor or admin");
    }
    return serve_write_submit(r, key_add_job, j, json_free);
}

enum MHD_Result serve_keys_delete(serve_req *r)
{
    int64_t id, *idp;
    if (cc_parse_i64(r->param, 1, INT64_MAX, &id) != CC_OK)
        return serve_send_error(r, 404, "not_found", "no such resource: %s (key ids are integers)",
                                r->url);
    if (!(idp = malloc(sizeof *idp))) return serve_send_error(r, 500, "internal", "out of memory");
    *idp = id;
    return serve_write_submit(r, key_revoke_job, idp, free);
}
