/* test_parse.c — document parsing: the data-driven cases in tests/data/parse
 * (<case>.<ext> parsed with the options in <case>.opts, the dump compared
 * with <case>.expected), then C checks for what text files cannot carry
 * well: invalid UTF-8 with byte offsets, repair, NUL, BOM, empty input,
 * zero copy, size limits, format names, callback status, JSONL atomicity.
 * CAIRN_UPDATE=1 writes <case>.got next to a case whose output differs. */
#include "core.h"
#include "retrieval.h"
#include "check.h"

#include <dirent.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* Checks the cr_doc invariants and appends a dump of the document. */
static cc_status dump_doc(void *ud, const cr_doc *d)
{
    cc_buf *b = ud;
    size_t i;
    CHECK(d->uri != NULL);
    CHECK(d->text != NULL && d->len > 0);
    CHECK(cc_utf8_check(d->text, d->len) == d->len);
    CHECK(memchr(d->text, 0, d->len) == NULL);
    for (i = 0; i < d->n_sections; i++) {
        CHECK(d->sections[i].start_byte <= d->len);
        CHECK(i == 0 || d->sections[i - 1].start_byte <= d->sections[i].start_byte);
    }
    cc_buf_printf(b, "doc %s\ntitle %s\nmeta %s\nrepaired %zu\n", d->uri,
                  d->title ? d->title : "-", d->meta_json ? d->meta_json : "-", d->repaired);
    for (i = 0; i < d->n_sections; i++)
        cc_buf_printf(b, "section %zu %s\n", d->sections[i].start_byte, d->sections[i].title);
    cc_buf_printf(b, "text %zu\n", d->len);
    cc_buf_append(b, d->text, d->len);
    cc_buf_puts(b, "\nend\n");
    return CC_OK;
}

static void read_opts(const char *path, cr_parse_opts *o, char store[4][64])
{
    size_t n;
    char *t = check_read_file(path, &n), *line, *nl;
    memset(o, 0, sizeof *o);
    if (!t) return;
    for (line = t; line && *line; line = nl ? nl + 1 : NULL) {
        char *eq;
        int64_t v;
        if ((nl = strchr(line, '\n'))) *nl = 0;
        if (!(eq = strchr(line, '='))) continue;
        *eq = 0;
        if (!strcmp(line, "repair_utf8")) o->repair_utf8 = !strcmp(eq + 1, "1");
        else if (!strcmp(line, "json_text_field")) {
            snprintf(store[0], 64, "%s", eq + 1); o->json_text_field = store[0];
        } else if (!strcmp(line, "json_id_field")) {
            snprintf(store[1], 64, "%s", eq + 1); o->json_id_field = store[1];
        } else if (!strcmp(line, "json_title_field")) {
            snprintf(store[2], 64, "%s", eq + 1); o->json_title_field = store[2];
        } else if (!strcmp(line, "max_json_bytes") &&
                   cc_parse_i64(eq + 1, 1, INT64_MAX, &v) == CC_OK) {
            o->max_json_bytes = (size_t)v;
        }
    }
    free(t);
}

/* ---------------------------------------------------------------- data-driven */

