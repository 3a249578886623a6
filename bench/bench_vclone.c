/* bench_vclone.c — the readers' copy of the vector index under a writer,
 * as the API's writer makes it at every vector catch-up: ADDS vectors
 * inserted into the writer's index, then copied into the older of two
 * spare copies (cr_vindex_clone_into: the tail only while the source has
 * only grown), ROUNDS times. Prints the copy's thread CPU and wall time
 * (median, min, max) and how many vectors the tail copies kept.
 *
 * usage: bench_vclone KB [ROUNDS] [ADDS]   (KB with an HNSW vectors.faiss;
 * only read: the index is loaded into memory and changed there) */
#include "retrieval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *what, const char *msg) { fprintf(stderr, "%s: %s\n", what, msg); exit(1); }

static double thread_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) die("usage", "bench_vclone KB [ROUNDS] [ADDS]");
    int rounds = argc > 2 ? atoi(argv[2]) : 20, adds = argc > 3 ? atoi(argv[3]) : 30;
    if (rounds < 1 || rounds > 1000 || adds < 1 || adds > 10000) die("usage", "ROUNDS 1-1000, ADDS 1-10000");
    cc_kb *kb;
    cr_embedder *e;
    cc_buf path = CC_BUF_INIT(0);
    if (cc_kb_open(argv[1], CC_KB_READ, &kb) != CC_OK) die(argv[1], cc_errmsg());
    if (cr_embedder_from_kb(kb, &e) != CC_OK) die("embedder", cc_kb_errmsg(kb));
    if (cc_kb_path(kb, "vectors.faiss", &path)) die("path", "out of memory");
    int d = cr_embedder_dim(e);
    cr_vindex_opts vo;
    memset(&vo, 0, sizeof vo);
    cr_vindex *src, *cp[2] = {NULL, NULL};
    cr_vindex_huge_pages(1);   /* as the server */
    if (cr_vindex_open(path.data, cr_embedder_identity(e), d, &vo, &src) != CC_OK)
        die("vectors.faiss", cc_errmsg());
    if (!cr_vindex_is_hnsw(src)) die("vectors.faiss", "not HNSW");
    if (cr_vindex_clone(src, &cp[0]) != CC_OK || cr_vindex_clone(src, &cp[1]) != CC_OK)
        die("clone", cr_vindex_errmsg(src));

    float *x = malloc((size_t)adds * d * sizeof *x);
    int64_t *ids = malloc((size_t)adds * sizeof *ids);
    double *cpu = malloc((size_t)rounds * sizeof *cpu), *wall = malloc((size_t)rounds * sizeof *wall);
    if (!x || !ids || !cpu || !wall) die("alloc", "out of memory");
    srand(7);
    int64_t next = (int64_t)1 << 40, kept = 0;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < adds; i++) {
            float n = 0;
            for (int j = 0; j < d; j++) {
                x[(size_t)i * d + j] = (float)rand() / RAND_MAX - 0.5f;
                n += x[(size_t)i * d + j] * x[(size_t)i * d + j];
            }
            for (int j = 0; j < d; j++) x[(size_t)i * d + j] /= sqrtf(n);
            ids[i] = next++;
        }
        if (cr_vindex_add(src, (size_t)adds, ids, x) != CC_OK) die("add", cr_vindex_errmsg(src));
        cr_vindex *dst = cp[r % 2];   /* the older copy, as the server's handoff */
        double c0 = thread_ms(), w0 = cc_now_ms();
        if (cr_vindex_clone_into(src, dst) != CC_OK) die("clone_into", cr_vindex_errmsg(src));
        cpu[r] = thread_ms() - c0;
        wall[r] = cc_now_ms() - w0;
        kept += cr_vindex_copy_kept(dst) > 0;
    }
    qsort(cpu, (size_t)rounds, sizeof *cpu, cmp_d);
    qsort(wall, (size_t)rounds, sizeof *wall, cmp_d);
    printf("%lld vectors, %d rounds of %d adds: copy CPU ms median %.2f (min %.2f, max %.2f), "
           "wall ms median %.2f; tail copies %lld of %d\n",
           (long long)cr_vindex_count(src), rounds, adds, cpu[rounds / 2], cpu[0], cpu[rounds - 1],
           wall[rounds / 2], (long long)kept, rounds);
    cr_vindex_close(cp[0]);
    cr_vindex_close(cp[1]);
    cr_vindex_close(src);
    cr_embedder_close(e);
    cc_buf_free(&path);
    cc_kb_close(kb);
    free(x); free(ids); free(cpu); free(wall);
    return 0;
}
