/* tokenizer.c — tokenizers built from GGUF tokenizer.ggml.* metadata:
 *   "llama": SentencePiece BPE (merges by score, "▁" for space, <0xNN> byte fallback)
 *   "gpt2":  byte-level BPE (GPT-2 pre-tokenizer, merges by rank)
 *   "bert":  WordPiece (lowercase, accent stripping, punctuation split, greedy
 *            longest match; word-start tokens carry "▁" as llama.cpp's
 *            converter writes them, or continuations "##" as HF writes them)
 * plus special-token parsing, BOS/EOS rules and detokenisation. */
#include "llm_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPACE_MARK "\xe2\x96\x81" /* U+2581 ▁ */

/* ---------------------------------------------------------------- hash map */

typedef struct hent {
    const char *key;
    uint32_t len;
    int32_t val;
} hent;

typedef struct hmap {
    hent *e;
    size_t cap; /* power of two */
} hmap;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static cl_status hmap_init(hmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2) cap *= 2;
    m->e = calloc(cap, sizeof *m->e);
    m->cap = cap;
    return m->e ? CL_OK : cl_err(CL_ERR_NOMEM, "tokenizer: out of memory");
}

/* Inserts unless present (the first id for a string wins). key is borrowed. */
static void hmap_put(hmap *m, const char *key, size_t len, int32_t val)
{
    size_t i = (size_t)hash_bytes(key, len) & (m->cap - 1);
    while (m->e[i].key) {
        if (m->e[i].len == len && !memcmp(m->e[i].key, key, len)) return;
        i = (i + 1) & (m->cap - 1);
    }
    m->e[i].key = key;
    m->e[i].len = (uint32_t)len;
    m->e[i].val = val;
}