static void test_cases(void)
{
    const char *src = getenv("CAIRN_SRC");
    char dir[512], path[1024], exp_path[1024];
    DIR *dd;
    struct dirent *e;
    int ncases = 0;
    snprintf(dir, sizeof dir, "%s/tests/data/parse", src ? src : ".");
    dd = opendir(dir);
    CHECK_MSG(dd != NULL, "cannot open %s", dir);
    if (!dd) return;
    while ((e = readdir(dd))) {
        const char *dot = strrchr(e->d_name, '.');
        char cs[256], store[4][64];
        cr_parse_opts o;
        cc_buf out = CC_BUF_INIT(0), err = CC_BUF_INIT(0);
        size_t n, en;
        char *data, *want;
        cc_status s;
        if (e->d_name[0] == '.' || !dot) continue;
        if (!strcmp(dot, ".expected") || !strcmp(dot, ".opts") || !strcmp(dot, ".got")) continue;
        snprintf(cs, sizeof cs, "%.*s", (int)(dot - e->d_name), e->d_name);
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        snprintf(exp_path, sizeof exp_path, "%s/%s.opts", dir, cs);
        read_opts(exp_path, &o, store);
        data = check_read_file(path, &n);
        CHECK_MSG(data != NULL, "cannot read %s", path);
        if (!data) continue;
        s = cr_parse(e->d_name, cr_format_from_path(e->d_name), data, n, &o, dump_doc, &out, &err);
        if (s != CC_OK) {
            CHECK_MSG(out.len == 0, "%s: documents were handed on before the error", cs);
            cc_buf_reset(&out);
            cc_buf_printf(&out, "error %s: %s\n", cc_status_str(s), err.data ? err.data : "");
        }
        snprintf(exp_path, sizeof exp_path, "%s/%s.expected", dir, cs);
        want = check_read_file(exp_path, &en);
        CHECK_MSG(want != NULL, "missing %s", exp_path);
        if (!want || strcmp(want, out.data ? out.data : "")) {
            if (want) CHECK_MSG(0, "case %s differs\n--- got:\n%s--- want:\n%s", cs, out.data, want);
            if (getenv("CAIRN_UPDATE")) {
                FILE *f;
                snprintf(exp_path, sizeof exp_path, "%s/%s.got", dir, cs);
                if ((f = fopen(exp_path, "wb"))) { fwrite(out.data, 1, out.len, f); fclose(f); }
            }
        }
        ncases++;
        free(want);
        free(data);
        cc_buf_free(&out);
        cc_buf_free(&err);
    }
    closedir(dd);
    CHECK(ncases >= 15);
    printf("parse: %d data cases\n", ncases);
}

/* ---------------------------------------------------------------- C checks */

typedef struct grab {
    int ndocs;
    cc_buf text, uri, title, meta;
    const char *text_ptr;
    size_t repaired;
    cc_status ret;
} grab;

static cc_status grab_doc(void *ud, const cr_doc *d)
{
    grab *g = ud;
    g->ndocs++;
    g->text_ptr = d->text;
    g->repaired += d->repaired;
    cc_buf_reset(&g->text); cc_buf_reset(&g->uri); cc_buf_reset(&g->title); cc_buf_reset(&g->meta);
    cc_buf_append(&g->text, d->text, d->len);
    cc_buf_puts(&g->uri, d->uri);
    cc_buf_puts(&g->title, d->title ? d->title : "-");
    cc_buf_puts(&g->meta, d->meta_json ? d->meta_json : "-");
    return g->ret;
}

static void grab_free(grab *g)
{
    cc_buf_free(&g->text); cc_buf_free(&g->uri); cc_buf_free(&g->title); cc_buf_free(&g->meta);
    memset(g, 0, sizeof *g);
}

/* Parses data as fmt; returns the status, err in *msg (static). */
static cc_status parse(cr_format fmt, const char *data, size_t n, int repair, grab *g,
                       const char **msg)
{
    static cc_buf err = CC_BUF_INIT(0);
    cr_parse_opts o;
    cc_status s;
    memset(&o, 0, sizeof o);
    o.repair_utf8 = repair;
    cc_buf_reset(&err);
    s = cr_parse("in", fmt, data, n, &o, grab_doc, g, &err);
    *msg = err.data ? err.data : "";
    return s;
}

static void test_formats(void)
{
    CHECK(cr_format_from_path("a/b/doc.TXT") == CR_FMT_TXT);
    CHECK(cr_format_from_path("x.text") == CR_FMT_TXT);
    CHECK(cr_format_from_path("x.Markdown") == CR_FMT_MD);
    CHECK(cr_format_from_path("x.md") == CR_FMT_MD);
    CHECK(cr_format_from_path("x.htm") == CR_FMT_HTML);
    CHECK(cr_format_from_path("x.HTML") == CR_FMT_HTML);
    CHECK(cr_format_from_path("x.json") == CR_FMT_JSON);
    CHECK(cr_format_from_path("x.jsonl") == CR_FMT_JSONL);
    CHECK(cr_format_from_path("x.ndjson") == CR_FMT_JSONL);
    CHECK(cr_format_from_path("x.pdf") == CR_FMT_UNKNOWN);
    CHECK(cr_format_from_path("dir.md/noext") == CR_FMT_UNKNOWN);
    CHECK(cr_format_from_path(".md") == CR_FMT_UNKNOWN);
    CHECK(cr_format_from_path(NULL) == CR_FMT_UNKNOWN);
    CHECK(cr_format_from_name("JSONL") == CR_FMT_JSONL);
    CHECK(cr_format_from_name("html") == CR_FMT_HTML);
    CHECK(cr_format_from_name("docx") == CR_FMT_UNKNOWN);
    CHECK_STR(cr_format_name(CR_FMT_TXT), "txt");
    CHECK_STR(cr_format_name(CR_FMT_MD), "md");
    CHECK_STR(cr_format_name(CR_FMT_HTML), "html");
    CHECK_STR(cr_format_name(CR_FMT_JSON), "json");
    CHECK_STR(cr_format_name(CR_FMT_JSONL), "jsonl");
    CHECK(cr_format_from_name(cr_format_name(CR_FMT_MD)) == CR_FMT_MD);
}

