/* gen_gguf.c — the `gguf` generator of ca_ask: a GGUF decoder from llm/
 * (CPU backend) run greedily by cl_generate on the assembled prompt (inside
 * the model's chat template when it has one), streaming text as it comes;
 * and the model's identity for the trace (file sha256, architecture,
 * tensor types).
 *
 * The model stays loaded between asks in one process (server /v1/ask, the
 * SQL shell's ASK, trace replay, a run of asks): ca_llm_close parks it in
 * a one-model slot and the next ca_llm_open of the same file (same path,
 * device, inode, size and modification time) and context takes it back,
 * with its prefix KV cache (llm/kvcache.c) still warm, so a prompt that
 * starts as an earlier one did skips prefilling that part. A second ask
 * running at the same time opens a model of its own. */
#include "ask_int.h"
#include "llm.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct ca_llm {
    cl_model *m;
    cc_buf    identity;   /* JSON object */
    size_t    overhead;   /* prompt tokens the chat template (or BOS) adds */
    int       kept;       /* 1: taken from the slot of a previous ask */
    /* what the slot matches on */
    char     *path;
    uint32_t  want_ctx;
    int       want_kv;    /* cl_kv_type asked for */
    struct stat st;
};

static pthread_mutex_t slot_mu = PTHREAD_MUTEX_INITIALIZER;
static ca_llm *slot;          /* the parked model, or NULL */
static int slot_atexit;

static void llm_free(ca_llm *m)
{
    if (!m) return;
    cl_model_free(m->m);
    cc_buf_free(&m->identity);
    free(m->path);
    free(m);
}

static void slot_clear(void)
{
    ca_llm *m;
    pthread_mutex_lock(&slot_mu);
    m = slot;
    slot = NULL;
    pthread_mutex_unlock(&slot_mu);
    llm_free(m);
}

void ca_llm_release_kept(void) { slot_clear(); }

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

void ca_llm_close(ca_llm *m)
{
    ca_llm *old = NULL;
    if (!m) return;
    if (!m->path) { llm_free(m); return; }
    pthread_mutex_lock(&slot_mu);
    old = slot;
    slot = m;
    if (!slot_atexit) slot_atexit = !atexit(slot_clear);
    pthread_mutex_unlock(&slot_mu);
    llm_free(old);
}

/* sha256 of the whole file, read in 1 MiB pieces. */
static int file_sha256(const char *path, char hex[65], long long *size)
{
    FILE *f = fopen(path, "rb");
    cc_sha256 c;
    uint8_t d[32];
    size_t n;
    char *buf;
    if (!f) return -1;
    if (!(buf = malloc(1 << 20))) { fclose(f); return -1; }
    cc_sha256_init(&c);
    *size = 0;
    while ((n = fread(buf, 1, 1 << 20, f)) > 0) {
        cc_sha256_update(&c, buf, n);
        *size += (long long)n;
    }
    free(buf);
    if (ferror(f)) { fclose(f); return -1; }
    fclose(f);
    cc_sha256_final(&c, d);
    cc_hex(d, 32, hex);
    return 0;
}

static cl_status prompt_tokens(const cl_model *m, const ca_prompt *p, cl_token **out, size_t *n, int *chat);

