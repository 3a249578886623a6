/* test_graph_extract.c — the rules extractor (data-driven cases in
 * tests/data/graph/cases.txt), exact offsets, the plug-in interface,
 * pathological inputs with caps, normalisation, acronyms and resolution. */
#include "graph.h"
#include "check.h"

#include <string.h>

static cg_extractor *ex;

/* Offsets must give back the surface: in the chunk and in the document. */
static void check_offsets(const char *doc, const cg_chunk *c, const cg_extraction *x)
{
    size_t i;
    for (i = 0; i < x->n_mentions; i++) {
        const cg_mention *m = &x->mentions[i];
        size_t len = strlen(m->surface);
        CHECK(m->chunk_end - m->chunk_start == len);
        CHECK(m->chunk_end <= c->len && !memcmp(c->text + m->chunk_start, m->surface, len));
        CHECK(!memcmp(doc + m->start_byte, m->surface, len));
        CHECK(m->start_char == (int64_t)cc_utf8_count(doc, (size_t)m->start_byte));
        CHECK(m->end_char - m->start_char == (int64_t)cc_utf8_count(m->surface, len));
    }
    for (i = 0; i < x->n_relations; i++) {
        const cg_relation *r = &x->relations[i];
        CHECK(r->subj < x->n_mentions && r->obj < x->n_mentions);
        CHECK(r->sent_chunk_start <= x->mentions[r->subj].chunk_start);
        CHECK(r->sent_chunk_end >= x->mentions[r->obj].chunk_end ||
              (x->mentions[r->obj].flags & CG_MF_CONCEPT));
        CHECK(r->sent_start_char == (int64_t)cc_utf8_count(doc, (size_t)r->sent_start_byte));
    }
}

static void dump(const cg_extraction *x)
{
    size_t i;
    for (i = 0; i < x->n_mentions; i++)
        fprintf(stderr, "    M %s|%s%s\n", x->mentions[i].surface, cg_type_str(x->mentions[i].type),
                x->mentions[i].flags & CG_MF_CONCEPT ? " (concept)" : "");
    for (i = 0; i < x->n_relations; i++)
        fprintf(stderr, "    R %s|%s|%s|%s|%s\n", x->mentions[x->relations[i].subj].surface,
                x->relations[i].predicate, x->mentions[x->relations[i].obj].surface,
                x->relations[i].pattern, cg_rel_status_str(x->relations[i].status));
}

/* Runs text as a chunk that starts after a multi-byte prefix in a document. */
static cc_status run_doc(const char *text, cg_extraction *x, char **docp)
{
    static const char prefix[] = "Préambule — ";   /* 12 chars, 16 bytes */
    size_t pl = sizeof prefix - 1, tl = strlen(text);
    char *doc = malloc(pl + tl + 1);
    cg_chunk c;
    cc_status s;
    memcpy(doc, prefix, pl);
    memcpy(doc + pl, text, tl + 1);
    c.text = doc + pl; c.len = tl;
    c.start_byte = (int64_t)pl; c.start_char = (int64_t)cc_utf8_count(prefix, pl);
    s = cg_extractor_run(ex, &c, x);
    if (!s) check_offsets(doc, &c, x);
    *docp = doc;
    return s;
}

static const cg_mention *find_m(const cg_extraction *x, const char *surface)
{
    size_t i;
    for (i = 0; i < x->n_mentions; i++)
        if (!strcmp(x->mentions[i].surface, surface)) return &x->mentions[i];
    return NULL;
}

static const cg_relation *find_r(const cg_extraction *x, const char *s, const char *p, const char *o)
{
    size_t i;
    for (i = 0; i < x->n_relations; i++) {
        const cg_relation *r = &x->relations[i];
        if (!strcmp(x->mentions[r->subj].surface, s) && !strcmp(r->predicate, p) &&
            !strcmp(x->mentions[r->obj].surface, o))
            return r;
    }
    return NULL;
}

/* splits "a|b|c" in place */
static int split(char *s, char **f, int max)
{
    int n = 0;
    f[n++] = s;
    while (*s && n < max) { if (*s == '|') { *s = 0; f[n++] = s + 1; } s++; }
    return n;
}

