/* serve_auth.c — API keys, roles and the audit log, shared by `cairn keys`
 * and `cairn serve`.
 *
 * A key is "cairn_<id>_<64 hex>": <id> is the api_keys row (the lookup), the
 * hex is 256 random bits from getrandom(2). Stored: a random 128-bit salt
 * (hex) and hash = hex(SHA-256(salt_hex || key)); the key itself is printed
 * once at creation and never stored or logged. Hashes are compared in
 * constant time. Revoked keys keep their row (revoked_at set), so audit rows
 * naming them stay meaningful. */
#define _GNU_SOURCE
#include "serve.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/random.h>

static const char *const role_names[SERVE_ROLE_COUNT] = {"none", "reader", "writer", "auditor",
                                                         "admin"};

const char *serve_role_name(serve_role role)
{
    C_ASSERT(role < SERVE_ROLE_COUNT);
    return role_names[role];
}

serve_role serve_role_parse(const char *name)
{
    int i;
    for (i = SERVE_ROLE_READER; i < SERVE_ROLE_COUNT; i++)
        if (!strcmp(name, role_names[i])) return (serve_role)i;
    return SERVE_ROLE_NONE;
}

int serve_role_rights(serve_role role)
{
    switch (role) {
    case SERVE_ROLE_NONE:    return ~0;   /* no keys configured (loopback only) */
    case SERVE_ROLE_READER:  return SERVE_RIGHT_READ;
    case SERVE_ROLE_WRITER:  return SERVE_RIGHT_READ | SERVE_RIGHT_WRITE;
    case SERVE_ROLE_AUDITOR: return SERVE_RIGHT_READ | SERVE_RIGHT_AUDIT;
    case SERVE_ROLE_ADMIN:   return ~0;
    default:                 return 0;
    }
}

/* ---------------------------------------------------------------- hashing */

static cc_status random_bytes(uint8_t *p, size_t n)
{
    while (n) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return cc_seterr(CC_IO, "getrandom: %s", strerror(errno));
        }
        p += got;
        n -= (size_t)got;
    }
    return CC_OK;
}

static void key_hash(const char *salt_hex, const char *key, size_t key_len, char hex[65])
{
    cc_sha256 h;
    uint8_t d[32];
    cc_sha256_init(&h);
    cc_sha256_update(&h, salt_hex, strlen(salt_hex));
    cc_sha256_update(&h, key, key_len);
    cc_sha256_final(&h, d);
    cc_hex(d, sizeof d, hex);
}

/* Constant-time equality of two n-byte strings. */
static int ct_equal(const char *a, const char *b, size_t n)
{
    unsigned char d = 0;
    size_t i;
    for (i = 0; i < n; i++) d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* ---------------------------------------------------------------- keys */

cc_status serve_key_add(cc_kb *kb, const char *name, serve_role role, const char *actor,
                        int64_t *id, char key_out[SERVE_KEY_MAX])
{
    uint8_t secret[32], salt[16];
    char secret_hex[65], salt_hex[33], hash[65], now[32];
    sqlite3_stmt *st = NULL;
    cc_buf key = CC_BUF_INIT(SERVE_KEY_MAX - 1);
    cc_status s;
    C_ASSERT(role > SERVE_ROLE_NONE && role < SERVE_ROLE_COUNT);
    if ((s = random_bytes(secret, sizeof secret)) || (s = random_bytes(salt, sizeof salt)))
        return cc_kb_seterr(kb, s, "%s", cc_errmsg());
    cc_hex(secret, sizeof secret, secret_hex);
    cc_hex(salt, sizeof salt, salt_hex);
    cc_utc_iso8601(now);
    if ((s = cc_kb_begin(kb))) return s;
    if (sqlite3_prepare_v2(cc_kb_db(kb), "INSERT INTO api_keys(name, role, salt, hash, created_at)"
                           " VALUES (?1, ?2, ?3, '', ?4)", -1, &st, NULL) != SQLITE_OK)
        goto sqlfail;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, role_names[role], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, salt_hex, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) goto sqlfail;
    sqlite3_finalize(st);
    st = NULL;
    *id = sqlite3_last_insert_rowid(cc_kb_db(kb));
    cc_buf_printf(&key, "cairn_%lld_%s", (long long)*id, secret_hex);
    key_hash(salt_hex, key.data, key.len, hash);
    if (sqlite3_prepare_v2(cc_kb_db(kb), "UPDATE api_keys SET hash = ?1 WHERE id = ?2", -1, &st,
                           NULL) != SQLITE_OK)
        goto sqlfail;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, *id);
    if (sqlite3_step(st) != SQLITE_DONE) goto sqlfail;
    sqlite3_finalize(st);
    st = NULL;
    {
        char target[32], detail[96];
        snprintf(target, sizeof target, "key:%lld", (long long)*id);
        snprintf(detail, sizeof detail, "role=%s", role_names[role]);
        if (serve_audit_row(kb, actor, "key.add", target, detail)) goto sqlfail;
    }
    if ((s = cc_kb_commit(kb))) { cc_buf_free(&key); return s; }
    memcpy(key_out, key.data, key.len + 1);
    cc_buf_free(&key);
    memset(secret_hex, 0, sizeof secret_hex);
    return CC_OK;