cc_status ca_llm_open(cc_kb *kb, const char *path, uint32_t n_ctx, const char *kv_type, ca_llm **out)
{
    cl_model_params mp = {0};
    ca_llm *m;
    cl_gguf *g = NULL;
    char hex[65];
    long long size = 0;
    int64_t count[CL_TYPE_COUNT] = {0};
    int first = 1;
    struct stat st;
    *out = NULL;
    mp.n_ctx = n_ctx;
    if (kv_type && *kv_type && (mp.kv_type = cl_kv_type_parse(kv_type)) < 0)
        return cc_kb_seterr(kb, CC_INVALID, "setting ask.kv_type must be \"f16\", \"f32\" or \"q8_0\" (is \"%s\")",
                            kv_type);
    if (stat(path, &st) == 0) {   /* the model kept from an earlier ask, when it is this one */
        pthread_mutex_lock(&slot_mu);
        if (slot && slot->want_ctx == n_ctx && slot->want_kv == mp.kv_type && !strcmp(slot->path, path) && same_file(&slot->st, &st)) {
            m = slot;
            slot = NULL;
            pthread_mutex_unlock(&slot_mu);
            m->kept = 1;
            *out = m;
            return CC_OK;
        }
        pthread_mutex_unlock(&slot_mu);
    }
    if (!(m = calloc(1, sizeof *m))) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    if (cl_model_open_params(path, &mp, &m->m) != CL_OK) {
        cc_status s = cc_kb_seterr(kb, CC_INVALID, "model %s: %s", path, cl_errmsg());
        ca_llm_close(m);
        return s;
    }
    if (file_sha256(path, hex, &size)) {
        ca_llm_close(m);
        return cc_kb_seterr(kb, CC_IO, "model %s: cannot read it to hash it", path);
    }
    if (cl_gguf_open(path, &g) == CL_OK) {
        for (int64_t i = 0; i < cl_gguf_n_tensors(g); i++) {
            const cl_tensor *t = cl_gguf_tensor(g, i);
            if (t && t->type >= 0 && t->type < CL_TYPE_COUNT) count[t->type]++;
        }
        cl_gguf_close(g);
    }
    const cl_model_info *in = cl_model_get_info(m->m);
    cc_buf *b = &m->identity;
    cc_buf_puts(b, "{\"file\":");
    cc_buf_json_str(b, path, strlen(path));
    cc_buf_printf(b, ",\"sha256\":\"%s\",\"bytes\":%lld,\"architecture\":\"%s\",\"tensor_types\":{",
                  hex, size, in->arch);
    for (int t = 0; t < CL_TYPE_COUNT; t++)
        if (count[t] && cl_type_name(t)) {
            cc_buf_printf(b, "%s\"%s\":%lld", first ? "" : ",", cl_type_name(t), (long long)count[t]);
            first = 0;
        }
    cc_buf_printf(b, "},\"backend\":\"%s\",\"n_layer\":%u,\"n_embd\":%u,\"n_vocab\":%u,"
                  "\"n_ctx\":%u,\"kv_cache\":\"%s\"}", cl_model_backend(m->m), in->n_layer, in->n_embd, in->n_vocab,
                  in->n_ctx, cl_kv_type_name(in->kv_type));
    if (!b->data) {
        ca_llm_close(m);
        return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    }
    {   /* what the template adds around an empty prompt */
        ca_prompt empty = {0};
        cl_token *t = NULL;
        int chat;
        empty.text = (char *)"";
        if (prompt_tokens(m->m, &empty, &t, &m->overhead, &chat) != CL_OK) m->overhead = CA_CHAT_RESERVE;
        free(t);
    }
    /* kept for the next ask only when it can be recognised */
    if (stat(path, &m->st) == 0 && (m->path = malloc(strlen(path) + 1)))
        memcpy(m->path, path, strlen(path) + 1);
    m->want_ctx = n_ctx;
    m->want_kv = mp.kv_type;
    *out = m;
    return CC_OK;
}

size_t ca_llm_overhead(const ca_llm *m) { return m->overhead; }

int ca_llm_kept(const ca_llm *m) { return m->kept; }

void ca_llm_set_cache_budget(ca_llm *m, size_t bytes)
{
    if (cl_model_kvcache(m->m)) cl_kvcache_set_budget(cl_model_kvcache(m->m), bytes);
}

const char *ca_llm_identity(const ca_llm *m) { return m->identity.data; }

uint32_t ca_llm_n_ctx(const ca_llm *m) { return cl_model_get_info(m->m)->n_ctx; }

size_t ca_llm_count(void *ctx, const char *s, size_t n)
{
    ca_llm *m = ctx;
    cl_token *ids = NULL;
    size_t k = 0;
    if (cl_tokenize(cl_model_tokenizer(m->m), s, n, 0, 0, &ids, &k) != CL_OK) k = (n + 3) / 4;
    free(ids);
    return k;
}

void ca_gen_free(ca_gen *g)
{
    if (!g) return;
    free(g->text);
    memset(g, 0, sizeof *g);
}

/* The prompt as tokens. With a chat template in the model (ChatML,
 * Llama-3), the prompt is the user message and the assistant turn is
 * opened; the template's own markers are tokenised as special tokens, the
 * prompt text never is ("<|im_start|>" inside a document stays plain text).
 * Without one, the prompt text alone, with BOS as the model asks. */
static cl_status prompt_tokens(const cl_model *m, const ca_prompt *p, cl_token **out, size_t *n,
                               int *chat)
{
    static const char mark[] = "\x1e@@cairn-prompt@@\x1e";
    const cl_tokenizer *tk = cl_model_tokenizer(m);
    cl_chat_template ct;
    cl_chat_msg msg = {"user", mark};
    char *text = NULL;
    const char *at;
    cl_token *a = NULL, *b = NULL, *c = NULL;
    size_t na = 0, nb = 0, nc = 0, len = 0;
    cl_status st;
    *chat = 0;
    if (cl_chat_template_from_gguf(cl_model_gguf(m), &ct) != CL_OK ||
        cl_chat_render(&ct, &msg, 1, 1, &text, &len) != CL_OK || !(at = strstr(text, mark))) {
        free(text);
        return cl_tokenize(tk, p->text, p->len, 1, 0, out, n);
    }
    *chat = 1;
    if ((st = cl_tokenize(tk, text, (size_t)(at - text), 0, 1, &a, &na)) ||
        (st = cl_tokenize(tk, p->text, p->len, 0, 0, &b, &nb)) ||
        (st = cl_tokenize(tk, at + sizeof mark - 1, strlen(at + sizeof mark - 1), 0, 1, &c, &nc)))
        goto out;
    if (!(*out = malloc((na + nb + nc + 1) * sizeof **out))) { st = CL_ERR_NOMEM; goto out; }
    if (na) memcpy(*out, a, na * sizeof *a);   /* an empty piece may come back as NULL */
    if (nb) memcpy(*out + na, b, nb * sizeof *b);
    if (nc) memcpy(*out + na + nb, c, nc * sizeof *c);
    *n = na + nb + nc;
out:
    free(text);
    free(a);
    free(b);
    free(c);
    return st;
}

