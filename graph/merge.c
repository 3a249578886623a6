/* merge.c — the record of entity merges (the merges table, written by
 * derived.c at ingestion) read back and undone: cg_entity_find,
 * cg_merges_list, cg_split. */
#include "graph_int.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

cc_status cg_split_key(const char *norm, int same_key, int64_t merge_id, cc_buf *out)
{
    cc_buf_reset(out);
    if (!same_key) return cc_buf_append(out, norm, strlen(norm));
    return cc_buf_printf(out, "%s #split%lld", norm, (long long)merge_id);
}

static int parse_id(const char *s, int64_t *id)
{
    char *end;
    long long v;
    if (*s == '#') s++;
    if (*s < '0' || *s > '9') return 0;
    v = strtoll(s, &end, 10);
    if (*end || v <= 0) return 0;
    *id = v;
    return 1;
}

/* Runs s (bound) and returns its first column as an id, 0 when no row. */
static int64_t one_id(sqlite3_stmt *s)
{
    int64_t v = 0;
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

cc_status cg_entity_find(cc_kb *kb, const char *name, int64_t *id)
{
    sqlite3 *db = cc_kb_db(kb);
    sqlite3_stmt *s;
    cc_buf key = CC_BUF_INIT(0);
    int64_t v = 0, n;
    *id = 0;
    if (parse_id(name, &n)) {
        if (sqlite3_prepare_v2(db, "SELECT id FROM entities WHERE id = ?1", -1, &s, NULL))
            return cc_kb_sqlerr(kb, "finding an entity");
        sqlite3_bind_int64(s, 1, n);
        v = one_id(s);
    } else {
        if (cg_norm_key(name, strlen(name), &key, NULL) != CC_OK) {
            cc_buf_free(&key);
            return cc_kb_seterr(kb, CC_INVALID, "entity name is not valid UTF-8");
        }
        if (sqlite3_prepare_v2(db, "SELECT coalesce((SELECT id FROM entities WHERE key = ?1),"
                               " (SELECT coalesce(e.merged_into, e.id) FROM aliases a JOIN"
                               " entities e ON e.id = a.entity_id WHERE a.norm = ?1"
                               " ORDER BY e.id LIMIT 1))", -1, &s, NULL)) {
            cc_buf_free(&key);
            return cc_kb_sqlerr(kb, "finding an entity");
        }
        sqlite3_bind_text(s, 1, key.data ? key.data : "", -1, SQLITE_TRANSIENT);
        v = one_id(s);
    }
    cc_buf_free(&key);
    if (!v) return cc_kb_seterr(kb, CC_NOTFOUND, "no entity \"%s\"", name);
    *id = v;
    return CC_OK;
}

static char *col_dup(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? cc_strdup(t) : NULL;
}

void cg_merges_free(cg_merge *m, size_t n)
{
    if (!m) return;
    for (size_t i = 0; i < n; i++) {
        free(m[i].alias); free(m[i].norm); free(m[i].reason);
        free(m[i].at); free(m[i].undone_at);
    }
    free(m);
}

cc_status cg_merges_list(cc_kb *kb, int64_t entity_id, cg_merge **out, size_t *n)
{
    sqlite3_stmt *s;
    cg_merge *v = NULL;
    size_t k = 0, cap = 0;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT id, kept_id, coalesce(split_id, 0),"
                           " coalesce(chunk_id, 0), coalesce(start_char, -1), coalesce(end_char, -1),"
                           " alias, norm, reason, at, undone_at FROM merges WHERE kept_id = ?1"
                           " ORDER BY id", -1, &s, NULL) != SQLITE_OK)
        return cc_kb_sqlerr(kb, "listing merges");
    sqlite3_bind_int64(s, 1, entity_id);
    while (sqlite3_step(s) == SQLITE_ROW) {
        cg_merge *m;
        if (k == cap) {
            cg_merge *p = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof *p);
            if (!p) goto nomem;
            v = p;
        }
        m = &v[k++];
        memset(m, 0, sizeof *m);
        m->id = sqlite3_column_int64(s, 0);
        m->kept_id = sqlite3_column_int64(s, 1);
        m->split_id = sqlite3_column_int64(s, 2);
        m->chunk_id = sqlite3_column_int64(s, 3);
        m->start_char = sqlite3_column_int64(s, 4);
        m->end_char = sqlite3_column_int64(s, 5);
        m->alias = col_dup(s, 6);
        m->norm = col_dup(s, 7);
        m->reason = col_dup(s, 8);
        m->at = col_dup(s, 9);
        m->undone_at = col_dup(s, 10);
        if (!m->alias || !m->norm || !m->reason || !m->at) goto nomem;
    }
    sqlite3_finalize(s);
    *out = v;
    *n = k;
    return CC_OK;
