/* bench_embed.c — embedding throughput (chunks/s) of the retrieval embedders
 * on the same synthetic chunks, in batches (256 as ingestion embeds them; 16 for gguf models, which
 * split batches into 4096-token passes anyway):
 * the `hash` embedder (baseline, measured in the same run) and the `gguf`
 * embedder on BERT models written with cl_make_tiny_bert: the tiny test
 * shape (64 dims, 2 layers, 128 positions) and a MiniLM-L6 shape (384 dims,
 * 6 layers, 12 heads, ffn 1536, 512 positions), F32 and Q8_0, random weights
 * and the bge WordPiece vocabulary when ../shared is present.
 *
 * Usage: bench_embed [seconds per embedder = 3] [words per chunk = 200]
 * Env: CAIRN_SHARED (default ../shared), TMPDIR. */
#include "llm.h"
#include "retrieval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 256
/* the gguf embedder runs forward passes of at most 4096 tokens whatever the
 * batch, so a smaller batch measures the same rate with less waiting */
#define GGUF_BATCH 16

static const char *words[] = {
    "the", "river", "city", "harbour", "company", "report", "annual", "water", "music", "school", "of", "and",
    "in", "was", "signed", "contract", "with", "north", "south", "bridge", "engineers", "built", "a", "new",
    "station", "near", "market", "council", "voted", "for", "funding", "research", "ship", "sensor", "data",
    "storm", "season", "museum", "opened", "2019", "population", "grew", "by", "percent", "while", "trade",
    "fell", "after", "war", "king", "light", "house", "people", "book", "time", "year", "graph", "model",
};
#define N_WORDS (sizeof words / sizeof *words)

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_embed: %s: %s\n", what, msg);
    exit(1);
}

/* Embeds chunks in batches for at least `secs` seconds (at least one batch);
 * returns chunks/s. */
static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* ... and *cpu_rate: chunks per CPU second of this process (the machine is
 * shared, so wall time overstates the cost). */
static double run(cr_embedder *e, char **texts, size_t n, double secs, size_t batch, size_t *done_out,
                  double *cpu_rate)
{
    size_t dim = (size_t)cr_embedder_dim(e), done = 0;
    float *out = malloc(BATCH * dim * sizeof *out);
    double t0 = cc_now_ms(), c0 = cpu_s(), el;
    if (!out) die("malloc", "out of memory");
    do {
        size_t off = done % n, m = n - off < batch ? n - off : batch;
        if (cr_embedder_embed(e, (const char *const *)texts + off, NULL, m, out) != CC_OK)
            die("embed", cr_embedder_errmsg(e));
        done += m;
        el = (cc_now_ms() - t0) / 1e3;
    } while (el < secs);
    free(out);
    *done_out = done;
    *cpu_rate = done / (cpu_s() - c0);
    return done / el;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? strtod(argv[1], NULL) : 3.0;
    long n_words = argc > 2 ? strtol(argv[2], NULL, 10) : 200;
    const char *shared = getenv("CAIRN_SHARED") ? getenv("CAIRN_SHARED") : "../shared";
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char vocab[1024], path[1024];
    size_t n = 512, i, done;
    char **texts = malloc(n * sizeof *texts);
    uint64_t r = 42;
    struct { const char *name; uint32_t embd, layers, heads, ff, ctx; int type, threads; } models[] = {
        {"tiny bert f32 (64d, 2 layers)", 64, 2, 4, 128, 128, CL_TYPE_F32, 1},
        {"tiny bert q8_0", 64, 2, 4, 128, 128, CL_TYPE_Q8_0, 1},
        {"MiniLM-L6 shape f32 (384d, 6 layers)", 384, 6, 12, 1536, 512, CL_TYPE_F32, 1},
        {"MiniLM-L6 shape q8_0", 384, 6, 12, 1536, 512, CL_TYPE_Q8_0, 1},
        {"MiniLM-L6 shape q8_0, 2 threads", 384, 6, 12, 1536, 512, CL_TYPE_Q8_0, 2},
    };
    cr_embedder *e;
    double hash_rate, wall;
    if (!(secs > 0 && secs < 3600) || n_words < 1 || n_words > 100000 || !texts)
        die("usage", "bench_embed [seconds] [words per chunk]");
    snprintf(vocab, sizeof vocab, "%s/vocab/ggml-vocab-bert-bge.gguf", shared);
    if (access(vocab, R_OK)) vocab[0] = 0;
    for (i = 0; i < n; i++) { /* synthetic chunks: n_words words from a fixed list */
        cc_buf b = CC_BUF_INIT(0);
        long w;
        for (w = 0; w < n_words; w++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            cc_buf_printf(&b, "%s%s", w ? (w % 17 == 16 ? ". " : " ") : "", words[(r >> 33) % N_WORDS]);
        }
        texts[i] = b.data;
    }
    printf("embedding throughput, %ld-word chunks, >= %g s each, 1 thread unless said, %s kernel\n", n_words, secs,
           getenv("CAIRN_LLM_PORTABLE") ? "portable C" : "AVX2+FMA when available");
    printf("vocabulary: %s\n\n", vocab[0] ? vocab : "built-in WordPiece (../shared absent)");
    printf("| embedder | chunks/s (wall) | chunks per CPU-s | x hash (CPU) | chunks timed |\n"
           "|---|---|---|---|---|\n");
    if (cr_embedder_open("hash", NULL, &e) != CC_OK) die("hash", cc_errmsg());
    wall = run(e, texts, n, secs, BATCH, &done, &hash_rate);
    printf("| hash (384 dims) | %.1f | %.1f | 1 | %zu |\n", wall, hash_rate, done);
    fflush(stdout);
    cr_embedder_close(e);
    for (i = 0; i < sizeof models / sizeof *models; i++) {
        cl_tiny_bert_opts o;
        cr_embedder_opts eo;
        double rate, cpu;
        memset(&o, 0, sizeof o);
        o.type = models[i].type;
        o.seed = 1;
        o.pooling = CL_POOL_MEAN;
        o.n_embd = models[i].embd;
        o.n_layer = models[i].layers;
        o.n_head = models[i].heads;
        o.n_ff = models[i].ff;
        o.n_ctx = models[i].ctx;
        o.vocab_path = vocab[0] ? vocab : NULL;
        snprintf(path, sizeof path, "%s/bench_embed.%d.gguf", tmp, (int)getpid());
        if (cl_make_tiny_bert(&o, path) != CL_OK) die("make-tiny", cl_errmsg());
        memset(&eo, 0, sizeof eo);
        eo.model_path = path;
        eo.threads = models[i].threads;
        if (cr_embedder_open("gguf", &eo, &e) != CC_OK) die("gguf", cc_errmsg());
        rate = run(e, texts, n, secs, GGUF_BATCH, &done, &cpu);
        printf("| gguf: %s | %.2f | %.2f | %.5f | %zu |\n", models[i].name, rate, cpu, cpu / hash_rate, done);
        fflush(stdout);
        cr_embedder_close(e);
        unlink(path);
    }
    for (i = 0; i < n; i++) free(texts[i]);
    free(texts);
    return 0;
}