sqlfail:
    s = cc_kb_sqlerr(kb, "storing the key");
    sqlite3_finalize(st);
    cc_kb_rollback(kb);
    cc_buf_free(&key);
    return s;
}

cc_status serve_key_revoke(cc_kb *kb, int64_t id, const char *actor)
{
    sqlite3_stmt *st = NULL;
    char now[32], target[32];
    cc_status s;
    int rc;
    cc_utc_iso8601(now);
    if ((s = cc_kb_begin(kb))) return s;
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        goto sqlfail;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        cc_kb_rollback(kb);
        if (rc != SQLITE_DONE) return cc_kb_sqlerr(kb, "reading the key");
        return cc_kb_seterr(kb, CC_NOTFOUND, "no key with id %lld", (long long)id);
    }
    if (sqlite3_column_int(st, 0)) {
        sqlite3_finalize(st);
        cc_kb_rollback(kb);
        return cc_kb_seterr(kb, CC_EXISTS, "key %lld is already revoked", (long long)id);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(cc_kb_db(kb), "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2", -1,
                           &st, NULL) != SQLITE_OK)
        goto sqlfail;
    sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    if (sqlite3_step(st) != SQLITE_DONE) goto sqlfail;
    sqlite3_finalize(st);
    st = NULL;
    snprintf(target, sizeof target, "key:%lld", (long long)id);
    if (serve_audit_row(kb, actor, "key.revoke", target, NULL)) goto sqlfail;
    return cc_kb_commit(kb);
sqlfail:
    s = cc_kb_sqlerr(kb, "revoking the key");
    sqlite3_finalize(st);
    cc_kb_rollback(kb);
    return s;
}

cc_status serve_keys_list(cc_kb *kb, cJSON **out)
{
    sqlite3_stmt *st = NULL;
    cJSON *arr;
    *out = NULL;
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT id, name, role, created_at, revoked_at"
                           " FROM api_keys ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        return cc_kb_sqlerr(kb, "listing keys");
    arr = cJSON_CreateArray();
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *k = cJSON_CreateObject();
        const char *rev = (const char *)sqlite3_column_text(st, 4);
        cJSON_AddNumberToObject(k, "id", (double)sqlite3_column_int64(st, 0));
        cJSON_AddStringToObject(k, "name", (const char *)sqlite3_column_text(st, 1));
        cJSON_AddStringToObject(k, "role", (const char *)sqlite3_column_text(st, 2));
        cJSON_AddStringToObject(k, "created_at", (const char *)sqlite3_column_text(st, 3));
        if (rev) cJSON_AddStringToObject(k, "revoked_at", rev);
        else cJSON_AddNullToObject(k, "revoked_at");
        cJSON_AddItemToArray(arr, k);
    }
    sqlite3_finalize(st);
    *out = arr;
    return CC_OK;
}

int64_t serve_keys_count(cc_kb *kb)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL",
                           -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    else
        cc_kb_sqlerr(kb, "counting keys");
    sqlite3_finalize(st);
    return n;
}