static void test_utf8(void)
{
    grab g = { 0 };
    const char *msg;
    /* "héllo " then a lone continuation byte at 7, a truncated 3-byte
     * sequence at 9 (E2 82 then 'x'), an overlong form at 13 (C0 AF: two) */
    static const char bad[] = "h\xC3\xA9llo \x80 \xE2\x82x \xC0\xAF end";
    size_t n = sizeof bad - 1;
    cr_format fmts[3] = { CR_FMT_TXT, CR_FMT_MD, CR_FMT_HTML };
    int f;
    for (f = 0; f < 3; f++) {
        CHECK(parse(fmts[f], bad, n, 0, &g, &msg) == CC_INVALID);
        CHECK_STR(msg, "invalid UTF-8 at byte 7");
        CHECK(g.ndocs == 0);
        CHECK_OK(parse(fmts[f], bad, n, 1, &g, &msg));
        CHECK(g.ndocs == 1);
        CHECK_MSG(g.repaired == 4, "format %d: repaired %zu", f, g.repaired);  /* 80, E2 82, C0, AF */
        CHECK_STR(g.text.data, "h\xC3\xA9llo \xEF\xBF\xBD \xEF\xBF\xBDx "
                                   "\xEF\xBF\xBD\xEF\xBF\xBD end");
        grab_free(&g);
    }
    /* the offset counts from the first byte of the input, BOM included */
    CHECK(parse(CR_FMT_TXT, "\xEF\xBB\xBFok\xFF", 6, 0, &g, &msg) == CC_INVALID);
    CHECK_STR(msg, "invalid UTF-8 at byte 5");
    /* a sequence cut off by the end of input */
    CHECK(parse(CR_FMT_TXT, "abc\xF0\x9F\x98", 6, 0, &g, &msg) == CC_INVALID);
    CHECK_STR(msg, "invalid UTF-8 at byte 3");
    CHECK_OK(parse(CR_FMT_TXT, "abc\xF0\x9F\x98", 6, 1, &g, &msg));
    CHECK_STR(g.text.data, "abc\xEF\xBF\xBD");
    CHECK(g.repaired == 1);
    grab_free(&g);
    /* surrogate encoded in UTF-8 (ED A0 80) is invalid */
    CHECK(parse(CR_FMT_MD, "# T\n\xED\xA0\x80", 7, 0, &g, &msg) == CC_INVALID);
    CHECK_STR(msg, "invalid UTF-8 at byte 4");
    /* JSON: reject, then repair inside a string */
    CHECK(parse(CR_FMT_JSON, "{\"text\":\"a\xFF\"}", 13, 0, &g, &msg) == CC_INVALID);
    CHECK_STR(msg, "invalid UTF-8 at byte 10");
    CHECK_OK(parse(CR_FMT_JSON, "{\"text\":\"a\xFF\"}", 13, 1, &g, &msg));
    CHECK_STR(g.text.data, "a\xEF\xBF\xBD");
    CHECK(g.repaired == 1);
    grab_free(&g);
    CHECK(parse(CR_FMT_JSONL, "{\"text\":\"ok\"}\n{\"text\":\"a\xFF\"}\n", 28, 0, &g, &msg) ==
          CC_INVALID);
    CHECK_STR(msg, "line 2: invalid UTF-8 at byte 24");
    CHECK(g.ndocs == 0);
    CHECK_OK(parse(CR_FMT_JSONL, "{\"text\":\"ok\"}\n{\"text\":\"a\xFF\"}\n", 28, 1, &g, &msg));
    CHECK(g.ndocs == 2 && g.repaired == 1);
    grab_free(&g);
}

