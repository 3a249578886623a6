/* ask.c — ca_ask: retrieval, extractive answer with citations, checks, and
 * the hash-chained trace (see ask.h). */
#include "ask.h"
#include "retrieval.h"

#include <stdarg.h>
#include "graph.h"

#include <ctype.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TERMS 64

/* One candidate sentence of an evidence chunk. */
typedef struct sent {
    int     chunk;              /* index into the evidence chunks */
    size_t  off, len;           /* bytes within the chunk text */
    int64_t start_char, end_char;
    uint64_t mask;              /* question terms it contains */
    double  coverage, score;
    int     picked;
} sent;

typedef struct chunk {
    int64_t id;
    char   *uri, *text;
    int64_t start_char;
    uint64_t mask;              /* question terms in the chunk */
    int     cite;               /* citation id, 0 = not cited */
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

/* Bit i set when terms[i] occurs as a whole word in text[0..n). */
static uint64_t term_mask(const char *text, size_t n, char *const *terms, int nt)
{
    cc_buf b = CC_BUF_INIT(0);
    uint64_t m = 0;
    if (!nt || cr_hash_normalize(text, n, &b) != CC_OK || cc_buf_putc(&b, ' ')) {
        cc_buf_free(&b);
        return 0;
    }
    for (int i = 0; i < nt; i++) {
        size_t tl = strlen(terms[i]);
        const char *p = b.data;
        int f = 0;
        while (!f && (p = strstr(p, terms[i]))) {
            f = (p == b.data || p[-1] == ' ') && p[tl] == ' ';
            p++;
        }
        if (f) m |= (uint64_t)1 << i;
    }
    cc_buf_free(&b);
    return m;
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

void ca_answer_free(ca_answer *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->n_cites; i++) free(a->cites[i].uri);
    free(a->cites);
    free(a->text);
    free(a->trace_json);
    free(a);
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
 * transaction makes reading the previous hash and appending one step. */
static cc_status store_trace(cc_kb *kb, const char *created, const char *caller,
                             const char *question, const cc_buf *body, ca_answer *a)
{
    sqlite3 *db = cc_kb_db(kb);
    sqlite3_stmt *st = NULL;
    char prev[65], hash[65], idsrc[65];
    cc_buf json = CC_BUF_INIT(0), seed = CC_BUF_INIT(0);
    cc_status s = cc_kb_begin(kb);
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
    cc_buf norm = CC_BUF_INIT(0), tr = CC_BUF_INIT(0), ans = CC_BUF_INIT(0),
           bad = CC_BUF_INIT(0);
    char *terms[MAX_TERMS];
    double w[MAX_TERMS];
    int nt, df[MAX_TERMS] = {0}, k, n_pick = 0, n_bad_num = 0, n_bad_cite = 0;
    int64_t k64, maxs, gen = 0;
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
        (s = cc_kb_setting_f64(kb, "ask.min_score", 0.4, &min_score)))
        return s;   /* the message names the setting */
    k = o && o->k ? o->k : (int)k64;
    if (k < 1 || k > 100) return cc_kb_seterr(kb, CC_INVALID, "k must be 1..100 (got %d)", k);
    if (maxs < 1 || maxs > 20) maxs = 3;
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
    if ((s = cr_searcher_open(kb, &se))) goto out;
    t_open = cc_now_ms() - t0;
    t0 = cc_now_ms();
    if ((s = cr_searcher_search(se, question, &so, &hits, &nh))) goto out;
    t_ret = cc_now_ms() - t0;
    stage(o, "retrieval", t_ret, "{\"hits\":%zu}", nh);

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
     * (settings graph.hops, graph.budget); recorded in the trace with each
     * triple's provenance.  It does not change the extractive answer yet. */
    t0 = cc_now_ms();
    {
        int64_t ids[64];
        size_t ni = nc < 64 ? nc : 64;
        for (size_t i = 0; i < ni; i++) ids[i] = hits[i].chunk_id;
        cg_subgraph_opts go = {.hops = o && o->hops ? o->hops : 0};
        if ((s = cg_subgraph_extract(kb, question, ids, ni, &go, &sg))) goto out;
        graph_json(&gj, &sg);
    }
    t_graph = cc_now_ms() - t0;
    stage(o, "graph", t_graph, "{\"seeds\":%zu,\"triples\":%zu}", sg.n_seeds, sg.n_triples);
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT c.text, c.start_char, d.uri FROM chunks c"
                           " JOIN documents d ON d.id = c.doc_id WHERE c.id = ?1", -1, &st,
                           NULL) != SQLITE_OK) { s = cc_kb_sqlerr(kb, "reading evidence"); goto out; }
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
        /* sentences, with exact document offsets */
        const char *t = ch[i].text;
        size_t n = strlen(t), p = 0;
        while (p < n) {
            while (p < n && isspace((unsigned char)t[p])) p++;
            if (p >= n) break;
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
            x->mask = t[p] == '#' ? 0 : term_mask(t + p, x->len, terms, nt);  /* headings are not answers */
            p = e > p ? e : n;
        }
    }
    /* Score: term weights w = ln(1 + N / (1 + df)) over the N candidate
     * sentences (a term every sentence has says little; one no sentence
     * has weighs most, so its absence pulls every score down); then
     * score = 0.6 sentence coverage + 0.4 chunk coverage (the context
     * names the subject a sentence leaves out) + 0.1 fused score / best. */
    for (int j = 0; j < nt; j++) {
        for (size_t i = 0; i < ns; i++) df[j] += (int)(ss[i].mask >> j & 1);
        w[j] = log(1.0 + (double)ns / (1.0 + df[j]));
    }
    for (size_t i = 0; i < ns; i++) {
        sent *x = &ss[i];
        x->coverage = weighted(x->mask, w, nt);
        x->score = 0.6 * x->coverage + 0.4 * weighted(ch[x->chunk].mask, w, nt) +
                   0.1 * (hits[0].score > 0 ? hits[x->chunk].score / hits[0].score : 0);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!(order = malloc((ns ? ns : 1) * sizeof *order))) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < ns; i++) order[i] = &ss[i];
    qsort(order, ns, sizeof *order, cmp_score);
    int next_cite = 1;
    for (size_t i = 0; i < ns && n_pick < maxs; i++) {
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
            cc_buf_printf(&ans, "no evidence sentence scored %.2f (best %.2f)", min_score,
                          ns ? order[0]->score : 0.0);
            for (int i = 0; i < nt; i++)
                if (!df[i]) cc_buf_printf(&ans, "%s%s", m++ ? ", " : "; not found in the evidence: ", terms[i]);
            cc_buf_putc(&ans, '.');
        }
    }
    t_gen = cc_now_ms() - t0;
    stage(o, "generate", t_gen, "{\"abstained\":%s,\"evidence\":%zu}",
          a->abstained ? "true" : "false", nc);

    /* ---- checks: re-read the answer text; every [n] must be a citation of
     * given evidence and every number must occur in the cited chunk. */
    t0 = cc_now_ms();
    if (!a->abstained) {
        const char *p = ans.data, *sstart = ans.data;
        while ((p = strchr(p, '['))) {
            char *end;
            long id = strtol(p + 1, &end, 10);
            if (*end != ']' || end == p + 1) { p++; continue; }
            int c = -1;
            for (size_t i = 0; i < nc; i++) if (ch[i].cite == id) c = (int)i;
            if (c < 0) n_bad_cite++;
            else n_bad_num += unsupported_numbers(sstart, (size_t)(p - sstart), ch[c].text, &bad);
            p = sstart = end + 1;
        }
    }
    a->checks_ok = !n_bad_cite && !n_bad_num;
    t_chk = cc_now_ms() - t0;
    stage(o, "checks", t_chk, "{\"ok\":%s}", a->checks_ok ? "true" : "false");

    /* ---- answer structure */
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

    /* ---- trace body (store_trace adds id, time and caller around it) */
    cc_buf_puts(&tr, ",\"question\":");
    cc_buf_json_str(&tr, question, nq);
    cc_buf_printf(&tr, ",\"kb_generation\":%lld,\"settings\":{\"generator\":\"extractive\","
                  "\"k\":%d,\"depth\":%d,\"fusion_k\":%g,\"weights\":{\"bm25\":%g,\"vector\":%g},"
                  "\"max_sentences\":%lld,\"min_score\":%g}", (long long)gen, k, so.depth,
                  so.fusion_k, so.weight[0], so.weight[1], (long long)maxs, min_score);
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
    cc_buf_puts(&tr, ",\"terms\":[");
    for (int j = 0; j < nt; j++) {
        cc_buf_printf(&tr, "%s{\"term\":", j ? "," : "");
        cc_buf_json_str(&tr, terms[j], strlen(terms[j]));
        cc_buf_printf(&tr, ",\"sentences\":%d,\"weight\":%.4f}", df[j], w[j]);
    }
    cc_buf_puts(&tr, "],\"candidates\":[");
    for (size_t i = 0; i < ns; i++) {
        sent *x = &ss[i];
        cc_buf_printf(&tr, "%s{\"chunk\":%lld,\"start_char\":%lld,\"end_char\":%lld,"
                      "\"coverage\":%.4f,\"score\":%.4f,\"picked\":%s}", i ? "," : "",
                      (long long)ch[x->chunk].id, (long long)x->start_char,
                      (long long)x->end_char, x->coverage, x->score, x->picked ? "true" : "false");
    }
    cc_buf_printf(&tr, "],\"answer\":{\"abstained\":%s,\"text\":", a->abstained ? "true" : "false");
    cc_buf_json_str(&tr, ans.data ? ans.data : "", ans.len);
    cc_buf_puts(&tr, ",\"sentences\":[");
    {
        int first = 1;
        for (size_t i = 0; i < ns; i++) {   /* in answer order */
            sent *x = order[i];
            if (!x->picked) continue;
            cc_buf_printf(&tr, "%s{\"text\":", first ? "" : ",");
            cc_buf_json_str(&tr, ch[x->chunk].text + x->off, x->len);
            cc_buf_printf(&tr, ",\"citation\":%d,\"chunk\":%lld,\"document\":", ch[x->chunk].cite,
                          (long long)ch[x->chunk].id);
            cc_buf_json_str(&tr, ch[x->chunk].uri, strlen(ch[x->chunk].uri));
            cc_buf_printf(&tr, ",\"start_char\":%lld,\"end_char\":%lld}",
                          (long long)x->start_char, (long long)x->end_char);
            first = 0;
        }
    }
    cc_buf_printf(&tr, "]},\"checks\":{\"ok\":%s,\"citations_invalid\":%d,"
                  "\"numbers_unsupported\":[%s],\"sentences_uncited\":0},"
                  "\"latency_ms\":{\"open\":%.3f,\"retrieval\":%.3f,\"graph\":%.3f,\"generate\":%.3f,"
                  "\"checks\":%.3f}", a->checks_ok ? "true" : "false", n_bad_cite,
                  bad.data ? bad.data : "", t_open, t_ret, t_graph, t_gen, t_chk);
    if (!tr.data || !ans.data) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
    if ((s = store_trace(kb, created, caller, question, &tr, a))) goto out;
    a->text = cc_buf_detach(&ans);
out:
    cg_subgraph_free(&sg);
    cc_buf_free(&gj);
    sqlite3_finalize(st);
    for (size_t i = 0; i < nc && ch; i++) { free(ch[i].text); free(ch[i].uri); }
    free(ch);
    free(ss);
    free(order);
    free(hits);
    cr_searcher_close(se);
    cc_buf_free(&norm);
    cc_buf_free(&tr);
    cc_buf_free(&ans);
    cc_buf_free(&bad);
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
