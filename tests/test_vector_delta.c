/* test_vector_delta.c — the vector index's delta file and cairn's HNSW
 * search: a catch-up appends a record to path.delta instead of rewriting
 * the index; a reader applies new records in place (cr_vindex_refresh); an
 * open applies the delta after the base; a torn or damaged record is left
 * out (and cut off by the next append); a full save drops the delta; a
 * kept handle knows when another writer changed the files. The HNSW
 * search (int8 walk, exact re-rank) finds stored vectors with their exact
 * scores, as FAISS's search does. */
#include "retrieval.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

enum { D = 32, N = 400, M = 40 };

#define VEC_RAND_SEED 0x2545F4914F6CDD1DULL
#include "vec_rand.h"

static const char *EMB = "hash/1:dim=32";

/* Top-1 of vector q must be `want` with score 1 (q is stored). */
static int top1_is(cr_vindex *vi, const float *q, int64_t want)
{
    int64_t ids[10];
    float sc[10];
    size_t n = 0;
    if (cr_vindex_search(vi, q, 10, ids, sc, &n) != CC_OK || n == 0) return 0;
    return ids[0] == want && fabsf(sc[0] - 1.0f) < 1e-4f;
}

/* 1 when id is among the top 50 for q. */
static int finds(cr_vindex *vi, const float *q, int64_t id)
{
    int64_t ids[50];
    float sc[50];
    size_t n = 0;
    if (cr_vindex_search(vi, q, 50, ids, sc, &n) != CC_OK) return 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}

