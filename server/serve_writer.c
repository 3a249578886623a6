/* serve_writer.c — `cairn serve`'s writer thread: document writes run here,
 * off libmicrohttpd's worker threads, one at a time, from a bounded queue.
 *
 * A handler (POST/DELETE /v1/documents) validates the request on its worker
 * thread, then serve_write_submit queues a job and suspends the connection
 * (MHD_suspend_connection), so the worker goes on serving other connections.
 * The writer thread runs the job under the server's writer (write_mu and the
 * writer lock, taken per job on the kept CC_KB_WRITE handle, so a CLI writer
 * can interleave: serve_writer_acquire), builds
 * the reply and resumes the connection; libmicrohttpd then calls the handler
 * again, which sends the reply (the hand-off is serve_job.c's). A full queue answers
 * 503 queue_full with Retry-After.
 *
 * Group commit of the vector index: a job commits its SQLite transaction
 * (the acknowledgement) but does not catch up vectors.faiss, the derived
 * index whose full rewrite is the expensive part of a write on a large KB
 * (nor the graph store: below). The writer catches the vector index up (replay
 * the change log from the index's generation and append the changes to
 * vectors.faiss.delta: cr_vectors_sync_keep, the cr_vectors_sync every
 * writer uses, with the writer's index kept in memory between catch-ups
 * so that it is loaded once, not at every catch-up, and that once on its
 * own thread while writes go on (preload_main); the whole file is
 * rewritten only when the delta grows past 1/64 of it) at most once per
 * max(SYNC_GAP_MS, twice the last sync's time) while writes keep coming, at
 * startup, and on shutdown after the queue is drained. A crash between a
 * commit and the next sync leaves the index at an older generation; the
 * next sync (the server's at startup, or any CLI writer's) replays the
 * change log, so no acknowledged document stays out of the vector lane.
 * Readers see the new file through serve_vectors.c's reloader.
 *
 * The graph store (KB/graph/, Redland) is grouped the same way: a job
 * commits the record (SQLite) and marks the store behind; the writer
 * catches it up (cg_graph_sync: the change log replayed from the store's
 * generation, so one catch-up covers any number of commits) when the
 * oldest commit it has not caught up is serve.graph_sync_ms old (queue
 * drained or not), at startup, on shutdown after the queue is drained,
 * and at once when a reader of the store asks (serve_graph_wait: POST
 * /v1/sparql waits for a catch-up that covers every write acknowledged
 * before it arrived, so it reads its writes and the cost falls only on
 * it). A crash between a commit and the catch-up leaves the store at an
 * older generation, which the next sync (the server's at startup, any CLI
 * writer's) replays; `cairn check` reports it behind meanwhile. */
#define _GNU_SOURCE
#include "serve.h"
#include "graph.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SYNC_GAP_MS 2000      /* least time between two vector syncs */
#define FAIL_GAP_MS 60000     /* most time between retries of a failing sync */
#define GRAPH_WAIT_MS 30000   /* most a reader waits for the graph store's catch-up */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    pthread_t       tid;
    int             running, stop;
    serve_jobq      q;
    int             n_queued, queue_max;   /* waiting jobs (not the running one) */
    int             n_running;      /* 1 while a job runs */
    int             nice;           /* the thread's priority, lowered by this */
    int64_t         lock_wait_ms;   /* serve.lock_wait_s: a job's wait for a CLI writer */
    int             vec_dirty;      /* commits since the last vector sync */
    double          vec_due_ms;     /* cc_now_ms() at which the next sync may run */
    double          vec_gap_ms;
    cr_vindex      *vec_keep;       /* the writer's index, kept between syncs */
    /* the first load of vec_keep, on its own thread (preload) */
    pthread_t       pre_tid;
    int             pre_state;      /* 0 not started, 1 loading, 2 loaded (pre), 3 taken */
    cr_vindex      *pre;
    /* the graph store: commits counted; a catch-up covers those counted
     * when it began (graph_done then); graph_want: a reader waits */
    pthread_cond_t  graph_cv;       /* a catch-up ended */
    uint64_t        graph_commits, graph_done, graph_fails;
    double          graph_since_ms; /* the oldest commit not caught up */
    double          graph_due_ms;   /* a failing catch-up's next try */
    double          graph_gap_ms;   /* serve.graph_sync_ms */
    int             graph_want;
    int             graph_gave_up;  /* failed at shutdown: the next writer catches up */
} W = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
       .graph_cv = PTHREAD_COND_INITIALIZER};