static void run_cuts(const char *text);

static void run_cases(void)
{
    const char *src = getenv("CAIRN_SRC");
    char path[1024], line[4096];
    FILE *f;
    cg_extraction x;
    char *doc = NULL;
    int have = 0, ncases = 0, bad = 0, lineno = 0;
    snprintf(path, sizeof path, "%s/tests/data/graph/cases.txt", src ? src : ".");
    f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f) return;
    cg_extraction_init(&x);
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        char *fl[6];
        int nf, before = check_failures;
        lineno++;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (line[0] == '#' || !n) continue;
        if (line[0] == '>') {
            free(doc);
            doc = NULL;
            CHECK_OK(run_doc(line + 2, &x, &doc));
            run_cuts(line + 2);
            have = 1;
            ncases++;
            bad = 0;
            if (getenv("GRAPH_DUMP")) { fprintf(stderr, "%s\n", line); dump(&x); }
            continue;
        }
        if (!have) continue;
        if (!strncmp(line, "M ", 2)) {
            const cg_mention *m;
            nf = split(line + 2, fl, 2);
            m = find_m(&x, fl[0]);
            CHECK_MSG(m != NULL, "line %d: no mention '%s'", lineno, fl[0]);
            if (m && nf > 1) CHECK_MSG(!strcmp(cg_type_str(m->type), fl[1]),
                                       "line %d: '%s' is %s, want %s", lineno, fl[0],
                                       cg_type_str(m->type), fl[1]);
        } else if (!strncmp(line, "!M ", 3)) {
            CHECK_MSG(find_m(&x, line + 3) == NULL, "line %d: unexpected mention '%s'", lineno, line + 3);
        } else if (!strncmp(line, "R ", 2)) {
            const cg_relation *r;
            nf = split(line + 2, fl, 5);
            CHECK(nf == 5);
            if (nf < 5) continue;
            r = find_r(&x, fl[0], fl[1], fl[2]);
            CHECK_MSG(r != NULL, "line %d: no relation %s -%s-> %s", lineno, fl[0], fl[1], fl[2]);
            if (r) {
                CHECK_MSG(!strcmp(r->pattern, fl[3]), "line %d: pattern %s, want %s", lineno, r->pattern, fl[3]);
                CHECK_MSG(!strcmp(cg_rel_status_str(r->status), fl[4]), "line %d: status", lineno);
                CHECK(r->confidence > 0 && r->confidence <= 1);
            }
        } else if (!strncmp(line, "!R ", 3)) {
            nf = split(line + 3, fl, 3);
            CHECK(nf == 3);
            if (nf == 3)
                CHECK_MSG(find_r(&x, fl[0], fl[1], fl[2]) == NULL, "line %d: unexpected relation", lineno);
        } else {
            CHECK_MSG(0, "line %d: bad line '%s'", lineno, line);
        }
        if (check_failures > before && !bad) { bad = 1; dump(&x); }
    }
    fclose(f);
    free(doc);
    cg_extraction_free(&x);
    CHECK(ncases >= 20);
}

/* Every prefix and suffix of a text (cut on character boundaries), so
 * windows that run off the chunk's end are exercised (with ASan in the
 * Sanitize build). */
static size_t n_cuts;
static void run_cuts(const char *text)
{
    size_t n = strlen(text), i;
    cg_extraction x;
    cg_extraction_init(&x);
    for (i = 0; i <= n; i++) {
        cg_chunk c;
        if (i < n && ((unsigned char)text[i] & 0xC0) == 0x80) continue;
        c.text = text; c.len = i; c.start_byte = 0; c.start_char = 0;
        CHECK_OK(cg_extractor_run(ex, &c, &x));
        check_offsets(text, &c, &x);
        c.text = text + i; c.len = n - i;
        c.start_byte = (int64_t)i; c.start_char = (int64_t)cc_utf8_count(text, i);
        CHECK_OK(cg_extractor_run(ex, &c, &x));
        check_offsets(text, &c, &x);
        n_cuts += 2;
    }
    cg_extraction_free(&x);
}

