/* test_llm_sample.c — sampling on fixed logits (greedy ties, top-k never
 * outside k, top-p and min-p keep exactly the sets their definitions give,
 * frequencies follow the softmax, same seed = same draws, repetition
 * penalty), stop strings spanning pieces, and cl_generate on a tiny model
 * (stop strings across token boundaries, streaming pieces = text,
 * cancellation, max tokens, determinism with a seed). */
#include "llm_int.h"
#include "check.h"

#include <math.h>
#include <unistd.h>

#define NV 8
/* softmax of these logits (T = 1): 0.5, 0.3, 0.1, 0.05, 0.05, 0, 0, 0 (ln) */
static void fixed(float *l)
{
    static const double p[NV] = {0.5, 0.3, 0.1, 0.05, 0.05, 0, 0, 0};
    int i;
    for (i = 0; i < NV; i++) l[i] = p[i] > 0 ? (float)log(p[i]) : -INFINITY;
}

/* Draws n tokens with settings o from the fixed logits; counts into cnt. */
static void draw(const cl_sample_opts *o, int n, int *cnt)
{
    cl_sampler *s = NULL;
    float l[NV];
    int i;
    memset(cnt, 0, NV * sizeof *cnt);
    CHECK(cl_sampler_new(o, NV, &s) == CL_OK);
    if (!s) return;
    for (i = 0; i < n; i++) {
        cl_token t = -1;
        fixed(l);
        CHECK(cl_sampler_sample(s, l, NULL, &t) == CL_OK);
        if (t >= 0 && t < NV) cnt[t]++;
    }
    cl_sampler_free(s);
}

/* |observed - expected| within 5 standard deviations of a binomial */
static int near(int k, int n, double p)
{
    return fabs(k - n * p) <= 5 * sqrt(n * p * (1 - p)) + 1;
}

static void test_sampling(void)
{
    cl_sample_opts o;
    cl_sampler *s;
    float l[NV];
    int cnt[NV], cnt2[NV], i, N = 4000;
    cl_token t;

    cl_sample_opts_default(&o); /* greedy; ties to the lower id */
    CHECK(cl_sampler_new(&o, NV, &s) == CL_OK);
    for (i = 0; i < NV; i++) l[i] = 1.0f;
    l[5] = l[3] = 2.0f;
    CHECK(cl_sampler_sample(s, l, NULL, &t) == CL_OK && t == 3);
    {
        uint8_t allowed[NV] = {1, 1, 1, 0, 1, 1, 1, 1};
        for (i = 0; i < NV; i++) l[i] = 1.0f;
        l[5] = l[3] = 2.0f;
        CHECK(cl_sampler_sample(s, l, allowed, &t) == CL_OK && t == 5);
        memset(allowed, 0, sizeof allowed);
        CHECK(cl_sampler_sample(s, l, allowed, &t) == CL_ERR_INVALID);
    }
    cl_sampler_free(s);

    cl_sample_opts_default(&o); /* temperature 1: the softmax */
    o.temperature = 1.0f;
    o.seed = 1;
    draw(&o, N, cnt);
    CHECK(near(cnt[0], N, 0.5) && near(cnt[1], N, 0.3) && near(cnt[2], N, 0.1) && near(cnt[3], N, 0.05));
    CHECK(cnt[5] == 0 && cnt[6] == 0 && cnt[7] == 0);
    printf("T=1: %d %d %d %d %d of %d\n", cnt[0], cnt[1], cnt[2], cnt[3], cnt[4], N);

    o.top_k = 2; /* never outside the best 2, in ratio 5:3 */
    draw(&o, N, cnt);
    CHECK(cnt[0] + cnt[1] == N && near(cnt[0], N, 0.625));
    o.top_k = 3;
    draw(&o, N, cnt);
    CHECK(cnt[0] + cnt[1] + cnt[2] == N && cnt[2] > 0);

    o.top_k = 0; /* top-p 0.85: 0.5 + 0.3 = 0.8 < 0.85, + 0.1 = 0.9 >= 0.85: {0,1,2} */
    o.top_p = 0.85f;
    draw(&o, N, cnt);
    CHECK(cnt[0] + cnt[1] + cnt[2] == N && near(cnt[2], N, 0.1 / 0.9) && near(cnt[0], N, 0.5 / 0.9));
    o.top_p = 0.5f; /* the best alone reaches 0.5 */
    draw(&o, N, cnt);
    CHECK(cnt[0] == N);

    o.top_p = 1.0f; /* min-p 0.15: p >= 0.075 => {0,1,2} */
    o.min_p = 0.15f;
    draw(&o, N, cnt);
    CHECK(cnt[0] + cnt[1] + cnt[2] == N && near(cnt[1], N, 0.3 / 0.9));
    o.min_p = 0.7f; /* p >= 0.35 => {0} */
    draw(&o, N, cnt);
    CHECK(cnt[0] == N);

    o.min_p = 0; /* temperature 0.5 sharpens: p ~ p^2 */
    o.temperature = 0.5f;
    draw(&o, N, cnt);
    CHECK(near(cnt[0], N, 0.25 / 0.3650) && near(cnt[1], N, 0.09 / 0.3650));

    /* same seed => same draws; another seed => others */
    {
        cl_sampler *a = NULL, *b = NULL, *c = NULL;
        int same = 1, diff = 0;
        o.temperature = 1.0f;
        o.seed = 77;
        cl_sampler_new(&o, NV, &a);
        cl_sampler_new(&o, NV, &b);
        o.seed = 78;
        cl_sampler_new(&o, NV, &c);
        for (i = 0; i < 200 && a && b && c; i++) {
            cl_token x, y, z;
            fixed(l); cl_sampler_sample(a, l, NULL, &x);
            fixed(l); cl_sampler_sample(b, l, NULL, &y);
            fixed(l); cl_sampler_sample(c, l, NULL, &z);
            same &= x == y;
            diff += x != z;
        }
        CHECK(same && diff > 20);
        cl_sampler_free(a);
        cl_sampler_free(b);
        cl_sampler_free(c);
    }

    /* repetition penalty: 2.0 and 1.9; 0 seen before => 2.0/1.5 < 1.9 */
    cl_sample_opts_default(&o);
    o.repeat_penalty = 1.5f;
    CHECK(cl_sampler_new(&o, NV, &s) == CL_OK);
    for (i = 0; i < NV; i++) l[i] = -1.0f;
    l[0] = 2.0f;
    l[1] = 1.9f;
    CHECK(cl_sampler_sample(s, l, NULL, &t) == CL_OK && t == 0);
    cl_sampler_accept(s, 0);
    cl_sampler_accept(s, 0); /* twice: still divided once */
    l[0] = 2.0f;
    l[1] = 1.9f;
    CHECK(cl_sampler_sample(s, l, NULL, &t) == CL_OK && t == 1 && fabsf(l[0] - 2.0f / 1.5f) < 1e-6f);
    for (i = 0; i < NV; i++) l[i] = -1.0f; /* negative logits are multiplied: -1 -> -1.5 */
    l[0] = -0.8f;
    l[2] = -1.1f;
    CHECK(cl_sampler_sample(s, l, NULL, &t) == CL_OK && t == 1 && fabsf(l[0] + 1.2f) < 1e-6f);
    cl_sampler_free(s);
    o.top_p = 0; /* bad settings */
    CHECK(cl_sampler_new(&o, NV, &s) == CL_ERR_INVALID && s == NULL);
    (void)cnt2;
}

