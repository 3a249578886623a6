/* embed.c — the embedding handle (cl_embed): a BERT encoder (bert.c) or a
 * decoder (model.c) pooled over its final normed hidden states, chosen by
 * general.architecture; tokenisation, truncation, pooling from metadata. */
#include "llm_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DECODER_MAX_CTX 2048
#define BATCH_TOKENS 4096 /* tokens per BERT forward pass */

struct cl_embed {
    cl_embed_info info;
    cl_gguf *g;          /* BERT: the mapping the encoder reads */
    cl_bert *bert;
    cl_tokenizer *tok;   /* BERT's; a decoder's belongs to the model */
    cl_model *dec;
    float *hid;          /* decoder: n_embd */
};

static const char *const pool_names[] = {"none", "mean", "cls", "last"};

const char *cl_pooling_name(int pooling)
{
    return pooling >= 0 && pooling <= CL_POOL_LAST ? pool_names[pooling] : NULL;
}

int cl_pooling_from_name(const char *name)
{
    int i;
    for (i = 0; i <= CL_POOL_LAST; i++)
        if (!strcmp(name, pool_names[i])) return i;
    return -1;
}

void cl_embed_free(cl_embed *e)
{
    if (!e) return;
    cl_bert_free(e->bert);
    cl_tokenizer_free(e->tok);
    cl_gguf_close(e->g);
    cl_model_free(e->dec);
    free(e->hid);
    free(e);
}

static cl_status check_pooling(const char *path, int p)
{
    if (p == CL_POOL_MEAN || p == CL_POOL_CLS || p == CL_POOL_LAST) return CL_OK;
    if (p == CL_POOL_NONE)
        return cl_err(CL_ERR_UNSUPPORTED, "embed: %s has pooling type none (token embeddings, not one vector per "
                      "text); give a pooling (mean, cls, last)", path);
    return cl_err(CL_ERR_UNSUPPORTED, "embed: %s has pooling type %d, which is not supported (mean, cls, last are)",
                  path, p);
}

cl_status cl_embed_open(const char *path, const cl_embed_params *params, cl_embed **out)
{
    cl_embed_params P = {CL_POOL_UNSET, 0, 1};
    cl_embed *e;
    cl_embed_info *I;
    const char *arch;
    size_t alen;
    cl_status s;
    *out = NULL;
    if (params) P = *params;
    if (!(e = calloc(1, sizeof *e))) return cl_err(CL_ERR_NOMEM, "embed: out of memory");
    I = &e->info;
    if ((s = cl_gguf_open(path, &e->g))) goto fail;
    if ((s = cl_gguf_get_str(e->g, "general.architecture", &arch, &alen))) {
        s = cl_err(s, "embed: %s: general.architecture: %s", path, cl_errmsg());
        goto fail;
    }
    snprintf(I->arch, sizeof I->arch, "%s", arch);
    if (!strcmp(arch, "bert")) {
        const cl_bert_hparams *H;
        if ((s = cl_bert_new(e->g, P.n_threads, &e->bert))) {
            s = cl_err(s, "embed: %s: %s", path, cl_errmsg());
            goto fail;
        }
        if ((s = cl_tokenizer_new(e->g, &e->tok))) {
            s = cl_err(s, "embed: %s: %s", path, cl_errmsg());
            goto fail;
        }
        H = cl_bert_get_hparams(e->bert);
        if (cl_tokenizer_n_vocab(e->tok) > (int32_t)H->n_vocab) {
            s = cl_err(CL_ERR_FORMAT, "embed: %s: token_embd.weight has %u rows for a vocabulary of %d", path,
                       H->n_vocab, cl_tokenizer_n_vocab(e->tok));
            goto fail;
        }
        I->dim = H->n_embd;
        I->pooling = P.pooling == CL_POOL_UNSET ? H->pooling : P.pooling;
        I->n_ctx = P.n_ctx && P.n_ctx < H->n_ctx_train ? P.n_ctx : H->n_ctx_train;
        I->n_layer = H->n_layer;
        I->n_head = H->n_head;
        I->n_ff = H->n_ff;
        I->n_vocab = H->n_vocab;
    } else if (!strcmp(arch, "llama") || !strcmp(arch, "qwen2") || !strcmp(arch, "qwen3")) {
        char key[64];
        uint32_t pool = 0;
        const cl_model_info *M;
        snprintf(key, sizeof key, "%s.pooling_type", arch);
        s = cl_gguf_get_u32(e->g, key, &pool);
        if (s == CL_ERR_NOTFOUND && P.pooling == CL_POOL_UNSET) {
            s = cl_err(CL_ERR_UNSUPPORTED, "embed: %s is a %s decoder without %s: a text-generation model, not an "
                       "embedding model (give a pooling, e.g. last, to embed with it anyway)", path, arch, key);
            goto fail;
        }
        if (s && s != CL_ERR_NOTFOUND) {
            s = cl_err(s, "embed: %s: %s: %s", path, key, cl_errmsg());
            goto fail;
        }
        I->pooling = P.pooling == CL_POOL_UNSET ? (int)pool : P.pooling;
        cl_gguf_close(e->g);
        e->g = NULL;
        if ((s = check_pooling(path, I->pooling))) goto fail;
        if ((s = cl_model_open(path, P.n_ctx ? P.n_ctx : DECODER_MAX_CTX, &e->dec))) goto fail;
        M = cl_model_get_info(e->dec);
        I->dim = M->n_embd;
        I->n_ctx = M->n_ctx;
        I->n_layer = M->n_layer;
        I->n_head = M->n_head;
        I->n_ff = M->n_ff;
        I->n_vocab = M->n_vocab;
        I->is_decoder = 1;
        if (!(e->hid = malloc(I->dim * sizeof(float)))) {
            s = cl_err(CL_ERR_NOMEM, "embed: out of memory");
            goto fail;
        }
    } else {
        s = cl_err(CL_ERR_UNSUPPORTED, "embed: %s has architecture '%s', which is not an embedding model this "
                   "build runs (bert; llama, qwen2, qwen3 with a pooling type)", path, arch);
        goto fail;
    }
    if ((s = check_pooling(path, I->pooling))) goto fail;
    *out = e;
    return CL_OK;
fail:
    cl_embed_free(e);
    return s;
}

