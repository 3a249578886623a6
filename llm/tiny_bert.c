/* tiny_bert.c — test embedding models: cl_make_tiny_bert writes a standard
 * llama.cpp-style "bert" GGUF with seeded random weights and a real WordPiece
 * vocabulary (copied from a vocabulary GGUF, or a small built-in one), and
 * cl_gguf_set_pooling rewrites a GGUF with <arch>.pooling_type set (a tiny
 * decoder becomes a last-token embedding model). */
#include "llm_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ vocabulary */

/* A small WordPiece vocabulary: specials, punctuation, digits, letters,
 * continuation pieces and common words. */
static const char *const builtin_vocab[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "!", "\"", "#", "$", "%", "&", "'", "(", ")", "*", "+", ",", "-", ".", "/", ":", ";", "<", "=", ">", "?",
    "@", "[", "\\", "]", "^", "_", "`", "{", "|", "}", "~",
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u",
    "v", "w", "x", "y", "z",
    "##a", "##b", "##c", "##d", "##e", "##f", "##g", "##h", "##i", "##j", "##k", "##l", "##m", "##n", "##o",
    "##p", "##q", "##r", "##s", "##t", "##u", "##v", "##w", "##x", "##y", "##z",
    "##0", "##1", "##2", "##3", "##4", "##5", "##6", "##7", "##8", "##9",
    "##ed", "##ing", "##er", "##ly", "##tion", "##es", "##al",
    "the", "of", "and", "to", "in", "is", "was", "for", "on", "that", "with", "as", "by", "it", "he", "at",
    "from", "his", "an", "were", "are", "which", "this", "be", "or", "has", "had", "not", "but", "first", "one",
    "their", "its", "new", "after", "who", "they", "have", "her", "she", "two", "been", "other", "when", "there",
    "all", "also", "into", "more", "world", "hello", "cat", "dog", "search", "data", "model", "graph", "river",
    "city", "music", "water", "book", "time", "year", "people", "house", "school", "war", "king", "light",
};
#define N_BUILTIN (sizeof builtin_vocab / sizeof *builtin_vocab)

typedef struct vocab {
    char **tok;
    int32_t *ttype;
    uint64_t n;
    uint32_t unk, sep, pad, cls, mask;
} vocab;

static void vocab_free(vocab *v)
{
    uint64_t i;
    if (v->tok)
        for (i = 0; i < v->n; i++) free(v->tok[i]);
    free(v->tok);
    free(v->ttype);
}

static cl_status vocab_builtin(vocab *v)
{
    uint64_t i;
    v->n = N_BUILTIN;
    v->tok = calloc(v->n, sizeof *v->tok);
    v->ttype = calloc(v->n, sizeof *v->ttype);
    if (!v->tok || !v->ttype) return cl_err(CL_ERR_NOMEM, "make-tiny: out of memory");
    for (i = 0; i < v->n; i++) {
        if (!(v->tok[i] = strdup(builtin_vocab[i]))) return cl_err(CL_ERR_NOMEM, "make-tiny: out of memory");
        v->ttype[i] = i < 5 ? CL_TOKTYPE_CONTROL : CL_TOKTYPE_NORMAL;
    }
    v->pad = 0, v->unk = 1, v->cls = 2, v->sep = 3, v->mask = 4;
    return CL_OK;
}