/* The full-text indexes merged when their segments call for it
 * (cr_fts_tidy), a bounded step at a time, stopping as soon as a job
 * waits or the server stops: the next catch-up goes on. Readers keep
 * searching meanwhile. */
static int job_waiting(void *arg)
{
    int r;
    (void)arg;
    pthread_mutex_lock(&W.mu);
    r = W.n_queued > 0 || W.stop;
    pthread_mutex_unlock(&W.mu);
    return r;
}

static void fts_tidy(cc_kb *kb)
{
    if (cr_fts_tidy(kb, job_waiting, NULL, NULL) != CC_OK)
        fprintf(stderr, "cairn: merging the full-text indexes: %s; retrying later\n",
                cc_kb_errmsg(kb));
}

/* The writer's first catch-up needs its own copy of the index, and loading
 * it takes as long as the server's startup load (tens of seconds on a
 * loaded machine, 112k vectors). Done on the writer thread it held every
 * write queued behind it; so the first committed write starts this thread
 * to load it while the writer goes on committing, and the catch-up waits
 * for it (cr_vectors_sync_keep takes it as its kept copy when the files are
 * still as it loaded them, else loads them again itself). */
static void *preload_main(void *arg)
{
    cc_kb *kb = NULL;
    cr_vindex *vi = NULL;
    double t0 = cc_now_ms(), c0;
    (void)arg;
    serve_thread_nice(W.nice);
    c0 = serve_thread_cpu_ms();
    /* a copy of the readers' index when they have one: memory traffic
     * instead of reading and checking the files (the catch-up loads them
     * after all when the copy does not match them) */
    if (!(vi = serve_vectors_clone()) && cc_kb_open(serve_kbdir(), CC_KB_READ, &kb) == CC_OK) {
        cc_status st = cr_vectors_load(kb, &vi);
        if (st != CC_OK && st != CC_NOTFOUND)   /* none yet: the catch-up builds it */
            fprintf(stderr, "cairn: loading the writer's vector index: %s; the catch-up loads "
                            "it\n", cc_kb_errmsg(kb));
    }
    cc_kb_close(kb);
    serve_timing("W", "preload %.3f cpu %.3f", cc_now_ms() - t0, serve_thread_cpu_ms() - c0);
    pthread_mutex_lock(&W.mu);
    W.pre = vi;
    W.pre_state = 2;
    pthread_cond_signal(&W.cv);
    pthread_mutex_unlock(&W.mu);
    return NULL;
}

/* Under W.mu, on the writer thread: 1 while the preload runs (the catch-up
 * waits), else 0, with its index taken into vec_keep when it has ended. */
static int preload_pending(void)
{
    if (W.pre_state == 1) return 1;
    if (W.pre_state == 2) {
        pthread_join(W.pre_tid, NULL);
        if (!W.vec_keep) W.vec_keep = W.pre;
        else cr_vindex_close(W.pre);
        W.pre = NULL;
        W.pre_state = 3;
    }
    return 0;
}

/* After a catch-up, under the writer lock: the readers get a copy of the
 * writer's index (cr_vindex_clone: the arrays copied, no HNSW inserts), so
 * they apply no delta themselves; the copy is made into an older copy no
 * search uses any more when there is one (its memory is already faulted
 * in: a fresh ~300 MB copy cost 5-10x more CPU in page faults than the
 * memcpy on this VM). 1 when handed over, 0 when there was nothing new for
 * them or the copy failed (they then follow the files, as after a CLI
 * writer). */
static int hand_over(void)
{
    cr_vshared *v;
    cr_vindex *copy = NULL;
    int into = 0;
    double t0 = cc_now_ms(), c0 = serve_thread_cpu_ms();
    if (!W.vec_keep || cr_vindex_generation(W.vec_keep) == serve_vectors_generation()) return 0;
    if ((v = serve_vectors_recycled())) {
        cc_status st = cr_vindex_clone_into(W.vec_keep, cr_vshared_index(v));
        if (st == CC_OK) {
            into = 1;
        } else {
            if (st != CC_INVALID)
                fprintf(stderr, "cairn: copying the writer's vector index: %s; making a new "
                                "copy\n", cr_vindex_errmsg(W.vec_keep));
            cr_vshared_unref(v);
            v = NULL;
        }
    }
    if (!v) {
        if (cr_vindex_clone(W.vec_keep, &copy) != CC_OK) {
            fprintf(stderr, "cairn: copying the writer's vector index for the readers: %s; "
                            "they apply the delta themselves\n", cr_vindex_errmsg(W.vec_keep));
            return 0;
        }
        if (cr_vshared_adopt(copy, &v) != CC_OK) {
            cr_vindex_close(copy);
            return 0;
        }
    }
    serve_timing("W", "clone %.3f into %d cpu %.3f kept %lld", cc_now_ms() - t0, into,
                 serve_thread_cpu_ms() - c0,
                 (long long)(into ? cr_vindex_copy_kept(cr_vshared_index(v)) : 0));
    return serve_vectors_handoff(v) == 0;
}