static void test_binary_empty_bom(void)
{
    grab g = { 0 };
    const char *msg;
    cr_format f;
    for (f = CR_FMT_TXT; f <= CR_FMT_JSONL; f++) {
        CHECK(parse(f, "", 0, 0, &g, &msg) == CC_INVALID);
        CHECK_STR(msg, "empty document");
        CHECK(parse(f, NULL, 0, 0, &g, &msg) == CC_INVALID);
        CHECK(parse(f, " \r\n\t \n", 6, 1, &g, &msg) == CC_INVALID);
        CHECK_STR(msg, "empty document");
        CHECK(parse(f, "\xEF\xBB\xBF \n", 5, 0, &g, &msg) == CC_INVALID);
        CHECK_STR(msg, "empty document");
        CHECK(g.ndocs == 0);
    }
    for (f = CR_FMT_TXT; f <= CR_FMT_JSON; f++) {
        CHECK(parse(f, "abc\0def", 7, 1, &g, &msg) == CC_INVALID);
        CHECK_STR(msg, "binary file (NUL byte at byte 3)");
    }
    CHECK(parse(CR_FMT_JSONL, "{\"text\":\"a\"}\n\0", 14, 0, &g, &msg) == CC_INVALID);
    CHECK_STR(msg, "line 2: binary file (NUL byte at byte 13)");
    CHECK(g.ndocs == 0);
    CHECK(parse(CR_FMT_HTML, "<p> &nbsp; </p>", 15, 0, &g, &msg) == CC_OK);   /* nbsp is text */
    grab_free(&g);
    CHECK(parse(CR_FMT_HTML, "<script>x()</script><p> </p>", 28, 0, &g, &msg) == CC_INVALID);
    CHECK_STR(msg, "empty document");
    /* BOM skipped, zero copy for plain text */
    {
        static const char in[] = "\xEF\xBB\xBFHello\r\nworld\r\n";
        CHECK_OK(parse(CR_FMT_TXT, in, sizeof in - 1, 0, &g, &msg));
        CHECK_STR(g.text.data, "Hello\r\nworld\r\n");
        CHECK(g.text_ptr == in + 3);
        grab_free(&g);
        CHECK_OK(parse(CR_FMT_MD, in, sizeof in - 1, 0, &g, &msg));
        CHECK(g.text_ptr == in + 3);
        grab_free(&g);
        CHECK_OK(parse(CR_FMT_HTML, in, sizeof in - 1, 0, &g, &msg));
        CHECK_STR(g.text.data, "Hello world");
        grab_free(&g);
        CHECK_OK(parse(CR_FMT_JSON, "\xEF\xBB\xBF{\"text\":\"x\"}", 15, 0, &g, &msg));
        CHECK_STR(g.text.data, "x");
        grab_free(&g);
    }
    CHECK(parse(CR_FMT_UNKNOWN, "x", 1, 0, &g, &msg) == CC_UNSUPPORTED);
}

static void test_html_checks(void)
{
    grab g = { 0 };
    const char *msg;
    static const char in[] =
        "<!DOCTYPE html><html><head><title>T &amp; U</title>"
        "<style>p { color: red } <p>not text</p></style>"
        "<script>var s = '</scr' + 'ipt>'; document.write('<p>hidden</p>');</script></head>"
        "<body><noscript>enable js</noscript><template><p>tpl</p></template>"
        "<p>a&lt;b&gt;c &#65;&#x1F600;&#x110000;&#0; &bogus; &amp &#xZZ; &#38;</p>"
        "<SCRIPT type=\"x\">also hidden</SCRIPT ><p title='a>b'>end</p></body></html>";
    CHECK_OK(parse(CR_FMT_HTML, in, sizeof in - 1, 0, &g, &msg));
    CHECK_STR(g.title.data, "T & U");
    CHECK_STR(g.text.data, "a<b>c A\xF0\x9F\x98\x80\xEF\xBF\xBD\xEF\xBF\xBD &bogus; &amp "
                           "&#xZZ; &\n\nend");
    CHECK(strstr(g.text.data, "hidden") == NULL);
    CHECK(strstr(g.text.data, "color") == NULL);
    CHECK(strstr(g.text.data, "tpl") == NULL);
    CHECK(strstr(g.text.data, "enable") == NULL);
    grab_free(&g);
    /* an unterminated script, comment or tag must not crash nor leak text */
    CHECK(parse(CR_FMT_HTML, "<p>x</p><script>never closed", 28, 0, &g, &msg) == CC_OK);
    CHECK_STR(g.text.data, "x");
    grab_free(&g);
    CHECK(parse(CR_FMT_HTML, "<p>y</p><!-- open", 17, 0, &g, &msg) == CC_OK);
    CHECK_STR(g.text.data, "y");
    grab_free(&g);
    CHECK(parse(CR_FMT_HTML, "z <a href=\"never", 16, 0, &g, &msg) == CC_OK);
    CHECK_STR(g.text.data, "z");
    grab_free(&g);
    CHECK(parse(CR_FMT_HTML, "1 < 2 &", 7, 0, &g, &msg) == CC_OK);
    CHECK_STR(g.text.data, "1 < 2 &");
    grab_free(&g);
}

