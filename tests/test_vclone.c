/* test_vclone.c — cr_vindex_clone: a copy of an index searches
 * bit-identically to its source (ids and scores, for flat and HNSW
 * indexes, with tombstones), and stays correct after further changes on
 * either side: adds and removes on one leave the other's answers as they
 * were; the copy follows the delta file like its source
 * (cr_vindex_refresh) and saves its own catch-ups; a source with unsaved
 * changes makes the copy's next save a full one. Copies made again into
 * the same copy from the same source take only what was added since
 * (cr_vindex_copy_kept), and answer bit for bit as a whole copy would;
 * after a rebuild or a flat removal of the source, a change to the copy,
 * or a copy from another source, the whole index is copied. */
#include "retrieval.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { D = 48, N = 600, M = 60, Q = 40, K = 20 };

#define VEC_RAND_SEED 0x9E3779B97F4A7C15ULL
#include "vec_rand.h"

static const char *EMB = "hash/1:dim=48";
static float qs[Q * D];

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

/* 1 when id is among the top 50 for its own vector v. */
static int finds(cr_vindex *vi, const float *v, int64_t id)
{
    int64_t ids[50];
    float sc[50];
    size_t n = 0;
    if (cr_vindex_search(vi, v, 50, ids, sc, &n) != CC_OK) return 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}

/* The answers of every query on vi, to compare later. */
static void snapshot(cr_vindex *vi, int64_t *ids, float *sc)
{
    for (int q = 0; q < Q; q++) {
        size_t n = 0;
        memset(ids + q * K, 0xff, K * sizeof *ids);
        cr_vindex_search(vi, qs + q * D, K, ids + q * K, sc + q * K, &n);
    }
}

static int same_snapshot(cr_vindex *vi, const int64_t *ids, const float *sc)
{
    int64_t i2[Q * K];
    float s2[Q * K];
    snapshot(vi, i2, s2);
    for (int q = 0; q < Q * K; q++)
        if (i2[q] != ids[q] || (ids[q] >= 0 && memcmp(&s2[q], &sc[q], sizeof *sc))) return 0;
    return 1;
}