/* Catches vectors.faiss up with the catalog (never while a job runs). */
static void vector_sync(void)
{
    cc_kb *kb;
    cr_vectors_stats vs;
    cc_status st;
    int64_t gen;
    int handed;
    double t0 = cc_now_ms(), c0 = serve_thread_cpu_ms(), took;
    if ((st = serve_writer_acquire(&kb)) != CC_OK) {
        /* a CLI writer holds the KB: it catches the index up itself; retry later */
        if (st != CC_BUSY)
            fprintf(stderr, "cairn: vector index catch-up: %s; retrying\n", cc_errmsg());
        pthread_mutex_lock(&W.mu);
        W.vec_due_ms = cc_now_ms() + W.vec_gap_ms;
        pthread_mutex_unlock(&W.mu);
        return;
    }
    pthread_mutex_lock(&W.mu);
    W.vec_dirty = 0;    /* commits from here on need another sync */
    pthread_mutex_unlock(&W.mu);
    fts_tidy(kb);
    memset(&vs, 0, sizeof vs);
    /* the index the readers loaded is already at the catalog's generation
     * (a restart after a clean stop): nothing to replay, skip the load */
    if (cc_kb_generation(kb, &gen) == CC_OK && gen == serve_vectors_generation()) {
        serve_writer_release(kb, 0);
        return;
    }
    serve_vectors_hold(1);
    st = cr_vectors_sync_keep(kb, &W.vec_keep, &vs);
    if (st != CC_OK) {
        fprintf(stderr, "cairn: vector index catch-up: %s; retrying\n", cc_kb_errmsg(kb));
        pthread_mutex_lock(&W.mu);
        W.vec_dirty = 1;
        pthread_mutex_unlock(&W.mu);
    }
    handed = st == CC_OK && hand_over();
    if (!handed) serve_vectors_hold(0);
    serve_writer_release(kb, !handed && st == CC_OK && (vs.added || vs.removed || vs.rebuilt));
    took = cc_now_ms() - t0;
    serve_timing("W", "sync %.3f added %lld removed %lld cpu %.3f", took, (long long)vs.added,
                 (long long)vs.removed, serve_thread_cpu_ms() - c0);
    pthread_mutex_lock(&W.mu);
    if (st != CC_OK)   /* a lasting failure (say, a damaged KB) retries ever more slowly */
        W.vec_gap_ms = W.vec_gap_ms * 2 < FAIL_GAP_MS ? W.vec_gap_ms * 2 : FAIL_GAP_MS;
    else
        W.vec_gap_ms = 2 * took > SYNC_GAP_MS ? 2 * took : SYNC_GAP_MS;
    W.vec_due_ms = cc_now_ms() + W.vec_gap_ms;
    pthread_mutex_unlock(&W.mu);
}

/* Under W.mu: 1 when the graph store is to be caught up now: commits it
 * has not caught up, and a reader waits, the server stops with the queue
 * drained, or the oldest is graph_gap_ms old; after a failure, not before
 * graph_due_ms unless a reader waits. */
static int graph_sync_now(double now)
{
    if (W.graph_done == W.graph_commits || W.graph_gave_up) return 0;
    if (W.graph_fails && now < W.graph_due_ms && !W.stop && !W.graph_want) return 0;
    return W.graph_want || (W.stop && !W.q.head) || now >= W.graph_since_ms + W.graph_gap_ms;
}

