/* ask.c — ca_ask: retrieval, graph, evidence sentences (scores, answer
 * types, injection marks), the prompt (prompt.c), the extractive answer or
 * the gguf generator (gen_gguf.c), checks, and the hash-chained trace (see
 * ask.h). */
#include "ask_int.h"
#include "retrieval.h"
#include "llm.h"

#include <stdarg.h>
#include "graph.h"

#include <ctype.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_TERMS 64

typedef struct tmention tmention;

/* One candidate sentence of an evidence chunk. */
typedef struct sent {
    int     chunk;              /* index into the evidence chunks */
    size_t  off, len;           /* bytes within the chunk text */
    int64_t start_char, end_char;
    uint64_t mask;              /* question terms it contains */
    double  coverage, score;
    double  relcov;             /* weighted share of the non-name question terms:
                                   half in the sentence, half in its chunk */
    double  namecov;            /* weighted share of the name terms in its chunk */
    double  graph;              /* subgraph support, 0..1 */
    int     typed;              /* holds a mention of the question's answer type */
    int     inj;                /* looks like prompt injection: never quoted */
    int     picked;
} sent;

typedef struct chunk {
    int64_t id;
    char   *uri, *text;
    int64_t start_char;
    uint64_t mask;              /* question terms in the chunk */
    int     cite;               /* citation id, 0 = not cited */
    tmention *ms; size_t nms;   /* typed mentions */
    const char *inj;            /* prompt-injection pattern found, or NULL */
    int64_t inj_char;           /* where (document code points) */
} chunk;

static const char *const stop[] = {
    "a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for", "from",
    "has", "have", "how", "in", "is", "it", "its", "many", "much", "of", "on", "or", "that",
    "the", "this", "to", "was", "were", "what", "when", "where", "which", "who", "whom",
    "whose", "why", "with", NULL};

static int is_stop(const char *w)
{
    for (int i = 0; stop[i]; i++) if (!strcmp(stop[i], w)) return 1;
    return 0;
}

/* Question terms: normalised words (cr_hash_normalize), stop words and
 * duplicates dropped. Returns the count; terms point into norm. */
static int question_terms(char *norm, char *terms[MAX_TERMS])
{
    int n = 0;
    char *save = NULL;   /* strtok_r: ca_ask runs on server threads too */
    for (char *w = strtok_r(norm, " ", &save); w && n < MAX_TERMS; w = strtok_r(NULL, " ", &save)) {
        int dup = 0;
        if (is_stop(w)) continue;
        for (int i = 0; i < n; i++) if (!strcmp(terms[i], w)) dup = 1;
        if (!dup) terms[n++] = w;
    }
    return n;
}

/* Light stem for matching: a word of 5+ letters loses one of -ing -ed
 * -es -s -e (at least 4 letters stay), so "launch" meets "launched",
 * "acquire" meets "acquired" and
 * "officer" meets "officers". Words with digits are kept whole. */
static size_t stem_len(const char *w, size_t n)
{
    static const char *const suf[] = {"ing", "ed", "es", "s", "e", NULL};
    for (size_t i = 0; i < n; i++) if (isdigit((unsigned char)w[i])) return n;
    for (int i = 0; suf[i]; i++) {
        size_t l = strlen(suf[i]);
        if (n >= 4 + l && n >= 5 && !memcmp(w + n - l, suf[i], l)) return n - l;
    }
    return n;
}

/* Bit i set when terms[i] occurs as a whole word of text[0..n), compared
 * by stem (stem_len). */
static uint64_t term_mask(const char *text, size_t n, char *const *terms, int nt)
{
    cc_buf b = CC_BUF_INIT(0);
    uint64_t m = 0;
    size_t tl[MAX_TERMS];
    if (!nt || cr_hash_normalize(text, n, &b) != CC_OK || !b.data) {
        cc_buf_free(&b);
        return 0;
    }
    for (int i = 0; i < nt; i++) tl[i] = stem_len(terms[i], strlen(terms[i]));
    for (size_t p = 0; p < b.len;) {
        size_t e = p;
        while (e < b.len && b.data[e] != ' ') e++;
        size_t wl = stem_len(b.data + p, e - p);
        for (int i = 0; i < nt; i++)
            if (wl == tl[i] && !memcmp(b.data + p, terms[i], wl)) m |= (uint64_t)1 << i;
        p = e + 1;
    }
    cc_buf_free(&b);
    return m;
}

/* The kind of answer a question asks for, from its wh-phrase. */
typedef enum atype { AT_NONE = 0, AT_AGENT, AT_DATE, AT_NUMBER, AT_PLACE } atype;
static const char *const atype_name[] = {"none", "person_or_organisation", "date", "number",
                                         "place"};

/* Whole-word, case-insensitive search for phrase in q. */
static int has_phrase(const char *q, const char *phrase)
{
    size_t l = strlen(phrase);
    for (const char *p = q; *p; p++)
        if ((p == q || !isalnum((unsigned char)p[-1])) && !strncasecmp(p, phrase, l) &&
            !isalnum((unsigned char)p[l]))
            return 1;
    return 0;
}

/* who/whom/whose -> person or organisation; when, what/which year, what
 * date -> date; how many/much -> number; where -> place; otherwise none. */
static atype answer_type(const char *q)
{
    if (has_phrase(q, "how many") || has_phrase(q, "how much")) return AT_NUMBER;
    if (has_phrase(q, "when") || has_phrase(q, "what year") || has_phrase(q, "which year") ||
        has_phrase(q, "what date") || has_phrase(q, "which date")) return AT_DATE;
    if (has_phrase(q, "who") || has_phrase(q, "whom") || has_phrase(q, "whose")) return AT_AGENT;
    if (has_phrase(q, "where")) return AT_PLACE;
    return AT_NONE;
}

/* Bit i set when terms[i] comes from a name in the question: a word that
 * starts with a capital (not the first word) or holds a digit. */
static uint64_t name_terms(const char *q, char *const *terms, int nt)
{
    uint64_t m = 0;
    int first = 1;
    for (const char *p = q; *p;) {
        if (!isalnum((unsigned char)*p) && !((unsigned char)*p & 0x80)) { p++; continue; }
        const char *e = p;
        int digit = 0;
        while (*e && (isalnum((unsigned char)*e) || ((unsigned char)*e & 0x80))) digit |= isdigit((unsigned char)*e++);
        if ((!first && isupper((unsigned char)*p)) || digit) {
            cc_buf b = CC_BUF_INIT(0);
            if (cr_hash_normalize(p, (size_t)(e - p), &b) == CC_OK && b.data)
                for (int i = 0; i < nt; i++)
                    if (!strcmp(b.data, terms[i])) m |= (uint64_t)1 << i;
            cc_buf_free(&b);
        }
        first = 0;
        p = e;
    }
    return m;
}

/* A typed mention of an evidence chunk (catalog mentions + entities). */
struct tmention {
    int64_t start_char, end_char;
    int     type;   /* cg_type */
    int     named;  /* shares a word with the question's names: the subject, not an answer */
};

static int type_fits(atype a, int t)
{
    switch (a) {
    case AT_AGENT:  return t == CG_TYPE_PERSON || t == CG_TYPE_ORG;
    case AT_DATE:   return t == CG_TYPE_DATE;
    case AT_NUMBER: return t == CG_TYPE_AMOUNT || t == CG_TYPE_QUANTITY || t == CG_TYPE_PERCENT;
    case AT_PLACE:  return t == CG_TYPE_PLACE;
    default:        return 0;
    }
}

static int type_from_str(const char *s)
{
    for (int t = 0; t < CG_TYPE_COUNT; t++) if (s && !strcmp(cg_type_str((cg_type)t), s)) return t;
    return CG_TYPE_OTHER;
}

/* For a number question, a bare number that the question does not hold
 * ("carries 12 passengers") also answers; for a date question, a year. */
