/* resolve.c — entity normalisation and in-chunk resolution: resolution
 * keys (folding, suffix stripping), acronym ↔ expansion matching, and the
 * grouping of one extraction's mentions into entities with aliases.
 * Pure functions: nothing here touches the catalog. */
#include "graph_int.h"

#include <string.h>

static const char *const legal_suffixes[] = {
    "inc", "incorporated", "ltd", "limited", "gmbh", "corp", "corporation", "llc", "llp",
    "ag", "sa", "plc", "nv", "bv", "co", "kg", "kgaa", "se", "oy", "oyj", "ab", "asa", "as",
    "spa", "srl", "sarl", "sas", "pty", "pte", "bhd", "lp", "ulc", "sl", "sro", "zrt", "kk"
};

static int is_suffix_word(const char *w, size_t n)
{
    size_t i;
    for (i = 0; i < sizeof legal_suffixes / sizeof legal_suffixes[0]; i++)
        if (strlen(legal_suffixes[i]) == n && !memcmp(legal_suffixes[i], w, n)) return 1;
    return 0;
}

/* Folds s into space-separated lowercase words (no stripping). */
static cc_status fold_words(const char *s, size_t n, cc_buf *out)
{
    size_t i = 0;
    int pend_space = 0;
    cc_status st;
    cc_buf_reset(out);
    while (i < n) {
        uint32_t cp;
        int l = cc_utf8_decode(s + i, n - i, &cp);
        unsigned c;
        char f[2];
        int nf;
        if (l <= 0) return cc_seterr(CC_INVALID, "name is not valid UTF-8 at byte %zu", i);
        i += (size_t)l;
        c = cg_char_class(cp);
        if (c & CG_CH_FORMAT) continue;
        if (cp == '.' || cp == '\'' || cp == 0x2019) continue;     /* "S.A.", "O'Brien" */
        if (!(c & (CG_CH_LETTER | CG_CH_DIGIT))) {
            if (cp == '&' || cp == '+') {
                if (out->len && (st = cc_buf_putc(out, ' '))) return st;
                if ((st = cc_buf_puts(out, "and"))) return st;
            }
            pend_space = 1;
            continue;
        }
        if (pend_space && out->len && (st = cc_buf_putc(out, ' '))) return st;
        pend_space = 0;
        if ((nf = cg_fold_latin(cp, f))) st = cc_buf_append(out, f, (size_t)nf);
        else if (cp < 0x80) st = cc_buf_putc(out, (char)cg_lower(cp));
        else st = cc_buf_put_utf8(out, cg_lower(cp));
        if (st) return st;
    }
    if (!out->data && (st = cc_buf_append(out, "", 0))) return st;
    return CC_OK;
}

cc_status cg_norm_key(const char *s, size_t n, cc_buf *out, int *stripped)
{
    cc_status st;
    size_t start = 0, end;
    if (stripped) *stripped = 0;
    if ((st = fold_words(s, n, out))) return st;
    end = out->len;
    /* leading "the " */
    if (end > 4 && !memcmp(out->data, "the ", 4)) start = 4;
    /* trailing legal suffixes, while a word remains before them */
    for (;;) {
        size_t w = end;
        while (w > start && out->data[w - 1] != ' ') w--;
        if (w <= start) break;                           /* only one word left */
        if (!is_suffix_word(out->data + w, end - w)) break;
        end = w - 1;
        if (stripped) *stripped = 1;
    }
    if (start) memmove(out->data, out->data + start, end - start);
    out->len = end - start;
    out->data[out->len] = 0;
    return CC_OK;
}

int cg_has_legal_suffix(const char *s, size_t n)
{
    cc_buf b = CC_BUF_INIT(4096);
    int stripped = 0;
    if (n > 4096 || cg_norm_key(s, n, &b, &stripped)) stripped = 0;
    cc_buf_free(&b);
    return stripped;
}

/* ---------------------------------------------------------------- acronyms */

