/* test_graph_llm.c — the LLM extractor: its parser and locator on
 * hand-written model outputs against a real chunk (names found exactly,
 * ignoring case, on word boundaries, or dropped and counted; relations
 * kept with their sentence or dropped; outputs cut at the token limit
 * repaired; garbage counted), exact document offsets with a chunk that
 * starts mid-document and has multibyte characters; then the extractor
 * with a tiny random GGUF model (constrained decoding: always parsed) and
 * clear errors for a missing or corrupt model file. */
#include "graph.h"
#include "llm.h"
#include "check.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The document; the chunk is its second paragraph. */
static const char doc[] =
    "Zürich préface — ignored paragraph.\n\n"
    "Ana Ruiz, CFO of Norvale Systems GmbH, said Norvale acquired Tern Logistics. "
    "Also in Zürich, NORVALE opened an office; the deal was worth EUR 40 million.\n\n"
    "Later IBM and norvale signed a contract.";

static cg_chunk chunk_of(void)
{
    const char *p = strstr(doc, "Ana Ruiz");
    cg_chunk c;
    c.text = p;
    c.len = strlen(p);
    c.start_byte = p - doc;
    c.start_char = (int64_t)cc_utf8_count(doc, (size_t)(p - doc));
    return c;
}

/* Every mention's offsets give back its surface, in the chunk and in the
 * document; every relation's sentence holds both ends. */
static void check_offsets(const cg_chunk *c, const cg_extraction *x)
{
    for (size_t i = 0; i < x->n_mentions; i++) {
        const cg_mention *m = &x->mentions[i];
        size_t len = strlen(m->surface);
        CHECK(m->chunk_end - m->chunk_start == len);
        CHECK(m->chunk_end <= c->len && !memcmp(c->text + m->chunk_start, m->surface, len));
        CHECK(!memcmp(doc + m->start_byte, m->surface, len));
        CHECK(m->start_char == (int64_t)cc_utf8_count(doc, (size_t)m->start_byte));
        CHECK(m->end_char - m->start_char == (int64_t)cc_utf8_count(m->surface, len));
    }
    for (size_t i = 0; i < x->n_relations; i++) {
        const cg_relation *r = &x->relations[i];
        const cg_mention *a = &x->mentions[r->subj], *b = &x->mentions[r->obj];
        CHECK(r->sent_chunk_start <= a->chunk_start && r->sent_chunk_start <= b->chunk_start);
        CHECK(r->sent_chunk_end >= a->chunk_end && r->sent_chunk_end >= b->chunk_end);
        CHECK(r->sent_start_char == (int64_t)cc_utf8_count(doc, (size_t)r->sent_start_byte));
        CHECK(!strcmp(r->pattern, "llm"));
    }
}

static size_t count_surface(const cg_extraction *x, const char *s)
{
    size_t n = 0;
    for (size_t i = 0; i < x->n_mentions; i++) n += !strcmp(x->mentions[i].surface, s);
    return n;
}

static const cg_relation *find_rel(const cg_extraction *x, const char *subj, const char *pred,
                                   const char *obj)
{
    for (size_t i = 0; i < x->n_relations; i++) {
        const cg_relation *r = &x->relations[i];
        if (!strcmp(x->mentions[r->subj].surface, subj) && !strcmp(r->predicate, pred) &&
            !strcmp(x->mentions[r->obj].surface, obj))
            return r;
    }
    return NULL;
}