const cl_embed_info *cl_embed_get_info(const cl_embed *e) { return &e->info; }
const cl_tokenizer *cl_embed_tokenizer(const cl_embed *e) { return e->dec ? cl_model_tokenizer(e->dec) : e->tok; }

/* One text through the decoder, pooling the final normed states. */
static cl_status decoder_embed(cl_embed *e, const cl_token *toks, size_t n, float *out)
{
    size_t d = e->info.dim, t, i;
    cl_status s;
    memset(out, 0, d * sizeof(float));
    if (!n) return CL_OK;
    for (t = 0; t < n; t++) {
        if ((s = cl_model_eval(e->dec, toks[t], (uint32_t)t, NULL))) return s;
        if (e->info.pooling == CL_POOL_MEAN) {
            cl_model_hidden(e->dec, e->hid);
            for (i = 0; i < d; i++) out[i] += e->hid[i];
        } else if (e->info.pooling == CL_POOL_CLS && t == 0) {
            cl_model_hidden(e->dec, out);
        }
    }
    if (e->info.pooling == CL_POOL_MEAN)
        for (i = 0; i < d; i++) out[i] /= (float)n;
    else if (e->info.pooling == CL_POOL_LAST)
        cl_model_hidden(e->dec, out);
    cl_l2_normalize(out, d);
    return CL_OK;
}

cl_status cl_embed_tokens(cl_embed *e, const cl_token *const *toks, const size_t *n_toks, size_t n, float *out)
{
    size_t i;
    cl_status s;
    for (i = 0; i < n; i++)
        if (n_toks[i] > e->info.n_ctx)
            return cl_err(CL_ERR_RANGE, "embed: text %zu has %zu tokens, more than the context (%u)", i, n_toks[i],
                          e->info.n_ctx);
    if (e->bert) return cl_bert_encode(e->bert, toks, n_toks, n, e->info.pooling, out);
    for (i = 0; i < n; i++)
        if ((s = decoder_embed(e, toks[i], n_toks[i], out + i * e->info.dim))) return s;
    return CL_OK;
}

cl_status cl_embed_texts(cl_embed *e, const char *const *texts, const size_t *lens, size_t n, float *out)
{
    cl_token **ids;
    size_t *nt, i;
    cl_status s = CL_OK;
    if (!n) return CL_OK;
    ids = calloc(n, sizeof *ids);
    nt = calloc(n, sizeof *nt);
    if (!ids || !nt) {
        s = cl_err(CL_ERR_NOMEM, "embed: out of memory");
        goto out;
    }
    for (i = 0; i < n && !s; i++) {
        size_t len = lens ? lens[i] : strlen(texts[i]);
        if ((s = cl_tokenize(cl_embed_tokenizer(e), texts[i], len, 1, 0, &ids[i], &nt[i]))) break;
        if (nt[i] > e->info.n_ctx) { /* cut, keeping the final token ([SEP], EOS) */
            ids[i][e->info.n_ctx - 1] = ids[i][nt[i] - 1];
            nt[i] = e->info.n_ctx;
        }
    }
    /* forward passes of at most BATCH_TOKENS tokens (or one longer text),
     * so memory stays bounded whatever the number of texts */
    for (i = 0; i < n && !s;) {
        size_t j = i + 1, tot = nt[i];
        while (j < n && tot + nt[j] <= BATCH_TOKENS) tot += nt[j++];
        s = cl_embed_tokens(e, (const cl_token *const *)ids + i, nt + i, j - i, out + i * e->info.dim);
        i = j;
    }
out:
    if (ids)
        for (i = 0; i < n; i++) free(ids[i]);
    free(ids);
    free(nt);
    return s;
}
