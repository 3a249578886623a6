/* test_chunk.c — chunking: the data-driven cases in tests/data/chunk
 * (<case>.txt|.md parsed, chunked with <case>.opts, the chunk list compared
 * with <case>.expected), then property checks on generated text (exact byte
 * and code-point offsets, no boundary inside a word or UTF-8 sequence, full
 * coverage, overlaps, sections), a 50 MB single line, 50 MB of prose, and
 * option checks. CAIRN_UPDATE=1 writes <case>.got for a differing case. */
#include "core.h"
#include "retrieval.h"
#include "check.h"

#include <dirent.h>
#include <string.h>

static int ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/* The token estimate, counted independently of chunk.c: words (runs of
 * letters, digits, non-ASCII) plus ASCII punctuation marks. */
static int count_tokens(const char *p, size_t n)
{
    int t = 0, in = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (ws(c)) in = 0;
        else if (c < 0x80 && ((c >= '!' && c <= '/') || (c >= ':' && c <= '@') ||
                              (c >= '[' && c <= '`') || (c >= '{' && c <= '~'))) { t++; in = 0; }
        else if (!in) { t++; in = 1; }
    }
    return t;
}

/* ---------------------------------------------------------------- properties */

typedef struct pstats {
    size_t overlapped;      /* consecutive pairs that overlap */
    size_t hard_cuts;       /* boundaries inside a run of non-whitespace */
    int max_tokens;
    int max_overlap_tokens;
} pstats;

/* Checks every contract of cr_chunk_text on the result. `exact_chars`:
 * compare char offsets with cc_utf8_count from 0 (quadratic; small texts). */
static void check_chunks(const cr_doc *d, const cr_chunk *k, size_t n, int exact_chars,
                         pstats *st)
{
    const char *t = d->text;
    size_t i, first = 0, last = d->len, cb = 0, cc = 0, cbe = 0, cce = 0;
    int bad = 0;
    memset(st, 0, sizeof *st);
    while (first < d->len && ws((unsigned char)t[first])) first++;
    while (last > first && ws((unsigned char)t[last - 1])) last--;
    if (first == d->len) { CHECK(n == 0); return; }
    CHECK(n > 0);
    if (!n) return;
    CHECK(k[0].start_byte == first);
    CHECK(k[n - 1].end_byte == last);
    for (i = 0; i < n && bad < 10; i++) {
        const cr_chunk *c = &k[i];
        size_t s = c->start_byte, e = c->end_byte, j, sec = SIZE_MAX;
        int ok = s < e && e <= d->len;
        CHECK_MSG(ok, "chunk %zu: [%zu, %zu) of %zu", i, s, e, d->len);
        if (!ok) { bad++; continue; }
        /* no leading/trailing whitespace, never inside a UTF-8 sequence */
        if (ws((unsigned char)t[s]) || ws((unsigned char)t[e - 1]) || cont((unsigned char)t[s]) ||
            (e < d->len && cont((unsigned char)t[e]))) {
            CHECK_MSG(0, "chunk %zu: bad edge [%zu, %zu)", i, s, e);
            bad++;
        }
        /* inside a word only for hard cuts: whitespace on both sides otherwise */
        if ((s > 0 && !ws((unsigned char)t[s - 1])) || (e < d->len && !ws((unsigned char)t[e])))
            st->hard_cuts++;
        /* char offsets */
        if (exact_chars) {
            CHECK(c->start_char == cc_utf8_count(t, s));
            CHECK(c->end_char == cc_utf8_count(t, e));
        } else {
            CHECK(s >= cb && e >= cbe);
            cc += cc_utf8_count(t + cb, s - cb); cb = s;
            cce += cc_utf8_count(t + cbe, e - cbe); cbe = e;
            if (c->start_char != cc || c->end_char != cce) {
                CHECK_MSG(0, "chunk %zu: chars [%zu, %zu), want [%zu, %zu)", i, c->start_char,
                          c->end_char, cc, cce);
                bad++;
            }
        }
        CHECK(c->end_char - c->start_char == cc_utf8_count(t + s, e - s));
        /* tokens */
        if (c->n_tokens != count_tokens(t + s, e - s) && c->n_tokens + 1 != count_tokens(t + s, e - s)) {
            CHECK_MSG(0, "chunk %zu: n_tokens %d, counted %d", i, c->n_tokens,
                      count_tokens(t + s, e - s));
            bad++;
        }
        if (c->n_tokens > st->max_tokens) st->max_tokens = c->n_tokens;
        /* section in force at the start */
        for (j = 0; j < d->n_sections; j++)
            if (d->sections[j].start_byte <= s) sec = j;
        CHECK(c->section == sec);
        /* order, coverage, overlap */
        if (i > 0) {
            const cr_chunk *p = &k[i - 1];
            CHECK(s > p->start_byte);
            if (s < p->end_byte) {
                int ot = count_tokens(t + s, p->end_byte - s);
                st->overlapped++;
                if (ot > st->max_overlap_tokens) st->max_overlap_tokens = ot;
            } else {
                for (j = p->end_byte; j < s; j++)
                    if (!ws((unsigned char)t[j])) break;
                if (j < s) { CHECK_MSG(0, "chunk %zu: byte %zu not covered", i, j); bad++; }
            }
        }
    }
}