static void run(const char *tmp, int hnsw)
{
    char path[512], dpath[600];
    snprintf(path, sizeof path, "%s/test_vclone_%d_%d.faiss", tmp, (int)getpid(), hnsw);
    snprintf(dpath, sizeof dpath, "%s.delta", path);
    unlink(path);
    unlink(dpath);
    float *x = malloc((size_t)(N + 3 * M) * D * sizeof *x);
    int64_t ids[N + 3 * M];
    for (int i = 0; i < N + 3 * M; i++) { rand_unit(x + (size_t)i * D, D); ids[i] = 100 + i; }
    cr_vindex_opts o = { hnsw ? 50 : 1000000, 16, 64, 40, 0 };
    cr_vindex *src = NULL, *cp = NULL, *rd = NULL, *cp2 = NULL;
    int64_t *snap_i = malloc(Q * K * sizeof *snap_i);
    float *snap_s = malloc(Q * K * sizeof *snap_s);

    CHECK(cr_vindex_create(path, EMB, D, &o, &src) == CC_OK);
    CHECK(cr_vindex_add(src, N, ids, x) == CC_OK);
    CHECK(cr_vindex_is_hnsw(src) == hnsw);
    size_t got = 0;
    /* tombstones in the HNSW case (fewer than 10%: no rebuild) */
    CHECK(cr_vindex_remove(src, 20, ids + 40, &got) == CC_OK && got == 20);
    cr_vindex_set_generation(src, 7);
    CHECK(cr_vindex_save(src) == CC_OK);

    /* the copy answers exactly as the source */
    CHECK(cr_vindex_clone(src, &cp) == CC_OK);
    CHECK(cr_vindex_count(cp) == cr_vindex_count(src));
    CHECK(cr_vindex_generation(cp) == 7);
    CHECK(cr_vindex_is_hnsw(cp) == hnsw);
    CHECK(cr_vindex_disk_same(cp));
    CHECK(same_answers(src, cp));
    CHECK(!finds(cp, x + 45 * D, ids[45]));       /* removed before the copy */
    CHECK(finds(cp, x + 5 * D, ids[5]));

    /* changes to the source leave the copy as it was */
    snapshot(cp, snap_i, snap_s);
    CHECK(cr_vindex_add(src, M, ids + N, x + (size_t)N * D) == CC_OK);
    CHECK(cr_vindex_remove(src, 10, ids + 100, &got) == CC_OK && got == 10);
    cr_vindex_set_generation(src, 8);
    CHECK(cr_vindex_save_delta(src) == CC_OK);
    CHECK(same_snapshot(cp, snap_i, snap_s));
    CHECK(!finds(cp, x + (size_t)(N + 3) * D, ids[N + 3]));
    CHECK(finds(src, x + (size_t)(N + 3) * D, ids[N + 3]));
    CHECK(!finds(src, x + 105 * D, ids[105]));
    CHECK(finds(cp, x + 105 * D, ids[105]));
    CHECK(cr_vindex_generation(cp) == 7);

    /* the copy follows the delta the source wrote, like a reader that
     * loaded the files: then both answer as the files do */
    int reload = 0;
    CHECK(cr_vindex_refresh(cp, &reload) == CC_OK && !reload);
    CHECK(cr_vindex_generation(cp) == 8);
    CHECK(cr_vindex_disk_same(cp));
    CHECK(cr_vindex_count(cp) == cr_vindex_count(src));
    CHECK(finds(cp, x + (size_t)(N + 3) * D, ids[N + 3]));
    CHECK(!finds(cp, x + 105 * D, ids[105]));
    CHECK(cr_vindex_open(path, EMB, D, &o, &rd) == CC_OK);
    CHECK(cr_vindex_count(rd) == cr_vindex_count(cp));
    if (!hnsw) CHECK(same_answers(rd, cp));          /* flat: exact, the same order */

    /* a copy taken after the source changed, then changes to the copy:
     * the source is unaffected */
    CHECK(cr_vindex_clone(src, &cp2) == CC_OK);
    CHECK(same_answers(src, cp2));
    snapshot(src, snap_i, snap_s);
    CHECK(cr_vindex_add(cp2, M, ids + N + M, x + (size_t)(N + M) * D) == CC_OK);
    CHECK(cr_vindex_remove(cp2, 10, ids + 200, &got) == CC_OK && got == 10);
    CHECK(same_snapshot(src, snap_i, snap_s));
    CHECK(finds(cp2, x + (size_t)(N + M + 7) * D, ids[N + M + 7]));
    CHECK(!finds(src, x + (size_t)(N + M + 7) * D, ids[N + M + 7]));
    CHECK(!finds(cp2, x + 205 * D, ids[205]));
    CHECK(finds(src, x + 205 * D, ids[205]));

    /* the copy saves its own catch-up as a delta record; a reader of the
     * files then has what the copy has */
    cr_vindex_set_generation(cp2, 9);
    CHECK(cr_vindex_save_delta(cp2) == CC_OK);
    CHECK(cr_vindex_refresh(rd, &reload) == CC_OK && !reload);
    CHECK(cr_vindex_generation(rd) == 9);
    CHECK(cr_vindex_count(rd) == cr_vindex_count(cp2));
    CHECK(finds(rd, x + (size_t)(N + M + 7) * D, ids[N + M + 7]));
    CHECK(!finds(rd, x + 205 * D, ids[205]));
    CHECK(!cr_vindex_disk_same(src));                 /* another handle wrote */

    /* a copy made into an older copy (cr_vindex_clone_into, its memory
     * reused): the same answers as its new source, then independent again */
    CHECK(cr_vindex_count(cp) != cr_vindex_count(cp2));
    CHECK(cr_vindex_clone_into(cp2, cp) == CC_OK);
    CHECK(cr_vindex_count(cp) == cr_vindex_count(cp2));
    CHECK(cr_vindex_generation(cp) == 9);
    CHECK(cr_vindex_disk_same(cp));
    CHECK(same_answers(cp2, cp));
    CHECK(finds(cp, x + (size_t)(N + M + 7) * D, ids[N + M + 7]));
    CHECK(!finds(cp, x + 205 * D, ids[205]));
    snapshot(cp, snap_i, snap_s);
    CHECK(cr_vindex_remove(cp2, 5, ids + 300, &got) == CC_OK && got == 5);
    CHECK(same_snapshot(cp, snap_i, snap_s));
    CHECK(finds(cp, x + 302 * D, ids[302]));
    CHECK(!finds(cp2, x + 302 * D, ids[302]));

    /* unsaved changes in the source: the copy's next save is a full one,
     * so the file never lacks what the copy holds */
    cr_vindex_close(cp);
    cp = NULL;
    CHECK(cr_vindex_add(cp2, M, ids + N + 2 * M, x + (size_t)(N + 2 * M) * D) == CC_OK);
    CHECK(cr_vindex_clone(cp2, &cp) == CC_OK);
    cr_vindex_set_generation(cp, 10);
    CHECK(cr_vindex_save_delta(cp) == CC_OK);
    struct stat st;
    CHECK(stat(dpath, &st) != 0);                     /* a full save drops the delta */
    cr_vindex_close(rd);
    rd = NULL;
    CHECK(cr_vindex_open(path, EMB, D, &o, &rd) == CC_OK);
    CHECK(cr_vindex_generation(rd) == 10);
    CHECK(cr_vindex_count(rd) == cr_vindex_count(cp));
    CHECK(finds(rd, x + (size_t)(N + 2 * M + 9) * D, ids[N + 2 * M + 9]));

    cr_vindex_close(src);
    cr_vindex_close(cp);
    cr_vindex_close(cp2);
    cr_vindex_close(rd);
    free(x);
    free(snap_i);
    free(snap_s);
    unlink(path);
    unlink(dpath);
    char ok[600];
    snprintf(ok, sizeof ok, "%s.ok", path);
    unlink(ok);
}