/* Catches the graph store up with the catalog (never while a job runs). */
static void graph_sync(void)
{
    cc_kb *kb;
    cc_status st;
    cg_graph_stats gs;
    uint64_t upto;
    double t0 = cc_now_ms(), c0 = serve_thread_cpu_ms();
    pthread_mutex_lock(&W.mu);
    upto = W.graph_commits;   /* commits from here on need another catch-up */
    W.graph_want = 0;
    pthread_mutex_unlock(&W.mu);
    memset(&gs, 0, sizeof gs);
    if ((st = serve_writer_acquire(&kb)) == CC_OK) {
        if ((st = cg_graph_sync(kb, 0, &gs)) != CC_OK)
            fprintf(stderr, "cairn: graph store catch-up: %s; retrying\n", cc_kb_errmsg(kb));
        serve_writer_release(kb, 0);
    } else if (st != CC_BUSY) {   /* busy: a CLI writer holds the KB (and catches the store up) */
        fprintf(stderr, "cairn: graph store catch-up: %s; retrying\n", cc_errmsg());
    }
    serve_timing("W", "graph %.3f contexts %lld cpu %.3f", cc_now_ms() - t0,
                 (long long)(gs.contexts_added + gs.contexts_removed), serve_thread_cpu_ms() - c0);
    pthread_mutex_lock(&W.mu);
    if (st == CC_OK) {
        W.graph_done = upto;
        W.graph_fails = 0;
        W.graph_since_ms = cc_now_ms();   /* for commits that came meanwhile */
    } else {   /* a lasting failure retries ever more slowly; waiting readers are told */
        double gap = W.graph_gap_ms > 100 ? W.graph_gap_ms : 100;
        for (uint64_t i = 0; i < W.graph_fails && gap < FAIL_GAP_MS; i++) gap *= 2;
        W.graph_fails++;
        W.graph_due_ms = cc_now_ms() + (gap < FAIL_GAP_MS ? gap : FAIL_GAP_MS);
    }
    pthread_cond_broadcast(&W.graph_cv);
    pthread_mutex_unlock(&W.mu);
}

cc_status serve_graph_wait(void)
{
    uint64_t target, fails;
    struct timespec ts;
    int rc = 0;
    pthread_mutex_lock(&W.mu);
    target = W.graph_commits;
    fails = W.graph_fails;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += GRAPH_WAIT_MS / 1000;
    while (W.running && W.graph_done < target && W.graph_fails == fails && rc == 0) {
        W.graph_want = 1;
        pthread_cond_signal(&W.cv);
        rc = pthread_cond_timedwait(&W.graph_cv, &W.mu, &ts);
    }
    rc = W.graph_done >= target ? 0 : 1;
    pthread_mutex_unlock(&W.mu);
    if (rc) cc_seterr(CC_BUSY, "the graph store has not caught up with the writes acknowledged "
                         "before this request (the writer is busy or a CLI writer holds the KB)");
    return rc ? CC_BUSY : CC_OK;
}

/* The writer for job j: while a CLI writer holds the KB (CC_BUSY), tries
 * again every 5 ms doubling to 50 ms until the job is W.lock_wait_ms old
 * or the server stops; between tries the writer mutex is free and the
 * thread sleeps on W.cv, which serve_writer_stop signals. *waited:
 * milliseconds spent waiting here. */
static cc_status acquire_for(serve_job *j, cc_kb **kb, double *waited)
{
    const double t0 = cc_now_ms(), deadline = j->t_queued + (double)W.lock_wait_ms;
    double nap = 5;
    cc_status st;
    while ((st = serve_writer_acquire(kb)) == CC_BUSY) {
        double now = cc_now_ms(), left = deadline - now;
        struct timespec ts;
        int stop;
        if (left <= 0) break;
        if (left > nap) left = nap;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(left * 1e6);
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        pthread_mutex_lock(&W.mu);
        if (!(stop = W.stop)) pthread_cond_timedwait(&W.cv, &W.mu, &ts);
        pthread_mutex_unlock(&W.mu);
        if (stop) break;
        if (nap < 50) nap = nap * 2 > 50 ? 50 : nap * 2;
    }
    *waited = cc_now_ms() - t0;
    return st;
}