/* A deterministic soup of the tokens the patterns look for. */
static void test_soup(void)
{
    static const char *const w[] = { "Ana", "Ruiz", ",", "CFO", "of", "Norvale", "'s", "is", "a",
        "the", "such", "as", "and", "other", "(", "BMSA", ")", "EUR", "4.2", "million", "$", "5m",
        "%", "14", "March", "2024", "PX-9000-v2", "rev", "C", "was", "acquired", "by", ".", "Inc",
        "plc", "&", "also", "known", "including", "products", "Dr.", "CEO", "\u00e9", "\u202b",
        "kg", "km", "in", "Oslo", "not", "partnered", "with", "\n\n", "’s", "Mr", "J." };
    cc_buf b = CC_BUF_INIT(0);
    unsigned r = 7;
    size_t i, k;
    for (k = 0; k < 60; k++) {
        cc_buf_reset(&b);
        for (i = 0; i < 40; i++) {
            r = r * 1103515245u + 12345u;
            cc_buf_puts(&b, w[(r >> 16) % (sizeof w / sizeof w[0])]);
            r = r * 1103515245u + 12345u;
            if ((r >> 16) % 4) cc_buf_putc(&b, ' ');
        }
        run_cuts(b.data);
    }
    cc_buf_free(&b);
}

/* ---------------------------------------------------------------- interface */

static cc_status fake_extract(void *ctx, const cg_chunk *c, cg_sink *s, cc_buf *err)
{
    size_t a = SIZE_MAX, b = SIZE_MAX, bad = 0;
    (void)ctx; (void)err;
    CHECK_OK(cg_sink_mention(s, 0, 2, CG_TYPE_PERSON, 0, 0.9f, &a));     /* cuts "é" */
    CHECK_OK(cg_sink_mention(s, 2, 3, CG_TYPE_PERSON, 0, 0.9f, &bad));   /* mid-character start */
    CHECK_OK(cg_sink_mention(s, 4, c->len + 5, CG_TYPE_ORG, 0, 0.9f, &bad)); /* past the end */
    CHECK_OK(cg_sink_mention(s, 0, 3, CG_TYPE_PERSON, 0, 2.0f, &a));
    CHECK_OK(cg_sink_mention(s, 5, 8, CG_TYPE_ORG, 0, 0.5f, &b));
    CHECK_OK(cg_sink_relation(s, a, "knows", b, 0, c->len, "fake", 0.5f, CG_REL_CONFIRMED));
    CHECK_OK(cg_sink_relation(s, a, "knows", 99, 0, c->len, "fake", 0.5f, CG_REL_CONFIRMED));
    return CC_OK;
}

static void test_interface(void)
{
    static const cg_extractor_i fake = { CG_EXTRACTOR_API_VERSION, "fake", 3, fake_extract, NULL };
    static const cg_extractor_i old = { 99, "old", 1, fake_extract, NULL };
    cg_extractor *fx = NULL;
    cg_extraction x;
    cg_chunk c = { "Réx Abc", 8, 100, 90 };
    CHECK(cg_extractor_new(&old, NULL, &fx) == CC_VERSION && fx == NULL);
    CHECK_OK(cg_extractor_new(&fake, NULL, &fx));
    if (!fx) return;
    CHECK_STR(cg_extractor_id(fx), "fake/3");
    CHECK_STR(cg_extractor_id(ex), "rules/1");
    cg_extraction_init(&x);
    CHECK_OK(cg_extractor_run(fx, &c, &x));
    CHECK(x.n_mentions == 2);
    CHECK(x.n_relations == 1);
    CHECK(x.warn.bad_offsets == 4);     /* 2 mentions, a 2-byte cut of "Ré", 1 relation */
    CHECK(x.n_warnings == 4);
    if (x.n_mentions == 2) {
        CHECK_STR(x.mentions[0].surface, "Ré");
        CHECK(x.mentions[0].confidence == 1.0f);
        CHECK(x.mentions[1].start_byte == 105 && x.mentions[1].start_char == 94);
        CHECK_STR(x.mentions[1].surface, "Abc");
        CHECK_STR(x.extractor, "fake/3");
    }
    /* invalid UTF-8 and NUL bytes are refused with a message */
    {
        cg_chunk b1 = { "ab\xC3(", 4, 0, 0 }, b2 = { "ab\0cd", 5, 0, 0 };
        CHECK(cg_extractor_run(fx, &b1, &x) == CC_INVALID);
        CHECK(strstr(cg_extractor_errmsg(fx), "UTF-8") != NULL);
        CHECK(cg_extractor_run(fx, &b2, &x) == CC_INVALID);
        CHECK(x.n_mentions == 0);
    }
    cg_extraction_free(&x);
    cg_extractor_free(fx);
}

