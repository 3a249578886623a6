/* derived.c — what ingestion and its callers need from the graph module:
 * ingestion options (extraction of every chunk into the catalog's
 * entities, aliases, mentions and relations tables, in the ingestion
 * transaction) and the catch-up of derived indexes after writes.
 *
 * Resolution is KB-wide: an entity of a chunk (cg_resolve) is the catalog
 * entity with the same key, else the one having one of its aliases' keys
 * (an acronym or apposition seen before), else a new one.  Entities
 * merged into another (entities.merged_into) resolve to the one kept.
 * Every name joined to an entity it does not name by itself is recorded
 * in the merges table (merge.c reads and undoes them); a merge undone by
 * cairn graph split is a rule: that name goes to its own entity.
 *
 * Speed: the statements are kept with the KB handle (cc_kb_stmt),
 * prepared once, not per chunk or per input; aliases are found through
 * an index on their norm; in a batch, entity_names (FTS5) is written
 * once per transaction (entnames): the names are staged in
 * temp.names_stage and written by a step before the commit (names_flush),
 * since FTS5 writes a segment at every SAVEPOINT/RELEASE of a transaction
 * that wrote to it (an input of a batch is a savepoint).
 * Removing a document's graph rows is done by retrieval (ingest.c) in the
 * same transaction as its chunks. */
#include "graph_int.h"

#include <pthread.h>

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

enum { Q_BY_KEY, Q_BY_ALIAS, Q_BY_ID, Q_ENT_INSERT, Q_ALIAS_INSERT, Q_MENTION_INSERT,
       Q_REL_INSERT, Q_NAMES, Q_NAMES_OLD, Q_NAMES_NEW, Q_NAMES_NOW, Q_NAMES_NOW_NEW,
       Q_MERGE_SEEN, Q_MERGE_INSERT, Q_N };