/* ---------------------------------------------------------------- data-driven */

typedef struct dctx {
    cr_chunk_opts co;
    cc_buf *out;
} dctx;

static cc_status chunk_doc(void *ud, const cr_doc *d)
{
    dctx *x = ud;
    cr_chunk *k = NULL;
    size_t n = 0, i, j;
    pstats st;
    cc_status s = cr_chunk_text(d, &x->co, &k, &n);
    if (s) return s;
    check_chunks(d, k, n, 1, &st);
    for (i = 0; i < n; i++) {
        cc_buf_printf(x->out, "chunk %zu bytes %zu-%zu chars %zu-%zu tokens %d section ", i,
                      k[i].start_byte, k[i].end_byte, k[i].start_char, k[i].end_char,
                      k[i].n_tokens);
        if (k[i].section == SIZE_MAX) cc_buf_puts(x->out, "-");
        else cc_buf_printf(x->out, "%zu", k[i].section);
        cc_buf_puts(x->out, "\n> ");
        for (j = k[i].start_byte; j < k[i].end_byte; j++) {
            if (d->text[j] == '\n') cc_buf_puts(x->out, "\\n");
            else if (d->text[j] == '\r') cc_buf_puts(x->out, "\\r");
            else cc_buf_putc(x->out, d->text[j]);
        }
        cc_buf_putc(x->out, '\n');
    }
    free(k);
    return CC_OK;
}

