/* serve_vectors.c — `cairn serve`'s one vector index, shared by every reader
 * slot and reloaded in the background when vectors.faiss changes.
 *
 * A writer (through the API or the command line) appends its changes to
 * vectors.faiss.delta, and now and then saves a whole new vectors.faiss by
 * rename. A reloader thread notices (a poke from the API's writer, or a
 * stat of the files every POLL_MS). A new vectors.faiss is loaded while
 * searches keep using the old index, then the pointer is swapped under a
 * mutex; each slot picks the new one up at its next request
 * (serve_vectors_apply, a pointer swap). The old index is freed by its last
 * user. A grown delta is applied to a second copy of the index that no
 * search uses (the spare: the index before the previous swap), which then
 * becomes the current one, and the slots are moved onto it at once
 * (serve_slots_apply_vectors), so the copy swapped out is unused when it is
 * next brought up to date. Applying the delta in place instead would hold
 * the index's write lock for the whole apply (the HNSW inserts and the
 * search copy's rebuild: tens of ms on a 100k-vector index), and every
 * search waits meanwhile: that was the hybrid tail under a writer
 * (docs/benchmarks.md, "The hybrid tail and the writer"). The price: the
 * server holds the index twice once a delta has been seen (the spare is
 * made by loading the file again, once), and each delta is applied twice.
 * Loads are spaced at least max(MIN_GAP_MS, twice the last load's time)
 * apart, so a continuous writer costs the readers a bounded share of the
 * CPU; meanwhile the vector lane is a little behind the catalog (BM25 is
 * not: SQLite WAL readers see each commit) and hits whose chunk is gone are
 * dropped by the searcher. */
#define _GNU_SOURCE
#include "serve.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define POLL_MS    200
#define MIN_GAP_MS 1000

static struct {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    pthread_t       tid;
    int             running, stop, poked;
    int             nice;         /* the reloader's priority, lowered by this */
    cr_vshared     *vec;          /* current index; NULL: none (why says why) */
    cr_vshared     *spare;        /* the one before: same base file, delta behind;
                                   * reloader thread only */
    cr_vshared     *retired;      /* the current one before the last handoff, until
                                   * no slot searches it */
    cr_vshared     *recycle;      /* an older one no search uses: the writer's next
                                   * copy is made into it (serve_vectors_recycled) */
    long            handoffs;     /* bumped by each serve_vectors_handoff */
    long            spare_handoffs; /* handoffs when the spare was last valid (reloader) */
    int             held;         /* the API's writer is catching up (serve_vectors_hold) */
    char            why[512];
    long            version;      /* bumped at each swap */
    struct stat     seen;         /* vectors.faiss when last loaded (st_ino 0: absent) */
    struct stat     dseen;        /* vectors.faiss.delta when last applied */
    cc_kb          *kb;           /* the reloader's own read handle */
    cr_embedder    *emb;
    cc_buf          path, dpath;
} V = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* A copy of the current index (cr_vindex_clone; it stays searchable
 * meanwhile); NULL when none or out of memory. */
static cr_vindex *clone_current(const char *for_whom)
{
    cr_vshared *cur;
    cr_vindex *vi = NULL;
    double t0 = cc_now_ms(), c0 = serve_thread_cpu_ms();
    pthread_mutex_lock(&V.mu);
    cur = V.vec;
    cr_vshared_ref(cur);
    pthread_mutex_unlock(&V.mu);
    if (!cur) return NULL;
    if (cr_vindex_clone(cr_vshared_index(cur), &vi) != CC_OK) {
        fprintf(stderr, "cairn: copying the vector index: %s; loading it instead\n",
                cr_vindex_errmsg(cr_vshared_index(cur)));
        vi = NULL;
    }
    cr_vshared_unref(cur);
    serve_timing("V", "clone-%s %.3f cpu %.3f", for_whom, cc_now_ms() - t0,
                 serve_thread_cpu_ms() - c0);
    return vi;
}

/* The same as a spare (see reload). */
static cr_vshared *clone_spare(void)
{
    cr_vindex *vi = clone_current("spare");
    cr_vshared *v = NULL;
    if (vi && cr_vshared_adopt(vi, &v) != CC_OK) cr_vindex_close(vi);
    return v;
}

/* Makes the spare, brought up to date with the delta, the current index.
 * 0 when done; -1 when the spare cannot be (its base file changed, an
 * error): it is dropped and the caller loads the file instead. */
