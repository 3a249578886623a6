/* search.c — the vector index kept in step with the catalog (catch-up from
 * the change log, rebuild when missing or corrupt) and hybrid search:
 * BM25 + vector lanes fused with RRF. */
#include "retrieval.h"

#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EMBED_BATCH CR_ADD_BATCH   /* chunks embedded, and added, at a time */

/* ---------------------------------------------------------------- settings */

cc_status cr_embedder_from_kb(cc_kb *kb, cr_embedder **out)
{
    const char *name;
    int64_t dim;
    cr_embedder_opts eo;
    cc_status s;
    *out = NULL;
    if ((s = cc_kb_setting_str(kb, "embedder.name", "hash", &name)) ||
        (s = cc_kb_setting_i64(kb, "embedder.dim", 384, &dim)))
        return s;
    memset(&eo, 0, sizeof eo);
    eo.dim = (int)dim;
    if ((s = cc_kb_setting_str(kb, "embedder.query_prefix", NULL, &eo.query_prefix)) ||
        (s = cc_kb_setting_str(kb, "embedder.doc_prefix", NULL, &eo.doc_prefix)))
        return s;
    {
        int64_t th;
        if ((s = cc_kb_setting_i64(kb, "embedder.threads", 0, &th))) return s;
        if (th < 0 || th > 64) return cc_kb_seterr(kb, CC_INVALID, "embedder.threads must be 0..64");
        eo.threads = (int)th;
        if ((s = cc_kb_setting_i64(kb, "embedder.max_tokens", 0, &th))) return s;
        if (th < 0 || th > 1 << 20)
            return cc_kb_seterr(kb, CC_INVALID, "embedder.max_tokens must be 0..1048576");
        eo.max_tokens = (int)th;
    }
    if ((s = cc_kb_setting_str(kb, "embedder.model", NULL, &eo.model_path))) return s;
    /* a relative embedder.model is relative to the KB directory */
    cc_buf mp = CC_BUF_INIT(0);
    if (eo.model_path && eo.model_path[0] != '/' && *eo.model_path) {
        if (cc_kb_path(kb, eo.model_path, &mp)) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        eo.model_path = mp.data;
    }
    s = cr_embedder_open(name, &eo, out);
    cc_buf_free(&mp);
    if (s) return cc_kb_seterr(kb, s, "embedder: %s", cc_errmsg());
    return CC_OK;
}

static cc_status vindex_opts_from_kb(cc_kb *kb, cr_vindex_opts *o)
{
    int64_t thr, m, ef, efc;
    cc_status s;
    memset(o, 0, sizeof *o);
    if ((s = cc_kb_setting_i64(kb, "vectors.hnsw_threshold", 100000, &thr)) ||
        (s = cc_kb_setting_i64(kb, "vectors.hnsw_m", 32, &m)) ||
        (s = cc_kb_setting_i64(kb, "vectors.hnsw_ef_search", 128, &ef)) ||
        (s = cc_kb_setting_i64(kb, "vectors.hnsw_ef_construction", 40, &efc)))
        return s;
    /* each out-of-range setting named with its range, so the user can fix
     * cairn.json (vectors.hnsw_ef_search: the walk's result set; a search
     * asking for more hits than it walks max(efSearch, k)) */
    if (thr < 1)
        return cc_kb_seterr(kb, CC_INVALID, "vectors.hnsw_threshold = %lld is out of range "
                            "(at least 1)", (long long)thr);
    if (m < 4 || m > 256)
        return cc_kb_seterr(kb, CC_INVALID, "vectors.hnsw_m = %lld is out of range 4..256",
                            (long long)m);
    if (ef < 1 || ef > 4096)
        return cc_kb_seterr(kb, CC_INVALID, "vectors.hnsw_ef_search = %lld is out of range "
                            "1..4096", (long long)ef);
    if (efc < 1 || efc > 4096)
        return cc_kb_seterr(kb, CC_INVALID, "vectors.hnsw_ef_construction = %lld is out of "
                            "range 1..4096", (long long)efc);
    o->hnsw_threshold = thr;
    o->hnsw_m = (int)m;
    o->hnsw_ef_search = (int)ef;
    o->hnsw_ef_construction = (int)efc;
    return CC_OK;
}

int cr_vectors_enabled(cc_kb *kb)
{
    const char *name = "hash";
    cc_kb_setting_str(kb, "embedder.name", "hash", &name);
    return strcmp(name, "none") != 0;
}

/* ---------------------------------------------------------------- catch-up */

/* Progress of embedding (cr_vectors_set_progress): set by the command line
 * before it syncs; NULL = none. */
static cr_progress_fn progress_fn;
static void *progress_ud;
static int64_t progress_done, progress_total;

void cr_vectors_set_progress(cr_progress_fn fn, void *ud)
{
    progress_fn = fn;
    progress_ud = ud;
}