static void test_json_checks(void)
{
    grab g = { 0 };
    const char *msg;
    cc_buf err = CC_BUF_INIT(0);
    cr_parse_opts o;
    static const char big[] = "{\"text\":\"0123456789\"}";
    static const char recs[] = "{\"text\":\"a\",\"id\":7}\n\n{\"text\":\"b\"}\r\n";
    memset(&o, 0, sizeof o);
    o.max_json_bytes = 10;
    CHECK(cr_parse("in", CR_FMT_JSON, big, sizeof big - 1, &o, grab_doc, &g, &err) == CC_TOOBIG);
    CHECK(err.data && strstr(err.data, ".jsonl") != NULL);
    CHECK(err.data && strstr(err.data, "21 bytes") != NULL);
    CHECK(g.ndocs == 0);
    /* the callback's status stops the parse and comes back */
    g.ret = CC_FULL;
    CHECK(parse(CR_FMT_JSONL, recs, sizeof recs - 1, 0, &g, &msg) == CC_FULL);
    CHECK(g.ndocs == 1);
    grab_free(&g);
    CHECK_OK(parse(CR_FMT_JSONL, recs, sizeof recs - 1, 0, &g, &msg));
    CHECK(g.ndocs == 2);
    CHECK_STR(g.uri.data, "in#1");       /* index among records, blank lines skipped */
    grab_free(&g);
    /* JSONL is atomic: a bad last line means no document at all */
    {
        cc_buf in = CC_BUF_INIT(0);
        int i;
        for (i = 0; i < 1000; i++) cc_buf_printf(&in, "{\"id\":%d,\"text\":\"record %d\"}\n", i, i);
        cc_buf_puts(&in, "{\"id\":1000,\"text\":\"oops\"\n");
        CHECK(parse(CR_FMT_JSONL, in.data, in.len, 0, &g, &msg) == CC_INVALID);
        CHECK(strncmp(msg, "line 1001: invalid JSON", 23) == 0);
        CHECK(g.ndocs == 0);
        cc_buf_free(&in);
    }
    /* deep nesting is an error, not a stack overflow */
    {
        cc_buf in = CC_BUF_INIT(0);
        int i;
        cc_buf_puts(&in, "{\"text\":\"x\",\"deep\":");
        for (i = 0; i < 100000; i++) cc_buf_putc(&in, '[');
        CHECK(parse(CR_FMT_JSON, in.data, in.len, 0, &g, &msg) == CC_INVALID);
        CHECK(g.ndocs == 0);
        cc_buf_free(&in);
    }
    /* id as a non-integral number; title null */
    {
        static const char rec[] = "{\"text\":\"t\",\"id\":1.5,\"title\":null,\"x\":[1,{\"y\":\"z\"}]}";
        CHECK_OK(parse(CR_FMT_JSON, rec, strlen(rec), 0, &g, &msg));
    }
    CHECK_STR(g.uri.data, "in#1.5");
    CHECK_STR(g.title.data, "-");
    CHECK_STR(g.meta.data, "{\"x\":[1,{\"y\":\"z\"}]}");
    grab_free(&g);
    cc_buf_free(&err);
}

/* Mutated and truncated inputs in exact-size buffers (no NUL after them,
 * so a read past the end shows under ASan): every format must answer with
 * a document or an error, and every document must keep the invariants. */
static cc_status count_doc(void *ud, const cr_doc *d)
{
    size_t i;
    (*(int *)ud)++;
    CHECK(d->len > 0 && cc_utf8_check(d->text, d->len) == d->len);
    CHECK(memchr(d->text, 0, d->len) == NULL);
    for (i = 0; i < d->n_sections; i++) CHECK(d->sections[i].start_byte <= d->len);
    if (d->meta_json) {
        cc_buf m = CC_BUF_INIT(0);
        cc_buf_puts(&m, d->meta_json);
        CHECK(m.len >= 2 && m.data[0] == '{' && m.data[m.len - 1] == '}');
        cc_buf_free(&m);
    }
    return CC_OK;
}