static int32_t hmap_get(const hmap *m, const char *key, size_t len)
{
    size_t i;
    if (!m->e) return -1;
    i = (size_t)hash_bytes(key, len) & (m->cap - 1);
    while (m->e[i].key) {
        if (m->e[i].len == len && !memcmp(m->e[i].key, key, len)) return m->e[i].val;
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

/* ---------------------------------------------------------------- growable arrays */

typedef struct tokvec {
    cl_token *p;
    size_t n, cap;
    int oom;
    int no_unk;   /* text needed the unknown token and the vocabulary has none */
} tokvec;

static void tv_push(tokvec *v, cl_token t)
{
    if (v->oom) return;
    if (t < 0) { v->no_unk = 1; return; }   /* t->unk of a vocabulary without one */
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 64;
        cl_token *np = realloc(v->p, nc * sizeof *np);
        if (!np) { v->oom = 1; return; }
        v->p = np;
        v->cap = nc;
    }
    v->p[v->n++] = t;
}

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        char *np;
        while (nc < b->n + n + 1) nc *= 2;
        if (!(np = realloc(b->p, nc))) { b->oom = 1; return; }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* ---------------------------------------------------------------- the tokenizer */

enum { PRE_GPT2 = 0, PRE_LLAMA3 = 1, PRE_QWEN2 = 2 };

struct cl_tokenizer {
    cl_tok_kind kind;
    int32_t n_vocab;
    char **text;      /* NUL-terminated copies */
    uint32_t *len;
    float *score;
    int *type;
    hmap vocab;       /* text -> id */
    hmap merges;      /* BPE: "left right" -> rank (keys owned in merge_store) */
    char *merge_store;
    cl_token bos, eos, unk, sep, pad, cls;
    int add_bos, add_eos, add_space_prefix;
    int pre;             /* BPE pre-tokenizer: PRE_GPT2, PRE_LLAMA3, PRE_QWEN2 */
    int ignore_merges;   /* Llama-3: a piece that is a whole token is not merged */
    int wpm_hash_prefix; /* WordPiece vocab uses "##" continuations (HF) instead of "▁" starts */
    cl_token byte_tok[256];   /* SPM <0xNN>, BPE byte char */
    int bpe_byte_cp[256];     /* GPT-2 bytes_to_unicode */
    int32_t *special;         /* ids of control/user-defined tokens, longest first */
    size_t n_special;
    size_t max_token_len;
};

void cl_tokenizer_free(cl_tokenizer *t)
{
    int32_t i;
    if (!t) return;
    if (t->text)
        for (i = 0; i < t->n_vocab; i++) free(t->text[i]);
    free(t->text);
    free(t->len);
    free(t->score);
    free(t->type);
    free(t->vocab.e);
    free(t->merges.e);
    free(t->merge_store);
    free(t->special);
    free(t);
}

cl_tok_kind cl_tokenizer_kind(const cl_tokenizer *t) { return t->kind; }
int32_t cl_tokenizer_n_vocab(const cl_tokenizer *t) { return t->n_vocab; }
cl_token cl_tokenizer_bos(const cl_tokenizer *t) { return t->bos; }
cl_token cl_tokenizer_eos(const cl_tokenizer *t) { return t->eos; }
cl_token cl_tokenizer_unk(const cl_tokenizer *t) { return t->unk; }
int cl_tokenizer_adds_bos(const cl_tokenizer *t) { return t->add_bos; }
int cl_tokenizer_adds_eos(const cl_tokenizer *t) { return t->add_eos; }

const char *cl_tokenizer_token_text(const cl_tokenizer *t, cl_token id)
{
    return id >= 0 && id < t->n_vocab ? t->text[id] : NULL;
}

int cl_tokenizer_token_type(const cl_tokenizer *t, cl_token id)
{
    return id >= 0 && id < t->n_vocab ? t->type[id] : CL_TOKTYPE_UNDEFINED;
}

cl_token cl_tokenizer_find(const cl_tokenizer *t, const char *text, size_t len)
{
    return hmap_get(&t->vocab, text, len);
}

/* An optional token-id key: -1 when absent; an error when present but bad. */
static cl_status opt_id(const cl_gguf *g, const cl_tokenizer *t, const char *key, cl_token *out)
{
    uint32_t v;
    cl_status s = cl_gguf_get_u32(g, key, &v);
    if (s == CL_ERR_NOTFOUND) return CL_OK;
    if (s) return s;
    if (v >= (uint32_t)t->n_vocab) {
        /* llama.cpp tolerates out-of-range ids by ignoring them; so do we */
        *out = -1;
        return CL_OK;
    }
    *out = (cl_token)v;
    return CL_OK;
}

static void opt_bool(const cl_gguf *g, const char *key, int *out)
{
    int v;
    if (cl_gguf_get_bool(g, key, &v) == CL_OK) *out = v;
}

/* Sorts special ids longest first (insertion sort: there are few). */
static void sort_special(cl_tokenizer *t)
{
    size_t i, j;
    for (i = 1; i < t->n_special; i++) {
        int32_t x = t->special[i];
        for (j = i; j > 0 && t->len[t->special[j - 1]] < t->len[x]; j--) t->special[j] = t->special[j - 1];
        t->special[j] = x;
    }
}

static void init_gpt2_bytes(cl_tokenizer *t)
{
    int b, n = 0;
    for (b = 0; b < 256; b++) {
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
            t->bpe_byte_cp[b] = b;
        else
            t->bpe_byte_cp[b] = 256 + n++;
    }
}

cl_status cl_tokenizer_new(const cl_gguf *g, cl_tokenizer **out)
{
    cl_tokenizer *t;
    const char *model;
    size_t mlen;
    cl_gguf_arr toks, arr;
    uint64_t i;
    cl_status s;

    *out = NULL;
    if ((s = cl_gguf_get_str(g, "tokenizer.ggml.model", &model, &mlen)))
        return cl_err(s, "tokenizer: %s", cl_errmsg());
    if ((s = cl_gguf_get_arr(g, "tokenizer.ggml.tokens", &toks)))
        return cl_err(s, "tokenizer: %s", cl_errmsg());
    if (toks.type != CL_GGUF_STRING || toks.n == 0 || toks.n > (1u << 24))
        return cl_err(CL_ERR_FORMAT, "tokenizer: tokenizer.ggml.tokens must be a non-empty string array");
    if (!(t = calloc(1, sizeof *t))) return cl_err(CL_ERR_NOMEM, "tokenizer: out of memory");
    t->bos = t->eos = t->unk = t->sep = t->pad = t->cls = -1;
    if (!strcmp(model, "llama")) t->kind = CL_TOK_SPM;
    else if (!strcmp(model, "gpt2")) t->kind = CL_TOK_BPE;
    else if (!strcmp(model, "bert")) t->kind = CL_TOK_WPM;
    else {
        cl_tokenizer_free(t);
        return cl_err(CL_ERR_UNSUPPORTED, "tokenizer: model '%s' is not supported (llama, gpt2, bert are)", model);
    }
    t->n_vocab = (int32_t)toks.n;
    t->text = calloc(toks.n, sizeof *t->text);
    t->len = calloc(toks.n, sizeof *t->len);
    t->score = calloc(toks.n, sizeof *t->score);
    t->type = calloc(toks.n, sizeof *t->type);
    if (!t->text || !t->len || !t->score || !t->type) { s = cl_err(CL_ERR_NOMEM, "tokenizer: out of memory"); goto fail; }
    if ((s = hmap_init(&t->vocab, toks.n))) goto fail;
    for (i = 0; i < toks.n; i++) {
        const char *str;
        size_t len;
        if ((s = cl_gguf_arr_get_str(&toks, i, &str, &len))) goto fail;
        if (len > UINT32_MAX) { s = cl_err(CL_ERR_FORMAT, "tokenizer: token %llu too long", (unsigned long long)i); goto fail; }
        if (!(t->text[i] = malloc(len + 1))) { s = cl_err(CL_ERR_NOMEM, "tokenizer: out of memory"); goto fail; }
        memcpy(t->text[i], str, len);
        t->text[i][len] = 0;
        t->len[i] = (uint32_t)len;
        t->type[i] = CL_TOKTYPE_NORMAL;
        if (len > t->max_token_len) t->max_token_len = len;
        hmap_put(&t->vocab, t->text[i], len, (int32_t)i);
        if (t->kind == CL_TOK_WPM && len > 2 && str[0] == '#' && str[1] == '#') t->wpm_hash_prefix = 1;
    }
    if (cl_gguf_get_arr(g, "tokenizer.ggml.scores", &arr) == CL_OK) {
        if (arr.n != toks.n) { s = cl_err(CL_ERR_FORMAT, "tokenizer: %llu scores for %llu tokens", (unsigned long long)arr.n, (unsigned long long)toks.n); goto fail; }
        for (i = 0; i < arr.n; i++)
            if ((s = cl_gguf_arr_get_f32(&arr, i, &t->score[i]))) goto fail;
    }
    if (cl_gguf_get_arr(g, "tokenizer.ggml.token_type", &arr) == CL_OK) {
        if (arr.n != toks.n) { s = cl_err(CL_ERR_FORMAT, "tokenizer: %llu token types for %llu tokens", (unsigned long long)arr.n, (unsigned long long)toks.n); goto fail; }
        for (i = 0; i < arr.n; i++) {
            int64_t v;
            if ((s = cl_gguf_arr_get_int(&arr, i, &v))) goto fail;
            t->type[i] = v >= 0 && v <= 6 ? (int)v : CL_TOKTYPE_UNDEFINED;
        }
    }

    /* defaults as llama.cpp sets them per model, then the file's overrides */
    if (t->kind == CL_TOK_SPM) {
        t->bos = 1; t->eos = 2; t->unk = 0;
        t->add_bos = 1; t->add_space_prefix = 1;
    } else if (t->kind == CL_TOK_BPE) {
        t->bos = 11; t->eos = 11;
    } else {
        t->bos = 101; t->eos = -1; t->unk = 100; t->sep = 102; t->pad = 0; t->cls = 101;
        t->add_bos = 1; t->add_eos = 1;
    }
    if (t->bos >= t->n_vocab) t->bos = -1;
    if (t->eos >= t->n_vocab) t->eos = -1;
    if (t->unk >= t->n_vocab) t->unk = -1;
    if (t->sep >= t->n_vocab) t->sep = -1;
    if (t->cls >= t->n_vocab) t->cls = -1;
    if ((s = opt_id(g, t, "tokenizer.ggml.bos_token_id", &t->bos))) goto fail;
    if ((s = opt_id(g, t, "tokenizer.ggml.eos_token_id", &t->eos))) goto fail;
    if ((s = opt_id(g, t, "tokenizer.ggml.unknown_token_id", &t->unk))) goto fail;
    if ((s = opt_id(g, t, "tokenizer.ggml.seperator_token_id", &t->sep))) goto fail;
    if ((s = opt_id(g, t, "tokenizer.ggml.padding_token_id", &t->pad))) goto fail;
    if ((s = opt_id(g, t, "tokenizer.ggml.cls_token_id", &t->cls))) goto fail;
    opt_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos);
    opt_bool(g, "tokenizer.ggml.add_eos_token", &t->add_eos);
    opt_bool(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);
    if (t->kind == CL_TOK_WPM) {
        /* BERT: [CLS] text [SEP] */
        if (t->cls >= 0) t->bos = t->cls;
        if (t->sep >= 0) t->eos = t->sep;
    }

    /* byte tokens */
    for (i = 0; i < 256; i++) t->byte_tok[i] = -1;
    if (t->kind == CL_TOK_SPM) {
        for (i = 0; i < 256; i++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", (unsigned)i);
            t->byte_tok[i] = hmap_get(&t->vocab, name, 6);
        }
    } else if (t->kind == CL_TOK_BPE) {
        init_gpt2_bytes(t);
        for (i = 0; i < 256; i++) {
            char u[4];
            int n = cl_utf8_encode((uint32_t)t->bpe_byte_cp[i], u);
            t->byte_tok[i] = hmap_get(&t->vocab, u, (size_t)n);
        }
        /* merges: "left right" -> rank */
        if ((s = cl_gguf_get_arr(g, "tokenizer.ggml.merges", &arr))) {
            s = cl_err(s, "tokenizer: gpt2 model needs tokenizer.ggml.merges: %s", cl_errmsg());
            goto fail;
        }
        if (arr.type != CL_GGUF_STRING) { s = cl_err(CL_ERR_FORMAT, "tokenizer: merges must be strings"); goto fail; }
        {
            size_t total = 0, pos = 0;
            for (i = 0; i < arr.n; i++) {
                const char *str;
                size_t len;
                if ((s = cl_gguf_arr_get_str(&arr, i, &str, &len))) goto fail;
                total += len + 1;
            }
            if (!(t->merge_store = malloc(total ? total : 1))) { s = cl_err(CL_ERR_NOMEM, "tokenizer: out of memory"); goto fail; }
            if ((s = hmap_init(&t->merges, arr.n))) goto fail;
            for (i = 0; i < arr.n; i++) {
                const char *str;
                size_t len;
                cl_gguf_arr_get_str(&arr, i, &str, &len);
                memcpy(t->merge_store + pos, str, len);
                t->merge_store[pos + len] = 0;
                hmap_put(&t->merges, t->merge_store + pos, len, (int32_t)i);
                pos += len + 1;
            }
        }
    }

    if (t->kind == CL_TOK_BPE) {
        const char *pre = "default";
        size_t pl;
        cl_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &pl);
        if (!strcmp(pre, "default") || !strcmp(pre, "gpt-2") || !strcmp(pre, "gpt2")) t->pre = PRE_GPT2;
        else if (!strcmp(pre, "llama-bpe") || !strcmp(pre, "llama3") || !strcmp(pre, "llama-v3")) {
            t->pre = PRE_LLAMA3;
            t->ignore_merges = 1;
        } else if (!strcmp(pre, "smaug-bpe")) t->pre = PRE_LLAMA3;
        else if (!strcmp(pre, "qwen2") || !strcmp(pre, "deepseek-r1-qwen")) t->pre = PRE_QWEN2;
        else {
            s = cl_err(CL_ERR_UNSUPPORTED,
                       "tokenizer: pre-tokenizer '%s' is not supported (gpt-2, llama-bpe, qwen2 are)", pre);
            goto fail;
        }
    }

    /* special tokens for parse_special: control and user-defined */
    {
        int32_t id;
        size_t n = 0;
        for (id = 0; id < t->n_vocab; id++)
            if ((t->type[id] == CL_TOKTYPE_CONTROL || t->type[id] == CL_TOKTYPE_USER_DEFINED) && t->len[id]) n++;
        t->special = malloc((n ? n : 1) * sizeof *t->special);
        if (!t->special) { s = cl_err(CL_ERR_NOMEM, "tokenizer: out of memory"); goto fail; }
        for (id = 0; id < t->n_vocab; id++)
            if ((t->type[id] == CL_TOKTYPE_CONTROL || t->type[id] == CL_TOKTYPE_USER_DEFINED) && t->len[id])
                t->special[t->n_special++] = id;
        sort_special(t);
    }
    *out = t;
    return CL_OK;
