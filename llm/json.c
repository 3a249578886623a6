/* json.c — constrained decoding to a JSON-schema subset: a schema parser
 * (type object / array / string / number / integer / boolean, enum of
 * strings, properties, required, items, maxLength) and a byte-level
 * pushdown matcher that says whether a text can continue a value of the
 * schema. cl_generate uses it to mask, at each step, every token whose text
 * cannot continue the value, and stops when the value is complete.
 * Simplifications, all producing valid instances: object properties come
 * in the schema's order (optional ones may be skipped), keys and enum
 * values may not contain escapes, whitespace runs are at most 8 bytes,
 * numbers at most 24 bytes, nesting at most CL_JSON_DEPTH. Strings are
 * well-formed UTF-8 (raw bytes and \u escapes: surrogates only in pairs),
 * so every complete value is a JSON text cJSON and others read. */
#include "llm_int.h"

#include <stdlib.h>
#include <string.h>

#define MAX_NODES 256
#define MAX_CHOICES 64

enum { N_OBJ, N_ARR, N_STR, N_NUM, N_INT, N_BOOL, N_ENUM };

typedef struct jnode {
    int type;
    int n;              /* properties (object) or values (enum) */
    char **names;       /* property names or enum values */
    int *child;         /* object: node of each property */
    uint64_t required;  /* object: bit i = property i is required */
    int items;          /* array: node of the items */
    int max_len;        /* string: maximum bytes of content, 0 = none */
} jnode;

struct cl_json_schema {
    jnode nodes[MAX_NODES];
    int n_nodes;
};

/* ------------------------------------------------------------ schema parser */

typedef struct jp {
    const char *s, *e;
    cl_json_schema *sc;
    int depth;
} jp;

static void ws(jp *p)
{
    while (p->s < p->e && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) p->s++;
}

static int eat(jp *p, char c)
{
    ws(p);
    if (p->s < p->e && *p->s == c) {
        p->s++;
        return 1;
    }
    return 0;
}

/* Bytes a UTF-8 lead byte c needs after it (-1: not a lead byte), and the
 * range of the first of them (RFC 3629: no overlongs, surrogates or code
 * points past U+10FFFF); the others are 80..BF. */
static int utf8_lead(uint8_t c, uint8_t *lo, uint8_t *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) return 1;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0) *lo = 0xA0;
        if (c == 0xED) *hi = 0x9F;
        return 2;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0) *lo = 0x90;
        if (c == 0xF4) *hi = 0x8F;
        return 3;
    }
    return -1;
}

static int utf8_ok(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = (uint8_t)s[i++], lo, hi;
        int k, need = c < 0x80 ? 0 : utf8_lead(c, &lo, &hi);
        if (need < 0 || (size_t)need > n - i) return 0;
        for (k = 0; k < need; k++, i++, lo = 0x80, hi = 0xBF)
            if ((uint8_t)s[i] < lo || (uint8_t)s[i] > hi) return 0;
    }
    return 1;
}

/* A string without escapes (schema keys, names and enum values): malloc'd. */
static cl_status str(jp *p, char **out)
{
    const char *b;
    *out = NULL;
    if (!eat(p, '"')) return cl_err(CL_ERR_FORMAT, "json schema: expected a string at offset %zu", (size_t)(p->e - p->s));
    for (b = p->s; p->s < p->e && *p->s != '"'; p->s++)
        if (*p->s == '\\' || (unsigned char)*p->s < 0x20)
            return cl_err(CL_ERR_UNSUPPORTED, "json schema: escapes in names and enum values are not supported");
    if (p->s >= p->e) return cl_err(CL_ERR_FORMAT, "json schema: unterminated string");
    if (!utf8_ok(b, (size_t)(p->s - b))) return cl_err(CL_ERR_FORMAT, "json schema: a name or enum value is not UTF-8");
    if (!(*out = malloc((size_t)(p->s - b) + 1))) return cl_err(CL_ERR_NOMEM, "json schema: out of memory");
    memcpy(*out, b, (size_t)(p->s - b));
    (*out)[p->s - b] = 0;
    p->s++;
    return CL_OK;
}

