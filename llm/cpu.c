/* cpu.c — the CPU backend: a persistent pthread pool that shares matrix
 * rows and attention heads among threads: each thread takes chunks from
 * the front of its own contiguous share, so that it reads the weights as
 * one stream, and then steals chunks from the back of the others' (a
 * thread that the OS puts aside delays only its current chunk, not a
 * fixed slice), with the dot products from simd.c / simd512.c (AVX2 or
 * AVX-512 when present) or the portable reference. Between jobs the workers spin a
 * little on the job counter (a decode token runs ~120 jobs back to back)
 * and then sleep on a condition variable; the caller waits for the end of
 * a job the same way. CAIRN_POOL_STATS=1 prints where the caller's time
 * went when the backend is freed (docs/benchmarks.md, decodepool: a pool
 * whose caller did not wait for workers that had claimed nothing ran
 * slower on the loaded 2-vCPU machine and was not kept). Matrix products
 * with quantised weights take the integer path (qdot.c): the input is
 * quantised once per product.
 * Attention (attn.c) takes the query heads of one KV head together over
 * chunks of positions and merges the chunks per head afterwards; the cache
 * it reads holds floats, IEEE halves (cl_attn_args.kv_f16), halves being
 * widened as they are loaded, or Q8_0 blocks (kv_q8: the query quantised,
 * K.q in integers, V widened once per group).
 * A decode layer takes 5 pool rounds: q/k/v as one job (matmul_n),
 * attention, the output projection, gate/up with swiglu as one job
 * (ffn_up), down.
 * Results do not depend on the thread count: each output value is computed
 * by one thread in a fixed order. */
#include "backend.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CL_MAX_THREADS 256

/* ------------------------------------------------------------ thread pool */

/* A job runs fn(arg, begin, end, tid) on chunks of [0, n) that the threads
 * take in turn until none is left. */
typedef void (*job_fn)(void *arg, uint64_t begin, uint64_t end, int tid);

typedef struct pool_stats { /* CAIRN_POOL_STATS=1: where the caller's time goes, printed when the backend is freed */
    uint64_t jobs, inline_jobs, alone; /* jobs on the pool, jobs run inline, pool jobs no worker took part in */
    uint64_t items, items_main;        /* items of pool jobs, of which the caller ran */
    uint64_t ns_work, ns_wait;         /* caller: in its chunks, then waiting for the workers to be done */
    uint64_t waits_100us, waits_1ms;   /* waits longer than 0.1 ms and 1 ms */
    uint64_t slept;                    /* waits that ended asleep on the condition variable */
} pool_stats;

typedef struct cpu_ctx {
    int n_threads;
    cl_dot_fn dot;
    cl_dot4_fn dot4;
    cl_qdot_fn qdot;
    cl_qdot_rows_fn qdot_rows; /* decode: a range of rows against one input */
    int float_dot; /* CAIRN_CPU_DOT=float: quantised products take the float path (GPU parity reference) */
    cl_act_quantize_fn actq;
    void *xq;       /* quantised matmul inputs (integer path) */
    size_t xq_cap;  /* bytes at xq */
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    atomic_uint_fast64_t gen; /* job generation, bumped per job */
    atomic_int sleepers;      /* workers asleep on go (or about to be) */
    atomic_int main_waiting;  /* the caller asleep on done (or about to be) */
    atomic_int quit;
    atomic_int pending;       /* workers still running the current job */
    int spin;                 /* pause instructions before sleeping (CL_SPIN; CAIRN_POOL_SPIN) */
    job_fn fn;
    void *arg;
    uint64_t n, chunk;
    struct {
        atomic_uint_fast64_t v; /* thread t's items not yet taken: [low 32 bits, high 32 bits) */
        char pad[64 - sizeof(atomic_uint_fast64_t)]; /* one slot per cache line */
    } share[CL_MAX_THREADS];
    int stats_on;
    pool_stats st;
    float *scratch; /* n_threads * scratch_per floats, for attention scores */
    size_t scratch_per;
    cl_attn_part_fn attn_part;
    cl_attn_part_h_fn attn_part_h; /* over an F16 cache */
    cl_attn_part_q8_fn attn_part_q8; /* over a Q8_0 cache */
    cl_attn_merge_fn attn_merge;
    float *parts; /* attention's per-chunk partial results */
    size_t parts_cap; /* floats at parts */
    cl_act_q8x4 *aq;  /* attention over a Q8_0 cache: the query groups quantised once per call */
    size_t aq_cap;    /* entries at aq */
} cpu_ctx;