static void run_job(serve_job *j)
{
    cc_kb *kb;
    double t0 = cc_now_ms(), c0 = serve_thread_cpu_ms(), waited;
    cc_status st = acquire_for(j, &kb, &waited);
    if (st != CC_OK) {
        const char *code;
        int http = serve_write_status(st, 500, "internal", &code);
        if (st == CC_BUSY && W.lock_wait_ms > 0)
            serve_reply_error(&j->rp, http, code, "%s (this write waited %.1f s for it: --wait, "
                              "setting serve.lock_wait_s); try again", cc_errmsg(), waited / 1000.0);
        else
            serve_reply_error(&j->rp, http, code, "%s%s", cc_errmsg(),
                              st == CC_BUSY ? "; try again" : st == CC_FULL ? "; free space and retry" : "");
    } else {
        int changed = j->write_fn(j->r, kb, j->arg, &j->rp);
        cg_ingest_done();   /* the run ends: the next job reads the do-not-merge rules again */
        if (changed) {
            pthread_mutex_lock(&W.mu);
            if (!W.vec_dirty && W.vec_due_ms < cc_now_ms()) W.vec_due_ms = cc_now_ms();
            W.vec_dirty = 1;
            if (W.graph_done == W.graph_commits) W.graph_since_ms = cc_now_ms();
            W.graph_commits++;   /* before the reply is sent: a later reader waits for it */
            if (W.pre_state == 0 && !W.vec_keep) {   /* the first write: load the index aside */
                W.pre_state = 1;
                if (pthread_create(&W.pre_tid, NULL, preload_main, NULL)) W.pre_state = 3;
            }
            pthread_mutex_unlock(&W.mu);
        }
        serve_writer_release(kb, 0);
    }
    serve_timing("W", "job %.3f cpu %.3f lockwait %.3f", cc_now_ms() - t0, serve_thread_cpu_ms() - c0,
                 waited);
    serve_job_done(j);
}

/* `nice` steps below the thread's own priority (the server's, when it was
 * started under nice(1)), at most 19: relative, so that a server started
 * at nice 10 does not raise its background threads to 7. */
void serve_thread_nice(int nice)
{
    id_t tid = (id_t)syscall(SYS_gettid);
    int cur;
    if (nice <= 0) return;
    errno = 0;
    cur = getpriority(PRIO_PROCESS, tid);
    if (cur == -1 && errno) cur = 0;
    if (setpriority(PRIO_PROCESS, tid, cur + nice > 19 ? 19 : cur + nice))
        fprintf(stderr, "cairn: cannot lower a background thread's priority (%s); it runs at "
                        "the server's\n", strerror(errno));
}

/* At shutdown: the delta the catch-ups appended while the server ran is
 * written into the index once it holds more than vectors.delta_max_adds
 * adds, so that the next open (a restart, `cairn search`) does not replay
 * them as HNSW inserts. Not while running: the readers would reload. */
static void fold_vectors(void)
{
    cc_kb *kb;
    uint64_t ma, n = 0;
    double t0 = cc_now_ms();
    if (serve_writer_acquire(&kb) != CC_OK) return;   /* a CLI writer holds the KB */
    if (cr_vectors_delta_max_adds(kb, &ma) != CC_OK) {
        fprintf(stderr, "cairn: %s\n", cc_kb_errmsg(kb));
    } else if (ma > 0) {
        if (cr_vectors_fold(kb, &W.vec_keep, ma, &n) != CC_OK)
            fprintf(stderr, "cairn: writing the vector index at shutdown: %s (the delta stays; "
                            "`cairn optimize` writes it in)\n", cc_kb_errmsg(kb));
        else if (n)
            fprintf(stderr, "cairn: vector index: %llu added vectors of the delta written into "
                            "it in %.2f s\n", (unsigned long long)n, (cc_now_ms() - t0) / 1000.0);
    }
    serve_writer_release(kb, 0);
}

static void *writer_main(void *arg)
{
    (void)arg;
    serve_thread_nice(W.nice);
    /* the catch-ups' HNSW adds on this thread alone: with an OpenMP team
     * they took both cores from the searches for their length (and the
     * team's threads spun on after each); a catch-up of tens of vectors a
     * few seconds apart needs no second core */
    cr_vindex_batch_threads(1);
    pthread_mutex_lock(&W.mu);
    for (;;) {
        serve_job *j;
        double now = cc_now_ms();
        if (graph_sync_now(now)) {   /* before the next job: a reader waits, or it is due */
            pthread_mutex_unlock(&W.mu);
            graph_sync();
            pthread_mutex_lock(&W.mu);
            if (W.stop && W.graph_fails && !W.q.head) W.graph_gave_up = 1;
            continue;
        }
        j = serve_job_pop(&W.q);
        if (j) {
            W.n_queued--;
            W.n_running = 1;
            pthread_mutex_unlock(&W.mu);
            run_job(j);
            pthread_mutex_lock(&W.mu);
            W.n_running = 0;
            continue;
        }
        if (W.vec_dirty && (W.stop || now >= W.vec_due_ms)) {
            if (preload_pending()) {   /* woken by its end, or by a job */
                pthread_cond_wait(&W.cv, &W.mu);
                continue;
            }
            pthread_mutex_unlock(&W.mu);
            vector_sync();
            pthread_mutex_lock(&W.mu);
            if (W.stop && W.vec_dirty && !W.q.head) break;   /* failed at shutdown: the next writer catches up */
            continue;
        }
        if (W.stop) break;
        if (W.vec_dirty || (W.graph_done != W.graph_commits && !W.graph_gave_up)) {
            struct timespec ts;
            double wait = 1e9, gdue;
            if (W.vec_dirty) wait = W.vec_due_ms - now;
            if (W.graph_done != W.graph_commits) {
                gdue = W.graph_fails ? W.graph_due_ms : W.graph_since_ms + W.graph_gap_ms;
                if (gdue - now < wait) wait = gdue - now;
            }
            if (wait < 0) wait = 0;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (time_t)(wait / 1000);
            ts.tv_nsec += (long)((wait - (double)(long)(wait / 1000) * 1000) * 1e6);
            if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            pthread_cond_timedwait(&W.cv, &W.mu, &ts);
        } else {
            pthread_cond_wait(&W.cv, &W.mu);
        }
    }
    while (preload_pending()) pthread_cond_wait(&W.cv, &W.mu);
    pthread_mutex_unlock(&W.mu);
    if (W.vec_keep && !W.vec_dirty) fold_vectors();
    cr_vindex_close(W.vec_keep);
    W.vec_keep = NULL;
    return NULL;
}

