/* chunk.c — splits a document's text into chunks of about target_tokens,
 * ending at a paragraph break when one is close enough, else at a sentence
 * end, else at any whitespace; never inside a word or a UTF-8 sequence,
 * except a hard cut (at a UTF-8 boundary) in a run of text with no
 * whitespace far longer than a chunk. One forward scan: each byte is read
 * once per chunk that covers it (at most twice with overlap), so the time is
 * linear; memory is the chunk array plus one word list of a chunk's size.
 *
 * Tokens (an estimate): a word is a run of letters, digits and non-ASCII
 * characters; each ASCII punctuation mark is a token of its own. */
#include "retrieval.h"

#include <stdint.h>
#include <string.h>

#define CHUNK_TARGET_DEFAULT  300
#define CHUNK_OVERLAP_DEFAULT 40
#define CHUNK_TARGET_MAX      100000
#define CHUNK_BYTES_PER_TOKEN 16     /* byte cap of a chunk: target * this */

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_punct(unsigned char c)
{
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
           (c >= '{' && c <= '~');
}

/* Kinds of break, weakest first; a chunk ends at the strongest one seen
 * once it holds at least half its target (a section start: a heading). */
enum { BR_NONE = 0, BR_SPACE, BR_SENTENCE, BR_PARA, BR_SECTION, BR_KINDS };

/* A place the chunk may end: text[..end) then whitespace up to next. */
typedef struct cand {
    size_t end, next;
    int tokens;         /* tokens in [start, end) */
} cand;

/* A word start inside the chunk (the first byte after a whitespace run). */
typedef struct wstart {
    size_t pos;
    int tokens;         /* tokens in [start, pos) */
} wstart;

typedef struct chunker {
    const char *t;
    size_t n;
    int target, overlap, min_tokens;
    size_t max_bytes;
    wstart *ws;
    size_t nws, capws;
    cr_chunk *out;
    size_t nout, capout;
    size_t cbyte_s, cchar_s, cbyte_e, cchar_e;   /* running byte->char conversion */
    const cr_section *secs;
    size_t nsecs;
    size_t prev_end;        /* end of the last chunk: a preferred end must pass it */
} chunker;

/* Whitespace class of the gap text[i..j): paragraph (2+ newlines),
 * sentence (after . ! ? possibly closed by a quote or bracket), or plain. */
static int gap_kind(const chunker *c, size_t start, size_t i, size_t j, size_t *sec)
{
    size_t k, nl = 0;
    unsigned char p;
    while (*sec < c->nsecs && c->secs[*sec].start_byte < i) (*sec)++;
    if (*sec < c->nsecs && c->secs[*sec].start_byte <= j) return BR_SECTION;
    for (k = i; k < j; k++)
        if (c->t[k] == '\n' && ++nl >= 2) return BR_PARA;
    if (i == start) return BR_SPACE;
    p = (unsigned char)c->t[i - 1];
    if ((p == '"' || p == '\'' || p == ')' || p == ']') && i - 1 > start)
        p = (unsigned char)c->t[i - 2];
    return p == '.' || p == '!' || p == '?' ? BR_SENTENCE : BR_SPACE;
}

static size_t section_at(const chunker *c, size_t pos)
{
    size_t lo = 0, hi = c->nsecs;            /* first section starting after pos */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->secs[mid].start_byte <= pos) lo = mid + 1; else hi = mid;
    }
    return lo ? lo - 1 : SIZE_MAX;
}

static cc_status add_chunk(chunker *c, size_t s, size_t e, int tokens)
{
    cr_chunk *k;
    if (c->nout == c->capout) {
        size_t nc = c->capout ? 2 * c->capout : 64;
        cr_chunk *nv = realloc(c->out, nc * sizeof *nv);
        if (!nv) return cc_seterr(CC_NOMEM, "out of memory chunking %zu bytes", c->n);
        c->out = nv;
        c->capout = nc;
    }
    /* starts and ends only move forward: count code points incrementally */
    c->cchar_s += cc_utf8_count(c->t + c->cbyte_s, s - c->cbyte_s);
    c->cbyte_s = s;
    if (e < c->cbyte_e) { c->cbyte_e = c->cbyte_s; c->cchar_e = c->cchar_s; }
    c->cchar_e += cc_utf8_count(c->t + c->cbyte_e, e - c->cbyte_e);
    c->cbyte_e = e;
    k = &c->out[c->nout++];
    k->start_byte = s;
    k->end_byte = e;
    k->start_char = c->cchar_s;
    k->end_char = c->cchar_e;
    k->n_tokens = tokens;
    k->section = section_at(c, s);
    c->prev_end = e;
    return CC_OK;
}

static cc_status push_ws(chunker *c, size_t pos, int tokens)
{
    if (c->nws == c->capws) {
        size_t nc = c->capws ? 2 * c->capws : 256;
        wstart *nv = realloc(c->ws, nc * sizeof *nv);
        if (!nv) return cc_seterr(CC_NOMEM, "out of memory chunking %zu bytes", c->n);
        c->ws = nv;
        c->capws = nc;
    }
    c->ws[c->nws].pos = pos;
    c->ws[c->nws].tokens = tokens;
    c->nws++;
    return CC_OK;
}

/* Where the chunk after [start, k.end) begins: a word start holding about
 * `overlap` tokens before k.end, but never before the chunk's middle (in
 * tokens and in bytes), so each chunk moves on by at least half of one. */