fail:
    cl_tokenizer_free(t);
    return s;
}

/* ---------------------------------------------------------------- SentencePiece BPE */

typedef struct sym {
    int prev, next;
    const char *text;
    size_t n;
} sym;

typedef struct bigram {
    int left, right;
    float score;   /* SPM: higher first; BPE: -rank */
    size_t size;
} bigram;

typedef struct heap {
    bigram *p;
    size_t n, cap;
    int oom;
} heap;

/* a before b: higher score, then smaller left */
static int bg_before(const bigram *a, const bigram *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(heap *h, bigram b)
{
    size_t i;
    if (h->oom) return;
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        bigram *np = realloc(h->p, nc * sizeof *np);
        if (!np) { h->oom = 1; return; }
        h->p = np;
        h->cap = nc;
    }
    i = h->n++;
    h->p[i] = b;
    while (i > 0) {
        size_t par = (i - 1) / 2;
        bigram tmp;
        if (!bg_before(&h->p[i], &h->p[par])) break;
        tmp = h->p[i]; h->p[i] = h->p[par]; h->p[par] = tmp;
        i = par;
    }
}

static bigram heap_pop(heap *h)
{
    bigram top = h->p[0];
    size_t i = 0;
    h->p[0] = h->p[--h->n];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        bigram tmp;
        if (l < h->n && bg_before(&h->p[l], &h->p[m])) m = l;
        if (r < h->n && bg_before(&h->p[r], &h->p[m])) m = r;
        if (m == i) break;
        tmp = h->p[i]; h->p[i] = h->p[m]; h->p[m] = tmp;
        i = m;
    }
    return top;
}

