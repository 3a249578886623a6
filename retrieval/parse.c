/* parse.c — documents in: format names, the input checks every text format
 * shares (BOM, NUL bytes, UTF-8 validation or repair, empty input), and
 * extraction for .txt and .md. HTML lives in parse_html.c, JSON and JSONL in
 * parse_json.c; both reach the shared helpers through parse_int.h. */
#include "retrieval.h"
#include "parse_int.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

/* ================================================================ formats */

static const struct { const char *name; cr_format f; } fmt_names[] = {
    { "txt", CR_FMT_TXT },   { "text", CR_FMT_TXT },
    { "md", CR_FMT_MD },     { "markdown", CR_FMT_MD },
    { "html", CR_FMT_HTML }, { "htm", CR_FMT_HTML },
    { "json", CR_FMT_JSON },
    { "jsonl", CR_FMT_JSONL }, { "ndjson", CR_FMT_JSONL },
};

cr_format cr_format_from_name(const char *name)
{
    size_t i;
    if (!name) return CR_FMT_UNKNOWN;
    if (name[0] == '.') name++;
    for (i = 0; i < sizeof fmt_names / sizeof fmt_names[0]; i++)
        if (!strcasecmp(name, fmt_names[i].name)) return fmt_names[i].f;
    return CR_FMT_UNKNOWN;
}

cr_format cr_format_from_path(const char *path)
{
    const char *slash, *dot;
    if (!path) return CR_FMT_UNKNOWN;
    slash = strrchr(path, '/');
    if (slash) path = slash + 1;
    dot = strrchr(path, '.');
    if (!dot || dot == path) return CR_FMT_UNKNOWN;  /* no extension, or ".txt" alone */
    return cr_format_from_name(dot + 1);
}

const char *cr_format_name(cr_format f)
{
    switch (f) {
    case CR_FMT_TXT:   return "txt";
    case CR_FMT_MD:    return "md";
    case CR_FMT_HTML:  return "html";
    case CR_FMT_JSON:  return "json";
    case CR_FMT_JSONL: return "jsonl";
    default:           return "unknown";
    }
}

/* ================================================================ shared helpers */

cc_status crp_err(cc_buf *err, cc_status s, const char *fmt, ...)
{
    va_list ap;
    if (err) {
        cc_buf_reset(err);
        va_start(ap, fmt);
        if (cc_buf_vprintf(err, fmt, ap) != CC_OK) cc_buf_reset(err);
        va_end(ap);
    }
    return s;
}

int crp_all_ws(const char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!crp_is_ws((unsigned char)p[i])) return 0;
    return 1;
}

size_t crp_utf8_bad_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    size_t need, k = 1;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0; else if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90; else if (c == 0xF4) hi = 0x8F;
    } else return 1;
    if (k < n && p[k] >= lo && p[k] <= hi) {
        k++;
        while (k < need + 1 && k < n && (p[k] & 0xC0) == 0x80) k++;
    }
    if (k > need) k = need;  /* a full sequence would have been valid */
    return k ? k : 1;
}

cc_status crp_utf8_repair(const char *p, size_t n, cc_buf *out, size_t *n_bad)
{
    static const char fffd[3] = { (char)0xEF, (char)0xBF, (char)0xBD };
    size_t i = 0, bad = 0;
    cc_status s;
    while (i < n) {
        size_t v = cc_utf8_check(p + i, n - i);
        if (out && v && (s = cc_buf_append(out, p + i, v))) return s;
        i += v;
        if (i >= n) break;
        if (out && (s = cc_buf_append(out, fffd, 3))) return s;
        i += crp_utf8_bad_len(p + i, n - i);
        bad++;
    }
    if (n_bad) *n_bad = bad;
    return CC_OK;
}

size_t crp_buf_max(size_t n)
{
    /* repair can turn each bad byte into 3; leave room for separators */
    if (n > (SIZE_MAX - 4096) / 3) return SIZE_MAX - 1;
    return 3 * n + 4096;
}

