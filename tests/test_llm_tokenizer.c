/* test_llm_tokenizer.c — reproduces llama.cpp's expected token ids for the
 * vocab-only GGUF files in $CAIRN_SHARED/vocab (gpt-2: byte-level BPE,
 * llama-spm: SentencePiece BPE, bert-bge: WordPiece), plus round trips
 * through cl_detokenize. Inputs are separated by "\n__ggml_vocab_test__\n";
 * the .out file has one line of ids per input (tokenized without BOS/EOS). */
#include "llm.h"
#include "check.h"

#define CL_CHECK_OK(expr) do { cl_status s_ = (expr); check_count++; if (s_ != CL_OK) { \
    check_failures++; fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #expr, \
    cl_status_str(s_), cl_errmsg()); } } while (0)

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); p = NULL; }
    fclose(f);
    if (p) { p[n] = 0; *len = (size_t)n; }
    return p;
}

static void run_vocab(const char *dir, const char *name, int expect_kind)
{
    char path[1024];
    char *inp, *outp, *ip, *op;
    size_t ilen, olen;
    cl_gguf *g = NULL;
    cl_tokenizer *t = NULL;
    int total = 0, pass = 0, rt_total = 0, rt_pass = 0;
    const char *sep = "\n__ggml_vocab_test__\n";

    snprintf(path, sizeof path, "%s/vocab/%s", dir, name);
    CL_CHECK_OK(cl_gguf_open(path, &g));
    if (!g) return;
    CL_CHECK_OK(cl_tokenizer_new(g, &t));
    cl_gguf_close(g); /* the tokenizer keeps its own copy */
    if (!t) return;
    CHECK((int)cl_tokenizer_kind(t) == expect_kind);
    snprintf(path, sizeof path, "%s/vocab/%s.inp", dir, name);
    inp = slurp(path, &ilen);
    snprintf(path, sizeof path, "%s/vocab/%s.out", dir, name);
    outp = slurp(path, &olen);
    CHECK(inp && outp);
    if (!inp || !outp) goto done;
    ip = inp;
    op = outp;
    for (;;) {
        char *end = strstr(ip, sep), *eol;
        cl_token *ids = NULL, want[4096];
        size_t n = 0, nw = 0, k;
        int ok;
        if (!end) break;
        *end = 0;
        eol = strchr(op, '\n');
        if (!eol) break;
        *eol = 0;
        {
            char *q = op;
            while (*q && nw < 4096) {
                char *e;
                long v = strtol(q, &e, 10);
                if (e == q) break;
                want[nw++] = (cl_token)v;
                q = e;
            }
        }
        CL_CHECK_OK(cl_tokenize(t, ip, strlen(ip), 0, 0, &ids, &n));
        ok = n == nw;
        for (k = 0; ok && k < n; k++) ok = ids[k] == want[k];
        total++;
        if (ok) pass++;
        else {
            fprintf(stderr, "%s: mismatch for \"%s\"\n  want:%s\n  got: ", name, ip, op);
            for (k = 0; k < n; k++) fprintf(stderr, " %d", ids[k]);
            fprintf(stderr, "\n");
        }
        CHECK(ok);
        /* round trip: BPE and SPM are lossless on these inputs; WordPiece is
         * not (lowercase, accents), so it is only checked not to fail */
        {
            char *txt = NULL;
            size_t tl = 0;
            CL_CHECK_OK(cl_detokenize(t, ids, n, 0, &txt, &tl));
            if (expect_kind != CL_TOK_WPM && txt) {
                rt_total++;
                if (tl == strlen(ip) && !memcmp(txt, ip, tl)) rt_pass++;
                else fprintf(stderr, "%s: round trip of \"%s\" gave \"%s\"\n", name, ip, txt);
            }
            free(txt);
        }
        free(ids);
        ip = end + strlen(sep);
        op = eol + 1;
    }
    printf("%s: %d/%d lines match", name, pass, total);
    if (rt_total) printf(", %d/%d round trips exact", rt_pass, rt_total);
    printf("\n");
    CHECK(total > 0);
done:
    free(inp);
    free(outp);
    cl_tokenizer_free(t);
}