static void test_parser(void)
{
    cg_chunk c = chunk_of();
    cg_extraction x;
    cg_llm_stats st;
    const char *out =
        "{\"entities\":[{\"name\":\"Ana Ruiz\",\"type\":\"person\"},"
        "{\"name\":\" Norvale Systems GmbH \",\"type\":\"organisation\"},"
        "{\"name\":\"zürich\",\"type\":\"place\"},"          /* only case-insensitively */
        "{\"name\":\"Al\",\"type\":\"person\"},"              /* inside "Also": not a word */
        "{\"name\":\"Quillon Labs\",\"type\":\"organisation\"},"   /* not in the chunk */
        "{\"name\":\"EUR 40 million\",\"type\":\"amount\"},"
        "{\"name\":\"Norvale\",\"type\":\"organisation\"},"
        "{\"name\":\"Norvale\",\"type\":\"organisation\"},"   /* twice: one entity */
        "{\"name\":\"\",\"type\":\"other\"},{\"name\":7}],"
        "\"relations\":[{\"subject\":\"Norvale\",\"predicate\":\"Acquired \",\"object\":\"Tern Logistics\"},"
        "{\"subject\":\"Ana Ruiz\",\"predicate\":\"CFO of\",\"object\":\"Norvale Systems GmbH\"},"
        "{\"subject\":\"Ana Ruiz\",\"predicate\":\"knows\",\"object\":\"Quillon Labs\"},"
        "{\"subject\":\"Norvale\",\"predicate\":\"!!\",\"object\":\"Ana Ruiz\"},"
        "{\"subject\":\"Norvale\",\"predicate\":\"is\",\"object\":\"Norvale\"}]}";
    const cg_relation *r;

    memset(&st, 0, sizeof st);
    cg_extraction_init(&x);
    CHECK(cg_llm_parse(out, strlen(out), &c, &x, &st) == CC_OK);
    CHECK_STR(x.extractor, "llm/1");
    CHECK(st.outputs_unparsed == 0 && st.outputs_truncated == 0);
    check_offsets(&c, &x);
    CHECK(count_surface(&x, "Ana Ruiz") == 1);
    CHECK(count_surface(&x, "Norvale Systems GmbH") == 1);
    CHECK(count_surface(&x, "Zürich") == 1);                 /* case-insensitive match */
    CHECK(count_surface(&x, "Al") == 0);
    CHECK(count_surface(&x, "Quillon Labs") == 0);
    CHECK(count_surface(&x, "EUR 40 million") == 1);
    /* exact matches win ("NORVALE", "norvale" are not taken); the one
     * inside "Norvale Systems GmbH" belongs to that name */
    CHECK_MSG(count_surface(&x, "Norvale") == 1, "%zu", count_surface(&x, "Norvale"));
    CHECK(count_surface(&x, "NORVALE") == 0 && count_surface(&x, "norvale") == 0);
    CHECK(count_surface(&x, "Tern Logistics") == 1);         /* a relation end, located */
    for (size_t i = 0; i < x.n_mentions; i++) {
        if (!strcmp(x.mentions[i].surface, "Ana Ruiz")) CHECK(x.mentions[i].type == CG_TYPE_PERSON);
        if (!strcmp(x.mentions[i].surface, "EUR 40 million")) {
            CHECK(x.mentions[i].type == CG_TYPE_AMOUNT);
            CHECK(x.mentions[i].flags & CG_MF_VALUE);
        }
        if (!strcmp(x.mentions[i].surface, "Tern Logistics")) CHECK(x.mentions[i].type == CG_TYPE_OTHER);
    }
    /* kept: Ana Ruiz, Norvale Systems GmbH, zürich, EUR 40 million, Norvale;
     * dropped: Al, Quillon Labs, "", 7 */
    CHECK_MSG(st.entities_kept == 5, "%zu", st.entities_kept);
    CHECK_MSG(st.entities_dropped == 4, "%zu", st.entities_dropped);
    CHECK_MSG(st.mentions == 6, "%zu", st.mentions);   /* 5 names + Tern Logistics */
    r = find_rel(&x, "Norvale", "acquired", "Tern Logistics");
    CHECK(r != NULL);
    if (r) {   /* the sentence of the closest pair: the first one */
        CHECK(r->sent_chunk_start == 0);
        CHECK(c.text[r->sent_chunk_end - 1] == '.');
        CHECK(r->sent_chunk_end < (size_t)(strstr(c.text, "Also") - c.text));
        CHECK(r->status == CG_REL_CONFIRMED);
    }
    CHECK(find_rel(&x, "Ana Ruiz", "cfo_of", "Norvale Systems GmbH") != NULL);
    CHECK(x.n_relations == 2);
    CHECK_MSG(st.relations_kept == 2 && st.relations_dropped == 3, "%zu %zu", st.relations_kept,
              st.relations_dropped);
    cg_extraction_free(&x);

    /* cut at the token limit: the complete items are kept */
    memset(&st, 0, sizeof st);
    {
        const char *cut = "{\"entities\":[{\"name\":\"Ana Ruiz\",\"type\":\"person\"},"
                          "{\"name\":\"Tern Logis";
        CHECK(cg_llm_parse(cut, strlen(cut), &c, &x, &st) == CC_OK);
        CHECK(st.outputs_truncated == 1 && st.outputs_unparsed == 0);
        CHECK(x.n_mentions == 1 && count_surface(&x, "Ana Ruiz") == 1);
        cut = "{\"entities\":[],\"relations\":[{\"subject\":\"Ana Ruiz\",\"predicate\":\"cfo\","
              "\"object\":\"Norvale\"},{\"subj";
        CHECK(cg_llm_parse(cut, strlen(cut), &c, &x, &st) == CC_OK);
        CHECK(st.outputs_truncated == 2 && x.n_relations == 1);
        CHECK(cg_llm_parse("{\"enti", 6, &c, &x, &st) == CC_OK);   /* nothing complete */
        CHECK(st.outputs_unparsed == 1 && x.n_mentions == 0);
        CHECK(cg_llm_parse("not json at all", 15, &c, &x, &st) == CC_OK);
        CHECK(st.outputs_unparsed == 2 && x.n_mentions == 0);
        CHECK(cg_llm_parse("[1,2,{\"a\":[", 11, &c, &x, &st) == CC_OK);   /* another shape */
        CHECK(x.n_mentions == 0 && x.n_relations == 0);
        CHECK(cg_llm_parse(NULL, 0, &c, &x, &st) == CC_OK && x.n_mentions == 0);
        /* deep nesting: refused, never a crash */
        {
            char deep[400];
            memset(deep, '[', sizeof deep - 1);
            deep[sizeof deep - 1] = 0;
            CHECK(cg_llm_parse(deep, strlen(deep), &c, &x, &st) == CC_OK && x.n_mentions == 0);
        }
    }
    cg_extraction_free(&x);

    /* a chunk that is not valid text is refused */
    {
        cg_chunk bad = {"abc\xff", 4, 0, 0};
        CHECK(cg_llm_parse("{}", 2, &bad, &x, NULL) == CC_INVALID);
        cg_extraction_free(&x);
    }
}