cc_status crp_prepare(const char *data, size_t n, const cr_parse_opts *o, int flags,
                      cc_buf *fixed, crp_input *in, cc_buf *err)
{
    const char *nul;
    size_t base = 0, v;
    in->p = data;
    in->n = n;
    in->base = 0;
    in->repaired = 0;
    in->has_bad = 0;
    if (!data || n == 0) return crp_err(err, CC_INVALID, "empty document");
    if (n >= 3 && (unsigned char)data[0] == 0xEF && (unsigned char)data[1] == 0xBB &&
        (unsigned char)data[2] == 0xBF)
        base = 3;
    nul = memchr(data, 0, n);
    if (nul) return crp_err(err, CC_INVALID, "binary file (NUL byte at byte %zu)",
                            (size_t)(nul - data));
    in->p = data + base;
    in->n = n - base;
    in->base = base;
    v = cc_utf8_check(in->p, in->n);
    if (v < in->n) {
        if (!o->repair_utf8)
            return crp_err(err, CC_INVALID, "invalid UTF-8 at byte %zu", base + v);
        in->has_bad = 1;
        if (flags & CRP_REPAIR_COPY) {
            cc_status s;
            cc_buf_init(fixed, crp_buf_max(in->n));
            if ((s = crp_utf8_repair(in->p, in->n, fixed, &in->repaired)))
                return crp_err(err, s, "out of memory repairing UTF-8 (%zu bytes)", in->n);
            in->p = fixed->data;
            in->n = fixed->len;
        } else {
            crp_utf8_repair(in->p, in->n, NULL, &in->repaired);
        }
    }
    if (crp_all_ws(in->p, in->n)) return crp_err(err, CC_INVALID, "empty document");
    return CC_OK;
}

/* ---------------------------------------------------------------- sections */

void crp_secs_free(crp_secs *s)
{
    size_t i;
    for (i = 0; i < s->n; i++) free(s->v[i].title);
    free(s->v);
    for (i = 0; i < s->depth; i++) free(s->stack[i].title);
    memset(s, 0, sizeof *s);
}

/* Length of t[0..n) cut to at most max bytes at a UTF-8 boundary. */
static size_t utf8_cut(const char *t, size_t n, size_t max)
{
    if (n <= max) return n;
    n = max;
    while (n > 0 && ((unsigned char)t[n] & 0xC0) == 0x80) n--;
    return n;
}

cc_status crp_secs_heading(crp_secs *s, int level, size_t start, const char *t, size_t tn)
{
    cc_buf path = CC_BUF_INIT(0);
    char *own;
    size_t i;
    cc_status st;
    while (tn && crp_is_ws((unsigned char)t[tn - 1])) tn--;
    while (tn && crp_is_ws((unsigned char)*t)) { t++; tn--; }
    if (tn == 0) return CC_OK;                 /* an empty heading names nothing */
    tn = utf8_cut(t, tn, CRP_TITLE_MAX);
    if (level < 1) level = 1;
    if (level > 6) level = 6;
    if (!(own = cc_strndup(t, tn))) return CC_NOMEM;
    while (s->depth && s->stack[s->depth - 1].level >= level)
        free(s->stack[--s->depth].title);
    s->stack[s->depth].level = level;
    s->stack[s->depth].title = own;
    s->depth++;
    for (i = 0; i < s->depth; i++) {
        if (i && (st = cc_buf_puts(&path, " > "))) goto fail;
        if ((st = cc_buf_puts(&path, s->stack[i].title))) goto fail;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 16;
        cr_section *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) { st = CC_NOMEM; goto fail; }
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n].start_byte = start;
    s->v[s->n].title = cc_buf_detach(&path);
    if (!s->v[s->n].title) return CC_NOMEM;
    s->n++;
    return CC_OK;
fail:
    cc_buf_free(&path);
    return st;
}

/* ================================================================ txt */

static cc_status parse_txt(const char *uri, const char *data, size_t n, const cr_parse_opts *o,
                           cr_doc_fn fn, void *ud, cc_buf *err)
{
    cc_buf fixed = CC_BUF_INIT(0);
    crp_input in;
    cr_doc d;
    cc_status s = crp_prepare(data, n, o, CRP_REPAIR_COPY, &fixed, &in, err);
    if (s == CC_OK) {
        memset(&d, 0, sizeof d);
        d.uri = uri;
        d.text = in.p;          /* zero copy unless repaired */
        d.len = in.n;
        d.repaired = in.repaired;
        s = fn(ud, &d);
    }
    cc_buf_free(&fixed);
    return s;
}

