/* derived.c — what ingestion and its callers need from the graph module:
 * ingestion options (extraction of every chunk into the catalog's
 * entities, aliases, mentions and relations tables, in the ingestion
 * transaction) and the catch-up of derived indexes after writes.
 *
 * Resolution is KB-wide: an entity of a chunk (cg_resolve) is the catalog
 * entity with the same key, else the one having one of its aliases' keys
 * (an acronym or apposition seen before), else a new one.  Entities
 * merged into another (entities.merged_into) resolve to the one kept.
 * Removing a document's graph rows is done by retrieval (ingest.c) in the
 * same transaction as its chunks. */
#include "graph.h"

#include <pthread.h>

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

enum { Q_BY_KEY, Q_BY_ALIAS, Q_ENT_INSERT, Q_ALIAS_INSERT, Q_MENTION_INSERT, Q_REL_INSERT,
       Q_NAMES, Q_N };
static const char *const q_sql[Q_N] = {
    [Q_BY_KEY] = "SELECT id, merged_into FROM entities WHERE key = ?1",
    [Q_BY_ALIAS] = "SELECT a.entity_id, e.merged_into FROM aliases a JOIN entities e"
                   " ON e.id = a.entity_id WHERE a.norm = ?1 LIMIT 1",
    [Q_ENT_INSERT] = "INSERT INTO entities(key, label, type) VALUES (?1, ?2, ?3)",
    [Q_ALIAS_INSERT] = "INSERT OR IGNORE INTO aliases(entity_id, alias, norm, source)"
                       " VALUES (?1, ?2, ?3, ?4)",
    [Q_MENTION_INSERT] = "INSERT INTO mentions(entity_id, chunk_id, start_char, end_char,"
                         " surface, extractor, confidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_REL_INSERT] = "INSERT INTO relations(subject_id, predicate, object_id, chunk_id,"
                     " start_char, end_char, pattern, extractor, confidence, status)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    /* the entity's row of the names index gets the new alias */
    [Q_NAMES] = "INSERT OR REPLACE INTO entity_names(rowid, names) VALUES (?1, coalesce("
                "(SELECT names || ' | ' FROM entity_names WHERE rowid = ?1), '') || ?2)",
};

/* The rules extractor is stateless between chunks apart from its error
 * message; one per thread, freed when the thread exits (server workers). */
static _Thread_local cg_extractor *rules_ex;
static pthread_key_t  rules_key;
static pthread_once_t rules_once = PTHREAD_ONCE_INIT;

static void rules_free(void *ex) { cg_extractor_free(ex); rules_ex = NULL; }
static void rules_key_init(void) { pthread_key_create(&rules_key, rules_free); }

static void finalize_q(sqlite3_stmt **q)
{
    for (int i = 0; i < Q_N; i++) sqlite3_finalize(q[i]);
}

/* Runs a lookup returning (id, merged_into); follows merged_into once
 * more through the entities table.  0 when not found. */
static int64_t lookup(sqlite3 *db, sqlite3_stmt *s, const char *key)
{
    int64_t id = 0, into = 0;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        id = sqlite3_column_int64(s, 0);
        into = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    /* a chain of merges: follow it to the entity kept (bounded) */
    for (int hop = 0; into && hop < 16; hop++) {
        sqlite3_stmt *m = NULL;
        id = into;
        into = 0;
        if (sqlite3_prepare_v2(db, "SELECT merged_into FROM entities WHERE id = ?1", -1, &m,
                               NULL) != SQLITE_OK)
            break;
        sqlite3_bind_int64(m, 1, id);
        if (sqlite3_step(m) == SQLITE_ROW) into = sqlite3_column_int64(m, 0);
        sqlite3_finalize(m);
    }
    return id;
}

static int step_ok(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW;
}

static cc_status on_chunk(void *ud, cc_kb *kb, int64_t doc_id, int64_t chunk_id,
                          const char *text, size_t len, int64_t start_byte, int64_t start_char)
{
    cg_extractor *ex = ud;
    sqlite3 *db = cc_kb_db(kb);
    sqlite3_stmt *q[Q_N] = {0};
    cg_extraction x;
    cg_resolution r;
    cg_chunk ch = {text, len, start_byte, start_char};
    int64_t *ids = NULL;
    const char *xid = cg_extractor_id(ex);
    cc_status st = CC_OK;
    size_t i, j;
    (void)doc_id;

    cg_extraction_init(&x);
    memset(&r, 0, sizeof r);
    if (cg_extractor_run(ex, &ch, &x) != CC_OK) {
        /* a chunk the extractor cannot read is skipped, not fatal */
        cg_extraction_free(&x);
        return CC_OK;
    }
    if (!x.n_mentions) goto out;
    if ((st = cg_resolve(&x, &r))) {
        st = cc_kb_seterr(kb, st, "graph: resolving entities failed");
        goto out;
    }
    for (i = 0; i < Q_N; i++)
        if (sqlite3_prepare_v2(db, q_sql[i], -1, &q[i], NULL) != SQLITE_OK) {
            st = cc_kb_sqlerr(kb, "graph: preparing extraction");
            goto out;
        }
    if (!(ids = calloc(r.n_entities ? r.n_entities : 1, sizeof *ids))) {
        st = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < r.n_entities; i++) {
        const cg_entity *e = &r.entities[i];
        int64_t id = lookup(db, q[Q_BY_KEY], e->key);
        for (j = 0; !id && j < e->n_aliases; j++)
            id = lookup(db, q[Q_BY_ALIAS], e->aliases[j].norm);
        if (!id) {
            sqlite3_bind_text(q[Q_ENT_INSERT], 1, e->key, -1, SQLITE_STATIC);
            sqlite3_bind_text(q[Q_ENT_INSERT], 2, e->label, -1, SQLITE_STATIC);
            sqlite3_bind_text(q[Q_ENT_INSERT], 3, cg_type_str(e->type), -1, SQLITE_STATIC);
            if (!step_ok(q[Q_ENT_INSERT])) { st = cc_kb_sqlerr(kb, "graph: adding an entity"); goto out; }
            id = sqlite3_last_insert_rowid(db);
        }
        ids[i] = id;
        for (j = 0; j < e->n_aliases; j++) {
            sqlite3_stmt *s = q[Q_ALIAS_INSERT];
            sqlite3_bind_int64(s, 1, id);
            sqlite3_bind_text(s, 2, e->aliases[j].alias, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 3, e->aliases[j].norm, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 4, cg_alias_source_str(e->aliases[j].source), -1, SQLITE_STATIC);
            if (!step_ok(s)) { st = cc_kb_sqlerr(kb, "graph: adding an alias"); goto out; }
            if (!sqlite3_changes(db)) continue;      /* known alias */
            sqlite3_bind_int64(q[Q_NAMES], 1, id);
            sqlite3_bind_text(q[Q_NAMES], 2, e->aliases[j].alias, -1, SQLITE_STATIC);
            if (!step_ok(q[Q_NAMES])) { st = cc_kb_sqlerr(kb, "graph: indexing a name"); goto out; }
        }
    }
    for (i = 0; i < x.n_mentions; i++) {
        const cg_mention *m = &x.mentions[i];
        sqlite3_stmt *s = q[Q_MENTION_INSERT];
        sqlite3_bind_int64(s, 1, ids[r.entity_of[i]]);
        sqlite3_bind_int64(s, 2, chunk_id);
        sqlite3_bind_int64(s, 3, m->start_char);
        sqlite3_bind_int64(s, 4, m->end_char);
        sqlite3_bind_text(s, 5, m->surface, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, xid, -1, SQLITE_STATIC);
        sqlite3_bind_double(s, 7, m->confidence);
        if (!step_ok(s)) { st = cc_kb_sqlerr(kb, "graph: adding a mention"); goto out; }
    }
    for (i = 0; i < x.n_relations; i++) {
        const cg_relation *rl = &x.relations[i];
        sqlite3_stmt *s = q[Q_REL_INSERT];
        int64_t a = ids[r.entity_of[rl->subj]], b = ids[r.entity_of[rl->obj]];
        if (a == b) continue;     /* "IBM is IBM": nothing to record */
        sqlite3_bind_int64(s, 1, a);
        sqlite3_bind_text(s, 2, rl->predicate, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, b);
        sqlite3_bind_int64(s, 4, chunk_id);
        sqlite3_bind_int64(s, 5, rl->sent_start_char);
        sqlite3_bind_int64(s, 6, rl->sent_end_char);
        sqlite3_bind_text(s, 7, rl->pattern, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 8, xid, -1, SQLITE_STATIC);
        sqlite3_bind_double(s, 9, rl->confidence);
        sqlite3_bind_text(s, 10, cg_rel_status_str(rl->status), -1, SQLITE_STATIC);
        if (!step_ok(s)) { st = cc_kb_sqlerr(kb, "graph: adding a relation"); goto out; }
    }
out:
    free(ids);
    finalize_q(q);
    cg_resolution_free(&r);
    cg_extraction_free(&x);
    return st;
}

cc_status cg_ingest_opts_from_kb(cc_kb *kb, cr_ingest_opts *o)
{
    const char *name;
    cc_status s;
    if ((s = cr_ingest_opts_from_kb(kb, o))) return s;
    o->on_chunk = NULL;
    o->on_chunk_ud = NULL;
    if ((s = cc_kb_setting_str(kb, "graph.extractor", "rules", &name))) return s;
    if (!strcmp(name, "none")) return CC_OK;
    if (strcmp(name, "rules"))
        return cc_kb_seterr(kb, CC_INVALID,
                            "graph.extractor must be \"rules\" or \"none\", not \"%s\"", name);
    if (!rules_ex) {
        pthread_once(&rules_once, rules_key_init);
        if (cg_extractor_rules_new(NULL, &rules_ex))
            return cc_kb_seterr(kb, CC_NOMEM, "graph: cannot create the rules extractor");
        pthread_setspecific(rules_key, rules_ex);
    }
    o->on_chunk = on_chunk;
    o->on_chunk_ud = rules_ex;
    return CC_OK;
}

cc_status cg_sync_derived(cc_kb *kb, cr_vectors_stats *vs)
{
    cr_vectors_stats tmp;
    cc_status s = cr_vectors_sync(kb, vs ? vs : &tmp);
    return s ? s : cg_graph_sync(kb, 0, NULL);     /* the Redland store (rdf.c) */
}