/* Chunks to embed: all live ones (rebuild) or those added after `from`. */
static void progress_start(cc_kb *kb, int64_t from, int rebuild)
{
    sqlite3_stmt *st;
    progress_done = progress_total = 0;
    if (!progress_fn) return;
    if (sqlite3_prepare_v2(cc_kb_db(kb), rebuild ? "SELECT count(*) FROM chunks"
                           : "SELECT sum(chunk_hi - chunk_lo + 1) FROM changes"
                             " WHERE generation > ?1 AND op = 'add' AND chunk_hi >= chunk_lo",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    if (!rebuild) sqlite3_bind_int64(st, 1, from);
    if (sqlite3_step(st) == SQLITE_ROW) progress_total = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (progress_total > 0) progress_fn(progress_ud, 0, progress_total);
}

/* Embedded chunks waiting for cr_vindex_add. A catch-up's add ranges
 * (one per document written) go into the index together, CR_ADD_BATCH at
 * a time, as an open replays them (the same graph), not one call per
 * range: an HNSW add costs O(index size) per call before its first insert
 * (FAISS's: a lock per indexed vector allocated and initialised, ~0.6 ms
 * at 110k vectors; cairn's: a visited table), which a server's writer
 * paid for every one-chunk document. Flushed before a removal, so the
 * index sees the changes in the log's order. */
typedef struct {
    int64_t ids[EMBED_BATCH];
    float  *vecs;          /* EMBED_BATCH x dim */
    size_t  n;
    int64_t *added;        /* the stats' counter, bumped as they go in */
} pend_adds;

static cc_status pend_flush(cc_kb *kb, cr_vindex *vi, pend_adds *p)
{
    cc_status s;
    if (!p->n) return CC_OK;
    if ((s = cr_vindex_add(vi, p->n, p->ids, p->vecs)))
        return cc_kb_seterr(kb, s, "vector index: %s", cr_vindex_errmsg(vi));
    *p->added += (int64_t)p->n;
    progress_done += (int64_t)p->n;
    if (progress_fn && progress_total > 0) progress_fn(progress_ud, progress_done, progress_total);
    p->n = 0;
    return CC_OK;
}

static void pend_free(pend_adds *p)
{
    if (p) free(p->vecs);
    free(p);
}

/* Embeds the live chunks with ids in [lo, hi] into p, adding p's
 * vectors to vi whenever it fills. */
static cc_status add_range(cc_kb *kb, cr_embedder *e, cr_vindex *vi, int64_t lo, int64_t hi,
                           pend_adds *p)
{
    sqlite3_stmt *st;
    const char *texts[EMBED_BATCH];
    size_t lens[EMBED_BATCH];
    char *owned[EMBED_BATCH];
    size_t n = 0, i, dim = (size_t)cr_embedder_dim(e);
    cc_status s = CC_OK;
    int rc;

    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT id, text FROM chunks WHERE id BETWEEN ?1 AND ?2"
                           " ORDER BY id", -1, &st, NULL) != SQLITE_OK)
        return cc_kb_sqlerr(kb, "reading chunks to embed");
    sqlite3_bind_int64(st, 1, lo);
    sqlite3_bind_int64(st, 2, hi);
    for (;;) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            p->ids[p->n + n] = sqlite3_column_int64(st, 0);
            lens[n] = (size_t)sqlite3_column_bytes(st, 1);
            owned[n] = cc_strndup((const char *)sqlite3_column_text(st, 1), lens[n]);
            if (!owned[n]) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); break; }
            texts[n] = owned[n];
            n++;
        } else if (rc != SQLITE_DONE) {
            s = cc_kb_sqlerr(kb, "reading chunks to embed");
            break;
        }
        if (n && (p->n + n == EMBED_BATCH || rc == SQLITE_DONE)) {
            if ((s = cr_embedder_embed(e, texts, lens, n, p->vecs + p->n * dim))) {
                cc_kb_seterr(kb, s, "embedding: %s", cr_embedder_errmsg(e));
                break;
            }
            p->n += n;
            for (i = 0; i < n; i++) free(owned[i]);
            n = 0;
            if (p->n == EMBED_BATCH && (s = pend_flush(kb, vi, p))) break;
        }
        if (rc == SQLITE_DONE) break;
    }
    for (i = 0; i < n; i++) free(owned[i]);
    sqlite3_finalize(st);
    return s;
}

static cc_status remove_range(cc_kb *kb, cr_vindex *vi, int64_t lo, int64_t hi, int64_t *removed)
{
    int64_t id;
    while (lo <= hi) {
        int64_t ids[1024];
        size_t n = 0, got = 0;
        cc_status s;
        for (id = lo; id <= hi && n < 1024; id++) ids[n++] = id;
        lo = id;
        if ((s = cr_vindex_remove(vi, n, ids, &got)))
            return cc_kb_seterr(kb, s, "vector index: %s", cr_vindex_errmsg(vi));
        *removed += (int64_t)got;
    }
    return CC_OK;
}

cc_status cr_vectors_sync(cc_kb *kb, cr_vectors_stats *stats)
{
    return cr_vectors_sync_keep(kb, NULL, stats);
}

