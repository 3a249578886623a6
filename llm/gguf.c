/* gguf.c — GGUF v2/v3 reader over mmap.
 *
 * On-disk layout (little-endian):
 *   "GGUF" u32 version u64 n_tensors u64 n_kv
 *   n_kv x { string key; u32 type; value }
 *       string = u64 len, len bytes (no NUL)
 *       array  = u32 elem_type, u64 n, n values (arrays may nest)
 *   n_tensors x { string name; u32 n_dims; u64 ne[n_dims]; u32 type; u64 offset }
 *   padding to general.alignment (default 32)
 *   data section: tensor i at data_offset + offset_i (a multiple of alignment)
 *
 * Nothing is trusted: every length and count is checked against the bytes
 * left before it is used or allocated for, shapes are multiplied with
 * overflow checks, and tensor data must lie inside the file.
 */
#include "llm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 8

typedef struct arrdesc {
    cl_gguf_type type;
    uint64_t n;
    const uint8_t *p;   /* first element */
    uint64_t off0;      /* index into g->offs of element offsets (STRING/ARRAY) */
    uint64_t child0;    /* index into g->childs of child desc ids (ARRAY) */
} arrdesc;

typedef struct kv {
    char *key;
    cl_gguf_type type;
    const uint8_t *v;   /* value bytes (for STRING: the u64 length) */
    int64_t desc;       /* ARRAY: descriptor id */
} kv;

struct cl_gguf {
    const uint8_t *base;
    size_t size;
    int mapped;
    uint32_t version;
    size_t alignment;
    uint64_t data_offset;
    int64_t n_kv, n_tensors;
    kv *kvs;
    cl_tensor *tensors;
    arrdesc *descs; size_t n_descs, cap_descs;
    uint64_t *offs; size_t n_offs, cap_offs;
    int64_t *childs; size_t n_childs, cap_childs;
    char *strs;   /* NUL-terminated copies of string values, by kv */
    char **kvstr;
};

typedef struct rd {
    const uint8_t *b;
    size_t size, pos;
} rd;

static const size_t scalar_size[CL_GGUF_TYPE_COUNT] = {
    1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8
};

static const char *gtype_name(uint32_t t)
{
    static const char *n[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                              "bool", "string", "array", "uint64", "int64", "float64"};
    return t < CL_GGUF_TYPE_COUNT ? n[t] : "?";
}

static cl_status need(const rd *r, uint64_t n, const char *what)
{
    if (n > r->size - r->pos)
        return cl_err(CL_ERR_FORMAT, "gguf: truncated at byte %zu reading %s (%llu bytes needed, %zu left)",
                      r->pos, what, (unsigned long long)n, r->size - r->pos);
    return CL_OK;
}

static cl_status rd_u32(rd *r, uint32_t *v, const char *what)
{
    cl_status s = need(r, 4, what);
    if (s) return s;
    *v = cl_ld32(r->b + r->pos);
    r->pos += 4;
    return CL_OK;
}

static cl_status rd_u64(rd *r, uint64_t *v, const char *what)
{
    cl_status s = need(r, 8, what);
    if (s) return s;
    *v = cl_ld64(r->b + r->pos);
    r->pos += 8;
    return CL_OK;
}

/* A string: returns pointer and length inside the mapping. */
static cl_status rd_str(rd *r, const uint8_t **p, uint64_t *len, const char *what)
{
    cl_status s = rd_u64(r, len, what);
    if (s) return s;
    if ((s = need(r, *len, what))) return s;
    *p = r->b + r->pos;
    r->pos += (size_t)*len;
    return CL_OK;
}

static cl_status grow(void **p, size_t *cap, size_t need_n, size_t elem)
{
    size_t nc;
    void *np;
    if (need_n <= *cap) return CL_OK;
    nc = *cap ? *cap : 16;
    while (nc < need_n) {
        if (nc > SIZE_MAX / 2 / elem) return cl_err(CL_ERR_NOMEM, "gguf: table too large");
        nc *= 2;
    }
    np = realloc(*p, nc * elem);
    if (!np) return cl_err(CL_ERR_NOMEM, "gguf: out of memory");
    *p = np;
    *cap = nc;
    return CL_OK;
}