static int bare_value(atype a, const char *s, size_t n, const char *q)
{
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]) || (i && isalnum((unsigned char)s[i - 1]))) continue;
        size_t j = i;
        while (j < n && isdigit((unsigned char)s[j])) j++;
        if (j < n && isalpha((unsigned char)s[j]) && !isspace((unsigned char)s[j])) { i = j; continue; }
        char num[32];
        size_t l = j - i < sizeof num - 1 ? j - i : sizeof num - 1;
        memcpy(num, s + i, l);
        num[l] = 0;
        int year = l == 4 && (num[0] == '1' || num[0] == '2');
        if (!strstr(q, num) && (a == AT_NUMBER || (a == AT_DATE && year))) return 1;
        i = j;
    }
    return 0;
}

/* Weighted share of the question terms in mask. */
static double weighted(uint64_t mask, const double *w, int nt)
{
    double have = 0, all = 0;
    for (int i = 0; i < nt; i++) {
        all += w[i];
        if (mask >> i & 1) have += w[i];
    }
    return all > 0 ? have / all : 0;
}

/* Sentence ends: after . ! ? (and closing quotes/brackets) followed by
 * whitespace, unless the word before is a short capitalised abbreviation
 * ("Dr.", "St.", "Inc.", "J."; not "AB."), and at blank lines. */
static size_t sentence_end(const char *t, size_t i, size_t n)
{
    int heading = t[i] == '#';   /* a Markdown heading ends at its line */
    for (; i < n; i++) {
        if (heading && t[i] == '\n') return i;
        if (t[i] == '\n' && i + 1 < n && t[i + 1] == '\n') return i;
        if (t[i] == '.' || t[i] == '!' || t[i] == '?') {
            size_t j = i + 1, w = i;
            while (j < n && strchr("\"')]", t[j])) j++;
            if (j < n && !isspace((unsigned char)t[j])) continue;
            while (w > 0 && isalpha((unsigned char)t[w - 1])) w--;
            if (t[i] == '.' && i - w <= 3 && i > w && isupper((unsigned char)t[w]) &&
                (i - w == 1 || islower((unsigned char)t[w + 1]))) continue;
            return j;
        }
    }
    return n;
}

static int cmp_score(const void *a, const void *b)
{
    const sent *x = *(const sent *const *)a, *y = *(const sent *const *)b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->chunk != y->chunk ? x->chunk - y->chunk : (x->off < y->off ? -1 : 1);
}

/* Numbers (runs of digits, with inner . or ,) in s that do not occur in
 * evidence; appended to bad as JSON strings. Returns how many. */
static int unsupported_numbers(const char *s, size_t n, const char *evidence, cc_buf *bad)
{
    int count = 0;
    for (size_t i = 0; i < n;) {
        if (!isdigit((unsigned char)s[i])) { i++; continue; }
        size_t j = i;
        while (j < n && (isdigit((unsigned char)s[j]) ||
                         ((s[j] == '.' || s[j] == ',') && j + 1 < n && isdigit((unsigned char)s[j + 1]))))
            j++;
        char *num = cc_strndup(s + i, j - i);
        if (num && !strstr(evidence, num)) {
            if (bad->len) cc_buf_putc(bad, ',');
            cc_buf_json_str(bad, num, j - i);
            count++;
        }
        free(num);
        i = j;
    }
    return count;
}

/* A citation marker at p ("[12]" or "[T3]"): 1 with *tri, *id and *end
 * (past the ']'); 0 otherwise. */
static int marker(const char *p, int *tri, long *id, const char **end)
{
    const char *q = p + 1;
    char *e;
    if (*p != '[') return 0;
    *tri = *q == 'T';
    if (*tri) q++;
    if (!isdigit((unsigned char)*q)) return 0;
    *id = strtol(q, &e, 10);
    if (*e != ']' || *id < 1 || *id > 100000) return 0;
    *end = e + 1;
    return 1;
}

static void buf_clear(cc_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

/* The checks' findings. */
typedef struct checks {
    int    bad_cite, bad_num, uncited, n_sent;
    cc_buf nums;    /* unsupported numbers: JSON strings, comma-separated */
    cc_buf sents;   /* the answer's sentences: JSON objects, comma-separated */
    int   *used;    /* per evidence chunk: cited by a valid marker */
} checks;

/* Re-reads an answer sentence by sentence (a sentence takes the citation
 * markers that follow it): each [n] must be a chunk that was given
 * (cite_of[i] is chunk i's id, 0 = not given) and each [Tn] one of the
 * prompt's triples; every number must occur in the evidence the sentence
 * cites; a sentence citing nothing is counted as uncited. */
static void check_answer(const char *ans, const chunk *ch, size_t nc, const int *cite_of,
                         const ca_prompt *pr, checks *c)
{
    size_t n = strlen(ans), p = 0;
    cc_buf ev = CC_BUF_INIT(0), plain = CC_BUF_INIT(0), ids = CC_BUF_INIT(0),
           chunks = CC_BUF_INIT(0), bad = CC_BUF_INIT(0);
    while (p < n) {
        const char *end;
        int tri, cited = 0, nb;
        long id;
        while (p < n && isspace((unsigned char)ans[p])) p++;
        if (p >= n) break;
        size_t e = sentence_end(ans, p, n);
        for (;;) {   /* markers after the sentence end belong to it */
            size_t q = e;
            while (q < n && (ans[q] == ' ' || ans[q] == '\t')) q++;
            if (q < n && marker(ans + q, &tri, &id, &end)) e = (size_t)(end - ans);
            else break;
        }
        buf_clear(&ev);
        buf_clear(&plain);
        buf_clear(&ids);
        buf_clear(&chunks);
        buf_clear(&bad);
        for (size_t i = p; i < e;) {
            if (ans[i] == '[' && marker(ans + i, &tri, &id, &end)) {
                int ok = 0;
                if (tri && pr && (size_t)id <= pr->n_triples_in) {
                    const cg_triple *t = pr->triples[id - 1];
                    cc_buf_printf(&ev, "%s\n%s\n%s\n", t->subject, t->predicate, t->object);
                    ok = 1;
                }
                for (size_t j = 0; !tri && j < nc; j++)
                    if (cite_of[j] == id) {
                        cc_buf_puts(&ev, ch[j].text);
                        cc_buf_putc(&ev, '\n');
                        if (!c->used[j]) c->used[j] = 1;
                        cc_buf_printf(&chunks, "%s%lld", chunks.len ? "," : "", (long long)ch[j].id);
                        ok = 1;
                    }
                if (ok) {
                    cited = 1;
                    cc_buf_printf(&ids, "%s\"%s%ld\"", ids.len ? "," : "", tri ? "T" : "", id);
                } else c->bad_cite++;
                i = (size_t)(end - ans);
                continue;
            }
            cc_buf_putc(&plain, ans[i++]);
        }
        nb = unsupported_numbers(plain.data ? plain.data : "", plain.len, ev.data ? ev.data : "", &bad);
        c->bad_num += nb;
        if (bad.len) {
            if (c->nums.len) cc_buf_putc(&c->nums, ',');
            cc_buf_append(&c->nums, bad.data, bad.len);
        }
        if (!cited) c->uncited++;
        if (c->n_sent++) cc_buf_putc(&c->sents, ',');
        cc_buf_puts(&c->sents, "{\"text\":");
        cc_buf_json_str(&c->sents, ans + p, e - p);
        cc_buf_printf(&c->sents, ",\"citations\":[%s],\"chunks\":[%s],\"cited\":%s,"
                      "\"numbers_unsupported\":[%s]}", ids.data ? ids.data : "",
                      chunks.data ? chunks.data : "", cited ? "true" : "false",
                      bad.data ? bad.data : "");
        p = e > p ? e : n;
    }
    cc_buf_free(&ev);
    cc_buf_free(&plain);
    cc_buf_free(&ids);
    cc_buf_free(&chunks);
    cc_buf_free(&bad);
}

void ca_answer_free(ca_answer *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->n_cites; i++) free(a->cites[i].uri);
    free(a->cites);
    free(a->text);
    free(a->trace_json);
    free(a);
}

