/* parse_html.c — visible text out of HTML in one pass and one copy: tags
 * removed, script/style/noscript/template/head content dropped, block
 * elements turned into line and paragraph breaks, whitespace collapsed
 * (kept inside <pre>), character references decoded, <title> as the
 * document title, h1..h6 as sections. Not a full HTML5 tree builder: it
 * never nests or repairs, it only decides what text is visible. */
#include "retrieval.h"
#include "parse_int.h"

#include <string.h>

/* ================================================================ entities */

static const struct { const char *name; uint32_t cp; } entities[] = {
    { "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' },
    { "nbsp", 0xA0 }, { "copy", 0xA9 }, { "reg", 0xAE }, { "trade", 0x2122 },
    { "mdash", 0x2014 }, { "ndash", 0x2013 }, { "hellip", 0x2026 },
    { "rsquo", 0x2019 }, { "lsquo", 0x2018 }, { "rdquo", 0x201D }, { "ldquo", 0x201C },
    { "sbquo", 0x201A }, { "bdquo", 0x201E }, { "laquo", 0xAB }, { "raquo", 0xBB },
    { "euro", 0x20AC }, { "pound", 0xA3 }, { "yen", 0xA5 }, { "cent", 0xA2 },
    { "sect", 0xA7 }, { "para", 0xB6 }, { "deg", 0xB0 }, { "plusmn", 0xB1 },
    { "times", 0xD7 }, { "divide", 0xF7 }, { "middot", 0xB7 }, { "bull", 0x2022 },
    { "shy", 0xAD }, { "iexcl", 0xA1 }, { "iquest", 0xBF }, { "micro", 0xB5 },
    { "frac12", 0xBD }, { "frac14", 0xBC }, { "frac34", 0xBE }, { "ensp", 0x2002 },
    { "emsp", 0x2003 }, { "thinsp", 0x2009 }, { "zwj", 0x200D }, { "zwnj", 0x200C },
    { "larr", 0x2190 }, { "rarr", 0x2192 }, { "uarr", 0x2191 }, { "darr", 0x2193 },
    { "le", 0x2264 }, { "ge", 0x2265 }, { "ne", 0x2260 }, { "minus", 0x2212 },
    { "infin", 0x221E }, { "alpha", 0x3B1 }, { "beta", 0x3B2 }, { "gamma", 0x3B3 },
    { "delta", 0x3B4 }, { "pi", 0x3C0 }, { "mu", 0x3BC }, { "sigma", 0x3C3 },
    { "lambda", 0x3BB }, { "omega", 0x3C9 },
    { "agrave", 0xE0 }, { "aacute", 0xE1 }, { "acirc", 0xE2 }, { "auml", 0xE4 },
    { "aring", 0xE5 }, { "ccedil", 0xE7 }, { "egrave", 0xE8 }, { "eacute", 0xE9 },
    { "ecirc", 0xEA }, { "euml", 0xEB }, { "iacute", 0xED }, { "iuml", 0xEF },
    { "ntilde", 0xF1 }, { "oacute", 0xF3 }, { "ocirc", 0xF4 }, { "ouml", 0xF6 },
    { "oslash", 0xF8 }, { "uacute", 0xFA }, { "ugrave", 0xF9 }, { "uuml", 0xFC },
    { "szlig", 0xDF }, { "Agrave", 0xC0 }, { "Aacute", 0xC1 }, { "Auml", 0xC4 },
    { "Aring", 0xC5 }, { "Ccedil", 0xC7 }, { "Eacute", 0xC9 }, { "Ntilde", 0xD1 },
    { "Ouml", 0xD6 }, { "Oslash", 0xD8 }, { "Uuml", 0xDC },
};

static int is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int hexval(unsigned char c)
{
    if (is_digit(c)) return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A character reference at p[0] == '&'. Returns the bytes it takes (0 when
 * it is not one: the '&' then stays literal) and the code point. Numeric
 * references need their ';'; zero, surrogates and values past U+10FFFF
 * become U+FFFD, as in browsers. */
static size_t entity(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i, k;
    if (n < 3) return 0;
    if (p[1] == '#') {
        uint32_t v = 0;
        int hex = (p[2] | 0x20) == 'x', d, any = 0;
        for (i = hex ? 3 : 2; i < n && i < 24; i++) {
            d = hex ? hexval(p[i]) : (is_digit(p[i]) ? p[i] - '0' : -1);
            if (d < 0) break;
            any = 1;
            v = v > 0x10FFFF ? v : v * (hex ? 16 : 10) + (uint32_t)d;
        }
        if (!any || i >= n || p[i] != ';') return 0;
        if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) v = 0xFFFD;
        *cp = v;
        return i + 1;
    }
    for (i = 1; i < n && i < 12 && (is_alpha(p[i]) || is_digit(p[i])); i++) {}
    if (i == 1 || i >= n || p[i] != ';') return 0;
    for (k = 0; k < sizeof entities / sizeof entities[0]; k++)
        if (strlen(entities[k].name) == i - 1 && !memcmp(entities[k].name, p + 1, i - 1)) {
            *cp = entities[k].cp;
            return i + 1;
        }
    return 0;
}

/* ================================================================ state */

/* A text sink: the document text or the title, with whitespace collapsing.
 * pending: 0 nothing, 1 a space, 2 a line break, 3 a paragraph break;
 * written just before the next visible character, never at the start. */
typedef struct sink {
    cc_buf b;
    int pending;
} sink;

typedef struct html {
    const char *p;
    size_t n;
    int repair;
    size_t repaired;
    sink text, title;
    int have_title;          /* the first <title> was read */
    int pre;                 /* inside <pre>, <textarea>, <listing>: whitespace kept */
    int noscript, template_; /* depth of dropped elements */
    int in_head;
    int heading;             /* level of the open h1..h6, 0 when none */
    int heading_started;
    size_t heading_start;
    crp_secs secs;
} html;

static void set_break(sink *k, int level) { if (k->pending < level) k->pending = level; }

static cc_status sink_flush(html *h, sink *k)
{
    static const char *sep[4] = { "", " ", "\n", "\n\n" };
    cc_status s = CC_OK;
    if (k->pending && k->b.len) s = cc_buf_puts(&k->b, sep[k->pending]);
    k->pending = 0;
    if (k == &h->text && h->heading && !h->heading_started) {
        h->heading_started = 1;
        h->heading_start = k->b.len;
    }
    return s;
}

/* Appends the text of raw input p[a..b) to sink k: references decoded,
 * whitespace collapsed unless `keep_ws`, invalid UTF-8 repaired. */
static cc_status emit(html *h, sink *k, size_t a, size_t b, int keep_ws)
{
    const char *p = h->p;
    cc_status s;
    size_t i = a;
    while (i < b) {
        unsigned char c = (unsigned char)p[i];
        if (crp_is_ws(c)) {
            if (!keep_ws) { set_break(k, 1); i++; continue; }
            if (c == '\r') { i++; continue; }
            if ((s = sink_flush(h, k)) || (s = cc_buf_putc(&k->b, (char)c))) return s;
            i++;
        } else if (c == '&') {
            uint32_t cp;
            size_t m = entity(p + i, b - i, &cp);
            if ((s = sink_flush(h, k))) return s;
            if (m) { s = cc_buf_put_utf8(&k->b, cp); i += m; }
            else { s = cc_buf_putc(&k->b, '&'); i++; }
            if (s) return s;
        } else {
            size_t j = i;
            if ((s = sink_flush(h, k))) return s;
            while (j < b && !crp_is_ws((unsigned char)p[j]) && p[j] != '&' &&
                   (!h->repair || (unsigned char)p[j] < 0x80))
                j++;
            if (j > i) {
                if ((s = cc_buf_append(&k->b, p + i, j - i))) return s;
                i = j;
            } else {                       /* repair mode, a non-ASCII byte */
                int l = cc_utf8_decode(p + i, b - i, NULL);
                if (l) s = cc_buf_append(&k->b, p + i, (size_t)l);
                else { s = cc_buf_put_utf8(&k->b, 0xFFFD); h->repaired++; }
                if (s) return s;
                i += l ? (size_t)l : crp_utf8_bad_len(p + i, b - i);
            }
        }
    }
    return CC_OK;
}

/* ================================================================ tags */

static int lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Finds "</name" (any case) followed by whitespace, '/' or '>' at or after
 * i; returns its offset, or n. Linear: memchr for '<'. */
static size_t find_close(const html *h, size_t i, const char *name)
{
    size_t nl = strlen(name), k;
    while (i < h->n) {
        const char *lt = memchr(h->p + i, '<', h->n - i);
        if (!lt) return h->n;
        i = (size_t)(lt - h->p);
        if (i + 2 + nl <= h->n && h->p[i + 1] == '/') {
            for (k = 0; k < nl && lower((unsigned char)h->p[i + 2 + k]) == name[k]; k++) {}
            if (k == nl && (i + 2 + nl == h->n || crp_is_ws((unsigned char)h->p[i + 2 + nl]) ||
                            h->p[i + 2 + nl] == '/' || h->p[i + 2 + nl] == '>'))
                return i;
        }
        i++;
    }
    return h->n;
}

/* Skips attributes from i to just past the tag's '>' (quotes respected). */
static size_t skip_tag(const html *h, size_t i)
{
    while (i < h->n) {
        char c = h->p[i];
        if (c == '>') return i + 1;
        if (c == '=') {
            i++;
            while (i < h->n && crp_is_ws((unsigned char)h->p[i])) i++;
            if (i < h->n && (h->p[i] == '"' || h->p[i] == '\'')) {
                const char *q = memchr(h->p + i + 1, h->p[i], h->n - i - 1);
                if (!q) return h->n;
                i = (size_t)(q - h->p) + 1;
            }
            continue;
        }
        i++;
    }
    return h->n;
}

static int name_in(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(name, *list)) return 1;
    return 0;
}

