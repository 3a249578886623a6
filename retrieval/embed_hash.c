/*
 * embed_hash.c — the built-in "hash" embedder: no weights, identical
 * vectors on every machine.
 *
 * Text → normalised words (cr_hash_normalize: lowercase, Latin diacritics
 * folded, non-word code points become separators) → features:
 *   W  each word                         weight 1
 *   B  each pair of adjacent words       weight 3/4
 *   C  each character 3-, 4- and 5-gram of "<word>" (code points, the
 *      first 64 of a word)               weight 1/2
 * Each feature is hashed with FNV-1a 64 over (tag byte, feature bytes),
 * mixed with MurmurHash3's fmix64; bucket = h mod dim, sign = top bit.
 * Buckets accumulate in double; the weights are dyadic, so every sum and
 * the sum of squares are exact and the result does not depend on
 * evaluation order or FMA contraction. The vector is L2-normalised (sqrt
 * and division are correctly rounded IEEE operations) and stored as float.
 *
 * Identity: "hash/1:dim=<dim>". Change the version when any of the above
 * changes: existing indexes must then be rebuilt.
 */
#include "retrieval.h"

#include <math.h>
#include <string.h>

#define HASH_VERSION   1
#define HASH_DIM_DEF   384
#define HASH_DIM_MIN   8
#define HASH_DIM_MAX   65536
#define NGRAM_MAX_CPS  64      /* character n-grams come from a word's first 64 code points */
#define TEXT_MAX_BYTES ((size_t)64 << 20)

/* ---------------------------------------------------------------- normalisation */

/* Latin Extended-A U+0100..U+017F → base letter; 'J' = "ij", 'O' = "oe". */
static const char latin_ext_a[129] =
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiJJjjkkklllllll"
    "lllnnnnnnnnnooooooOOrrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";
/* Latin-1 U+00C0..U+00FF; ' ' = separator, 'A' = "ae", 'T' = "th", 'S' = "ss". */
static const char latin_1[65] =
    "aaaaaaAceeeeiiiidnooooo ouuuuyTSaaaaaaAceeeeiiiidnooooo ouuuuyTy";

/* Folds one code point. Returns the number of code points written to
 * out[0..2): 0 with *sep = 1 for a separator, 0 with *sep = 0 for a code
 * point that vanishes (combining marks). */
static int fold_cp(uint32_t cp, uint32_t out[2], int *sep)
{
    *sep = 0;
    char c = 0;
    if (cp < 0x80) {
        if (cp >= 'A' && cp <= 'Z') { out[0] = cp + 32; return 1; }
        if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) { out[0] = cp; return 1; }
        *sep = 1;
        return 0;
    }
    if (cp < 0xC0) { *sep = 1; return 0; }                  /* Latin-1 punctuation, NBSP */
    if (cp < 0x100) c = latin_1[cp - 0xC0];
    else if (cp < 0x180) c = latin_ext_a[cp - 0x100];
    if (c) {
        switch (c) {
        case ' ': *sep = 1; return 0;
        case 'A': out[0] = 'a'; out[1] = 'e'; return 2;
        case 'O': out[0] = 'o'; out[1] = 'e'; return 2;
        case 'J': out[0] = 'i'; out[1] = 'j'; return 2;
        case 'T': out[0] = 't'; out[1] = 'h'; return 2;
        case 'S': out[0] = 's'; out[1] = 's'; return 2;
        default:  out[0] = (uint32_t)c; return 1;
        }
    }
    if (cp >= 0x300 && cp <= 0x36F) return 0;               /* combining diacritics */
    /* Greek: capitals, tonos, final sigma. */
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) { out[0] = cp + 0x20; return 1; }
    switch (cp) {
    case 0x386: case 0x3AC: out[0] = 0x3B1; return 1;
    case 0x388: case 0x3AD: out[0] = 0x3B5; return 1;
    case 0x389: case 0x3AE: out[0] = 0x3B7; return 1;
    case 0x38A: case 0x3AF: case 0x3CA: case 0x390: out[0] = 0x3B9; return 1;
    case 0x38C: case 0x3CC: out[0] = 0x3BF; return 1;
    case 0x38E: case 0x3CD: case 0x3CB: case 0x3B0: out[0] = 0x3C5; return 1;
    case 0x38F: case 0x3CE: out[0] = 0x3C9; return 1;
    case 0x3C2: out[0] = 0x3C3; return 1;
    case 0x37E: case 0x387: *sep = 1; return 0;             /* Greek ; and · */
    default: break;
    }
    /* Cyrillic capitals. */
    if (cp >= 0x410 && cp <= 0x42F) { out[0] = cp + 0x20; return 1; }
    if (cp >= 0x400 && cp <= 0x40F) { out[0] = cp + 0x50; return 1; }
    /* Fullwidth ASCII. */
    if (cp >= 0xFF21 && cp <= 0xFF3A) { out[0] = cp - 0xFF21 + 'a'; return 1; }
    if (cp >= 0xFF41 && cp <= 0xFF5A) { out[0] = cp - 0xFF41 + 'a'; return 1; }
    if (cp >= 0xFF10 && cp <= 0xFF19) { out[0] = cp - 0xFF10 + '0'; return 1; }
    /* Punctuation, symbols, spaces, emoji, specials. */
    if ((cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) ||
        (cp >= 0xFE10 && cp <= 0xFE6F) || (cp >= 0xFF00 && cp <= 0xFF65) ||
        (cp >= 0xFFF0 && cp <= 0xFFFF) || (cp >= 0x1F000 && cp <= 0x1FAFF) ||
        cp == 0x55A || cp == 0x589 || cp == 0x5BE || (cp >= 0x60C && cp <= 0x60D) ||
        cp == 0x61F || cp == 0x6D4 || cp == 0x964 || cp == 0x965) {
        *sep = 1;
        return 0;
    }
    out[0] = cp;
    return 1;
}