typedef struct worker_arg {
    cpu_ctx *c;
    int tid;
    uint64_t seen; /* the job generation when the worker started: not its job */
} worker_arg;

#define SHARE(b, e) ((uint64_t)(e) << 32 | (uint64_t)(b))

/* Takes a chunk of share s: from its front (own) or its back (a thief);
 * 0 when the share is empty. */
static int take_one(cpu_ctx *c, int s, int own, uint64_t *b, uint64_t *e)
{
    uint64_t v = atomic_load(&c->share[s].v);
    for (;;) {
        uint64_t f = v & 0xffffffffu, l = v >> 32, nv;
        if (f >= l) return 0;
        if (own) *b = f, *e = l - f > c->chunk ? f + c->chunk : l, nv = SHARE(*e, l);
        else *e = l, *b = l - f > c->chunk ? l - c->chunk : f, nv = SHARE(f, *b);
        if (atomic_compare_exchange_weak(&c->share[s].v, &v, nv)) return 1;
    }
}

/* Takes chunks until none is left, its own share first; returns the
 * items it ran. */
static uint64_t take_chunks(cpu_ctx *c, int tid)
{
    uint64_t got = 0, b, e;
    int k;
    for (k = 0; k < c->n_threads; k++) {
        int s = (tid + k) % c->n_threads;
        while (take_one(c, s, k == 0, &b, &e)) {
            c->fn(c->arg, b, e, tid);
            got += e - b;
        }
    }
    return got;
}

/* Spin iterations (pause instructions) before sleeping: some microseconds,
 * about the gap between two jobs of one token. Short and without
 * sched_yield on purpose: on an oversubscribed machine a thread that spins
 * or yields loses the scheduler's wake-up preference that a sleeper gets,
 * and a first version (4096 spins, yielding every 256) ran decode at a
 * tenth of the condition-variable pool's speed under load average 25.
 * CAIRN_POOL_SPIN=N sets it (0-1000000) for measurements. */
#define CL_SPIN 1000