static int is_function_word(const char *w, size_t n)
{
    static const char *const fw[] = { "of", "and", "the", "for", "de", "du", "des", "la",
                                      "le", "von", "van", "der", "in", "on", "at", "y", "&" };
    size_t i;
    for (i = 0; i < sizeof fw / sizeof fw[0]; i++)
        if (strlen(fw[i]) == n && !strncmp(fw[i], w, n)) return 1;
    return 0;
}

int cg_acronym_matches(const char *acr, size_t acr_len, const char *name, size_t name_len)
{
    char a[16], all[64], content[64], caps[64];
    size_t na = 0, nall = 0, ncont = 0, ncaps = 0, i = 0;
    if (acr_len < 2 || acr_len > 12 || name_len > 4096) return 0;
    for (i = 0; i < acr_len; i++) {
        char c = acr[i];
        if (c >= 'a' && c <= 'z') c = (char)(c - 32);
        if (c < 'A' || c > 'Z') {
            if (c == '&' || c == '.') continue;
            return 0;
        }
        a[na++] = c;
    }
    if (na < 2) return 0;
    i = 0;
    while (i < name_len) {
        size_t w0, w1;
        uint32_t cp;
        int l;
        /* skip separators */
        while (i < name_len) {
            l = cc_utf8_decode(name + i, name_len - i, &cp);
            if (l <= 0) return 0;
            if (cg_char_class(cp) & (CG_CH_LETTER | CG_CH_DIGIT)) break;
            if (cp == '&' && nall < 63) all[nall++] = 'A';   /* "&" reads as "and" */
            i += (size_t)l;
        }
        if (i >= name_len) break;
        w0 = i;
        {
            int first = 1;
            char f[2];
            while (i < name_len) {
                l = cc_utf8_decode(name + i, name_len - i, &cp);
                if (l <= 0) return 0;
                if (!(cg_char_class(cp) & (CG_CH_LETTER | CG_CH_DIGIT)) && cp != '-') break;
                if (cg_char_class(cp) & CG_CH_UPPER) {
                    char u = cp < 0x80 ? (char)cp : (cg_fold_latin(cp, f) ? (char)(f[0] - 32) : '?');
                    if (ncaps < 63) caps[ncaps++] = u;
                }
                if (first) {
                    char u = cp < 0x80 ? (char)cp : (cg_fold_latin(cp, f) ? f[0] : '?');
                    if (u >= 'a' && u <= 'z') u = (char)(u - 32);
                    if (nall < 63) all[nall++] = u;
                    first = 0;
                }
                i += (size_t)l;
            }
        }
        w1 = i;
        if (!is_function_word(name + w0, w1 - w0) && nall > 0 && ncont < 63)
            content[ncont++] = all[nall - 1];
        {   /* function words never count as capitals ("Bank of America": BA) */
            char low = name[w0];
            (void)low;
        }
    }
    if ((nall == na && !memcmp(all, a, na)) || (ncont == na && !memcmp(content, a, na)) ||
        (ncaps == na && !memcmp(caps, a, na)))
        return 1;
    return 0;
}

/* ---------------------------------------------------------------- resolution */

const char *cg_alias_source_str(cg_alias_source s)
{
    switch (s) {
    case CG_ALIAS_ACRONYM: return "acronym";
    case CG_ALIAS_APPOSITION: return "apposition";
    case CG_ALIAS_SUFFIX: return "suffix";
    default: return "label";
    }
}

void cg_resolution_free(cg_resolution *r)
{
    size_t i, k;
    if (!r) return;
    for (i = 0; i < r->n_entities; i++) {
        cg_entity *e = &r->entities[i];
        free(e->key);
        free(e->label);
        for (k = 0; k < e->n_aliases; k++) { free(e->aliases[k].alias); free(e->aliases[k].norm); }
        free(e->aliases);
    }
    free(r->entities);
    free(r->entity_of);
    if (r->key_of)
        for (i = 0; i < r->n_mentions; i++) free(r->key_of[i]);
    free(r->key_of);
    memset(r, 0, sizeof *r);
}

static size_t uf_find(size_t *p, size_t i)
{
    while (p[i] != i) { p[i] = p[p[i]]; i = p[i]; }
    return i;
}