static const char *const para_tags[] = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol",
    "dl", "section", "article", "header", "footer", "nav", "aside", "main", "figure",
    "hr", "address", "details", "fieldset", "form", "listing", NULL };
static const char *const line_tags[] = {
    "br", "div", "li", "tr", "dt", "dd", "caption", "figcaption", "summary", "option",
    "legend", "thead", "tbody", "tfoot", "center", "body", "html", "textarea", "menu", NULL };
static const char *const head_tags[] = {
    "meta", "link", "title", "style", "script", "base", "noscript", "template", "head", NULL };
/* raw text elements whose content is never shown */
static const char *const raw_drop[] = {
    "script", "style", "iframe", "noembed", "noframes", "xmp", NULL };

static int heading_level(const char *name)
{
    return name[0] == 'h' && name[1] >= '1' && name[1] <= '6' && !name[2] ? name[1] - '0' : 0;
}

static cc_status close_heading(html *h)
{
    cc_status s = CC_OK;
    if (h->heading && h->heading_started)
        s = crp_secs_heading(&h->secs, h->heading, h->heading_start,
                             h->text.b.data + h->heading_start,
                             h->text.b.len - h->heading_start);
    h->heading = 0;
    h->heading_started = 0;
    return s;
}

/* A tag starting at i ('<' then a letter, or "</" then a letter). Returns
 * the offset after it, having acted on it. */