static inline void relax(int i)
{
    (void)i;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Sleep protocol (no lost wake-up): the sleeper announces itself (sleepers
 * or main_waiting, sequentially consistent) under the mutex and then checks
 * the condition; the waker changes the condition and then checks the
 * announcement, taking the mutex to signal. One of the two sees the other. */
static void *worker(void *p)
{
    worker_arg wa = *(worker_arg *)p;
    cpu_ctx *c = wa.c;
    uint64_t seen = wa.seen;
    free(p);
    for (;;) {
        int i = 0;
        while (atomic_load(&c->gen) == seen && !atomic_load(&c->quit)) {
            if (++i < c->spin) {
                relax(i);
                continue;
            }
            pthread_mutex_lock(&c->mu);
            atomic_fetch_add(&c->sleepers, 1);
            while (atomic_load(&c->gen) == seen && !atomic_load(&c->quit)) pthread_cond_wait(&c->go, &c->mu);
            atomic_fetch_sub(&c->sleepers, 1);
            pthread_mutex_unlock(&c->mu);
        }
        if (atomic_load(&c->quit)) return NULL;
        seen = atomic_load(&c->gen);
        take_chunks(c, wa.tid);
        if (atomic_fetch_sub(&c->pending, 1) == 1 && atomic_load(&c->main_waiting)) {
            pthread_mutex_lock(&c->mu);
            pthread_cond_signal(&c->done);
            pthread_mutex_unlock(&c->mu);
        }
    }
}

/* Runs a job on all threads (the caller is thread 0) and waits for every
 * worker to be done with it. Chunks hold at least `grain` items (and about
 * 1/8 of a thread's share); jobs under two chunks (or of 2^32 items or
 * more, which a share cannot hold) run inline. Which thread
 * runs a chunk changes nothing in the results: each item's values are
 * computed by one thread in a fixed order. */
static void run_job(cpu_ctx *c, job_fn fn, void *arg, uint64_t n, uint64_t grain)
{
    uint64_t chunk = n / ((uint64_t)c->n_threads * 8), got, t0 = 0, t1 = 0, k;
    int i = 0;
    if (c->n_threads == 1 || n < grain * 2 || n >> 32) {
        if (c->stats_on) c->st.inline_jobs++;
        fn(arg, 0, n, 0);
        return;
    }
    c->fn = fn;
    c->arg = arg;
    c->n = n;
    c->chunk = chunk > grain ? chunk : grain;
    for (k = 0; k < (uint64_t)c->n_threads; k++)
        atomic_store(&c->share[k].v, SHARE(n * k / (uint64_t)c->n_threads, n * (k + 1) / (uint64_t)c->n_threads));
    atomic_store(&c->pending, c->n_threads - 1);
    atomic_fetch_add(&c->gen, 1); /* publishes the fields above */
    if (atomic_load(&c->sleepers)) {
        pthread_mutex_lock(&c->mu);
        pthread_cond_broadcast(&c->go);
        pthread_mutex_unlock(&c->mu);
    }
    if (c->stats_on) t0 = now_ns();
    got = take_chunks(c, 0);
    if (c->stats_on) t1 = now_ns();
    while (atomic_load(&c->pending)) {
        if (++i < c->spin) {
            relax(i);
            continue;
        }
        pthread_mutex_lock(&c->mu);
        atomic_store(&c->main_waiting, 1);
        while (atomic_load(&c->pending)) pthread_cond_wait(&c->done, &c->mu);
        atomic_store(&c->main_waiting, 0);
        pthread_mutex_unlock(&c->mu);
        if (c->stats_on) c->st.slept++;
    }
    if (c->stats_on) {
        uint64_t t2 = now_ns(), wt = t2 - t1;
        c->st.jobs++;
        c->st.alone += got == n;
        c->st.items += n;
        c->st.items_main += got;
        c->st.ns_work += t1 - t0;
        c->st.ns_wait += wt;
        c->st.waits_100us += wt > 100000;
        c->st.waits_1ms += wt > 1000000;
    }
}

static void print_stats(const cpu_ctx *c)
{
    const pool_stats *s = &c->st;
    if (!c->stats_on || !s->jobs) return;
    fprintf(stderr,
            "pool: %d threads, %llu jobs (+%llu inline); the caller ran %.1f%% of the items, all of them in %llu "
            "jobs; caller in chunks %.1f ms, waiting for the workers %.1f ms (%.1f us per job; %llu waits "
            "> 0.1 ms, %llu > 1 ms, %llu asleep)\n",
            c->n_threads, (unsigned long long)s->jobs, (unsigned long long)s->inline_jobs,
            100.0 * (double)s->items_main / (double)s->items, (unsigned long long)s->alone, s->ns_work / 1e6,
            s->ns_wait / 1e6, s->ns_wait / 1e3 / (double)s->jobs, (unsigned long long)s->waits_100us,
            (unsigned long long)s->waits_1ms, (unsigned long long)s->slept);
}

static void stop_workers(cpu_ctx *c)
{
    int i;
    if (!c->th) return;
    pthread_mutex_lock(&c->mu);
    atomic_store(&c->quit, 1);
    pthread_cond_broadcast(&c->go);
    pthread_mutex_unlock(&c->mu);
    for (i = 1; i < c->n_threads; i++) pthread_join(c->th[i], NULL);
    free(c->th);
    c->th = NULL;
    atomic_store(&c->quit, 0);
}

static cl_status cpu_set_threads(void *ctx, int n)
{
    cpu_ctx *c = ctx;
    int i;
    if (n <= 0) {
        long on = sysconf(_SC_NPROCESSORS_ONLN);
        n = on > 0 ? (int)on : 1;
    }
    if (n > CL_MAX_THREADS) n = CL_MAX_THREADS;
    if (c->th && c->n_threads == n) return CL_OK;
    stop_workers(c);
    free(c->scratch);
    c->scratch = NULL;
    c->scratch_per = 0;
    c->n_threads = 1;
    if (n == 1) return CL_OK;
    if (!(c->th = calloc((size_t)n, sizeof *c->th))) return cl_err(CL_ERR_NOMEM, "cpu: out of memory");
    for (i = 1; i < n; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) break;
        wa->c = c;
        wa->tid = i;
        wa->seen = atomic_load(&c->gen);
        c->n_threads = i; /* workers started so far + the caller */
        if (pthread_create(&c->th[i], NULL, worker, wa)) {
            free(wa);
            break;
        }
        c->n_threads = i + 1;
    }
    if (c->n_threads != n) {
        stop_workers(c);
        c->n_threads = 1;
        return cl_err(CL_ERR_NOMEM, "cpu: could not start %d threads", n);
    }
    return CL_OK;
}