cc_status cr_vectors_load(cc_kb *kb, cr_vindex **out)
{
    cr_embedder *e = NULL;
    cr_vindex_opts vo;
    cc_buf path = CC_BUF_INIT(0);
    cc_status s;
    *out = NULL;
    if (!cr_vectors_enabled(kb))
        return cc_kb_seterr(kb, CC_NOTFOUND, "vectors are disabled (embedder.name is \"none\")");
    if ((s = vindex_opts_from_kb(kb, &vo)) || (s = cr_embedder_from_kb(kb, &e))) return s;
    if (cc_kb_path(kb, "vectors.faiss", &path)) s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    else if ((s = cr_vindex_open(path.data, cr_embedder_identity(e), cr_embedder_dim(e), &vo, out)))
        cc_kb_seterr(kb, s, "vector index: %s", cc_errmsg());
    cc_buf_free(&path);
    cr_embedder_close(e);
    return s;
}

cc_status cr_vectors_delta_max_adds(cc_kb *kb, uint64_t *out)
{
    int64_t ma;
    cc_status s = cc_kb_setting_i64(kb, "vectors.delta_max_adds", CR_DELTA_MAX_ADDS, &ma);
    if (s) return s;
    if (ma < 0 || ma > 100000000)
        return cc_kb_seterr(kb, CC_INVALID, "vectors.delta_max_adds must be 0 (no limit) to "
                            "100000000 (got %lld)", (long long)ma);
    *out = (uint64_t)ma;
    return CC_OK;
}

cc_status cr_vectors_fold(cc_kb *kb, cr_vindex **keep, uint64_t max_adds, uint64_t *folded)
{
    cr_vindex *vi = NULL;
    cc_status s = CC_OK;
    *folded = 0;
    if (!cc_kb_writable(kb))
        return cc_kb_seterr(kb, CC_INVALID, "folding the vector delta needs the writer lock");
    if (!cr_vectors_enabled(kb)) return CC_OK;
    if (keep && *keep && cr_vindex_disk_same(*keep)) {
        vi = *keep;
        *keep = NULL;
    } else {
        cc_buf dp = CC_BUF_INIT(0);
        struct stat sb;
        int none = cc_kb_path(kb, "vectors.faiss.delta", &dp) == CC_OK && stat(dp.data, &sb);
        cc_buf_free(&dp);
        if (none) return CC_OK;   /* no delta: nothing to load the index for */
        if (keep) { cr_vindex_close(*keep); *keep = NULL; }
        if ((s = cr_vectors_load(kb, &vi)) == CC_NOTFOUND) return CC_OK;   /* no index yet */
        if (s) return s;
    }
    uint64_t adds = cr_vindex_delta_adds(vi);
    if (cr_vindex_is_hnsw(vi) && adds > max_adds) {   /* a flat index's adds replay cheaply */
        if ((s = cr_vindex_save(vi)) != CC_OK)
            cc_kb_seterr(kb, s, "saving vectors: %s", cr_vindex_errmsg(vi));
        else
            *folded = adds;
    }
    if (keep && s == CC_OK) {
        *keep = vi;
        vi = NULL;
    }
    cr_vindex_close(vi);
    return s;
}