/* Feeds pieces one by one through cl_stop_scan like cl_generate does;
 * returns what was emitted, and whether it stopped. */
static int run_stop(const char *const *stop, size_t n_stop, const char *const *pieces, size_t n, char *outbuf)
{
    char text[256] = "";
    size_t len = 0, emitted = 0, i, to;
    int stopped = 0;
    outbuf[0] = 0;
    for (i = 0; i < n && !stopped; i++) {
        memcpy(text + len, pieces[i], strlen(pieces[i]));
        len += strlen(pieces[i]);
        stopped = cl_stop_scan(stop, n_stop, text, len, emitted, i + 1 == n, &to);
        CHECK(to >= emitted && to <= len);
        memcpy(outbuf + strlen(outbuf), text + emitted, to - emitted);
        outbuf[emitted + (to - emitted)] = 0;
        emitted = to;
    }
    return stopped;
}

static void test_stop(void)
{
    static const char *const stop[] = {"\n\nUser:", "###"};
    static const char *const p1[] = {"Hello", " there\n", "\nUs", "er:", " more"};
    static const char *const p2[] = {"a #", "# b", " ##", "#"};
    static const char *const p3[] = {"no stop\n", "\nU"}; /* ends on a partial match: flushed at the end */
    static const char *const p4[] = {"caf", "\xc3", "\xa9!"}; /* UTF-8 split across pieces */
    char out[256];
    size_t to;
    CHECK(run_stop(stop, 2, p1, 5, out) == 1);
    CHECK_STR(out, "Hello there");
    CHECK(run_stop(stop, 2, p2, 4, out) == 1); /* "###" spans pieces 3 and 4 */
    CHECK_STR(out, "a ## b ");
    CHECK(run_stop(stop, 2, p2, 3, out) == 0); /* "##" held back, then flushed at the end */
    CHECK_STR(out, "a ## b ##");
    CHECK(run_stop(stop, 2, p3, 2, out) == 0);
    CHECK_STR(out, "no stop\n\nU");
    /* while a partial match is pending, nothing of it is emitted */
    CHECK(cl_stop_scan(stop, 2, "x\n\nU", 4, 0, 0, &to) == 0 && to == 1);
    /* an incomplete UTF-8 sequence is held back */
    CHECK(cl_stop_scan(NULL, 0, "caf\xc3", 4, 0, 0, &to) == 0 && to == 3);
    CHECK(run_stop(NULL, 0, p4, 3, out) == 0);
    CHECK_STR(out, "caf\xc3\xa9!");
}