static int cpu_threads(void *ctx) { return ((cpu_ctx *)ctx)->n_threads; }

static void cpu_free(void *ctx)
{
    cpu_ctx *c = ctx;
    if (!c) return;
    print_stats(c);
    stop_workers(c);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->go);
    pthread_cond_destroy(&c->done);
    free(c->scratch);
    free(c->parts);
    free(c->aq);
    free(c->xq);
    free(c);
}

/* ------------------------------------------------------------ matmul */

typedef struct mm_job {
    cpu_ctx *c;
    const cl_tensor *W;
    const float *bias, *X;
    float *Y;
    uint32_t nb;
    size_t rb;
    const uint8_t *xq; /* the integer path: X quantised, xq_row bytes per input row */
    size_t xq_row;
} mm_job;

/* The integer path: each weight row against every quantised input row
 * (the row stays in cache for the nb products). */
static void mm_rows_q(void *p, uint64_t r0, uint64_t r1, int tid)
{
    const mm_job *j = p;
    const uint64_t K = j->W->ne[0], R = j->W->ne[1];
    const uint8_t *w = (const uint8_t *)j->W->data, *xq = j->xq;
    const size_t rb = j->rb, xr = j->xq_row;
    const float *bias = j->bias;
    float *Y = j->Y;
    const cl_qdot_fn qdot = j->c->qdot;
    const int type = j->W->type;
    const uint32_t nb = j->nb;
    uint64_t r;
    uint32_t b;
    (void)tid;
    if (nb == 1) { /* decode: one input row (a two-row kernel, the input loaded once for both rows, ran slower
                      from memory in bench_llm_dot and in decode: 69 against 55 CPU ms per token) */
        j->c->qdot_rows(type, w, rb, xq, K, bias, Y, r0, r1);
        return;
    }
    for (r = r0; r < r1; r++)
        for (b = 0; b < nb; b++) Y[(size_t)b * R + r] = qdot(type, w + r * rb, xq + b * xr, K) + (bias ? bias[r] : 0.0f);
}

/* Rows [r0, r1) of W against every input row: each weight row is read from
 * memory once per batch and stays in cache for the nb dot products. */
static void mm_rows(void *p, uint64_t r0, uint64_t r1, int tid)
{
    const mm_job *j = p;
    uint64_t K = j->W->ne[0], R = j->W->ne[1], r;
    uint32_t b;
    (void)tid;
    for (r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)j->W->data + r * j->rb;
        float bias = j->bias ? j->bias[r] : 0.0f, o[4];
        cl_prefetch_ahead((const uint8_t *)j->W->data, j->rb, r, r1);
        for (b = 0; b + 4 <= j->nb; b += 4) { /* four tokens per pass over the row */
            int i;
            j->c->dot4(j->W->type, row, j->X + (size_t)b * K, K, K, o);
            for (i = 0; i < 4; i++) j->Y[(size_t)(b + i) * R + r] = o[i] + bias;
        }
        for (; b < j->nb; b++) j->Y[(size_t)b * R + r] = j->c->dot(j->W->type, row, j->X + (size_t)b * K, K) + bias;
    }
}

/* Quantises X for W's integer path into c->xq at byte offset off (growing
 * the buffer) and fills j; returns the bytes used (0: the float path). On a
 * failed allocation the float path still gives the product. */