static size_t overlap_start(const chunker *c, size_t start, const cand *k)
{
    size_t lo = 0, hi = c->nws, mid;
    int want = k->tokens - c->overlap;
    size_t minpos = start + (k->end - start) / 2;
    if (c->overlap <= 0) return k->next;
    if (want < k->tokens / 2) want = k->tokens / 2;
    while (lo < hi) {                       /* first word start with tokens >= want */
        mid = lo + (hi - lo) / 2;
        if (c->ws[mid].tokens < want) lo = mid + 1; else hi = mid;
    }
    while (lo < c->nws && c->ws[lo].pos < minpos) lo++;
    if (lo < c->nws && c->ws[lo].pos > start && c->ws[lo].pos < k->end) return c->ws[lo].pos;
    return k->next;
}

static cc_status run(chunker *c)
{
    size_t pos = 0, n = c->n;
    const char *t = c->t;
    cc_status s;

    while (pos < n && is_ws((unsigned char)t[pos])) pos++;
    while (pos < n) {
        size_t start = pos, i = pos;
        int tokens = 0, in_word = 0, overflow = 0, newtok = 0, have[BR_KINDS] = { 0 }, b;
        cand best[BR_KINDS], *pick = NULL;
        size_t sec = section_at(c, start) + 1;      /* SIZE_MAX + 1 == 0 */
        c->nws = 0;
        for (;;) {
            unsigned char ch;
            if (i >= n) {                               /* the text ends: last chunk */
                return add_chunk(c, start, n, tokens);
            }
            ch = (unsigned char)t[i];
            if (is_ws(ch)) {
                size_t j = i;
                int kind;
                while (j < n && is_ws((unsigned char)t[j])) j++;
                if (j >= n) return add_chunk(c, start, i, tokens);
                kind = gap_kind(c, start, i, j, &sec);
                in_word = 0;
                best[BR_SPACE].end = i; best[BR_SPACE].next = j; best[BR_SPACE].tokens = tokens;
                have[BR_SPACE] = 1;
                if (kind > BR_SPACE && tokens >= c->min_tokens && i > c->prev_end) {
                    best[kind] = best[BR_SPACE];
                    have[kind] = 1;
                }
                if (overflow) { pick = &best[BR_SPACE]; break; }
                if ((s = push_ws(c, j, tokens))) return s;
                i = j;
                continue;
            }
            newtok = 0;
            if (ch < 0x80 && is_punct(ch)) { tokens++; in_word = 0; newtok = 1; }
            else if (!in_word) { tokens++; in_word = 1; newtok = 1; }
            if (tokens > c->target && !overflow) {
                /* this token does not fit: end at the best place seen */
                for (b = BR_KINDS - 1; b > BR_NONE && !pick; b--)
                    if (have[b]) pick = &best[b];
                if (pick) break;
                overflow = 1;                           /* no whitespace yet */
            }
            if (overflow && newtok && tokens > 2 * c->target && i > start) {
                /* far over, at a token start: cut here */
                if ((s = add_chunk(c, start, i, tokens - 1))) return s;
                pos = i;
                goto next;
            }
            if (i - start >= c->max_bytes) {
                for (b = BR_KINDS - 1; b > BR_NONE && !pick; b--)
                    if (have[b]) pick = &best[b];
                if (pick) break;
                /* one run with no whitespace, far over: hard cut at a UTF-8 boundary */
                {
                    size_t cut = i;
                    while (cut > start && ((unsigned char)t[cut] & 0xC0) == 0x80) cut--;
                    if (cut == start) { cut = i; while (cut < n && ((unsigned char)t[cut] & 0xC0) == 0x80) cut++; }
                    if ((s = add_chunk(c, start, cut, tokens - (cut == i && newtok)))) return s;
                    pos = cut;
                    goto next;
                }
            }
            i++;
        }
        if ((s = add_chunk(c, start, pick->end, pick->tokens))) return s;
        pos = overlap_start(c, start, pick);
    next:;
    }
    return CC_OK;
}

cc_status cr_chunk_text(const cr_doc *doc, const cr_chunk_opts *opts,
                        cr_chunk **out, size_t *n_out)
{
    chunker c;
    cc_status s;
    C_ASSERT(doc && out && n_out);
    *out = NULL;
    *n_out = 0;
    memset(&c, 0, sizeof c);
    c.target = CHUNK_TARGET_DEFAULT;
    c.overlap = CHUNK_OVERLAP_DEFAULT;
    if (opts && opts->target_tokens) {           /* {0, 0}: all defaults */
        c.target = opts->target_tokens;
        c.overlap = opts->overlap_tokens;
    } else if (opts && opts->overlap_tokens) {
        c.overlap = opts->overlap_tokens;
    }
    if (c.target < 1 || c.target > CHUNK_TARGET_MAX)
        return cc_seterr(CC_INVALID, "chunk target_tokens must be in 1..%d (got %d)",
                         CHUNK_TARGET_MAX, c.target);
    if (c.overlap < 0 || c.overlap >= c.target)
        return cc_seterr(CC_INVALID, "chunk overlap_tokens must be in 0..%d (below "
                         "target_tokens %d; got %d)", c.target - 1, c.target, c.overlap);
    if (!doc->text || doc->len == 0) return CC_OK;
    c.t = doc->text;
    c.n = doc->len;
    c.min_tokens = c.target / 2;
    c.max_bytes = (size_t)c.target * CHUNK_BYTES_PER_TOKEN;
    if (c.max_bytes < 256) c.max_bytes = 256;
    c.secs = doc->sections;
    c.nsecs = doc->sections ? doc->n_sections : 0;
    s = run(&c);
    free(c.ws);
    if (s) { free(c.out); return s; }
    *out = c.out;
    *n_out = c.nout;
    return CC_OK;
}