static cc_status tag(html *h, size_t i, size_t *next)
{
    char name[16];
    size_t j = i + 1, k = 0, end;
    int closing = 0, lvl, dropping, selfclose;
    cc_status s = CC_OK;
    if (h->p[j] == '/') { closing = 1; j++; }
    while (j < h->n && (is_alpha((unsigned char)h->p[j]) || is_digit((unsigned char)h->p[j]) ||
                        h->p[j] == '-' || h->p[j] == ':')) {
        if (k < sizeof name - 1) name[k++] = (char)lower((unsigned char)h->p[j]);
        else k = sizeof name;                       /* too long: matches nothing */
        j++;
    }
    if (k >= sizeof name) k = 0, name[0] = '?', name[1] = 0;
    else name[k] = 0;
    end = skip_tag(h, j);
    *next = end;
    selfclose = end >= 2 && end <= h->n && h->p[end - 1] == '>' && h->p[end - 2] == '/';
    dropping = h->noscript || h->template_;

    if (!closing) {
        if (!strcmp(name, "head")) { h->in_head = 1; return CC_OK; }
        if (h->in_head && !name_in(name, head_tags)) h->in_head = 0;
        if (name_in(name, raw_drop)) {
            size_t c = find_close(h, end, name);
            *next = c < h->n ? skip_tag(h, c + 2) : h->n;
            return CC_OK;
        }
        if (!strcmp(name, "title")) {
            size_t c = find_close(h, end, "title");
            if (!h->have_title && !dropping) {
                size_t stop = c - end > 2 * CRP_TITLE_MAX ? end + 2 * CRP_TITLE_MAX : c;
                while (stop > end && stop < h->n && ((unsigned char)h->p[stop] & 0xC0) == 0x80) stop--;
                h->have_title = 1;
                s = emit(h, &h->title, end, stop, 0);
            }
            *next = c < h->n ? skip_tag(h, c + 2) : h->n;
            return s;
        }
        if (!strcmp(name, "noscript")) { h->noscript += !selfclose; return CC_OK; }
        if (!strcmp(name, "template")) { h->template_ += !selfclose; return CC_OK; }
        if (!strcmp(name, "body")) h->in_head = 0;
    } else {
        if (!strcmp(name, "head")) { h->in_head = 0; return CC_OK; }
        if (!strcmp(name, "noscript")) { if (h->noscript) h->noscript--; return CC_OK; }
        if (!strcmp(name, "template")) { if (h->template_) h->template_--; return CC_OK; }
    }
    if (dropping) return CC_OK;

    if ((lvl = heading_level(name))) {
        if ((s = close_heading(h))) return s;
        if (!closing && !selfclose) { h->heading = lvl; h->heading_started = 0; }
    }
    if (!strcmp(name, "pre") || !strcmp(name, "textarea") || !strcmp(name, "listing")) {
        if (!closing) h->pre += !selfclose;
        else if (h->pre) h->pre--;
    }
    if (name_in(name, para_tags)) set_break(&h->text, 3);
    else if (name_in(name, line_tags)) set_break(&h->text, 2);
    else if (!strcmp(name, "td") || !strcmp(name, "th")) set_break(&h->text, 1);
    return CC_OK;
}