static cl_status vocab_from(vocab *v, const char *path)
{
    cl_gguf *g = NULL;
    cl_gguf_arr toks, types;
    const char *model;
    size_t ml;
    uint64_t i;
    cl_status s;
    if ((s = cl_gguf_open(path, &g))) return s;
    if ((s = cl_gguf_get_str(g, "tokenizer.ggml.model", &model, &ml)) || strcmp(model, "bert")) {
        s = cl_err(CL_ERR_FORMAT, "make-tiny: %s has no WordPiece (bert) tokenizer", path);
        goto out;
    }
    if ((s = cl_gguf_get_arr(g, "tokenizer.ggml.tokens", &toks)) || toks.type != CL_GGUF_STRING || !toks.n ||
        toks.n > (1u << 24)) {
        s = cl_err(CL_ERR_FORMAT, "make-tiny: %s: tokenizer.ggml.tokens is not a string array", path);
        goto out;
    }
    v->n = toks.n;
    v->tok = calloc(v->n, sizeof *v->tok);
    v->ttype = calloc(v->n, sizeof *v->ttype);
    if (!v->tok || !v->ttype) {
        s = cl_err(CL_ERR_NOMEM, "make-tiny: out of memory");
        goto out;
    }
    for (i = 0; i < v->n; i++) {
        const char *str;
        size_t len;
        if ((s = cl_gguf_arr_get_str(&toks, i, &str, &len))) goto out;
        if (memchr(str, 0, len)) {
            s = cl_err(CL_ERR_FORMAT, "make-tiny: %s: token %llu holds a NUL byte", path, (unsigned long long)i);
            goto out;
        }
        if (!(v->tok[i] = malloc(len + 1))) {
            s = cl_err(CL_ERR_NOMEM, "make-tiny: out of memory");
            goto out;
        }
        memcpy(v->tok[i], str, len);
        v->tok[i][len] = 0;
        v->ttype[i] = CL_TOKTYPE_NORMAL;
    }
    if (cl_gguf_get_arr(g, "tokenizer.ggml.token_type", &types) == CL_OK && types.n == v->n)
        for (i = 0; i < v->n; i++) {
            int64_t t;
            if (cl_gguf_arr_get_int(&types, i, &t) == CL_OK) v->ttype[i] = (int32_t)t;
        }
    v->unk = 100, v->sep = 102, v->pad = 0, v->cls = 101, v->mask = 103;
    cl_gguf_get_u32(g, "tokenizer.ggml.unknown_token_id", &v->unk);
    cl_gguf_get_u32(g, "tokenizer.ggml.seperator_token_id", &v->sep);
    cl_gguf_get_u32(g, "tokenizer.ggml.padding_token_id", &v->pad);
    cl_gguf_get_u32(g, "tokenizer.ggml.cls_token_id", &v->cls);
    cl_gguf_get_u32(g, "tokenizer.ggml.mask_token_id", &v->mask);
    if (v->unk >= v->n || v->sep >= v->n || v->pad >= v->n || v->cls >= v->n || v->mask >= v->n)
        s = cl_err(CL_ERR_FORMAT, "make-tiny: %s: a special token id is outside the vocabulary", path);
out:
    cl_gguf_close(g);
    return s;
}

/* ------------------------------------------------------------ bert writer */