/* ================================================================ markdown */

/* Leading spaces of a line (a tab counts as 4). */
static size_t md_indent(const char *l, size_t n, size_t *bytes)
{
    size_t i = 0, w = 0;
    while (i < n && (l[i] == ' ' || l[i] == '\t')) { w += l[i] == '\t' ? 4 : 1; i++; }
    *bytes = i;
    return w;
}

static size_t md_run(const char *l, size_t n, char c)
{
    size_t i = 0;
    while (i < n && l[i] == c) i++;
    return i;
}

/* Is l[0..n) made of one character c repeated (at least min times), then
 * only whitespace? */
static int md_rule_of(const char *l, size_t n, char c, size_t min)
{
    size_t i = 0;
    while (i < n && l[i] == c) i++;
    if (i < min) return 0;
    return crp_all_ws(l + i, n - i);
}

/* YAML front matter ("---" first line up to a "---" or "..." line) holds no
 * headings; its "title:" becomes the document title. *pos is set past it. */
static cc_status md_front_matter(const crp_input *in, size_t *pos, char **title)
{
    size_t p = 0, line = 0;
    *pos = 0;
    while (p < in->n) {
        const char *l = in->p + p, *nl = memchr(l, '\n', in->n - p);
        size_t len = nl ? (size_t)(nl - l) : in->n - p, tl;
        size_t next = p + len + (nl != NULL);
        while (len && crp_is_ws((unsigned char)l[len - 1])) len--;
        if (line == 0) {
            if (len != 3 || memcmp(l, "---", 3)) return CC_OK;
        } else if ((len == 3 && (!memcmp(l, "---", 3) || !memcmp(l, "...", 3)))) {
            *pos = next;
            return CC_OK;
        } else if (!*title && len > 6 && !memcmp(l, "title:", 6)) {
            const char *t = l + 6;
            tl = len - 6;
            while (tl && crp_is_ws((unsigned char)*t)) { t++; tl--; }
            if (tl >= 2 && (t[0] == '"' || t[0] == '\'') && t[tl - 1] == t[0]) { t++; tl -= 2; }
            if (tl > CRP_TITLE_MAX) {
                tl = CRP_TITLE_MAX;
                while (tl && ((unsigned char)t[tl] & 0xC0) == 0x80) tl--;
            }
            if (tl && !(*title = cc_strndup(t, tl))) return CC_NOMEM;
        }
        if (++line > 200) break;     /* not front matter after all */
        p = next;
    }
    free(*title);                    /* never closed: not front matter */
    *title = NULL;
    *pos = 0;
    return CC_OK;
}