static void test_cases(void)
{
    const char *src = getenv("CAIRN_SRC");
    char dir[512], path[1024];
    DIR *dd;
    struct dirent *e;
    int ncases = 0;
    snprintf(dir, sizeof dir, "%s/tests/data/chunk", src ? src : ".");
    dd = opendir(dir);
    CHECK_MSG(dd != NULL, "cannot open %s", dir);
    if (!dd) return;
    while ((e = readdir(dd))) {
        const char *dot = strrchr(e->d_name, '.');
        char cs[256], *data, *opt, *want, *p;
        cc_buf out = CC_BUF_INIT(0), err = CC_BUF_INIT(0);
        dctx x;
        size_t n, on, wn;
        int64_t v;
        cc_status s;
        if (e->d_name[0] == '.' || !dot || (strcmp(dot, ".txt") && strcmp(dot, ".md"))) continue;
        snprintf(cs, sizeof cs, "%.*s", (int)(dot - e->d_name), e->d_name);
        memset(&x, 0, sizeof x);
        x.out = &out;
        snprintf(path, sizeof path, "%s/%s.opts", dir, cs);
        if ((opt = check_read_file(path, &on))) {
            if ((p = strstr(opt, "target="))) {
                p[strcspn(p, "\n")] = 0;
                if (cc_parse_i64(p + 7, 1, 100000, &v) == CC_OK) x.co.target_tokens = (int)v;
                p[strlen(p)] = '\n';
            }
            if ((p = strstr(opt, "overlap="))) {
                p[strcspn(p, "\n")] = 0;
                if (cc_parse_i64(p + 8, 0, 100000, &v) == CC_OK) x.co.overlap_tokens = (int)v;
            }
            free(opt);
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        data = check_read_file(path, &n);
        CHECK_MSG(data != NULL, "cannot read %s", path);
        if (!data) continue;
        s = cr_parse(e->d_name, cr_format_from_path(e->d_name), data, n, NULL, chunk_doc, &x, &err);
        CHECK_MSG(s == CC_OK, "%s: %s", cs, err.data ? err.data : cc_errmsg());
        snprintf(path, sizeof path, "%s/%s.expected", dir, cs);
        want = check_read_file(path, &wn);
        if (!want || strcmp(want, out.data ? out.data : "")) {
            CHECK_MSG(0, "case %s differs\n--- got:\n%s--- want:\n%s", cs, out.data,
                      want ? want : "(missing)\n");
            if (getenv("CAIRN_UPDATE")) {
                FILE *f;
                snprintf(path, sizeof path, "%s/%s.got", dir, cs);
                if ((f = fopen(path, "wb"))) { fwrite(out.data, 1, out.len, f); fclose(f); }
            }
        }
        ncases++;
        free(want);
        free(data);
        cc_buf_free(&out);
        cc_buf_free(&err);
    }
    closedir(dd);
    CHECK(ncases >= 9);
    printf("chunk: %d data cases\n", ncases);
}

/* ---------------------------------------------------------------- generated text */

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* Prose: words (some non-ASCII), commas, sentences, paragraphs, headings. */
static void gen_prose(cc_buf *b, size_t bytes)
{
    static const char *words[] = { "the", "graph", "retrieval", "chunk", "of", "a", "data",
        "caf\xC3\xA9", "\xE6\x97\xA5\xE6\x9C\xAC", "na\xC3\xAFve", "\xF0\x9F\x98\x80", "x",
        "model", "server", "don't", "e.g.", "3.14", "state-of-the-art", "\xC3\x9C" "ber" };
    size_t nw = sizeof words / sizeof words[0];
    while (b->len < bytes) {
        int sent = 1 + (int)rnd(6), i;
        if (rnd(12) == 0) cc_buf_puts(b, "\n\n");
        for (i = 0; i < sent; i++) {
            int w = 3 + (int)rnd(20), j;
            for (j = 0; j < w; j++) {
                cc_buf_puts(b, words[rnd((uint32_t)nw)]);
                if (j + 1 < w) cc_buf_puts(b, rnd(10) == 0 ? ", " : (rnd(30) == 0 ? "\n" : " "));
            }
            cc_buf_puts(b, rnd(5) == 0 ? "? " : (rnd(7) == 0 ? "!\t" : ". "));
        }
    }
}

static void test_generated(void)
{
    cc_buf b = CC_BUF_INIT(0);
    cr_doc d;
    cr_chunk *k = NULL;
    size_t n = 0;
    pstats st;
    cr_section secs[3] = { { 1000, "A" }, { 50000, "B" }, { 50001, "C" } };
    static const int opts[][2] = { { 0, 0 }, { 300, 40 }, { 50, 10 }, { 20, 0 }, { 1, 0 },
                                   { 7, 6 }, { 2000, 100 } };
    size_t o;
    gen_prose(&b, 200000);
    memset(&d, 0, sizeof d);
    d.text = b.data;
    d.len = b.len;
    d.sections = secs;
    d.n_sections = 3;
    for (o = 0; o < sizeof opts / sizeof opts[0]; o++) {
        cr_chunk_opts co = { opts[o][0], opts[o][1] };
        int target = co.target_tokens ? co.target_tokens : 300;
        int overlap = co.target_tokens ? co.overlap_tokens : 40;
        CHECK_OK(cr_chunk_text(&d, &co, &k, &n));
        check_chunks(&d, k, n, 0, &st);
        CHECK_MSG(st.max_overlap_tokens <= overlap, "overlap %d: %d", overlap, st.max_overlap_tokens);
        if (target >= 20) {
            /* the longest whitespace-free word of the generator is 9 tokens
             * ("state-of-the-art."), so nothing needs cutting inside a word */
            CHECK_MSG(st.hard_cuts == 0, "target %d: %zu hard cuts in prose", target, st.hard_cuts);
            CHECK_MSG(st.max_tokens <= target, "target %d: a chunk of %d tokens", target,
                      st.max_tokens);
            if (overlap > 0) CHECK_MSG(st.overlapped * 10 >= (n - 1) * 9, "overlap %d: %zu of %zu",
                                       overlap, st.overlapped, n - 1);
        } else {
            /* tiny targets: words with inner punctuation ("don't") are cut
             * between their tokens, at most twice the target */
            CHECK_MSG(st.max_tokens <= 2 * target + 9, "target %d: a chunk of %d tokens", target,
                      st.max_tokens);
        }
        if (overlap == 0) CHECK(st.overlapped == 0);
        if (target == 300)
            CHECK_MSG(n > 200000 / 3000 && n < 200000 / 500, "%zu chunks of 300 tokens", n);
        free(k);
        k = NULL;
    }
    /* chunks end at a sentence end or a paragraph break almost always */
    {
        cr_chunk_opts co = { 100, 0 };
        size_t i, good = 0;
        CHECK_OK(cr_chunk_text(&d, &co, &k, &n));
        for (i = 0; i + 1 < n; i++) {
            char c = d.text[k[i].end_byte - 1];
            if (c == '.' || c == '!' || c == '?') good++;
        }
        CHECK_MSG(good * 10 >= (n - 1) * 8, "%zu of %zu end a sentence", good, n - 1);
        free(k);
    }
    cc_buf_free(&b);
}

static void test_big(void)
{
    size_t n = (size_t)50 << 20, i, nk = 0;
    char *t = malloc(n);
    cr_doc d;
    cr_chunk *k = NULL;
    pstats st;
    double t0, ms;
    static const char pat[] = "ab\xE2\x82\xAC" "cd\xF0\x9F\x98\x80" "e";   /* 12 bytes */
    CHECK(t != NULL);
    if (!t) return;
    for (i = 0; i < n; i++) t[i] = pat[i % 12];
    n -= n % 12;
    memset(&d, 0, sizeof d);
    d.text = t;
    d.len = n;
    t0 = cc_now_ms();
    CHECK_OK(cr_chunk_text(&d, NULL, &k, &nk));
    ms = cc_now_ms() - t0;
    printf("chunk: 50 MB single line, no spaces: %zu chunks in %.0f ms\n", nk, ms);
    CHECK_MSG(ms < 20000, "took %.0f ms", ms);
    check_chunks(&d, k, nk, 0, &st);
    CHECK(st.overlapped == 0);
    for (i = 0; i < nk; i++) {
        CHECK(k[i].end_byte - k[i].start_byte <= 300 * 16 + 4);
        if (i) CHECK(k[i].start_byte == k[i - 1].end_byte);   /* hard cuts: contiguous */
        if (!(i % 997) && i) CHECK(k[i].start_char == cc_utf8_count(t, k[i].start_byte));
    }
    free(k);
    k = NULL;

    /* 5 MB of punctuation, no spaces: cut between tokens, about 2 x target */
    memset(t, '.', (size_t)5 << 20);
    d.len = (size_t)5 << 20;
    CHECK_OK(cr_chunk_text(&d, NULL, &k, &nk));
    check_chunks(&d, k, nk, 0, &st);
    CHECK(st.max_tokens <= 600);
    free(k);
    k = NULL;

    /* 50 MB of prose */
    {
        cc_buf b = CC_BUF_INIT(0);
        size_t filled = 0;
        gen_prose(&b, (size_t)1 << 20);
        while (filled + b.len <= ((size_t)50 << 20)) {
            memcpy(t + filled, b.data, b.len);
            filled += b.len;
        }
        d.len = filled;
        t0 = cc_now_ms();
        CHECK_OK(cr_chunk_text(&d, NULL, &k, &nk));
        ms = cc_now_ms() - t0;
        printf("chunk: %.1f MB of prose: %zu chunks in %.0f ms\n", filled / 1048576.0, nk, ms);
        CHECK_MSG(ms < 20000, "took %.0f ms", ms);
        check_chunks(&d, k, nk, 0, &st);
        CHECK(st.hard_cuts == 0);
        CHECK(st.max_tokens <= 300);
        free(k);
        cc_buf_free(&b);
    }
    free(t);
}

static void test_opts_and_edges(void)
{
    cr_doc d;
    cr_chunk *k = (cr_chunk *)1;
    size_t n = 99;
    cr_chunk_opts bad1 = { -1, 0 }, bad2 = { 10, 10 }, bad3 = { 10, -1 }, bad4 = { 200000, 0 };
    memset(&d, 0, sizeof d);
    d.text = "one two";
    d.len = 7;
    CHECK(cr_chunk_text(&d, &bad1, &k, &n) == CC_INVALID);
    CHECK(k == NULL && n == 0);
    CHECK(cr_chunk_text(&d, &bad2, &k, &n) == CC_INVALID);
    CHECK(strstr(cc_errmsg(), "overlap_tokens") != NULL);
    CHECK(cr_chunk_text(&d, &bad3, &k, &n) == CC_INVALID);
    CHECK(cr_chunk_text(&d, &bad4, &k, &n) == CC_INVALID);
    CHECK_OK(cr_chunk_text(&d, NULL, &k, &n));
    CHECK(n == 1 && k[0].start_byte == 0 && k[0].end_byte == 7 && k[0].n_tokens == 2 &&
          k[0].section == SIZE_MAX);
    free(k);
    d.text = " \n\t \r\n ";
    d.len = 7;
    CHECK_OK(cr_chunk_text(&d, NULL, &k, &n));
    CHECK(n == 0);
    free(k);
    d.text = NULL;
    d.len = 0;
    CHECK_OK(cr_chunk_text(&d, NULL, &k, &n));
    CHECK(n == 0);
    free(k);
    /* a single multibyte character and a lone word with surrounding space */
    d.text = "  \xF0\x9F\x98\x80  ";
    d.len = 8;
    CHECK_OK(cr_chunk_text(&d, NULL, &k, &n));
    CHECK(n == 1 && k[0].start_byte == 2 && k[0].end_byte == 6 && k[0].start_char == 2 &&
          k[0].end_char == 3);
    free(k);
}

int main(void)
{
    test_cases();
    test_opts_and_edges();
    test_generated();
    test_big();
    return check_done("chunk");
}