/* ---------------------------------------------------------------- pathological */

static void run_big(const char *what, const char *text, size_t len, cg_extraction *x)
{
    cg_chunk c = { text, len, 0, 0 };
    double t0 = cc_now_ms(), ms;
    cc_status s = cg_extractor_run(ex, &c, x);
    ms = cc_now_ms() - t0;
    CHECK_MSG(s == CC_OK, "%s: %s %s", what, cc_status_str(s), cg_extractor_errmsg(ex));
    printf("  %-28s %8zu bytes %7.1f ms  %5zu mentions %5zu relations %zu warnings\n",
           what, len, ms, x->n_mentions, x->n_relations, x->n_warnings);
    CHECK_MSG(ms < 20000, "%s took %.0f ms", what, ms);
    if (!s) check_offsets(text, &c, x);
}

static void test_pathological(void)
{
    cc_buf b = CC_BUF_INIT(0);
    cg_extraction x;
    size_t i;
    cg_extraction_init(&x);

    /* ten thousand capitalised words in a row, no punctuation */
    for (i = 0; i < 10000; i++) cc_buf_printf(&b, "Word%c%c ", 'a' + (int)(i % 26), 'a' + (int)(i / 26 % 26));
    for (i = 0; i < b.len; i++) if (b.data[i] >= '0' && b.data[i] <= '9') b.data[i] = 'x';
    run_big("10k capitalised words", b.data, b.len, &x);
    CHECK(x.n_mentions == 0);
    CHECK(x.warn.names_too_long >= 1);

    /* capitalised pairs with separators: many names, one sentence, caps hit */
    cc_buf_reset(&b);
    for (i = 0; i < 20000; i++) cc_buf_printf(&b, "Alpha%c Beta%c, ", 'a' + (int)(i % 26), 'a' + (int)(i / 26 % 26));
    run_big("20k names in one sentence", b.data, b.len, &x);
    CHECK(x.n_mentions == 4096);
    CHECK(x.warn.mentions_capped > 0);
    CHECK(x.warn.cooc_capped > 0);
    CHECK(x.n_relations <= 8192);

    /* only numbers */
    cc_buf_reset(&b);
    for (i = 0; i < 50000; i++) cc_buf_printf(&b, "%zu %zu.%zu ", i, i * 7, i % 10);
    run_big("only numbers", b.data, b.len, &x);
    CHECK(x.n_mentions == 0 || x.mentions[0].flags & CG_MF_VALUE);

    /* mixed scripts, right-to-left, bidi controls, combining marks, emoji */
    cc_buf_reset(&b);
    for (i = 0; i < 5000; i++)
        cc_buf_puts(&b, "שלום עולם \u202Bمرحبا بالعالم\u202C Привет Мир 東京タワー "
                        "e\u0301\u0301\u0301 \U0001F600\u200D\U0001F600 Ana\u200BRuiz "
                        "\uFEFFKestrel\u2066 ‏Norvale‎ İstanbul ǅemal ");
    run_big("mixed scripts and bidi", b.data, b.len, &x);
    CHECK(x.n_mentions > 0);

    /* no spaces at all, one long token; punctuation only; hyphen runs */
    cc_buf_reset(&b);
    for (i = 0; i < 200000; i++) cc_buf_putc(&b, (char)('A' + i % 26));
    run_big("one 200 KB word", b.data, b.len, &x);
    cc_buf_reset(&b);
    for (i = 0; i < 100000; i++) cc_buf_puts(&b, i % 3 ? ".," : "(’s)");
    run_big("punctuation only", b.data, b.len, &x);
    CHECK(x.n_mentions == 0);
    cc_buf_reset(&b);
    for (i = 0; i < 50000; i++) cc_buf_puts(&b, "A-1-");
    run_big("hyphen chain", b.data, b.len, &x);

    /* time grows linearly: 4x the text costs about 4x (bound 12x, best of 3) */
    {
        static const char *const sents[] = {
            "Ana Ruiz, CFO of Norvale, signed with Kestrel Holdings on 14 March 2024. ",
            "Kestrel sells products such as PX-9000-v2, KV-12 rev C and Orca Beacon for $310,000. ",
            "Norvale is a Norwegian shipping company based in Bergen, with 1,200 kg of cargo. ",
            "The CEO of Kestrel, Jonas Berg, met the Bergen Maritime Safety Authority (BMSA) " };
        double best[2] = { 1e30, 1e30 };
        size_t reps[2] = { 1000, 4000 }, r, k;
        for (k = 0; k < 2; k++) {
            cc_buf_reset(&b);
            for (i = 0; i < reps[k]; i++) cc_buf_puts(&b, sents[i % 4]);
            for (r = 0; r < 3; r++) {
                cg_chunk c = { b.data, b.len, 0, 0 };
                double t0 = cc_now_ms(), ms;
                CHECK_OK(cg_extractor_run(ex, &c, &x));
                ms = cc_now_ms() - t0;
                if (ms < best[k]) best[k] = ms;
            }
        }
        printf("  scaling: %.1f ms for 1x, %.1f ms for 4x\n", best[0], best[1]);
        CHECK_MSG(best[1] < 12 * best[0] + 5, "%.1f ms vs %.1f ms", best[1], best[0]);
    }

    /* the token cap is counted */
    {
        cg_rules_opts o = { 0 };
        cg_extractor *small = NULL;
        cg_chunk c;
        o.max_tokens = 100;
        o.max_chunk_bytes = 1 << 20;
        CHECK_OK(cg_extractor_rules_new(&o, &small));
        cc_buf_reset(&b);
        for (i = 0; i < 1000; i++) cc_buf_puts(&b, "word ");
        c.text = b.data; c.len = b.len; c.start_byte = 0; c.start_char = 0;
        CHECK_OK(cg_extractor_run(small, &c, &x));
        CHECK(x.warn.tokens_capped == 1);
        cc_buf_reset(&b);
        for (i = 0; i < (1 << 20) + 10; i++) cc_buf_putc(&b, 'a');
        c.text = b.data; c.len = b.len;
        CHECK(cg_extractor_run(small, &c, &x) == CC_TOOBIG);
        cg_extractor_free(small);
    }
    /* characters an IRI or a literal must escape stay out of names or
     * are kept verbatim; a name stops at a line-initial "And" and at a
     * paragraph break, also before a legal suffix ("plc", a fuzzer's find:
     * the name ran into the next sentence); NUL bytes are refused with a
     * message */
    {
        static const char t[] = "Acme <Widgets> Inc bought Foo{Bar} Ltd. Ana O'Neil, CFO of "
                                "Back\\Slash GmbH, said \"no\". Kestrel Avionics\r\nAnd "
                                "then Quillon Labs AB\tsaid so.\n\nNorvale Systems\n\nLyon and "
                                "Orca Marine\n\nplc staff met.";
        static const char nul[] = "Norvale Systems GmbH acquired Kestrel\0 Avionics.";
        cg_chunk c = { t, sizeof t - 1, 0, 0 };
        CHECK_OK(cg_extractor_run(ex, &c, &x));
        check_offsets(t, &c, &x);
        for (i = 0; i < x.n_mentions; i++) {
            const char *m = x.mentions[i].surface;
            CHECK_MSG(!strpbrk(m, "<>{}\"\\"), "IRI-breaking character in \"%s\"", m);
            CHECK_MSG(!strstr(m, "And") && !strstr(m, "\n\n"), "name over a break: \"%s\"", m);
        }
        CHECK(find_m(&x, "Ana O'Neil") != NULL);
        CHECK(find_m(&x, "Kestrel Avionics") != NULL);
        CHECK(find_m(&x, "Norvale Systems") != NULL);
        CHECK(find_m(&x, "Orca Marine") != NULL);
        c.text = nul;
        c.len = sizeof nul - 1;
        CHECK(cg_extractor_run(ex, &c, &x) == CC_INVALID);
        CHECK(x.n_mentions == 0);
    }
    /* empty chunk */
    {
        cg_chunk c = { "", 0, 5, 5 };
        CHECK_OK(cg_extractor_run(ex, &c, &x));
        CHECK(x.n_mentions == 0 && x.n_relations == 0);
    }
    cg_extraction_free(&x);
    cc_buf_free(&b);
}