static size_t mm_prepare(cpu_ctx *c, mm_job *j, const cl_tensor *W, const float *bias, const float *X, uint32_t nb,
                         float *Y, size_t off)
{
    size_t qb = cl_act_bytes(W->type, W->ne[0]);
    uint32_t b;
    mm_job z = {c, W, bias, X, Y, nb, W->n_bytes / W->ne[1], NULL, 0};
    *j = z;
    if (c->float_dot) qb = 0;
    if (qb && off + (size_t)nb * qb > c->xq_cap) {
        void *p = realloc(c->xq, off + (size_t)nb * qb);
        if (p) c->xq = p, c->xq_cap = off + (size_t)nb * qb;
    }
    if (!qb || off + (size_t)nb * qb > c->xq_cap) return 0;
    for (b = 0; b < nb; b++) c->actq(W->type, X + (size_t)b * W->ne[0], W->ne[0], (uint8_t *)c->xq + off + b * qb);
    j->xq_row = qb;
    return (size_t)nb * qb;
}

static job_fn mm_fn(const mm_job *j) { return j->xq_row ? mm_rows_q : mm_rows; }

static void cpu_matmul(void *ctx, const cl_tensor *W, const float *bias, const float *X, uint32_t nb, float *Y)
{
    cpu_ctx *c = ctx;
    mm_job j;
    mm_prepare(c, &j, W, bias, X, nb, Y, 0);
    if (j.xq_row) j.xq = c->xq;
    run_job(c, mm_fn(&j), &j, W->ne[1], 16);
}

/* Several products in one job: rows [start[i], start[i+1]) of the job are
 * the rows of matrix i. The rows of each are computed exactly as
 * cpu_matmul computes them (the same kernel and quantised input), so the
 * bits are the same; the pool wakes once instead of n times. */
typedef struct mm_multi {
    uint32_t n;
    mm_job j[CL_BE_MATMUL_N];
    uint64_t start[CL_BE_MATMUL_N + 1];
} mm_multi;

static void mm_multi_rows(void *p, uint64_t r0, uint64_t r1, int tid)
{
    const mm_multi *m = p;
    uint32_t i;
    for (i = 0; i < m->n; i++) {
        uint64_t a = r0 > m->start[i] ? r0 : m->start[i], b = r1 < m->start[i + 1] ? r1 : m->start[i + 1];
        if (a < b) mm_fn(&m->j[i])((void *)&m->j[i], a - m->start[i], b - m->start[i], tid);
    }
}

/* Prepares the n products' quantised inputs: one quantisation per distinct
 * (type, row length) run, consecutive matrices of the same kind sharing it.
 * Offsets are kept until every input is written (the buffer may move). */
static void mm_prepare_n(cpu_ctx *c, mm_multi *m, uint32_t n, const cl_tensor *const *W, const float *const *bias,
                         const float *X, uint32_t nb, float *const *Y)
{
    size_t off = 0, at[CL_BE_MATMUL_N];
    uint32_t i;
    m->n = n;
    m->start[0] = 0;
    for (i = 0; i < n; i++) {
        int same = i && m->j[i - 1].xq_row && W[i]->type == W[i - 1]->type && W[i]->ne[0] == W[i - 1]->ne[0];
        if (same) {
            mm_job z = {c, W[i], bias[i], X, Y[i], nb, W[i]->n_bytes / W[i]->ne[1], NULL, m->j[i - 1].xq_row};
            m->j[i] = z;
            at[i] = at[i - 1];
        } else {
            at[i] = off;
            off += mm_prepare(c, &m->j[i], W[i], bias[i], X, nb, Y[i], off);
        }
        m->start[i + 1] = m->start[i] + W[i]->ne[1];
    }
    for (i = 0; i < n; i++)
        if (m->j[i].xq_row) m->j[i].xq = (const uint8_t *)c->xq + at[i];
}

static void cpu_matmul_n(void *ctx, uint32_t n, const cl_tensor *const *W, const float *const *bias, const float *X,
                         uint32_t nb, float *const *Y)
{
    cpu_ctx *c = ctx;
    mm_multi m;
    mm_prepare_n(c, &m, n, W, bias, X, nb, Y);
    run_job(c, mm_multi_rows, &m, m.start[n], 16);
}