cc_status cr_hash_normalize(const char *text, size_t n, cc_buf *out)
{
    C_ASSERT(out && (text || n == 0));
    size_t i = 0;
    int pending_space = 0, any = 0;
    while (i < n) {
        uint32_t cp;
        int len = cc_utf8_decode(text + i, n - i, &cp);
        uint32_t f[2];
        int sep, nf;
        if (len == 0) {            /* invalid byte: a separator */
            len = 1;
            sep = 1;
            nf = 0;
        } else {
            nf = fold_cp(cp, f, &sep);
        }
        i += (size_t)len;
        if (sep) { pending_space = any; continue; }
        for (int j = 0; j < nf; j++) {
            cc_status s;
            if (pending_space) {
                if ((s = cc_buf_putc(out, ' ')) != CC_OK) return s;
                pending_space = 0;
            }
            if ((s = cc_buf_put_utf8(out, f[j])) != CC_OK) return s;
            any = 1;
        }
    }
    if (!out->data) return cc_buf_append(out, "", 0);   /* always a string */
    return CC_OK;
}

/* ---------------------------------------------------------------- hashing */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

static inline uint64_t fnv_bytes(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= FNV_PRIME;
    }
    return h;
}

static inline uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static inline void add_feature(double *acc, int dim, uint64_t h, double w)
{
    h = fmix64(h);
    size_t b = (size_t)(h % (uint64_t)dim);
    if (h >> 63) acc[b] -= w;
    else         acc[b] += w;
}

static inline uint64_t tag_hash(char tag)
{
    return fnv_bytes(FNV_OFFSET, &tag, 1);
}