static void test_fuzz(void)
{
    static const char *seeds[] = {
        "<html><head><title>t &amp; u</title><script>x<y</script></head><body><h1>A</h1>"
        "<p>one &#x41; &copy;<br/>two</p><pre> a\n b</pre><!-- c --><h2>B</h2>t\xC3\xA9</body>",
        "# T\n\nText.\n\n## U ##\n```\ncode\n```\nSetext\n======\nend \xE2\x82\xAC\n",
        "[{\"id\":1,\"text\":\"a \\u00e9\",\"m\":{\"k\":[1,2]}},{\"text\":\"b\",\"title\":\"T\"}]",
        "{\"text\":\"x\"}\n\n{\"id\":\"q\",\"text\":\"y\\n\"}\r\n",
    };
    uint64_t r = 12345;
    size_t si, it;
    int ndocs = 0, nerr = 0;
    size_t iters = 1500;
    int64_t v;
    cc_buf err = CC_BUF_INIT(0);
    if (getenv("CAIRN_FUZZ_ITERS") &&
        cc_parse_i64(getenv("CAIRN_FUZZ_ITERS"), 1, 100000000, &v) == CC_OK)
        iters = (size_t)v;   /* longer runs by hand */
    for (si = 0; si < sizeof seeds / sizeof seeds[0]; si++) {
        size_t sn = strlen(seeds[si]);
        for (it = 0; it < iters; it++) {
            size_t n = sn, k, muts;
            char *p;
            cr_format f;
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            if (it % 3 == 0) n = (size_t)(r >> 33) % (sn + 1);      /* truncate */
            p = malloc(n ? n : 1);
            memcpy(p, seeds[si], n);
            muts = it % 3 == 1 ? 1 + (it % 4) : 0;
            for (k = 0; k < muts && n; k++) {
                r = r * 6364136223846793005ull + 1442695040888963407ull;
                p[(r >> 20) % n] = (char)(r >> 45);
            }
            for (f = CR_FMT_TXT; f <= CR_FMT_JSONL; f++) {
                cr_parse_opts o;
                memset(&o, 0, sizeof o);
                o.repair_utf8 = (int)(it & 1);
                if (cr_parse("f", f, p, n, &o, count_doc, &ndocs, &err) != CC_OK) {
                    nerr++;
                    CHECK(err.len > 0 && !strchr(err.data, '\n'));
                }
            }
            free(p);
        }
    }
    printf("parse: fuzz: %d documents, %d errors\n", ndocs, nerr);
    CHECK(ndocs > 1000 && nerr > 1000);
    cc_buf_free(&err);
}

/* Large inputs: time and bounded work. */
static void test_large(void)
{
    cc_buf b = CC_BUF_INIT(0);
    int nd = 0;
    double t0, ms;
    cc_buf err = CC_BUF_INIT(0);
    while (b.len < ((size_t)20 << 20))
        cc_buf_puts(&b, "<div class=\"x\"><h2>Heading &amp; more</h2><p>Some <b>bold</b> text "
                        "&ldquo;quoted&rdquo; here.</p><script>var a = 1 < 2;</script></div>\n");
    t0 = cc_now_ms();
    CHECK_OK(cr_parse("big.html", CR_FMT_HTML, b.data, b.len, NULL, count_doc, &nd, &err));
    ms = cc_now_ms() - t0;
    printf("parse: %.0f MB of HTML in %.0f ms\n", b.len / 1048576.0, ms);
    CHECK(nd == 1);
    cc_buf_reset(&b);
    nd = 0;
    while (b.len < ((size_t)20 << 20))
        cc_buf_puts(&b, "{\"id\":\"x\",\"text\":\"A short record of text.\",\"src\":\"web\"}\n");
    t0 = cc_now_ms();
    CHECK_OK(cr_parse("big.jsonl", CR_FMT_JSONL, b.data, b.len, NULL, count_doc, &nd, &err));
    ms = cc_now_ms() - t0;
    printf("parse: %.0f MB of JSONL (%d records) in %.0f ms\n", b.len / 1048576.0, nd, ms);
    CHECK(nd > 300000);
    cc_buf_free(&b);
    cc_buf_free(&err);
}

int main(void)
{
    test_formats();
    test_cases();
    test_utf8();
    test_binary_empty_bom();
    test_html_checks();
    test_json_checks();
    test_fuzz();
    test_large();
    return check_done("parse");
}