/* Encodes text and compares with want[0..nw). */
static void expect_ids(cl_tokenizer *t, const char *text, int add_special, int parse_special,
                       const cl_token *want, size_t nw)
{
    cl_token *ids = NULL;
    size_t n = 0, k;
    int ok;
    CL_CHECK_OK(cl_tokenize(t, text, strlen(text), add_special, parse_special, &ids, &n));
    ok = n == nw;
    for (k = 0; ok && k < n; k++) ok = ids[k] == want[k];
    CHECK_MSG(ok, "\"%s\" (add_special %d, parse_special %d): got %zu tokens, first %d", text, add_special,
              parse_special, n, n ? ids[0] : -1);
    free(ids);
}

/* BOS/EOS rules and special-token parsing. */
static void special_rules(const char *dir)
{
    char path[1024];
    cl_gguf *g = NULL;
    cl_tokenizer *t = NULL;
    char *txt = NULL;

    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-llama-spm.gguf", dir);
    CL_CHECK_OK(cl_gguf_open(path, &g));
    if (g) CL_CHECK_OK(cl_tokenizer_new(g, &t));
    cl_gguf_close(g);
    if (t) {
        static const cl_token a[] = {1, 15043, 3186}, b[] = {15043, 2};
        CHECK(cl_tokenizer_bos(t) == 1 && cl_tokenizer_eos(t) == 2 && cl_tokenizer_unk(t) == 0);
        CHECK(cl_tokenizer_adds_bos(t) && !cl_tokenizer_adds_eos(t));
        expect_ids(t, "Hello world", 1, 0, a, 3);
        expect_ids(t, "Hello</s>", 0, 1, b, 2);
        {
            /* without parse_special "</s>" is plain text, never token 2 */
            cl_token *ids = NULL;
            size_t n = 0, k;
            int has2 = 0;
            CL_CHECK_OK(cl_tokenize(t, "Hello</s>", 9, 0, 0, &ids, &n));
            for (k = 0; k < n; k++) has2 |= ids[k] == 2;
            CHECK(n > 2 && !has2);
            CL_CHECK_OK(cl_detokenize(t, ids, n, 0, &txt, NULL));
            CHECK_STR(txt, "Hello</s>");
            free(txt);
            free(ids);
        }
        CL_CHECK_OK(cl_detokenize(t, a, 3, 0, &txt, NULL));
        CHECK_STR(txt, "Hello world");
        free(txt);
        CL_CHECK_OK(cl_detokenize(t, a, 3, 1, &txt, NULL));
        CHECK_STR(txt, "<s> Hello world");
        free(txt);
        CHECK(cl_detokenize(t, (const cl_token[]){32000}, 1, 0, &txt, NULL) == CL_ERR_RANGE);
        CHECK(cl_tokenizer_find(t, "\xe2\x96\x81Hello", 8) == 15043);
        CHECK_STR(cl_tokenizer_token_text(t, 3186), "\xe2\x96\x81world");
        CHECK(cl_tokenizer_token_type(t, 3) == CL_TOKTYPE_BYTE);
    }
    cl_tokenizer_free(t);
    t = NULL;

    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-bert-bge.gguf", dir);
    g = NULL;
    CL_CHECK_OK(cl_gguf_open(path, &g));
    if (g) CL_CHECK_OK(cl_tokenizer_new(g, &t));
    cl_gguf_close(g);
    if (t) {
        static const cl_token a[] = {101, 7592, 2088, 102};
        expect_ids(t, "Hello world", 1, 0, a, 4);
        CL_CHECK_OK(cl_detokenize(t, a, 4, 0, &txt, NULL));
        CHECK_STR(txt, "hello world");
        free(txt);
    }
    cl_tokenizer_free(t);
}

int main(void)
{
    const char *dir = getenv("CAIRN_SHARED");
    char path[1024];
    FILE *f;
    if (!dir) SKIP("CAIRN_SHARED is not set (needs shared/vocab)");
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-gpt-2.gguf", dir);
    if (!(f = fopen(path, "rb"))) SKIP("%s not found", path);
    fclose(f);
    run_vocab(dir, "ggml-vocab-gpt-2.gguf", CL_TOK_BPE);
    run_vocab(dir, "ggml-vocab-llama-spm.gguf", CL_TOK_SPM);
    run_vocab(dir, "ggml-vocab-bert-bge.gguf", CL_TOK_WPM);
    special_rules(dir);
    return check_done("llm_tokenizer");
}