static int swap_in_spare(const struct stat *dst)
{
    cr_vshared *old;
    int again = 0;
    double t0 = cc_now_ms(), c0 = serve_thread_cpu_ms();
    long h0 = __atomic_load_n(&V.handoffs, __ATOMIC_ACQUIRE);
    cc_status s = cr_vshared_refresh(V.spare, &again);
    if (s != CC_OK || again) {
        if (s != CC_OK)
            fprintf(stderr, "cairn: applying the vector delta: %s; reloading the index\n",
                    cr_vshared_errmsg(V.spare));
        cr_vshared_unref(V.spare);
        V.spare = NULL;
        return -1;
    }
    pthread_mutex_lock(&V.mu);
    if (V.handoffs != h0) {   /* the writer handed a newer copy over meanwhile */
        pthread_mutex_unlock(&V.mu);
        return 0;
    }
    old = V.vec;
    V.vec = V.spare;
    V.spare = old;
    V.dseen = *dst;
    __atomic_add_fetch(&V.version, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&V.mu);
    /* every slot onto the new one now, so none searches the spare when the
     * next delta is applied to it (a slot's request in flight finishes first) */
    serve_slots_apply_vectors();
    serve_timing("V", "swap %.3f cpu %.3f", cc_now_ms() - t0, serve_thread_cpu_ms() - c0);
    return 0;
}

/* Loads the file if it differs from the one loaded last; swaps it in.
 * force: load even when it looks the same (startup). */
static void reload(int force)
{
    struct stat st, dst;
    cr_vshared *v = NULL, *old;
    char why[512] = "";
    int delta_only = 0;
    double t0 = cc_now_ms(), c0 = serve_thread_cpu_ms();
    long h0 = __atomic_load_n(&V.handoffs, __ATOMIC_ACQUIRE);
    if (stat(V.path.data, &st)) memset(&st, 0, sizeof st);
    if (stat(V.dpath.data, &dst)) memset(&dst, 0, sizeof dst);
    if (!force && same_file(&st, &V.seen)) {
        if (same_file(&dst, &V.dseen)) return;
        /* only the delta changed: bring the spare up and swap it in; the
         * first time there is no spare: copy the current one (a clone,
         * far cheaper than loading the files again) */
        if (V.vec && !V.spare) V.spare = clone_spare();
        if (V.vec && V.spare && !swap_in_spare(&dst)) return;
        delta_only = V.vec != NULL;
    }
    if (!cr_vectors_enabled(V.kb))
        snprintf(why, sizeof why, "vectors are disabled (embedder.name is \"none\")");
    else if (!V.emb && cr_embedder_from_kb(V.kb, &V.emb) != CC_OK)
        snprintf(why, sizeof why, "%s", cc_kb_errmsg(V.kb));
    else if (cr_vshared_open(V.kb, V.emb, &v) != CC_OK)
        snprintf(why, sizeof why, "%s", cc_kb_errmsg(V.kb));
    pthread_mutex_lock(&V.mu);
    if (V.handoffs != h0) {   /* the writer handed a newer copy over meanwhile */
        pthread_mutex_unlock(&V.mu);
        cr_vshared_unref(v);
        return;
    }
    old = V.vec;
    V.vec = v;
    snprintf(V.why, sizeof V.why, "%s", why);
    V.seen = st;
    V.dseen = dst;
    __atomic_add_fetch(&V.version, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&V.mu);
    if (delta_only && v && !V.spare) {
        /* same base file: the old index becomes the spare */
        V.spare = old;
        old = NULL;
        serve_slots_apply_vectors();
    } else if (V.spare) {   /* a new base file (or none): the spare is of no use */
        cr_vshared_unref(V.spare);
        V.spare = NULL;
    }
    cr_vshared_unref(old);
    serve_timing("V", "load %.3f cpu %.3f", cc_now_ms() - t0, serve_thread_cpu_ms() - c0);
}

static void *reloader(void *arg)
{
    double next_ok = 0;   /* cc_now_ms() before which no load starts */
    (void)arg;
    serve_thread_nice(V.nice);
    pthread_mutex_lock(&V.mu);
    while (!V.stop) {
        struct timespec ts;
        struct stat st;
        int changed;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += POLL_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        if (!V.poked) pthread_cond_timedwait(&V.cv, &V.mu, &ts);
        if (V.stop) break;
        V.poked = 0;
        if (V.spare_handoffs != V.handoffs) {
            /* the writer handed a copy over: the spare is of no use now, and
             * every slot goes onto the new copy, so that the one it replaced
             * is idle and can take the writer's next copy */
            cr_vshared *sp = V.spare, *r = V.retired, *drop = NULL;
            long h = V.handoffs;
            V.spare = NULL;
            V.spare_handoffs = h;
            pthread_mutex_unlock(&V.mu);
            cr_vshared_unref(sp);
            serve_slots_apply_vectors();
            pthread_mutex_lock(&V.mu);
            if (r && V.retired == r && V.handoffs == h) {   /* else a newer handoff came */
                drop = V.recycle;
                V.recycle = r;
                V.retired = NULL;
            }
            pthread_mutex_unlock(&V.mu);
            cr_vshared_unref(drop);
            pthread_mutex_lock(&V.mu);
            continue;
        }
        if (V.held || cc_now_ms() < next_ok) continue;
        if (stat(V.path.data, &st)) memset(&st, 0, sizeof st);
        changed = !same_file(&st, &V.seen);
        if (!changed) {
            if (stat(V.dpath.data, &st)) memset(&st, 0, sizeof st);
            changed = !same_file(&st, &V.dseen);
        }
        pthread_mutex_unlock(&V.mu);
        if (changed) {
            double t0 = cc_now_ms(), took;
            reload(0);
            took = cc_now_ms() - t0;
            next_ok = t0 + (2 * took > MIN_GAP_MS ? 2 * took : MIN_GAP_MS);
        }
        pthread_mutex_lock(&V.mu);
    }
    pthread_mutex_unlock(&V.mu);
    return NULL;
}

