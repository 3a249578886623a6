/* utf8.c — strict UTF-8 validation, decoding and encoding. */
#include "core.h"

int cc_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t c;
    int len, i;
    if (n == 0) return 0;
    if (p[0] < 0x80) { if (cp) *cp = p[0]; return 1; }
    if (p[0] < 0xC2) return 0;                 /* continuation or overlong 2-byte */
    if (p[0] < 0xE0) { len = 2; c = p[0] & 0x1F; }
    else if (p[0] < 0xF0) { len = 3; c = p[0] & 0x0F; }
    else if (p[0] < 0xF5) { len = 4; c = p[0] & 0x07; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000)) return 0;  /* overlong */
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    if (cp) *cp = c;
    return len;
}

size_t cc_utf8_check(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if ((unsigned char)p[i] < 0x80) { i++; continue; }
        int l = cc_utf8_decode(p + i, n - i, NULL);
        if (!l) return i;
        i += (size_t)l;
    }
    return n;
}

size_t cc_utf8_count(const char *p, size_t n)
{
    size_t i, k = 0;
    for (i = 0; i < n; i++)
        if (((unsigned char)p[i] & 0xC0) != 0x80) k++;
    return k;
}

cc_status cc_buf_put_utf8(cc_buf *b, uint32_t c)
{
    char o[4];
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = 0xFFFD;
    if (c < 0x80) { o[0] = (char)c; return cc_buf_append(b, o, 1); }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | (c >> 6)); o[1] = (char)(0x80 | (c & 0x3F));
        return cc_buf_append(b, o, 2);
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12)); o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return cc_buf_append(b, o, 3);
    }
    o[0] = (char)(0xF0 | (c >> 18)); o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F)); o[3] = (char)(0x80 | (c & 0x3F));
    return cc_buf_append(b, o, 4);
}