/* Parse one array at r (after the KV type). Records a descriptor, returns its id. */
static cl_status parse_array(cl_gguf *g, rd *r, int depth, int64_t *id_out)
{
    uint32_t et;
    uint64_t n, i, off0 = 0, child0 = 0;
    size_t start, id;
    cl_status s;

    if (depth > MAX_DEPTH)
        return cl_err(CL_ERR_FORMAT, "gguf: arrays nested deeper than %d at byte %zu", MAX_DEPTH, r->pos);
    if ((s = rd_u32(r, &et, "array element type"))) return s;
    if (et >= CL_GGUF_TYPE_COUNT)
        return cl_err(CL_ERR_FORMAT, "gguf: bad array element type %u at byte %zu", et, r->pos - 4);
    if ((s = rd_u64(r, &n, "array length"))) return s;
    start = r->pos;
    if (et != CL_GGUF_STRING && et != CL_GGUF_ARRAY) {
        if (n > (r->size - r->pos) / scalar_size[et])
            return cl_err(CL_ERR_FORMAT, "gguf: array of %llu %s values at byte %zu runs past the end of the file",
                          (unsigned long long)n, gtype_name(et), start);
        r->pos += (size_t)n * scalar_size[et];
    } else {
        /* every string element is at least 8 bytes, every array at least 12 */
        size_t min = et == CL_GGUF_STRING ? 8 : 12;
        if (n > (r->size - r->pos) / min)
            return cl_err(CL_ERR_FORMAT, "gguf: array of %llu %s values at byte %zu runs past the end of the file",
                          (unsigned long long)n, gtype_name(et), start);
        off0 = g->n_offs;
        if ((s = grow((void **)&g->offs, &g->cap_offs, g->n_offs + n, sizeof *g->offs))) return s;
        g->n_offs += n;
        if (et == CL_GGUF_ARRAY) {
            child0 = g->n_childs;
            if ((s = grow((void **)&g->childs, &g->cap_childs, g->n_childs + n, sizeof *g->childs)))
                return s;
            g->n_childs += n;
        }
        for (i = 0; i < n; i++) {
            g->offs[off0 + i] = r->pos - start;
            if (et == CL_GGUF_STRING) {
                const uint8_t *p;
                uint64_t len;
                if ((s = rd_str(r, &p, &len, "array string"))) return s;
            } else {
                int64_t cid;
                if ((s = parse_array(g, r, depth + 1, &cid))) return s;
                g->childs[child0 + i] = cid;
            }
        }
    }
    if ((s = grow((void **)&g->descs, &g->cap_descs, g->n_descs + 1, sizeof *g->descs))) return s;
    id = g->n_descs++;
    g->descs[id].type = (cl_gguf_type)et;
    g->descs[id].n = n;
    g->descs[id].p = r->b + start;
    g->descs[id].off0 = off0;
    g->descs[id].child0 = child0;
    *id_out = (int64_t)id;
    return CL_OK;
}

void cl_gguf_close(cl_gguf *g)
{
    int64_t i;
    if (!g) return;
    if (g->kvs)
        for (i = 0; i < g->n_kv; i++) free(g->kvs[i].key);
    if (g->kvstr)
        for (i = 0; i < g->n_kv; i++) free(g->kvstr[i]);
    if (g->tensors)
        for (i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->kvs);
    free(g->kvstr);
    free(g->tensors);
    free(g->descs);
    free(g->offs);
    free(g->childs);
    if (g->mapped) munmap((void *)g->base, g->size);
    free(g);
}

/* Duplicate detection for keys and tensor names in O(n): an open-addressing
 * set of string pointers (a hostile file may hold ~10^5 of either). */
typedef struct sset {
    const char **e;
    size_t cap;
} sset;

static cl_status sset_init(sset *s, uint64_t n)
{
    size_t cap = 16;
    while (cap < n * 2) cap *= 2;
    s->e = calloc(cap, sizeof *s->e);
    s->cap = cap;
    return s->e ? CL_OK : cl_err(CL_ERR_NOMEM, "gguf: out of memory");
}

