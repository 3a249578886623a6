/* rules.c — the rules extractor "rules/1": no model, linear-time passes
 * over one chunk.
 *
 *   1. tokens: words (letters/digits with inner hyphens, "3.5", "310,000",
 *      "O'Brien", "AT&T"), possessive "'s", single punctuation marks;
 *   2. sentences: . ! ? (not after titles, initials, or before lowercase),
 *      blank lines;
 *   3. mentions per sentence, left to right, each token used once: dates,
 *      amounts, percentages, quantities, identifiers ("PX-9000-v2",
 *      "KV-12 rev C"), capitalised names (connectors of/de/&/and where
 *      sensible, titles and roles as cues, legal suffixes), acronyms and
 *      "Long Name (ACR)";
 *   4. relations per sentence from bounded windows after each mention:
 *      apposition, possessive, x_of_y, copula, svo (lemmatised verb),
 *      hearst; then co-occurrence pairs, nearest first, capped;
 *   5. types spread to repeated surfaces and surnames; results go to the
 *      sink in chunk byte offsets.
 * Every window is bounded, so time is linear in the chunk. */
#include "lexicon.h"

#include <string.h>

/* ================================================================ context */

typedef struct rules_ctx {
    cg_rules_opts opts;
    cg_lexicon    lx;
} rules_ctx;

cc_status cg_rules_ctx_new(const cg_rules_opts *opts, void **out)
{
    rules_ctx *cx = calloc(1, sizeof *cx);
    cc_status s;
    *out = NULL;
    if (!cx) return CC_NOMEM;
    if (opts) cx->opts = *opts;
    if (!cx->opts.max_chunk_bytes) cx->opts.max_chunk_bytes = (size_t)16 << 20;
    if (!cx->opts.max_tokens) cx->opts.max_tokens = 1000000;
    if (!cx->opts.max_mentions) cx->opts.max_mentions = 4096;
    if (!cx->opts.max_relations) cx->opts.max_relations = 8192;
    if (!cx->opts.max_cooc_per_sentence) cx->opts.max_cooc_per_sentence = 6;
    if (!cx->opts.max_name_tokens) cx->opts.max_name_tokens = 8;
    if ((s = cg_lexicon_init(&cx->lx))) { free(cx); return s; }
    *out = cx;
    return CC_OK;
}

static void rules_free(void *ctx) { free(ctx); }

/* ================================================================ tokens */

enum { K_WORD = 1, K_NUM, K_PUNCT, K_POSS };
enum {
    F_CAP = 1 << 0,      /* first letter upper case */
    F_ALLCAP = 1 << 1,   /* 2+ letters, all upper case */
    F_LOWER = 1 << 2,    /* first letter lower case */
    F_DIGIT = 1 << 3,
    F_ALPHA = 1 << 4,
    F_HYPH = 1 << 5,
    F_SSTART = 1 << 6,   /* first token of a sentence or line */
    F_SPACE = 1 << 7,    /* whitespace before */
    F_NL = 1 << 8,       /* newline before */
    F_PARA = 1 << 9,     /* blank line before */
    F_CUR = 1 << 10,     /* currency symbol */
    F_ASCII = 1 << 11    /* only ASCII bytes */
};

typedef struct tok {
    uint32_t b0, b1;     /* chunk bytes */
    uint32_t lex;        /* LX(...) bits of the lowercase word */
    uint32_t cp;         /* punctuation: the code point */
    uint32_t h;          /* hash of the lowercase word */
    uint16_t f;
    uint8_t  kind;
    uint8_t  nletters;   /* saturating at 255 */
} tok;

/* A mention found by the rules, in tokens. */
typedef struct rm {
    uint32_t t0, t1;     /* tokens [t0, t1) */
    uint32_t b0, b1;     /* bytes (concept mentions may differ from tokens) */
    uint8_t  type, flags;
    float    conf;
    size_t   sink;       /* index in the sink, set at the end */
} rm;

typedef struct rr {
    uint32_t s, o;       /* rm indices */
    uint32_t sent;
    char     pred[64];
    const char *pattern;
    float    conf;
    uint8_t  inferred;
} rr;

typedef struct sent { uint32_t t0, t1; uint32_t m0, m1; } sent;

typedef struct rx {
    const rules_ctx *cx;
    const char *s;
    size_t n;
    cg_warnings *w;
    tok *t; size_t nt, capt;
    rm *m; size_t nm, capm;
    rr *r; size_t nr, capr;
    sent *se; size_t nse, capse;
    int32_t *mstart;     /* (nt) mention starting at token, or -1 */
    int32_t *mlast;      /* (nt) mention ending at token (last token), or -1 */
    uint32_t *lowerset;  /* hashes of words seen lower-case; 0 = empty */
    size_t lowercap;
    uint32_t cur_sent;
    size_t rel_lo;       /* first relation of the current sentence */
} rx;

#define GROW(arr, n, cap) \
    ((n) < (cap) ? 0 : grow_arr((void **)&(arr), &(cap), sizeof *(arr)))