/* Skips any JSON value (escapes allowed). */
static cl_status skip(jp *p)
{
    int depth = 0;
    ws(p);
    do {
        if (p->s >= p->e) return cl_err(CL_ERR_FORMAT, "json schema: truncated");
        if (*p->s == '"') {
            for (p->s++; p->s < p->e && *p->s != '"'; p->s++)
                if (*p->s == '\\' && p->e - p->s > 1) p->s++;
            if (p->s >= p->e) return cl_err(CL_ERR_FORMAT, "json schema: unterminated string");
            p->s++;
        } else if (*p->s == '{' || *p->s == '[') {
            if (++depth > 64) return cl_err(CL_ERR_FORMAT, "json schema: nested too deeply");
            p->s++;
        } else if (*p->s == '}' || *p->s == ']') {
            depth--;
            p->s++;
        } else
            p->s++;
        ws(p);
    } while (depth > 0 || (p->s < p->e && *p->s != ',' && *p->s != '}' && *p->s != ']'));
    return CL_OK;
}

static cl_status node(jp *p, int *out);

static cl_status str_array(jp *p, char ***names, int *n)
{
    cl_status s;
    if (!eat(p, '[')) return cl_err(CL_ERR_FORMAT, "json schema: expected an array of strings");
    if (eat(p, ']')) return CL_OK;
    do {
        char **nn;
        if (*n >= MAX_CHOICES) return cl_err(CL_ERR_UNSUPPORTED, "json schema: more than %d values", MAX_CHOICES);
        if (!(nn = realloc(*names, (size_t)(*n + 1) * sizeof *nn))) return cl_err(CL_ERR_NOMEM, "json schema: out of memory");
        *names = nn;
        if ((s = str(p, &nn[*n]))) return s;
        (*n)++;
    } while (eat(p, ','));
    if (!eat(p, ']')) return cl_err(CL_ERR_FORMAT, "json schema: expected ] after the strings");
    return CL_OK;
}

static cl_status node(jp *p, int *out)
{
    cl_json_schema *sc = p->sc;
    jnode *nd;
    char *type = NULL, **req = NULL;
    int n_req = 0, idx, i, k;
    cl_status s = CL_OK;
    if (sc->n_nodes >= MAX_NODES) return cl_err(CL_ERR_UNSUPPORTED, "json schema: more than %d nodes", MAX_NODES);
    if (++p->depth > CL_JSON_DEPTH) return cl_err(CL_ERR_UNSUPPORTED, "json schema: nested more than %d deep", CL_JSON_DEPTH);
    idx = *out = sc->n_nodes++;
    nd = &sc->nodes[idx];
    nd->type = -1;
    nd->items = -1;
    if (!eat(p, '{')) return cl_err(CL_ERR_FORMAT, "json schema: a schema must be an object");
    if (!eat(p, '}')) {
        do {
            char *key = NULL;
            if ((s = str(p, &key))) break;
            if (!eat(p, ':')) {
                free(key);
                s = cl_err(CL_ERR_FORMAT, "json schema: expected : after \"%s\"", key ? "key" : "");
                break;
            }
            ws(p);
            if (!strcmp(key, "type")) {
                free(type); /* a repeated "type": the last one counts */
                type = NULL;
                if (p->s < p->e && *p->s != '"')
                    s = cl_err(CL_ERR_UNSUPPORTED, "json schema: \"type\" must be one string (type lists are not supported)");
                else
                    s = str(p, &type);
            } else if (!strcmp(key, "properties")) {
                if (nd->type == N_ENUM)
                    s = cl_err(CL_ERR_UNSUPPORTED, "json schema: \"enum\" and \"properties\" in one schema are not supported");
                else if (!eat(p, '{')) s = cl_err(CL_ERR_FORMAT, "json schema: \"properties\" must be an object");
                else if (!eat(p, '}')) {
                    do {
                        char **nn;
                        int *nc, ch;
                        if (nd->n >= MAX_CHOICES) {
                            s = cl_err(CL_ERR_UNSUPPORTED, "json schema: more than %d properties", MAX_CHOICES);
                            break;
                        }
                        if (!(nn = realloc(nd->names, (size_t)(nd->n + 1) * sizeof *nn))) { s = CL_ERR_NOMEM; break; }
                        nd->names = nn;
                        if (!(nc = realloc(nd->child, (size_t)(nd->n + 1) * sizeof *nc))) { s = CL_ERR_NOMEM; break; }
                        nd->child = nc;
                        if ((s = str(p, &nn[nd->n]))) break;
                        nd->n++;
                        if (!eat(p, ':')) { s = cl_err(CL_ERR_FORMAT, "json schema: expected : after a property name"); break; }
                        if ((s = node(p, &ch))) break;
                        nd = &sc->nodes[idx];
                        nd->child[nd->n - 1] = ch;
                    } while (eat(p, ','));
                    if (!s && !eat(p, '}')) s = cl_err(CL_ERR_FORMAT, "json schema: expected } after the properties");
                    if (s == CL_ERR_NOMEM) s = cl_err(CL_ERR_NOMEM, "json schema: out of memory");
                }
            } else if (!strcmp(key, "required")) {
                s = str_array(p, &req, &n_req);
            } else if (!strcmp(key, "enum")) {
                if (nd->n && nd->type != N_ENUM)
                    s = cl_err(CL_ERR_UNSUPPORTED, "json schema: \"enum\" and \"properties\" in one schema are not supported");
                else if (!(s = str_array(p, &nd->names, &nd->n)) && !nd->n)
                    s = cl_err(CL_ERR_UNSUPPORTED, "json schema: an empty \"enum\" has no value");
                if (!s) nd->type = N_ENUM;
            } else if (!strcmp(key, "items")) {
                int ch = -1;
                s = node(p, &ch);
                sc->nodes[idx].items = ch;
            } else if (!strcmp(key, "maxLength")) {
                long v = 0; /* digits only: the schema text is not NUL-terminated */
                const char *d = p->s;
                while (d < p->e && *d >= '0' && *d <= '9' && v <= 65536) v = v * 10 + (*d++ - '0');
                if (d == p->s || v < 1 || v > 65536) s = cl_err(CL_ERR_FORMAT, "json schema: maxLength must be 1..65536");
                else p->s = d;
                nd->max_len = (int)v;
            } else {
                s = skip(p); /* description, title, ... */
            }
            free(key);
        } while (!s && eat(p, ','));
        if (!s && !eat(p, '}')) s = cl_err(CL_ERR_FORMAT, "json schema: expected } or , in a schema object");
    }
    nd = &sc->nodes[idx];
    if (!s && nd->type != N_ENUM) {
        static const char *const names[] = {"object", "array", "string", "number", "integer", "boolean"};
        for (i = 0; type && i < 6; i++)
            if (!strcmp(type, names[i])) nd->type = i;
        if (nd->type < 0)
            s = cl_err(CL_ERR_UNSUPPORTED, "json schema: type '%s' is not supported (object, array, string, number, "
                       "integer, boolean, or an enum of strings)", type ? type : "(none)");
        else if (nd->type == N_ARR && nd->items < 0)
            s = cl_err(CL_ERR_UNSUPPORTED, "json schema: an array needs \"items\"");
    }
    for (i = 0; !s && i < n_req; i++) {
        for (k = 0; k < nd->n && strcmp(nd->names[k], req[i]); k++) {}
        if (nd->type != N_OBJ || k == nd->n)
            s = cl_err(CL_ERR_FORMAT, "json schema: required key '%s' is not among the properties", req[i]);
        else
            nd->required |= 1ull << k;
    }
    for (i = 0; i < n_req; i++) free(req[i]);
    free(req);
    free(type);
    p->depth--;
    return s;
}