/* gate and up rows [r0, r1) for every input row, then swiglu on them: the
 * same operations as cpu_matmul twice and cpu_swiglu, in one job. */
static void ffn_rows(void *p, uint64_t r0, uint64_t r1, int tid)
{
    const mm_multi *m = p;
    const uint64_t R = m->j[0].W->ne[1];
    float *g = m->j[0].Y;
    const float *u = m->j[1].Y;
    uint64_t r;
    uint32_t b;
    mm_fn(&m->j[0])((void *)&m->j[0], r0, r1, tid);
    mm_fn(&m->j[1])((void *)&m->j[1], r0, r1, tid);
    for (b = 0; b < m->j[0].nb; b++)
        for (r = r0; r < r1; r++) {
            size_t i = (size_t)b * R + r;
            g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
        }
}

static void cpu_ffn_up(void *ctx, const cl_tensor *gate, const cl_tensor *up, const float *X, uint32_t nb, float *G,
                       float *U)
{
    cpu_ctx *c = ctx;
    const cl_tensor *W[2] = {gate, up};
    const float *bias[2] = {NULL, NULL};
    float *Y[2] = {G, U};
    mm_multi m;
    mm_prepare_n(c, &m, 2, W, bias, X, nb, Y);
    run_job(c, ffn_rows, &m, gate->ne[1], 16);
}

/* ------------------------------------------------------------ small ops */

static void cpu_rmsnorm(void *ctx, float *out, const float *x, const float *w, uint32_t n, uint32_t rows, float eps)
{
    uint32_t r, i;
    (void)ctx;
    for (r = 0; r < rows; r++, x += n, out += n) {
        double ss = 0.0;
        float sc;
        for (i = 0; i < n; i++) ss += (double)x[i] * x[i];
        sc = (float)(1.0 / sqrt(ss / n + eps));
        for (i = 0; i < n; i++) out[i] = x[i] * sc * w[i];
    }
}

static void cpu_rope(void *ctx, float *x, uint32_t n_heads, uint32_t d, const float *cs, int neox)
{
    uint32_t h, i;
    (void)ctx;
    for (h = 0; h < n_heads; h++, x += d)
        for (i = 0; i < d / 2; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1];
            uint32_t a = neox ? i : 2 * i, b = neox ? i + d / 2 : 2 * i + 1;
            float x0 = x[a], x1 = x[b];
            x[a] = x0 * c - x1 * s;
            x[b] = x0 * s + x1 * c;
        }
}

typedef struct sw_job {
    float *g;
    const float *u;
} sw_job;

static void sw_range(void *p, uint64_t i0, uint64_t i1, int tid)
{
    const sw_job *j = p;
    uint64_t i;
    (void)tid;
    for (i = i0; i < i1; i++) j->g[i] = j->g[i] / (1.0f + expf(-j->g[i])) * j->u[i];
}

static void cpu_swiglu(void *ctx, float *g, const float *u, size_t n)
{
    sw_job j = {g, u};
    run_job(ctx, sw_range, &j, n, 1024); /* each value by one thread: the same bits with any thread count */
}

/* ------------------------------------------------------------ attention */

typedef struct at_job {
    cpu_ctx *c;
    const cl_attn_args *a;
    uint32_t n_chunk; /* chunks of CL_ATTN_CHUNK positions that the last query sees */
    size_t aq_len;    /* Q8_0: entries of c->aq per (query token, KV head) group */
} at_job;

/* Partial results: record (b, chunk, head) at ((b * n_chunk + chunk) *
 * n_head + head) * (head_dim + 2), so the heads of one group lie together. */
static size_t at_rec(const at_job *j, uint32_t b, uint32_t ch, uint32_t h)
{
    return (((size_t)b * j->n_chunk + ch) * j->a->n_head + h) * (j->a->head_dim + 2);
}