typedef struct stream_ctx {
    void (*fn)(void *ctx, const char *s, size_t n);
    void *ctx;
} stream_ctx;

/* Valid UTF-8 of s[0..n): each byte that does not start a whole sequence
 * becomes U+FFFD. cl_generate holds back a sequence cut at a piece's end,
 * so pieces repaired one by one add up to the repaired whole text. */
static cc_status utf8_repair(const char *s, size_t n, cc_buf *out)
{
    size_t i = 0;
    cc_status st = cc_buf_append(out, "", 0);
    while (!st && i < n) {
        int k = cc_utf8_decode(s + i, n - i, NULL);
        if (k > 0) { st = cc_buf_append(out, s + i, (size_t)k); i += (size_t)k; }
        else { st = cc_buf_puts(out, "\xEF\xBF\xBD"); i++; }
    }
    return st;
}

static int on_piece(void *user, cl_token tok, const char *piece, size_t len)
{
    stream_ctx *sc = user;
    cc_buf b = CC_BUF_INIT(0);
    (void)tok;
    if (sc->fn && len && !utf8_repair(piece, len, &b)) sc->fn(sc->ctx, b.data, b.len);
    cc_buf_free(&b);
    return 0;
}

cc_status ca_llm_generate(cc_kb *kb, ca_llm *m, const ca_prompt *p, int max_new,
                          void (*on_token)(void *ctx, const char *s, size_t n), void *ctx,
                          ca_gen *out)
{
    const cl_model_info *in = cl_model_get_info(m->m);
    cl_token *prompt = NULL;
    size_t np = 0;
    int chat;
    stream_ctx sc = {on_token, ctx};
    cl_gen_opts o;
    cl_gen_result r;

    memset(out, 0, sizeof *out);
    memset(&o, 0, sizeof o);
    memset(&r, 0, sizeof r);
    if (prompt_tokens(m->m, p, &prompt, &np, &chat) != CL_OK)
        return cc_kb_seterr(kb, CC_INVALID, "tokenising the prompt: %s", cl_errmsg());
    /* the prompt builder fits the prompt to the context with some slack;
     * a tokenisation a few tokens longer than counted shortens the answer
     * instead of failing; a prompt that leaves no room for one fails */
    if (np && np < in->n_ctx && np + (size_t)max_new > in->n_ctx &&
        in->n_ctx - np >= (size_t)(max_new < 16 ? max_new : 16))
        max_new = (int)(in->n_ctx - np);
    if (!np || np + (size_t)max_new > in->n_ctx) {
        free(prompt);
        return cc_kb_seterr(kb, CC_TOOBIG, "the prompt is %zu tokens (with the chat template), which"
                            " leaves %zu of the model's %u-token context for the answer (%d asked):"
                            " use a model with a longer context, ask for fewer answer tokens"
                            " (--max-tokens, ask.max_tokens) or lower ask.prompt_tokens", np,
                            np < in->n_ctx ? in->n_ctx - np : 0, in->n_ctx, max_new);
    }
    cl_sample_opts_default(&o.sample);   /* greedy: the same answer every time (replay) */
    o.max_tokens = (size_t)max_new;
    o.on_token = on_piece;
    o.user = &sc;
    if (cl_generate(m->m, prompt, np, &o, &r) != CL_OK) {
        free(prompt);
        return cc_kb_seterr(kb, CC_INVALID, "model: %s", cl_errmsg());
    }
    free(prompt);
    /* a model can emit bytes that are not UTF-8 (a byte token alone): the
     * answer and the trace stay valid UTF-8, each bad byte becomes U+FFFD */
    {
        cc_buf t = CC_BUF_INIT(0);
        if (utf8_repair(r.text ? r.text : "", r.len, &t)) {
            cc_buf_free(&t);
            cl_gen_result_free(&r);
            return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        }
        out->text = cc_buf_detach(&t);
    }
    out->n_prompt_tokens = np;
    out->n_gen_tokens = r.n_tokens;
    out->t_prefill = r.prefill_ms;
    out->t_decode = r.decode_ms;
    out->stopped_eos = r.stop_reason == CL_STOP_EOS;
    out->chat_template = chat;
    out->kv_prompt_tokens = r.kv.prompt_tokens;
    out->kv_hit_tokens = r.kv.hit_tokens;
    out->kv_hit_blocks = r.kv.hit_blocks;
    out->kv_stored_blocks = r.kv.stored_blocks;
    out->model_kept = m->kept;
    cl_gen_result_free(&r);
    return CC_OK;
}
