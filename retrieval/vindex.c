/*
 * vindex.c — the vector index, KB/vectors.faiss: FAISS through its C API.
 *
 * In memory: an IndexIDMap2 (ids = chunk ids) over IndexFlatIP, or over
 * IndexHNSWFlat (M = hnsw_m, inner product) once the index holds
 * hnsw_threshold vectors; a set of the live ids (to refuse duplicates).
 * The flat index, or the HNSW's storage, is cairn's vectorised subclass of
 * IndexFlatIP (faiss_simd.cpp), which both kinds' searches go through.
 *
 * FAISS cannot remove from HNSW, so removing from an HNSW index marks the
 * ids as tombstones: they stay in FAISS, searches over-fetch and skip them,
 * and once tombstones pass 10% of the index it is rebuilt without them
 * (flat or HNSW again by the live count). Re-adding a tombstoned id also
 * rebuilds first. A flat index removes directly.
 *
 * On disk (all integers little-endian):
 *   off  size
 *     0     8  magic "CAIRNVEC"
 *     8     4  format version (CR_VINDEX_FORMAT_VERSION)
 *    12     4  dim
 *    16     8  generation (int64): the catalog generation the index reflects
 *    24     8  count: vectors in the index
 *    32     4  kind: 0 flat, 1 HNSW
 *    36     4  id_len: bytes of the embedder identity (1..1024)
 *    40     8  payload_len: bytes of the FAISS index
 *    48     8  checksum of the body (tombstones + payload; body_sum below)
 *    56     8  n_tomb: tombstoned ids (HNSW only; they are in the payload)
 *    64 id_len embedder identity (no NUL)
 *     . 8*n_tomb  tombstoned ids (int64)
 *     . payload_len  faiss::write_index output
 *     .     8  trailer "CAIRNEND"
 * count includes the tombstoned vectors. The file size must be exactly
 * 64 + id_len + 8*n_tomb + payload_len + 8, and the body must match its
 * checksum, so a truncated or damaged file is caught
 * before FAISS (which trusts its input) reads it. Saving writes path.tmp,
 * fsyncs it and renames it over path, so the index and its generation
 * change together.
 *
 * The stamp, path.ok: one line written after each save with the saved
 * file's identity (device, inode, size, mtime and ctime to the nanosecond)
 * and checksum. An open that finds the file unchanged since (the same
 * identity and the header's checksum) skips recomputing the checksum, which
 * is most of opening a large index (~40% of a cold 100k-vector open). A
 * write into the file changes its ctime (unless within the same clock tick
 * as the save, a few ms), a copy or restore its inode, a truncation its
 * size, so such files are verified in full. What the stamp cannot see is
 * damage that changes none of these (bits rotting on the disk): `cairn
 * check` always verifies (opts.verify_full).
 *
 * The delta, path.delta: the changes since path was written, so that a
 * catch-up of a few documents costs those documents, not a rewrite of the
 * whole index (cr_vindex_save_delta). Layout (little-endian):
 *   header (32): magic "CAIRNVDL", u32 DELTA_VERSION, u32 0, u64 the base
 *                file's generation, u64 its checksum
 *   records:     "CVDR", u32 n_ops, u64 generation reached, u64 body_len,
 *                body (n_ops ops: u8 OP_ADD + i64 id + dim floats, or
 *                u8 OP_RM + i64 id, in the order they were made), u64
 *                checksum of generation, n_ops and body
 * A handle journals its adds and removes (jr) since it was loaded or last
 * saved; save_delta appends them as one record (fsync; a new file's
 * directory entry fsync'ed too). Opening applies the intact records after
 * the base, in order, and stops at the first short or damaged one (a torn
 * append: the index is then at the last intact record's generation, and
 * the catalog's change log replays the rest); the next append truncates
 * the file there. A delta whose header names another base (left beside a
 * newer base by a crash before cr_vindex_save removed it) is ignored. Once
 * the delta would pass 1/64 of the base (at least 64 KB), or the journal
 * 64 MB, save_delta saves the whole index instead, which removes the
 * delta. cr_vindex_refresh applies records appended since to a handle in
 * place, under the handle's write lock (searches take the read lock), and
 * asks for a reload when that would need a rebuild or the base changed.
 */
#define _GNU_SOURCE          /* RTLD_DEFAULT */
#include "retrieval.h"

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <faiss/c_api/utils/distances_c.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR_BYTES      64
#define COUNT_MAX      ((uint64_t)1 << 40)
#define ID_MAX_BYTES   1024
#define DIM_MAX        65536
#define K_MAX          10000
#define THRESHOLD_DEF  100000   /* = the KB setting vectors.hnsw_threshold default */
#define HNSW_M_DEF     32
#define EF_SEARCH_DEF  128        /* docs/benchmarks.md: recall vs latency */
#define EF_CONSTR_DEF  40         /* FAISS's own default */
#define ADD_BATCH      65536      /* vectors per faiss add call when rebuilding */
#define JR_MAX         ((size_t)64 << 20)   /* journal bytes kept before a full save */
#define DELTA_HDR      32
#define REC_HDR        24
#define DELTA_MIN      ((uint64_t)64 << 10) /* delta bytes always allowed */
#define DELTA_SHARE    64         /* else at most 1/64 of the base file */
#define OP_ADD         1
#define OP_RM          2

static const char MAGIC[8] = { 'C', 'A', 'I', 'R', 'N', 'V', 'E', 'C' };
static const char TRAILER[8] = { 'C', 'A', 'I', 'R', 'N', 'E', 'N', 'D' };
static const char DMAGIC[8] = { 'C', 'A', 'I', 'R', 'N', 'V', 'D', 'L' };
static const char RMAGIC[4] = { 'C', 'V', 'D', 'R' };
#define DELTA_VERSION 1

static void jr_op(cr_vindex *vi, int op, int64_t id, const float *vec);

/* ---------------------------------------------------------------- id set */

/* Open addressing over int64 ids >= 0; EMPTY and GONE (tombstone) mark slots. */
#define SLOT_EMPTY (-1)
#define SLOT_GONE  (-2)

typedef struct idset {
    int64_t *slot;
    size_t   cap;       /* power of two, or 0 */
    size_t   count;     /* live ids */
    size_t   used;      /* live + tombstones */
} idset;

static inline size_t id_hash(int64_t id)
{
    uint64_t k = (uint64_t)id;
    k ^= k >> 33; k *= 0xff51afd7ed558ccdULL; k ^= k >> 33;
    return (size_t)k;
}

static int idset_has(const idset *s, int64_t id)
{
    if (!s->cap) return 0;
    for (size_t i = id_hash(id) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->slot[i] == SLOT_EMPTY) return 0;
        if (s->slot[i] == id) return 1;
    }
}

static cc_status idset_put(idset *s, int64_t id);

static cc_status idset_grow(idset *s, size_t need)
{
    size_t cap = 64;
    while (cap < need * 2) cap *= 2;
    int64_t *slot = malloc(cap * sizeof *slot);
    if (!slot) return CC_NOMEM;
    for (size_t i = 0; i < cap; i++) slot[i] = SLOT_EMPTY;
    idset old = *s;
    s->slot = slot; s->cap = cap; s->count = 0; s->used = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slot[i] >= 0) idset_put(s, old.slot[i]);
    free(old.slot);
    return CC_OK;
}

/* Adds id (not present). */
static cc_status idset_put(idset *s, int64_t id)
{
    if ((s->used + 1) * 4 > s->cap * 3) {
        cc_status st = idset_grow(s, s->count + 1);
        if (st != CC_OK) return st;
    }
    size_t i = id_hash(id) & (s->cap - 1);
    while (s->slot[i] >= 0) i = (i + 1) & (s->cap - 1);
    if (s->slot[i] == SLOT_EMPTY) s->used++;
    s->slot[i] = id;
    s->count++;
    return CC_OK;
}

static int idset_del(idset *s, int64_t id)
{
    if (!s->cap) return 0;
    for (size_t i = id_hash(id) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->slot[i] == SLOT_EMPTY) return 0;
        if (s->slot[i] == id) { s->slot[i] = SLOT_GONE; s->count--; return 1; }
    }
}

static void idset_free(idset *s) { free(s->slot); memset(s, 0, sizeof *s); }

/* ---------------------------------------------------------------- handle */