/* Tasks are (query token, chunk of positions, KV head) triples, the KV
 * head varying fastest: the query heads of the group against the chunk's K
 * and V rows (read once for all of them). A cache row holds every KV head
 * of a position, so consecutive tasks, which one thread usually takes
 * together, read whole rows (and whole cache lines) rather than one head's
 * part of each. Chunks past the token's position are empty. */
static void at_tasks(void *p, uint64_t t0, uint64_t t1, int tid)
{
    const at_job *j = p;
    const cl_attn_args *a = j->a;
    uint32_t hd = a->head_dim, kvd = a->n_head_kv * hd, qd = a->n_head * hd, grp = a->n_head / a->n_head_kv;
    float *s = j->c->scratch + (size_t)tid * j->c->scratch_per;
    uint64_t task;
    for (task = t0; task < t1; task++) {
        uint32_t kh = (uint32_t)(task % a->n_head_kv), ch = (uint32_t)(task / a->n_head_kv % j->n_chunk);
        uint32_t b = (uint32_t)(task / a->n_head_kv / j->n_chunk), pos = a->pos0 + b, t0p = ch * CL_ATTN_CHUNK;
        uint32_t nt = pos + 1 - t0p < CL_ATTN_CHUNK ? pos + 1 - t0p : CL_ATTN_CHUNK;
        if (t0p > pos) continue;
        size_t at = (size_t)t0p * kvd + kh * hd; /* the chunk's first value of this KV head */
        if (a->kv_q8) {
            size_t ldb = (size_t)kvd / 32 * CL_KV_Q8_BLOCK; /* bytes per row */
            size_t atb = (size_t)t0p * ldb + (size_t)kh * (hd / 32) * CL_KV_Q8_BLOCK;
            j->c->attn_part_q8(a->q + (size_t)b * qd + (size_t)kh * grp * hd, grp, hd, (const uint8_t *)a->kcache + atb,
                               (const uint8_t *)a->vcache + atb, ldb, nt, a->scale, s,
                               j->c->parts + at_rec(j, b, ch, kh * grp),
                               j->c->aq + ((size_t)b * a->n_head_kv + kh) * j->aq_len);
        } else if (a->kv_f16)
            j->c->attn_part_h(a->q + (size_t)b * qd + (size_t)kh * grp * hd, grp, hd, (const uint16_t *)a->kcache + at,
                              (const uint16_t *)a->vcache + at, kvd, nt, a->scale, s,
                              j->c->parts + at_rec(j, b, ch, kh * grp));
        else
            j->c->attn_part(a->q + (size_t)b * qd + (size_t)kh * grp * hd, grp, hd, (const float *)a->kcache + at,
                            (const float *)a->vcache + at, kvd, nt, a->scale, s,
                            j->c->parts + at_rec(j, b, ch, kh * grp));
    }
}

/* Tasks are (query token, head) pairs: the chunks merged in chunk order. */
static void at_merge(void *p, uint64_t t0, uint64_t t1, int tid)
{
    const at_job *j = p;
    const cl_attn_args *a = j->a;
    uint64_t task;
    (void)tid;
    for (task = t0; task < t1; task++) {
        uint32_t b = (uint32_t)(task / a->n_head), h = (uint32_t)(task % a->n_head);
        j->c->attn_merge(j->c->parts + at_rec(j, b, 0, h), (a->pos0 + b) / CL_ATTN_CHUNK + 1,
                      (size_t)a->n_head * (a->head_dim + 2), a->head_dim,
                      a->out + ((size_t)b * a->n_head + h) * a->head_dim);
    }
}