static long long fsize(const char *p)
{
    struct stat st;
    return stat(p, &st) ? -1 : (long long)st.st_size;
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    char path[512], dpath[600];
    if (!tmp) tmp = "/tmp";
    snprintf(path, sizeof path, "%s/test_vector_delta_%d.faiss", tmp, (int)getpid());
    snprintf(dpath, sizeof dpath, "%s.delta", path);
    unlink(path);
    unlink(dpath);

    float *x = malloc((size_t)(N + M) * D * sizeof *x);
    int64_t ids[N + M];
    for (int i = 0; i < N + M; i++) { rand_unit(x + i * D, D); ids[i] = 10 + i; }
    cr_vindex_opts o = { 50, 16, 64, 40, 0 };    /* HNSW from 50 vectors */

    /* the base: N vectors, HNSW, saved whole */
    cr_vindex *a = NULL, *b = NULL, *c = NULL;
    CHECK(cr_vindex_create(path, EMB, D, &o, &a) == CC_OK);
    CHECK(cr_vindex_add(a, N, ids, x) == CC_OK);
    CHECK(cr_vindex_is_hnsw(a));
    cr_vindex_set_generation(a, 5);
    CHECK(cr_vindex_save(a) == CC_OK);
    CHECK(fsize(dpath) == -1);
    CHECK(cr_vindex_disk_same(a));
    struct stat base0;
    CHECK(stat(path, &base0) == 0);

    /* cairn's search: every stored vector is its own top hit, exact score;
     * the same answer as FAISS's own search */
    int ok = 1, same = 1;
    for (int i = 0; i < N; i += 7) {
        ok &= top1_is(a, x + i * D, ids[i]);
        setenv("CAIRN_FAISS_SEARCH", "1", 1);
        same &= top1_is(a, x + i * D, ids[i]);
        unsetenv("CAIRN_FAISS_SEARCH");
    }
    CHECK(ok);
    CHECK(same);

    /* a reader opens the same files */
    CHECK(cr_vindex_open(path, EMB, D, &o, &b) == CC_OK);
    CHECK(cr_vindex_generation(b) == 5);

    /* catch-up 1: M/2 adds and 5 removals, appended as one delta record */
    CHECK(cr_vindex_add(a, M / 2, ids + N, x + (size_t)N * D) == CC_OK);
    size_t got = 0;
    CHECK(cr_vindex_remove(a, 5, ids, &got) == CC_OK && got == 5);
    cr_vindex_set_generation(a, 6);
    CHECK(cr_vindex_save_delta(a) == CC_OK);
    struct stat base1;
    CHECK(stat(path, &base1) == 0);
    CHECK(base1.st_ino == base0.st_ino && base1.st_mtim.tv_nsec == base0.st_mtim.tv_nsec &&
          base1.st_size == base0.st_size);                    /* the base is untouched */
    long long d1 = fsize(dpath);
    CHECK(d1 > 0);
    CHECK(cr_vindex_disk_same(a));
    CHECK(!cr_vindex_disk_same(b));                           /* b has not seen it */
    CHECK(cr_vindex_delta_adds(a) == M / 2);                  /* removals are not adds */

    /* the reader applies it in place */
    int reload = -1;
    CHECK(cr_vindex_refresh(b, &reload) == CC_OK && reload == 0);
    CHECK(cr_vindex_generation(b) == 6);
    CHECK(cr_vindex_delta_adds(b) == M / 2);
    CHECK(cr_vindex_count(b) == cr_vindex_count(a));
    CHECK(cr_vindex_count(b) == N - 5 + M / 2);
    CHECK(top1_is(b, x + (size_t)N * D, ids[N]));
    CHECK(top1_is(b, x + (size_t)(N + M / 2 - 1) * D, ids[N + M / 2 - 1]));
    CHECK(!finds(b, x, ids[0]));                              /* removed */
    CHECK(cr_vindex_refresh(b, &reload) == CC_OK && reload == 0);   /* nothing new */
    CHECK(cr_vindex_count(b) == N - 5 + M / 2);

    /* catch-up 2, then a fresh open applies both records */
    CHECK(cr_vindex_add(a, M / 2, ids + N + M / 2, x + (size_t)(N + M / 2) * D) == CC_OK);
    cr_vindex_set_generation(a, 7);
    CHECK(cr_vindex_save_delta(a) == CC_OK);
    CHECK(cr_vindex_open(path, EMB, D, &o, &c) == CC_OK);
    CHECK(cr_vindex_generation(c) == 7);
    CHECK(cr_vindex_count(c) == N - 5 + M);
    CHECK(cr_vindex_delta_adds(c) == M && cr_vindex_delta_adds(a) == M);
    ok = 1;                       /* the open put each record's adds in as one batch */
    for (int i = N; i < N + M; i++) ok &= top1_is(c, x + (size_t)i * D, ids[i]);
    CHECK(ok);
    CHECK(top1_is(c, x + (size_t)(N + M - 1) * D, ids[N + M - 1]));
    cr_vindex_close(c);
    c = NULL;

    /* a torn append (a crash mid-write): left out on open ... */
    long long d2 = fsize(dpath);
    FILE *f = fopen(dpath, "ab");
    CHECK(f != NULL);
    fwrite("CVDR\x03\0\0\0garbage", 1, 15, f);
    fclose(f);
    CHECK(cr_vindex_open(path, EMB, D, &o, &c) == CC_OK);
    CHECK(cr_vindex_generation(c) == 7 && cr_vindex_count(c) == N - 5 + M);
    /* ... and cut off by the next append (c is now the writer) */
    size_t got2 = 0;
    CHECK(cr_vindex_remove(c, 1, ids + N, &got2) == CC_OK && got2 == 1);
    cr_vindex_set_generation(c, 8);
    CHECK(cr_vindex_save_delta(c) == CC_OK);
    CHECK(!cr_vindex_disk_same(a));                           /* another writer wrote */
    cr_vindex_close(c);
    CHECK(cr_vindex_open(path, EMB, D, &o, &c) == CC_OK);
    CHECK(cr_vindex_generation(c) == 8 && cr_vindex_count(c) == N - 5 + M - 1);
    {
        uint64_t dat = 0, dsize = 0;          /* every record intact */
        CHECK(cr_vindex_delta_damaged(c, &dat, &dsize) == 0);
        CHECK((long long)dsize == fsize(dpath) && dat == dsize);
    }
    CHECK(!finds(c, x + (size_t)N * D, ids[N]));
    cr_vindex_close(c);
    c = NULL;
    CHECK(cr_vindex_refresh(b, &reload) == CC_OK && reload == 0);
    CHECK(cr_vindex_generation(b) == 8 && cr_vindex_count(b) == N - 5 + M - 1);

    /* a damaged record: it and what follows are left out (generation 6 is
     * the last intact one; the change log replays the rest) */
    {
        long long at = d1 + 30;                 /* inside the second record's body */
        CHECK(at < d2);
        FILE *g = fopen(dpath, "r+b");
        CHECK(g != NULL);
        fseek(g, (long)at, SEEK_SET);
        int ch = fgetc(g);
        fseek(g, (long)at, SEEK_SET);
        fputc(ch ^ 0x5a, g);
        fclose(g);
        CHECK(cr_vindex_open(path, EMB, D, &o, &c) == CC_OK);
        CHECK(cr_vindex_generation(c) == 6 && cr_vindex_count(c) == N - 5 + M / 2);
        uint64_t dat = 0, dsize = 0;          /* and the open says so (cairn check) */
        CHECK(cr_vindex_delta_damaged(c, &dat, &dsize) == 1);
        CHECK((long long)dat == d1 && (long long)dsize == fsize(dpath));
        cr_vindex_close(c);
        c = NULL;
    }

    /* a full save drops the delta; a reader must then reload */
    cr_vindex_close(a);
    CHECK(cr_vindex_open(path, EMB, D, &o, &a) == CC_OK);     /* at generation 6 */
    cr_vindex_set_generation(a, 9);
    CHECK(cr_vindex_save(a) == CC_OK);
    CHECK(fsize(dpath) == -1);
    CHECK(cr_vindex_delta_adds(a) == 0);
    CHECK(cr_vindex_refresh(b, &reload) == CC_OK && reload == 1);
    /* a delta naming the old base is ignored by an open of the new one */
    CHECK(cr_vindex_open(path, EMB, D, &o, &c) == CC_OK);
    CHECK(cr_vindex_generation(c) == 9 && cr_vindex_count(c) == N - 5 + M / 2);
    cr_vindex_close(c);

    /* hostile delta files: not a delta, empty, a bare header: ignored */
    static const char *junk[3] = { "not a delta at all, just text", "", "CAIRNVDL" };
    for (int j = 0; j < 3; j++) {
        FILE *g = fopen(dpath, "wb");
        CHECK(g != NULL);
        fwrite(junk[j], 1, strlen(junk[j]), g);
        fclose(g);
        c = NULL;
        CHECK(cr_vindex_open(path, EMB, D, &o, &c) == CC_OK);
        CHECK(c && cr_vindex_generation(c) == 9);
        cr_vindex_close(c);
    }

    /* a limit on the delta's adds (one-shot writers): within it a catch-up
     * appends, past it the index is saved whole and the delta goes; a
     * record that removes and adds one id again (a replaced chunk) and
     * adds some twice over records replays to the writer's contents */
    {
        cr_vindex *w = NULL, *r = NULL;
        size_t g2 = 0;
        cr_vindex_close(a);
        CHECK(cr_vindex_open(path, EMB, D, &o, &w) == CC_OK);
        if (!w) goto out;
        int64_t n0 = (int64_t)cr_vindex_count(w);
        cr_vindex_set_delta_max_adds(w, 6);
        CHECK(cr_vindex_add(w, 3, ids, x) == CC_OK);          /* 3 removed earlier */
        cr_vindex_set_generation(w, 10);
        CHECK(cr_vindex_save_delta(w) == CC_OK && fsize(dpath) > 0);
        CHECK(cr_vindex_remove(w, 1, ids + 1, &g2) == CC_OK && g2 == 1);
        CHECK(cr_vindex_add(w, 1, ids + 1, x + D) == CC_OK);  /* removed and added again */
        CHECK(cr_vindex_add(w, 2, ids + 3, x + 3 * D) == CC_OK);
        cr_vindex_set_generation(w, 11);
        CHECK(cr_vindex_save_delta(w) == CC_OK && fsize(dpath) > 0);   /* 6 adds: kept */
        CHECK(cr_vindex_delta_adds(w) == 6);
        CHECK(cr_vindex_open(path, EMB, D, &o, &r) == CC_OK);
        CHECK(r && cr_vindex_generation(r) == 11 && cr_vindex_delta_adds(r) == 6);
        CHECK(r && cr_vindex_count(r) == n0 + 5 && cr_vindex_count(w) == n0 + 5);
        ok = 1;
        for (int i = 0; i < 5 && r; i++) ok &= top1_is(r, x + i * D, ids[i]);
        CHECK(ok);
        cr_vindex_close(r);
        r = NULL;
        CHECK(cr_vindex_add(w, 1, ids + N + M / 2, x + (size_t)(N + M / 2) * D) == CC_OK);
        cr_vindex_set_generation(w, 12);
        CHECK(cr_vindex_save_delta(w) == CC_OK);              /* 7 adds: saved whole */
        CHECK(fsize(dpath) == -1 && cr_vindex_delta_adds(w) == 0);
        CHECK(cr_vindex_open(path, EMB, D, &o, &r) == CC_OK);
        CHECK(r && cr_vindex_generation(r) == 12 && cr_vindex_count(r) == n0 + 6);
        cr_vindex_close(r);
        a = w;
    }
out:
    cr_vindex_close(a);
    cr_vindex_close(b);
    unlink(path);
    unlink(dpath);
    char ok_path[600];
    snprintf(ok_path, sizeof ok_path, "%s.ok", path);
    unlink(ok_path);
    free(x);
    return check_done("vector_delta");
}
