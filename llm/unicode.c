/* unicode.c — code point classes, lowercase, accent stripping (tables in
 * unicode_data.c) and UTF-8 decoding/encoding for the tokenizers. */
#include "llm_int.h"

extern const uint32_t cl_uc_ranges[][3];
extern const size_t cl_uc_n_ranges;
extern const uint32_t cl_uc_lower[][2];
extern const size_t cl_uc_n_lower;
extern const uint32_t cl_uc_strip[][6];
extern const size_t cl_uc_n_strip;

unsigned cl_uc_flags(uint32_t cp)
{
    size_t lo = 0, hi = cl_uc_n_ranges;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < cl_uc_ranges[mid][0]) hi = mid;
        else if (cp > cl_uc_ranges[mid][1]) lo = mid + 1;
        else return cl_uc_ranges[mid][2];
    }
    return 0;
}

uint32_t cl_uc_tolower(uint32_t cp)
{
    size_t lo = 0, hi = cl_uc_n_lower;
    if (cp < 128) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < cl_uc_lower[mid][0]) hi = mid;
        else if (cp > cl_uc_lower[mid][0]) lo = mid + 1;
        else return cl_uc_lower[mid][1];
    }
    return cp;
}

int cl_uc_strip_accents(uint32_t cp, uint32_t out[4])
{
    size_t lo = 0, hi = cl_uc_n_strip;
    int i;
    if (cp < 128) { out[0] = cp; return 1; }
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < cl_uc_strip[mid][0]) hi = mid;
        else if (cp > cl_uc_strip[mid][0]) lo = mid + 1;
        else {
            for (i = 0; i < (int)cl_uc_strip[mid][1]; i++) out[i] = cl_uc_strip[mid][2 + i];
            return (int)cl_uc_strip[mid][1];
        }
    }
    out[0] = cp;
    return 1;
}

size_t cl_utf8_decode(const char *str, size_t n, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    uint32_t c;
    size_t len, i;
    if (n == 0) { *cp = 0xFFFD; return 1; }
    if (s[0] < 0x80) { *cp = s[0]; return 1; }
    if ((s[0] & 0xE0) == 0xC0) { len = 2; c = s[0] & 0x1F; }
    else if ((s[0] & 0xF0) == 0xE0) { len = 3; c = s[0] & 0x0F; }
    else if ((s[0] & 0xF8) == 0xF0) { len = 4; c = s[0] & 0x07; }
    else { *cp = 0xFFFD; return 1; }
    if (len > n) { *cp = 0xFFFD; return 1; }
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) { *cp = 0xFFFD; return 1; }
        c = (c << 6) | (s[i] & 0x3F);
    }
    if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = c;
    return len;
}

int cl_utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