cl_status cl_make_tiny_bert(const cl_tiny_bert_opts *o, const char *path)
{
    cl_tiny_bert_opts O = *o;
    cl_gguf_writer *w = NULL;
    vocab v;
    uint64_t rng;
    int l;
    float a, af;
    cl_status s;
    memset(&v, 0, sizeof v);
    if (!O.n_embd) O.n_embd = 64;
    if (!O.n_layer) O.n_layer = 2;
    if (!O.n_head) O.n_head = 4;
    if (!O.n_ff) O.n_ff = 128;
    if (!O.n_ctx) O.n_ctx = 128;
    if (O.pooling == CL_POOL_UNSET) O.pooling = CL_POOL_MEAN;
    rng = O.seed;
    if (O.type != CL_TYPE_F32 && O.type != CL_TYPE_F16 && O.type != CL_TYPE_Q8_0)
        return cl_err(CL_ERR_INVALID, "make-tiny: tensor type must be f32, f16 or q8_0");
    if (O.pooling < CL_POOL_NONE || O.pooling > CL_POOL_LAST)
        return cl_err(CL_ERR_INVALID, "make-tiny: pooling %d is not none, mean, cls or last", O.pooling);
    if (O.n_embd % O.n_head || O.n_embd % 32 || O.n_ff % 32 || O.n_embd > 8192 || O.n_ff > 65536 ||
        O.n_layer > 64 || O.n_ctx > 8192)
        return cl_err(CL_ERR_INVALID, "make-tiny: bert shape (embd %u, heads %u, ffn %u) must have embd and ffn "
                      "multiples of 32 and of the head count", O.n_embd, O.n_head, O.n_ff);
    if ((s = O.vocab_path ? vocab_from(&v, O.vocab_path) : vocab_builtin(&v))) goto fail;
    if ((s = cl_gguf_writer_new(&w))) goto fail;
    if ((s = cl_gguf_writer_add_str(w, "general.architecture", "bert")) ||
        (s = cl_gguf_writer_add_str(w, "general.name", "cairn tiny bert")) ||
        (s = cl_gguf_writer_add_u32(w, "bert.block_count", O.n_layer)) ||
        (s = cl_gguf_writer_add_u32(w, "bert.context_length", O.n_ctx)) ||
        (s = cl_gguf_writer_add_u32(w, "bert.embedding_length", O.n_embd)) ||
        (s = cl_gguf_writer_add_u32(w, "bert.feed_forward_length", O.n_ff)) ||
        (s = cl_gguf_writer_add_u32(w, "bert.attention.head_count", O.n_head)) ||
        (s = cl_gguf_writer_add_f32(w, "bert.attention.layer_norm_epsilon", 1e-12f)) ||
        (s = cl_gguf_writer_add_bool(w, "bert.attention.causal", 0)) ||
        (s = cl_gguf_writer_add_u32(w, "bert.pooling_type", (uint32_t)O.pooling)) ||
        (s = cl_gguf_writer_add_u32(w, "tokenizer.ggml.token_type_count", 2)) ||
        (s = cl_gguf_writer_add_str(w, "tokenizer.ggml.model", "bert")) ||
        (s = cl_gguf_writer_add_str(w, "tokenizer.ggml.pre", "default")) ||
        (s = cl_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.tok, v.n)) ||
        (s = cl_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", CL_GGUF_INT32, v.ttype, v.n)) ||
        (s = cl_gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", v.unk)) ||
        (s = cl_gguf_writer_add_u32(w, "tokenizer.ggml.seperator_token_id", v.sep)) ||
        (s = cl_gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", v.pad)) ||
        (s = cl_gguf_writer_add_u32(w, "tokenizer.ggml.cls_token_id", v.cls)) ||
        (s = cl_gguf_writer_add_u32(w, "tokenizer.ggml.mask_token_id", v.mask)))
        goto fail;
    if ((s = cl_tiny_add_w(w, &rng, "token_embd.weight", O.type, O.n_embd, v.n, 1.0f, 0.0f)) ||
        (s = cl_tiny_add_w(w, &rng, "token_types.weight", O.type, O.n_embd, 2, 0.5f, 0.0f)) ||
        (s = cl_tiny_add_w(w, &rng, "position_embd.weight", O.type, O.n_embd, O.n_ctx, 0.5f, 0.0f)) ||
        (s = cl_tiny_add_w(w, &rng, "token_embd_norm.weight", O.type, O.n_embd, 1, 0.2f, 1.0f)) ||
        (s = cl_tiny_add_w(w, &rng, "token_embd_norm.bias", O.type, O.n_embd, 1, 0.1f, 0.0f)))
        goto fail;
    a = 1.7f / sqrtf((float)O.n_embd);
    af = 1.7f / sqrtf((float)O.n_ff);
    for (l = 0; l < (int)O.n_layer; l++) {
        char nm[96];
        uint32_t E = O.n_embd, F = O.n_ff;
#define W(what, ne0, ne1, amp, ctr) \
    (snprintf(nm, sizeof nm, "blk.%d.%s", l, what), cl_tiny_add_w(w, &rng, nm, O.type, ne0, ne1, amp, ctr))
        if ((s = W("attn_q.weight", E, E, a, 0.0f)) || (s = W("attn_q.bias", E, 1, 0.1f, 0.0f)) ||
            (s = W("attn_k.weight", E, E, a, 0.0f)) || (s = W("attn_k.bias", E, 1, 0.1f, 0.0f)) ||
            (s = W("attn_v.weight", E, E, a, 0.0f)) || (s = W("attn_v.bias", E, 1, 0.1f, 0.0f)) ||
            (s = W("attn_output.weight", E, E, a, 0.0f)) || (s = W("attn_output.bias", E, 1, 0.1f, 0.0f)) ||
            (s = W("attn_output_norm.weight", E, 1, 0.2f, 1.0f)) || (s = W("attn_output_norm.bias", E, 1, 0.1f, 0.0f)) ||
            (s = W("ffn_up.weight", E, F, a, 0.0f)) || (s = W("ffn_up.bias", F, 1, 0.1f, 0.0f)) ||
            (s = W("ffn_down.weight", F, E, af, 0.0f)) || (s = W("ffn_down.bias", E, 1, 0.1f, 0.0f)) ||
            (s = W("layer_output_norm.weight", E, 1, 0.2f, 1.0f)) ||
            (s = W("layer_output_norm.bias", E, 1, 0.1f, 0.0f)))
            goto fail;
#undef W
    }
    s = cl_gguf_writer_write_file(w, path);
fail:
    vocab_free(&v);
    cl_gguf_writer_free(w);
    return s;
}

/* ------------------------------------------------------------ set pooling */

/* Copies key i of g into w (the metadata types tiny models and common
 * GGUFs use; others are CL_ERR_UNSUPPORTED). */
static cl_status copy_kv(const cl_gguf *g, int64_t i, cl_gguf_writer *w)
{
    const char *k = cl_gguf_key(g, i);
    cl_gguf_type t = cl_gguf_kv_type(g, i);
    cl_status s = CL_OK;
    switch (t) {
    case CL_GGUF_UINT32: {
        uint32_t v;
        return (s = cl_gguf_get_u32(g, k, &v)) ? s : cl_gguf_writer_add_u32(w, k, v);
    }
    case CL_GGUF_INT32: {
        int32_t v;
        return (s = cl_gguf_get_i32(g, k, &v)) ? s : cl_gguf_writer_add_i32(w, k, v);
    }
    case CL_GGUF_FLOAT32: {
        float v;
        return (s = cl_gguf_get_f32(g, k, &v)) ? s : cl_gguf_writer_add_f32(w, k, v);
    }
    case CL_GGUF_BOOL: {
        int v;
        return (s = cl_gguf_get_bool(g, k, &v)) ? s : cl_gguf_writer_add_bool(w, k, v);
    }
    case CL_GGUF_STRING: {
        const char *v;
        size_t len;
        return (s = cl_gguf_get_str(g, k, &v, &len)) ? s : cl_gguf_writer_add_str(w, k, v);
    }
    case CL_GGUF_ARRAY: {
        cl_gguf_arr a;
        uint64_t j;
        if ((s = cl_gguf_get_arr(g, k, &a))) return s;
        if (a.type == CL_GGUF_STRING) {
            char **strs = calloc(a.n ? a.n : 1, sizeof *strs);
            if (!strs) return cl_err(CL_ERR_NOMEM, "gguf: out of memory");
            for (j = 0; j < a.n && !s; j++) {
                const char *str;
                size_t len;
                if ((s = cl_gguf_arr_get_str(&a, j, &str, &len))) break;
                if (!(strs[j] = malloc(len + 1))) s = cl_err(CL_ERR_NOMEM, "gguf: out of memory");
                else {
                    memcpy(strs[j], str, len);
                    strs[j][len] = 0;
                }
            }
            if (!s) s = cl_gguf_writer_add_arr_str(w, k, (const char *const *)strs, a.n);
            for (j = 0; j < a.n; j++) free(strs[j]);
            free(strs);
            return s;
        }
        if (a.type == CL_GGUF_INT32 || a.type == CL_GGUF_UINT32 || a.type == CL_GGUF_FLOAT32) {
            uint32_t *buf = malloc((a.n ? a.n : 1) * 4);
            if (!buf) return cl_err(CL_ERR_NOMEM, "gguf: out of memory");
            for (j = 0; j < a.n && !s; j++) {
                if (a.type == CL_GGUF_FLOAT32) {
                    float f;
                    if (!(s = cl_gguf_arr_get_f32(&a, j, &f))) memcpy(&buf[j], &f, 4);
                } else {
                    int64_t v;
                    if (!(s = cl_gguf_arr_get_int(&a, j, &v))) buf[j] = (uint32_t)v;
                }
            }
            if (!s) s = cl_gguf_writer_add_arr(w, k, a.type, buf, a.n);
            free(buf);
            return s;
        }
        break;
    }
    default:
        break;
    }
    return cl_err(CL_ERR_UNSUPPORTED, "gguf: copying metadata %s of this type is not supported", k);
}

cl_status cl_gguf_set_pooling(const char *path, int pooling)
{
    cl_gguf *g = NULL;
    cl_gguf_writer *w = NULL;
    char key[64], *tmp = NULL;
    const char *arch;
    size_t alen, plen = strlen(path);
    int64_t i;
    cl_status s;
    if (pooling < CL_POOL_NONE || pooling > CL_POOL_LAST)
        return cl_err(CL_ERR_INVALID, "gguf: pooling %d is not none, mean, cls or last", pooling);
    if ((s = cl_gguf_open(path, &g))) return s;
    if ((s = cl_gguf_get_str(g, "general.architecture", &arch, &alen))) goto out;
    snprintf(key, sizeof key, "%s.pooling_type", arch);
    if ((s = cl_gguf_writer_new(&w))) goto out;
    if (cl_gguf_alignment(g) != CL_GGUF_DEFAULT_ALIGNMENT &&
        (s = cl_gguf_writer_set_alignment(w, (uint32_t)cl_gguf_alignment(g))))
        goto out;
    for (i = 0; i < cl_gguf_n_kv(g); i++)
        if (strcmp(cl_gguf_key(g, i), key) && strcmp(cl_gguf_key(g, i), "general.alignment") &&
            (s = copy_kv(g, i, w)))
            goto out;
    if ((s = cl_gguf_writer_add_u32(w, key, (uint32_t)pooling))) goto out;
    for (i = 0; i < cl_gguf_n_tensors(g); i++) {
        const cl_tensor *t = cl_gguf_tensor(g, i);
        if ((s = cl_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->n_bytes))) goto out;
    }
    if (!(tmp = malloc(plen + 5))) {
        s = cl_err(CL_ERR_NOMEM, "gguf: out of memory");
        goto out;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    if ((s = cl_gguf_writer_write_file(w, tmp))) goto out;
    if (rename(tmp, path)) {
        remove(tmp);
        s = cl_err(CL_ERR_IO, "gguf: cannot replace %s", path);
    }
out:
    free(tmp);
    cl_gguf_writer_free(w);
    cl_gguf_close(g);
    return s;
}