typedef struct sink {
    char buf[4096];
    size_t len;
    int calls, cancel_after;
} sink;

static int on_tok(void *user, cl_token t, const char *piece, size_t len)
{
    sink *k = user;
    (void)t;
    if (k->len + len < sizeof k->buf) {
        memcpy(k->buf + k->len, piece, len);
        k->len += len;
        k->buf[k->len] = 0;
    }
    k->calls++;
    return k->cancel_after && k->calls >= k->cancel_after;
}

static void test_generate(void)
{
    const char *tmp = getenv("CAIRN_TMP") ? getenv("CAIRN_TMP") : "/tmp";
    char path[512], stopstr[16];
    cl_model *m = NULL;
    cl_token *prompt = NULL;
    size_t n_prompt = 0, i, boundary = 0, acc = 0;
    cl_gen_opts g;
    cl_gen_result r1, r2, r3;
    sink k;
    snprintf(path, sizeof path, "%s/sample-%d.gguf", tmp, (int)getpid());
    CHECK(cl_make_tiny("qwen2", CL_TYPE_F32, 5, path) == CL_OK);
    CHECK(cl_model_open(path, 0, &m) == CL_OK);
    if (!m) return;
    CHECK(cl_tokenize(cl_model_tokenizer(m), "hello there", 11, 1, 0, &prompt, &n_prompt) == CL_OK);
    memset(&g, 0, sizeof g);
    cl_sample_opts_default(&g.sample);
    g.sample.temperature = 1.5f;
    g.sample.seed = 9;
    g.max_tokens = 30;
    memset(&k, 0, sizeof k);
    g.on_token = on_tok;
    g.user = &k;
    CHECK(cl_generate(m, prompt, n_prompt, &g, &r1) == CL_OK);
    CHECK(r1.n_tokens == 30 && r1.stop_reason == CL_STOP_MAX);
    CHECK(k.calls == 30 && k.len == r1.len && !memcmp(k.buf, r1.text, r1.len));
    CHECK(cl_generate(m, prompt, n_prompt, &g, &r2) == CL_OK); /* same seed => same tokens */
    CHECK(r2.n_tokens == r1.n_tokens && !memcmp(r1.tokens, r2.tokens, r1.n_tokens * sizeof(cl_token)));
    cl_gen_result_free(&r2);
    /* a stop string made of the end of token 10's text and the start of
     * token 11's: the text stops right before it */
    for (i = 0; i < 10; i++) {
        char *pc = NULL;
        size_t pl = 0;
        cl_detokenize(cl_model_tokenizer(m), &r1.tokens[i], 1, 0, &pc, &pl);
        acc += pl;
        free(pc);
    }
    boundary = acc; /* text offset where token 10 starts */
    CHECK(boundary >= 2 && boundary + 2 <= r1.len);
    if (boundary >= 2 && boundary + 2 <= r1.len) {
        const char *stops[1];
        size_t first;
        memcpy(stopstr, r1.text + boundary - 2, 4);
        stopstr[4] = 0;
        stops[0] = stopstr;
        first = (size_t)(strstr(r1.text, stopstr) - r1.text);
        g.stop = stops;
        g.n_stop = 1;
        memset(&k, 0, sizeof k);
        CHECK(cl_generate(m, prompt, n_prompt, &g, &r3) == CL_OK);
        CHECK(r3.stop_reason == CL_STOP_STRING && r3.len == first && !memcmp(r3.text, r1.text, first));
        CHECK(k.len == r3.len && !memcmp(k.buf, r3.text, r3.len) && strstr(k.buf, stopstr) == NULL);
        cl_gen_result_free(&r3);
        g.stop = NULL;
        g.n_stop = 0;
    }
    memset(&k, 0, sizeof k); /* cancellation after 4 tokens */
    k.cancel_after = 4;
    CHECK(cl_generate(m, prompt, n_prompt, &g, &r3) == CL_OK);
    CHECK(r3.stop_reason == CL_STOP_CANCEL && r3.n_tokens == 4 && !memcmp(r3.tokens, r1.tokens, 4 * sizeof(cl_token)));
    cl_gen_result_free(&r3);
    /* greedy through cl_generate equals cl_model_generate */
    {
        cl_token ref[12];
        size_t nref = 0;
        g.sample.temperature = 0;
        g.max_tokens = 12;
        g.on_token = NULL;
        CHECK(cl_model_generate(m, prompt, n_prompt, 12, ref, &nref) == CL_OK);
        CHECK(cl_generate(m, prompt, n_prompt, &g, &r3) == CL_OK);
        CHECK(r3.n_tokens == nref && !memcmp(r3.tokens, ref, nref * sizeof *ref));
        cl_gen_result_free(&r3);
    }
    cl_gen_result_free(&r1);
    cl_gen_result_free(NULL);
    free(prompt);
    cl_model_free(m);
    unlink(path);
}

int main(void)
{
    test_sampling();
    test_stop();
    test_generate();
    return check_done("llm_sample");
}