static void uf_union(size_t *p, size_t a, size_t b)
{
    a = uf_find(p, a);
    b = uf_find(p, b);
    if (a != b) { if (a < b) p[b] = a; else p[a] = b; }
}

static uint64_t hash64(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s) { h ^= (unsigned char)*s++; h *= 1099511628211ull; }
    return h ? h : 1;
}

/* type preference: a specific type beats "other" */
static int better_type(const cg_mention *a, const cg_mention *b)
{
    if (a->type != CG_TYPE_OTHER && b->type == CG_TYPE_OTHER) return 1;
    if (a->type == CG_TYPE_OTHER && b->type != CG_TYPE_OTHER) return 0;
    return a->confidence > b->confidence;
}

cc_status cg_resolve(const cg_extraction *x, cg_resolution *out)
{
    size_t n = x->n_mentions, i, k, cap = 64;
    char **keys = NULL;
    unsigned char *stripped = NULL, *apposed = NULL;
    size_t *parent = NULL, *root_ent = NULL;
    struct { uint64_t h; size_t m; } *tab = NULL;
    cc_buf b = CC_BUF_INIT(1 << 20);
    cc_status st = CC_OK;
    memset(out, 0, sizeof *out);
    if (!n) return CC_OK;
    keys = calloc(n, sizeof *keys);
    stripped = calloc(n, 1);
    apposed = calloc(n, 1);
    parent = malloc(n * sizeof *parent);
    root_ent = malloc(n * sizeof *root_ent);
    while (cap < n * 2 + 2) cap *= 2;
    tab = calloc(cap, sizeof *tab);
    out->entity_of = malloc(n * sizeof *out->entity_of);
    if (!keys || !stripped || !apposed || !parent || !root_ent || !tab || !out->entity_of)
        goto nomem;
    out->n_mentions = n;
    for (i = 0; i < n; i++) {
        int sp = 0;
        const cg_mention *m = &x->mentions[i];
        parent[i] = i;
        root_ent[i] = SIZE_MAX;
        if ((st = cg_norm_key(m->surface, strlen(m->surface), &b, &sp))) goto fail;
        stripped[i] = (unsigned char)sp;
        if (!(keys[i] = cc_strdup(b.data ? b.data : ""))) goto nomem;
    }
    /* same key (names and concepts apart; values by value) */
    for (i = 0; i < n; i++) {
        uint64_t h = hash64(keys[i]) ^ (x->mentions[i].flags & CG_MF_CONCEPT ? 0x9e37u : 0);
        for (k = h & (cap - 1); tab[k].h; k = (k + 1) & (cap - 1))
            if (tab[k].h == h && !strcmp(keys[tab[k].m], keys[i]) &&
                (x->mentions[tab[k].m].flags & CG_MF_CONCEPT) == (x->mentions[i].flags & CG_MF_CONCEPT))
                break;
        if (tab[k].h) uf_union(parent, tab[k].m, i);
        else { tab[k].h = h; tab[k].m = i; }
    }
    /* declared acronyms and appositive aliases */
    for (i = 0; i < x->n_relations; i++) {
        const cg_relation *r = &x->relations[i];
        if (r->subj >= n || r->obj >= n) continue;
        if (!strcmp(r->predicate, "acronym_of") || !strcmp(r->predicate, "alias_of")) {
            uf_union(parent, r->subj, r->obj);
            if (r->predicate[1] == 'l') apposed[r->obj] = 1;
        }
    }
    /* undeclared acronyms whose initials match a name in the same chunk */
    for (i = 0; i < n; i++) {
        const cg_mention *a = &x->mentions[i];
        size_t tries = 0;
        if (!(a->flags & CG_MF_ACRONYM)) continue;
        for (k = 0; k < n && tries < 4096; k++) {
            const cg_mention *m = &x->mentions[k];
            if (k == i || (m->flags & (CG_MF_ACRONYM | CG_MF_VALUE | CG_MF_CONCEPT))) continue;
            /* identifiers ("VCAA-2023-0412") expand no acronym */
            if (strpbrk(m->surface, "0123456789")) continue;
            tries++;
            if (cg_acronym_matches(a->surface, strlen(a->surface), m->surface, strlen(m->surface))) {
                uf_union(parent, i, k);
                break;
            }
        }
    }
    /* one entity per root */
    for (i = 0; i < n; i++) {
        size_t r = uf_find(parent, i);
        cg_entity *e;
        if (root_ent[r] == SIZE_MAX) {
            if (out->n_entities % 64 == 0) {
                cg_entity *p = realloc(out->entities, (out->n_entities + 64) * sizeof *p);
                if (!p) goto nomem;
                out->entities = p;
            }
            e = &out->entities[out->n_entities];
            memset(e, 0, sizeof *e);
            root_ent[r] = out->n_entities++;
        }
        out->entity_of[i] = root_ent[r];
    }
    /* label: the longest non-acronym surface; type: the best evidence */
    {
        size_t *best = malloc(out->n_entities * sizeof *best), *tb = malloc(out->n_entities * sizeof *tb);
        if (!best || !tb) { free(best); free(tb); goto nomem; }
        for (i = 0; i < out->n_entities; i++) best[i] = tb[i] = SIZE_MAX;
        for (i = 0; i < n; i++) {
            size_t e = out->entity_of[i];
            const cg_mention *m = &x->mentions[i];
            if (best[e] == SIZE_MAX) best[e] = i;
            else {
                const cg_mention *c = &x->mentions[best[e]];
                int ma = !(m->flags & CG_MF_ACRONYM), ca = !(c->flags & CG_MF_ACRONYM);
                if ((ma && !ca) || (ma == ca && strlen(m->surface) > strlen(c->surface))) best[e] = i;
            }
            if (tb[e] == SIZE_MAX || better_type(m, &x->mentions[tb[e]])) tb[e] = i;
            out->entities[e].flags |= m->flags;
        }
        for (i = 0; i < out->n_entities; i++) {
            cg_entity *e = &out->entities[i];
            e->label = cc_strdup(x->mentions[best[i]].surface);
            e->key = cc_strdup(keys[best[i]]);
            e->type = x->mentions[tb[i]].type;
            if (!e->label || !e->key) { free(best); free(tb); goto nomem; }
        }
        free(best);
        free(tb);
    }
    /* aliases: one per distinct norm */
    for (i = 0; i < n; i++) {
        cg_entity *e = &out->entities[out->entity_of[i]];
        const cg_mention *m = &x->mentions[i];
        cg_alias *a;
        int dup = 0;
        for (k = 0; k < e->n_aliases && !dup; k++)
            if (!strcmp(e->aliases[k].norm, keys[i])) dup = 1;
        if (dup) continue;
        if (e->n_aliases % 8 == 0) {
            cg_alias *p = realloc(e->aliases, (e->n_aliases + 8) * sizeof *p);
            if (!p) goto nomem;
            e->aliases = p;
        }
        a = &e->aliases[e->n_aliases];
        a->alias = cc_strdup(m->surface);
        a->norm = cc_strdup(keys[i]);
        if (!a->alias || !a->norm) { free(a->alias); free(a->norm); goto nomem; }
        a->source = (m->flags & CG_MF_ACRONYM) && strcmp(keys[i], e->key) ? CG_ALIAS_ACRONYM
                  : apposed[i] && strcmp(keys[i], e->key) ? CG_ALIAS_APPOSITION
                  : stripped[i] ? CG_ALIAS_SUFFIX : CG_ALIAS_LABEL;
        e->n_aliases++;
    }
    out->key_of = keys;      /* handed over */
    keys = NULL;
    goto done;
nomem:
    st = CC_NOMEM;
fail:
    cg_resolution_free(out);
done:
    if (keys) for (i = 0; i < n; i++) free(keys[i]);
    free(keys); free(stripped); free(apposed); free(parent); free(root_ent); free(tab);
    cc_buf_free(&b);
    return st;
}