cc_status cr_vectors_sync_keep(cc_kb *kb, cr_vindex **keep, cr_vectors_stats *stats)
{
    cr_embedder *e = NULL;
    cr_vindex *vi = NULL;
    cr_vindex_opts vo;
    cc_buf path = CC_BUF_INIT(0);
    sqlite3_stmt *st = NULL;
    int64_t cur, from;
    pend_adds *pend = NULL;
    cc_status s;
    int rc;

    memset(stats, 0, sizeof *stats);
    if (!cc_kb_writable(kb))
        return cc_kb_seterr(kb, CC_INVALID, "updating vectors needs the writer lock");
    if (!cr_vectors_enabled(kb)) return CC_OK;
    if ((s = vindex_opts_from_kb(kb, &vo)) || (s = cr_embedder_from_kb(kb, &e))) return s;
    if (cc_kb_path(kb, "vectors.faiss", &path) || !(pend = calloc(1, sizeof *pend)) ||
        !(pend->vecs = malloc(EMBED_BATCH * (size_t)cr_embedder_dim(e) * sizeof *pend->vecs))) {
        s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        goto out;
    }
    pend->added = &stats->added;
    /* one read snapshot: the generation and the chunks agree */
    if ((s = cc_kb_exec(kb, "BEGIN"))) goto out;
    if ((s = cc_kb_generation(kb, &cur))) goto out;
    if (keep && *keep && cr_vindex_disk_same(*keep) && cr_vindex_generation(*keep) <= cur &&
        !strcmp(cr_vindex_embedder(*keep), cr_embedder_identity(e)) &&
        cr_vindex_dim(*keep) == cr_embedder_dim(e)) {
        vi = *keep;              /* the files are as this handle left them: no load */
        *keep = NULL;
        s = CC_OK;
    } else {
        if (keep) { cr_vindex_close(*keep); *keep = NULL; }
        s = cr_vindex_open(path.data, cr_embedder_identity(e), cr_embedder_dim(e), &vo, &vi);
    }
    if (s == CC_NOTFOUND || s == CC_CORRUPT) {
        stats->rebuilt = 1;
        stats->rebuild_reason = s;
        if ((s = cr_vindex_create(path.data, cr_embedder_identity(e), cr_embedder_dim(e),
                                  &vo, &vi))) {
            cc_kb_seterr(kb, s, "%s", cc_errmsg());
            goto out;
        }
        from = 0;
        progress_start(kb, 0, 1);
        if ((s = add_range(kb, e, vi, 1, INT64_MAX, pend)) || (s = pend_flush(kb, vi, pend)))
            goto out;
        goto save;
    }
    if (s == CC_INVALID) {
        cc_kb_seterr(kb, s, "%s; run: cairn reindex %s", cc_errmsg(), cc_kb_dir(kb));
        goto out;
    }
    if (s) { cc_kb_seterr(kb, s, "%s", cc_errmsg()); goto out; }
    from = cr_vindex_generation(vi);
    if (from > cur) {   /* the index is from the future: the catalog was restored */
        cr_vindex_close(vi);
        vi = NULL;
        unlink(path.data);
        if (cc_buf_puts(&path, ".delta") == CC_OK) unlink(path.data);
        cc_kb_exec(kb, "COMMIT");
        cc_buf_free(&path);
        cr_embedder_close(e);
        pend_free(pend);
        return cr_vectors_sync_keep(kb, keep, stats);
    }
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT op, chunk_lo, chunk_hi FROM changes"
                           " WHERE generation > ?1 ORDER BY generation", -1, &st, NULL)
        != SQLITE_OK) {
        s = cc_kb_sqlerr(kb, "reading the change log");
        goto out;
    }
    sqlite3_bind_int64(st, 1, from);
    if (from < cur) progress_start(kb, from, 0);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *op = (const char *)sqlite3_column_text(st, 0);
        int64_t lo = sqlite3_column_int64(st, 1), hi = sqlite3_column_int64(st, 2);
        if (lo > hi) continue;
        if (!strcmp(op, "add"))
            s = add_range(kb, e, vi, lo, hi, pend);
        else if (!(s = pend_flush(kb, vi, pend)))   /* the adds before it first */
            s = remove_range(kb, vi, lo, hi, &stats->removed);
        if (s) goto out;
    }
    if (rc != SQLITE_DONE) { s = cc_kb_sqlerr(kb, "reading the change log"); goto out; }
    if ((s = pend_flush(kb, vi, pend))) goto out;
save:
    if (from == cur && !stats->rebuilt) goto out;     /* nothing to write */
    cr_vindex_set_generation(vi, cur);
    if (!keep) {   /* a one-shot writer: every later open replays the delta's adds */
        uint64_t ma;
        if ((s = cr_vectors_delta_max_adds(kb, &ma))) goto out;
        cr_vindex_set_delta_max_adds(vi, ma);
    }
    /* a rebuild is written whole; catch-ups append to the delta */
    s = stats->rebuilt ? cr_vindex_save(vi) : cr_vindex_save_delta(vi);
    if (s) cc_kb_seterr(kb, s, "saving vectors: %s", cr_vindex_errmsg(vi));
out:
    sqlite3_finalize(st);
    if (!sqlite3_get_autocommit(cc_kb_db(kb))) cc_kb_exec(kb, "COMMIT");
    stats->vectors = vi ? cr_vindex_count(vi) : 0;
    if (keep && s == CC_OK && vi) {   /* kept for the next catch-up */
        *keep = vi;
        vi = NULL;
    }
    cr_vindex_close(vi);
    cr_embedder_close(e);
    cc_buf_free(&path);
    pend_free(pend);
    return s;
}

/* ---------------------------------------------------------------- searcher */

/* A loaded vector index shared by many searchers (a server's reader
 * slots): searches, and cr_vshared_refresh applying the delta under the
 * index's lock; freed with its last reference. */
struct cr_vshared {
    cr_vindex *vi;
    int        refs;          /* atomic */
};

cc_status cr_vshared_open(cc_kb *kb, cr_embedder *e, cr_vshared **out)
{
    cr_vindex_opts vo;
    cc_buf path = CC_BUF_INIT(0);
    cr_vshared *v;
    cc_status st;
    *out = NULL;
    if ((st = vindex_opts_from_kb(kb, &vo))) return st;
    if (cc_kb_path(kb, "vectors.faiss", &path)) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    if (!(v = calloc(1, sizeof *v))) {
        cc_buf_free(&path);
        return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    }
    st = cr_vindex_open(path.data, cr_embedder_identity(e), cr_embedder_dim(e), &vo, &v->vi);
    cc_buf_free(&path);
    if (st) {
        free(v);
        return cc_kb_seterr(kb, st, "vector index: %s%s", cc_errmsg(),
                            st == CC_NOTFOUND || st == CC_CORRUPT
                                ? " (it is rebuilt by the next cairn ingest or cairn reindex)" : "");
    }
    v->refs = 1;
    *out = v;
    return CC_OK;
}