static void test_model(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    char path[512], bad[512];
    cg_llm_opts o;
    cg_extractor *ex = NULL;
    cg_extraction x;
    cg_chunk c = chunk_of();
    FILE *f;

    snprintf(path, sizeof path, "%s/graph_llm.%d.gguf", tmp ? tmp : "/tmp", (int)getpid());
    snprintf(bad, sizeof bad, "%s/graph_llm_bad.%d.gguf", tmp ? tmp : "/tmp", (int)getpid());
    memset(&o, 0, sizeof o);
    /* missing and corrupt files: clear errors */
    o.model_path = "/nonexistent/model.gguf";
    CHECK(cg_extractor_llm_new(&o, &ex) == CC_IO && ex == NULL);
    CHECK(strstr(cc_errmsg(), "/nonexistent/model.gguf") != NULL);
    f = fopen(bad, "wb");
    if (f) { fputs("GGUF but not really", f); fclose(f); }
    o.model_path = bad;
    CHECK(cg_extractor_llm_new(&o, &ex) == CC_INVALID && ex == NULL);
    CHECK(strstr(cc_errmsg(), bad) != NULL);
    o.model_path = NULL;
    CHECK(cg_extractor_llm_new(&o, &ex) == CC_INVALID && strstr(cc_errmsg(), "--model"));
    remove(bad);

    {
        cl_tiny_opts t;
        memset(&t, 0, sizeof t);
        t.arch = "qwen2";
        t.type = CL_TYPE_Q8_0;
        t.seed = 4;
        t.n_ctx = 2048;
        CHECK(cl_make_tiny_opts(&t, path) == CL_OK);
    }
    o.model_path = path;
    o.max_tokens = 200;
    o.n_threads = 2;
    CHECK(cg_extractor_llm_new(&o, &ex) == CC_OK);
    if (!ex) return;
    CHECK(!strncmp(cg_extractor_id(ex), "llm/1:", 6) && strlen(cg_extractor_id(ex)) == 18);
    cg_extraction_init(&x);
    for (int i = 0; i < 2; i++) {
        CHECK(cg_extractor_run(ex, &c, &x) == CC_OK);
        CHECK_STR(x.extractor, cg_extractor_id(ex));
        check_offsets(&c, &x);
    }
    {
        cg_llm_stats *st = cg_extractor_llm_stats(ex);
        CHECK(st && st->chunks_extracted == 2 && st->outputs_unparsed == 0);
        CHECK(st->prompt_tokens > 2 * c.len / 4 && st->output_tokens > 0);
        CHECK(st->mentions == x.n_mentions * 2 || st->mentions >= x.n_mentions);
    }
    /* a chunk too long for the context fails with a message, nothing else */
    {
        static char big[20000];
        cg_chunk b;
        memset(big, 'a', sizeof big - 1);
        for (size_t i = 0; i + 1 < sizeof big; i += 7) big[i] = ' ';
        b.text = big;
        b.len = strlen(big);
        b.start_byte = b.start_char = 0;
        CHECK(cg_extractor_run(ex, &b, &x) == CC_TOOBIG);
        CHECK(strstr(cg_extractor_errmsg(ex), "context") != NULL);
        CHECK(cg_extractor_llm_stats(ex)->chunks_failed == 1);
    }
    cg_extraction_free(&x);
    cg_extractor_free(ex);
    remove(path);

    /* a model without a chat template (tiny llama): the plain-text prompt */
    {
        cl_tiny_opts t;
        memset(&t, 0, sizeof t);
        t.arch = "llama";
        t.type = CL_TYPE_F32;
        t.seed = 2;
        t.n_ctx = 2048;
        CHECK(cl_make_tiny_opts(&t, path) == CL_OK);
    }
    o.max_tokens = 64;
    CHECK(cg_extractor_llm_new(&o, &ex) == CC_OK);
    if (!ex) return;
    cg_extraction_init(&x);
    CHECK(cg_extractor_run(ex, &c, &x) == CC_OK);
    check_offsets(&c, &x);
    CHECK(cg_extractor_llm_stats(ex)->chunks_extracted == 1);
    CHECK(cg_extractor_llm_stats(ex)->outputs_unparsed == 0);
    cg_extraction_free(&x);
    cg_extractor_free(ex);
    remove(path);
}

int main(void)
{
    test_parser();
    test_model();
    return check_done("graph_llm");
}
