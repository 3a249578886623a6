/*
 * embed.c — the embedder handle: a backend table (cr_embedder_iface) plus
 * its context, the cr_embedder_* wrappers, and cr_embedder_open, which
 * picks a backend by name.
 */
#include "retrieval.h"

#include <stdarg.h>
#include <string.h>

struct cr_embedder {
    const cr_embedder_iface *iface;
    void                    *ctx;
    cc_buf                   err;
    char                    *query_prefix, *doc_prefix;  /* NULL: none */
    cc_buf                   ident;   /* iface identity + prefixes, when any */
};

#define PREFIX_MAX_BYTES 256

/* ---------------------------------------------------------------- registry */

/* Defined in embed_hash.c. */
cc_status cr_hash_embedder_ctx(const cr_embedder_opts *opts,
                               const cr_embedder_iface **iface, void **ctx);
/* Defined in embed_gguf.c. */
cc_status cr_gguf_embedder_ctx(const cr_embedder_opts *opts,
                               const cr_embedder_iface **iface, void **ctx);

typedef cc_status (*embedder_ctor)(const cr_embedder_opts *opts,
                                   const cr_embedder_iface **iface, void **ctx);

static const struct {
    const char   *name;
    embedder_ctor ctor;   /* NULL: known but not in this build */
} backends[] = {
    { "hash", cr_hash_embedder_ctx },
    { "gguf", cr_gguf_embedder_ctx },
};

cc_status cr_embedder_open(const char *name, const cr_embedder_opts *opts,
                           cr_embedder **out)
{
    C_ASSERT(out);
    *out = NULL;
    if (!name || !*name)
        return cc_seterr(CC_INVALID, "no embedder named (known: hash, gguf)");
    if (!strncmp(name, "gguf:", 5)) {   /* "gguf:/path/model.gguf" */
        cr_embedder_opts o = {0};
        if (opts) o = *opts;
        o.model_path = name + 5;
        return cr_embedder_open("gguf", &o, out);
    }
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        if (strcmp(name, backends[i].name)) continue;
        if (!backends[i].ctor)
            return cc_seterr(CC_UNSUPPORTED,
                             "embedder '%s' is not available in this build (use 'hash')", name);
        const cr_embedder_iface *iface = NULL;
        void *ctx = NULL;
        const char *qp = opts && opts->query_prefix && *opts->query_prefix ? opts->query_prefix : NULL;
        const char *dp = opts && opts->doc_prefix && *opts->doc_prefix ? opts->doc_prefix : NULL;
        if ((qp && strlen(qp) > PREFIX_MAX_BYTES) || (dp && strlen(dp) > PREFIX_MAX_BYTES))
            return cc_seterr(CC_INVALID, "embedder query/document prefixes are limited to %d bytes",
                             PREFIX_MAX_BYTES);
        cc_status s = backends[i].ctor(opts, &iface, &ctx);
        if (s != CC_OK) return s;
        if ((s = cr_embedder_new(iface, ctx, out))) return s;
        if (qp || dp) {   /* prefixes change the vectors: they are part of the identity */
            cr_embedder *e = *out;
            cc_buf_init(&e->ident, 4096);
            if ((qp && !(e->query_prefix = cc_strdup(qp))) || (dp && !(e->doc_prefix = cc_strdup(dp))) ||
                cc_buf_printf(&e->ident, "%s:qp=", iface->identity(ctx)) ||
                cc_buf_json_str(&e->ident, qp ? qp : "", qp ? strlen(qp) : 0) ||
                cc_buf_puts(&e->ident, ":dp=") || cc_buf_json_str(&e->ident, dp ? dp : "", dp ? strlen(dp) : 0)) {
                cr_embedder_close(e);
                *out = NULL;
                return cc_seterr(CC_NOMEM, "out of memory opening embedder");
            }
        }
        return CC_OK;
    }
    return cc_seterr(CC_INVALID, "unknown embedder '%s' (known: hash, gguf)", name);
}

/* ---------------------------------------------------------------- handle */