int serve_vectors_start(const char *kbdir, int nice)
{
    V.nice = nice;
    if (cc_kb_open(kbdir, CC_KB_READ, &V.kb) != CC_OK) return cli_error("%s", cc_errmsg());
    if (cc_kb_path(V.kb, "vectors.faiss", &V.path) ||
        cc_kb_path(V.kb, "vectors.faiss.delta", &V.dpath))
        return cli_error("out of memory");
    reload(1);     /* the first index before the first request */
    if (pthread_create(&V.tid, NULL, reloader, NULL)) {
        fprintf(stderr, "cairn: cannot start the vector reloader (%s); the vector index will "
                        "not follow writes until a restart\n", strerror(errno));
        return 0;
    }
    V.running = 1;
    return 0;
}

void serve_vectors_poke(void)
{
    pthread_mutex_lock(&V.mu);
    V.poked = 1;
    pthread_cond_signal(&V.cv);
    pthread_mutex_unlock(&V.mu);
}

void serve_vectors_hold(int on)
{
    pthread_mutex_lock(&V.mu);
    V.held = on;
    if (!on) {
        V.poked = 1;   /* look at the files now: the writer may have saved them */
        pthread_cond_signal(&V.cv);
    }
    pthread_mutex_unlock(&V.mu);
}

int serve_vectors_handoff(cr_vshared *v)
{
    cr_vshared *old;
    struct stat st, dst;
    double t0 = cc_now_ms(), c0 = serve_thread_cpu_ms();
    /* the copy must be of the files as they are now (the caller holds the
     * writer lock, so no other writer can change them until it returns) */
    if (!cr_vindex_disk_same(cr_vshared_index(v))) {
        cr_vshared_unref(v);
        serve_vectors_hold(0);
        return -1;
    }
    if (stat(V.path.data, &st)) memset(&st, 0, sizeof st);
    if (stat(V.dpath.data, &dst)) memset(&dst, 0, sizeof dst);
    pthread_mutex_lock(&V.mu);
    old = V.retired;          /* never became idle: slots still on it, or freed */
    V.retired = V.vec;
    V.vec = v;
    V.why[0] = 0;
    V.seen = st;
    V.dseen = dst;
    V.held = 0;
    __atomic_add_fetch(&V.handoffs, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&V.version, 1, __ATOMIC_RELEASE);
    V.poked = 1;   /* the reloader drops its spare and moves the slots over */
    pthread_cond_signal(&V.cv);
    pthread_mutex_unlock(&V.mu);
    cr_vshared_unref(old);
    serve_timing("V", "handoff %.3f cpu %.3f", cc_now_ms() - t0, serve_thread_cpu_ms() - c0);
    return 0;
}

cr_vshared *serve_vectors_recycled(void)
{
    cr_vshared *r;
    pthread_mutex_lock(&V.mu);
    r = V.recycle;
    V.recycle = NULL;
    pthread_mutex_unlock(&V.mu);
    return r;
}

cr_vindex *serve_vectors_clone(void) { return clone_current("writer"); }

void serve_vectors_apply(cr_searcher *se, long *version)
{
    if (__atomic_load_n(&V.version, __ATOMIC_ACQUIRE) == *version && *version) return;
    pthread_mutex_lock(&V.mu);
    cr_searcher_share_vectors(se, V.vec, V.why);
    *version = V.version;
    pthread_mutex_unlock(&V.mu);
}

int64_t serve_vectors_generation(void)
{
    int64_t g;
    pthread_mutex_lock(&V.mu);
    g = V.vec ? cr_vshared_generation(V.vec) : -1;
    pthread_mutex_unlock(&V.mu);
    return g;
}

void serve_vectors_stop(void)
{
    if (V.running) {
        pthread_mutex_lock(&V.mu);
        V.stop = 1;
        pthread_cond_signal(&V.cv);
        pthread_mutex_unlock(&V.mu);
        pthread_join(V.tid, NULL);
        V.running = 0;
    }
    cr_vshared_unref(V.vec);
    V.vec = NULL;
    cr_vshared_unref(V.spare);
    V.spare = NULL;
    cr_vshared_unref(V.retired);
    V.retired = NULL;
    cr_vshared_unref(V.recycle);
    V.recycle = NULL;
    cr_embedder_close(V.emb);
    V.emb = NULL;
    cc_kb_close(V.kb);
    V.kb = NULL;
    cc_buf_free(&V.path);
    cc_buf_free(&V.dpath);
}