int64_t cr_vshared_generation(const cr_vshared *v) { return cr_vindex_generation(v->vi); }
cc_status cr_vshared_adopt(cr_vindex *vi, cr_vshared **out)
{
    if (!(*out = calloc(1, sizeof **out))) return CC_NOMEM;
    (*out)->vi = vi;
    (*out)->refs = 1;
    return CC_OK;
}

cr_vindex *cr_vshared_index(cr_vshared *v) { return v->vi; }

cc_status cr_vshared_refresh(cr_vshared *v, int *reload)
{
    return cr_vindex_refresh(v->vi, reload);
}

const char *cr_vshared_errmsg(const cr_vshared *v) { return cr_vindex_errmsg(v->vi); }

void cr_vshared_ref(cr_vshared *v)
{
    if (v) __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
}

void cr_vshared_unref(cr_vshared *v)
{
    if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        cr_vindex_close(v->vi);
        free(v);
    }
}

struct cr_searcher {
    cc_kb       *kb;
    cr_embedder *emb;     /* NULL until the vector lane is first used */
    cr_vindex   *vi;      /* own index, or the shared one's (borrowed) */
    cr_vshared  *shared;  /* a reference, when shared_mode */
    int          shared_mode;    /* 1: vectors come from cr_searcher_share_vectors */
    int          no_lane_thread; /* 1: the vector lane runs on the caller's thread */
    int          vector_state;   /* 0 not tried, 1 ready, -1 unavailable */
    char         vector_why[512];
    /* prepared once per searcher (a request's SQL costs ~1/3 more when
     * compiled each time); always reset after use, so that no read
     * transaction stays open between searches */
    sqlite3_stmt *gen_st;   /* the catalog's generation */
    sqlite3_stmt *gone_st;  /* chunk ranges removed in generations (?1, ?2] */
    sqlite3_stmt *live_st;  /* is chunk ?1 still there */
    sqlite3_stmt *scan_st;  /* the BM25 lane's scan (cr_bm25_search_keep) */
    /* the chunks removed from the catalog after the vector index's
     * generation gone_from, up to gone_to: ranges sorted by lo, disjoint,
     * not adjacent; valid when gone_ok (see gone_update) */
    int          gone_ok;
    int64_t      gone_from, gone_to;
    struct gone_range { int64_t lo, hi; } *gone;
    size_t       n_gone, cap_gone;
    cr_search_timing last;  /* the last search's (cr_searcher_last_timing) */
};

/* Prepares *st with sql on first use (kept by the searcher); an error
 * status (the KB's message set) when it cannot be. */
static cc_status cached_stmt(cr_searcher *s, sqlite3_stmt **st, const char *sql)
{
    cc_status r;
    if (*st) return CC_OK;
    if (sqlite3_prepare_v3(cc_kb_db(s->kb), sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL)
        == SQLITE_OK)
        return CC_OK;
    r = cc_kb_sqlerr(s->kb, "search");
    sqlite3_finalize(*st);
    *st = NULL;
    return r;
}

/* The catalog's generation (as cc_kb_generation, on the searcher's cached
 * statement). */
