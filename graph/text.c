/* text.c — character classes, case mapping and Latin folding used by the
 * extractor and the normaliser.  Tables cover ASCII, Latin-1, Latin
 * Extended-A, Greek and Cyrillic; other scripts get coarse classes. */
#include "graph_int.h"

/* U+0100..U+017F folded to a base letter; '1' = "ij", '2' = "oe". */
static const char ext_a[] =
    "aaaaaa" "cccccccc" "dddd" "eeeeeeeeee" "gggggggg" "hhhh" "iiiiiiiiii"
    "11" "jj" "kkk" "llllllllll" "nnnnnnn" "nn" "oooooo" "22" "rrrrrr"
    "ssssssss" "tttttt" "uuuuuuuuuuuu" "ww" "yyy" "zzzzzz" "s";
_Static_assert(sizeof ext_a == 129, "Latin Extended-A table covers U+0100..U+017F");

/* U+00C0..U+00FF; '#' = none (× ÷), '1' = "ae", '2' = "th", '3' = "ss". */
static const char latin1[] =
    "aaaaaa1ceeeeiiii" "dnooooo#ouuuuy23"
    "aaaaaa1ceeeeiiii" "dnooooo#ouuuuy2y";
_Static_assert(sizeof latin1 == 65, "Latin-1 table covers U+00C0..U+00FF");

int cg_fold_latin(uint32_t cp, char out[2])
{
    char c;
    if (cp >= 0xC0 && cp <= 0xFF) c = latin1[cp - 0xC0];
    else if (cp >= 0x100 && cp <= 0x17F) c = ext_a[cp - 0x100];
    else return 0;
    switch (c) {
    case '#': return 0;
    case '1': out[0] = cp < 0x100 ? 'a' : 'i'; out[1] = cp < 0x100 ? 'e' : 'j'; return 2;
    case '2':
        if (cp < 0x100) { out[0] = 't'; out[1] = 'h'; }
        else { out[0] = 'o'; out[1] = 'e'; }
        return 2;
    case '3': out[0] = 's'; out[1] = 's'; return 2;
    default: out[0] = c; return 1;
    }
}

static int ext_a_upper(uint32_t cp)
{
    if (cp == 0x130 || cp == 0x178) return 1;
    if (cp == 0x131 || cp == 0x138 || cp == 0x149 || cp == 0x17F) return 0;
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) return cp & 1;
    return !(cp & 1);
}

uint32_t cg_lower(uint32_t cp)
{
    if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;
    if (cp >= 0x100 && cp <= 0x17F) {
        if (cp == 0x130) return 'i';
        if (cp == 0x178) return 0xFF;
        return ext_a_upper(cp) ? cp + 1 : cp;
    }
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 32;
    if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
    return cp;
}

unsigned cg_char_class(uint32_t c)
{
    if (c < 0x80) {
        if (c >= 'a' && c <= 'z') return CG_CH_LETTER | CG_CH_LOWER;
        if (c >= 'A' && c <= 'Z') return CG_CH_LETTER | CG_CH_UPPER;
        if (c >= '0' && c <= '9') return CG_CH_DIGIT;
        if (c == ' ' || (c >= 9 && c <= 13)) return CG_CH_SPACE;
        if (c < 0x20 || c == 0x7F) return CG_CH_FORMAT;
        if (c == '$') return CG_CH_CURRENCY | CG_CH_PUNCT;
        return CG_CH_PUNCT;
    }
    if (c < 0xA0) return c == 0x85 ? CG_CH_SPACE : CG_CH_FORMAT;
    if (c == 0xA0) return CG_CH_SPACE;
    if (c == 0xAD) return CG_CH_FORMAT;
    if (c >= 0xA2 && c <= 0xA5) return CG_CH_CURRENCY | CG_CH_PUNCT;
    if (c == 0xAA || c == 0xBA || c == 0xB5) return CG_CH_LETTER | CG_CH_LOWER;
    if (c < 0xC0) return CG_CH_PUNCT;
    if (c <= 0xFF) {
        if (c == 0xD7 || c == 0xF7) return CG_CH_PUNCT;
        return CG_CH_LETTER | (c <= 0xDE ? CG_CH_UPPER : CG_CH_LOWER);
    }
    if (c <= 0x17F) return CG_CH_LETTER | (ext_a_upper(c) ? CG_CH_UPPER : CG_CH_LOWER);
    if (c < 0x300) return CG_CH_LETTER;                       /* Ext-B, IPA, modifiers */
    if (c < 0x370) return CG_CH_FORMAT;                       /* combining marks */
    if (c >= 0x391 && c <= 0x3A9) return CG_CH_LETTER | CG_CH_UPPER;
    if (c >= 0x3B1 && c <= 0x3C9) return CG_CH_LETTER | CG_CH_LOWER;
    if (c >= 0x400 && c <= 0x42F) return CG_CH_LETTER | CG_CH_UPPER;
    if (c >= 0x430 && c <= 0x45F) return CG_CH_LETTER | CG_CH_LOWER;
    if (c == 0x60C || c == 0x61B || c == 0x61F || c == 0x6D4) return CG_CH_PUNCT;
    if (c == 0x61C) return CG_CH_FORMAT;
    if (c == 0x1680) return CG_CH_SPACE;
    if (c < 0x2000) return CG_CH_LETTER;      /* other scripts: caseless letters */
    if (c <= 0x200A || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F)
        return CG_CH_SPACE;
    if ((c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
        (c >= 0x2060 && c <= 0x206F)) return CG_CH_FORMAT;
    if (c >= 0x20A0 && c <= 0x20CF) return CG_CH_CURRENCY | CG_CH_PUNCT;
    if (c < 0x3000) return CG_CH_PUNCT;       /* punctuation, symbols, arrows, ... */
    if (c == 0x3000) return CG_CH_SPACE;
    if (c < 0x3040) return CG_CH_PUNCT;       /* CJK punctuation */
    if (c >= 0xFE00 && c <= 0xFE0F) return CG_CH_FORMAT;
    if (c == 0xFEFF) return CG_CH_FORMAT;
    if (c >= 0xFF01 && c <= 0xFF0F) return CG_CH_PUNCT;   /* fullwidth punctuation */
    if (c >= 0xE000 && c <= 0xF8FF) return CG_CH_PUNCT;   /* private use */
    if (c >= 0xFFF0 && c <= 0xFFFF) return CG_CH_PUNCT;
    if (c >= 0x1F000 && c <= 0x1FAFF) return CG_CH_PUNCT; /* emoji and symbols */
    if (c >= 0xE0000 && c <= 0xE0FFF) return CG_CH_FORMAT; /* tags, selectors */
    return CG_CH_LETTER;
}