/* The int8 search copies of a and b, as they are now (no search first):
 * the same bytes, and some. */
static int same_codes8(const cr_vindex *a, const cr_vindex *b)
{
    const void *pa, *pb;
    size_t na, nb;
    return cr_vindex_codes8(a, &pa, &na) == 0 && cr_vindex_codes8(b, &pb, &nb) == 0 &&
           na > 0 && na == nb && memcmp(pa, pb, na) == 0;
}

/* Copies into the same copy again and again (the server's handoffs): the
 * tail only while the source has only grown, a whole copy otherwise, and
 * the same answers as the source either way. */
static void run_tail(const char *tmp, int hnsw)
{
    char path[512];
    snprintf(path, sizeof path, "%s/test_vclone_tail_%d_%d.faiss", tmp, (int)getpid(), hnsw);
    enum { T = N + 8 * M };
    float *x = malloc((size_t)T * D * sizeof *x);
    int64_t ids[T];
    for (int i = 0; i < T; i++) { rand_unit(x + (size_t)i * D, D); ids[i] = 5000 + i; }
    cr_vindex_opts o = { hnsw ? 50 : 1000000, 16, 64, 40, 0 };
    cr_vindex *src = NULL, *cp = NULL, *other = NULL;
    int64_t *snap_i = malloc(Q * K * sizeof *snap_i);
    float *snap_s = malloc(Q * K * sizeof *snap_s);
    size_t got = 0;
    int at = N;                                   /* vectors added to src so far */

    CHECK(cr_vindex_create(path, EMB, D, &o, &src) == CC_OK);
    CHECK(cr_vindex_add(src, N, ids, x) == CC_OK);
    CHECK(cr_vindex_remove(src, 10, ids + 20, &got) == CC_OK && got == 10);
    CHECK(cr_vindex_clone(src, &cp) == CC_OK);
    CHECK(cr_vindex_copy_kept(cp) == 0);
    /* the first copy into it sizes its arrays with room to grow */
    CHECK(cr_vindex_add(src, M / 2, ids + at, x + (size_t)at * D) == CC_OK);
    at += M / 2;
    CHECK(cr_vindex_clone_into(src, cp) == CC_OK);
    CHECK(same_answers(src, cp));
    /* grown only (adds, and HNSW removals that mark): the tail */
    for (int round = 0; round < 3; round++) {
        int64_t before = hnsw ? at : at - 10;     /* vectors inside FAISS */
        CHECK(cr_vindex_add(src, M / 6, ids + at, x + (size_t)at * D) == CC_OK);
        at += M / 6;                              /* within the copy's 1/8 room */
        if (hnsw) CHECK(cr_vindex_remove(src, 2, ids + 40 + 2 * round, &got) == CC_OK && got == 2);
        CHECK(cr_vindex_clone_into(src, cp) == CC_OK);
        if (cr_vindex_copy_kept(cp) != before)
            fprintf(stderr, "hnsw %d round %d: kept %lld, expected %lld\n", hnsw, round,
                    (long long)cr_vindex_copy_kept(cp), (long long)before);
        CHECK(cr_vindex_copy_kept(cp) == before);
        CHECK(same_codes8(src, cp));              /* the kept codes and the tail's */
        CHECK(cr_vindex_count(cp) == cr_vindex_count(src));
        CHECK(same_answers(src, cp));
        CHECK(finds(cp, x + (size_t)(at - 3) * D, ids[at - 3]));
        if (hnsw) CHECK(!finds(cp, x + (size_t)(40 + 2 * round) * D, ids[40 + 2 * round]));
    }
    /* then independent: a change on either side leaves the other as it was */
    snapshot(cp, snap_i, snap_s);
    CHECK(cr_vindex_add(src, M / 2, ids + at, x + (size_t)at * D) == CC_OK);
    at += M / 2;
    CHECK(same_snapshot(cp, snap_i, snap_s));
    CHECK(!finds(cp, x + (size_t)(at - 1) * D, ids[at - 1]));
    /* a copy changed since: whole */
    CHECK(cr_vindex_add(cp, 1, ids + T - 1, x + (size_t)(T - 1) * D) == CC_OK);
    CHECK(cr_vindex_clone_into(src, cp) == CC_OK);
    CHECK(cr_vindex_copy_kept(cp) == 0);
    CHECK(same_answers(src, cp));
    CHECK(!finds(cp, x + (size_t)(T - 1) * D, ids[T - 1]));
    CHECK(cr_vindex_add(src, M / 6, ids + at, x + (size_t)at * D) == CC_OK);
    at += M / 6;
    CHECK(cr_vindex_clone_into(src, cp) == CC_OK);
    CHECK(cr_vindex_copy_kept(cp) > 0);            /* and the tail again after it */
    CHECK(same_answers(src, cp));
    /* the source rebuilt (HNSW: past 10% tombstones) or compacted (flat
     * removal): whole */
    CHECK(cr_vindex_remove(src, hnsw ? N / 8 : 3, ids + 100, &got) == CC_OK);
    CHECK(cr_vindex_add(src, M / 2, ids + at, x + (size_t)at * D) == CC_OK);
    at += M / 2;
    CHECK(cr_vindex_clone_into(src, cp) == CC_OK);
    CHECK(cr_vindex_copy_kept(cp) == 0);
    CHECK(same_answers(src, cp));
    CHECK(!finds(cp, x + 102 * D, ids[102]));
    /* a copy of another source: whole */
    CHECK(cr_vindex_clone(src, &other) == CC_OK);
    CHECK(cr_vindex_add(other, M / 2, ids + at, x + (size_t)at * D) == CC_OK);
    CHECK(cr_vindex_clone_into(other, cp) == CC_OK);
    CHECK(cr_vindex_copy_kept(cp) == 0);
    CHECK(same_answers(other, cp));
    CHECK(finds(cp, x + (size_t)(at + 1) * D, ids[at + 1]));
    cr_vindex_close(other);
    cr_vindex_close(cp);
    cr_vindex_close(src);
    free(x);
    free(snap_i);
    free(snap_s);
    unlink(path);
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    if (!tmp) tmp = "/tmp";
    for (int q = 0; q < Q; q++) rand_unit(qs + q * D, D);
    run(tmp, 0);
    run(tmp, 1);
    run_tail(tmp, 0);
    run_tail(tmp, 1);
    return check_done("test_vclone");
}