nomem:
    sqlite3_finalize(s);
    cg_merges_free(v, k);
    return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
}

/* Runs one statement with integer/text parameters ("i" / "t" per char of
 * types); returns sqlite3_changes, or -1 on failure. */
static int exec_args(sqlite3 *db, const char *sql, const char *types, ...)
{
    sqlite3_stmt *s;
    va_list ap;
    int rc, i;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) return -1;
    va_start(ap, types);
    for (i = 0; types[i]; i++) {
        if (types[i] == 'i') sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
        else sqlite3_bind_text(s, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
    }
    va_end(ap);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? sqlite3_changes(db) : -1;
}

/* The entity_names row of an entity, rebuilt from its aliases. */
static int reindex_names(sqlite3 *db, int64_t id)
{
    if (exec_args(db, "DELETE FROM entity_names WHERE rowid = ?1", "i", id) < 0) return -1;
    return exec_args(db, "INSERT INTO entity_names(rowid, names) SELECT ?1, group_concat(alias,"
                     " ' | ') FROM aliases WHERE entity_id = ?1 HAVING count(*) > 0", "i", id);
}

static cc_status do_split(cc_kb *kb, int64_t eid, const char *alias, int64_t *new_id,
                          size_t *n_ment, size_t *n_rel)
{
    sqlite3 *db = cc_kb_db(kb);
    sqlite3_stmt *s = NULL;
    cc_buf key = CC_BUF_INIT(0), skey = CC_BUF_INIT(0), k2 = CC_BUF_INIT(0);
    char now[32];
    int64_t mid = 0, nid = 0;
    char *m_alias = NULL, *m_norm = NULL, *type = NULL;
    int same = 0, ch;
    size_t moved = 0, rel = 0;
    cc_status st = CC_OK;

    if (cg_norm_key(alias, strlen(alias), &key, NULL) != CC_OK)
        return cc_kb_seterr(kb, CC_INVALID, "alias is not valid UTF-8");
    /* the exact surface first, then any active merge of its key */
    if (sqlite3_prepare_v2(db, "SELECT id, alias, norm, reason = 'same_key' FROM merges"
                           " WHERE kept_id = ?1 AND undone_at IS NULL AND (alias = ?2 OR"
                           " (norm = ?3 AND reason <> 'same_key')) ORDER BY alias <> ?2, id"
                           " LIMIT 1", -1, &s, NULL) != SQLITE_OK) {
        st = cc_kb_sqlerr(kb, "splitting");
        goto out;
    }
    sqlite3_bind_int64(s, 1, eid);
    sqlite3_bind_text(s, 2, alias, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, key.data ? key.data : "", -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        mid = sqlite3_column_int64(s, 0);
        m_alias = col_dup(s, 1);
        m_norm = col_dup(s, 2);
        same = sqlite3_column_int(s, 3);
    }
    sqlite3_finalize(s);
    s = NULL;
    if (!mid) {
        st = cc_kb_seterr(kb, CC_NOTFOUND, "entity %lld has no active merge of \"%s\""
                          " (see the list without an alias)", (long long)eid, alias);
        goto out;
    }
    if (!m_alias || !m_norm || cg_split_key(m_norm, same, mid, &skey)) goto nomem;
    if (sqlite3_prepare_v2(db, "SELECT type FROM entities WHERE id = ?1", -1, &s, NULL)) goto sqlerr;
    sqlite3_bind_int64(s, 1, eid);
    if (sqlite3_step(s) == SQLITE_ROW) type = col_dup(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    if (!type) goto nomem;

    /* the entity the name becomes: one with its key if any, else new */
    if (sqlite3_prepare_v2(db, "SELECT id FROM entities WHERE key = ?1", -1, &s, NULL)) goto sqlerr;
    sqlite3_bind_text(s, 1, skey.data, -1, SQLITE_STATIC);
    nid = one_id(s);
    s = NULL;
    if (nid == eid) {
        st = cc_kb_seterr(kb, CC_INVALID, "\"%s\" is the entity's own key", alias);
        goto out;
    }
    if (nid) {
        if (exec_args(db, "UPDATE entities SET merged_into = NULL WHERE id = ?1", "i", nid) < 0)
            goto sqlerr;
    } else {
        if (exec_args(db, "INSERT INTO entities(key, label, type) VALUES (?1, ?2, ?3)", "ttt",
                      skey.data, m_alias, type) < 0)
            goto sqlerr;
        nid = sqlite3_last_insert_rowid(db);
    }

    /* its mentions: those whose key (same_key: exact surface) is the name's */
    if (sqlite3_prepare_v2(db, "SELECT id, surface FROM mentions WHERE entity_id = ?1", -1, &s,
                           NULL))
        goto sqlerr;
    sqlite3_bind_int64(s, 1, eid);
    {
        int64_t *ids = NULL;
        size_t n = 0, cap = 0, i;
        while (sqlite3_step(s) == SQLITE_ROW) {
            const char *sf = (const char *)sqlite3_column_text(s, 1);
            int hit;
            if (same) hit = !strcmp(sf, m_alias);
            else hit = cg_norm_key(sf, strlen(sf), &k2, NULL) == CC_OK && k2.data &&
                       !strcmp(k2.data, m_norm);
            if (!hit) continue;
            if (n == cap) {
                int64_t *p = realloc(ids, (cap = cap ? cap * 2 : 64) * sizeof *p);
                if (!p) { free(ids); goto nomem; }
                ids = p;
            }
            ids[n++] = sqlite3_column_int64(s, 0);
        }
        sqlite3_finalize(s);
        s = NULL;
        for (i = 0; i < n; i++)
            if (exec_args(db, "UPDATE mentions SET entity_id = ?1 WHERE id = ?2", "ii", nid,
                          ids[i]) < 0) {
                free(ids);
                goto sqlerr;
            }
        free(ids);
        moved = n;
    }
    /* relations stated in a sentence that mentions the name and not the
     * entity kept follow the name */
    for (int side = 0; side < 2; side++) {
        static const char *const sql[2] = {
            "UPDATE relations SET subject_id = ?1 WHERE subject_id = ?2 AND object_id <> ?1"
            " AND EXISTS (SELECT 1 FROM mentions m WHERE m.entity_id = ?1 AND"
            " m.chunk_id = relations.chunk_id AND m.start_char >= relations.start_char AND"
            " m.end_char <= relations.end_char) AND NOT EXISTS (SELECT 1 FROM mentions m WHERE"
            " m.entity_id = ?2 AND m.chunk_id = relations.chunk_id AND m.start_char >="
            " relations.start_char AND m.end_char <= relations.end_char)",
            "UPDATE relations SET object_id = ?1 WHERE object_id = ?2 AND subject_id <> ?1"
            " AND EXISTS (SELECT 1 FROM mentions m WHERE m.entity_id = ?1 AND"
            " m.chunk_id = relations.chunk_id AND m.start_char >= relations.start_char AND"
            " m.end_char <= relations.end_char) AND NOT EXISTS (SELECT 1 FROM mentions m WHERE"
            " m.entity_id = ?2 AND m.chunk_id = relations.chunk_id AND m.start_char >="
            " relations.start_char AND m.end_char <= relations.end_char)"};
        if ((ch = exec_args(db, sql[side], "ii", nid, eid)) < 0) goto sqlerr;
        rel += (size_t)ch;
    }
    /* aliases and the names index */
    if (!same && exec_args(db, "DELETE FROM aliases WHERE entity_id = ?1 AND norm = ?2", "it",
                           eid, m_norm) < 0)
        goto sqlerr;
    if (exec_args(db, "INSERT OR IGNORE INTO aliases(entity_id, alias, norm, source)"
                  " VALUES (?1, ?2, ?3, 'label')", "itt", nid, m_alias, m_norm) < 0 ||
        reindex_names(db, eid) < 0 || reindex_names(db, nid) < 0)
        goto sqlerr;
    cc_utc_iso8601(now);
    if (exec_args(db, "UPDATE merges SET undone_at = ?1, split_id = ?2 WHERE id = ?3", "tii",
                  now, nid, mid) < 0)
        goto sqlerr;
    if (new_id) *new_id = nid;
    if (n_ment) *n_ment = moved;
    if (n_rel) *n_rel = rel;
    goto out;
sqlerr:
    st = cc_kb_sqlerr(kb, "splitting");
    goto out;
nomem:
    st = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
out:
    sqlite3_finalize(s);
    free(m_alias);
    free(m_norm);
    free(type);
    cc_buf_free(&key);
    cc_buf_free(&skey);
    cc_buf_free(&k2);
    return st;
}

cc_status cg_split(cc_kb *kb, int64_t entity_id, const char *alias, int64_t *new_id,
                   size_t *n_mentions, size_t *n_relations)
{
    cc_status st;
    if (!cc_kb_writable(kb)) return cc_kb_seterr(kb, CC_INVALID, "splitting needs a writable KB");
    if ((st = cc_kb_begin(kb))) return st;
    if ((st = do_split(kb, entity_id, alias, new_id, n_mentions, n_relations))) {
        cc_kb_rollback(kb);
        return st;
    }
    return cc_kb_commit(kb);
}