/* Skips a comment, doctype, CDATA or processing instruction at i. */
static size_t skip_markup(const html *h, size_t i)
{
    if (i + 4 <= h->n && !memcmp(h->p + i, "<!--", 4)) {
        size_t j = i + 4;
        while (j + 3 <= h->n) {
            const char *d = memchr(h->p + j, '-', h->n - j);
            if (!d) return h->n;
            j = (size_t)(d - h->p);
            if (j + 3 <= h->n && !memcmp(h->p + j, "-->", 3)) return j + 3;
            j++;
        }
        return h->n;
    }
    {
        const char *gt = memchr(h->p + i, '>', h->n - i);
        return gt ? (size_t)(gt - h->p) + 1 : h->n;
    }
}

static cc_status run(html *h)
{
    size_t i = 0, next;
    cc_status s;
    while (i < h->n) {
        const char *lt = memchr(h->p + i, '<', h->n - i);
        size_t t = lt ? (size_t)(lt - h->p) : h->n;
        if (t > i && h->in_head && !crp_all_ws(h->p + i, t - i))
            h->in_head = 0;                 /* text in <head>: the body has begun */
        if (t > i && !h->noscript && !h->template_ && !h->in_head)
            if ((s = emit(h, &h->text, i, t, h->pre > 0))) return s;
        if (t >= h->n) break;
        if (t + 1 < h->n && (h->p[t + 1] == '!' || h->p[t + 1] == '?')) {
            i = skip_markup(h, t);
        } else if (t + 1 < h->n && (is_alpha((unsigned char)h->p[t + 1]) ||
                   (h->p[t + 1] == '/' && t + 2 < h->n && is_alpha((unsigned char)h->p[t + 2])))) {
            if ((s = tag(h, t, &next))) return s;
            i = next;
        } else {                                     /* a literal '<' */
            if (!h->noscript && !h->template_ && !h->in_head)
                if ((s = emit(h, &h->text, t, t + 1, 0))) return s;
            i = t + 1;
        }
    }
    return close_heading(h);
}

/* ================================================================ entry */

cc_status crp_parse_html(const char *uri, const char *data, size_t n, const cr_parse_opts *o,
                         cr_doc_fn fn, void *ud, cc_buf *err)
{
    html h;
    crp_input in;
    cr_doc d;
    cc_status s;
    memset(&h, 0, sizeof h);
    if ((s = crp_prepare(data, n, o, 0, NULL, &in, err))) return s;
    h.p = in.p;
    h.n = in.n;
    h.repair = in.has_bad;
    cc_buf_init(&h.text.b, crp_buf_max(in.n));
    cc_buf_init(&h.title.b, CRP_TITLE_MAX * 8);
    s = run(&h);
    if (s) { s = crp_err(err, s, "out of memory extracting HTML text"); goto out; }
    if (!h.text.b.len || crp_all_ws(h.text.b.data, h.text.b.len)) {
        s = crp_err(err, CC_INVALID, "empty document");
        goto out;
    }
    memset(&d, 0, sizeof d);
    d.uri = uri;
    if (h.title.b.len) {
        size_t tl = h.title.b.len;
        if (tl > CRP_TITLE_MAX) {
            tl = CRP_TITLE_MAX;
            while (tl && ((unsigned char)h.title.b.data[tl] & 0xC0) == 0x80) tl--;
            h.title.b.data[tl] = 0;
        }
        d.title = h.title.b.data;
    }
    d.text = h.text.b.data;
    d.len = h.text.b.len;
    d.sections = h.secs.v;
    d.n_sections = h.secs.n;
    d.repaired = h.repaired;
    s = fn(ud, &d);
out:
    cc_buf_free(&h.text.b);
    cc_buf_free(&h.title.b);
    crp_secs_free(&h.secs);
    return s;
}
