/* buf.c — the one growable, size-capped string buffer (cc_buf). */
#include "core.h"

#include <string.h>

void cc_buf_init(cc_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : CC_BUF_MAX_DEFAULT;
}

static cc_status grow(cc_buf *b, size_t extra)
{
    size_t need, ncap;
    char *p;
    if (b->max == 0) b->max = CC_BUF_MAX_DEFAULT;
    if (extra > b->max || b->len > b->max - extra) return CC_TOOBIG;
    need = b->len + extra + 1;
    if (need <= b->cap) return CC_OK;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need) ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    p = realloc(b->data, ncap);
    if (!p) return CC_NOMEM;
    b->data = p;
    b->cap = ncap;
    return CC_OK;
}

cc_status cc_buf_append(cc_buf *b, const void *p, size_t n)
{
    cc_status s = grow(b, n);
    if (s) return s;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return CC_OK;
}

cc_status cc_buf_puts(cc_buf *b, const char *s) { return cc_buf_append(b, s, strlen(s)); }
cc_status cc_buf_putc(cc_buf *b, char c) { return cc_buf_append(b, &c, 1); }

cc_status cc_buf_vprintf(cc_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    cc_status s;
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return CC_ERROR;
    if ((s = grow(b, (size_t)n))) return s;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return CC_OK;
}

cc_status cc_buf_printf(cc_buf *b, const char *fmt, ...)
{
    va_list ap;
    cc_status s;
    va_start(ap, fmt);
    s = cc_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return s;
}

cc_status cc_buf_json_str(cc_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;
    cc_status st;
    if ((st = cc_buf_putc(b, '"'))) return st;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t elen = 0;
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; elen = 2; }
        else if (c == '\n') { esc[0] = '\\'; esc[1] = 'n'; elen = 2; }
        else if (c == '\r') { esc[0] = '\\'; esc[1] = 'r'; elen = 2; }
        else if (c == '\t') { esc[0] = '\\'; esc[1] = 't'; elen = 2; }
        else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4]; esc[5] = hex[c & 15]; elen = 6;
        }
        if (elen) {
            if (run && (st = cc_buf_append(b, s + i - run, run))) return st;
            run = 0;
            if ((st = cc_buf_append(b, esc, elen))) return st;
        } else {
            run++;
        }
    }
    if (run && (st = cc_buf_append(b, s + n - run, run))) return st;
    return cc_buf_putc(b, '"');
}

void cc_buf_reset(cc_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

char *cc_buf_detach(cc_buf *b)
{
    char *p = b->data;
    if (!p) p = cc_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void cc_buf_free(cc_buf *b)
{
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
