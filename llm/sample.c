/* sample.c — token sampling (greedy, temperature, top-k, top-p, min-p,
 * repetition penalty, seeded xoshiro256** PRNG), stop strings on the
 * detokenised text, and cl_generate: prompt prefill, then sample, stream
 * and evaluate one token at a time. */
#include "llm_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ PRNG */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r) /* xoshiro256** */
{
    uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

static double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); } /* [0, 1) */

/* ------------------------------------------------------------ sampler */

typedef struct cand {
    float logit;
    cl_token id;
    double p;
} cand;

struct cl_sampler {
    cl_sample_opts o;
    int32_t n_vocab;
    rng r;
    cl_token *hist; /* ring of repeat_last_n tokens */
    size_t n_hist, hist_pos;
    cand *c;        /* n_vocab candidates */
    uint8_t *seen;  /* n_vocab flags, for the penalty */
};

void cl_sample_opts_default(cl_sample_opts *o)
{
    memset(o, 0, sizeof *o);
    o->top_p = 1.0f;
    o->repeat_penalty = 1.0f;
    o->repeat_last_n = 64;
}

void cl_sampler_free(cl_sampler *s)
{
    if (!s) return;
    free(s->hist);
    free(s->c);
    free(s->seen);
    free(s);
}

cl_status cl_sampler_new(const cl_sample_opts *o, int32_t n_vocab, cl_sampler **out)
{
    cl_sampler *s;
    uint64_t x = o->seed;
    *out = NULL;
    if (n_vocab <= 0) return cl_err(CL_ERR_INVALID, "sampler: vocabulary size %d", n_vocab);
    if (o->top_k < 0 || !(o->top_p > 0.0f) || !(o->min_p >= 0.0f && o->min_p <= 1.0f) ||
        !(o->repeat_penalty > 0.0f) || o->repeat_last_n < 0 || isnan(o->temperature))
        return cl_err(CL_ERR_INVALID,
                      "sampler: settings out of range (top-k >= 0, top-p > 0, min-p in 0..1, repeat penalty > 0)");
    if (!(s = calloc(1, sizeof *s))) return cl_err(CL_ERR_NOMEM, "sampler: out of memory");
    s->o = *o;
    s->n_vocab = n_vocab;
    s->r.s[0] = splitmix(&x);
    s->r.s[1] = splitmix(&x);
    s->r.s[2] = splitmix(&x);
    s->r.s[3] = splitmix(&x);
    if ((o->repeat_last_n && !(s->hist = malloc((size_t)o->repeat_last_n * sizeof *s->hist))) ||
        !(s->c = malloc((size_t)n_vocab * sizeof *s->c)) || !(s->seen = calloc((size_t)n_vocab, 1))) {
        cl_sampler_free(s);
        return cl_err(CL_ERR_NOMEM, "sampler: out of memory");
    }
    *out = s;
    return CL_OK;
}

void cl_sampler_accept(cl_sampler *s, cl_token t)
{
    if (!s->o.repeat_last_n) return;
    s->hist[s->hist_pos] = t;
    s->hist_pos = (s->hist_pos + 1) % (size_t)s->o.repeat_last_n;
    if (s->n_hist < (size_t)s->o.repeat_last_n) s->n_hist++;
}