void cl_json_schema_free(cl_json_schema *sc)
{
    int i, k;
    if (!sc) return;
    for (i = 0; i < sc->n_nodes; i++) {
        for (k = 0; k < sc->nodes[i].n; k++) free(sc->nodes[i].names[k]);
        free(sc->nodes[i].names);
        free(sc->nodes[i].child);
    }
    free(sc);
}

cl_status cl_json_schema_parse(const char *json, size_t len, cl_json_schema **out)
{
    jp p;
    int root;
    cl_status s;
    *out = NULL;
    if (!(p.sc = calloc(1, sizeof *p.sc))) return cl_err(CL_ERR_NOMEM, "json schema: out of memory");
    p.s = json;
    p.e = json + len;
    p.depth = 0;
    if (!(s = node(&p, &root))) {
        ws(&p);
        if (p.s != p.e) s = cl_err(CL_ERR_FORMAT, "json schema: text after the schema");
    }
    if (s) {
        cl_json_schema_free(p.sc);
        return s;
    }
    *out = p.sc;
    return CL_OK;
}

/* ------------------------------------------------------------ matcher */

enum { F_VALUE, F_OBJ, F_ARR, F_STR, F_LIT, F_NUM };
enum { O_OPEN, O_KEY, O_COLON, O_AFTER }; /* object phases: after {, after a comma, after a key, after a value */
enum { A_OPEN, A_AFTER };
/* string phases: S_UTF8 inside a multi-byte character (idx bytes to come,
 * the next in alive's bytes 0..1 as lo, hi); S_HEX in a \u escape (idx digits
 * read, their value in alive, bit 16 when it must be a low surrogate);
 * S_LOW_BS, S_LOW_U: after a high surrogate, expecting its low one. */