static int grow_arr(void **p, size_t *cap, size_t elem)
{
    size_t nc = *cap ? *cap * 2 : 64;
    void *q = realloc(*p, nc * elem);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

static uint32_t dec(const rx *x, size_t i, int *len)
{
    uint32_t cp = 0;
    int l = cc_utf8_decode(x->s + i, x->n - i, &cp);
    if (l <= 0) { l = 1; cp = 0xFFFD; }     /* input was validated; defensive */
    *len = l;
    return cp;
}

static int is_apos(uint32_t cp) { return cp == '\'' || cp == 0x2019; }
static int is_hyph(uint32_t cp) { return cp == '-' || cp == 0x2010 || cp == 0x2011; }

/* Lowercase ASCII copy of a token into buf (32 bytes); 0 if not ASCII or long. */
static size_t tok_lower(const rx *x, const tok *t, char buf[32])
{
    size_t n = t->b1 - t->b0, i;
    if (n >= 32 || !(t->f & F_ASCII)) return 0;
    for (i = 0; i < n; i++) {
        char c = x->s[t->b0 + i];
        buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    buf[n] = 0;
    return n;
}

static uint32_t hash_lower(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z') c += 32;
        h ^= c; h *= 16777619u;
    }
    return h ? h : 1;
}

static int push_tok(rx *x, tok *t)
{
    if (x->nt >= x->cx->opts.max_tokens) { x->w->tokens_capped++; return 1; }
    if (GROW(x->t, x->nt, x->capt)) return -1;
    x->t[x->nt++] = *t;
    return 0;
}

static int tokenize(rx *x)
{
    size_t i = 0;
    int space = 0, nl = 0;
    while (i < x->n) {
        int l;
        uint32_t cp = dec(x, i, &l);
        unsigned c = cg_char_class(cp);
        tok t;
        int rc;
        if (c & CG_CH_SPACE) {
            space = 1;
            if (cp == '\n' || cp == 0x2028 || cp == 0x2029) nl++;
            i += (size_t)l;
            continue;
        }
        if (c & CG_CH_FORMAT) { i += (size_t)l; continue; }
        memset(&t, 0, sizeof t);
        t.b0 = (uint32_t)i;
        t.f = (uint16_t)((space ? F_SPACE : 0) | (nl ? F_NL : 0) | (nl >= 2 ? F_PARA : 0) |
                         (x->nt == 0 ? F_NL : 0));
        space = nl = 0;
        if (c & (CG_CH_LETTER | CG_CH_DIGIT)) {
            size_t j = i, end = i;
            unsigned nup = 0, nlow = 0, nlet = 0, ascii = 1, first = 1;
            uint32_t prevc = 0;
            while (j < x->n) {
                int lj;
                uint32_t cj = dec(x, j, &lj);
                unsigned k = cg_char_class(cj);
                if (k & (CG_CH_LETTER | CG_CH_DIGIT)) {
                    if (k & CG_CH_LETTER) {
                        nlet++;
                        if (k & CG_CH_UPPER) nup++;
                        if (k & CG_CH_LOWER) nlow++;
                        if (first) t.f |= (k & CG_CH_UPPER) ? F_CAP : (k & CG_CH_LOWER) ? F_LOWER : 0;
                        t.f |= F_ALPHA;
                        first = 0;
                    } else {
                        t.f |= F_DIGIT;
                        first = 0;
                    }
                    if (cj >= 0x80) ascii = 0;
                    prevc = k;
                    j += (size_t)lj;
                    end = j;
                    continue;
                }
                if (k & CG_CH_FORMAT) {        /* zero-width and bidi marks: skipped */
                    if (cj >= 0x80) ascii = 0;
                    j += (size_t)lj;
                    continue;
                }
                /* joiners need a letter or digit on both sides */
                if (j + (size_t)lj < x->n && end == j) {
                    int ln;
                    uint32_t cn = dec(x, j + (size_t)lj, &ln);
                    unsigned kn = cg_char_class(cn);
                    int ok = 0;
                    if (is_hyph(cj) && (kn & (CG_CH_LETTER | CG_CH_DIGIT))) { ok = 1; t.f |= F_HYPH; }
                    else if ((cj == '.' || cj == ',') && (prevc & CG_CH_DIGIT) && (kn & CG_CH_DIGIT))
                        ok = 1;
                    else if (is_apos(cj) && nlet == 1 && nup == 1 && j - i == 1 && (kn & CG_CH_UPPER))
                        ok = 1;
                    else if (cj == '&' && (prevc & CG_CH_UPPER) && (kn & CG_CH_UPPER)) ok = 1;
                    if (ok) {
                        if (cj >= 0x80) ascii = 0;
                        j += (size_t)lj;
                        continue;
                    }
                }
                break;
            }
            t.b1 = (uint32_t)end;
            t.kind = (nlet || (t.f & F_HYPH)) ? K_WORD : K_NUM;
            t.nletters = (uint8_t)(nlet > 255 ? 255 : nlet);
            if (nlet >= 2 && nup == nlet) t.f |= F_ALLCAP;
            if (ascii) t.f |= F_ASCII;
            (void)nlow;
            i = j > end ? end : j;
            if (i < end) i = end;
        } else if (is_apos(cp) && x->nt && !(t.f & F_SPACE) && x->t[x->nt - 1].kind == K_WORD) {
            /* possessive 's, or the bare apostrophe after a plural */
            size_t j = i + (size_t)l;
            int ln = 0;
            uint32_t cn = j < x->n ? dec(x, j, &ln) : ' ';
            unsigned kafter = 0;
            if ((cn == 's' || cn == 'S') && j + (size_t)ln <= x->n) {
                int la;
                kafter = j + (size_t)ln < x->n ? cg_char_class(dec(x, j + (size_t)ln, &la)) : CG_CH_SPACE;
                if (!(kafter & (CG_CH_LETTER | CG_CH_DIGIT))) {
                    t.kind = K_POSS;
                    t.b1 = (uint32_t)(j + (size_t)ln);
                }
            } else if (!(cg_char_class(cn) & (CG_CH_LETTER | CG_CH_DIGIT)) &&
                       (x->s[i - 1] == 's' || x->s[i - 1] == 'S')) {
                t.kind = K_POSS;
                t.b1 = (uint32_t)j;
            }
            if (!t.kind) { t.kind = K_PUNCT; t.cp = cp; t.b1 = (uint32_t)(i + (size_t)l); }
            i = t.b1;
        } else {
            t.kind = K_PUNCT;
            t.cp = cp;
            if (c & CG_CH_CURRENCY) t.f |= F_CUR;
            t.b1 = (uint32_t)(i + (size_t)l);
            i = t.b1;
        }
        if (t.kind == K_WORD || t.kind == K_NUM) {
            char buf[32];
            size_t n = tok_lower(x, &t, buf);
            t.lex = n ? cg_lexicon_get(&x->cx->lx, buf, n) : 0;
            t.h = hash_lower(x->s + t.b0, t.b1 - t.b0);
        }
        rc = push_tok(x, &t);
        if (rc < 0) return -1;
        if (rc > 0) break;
    }
    return 0;
}

/* ---------------------------------------------------------------- token tests */

static int is_p(const rx *x, size_t i, uint32_t cp)
{
    return i < x->nt && x->t[i].kind == K_PUNCT && x->t[i].cp == cp;
}

static int lx(const rx *x, size_t i, uint32_t bits)
{
    return i < x->nt && (x->t[i].kind == K_WORD) && (x->t[i].lex & bits);
}

static int teq(const rx *x, size_t i, const char *w)
{
    size_t n = strlen(w), k;
    if (i >= x->nt || x->t[i].kind != K_WORD || x->t[i].b1 - x->t[i].b0 != n) return 0;
    for (k = 0; k < n; k++) {
        char c = x->s[x->t[i].b0 + k];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (c != w[k]) return 0;
    }
    return 1;
}

static int is_word(const rx *x, size_t i) { return i < x->nt && x->t[i].kind == K_WORD; }
static int is_capw(const rx *x, size_t i)
{
    return is_word(x, i) && (x->t[i].f & F_CAP) && !(x->t[i].f & F_DIGIT);
}
static int is_loww(const rx *x, size_t i)
{
    return is_word(x, i) && (x->t[i].f & F_LOWER) && !(x->t[i].f & F_DIGIT);
}

/* Integer value of a plain digit token (no separators), or -1. */
static long tok_int(const rx *x, size_t i, size_t maxdigits)
{
    const tok *t;
    long v = 0;
    size_t k;
    if (i >= x->nt) return -1;
    t = &x->t[i];
    if (t->kind != K_NUM || t->b1 - t->b0 > maxdigits) return -1;
    for (k = t->b0; k < t->b1; k++) {
        if (x->s[k] < '0' || x->s[k] > '9') return -1;
        v = v * 10 + (x->s[k] - '0');
    }
    return v;
}

/* A word token "digits[.,digits]suffix": writes the lowercase suffix. */
static int num_suffix(const rx *x, size_t i, char suf[16])
{
    const tok *t;
    size_t k, n = 0;
    if (!is_word(x, i)) return 0;
    t = &x->t[i];
    if (!(t->f & F_DIGIT) || !(t->f & F_ASCII) || x->s[t->b0] < '0' || x->s[t->b0] > '9') return 0;
    for (k = t->b0; k < t->b1 && ((x->s[k] >= '0' && x->s[k] <= '9') || x->s[k] == '.' ||
                                  x->s[k] == ','); k++) {}
    if (k == t->b1) return 0;
    for (; k < t->b1; k++) {
        char c = x->s[k];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (c < 'a' || c > 'z' || n >= 15) return 0;
        suf[n++] = c;
    }
    suf[n] = 0;
    return 1;
}

static int word_in(const rx *x, const char *w, uint32_t bits)
{
    return (cg_lexicon_get(&x->cx->lx, w, strlen(w)) & bits) != 0;
}

/* ---------------------------------------------------------------- lower-case set */

static int lowerset_build(rx *x)
{
    size_t i, cap = 64;
    while (cap < x->nt * 2 + 1) cap *= 2;
    x->lowerset = calloc(cap, sizeof *x->lowerset);
    if (!x->lowerset) return -1;
    x->lowercap = cap;
    for (i = 0; i < x->nt; i++) {
        const tok *t = &x->t[i];
        size_t k;
        if (t->kind != K_WORD || !(t->f & F_LOWER)) continue;
        for (k = t->h & (cap - 1); x->lowerset[k] && x->lowerset[k] != t->h; k = (k + 1) & (cap - 1)) {}
        x->lowerset[k] = t->h;
    }
    return 0;
}

static int seen_lower(const rx *x, uint32_t h)
{
    size_t k;
    for (k = h & (x->lowercap - 1); x->lowerset[k]; k = (k + 1) & (x->lowercap - 1))
        if (x->lowerset[k] == h) return 1;
    return 0;
}

/* ================================================================ sentences */

static int split_sentences(rx *x)
{
    size_t i, start = 0;
    for (i = 0; i < x->nt; i++) {
        int end = 0;
        const tok *t = &x->t[i];
        if (i > start && (t->f & F_PARA)) {
            if (GROW(x->se, x->nse, x->capse)) return -1;
            x->se[x->nse++] = (sent){ (uint32_t)start, (uint32_t)i, 0, 0 };
            start = i;
        }
        if (t->kind == K_PUNCT && (t->cp == '.' || t->cp == '!' || t->cp == '?' ||
                                   t->cp == 0x2026 || t->cp == 0x3002 || t->cp == 0xFF01 ||
                                   t->cp == 0xFF1F || t->cp == 0x61F || t->cp == 0x6D4)) {
            end = 1;
            if (t->cp == '.' && i > start) {
                const tok *p = &x->t[i - 1];
                if (p->kind == K_WORD && !(t->f & F_SPACE) &&
                    ((p->lex & LX(TITLE)) || (p->nletters == 1 && (p->f & F_CAP))))
                    end = 0;                           /* "Dr." "J." */
                if (i + 1 < x->nt && is_loww(x, i + 1)) end = 0;   /* "approx. five" */
                if (i + 1 < x->nt && x->t[i + 1].kind == K_NUM && !(x->t[i + 1].f & F_SPACE))
                    end = 0;
            }
        }
        if (end) {
            size_t j = i + 1;
            while (j < x->nt && x->t[j].kind == K_PUNCT && !(x->t[j].f & F_SPACE) &&
                   (x->t[j].cp == ')' || x->t[j].cp == '"' || x->t[j].cp == 0x201D ||
                    x->t[j].cp == 0x2019 || x->t[j].cp == '\'' || x->t[j].cp == '.' ||
                    x->t[j].cp == '!' || x->t[j].cp == '?'))
                j++;
            if (GROW(x->se, x->nse, x->capse)) return -1;
            x->se[x->nse++] = (sent){ (uint32_t)start, (uint32_t)j, 0, 0 };
            start = j;
            i = j - 1;
        }
    }
    if (start < x->nt) {
        if (GROW(x->se, x->nse, x->capse)) return -1;
        x->se[x->nse++] = (sent){ (uint32_t)start, (uint32_t)x->nt, 0, 0 };
    }
    for (i = 0; i < x->nse; i++) x->t[x->se[i].t0].f |= F_SSTART;
    /* after a newline, a colon or an opening quote a capital proves nothing */
    for (i = 1; i < x->nt; i++)
        if ((x->t[i].f & F_NL) || is_p(x, i - 1, ':') || is_p(x, i - 1, '"') ||
            is_p(x, i - 1, 0x201C) || is_p(x, i - 1, 0x2022) ||
            (is_p(x, i - 1, '-') && (x->t[i - 1].f & F_NL)))
            x->t[i].f |= F_SSTART;
    return 0;
}

/* ================================================================ mentions */

/* The mention starting (ending) at token k, or -1; k may be past the end. */
static int32_t mstart_at(const rx *x, size_t k) { return k < x->nt ? x->mstart[k] : -1; }
static int32_t mlast_at(const rx *x, size_t k) { return k < x->nt ? x->mlast[k] : -1; }

static int add_mention(rx *x, size_t t0, size_t t1, cg_type type, unsigned flags, float conf)
{
    rm *m;
    if (x->nm >= x->cx->opts.max_mentions) { x->w->mentions_capped++; return -2; }
    if (GROW(x->m, x->nm, x->capm)) return -1;
    m = &x->m[x->nm];
    m->t0 = (uint32_t)t0; m->t1 = (uint32_t)t1;
    m->b0 = x->t[t0].b0; m->b1 = x->t[t1 - 1].b1;
    m->type = (uint8_t)type; m->flags = (uint8_t)flags; m->conf = conf;
    m->sink = SIZE_MAX;
    if (!(flags & CG_MF_CONCEPT)) {
        x->mstart[t0] = (int32_t)x->nm;
        x->mlast[t1 - 1] = (int32_t)x->nm;
    }
    return (int)(x->nm++);
}

/* A number: plain digits with separators, or "5m" style (when scale_ok). */
static int is_num(const rx *x, size_t i)
{
    return i < x->nt && x->t[i].kind == K_NUM;
}

/* "Oslo-based", "Kestrel-owned": a word whose last hyphen part is lower case. */
static int hyphen_tail_lower(const rx *x, size_t i)
{
    const tok *t = &x->t[i];
    size_t h = t->b1;
    while (h > t->b0 && x->s[h - 1] != '-') h--;
    return h > t->b0 && h < t->b1 && x->s[h] >= 'a' && x->s[h] <= 'z';
}

static size_t scan_date(const rx *x, size_t i, size_t e)
{
    /* a bare year after "in", "since", ...: "In 2023" */
    if (i > 0 && (teq(x, i - 1, "in") || teq(x, i - 1, "since") || teq(x, i - 1, "during") ||
                  teq(x, i - 1, "until") || teq(x, i - 1, "by") || teq(x, i - 1, "from"))) {
        long y = tok_int(x, i, 4);
        if (y >= 1800 && y <= 2199 && x->t[i].b1 - x->t[i].b0 == 4 && !is_p(x, i + 1, '%') &&
            !(i + 1 < e && lx(x, i + 1, LX(UNIT) | LX(SCALE) | LX(CURCODE) | LX(CURWORD))))
            return 1;
    }
    const tok *t = &x->t[i];
    char suf[16];
    if (t->kind == K_WORD && (t->f & F_HYPH) && t->b1 - t->b0 == 10 && !(t->f & F_ALPHA)) {
        const char *p = x->s + t->b0;      /* 2024-03-14 */
        int ok = p[4] == '-' && p[7] == '-', k;
        for (k = 0; ok && k < 10; k++)
            if (k != 4 && k != 7 && (p[k] < '0' || p[k] > '9')) ok = 0;
        if (ok) {
            int mo = (p[5] - '0') * 10 + (p[6] - '0'), d = (p[8] - '0') * 10 + (p[9] - '0');
            if (mo >= 1 && mo <= 12 && d >= 1 && d <= 31) return 1;
        }
    }
    /* day: "14", "14th" */
    {
        long d = tok_int(x, i, 2);
        if (d < 0 && num_suffix(x, i, suf) && x->t[i].b1 - x->t[i].b0 <= 4 &&
            (!strcmp(suf, "st") || !strcmp(suf, "nd") || !strcmp(suf, "rd") || !strcmp(suf, "th")))
            d = strtol(x->s + x->t[i].b0, NULL, 10);
        if (d >= 1 && d <= 31 && i + 1 < e && (lx(x, i + 1, LX(MONTH)) && is_capw(x, i + 1))) {
            size_t k = i + 2;
            if (k < e && teq(x, k, "of")) {}   /* "14th of March" is rare: no */
            if (k < e) { long y = tok_int(x, k, 4); if (y >= 1000 && y <= 2999) return 3; }
            return 2;
        }
    }
    if (lx(x, i, LX(MONTH)) && is_capw(x, i) && i + 1 < e) {
        long d = tok_int(x, i + 1, 2), y;
        if (d >= 1 && d <= 31) {
            size_t k = i + 2;
            if (is_p(x, k, ',')) k++;
            y = k < e ? tok_int(x, k, 4) : -1;
            if (y >= 1000 && y <= 2999) return k + 1 - i;
            return 2;
        }
        y = tok_int(x, i + 1, 4);
        if (y >= 1000 && y <= 2999) return 2;
    }
    return 0;
}

/* Optional scale word after a number at k; returns tokens used (0/1). */
static size_t scale_at(const rx *x, size_t k, size_t e)
{
    if (k < e && is_word(x, k) && (x->t[k].lex & LX(SCALE)) && !(x->t[k].f & F_DIGIT) &&
        (x->t[k].f & F_SPACE))
        return 1;
    return 0;
}

static int num_scaled(const rx *x, size_t i)
{
    char suf[16];
    return is_num(x, i) || (num_suffix(x, i, suf) && word_in(x, suf, LX(SCALE)));
}

static int is_curcode(const rx *x, size_t i)
{
    return is_word(x, i) && (x->t[i].lex & LX(CURCODE)) && (x->t[i].f & F_ALLCAP);
}

static size_t scan_amount(const rx *x, size_t i, size_t e)
{
    /* "$310,000", "€5m", "EUR 4.2 million" */
    if (((x->t[i].f & F_CUR) || is_curcode(x, i)) && i + 1 < e && num_scaled(x, i + 1)) {
        size_t k = i + 2;
        if (is_num(x, i + 1)) k += scale_at(x, k, e);
        return k - i;
    }
    /* "4.2 million euros", "500 EUR", "5 €" */
    if (num_scaled(x, i)) {
        size_t k = i + 1;
        if (is_num(x, i)) k += scale_at(x, k, e);
        if (k < e && (is_curcode(x, k) || lx(x, k, LX(CURWORD)) ||
                      ((x->t[k].f & F_CUR) && x->t[k].kind == K_PUNCT)))
            return k + 1 - i;
    }
    return 0;
}

static size_t scan_percent(const rx *x, size_t i, size_t e)
{
    if (!is_num(x, i) || i + 1 >= e) return 0;
    if (is_p(x, i + 1, '%') || is_p(x, i + 1, 0xFF05)) return 2;
    if (teq(x, i + 1, "percent")) return 2;
    if (teq(x, i + 1, "per") && i + 2 < e && teq(x, i + 2, "cent")) return 3;
    return 0;
}

static size_t scan_quantity(const rx *x, size_t i, size_t e)
{
    char suf[16];
    if (is_num(x, i)) {
        size_t k = i + 1;
        if (k < e && (teq(x, k, "thousand") || teq(x, k, "million") || teq(x, k, "billion"))) k++;
        if (k < e && lx(x, k, LX(UNIT)) && !(x->t[k].f & F_DIGIT) && !(x->t[k].f & F_CAP &&
            x->t[k].b1 - x->t[k].b0 > 2))
            return k + 1 - i;
        return 0;
    }
    if (num_suffix(x, i, suf) && word_in(x, suf, LX(UNIT)) && !word_in(x, suf, LX(SCALE)))
        return 1;                                   /* "35km" */
    return 0;
}

/* "PX-9000-v2", "KV-12 rev C", "A320" */
static size_t scan_ident(const rx *x, size_t i, size_t e)
{
    const tok *t = &x->t[i];
    char suf[16];
    size_t k;
    if (t->kind != K_WORD || !(t->f & F_DIGIT) || !(t->f & F_ALPHA)) return 0;
    if (num_suffix(x, i, suf)) return 0;             /* 5m, 35km, 14th */
    if (!(t->f & F_HYPH) && !(t->f & F_CAP)) return 0;
    if (t->b1 - t->b0 < 2) return 0;
    k = i + 1;
    if (k + 1 < e && (teq(x, k, "rev") || teq(x, k, "revision") || teq(x, k, "version") ||
                      teq(x, k, "ver") || teq(x, k, "v") || teq(x, k, "mk") || teq(x, k, "mark"))) {
        const tok *n = &x->t[k + 1];
        if ((n->kind == K_NUM && n->b1 - n->b0 <= 6) ||
            (n->kind == K_WORD && n->b1 - n->b0 <= 3 && (n->f & (F_CAP | F_DIGIT))))
            return 3;
    }
    return 1;
}

static int shouting(const rx *x, const sent *s)
{
    size_t i, words = 0, caps = 0;
    for (i = s->t0; i < s->t1 && words < 64; i++) {
        if (x->t[i].kind != K_WORD || !(x->t[i].f & F_ALPHA)) continue;
        words++;
        if (x->t[i].f & F_ALLCAP) caps++;
    }
    return words >= 5 && caps * 10 >= words * 6;
}

/* Capitalised names.  Returns tokens consumed from i (>= 1); *mt0 and *mt1
 * receive the mention's tokens, or *mt1 = 0 when no mention. */
static size_t scan_name(rx *x, size_t i, size_t e, int shout, size_t *mt0, size_t *mt1,
                        cg_type *type, unsigned *flags, float *conf)
{
    size_t k = i, j, end, ntok = 0, and_at = 0, maxn = x->cx->opts.max_name_tokens;
    int cue_person = 0, has_suffix = 0, has_org = 0, has_placehead = 0;
    *mt1 = 0;
    *flags = 0;
    *type = CG_TYPE_OTHER;
    *conf = 0.6f;
    /* titles and roles before a name are cues, not part of it */
    while (k < e && is_capw(x, k) && (x->t[k].lex & (LX(TITLE) | LX(ROLE)))) {
        cue_person = 1;
        k++;
        if (is_p(x, k, '.') && !(x->t[k].f & F_SPACE)) k++;
    }
    if (k > i && (k >= e || !is_capw(x, k))) return k - i;
    if (k == i && is_capw(x, k) && (x->t[k].lex & LX(STOP)) && !(x->t[k].f & F_ALLCAP)) {
        /* "The", "However": dropped; a following name starts fresh */
        return 1;
    }
    if (k > i && (x->t[k].lex & LX(STOP)) && !(x->t[k].f & F_ALLCAP)) return k - i;
    if (i > 0 && is_word(x, i - 1) && (x->t[i - 1].lex & (LX(ROLE) | LX(TITLE)))) cue_person = 1;
    j = k;
    end = k;
    for (;;) {
        /* a name ends with its sentence (every test below reads token j) */
        if (j >= e) break;
        /* a name does not run over a paragraph break, nor onto a
         * capitalised function word starting a line ("Kestrel\nAnd") */
        if (ntok && ((x->t[j].f & F_PARA) ||
                     ((x->t[j].f & F_NL) && (x->t[j].lex & LX(STOP)) && !(x->t[j].f & F_ALLCAP))))
            break;
        if (is_capw(x, j) && !(x->t[j].lex & LX(ROLE)) &&
            !((x->t[j].lex & LX(STOP)) && !(x->t[j].f & F_ALLCAP) && ntok == 0)) {
            if (ntok > 0 && (x->t[j].lex & LX(TITLE))) break;
            if ((x->t[j].lex & (LX(MONTH) | LX(DAY))) && ntok == 0 && j + 1 < e &&
                !is_capw(x, j + 1))
                break;
            if (ntok >= 1 && (x->t[j].lex & LX(SUFFIX))) has_suffix = 1;
            if (x->t[j].lex & LX(ORGWORD)) has_org = 1;
            if (x->t[j].lex & LX(PLACEHEAD)) has_placehead = 1;
            ntok++;
            j++;
            end = j;
            if (ntok > maxn) break;
            if (has_suffix) {                     /* "Foo Holdings Co Ltd" */
                while (j < e && is_capw(x, j) && (x->t[j].lex & LX(SUFFIX))) { j++; end = j; }
                break;
            }
            continue;
        }
        if (ntok && teq(x, j, "plc")) { has_suffix = 1; ntok++; j++; end = j; break; }
        /* initials: "J. R. Smith" */
        if (ntok && is_p(x, j, '.') && !(x->t[j].f & F_SPACE) && x->t[j - 1].nletters == 1 &&
            is_capw(x, j + 1)) { j++; continue; }
        /* connectors */
        if (ntok && j + 1 < e && is_word(x, j) && (x->t[j].f & F_LOWER) &&
            (x->t[j].lex & LX(CONNECT)) && is_capw(x, j + 1) && !(x->t[j + 1].lex & LX(ROLE)) &&
            !(x->t[j + 1].lex & LX(STOP))) {
            if (teq(x, j, "of") || teq(x, j, "for")) {
                if (!has_org && !has_placehead) break;
            } else if (teq(x, j, "the")) {
                if (!teq(x, j - 1, "of") && !teq(x, j - 1, "for")) break;
            } else if (teq(x, j, "and")) {
                if (and_at || ntok != 1 || (x->t[j - 1].f & F_ALLCAP)) break;
                and_at = j;
            }
            j++;
            continue;
        }
        if (ntok && j + 1 < e && (is_p(x, j, '&') || is_p(x, j, '+')) && is_capw(x, j + 1)) {
            j++;
            continue;
        }
        /* "the" after of: "Bank of the West" */
        if (ntok && teq(x, j, "the") && teq(x, j - 1, "of") && is_capw(x, j + 1)) { j++; continue; }
        break;
    }
    if (ntok > maxn) {
        /* not a name: skip the whole capitalised run, counted */
        while (j < e && (is_capw(x, j) || (is_word(x, j) && (x->t[j].lex & LX(CONNECT)) &&
                                           is_capw(x, j + 1))))
            j++;
        x->w->names_too_long++;
        return j - i;
    }
    if (and_at && !has_suffix && !(x->t[end - 1].lex & LX(ORGWORD))) {
        end = and_at;                       /* "Ana and Norvale": two names */
        j = and_at;
    }
    /* a connector left dangling at the end is not part of the name */
    while (end > k && !is_capw(x, end - 1) && !teq(x, end - 1, "plc")) end--;
    if (end <= k) return (j > i ? j : i + 1) - i;
    ntok = 0;
    {
        size_t q;
        for (q = k; q < end; q++) if (is_capw(x, q)) ntok++;
    }
    /* single words: sentence-initial common words, months, "I", letters */
    if (ntok == 1 && end - k == 1) {
        const tok *t = &x->t[k];
        if (t->lex & (LX(MONTH) | LX(DAY) | LX(SUFFIX))) return end - i;
        if (t->nletters < 2) return end - i;
        if ((t->f & F_SSTART) && !(t->f & F_ALLCAP) && !(t->lex & (LX(PLACE) | LX(FIRST)))) {
            size_t n = t->b1 - t->b0;
            if (seen_lower(x, t->h)) return end - i;
            if (n > 4 && x->s[t->b1 - 2] == 'l' && x->s[t->b1 - 1] == 'y') return end - i;
            if (n > 4 && x->s[t->b1 - 3] == 'i' && x->s[t->b1 - 2] == 'n' && x->s[t->b1 - 1] == 'g')
                return end - i;
        }
        if (t->f & F_ALLCAP) {
            if (shout) return end - i;
            *flags |= CG_MF_ACRONYM;
        }
    } else if (shout) {
        return end - i;
    }
    *mt0 = k;
    *mt1 = end;
    /* types, strongest evidence first */
    if (has_suffix) { *type = CG_TYPE_ORG; *conf = 0.9f; }
    else if (cue_person && !has_org) { *type = CG_TYPE_PERSON; *conf = 0.85f; }
    else if (has_placehead && (x->t[end - 1].lex & LX(PLACEHEAD))) { *type = CG_TYPE_PLACE; *conf = 0.75f; }
    else if (has_org) { *type = CG_TYPE_ORG; *conf = 0.8f; }
    else if (ntok == 1 && (x->t[k].lex & LX(PLACE))) { *type = CG_TYPE_PLACE; *conf = 0.8f; }
    else if (ntok >= 2 && (x->t[k].lex & LX(FIRST))) { *type = CG_TYPE_PERSON; *conf = 0.75f; }
    else if (k > 0 && (teq(x, k - 1, "in") || teq(x, k - 1, "near") || teq(x, k - 1, "from") ||
                       teq(x, k - 1, "across")) && !(*flags & CG_MF_ACRONYM)) {
        *type = CG_TYPE_PLACE; *conf = 0.55f;
    }
    return (j > end ? j : end) - i > 0 ? end - i : 1;
}

static int find_mentions(rx *x, sent *s)
{
    size_t i = s->t0, e = s->t1;
    int shout = shouting(x, s);
    s->m0 = (uint32_t)x->nm;
    while (i < e) {
        size_t n;
        int mi;
        const tok *t = &x->t[i];
        if (t->kind == K_POSS || (t->kind == K_PUNCT && !(t->f & F_CUR))) { i++; continue; }
        if ((n = scan_date(x, i, e))) { mi = add_mention(x, i, i + n, CG_TYPE_DATE, CG_MF_VALUE, 0.9f); }
        else if ((n = scan_amount(x, i, e))) { mi = add_mention(x, i, i + n, CG_TYPE_AMOUNT, CG_MF_VALUE, 0.9f); }
        else if ((n = scan_percent(x, i, e))) { mi = add_mention(x, i, i + n, CG_TYPE_PERCENT, CG_MF_VALUE, 0.9f); }
        else if ((n = scan_quantity(x, i, e))) { mi = add_mention(x, i, i + n, CG_TYPE_QUANTITY, CG_MF_VALUE, 0.8f); }
        else if ((n = scan_ident(x, i, e))) { mi = add_mention(x, i, i + n, CG_TYPE_PRODUCT, 0, 0.7f); }
        else if (is_capw(x, i) && (t->f & F_HYPH) && hyphen_tail_lower(x, i)) {
            size_t h = t->b0;
            char buf[32];
            size_t n2 = 0;
            uint32_t bits;
            cg_type ty = CG_TYPE_OTHER;
            while (h < t->b1 && x->s[h] != '-') h++;
            for (size_t q = t->b0; q < h && n2 < 31; q++)
                buf[n2++] = (x->s[q] >= 'A' && x->s[q] <= 'Z') ? (char)(x->s[q] + 32) : x->s[q];
            bits = (h - t->b0 < 32 && (t->f & F_ASCII)) ? cg_lexicon_get(&x->cx->lx, buf, n2) : 0;
            if (bits & LX(PLACE)) ty = CG_TYPE_PLACE;
            n = 1;
            mi = -3;
            if (h - t->b0 >= 2 && h < t->b1 && !(bits & (LX(STOP) | LX(MONTH) | LX(DAY)))) {
                mi = add_mention(x, i, i + 1, ty, 0, 0.6f);
                if (mi >= 0) x->m[mi].b1 = (uint32_t)h;
            }
        }
        else if (is_capw(x, i)) {
            size_t t0 = 0, t1 = 0;
            cg_type ty;
            unsigned fl;
            float cf;
            n = scan_name(x, i, e, shout, &t0, &t1, &ty, &fl, &cf);
            mi = -3;
            if (t1) {
                mi = add_mention(x, t0, t1, ty, fl, cf);
                /* "Long Name (ACR)" */
                if (mi >= 0 && t1 - t0 >= 2 && t1 + 2 < e && i + n == t1 && is_p(x, t1, '(') &&
                    is_word(x, t1 + 1) && (x->t[t1 + 1].f & F_ALLCAP) && !(x->t[t1 + 1].f & F_DIGIT) &&
                    is_p(x, t1 + 2, ')') &&
                    /* "Matthias Brandt (CEO)": a role, not a short name */
                    (!(x->t[t1 + 1].lex & LX(ROLE)) ||
                     cg_acronym_matches(x->s + x->t[t1 + 1].b0, x->t[t1 + 1].b1 - x->t[t1 + 1].b0,
                                        x->s + x->t[t0].b0, x->t[t1 - 1].b1 - x->t[t0].b0))) {
                    const tok *a = &x->t[t1 + 1];
                    int match = cg_acronym_matches(x->s + a->b0, a->b1 - a->b0, x->s + x->t[t0].b0,
                                                   x->t[t1 - 1].b1 - x->t[t0].b0);
                    int ai = add_mention(x, t1 + 1, t1 + 2, ty, CG_MF_ACRONYM, match ? 0.9f : 0.6f);
                    if (ai == -1) return -1;
                    if (ai >= 0) {
                        rr *r;
                        if (x->nr >= x->cx->opts.max_relations) x->w->relations_capped++;
                        else {
                            if (GROW(x->r, x->nr, x->capr)) return -1;
                            r = &x->r[x->nr++];
                            memset(r, 0, sizeof *r);
                            r->s = (uint32_t)ai; r->o = (uint32_t)mi; r->sent = x->cur_sent;
                            memcpy(r->pred, "acronym_of", 11);
                            r->pattern = "acronym"; r->conf = match ? 0.9f : 0.6f;
                        }
                    }
                    n = t1 + 3 - i;
                }
            }
        } else {
            i++;
            continue;
        }
        if (mi == -1) return -1;
        if (mi == -2) { i += n; continue; }
        i += n ? n : 1;
    }
    s->m1 = (uint32_t)x->nm;
    return 0;
}

/* ================================================================ relations */

/* Appends the lowercase text of token k to a predicate buffer (joined by _). */
static void pred_add(const rx *x, char *p, size_t cap, size_t k)
{
    size_t n = strlen(p), len = x->t[k].b1 - x->t[k].b0, i;
    if (n + (n ? 1 : 0) + len + 1 > cap) return;
    if (n) p[n++] = '_';
    for (i = 0; i < len; i++) {
        char c = x->s[x->t[k].b0 + i];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (c == '-') c = '_';
        p[n++] = c;
    }
    p[n] = 0;
}

static void pred_cat(char *p, size_t cap, const char *s)
{
    size_t n = strlen(p), l = strlen(s);
    if (n + l + 1 > cap) return;
    memcpy(p + n, s, l + 1);
}

static int add_rel(rx *x, size_t s, const char *pred, size_t o, const char *pattern,
                   float conf, int inferred)
{
    rr *r;
    size_t i, lo;
    if (s == o || !pred[0]) return 0;
    lo = x->nr > x->rel_lo + 64 ? x->nr - 64 : x->rel_lo;
    for (i = lo; i < x->nr; i++)
        if (x->r[i].s == s && x->r[i].o == o && !strcmp(x->r[i].pred, pred)) return 0;
    if (x->nr >= x->cx->opts.max_relations) { x->w->relations_capped++; return 0; }
    if (GROW(x->r, x->nr, x->capr)) return -1;
    r = &x->r[x->nr++];
    memset(r, 0, sizeof *r);
    r->s = (uint32_t)s; r->o = (uint32_t)o; r->sent = x->cur_sent;
    snprintf(r->pred, sizeof r->pred, "%s", pred);
    r->pattern = pattern; r->conf = conf; r->inferred = (uint8_t)inferred;
    return 1;
}

/* Role phrase from token j: [det] [adj]* role-word+ (words may be
 * lowercase or capitalised). Returns the token after it, or 0. */
static size_t scan_role(const rx *x, size_t j, size_t e, char pred[64])
{
    size_t k = j, last_role = 0, n = 0;
    pred[0] = 0;
    if (k < e && lx(x, k, LX(DET))) k++;
    while (k < e && n < 5 && is_word(x, k) && !(x->t[k].f & F_DIGIT)) {
        if (x->t[k].lex & LX(ROLE)) { last_role = k + 1; }
        else if (!(x->t[k].lex & LX(ROLEADJ))) break;
        if (mstart_at(x, k) >= 0 && !(x->t[k].lex & LX(ROLE))) break;
        k++; n++;
    }
    if (!last_role) return 0;
    for (k = j; k < last_role; k++)
        if (!lx(x, k, LX(DET))) pred_add(x, pred, 64, k);
    return last_role;
}

/* verb lemma: irregulars, then -ies/-es/-s/-ed rules. */
static void lemmatise(const char *w, char *out, size_t cap)
{
    static const char *const irr[][2] = {
        {"bought", "buy"}, {"sold", "sell"}, {"ran", "run"}, {"led", "lead"}, {"built", "build"},
        {"made", "make"}, {"won", "win"}, {"paid", "pay"}, {"met", "meet"}, {"held", "hold"},
        {"took", "take"}, {"began", "begin"}, {"became", "become"}, {"sent", "send"},
        {"spent", "spend"}, {"gave", "give"}, {"got", "get"}, {"left", "leave"}, {"told", "tell"},
        {"wrote", "write"}, {"found", "find"}, {"brought", "bring"}, {"taught", "teach"},
        {"chose", "choose"}, {"drove", "drive"}, {"grew", "grow"}, {"knew", "know"},
        {"saw", "see"}, {"said", "say"}, {"has", "have"}, {"had", "have"}, {"does", "do"},
        {"did", "do"}, {"is", "be"}, {"was", "be"}, {"are", "be"}, {"were", "be"},
        {"founded", "found"}, {"funds", "fund"}, {"heads", "head"}, {"sued", "sue"},
    };
    size_t n = strlen(w), i;
    char b[64];
    if (n + 2 > sizeof b || n + 2 > cap) { snprintf(out, cap, "%s", w); return; }
    for (i = 0; i < sizeof irr / sizeof irr[0]; i++)
        if (!strcmp(w, irr[i][0])) { snprintf(out, cap, "%s", irr[i][1]); return; }
    memcpy(b, w, n + 1);
    if (n > 4 && !strcmp(b + n - 3, "ied")) { memcpy(b + n - 3, "y", 2); }
    else if (n > 4 && !strcmp(b + n - 3, "ies")) { memcpy(b + n - 3, "y", 2); }
    else if (n > 4 && !strcmp(b + n - 2, "ed")) {
        size_t m = n - 2;
        b[m] = 0;
        if (m >= 3 && b[m - 1] == b[m - 2] && !strchr("aeioulsz", b[m - 1])) b[m - 1] = 0;
        else if (m >= 2) {
            const char *t2 = b + m - 2;
            static const char *const e_end[] = { "at", "iz", "ir", "ur", "iv", "ov", "uc", "nc",
                "rg", "dg", "as", "os", "us", "is", "ag", "am", "um", "ar", "or", "ot", "it", "ut",
                "ud", "id", "od", "ad", "ik", "ok", "ak", "ap", "op", "ip", "ib", "iz", "av", "ev",
                "ur", "ig", "as", "ns", "rc", "lv", "rv", "ys", "uir" };
            size_t q;
            int add = 0;
            for (q = 0; q < sizeof e_end / sizeof e_end[0]; q++)
                if (!strcmp(t2, e_end[q]) || (m >= 3 && !strcmp(b + m - 3, e_end[q]))) add = 1;
            /* -ted/-ded after a consonant cluster ("invested", "funded") stays bare */
            if (m >= 3 && (t2[1] == 't' || t2[1] == 'd') && !strchr("aeiou", t2[0])) add = 0;
            if (m >= 3 && !strcmp(t2, "ot") && !strchr("aeiou", b[m - 3])) add = 0;
            if (add && m + 1 < sizeof b) { b[m] = 'e'; b[m + 1] = 0; }
        }
    }
    else if (n > 4 && (!strcmp(b + n - 4, "ches") || !strcmp(b + n - 4, "shes") ||
                       !strcmp(b + n - 3, "xes") || !strcmp(b + n - 3, "ses") ||
                       !strcmp(b + n - 3, "zes"))) {
        if (!strcmp(b + n - 3, "ses") && n > 5 && b[n - 4] != 's') b[n - 1] = 0;   /* "releases" */
        else b[n - 2] = 0;
    }
    else if (n > 3 && b[n - 1] == 's' && b[n - 2] != 's' && b[n - 2] != 'u' && b[n - 2] != 'i')
        b[n - 1] = 0;
    snprintf(out, cap, "%s", b);
}

static int verbish(const rx *x, size_t k)
{
    const tok *t = &x->t[k];
    size_t n = t->b1 - t->b0;
    const char *w = x->s + t->b0;
    if (!is_loww(x, k) || !(t->f & F_ASCII) || (t->f & F_HYPH)) return 0;
    if (t->lex & LX(VERB)) return 2;
    if (t->lex & (LX(STOP) | LX(DET) | LX(PREP) | LX(COPULA) | LX(AUX) | LX(UNIT) | LX(SCALE) |
                  LX(ROLE) | LX(CURWORD)))
        return 0;
    if (n > 4 && w[n - 2] == 'e' && w[n - 1] == 'd') return 1;
    if (n > 3 && w[n - 1] == 's' && w[n - 2] != 's' && w[n - 2] != 'u' && w[n - 2] != 'i') return 1;
    return 0;
}

static int relate_after(rx *x, const sent *s, size_t a)
{
    size_t e = s->t1, j = x->m[a].t1, k = 0;
    char pred[64], role[64];
    int32_t b;
    if (x->m[a].flags & CG_MF_CONCEPT) return 0;
    /* ---- apposition: "Ana Ruiz, CFO of Norvale"; alias "X, also known as Y" */
    if (is_p(x, j, ',') || is_p(x, j, '(')) {
        size_t q = j + 1;
        int paren = is_p(x, j, '(');
        if (teq(x, q, "also") && teq(x, q + 1, "known") && teq(x, q + 2, "as")) q += 3;
        else if (teq(x, q, "known") && teq(x, q + 1, "as")) q += 2;
        else if (teq(x, q, "formerly") || teq(x, q, "aka")) {
            q++;
            if (teq(x, q, "known") && teq(x, q + 1, "as")) q += 2;
        } else if (paren) q = 0;
        else q = 0;
        if (q && q < e && (b = mstart_at(x, q)) >= 0 && !(x->m[b].flags & CG_MF_VALUE)) {
            if (add_rel(x, a, "alias_of", (size_t)b, "apposition", 0.8f, 0) < 0) return -1;
        }
        if (!paren && (k = scan_role(x, j + 1, e, role)) && k < e &&
            (teq(x, k, "of") || teq(x, k, "for")) && mstart_at(x, k + 1) < 0) {
            size_t q = k + 1;      /* "head of research at X": the unit is skipped */
            while (q < e && q - k <= 3 && is_loww(x, q) && !(x->t[q].lex & (LX(STOP) | LX(PREP))))
                q++;
            if (q > k + 1 && (teq(x, q, "at") || teq(x, q, "of"))) k = q;
        }
        if (!paren && k && k < e &&
            (teq(x, k, "of") || teq(x, k, "at") || teq(x, k, "for")) &&
            (b = mstart_at(x, k + 1)) >= 0 && !(x->m[b].flags & CG_MF_VALUE)) {
            snprintf(pred, sizeof pred, "%s", role);
            pred_cat(pred, sizeof pred, "_of");
            if (add_rel(x, a, pred, (size_t)b, "apposition", 0.85f, 0) < 0) return -1;
            if (x->m[a].type == CG_TYPE_OTHER) x->m[a].type = CG_TYPE_PERSON;
            if (x->m[b].type == CG_TYPE_OTHER) x->m[b].type = CG_TYPE_ORG;
        }
    }
    /* ---- possessive: "Norvale's CEO, Ana Ruiz" / "Norvale CEO Ana Ruiz" */
    if (j < e && (x->t[j].kind == K_POSS || (is_word(x, j) && (x->t[j].lex & LX(ROLE)) &&
                                              !(x->m[a].flags & CG_MF_VALUE)))) {
        size_t q = x->t[j].kind == K_POSS ? j + 1 : j;
        if ((k = scan_role(x, q, e, role))) {
            if (is_p(x, k, ',')) k++;
            if (k < e && (b = mstart_at(x, k)) >= 0 && !(x->m[b].flags & CG_MF_VALUE)) {
                snprintf(pred, sizeof pred, "%s", role);
                pred_cat(pred, sizeof pred, "_of");
                if (add_rel(x, (size_t)b, pred, a, "possessive",
                            x->t[j].kind == K_POSS ? 0.8f : 0.7f, 0) < 0) return -1;
                if (x->m[b].type == CG_TYPE_OTHER) x->m[b].type = CG_TYPE_PERSON;
                if (x->m[a].type == CG_TYPE_OTHER) x->m[a].type = CG_TYPE_ORG;
            }
        }
    }
    /* ---- copula: "X is a Y", "X is the CFO of Y" */
    if (j < e && lx(x, j, LX(COPULA)) && is_loww(x, j)) {
        size_t q = j + 1, np0, np1;
        int det = 0;
        if (q < e && (teq(x, q, "not") || teq(x, q, "no") || teq(x, q, "never"))) goto svo;
        if (q < e && lx(x, q, LX(DET))) { det = teq(x, q, "a") || teq(x, q, "an") ? 2 : 1; q++; }
        np0 = q;
        while (q < e && q - np0 < 5 && is_word(x, q) && !(x->t[q].f & F_DIGIT) &&
               !(q > np0 && verbish(x, q) && (x->t[q].lex & LX(VERB) ||
                                             x->s[x->t[q].b1 - 1] == 'd')) &&
               (((x->t[q].f & F_LOWER) && !(x->t[q].lex & (LX(STOP) | LX(PREP) | LX(DET)))) ||
                (x->t[q].lex & LX(ROLE)) || ((x->t[q].f & F_CAP) && q + 1 < e && is_loww(x, q + 1) &&
                                             !(x->t[q + 1].lex & (LX(STOP) | LX(PREP))))))
            q++;
        np1 = q;
        if (np1 > np0 && !(np1 - np0 == 1 && verbish(x, np0) && x->t[np0].b1 - x->t[np0].b0 > 4 &&
                           x->s[x->t[np0].b1 - 1] == 'd')) {
            pred[0] = 0;
            if (q < e && (teq(x, q, "of") || teq(x, q, "at") || teq(x, q, "for")) &&
                (b = mstart_at(x, q + 1)) >= 0 && !(x->m[b].flags & CG_MF_VALUE)) {
                for (k = np0; k < np1; k++) pred_add(x, pred, sizeof pred, k);
                pred_cat(pred, sizeof pred, "_of");
                if (add_rel(x, a, pred, (size_t)b, "copula", 0.8f, 0) < 0) return -1;
                if (scan_role(x, np0, np1 + 1, role) && x->m[a].type == CG_TYPE_OTHER)
                    x->m[a].type = CG_TYPE_PERSON;
            } else if (det == 2) {
                int c = add_mention(x, np0, np1, CG_TYPE_OTHER, CG_MF_CONCEPT, 0.6f);
                if (c == -1) return -1;
                if (c >= 0 && add_rel(x, a, "is_a", (size_t)c, "copula", 0.75f, 0) < 0) return -1;
            }
            return 0;
        }
    }
svo:
    /* ---- subject-verb-object, passive "X was acquired by Y" */
    {
        size_t q = j, nskip = 0, v;
        int neg = 0, passive = 0, strength;
        if (x->m[a].flags & CG_MF_VALUE) goto x_of_y;
        while (q < e && nskip < 3 && is_loww(x, q) &&
               ((x->t[q].lex & (LX(AUX) | LX(COPULA))) ||
                (x->t[q].b1 - x->t[q].b0 > 4 && x->s[x->t[q].b1 - 2] == 'l' &&
                 x->s[x->t[q].b1 - 1] == 'y') || teq(x, q, "not") || teq(x, q, "never") ||
                teq(x, q, "been"))) {
            if (teq(x, q, "not") || teq(x, q, "never")) neg = 1;
            if (x->t[q].lex & LX(COPULA) || teq(x, q, "been")) passive = 1;
            q++; nskip++;
        }
        if (neg || q >= e || !(strength = verbish(x, q))) goto x_of_y;
        v = q++;
        if (passive) {
            size_t n = x->t[v].b1 - x->t[v].b0;
            if (!(n > 3 && x->s[x->t[v].b1 - 1] == 'd') && !(x->t[v].lex & LX(VERB))) goto x_of_y;
            if (!teq(x, q, "by")) goto x_of_y;
            q++;
            if (q < e && lx(x, q, LX(DET))) q++;
            if (q < e && (b = mstart_at(x, q)) >= 0) {
                char w[32], lem[40];
                size_t l = tok_lower(x, &x->t[v], w);
                if (!l) goto x_of_y;
                lemmatise(w, lem, sizeof lem);
                if (add_rel(x, (size_t)b, lem, a, "svo_passive", strength == 2 ? 0.75f : 0.6f, 0) < 0)
                    return -1;
            }
            goto x_of_y;
        }
        {
            char w[32], lem[40];
            size_t prep = 0, l;
            if (q < e && is_loww(x, q) && (x->t[q].lex & LX(PREP)) && !teq(x, q, "by")) prep = q++;
            if (q < e && lx(x, q, LX(DET)) && is_loww(x, q)) q++;
            if (q >= e || (b = mstart_at(x, q)) < 0 || (x->m[b].flags & CG_MF_CONCEPT)) goto x_of_y;
            l = tok_lower(x, &x->t[v], w);
            if (!l) goto x_of_y;
            lemmatise(w, lem, sizeof lem);
            snprintf(pred, sizeof pred, "%s", lem);
            if (prep) { pred_cat(pred, sizeof pred, "_"); tok_lower(x, &x->t[prep], w); pred_cat(pred, sizeof pred, w); }
            if (add_rel(x, a, pred, (size_t)b, "svo", strength == 2 ? 0.75f : 0.6f, 0) < 0) return -1;
        }
    }
x_of_y:
    /* ---- "X of Y" */
    if (teq(x, j, "of") && !(x->m[a].flags & CG_MF_VALUE) && (b = mstart_at(x, j + 1)) >= 0 &&
        !(x->m[b].flags & CG_MF_VALUE)) {
        if (add_rel(x, a, "of", (size_t)b, "x_of_y", 0.5f, 0) < 0) return -1;
    }
    return 0;
}

/* Patterns anchored on words rather than on a mention: role "of" X, Y
 * ("The CEO of Norvale, Ana Ruiz"); Hearst lists. */
static int relate_words(rx *x, const sent *s)
{
    size_t i, e = s->t1;
    char role[64], pred[64];
    for (i = s->t0; i < e; i++) {
        size_t k;
        int32_t b, c;
        if (!is_word(x, i)) continue;
        if ((x->t[i].lex & (LX(ROLE) | LX(DET))) && mstart_at(x, i) < 0 &&
            (i == s->t0 || !(x->t[i - 1].lex & (LX(ROLE) | LX(DET) | LX(ROLEADJ)))) &&
            (k = scan_role(x, i, e, role)) && teq(x, k, "of") && (b = mstart_at(x, k + 1)) >= 0 &&
            is_p(x, x->m[b].t1, ',') && (c = mstart_at(x, x->m[b].t1 + 1)) >= 0 &&
            !(x->m[c].flags & CG_MF_VALUE) && !(x->m[b].flags & CG_MF_VALUE)) {
            snprintf(pred, sizeof pred, "%s", role);
            pred_cat(pred, sizeof pred, "_of");
            if (add_rel(x, (size_t)c, pred, (size_t)b, "x_of_y", 0.8f, 0) < 0) return -1;
            if (x->m[c].type == CG_TYPE_OTHER) x->m[c].type = CG_TYPE_PERSON;
        }
        /* "products such as A, B and C" / "suppliers including A and B" */
        if ((teq(x, i, "such") && teq(x, i + 1, "as")) || teq(x, i, "including") ||
            teq(x, i, "especially")) {
            size_t after = teq(x, i, "such") ? i + 2 : i + 1, np1 = i, np0, q, n = 0;
            int concept;
            if (np1 > s->t0 && is_p(x, np1 - 1, ',')) np1--;
            np0 = np1;
            while (np0 > s->t0 && np1 - np0 < 3 && is_loww(x, np0 - 1) &&
                   !(x->t[np0 - 1].lex & (LX(STOP) | LX(PREP) | LX(DET) | LX(COPULA) | LX(AUX))) &&
                   mstart_at(x, np0 - 1) < 0 && mlast_at(x, np0 - 1) < 0 &&
                   (np0 == np1 || !verbish(x, np0 - 1)))
                np0--;
            if (np0 == np1 || after >= e || mstart_at(x, after) < 0) continue;
            concept = add_mention(x, np0, np1, CG_TYPE_OTHER, CG_MF_CONCEPT, 0.6f);
            if (concept == -1) return -1;
            if (concept < 0) continue;
            for (q = after; q < e && n < 20;) {
                if ((b = mstart_at(x, q)) < 0) break;
                if (!(x->m[b].flags & CG_MF_VALUE) &&
                    add_rel(x, (size_t)b, "instance_of", (size_t)concept, "hearst", 0.75f, 0) < 0)
                    return -1;
                n++;
                q = x->m[b].t1;
                if (is_p(x, q, ',')) q++;
                if (teq(x, q, "and") || teq(x, q, "or")) q++;
            }
        }
        /* "A, B and other suppliers" */
        if (teq(x, i, "other") && i >= 2 && (teq(x, i - 1, "and") || teq(x, i - 1, "or")) &&
            i + 1 < e && is_loww(x, i + 1)) {
            size_t np0 = i + 1, np1 = np0, q = i - 1, n = 0;
            int concept;
            while (np1 < e && np1 - np0 < 3 && is_loww(x, np1) &&
                   !(x->t[np1].lex & (LX(STOP) | LX(PREP) | LX(DET) | LX(COPULA) | LX(AUX))) &&
                   (np1 == np0 || !verbish(x, np1)))
                np1++;
            if (np1 == np0 || mlast_at(x, q - 1) < 0) continue;
            concept = add_mention(x, np0, np1, CG_TYPE_OTHER, CG_MF_CONCEPT, 0.6f);
            if (concept == -1) return -1;
            if (concept < 0) continue;
            while (q > s->t0 && n < 20 && (b = mlast_at(x, q - 1)) >= 0) {
                if (!(x->m[b].flags & CG_MF_VALUE) &&
                    add_rel(x, (size_t)b, "instance_of", (size_t)concept, "hearst", 0.7f, 0) < 0)
                    return -1;
                n++;
                q = x->m[b].t0;
                if (q > s->t0 && is_p(x, q - 1, ',')) q--;
                else break;
            }
        }
    }
    return 0;
}

static int cooccur(rx *x, const sent *s)
{
    size_t cap = x->cx->opts.max_cooc_per_sentence, made = 0, d, i, total = 0;
    size_t idx[256], n = 0, m;
    if (x->cx->opts.no_cooccurrence) return 0;
    for (m = s->m0; m < x->nm && m < s->m1; m++) {
        if (x->m[m].flags & (CG_MF_VALUE | CG_MF_CONCEPT)) continue;
        if (n < 256) idx[n++] = m;
    }
    if (n < 2) return 0;
    for (d = 1; d < n; d++) {
        for (i = 0; i + d < n; i++) {
            size_t a = idx[i], b = idx[i + d], r, dup = 0, lo;
            lo = x->nr > x->rel_lo + 64 ? x->nr - 64 : x->rel_lo;
            for (r = lo; r < x->nr; r++)
                if ((x->r[r].s == a && x->r[r].o == b) || (x->r[r].s == b && x->r[r].o == a)) dup = 1;
            if (!dup && x->m[a].b1 - x->m[a].b0 == x->m[b].b1 - x->m[b].b0 &&
                !memcmp(x->s + x->m[a].b0, x->s + x->m[b].b0, x->m[a].b1 - x->m[a].b0))
                dup = 1;
            if (dup) continue;
            if (made >= cap) {
                total++;
                if (total > 64) goto done;   /* counting is bounded too */
                continue;
            }
            if (add_rel(x, a, "co_occurs_with", b, "cooccurrence", 0.2f, 1) < 0) return -1;
            made++;
        }
    }
done:
    if (total) x->w->cooc_capped += (n * (n - 1) / 2 > made) ? n * (n - 1) / 2 - made : total;
    return 0;
}

/* ================================================================ types */

/* Repeated surfaces share the strongest type; a lone surname of a person
 * is that person. */
static int spread_types(rx *x)
{
    size_t cap = 64, i;
    struct slot { uint32_t h; int32_t m; } *tab;
    while (cap < x->nm * 4 + 4) cap *= 2;
    tab = calloc(cap, sizeof *tab);
    if (!tab) return -1;
    for (i = 0; i < x->nm; i++) {
        const rm *m = &x->m[i];
        uint32_t h;
        size_t k;
        if (m->flags & (CG_MF_VALUE | CG_MF_CONCEPT) || m->type == CG_TYPE_OTHER) continue;
        /* whole surface, and for persons the last word */
        for (int pass = 0; pass < 2; pass++) {
            size_t b0 = m->b0;
            if (pass == 1) {
                if (m->type != CG_TYPE_PERSON || m->t1 - m->t0 < 2) break;
                b0 = x->t[m->t1 - 1].b0;
            }
            h = hash_lower(x->s + b0, m->b1 - b0);
            for (k = h & (cap - 1); tab[k].h; k = (k + 1) & (cap - 1))
                if (tab[k].h == h) break;
            if (!tab[k].h) { tab[k].h = h; tab[k].m = (int32_t)i; }
        }
    }
    for (i = 0; i < x->nm; i++) {
        rm *m = &x->m[i];
        uint32_t h;
        size_t k;
        if (m->flags & (CG_MF_VALUE | CG_MF_CONCEPT) || m->type != CG_TYPE_OTHER) continue;
        h = hash_lower(x->s + m->b0, m->b1 - m->b0);
        for (k = h & (cap - 1); tab[k].h; k = (k + 1) & (cap - 1))
            if (tab[k].h == h) { m->type = x->m[tab[k].m].type; break; }
    }
    free(tab);
    return 0;
}

/* ================================================================ driver */

static cc_status rules_extract(void *ctx, const cg_chunk *chunk, cg_sink *sink, cc_buf *err)
{
    rx x;
    size_t i;
    cc_status st = CC_OK;
    memset(&x, 0, sizeof x);
    x.cx = ctx;
    x.s = chunk->text;
    x.n = chunk->len;
    x.w = cg_sink_warnings(sink);
    if (chunk->len > x.cx->opts.max_chunk_bytes || chunk->len > UINT32_MAX / 2) {
        cc_buf_printf(err, "chunk of %zu bytes is over the extractor's limit of %zu bytes",
                      chunk->len, x.cx->opts.max_chunk_bytes);
        return CC_TOOBIG;
    }
    if (!chunk->len) return CC_OK;
    if (tokenize(&x)) goto nomem;
    if (!x.nt) goto out;
    x.mstart = malloc(x.nt * sizeof *x.mstart);
    x.mlast = malloc(x.nt * sizeof *x.mlast);
    if (!x.mstart || !x.mlast) goto nomem;
    memset(x.mstart, 0xFF, x.nt * sizeof *x.mstart);
    memset(x.mlast, 0xFF, x.nt * sizeof *x.mlast);
    if (lowerset_build(&x) || split_sentences(&x)) goto nomem;
    for (i = 0; i < x.nse; i++) {
        sent *s = &x.se[i];
        size_t m, m1;
        x.cur_sent = (uint32_t)i;
        x.rel_lo = x.nr;
        if (find_mentions(&x, s)) goto nomem;
        m1 = x.nm;
        for (m = s->m0; m < m1; m++)
            if (relate_after(&x, s, m)) goto nomem;
        if (relate_words(&x, s)) goto nomem;
        s->m1 = (uint32_t)x.nm;
        if (cooccur(&x, s)) goto nomem;
    }
    if (spread_types(&x)) goto nomem;
    for (i = 0; i < x.nm; i++) {
        rm *m = &x.m[i];
        if ((st = cg_sink_mention(sink, m->b0, m->b1, (cg_type)m->type, m->flags, m->conf, &m->sink)))
            goto out;
    }
    for (i = 0; i < x.nr; i++) {
        const rr *r = &x.r[i];
        const sent *s = &x.se[r->sent];
        if ((st = cg_sink_relation(sink, x.m[r->s].sink, r->pred, x.m[r->o].sink,
                                   x.t[s->t0].b0, x.t[s->t1 - 1].b1, r->pattern, r->conf,
                                   r->inferred ? CG_REL_INFERRED : CG_REL_CONFIRMED)))
            goto out;
    }
    goto out;
nomem:
    st = CC_NOMEM;
    cc_buf_puts(err, "out of memory in the rules extractor");
out:
    free(x.t); free(x.m); free(x.r); free(x.se);
    free(x.mstart); free(x.mlast); free(x.lowerset);
    return st;
}

const cg_extractor_i cg_rules_iface = {
    CG_EXTRACTOR_API_VERSION, "rules", 1, rules_extract, rules_free
};
