/* test_llm_bpe.c — byte-level BPE pre-tokenizers (GPT-2, Llama-3, Qwen2) on
 * a tiny vocabulary written here: the 256 byte characters plus a few merges
 * whose results differ depending on where the pre-tokenizer splits. Needs
 * no shared data. */
#include "llm.h"
#include "check.h"

#define CL_CHECK_OK(expr) do { cl_status s_ = (expr); check_count++; if (s_ != CL_OK) { \
    check_failures++; fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #expr, \
    cl_status_str(s_), cl_errmsg()); } } while (0)

enum { T12 = 256, T123, T34, TSP1, TAPS };

/* GPT-2's bytes_to_unicode, written out independently of llm/. */
static void byte_char(int b, char out[3])
{
    int cp = b, n = 0, k;
    if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
        for (k = 0; k < b; k++)
            if (!((k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) { out[0] = (char)cp; out[1] = 0; }
    else { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); out[2] = 0; }
}

static cl_tokenizer *make(const char *pre, cl_status want)
{
    static char chars[256][3];
    const char *toks[261];
    /* ranks: "3 4" first, then "1 2", then "12 3" */
    const char *merges[] = {"3 4", "1 2", "12 3", "\xc4\xa0 1", "' S"};
    cl_gguf_writer *w = NULL;
    cl_gguf *g = NULL;
    cl_tokenizer *t = NULL;
    uint8_t *img = NULL;
    size_t len = 0;
    int b;
    for (b = 0; b < 256; b++) {
        byte_char(b, chars[b]);
        toks[b] = chars[b];
    }
    toks[T12] = "12";
    toks[T123] = "123";
    toks[T34] = "34";
    toks[TSP1] = "\xc4\xa0" "1"; /* "Ġ1" */
    toks[TAPS] = "'S";
    CL_CHECK_OK(cl_gguf_writer_new(&w));
    CL_CHECK_OK(cl_gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2"));
    CL_CHECK_OK(cl_gguf_writer_add_str(w, "tokenizer.ggml.pre", pre));
    CL_CHECK_OK(cl_gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, 261));
    CL_CHECK_OK(cl_gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", merges, 5));
    CL_CHECK_OK(cl_gguf_writer_finish(w, &img, &len));
    cl_gguf_writer_free(w);
    CL_CHECK_OK(cl_gguf_open_mem(img, len, &g));
    if (g) {
        cl_status st = cl_tokenizer_new(g, &t);
        CHECK_MSG(st == want, "%s: %s (%s)", pre, cl_status_str(st), cl_errmsg());
    }
    cl_gguf_close(g);
    free(img);
    return t;
}

static void expect(cl_tokenizer *t, const char *pre, const char *text, const cl_token *want, size_t nw)
{
    cl_token *ids = NULL;
    size_t n = 0, k;
    int ok;
    char *back = NULL;
    CL_CHECK_OK(cl_tokenize(t, text, strlen(text), 0, 0, &ids, &n));
    ok = n == nw;
    for (k = 0; ok && k < n; k++) ok = ids[k] == want[k];
    if (!ok) {
        fprintf(stderr, "%s: \"%s\" got", pre, text);
        for (k = 0; k < n; k++) fprintf(stderr, " %d", ids[k]);
        fprintf(stderr, "\n");
    }
    CHECK(ok);
    CL_CHECK_OK(cl_detokenize(t, ids, n, 0, &back, NULL));
    CHECK_STR(back, text);
    free(back);
    free(ids);
}

int main(void)
{
    cl_tokenizer *t;
    t = make("gpt-2", CL_OK);
    if (t) {
        /* one piece "1234": 3+4 (rank 0), then 1+2 -> 12 34 */
        expect(t, "gpt-2", "1234", (const cl_token[]){T12, T34}, 2);
        /* " 1" is one piece ( ?\p{N}+) -> Ġ1 */
        expect(t, "gpt-2", " 1", (const cl_token[]){TSP1}, 1);
        /* contractions are lowercase only: "'" and "S" apart */
        expect(t, "gpt-2", "'S", (const cl_token[]){'\'', 'S'}, 2);
        expect(t, "gpt-2", "a\n\n b", (const cl_token[]){'a', 0x0A, 0x0A, 0x20 /* see below */, 'b'}, 5);
    }
    cl_tokenizer_free(t);
    t = make("llama-bpe", CL_OK);
    if (t) {
        /* digits in groups of three: "123" "4" */
        expect(t, "llama-bpe", "1234", (const cl_token[]){T123, '4'}, 2);
        /* no optional space before numbers: " " and "1" apart */
        expect(t, "llama-bpe", " 1", (const cl_token[]){' ', '1'}, 2);
        /* case-insensitive contractions: "'S" is one piece */
        expect(t, "llama-bpe", "'S", (const cl_token[]){TAPS}, 1);
        expect(t, "llama-bpe", "1234567", (const cl_token[]){T123, '4', '5', '6', '7'}, 5);
    }
    cl_tokenizer_free(t);
    t = make("qwen2", CL_OK);
    if (t) {
        /* single digits: no merges at all */
        expect(t, "qwen2", "1234", (const cl_token[]){'1', '2', '3', '4'}, 4);
        expect(t, "qwen2", "'S", (const cl_token[]){TAPS}, 1);
    }
    cl_tokenizer_free(t);
    t = make("no-such-pre", CL_ERR_UNSUPPORTED);
    CHECK(t == NULL);
    return check_done("llm_bpe");
}