/* CPU time of the whole process (all threads), milliseconds: stage costs
 * that a loaded machine's scheduling does not inflate. */
static double cpu_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)) return 0;
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char zero_hash[] = "0000000000000000000000000000000000000000000000000000000000000000";

static void chain_hash(const char *prev, const char *json, char hex[65])
{
    cc_sha256 c;
    uint8_t d[32];
    cc_sha256_init(&c);
    cc_sha256_update(&c, prev, strlen(prev));
    cc_sha256_update(&c, json, strlen(json));
    cc_sha256_final(&c, d);
    cc_hex(d, 32, hex);
}

/* Appends the trace (id and body already built) to the chain. The
 * transaction (a log transaction: SQLite's write lock, which serialises
 * every appender, whether or not it holds the writer lock) makes reading
 * the previous hash and appending one step. */
static cc_status store_trace(cc_kb *kb, const char *created, const char *caller,
                             const char *question, const cc_buf *body, ca_answer *a)
{
    sqlite3 *db = cc_kb_db(kb);
    sqlite3_stmt *st = NULL;
    char prev[65], hash[65], idsrc[65];
    cc_buf json = CC_BUF_INIT(0), seed = CC_BUF_INIT(0);
    cc_status s = cc_kb_begin_log(kb);
    if (s) return s;
    snprintf(prev, sizeof prev, "%s", zero_hash);
    if (sqlite3_prepare_v2(db, "SELECT hash FROM traces ORDER BY seq DESC LIMIT 1", -1, &st,
                           NULL) != SQLITE_OK) goto sqlfail;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(prev, sizeof prev, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    st = NULL;
    /* id: unique because prev differs for every trace */
    cc_buf_printf(&seed, "%s|%s|%s", prev, created, question);
    cc_sha256_hex(seed.data, seed.len, idsrc);
    snprintf(a->trace_id, sizeof a->trace_id, "tr_%.16s", idsrc);
    if (cc_buf_printf(&json, "{\"trace_id\":\"%s\",\"created_at\":\"%s\",\"caller\":",
                      a->trace_id, created) ||
        cc_buf_json_str(&json, caller, strlen(caller)) ||
        cc_buf_append(&json, body->data, body->len) || cc_buf_putc(&json, '}')) {
        s = cc_kb_seterr(kb, CC_NOMEM, "out of memory building the trace");
        goto fail;
    }
    chain_hash(prev, json.data, hash);
    if (sqlite3_prepare_v2(db, "INSERT INTO traces(id, created_at, caller, question, json,"
                           " prev_hash, hash) VALUES (?1,?2,?3,?4,?5,?6,?7)", -1, &st,
                           NULL) != SQLITE_OK) goto sqlfail;
    sqlite3_bind_text(st, 1, a->trace_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, created, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, caller, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, question, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, json.data, (int)json.len, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, prev, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, hash, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) goto sqlfail;
    sqlite3_finalize(st);
    st = NULL;   /* a failed commit (disk full) must not finalize it again */
    if ((s = cc_kb_commit(kb))) goto fail;
    a->trace_json = cc_buf_detach(&json);
    cc_buf_free(&seed);
    return CC_OK;
sqlfail:
    s = cc_kb_sqlerr(kb, "storing the trace");
fail:
    sqlite3_finalize(st);
    cc_kb_rollback(kb);
    cc_buf_free(&json);
    cc_buf_free(&seed);
    return s;
}

/* The subgraph as trace JSON: seeds, then triples best first, each with
 * its provenance (the chunks that state it). */
static void graph_json(cc_buf *b, const cg_subgraph *g)
{
    cc_buf_puts(b, "{\"seeds\":[");
    for (size_t i = 0; i < g->n_seeds; i++) {
        cc_buf_printf(b, "%s{\"entity\":%lld,\"label\":", i ? "," : "",
                      (long long)g->seeds[i].entity_id);
        cc_buf_json_str(b, g->seeds[i].label, strlen(g->seeds[i].label));
        cc_buf_printf(b, ",\"from\":\"%s\"}", g->seeds[i].from);
    }
    cc_buf_puts(b, "],\"triples\":[");
    for (size_t i = 0; i < g->n_triples; i++) {
        const cg_triple *t = &g->triples[i];
        cc_buf_printf(b, "%s{\"subject\":", i ? "," : "");
        cc_buf_json_str(b, t->subject, strlen(t->subject));
        cc_buf_puts(b, ",\"predicate\":");
        cc_buf_json_str(b, t->predicate, strlen(t->predicate));
        cc_buf_puts(b, ",\"object\":");
        cc_buf_json_str(b, t->object, strlen(t->object));
        cc_buf_printf(b, ",\"subject_id\":%lld,\"object_id\":%lld,\"status\":\"%s\","
                      "\"confidence\":%.3f,\"support\":%d,\"hops\":%d,\"score\":%.6f,\"provenance\":[",
                      (long long)t->subject_id, (long long)t->object_id,
                      cg_rel_status_str(t->status), t->confidence, t->support, t->hops, t->score);
        for (size_t j = 0; j < t->n_prov; j++) {
            const cg_prov *p = &t->prov[j];
            cc_buf_printf(b, "%s{\"chunk\":%lld,\"document\":", j ? "," : "", (long long)p->chunk_id);
            cc_buf_json_str(b, p->doc_uri, strlen(p->doc_uri));
            cc_buf_printf(b, ",\"start_char\":%lld,\"end_char\":%lld,\"pattern\":\"%s\","
                          "\"extractor\":\"%s\",\"confidence\":%.3f,\"status\":\"%s\"}",
                          (long long)p->start_char, (long long)p->end_char, p->pattern,
                          p->extractor, p->confidence, cg_rel_status_str(p->status));
        }
        cc_buf_puts(b, "]}");
    }
    cc_buf_puts(b, "]}");
}

/* Reports a finished stage to o->on_stage, if set. */
static void stage(const ca_ask_opts *o, const char *name, double ms, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void stage(const ca_ask_opts *o, const char *name, double ms, const char *fmt, ...)
{
    char detail[160];
    va_list ap;
    if (!o || !o->on_stage) return;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    o->on_stage(o->stage_ctx, name, ms, detail);
}

/* The answer's share of a model context of nctx tokens: maxtok, or at most
 * a quarter of the context when the caller did not ask for a length. */
static int64_t answer_room(int64_t nctx, int64_t maxtok, int fixed)
{
    if (!fixed && maxtok > nctx / 4) maxtok = nctx / 4 > 16 ? nctx / 4 : 16;
    return maxtok;
}

/* Slack kept between the prompt budget and the context: the whole prompt
 * may tokenise a few tokens longer than its pieces. */
static int64_t ctx_slack(int64_t nctx) { return 4 + nctx / 100; }

/* The smallest context that holds a prompt of `prompt` tokens, the chat
 * template (over) and the answer, as ca_ask divides a context. */
static int64_t ctx_needed(int64_t prompt, int64_t over, int64_t maxtok, int fixed)
{
    int64_t c = prompt + over;
    while (prompt + over + answer_room(c, maxtok, fixed) + ctx_slack(c) > c) c++;
    return c;
}

cc_status ca_ask(cc_kb *kb, const char *question, const ca_ask_opts *o, ca_answer **out)
{
    static const char *const lane_name[CR_LANE_COUNT] = {"bm25", "vector"};
    cr_search_opts so;
    cr_searcher *se = NULL;
    cr_hit *hits = NULL;
    size_t nh = 0, nq, nc = 0, ns = 0, cap = 0;
    chunk *ch = NULL;
    sent *ss = NULL, **order = NULL;
    sqlite3_stmt *st = NULL;
    cc_buf norm = CC_BUF_INIT(0), tr = CC_BUF_INIT(0), ans = CC_BUF_INIT(0);
    const char *model = "";
    const char *kvtype = "";
    int64_t ptok, maxtok, ghops, kvmb;
    ca_llm *llm = NULL;
    ca_ev *ev = NULL;
    int *cite_of = NULL;
    checks ck = {0};
    ca_prompt pr = {0};
    ca_gen gout = {0};
    double t_load = 0, t_prompt = 0, c0 = 0, c_ret = 0, c_graph = 0, c_gen = 0, c_chk = 0;
    char *terms[MAX_TERMS];
    double *tw = NULL;
    double w[MAX_TERMS], wrel[MAX_TERMS] = {0}, relw = 0, wname[MAX_TERMS] = {0}, namew = 0;
    atype qtype = AT_NONE;
    uint64_t names = 0;
    sqlite3_stmt *stm = NULL;
    int nt, df[MAX_TERMS] = {0}, k, n_pick = 0;
    int64_t k64, maxs, gen = 0;
    double min_support, best_sup = 0;
    int64_t type_gate;
    int n_supported = 0, n_typed = 0;
    const char *why = NULL;   /* abstention reason beyond min_score */
    double min_score, t0, t_open, t_ret, t_graph, t_gen, t_chk;
    cg_subgraph sg = {0};
    cc_buf gj = CC_BUF_INIT(0);
    const char *caller = o && o->caller ? o->caller : "cli";
    char created[32];
    ca_answer *a;
    cc_status s;

    *out = NULL;
    if (!question) return cc_kb_seterr(kb, CC_INVALID, "no question given");
    nq = strlen(question);
    if (nq > CA_QUESTION_MAX_BYTES)
        return cc_kb_seterr(kb, CC_TOOBIG, "question is %zu bytes; the limit is %d", nq,
                            CA_QUESTION_MAX_BYTES);
    if (cc_utf8_check(question, nq) != nq)
        return cc_kb_seterr(kb, CC_INVALID, "question is not valid UTF-8 (byte %zu)",
                            cc_utf8_check(question, nq));
    {
        size_t i = 0;
        while (i < nq && isspace((unsigned char)question[i])) i++;
        if (i == nq) return cc_kb_seterr(kb, CC_INVALID, "question is empty");
    }
    if ((s = cc_kb_setting_i64(kb, "ask.k", 5, &k64)) ||
        (s = cc_kb_setting_i64(kb, "ask.max_sentences", 3, &maxs)) ||
        (s = cc_kb_setting_f64(kb, "ask.min_score", 0.4, &min_score)) ||
        (s = cc_kb_setting_f64(kb, "ask.min_support", 0.25, &min_support)) ||
        (s = cc_kb_setting_i64(kb, "ask.type_gate", 0, &type_gate)) ||
        (s = cc_kb_setting_i64(kb, "ask.prompt_tokens", 2048, &ptok)) ||
        (s = cc_kb_setting_i64(kb, "ask.max_tokens", 256, &maxtok)) ||
        (s = cc_kb_setting_i64(kb, "ask.graph_hops", 1, &ghops)) ||
        (s = cc_kb_setting_i64(kb, "ask.kv_cache_mb", 256, &kvmb)) ||
        (s = cc_kb_setting_str(kb, "ask.kv_type", "", &kvtype)) ||
        (s = cc_kb_setting_str(kb, "ask.model", "", &model)))
        return s;   /* the message names the setting */
    k = o && o->k ? o->k : (int)k64;
    if (k < 1 || k > 100) return cc_kb_seterr(kb, CC_INVALID, "k must be 1..100 (got %d)", k);
    if (maxs < 1 || maxs > 20) maxs = 3;
    if (o && o->model) model = o->model;
    if (o && o->max_tokens) maxtok = o->max_tokens;
    if (ptok < 64 || ptok > 1000000)
        return cc_kb_seterr(kb, CC_INVALID, "setting ask.prompt_tokens must be 64..1000000 (is %lld)", (long long)ptok);
    if (o && o->hops) ghops = o->hops;     /* the caller's (--hops, SQL WITH hops) wins */
    if (ghops < 1 || ghops > 4)
        return cc_kb_seterr(kb, CC_INVALID, "setting ask.graph_hops must be 1..4 (is %lld)", (long long)ghops);
    if (maxtok < 1 || maxtok > 100000)
        return cc_kb_seterr(kb, CC_INVALID, "ask.max_tokens must be 1..100000 (is %lld)", (long long)maxtok);
    if (kvmb < 0 || kvmb > 1000000)
        return cc_kb_seterr(kb, CC_INVALID, "setting ask.kv_cache_mb must be 0..1000000 (is %lld)", (long long)kvmb);
    if (!(a = calloc(1, sizeof *a))) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    cc_utc_iso8601(created);
    cc_kb_generation(kb, &gen);

    /* ---- retrieval: fused list to the lanes' depth, so every lane hit is
     * in it (for the trace); the first k are the evidence. */
    t0 = cc_now_ms();
    if ((s = cr_search_opts_from_kb(kb, &so))) goto out;
    if (so.depth < k) so.depth = k;
    so.k = so.depth;
    so.mode = CR_MODE_HYBRID;
    if (o && o->searcher) se = o->searcher;
    else if ((s = cr_searcher_open(kb, &se))) goto out;
    t_open = cc_now_ms() - t0;
    c0 = cpu_ms();
    t0 = cc_now_ms();
    if ((s = cr_searcher_search(se, question, &so, &hits, &nh))) goto out;
    t_ret = cc_now_ms() - t0;
    c_ret = cpu_ms() - c0;
    stage(o, "retrieval", t_ret, "{\"hits\":%zu}", nh);
    c0 = cpu_ms();

    /* ---- extractive generation */
    t0 = cc_now_ms();
    if ((s = cr_hash_normalize(question, nq, &norm)) || !norm.data) {
        s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        goto out;
    }
    nt = question_terms(norm.data, terms);
    nc = nh < (size_t)k ? nh : (size_t)k;
    if (!(ch = calloc(nc ? nc : 1, sizeof *ch))) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }

    /* ---- graph: the subgraph around the evidence chunks and the question
     * (ask.graph_hops deep, graph.budget triples); recorded in the trace
     * with each triple's provenance; its triples support sentence scores
     * and go into the prompt. */
    t0 = cc_now_ms();
    {
        int64_t ids[64];
        size_t ni = nc < 64 ? nc : 64;
        for (size_t i = 0; i < ni; i++) ids[i] = hits[i].chunk_id;
        cg_subgraph_opts go = {.hops = (int)ghops};
        if ((s = cg_subgraph_extract(kb, question, ids, ni, &go, &sg))) goto out;
        graph_json(&gj, &sg);
    }
    t_graph = cc_now_ms() - t0;
    c_graph = cpu_ms() - c0;
    stage(o, "graph", t_graph, "{\"seeds\":%zu,\"triples\":%zu}", sg.n_seeds, sg.n_triples);
    c0 = cpu_ms();
    t0 = cc_now_ms();
    qtype = answer_type(question);
    names = name_terms(question, terms, nt);
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT c.text, c.start_char, d.uri FROM chunks c"
                           " JOIN documents d ON d.id = c.doc_id WHERE c.id = ?1", -1, &st,
                           NULL) != SQLITE_OK) { s = cc_kb_sqlerr(kb, "reading evidence"); goto out; }
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT m.start_char, m.end_char, e.type, m.surface"
                           " FROM mentions m JOIN entities e ON e.id = m.entity_id"
                           " WHERE m.chunk_id = ?1", -1, &stm, NULL) != SQLITE_OK) {
        s = cc_kb_sqlerr(kb, "reading evidence mentions");
        goto out;
    }
    for (size_t i = 0; i < nc; i++) {
        ch[i].id = hits[i].chunk_id;
        sqlite3_bind_int64(st, 1, ch[i].id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            ch[i].text = cc_strdup((const char *)sqlite3_column_text(st, 0));
            ch[i].start_char = sqlite3_column_int64(st, 1);
            ch[i].uri = cc_strdup((const char *)sqlite3_column_text(st, 2));
        }
        sqlite3_reset(st);
        if (!ch[i].text || !ch[i].uri) { s = cc_kb_seterr(kb, CC_NOMEM, "evidence chunk %lld unreadable", (long long)ch[i].id); goto out; }
        ch[i].mask = term_mask(ch[i].text, strlen(ch[i].text), terms, nt);
        {
            size_t off;
            if (ca_injection_scan(ch[i].text, strlen(ch[i].text), &ch[i].inj, &off))
                ch[i].inj_char = ch[i].start_char + (int64_t)cc_utf8_count(ch[i].text, off);
        }
        sqlite3_bind_int64(stm, 1, ch[i].id);
        while (sqlite3_step(stm) == SQLITE_ROW) {
            const char *surf = (const char *)sqlite3_column_text(stm, 3);
            if (ch[i].nms % 16 == 0) {
                tmention *g = realloc(ch[i].ms, (ch[i].nms + 16) * sizeof *g);
                if (!g) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
                ch[i].ms = g;
            }
            tmention *m = &ch[i].ms[ch[i].nms++];
            m->start_char = sqlite3_column_int64(stm, 0);
            m->end_char = sqlite3_column_int64(stm, 1);
            m->type = type_from_str((const char *)sqlite3_column_text(stm, 2));
            m->named = surf && (term_mask(surf, strlen(surf), terms, nt) & names) != 0;
        }
        sqlite3_reset(stm);
        /* sentences, with exact document offsets */
        const char *t = ch[i].text;
        size_t n = strlen(t), p = 0;
        int inj_run = 0;   /* an injection runs from its sentence to the paragraph's end */
        uint64_t inj_free = 0;   /* question terms outside injected passages */
        while (p < n) {
            int nl = 0;
            while (p < n && isspace((unsigned char)t[p])) nl += t[p++] == '\n';
            if (p >= n) break;
            if (nl >= 2) inj_run = 0;
            size_t e = sentence_end(t, p, n), e2 = e;
            while (e2 > p && isspace((unsigned char)t[e2 - 1])) e2--;
            if (ns == cap) {
                sent *g = realloc(ss, (cap = cap ? 2 * cap : 64) * sizeof *g);
                if (!g) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
                ss = g;
            }
            sent *x = &ss[ns++];
            memset(x, 0, sizeof *x);
            x->chunk = (int)i;
            x->off = p;
            x->len = e2 - p;
            x->start_char = ch[i].start_char + (int64_t)cc_utf8_count(t, p);
            x->end_char = x->start_char + (int64_t)cc_utf8_count(t + p, e2 - p);
            uint64_t raw = term_mask(t + p, x->len, terms, nt);
            x->mask = t[p] == '#' ? 0 : raw;   /* headings are not answers */
            {   /* an instruction in a document is not a fact: never quoted */
                const char *pat;
                size_t off;
                if (ch[i].inj && ca_injection_scan(t + p, x->len, &pat, &off)) inj_run = 1;
                if (inj_run) {
                    x->inj = 1;
                    x->mask = 0;
                } else {
                    inj_free |= raw;
                }
            }
            p = e > p ? e : n;
        }
        if (ch[i].inj) ch[i].mask = inj_free;   /* injected text lends the chunk no coverage */
    }
    /* Score (see ARCHITECTURE.md "Ask and the trace"): term weights
     * w = ln(1 + N / (1 + df)) over the N candidate sentences (a term every
     * sentence has says little; one no sentence has weighs most, so its
     * absence pulls every score down); then
     *   score = 0.15 sentence coverage + 0.45 relation coverage (the
     *           non-name terms: the relation asked about, "founded", "chief
     *           financial officer"; half their share in the sentence, half
     *           in its chunk; the subject is often only "the company")
     *         + 0.3 chunk coverage (the context names the subject a sentence
     *           leaves out) + 0.1 fused score / best
     *         + 0.2 subgraph support (a kept triple stated in the sentence)
     *         + 0.25 when the question asks for a type (who, when, how many,
     *           where) and the sentence holds a mention of it that is not
     *           one of the question's names. */
    for (int j = 0; j < nt; j++) {
        for (size_t i = 0; i < ns; i++) df[j] += (int)(ss[i].mask >> j & 1);
        w[j] = log(1.0 + (double)ns / (1.0 + df[j]));
        if (!(names >> j & 1)) relw += (wrel[j] = w[j]);
        else namew += (wname[j] = w[j]);
    }
    /* a kept triple's weight as support: its predicate names a relation
     * term of the question (1 when it also touches a seed named in the
     * question, else 0.6), or it only touches such a seed (0.3), or
     * neither (0.1); co-occurrence is no support; times its confidence */
    if (sg.n_triples && !(tw = calloc(sg.n_triples, sizeof *tw))) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
    for (size_t t = 0; t < sg.n_triples; t++) {
        const cg_triple *tp = &sg.triples[t];
        int q = 0, rel = (term_mask(tp->predicate, strlen(tp->predicate), terms, nt) & ~names) != 0;
        if (!strcmp(tp->predicate, "co_occurs_with")) continue;
        for (size_t j = 0; j < sg.n_seeds; j++)
            if (!strcmp(sg.seeds[j].from, "question") &&
                (sg.seeds[j].entity_id == tp->subject_id || sg.seeds[j].entity_id == tp->object_id))
                q = 1;
        tw[t] = (rel ? (q ? 1.0 : 0.6) : q ? 0.3 : 0.1) * tp->confidence;
    }
    for (size_t i = 0; i < ns; i++) {
        sent *x = &ss[i];
        chunk *c = &ch[x->chunk];
        double gs = 0;
        x->coverage = weighted(x->mask, w, nt);
        x->relcov = relw > 0 ? 0.5 * weighted(x->mask, wrel, nt) + 0.5 * weighted(c->mask, wrel, nt) : 1.0;
        x->namecov = namew > 0 ? weighted(c->mask | x->mask, wname, nt) : 1.0;
        for (size_t t = 0; t < sg.n_triples; t++)
            for (size_t j = 0; tw[t] > 0 && j < sg.triples[t].n_prov; j++) {
                const cg_prov *pv = &sg.triples[t].prov[j];
                if (pv->chunk_id == c->id && pv->start_char < x->end_char && pv->end_char > x->start_char)
                    gs += tw[t];
            }
        x->graph = gs > 1 ? 1 : gs;
        if (qtype != AT_NONE && x->mask) {
            for (size_t j = 0; j < c->nms && !x->typed; j++)
                x->typed = !c->ms[j].named && type_fits(qtype, c->ms[j].type) &&
                           c->ms[j].start_char >= x->start_char && c->ms[j].end_char <= x->end_char;
            if (!x->typed && (qtype == AT_NUMBER || qtype == AT_DATE))
                x->typed = bare_value(qtype, c->text + x->off, x->len, question);
        }
        x->score = 0.15 * x->coverage + 0.45 * x->relcov + 0.3 * weighted(c->mask, w, nt) +
                   0.1 * (hits[0].score > 0 ? hits[x->chunk].score / hits[0].score : 0) +
                   0.2 * x->graph + (x->typed ? 0.25 : 0);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!(order = malloc((ns ? ns : 1) * sizeof *order))) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < ns; i++) order[i] = &ss[i];
    qsort(order, ns, sizeof *order, cmp_score);
    /* Support: a sentence that states the relation asked about (non-name
     * terms) in a chunk that names the question's subject (name terms);
     * min of the two shares. Without one at ask.min_support the answer
     * abstains; with ask.type_gate = 1 that sentence must also hold the
     * answer type (who, when, how many, where). */
    for (size_t i = 0; i < ns; i++) {
        double sup = ss[i].relcov < ss[i].namecov ? ss[i].relcov : ss[i].namecov;
        if (sup > best_sup) best_sup = sup;
        if (sup >= min_support && ss[i].mask) {
            n_supported++;
            if (ss[i].typed) n_typed++;
        }
    }
    if (ns && !n_supported) why = "support";
    else if (ns && type_gate && qtype != AT_NONE && !n_typed) why = "type";
    t_gen = cc_now_ms() - t0;   /* reading and scoring the evidence */

    /* ---- prompt: the context within ask.prompt_tokens, counted by the
     * model's tokenizer when there is one, else estimated */
    t0 = cc_now_ms();
    /* CA_CHAT_RESERVE: tokens the model's chat template wraps the prompt in */
    /* and the slack (ctx_slack of the context asked for, rounded up) */
    if (model[0] && (s = ca_llm_open(kb, model, (uint32_t)(ptok + maxtok + CA_CHAT_RESERVE + 8 +
                                                           (ptok + maxtok) / 50), kvtype, &llm)))
        goto out;
    t_load = cc_now_ms() - t0;
    if (llm) ca_llm_set_cache_budget(llm, (size_t)kvmb << 20);
    /* the budget follows the model's context: the prompt, the template
     * around it (measured on this model), a little slack (ctx_slack) and
     * the answer all fit. A short context (a 512-token model) would give
     * the default answer room (ask.max_tokens 256) half of it: unless the
     * caller asked for a length (--max-tokens), the answer gets at most a
     * quarter (answer_room). */
    if (llm) {
        int64_t nctx = (int64_t)ca_llm_n_ctx(llm), over = (int64_t)ca_llm_overhead(llm);
        int fixed = o && o->max_tokens;
        maxtok = answer_room(nctx, maxtok, fixed);
        if (ptok > nctx - maxtok - over - ctx_slack(nctx)) ptok = nctx - maxtok - over - ctx_slack(nctx);
        if (ptok < 64) {
            s = cc_kb_seterr(kb, CC_INVALID, "model %s: its context is %lld tokens; the answer (%lld,"
                             " %s) and its chat template (%lld) leave %lld for the prompt, and at"
                             " least 64 are needed: %s, or use a model with a context of at least"
                             " %lld tokens", model, (long long)nctx, (long long)maxtok,
                             fixed ? "--max-tokens" : "ask.max_tokens", (long long)over,
                             (long long)ptok, fixed ? "ask for fewer --max-tokens" : "lower ask.max_tokens",
                             (long long)ctx_needed(64, over, maxtok, fixed));
            goto out;
        }
    }
    t0 = cc_now_ms();
    if (!(ev = calloc(nc ? nc : 1, sizeof *ev)) || !(cite_of = calloc(nc ? nc : 1, sizeof *cite_of)) ||
        !(ck.used = calloc(nc ? nc : 1, sizeof *ck.used))) {
        s = cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nc; i++) {
        ev[i].id = ch[i].id;
        ev[i].uri = ch[i].uri;
        ev[i].text = ch[i].text;
    }
    if ((s = ca_prompt_build(question, ev, nc, &sg, (int)ptok, llm ? ca_llm_count : NULL, llm, &pr))) {
        s = cc_kb_seterr(kb, CC_NOMEM, "out of memory building the prompt");
        goto out;
    }
    t_prompt = cc_now_ms() - t0;
    stage(o, "prompt", t_prompt, "{\"tokens\":%zu}", pr.tokens);
    if (llm && pr.over_budget) {   /* evidence was dropped to fit; the rest alone does not */
        int64_t need = ctx_needed((int64_t)pr.tokens, (int64_t)ca_llm_overhead(llm), maxtok,
                                  o && o->max_tokens);
        s = cc_kb_seterr(kb, CC_TOOBIG, "model %s: its context is %u tokens; the instructions and the"
                         " question alone take %zu, more than the %lld left after the answer (%lld)"
                         " and the chat template (%zu); it needs a context of at least %lld tokens"
                         " for no evidence at all: use a model with a longer context%s, or shorten"
                         " the question", model, ca_llm_n_ctx(llm), pr.tokens, (long long)ptok,
                         (long long)maxtok, ca_llm_overhead(llm), (long long)need,
                         maxtok > 16 ? " or fewer answer tokens (ask.max_tokens, --max-tokens)" : "");
        goto out;
    }

    /* ---- generation */
    t0 = cc_now_ms();
    if (llm) {
        if ((s = ca_llm_generate(kb, llm, &pr, (int)maxtok, o ? o->on_token : NULL,
                                 o ? o->on_token_ctx : NULL, &gout)))
            goto out;
        cc_buf_puts(&ans, gout.text);
        if (!ans.data) cc_buf_append(&ans, "", 0);
        /* only whitespace is no answer either */
        a->abstained = has_phrase(ans.data, "cannot answer") || !ans.data[strspn(ans.data, " \t\r\n")];
        t_gen = cc_now_ms() - t0;
        for (size_t i = 0; i < nc; i++) cite_of[i] = pr.cite[i];
    } else {
        int next_cite = 1;
        for (size_t i = 0; i < ns && n_pick < maxs && !why; i++) {
            sent *x = order[i];
            int dup = 0;
            if (x->score < min_score || x->coverage == 0) break;
            for (size_t j = 0; j < i; j++)   /* overlapping chunks repeat sentences */
                if (order[j]->picked && order[j]->len == x->len &&
                    !memcmp(ch[order[j]->chunk].text + order[j]->off, ch[x->chunk].text + x->off, x->len))
                    dup = 1;
            if (dup) continue;
            x->picked = 1;
            if (!ch[x->chunk].cite) ch[x->chunk].cite = next_cite++;
            if (ans.len) cc_buf_putc(&ans, ' ');
            cc_buf_append(&ans, ch[x->chunk].text + x->off, x->len);
            cc_buf_printf(&ans, " [%d]", ch[x->chunk].cite);
            n_pick++;
        }
        if (!n_pick) {
            a->abstained = 1;
            cc_buf_printf(&ans, "I cannot answer this from the knowledge base: ");
            if (!nh) cc_buf_puts(&ans, "no document matched the question.");
            else {
                int m = 0;
                if (why && !strcmp(why, "type"))
                    cc_buf_printf(&ans, "the question asks for a %s and no evidence sentence that"
                                  " matches it holds one", atype_name[qtype]);
                else if (why)
                    cc_buf_printf(&ans, "no evidence sentence states what is asked about the"
                                  " question's subject (support %.2f, needed %.2f)", best_sup,
                                  min_support);
                else
                    cc_buf_printf(&ans, "no evidence sentence scored %.2f (best %.2f)", min_score,
                                  ns ? order[0]->score : 0.0);
                for (int i = 0; i < nt; i++)
                    if (!df[i]) cc_buf_printf(&ans, "%s%s", m++ ? ", " : "; not found in the evidence: ", terms[i]);
                cc_buf_putc(&ans, '.');
            }
        }
        t_gen += cc_now_ms() - t0;
        for (size_t i = 0; i < nc; i++) cite_of[i] = ch[i].cite;
    }

    /* ---- checks: every [n] names given evidence, every number occurs in
     * what its sentence cites, every sentence cites something */
    c_gen = cpu_ms() - c0;   /* reading evidence, prompt, generation */
    stage(o, "generate", t_gen, "{\"abstained\":%s,\"evidence\":%zu}",
          a->abstained ? "true" : "false", nc);
    c0 = cpu_ms();
    t0 = cc_now_ms();
    if (llm || !a->abstained) check_answer(ans.data ? ans.data : "", ch, nc, cite_of, &pr, &ck);
    a->checks_ok = !ck.bad_cite && !ck.bad_num && !ck.uncited;
    t_chk = cc_now_ms() - t0;
    c_chk = cpu_ms() - c0;
    stage(o, "checks", t_chk, "{\"ok\":%s}", a->checks_ok ? "true" : "false");

    /* ---- answer structure: the same for both generators */
    if (llm) {
        for (size_t i = 0; i < nc; i++) if (ck.used[i]) a->n_cites++;
        if (a->n_cites && !(a->cites = calloc(a->n_cites, sizeof *a->cites))) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
        size_t m = 0;
        for (int id = 1; id <= (int)pr.n_chunks_in; id++)   /* in citation id order */
            for (size_t i = 0; i < nc; i++)
                if (ck.used[i] && pr.cite[i] == id) {
                    ca_citation *c = &a->cites[m++];
                    c->id = id;
                    c->chunk_id = ch[i].id;
                    c->uri = cc_strdup(ch[i].uri);
                    c->start_char = ch[i].start_char;   /* the whole excerpt */
                    c->end_char = ch[i].start_char + (int64_t)cc_utf8_count(ch[i].text, strlen(ch[i].text));
                }
    } else {
        for (size_t i = 0; i < nc; i++) if (ch[i].cite) a->n_cites++;
        if (a->n_cites && !(a->cites = calloc(a->n_cites, sizeof *a->cites))) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
        for (size_t i = 0; i < ns; i++) {
            sent *x = &ss[i];
            ca_citation *c;
            if (!x->picked) continue;
            c = &a->cites[ch[x->chunk].cite - 1];
            if (!c->id) {   /* span of the first quoted sentence of that chunk */
                c->id = ch[x->chunk].cite;
                c->chunk_id = ch[x->chunk].id;
                c->uri = cc_strdup(ch[x->chunk].uri);
                c->start_char = x->start_char;
                c->end_char = x->end_char;
            }
        }
    }
    for (size_t i = 0; i < a->n_cites; i++)
        if (!a->cites[i].uri) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }

    /* ---- trace body (store_trace adds id, time and caller around it) */
    cc_buf_printf(&tr, ",\"trace_version\":%d,\"question\":", CA_TRACE_VERSION);
    cc_buf_json_str(&tr, question, nq);
    cc_buf_printf(&tr, ",\"kb_generation\":%lld,\"settings\":{\"generator\":\"%s\","
                  "\"k\":%d,\"depth\":%d,\"fusion_k\":%g,\"weights\":{\"bm25\":%g,\"vector\":%g},"
                  "\"max_sentences\":%lld,\"min_score\":%g,\"min_support\":%g,\"type_gate\":%s,"
                  "\"prompt_tokens\":%lld,\"max_tokens\":%lld,\"graph_hops\":%lld}",
                  (long long)gen, llm ? "gguf" : "extractive", k, so.depth, so.fusion_k,
                  so.weight[0], so.weight[1], (long long)maxs, min_score, min_support,
                  type_gate ? "true" : "false", (long long)ptok, (long long)maxtok, (long long)ghops);
    cc_buf_puts(&tr, ",\"lanes\":{");
    for (int l = 0; l < CR_LANE_COUNT; l++) {
        int first = 1;
        cc_buf_printf(&tr, "%s\"%s\":[", l ? "," : "", lane_name[l]);
        for (int r = 1; r <= so.depth; r++)
            for (size_t i = 0; i < nh; i++)
                if (hits[i].rank[l] == r) {
                    cc_buf_printf(&tr, "%s{\"chunk\":%lld,\"rank\":%d,\"score\":%.6f}",
                                  first ? "" : ",", (long long)hits[i].chunk_id, r,
                                  hits[i].lane_score[l]);
                    first = 0;
                }
        cc_buf_putc(&tr, ']');
    }
    cc_buf_puts(&tr, "},\"vector_lane_note\":");
    if (cr_searcher_vector_status(se))
        cc_buf_json_str(&tr, cr_searcher_vector_status(se), strlen(cr_searcher_vector_status(se)));
    else cc_buf_puts(&tr, "null");
    cc_buf_puts(&tr, ",\"fused\":[");
    for (size_t i = 0; i < nc; i++) {
        cc_buf_printf(&tr, "%s{\"rank\":%zu,\"chunk\":%lld,\"score\":%.6f,\"document\":",
                      i ? "," : "", i + 1, (long long)ch[i].id, hits[i].score);
        cc_buf_json_str(&tr, ch[i].uri, strlen(ch[i].uri));
        cc_buf_puts(&tr, ",\"rrf\":{");
        for (int l = 0; l < CR_LANE_COUNT; l++)
            cc_buf_printf(&tr, "%s\"%s\":%.6f", l ? "," : "", lane_name[l],
                          hits[i].rank[l] ? so.weight[l] / (so.fusion_k + hits[i].rank[l]) : 0.0);
        cc_buf_puts(&tr, "}}");
    }
    cc_buf_puts(&tr, "],\"graph\":");
    cc_buf_append(&tr, gj.data ? gj.data : "null", gj.data ? gj.len : 4);
    /* evidence passages that look like prompt injection: still evidence
     * (inside the untrusted block), never quoted by the extractive answer */
    cc_buf_puts(&tr, ",\"injections\":[");
    for (size_t i = 0, m = 0; i < nc; i++) {
        if (!ch[i].inj) continue;
        cc_buf_printf(&tr, "%s{\"chunk\":%lld,\"document\":", m++ ? "," : "", (long long)ch[i].id);
        cc_buf_json_str(&tr, ch[i].uri, strlen(ch[i].uri));
        cc_buf_puts(&tr, ",\"pattern\":");
        cc_buf_json_str(&tr, ch[i].inj, strlen(ch[i].inj));
        cc_buf_printf(&tr, ",\"start_char\":%lld,\"in_prompt\":%s}", (long long)ch[i].inj_char,
                      pr.cite[i] ? "true" : "false");
    }
    cc_buf_printf(&tr, "],\"prompt\":{\"sha256\":\"%s\",\"tokens\":%zu,\"token_counter\":\"%s\","
                  "\"budget\":%d,\"over_budget\":%s,\"triples\":%zu,\"chunks_left_out\":%zu,"
                  "\"chunks_dropped_to_fit\":%zu,\"chunks\":[",
                  pr.sha256, pr.tokens, llm ? "model" : "estimate", pr.budget,
                  pr.over_budget ? "true" : "false", pr.n_triples_in, nc - pr.n_chunks_in, pr.n_dropped);
    for (size_t i = 0, m = 0; i < nc; i++)
        if (pr.cite[i])
            cc_buf_printf(&tr, "%s{\"id\":%d,\"chunk\":%lld,\"truncated\":%s}", m++ ? "," : "",
                          pr.cite[i], (long long)ch[i].id, pr.truncated[i] ? "true" : "false");
    cc_buf_puts(&tr, "],\"text\":");
    if (llm) cc_buf_json_str(&tr, pr.text, pr.len);   /* the extractive answer does not read it */
    else cc_buf_puts(&tr, "null");
    cc_buf_puts(&tr, "},\"model\":");
    cc_buf_puts(&tr, llm ? ca_llm_identity(llm) : "null");
    if (llm)
        cc_buf_printf(&tr, ",\"generation\":{\"sampler\":\"greedy\",\"temperature\":0,\"seed\":null,"
                      "\"max_tokens\":%lld,\"prompt_tokens\":%zu,\"generated_tokens\":%zu,"
                          "\"stopped\":\"%s\",\"chat_template\":%s,\"kv_prefix_hits\":%zu,"
                      "\"kv_cache\":{\"prompt_tokens\":%zu,\"hit_tokens\":%zu,\"saved_tokens\":%zu,"
                      "\"hit_blocks\":%zu,\"stored_blocks\":%zu,\"block_tokens\":%d,\"budget_mb\":%lld,"
                      "\"model_kept\":%s}}",
                      (long long)maxtok, gout.n_prompt_tokens, gout.n_gen_tokens,
                      gout.stopped_eos ? "eos" : "max_tokens", gout.chat_template ? "true" : "false",
                      gout.kv_hit_blocks, gout.kv_prompt_tokens, gout.kv_hit_tokens, gout.kv_hit_tokens,
                      gout.kv_hit_blocks, gout.kv_stored_blocks, CL_KV_BLOCK, (long long)kvmb,
                      gout.model_kept ? "true" : "false");
    else cc_buf_puts(&tr, ",\"generation\":null");
    cc_buf_printf(&tr, ",\"answer_type\":\"%s\",\"terms\":[", atype_name[qtype]);
    for (int j = 0; j < nt; j++) {
        cc_buf_printf(&tr, "%s{\"term\":", j ? "," : "");
        cc_buf_json_str(&tr, terms[j], strlen(terms[j]));
        cc_buf_printf(&tr, ",\"sentences\":%d,\"weight\":%.4f,\"name\":%s}", df[j], w[j],
                      names >> j & 1 ? "true" : "false");
    }
    cc_buf_puts(&tr, "],\"candidates\":[");
    for (size_t i = 0; i < ns; i++) {
        sent *x = &ss[i];
        cc_buf_printf(&tr, "%s{\"chunk\":%lld,\"start_char\":%lld,\"end_char\":%lld,"
                      "\"coverage\":%.4f,\"relation_coverage\":%.4f,\"name_coverage\":%.4f,\"graph\":%.4f,"
                      "\"typed\":%s,\"injection\":%s,\"score\":%.4f,\"picked\":%s}", i ? "," : "",
                      (long long)ch[x->chunk].id, (long long)x->start_char,
                      (long long)x->end_char, x->coverage, x->relcov, x->namecov, x->graph,
                      x->typed ? "true" : "false", x->inj ? "true" : "false", x->score,
                      x->picked ? "true" : "false");
    }
    cc_buf_printf(&tr, "],\"answer\":{\"abstained\":%s,\"abstain_reason\":", a->abstained ? "true" : "false");
    if (!a->abstained) cc_buf_puts(&tr, "null");
    else cc_buf_printf(&tr, "\"%s\"", !nh ? "no_match" : why ? why : "score");
    cc_buf_puts(&tr, ",\"text\":");
    cc_buf_json_str(&tr, ans.data ? ans.data : "", ans.len);
    cc_buf_puts(&tr, ",\"sentences\":[");
    if (llm) {
        if (ck.sents.data) cc_buf_append(&tr, ck.sents.data, ck.sents.len);
    } else {
        int first = 1;
        for (size_t i = 0; i < ns; i++) {   /* in answer order */
            sent *x = order[i];
            if (!x->picked) continue;
            cc_buf_printf(&tr, "%s{\"text\":", first ? "" : ",");
            cc_buf_json_str(&tr, ch[x->chunk].text + x->off, x->len);
            cc_buf_printf(&tr, ",\"citation\":%d,\"citations\":[\"%d\"],\"chunk\":%lld,\"document\":",
                          ch[x->chunk].cite, ch[x->chunk].cite, (long long)ch[x->chunk].id);
            cc_buf_json_str(&tr, ch[x->chunk].uri, strlen(ch[x->chunk].uri));
            cc_buf_printf(&tr, ",\"start_char\":%lld,\"end_char\":%lld}",
                          (long long)x->start_char, (long long)x->end_char);
            first = 0;
        }
    }
    cc_buf_printf(&tr, "]},\"checks\":{\"ok\":%s,\"citations_invalid\":%d,"
                  "\"numbers_unsupported\":[%s],\"sentences_uncited\":%d,\"sentences\":%d},"
                  "\"latency_ms\":{\"open\":%.3f,\"retrieval\":%.3f,\"graph\":%.3f,"
                  "\"load\":%.3f,\"prompt\":%.3f,\"generate\":%.3f,",
                  a->checks_ok ? "true" : "false", ck.bad_cite, ck.nums.data ? ck.nums.data : "",
                  ck.uncited, ck.n_sent, t_open, t_ret, t_graph, t_load, t_prompt, t_gen);
    if (llm) cc_buf_printf(&tr, "\"prefill\":%.3f,\"decode\":%.3f,", gout.t_prefill, gout.t_decode);
    else cc_buf_puts(&tr, "\"prefill\":null,\"decode\":null,");
    cc_buf_printf(&tr, "\"checks\":%.3f},\"cpu_ms\":{\"retrieval\":%.3f,\"graph\":%.3f,"
                  "\"generate\":%.3f,\"checks\":%.3f}", t_chk, c_ret, c_graph, c_gen, c_chk);
    if (!tr.data || !ans.data) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
    if (o && o->trace_open) {
        cc_kb *wkb = NULL;
        if ((s = o->trace_open(o->trace_ctx, &wkb))) {
            cc_kb_seterr(kb, s, "storing the trace: %s", cc_errmsg());
            goto out;
        }
        if ((s = store_trace(wkb, created, caller, question, &tr, a)))
            cc_kb_seterr(kb, s, "%s", cc_kb_errmsg(wkb));
        o->trace_done(o->trace_ctx, wkb, s ? NULL : a->trace_id);
        if (s) goto out;
    } else if ((s = store_trace(kb, created, caller, question, &tr, a))) goto out;
    a->text = cc_buf_detach(&ans);