static cl_status cpu_attention(void *ctx, const cl_attn_args *a)
{
    cpu_ctx *c = ctx;
    uint32_t grp = a->n_head / a->n_head_kv;
    at_job j = {c, a, (a->pos0 + a->nb - 1) / CL_ATTN_CHUNK + 1, 0};
    if (a->kv_q8 && (a->head_dim % 32 || a->head_dim > CL_KV_Q8_HD_MAX))
        return cl_err(CL_ERR_INVALID,
                      "cpu: a Q8_0 KV cache needs a head size that is a multiple of 32 up to %d, not %u",
                      CL_KV_Q8_HD_MAX, a->head_dim);
    size_t need = (size_t)grp * CL_ATTN_CHUNK, np = at_rec(&j, a->nb, 0, 0);
    if (need > c->scratch_per) {
        float *s = realloc(c->scratch, need * (size_t)c->n_threads * sizeof(float));
        if (!s) return cl_err(CL_ERR_NOMEM, "cpu: out of memory for attention scores");
        c->scratch = s;
        c->scratch_per = need;
    }
    if (np > c->parts_cap) {
        float *pp = realloc(c->parts, np * sizeof(float));
        if (!pp) return cl_err(CL_ERR_NOMEM, "cpu: out of memory for attention partial sums (%u chunks)", j.n_chunk);
        c->parts = pp;
        c->parts_cap = np;
    }
    if (a->kv_q8) { /* each group's query quantised here, once, rather than by every chunk's task */
        uint32_t b, kh;
        size_t na;
        j.aq_len = cl_attn_q8_query_len(grp, a->head_dim);
        na = (size_t)a->nb * a->n_head_kv * j.aq_len;
        if (na > c->aq_cap) {
            cl_act_q8x4 *p = realloc(c->aq, na * sizeof *p);
            if (!p) return cl_err(CL_ERR_NOMEM, "cpu: out of memory for the quantised attention query");
            c->aq = p;
            c->aq_cap = na;
        }
        for (b = 0; b < a->nb; b++)
            for (kh = 0; kh < a->n_head_kv; kh++)
                cl_attn_q8_query(a->q + ((size_t)b * a->n_head + (size_t)kh * grp) * a->head_dim, grp, a->head_dim,
                                 c->aq + ((size_t)b * a->n_head_kv + kh) * j.aq_len, c->actq);
    }
    run_job(c, at_tasks, &j, (uint64_t)a->nb * a->n_head_kv * j.n_chunk, 1);
    run_job(c, at_merge, &j, (uint64_t)a->nb * a->n_head, 16); /* decode (one token): on the caller */
    return CL_OK;
}

/* ------------------------------------------------------------ table */

static const cl_backend_i cpu_iface = {
    CL_BACKEND_VERSION, "cpu", cpu_free, cpu_set_threads, cpu_threads, cpu_matmul,
    cpu_rmsnorm,        cpu_rope, cpu_attention, cpu_swiglu,
    NULL,               NULL,     NULL,          NULL, /* no whole-step path */
    cpu_matmul_n,       cpu_ffn_up,
};

cl_status cl_backend_cpu_new(int n_threads, int simd, cl_backend *out)
{
    cpu_ctx *c = calloc(1, sizeof *c);
    cl_status s;
    out->i = NULL;
    out->ctx = NULL;
    if (!c) return cl_err(CL_ERR_NOMEM, "cpu: out of memory");
    c->n_threads = 1;
    c->dot = cl_dot_select(simd);
    c->dot4 = cl_dot4_select(simd);
    c->qdot = cl_qdot_select(simd);
    c->qdot_rows = cl_qdot_rows_select(simd);
    c->actq = cl_act_quantize_select(simd);
    c->attn_part = cl_attn_part_select(simd);
    c->attn_part_h = cl_attn_part_h_select(simd);
    c->attn_part_q8 = cl_attn_part_q8_select(simd);
    c->attn_merge = cl_attn_merge_select(simd);
    c->float_dot = getenv("CAIRN_CPU_DOT") && !strcmp(getenv("CAIRN_CPU_DOT"), "float");
    c->stats_on = getenv("CAIRN_POOL_STATS") && !strcmp(getenv("CAIRN_POOL_STATS"), "1");
    c->spin = CL_SPIN;
    if (getenv("CAIRN_POOL_SPIN")) {
        char *end;
        long v = strtol(getenv("CAIRN_POOL_SPIN"), &end, 10);
        if (*end == 0 && v >= 0 && v <= 1000000) c->spin = (int)v;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->go, NULL);
    pthread_cond_init(&c->done, NULL);
    if ((s = cpu_set_threads(c, n_threads))) {
        cpu_free(c);
        return s;
    }
    out->i = &cpu_iface;
    out->ctx = c;
    return CL_OK;
}