static const char *const q_sql[Q_N] = {
    [Q_BY_KEY] = "SELECT id, merged_into, key, label FROM entities WHERE key = ?1",
    [Q_BY_ALIAS] = "SELECT e.id, e.merged_into, e.key, e.label FROM aliases a JOIN entities e"
                   " ON e.id = a.entity_id WHERE a.norm = ?1 LIMIT 1",
    [Q_BY_ID] = "SELECT id, merged_into, key, label FROM entities WHERE id = ?1",
    [Q_ENT_INSERT] = "INSERT INTO entities(key, label, type) VALUES (?1, ?2, ?3)",
    [Q_ALIAS_INSERT] = "INSERT OR IGNORE INTO aliases(entity_id, alias, norm, source)"
                       " VALUES (?1, ?2, ?3, ?4)",
    [Q_MENTION_INSERT] = "INSERT INTO mentions(entity_id, chunk_id, start_char, end_char,"
                         " surface, extractor, confidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [Q_REL_INSERT] = "INSERT INTO relations(subject_id, predicate, object_id, chunk_id,"
                     " start_char, end_char, pattern, extractor, confidence, status)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    /* the entity's names, staged for the commit (names_flush): its staged
     * row gets the new alias; an entity with none yet gets one, from its
     * committed entity_names row if it has one (an UPDATE, then a lookup
     * and an INSERT when it changed nothing) */
    [Q_NAMES] = "UPDATE temp.names_stage SET names = names || ' | ' || ?2 WHERE id = ?1",
    [Q_NAMES_OLD] = "SELECT names FROM entity_names WHERE rowid = ?1",
    [Q_NAMES_NEW] = "INSERT INTO temp.names_stage(id, names, old) VALUES (?1, ?2, ?3)",
    /* a lone input's (no batch: cr_ingest_in_batch) straight into the
     * index, the same way (FTS5's INSERT OR REPLACE re-parsed SQL on every
     * call) */
    [Q_NAMES_NOW] = "UPDATE entity_names SET names = names || ' | ' || ?2 WHERE rowid = ?1",
    [Q_NAMES_NOW_NEW] = "INSERT INTO entity_names(rowid, names) VALUES (?1, ?2)",
    [Q_MERGE_SEEN] = "SELECT 1 FROM merges WHERE kept_id = ?1 AND norm = ?2 AND alias = ?3 LIMIT 1",
    [Q_MERGE_INSERT] = "INSERT INTO merges(kept_id, alias, norm, reason, chunk_id, start_char,"
                       " end_char, extractor, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
};
/* made before the statements above are prepared, and in every chunk's
 * transaction (a rolled-back first input of a batch drops it) */
static const char sql_stage_table[] = CR_NAMES_STAGE_DDL;
/* the step before the commit (names_flush): the staged rows into
 * entity_names, one single-row statement each (a multi-row write opens a
 * statement savepoint, at which FTS5 flushes its pending rows as a
 * segment), in rowid order (FTS5 also flushes when a write's rowid is
 * below the previous one's; a delete and an insert of one rowid do not);
 * then the stage is emptied for the next transaction */
static const char sql_stage_rows[] = "SELECT id, names, old FROM temp.names_stage ORDER BY id";
static const char sql_names_del[] = "DELETE FROM entity_names WHERE rowid = ?1";
static const char sql_names_ins[] = "INSERT INTO entity_names(rowid, names) VALUES (?1, ?2)";
static const char sql_stage_clear[] = "DELETE FROM temp.names_stage";

/* A merge undone by cairn graph split: the name goes to its own entity. */
typedef struct nomerge {
    int64_t kept;
    char   *norm;
    char   *surface;        /* same_key: the exact surface; else NULL */
    char   *split_key;      /* key of the entity the name goes to */
} nomerge;

/* One thread's ingestion state, kept from run to run: the extractor and
 * the do-not-merge rules read when the run started; while a chunk is
 * written, its KB's connection and statements (kept with the KB handle:
 * borrowed, fetched again for every chunk). */
typedef struct ingest_run {
    cg_extractor *ex;
    sqlite3      *db;
    sqlite3_stmt *q[Q_N];
    int           staging;   /* this chunk's names go to names_stage (a batch) */
    char          now[32];
    nomerge      *rules;
    size_t        n_rules;
    size_t        chunks_skipped, limits_hit;   /* chunks, since the run started */
} ingest_run;

static _Thread_local ingest_run *run_tl;
static _Thread_local uint64_t set_up_for;   /* cc_kb_serial of the handle cg_ingest_chunk_with
                                              * set up for; 0: none */
static pthread_key_t  run_key;
static pthread_once_t run_once = PTHREAD_ONCE_INIT;

/* Forgets the borrowed statements (the KB handle finalizes them). */
static void forget_q(ingest_run *r)
{
    memset(r->q, 0, sizeof r->q);
    r->db = NULL;
}

static void free_rules(ingest_run *r)
{
    for (size_t i = 0; i < r->n_rules; i++) {
        free(r->rules[i].norm);
        free(r->rules[i].surface);
        free(r->rules[i].split_key);
    }
    free(r->rules);
    r->rules = NULL;
    r->n_rules = 0;
}

static void run_free(void *p)
{
    ingest_run *r = p;
    if (!r) return;
    free_rules(r);
    cg_extractor_free(r->ex);
    free(r);
    run_tl = NULL;
}
static void run_key_init(void) { pthread_key_create(&run_key, run_free); }

void cg_ingest_warnings(size_t *chunks_skipped, size_t *limits_hit)
{
    *chunks_skipped = run_tl ? run_tl->chunks_skipped : 0;
    *limits_hit = run_tl ? run_tl->limits_hit : 0;
}

void cg_ingest_done(void)
{
    if (run_tl) forget_q(run_tl);
    set_up_for = 0;
}

/* An entity of the catalog: id and copies of key and label. */
typedef struct ent_ref { int64_t id; char *key, *label; } ent_ref;

static void ent_clear(ent_ref *e) { free(e->key); free(e->label); memset(e, 0, sizeof *e); }

/* Runs a lookup (s bound by the caller) returning (id, merged_into, key,
 * label); follows merged_into to the entity kept (bounded).  1: found,
 * 0: not found, -1: out of memory. */
static int lookup_run(ingest_run *r, sqlite3_stmt *s, ent_ref *out)
{
    int found = 0;
    for (int hop = 0; hop < 16; hop++) {
        int64_t into = 0;
        if (sqlite3_step(s) == SQLITE_ROW) {
            ent_clear(out);
            out->id = sqlite3_column_int64(s, 0);
            into = sqlite3_column_int64(s, 1);
            out->key = cc_strdup((const char *)sqlite3_column_text(s, 2));
            out->label = cc_strdup((const char *)sqlite3_column_text(s, 3));
            found = 1;
            if (!out->key || !out->label) { sqlite3_reset(s); return -1; }
        }
        sqlite3_reset(s);
        if (!into) break;
        s = r->q[Q_BY_ID];
        sqlite3_bind_int64(s, 1, into);
    }
    return found;
}

static int lookup(ingest_run *r, int q, const char *key, ent_ref *out)
{
    sqlite3_bind_text(r->q[q], 1, key, -1, SQLITE_STATIC);
    return lookup_run(r, r->q[q], out);
}

static int step_ok(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW;
}

/* A new entity with this key (the caller found none). */
static cc_status insert_entity(ingest_run *r, cc_kb *kb, const char *key, const char *label,
                               const char *type, ent_ref *out)
{
    sqlite3_bind_text(r->q[Q_ENT_INSERT], 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(r->q[Q_ENT_INSERT], 2, label, -1, SQLITE_STATIC);
    sqlite3_bind_text(r->q[Q_ENT_INSERT], 3, type, -1, SQLITE_STATIC);
    if (!step_ok(r->q[Q_ENT_INSERT])) return cc_kb_sqlerr(kb, "graph: adding an entity");
    ent_clear(out);
    out->id = sqlite3_last_insert_rowid(r->db);
    out->key = cc_strdup(key);
    out->label = cc_strdup(label);
    if (!out->key || !out->label) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    return CC_OK;
}

/* The entity with this key, created when there is none. */
static cc_status ensure_entity(ingest_run *r, cc_kb *kb, const char *key, const char *label,
                               const char *type, ent_ref *out)
{
    int f = lookup(r, Q_BY_KEY, key, out);
    if (f < 0) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    return f ? CC_OK : insert_entity(r, kb, key, label, type, out);
}

/* The do-not-merge rule for a name of entity `kept`, or NULL. */
static const nomerge *find_rule(const ingest_run *r, int64_t kept, const char *norm,
                                const char *surface)
{
    for (size_t i = 0; i < r->n_rules; i++) {
        const nomerge *n = &r->rules[i];
        if (n->kept != kept || strcmp(n->norm, norm)) continue;
        if (!n->surface || !strcmp(n->surface, surface)) return n;
    }
    return NULL;
}

/* Runs a kept statement that returns no row. */
static cc_status step_kept(cc_kb *kb, const char *sql, const char *what)
{
    sqlite3_stmt *t;
    cc_status s;
    if ((s = cc_kb_stmt(kb, sql, &t))) return s;
    s = sqlite3_step(t) == SQLITE_DONE ? CC_OK : cc_kb_sqlerr(kb, what);
    sqlite3_reset(t);
    return s;
}

/* The step before the commit: every entity's staged names into
 * entity_names (its committed row, if any, replaced), so FTS5 writes the
 * transaction's names as one segment at the commit instead of one per
 * input of a batch (it flushes at every SAVEPOINT and RELEASE of a
 * transaction that wrote to it). */
static cc_status names_flush(cc_kb *kb, int64_t arg)
{
    sqlite3_stmt *q, *del, *ins;
    cc_status st;
    int rc;
    (void)arg;
    /* the stage may have gone with the savepoint of the input that made it */
    if ((st = step_kept(kb, sql_stage_table, "graph: indexing names")) ||
        (st = cc_kb_stmt(kb, sql_stage_rows, &q)) || (st = cc_kb_stmt(kb, sql_names_del, &del)) ||
        (st = cc_kb_stmt(kb, sql_names_ins, &ins)))
        return st;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (sqlite3_column_int(q, 2)) {
            sqlite3_bind_int64(del, 1, sqlite3_column_int64(q, 0));
            rc = sqlite3_step(del);
            sqlite3_reset(del);
            if (rc != SQLITE_DONE) break;
        }
        sqlite3_bind_int64(ins, 1, sqlite3_column_int64(q, 0));
        sqlite3_bind_value(ins, 2, sqlite3_column_value(q, 1));
        rc = sqlite3_step(ins);
        sqlite3_reset(ins);
        if (rc != SQLITE_DONE) break;
    }
    st = rc == SQLITE_DONE ? CC_OK : cc_kb_sqlerr(kb, "graph: indexing names");
    sqlite3_reset(q);
    sqlite3_clear_bindings(ins);
    if (!st) st = step_kept(kb, sql_stage_clear, "graph: indexing names");
    return st;
}

/* Adds a name of entity id (and to its names: in a batch, staged for
 * entity_names until the commit, names_flush; for a lone input, written
 * to entity_names at once, as its commit writes one segment either way).
 * The names text is the same either way: the aliases in the order added,
 * joined by " | ".  *no_names
 * (may be NULL): 1 when the entity has no entity_names row nor staged row
 * yet (made by this chunk: entity ids are AUTOINCREMENT, never reused, so
 * none can be there), so the row is staged without trying the UPDATE
 * first (real text makes a new entity for about every other mention); set
 * to 0 once the row exists. */
static cc_status add_alias(ingest_run *r, cc_kb *kb, int64_t id, const cg_alias *a, int *added,
                           int *no_names)
{
    sqlite3_stmt *s = r->q[Q_ALIAS_INSERT];
    int old = 0;
    cc_buf names = CC_BUF_INIT(0);
    cc_status st;
    *added = 0;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, a->alias, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, a->norm, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, cg_alias_source_str(a->source), -1, SQLITE_STATIC);
    if (!step_ok(s)) return cc_kb_sqlerr(kb, "graph: adding an alias");
    if (!sqlite3_changes(r->db)) return CC_OK;      /* known alias */
    *added = 1;
    if (!r->staging) {       /* a lone input: no savepoint, nothing to save */
        if (!no_names || !*no_names) {
            sqlite3_bind_int64(r->q[Q_NAMES_NOW], 1, id);
            sqlite3_bind_text(r->q[Q_NAMES_NOW], 2, a->alias, -1, SQLITE_STATIC);
            if (!step_ok(r->q[Q_NAMES_NOW])) return cc_kb_sqlerr(kb, "graph: indexing a name");
            if (sqlite3_changes(r->db)) return CC_OK;
        }
        if (no_names) *no_names = 0;
        sqlite3_bind_int64(r->q[Q_NAMES_NOW_NEW], 1, id);
        sqlite3_bind_text(r->q[Q_NAMES_NOW_NEW], 2, a->alias, -1, SQLITE_STATIC);
        if (!step_ok(r->q[Q_NAMES_NOW_NEW])) return cc_kb_sqlerr(kb, "graph: indexing a name");
        return CC_OK;
    }
    if (!no_names || !*no_names) {
        sqlite3_stmt *o = r->q[Q_NAMES_OLD];
        sqlite3_bind_int64(r->q[Q_NAMES], 1, id);
        sqlite3_bind_text(r->q[Q_NAMES], 2, a->alias, -1, SQLITE_STATIC);
        if (!step_ok(r->q[Q_NAMES])) return cc_kb_sqlerr(kb, "graph: indexing a name");
        if (sqlite3_changes(r->db)) return CC_OK;
        /* first change of its names in this transaction: from its committed row */
        sqlite3_bind_int64(o, 1, id);
        if (sqlite3_step(o) == SQLITE_ROW) {
            old = 1;
            if (cc_buf_append(&names, sqlite3_column_text(o, 0), (size_t)sqlite3_column_bytes(o, 0))
                || cc_buf_puts(&names, " | ")) {
                sqlite3_reset(o);
                cc_buf_free(&names);
                return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
            }
        }
        sqlite3_reset(o);
        sqlite3_clear_bindings(o);
    }
    if (no_names) *no_names = 0;
    if (old && cc_buf_puts(&names, a->alias)) {
        cc_buf_free(&names);
        return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    }
    sqlite3_bind_int64(r->q[Q_NAMES_NEW], 1, id);
    if (old) sqlite3_bind_text(r->q[Q_NAMES_NEW], 2, names.data, (int)names.len, SQLITE_STATIC);
    else sqlite3_bind_text(r->q[Q_NAMES_NEW], 2, a->alias, -1, SQLITE_STATIC);
    sqlite3_bind_int(r->q[Q_NAMES_NEW], 3, old);
    st = step_ok(r->q[Q_NAMES_NEW]) ? CC_OK : cc_kb_sqlerr(kb, "graph: indexing a name");
    cc_buf_free(&names);
    /* the transaction's first staged name sets the step (again: a no-op) */
    if (!st) cc_kb_precommit_set(kb, names_flush, 0);
    return st;
}