struct cr_vindex {
    char          *path;
    char          *embedder;
    int            dim;
    int            hnsw;
    int64_t        generation;
    cr_vindex_opts opts;
    FaissIndex    *idx;       /* an IndexIDMap2 */
    idset          ids;       /* live ids */
    idset          tomb;      /* HNSW: removed ids still inside idx */
    cc_buf         err;
    /* the delta (see "The delta" at the top of this file) */
    int            has_base;  /* the handle reflects the file at path (base_*) */
    struct stat    base_st;   /* that file, when loaded or saved */
    uint64_t       base_sum;  /* its checksum */
    uint64_t       base_gen;  /* its generation */
    uint64_t       delta_off; /* bytes of path.delta reflected (0: none) */
    uint64_t       delta_seen; /* path.delta's size when opened (0: none or another base's) */
    int            delta_bad;  /* a delta record read at open did not apply */
    cc_buf         jr;        /* ops since then, not yet in the delta (a record body) */
    uint32_t       jr_ops;
    int            jr_over;   /* the journal overflowed: the next save is a full one */
    uint64_t       delta_adds; /* adds in path.delta up to delta_off */
    uint64_t       jr_adds;   /* adds in jr */
    uint64_t       max_adds;  /* cr_vindex_set_delta_max_adds; 0: no limit */
    int            applying;  /* replaying the delta: no journal, and (refresh) no rebuilds */
    int            no_rebuild;
    /* copies (clone_to): the handle's own number, and its era, bumped
     * whenever its FAISS index changes other than by appending (a rebuild,
     * a flat removal, a copy into it); for a copy, whose copy it is (the
     * source's number, 0 none: cleared by any change to the copy), at
     * which of the source's eras and with how many vectors: the next copy
     * from the same source in the same era copies only what follows */
    uint64_t       uid, era;
    uint64_t       copy_of, copy_era;
    int64_t        copy_n;
    int64_t        copy_kept; /* vectors the last copy into it kept (0: all copied) */
    pthread_rwlock_t lock;    /* searches read, cr_vindex_refresh writes */
    int            faiss_add; /* CAIRN_HNSW_ADD=faiss at creation: FAISS's own
                                 HNSW insert, not cairn's (for comparisons) */
};