int serve_writer_start(int queue_max, int nice, int graph_sync_ms, int64_t lock_wait_ms)
{
    W.queue_max = queue_max;
    W.nice = nice;
    W.lock_wait_ms = lock_wait_ms;
    W.graph_gap_ms = graph_sync_ms;
    W.graph_commits = 1;      /* catch the graph store up at startup (after a crash, say) */
    W.graph_done = 0;
    W.graph_since_ms = -1e12; /* at once */
    W.vec_gap_ms = SYNC_GAP_MS;
    W.vec_dirty = 1;          /* catch up at startup (after a crash, say) */
    W.vec_due_ms = 0;
    if (pthread_create(&W.tid, NULL, writer_main, NULL))
        return cli_error("cannot start the writer thread: %s", strerror(errno));
    W.running = 1;
    return 0;
}

void serve_writer_stop(void)
{
    if (!W.running) return;
    pthread_mutex_lock(&W.mu);
    W.stop = 1;
    pthread_cond_signal(&W.cv);
    pthread_mutex_unlock(&W.mu);
    pthread_join(W.tid, NULL);
    pthread_mutex_lock(&W.mu);
    W.running = 0;
    pthread_cond_broadcast(&W.graph_cv);   /* readers still waiting stop waiting */
    pthread_mutex_unlock(&W.mu);
}

enum MHD_Result serve_write_submit(serve_req *r, serve_write_fn fn, void *arg,
                                   void (*arg_free)(void *))
{
    serve_job *j = serve_job_new(r, arg, arg_free);
    const char *why = NULL;
    if (!j) return serve_send_error(r, 500, "internal", "out of memory");
    j->write_fn = fn;
    j->t_queued = cc_now_ms();
    pthread_mutex_lock(&W.mu);
    if (!W.running || W.stop) why = "the server is shutting down";
    else if (W.n_queued >= W.queue_max) why = "the write queue is full";
    if (!why) {
        serve_job_push(&W.q, j);
        W.n_queued++;
        pthread_cond_signal(&W.cv);
    }
    pthread_mutex_unlock(&W.mu);
    if (why) {
        cJSON *e = cJSON_CreateObject(), *o = cJSON_AddObjectToObject(e, "error");
        char *s, msg[160];
        struct MHD_Response *resp;
        serve_job_free(j);
        snprintf(msg, sizeof msg, "%s (%d writes waiting at most); retry in " SERVE_RETRY_AFTER " s",
                 why, W.queue_max);
        cJSON_AddStringToObject(o, "code", W.stop || !W.running ? "shutting_down" : "queue_full");
        cJSON_AddStringToObject(o, "message", msg);
        s = cJSON_PrintUnformatted(e);
        cJSON_Delete(e);
        if (!s) return MHD_NO;
        resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
        if (!resp) { free(s); return MHD_NO; }
        MHD_add_response_header(resp, "Content-Type", "application/json");
        return serve_send_response(r, 503, resp);
    }
    return MHD_YES;
}

void serve_write_state(int *queued, int *running)
{
    pthread_mutex_lock(&W.mu);
    *queued = W.n_queued;
    *running = W.n_running;
    pthread_mutex_unlock(&W.mu);
}