int serve_auth_check(cc_kb *kb, const char *header, int64_t *key_id, serve_role *role,
                     char *msg, size_t msg_len)
{
    const char *key, *p;
    int64_t id = 0;
    sqlite3_stmt *st = NULL;
    int ok = 0;
    size_t n;
    if (!header) {
        snprintf(msg, msg_len, "this route needs an API key: send Authorization: Bearer <key>");
        return -1;
    }
    if (strncasecmp(header, "Bearer ", 7)) {
        snprintf(msg, msg_len, "the Authorization header must be \"Bearer <key>\"");
        return -1;
    }
    key = header + 7;
    while (*key == ' ') key++;
    n = strlen(key);
    /* cairn_<id>_<64 hex> */
    p = key + 6;
    if (n > SERVE_KEY_MAX - 1 || strncmp(key, "cairn_", 6) || !(*p >= '1' && *p <= '9'))
        goto bad;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (id > (INT64_MAX - 9) / 10) goto bad;
        id = id * 10 + (*p - '0');
    }
    if (*p != '_' || strlen(p + 1) != 64) goto bad;
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT salt, hash, role FROM api_keys"
                           " WHERE id = ?1 AND revoked_at IS NULL", -1, &st, NULL) != SQLITE_OK) {
        snprintf(msg, msg_len, "cannot read the keys: %s", sqlite3_errmsg(cc_kb_db(kb)));
        return -1;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        char hex[65];
        const char *want = (const char *)sqlite3_column_text(st, 1);
        key_hash((const char *)sqlite3_column_text(st, 0), key, n, hex);
        if (want && strlen(want) == 64 && ct_equal(hex, want, 64)) {
            ok = 1;
            *key_id = id;
            *role = serve_role_parse((const char *)sqlite3_column_text(st, 2));
        }
    }
    sqlite3_finalize(st);
    if (ok && *role != SERVE_ROLE_NONE) return 0;
bad:
    snprintf(msg, msg_len, "the API key is not valid (unknown, revoked or mistyped)");
    return -1;
}

/* ---------------------------------------------------------------- audit */

cc_status serve_audit_row(cc_kb *kb, const char *actor, const char *action, const char *target,
                          const char *detail)
{
    sqlite3_stmt *st = NULL;
    char now[32];
    int rc;
    cc_utc_iso8601(now);
    if (sqlite3_prepare_v2(cc_kb_db(kb), "INSERT INTO audit(at, actor, action, target, detail)"
                           " VALUES (?1, ?2, ?3, ?4, ?5)", -1, &st, NULL) != SQLITE_OK)
        return cc_kb_sqlerr(kb, "writing the audit log");
    sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
    if (target) sqlite3_bind_text(st, 4, target, -1, SQLITE_STATIC);
    if (detail) sqlite3_bind_text(st, 5, detail, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? CC_OK : cc_kb_sqlerr(kb, "writing the audit log");
}

void serve_audit(cc_kb *kb, const serve_req *r, const char *action, const char *target,
                 const char *detail)
{
    if (serve_audit_row(kb, r->actor, action, target, detail))
        fprintf(stderr, "cairn: audit log: %s\n", cc_kb_errmsg(kb));
}

cc_status serve_audit_append(cc_kb *kb, const char *actor, const char *action, const char *target,
                             const char *detail)
{
    cc_status s;
    if ((s = cc_kb_begin_log(kb))) return s;
    if ((s = serve_audit_row(kb, actor, action, target, detail)) || (s = cc_kb_commit(kb))) {
        cc_kb_rollback(kb);
        return s;
    }
    return CC_OK;
}

cc_status serve_audit_log(serve_req *r, const char *action, const char *target,
                          const char *detail)
{
    cc_kb *kb;
    cc_status s;
    if ((s = serve_log_acquire(&kb))) return cc_seterr(s, "cannot write the audit log: %s", cc_errmsg());
    if ((s = serve_audit_append(kb, r->actor, action, target, detail)))
        cc_seterr(s, "cannot write the audit log: %s", cc_kb_errmsg(kb));
    serve_log_release(kb, s);
    return s;
}