static cc_status parse_md(const char *uri, const char *data, size_t n, const cr_parse_opts *o,
                          cr_doc_fn fn, void *ud, cc_buf *err)
{
    cc_buf fixed = CC_BUF_INIT(0);
    crp_secs secs;
    crp_input in;
    cr_doc d;
    char *title = NULL;
    size_t pos = 0, prev_start = 0, prev_len = 0;
    int prev_para = 0, in_fence = 0;
    char fence_c = 0;
    size_t fence_len = 0;
    cc_status s;

    memset(&secs, 0, sizeof secs);
    if ((s = crp_prepare(data, n, o, CRP_REPAIR_COPY, &fixed, &in, err))) goto out;
    if ((s = md_front_matter(&in, &pos, &title))) goto nomem;
    while (pos < in.n) {
        const char *l = in.p + pos, *nl = memchr(l, '\n', in.n - pos);
        size_t len = nl ? (size_t)(nl - l) : in.n - pos, ib, ind, h = 0, next = pos + len + (nl != NULL);
        const char *b;
        size_t bn;
        while (len && l[len - 1] == '\r') len--;
        ind = md_indent(l, len, &ib);
        b = l + ib;
        bn = len - ib;
        if (in_fence) {
            size_t k = 0;
            while (k < bn && b[k] == fence_c) k++;
            if (ind <= 3 && k >= fence_len && crp_all_ws(b + k, bn - k)) in_fence = 0;
            prev_para = 0;
        } else if (ind <= 3 && bn >= 3 && (b[0] == '`' || b[0] == '~') && b[1] == b[0] && b[2] == b[0]) {
            fence_c = b[0];
            fence_len = 0;
            while (fence_len < bn && b[fence_len] == fence_c) fence_len++;
            in_fence = 1;
            prev_para = 0;
        } else if (ind <= 3 && bn && b[0] == '#' &&
                   (h = md_run(b, bn, '#')) <= 6 && (h == bn || b[h] == ' ' || b[h] == '\t')) {
            /* ATX heading: "## Title ##" */
            const char *t = b + h;
            size_t tn = bn - h, k;
            while (tn && crp_is_ws((unsigned char)t[tn - 1])) tn--;
            k = tn;
            while (k && t[k - 1] == '#') k--;
            if (k < tn && (k == 0 || t[k - 1] == ' ' || t[k - 1] == '\t')) tn = k;
            if ((s = crp_secs_heading(&secs, (int)h, pos, t, tn))) goto nomem;
            if (h == 1 && !title && secs.depth && secs.stack[0].level == 1 &&
                !(title = cc_strdup(secs.stack[0].title))) goto nomem;
            prev_para = 0;
        } else if (prev_para && ind <= 3 && bn &&
                   (md_rule_of(b, bn, '=', 1) || md_rule_of(b, bn, '-', 2))) {
            /* setext heading: the previous line, underlined */
            int level = b[0] == '=' ? 1 : 2;
            if ((s = crp_secs_heading(&secs, level, prev_start, in.p + prev_start, prev_len)))
                goto nomem;
            if (level == 1 && !title && secs.depth && secs.stack[0].level == 1 &&
                !(title = cc_strdup(secs.stack[0].title))) goto nomem;
            prev_para = 0;
        } else if (crp_all_ws(l, len)) {
            prev_para = 0;
        } else {
            prev_para = ind <= 3 && !strchr(">-*+|", b[0]);
            prev_start = pos + ib;
            prev_len = bn;
        }
        pos = next;
    }
    memset(&d, 0, sizeof d);
    d.uri = uri;
    d.title = title;
    d.text = in.p;
    d.len = in.n;
    d.sections = secs.v;
    d.n_sections = secs.n;
    d.repaired = in.repaired;
    s = fn(ud, &d);
    goto out;
nomem:
    s = crp_err(err, CC_NOMEM, "out of memory collecting Markdown headings");
out:
    free(title);
    crp_secs_free(&secs);
    cc_buf_free(&fixed);
    return s;
}

/* ================================================================ entry */

cc_status cr_parse(const char *uri, cr_format fmt, const char *data, size_t n,
                   const cr_parse_opts *opts, cr_doc_fn fn, void *ud, cc_buf *err)
{
    cr_parse_opts o;
    C_ASSERT(fn != NULL);
    memset(&o, 0, sizeof o);
    if (opts) o = *opts;
    if (!o.json_text_field || !*o.json_text_field) o.json_text_field = "text";
    if (!o.json_id_field || !*o.json_id_field) o.json_id_field = "id";
    if (!o.json_title_field || !*o.json_title_field) o.json_title_field = "title";
    if (o.max_json_bytes == 0) o.max_json_bytes = (size_t)64 << 20;
    if (!uri) uri = "";
    switch (fmt) {
    case CR_FMT_TXT:   return parse_txt(uri, data, n, &o, fn, ud, err);
    case CR_FMT_MD:    return parse_md(uri, data, n, &o, fn, ud, err);
    case CR_FMT_HTML:  return crp_parse_html(uri, data, n, &o, fn, ud, err);
    case CR_FMT_JSON:  return crp_parse_json(uri, data, n, &o, fn, ud, err);
    case CR_FMT_JSONL: return crp_parse_jsonl(uri, data, n, &o, fn, ud, err);
    default:
        return crp_err(err, CC_UNSUPPORTED,
                       "unsupported document format (use .txt, .md, .html, .json or .jsonl)");
    }
}