static int cand_cmp(const void *a, const void *b) /* logit descending, then id ascending */
{
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Moves the k best candidates (by cand_cmp) to the front, sorted. */
static void top_k_select(cand *c, size_t n, size_t k)
{
    size_t i, j;
    if (k >= n) {
        qsort(c, n, sizeof *c, cand_cmp);
        return;
    }
    /* insertion into a sorted front of k: fine for small k; large k sorts all */
    if (k > 256) {
        qsort(c, n, sizeof *c, cand_cmp);
        return;
    }
    qsort(c, k, sizeof *c, cand_cmp);
    for (i = k; i < n; i++) {
        cand x = c[i];
        if (cand_cmp(&x, &c[k - 1]) >= 0) continue;
        for (j = k - 1; j > 0 && cand_cmp(&x, &c[j - 1]) < 0; j--) c[j] = c[j - 1];
        c[j] = x;
    }
}

cl_status cl_sampler_sample(cl_sampler *s, float *logits, const uint8_t *allowed, cl_token *out)
{
    const cl_sample_opts *o = &s->o;
    size_t n = 0, i, keep;
    double sum = 0.0, u, acc;
    float mx = -INFINITY;
    if (o->repeat_penalty != 1.0f) {
        for (i = 0; i < s->n_hist; i++) {
            cl_token t = s->hist[i];
            if (t < 0 || t >= s->n_vocab || s->seen[t]) continue;
            s->seen[t] = 1;
            logits[t] = logits[t] > 0 ? logits[t] / o->repeat_penalty : logits[t] * o->repeat_penalty;
        }
        for (i = 0; i < s->n_hist; i++)
            if (s->hist[i] >= 0 && s->hist[i] < s->n_vocab) s->seen[s->hist[i]] = 0;
    }
    if (o->temperature <= 0.0f) { /* greedy */
        cl_token best = -1;
        for (i = 0; i < (size_t)s->n_vocab; i++)
            if ((!allowed || allowed[i]) && !isnan(logits[i]) && (best < 0 || logits[i] > logits[best]))
                best = (cl_token)i;
        if (best < 0) return cl_err(CL_ERR_INVALID, "sampler: no token is allowed");
        *out = best;
        return CL_OK;
    }
    for (i = 0; i < (size_t)s->n_vocab; i++) {
        if ((allowed && !allowed[i]) || isnan(logits[i]) || logits[i] == -INFINITY) continue;
        s->c[n].logit = logits[i] / o->temperature;
        s->c[n].id = (cl_token)i;
        if (s->c[n].logit > mx) mx = s->c[n].logit;
        n++;
    }
    if (!n) return cl_err(CL_ERR_INVALID, "sampler: no token is allowed");
    if (o->min_p > 0.0f) { /* cheap prefilter: p/p_max = exp(l - max) < min_p never survives */
        float cut = mx + logf(o->min_p);
        size_t w = 0;
        for (i = 0; i < n; i++)
            if (s->c[i].logit >= cut) s->c[w++] = s->c[i];
        n = w;
    }
    top_k_select(s->c, n, o->top_k > 0 && (size_t)o->top_k < n ? (size_t)o->top_k : n);
    if (o->top_k > 0 && (size_t)o->top_k < n) n = (size_t)o->top_k;
    for (i = 0; i < n; i++) sum += (s->c[i].p = exp((double)s->c[i].logit - s->c[0].logit));
    keep = n;
    if (o->top_p < 1.0f) {
        for (acc = 0.0, i = 0; i < n; i++) {
            acc += s->c[i].p / sum;
            if (acc >= o->top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    if (o->min_p > 0.0f)
        for (i = 1; i < keep; i++)
            if (s->c[i].p < o->min_p * s->c[0].p) { /* c[0].p == 1 (the best) */
                keep = i;
                break;
            }
    for (sum = 0.0, i = 0; i < keep; i++) sum += s->c[i].p;
    u = rng_unit(&s->r) * sum;
    for (acc = 0.0, i = 0; i + 1 < keep; i++) {
        acc += s->c[i].p;
        if (u < acc) break;
    }
    *out = s->c[i].id;
    return CL_OK;
}

/* ------------------------------------------------------------ stop strings */

/* Length of an incomplete UTF-8 sequence at the end of text (0 if none). */
static size_t utf8_tail(const char *text, size_t len)
{
    size_t back;
    for (back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = (unsigned char)text[len - back];
        size_t need;
        if ((c & 0xc0) == 0x80) continue; /* continuation byte */
        need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

int cl_stop_scan(const char *const *stop, size_t n_stop, const char *text, size_t len, size_t emitted, int final,
                 size_t *emit_to)
{
    size_t best = (size_t)-1, hold = 0, k, i;
    for (k = 0; k < n_stop; k++) {
        size_t sl = strlen(stop[k]);
        if (!sl || sl > len) continue;
        for (i = emitted; i + sl <= len && i < best; i++)
            if (!memcmp(text + i, stop[k], sl)) {
                best = i;
                break;
            }
    }
    if (best != (size_t)-1) {
        *emit_to = best;
        return 1;
    }
    if (!final) {
        /* the longest suffix after `emitted` that is a proper prefix of a stop string */
        for (k = 0; k < n_stop; k++) {
            size_t sl = strlen(stop[k]), l;
            for (l = sl - (sl > 0); l > hold && l > 0; l--)
                if (l <= len - emitted && !memcmp(text + len - l, stop[k], l)) {
                    hold = l;
                    break;
                }
        }
        if (utf8_tail(text, len) > hold) hold = utf8_tail(text, len);
        if (hold > len - emitted) hold = len - emitted;
    }
    *emit_to = len - hold;
    return 0;
}

/* ------------------------------------------------------------ generation */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Tokens that end a turn in the supported chat formats, when the vocabulary
 * marks them as control tokens. */
static int is_end_token(const cl_tokenizer *t, cl_token id)
{
    static const char *const ends[] = {"<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "</s>"};
    const char *txt;
    size_t i;
    if (id == cl_tokenizer_eos(t)) return 1;
    if (cl_tokenizer_token_type(t, id) != CL_TOKTYPE_CONTROL || !(txt = cl_tokenizer_token_text(t, id))) return 0;
    for (i = 0; i < sizeof ends / sizeof *ends; i++)
        if (!strcmp(txt, ends[i])) return 1;
    return 0;
}

/* JSON-schema constraint: every token's text, and the matcher state. */
typedef struct constraint {
    cl_json_state st;
    char *txt;   /* texts of all tokens, concatenated */
    size_t *off; /* n_vocab + 1 offsets into txt; control tokens and rows without a token have none */
} constraint;

static cl_status constraint_new(constraint *c, const cl_tokenizer *tok, const cl_json_schema *sc, uint8_t **allowed,
                                uint32_t n_vocab)
{
    size_t cap = 1 << 16, len = 0;
    int32_t n_tok = cl_tokenizer_n_vocab(tok);
    uint32_t v;
    cl_json_state_init(&c->st, sc);
    if (!(*allowed = malloc(n_vocab)) || !(c->off = malloc((n_vocab + 1) * sizeof *c->off)) || !(c->txt = malloc(cap)))
        return cl_err(CL_ERR_NOMEM, "generate: out of memory");
    for (v = 0; v < n_vocab; v++) {
        char *piece = NULL;
        size_t pl = 0;
        int ty = (int32_t)v < n_tok ? cl_tokenizer_token_type(tok, (cl_token)v) : CL_TOKTYPE_UNUSED;
        c->off[v] = len;
        if (ty == CL_TOKTYPE_CONTROL || ty == CL_TOKTYPE_UNKNOWN || ty == CL_TOKTYPE_UNUSED) continue;
        if (cl_detokenize(tok, (const cl_token *)&v, 1, 0, &piece, &pl)) return cl_err(CL_ERR_NOMEM, "generate: %s", cl_errmsg());
        if (len + pl > cap) {
            char *nt;
            while (len + pl > cap) cap *= 2;
            if (!(nt = realloc(c->txt, cap))) {
                free(piece);
                return cl_err(CL_ERR_NOMEM, "generate: out of memory");
            }
            c->txt = nt;
        }
        memcpy(c->txt + len, piece, pl);
        len += pl;
        free(piece);
    }
    c->off[n_vocab] = len;
    return CL_OK;
}

/* allowed[v] = token v's text can continue the value (empty texts cannot). */
static void constraint_mask(const constraint *c, uint8_t *allowed, uint32_t n_vocab)
{
    uint32_t v;
    for (v = 0; v < n_vocab; v++) {
        size_t n = c->off[v + 1] - c->off[v];
        cl_json_state t;
        if (!n) {
            allowed[v] = 0;
            continue;
        }
        t.sc = c->st.sc; /* copy only the live frames */
        t.depth = c->st.depth;
        t.ws_run = c->st.ws_run;
        memcpy(t.f, c->st.f, (size_t)c->st.depth * sizeof *t.f);
        allowed[v] = (uint8_t)cl_json_feed(&t, (const uint8_t *)c->txt + c->off[v], n);
    }
}

void cl_gen_result_free(cl_gen_result *r)
{
    if (!r) return;
    free(r->text);
    free(r->tokens);
    r->text = NULL;
    r->tokens = NULL;
}

cl_status cl_generate(cl_model *m, const cl_token *prompt, size_t n_prompt, const cl_gen_opts *o,
                      cl_gen_result *out)
{
    const cl_model_info *I = cl_model_get_info(m);
    const cl_tokenizer *tok = cl_model_tokenizer(m);
    cl_sampler *smp = NULL;
    float *logits = NULL;
    char *text = NULL;
    size_t tlen = 0, tcap = 0, emitted = 0, cap_tokens, i;
    uint8_t *allowed = NULL;
    constraint con = {0};
    uint32_t pos = 0;
    double t0;
    cl_status s;
    memset(out, 0, sizeof *out);
    if (!n_prompt) return cl_err(CL_ERR_INVALID, "generate: the prompt has no tokens");
    if (n_prompt >= I->n_ctx)
        return cl_err(CL_ERR_RANGE, "generate: a prompt of %zu tokens leaves no room in the context (%u)", n_prompt,
                      I->n_ctx);
    cap_tokens = I->n_ctx - n_prompt + 1;
    if (o->max_tokens && o->max_tokens < cap_tokens) cap_tokens = o->max_tokens;
    if ((s = cl_sampler_new(&o->sample, (int32_t)I->n_vocab, &smp))) return s;
    if (!(logits = malloc(I->n_vocab * sizeof *logits)) || !(out->tokens = malloc(cap_tokens * sizeof *out->tokens)) ||
        !(text = malloc(tcap = 256))) {
        s = cl_err(CL_ERR_NOMEM, "generate: out of memory");
        goto done;
    }
    text[0] = 0;
    if (o->schema && (s = constraint_new(&con, tok, o->schema, &allowed, I->n_vocab))) goto done;
    for (i = 0; i < n_prompt; i++) cl_sampler_accept(smp, prompt[i]);
    t0 = now_ms();
    if ((s = cl_model_prefill(m, prompt, n_prompt, logits, &out->kv))) goto done;
    pos = (uint32_t)n_prompt;
    out->prefill_ms = now_ms() - t0;
    t0 = now_ms();
    for (;;) {
        cl_token t;
        int end, final, stopped, cancel = 0;
        size_t emit_to;
        if (o->schema) constraint_mask(&con, allowed, I->n_vocab);
        if ((s = cl_sampler_sample(smp, logits, allowed, &t))) goto done;
        cl_sampler_accept(smp, t);
        if (o->schema) cl_json_feed(&con.st, (const uint8_t *)con.txt + con.off[t], con.off[t + 1] - con.off[t]);
        out->tokens[out->n_tokens++] = t;
        end = is_end_token(tok, t);
        if (!end && t < cl_tokenizer_n_vocab(tok)) { /* rows past the vocabulary have no text */
            char *piece = NULL;
            size_t pl = 0;
            if ((s = cl_detokenize(tok, &t, 1, 0, &piece, &pl))) goto done;
            if (tlen + pl + 1 > tcap) {
                char *nt;
                while (tlen + pl + 1 > tcap) tcap *= 2;
                if (!(nt = realloc(text, tcap))) {
                    free(piece);
                    s = cl_err(CL_ERR_NOMEM, "generate: out of memory");
                    goto done;
                }
                text = nt;
            }
            memcpy(text + tlen, piece, pl);
            tlen += pl;
            text[tlen] = 0;
            free(piece);
        }
        final = end || out->n_tokens == cap_tokens || pos >= I->n_ctx || (o->schema && cl_json_complete(&con.st));
        stopped = cl_stop_scan(o->stop, o->n_stop, text, tlen, emitted, final, &emit_to);
        if (o->on_token) cancel = o->on_token(o->user, t, text + emitted, emit_to - emitted);
        emitted = emit_to;
        if (stopped) {
            out->stop_reason = CL_STOP_STRING;
            break;
        }
        if (cancel) {
            out->stop_reason = CL_STOP_CANCEL;
            break;
        }
        if (final) {
            out->stop_reason = end                                       ? CL_STOP_EOS
                               : o->schema && cl_json_complete(&con.st) ? CL_STOP_SCHEMA
                               : out->n_tokens == o->max_tokens         ? CL_STOP_MAX
                                                                        : CL_STOP_CONTEXT;
            break;
        }
        if ((s = cl_model_eval(m, t, pos++, logits))) goto done;
    }
    out->decode_ms = now_ms() - t0;
done:
    if (text) text[emitted] = 0;
    out->text = text;
    out->len = text ? emitted : 0;
    free(logits);
    free(allowed);
    free(con.txt);
    free(con.off);
    cl_sampler_free(smp);
    return s;
}