static cc_status add_merge(ingest_run *r, cc_kb *kb, int64_t kept, const char *alias,
                           const char *norm, const char *reason, int64_t chunk_id,
                           const cg_mention *m, const char *xid)
{
    sqlite3_stmt *s = r->q[Q_MERGE_INSERT];
    sqlite3_bind_int64(s, 1, kept);
    sqlite3_bind_text(s, 2, alias, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, norm, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, chunk_id);
    if (m) {
        sqlite3_bind_int64(s, 6, m->start_char);
        sqlite3_bind_int64(s, 7, m->end_char);
    }
    sqlite3_bind_text(s, 8, xid, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 9, r->now, -1, SQLITE_STATIC);
    return step_ok(s) ? CC_OK : cc_kb_sqlerr(kb, "graph: recording a merge");
}

static const char *merge_reason(cg_alias_source src)
{
    return src == CG_ALIAS_ACRONYM ? "acronym" : src == CG_ALIAS_APPOSITION ? "apposition" : "alias";
}

/* The relations of one chunk already written, as (subject, predicate,
 * object, sentence) after resolution: two mentions of one entity in a
 * sentence ("International Business Machines (IBM) ... Norvale") give the
 * same co-occurrence twice; it is written once. */
typedef struct rel_set {
    struct { uint64_t h; const cg_relation *r; int64_t a, b; } *slot;
    size_t cap;
} rel_set;

