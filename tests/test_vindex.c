/* test_vindex.c — the FAISS vector index: add, search, remove, flat → HNSW,
 * save/open round trip, refusing another embedder, truncated and missing
 * files. */
#include "retrieval.h"
#include "check.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#define VEC_RAND_SEED 88172645463325252ULL
#include "vec_rand.h"

/* Brute-force top-1 id among live vectors. */
static int64_t brute_top1(const float *x, const int64_t *ids, const int *live, int n, int d,
                          const float *q)
{
    double best = -1e9;
    int64_t id = -1;
    for (int i = 0; i < n; i++) {
        if (!live[i]) continue;
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)x[i * d + j] * q[j];
        if (s > best) { best = s; id = ids[i]; }
    }
    return id;
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    if (!tmp) tmp = "/tmp";
    char path[512], other[512];
    snprintf(path, sizeof path, "%s/test_vindex_%d.faiss", tmp, (int)getpid());
    snprintf(other, sizeof other, "%s/test_vindex_%d_other.faiss", tmp, (int)getpid());
    unlink(path);

    enum { D = 32, N = 300 };
    float *x = malloc((size_t)N * D * sizeof *x);
    int64_t ids[N];
    int live[N];
    for (int i = 0; i < N; i++) { rand_unit(x + i * D, D); ids[i] = 1000 + 7 * i; live[i] = 1; }

    cr_vindex *vi = NULL;
    /* Missing file: NOTFOUND; bad args. */
    CHECK(cr_vindex_open(path, "hash/1:dim=32", D, NULL, &vi) == CC_NOTFOUND);
    CHECK(vi == NULL);
    CHECK(cr_vindex_create(path, "hash/1:dim=32", 0, NULL, &vi) == CC_INVALID);
    CHECK(cr_vindex_create(path, "", D, NULL, &vi) == CC_INVALID);
    cr_vindex_opts bo = { -5, 0, 0, 0, 0 };
    CHECK(cr_vindex_create(path, "hash/1:dim=32", D, &bo, &vi) == CC_INVALID);
    cr_vindex_opts be = { 0, 0, 0, -1, 0 };       /* negative efConstruction */
    CHECK(cr_vindex_create(path, "hash/1:dim=32", D, &be, &vi) == CC_INVALID);

    cr_vindex_opts o = { 200, 16, 64, 24, 0 };   /* small threshold: exercise HNSW */
    CHECK_OK(cr_vindex_create(path, "hash/1:dim=32", D, &o, &vi));
    if (!vi) return check_done("vindex");
    CHECK(cr_vindex_count(vi) == 0 && !cr_vindex_is_hnsw(vi));

    /* Search on an empty index: no hits. */
    int64_t rid[10];
    float rsc[10];
    size_t nr = 99;
    CHECK_OK(cr_vindex_search(vi, x, 5, rid, rsc, &nr));
    CHECK(nr == 0);

    /* Add 150: flat. Each vector finds itself first with score ~1. */
    CHECK_OK(cr_vindex_add(vi, 150, ids, x));
    CHECK(cr_vindex_count(vi) == 150 && !cr_vindex_is_hnsw(vi));
    int self = 0;
    for (int i = 0; i < 150; i++) {
        CHECK_OK(cr_vindex_search(vi, x + i * D, 3, rid, rsc, &nr));
        if (nr == 3 && rid[0] == ids[i] && fabsf(rsc[0] - 1.0f) < 1e-4f && rsc[1] <= rsc[0]) self++;
    }
    CHECK(self == 150);

    /* Duplicates and bad vectors are refused and add nothing. */
    CHECK(cr_vindex_add(vi, 1, ids, x) == CC_EXISTS);
    CHECK(strstr(cr_vindex_errmsg(vi), "1000") != NULL);
    int64_t twice[2] = { 5, 5 };
    float two[2 * D];
    rand_unit(two, D); rand_unit(two + D, D);
    CHECK(cr_vindex_add(vi, 2, twice, two) == CC_INVALID);
    int64_t neg[1] = { -3 };
    CHECK(cr_vindex_add(vi, 1, neg, two) == CC_INVALID);
    int64_t fresh[1] = { 5 };
    float nanv[D];
    memcpy(nanv, two, sizeof nanv);
    nanv[3] = NAN;
    CHECK(cr_vindex_add(vi, 1, fresh, nanv) == CC_INVALID);
    CHECK(cr_vindex_search(vi, nanv, 3, rid, rsc, &nr) == CC_INVALID);
    CHECK(cr_vindex_search(vi, two, 0, rid, rsc, &nr) == CC_INVALID);
    CHECK(cr_vindex_count(vi) == 150);

    /* Remove from flat; removed ids never come back. */
    int64_t rm[3] = { ids[0], ids[10], 424242 };
    size_t nrm = 0;
    CHECK_OK(cr_vindex_remove(vi, 3, rm, &nrm));
    CHECK(nrm == 2 && cr_vindex_count(vi) == 148);
    live[0] = live[10] = 0;
    CHECK_OK(cr_vindex_search(vi, x, 10, rid, rsc, &nr));
    int seen_removed = 0;
    for (size_t i = 0; i < nr; i++) seen_removed |= rid[i] == ids[0] || rid[i] == ids[10];
    CHECK(nr == 10 && !seen_removed);
    CHECK(rid[0] == brute_top1(x, ids, live, 150, D, x));
    /* Removed ids can be added again. */
    CHECK_OK(cr_vindex_add(vi, 1, ids, x));
    live[0] = 1;

    /* Save and reopen: same results, generation kept. */
    cr_vindex_set_generation(vi, 41);
    CHECK_OK(cr_vindex_save(vi));
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size > 149 * D * 4);
    int64_t before[10];
    float bsc[10];
    size_t nb = 0;
    CHECK_OK(cr_vindex_search(vi, x + 20 * D, 10, before, bsc, &nb));
    cr_vindex_close(vi);
    vi = NULL;
    CHECK_OK(cr_vindex_open(path, "hash/1:dim=32", D, &o, &vi));
    if (!vi) return check_done("vindex");
    CHECK(cr_vindex_generation(vi) == 41 && cr_vindex_count(vi) == 149);
    CHECK_STR(cr_vindex_embedder(vi), "hash/1:dim=32");
    CHECK_OK(cr_vindex_search(vi, x + 20 * D, 10, rid, rsc, &nr));
    CHECK(nr == nb && memcmp(rid, before, nb * sizeof *rid) == 0);
    CHECK(cr_vindex_add(vi, 1, ids + 1, x + D) == CC_EXISTS);   /* id set restored */

    /* Another embedder or dimension is refused, naming both. */
    cr_vindex *bad = NULL;
    CHECK(cr_vindex_open(path, "gguf/bge-small:dim=32", D, NULL, &bad) == CC_INVALID);
    CHECK(strstr(cc_errmsg(), "hash/1:dim=32") && strstr(cc_errmsg(), "gguf/bge-small:dim=32"));
    CHECK(cr_vindex_open(path, "hash/1:dim=32", 64, NULL, &bad) == CC_INVALID);
    CHECK(bad == NULL);

    /* Grow past the threshold: HNSW. Top-1 for stored vectors stays exact. */
    CHECK_OK(cr_vindex_add(vi, N - 150, ids + 150, x + 150 * D));
    CHECK(cr_vindex_is_hnsw(vi) && cr_vindex_count(vi) == N - 1);
    int found = 0;
    for (int i = 1; i < N; i++) {
        if (!live[i]) continue;
        CHECK_OK(cr_vindex_search(vi, x + i * D, 1, rid, rsc, &nr));
        found += nr == 1 && rid[0] == ids[i];
    }
    CHECK_MSG(found >= N - 5, "HNSW self-recall %d/%d", found, N - 2);
    /* Recall@10 of HNSW vs brute force for random queries. */
    int agree = 0, total = 0;
    for (int t = 0; t < 20; t++) {
        float qv[D];
        rand_unit(qv, D);
        CHECK_OK(cr_vindex_search(vi, qv, 1, rid, rsc, &nr));
        agree += nr == 1 && rid[0] == brute_top1(x, ids, live, N, D, qv);
        total++;
    }
    CHECK_MSG(agree >= total - 2, "HNSW top-1 agrees %d/%d", agree, total);

    /* Remove from HNSW: rebuilt; below the threshold it becomes flat again. */
    int64_t rm2[120];
    for (int i = 0; i < 120; i++) { rm2[i] = ids[100 + i]; live[100 + i] = 0; }
    CHECK_OK(cr_vindex_remove(vi, 120, rm2, &nrm));
    CHECK(nrm == 120 && cr_vindex_count(vi) == N - 1 - 120);
    CHECK(!cr_vindex_is_hnsw(vi));
    float q0[D];
    rand_unit(q0, D);
    CHECK_OK(cr_vindex_search(vi, q0, 10, rid, rsc, &nr));
    CHECK(nr == 10 && rid[0] == brute_top1(x, ids, live, N, D, q0));
    /* Back over: HNSW again, remove a few → stays HNSW (count >= threshold). */
    CHECK_OK(cr_vindex_add(vi, 120, rm2, x + 100 * D));
    for (int i = 0; i < 120; i++) live[100 + i] = 1;
    CHECK(cr_vindex_is_hnsw(vi));
    CHECK_OK(cr_vindex_remove(vi, 2, rm2, &nrm));
    live[100] = live[101] = 0;
    CHECK(nrm == 2 && cr_vindex_is_hnsw(vi) && cr_vindex_count(vi) == N - 3);
    CHECK_OK(cr_vindex_search(vi, x + 100 * D, 5, rid, rsc, &nr));
    CHECK(nr == 5);
    for (size_t i = 0; i < nr; i++) CHECK(rid[i] != ids[100]);
    /* Tombstones survive save/open; a tombstoned id can be added again. */
    CHECK_OK(cr_vindex_save(vi));
    cr_vindex_close(vi);
    vi = NULL;
    CHECK_OK(cr_vindex_open(path, "hash/1:dim=32", D, &o, &vi));
    if (!vi) return check_done("vindex");
    CHECK(cr_vindex_is_hnsw(vi) && cr_vindex_count(vi) == N - 3);
    CHECK_OK(cr_vindex_search(vi, x + 101 * D, 10, rid, rsc, &nr));
    CHECK(nr == 10);
    for (size_t i = 0; i < nr; i++) CHECK(rid[i] != ids[100] && rid[i] != ids[101]);
    CHECK(cr_vindex_remove(vi, 1, rm2, &nrm) == CC_OK && nrm == 0);   /* already gone */
    CHECK_OK(cr_vindex_add(vi, 1, rm2, x + 100 * D));
    live[100] = 1;
    CHECK(cr_vindex_count(vi) == N - 2 && cr_vindex_is_hnsw(vi));
    CHECK_OK(cr_vindex_search(vi, x + 100 * D, 1, rid, rsc, &nr));
    CHECK(nr == 1 && rid[0] == ids[100]);
    /* k larger than the live count: live ids only, each once (HNSW may not
     * reach every node, so not necessarily all of them). */
    int64_t *all = malloc(400 * sizeof *all);
    float *alls = malloc(400 * sizeof *alls);
    CHECK_OK(cr_vindex_search(vi, x + 101 * D, 400, all, alls, &nr));
    CHECK_MSG(nr <= (size_t)(N - 2) && nr >= (size_t)(N - 2) * 8 / 10, "got %zu", nr);
    int has101 = 0, repeated = 0;
    for (size_t i = 0; i < nr; i++) {
        has101 |= all[i] == ids[101];
        for (size_t j = 0; j < i; j++) repeated |= all[i] == all[j];
    }
    CHECK(!has101 && !repeated);
    free(all);
    free(alls);

    /* Hits form for fusion. */
    cr_hit *hits = NULL;
    size_t nh = 0;
    CHECK_OK(cr_vindex_search_hits(vi, x + 200 * D, 4, &hits, &nh));
    CHECK(nh == 4 && hits[0].chunk_id == ids[200] && hits[0].rank[CR_LANE_VECTOR] == 1 &&
          hits[3].rank[CR_LANE_VECTOR] == 4 && hits[0].rank[CR_LANE_BM25] == 0 &&
          hits[0].score == hits[0].lane_score[CR_LANE_VECTOR]);
    free(hits);

    /* HNSW save / reopen. */
    cr_vindex_set_generation(vi, 42);
    CHECK_OK(cr_vindex_save(vi));
    CHECK_OK(cr_vindex_search(vi, x + 250 * D, 10, before, bsc, &nb));
    cr_vindex_close(vi);
    vi = NULL;
    CHECK_OK(cr_vindex_open(path, "hash/1:dim=32", D, &o, &vi));
    if (vi) {
        CHECK(cr_vindex_is_hnsw(vi) && cr_vindex_generation(vi) == 42);
        CHECK_OK(cr_vindex_search(vi, x + 250 * D, 10, rid, rsc, &nr));
        CHECK(nr == nb && memcmp(rid, before, nb * sizeof *rid) == 0);
        cr_vindex_close(vi);
    }

    /* The stamp (path.ok): written by a save; an open of the unchanged file
     * trusts it, a file written into after the save is verified in full;
     * a stamp that vouches for a damaged file (what the fast path gives up:
     * damage that changes no size, inode or time) is still caught by
     * verify_full, as `cairn check` opens. */
    {
        char sp[600], okp[640], line[256];
        unsigned char h8[8];
        uint64_t sum = 0;
        struct stat s1;
        cr_vindex *sv = NULL;
        snprintf(sp, sizeof sp, "%s.st", path);
        snprintf(okp, sizeof okp, "%s.ok", sp);
        CHECK_OK(cr_vindex_create(sp, "hash/1:dim=32", D, NULL, &sv));
        if (sv) {
            CHECK_OK(cr_vindex_add(sv, 100, ids, x));
            CHECK_OK(cr_vindex_save(sv));
            cr_vindex_close(sv);
        }
        CHECK(access(okp, F_OK) == 0);
        sv = NULL;
        CHECK_OK(cr_vindex_open(sp, "hash/1:dim=32", D, NULL, &sv));
        cr_vindex_close(sv);
        usleep(30 * 1000);                   /* past the save's clock tick */
        CHECK(stat(sp, &s1) == 0);
        FILE *g = fopen(sp, "r+b");
        CHECK(g != NULL);
        if (g) {                             /* a float in the vectors, in place */
            fseeko(g, s1.st_size / 2, SEEK_SET);
            int c = fgetc(g);
            fseeko(g, s1.st_size / 2, SEEK_SET);
            fputc(c ^ 0x10, g);
            fclose(g);
        }
        sv = NULL;
        CHECK(cr_vindex_open(sp, "hash/1:dim=32", D, NULL, &sv) == CC_CORRUPT);
        CHECK(strstr(cc_errmsg(), "checksum") != NULL);
        /* forge the stamp for the damaged file */
        g = fopen(sp, "rb");
        if (g) {
            if (fseeko(g, 48, SEEK_SET) == 0 && fread(h8, 1, 8, g) == 8)
                for (int i = 0; i < 8; i++) sum |= (uint64_t)h8[i] << (8 * i);
            fclose(g);
        }
        CHECK(stat(sp, &s1) == 0);
        snprintf(line, sizeof line, "cairn-vindex-ok 1 %llu %llu %lld %lld %ld %lld %ld %016llx\n",
                 (unsigned long long)s1.st_dev, (unsigned long long)s1.st_ino,
                 (long long)s1.st_size, (long long)s1.st_mtim.tv_sec, (long)s1.st_mtim.tv_nsec,
                 (long long)s1.st_ctim.tv_sec, (long)s1.st_ctim.tv_nsec, (unsigned long long)sum);
        g = fopen(okp, "w");
        if (g) { fputs(line, g); fclose(g); }
        sv = NULL;
        CHECK_OK(cr_vindex_open(sp, "hash/1:dim=32", D, NULL, &sv));   /* trusted */
        cr_vindex_close(sv);
        cr_vindex_opts full = o;
        full.verify_full = 1;
        sv = NULL;
        CHECK(cr_vindex_open(sp, "hash/1:dim=32", D, &full, &sv) == CC_CORRUPT);
        unlink(sp);
        unlink(okp);
    }

    /* Truncated file: CORRUPT (at several lengths, header included). */
    CHECK(stat(path, &st) == 0);
    FILE *in = fopen(path, "rb");
    char *bytes = malloc((size_t)st.st_size);
    CHECK(in && fread(bytes, 1, (size_t)st.st_size, in) == (size_t)st.st_size);
    if (in) fclose(in);
    off_t cuts[5] = { 0, 20, 70, st.st_size / 2, st.st_size - 1 };
    for (int c = 0; c < 5; c++) {
        FILE *out = fopen(other, "wb");
        fwrite(bytes, 1, (size_t)cuts[c], out);
        fclose(out);
        vi = NULL;
        cc_status s = cr_vindex_open(other, "hash/1:dim=32", D, &o, &vi);
        CHECK_MSG(s == CC_CORRUPT, "cut at %lld: %s", (long long)cuts[c], cc_status_str(s));
        CHECK(vi == NULL);
    }
    /* Payload bytes garbled (length intact): CORRUPT, no crash. */
    {
        char *g = malloc((size_t)st.st_size);
        memcpy(g, bytes, (size_t)st.st_size);
        for (off_t i = 64 + 13; i < 64 + 13 + 64 && i < st.st_size - 8; i++) g[i] = (char)0xff;
        FILE *out = fopen(other, "wb");
        fwrite(g, 1, (size_t)st.st_size, out);
        fclose(out);
        vi = NULL;
        cc_status s = cr_vindex_open(other, "hash/1:dim=32", D, &o, &vi);
        CHECK_MSG(s == CC_CORRUPT, "garbled: %s", cc_status_str(s));
        cr_vindex_close(vi);
        free(g);
    }
    /* One flipped bit deep in the vectors: caught by the checksum. */
    {
        char *g = malloc((size_t)st.st_size);
        memcpy(g, bytes, (size_t)st.st_size);
        g[st.st_size / 2] ^= 0x10;
        FILE *out = fopen(other, "wb");
        fwrite(g, 1, (size_t)st.st_size, out);
        fclose(out);
        vi = NULL;
        cc_status s = cr_vindex_open(other, "hash/1:dim=32", D, &o, &vi);
        CHECK_MSG(s == CC_CORRUPT, "bit flip: %s", cc_status_str(s));
        CHECK(strstr(cc_errmsg(), "checksum") != NULL);
        cr_vindex_close(vi);
        free(g);
    }
    /* Newer format version: CC_VERSION. */
    {
        bytes[8] = 9;
        FILE *out = fopen(other, "wb");
        fwrite(bytes, 1, (size_t)st.st_size, out);
        fclose(out);
        vi = NULL;
        CHECK(cr_vindex_open(other, "hash/1:dim=32", D, &o, &vi) == CC_VERSION);
    }
    free(bytes);
    unlink(other);
    unlink(path);
    {
        char okp[600];
        snprintf(okp, sizeof okp, "%s.ok", path);
        unlink(okp);
    }

    /* Embedder + index together: hash vectors of texts, the right text is found. */
    cr_embedder *e = NULL;
    CHECK_OK(cr_embedder_open("hash", NULL, &e));
    if (e) {
        const char *docs[4] = { "FAISS is a library for vector similarity search",
                                "SQLite FTS5 provides BM25 full text ranking",
                                "Reciprocal rank fusion combines ranked lists",
                                "Banana bread needs ripe bananas" };
        int d = cr_embedder_dim(e);
        float *dv = malloc(4 * (size_t)d * sizeof *dv), *qv = malloc((size_t)d * sizeof *qv);
        CHECK_OK(cr_embedder_embed(e, docs, NULL, 4, dv));
        int64_t did[4] = { 1, 2, 3, 4 };
        cr_vindex *tv = NULL;
        CHECK_OK(cr_vindex_create(path, cr_embedder_identity(e), d, NULL, &tv));
        if (tv) {
            CHECK_OK(cr_vindex_add(tv, 4, did, dv));
            const char *qt[1] = { "rank fusion of lists" };
            CHECK_OK(cr_embedder_embed(e, qt, NULL, 1, qv));
            CHECK_OK(cr_vindex_search(tv, qv, 2, rid, rsc, &nr));
            CHECK(nr == 2 && rid[0] == 3);
            cr_vindex_close(tv);
        }
        free(dv); free(qv);
        cr_embedder_close(e);
    }
    free(x);
    return check_done("vindex");
}