out:
    cg_subgraph_free(&sg);
    cc_buf_free(&gj);
    sqlite3_finalize(st);
    sqlite3_finalize(stm);
    free(tw);
    for (size_t i = 0; i < nc && ch; i++) { free(ch[i].text); free(ch[i].uri); free(ch[i].ms); }
    free(ch);
    free(ss);
    free(order);
    free(hits);
    if (!(o && o->searcher)) cr_searcher_close(se);
    cc_buf_free(&norm);
    cc_buf_free(&tr);
    cc_buf_free(&ans);
    cc_buf_free(&ck.nums);
    cc_buf_free(&ck.sents);
    free(ck.used);
    free(cite_of);
    free(ev);
    ca_prompt_free(&pr);
    ca_gen_free(&gout);
    ca_llm_close(llm);
    if (s) ca_answer_free(a);
    else *out = a;
    return s;
}

cc_status ca_trace_verify(cc_kb *kb, int64_t *n_checked)
{
    sqlite3_stmt *st;
    char expect[65], hash[65];
    int rc;
    int64_t n = 0;
    cc_status s = CC_OK;
    snprintf(expect, sizeof expect, "%s", zero_hash);
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT seq, id, json, prev_hash, hash FROM traces"
                           " ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
        return cc_kb_sqlerr(kb, "reading traces");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long long seq = sqlite3_column_int64(st, 0);
        const char *id = (const char *)sqlite3_column_text(st, 1);
        const char *json = (const char *)sqlite3_column_text(st, 2);
        const char *prev = (const char *)sqlite3_column_text(st, 3);
        const char *h = (const char *)sqlite3_column_text(st, 4);
        if (!id || !json || !prev || !h) {
            s = cc_kb_seterr(kb, CC_CORRUPT, "trace seq %lld has empty fields", seq);
            break;
        }
        n++;
        if (strcmp(prev, expect)) {
            s = cc_kb_seterr(kb, CC_CORRUPT, "trace %s (seq %lld): its previous-hash link does"
                             " not match the trace before it: a trace was deleted or the"
                             " traces were reordered", id, seq);
            break;
        }
        chain_hash(prev, json, hash);
        if (strcmp(hash, h)) {
            s = cc_kb_seterr(kb, CC_CORRUPT, "trace %s (seq %lld) was edited: its hash does"
                             " not match its content", id, seq);
            break;
        }
        snprintf(expect, sizeof expect, "%s", h);
    }
    if (!s && rc != SQLITE_DONE) s = cc_kb_sqlerr(kb, "reading traces");
    sqlite3_finalize(st);
    if (n_checked) *n_checked = n;
    return s;
}
