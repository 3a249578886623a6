/* test_vpace.c — cr_pace_set: the thread that sets a pace callback has it
 * called while its HNSW inserts and index copies run (the server's writer
 * sleeps there so that a catch-up's CPU is spread out), and nothing else
 * changes: an index built with the callback, one that sleeps, answers bit
 * for bit as one built without it, and so does its copy. The callback is
 * the calling thread's only: another thread's inserts do not call it, and
 * after cr_pace_set(NULL, NULL) it is not called again. */
#include "retrieval.h"
#include "check.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { D = 48, N = 800, M = 120, Q = 40, K = 20 };

#define VEC_RAND_SEED 0x2545F4914F6CDD1DULL
#include "vec_rand.h"

static const char *EMB = "hash/1:dim=48";
static float qs[Q * D];
static long calls;

static void pace_cb(void *arg)
{
    struct timespec ts = {0, 20000};   /* 20 us: the work must not depend on it */
    calls++;
    if (arg) nanosleep(&ts, NULL);
}

/* Every query's top K on a and b: the same ids and bit-identical scores. */
static int same_answers(cr_vindex *a, cr_vindex *b)
{
    for (int q = 0; q < Q; q++) {
        int64_t ia[K], ib[K];
        float sa[K], sb[K];
        size_t na = 0, nb = 0;
        if (cr_vindex_search(a, qs + q * D, K, ia, sa, &na) != CC_OK ||
            cr_vindex_search(b, qs + q * D, K, ib, sb, &nb) != CC_OK || na != nb || na == 0)
            return 0;
        if (memcmp(ia, ib, na * sizeof *ia) || memcmp(sa, sb, na * sizeof *sa)) return 0;
    }
    return 1;
}

struct add_arg { cr_vindex *vi; const int64_t *ids; const float *x; int n; cc_status st; };

static void *add_thread(void *p)
{
    struct add_arg *a = p;
    a->st = cr_vindex_add(a->vi, (size_t)a->n, a->ids, a->x);
    return NULL;
}

static cr_vindex *make(const char *tmp, const char *name, const int64_t *ids, const float *x)
{
    char path[512];
    cr_vindex_opts o = {50, 16, 64, 40, 0};   /* HNSW from 50 vectors */
    cr_vindex *vi = NULL;
    snprintf(path, sizeof path, "%s/test_vpace_%d_%s.faiss", tmp, (int)getpid(), name);
    unlink(path);
    CHECK(cr_vindex_create(path, EMB, D, &o, &vi) == CC_OK);
    if (!vi) return NULL;
    CHECK(cr_vindex_add(vi, N, ids, x) == CC_OK);
    CHECK(cr_vindex_is_hnsw(vi));
    return vi;
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP") ? getenv("CAIRN_TMP") : "/tmp";
    float *x = malloc((size_t)(N + 3 * M) * D * sizeof *x);
    int64_t ids[N + 3 * M];
    cr_vindex *plain, *paced, *cp1 = NULL, *cp2 = NULL;
    long before;

    for (int i = 0; i < N + 3 * M; i++) { rand_unit(x + (size_t)i * D, D); ids[i] = 10 + i; }
    for (int q = 0; q < Q; q++) rand_unit(qs + q * D, D);
    cr_vindex_batch_threads(1);
    plain = make(tmp, "plain", ids, x);
    paced = make(tmp, "paced", ids, x);
    CHECK(plain && paced);
    if (!plain || !paced) return check_done("test_vpace");
    CHECK(calls == 0);
    CHECK(same_answers(plain, paced));

    /* inserts in batches of 10, as a catch-up makes them: the callback
     * runs many times (every ~256 distances), with a sleep each time */
    cr_pace_set(pace_cb, (void *)1);
    for (int b = 0; b < M; b += 10)
        CHECK(cr_vindex_add(paced, 10, ids + N + b, x + (size_t)(N + b) * D) == CC_OK);
    cr_pace_set(NULL, NULL);
    for (int b = 0; b < M; b += 10)
        CHECK(cr_vindex_add(plain, 10, ids + N + b, x + (size_t)(N + b) * D) == CC_OK);
    printf("pace calls for %d inserts: %ld\n", M, calls);
    CHECK(calls >= M);                      /* an insert computes hundreds of distances */
    CHECK(same_answers(plain, paced));      /* the same graph: bit-identical answers */

    /* the copies (whole, then only what was added since) pace too, and
     * answer as their source does */
    CHECK(cr_vindex_clone(paced, &cp1) == CC_OK);
    CHECK(cr_vindex_clone(plain, &cp2) == CC_OK);
    /* the first copy into them after an add is whole, with room to grow */
    CHECK(cr_vindex_add(paced, 10, ids + N + M, x + (size_t)(N + M) * D) == CC_OK);
    CHECK(cr_vindex_add(plain, 10, ids + N + M, x + (size_t)(N + M) * D) == CC_OK);
    CHECK(cr_vindex_clone_into(paced, cp1) == CC_OK);
    CHECK(cr_vindex_clone_into(plain, cp2) == CC_OK);
    /* then fewer than the 1/8 room: a tail copy */
    CHECK(cr_vindex_add(paced, 50, ids + N + M + 10, x + (size_t)(N + M + 10) * D) == CC_OK);
    CHECK(cr_vindex_add(plain, 50, ids + N + M + 10, x + (size_t)(N + M + 10) * D) == CC_OK);
    before = calls;
    cr_pace_set(pace_cb, NULL);
    CHECK(cr_vindex_clone_into(paced, cp1) == CC_OK);
    cr_pace_set(NULL, NULL);
    printf("pace calls for a copy of %lld vectors: %ld\n", (long long)cr_vindex_count(paced), calls - before);
    CHECK(calls > before);
    CHECK(cr_vindex_clone_into(plain, cp2) == CC_OK);
    CHECK(cr_vindex_copy_kept(cp1) == N + M + 10);   /* the tail copy was the one paced */
    CHECK(same_answers(cp1, paced));
    CHECK(same_answers(cp1, cp2));

    /* another thread's inserts do not call this thread's callback */
    cr_pace_set(pace_cb, NULL);
    before = calls;
    {
        struct add_arg a = {plain, ids + N + 2 * M, x + (size_t)(N + 2 * M) * D, M, CC_ERROR};
        pthread_t t;
        CHECK(pthread_create(&t, NULL, add_thread, &a) == 0);
        pthread_join(t, NULL);
        CHECK(a.st == CC_OK);
    }
    CHECK(calls == before);
    /* and after cr_pace_set(NULL, NULL) this thread's do not either */
    cr_pace_set(NULL, NULL);
    CHECK(cr_vindex_add(paced, M, ids + N + 2 * M, x + (size_t)(N + 2 * M) * D) == CC_OK);
    CHECK(calls == before);
    CHECK(same_answers(plain, paced));

    cr_vindex_close(cp1);
    cr_vindex_close(cp2);
    cr_vindex_close(plain);
    cr_vindex_close(paced);
    free(x);
    return check_done("test_vpace");
}