static int rel_set_init(rel_set *rs, size_t n)
{
    rs->cap = 16;
    while (rs->cap < n * 2) rs->cap *= 2;
    rs->slot = calloc(rs->cap, sizeof *rs->slot);
    return rs->slot != NULL;
}

static int seen_rel(rel_set *rs, const cg_relation *r, int64_t a, int64_t b)
{
    uint64_t h = 1469598103934665603ull;
    size_t k;
    for (const char *p = r->predicate; *p; p++) { h ^= (unsigned char)*p; h *= 1099511628211ull; }
    h = (h ^ (uint64_t)a) * 0x9e3779b97f4a7c15ull;
    h = (h ^ (uint64_t)b ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (uint64_t)r->sent_start_char ^ (h >> 31)) * 0x94d049bb133111ebull;
    h = h ? h : 1;
    for (k = h & (rs->cap - 1); rs->slot[k].h; k = (k + 1) & (rs->cap - 1))
        if (rs->slot[k].h == h && rs->slot[k].a == a && rs->slot[k].b == b &&
            rs->slot[k].r->sent_start_char == r->sent_start_char &&
            !strcmp(rs->slot[k].r->predicate, r->predicate))
            return 1;
    rs->slot[k].h = h;
    rs->slot[k].r = r;
    rs->slot[k].a = a;
    rs->slot[k].b = b;
    return 0;
}