static cc_status catalog_generation(cr_searcher *s, int64_t *out)
{
    cc_status r = cached_stmt(s, &s->gen_st, "SELECT coalesce(max(generation), 0) FROM changes");
    sqlite3_stmt *st = s->gen_st;
    if (r) return r;
    if (sqlite3_step(st) == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
    else r = cc_kb_sqlerr(s->kb, "reading the generation");
    sqlite3_reset(st);
    return r;
}

cc_status cr_searcher_open(cc_kb *kb, cr_searcher **out)
{
    cr_searcher *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    s->kb = kb;
    *out = s;
    return CC_OK;
}

void cr_searcher_close(cr_searcher *s)
{
    if (!s) return;
    if (s->shared_mode) cr_vshared_unref(s->shared);
    else cr_vindex_close(s->vi);
    cr_embedder_close(s->emb);
    sqlite3_finalize(s->gen_st);
    sqlite3_finalize(s->gone_st);
    sqlite3_finalize(s->live_st);
    sqlite3_finalize(s->scan_st);
    free(s->gone);
    free(s);
}

void cr_searcher_share_vectors(cr_searcher *s, cr_vshared *v, const char *why)
{
    if (!s->shared_mode) {
        cr_vindex_close(s->vi);
        s->shared_mode = 1;
    } else if (s->shared == v) {
        return;
    } else {
        cr_vshared_unref(s->shared);
    }
    cr_vshared_ref(v);
    s->shared = v;
    s->vi = v ? v->vi : NULL;
    s->vector_state = 0;      /* vector_ready looks again */
    snprintf(s->vector_why, sizeof s->vector_why, "%s",
             why && *why ? why : "vector index: not loaded yet");
}

void cr_searcher_set_lane_thread(cr_searcher *s, int on) { s->no_lane_thread = !on; }

static cc_status vector_ready(cr_searcher *s)
{
    cr_vindex_opts vo;
    cc_buf path = CC_BUF_INIT(0);
    cc_status st;
    if (s->vector_state == 1) return CC_OK;
    if (s->vector_state == -1)
        return cc_kb_seterr(s->kb, CC_NOTFOUND, "%s", s->vector_why);
    if (!cr_vectors_enabled(s->kb)) {
        st = cc_kb_seterr(s->kb, CC_NOTFOUND, "vectors are disabled (embedder.name is \"none\")");
        goto fail;
    }
    if (s->shared_mode) {
        if (!s->vi) {
            st = cc_kb_seterr(s->kb, CC_NOTFOUND, "%s", s->vector_why);
            goto fail;
        }
        if (!s->emb && (st = cr_embedder_from_kb(s->kb, &s->emb))) goto fail;
        if (strcmp(cr_embedder_identity(s->emb), cr_vindex_embedder(s->vi)) ||
            cr_embedder_dim(s->emb) != cr_vindex_dim(s->vi)) {
            st = cc_kb_seterr(s->kb, CC_INVALID, "vector index: built by embedder '%s', but the "
                              "configured embedder is '%s'; run: cairn reindex %s",
                              cr_vindex_embedder(s->vi), cr_embedder_identity(s->emb),
                              cc_kb_dir(s->kb));
            goto fail;
        }
        s->vector_state = 1;
        return CC_OK;
    }
    if ((st = vindex_opts_from_kb(s->kb, &vo)) || (st = cr_embedder_from_kb(s->kb, &s->emb)))
        goto fail;
    if (cc_kb_path(s->kb, "vectors.faiss", &path)) { st = CC_NOMEM; goto fail; }
    st = cr_vindex_open(path.data, cr_embedder_identity(s->emb), cr_embedder_dim(s->emb),
                        &vo, &s->vi);
    cc_buf_free(&path);
    if (st) {
        cc_kb_seterr(s->kb, st, "vector index: %s%s", cc_errmsg(),
                     st == CC_NOTFOUND || st == CC_CORRUPT
                         ? " (it is rebuilt by the next cairn ingest or cairn reindex)" : "");
        goto fail;
    }
    s->vector_state = 1;
    return CC_OK;
fail:
    s->vector_state = -1;
    snprintf(s->vector_why, sizeof s->vector_why, "%s", cc_kb_errmsg(s->kb));
    return st;
}

/* Brings s->gone to the chunk ranges removed after generation vec_gen (the
 * index's) up to cat_gen (the catalog's, vec_gen < cat_gen). Chunk ids are
 * never reused (AUTOINCREMENT) and a catch-up removes exactly these ranges
 * from the index (cr_vectors_sync_keep), so a hit of an index at vec_gen is
 * a live chunk unless it lies in one of them. Kept between searches: under
 * a writer a search reads only the changes since the last one (usually
 * none or a few rows) instead of looking its ~50 vector hits up one by
 * one; a newer index (or a catalog that went back) starts it again. */
static int gone_cmp(const void *a, const void *b)
{
    const struct gone_range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static cc_status gone_update(cr_searcher *s, int64_t vec_gen, int64_t cat_gen)
{
    sqlite3_stmt *st;
    size_t n0, i, m;
    int rc;
    cc_status r;
    if (!s->gone_ok || s->gone_from != vec_gen || cat_gen < s->gone_to) {
        s->gone_ok = 1;
        s->gone_from = s->gone_to = vec_gen;
        s->n_gone = 0;
    }
    if (cat_gen == s->gone_to) return CC_OK;
    if ((r = cached_stmt(s, &s->gone_st, "SELECT chunk_lo, chunk_hi FROM changes WHERE"
                         " generation > ?1 AND generation <= ?2 AND op = 'remove'")))
        return r;
    st = s->gone_st;
    sqlite3_bind_int64(st, 1, s->gone_to);
    sqlite3_bind_int64(st, 2, cat_gen);
    n0 = s->n_gone;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t lo = sqlite3_column_int64(st, 0), hi = sqlite3_column_int64(st, 1);
        if (lo > hi) continue;
        if (s->n_gone == s->cap_gone) {
            size_t cap = s->cap_gone ? 2 * s->cap_gone : 16;
            struct gone_range *g = realloc(s->gone, cap * sizeof *g);
            if (!g) { rc = SQLITE_NOMEM; break; }
            s->gone = g;
            s->cap_gone = cap;
        }
        s->gone[s->n_gone].lo = lo;
        s->gone[s->n_gone].hi = hi;
        s->n_gone++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        s->gone_ok = 0;
        return rc == SQLITE_NOMEM ? cc_kb_seterr(s->kb, CC_NOMEM, "out of memory")
                                  : cc_kb_sqlerr(s->kb, "reading the change log");
    }
    if (s->n_gone > n0) {   /* sort and merge, so that a hit is one binary search */
        qsort(s->gone, s->n_gone, sizeof *s->gone, gone_cmp);
        for (i = 1, m = 0; i < s->n_gone; i++) {
            if (s->gone[i].lo <= s->gone[m].hi + 1) {
                if (s->gone[i].hi > s->gone[m].hi) s->gone[m].hi = s->gone[i].hi;
            } else {
                s->gone[++m] = s->gone[i];
            }
        }
        s->n_gone = m + 1;
    }
    s->gone_to = cat_gen;
    return CC_OK;
}

static int is_gone(const cr_searcher *s, int64_t id)
{
    size_t lo = 0, hi = s->n_gone;   /* the first range with .hi >= id is in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->gone[mid].hi < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < s->n_gone && s->gone[lo].lo <= id;
}

/* Drops hits whose chunk no longer exists: for an index behind the
 * catalog (vec_gen < cat_gen) those removed since vec_gen (gone_update);
 * for one ahead of it (a catalog restored from a copy: the next writer
 * drops that index) each hit looked up in the catalog. */
static cc_status filter_live(cr_searcher *s, int64_t vec_gen, int64_t cat_gen, cr_hit *h,
                             size_t *n)
{
    size_t i, m = 0;
    cc_status r;
    sqlite3_stmt *st = NULL;
    if (vec_gen < cat_gen) r = gone_update(s, vec_gen, cat_gen);
    else r = cached_stmt(s, &s->live_st, "SELECT 1 FROM chunks WHERE id = ?1");
    if (r) return r;
    st = vec_gen < cat_gen ? NULL : s->live_st;
    for (i = 0; i < *n; i++) {
        int live;
        if (st) {
            sqlite3_bind_int64(st, 1, h[i].chunk_id);
            live = sqlite3_step(st) == SQLITE_ROW;
            sqlite3_reset(st);
        } else {
            live = !is_gone(s, h[i].chunk_id);
        }
        if (!live) continue;
        h[m] = h[i];
        h[m].rank[CR_LANE_VECTOR] = (int)m + 1;
        m++;
    }
    *n = m;
    return CC_OK;
}

/* The vector lane's work, runnable on its own thread: it touches only the
 * searcher's embedder and index, never the KB handle. */
typedef struct vec_job {
    cr_searcher *s;
    const char  *query;
    int          depth;
    cr_hit      *hits;
    size_t       n;
    cc_status    st;
    char         why[256];
    double       ms;        /* the lane's wall time */
} vec_job;

static void *vector_lane(void *arg)
{
    vec_job *j = arg;
    size_t dim = (size_t)cr_embedder_dim(j->s->emb), d;
    float *q = malloc(dim * sizeof *q);
    double t0 = cc_now_ms();
    if (!q) {
        j->st = CC_NOMEM;
        snprintf(j->why, sizeof j->why, "out of memory");
        return NULL;
    }
    if ((j->st = cr_embedder_embed_query(j->s->emb, j->query, strlen(j->query), q))) {
        snprintf(j->why, sizeof j->why, "embedding the query: %s", cr_embedder_errmsg(j->s->emb));
        free(q);
        return NULL;
    }
    for (d = 0; d < dim && q[d] == 0.0f; d++) {}
    if (d < dim &&   /* a query with no features embeds to zero: it matches nothing */
        (j->st = cr_vindex_search_hits(j->s->vi, q, j->depth, &j->hits, &j->n)))
        snprintf(j->why, sizeof j->why, "vector search: %s", cr_vindex_errmsg(j->s->vi));
    free(q);
    j->ms = cc_now_ms() - t0;
    return NULL;
}

cc_status cr_search_opts_from_kb(cc_kb *kb, cr_search_opts *o)
{
    int64_t depth, k;
    double fk, wb, wv;
    cc_status s;
    memset(o, 0, sizeof *o);
    if ((s = cc_kb_setting_i64(kb, "search.depth", 50, &depth)) ||
        (s = cc_kb_setting_i64(kb, "search.k", 10, &k)) ||
        (s = cc_kb_setting_f64(kb, "fusion.k", 60, &fk)) ||
        (s = cc_kb_setting_f64(kb, "fusion.weight_bm25", 1, &wb)) ||
        (s = cc_kb_setting_f64(kb, "fusion.weight_vector", 1, &wv)))
        return s;
    o->mode = CR_MODE_HYBRID;
    o->k = (int)k;
    o->depth = (int)depth;
    o->fusion_k = fk;
    o->weight[CR_LANE_BM25] = wb;
    o->weight[CR_LANE_VECTOR] = wv;
    return CC_OK;
}

cc_status cr_searcher_search(cr_searcher *s, const char *query, const cr_search_opts *o,
                             cr_hit **hits, size_t *n)
{
    cr_hit *lane[CR_LANE_COUNT] = {NULL, NULL};
    size_t nl[CR_LANE_COUNT] = {0, 0};
    cc_kb *kb = s->kb;
    cc_status st = CC_OK, bm25_st = CC_OK;
    char bm25_why[256] = "";
    int depth, threaded = 0, have_vec = 0;
    int64_t vec_gen = -1, cat_gen = -2;
    vec_job job;
    pthread_t tid;

    memset(&job, 0, sizeof job);
    memset(&s->last, 0, sizeof s->last);

    *hits = NULL;
    *n = 0;
    if (o->k < 1 || o->k > 10000)
        return cc_kb_seterr(kb, CC_INVALID, "k must be between 1 and 10000 (got %d)", o->k);
    if (o->mode != CR_MODE_BM25 && o->mode != CR_MODE_VECTOR && o->mode != CR_MODE_HYBRID)
        return cc_kb_seterr(kb, CC_INVALID, "unknown search mode %d", o->mode);
    if (!query || !*query) return cc_kb_seterr(kb, CC_INVALID, "empty query");
    if (strlen(query) > CR_QUERY_MAX_BYTES)
        return cc_kb_seterr(kb, CC_TOOBIG, "query longer than %d bytes", CR_QUERY_MAX_BYTES);
    depth = o->mode == CR_MODE_HYBRID ? (o->depth > o->k ? o->depth : o->k) : o->k;
    if (depth > 10000) depth = 10000;

    /* The vector lane needs only the embedder and FAISS, not SQLite: in
     * hybrid mode it runs on a second thread while BM25 runs here. */
    if (o->mode != CR_MODE_BM25) {
        if ((st = vector_ready(s))) {
            if (o->mode == CR_MODE_VECTOR || st == CC_INVALID) goto out;
            st = CC_OK;            /* hybrid answers from BM25 alone */
        } else {
            vec_gen = cr_vindex_generation(s->vi);   /* before the search: see below */
            job.s = s;
            job.query = query;
            job.depth = depth;
            if (o->mode == CR_MODE_HYBRID && !s->no_lane_thread &&
                pthread_create(&tid, NULL, vector_lane, &job) == 0)
                threaded = 1;
            else
                vector_lane(&job);
            have_vec = 1;
        }
    }
    if (o->mode != CR_MODE_VECTOR) {
        double t0 = cc_now_ms();
        st = cr_bm25_search_keep(kb, query, depth, o->flags, &s->scan_st, &lane[CR_LANE_BM25],
                                 &nl[CR_LANE_BM25]);
        /* a query with no searchable words can still match by vectors */
        if (st == CC_INVALID && o->mode == CR_MODE_HYBRID && !(o->flags & CR_FTS_RAW)) {
            bm25_st = st;
            snprintf(bm25_why, sizeof bm25_why, "%s", cc_kb_errmsg(kb));
            st = CC_OK;
        }
        s->last.lane_ms[CR_LANE_BM25] = cc_now_ms() - t0;
    }
    if (threaded) pthread_join(tid, NULL);
    s->last.lane_ms[CR_LANE_VECTOR] = job.ms;
    if (st) goto out;
    if (have_vec) {
        if (job.st) { st = cc_kb_seterr(kb, job.st, "%s", job.why); goto out; }
        lane[CR_LANE_VECTOR] = job.hits;
        nl[CR_LANE_VECTOR] = job.n;
        job.hits = NULL;
        /* An index at the catalog's generation (read after the search, and
         * the index's before it) holds no removed chunk: nothing to drop,
         * the common case. One behind it (under a writer, always) drops
         * the hits removed since its generation, from the searcher's
         * in-memory list of removed ranges, not ~50 B-tree descents. */
        if (nl[CR_LANE_VECTOR]) {
            if ((st = catalog_generation(s, &cat_gen))) goto out;
            if (cat_gen != vec_gen) {
                s->last.live_checked = 1;
                if ((st = filter_live(s, vec_gen, cat_gen, lane[CR_LANE_VECTOR],
                                      &nl[CR_LANE_VECTOR])))
                    goto out;
            }
        }
    }
    if (bm25_st && !nl[CR_LANE_VECTOR]) { st = cc_kb_seterr(kb, bm25_st, "%s", bm25_why); goto out; }
    if (o->mode == CR_MODE_HYBRID) {
        cr_fuse_opts fo = CR_FUSE_OPTS_DEFAULT;
        const cr_hit *const lanes[CR_LANE_COUNT] = {lane[0], lane[1]};
        fo.k = o->fusion_k;
        fo.weight[CR_LANE_BM25] = o->weight[CR_LANE_BM25];
        fo.weight[CR_LANE_VECTOR] = o->weight[CR_LANE_VECTOR];
        fo.limit = (size_t)o->k;
        if ((st = cr_fuse_rrf(lanes, nl, &fo, hits, n))) cc_kb_seterr(kb, st, "%s", cc_errmsg());
    } else {
        int l = o->mode == CR_MODE_BM25 ? CR_LANE_BM25 : CR_LANE_VECTOR;
        *hits = lane[l];
        *n = nl[l] > (size_t)o->k ? (size_t)o->k : nl[l];
        lane[l] = NULL;
    }
out:
    free(job.hits);
    free(lane[0]);
    free(lane[1]);
    return st;
}

void cr_searcher_last_timing(const cr_searcher *s, cr_search_timing *t) { *t = s->last; }

const char *cr_searcher_vector_status(const cr_searcher *s)
{
    return s->vector_state == -1 ? s->vector_why : NULL;
}