enum { S_NORM, S_ESC, S_HEX, S_UTF8, S_LOW_BS, S_LOW_U };
enum { M_SIGN, M_ZERO, M_INT, M_DOT, M_FRAC, M_E, M_ESIGN, M_EXP }; /* number phases */

void cl_json_state_init(cl_json_state *st, const cl_json_schema *sc)
{
    memset(st, 0, sizeof *st);
    st->sc = sc;
    st->depth = 1;
    st->f[0].kind = F_VALUE;
    st->f[0].node = 0;
}

static int is_ws(uint8_t c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* Keys that may come next in object frame f: properties idx.. up to and
 * including the first required one. */
static uint64_t next_keys(const jnode *nd, int idx)
{
    uint64_t m = 0;
    int i;
    for (i = idx; i < nd->n; i++) {
        m |= 1ull << i;
        if (nd->required >> i & 1) break;
    }
    return m;
}

static int required_left(const jnode *nd, int idx) { return idx < 64 && (nd->required >> idx) != 0; }

static int push(cl_json_state *st, int kind, int node)
{
    cl_json_frame *f;
    if (st->depth >= CL_JSON_DEPTH) return 0;
    f = &st->f[st->depth++];
    memset(f, 0, sizeof *f);
    f->kind = (uint8_t)kind;
    f->node = (uint16_t)node;
    return 1;
}

static int num_done(int ph) { return ph == M_ZERO || ph == M_INT || ph == M_FRAC || ph == M_EXP; }

int cl_json_feed(cl_json_state *st, const uint8_t *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        uint8_t c = s[i];
        cl_json_frame *f;
        const jnode *nd;
    again:
        if (!st->depth) return 0; /* complete: nothing may follow */
        f = &st->f[st->depth - 1];
        nd = &st->sc->nodes[f->node];
        if (f->kind != F_STR && f->kind != F_LIT && f->kind != F_NUM) {
            if (is_ws(c)) {
                if (++st->ws_run > 8) return 0;
                continue;
            }
            st->ws_run = 0;
        }
        switch (f->kind) {
        case F_VALUE:
            switch (nd->type) {
            case N_OBJ: if (c != '{') return 0; f->kind = F_OBJ; f->phase = O_OPEN; break;
            case N_ARR: if (c != '[') return 0; f->kind = F_ARR; f->phase = A_OPEN; break;
            case N_STR: if (c != '"') return 0; f->kind = F_STR; f->phase = S_NORM; break;
            case N_ENUM: if (c != '"') return 0; f->kind = F_LIT; f->alive = nd->n >= 64 ? ~0ull : (1ull << nd->n) - 1; f->quoted = 1; break;
            case N_BOOL: f->kind = F_LIT; f->alive = 3; f->quoted = 0; goto again;
            default: /* number / integer */
                if (c == '-') f->phase = M_SIGN;
                else if (c == '0') f->phase = M_ZERO;
                else if (c >= '1' && c <= '9') f->phase = M_INT;
                else return 0;
                f->kind = F_NUM;
                f->pos = 1;
            }
            break;
        case F_OBJ:
            if (f->phase == O_OPEN || f->phase == O_KEY) {
                if (c == '}' && f->phase == O_OPEN && !required_left(nd, f->idx)) { st->depth--; break; }
                if (c != '"' || f->idx >= nd->n) return 0;
                if (!push(st, F_LIT, f->node)) return 0;
                st->f[st->depth - 1].alive = next_keys(nd, f->idx);
                st->f[st->depth - 1].quoted = 2; /* a key of the parent object */
            } else if (f->phase == O_COLON) {
                if (c != ':') return 0;
                f->phase = O_AFTER;
                if (!push(st, F_VALUE, nd->child[f->pos])) return 0;
            } else {
                if (c == ',' && f->idx < nd->n) f->phase = O_KEY;
                else if (c == '}' && !required_left(nd, f->idx)) st->depth--;
                else return 0;
            }
            break;
        case F_ARR:
            if (c == ']') { st->depth--; break; }
            if ((f->phase == A_AFTER) != (c == ',')) return 0; /* a comma exactly between items */
            f->phase = A_AFTER;
            if (!push(st, F_VALUE, nd->items)) return 0;
            if (c != ',') goto again;
            break;
        case F_STR:
            if (f->phase == S_NORM) { /* the common case first: the mask feeds every token from here */
                uint8_t lo, hi;
                int need;
                if (c == '"') {
                    st->depth--;
                    break;
                }
                /* maxLength counts bytes (never fewer than characters); a
                 * character is taken only when all its bytes fit */
                need = c < 0x80 ? 0 : utf8_lead(c, &lo, &hi);
                if (c < 0x20 || need < 0 || (nd->max_len && f->pos + 1 + (uint32_t)need > (uint32_t)nd->max_len))
                    return 0;
                f->pos += 1 + (uint32_t)need;
                if (c == '\\') f->phase = S_ESC;
                if (need > 0) {
                    f->phase = S_UTF8;
                    f->idx = (uint16_t)need;
                    f->alive = lo | (uint64_t)hi << 8;
                }
            } else if (f->phase == S_UTF8) {
                if (c < (f->alive & 0xFF) || c > (f->alive >> 8 & 0xFF)) return 0;
                f->alive = 0x80 | 0xBF << 8;
                if (--f->idx == 0) f->phase = S_NORM;
            } else if (f->phase == S_ESC) {
                if (c == 'u') { f->phase = S_HEX; f->idx = 0; f->alive = 0; }
                else if (strchr("\"\\/bfnrt", c) && c) f->phase = S_NORM;
                else return 0;
            } else if (f->phase == S_HEX) {
                int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                int low = (int)(f->alive >> 16 & 1);
                uint64_t v;
                if (h < 0) return 0;
                v = (f->alive & 0xFFFF) << 4 | (uint64_t)h;
                /* surrogates: a high one (D800..DBFF) only before a low one */
                if (f->idx == 0 && low && h != 0xD) return 0;
                if (f->idx == 1 && (v >> 4) == 0xD && (low ? h < 0xC : h >= 0xC)) return 0;
                f->alive = (f->alive & ~0xFFFFull) | v;
                if (++f->idx == 4) f->phase = !low && v >= 0xD800 && v <= 0xDBFF ? S_LOW_BS : S_NORM;
            } else if (f->phase == S_LOW_BS) {
                if (c != '\\') return 0;
                f->phase = S_LOW_U;
            } else { /* S_LOW_U */
                if (c != 'u') return 0;
                f->phase = S_HEX;
                f->idx = 0;
                f->alive = 1ull << 16;
            }
            break;
        case F_LIT: {
            static const char *const bools[] = {"true", "false"};
            uint64_t keep = 0;
            int k, done = -1;
            for (k = 0; k < 64; k++) {
                const char *cand;
                if (!(f->alive >> k & 1)) continue;
                cand = f->quoted ? nd->names[k] : bools[k];
                if (f->quoted && c == '"' && (size_t)f->pos == strlen(cand) && done < 0) done = k;
                if ((size_t)f->pos < strlen(cand) && (uint8_t)cand[f->pos] == c) keep |= 1ull << k;
            }
            if (done >= 0) { /* closing quote of a key or enum value */
                int key = f->quoted == 2;
                st->depth--;
                if (key) {
                    cl_json_frame *o = &st->f[st->depth - 1];
                    o->idx = (uint16_t)(done + 1);
                    o->pos = (uint16_t)done;
                    o->phase = O_COLON;
                }
                break;
            }
            if (!keep) return 0;
            f->alive = keep;
            f->pos++;
            if (!f->quoted) /* true / false: complete when a candidate ends */
                for (k = 0; k < 2; k++)
                    if ((keep >> k & 1) && (size_t)f->pos == strlen(bools[k])) st->depth--;
            break;
        }
        case F_NUM: {
            int ph = f->phase, isint = nd->type == N_INT;
            int dig = c >= '0' && c <= '9';
            if (f->pos >= 24 && (dig || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) return 0;
            if (dig) {
                if (ph == M_ZERO) return 0;
                f->phase = ph == M_SIGN ? (c == '0' ? M_ZERO : M_INT) : ph == M_DOT ? M_FRAC
                         : (ph == M_E || ph == M_ESIGN) ? M_EXP : ph;
            } else if (c == '.' && !isint && (ph == M_ZERO || ph == M_INT)) f->phase = M_DOT;
            else if ((c == 'e' || c == 'E') && !isint && (ph == M_ZERO || ph == M_INT || ph == M_FRAC)) f->phase = M_E;
            else if ((c == '+' || c == '-') && ph == M_E) f->phase = M_ESIGN;
            else if (num_done(ph)) { st->depth--; goto again; } /* the number ended: c belongs to the parent */
            else return 0;
            if (f->pos + 1 >= 24 && !num_done(f->phase)) return 0; /* the last byte must leave a number */
            f->pos++;
            break;
        }
        }
    }
    return 1;
}

int cl_json_complete(const cl_json_state *st)
{
    return st->depth == 0 || (st->depth == 1 && st->f[0].kind == F_NUM && num_done(st->f[0].phase));
}