static cc_status on_chunk(void *ud, cc_kb *kb, int64_t doc_id, int64_t chunk_id,
                          const char *text, size_t len, int64_t start_byte, int64_t start_char)
{
    ingest_run *run = ud;
    sqlite3 *db = cc_kb_db(kb);
    cg_extraction x;
    cg_resolution r;
    cg_chunk ch = {text, len, start_byte, start_char};
    ent_ref *ents = NULL, tmp = {0};
    rel_set rs = {0};
    int64_t *mid = NULL;
    const char *xid = cg_extractor_id(run->ex);
    cc_status st = CC_OK;
    size_t i, j, k;
    (void)doc_id;

    cg_extraction_init(&x);
    memset(&r, 0, sizeof r);
    if (cg_extractor_run(run->ex, &ch, &x) != CC_OK) {
        /* a chunk the extractor cannot read is skipped, counted, not fatal */
        run->chunks_skipped++;
        cg_extraction_free(&x);
        return CC_OK;
    }
    if (x.warn.mentions_capped || x.warn.relations_capped || x.warn.names_too_long ||
        x.warn.tokens_capped || x.warn.bad_offsets)
        run->limits_hit++;      /* co-occurrence caps are by design, not counted */
    if (!x.n_mentions) goto out;
    if ((st = cg_resolve(&x, &r))) {
        st = cc_kb_seterr(kb, st, "graph: resolving entities failed");
        goto out;
    }
    /* the stage first: the statements below name it */
    if ((st = step_kept(kb, sql_stage_table, "graph: staging names"))) goto out;
    for (i = 0; i < Q_N; i++)
        if ((st = cc_kb_stmt(kb, q_sql[i], &run->q[i]))) {
            forget_q(run);
            goto out;
        }
    run->db = db;
    {   /* staged in a batch, and once staged in this transaction (names_flush
         * then owns the rows it staged); else written at once */
        int64_t set;
        run->staging = cr_ingest_in_batch() || cc_kb_precommit_get(kb, names_flush, &set);
    }
    ents = calloc(r.n_entities ? r.n_entities : 1, sizeof *ents);
    mid = calloc(x.n_mentions, sizeof *mid);
    if (!ents || !mid) {
        st = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        goto out;
    }
    /* each entity of the chunk: the catalog's with its key, else the one
     * with one of its names as an alias, else a new one */
    for (i = 0; i < r.n_entities; i++) {
        const cg_entity *e = &r.entities[i];
        const char *type = cg_type_str(e->type);
        int f = lookup(run, Q_BY_KEY, e->key, &ents[i]), by_key = f > 0, fresh = 0;
        for (j = 0; !f && j < e->n_aliases; j++)
            f = lookup(run, Q_BY_ALIAS, e->aliases[j].norm, &ents[i]);
        if (f < 0) { st = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
        /* none by key nor alias: a new one, whose names row is inserted without
         * trying the UPDATE (the key was looked up just above) */
        if (!f) {
            fresh = 1;
            if ((st = insert_entity(run, kb, e->key, e->label, type, &ents[i]))) goto out;
        }
        for (j = 0; j < e->n_aliases; j++) {
            const cg_alias *a = &e->aliases[j];
            const nomerge *nm = run->n_rules ? find_rule(run, ents[i].id, a->norm, a->alias) : NULL;
            int64_t id = ents[i].id;
            int added;
            /* an entity always has its own key as an alias */
            if (by_key && !nm && !strcmp(a->norm, ents[i].key)) continue;
            if (nm && !nm->surface) {       /* split off: the name is its own entity */
                if ((st = ensure_entity(run, kb, nm->split_key, a->alias, type, &tmp))) goto out;
                id = tmp.id;
            }
            if ((st = add_alias(run, kb, id, a, &added, id == ents[i].id ? &fresh : NULL))) goto out;
            if (added && id == ents[i].id && strcmp(a->norm, ents[i].key)) {
                const cg_mention *ev = NULL;       /* the mention showing the merge */
                for (k = 0; k < x.n_mentions && !ev; k++)
                    if (r.entity_of[k] == i && !strcmp(r.key_of[k], a->norm))
                        ev = &x.mentions[k];
                if ((st = add_merge(run, kb, id, a->alias, a->norm, merge_reason(a->source),
                                    chunk_id, ev, xid)))
                    goto out;
            }
        }
    }
    for (i = 0; i < x.n_mentions; i++) {
        const cg_mention *m = &x.mentions[i];
        const ent_ref *E = &ents[r.entity_of[i]];
        const nomerge *nm = run->n_rules ? find_rule(run, E->id, r.key_of[i], m->surface) : NULL;
        sqlite3_stmt *s = run->q[Q_MENTION_INSERT];
        mid[i] = E->id;
        if (nm) {
            cg_alias own = { m->surface, r.key_of[i], CG_ALIAS_LABEL };
            int added;
            if ((st = ensure_entity(run, kb, nm->split_key, m->surface,
                                    cg_type_str(r.entities[r.entity_of[i]].type), &tmp)) ||
                (st = add_alias(run, kb, tmp.id, &own, &added, NULL)))   /* if it was made anew */
                goto out;
            mid[i] = tmp.id;
        } else if (!(m->flags & (CG_MF_VALUE | CG_MF_CONCEPT)) && !strcmp(r.key_of[i], E->key) &&
                   strcmp(m->surface, E->label)) {
            /* another surface of the same name: recorded once per surface */
            int seen = 0;
            for (k = 0; k < i && !seen; k++)
                seen = mid[k] == E->id && !strcmp(x.mentions[k].surface, m->surface);
            if (!seen) {
                sqlite3_stmt *q = run->q[Q_MERGE_SEEN];
                sqlite3_bind_int64(q, 1, E->id);
                sqlite3_bind_text(q, 2, E->key, -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 3, m->surface, -1, SQLITE_STATIC);
                seen = sqlite3_step(q) == SQLITE_ROW;
                sqlite3_reset(q);
                if (!seen && (st = add_merge(run, kb, E->id, m->surface, E->key, "same_key",
                                             chunk_id, m, xid)))
                    goto out;
            }
        }
        sqlite3_bind_int64(s, 1, mid[i]);
        sqlite3_bind_int64(s, 2, chunk_id);
        sqlite3_bind_int64(s, 3, m->start_char);
        sqlite3_bind_int64(s, 4, m->end_char);
        sqlite3_bind_text(s, 5, m->surface, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, xid, -1, SQLITE_STATIC);
        sqlite3_bind_double(s, 7, m->confidence);
        if (!step_ok(s)) { st = cc_kb_sqlerr(kb, "graph: adding a mention"); goto out; }
    }
    if (!rel_set_init(&rs, x.n_relations)) {
        st = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < x.n_relations; i++) {
        const cg_relation *rl = &x.relations[i];
        sqlite3_stmt *s = run->q[Q_REL_INSERT];
        int64_t a = mid[rl->subj], b = mid[rl->obj];
        if (a == b) continue;     /* "IBM is IBM": nothing to record */
        if (seen_rel(&rs, rl, a, b)) continue;
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
    if (ents)
        for (i = 0; i < r.n_entities; i++) ent_clear(&ents[i]);
    ent_clear(&tmp);
    free(rs.slot);
    free(ents);
    free(mid);
    cg_resolution_free(&r);
    cg_extraction_free(&x);
    return st;
}

/* Reads the do-not-merge rules (merges undone by cairn graph split). */
static cc_status load_rules(ingest_run *r, cc_kb *kb)
{
    sqlite3_stmt *s;
    cc_buf key = CC_BUF_INIT(0);
    cc_status st = CC_OK;
    free_rules(r);
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT kept_id, norm, alias, reason, id FROM merges"
                           " WHERE undone_at IS NOT NULL ORDER BY id", -1, &s, NULL) != SQLITE_OK)
        return cc_kb_sqlerr(kb, "graph: reading merge rules");
    while (sqlite3_step(s) == SQLITE_ROW) {
        nomerge *n;
        const char *norm = (const char *)sqlite3_column_text(s, 1);
        const char *alias = (const char *)sqlite3_column_text(s, 2);
        const char *reason = (const char *)sqlite3_column_text(s, 3);
        int same = !strcmp(reason, "same_key");
        if (r->n_rules % 16 == 0) {
            nomerge *p = realloc(r->rules, (r->n_rules + 16) * sizeof *p);
            if (!p) { st = CC_NOMEM; break; }
            r->rules = p;
        }
        n = &r->rules[r->n_rules];
        memset(n, 0, sizeof *n);
        n->kept = sqlite3_column_int64(s, 0);
        n->norm = cc_strdup(norm);
        n->surface = same ? cc_strdup(alias) : NULL;
        if (cg_split_key(norm, same, sqlite3_column_int64(s, 4), &key) == CC_OK)
            n->split_key = cc_strdup(key.data ? key.data : "");
        r->n_rules++;
        if (!n->norm || (same && !n->surface) || !n->split_key) { st = CC_NOMEM; break; }
    }
    sqlite3_finalize(s);
    cc_buf_free(&key);
    return st ? cc_kb_seterr(kb, st, "out of memory") : CC_OK;
}