/* ---------------------------------------------------------------- normalisation */

static void check_key(const char *in, const char *want, int want_stripped)
{
    cc_buf b = CC_BUF_INIT(0);
    int st = -1;
    CHECK_OK(cg_norm_key(in, strlen(in), &b, &st));
    CHECK_STR(b.data, want);
    CHECK_MSG(st == want_stripped, "'%s': stripped %d", in, st);
    cc_buf_free(&b);
}

static void test_norm(void)
{
    cc_buf b = CC_BUF_INIT(0);
    check_key("Norvale Systems AS", "norvale systems", 1);
    check_key("  The  Kestrel   Group, Inc. ", "kestrel group", 1);
    check_key("Société Générale S.A.", "societe generale", 1);
    check_key("Müller & Søhne GmbH", "muller and sohne", 1);
    check_key("Łódź Œuvre Straße", "lodz oeuvre strasse", 0);
    check_key("O'Brien-Smith", "obrien smith", 0);
    check_key("Foo Holdings Co., Ltd.", "foo holdings", 1);
    check_key("AG", "ag", 0);
    check_key("ĲSSEL Þing", "ijssel thing", 0);
    check_key("Привет Мир", "привет мир", 0);
    check_key("Ana\u200BRuiz", "anaruiz", 0);
    CHECK(cg_norm_key("bad\xFF", 4, &b, NULL) == CC_INVALID);
    CHECK(cg_has_legal_suffix("Kestrel Ltd", 11));
    CHECK(!cg_has_legal_suffix("Kestrel Group", 13));

    CHECK(cg_acronym_matches("IBM", 3, "International Business Machines", 31));
    CHECK(cg_acronym_matches("BMSA", 4, "Bergen Maritime Safety Authority", 32));
    CHECK(cg_acronym_matches("BoA", 3, "Bank of America", 15));
    CHECK(cg_acronym_matches("BA", 2, "Bank of America", 15));
    CHECK(cg_acronym_matches("PwC", 3, "PricewaterhouseCoopers", 22) == 0);
    CHECK(cg_acronym_matches("PC", 2, "PricewaterhouseCoopers", 22));
    CHECK(!cg_acronym_matches("IBM", 3, "Norvale Systems", 15));
    CHECK(!cg_acronym_matches("I", 1, "Inc", 3));
    cc_buf_free(&b);
}

