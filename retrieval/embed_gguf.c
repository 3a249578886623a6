/*
 * embed_gguf.c — the "gguf" embedder: a transformer embedding model (BERT
 * family, or a decoder whose metadata names a pooling) run by llm/'s
 * cl_embed. Identity "gguf/1:<arch>:dim=<d>:pool=<p>:ctx=<max tokens>:sha256=<file hash>",
 * so an index made with another model file (even one of the same shape) is
 * refused. The file hash is computed once per process for a given file
 * (device, inode, size, mtime).
 */
#include "retrieval.h"
#include "llm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_EMBEDDER_VERSION 1

typedef struct gguf_ctx {
    cl_embed *model;
    int       dim;
    char      identity[256];
} gguf_ctx;

/* ---------------------------------------------------------------- file hash */

typedef struct hash_entry {
    dev_t dev; ino_t ino; off_t size; struct timespec mtime;
    char hex[65];
} hash_entry;

static pthread_mutex_t hash_mu = PTHREAD_MUTEX_INITIALIZER;
static hash_entry hash_cache[8];
static size_t hash_next;

static int same_file(const hash_entry *h, const struct stat *st)
{
    return h->hex[0] && h->dev == st->st_dev && h->ino == st->st_ino && h->size == st->st_size &&
           h->mtime.tv_sec == st->st_mtim.tv_sec && h->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static cc_status file_sha256(const char *path, char hex[65])
{
    struct stat st;
    cc_sha256 c;
    uint8_t dig[32];
    static char buf[1 << 16];   /* used under hash_mu */
    ssize_t got;
    size_t i;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cc_seterr(CC_IO, "cannot open model %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        close(fd);
        return cc_seterr(CC_IO, "cannot stat model %s: %s", path, strerror(errno));
    }
    pthread_mutex_lock(&hash_mu);
    for (i = 0; i < sizeof hash_cache / sizeof *hash_cache; i++)
        if (same_file(&hash_cache[i], &st)) {
            memcpy(hex, hash_cache[i].hex, 65);
            pthread_mutex_unlock(&hash_mu);
            close(fd);
            return CC_OK;
        }
    cc_sha256_init(&c);
    while ((got = read(fd, buf, sizeof buf)) > 0) cc_sha256_update(&c, buf, (size_t)got);
    close(fd);
    if (got < 0) {
        pthread_mutex_unlock(&hash_mu);
        return cc_seterr(CC_IO, "cannot read model %s: %s", path, strerror(errno));
    }
    cc_sha256_final(&c, dig);
    for (i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", dig[i]);
    {
        hash_entry *h = &hash_cache[hash_next++ % (sizeof hash_cache / sizeof *hash_cache)];
        h->dev = st.st_dev;
        h->ino = st.st_ino;
        h->size = st.st_size;
        h->mtime = st.st_mtim;
        memcpy(h->hex, hex, 65);
    }
    pthread_mutex_unlock(&hash_mu);
    return CC_OK;
}

/* ---------------------------------------------------------------- backend */

static cc_status gguf_embed(void *ctx, const char *const *texts, const size_t *lens, size_t n,
                            float *out)
{
    gguf_ctx *c = ctx;
    cl_status s = cl_embed_texts(c->model, texts, lens, n, out);
    if (s == CL_OK) return CC_OK;
    return cc_seterr(s == CL_ERR_NOMEM ? CC_NOMEM : CC_INVALID, "gguf embedder: %s", cl_errmsg());
}

static int gguf_dim(void *ctx) { return ((gguf_ctx *)ctx)->dim; }
static const char *gguf_identity(void *ctx) { return ((gguf_ctx *)ctx)->identity; }

static void gguf_free(void *ctx)
{
    gguf_ctx *c = ctx;
    if (!c) return;
    cl_embed_free(c->model);
    free(c);
}

static const cr_embedder_iface gguf_iface = {
    .version  = CR_EMBEDDER_API_VERSION,
    .name     = "gguf",
    .embed    = gguf_embed,
    .dim      = gguf_dim,
    .identity = gguf_identity,
    .free_ctx = gguf_free,
};

cc_status cr_gguf_embedder_ctx(const cr_embedder_opts *opts,
                               const cr_embedder_iface **iface, void **ctx);

cc_status cr_gguf_embedder_ctx(const cr_embedder_opts *opts,
                               const cr_embedder_iface **iface, void **ctx)
{
    const char *path = opts ? opts->model_path : NULL;
    const cl_embed_info *I;
    char hex[65];
    cc_status s;
    gguf_ctx *c;
    if (!path || !*path)
        return cc_seterr(CC_INVALID, "embedder 'gguf' needs a model file "
                         "(cairn reindex KB --embedder gguf:/path/model.gguf, or embedder.model)");
    if ((s = file_sha256(path, hex))) return s;
    if (!(c = calloc(1, sizeof *c))) return cc_seterr(CC_NOMEM, "out of memory (gguf embedder)");
    cl_embed_params P = {CL_POOL_UNSET, opts->max_tokens > 0 ? (uint32_t)opts->max_tokens : 0, opts->threads};
    if (P.n_threads <= 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        P.n_threads = ncpu < 1 ? 1 : ncpu > 16 ? 16 : (int)ncpu;
    }
    if (cl_embed_open(path, &P, &c->model) != CL_OK) {
        free(c);
        return cc_seterr(CC_INVALID, "%s", cl_errmsg());
    }
    I = cl_embed_get_info(c->model);
    c->dim = (int)I->dim;
    snprintf(c->identity, sizeof c->identity, "gguf/%d:%s:dim=%u:pool=%s:ctx=%u:sha256=%s",
             GGUF_EMBEDDER_VERSION, I->arch, I->dim, cl_pooling_name(I->pooling), I->n_ctx, hex);
    *iface = &gguf_iface;
    *ctx = c;
    return CC_OK;
}