static cc_status verr(cr_vindex *vi, cc_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cc_status verr(cr_vindex *vi, cc_status s, const char *fmt, ...)
{
    va_list ap;
    cc_buf_reset(&vi->err);
    va_start(ap, fmt);
    cc_buf_vprintf(&vi->err, fmt, ap);
    va_end(ap);
    return s;
}

const char *cr_vindex_errmsg(const cr_vindex *vi)
{
    return vi && vi->err.data ? vi->err.data : "";
}

static const char *ferr(void)
{
    const char *m = faiss_get_last_error();
    return m && *m ? m : "unknown FAISS error";
}

static cc_status opts_check(const cr_vindex_opts *in, cr_vindex_opts *out)
{
    cr_vindex_opts o = { THRESHOLD_DEF, HNSW_M_DEF, EF_SEARCH_DEF, EF_CONSTR_DEF, 0 };
    if (in) {
        o.verify_full = in->verify_full;
        if (in->hnsw_threshold < 0 || in->hnsw_m < 0 || in->hnsw_m > 256 ||
            in->hnsw_ef_search < 0 || in->hnsw_ef_search > 100000 ||
            in->hnsw_ef_construction < 0 || in->hnsw_ef_construction > 100000)
            return cc_seterr(CC_INVALID,
                             "bad vector index options: hnsw_threshold %lld (>= 0), "
                             "hnsw_m %d (0..256), hnsw_ef_search %d (0..100000), "
                             "hnsw_ef_construction %d (0..100000)",
                             (long long)in->hnsw_threshold, in->hnsw_m, in->hnsw_ef_search,
                             in->hnsw_ef_construction);
        if (in->hnsw_threshold) o.hnsw_threshold = in->hnsw_threshold;
        if (in->hnsw_m) o.hnsw_m = in->hnsw_m;
        if (in->hnsw_ef_search) o.hnsw_ef_search = in->hnsw_ef_search;
        if (in->hnsw_ef_construction) o.hnsw_ef_construction = in->hnsw_ef_construction;
    }
    *out = o;
    return CC_OK;
}

/* A one-query flat search in FAISS 1.7.3 goes through fvec_inner_product
 * below distance_compute_blas_threshold (20 queries), which Debian builds
 * as a scalar loop; through BLAS (OpenBLAS dispatches to AVX2/AVX-512 at
 * run time) it took half the time at 100k vectors (docs/benchmarks.md).
 * Process-wide FAISS setting, set once. */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_threshold_set(void) { faiss_set_distance_compute_blas_threshold(1); }

/* OpenBLAS's own entry points, looked up so that another BLAS links as
 * well: openblas_set_num_threads(1) makes every later call run on its
 * caller; blas_thread_shutdown_ (exported: OpenBLAS runs it before a fork)
 * stops the workers and joins them, and OpenBLAS starts them again at the
 * next call that shares work out. */
void cr_blas_quiet(int one_thread)
{
    void (*set)(int);
    int (*shutdown)(void);
    if (getenv("OPENBLAS_NUM_THREADS") || getenv("GOTO_NUM_THREADS") || getenv("OMP_NUM_THREADS"))
        return;
    *(void **)&set = dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    *(void **)&shutdown = dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
    if (!set || !shutdown) return;      /* not OpenBLAS */
    if (one_thread) set(1);
    (void)shutdown();
}

static uint64_t next_uid;   /* cr_vindex.uid: 1, 2, ... per process */

static cc_status handle_new(const char *path, const char *embedder_id, int dim,
                            const cr_vindex_opts *opts, cr_vindex **out)
{
    C_ASSERT(path && embedder_id && out);
    *out = NULL;
    if (dim < 1 || dim > DIM_MAX)
        return cc_seterr(CC_INVALID, "vector dimension %d is out of range 1..%d", dim, DIM_MAX);
    size_t idl = strlen(embedder_id);
    if (idl == 0 || idl > ID_MAX_BYTES)
        return cc_seterr(CC_INVALID, "embedder identity must be 1..%d bytes", ID_MAX_BYTES);
    cr_vindex_opts o;
    cc_status s = opts_check(opts, &o);
    if (s != CC_OK) return s;
    pthread_once(&blas_once, blas_threshold_set);
    cr_vindex *vi = calloc(1, sizeof *vi);
    if (!vi || !(vi->path = cc_strdup(path)) || !(vi->embedder = cc_strdup(embedder_id))) {
        if (vi) { free(vi->path); free(vi); }
        return cc_seterr(CC_NOMEM, "out of memory opening the vector index");
    }
    vi->dim = dim;
    vi->opts = o;
    vi->uid = __atomic_add_fetch(&next_uid, 1, __ATOMIC_RELAXED);
    const char *add = getenv("CAIRN_HNSW_ADD");
    vi->faiss_add = add && strcmp(add, "faiss") == 0;
    cc_buf_init(&vi->err, 4096);
    cc_buf_init(&vi->jr, JR_MAX);
    pthread_rwlock_init(&vi->lock, NULL);
    *out = vi;
    return CC_OK;
}

void cr_vindex_close(cr_vindex *vi)
{
    if (!vi) return;
    if (vi->idx) faiss_Index_free(vi->idx);
    idset_free(&vi->ids);
    idset_free(&vi->tomb);
    cc_buf_free(&vi->err);
    cc_buf_free(&vi->jr);
    pthread_rwlock_destroy(&vi->lock);
    free(vi->path);
    free(vi->embedder);
    free(vi);
}

int64_t     cr_vindex_count(const cr_vindex *vi) { return (int64_t)vi->ids.count; }
int64_t     cr_vindex_generation(const cr_vindex *vi)
{
    return __atomic_load_n(&vi->generation, __ATOMIC_ACQUIRE);
}
void        cr_vindex_set_generation(cr_vindex *vi, int64_t gen)
{
    __atomic_store_n(&vi->generation, gen, __ATOMIC_RELEASE);
}
int         cr_vindex_is_hnsw(const cr_vindex *vi) { return vi->hnsw; }
int         cr_vindex_dim(const cr_vindex *vi) { return vi->dim; }
const char *cr_vindex_embedder(const cr_vindex *vi) { return vi->embedder; }

/* ---------------------------------------------------------------- FAISS objects */

/* retrieval/faiss_simd.cpp: gives an HNSW index's inner-product storage,
 * or a flat index, cairn's vectorised storage (distance computer and
 * search copy; 1 swapped, 0 not applicable, -1 failed). */
int cr_faiss_simd_storage(FaissIndex *index);
/* ... and inserts into it as FAISS would, cheaper (0 done, 1 not
 * applicable, -1 out of memory). */
int cr_faiss_hnsw_add(FaissIndex *index, int64_t n, const float *x, const int64_t *ids);

/* HNSW: efSearch and efConstruction from the options, and the vectorised
 * storage. */
static cc_status set_hnsw_params(cr_vindex *vi, FaissIndex *idx)
{
    FaissIndexIDMap2 *m = faiss_IndexIDMap2_cast(idx);
    if (!m) return verr(vi, CC_CORRUPT, "vector index is not an IndexIDMap2");
    FaissParameterSpace *ps = NULL;
    if (faiss_ParameterSpace_new(&ps))
        return verr(vi, CC_ERROR, "FAISS: %s", ferr());
    FaissIndex *sub = faiss_IndexIDMap2_sub_index(m);
    int rc = faiss_ParameterSpace_set_index_parameter(ps, sub, "efSearch",
                                                      vi->opts.hnsw_ef_search);
    if (!rc)
        rc = faiss_ParameterSpace_set_index_parameter(ps, sub, "efConstruction",
                                                      vi->opts.hnsw_ef_construction);
    faiss_ParameterSpace_free(ps);
    if (rc) return verr(vi, CC_ERROR, "FAISS: setting efSearch/efConstruction: %s", ferr());
    if (cr_faiss_simd_storage(idx) < 0)
        return verr(vi, CC_NOMEM, "out of memory preparing the HNSW index");
    return CC_OK;
}

static cc_status make_index(cr_vindex *vi, int hnsw, FaissIndex **out)
{
    char desc[64];
    if (hnsw) snprintf(desc, sizeof desc, "IDMap2,HNSW%d", vi->opts.hnsw_m);
    else      snprintf(desc, sizeof desc, "IDMap2,Flat");
    FaissIndex *idx = NULL;
    if (faiss_index_factory(&idx, vi->dim, desc, METRIC_INNER_PRODUCT))
        return verr(vi, CC_ERROR, "FAISS: creating index '%s': %s", desc, ferr());
    if (hnsw) {
        cc_status s = set_hnsw_params(vi, idx);
        if (s != CC_OK) { faiss_Index_free(idx); return s; }
    } else if (cr_faiss_simd_storage(idx) < 0) {
        faiss_Index_free(idx);
        return verr(vi, CC_NOMEM, "out of memory preparing the flat vector index");
    }
    *out = idx;
    return CC_OK;
}

/* Rebuilds the index from its own vectors, leaving out the ids in `drop`
 * (may be NULL) and the tombstones, with the kind chosen for the remaining
 * count plus `extra` vectors about to be added. Clears the tombstones. */
static cc_status rebuild(cr_vindex *vi, const idset *drop, size_t extra)
{
    FaissIndexIDMap2 *m = faiss_IndexIDMap2_cast(vi->idx);
    idx_t *idmap = NULL;
    size_t n = 0;
    faiss_IndexIDMap2_id_map(m, &idmap, &n);
    float *x = NULL;
    int64_t *keep_ids = NULL;
    if (n) {
        x = malloc(n * (size_t)vi->dim * sizeof *x);
        keep_ids = malloc(n * sizeof *keep_ids);
        if (!x || !keep_ids) {
            free(x); free(keep_ids);
            return verr(vi, CC_NOMEM, "out of memory rebuilding the vector index (%zu vectors)", n);
        }
        if (faiss_Index_reconstruct_n(faiss_IndexIDMap2_sub_index(m), 0, (idx_t)n, x)) {
            free(x); free(keep_ids);
            return verr(vi, CC_ERROR, "FAISS: reading vectors back: %s", ferr());
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if ((drop && idset_has(drop, idmap[i])) || idset_has(&vi->tomb, idmap[i])) continue;
        if (kept != i)
            memmove(x + kept * (size_t)vi->dim, x + i * (size_t)vi->dim,
                    (size_t)vi->dim * sizeof *x);
        keep_ids[kept++] = idmap[i];
    }
    int hnsw = (int64_t)(kept + extra) >= vi->opts.hnsw_threshold;
    FaissIndex *idx = NULL;
    cc_status s = make_index(vi, hnsw, &idx);
    for (size_t i = 0; s == CC_OK && i < kept; i += ADD_BATCH) {
        size_t b = kept - i < ADD_BATCH ? kept - i : ADD_BATCH;
        if (faiss_Index_add_with_ids(idx, (idx_t)b, x + i * (size_t)vi->dim, keep_ids + i))
            s = verr(vi, CC_ERROR, "FAISS: rebuilding: %s", ferr());
    }
    free(x);
    free(keep_ids);
    if (s != CC_OK) { if (idx) faiss_Index_free(idx); return s; }
    faiss_Index_free(vi->idx);
    vi->idx = idx;
    vi->hnsw = hnsw;
    vi->era++;
    vi->copy_of = 0;
    idset_free(&vi->tomb);
    return CC_OK;
}

/* ---------------------------------------------------------------- create / add / remove / search */

cc_status cr_vindex_create(const char *path, const char *embedder_id, int dim,
                           const cr_vindex_opts *opts, cr_vindex **out)
{
    cr_vindex *vi;
    cc_status s = handle_new(path, embedder_id, dim, opts, &vi);
    if (s != CC_OK) return s;
    if ((s = make_index(vi, 0, &vi->idx)) != CC_OK) {
        cc_seterr(s, "%s", cr_vindex_errmsg(vi));
        cr_vindex_close(vi);
        return s;
    }
    *out = vi;
    return CC_OK;
}

cc_status cr_vindex_add(cr_vindex *vi, size_t n, const int64_t *ids, const float *vecs)
{
    C_ASSERT(vi && (n == 0 || (ids && vecs)));
    if (n == 0) return CC_OK;
    if (n > (size_t)INT32_MAX)
        return verr(vi, CC_TOOBIG, "too many vectors in one batch (%zu)", n);
    idset batch = { 0 };
    cc_status s = CC_OK;
    int readd = 0;        /* an id is a tombstone: rebuild before adding */
    for (size_t i = 0; i < n && s == CC_OK; i++) {
        readd |= idset_has(&vi->tomb, ids[i]);
        if (ids[i] < 0)
            s = verr(vi, CC_INVALID, "vector id %lld is negative", (long long)ids[i]);
        else if (idset_has(&vi->ids, ids[i]))
            s = verr(vi, CC_EXISTS, "chunk %lld already has a vector (remove it first)",
                     (long long)ids[i]);
        else if (idset_has(&batch, ids[i]))
            s = verr(vi, CC_INVALID, "chunk %lld appears twice in one batch", (long long)ids[i]);
        else if (idset_put(&batch, ids[i]) != CC_OK)
            s = verr(vi, CC_NOMEM, "out of memory checking vector ids");
    }
    idset_free(&batch);
    if (s != CC_OK) return s;
    size_t total = n * (size_t)vi->dim;
    for (size_t i = 0; i < total; i++)
        if (!isfinite(vecs[i]))
            return verr(vi, CC_INVALID, "vector for chunk %lld has a non-finite component",
                        (long long)ids[i / (size_t)vi->dim]);
    /* Reserve the id set first so that nothing fails after FAISS has the vectors. */
    if ((vi->ids.used + n + 1) * 4 > vi->ids.cap * 3 &&
        idset_grow(&vi->ids, vi->ids.count + n + 1) != CC_OK)
        return verr(vi, CC_NOMEM, "out of memory adding %zu vectors", n);
    if (readd || (!vi->hnsw && (int64_t)(vi->ids.count + n) >= vi->opts.hnsw_threshold)) {
        if (vi->no_rebuild) return verr(vi, CC_BUSY, "the delta needs a rebuild: reload");
        if ((s = rebuild(vi, NULL, n)) != CC_OK) return s;
    }
    vi->copy_of = 0;   /* no longer a copy; to its own copies an append */
    /* HNSW: cairn's insert (faiss_simd.cpp; the same graph as FAISS's,
     * cheaper) where FAISS's would run on one thread: a batch of up to 100
     * (FAISS's OpenMP loop has that `if`) or one OpenMP thread allowed. */
    int rc = 1;
    if (vi->hnsw && !vi->faiss_add && (n <= 100 || omp_get_max_threads() == 1))
        rc = cr_faiss_hnsw_add(vi->idx, (int64_t)n, vecs, ids);
    if (rc < 0) {
        vi->era++;       /* maybe part of the batch in: not an append to trust */
        return verr(vi, CC_NOMEM, "out of memory adding %zu vectors", n);
    }
    if (rc == 1 && faiss_Index_add_with_ids(vi->idx, (idx_t)n, vecs, ids)) {
        vi->era++;       /* maybe part of the batch in: not an append to trust */
        return verr(vi, CC_ERROR, "FAISS: adding %zu vectors: %s", n, ferr());
    }
    for (size_t i = 0; i < n; i++) idset_put(&vi->ids, ids[i]);   /* cannot fail: reserved */
    for (size_t i = 0; i < n; i++) jr_op(vi, OP_ADD, ids[i], vecs + i * (size_t)vi->dim);
    return CC_OK;
}

/* faiss_simd.cpp: test hooks over the HNSW graph */
int cr_faiss_hnsw_graph_equal(const FaissIndex *a, const FaissIndex *b);
int cr_faiss_hnsw_check(const FaissIndex *index, int64_t from, char *why, size_t n);
int cr_faiss_hnsw_vectors(const FaissIndex *index, const void **p, size_t *n);

int cr_vindex_hnsw_vectors(const cr_vindex *vi, const void **p, size_t *n)
{
    C_ASSERT(vi && p && n);
    return cr_faiss_hnsw_vectors(vi->idx, p, n);
}

int cr_faiss_codes8(const FaissIndex *index, const void **p, size_t *n);

int cr_vindex_codes8(const cr_vindex *vi, const void **p, size_t *n)
{
    C_ASSERT(vi && p && n);
    return cr_faiss_codes8(vi->idx, p, n);
}

int cr_vindex_hnsw_same(const cr_vindex *a, const cr_vindex *b)
{
    C_ASSERT(a && b);
    return cr_faiss_hnsw_graph_equal(a->idx, b->idx);
}

int cr_vindex_hnsw_check(const cr_vindex *vi, int64_t from, char *why, size_t n)
{
    C_ASSERT(vi && why && n);
    why[0] = 0;
    return cr_faiss_hnsw_check(vi->idx, from, why, n);
}

cc_status cr_vindex_remove(cr_vindex *vi, size_t n, const int64_t *ids, size_t *n_removed)
{
    C_ASSERT(vi && (n == 0 || ids));
    if (n_removed) *n_removed = 0;
    idset drop = { 0 };
    int64_t *present = n ? malloc(n * sizeof *present) : NULL;
    size_t np = 0;
    if (n && !present) return verr(vi, CC_NOMEM, "out of memory removing vectors");
    for (size_t i = 0; i < n; i++) {
        if (!idset_has(&vi->ids, ids[i]) || idset_has(&drop, ids[i])) continue;
        if (idset_put(&drop, ids[i]) != CC_OK) {
            idset_free(&drop); free(present);
            return verr(vi, CC_NOMEM, "out of memory removing vectors");
        }
        present[np++] = ids[i];
    }
    cc_status s = CC_OK;
    if (np && vi->hnsw) {
        for (size_t i = 0; i < np && s == CC_OK; i++)
            if (idset_put(&vi->tomb, present[i]) != CC_OK)
                s = verr(vi, CC_NOMEM, "out of memory removing vectors");
        if (s != CC_OK) {                  /* undo: nothing removed */
            for (size_t i = 0; i < np; i++) idset_del(&vi->tomb, present[i]);
        } else {
            for (size_t i = 0; i < np; i++) idset_del(&vi->ids, present[i]);
            for (size_t i = 0; i < np; i++) jr_op(vi, OP_RM, present[i], NULL);
            if (n_removed) *n_removed = np;
            if (vi->tomb.count * 10 > vi->ids.count + vi->tomb.count && !vi->no_rebuild)
                s = rebuild(vi, NULL, 0);  /* on failure the tombstones stay valid */
        }
        idset_free(&drop);
        free(present);
        return s;
    } else if (np) {
        FaissIDSelectorBatch *sel = NULL;
        size_t got = 0;
        vi->era++;         /* a flat removal moves the vectors after it */
        vi->copy_of = 0;
        if (faiss_IDSelectorBatch_new(&sel, np, present))
            s = verr(vi, CC_ERROR, "FAISS: %s", ferr());
        else if (faiss_Index_remove_ids(vi->idx, (const FaissIDSelector *)sel, &got))
            s = verr(vi, CC_ERROR, "FAISS: removing %zu vectors: %s", np, ferr());
        else if (got != np)
            s = verr(vi, CC_CORRUPT, "FAISS removed %zu vectors, expected %zu", got, np);
        if (sel) faiss_IDSelector_free((FaissIDSelector *)sel);
    }
    if (s == CC_OK) {
        for (size_t i = 0; i < np; i++) idset_del(&vi->ids, present[i]);
        for (size_t i = 0; i < np; i++) jr_op(vi, OP_RM, present[i], NULL);
        if (n_removed) *n_removed = np;
    }
    idset_free(&drop);
    free(present);
    return s;
}

/* retrieval/faiss_simd.cpp: cairn's search (HNSW: int8 walk, exact
 * re-rank; flat: int8 scan, exact re-rank); the count, or -1 not
 * applicable, -2 failure. */
int cr_faiss_search(const FaissIndex *index, const float *q, int k, float *scores,
                    int64_t *ids);

/* One query's top kk: cairn's own search (see faiss_simd.cpp;
 * CAIRN_FAISS_SEARCH=1 in the environment uses FAISS's instead, for
 * comparisons), else FAISS's. Unfilled slots get id -1. */
static cc_status index_search(cr_vindex *vi, const float *query, idx_t kk, float *scores,
                              int64_t *ids)
{
    const char *e = getenv("CAIRN_FAISS_SEARCH");
    int use_faiss = e && !strcmp(e, "1");
    if (!use_faiss && kk <= INT32_MAX) {
        int n = cr_faiss_search(vi->idx, query, (int)kk, scores, ids);
        if (n == -2) return verr(vi, CC_NOMEM, "out of memory searching vectors");
        if (n >= 0) {
            for (idx_t i = n; i < kk; i++) { ids[i] = -1; scores[i] = 0; }
            return CC_OK;
        }
    }
    if (faiss_Index_search(vi->idx, 1, query, kk, scores, ids))
        return verr(vi, CC_ERROR, "FAISS: search: %s", ferr());
    return CC_OK;
}

/* One query's search (the body of cr_vindex_search below). */
static cc_status search_one(cr_vindex *vi, const float *query, int k,
                            int64_t *ids, float *scores, size_t *n_out);

void cr_vindex_batch_threads(int n)
{
    if (n >= 1) omp_set_num_threads(n);
}

void cr_faiss_set_huge(int on);   /* faiss_simd.cpp */

/* set by cr_vindex_huge_pages: a long-lived searcher, which readies a
 * flat index at load (load) */
static atomic_int searched_long;

void cr_vindex_huge_pages(int on)
{
    atomic_store(&searched_long, on != 0);
    cr_faiss_set_huge(on);
}

/* One query is searched on the calling thread alone: FAISS opens an OpenMP
 * team per call, which for a single query costs more CPU than it saves
 * (and a fresh team per request thread under a server's load). The
 * thread's OpenMP setting is put back afterwards, so batch work (HNSW
 * builds) on the same thread keeps its threads. */
cc_status cr_vindex_search(cr_vindex *vi, const float *query, int k,
                           int64_t *ids, float *scores, size_t *n_out)
{
    int was = omp_get_max_threads();
    if (was > 1) omp_set_num_threads(1);
    pthread_rwlock_rdlock(&vi->lock);
    cc_status s = search_one(vi, query, k, ids, scores, n_out);
    pthread_rwlock_unlock(&vi->lock);
    if (was > 1) omp_set_num_threads(was);
    return s;
}

static cc_status search_one(cr_vindex *vi, const float *query, int k,
                            int64_t *ids, float *scores, size_t *n_out)
{
    C_ASSERT(vi && query && ids && scores && n_out);
    *n_out = 0;
    if (k < 1 || k > K_MAX)
        return verr(vi, CC_INVALID, "k = %d is out of range 1..%d", k, K_MAX);
    for (int d = 0; d < vi->dim; d++)
        if (!isfinite(query[d]))
            return verr(vi, CC_INVALID, "query vector has a non-finite component");
    int64_t live = (int64_t)vi->ids.count;
    int64_t nt = live + (int64_t)vi->tomb.count;     /* vectors inside FAISS */
    if (live == 0) return CC_OK;
    if (!vi->tomb.count) {
        idx_t kk = k < nt ? k : nt;
        cc_status s = index_search(vi, query, kk, scores, ids);
        if (s != CC_OK) return s;
        size_t m = 0;
        for (idx_t i = 0; i < kk; i++) {
            if (ids[i] < 0) continue;        /* fewer results than asked (HNSW) */
            ids[m] = ids[i];
            scores[m] = scores[i];
            m++;
        }
        *n_out = m;
        return CC_OK;
    }
    /* Tombstones: over-fetch, skip them, fetch more while short. */
    idx_t want = k < live ? k : live;
    idx_t kk = (idx_t)k + k / 2 + 8;
    for (;;) {
        if (kk > nt) kk = nt;
        int64_t *li = malloc((size_t)kk * sizeof *li);
        float *ls = malloc((size_t)kk * sizeof *ls);
        if (!li || !ls) {
            free(li); free(ls);
            return verr(vi, CC_NOMEM, "out of memory searching vectors");
        }
        cc_status s = index_search(vi, query, kk, ls, li);
        if (s != CC_OK) {
            free(li); free(ls);
            return s;
        }
        size_t m = 0;
        for (idx_t i = 0; i < kk && (idx_t)m < want; i++) {
            if (li[i] < 0 || idset_has(&vi->tomb, li[i])) continue;
            ids[m] = li[i];
            scores[m] = ls[i];
            m++;
        }
        free(li);
        free(ls);
        if ((idx_t)m >= want || kk >= nt) {
            *n_out = m;
            return CC_OK;
        }
        kk *= 2;
    }
}

cc_status cr_vindex_search_hits(cr_vindex *vi, const float *query, int k,
                                cr_hit **hits, size_t *n)
{
    C_ASSERT(hits && n);
    *hits = NULL;
    *n = 0;
    if (k < 1 || k > K_MAX)
        return verr(vi, CC_INVALID, "k = %d is out of range 1..%d", k, K_MAX);
    int64_t *ids = malloc((size_t)k * sizeof *ids);
    float *sc = malloc((size_t)k * sizeof *sc);
    if (!ids || !sc) {
        free(ids); free(sc);
        return verr(vi, CC_NOMEM, "out of memory searching vectors");
    }
    size_t m = 0;
    cc_status s = cr_vindex_search(vi, query, k, ids, sc, &m);
    cr_hit *h = NULL;
    if (s == CC_OK && m) {
        h = calloc(m, sizeof *h);
        if (!h) s = verr(vi, CC_NOMEM, "out of memory searching vectors");
        for (size_t i = 0; h && i < m; i++) {
            h[i].chunk_id = ids[i];
            h[i].score = sc[i];
            h[i].rank[CR_LANE_VECTOR] = (int)i + 1;
            h[i].lane_score[CR_LANE_VECTOR] = sc[i];
        }
    }
    free(ids);
    free(sc);
    if (s == CC_OK) { *hits = h; *n = m; }
    return s;
}

/* ---------------------------------------------------------------- save / open */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* A fast 64-bit checksum of the payload (8-byte little-endian words, an
 * xxhash-style round each, then the tail bytes). It detects damage; it is
 * not a cryptographic hash. Reads plen bytes from f's current position. */
static int payload_sum(FILE *f, uint64_t plen, uint64_t *out)
{
    enum { BLK = 1 << 20 };
    unsigned char *buf = malloc(BLK);
    if (!buf) return -1;
    uint64_t h = 0x27D4EB2F165667C5ULL ^ plen, left = plen;
    while (left) {
        size_t want = left < BLK ? (size_t)left : BLK;
        if (fread(buf, 1, want, f) != want) { free(buf); return -1; }
        size_t i = 0;
        for (; i + 8 <= want; i += 8) {
            uint64_t w = get_u64(buf + i) * 0xC2B2AE3D27D4EB4FULL;
            w = (w << 31) | (w >> 33);
            h ^= w * 0x9E3779B185EBCA87ULL;
            h = ((h << 27) | (h >> 37)) * 0x9E3779B185EBCA87ULL + 0x85EBCA77C2B2AE63ULL;
        }
        for (; i < want; i++) h = (h ^ buf[i]) * 0x100000001B3ULL;
        left -= want;
    }
    free(buf);
    h ^= h >> 33; h *= 0xff51afd7ed558ccdULL; h ^= h >> 33;
    *out = h;
    return 0;
}

/* The stamp's line for a file and checksum (see the top of this file). */
static void stamp_line(const struct stat *st, uint64_t sum, char *buf, size_t n)
{
    snprintf(buf, n, "cairn-vindex-ok 1 %llu %llu %lld %lld %ld %lld %ld %016llx\n",
             (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
             (long long)st->st_size, (long long)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec,
             (long long)st->st_ctim.tv_sec, (long)st->st_ctim.tv_nsec, (unsigned long long)sum);
}

static int stamp_path(const char *path, const char *ext, cc_buf *out)
{
    return cc_buf_printf(out, "%s%s", path, ext) != CC_OK;
}

/* Writes path.ok for the file now at path (best effort: without it the
 * next open verifies in full). */
static void stamp_write(const char *path, uint64_t sum)
{
    cc_buf ok = CC_BUF_INIT(0), tmp = CC_BUF_INIT(0);
    struct stat st;
    char line[256];
    FILE *f;
    if (stat(path, &st) || stamp_path(path, ".ok", &ok) || stamp_path(path, ".ok.tmp", &tmp))
        goto out;
    stamp_line(&st, sum, line, sizeof line);
    if (!(f = fopen(tmp.data, "w"))) goto out;
    if (fputs(line, f) == EOF) { fclose(f); unlink(tmp.data); goto out; }
    if (fclose(f) || rename(tmp.data, ok.data)) unlink(tmp.data);
out:
    cc_buf_free(&ok);
    cc_buf_free(&tmp);
}

static void stamp_remove(const char *path)
{
    cc_buf ok = CC_BUF_INIT(0);
    if (!stamp_path(path, ".ok", &ok)) unlink(ok.data);
    cc_buf_free(&ok);
}

/* 1 when path.ok vouches for the open file st with checksum sum. */
static int stamp_ok(const char *path, const struct stat *st, uint64_t sum)
{
    cc_buf ok = CC_BUF_INIT(0);
    char want[256], got[256];
    size_t n = 0;
    FILE *f = NULL;
    if (!stamp_path(path, ".ok", &ok) && (f = fopen(ok.data, "r"))) {
        n = fread(got, 1, sizeof got - 1, f);
        fclose(f);
    }
    cc_buf_free(&ok);
    got[n] = 0;
    stamp_line(st, sum, want, sizeof want);
    return n && !strcmp(got, want);
}

static cc_status io_status(int e) { return e == ENOSPC || e == EFBIG || e == EDQUOT ? CC_FULL : CC_IO; }

cc_status cr_vindex_save(cr_vindex *vi)
{
    C_ASSERT(vi);
    cc_buf tmp = CC_BUF_INIT(8192);
    if (cc_buf_printf(&tmp, "%s.tmp", vi->path) != CC_OK)
        return verr(vi, CC_NOMEM, "vector index path too long");
    size_t idl = strlen(vi->embedder);
    unsigned char hdr[HDR_BYTES];
    memcpy(hdr, MAGIC, 8);
    put_u32(hdr + 8, CR_VINDEX_FORMAT_VERSION);
    put_u32(hdr + 12, (uint32_t)vi->dim);
    put_u64(hdr + 16, (uint64_t)vi->generation);
    put_u64(hdr + 24, (uint64_t)(vi->ids.count + vi->tomb.count));
    put_u32(hdr + 32, vi->hnsw ? 1u : 0u);
    put_u32(hdr + 36, (uint32_t)idl);
    put_u64(hdr + 40, 0);                      /* patched below */
    put_u64(hdr + 48, 0);                      /* patched below */
    put_u64(hdr + 56, (uint64_t)vi->tomb.count);
    size_t body = HDR_BYTES + idl;             /* tombstones, then payload */
    cc_status s = CC_OK;
    FILE *f = fopen(tmp.data, "w+b");
    if (!f) {
        s = verr(vi, io_status(errno), "cannot write %s: %s", tmp.data, strerror(errno));
        cc_buf_free(&tmp);
        return s;
    }
    int e = 0;
    uint64_t saved_sum = 0;
    if (fwrite(hdr, 1, HDR_BYTES, f) != HDR_BYTES || fwrite(vi->embedder, 1, idl, f) != idl)
        e = errno ? errno : EIO;
    for (size_t i = 0; !e && i < vi->tomb.cap; i++) {
        unsigned char b[8];
        if (vi->tomb.slot[i] < 0) continue;
        put_u64(b, (uint64_t)vi->tomb.slot[i]);
        if (fwrite(b, 1, 8, f) != 8) e = errno ? errno : EIO;
    }
    if (!e && faiss_write_index(vi->idx, f))
        s = verr(vi, CC_IO, "FAISS: writing %s: %s", tmp.data, ferr());
    off_t end = ftello(f);
    if (!e && s == CC_OK) {
        if (end < 0) e = errno;
        else if (fwrite(TRAILER, 1, 8, f) != 8) e = errno ? errno : EIO;
    }
    if (!e && s == CC_OK) {
        unsigned char pl[16];
        uint64_t tb = 8 * (uint64_t)vi->tomb.count;
        uint64_t plen = (uint64_t)(end - (off_t)(body + tb)), sum = 0;
        put_u64(pl, plen);
        if (fflush(f) || fseeko(f, (off_t)body, SEEK_SET) || payload_sum(f, tb + plen, &sum))
            e = errno ? errno : EIO;
        put_u64(pl + 8, sum);
        saved_sum = sum;
        if (!e && (fseeko(f, 40, SEEK_SET) || fwrite(pl, 1, 16, f) != 16 || fflush(f) ||
                   fsync(fileno(f))))
            e = errno ? errno : EIO;
    }
    if (fclose(f) && !e && s == CC_OK) e = errno ? errno : EIO;
    if (!e && s == CC_OK) stamp_remove(vi->path);     /* it vouches for the old file */
    if (!e && s == CC_OK && rename(tmp.data, vi->path)) e = errno;
    if (e && s == CC_OK)
        s = verr(vi, io_status(e), "cannot write %s: %s", tmp.data, strerror(e));
    if (s != CC_OK) {
        unlink(tmp.data);
    } else {
        /* Make the rename durable: fsync the directory. */
        cc_buf dir = CC_BUF_INIT(8192);
        const char *slash = strrchr(vi->path, '/');
        size_t dl = slash ? (size_t)(slash - vi->path) + (slash == vi->path) : 0;
        cc_status ds = slash ? cc_buf_append(&dir, vi->path, dl) : cc_buf_puts(&dir, ".");
        if (ds == CC_OK) {
            int fd = open(dir.data, O_RDONLY | O_DIRECTORY);
            if (fd >= 0) { fsync(fd); close(fd); }
        }
        cc_buf_free(&dir);
        stamp_write(vi->path, saved_sum);
        /* the delta belongs to the old file (its header names it, so a
         * crash before this unlink leaves a delta no one applies) */
        cc_buf dp = CC_BUF_INIT(0);
        if (!stamp_path(vi->path, ".delta", &dp)) unlink(dp.data);
        cc_buf_free(&dp);
        vi->has_base = !stat(vi->path, &vi->base_st);
        vi->base_sum = saved_sum;
        vi->base_gen = (uint64_t)vi->generation;
        vi->delta_off = 0;
        vi->delta_adds = 0;
        cc_buf_reset(&vi->jr);
        vi->jr_ops = 0;
        vi->jr_adds = 0;
        vi->jr_over = 0;
    }
    cc_buf_free(&tmp);
    return s;
}

/* ---------------------------------------------------------------- the delta */

static void jr_op(cr_vindex *vi, int op, int64_t id, const float *vec)
{
    unsigned char b[9];
    if (vi->applying || vi->jr_over) return;
    b[0] = (unsigned char)op;
    put_u64(b + 1, (uint64_t)id);
    if (cc_buf_append(&vi->jr, b, 9) != CC_OK ||
        (vec && cc_buf_append(&vi->jr, vec, (size_t)vi->dim * sizeof *vec) != CC_OK)) {
        vi->jr_over = 1;          /* too much for a delta: the next save is a full one */
        cc_buf_free(&vi->jr);
        cc_buf_init(&vi->jr, JR_MAX);
        vi->jr_ops = 0;
        vi->jr_adds = 0;
        return;
    }
    vi->jr_ops++;
    vi->jr_adds += op == OP_ADD;
}

/* The checksum of a delta record: gen, op count and body. */
static uint64_t rec_sum(uint64_t gen, uint32_t nops, const unsigned char *p, size_t n)
{
    uint64_t h = 0x27D4EB2F165667C5ULL ^ gen ^ ((uint64_t)nops << 32) ^ n;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ULL;
    h ^= h >> 33; h *= 0xff51afd7ed558ccdULL; h ^= h >> 33;
    return h;
}

/* Applies the complete, intact records of the open delta file f from
 * offset `from` (past the header) to `size`; stops at the first short or
 * damaged one (a torn append). vi->delta_off and the generation follow
 * each applied record. CC_BUSY: an op needs a rebuild while no_rebuild. */
static cc_status delta_apply(cr_vindex *vi, FILE *f, uint64_t from, uint64_t size)
{
    cc_status s = CC_OK;
    unsigned char *body = NULL;
    size_t per_add = 9 + (size_t)vi->dim * sizeof(float), vbytes = (size_t)vi->dim * sizeof(float);
    /* a record's consecutive adds go to FAISS together, CR_ADD_BATCH at a
     * time as the writer that recorded them added them (cr_vectors_sync):
     * one by one, each add paid per-call costs that grow with the index
     * (lock and visited tables over every vector, the search copy's
     * update) */
    int64_t *bid = NULL;
    float *bv = NULL;
    size_t nb = 0, cap = 0;
    /* on one thread: FAISS's batch insert spreads a level's vectors over
     * an OpenMP team in no fixed order, and every open must build the same
     * graph from the same delta (the same answers from every reader) */
    int was = omp_get_max_threads();
    if (was > 1) omp_set_num_threads(1);
    vi->applying = 1;
    while (s == CC_OK && from + REC_HDR + 8 <= size) {
        unsigned char h[REC_HDR], t[8];
        if (fseeko(f, (off_t)from, SEEK_SET) || fread(h, 1, REC_HDR, f) != REC_HDR ||
            memcmp(h, RMAGIC, 4))
            break;
        uint32_t nops = get_u32(h + 4);
        uint64_t gen = get_u64(h + 8), blen = get_u64(h + 16);
        if (blen > size - from - REC_HDR - 8 || gen > (uint64_t)INT64_MAX ||
            blen > (uint64_t)nops * per_add)
            break;
        unsigned char *nbody = realloc(body, blen ? (size_t)blen : 1);
        if (!nbody) { s = verr(vi, CC_NOMEM, "out of memory reading the vector delta"); break; }
        body = nbody;
        if (fread(body, 1, (size_t)blen, f) != blen || fread(t, 1, 8, f) != 8 ||
            get_u64(t) != rec_sum(gen, nops, body, (size_t)blen))
            break;
        size_t at = 0;
        uint64_t nadd = 0;
        for (uint32_t i = 0; s == CC_OK && i <= nops; i++) {
            int op = -1, bad = 0;   /* -1: the record's end */
            int64_t id = 0;
            if (i < nops) {
                if (at + 9 > blen) { s = verr(vi, CC_CORRUPT, "vector delta: bad record"); break; }
                op = body[at];
                id = (int64_t)get_u64(body + at + 1);
                at += 9;
                bad = op == OP_ADD ? at + vbytes > blen : op != OP_RM;
            }
            /* the batch goes in before anything it must precede: the end
             * of the record, a removal, or an id already in the index
             * (replayed twice: same content, removed first); an id twice
             * in one batch, which no writer records, fails the add */
            if (nb && (op != OP_ADD || bad || idset_has(&vi->ids, id) || nb == CR_ADD_BATCH)) {
                s = cr_vindex_add(vi, nb, bid, bv);
                nb = 0;
                if (s != CC_OK) break;
            }
            if (i == nops) break;
            if (bad) {
                s = verr(vi, CC_CORRUPT, "vector delta: bad op %d", op);
            } else if (op == OP_ADD) {
                if (idset_has(&vi->ids, id)) {
                    size_t got;
                    if ((s = cr_vindex_remove(vi, 1, &id, &got)) != CC_OK) break;
                }
                if (nb == cap) {
                    size_t nc = cap ? cap * 2 : 64;
                    int64_t *ni = realloc(bid, nc * sizeof *ni);
                    if (ni) bid = ni;
                    float *nv = ni ? realloc(bv, nc * vbytes) : NULL;
                    if (nv) bv = nv;
                    if (!nv) { s = verr(vi, CC_NOMEM, "out of memory reading the vector delta"); break; }
                    cap = nc;
                }
                bid[nb] = id;
                memcpy(bv + nb * (size_t)vi->dim, body + at, vbytes);
                nb++;
                nadd++;
                at += vbytes;
            } else {
                size_t got;
                s = cr_vindex_remove(vi, 1, &id, &got);
            }
        }
        nb = 0;
        if (s != CC_OK) break;
        vi->delta_adds += nadd;
        cr_vindex_set_generation(vi, (int64_t)gen);
        from += REC_HDR + blen + 8;
        vi->delta_off = from;
    }
    vi->applying = 0;
    if (was > 1) omp_set_num_threads(was);
    free(body);
    free(bid);
    free(bv);
    return s;
}

/* Opens path.delta and checks that its header names vi's base file: 1
 * yes (f open, *size its size), 0 no delta or another base's, -1 error. */
static int delta_open(cr_vindex *vi, FILE **f, uint64_t *size)
{
    cc_buf dp = CC_BUF_INIT(0);
    unsigned char h[DELTA_HDR];
    struct stat st;
    *f = NULL;
    if (stamp_path(vi->path, ".delta", &dp)) return -1;
    FILE *g = fopen(dp.data, "rb");
    cc_buf_free(&dp);
    if (!g) return errno == ENOENT ? 0 : -1;
    if (fstat(fileno(g), &st) || fread(h, 1, DELTA_HDR, g) != DELTA_HDR ||
        memcmp(h, DMAGIC, 8) || get_u32(h + 8) != DELTA_VERSION ||
        get_u64(h + 16) != vi->base_gen || get_u64(h + 24) != vi->base_sum) {
        fclose(g);
        return 0;
    }
    *f = g;
    *size = (uint64_t)st.st_size;
    return 1;
}

/* Loads the delta into a freshly loaded handle (rebuilds allowed). A
 * delta that does not apply is left out: the index is then at the base's
 * generation and the change log replays the rest. */
static void delta_load(cr_vindex *vi)
{
    FILE *f;
    uint64_t size;
    if (delta_open(vi, &f, &size) != 1) return;
    /* a failed op: the change log replays it */
    vi->delta_bad = delta_apply(vi, f, DELTA_HDR, size) != CC_OK;
    if (vi->delta_off == 0) vi->delta_off = DELTA_HDR;
    vi->delta_seen = size;
    fclose(f);
}

void cr_vindex_set_delta_max_adds(cr_vindex *vi, uint64_t n) { vi->max_adds = n; }

uint64_t cr_vindex_delta_adds(const cr_vindex *vi) { return vi->delta_adds; }

int cr_vindex_delta_damaged(const cr_vindex *vi, uint64_t *at, uint64_t *size)
{
    *at = vi->delta_off;
    *size = vi->delta_seen;
    return vi->delta_seen && (vi->delta_bad || vi->delta_off < vi->delta_seen);
}

cc_status cr_vindex_save_delta(cr_vindex *vi)
{
    C_ASSERT(vi);
    uint64_t cap = (uint64_t)vi->base_st.st_size / DELTA_SHARE;
    if (cap < DELTA_MIN) cap = DELTA_MIN;
    if (!vi->has_base || vi->jr_over ||
        vi->delta_off + REC_HDR + vi->jr.len + 8 > DELTA_HDR + cap ||
        (vi->max_adds && vi->hnsw && vi->delta_adds + vi->jr_adds > vi->max_adds))
        return cr_vindex_save(vi);
    cc_buf dp = CC_BUF_INIT(0);
    if (stamp_path(vi->path, ".delta", &dp)) return verr(vi, CC_NOMEM, "out of memory");
    int fresh = vi->delta_off == 0;
    int fd = open(dp.data, O_WRONLY | O_CREAT | (fresh ? O_TRUNC : 0), 0644);
    cc_status s = CC_OK;
    int e = 0;
    if (fd < 0) {
        s = verr(vi, io_status(errno), "cannot write %s: %s", dp.data, strerror(errno));
        cc_buf_free(&dp);
        return s;
    }
    uint64_t at = fresh ? 0 : vi->delta_off;
    unsigned char h[DELTA_HDR > REC_HDR ? DELTA_HDR : REC_HDR], t[8];
    /* drop a torn tail a crash left after the last intact record */
    if (!fresh && ftruncate(fd, (off_t)at)) e = errno;
    if (!e && fresh) {
        memset(h, 0, DELTA_HDR);
        memcpy(h, DMAGIC, 8);
        put_u32(h + 8, DELTA_VERSION);
        put_u64(h + 16, vi->base_gen);
        put_u64(h + 24, vi->base_sum);
        if (pwrite(fd, h, DELTA_HDR, 0) != DELTA_HDR) e = errno ? errno : EIO;
        at = DELTA_HDR;
    }
    if (!e) {
        memcpy(h, RMAGIC, 4);
        put_u32(h + 4, vi->jr_ops);
        put_u64(h + 8, (uint64_t)vi->generation);
        put_u64(h + 16, (uint64_t)vi->jr.len);
        put_u64(t, rec_sum((uint64_t)vi->generation, vi->jr_ops,
                           (const unsigned char *)vi->jr.data, vi->jr.len));
        if (pwrite(fd, h, REC_HDR, (off_t)at) != REC_HDR ||
            (vi->jr.len && pwrite(fd, vi->jr.data, vi->jr.len, (off_t)(at + REC_HDR)) !=
                               (ssize_t)vi->jr.len) ||
            pwrite(fd, t, 8, (off_t)(at + REC_HDR + vi->jr.len)) != 8 || fsync(fd))
            e = errno ? errno : EIO;
    }
    if (close(fd) && !e) e = errno;
    if (!e && fresh) {      /* a new file: make its name durable */
        cc_buf dir = CC_BUF_INIT(0);
        const char *slash = strrchr(vi->path, '/');
        size_t dl = slash ? (size_t)(slash - vi->path) + (slash == vi->path) : 0;
        if ((slash ? cc_buf_append(&dir, vi->path, dl) : cc_buf_puts(&dir, ".")) == CC_OK) {
            int dfd = open(dir.data, O_RDONLY | O_DIRECTORY);
            if (dfd >= 0) { fsync(dfd); close(dfd); }
        }
        cc_buf_free(&dir);
    }
    if (e) {
        s = verr(vi, io_status(e), "cannot write %s: %s", dp.data, strerror(e));
    } else {
        vi->delta_off = at + REC_HDR + vi->jr.len + 8;
        vi->delta_adds = (fresh ? 0 : vi->delta_adds) + vi->jr_adds;
        cc_buf_reset(&vi->jr);
        vi->jr_ops = 0;
        vi->jr_adds = 0;
    }
    cc_buf_free(&dp);
    return s;
}

int cr_vindex_disk_same(cr_vindex *vi)
{
    struct stat st;
    FILE *f = NULL;
    uint64_t size = 0;
    if (!vi->has_base || stat(vi->path, &st) || st.st_ino != vi->base_st.st_ino ||
        st.st_dev != vi->base_st.st_dev || st.st_size != vi->base_st.st_size ||
        st.st_mtim.tv_sec != vi->base_st.st_mtim.tv_sec ||
        st.st_mtim.tv_nsec != vi->base_st.st_mtim.tv_nsec)
        return 0;
    int r = delta_open(vi, &f, &size);
    if (f) fclose(f);
    if (r < 0) return 0;
    return r == 0 ? vi->delta_off == 0 : size == vi->delta_off;
}

/* retrieval/faiss_simd.cpp */
int cr_faiss_prepare(FaissIndex *index);

cc_status cr_vindex_refresh(cr_vindex *vi, int *reload)
{
    C_ASSERT(vi && reload);
    struct stat st;
    FILE *f = NULL;
    uint64_t size = 0;
    cc_status s = CC_OK;
    *reload = 0;
    if (!vi->has_base || stat(vi->path, &st) || st.st_ino != vi->base_st.st_ino ||
        st.st_dev != vi->base_st.st_dev || st.st_size != vi->base_st.st_size ||
        st.st_mtim.tv_sec != vi->base_st.st_mtim.tv_sec ||
        st.st_mtim.tv_nsec != vi->base_st.st_mtim.tv_nsec) {
        *reload = 1;                   /* a new base file */
        return CC_OK;
    }
    int r = delta_open(vi, &f, &size);
    if (r < 0) return verr(vi, CC_IO, "cannot read the vector delta of %s: %s", vi->path,
                           strerror(errno));
    if (r == 0 || size < vi->delta_off) {
        if (f) fclose(f);
        *reload = vi->delta_off > DELTA_HDR || (r == 1 && size < vi->delta_off);
        return CC_OK;
    }
    uint64_t from = vi->delta_off ? vi->delta_off : DELTA_HDR;
    if (size > from) {
        pthread_rwlock_wrlock(&vi->lock);
        vi->no_rebuild = 1;
        s = delta_apply(vi, f, from, size);
        vi->no_rebuild = 0;
        if (s == CC_OK) cr_faiss_prepare(vi->idx);
        pthread_rwlock_unlock(&vi->lock);
        if (s == CC_BUSY) { *reload = 1; s = CC_OK; }
    }
    fclose(f);
    return s;
}

/* ---------------------------------------------------------------- clone */

/* vclone.cpp: a deep copy of the FAISS index (0, -1 failure, -2 not of
 * the shapes this file makes). */
int cr_faiss_clone(const FaissIndex *index, FaissIndex **out);

int cr_faiss_clone_into(const FaissIndex *index, FaissIndex *dst, int64_t same);

/* dst (a valid set, maybe empty) becomes a copy of src, reusing dst's
 * table when it is the same size. */
static cc_status idset_copy(idset *dst, const idset *src)
{
    if (dst->cap != src->cap) {
        idset_free(dst);
        if (!src->cap) return CC_OK;
        if (!(dst->slot = malloc(src->cap * sizeof *dst->slot))) return CC_NOMEM;
    }
    if (!src->cap) return CC_OK;
    memcpy(dst->slot, src->slot, src->cap * sizeof *dst->slot);
    dst->cap = src->cap;
    dst->count = src->count;
    dst->used = src->used;
    return CC_OK;
}

/* The body of cr_vindex_clone and cr_vindex_clone_into: vi (a fresh
 * handle, or an idle one of the same shape when into) becomes src's copy. */
static cc_status clone_to(cr_vindex *src, cr_vindex *vi, int into)
{
    pthread_rwlock_rdlock(&src->lock);
    /* the source's search copy brought up to date first, so that the copy
     * carries it (the writer's own index is never searched) */
    cr_faiss_prepare(src->idx);
    /* into an unchanged copy of src from src's same era: only the tail */
    int64_t same = into && vi->copy_of == src->uid && vi->copy_era == src->era ? vi->copy_n : 0;
    int rc = into ? cr_faiss_clone_into(src->idx, vi->idx, same)
                  : cr_faiss_clone(src->idx, &vi->idx);
    vi->era++;
    vi->copy_of = 0;
    vi->copy_kept = rc == 1 ? same : 0;
    if (rc == 1) rc = 0;
    if (rc == 0 && (idset_copy(&vi->ids, &src->ids) != CC_OK ||
                    idset_copy(&vi->tomb, &src->tomb) != CC_OK))
        rc = -1;
    if (rc == 0) {
        vi->hnsw = src->hnsw;
        vi->generation = cr_vindex_generation(src);
        vi->has_base = src->has_base;
        vi->base_st = src->base_st;
        vi->base_sum = src->base_sum;
        vi->base_gen = src->base_gen;
        vi->delta_off = src->delta_off;
        vi->delta_adds = src->delta_adds;
        vi->max_adds = src->max_adds;
        vi->delta_seen = src->delta_seen;
        vi->delta_bad = src->delta_bad;
        /* what src has not saved yet stays src's to save: the copy's
         * journal starts empty, or full when src's overflowed */
        vi->jr_over = src->jr_over || src->jr_ops;
        cc_buf_reset(&vi->jr);
        vi->jr_ops = 0;
        vi->jr_adds = 0;
        vi->copy_of = src->uid;
        vi->copy_era = src->era;
        vi->copy_n = (int64_t)faiss_Index_ntotal(src->idx);
    }
    pthread_rwlock_unlock(&src->lock);
    if (rc != 0)
        return verr(src, rc == -2 ? CC_INVALID : CC_NOMEM,
                    rc == -2 ? "cannot copy a vector index of this kind"
                             : "out of memory copying the vector index");
    return CC_OK;
}

cc_status cr_vindex_clone(cr_vindex *src, cr_vindex **out)
{
    C_ASSERT(src && out);
    cr_vindex *vi;
    *out = NULL;
    cc_status s = handle_new(src->path, src->embedder, src->dim, &src->opts, &vi);
    if (s != CC_OK) return verr(src, s, "%s", cc_errmsg());
    if ((s = clone_to(src, vi, 0)) != CC_OK) {
        cr_vindex_close(vi);
        return s;
    }
    *out = vi;
    return CC_OK;
}

int64_t cr_vindex_copy_kept(const cr_vindex *vi) { return vi ? vi->copy_kept : 0; }

cc_status cr_vindex_clone_into(cr_vindex *src, cr_vindex *dst)
{
    C_ASSERT(src && dst && src != dst);
    if (strcmp(src->path, dst->path) || strcmp(src->embedder, dst->embedder) ||
        src->dim != dst->dim || src->hnsw != dst->hnsw || !dst->idx)
        return verr(src, CC_INVALID, "the target is not an index of the same kind");
    dst->opts = src->opts;
    return clone_to(src, dst, 1);
}

/* Loads the file into vi (fresh handle). Messages go to cc_seterr. */
static cc_status load(cr_vindex *vi)
{
    const char *path = vi->path;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return cc_seterr(CC_NOTFOUND, "no vector index at %s", path);
        return cc_seterr(CC_IO, "cannot open %s: %s", path, strerror(errno));
    }
    cc_status s = CC_OK;
    unsigned char hdr[HDR_BYTES];
    char ident[ID_MAX_BYTES + 1];
    struct stat st;
    FaissIndex *idx = NULL;
    if (fstat(fileno(f), &st)) {
        s = cc_seterr(CC_IO, "cannot stat %s: %s", path, strerror(errno));
        goto out;
    }
    if (fread(hdr, 1, HDR_BYTES, f) != HDR_BYTES || memcmp(hdr, MAGIC, 8)) {
        s = cc_seterr(CC_CORRUPT, "%s is not a cairn vector index (bad or short header); rebuild it",
                      path);
        goto out;
    }
    uint32_t ver = get_u32(hdr + 8), dim = get_u32(hdr + 12), kind = get_u32(hdr + 32);
    uint32_t idl = get_u32(hdr + 36);
    uint64_t gen = get_u64(hdr + 16), count = get_u64(hdr + 24), plen = get_u64(hdr + 40);
    uint64_t ntomb = get_u64(hdr + 56);
    if (ver > CR_VINDEX_FORMAT_VERSION) {
        s = cc_seterr(CC_VERSION, "%s has vector index format %u; this cairn reads up to %d",
                      path, ver, CR_VINDEX_FORMAT_VERSION);
        goto out;
    }
    if (ver == 0 || dim == 0 || dim > DIM_MAX || kind > 1 || idl == 0 || idl > ID_MAX_BYTES ||
        gen > (uint64_t)INT64_MAX || count > COUNT_MAX || ntomb > count ||
        (ntomb && !kind) || plen > (uint64_t)INT64_MAX / 2) {
        s = cc_seterr(CC_CORRUPT, "%s: vector index header fails its checks; rebuild it", path);
        goto out;
    }
    uint64_t body = (uint64_t)HDR_BYTES + idl, tb = 8 * ntomb;
    uint64_t want = body + tb + plen + 8;      /* no overflow: each term is bounded */
    if ((uint64_t)st.st_size != want) {
        s = cc_seterr(CC_CORRUPT, "%s is %lld bytes, its header says %llu (truncated?); rebuild it",
                      path, (long long)st.st_size, (unsigned long long)want);
        goto out;
    }
    unsigned char trailer[8];
    if (fread(ident, 1, idl, f) != idl || fseeko(f, (off_t)(want - 8), SEEK_SET) ||
        fread(trailer, 1, 8, f) != 8 || memcmp(trailer, TRAILER, 8)) {
        s = cc_seterr(CC_CORRUPT, "%s: vector index trailer missing; rebuild it", path);
        goto out;
    }
    ident[idl] = '\0';
    if (strlen(ident) != idl || strcmp(ident, vi->embedder) || (int)dim != vi->dim) {
        s = cc_seterr(CC_INVALID,
                      "%s was built by embedder '%s' (dim %u), but the configured embedder is "
                      "'%s' (dim %d); rebuild the vector index or configure that embedder",
                      path, ident, dim, vi->embedder, vi->dim);
        goto out;
    }
    uint64_t sum = get_u64(hdr + 48);
    int stamped = !vi->opts.verify_full && stamp_ok(path, &st, sum);
    if (fseeko(f, (off_t)body, SEEK_SET) || (!stamped && payload_sum(f, tb + plen, &sum)) ||
        fseeko(f, (off_t)body, SEEK_SET)) {
        s = cc_seterr(CC_IO, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    if (sum != get_u64(hdr + 48)) {
        s = cc_seterr(CC_CORRUPT, "%s: vector index checksum mismatch (damaged file); rebuild it",
                      path);
        goto out;
    }
    if (ntomb && idset_grow(&vi->tomb, (size_t)ntomb) != CC_OK) {
        s = cc_seterr(CC_NOMEM, "out of memory loading %s", path);
        goto out;
    }
    for (uint64_t i = 0; i < ntomb; i++) {
        unsigned char b[8];
        if (fread(b, 1, 8, f) != 8) {
            s = cc_seterr(CC_IO, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        int64_t id = (int64_t)get_u64(b);
        if (id < 0 || idset_has(&vi->tomb, id)) {
            s = cc_seterr(CC_CORRUPT, "%s: bad or repeated tombstone %lld; rebuild it", path,
                          (long long)id);
            goto out;
        }
        idset_put(&vi->tomb, id);
    }
    if (faiss_read_index(f, 0, &idx)) {
        idx = NULL;
        s = cc_seterr(CC_CORRUPT, "%s: FAISS cannot read the index (%s); rebuild it", path, ferr());
        goto out;
    }
    off_t pos = ftello(f);
    FaissIndexIDMap2 *m = faiss_IndexIDMap2_cast(idx);
    if (pos != (off_t)(body + tb + plen) || !m || faiss_Index_d(idx) != (int)dim ||
        faiss_Index_ntotal(idx) != (idx_t)count ||
        faiss_Index_metric_type(idx) != METRIC_INNER_PRODUCT) {
        s = cc_seterr(CC_CORRUPT, "%s: the FAISS index does not match its header; rebuild it",
                      path);
        goto out;
    }
    idx_t *idmap = NULL;
    size_t nid = 0;
    faiss_IndexIDMap2_id_map(m, &idmap, &nid);
    if (nid != count) {
        s = cc_seterr(CC_CORRUPT, "%s: id map has %zu ids for %llu vectors; rebuild it", path,
                      nid, (unsigned long long)count);
        goto out;
    }
    if (nid && idset_grow(&vi->ids, nid) != CC_OK) {
        s = cc_seterr(CC_NOMEM, "out of memory loading %s", path);
        goto out;
    }
    for (size_t i = 0; i < nid; i++) {
        if (idmap[i] < 0 || idset_has(&vi->ids, idmap[i])) {
            s = cc_seterr(CC_CORRUPT, "%s: bad or repeated vector id %lld; rebuild it", path,
                          (long long)idmap[i]);
            goto out;
        }
        idset_put(&vi->ids, idmap[i]);
    }
    for (size_t i = 0; i < vi->tomb.cap; i++) {
        int64_t id = vi->tomb.slot[i];
        if (id >= 0 && !idset_del(&vi->ids, id)) {
            s = cc_seterr(CC_CORRUPT, "%s: tombstone %lld is not in the index; rebuild it", path,
                          (long long)id);
            goto out;
        }
    }
    vi->idx = idx;
    idx = NULL;
    vi->hnsw = (int)kind;
    vi->generation = (int64_t)gen;
    if (vi->hnsw && (s = set_hnsw_params(vi, vi->idx)) != CC_OK) {
        cc_seterr(s, "%s: %s", path, cr_vindex_errmsg(vi));
        goto out;
    }
    if (!vi->hnsw && cr_faiss_simd_storage(vi->idx) < 0) {
        s = cc_seterr(CC_NOMEM, "%s: out of memory preparing the flat vector index", path);
        goto out;
    }
    vi->has_base = 1;
    vi->base_st = st;
    vi->base_sum = sum;
    vi->base_gen = gen;
    delta_load(vi);
    /* HNSW: not at the first search. A flat index's copy waits for one
     * (a command that only adds vectors, `cairn ingest`, never needs it),
     * except in a long-lived searcher, where that first search would hold
     * up the others meanwhile (a p99 of 350 ms at 98k vectors in `cairn
     * serve`, docs/benchmarks.md) */
    if (vi->hnsw || atomic_load(&searched_long)) cr_faiss_prepare(vi->idx);
out:
    if (idx) faiss_Index_free(idx);
    fclose(f);
    return s;
}

cc_status cr_vindex_open(const char *path, const char *embedder_id, int dim,
                         const cr_vindex_opts *opts, cr_vindex **out)
{
    cr_vindex *vi;
    cc_status s = handle_new(path, embedder_id, dim, opts, &vi);
    if (s != CC_OK) return s;
    if ((s = load(vi)) != CC_OK) {
        cr_vindex_close(vi);
        return s;
    }
    *out = vi;
    return CC_OK;
}