/* This thread's ingestion state, made on first use, ready for kb. */
static cc_status run_setup(cc_kb *kb)
{
    cc_status s;
    if (!run_tl) {
        ingest_run *r = calloc(1, sizeof *r);
        if (!r || cg_extractor_rules_new(NULL, &r->ex)) {
            free(r);
            return cc_kb_seterr(kb, CC_NOMEM, "graph: cannot create the rules extractor");
        }
        pthread_once(&run_once, run_key_init);
        pthread_setspecific(run_key, r);
        run_tl = r;
    }
    forget_q(run_tl);
    cc_utc_iso8601(run_tl->now);
    if ((s = load_rules(run_tl, kb))) return s;
    return CC_OK;
}

cc_status cg_ingest_opts_from_kb(cc_kb *kb, cr_ingest_opts *o)
{
    return cg_ingest_opts_with(kb, NULL, o);
}

cc_status cg_ingest_opts_with(cc_kb *kb, const char *name, cr_ingest_opts *o)
{
    cc_status s;
    if ((s = cr_ingest_opts_from_kb(kb, o))) return s;
    o->on_chunk = NULL;
    o->on_chunk_ud = NULL;
    if (!name && (s = cc_kb_setting_str(kb, "graph.extractor", "rules", &name))) return s;
    if (!strcmp(name, "none") || !strcmp(name, "llm")) return CC_OK;   /* llm: a pass after */
    if (strcmp(name, "rules") && strcmp(name, "both"))
        return cc_kb_seterr(kb, CC_INVALID, "graph.extractor must be \"rules\", \"llm\","
                            " \"both\" or \"none\", not \"%s\"", name);
    if ((s = run_setup(kb))) return s;
    run_tl->chunks_skipped = run_tl->limits_hit = 0;
    o->on_chunk = on_chunk;
    o->on_chunk_ud = run_tl;
    return CC_OK;
}

cc_status cg_ingest_chunk_with(cc_kb *kb, cg_extractor *ex, int64_t doc_id, int64_t chunk_id,
                               const char *text, size_t len, int64_t start_byte,
                               int64_t start_char, int *refused)
{
    cg_extractor *keep;
    size_t skipped;
    cc_status s;
    if (!run_tl || set_up_for != cc_kb_serial(kb)) {
        if ((s = run_setup(kb))) return s;
        set_up_for = cc_kb_serial(kb);
    }
    keep = run_tl->ex;
    skipped = run_tl->chunks_skipped;
    run_tl->ex = ex;
    s = on_chunk(run_tl, kb, doc_id, chunk_id, text, len, start_byte, start_char);
    run_tl->ex = keep;
    *refused = run_tl->chunks_skipped != skipped;
    run_tl->chunks_skipped = skipped;
    return s;
}

cc_status cg_sync_derived(cc_kb *kb, cr_vectors_stats *vs)
{
    cr_vectors_stats tmp;
    cc_status s = cr_vectors_sync(kb, vs ? vs : &tmp);
    return s ? s : cg_graph_sync(kb, 0, NULL);     /* the Redland store (rdf.c) */
}