/* Adds the features of normalised text t[0..n) (words separated by one space). */
static void features(const char *t, size_t n, double *acc, int dim)
{
    const char *prev = NULL;
    size_t prev_len = 0, i = 0;
    size_t off[NGRAM_MAX_CPS + 3];
    char   padded[4 * NGRAM_MAX_CPS + 2];
    while (i < n) {
        size_t j = i;
        while (j < n && t[j] != ' ') j++;
        const char *w = t + i;
        size_t wl = j - i;
        add_feature(acc, dim, fnv_bytes(tag_hash('W'), w, wl), 1.0);
        if (prev) {
            uint64_t h = fnv_bytes(tag_hash('B'), prev, prev_len);
            h = fnv_bytes(h, " ", 1);
            add_feature(acc, dim, fnv_bytes(h, w, wl), 0.75);
        }
        /* "<word>" with code point offsets; the word is valid UTF-8. */
        size_t ncp = 0, pl = 0;
        padded[pl] = '<';
        off[ncp++] = pl++;
        for (size_t k = 0; k < wl && ncp <= NGRAM_MAX_CPS;) {
            int len = cc_utf8_decode(w + k, wl - k, NULL);
            if (len <= 0) len = 1;          /* cannot happen: normalised text */
            off[ncp++] = pl;
            memcpy(padded + pl, w + k, (size_t)len);
            pl += (size_t)len;
            k += (size_t)len;
        }
        off[ncp++] = pl;
        padded[pl++] = '>';
        off[ncp] = pl;                        /* end sentinel */
        for (size_t g = 3; g <= 5; g++)
            for (size_t s = 0; s + g <= ncp; s++)
                add_feature(acc, dim,
                            fnv_bytes(tag_hash('C'), padded + off[s], off[s + g] - off[s]),
                            0.5);
        prev = w;
        prev_len = wl;
        i = j + 1;
    }
}

/* ---------------------------------------------------------------- backend */

typedef struct hash_ctx {
    int  dim;
    char identity[48];
} hash_ctx;

static int hash_dim(void *ctx) { return ((hash_ctx *)ctx)->dim; }
static const char *hash_identity(void *ctx) { return ((hash_ctx *)ctx)->identity; }
static void hash_free(void *ctx) { free(ctx); }

static cc_status hash_embed(void *ctx_, const char *const *texts, const size_t *lens,
                            size_t n, float *out)
{
    hash_ctx *ctx = ctx_;
    int dim = ctx->dim;
    double *acc = malloc((size_t)dim * sizeof *acc);
    if (!acc) return cc_seterr(CC_NOMEM, "out of memory (hash embedder)");
    cc_buf norm = CC_BUF_INIT(2 * TEXT_MAX_BYTES);
    cc_status s = CC_OK;
    for (size_t t = 0; t < n; t++) {
        if (lens[t] > TEXT_MAX_BYTES) {
            s = cc_seterr(CC_TOOBIG, "text %zu is %zu bytes; the hash embedder takes at most %zu",
                          t, lens[t], TEXT_MAX_BYTES);
            break;
        }
        cc_buf_reset(&norm);
        if ((s = cr_hash_normalize(texts[t], lens[t], &norm)) != CC_OK) {
            cc_seterr(s, "out of memory normalising text %zu", t);
            break;
        }
        memset(acc, 0, (size_t)dim * sizeof *acc);
        features(norm.data, norm.len, acc, dim);
        double ss = 0;
        for (int d = 0; d < dim; d++) ss += acc[d] * acc[d];
        float *v = out + t * (size_t)dim;
        if (ss > 0) {
            double inv = 1.0 / sqrt(ss);
            for (int d = 0; d < dim; d++) v[d] = (float)(acc[d] * inv);
        } else {
            memset(v, 0, (size_t)dim * sizeof *v);
        }
    }
    cc_buf_free(&norm);
    free(acc);
    return s;
}

static const cr_embedder_iface hash_iface = {
    .version  = CR_EMBEDDER_API_VERSION,
    .name     = "hash",
    .embed    = hash_embed,
    .dim      = hash_dim,
    .identity = hash_identity,
    .free_ctx = hash_free,
};

cc_status cr_hash_embedder_ctx(const cr_embedder_opts *opts,
                               const cr_embedder_iface **iface, void **ctx);

cc_status cr_hash_embedder_ctx(const cr_embedder_opts *opts,
                               const cr_embedder_iface **iface, void **ctx)
{
    int dim = opts && opts->dim ? opts->dim : HASH_DIM_DEF;
    if (dim < HASH_DIM_MIN || dim > HASH_DIM_MAX)
        return cc_seterr(CC_INVALID, "hash embedder dimension %d is out of range %d..%d",
                         dim, HASH_DIM_MIN, HASH_DIM_MAX);
    hash_ctx *c = calloc(1, sizeof *c);
    if (!c) return cc_seterr(CC_NOMEM, "out of memory (hash embedder)");
    c->dim = dim;
    snprintf(c->identity, sizeof c->identity, "hash/%d:dim=%d", HASH_VERSION, dim);
    *iface = &hash_iface;
    *ctx = c;
    return CC_OK;
}