static void test_resolve(void)
{
    const char *text =
        "International Business Machines (IBM) signed with Norvale Systems AS. "
        "Later IBM and Norvale Systems expanded. Kestrel Group, also known as Kestrel, "
        "met the Bergen Maritime Safety Authority. The BMSA said Société Générale was late, "
        "and Societe Generale agreed.";
    cg_extraction x;
    cg_resolution r;
    cg_chunk c = { text, strlen(text), 0, 0 };
    size_t i;
    const cg_entity *ibm = NULL;
    cg_extraction_init(&x);
    CHECK_OK(cg_extractor_run(ex, &c, &x));
    CHECK_OK(cg_resolve(&x, &r));
    CHECK(r.n_mentions == x.n_mentions);
    for (i = 0; i < r.n_entities; i++)
        if (!strcmp(r.entities[i].key, "international business machines")) ibm = &r.entities[i];
    CHECK(ibm != NULL);
    if (ibm) {
        int has_acr = 0;
        size_t k;
        CHECK_STR(ibm->label, "International Business Machines");
        for (k = 0; k < ibm->n_aliases; k++)
            if (!strcmp(ibm->aliases[k].norm, "ibm") && ibm->aliases[k].source == CG_ALIAS_ACRONYM) has_acr = 1;
        CHECK(has_acr);
    }
    {   /* every mention of a name goes to the entity of its key or acronym */
        const cg_mention *a = NULL, *b2 = NULL, *n1 = NULL, *n2 = NULL, *k1 = NULL, *k2 = NULL,
                         *s1 = NULL, *s2 = NULL, *m1 = NULL, *m2 = NULL;
        size_t ia = 0, ib = 0, in1 = 0, in2 = 0, ik1 = 0, ik2 = 0, is1 = 0, is2 = 0, im1 = 0, im2 = 0;
        for (i = 0; i < x.n_mentions; i++) {
            const char *s = x.mentions[i].surface;
            if (!strcmp(s, "IBM") && !a) { a = &x.mentions[i]; ia = i; }
            else if (!strcmp(s, "IBM")) { b2 = &x.mentions[i]; ib = i; }
            if (!strcmp(s, "Norvale Systems AS")) { n1 = &x.mentions[i]; in1 = i; }
            if (!strcmp(s, "Norvale Systems")) { n2 = &x.mentions[i]; in2 = i; }
            if (!strcmp(s, "Kestrel Group")) { k1 = &x.mentions[i]; ik1 = i; }
            if (!strcmp(s, "Kestrel")) { k2 = &x.mentions[i]; ik2 = i; }
            if (!strcmp(s, "Société Générale")) { s1 = &x.mentions[i]; is1 = i; }
            if (!strcmp(s, "Societe Generale")) { s2 = &x.mentions[i]; is2 = i; }
            if (!strcmp(s, "Bergen Maritime Safety Authority")) { m1 = &x.mentions[i]; im1 = i; }
            if (!strcmp(s, "BMSA")) { m2 = &x.mentions[i]; im2 = i; }
        }
        CHECK(a && b2 && n1 && n2 && k1 && k2 && s1 && s2 && m1 && m2);
        if (!(a && b2 && n1 && n2 && k1 && k2 && s1 && s2 && m1 && m2)) dump(&x);
        if (a && b2) CHECK(r.entity_of[ia] == r.entity_of[ib]);
        if (n1 && n2) CHECK(r.entity_of[in1] == r.entity_of[in2]);
        if (k1 && k2) CHECK(r.entity_of[ik1] == r.entity_of[ik2]);
        if (s1 && s2) CHECK(r.entity_of[is1] == r.entity_of[is2]);
        if (m1 && m2) CHECK(r.entity_of[im1] == r.entity_of[im2]);   /* undeclared acronym */
        if (n1 && k1) CHECK(r.entity_of[in1] != r.entity_of[ik1]);
        if (n1) {
            const cg_entity *e = &r.entities[r.entity_of[in1]];
            size_t k;
            int suf = 0;
            CHECK_STR(e->key, "norvale systems");
            for (k = 0; k < e->n_aliases; k++) if (e->aliases[k].source == CG_ALIAS_SUFFIX) suf = 1;
            CHECK(suf);
        }
        if (k1) {
            const cg_entity *e = &r.entities[r.entity_of[ik1]];
            size_t k;
            int app = 0;
            for (k = 0; k < e->n_aliases; k++)
                if (e->aliases[k].source == CG_ALIAS_APPOSITION && !strcmp(e->aliases[k].norm, "kestrel")) app = 1;
            CHECK(app);
            CHECK_STR(cg_type_str(e->type), "organisation");
        }
    }
    cg_resolution_free(&r);
    cg_resolution_free(&r);     /* idempotent */
    cg_extraction_free(&x);
}

int main(void)
{
    CHECK_OK(cg_extractor_rules_new(NULL, &ex));
    if (!ex) return check_done("graph_extract");
    run_cases();
    test_soup();
    printf("  %zu prefix/suffix runs\n", n_cuts);
    test_interface();
    test_norm();
    test_resolve();
    test_pathological();
    cg_extractor_free(ex);
    cg_extractor_free(NULL);
    return check_done("graph_extract");
}