/* Returns 1 if str was already present, else adds it and returns 0. */
static int sset_add(sset *s, const char *str)
{
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p;
    size_t i;
    for (p = (const unsigned char *)str; *p; p++) h = (h ^ *p) * 1099511628211ull;
    i = (size_t)h & (s->cap - 1);
    while (s->e[i]) {
        if (!strcmp(s->e[i], str)) return 1;
        i = (i + 1) & (s->cap - 1);
    }
    s->e[i] = str;
    return 0;
}

static char *dup_n(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static cl_status parse_inner(cl_gguf *g, sset *keys, sset *names);

static cl_status parse(cl_gguf *g)
{
    sset keys = {0}, names = {0};
    cl_status s = parse_inner(g, &keys, &names);
    free(keys.e);
    free(names.e);
    return s;
}

static cl_status parse_inner(cl_gguf *g, sset *keys, sset *names)
{
    rd r = {g->base, g->size, 0};
    uint32_t ver;
    uint64_t n_tensors, n_kv, i;
    int64_t j;
    cl_status s;
    uint64_t data_size;

    if (g->size < 4 || memcmp(g->base, "GGUF", 4) != 0)
        return cl_err(CL_ERR_FORMAT, "gguf: not a GGUF file (bad magic)");
    r.pos = 4;
    if ((s = rd_u32(&r, &ver, "version"))) return s;
    if (ver != 2 && ver != 3)
        return cl_err(CL_ERR_FORMAT, "gguf: version %u is not supported (2 and 3 are)", ver);
    g->version = ver;
    if ((s = rd_u64(&r, &n_tensors, "tensor count"))) return s;
    if ((s = rd_u64(&r, &n_kv, "metadata count"))) return s;
    /* a KV takes at least 8+1+4+1 bytes, a tensor info at least 8+1+4+8+4+8 */
    if (n_kv > (g->size - r.pos) / 14)
        return cl_err(CL_ERR_FORMAT, "gguf: metadata count %llu is larger than the file can hold",
                      (unsigned long long)n_kv);
    if (n_tensors > (g->size - r.pos) / 33)
        return cl_err(CL_ERR_FORMAT, "gguf: tensor count %llu is larger than the file can hold",
                      (unsigned long long)n_tensors);
    g->kvs = calloc(n_kv ? n_kv : 1, sizeof *g->kvs);
    g->kvstr = calloc(n_kv ? n_kv : 1, sizeof *g->kvstr);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    if (!g->kvs || !g->kvstr || !g->tensors) return cl_err(CL_ERR_NOMEM, "gguf: out of memory");
    if ((s = sset_init(keys, n_kv)) || (s = sset_init(names, n_tensors))) return s;

    g->alignment = CL_GGUF_DEFAULT_ALIGNMENT;
    for (i = 0; i < n_kv; i++) {
        const uint8_t *kp;
        uint64_t klen;
        uint32_t t;
        kv *e = &g->kvs[i];
        size_t kpos = r.pos;
        if ((s = rd_str(&r, &kp, &klen, "metadata key"))) return s;
        if (klen == 0) return cl_err(CL_ERR_FORMAT, "gguf: empty metadata key at byte %zu", kpos);
        if (memchr(kp, 0, (size_t)klen))
            return cl_err(CL_ERR_FORMAT, "gguf: metadata key at byte %zu contains a NUL byte", kpos);
        if (!(e->key = dup_n(kp, (size_t)klen))) return cl_err(CL_ERR_NOMEM, "gguf: out of memory");
        g->n_kv = (int64_t)i + 1;
        if (sset_add(keys, e->key))
            return cl_err(CL_ERR_FORMAT, "gguf: duplicate metadata key '%s'", e->key);
        if ((s = rd_u32(&r, &t, "metadata type"))) return s;
        if (t >= CL_GGUF_TYPE_COUNT)
            return cl_err(CL_ERR_FORMAT, "gguf: key '%s' has bad type id %u", e->key, t);
        e->type = (cl_gguf_type)t;
        e->v = r.b + r.pos;
        e->desc = -1;
        if (t == CL_GGUF_STRING) {
            const uint8_t *p;
            uint64_t len;
            if ((s = rd_str(&r, &p, &len, e->key))) return s;
            if (!(g->kvstr[i] = dup_n(p, (size_t)len))) return cl_err(CL_ERR_NOMEM, "gguf: out of memory");
        } else if (t == CL_GGUF_ARRAY) {
            if ((s = parse_array(g, &r, 0, &e->desc))) return s;
        } else {
            if ((s = need(&r, scalar_size[t], e->key))) return s;
            r.pos += scalar_size[t];
        }
        if (!strcmp(e->key, "general.alignment")) {
            uint32_t a;
            if (t != CL_GGUF_UINT32)
                return cl_err(CL_ERR_FORMAT, "gguf: general.alignment must be uint32, not %s", gtype_name(t));
            a = cl_ld32(e->v);
            if (a == 0 || (a & (a - 1)) || a > (1u << 20))
                return cl_err(CL_ERR_FORMAT, "gguf: general.alignment %u is not a power of two up to 2^20", a);
            g->alignment = a;
        }
    }

    for (i = 0; i < n_tensors; i++) {
        cl_tensor *t = &g->tensors[i];
        const uint8_t *np;
        uint64_t nlen, ne, nel = 1;
        uint32_t nd, type;
        int d;
        size_t tpos = r.pos;
        if ((s = rd_str(&r, &np, &nlen, "tensor name"))) return s;
        if (nlen == 0 || nlen > 1024 || memchr(np, 0, (size_t)nlen))
            return cl_err(CL_ERR_FORMAT, "gguf: tensor %llu at byte %zu has a bad name (length %llu)",
                          (unsigned long long)i, tpos, (unsigned long long)nlen);
        if (!(t->name = dup_n(np, (size_t)nlen))) return cl_err(CL_ERR_NOMEM, "gguf: out of memory");
        g->n_tensors = (int64_t)i + 1;
        if ((s = rd_u32(&r, &nd, "tensor dimension count"))) return s;
        if (nd < 1 || nd > CL_GGUF_MAX_DIMS)
            return cl_err(CL_ERR_FORMAT, "gguf: tensor '%s' has %u dimensions (1..%d allowed)", t->name, nd,
                          CL_GGUF_MAX_DIMS);
        t->n_dims = (int)nd;
        for (d = 0; d < CL_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (d = 0; d < (int)nd; d++) {
            if ((s = rd_u64(&r, &ne, "tensor dimension"))) return s;
            if (ne > (uint64_t)INT64_MAX)
                return cl_err(CL_ERR_FORMAT, "gguf: tensor '%s' dimension %d is negative", t->name, d);
            if (ne != 0 && nel > (uint64_t)INT64_MAX / ne)
                return cl_err(CL_ERR_FORMAT, "gguf: tensor '%s' shape overflows 64 bits", t->name);
            nel *= ne;
            t->ne[d] = ne;
        }
        t->n_elements = nel;
        if ((s = rd_u32(&r, &type, "tensor type"))) return s;
        if (!cl_type_name((int)type) || !cl_type_block_size((int)type))
            return cl_err(CL_ERR_FORMAT, "gguf: tensor '%s' has unknown type id %u", t->name, type);
        t->type = (int)type;
        if (t->ne[0] % (uint64_t)cl_type_block_size(t->type))
            return cl_err(CL_ERR_FORMAT, "gguf: tensor '%s' row length %llu is not a multiple of %s's block size %d",
                          t->name, (unsigned long long)t->ne[0], cl_type_name(t->type),
                          cl_type_block_size(t->type));
        {
            uint64_t blocks = nel / (uint64_t)cl_type_block_size(t->type);
            size_t bb = cl_type_block_bytes(t->type);
            if (blocks > SIZE_MAX / bb)
                return cl_err(CL_ERR_FORMAT, "gguf: tensor '%s' byte size overflows", t->name);
            t->n_bytes = (size_t)blocks * bb;
        }
        if ((s = rd_u64(&r, &t->offset, "tensor offset"))) return s;
        if (sset_add(names, t->name))
            return cl_err(CL_ERR_FORMAT, "gguf: duplicate tensor name '%s'", t->name);
    }

    /* data section */
    {
        uint64_t a = g->alignment, pos = r.pos;
        g->data_offset = (pos + a - 1) / a * a;
    }
    data_size = g->data_offset <= g->size ? g->size - g->data_offset : 0;
    if (n_tensors && g->data_offset > g->size)
        return cl_err(CL_ERR_FORMAT, "gguf: data section starts at %llu, past the end of the file (%zu bytes)",
                      (unsigned long long)g->data_offset, g->size);
    for (j = 0; j < g->n_tensors; j++) {
        cl_tensor *t = &g->tensors[j];
        if (t->offset % g->alignment)
            return cl_err(CL_ERR_FORMAT, "gguf: tensor '%s' offset %llu is not a multiple of the alignment %zu",
                          t->name, (unsigned long long)t->offset, g->alignment);
        if (t->offset > data_size || t->n_bytes > data_size - t->offset)
            return cl_err(CL_ERR_FORMAT,
                          "gguf: tensor '%s' data (%zu bytes at offset %llu) runs past the end of the file",
                          t->name, t->n_bytes, (unsigned long long)t->offset);
        t->data = g->base + g->data_offset + t->offset;
    }
    return CL_OK;
}

cl_status cl_gguf_open_mem(const void *data, size_t size, cl_gguf **out)
{
    cl_gguf *g;
    cl_status s;
    *out = NULL;
    if (!data && size) return cl_err(CL_ERR_INVALID, "gguf: NULL buffer");
    if (!(g = calloc(1, sizeof *g))) return cl_err(CL_ERR_NOMEM, "gguf: out of memory");
    g->base = data;
    g->size = size;
    if ((s = parse(g))) {
        cl_gguf_close(g);
        return s;
    }
    *out = g;
    return CL_OK;
}

cl_status cl_gguf_open(const char *path, cl_gguf **out)
{
    int fd;
    struct stat st;
    void *m;
    cl_status s;
    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cl_err(CL_ERR_IO, "gguf: cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cl_err(CL_ERR_IO, "gguf: %s is not a regular file", path);
    }
    if (st.st_size < 24) {
        close(fd);
        return cl_err(CL_ERR_FORMAT, "gguf: %s is too small to be a GGUF file (%lld bytes)", path,
                      (long long)st.st_size);
    }
    m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return cl_err(CL_ERR_IO, "gguf: cannot map %s: %s", path, strerror(errno));
    s = cl_gguf_open_mem(m, (size_t)st.st_size, out);
    if (s) {
        char msg[900];
        snprintf(msg, sizeof msg, "%s", cl_errmsg());
        munmap(m, (size_t)st.st_size);
        return cl_err(s, "%s: %s", path, msg);
    }
    (*out)->mapped = 1;
    return CL_OK;
}

uint32_t cl_gguf_version(const cl_gguf *g) { return g->version; }
size_t cl_gguf_alignment(const cl_gguf *g) { return g->alignment; }
uint64_t cl_gguf_data_offset(const cl_gguf *g) { return g->data_offset; }
size_t cl_gguf_file_size(const cl_gguf *g) { return g->size; }
int64_t cl_gguf_n_kv(const cl_gguf *g) { return g->n_kv; }
int64_t cl_gguf_n_tensors(const cl_gguf *g) { return g->n_tensors; }

int64_t cl_gguf_find_key(const cl_gguf *g, const char *key)
{
    int64_t i;
    for (i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kvs[i].key, key)) return i;
    return -1;
}

const char *cl_gguf_key(const cl_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? g->kvs[i].key : NULL;
}

cl_gguf_type cl_gguf_kv_type(const cl_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? g->kvs[i].type : CL_GGUF_TYPE_COUNT;
}

/* Reads an integer scalar of type t at p into *v (bool counts as integer). */
static int scalar_int(cl_gguf_type t, const uint8_t *p, int64_t *v, uint64_t *uv, int *is_unsigned_big)
{
    *is_unsigned_big = 0;
    switch (t) {
    case CL_GGUF_UINT8: case CL_GGUF_BOOL: *v = p[0]; break;
    case CL_GGUF_INT8: *v = (int8_t)p[0]; break;
    case CL_GGUF_UINT16: *v = cl_ld16(p); break;
    case CL_GGUF_INT16: *v = (int16_t)cl_ld16(p); break;
    case CL_GGUF_UINT32: *v = cl_ld32(p); break;
    case CL_GGUF_INT32: *v = (int32_t)cl_ld32(p); break;
    case CL_GGUF_INT64: *v = (int64_t)cl_ld64(p); break;
    case CL_GGUF_UINT64:
        *uv = cl_ld64(p);
        if (*uv > (uint64_t)INT64_MAX) { *is_unsigned_big = 1; *v = INT64_MAX; }
        else *v = (int64_t)*uv;
        return 1;
    default: return 0;
    }
    *uv = (uint64_t)*v;
    return 1;
}

static cl_status get_kv(const cl_gguf *g, const char *key, const kv **e)
{
    int64_t i = cl_gguf_find_key(g, key);
    if (i < 0) return cl_err(CL_ERR_NOTFOUND, "gguf: no metadata key '%s'", key);
    *e = &g->kvs[i];
    return CL_OK;
}

static cl_status get_int(const cl_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const kv *e = NULL; /* set by get_kv on success (GCC cannot tell) */
    int64_t v;
    uint64_t uv;
    int big;
    cl_status s = get_kv(g, key, &e);
    if (s) return s;
    if (e->type == CL_GGUF_BOOL || !scalar_int(e->type, e->v, &v, &uv, &big))
        return cl_err(CL_ERR_TYPE, "gguf: key '%s' is %s, not an integer", key, gtype_name(e->type));
    if (big || v < lo || v > hi)
        return cl_err(CL_ERR_RANGE, "gguf: key '%s' value is out of range", key);
    *out = v;
    return CL_OK;
}

cl_status cl_gguf_get_u32(const cl_gguf *g, const char *key, uint32_t *out)
{
    int64_t v;
    cl_status s = get_int(g, key, 0, UINT32_MAX, &v);
    if (!s) *out = (uint32_t)v;
    return s;
}

cl_status cl_gguf_get_i32(const cl_gguf *g, const char *key, int32_t *out)
{
    int64_t v;
    cl_status s = get_int(g, key, INT32_MIN, INT32_MAX, &v);
    if (!s) *out = (int32_t)v;
    return s;
}

cl_status cl_gguf_get_u64(const cl_gguf *g, const char *key, uint64_t *out)
{
    const kv *e = NULL; /* set by get_kv on success (GCC cannot tell) */
    int64_t v;
    uint64_t uv;
    int big;
    cl_status s = get_kv(g, key, &e);
    if (s) return s;
    if (e->type == CL_GGUF_BOOL || !scalar_int(e->type, e->v, &v, &uv, &big))
        return cl_err(CL_ERR_TYPE, "gguf: key '%s' is %s, not an integer", key, gtype_name(e->type));
    if (!big && v < 0) return cl_err(CL_ERR_RANGE, "gguf: key '%s' is negative", key);
    *out = big ? uv : (uint64_t)v;
    return CL_OK;
}

static float ld_f32(const uint8_t *p)
{
    uint32_t u = cl_ld32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double ld_f64(const uint8_t *p)
{
    uint64_t u = cl_ld64(p);
    double f;
    memcpy(&f, &u, 8);
    return f;
}

cl_status cl_gguf_get_f32(const cl_gguf *g, const char *key, float *out)
{
    const kv *e = NULL; /* set by get_kv on success (GCC cannot tell) */
    cl_status s = get_kv(g, key, &e);
    if (s) return s;
    if (e->type == CL_GGUF_FLOAT32) *out = ld_f32(e->v);
    else if (e->type == CL_GGUF_FLOAT64) *out = (float)ld_f64(e->v);
    else return cl_err(CL_ERR_TYPE, "gguf: key '%s' is %s, not a float", key, gtype_name(e->type));
    return CL_OK;
}

cl_status cl_gguf_get_bool(const cl_gguf *g, const char *key, int *out)
{
    const kv *e = NULL; /* set by get_kv on success (GCC cannot tell) */
    cl_status s = get_kv(g, key, &e);
    if (s) return s;
    if (e->type != CL_GGUF_BOOL)
        return cl_err(CL_ERR_TYPE, "gguf: key '%s' is %s, not a bool", key, gtype_name(e->type));
    *out = e->v[0] != 0;
    return CL_OK;
}

cl_status cl_gguf_get_str(const cl_gguf *g, const char *key, const char **out, size_t *len)
{
    int64_t i = cl_gguf_find_key(g, key);
    if (i < 0) return cl_err(CL_ERR_NOTFOUND, "gguf: no metadata key '%s'", key);
    if (g->kvs[i].type != CL_GGUF_STRING)
        return cl_err(CL_ERR_TYPE, "gguf: key '%s' is %s, not a string", key, gtype_name(g->kvs[i].type));
    *out = g->kvstr[i];
    if (len) *len = (size_t)cl_ld64(g->kvs[i].v);
    return CL_OK;
}

cl_status cl_gguf_get_arr(const cl_gguf *g, const char *key, cl_gguf_arr *out)
{
    const kv *e = NULL; /* set by get_kv on success (GCC cannot tell) */
    cl_status s = get_kv(g, key, &e);
    if (s) return s;
    if (e->type != CL_GGUF_ARRAY)
        return cl_err(CL_ERR_TYPE, "gguf: key '%s' is %s, not an array", key, gtype_name(e->type));
    out->g = g;
    out->desc = e->desc;
    out->type = g->descs[e->desc].type;
    out->n = g->descs[e->desc].n;
    return CL_OK;
}

static cl_status arr_elem(const cl_gguf_arr *a, uint64_t i, const arrdesc **d)
{
    if (!a || !a->g || a->desc < 0 || (size_t)a->desc >= a->g->n_descs)
        return cl_err(CL_ERR_INVALID, "gguf: bad array handle");
    *d = &a->g->descs[a->desc];
    if (i >= (*d)->n)
        return cl_err(CL_ERR_RANGE, "gguf: array index %llu out of range (length %llu)",
                      (unsigned long long)i, (unsigned long long)(*d)->n);
    return CL_OK;
}

cl_status cl_gguf_arr_get_int(const cl_gguf_arr *a, uint64_t i, int64_t *out)
{
    const arrdesc *d = NULL;
    uint64_t uv;
    int big;
    cl_status s = arr_elem(a, i, &d);
    if (s) return s;
    if (d->type == CL_GGUF_STRING || d->type == CL_GGUF_ARRAY || d->type == CL_GGUF_FLOAT32 ||
        d->type == CL_GGUF_FLOAT64)
        return cl_err(CL_ERR_TYPE, "gguf: array of %s, not integers", gtype_name(d->type));
    scalar_int(d->type, d->p + i * scalar_size[d->type], out, &uv, &big);
    if (big) return cl_err(CL_ERR_RANGE, "gguf: array value does not fit int64");
    return CL_OK;
}

cl_status cl_gguf_arr_get_f32(const cl_gguf_arr *a, uint64_t i, float *out)
{
    const arrdesc *d = NULL;
    cl_status s = arr_elem(a, i, &d);
    if (s) return s;
    if (d->type == CL_GGUF_FLOAT32) *out = ld_f32(d->p + i * 4);
    else if (d->type == CL_GGUF_FLOAT64) *out = (float)ld_f64(d->p + i * 8);
    else return cl_err(CL_ERR_TYPE, "gguf: array of %s, not floats", gtype_name(d->type));
    return CL_OK;
}

cl_status cl_gguf_arr_get_str(const cl_gguf_arr *a, uint64_t i, const char **str, size_t *len)
{
    const arrdesc *d = NULL;
    const uint8_t *p;
    cl_status s = arr_elem(a, i, &d);
    if (s) return s;
    if (d->type != CL_GGUF_STRING)
        return cl_err(CL_ERR_TYPE, "gguf: array of %s, not strings", gtype_name(d->type));
    p = d->p + a->g->offs[d->off0 + i];
    *str = (const char *)(p + 8);
    *len = (size_t)cl_ld64(p);
    return CL_OK;
}

cl_status cl_gguf_arr_get_arr(const cl_gguf_arr *a, uint64_t i, cl_gguf_arr *out)
{
    const arrdesc *d = NULL;
    cl_status s = arr_elem(a, i, &d);
    if (s) return s;
    if (d->type != CL_GGUF_ARRAY)
        return cl_err(CL_ERR_TYPE, "gguf: array of %s, not arrays", gtype_name(d->type));
    out->g = a->g;
    out->desc = a->g->childs[d->child0 + i];
    out->type = a->g->descs[out->desc].type;
    out->n = a->g->descs[out->desc].n;
    return CL_OK;
}

const cl_tensor *cl_gguf_tensor(const cl_gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const cl_tensor *cl_gguf_find_tensor(const cl_gguf *g, const char *name)
{
    int64_t i;
    for (i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}