static size_t utf8_len(unsigned char c)
{
    static const size_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

/* Splits s into UTF-8 characters as linked symbols. */
static sym *make_syms(const char *s, size_t n, int *count)
{
    sym *v = malloc((n ? n : 1) * sizeof *v);
    size_t off = 0;
    int k = 0;
    if (!v) return NULL;
    while (off < n) {
        size_t l = utf8_len((unsigned char)s[off]);
        if (l > n - off) l = n - off;
        v[k].text = s + off;
        v[k].n = l;
        v[k].prev = k - 1;
        v[k].next = off + l < n ? k + 1 : -1;
        off += l;
        k++;
    }
    *count = k;
    return v;
}

static void spm_try(const cl_tokenizer *t, sym *v, heap *h, int left, int right)
{
    bigram b;
    int32_t id;
    if (left < 0 || right < 0) return;
    id = hmap_get(&t->vocab, v[left].text, v[left].n + v[right].n);
    if (id < 0) return;
    b.left = left;
    b.right = right;
    b.score = t->score[id];
    b.size = v[left].n + v[right].n;
    heap_push(h, b);
}

static cl_status spm_encode(const cl_tokenizer *t, const char *text, size_t n, tokvec *out)
{
    sym *v;
    heap h = {0};
    int count, i;
    if (!n) return CL_OK;
    if (!(v = make_syms(text, n, &count))) return cl_err(CL_ERR_NOMEM, "tokenizer: out of memory");
    for (i = 1; i < count; i++) spm_try(t, v, &h, i - 1, i);
    while (h.n && !h.oom) {
        bigram b = heap_pop(&h);
        sym *l = &v[b.left], *r = &v[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) v[r->next].prev = b.left;
        spm_try(t, v, &h, l->prev, b.left);
        spm_try(t, v, &h, b.left, l->next);
    }
    for (i = 0; i != -1 && count; i = v[i].next) {
        int32_t id = hmap_get(&t->vocab, v[i].text, v[i].n);
        if (id >= 0) tv_push(out, id);
        else {
            size_t j;
            for (j = 0; j < v[i].n; j++) {
                cl_token bt = t->byte_tok[(unsigned char)v[i].text[j]];
                tv_push(out, bt >= 0 ? bt : t->unk);
            }
        }
    }
    free(h.p);
    free(v);
    return h.oom || out->oom ? cl_err(CL_ERR_NOMEM, "tokenizer: out of memory") : CL_OK;
}

/* ---------------------------------------------------------------- byte-level BPE */

/* GPT-2 pre-tokenizer: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * over code points; calls fn(word offset, word length) for each piece. */
typedef struct cps {
    uint32_t *cp;
    size_t *off; /* byte offset of each code point, plus the end */
    size_t n;
} cps;

static cl_status to_cps(const char *s, size_t n, cps *c)
{
    size_t pos = 0, k = 0;
    c->cp = malloc((n + 1) * sizeof *c->cp);
    c->off = malloc((n + 1) * sizeof *c->off);
    if (!c->cp || !c->off) {
        free(c->cp);
        free(c->off);
        return cl_err(CL_ERR_NOMEM, "tokenizer: out of memory");
    }
    while (pos < n) {
        size_t l = cl_utf8_decode(s + pos, n - pos, &c->cp[k]);
        c->off[k++] = pos;
        pos += l;
    }
    c->off[k] = n;
    c->n = k;
    return CL_OK;
}

static unsigned cflags(const cps *c, size_t i) { return i < c->n ? cl_uc_flags(c->cp[i]) : 0; }
static uint32_t cget(const cps *c, size_t i) { return i < c->n ? c->cp[i] : 0xFFFFFFFFu; }

#define IS_L(f) ((f) & CL_UC_LETTER)
#define IS_N(f) ((f) & CL_UC_NUMBER)
#define IS_W(f) ((f) & CL_UC_WHITESPACE)

/* Splits into pieces: ends[k] = code point index where piece k ends. */
static cl_status gpt2_split(const cps *c, size_t **ends, size_t *n_ends)
{
    size_t pos = 0, k = 0;
    size_t *e = malloc((c->n + 1) * sizeof *e);
    if (!e) return cl_err(CL_ERR_NOMEM, "tokenizer: out of memory");
    while (pos < c->n) {
        uint32_t cp = c->cp[pos];
        unsigned f2;
        size_t nw;
        if (cp == '\'' && pos + 1 < c->n) {
            uint32_t nx = c->cp[pos + 1];
            if (nx == 's' || nx == 't' || nx == 'm' || nx == 'd') { pos += 2; e[k++] = pos; continue; }
            if (pos + 2 < c->n) {
                uint32_t nn = c->cp[pos + 2];
                if ((nx == 'r' && nn == 'e') || (nx == 'v' && nn == 'e') || (nx == 'l' && nn == 'l')) {
                    pos += 3; e[k++] = pos; continue;
                }
            }
        }
        f2 = cp == ' ' ? cflags(c, pos + 1) : cflags(c, pos);
        if (IS_L(f2)) {
            pos += cp == ' ';
            while (IS_L(cflags(c, pos))) pos++;
            e[k++] = pos;
            continue;
        }
        if (IS_N(f2)) {
            pos += cp == ' ';
            while (IS_N(cflags(c, pos))) pos++;
            e[k++] = pos;
            continue;
        }
        if (!(IS_W(f2) || IS_L(f2) || IS_N(f2)) && f2) {
            unsigned f;
            pos += cp == ' ';
            while ((f = cflags(c, pos)) && !(IS_W(f) || IS_L(f) || IS_N(f))) pos++;
            e[k++] = pos;
            continue;
        }
        nw = 0;
        while (IS_W(cflags(c, pos + nw))) nw++;
        if (nw > 1 && cget(c, pos + nw) != 0xFFFFFFFFu) { pos += nw - 1; e[k++] = pos; continue; }
        if (nw > 0) { pos += nw; e[k++] = pos; continue; }
        pos++;
        e[k++] = pos;
    }
    *ends = e;
    *n_ends = k;
    return CL_OK;
}

/* Llama-3 pre-tokenizer (Qwen2 is the same with max_digits = 1):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static cl_status llama3_split(const cps *c, size_t max_digits, size_t **ends, size_t *n_ends)
{
    size_t pos = 0, k = 0;
    size_t *e = malloc((c->n + 1) * sizeof *e);
    if (!e) return cl_err(CL_ERR_NOMEM, "tokenizer: out of memory");
    while (pos < c->n) {
        uint32_t cp = c->cp[pos];
        unsigned f = cflags(c, pos), f2;
        size_t nw, last_nl;
        if (cp == '\'' && pos + 1 < c->n) {
            uint32_t nx = cl_uc_tolower(c->cp[pos + 1]);
            if (nx == 's' || nx == 't' || nx == 'm' || nx == 'd') { pos += 2; e[k++] = pos; continue; }
            if (pos + 2 < c->n) {
                uint32_t nn = cl_uc_tolower(c->cp[pos + 2]);
                if ((nx == 'r' && nn == 'e') || (nx == 'v' && nn == 'e') || (nx == 'l' && nn == 'l')) {
                    pos += 3; e[k++] = pos; continue;
                }
            }
        }
        if (!(cp == '\r' || cp == '\n' || IS_N(f)) && (IS_L(f) || IS_L(cflags(c, pos + 1)))) {
            pos++;
            while (IS_L(cflags(c, pos))) pos++;
            e[k++] = pos;
            continue;
        }
        if (IS_N(f)) {
            size_t ini = pos;
            while (IS_N(cflags(c, pos))) {
                pos++;
                if (pos - ini >= max_digits) { e[k++] = pos; ini = pos; }
            }
            if (pos > ini) e[k++] = pos;
            continue;
        }
        f2 = cp == ' ' ? cflags(c, pos + 1) : f;
        if (!(IS_W(f2) || IS_L(f2) || IS_N(f2)) && f2) {
            unsigned g;
            pos += cp == ' ';
            while ((g = cflags(c, pos)) && !(IS_W(g) || IS_L(g) || IS_N(g))) pos++;
            while (cget(c, pos) == '\r' || cget(c, pos) == '\n') pos++;
            e[k++] = pos;
            continue;
        }
        nw = 0;
        last_nl = 0;
        while (IS_W(cflags(c, pos + nw))) {
            uint32_t w = c->cp[pos + nw];
            if (w == '\r' || w == '\n') last_nl = pos + nw + 1;
            nw++;
        }
        if (last_nl) { pos = last_nl; e[k++] = pos; continue; }
        if (nw > 1 && cget(c, pos + nw) != 0xFFFFFFFFu) { pos += nw - 1; e[k++] = pos; continue; }
        if (nw > 0) { pos += nw; e[k++] = pos; continue; }
        pos++;
        e[k++] = pos;
    }
    *ends = e;
    *n_ends = k;
    return CL_OK;
}

static void bpe_try(const cl_tokenizer *t, sym *v, heap *h, int left, int right, sbuf *tmp)
{
    bigram b;
    int32_t rank;
    if (left < 0 || right < 0) return;
    tmp->n = 0;
    sb_put(tmp, v[left].text, v[left].n);
    sb_put(tmp, " ", 1);
    sb_put(tmp, v[right].text, v[right].n);
    if (tmp->oom) return;
    rank = hmap_get(&t->merges, tmp->p, tmp->n);
    if (rank < 0) return;
    b.left = left;
    b.right = right;
    b.score = -(float)rank;
    b.size = v[left].n + v[right].n;
    heap_push(h, b);
}

/* BPE over one pre-tokenized word given in byte-mapped form (mapped, mlen). */
static cl_status bpe_word(const cl_tokenizer *t, const char *mapped, size_t mlen, tokvec *out)
{
    sym *v;
    heap h = {0};
    sbuf tmp = {0};
    int count, i;
    if (!(v = make_syms(mapped, mlen, &count))) return cl_err(CL_ERR_NOMEM, "tokenizer: out of memory");
    for (i = 1; i < count; i++) bpe_try(t, v, &h, i - 1, i, &tmp);
    while (h.n && !h.oom) {
        bigram b = heap_pop(&h);
        sym *l = &v[b.left], *r = &v[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) v[r->next].prev = b.left;
        bpe_try(t, v, &h, l->prev, b.left, &tmp);
        bpe_try(t, v, &h, b.left, l->next, &tmp);
    }
    for (i = 0; i != -1 && count; i = v[i].next) {
        int32_t id = hmap_get(&t->vocab, v[i].text, v[i].n);
        if (id >= 0) tv_push(out, id);
        else {
            /* each mapped character on its own */
            size_t j = 0;
            while (j < v[i].n) {
                size_t l = utf8_len((unsigned char)v[i].text[j]);
                int32_t cid;
                if (l > v[i].n - j) l = v[i].n - j;
                cid = hmap_get(&t->vocab, v[i].text + j, l);
                tv_push(out, cid >= 0 ? cid : t->unk);
                j += l;
            }
        }
    }
    free(h.p);
    free(tmp.p);
    free(v);
    return h.oom || tmp.oom || out->oom ? cl_err(CL_ERR_NOMEM, "tokenizer: out of memory") : CL_OK;
}

static cl_status bpe_encode(const cl_tokenizer *t, const char *text, size_t n, tokvec *out)
{
    cps c = {0};
    size_t *ends = NULL, n_ends = 0, k, start = 0;
    sbuf mapped = {0};
    cl_status s;
    if (!n) return CL_OK;
    if ((s = to_cps(text, n, &c))) return s;
    if (t->pre == PRE_GPT2) s = gpt2_split(&c, &ends, &n_ends);
    else s = llama3_split(&c, t->pre == PRE_QWEN2 ? 1 : 3, &ends, &n_ends);
    if (s) goto done;
    for (k = 0; k < n_ends && !s; k++) {
        size_t b0 = c.off[start], b1 = c.off[ends[k]], j;
        mapped.n = 0;
        for (j = b0; j < b1; j++) {
            char u[4];
            int l = cl_utf8_encode((uint32_t)t->bpe_byte_cp[(unsigned char)text[j]], u);
            sb_put(&mapped, u, (size_t)l);
        }
        if (mapped.oom) { s = cl_err(CL_ERR_NOMEM, "tokenizer: out of memory"); break; }
        if (t->ignore_merges && hmap_get(&t->vocab, mapped.p, mapped.n) >= 0)
            tv_push(out, hmap_get(&t->vocab, mapped.p, mapped.n));
        else
            s = bpe_word(t, mapped.p, mapped.n, out);
        start = ends[k];
    }
done:
    free(ends);
    free(mapped.p);
    free(c.cp);
    free(c.off);
    return s;
}

/* ---------------------------------------------------------------- WordPiece */

static int is_chinese(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Greedy longest match of one word. */
static void wpm_word(const cl_tokenizer *t, const char *w, size_t n, tokvec *out, sbuf *tmp)
{
    size_t mark = out->n, i = 0, pre;
    tmp->n = 0;
    if (!t->wpm_hash_prefix) sb_put(tmp, SPACE_MARK, 3);
    pre = tmp->n;
    sb_put(tmp, w, n);
    if (tmp->oom) return;
    i = 0;
    while (i < tmp->n) {
        size_t j, maxj = tmp->n;
        int found = 0;
        if (t->max_token_len + 2 < maxj - i) maxj = i + t->max_token_len + 2;
        for (j = maxj; j > i; j--) {
            int32_t id;
            if (t->wpm_hash_prefix && i > 0) {
                /* look up "##" + piece */
                sbuf q = {0};
                sb_put(&q, "##", 2);
                sb_put(&q, tmp->p + i, j - i);
                id = q.oom ? -1 : hmap_get(&t->vocab, q.p, q.n);
                free(q.p);
            } else {
                id = hmap_get(&t->vocab, tmp->p + i, j - i);
            }
            if (id >= 0) {
                tv_push(out, id);
                i = j;
                found = 1;
                break;
            }
        }
        if (!found) {
            out->n = mark;
            tv_push(out, t->unk);
            return;
        }
    }
    (void)pre;
}

static cl_status wpm_encode(const cl_tokenizer *t, const char *text, size_t n, tokvec *out)
{
    sbuf word = {0}, tmp = {0};
    size_t pos = 0;
    while (pos < n) {
        uint32_t cp, dec[4];
        size_t l = cl_utf8_decode(text + pos, n - pos, &cp);
        int nd, k;
        pos += l;
        nd = cl_uc_strip_accents(cp, dec);
        for (k = 0; k < nd; k++) {
            uint32_t c = dec[k];
            unsigned f = cl_uc_flags(c);
            char u[4];
            int ul;
            if (f & CL_UC_WHITESPACE) {
                if (word.n) { wpm_word(t, word.p, word.n, out, &tmp); word.n = 0; }
                continue;
            }
            if (c == 0 || c == 0xFFFD || (f & CL_UC_CONTROL)) continue;
            ul = cl_utf8_encode(cl_uc_tolower(c), u);
            if ((f & CL_UC_PUNCT) || (c < 0x7F && (f & CL_UC_SYMBOL)) || is_chinese(c)) {
                if (word.n) { wpm_word(t, word.p, word.n, out, &tmp); word.n = 0; }
                wpm_word(t, u, (size_t)ul, out, &tmp);
            } else {
                sb_put(&word, u, (size_t)ul);
            }
        }
    }
    if (word.n) wpm_word(t, word.p, word.n, out, &tmp);
    free(word.p);
    free(tmp.p);
    return word.oom || tmp.oom || out->oom ? cl_err(CL_ERR_NOMEM, "tokenizer: out of memory") : CL_OK;
}

/* ---------------------------------------------------------------- driver */

/* Encodes a raw-text fragment with the model's algorithm. */
static cl_status encode_raw(const cl_tokenizer *t, const char *text, size_t n, int prefix_space, tokvec *out)
{
    if (t->kind == CL_TOK_SPM) {
        sbuf b = {0};
        size_t i;
        cl_status s;
        if (prefix_space) sb_put(&b, SPACE_MARK, 3);
        for (i = 0; i < n; i++) {
            if (text[i] == ' ') sb_put(&b, SPACE_MARK, 3);
            else sb_put(&b, text + i, 1);
        }
        if (b.oom) { free(b.p); return cl_err(CL_ERR_NOMEM, "tokenizer: out of memory"); }
        s = spm_encode(t, b.p, b.n, out);
        free(b.p);
        return s;
    }
    if (t->kind == CL_TOK_BPE) return bpe_encode(t, text, n, out);
    return wpm_encode(t, text, n, out);
}

cl_status cl_tokenize(const cl_tokenizer *t, const char *text, size_t len, int add_special,
                      int parse_special, cl_token **out, size_t *n_out)
{
    return cl_tokenize_plain(t, text, len, add_special, parse_special, NULL, 0, out, n_out);
}

cl_status cl_tokenize_plain(const cl_tokenizer *t, const char *text, size_t len, int add_special,
                            int parse_special, const size_t *plain, size_t n_plain, cl_token **out,
                            size_t *n_out)
{
    tokvec v = {0};
    size_t pos = 0, raw_start = 0, j = 0;
    int prev_special = 1;
    cl_status s = CL_OK;

    *out = NULL;
    *n_out = 0;
    if (!text && len) return cl_err(CL_ERR_INVALID, "tokenize: NULL text");
    if (add_special && t->add_bos && t->bos >= 0) tv_push(&v, t->bos);
    while (pos <= len && !s) {
        int32_t hit = -1;
        size_t k, room = len - pos;   /* bytes a control token may take from pos */
        while (j < n_plain && plain[2 * j + 1] <= pos) j++;
        if (j < n_plain) room = plain[2 * j] > pos ? plain[2 * j] - pos : 0;
        if (parse_special && pos < len && room)
            for (k = 0; k < t->n_special; k++) {
                int32_t id = t->special[k];
                if (t->len[id] <= room && !memcmp(text + pos, t->text[id], t->len[id])) {
                    hit = id;
                    break;
                }
            }
        if (hit >= 0 || pos == len) {
            if (pos > raw_start) {
                s = encode_raw(t, text + raw_start, pos - raw_start, t->add_space_prefix && prev_special, &v);
                prev_special = 0;
            }
            if (hit < 0) break;
            tv_push(&v, hit);
            prev_special = 1;
            pos += t->len[hit];
            raw_start = pos;
        } else {
            pos++;
        }
    }
    if (!s && add_special && t->add_eos && t->eos >= 0) tv_push(&v, t->eos);
    if (!s && v.oom) s = cl_err(CL_ERR_NOMEM, "tokenizer: out of memory");
    if (!s && v.no_unk)
        s = cl_err(CL_ERR_UNSUPPORTED, "tokenizer: the text has characters this vocabulary "
                   "cannot encode, and it defines no unknown token");
    if (s) {
        free(v.p);
        return s;
    }
    *out = v.p;
    *n_out = v.n;
    return CL_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

cl_status cl_detokenize(const cl_tokenizer *t, const cl_token *ids, size_t n, int render_special,
                        char **out, size_t *len)
{
    sbuf b = {0};
    size_t i;
    *out = NULL;
    sb_put(&b, "", 0);
    for (i = 0; i < n; i++) {
        cl_token id = ids[i];
        const char *s;
        size_t sl;
        int ty;
        if (id < 0 || id >= t->n_vocab) {
            free(b.p);
            return cl_err(CL_ERR_RANGE, "detokenize: token id %d out of range (vocabulary of %d)", id, t->n_vocab);
        }
        s = t->text[id];
        sl = t->len[id];
        ty = t->type[id];
        if (ty == CL_TOKTYPE_CONTROL || ty == CL_TOKTYPE_UNKNOWN) {
            if (render_special) sb_put(&b, s, sl);
            continue;
        }
        if (t->kind == CL_TOK_SPM) {
            if (ty == CL_TOKTYPE_BYTE && sl == 6 && hexval(s[3]) >= 0 && hexval(s[4]) >= 0) {
                char c = (char)(hexval(s[3]) * 16 + hexval(s[4]));
                sb_put(&b, &c, 1);
                continue;
            }
            while (sl) {
                if (sl >= 3 && !memcmp(s, SPACE_MARK, 3)) { sb_put(&b, " ", 1); s += 3; sl -= 3; }
                else { sb_put(&b, s, 1); s++; sl--; }
            }
        } else if (t->kind == CL_TOK_BPE) {
            size_t j = 0;
            while (j < sl) {
                uint32_t cp;
                size_t l = cl_utf8_decode(s + j, sl - j, &cp);
                int byte = -1, k;
                if (ty == CL_TOKTYPE_USER_DEFINED) { sb_put(&b, s + j, l); j += l; continue; }
                for (k = 0; k < 256; k++)
                    if ((uint32_t)t->bpe_byte_cp[k] == cp) { byte = k; break; }
                if (byte >= 0) { char c = (char)byte; sb_put(&b, &c, 1); }
                else sb_put(&b, s + j, l);
                j += l;
            }
        } else {
            if (t->wpm_hash_prefix) {
                if (sl > 2 && s[0] == '#' && s[1] == '#') sb_put(&b, s + 2, sl - 2);
                else { sb_put(&b, " ", 1); sb_put(&b, s, sl); }
            } else if (sl >= 3 && !memcmp(s, SPACE_MARK, 3)) {
                sb_put(&b, " ", 1);
                sb_put(&b, s + 3, sl - 3);
            } else {
                sb_put(&b, s, sl);
            }
        }
    }
    if (b.oom) {
        free(b.p);
        return cl_err(CL_ERR_NOMEM, "detokenize: out of memory");
    }
    /* the space the encoder added in front is not part of the text */
    if ((t->kind == CL_TOK_SPM && t->add_space_prefix) || t->kind == CL_TOK_WPM) {
        if (b.n && b.p[0] == ' ') {
            memmove(b.p, b.p + 1, b.n);
            b.n--;
        }
    }
    *out = b.p;
    if (len) *len = b.n;
    return CL_OK;
}