cc_status cr_embedder_new(const cr_embedder_iface *iface, void *ctx, cr_embedder **out)
{
    C_ASSERT(iface && out);
    *out = NULL;
    if (iface->version != CR_EMBEDDER_API_VERSION || !iface->embed || !iface->dim ||
        !iface->identity || !iface->free_ctx) {
        if (iface->free_ctx) iface->free_ctx(ctx);
        return cc_seterr(CC_UNSUPPORTED,
                         "embedder '%s' has interface version %d, this build needs %d",
                         iface->name ? iface->name : "?", iface->version,
                         CR_EMBEDDER_API_VERSION);
    }
    cr_embedder *e = calloc(1, sizeof *e);
    if (!e) {
        iface->free_ctx(ctx);
        return cc_seterr(CC_NOMEM, "out of memory opening embedder");
    }
    e->iface = iface;
    e->ctx = ctx;
    cc_buf_init(&e->err, 4096);
    *out = e;
    return CC_OK;
}

void cr_embedder_close(cr_embedder *e)
{
    if (!e) return;
    e->iface->free_ctx(e->ctx);
    cc_buf_free(&e->err);
    cc_buf_free(&e->ident);
    free(e->query_prefix);
    free(e->doc_prefix);
    free(e);
}

int cr_embedder_dim(const cr_embedder *e) { return e->iface->dim(e->ctx); }
const char *cr_embedder_identity(const cr_embedder *e)
{
    return e->ident.len ? e->ident.data : e->iface->identity(e->ctx);
}
const char *cr_embedder_name(const cr_embedder *e) { return e->iface->name; }

const char *cr_embedder_errmsg(const cr_embedder *e)
{
    return e && e->err.data ? e->err.data : "";
}

cc_status cr_embedder_seterr(cr_embedder *e, cc_status s, const char *fmt, ...)
{
    va_list ap;
    cc_buf_reset(&e->err);
    va_start(ap, fmt);
    cc_buf_vprintf(&e->err, fmt, ap);
    va_end(ap);
    return s;
}

/* The backend call, with `prefix` (NULL: none) put before every text. */
static cc_status embed_prefixed(cr_embedder *e, const char *prefix, const char *const *texts,
                                const size_t *lens, size_t n, float *out)
{
    char **joined = NULL;
    size_t *jl = NULL, pl = prefix ? strlen(prefix) : 0;
    cc_status s;
    cc_buf_reset(&e->err);
    if (prefix) {
        joined = calloc(n, sizeof *joined);
        jl = malloc(n * sizeof *jl);
        if (!joined || !jl) { s = cr_embedder_seterr(e, CC_NOMEM, "out of memory embedding %zu texts", n); goto out; }
        for (size_t i = 0; i < n; i++) {
            if (!(joined[i] = malloc(pl + lens[i] + 1))) {
                s = cr_embedder_seterr(e, CC_NOMEM, "out of memory embedding %zu texts", n);
                goto out;
            }
            memcpy(joined[i], prefix, pl);
            memcpy(joined[i] + pl, texts[i], lens[i]);
            joined[i][pl + lens[i]] = 0;
            jl[i] = pl + lens[i];
        }
        texts = (const char *const *)joined;
        lens = jl;
    }
    s = e->iface->embed(e->ctx, texts, lens, n, out);
    if (s != CC_OK && !e->err.len)
        cr_embedder_seterr(e, s, "embedder '%s' failed: %s", e->iface->name, cc_errmsg());
out:
    if (joined)
        for (size_t i = 0; i < n; i++) free(joined[i]);
    free(joined);
    free(jl);
    return s;
}

cc_status cr_embedder_embed(cr_embedder *e, const char *const *texts,
                            const size_t *lens, size_t n, float *out)
{
    C_ASSERT(e && (n == 0 || (texts && out)));
    if (n == 0) return CC_OK;
    for (size_t i = 0; i < n; i++)
        if (!texts[i]) return cr_embedder_seterr(e, CC_INVALID, "text %zu is NULL", i);
    size_t *tmp = NULL;
    if (!lens) {
        tmp = malloc(n * sizeof *tmp);
        if (!tmp) return cr_embedder_seterr(e, CC_NOMEM, "out of memory embedding %zu texts", n);
        for (size_t i = 0; i < n; i++) tmp[i] = strlen(texts[i]);
        lens = tmp;
    }
    cc_status s = embed_prefixed(e, e->doc_prefix, texts, lens, n, out);
    free(tmp);
    return s;
}

cc_status cr_embedder_embed_query(cr_embedder *e, const char *text, size_t len, float *out)
{
    C_ASSERT(e && text && out);
    return embed_prefixed(e, e->query_prefix, &text, &len, 1, out);
}
