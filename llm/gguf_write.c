/* gguf_write.c — builds a GGUF v3 file in memory (for tests and for
 * `cairn model make-tiny`). Layout as described in gguf.c. */
#include "llm_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
} wbuf;

typedef struct wtensor {
    char *name;
    int type, n_dims;
    uint64_t ne[CL_GGUF_MAX_DIMS];
    uint8_t *data;
    size_t n_bytes;
} wtensor;

struct cl_gguf_writer {
    wbuf kv;          /* encoded KV pairs */
    uint64_t n_kv;
    wtensor *t;
    size_t n_t, cap_t;
    uint32_t alignment;
};

static void put(wbuf *b, const void *p, size_t n)
{
    if (b->oom) return;
    if (n > b->cap - b->len) {
        size_t nc = b->cap ? b->cap : 256;
        uint8_t *np;
        while (nc - b->len < n) {
            if (nc > SIZE_MAX / 2) { b->oom = 1; return; }
            nc *= 2;
        }
        if (!(np = realloc(b->p, nc))) { b->oom = 1; return; }
        b->p = np;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put32(wbuf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}

static void put64(wbuf *b, uint64_t v)
{
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}

static void putstr(wbuf *b, const char *s, size_t n)
{
    put64(b, n);
    put(b, s, n);
}

cl_status cl_gguf_writer_new(cl_gguf_writer **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return cl_err(CL_ERR_NOMEM, "gguf writer: out of memory");
    (*out)->alignment = CL_GGUF_DEFAULT_ALIGNMENT;
    return CL_OK;
}

void cl_gguf_writer_free(cl_gguf_writer *w)
{
    size_t i;
    if (!w) return;
    for (i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->t);
    free(w->kv.p);
    free(w);
}

static cl_status kv_head(cl_gguf_writer *w, const char *key, uint32_t type)
{
    if (!key || !*key) return cl_err(CL_ERR_INVALID, "gguf writer: empty key");
    putstr(&w->kv, key, strlen(key));
    put32(&w->kv, type);
    w->n_kv++;
    return CL_OK;
}

static cl_status kv_done(cl_gguf_writer *w)
{
    return w->kv.oom ? cl_err(CL_ERR_NOMEM, "gguf writer: out of memory") : CL_OK;
}

cl_status cl_gguf_writer_set_alignment(cl_gguf_writer *w, uint32_t a)
{
    if (a == 0 || (a & (a - 1))) return cl_err(CL_ERR_INVALID, "gguf writer: alignment %u is not a power of two", a);
    w->alignment = a;
    if (a != CL_GGUF_DEFAULT_ALIGNMENT) return cl_gguf_writer_add_u32(w, "general.alignment", a);
    return CL_OK;
}

cl_status cl_gguf_writer_add_u32(cl_gguf_writer *w, const char *key, uint32_t v)
{
    cl_status s = kv_head(w, key, CL_GGUF_UINT32);
    if (s) return s;
    put32(&w->kv, v);
    return kv_done(w);
}

cl_status cl_gguf_writer_add_i32(cl_gguf_writer *w, const char *key, int32_t v)
{
    cl_status s = kv_head(w, key, CL_GGUF_INT32);
    if (s) return s;
    put32(&w->kv, (uint32_t)v);
    return kv_done(w);
}

cl_status cl_gguf_writer_add_f32(cl_gguf_writer *w, const char *key, float v)
{
    uint32_t u;
    cl_status s = kv_head(w, key, CL_GGUF_FLOAT32);
    if (s) return s;
    memcpy(&u, &v, 4);
    put32(&w->kv, u);
    return kv_done(w);
}

cl_status cl_gguf_writer_add_bool(cl_gguf_writer *w, const char *key, int v)
{
    uint8_t b = v ? 1 : 0;
    cl_status s = kv_head(w, key, CL_GGUF_BOOL);
    if (s) return s;
    put(&w->kv, &b, 1);
    return kv_done(w);
}

cl_status cl_gguf_writer_add_str(cl_gguf_writer *w, const char *key, const char *v)
{
    cl_status s = kv_head(w, key, CL_GGUF_STRING);
    if (s) return s;
    putstr(&w->kv, v, strlen(v));
    return kv_done(w);
}

static const size_t esize[CL_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

cl_status cl_gguf_writer_add_arr(cl_gguf_writer *w, const char *key, cl_gguf_type et,
                                 const void *elems, uint64_t n)
{
    const uint8_t *p = elems;
    uint64_t i;
    size_t k;
    cl_status s;
    if ((unsigned)et >= CL_GGUF_TYPE_COUNT || !esize[et])
        return cl_err(CL_ERR_INVALID, "gguf writer: bad scalar array type %d", (int)et);
    if ((s = kv_head(w, key, CL_GGUF_ARRAY))) return s;
    put32(&w->kv, (uint32_t)et);
    put64(&w->kv, n);
    /* host order to little-endian, element by element */
    for (i = 0; i < n; i++) {
        uint8_t le[8];
        uint64_t v = 0;
        memcpy(&v, p + i * esize[et], esize[et]);
        if (esize[et] == 1) v = p[i];
        else if (esize[et] == 2) { uint16_t x; memcpy(&x, p + i * 2, 2); v = x; }
        else if (esize[et] == 4) { uint32_t x; memcpy(&x, p + i * 4, 4); v = x; }
        else memcpy(&v, p + i * 8, 8);
        for (k = 0; k < esize[et]; k++) le[k] = (uint8_t)(v >> (8 * k));
        put(&w->kv, le, esize[et]);
    }
    return kv_done(w);
}

cl_status cl_gguf_writer_add_arr_str(cl_gguf_writer *w, const char *key, const char *const *strs,
                                     uint64_t n)
{
    uint64_t i;
    cl_status s = kv_head(w, key, CL_GGUF_ARRAY);
    if (s) return s;
    put32(&w->kv, CL_GGUF_STRING);
    put64(&w->kv, n);
    for (i = 0; i < n; i++) putstr(&w->kv, strs[i], strlen(strs[i]));
    return kv_done(w);
}

cl_status cl_gguf_writer_add_raw(cl_gguf_writer *w, const char *key, uint32_t type,
                                 const void *payload, size_t len)
{
    cl_status s = kv_head(w, key, type);
    if (s) return s;
    put(&w->kv, payload, len);
    return kv_done(w);
}

cl_status cl_gguf_writer_add_tensor(cl_gguf_writer *w, const char *name, int type, int n_dims,
                                    const uint64_t *ne, const void *data, size_t n_bytes)
{
    wtensor *t;
    uint64_t nel = 1;
    size_t want;
    int d;
    cl_status s;
    if (n_dims < 1 || n_dims > CL_GGUF_MAX_DIMS)
        return cl_err(CL_ERR_INVALID, "gguf writer: %d dimensions", n_dims);
    for (d = 0; d < n_dims; d++) {
        if (ne[d] && nel > UINT64_MAX / ne[d]) return cl_err(CL_ERR_INVALID, "gguf writer: shape overflows");
        nel *= ne[d];
    }
    if (ne[0] == 0 && nel) return cl_err(CL_ERR_INVALID, "gguf writer: bad shape");
    if ((s = cl_type_row_bytes(type, ne[0], &want))) return s;
    if ((s = cl_type_row_bytes(type, nel, &want))) return s;
    if (want != n_bytes)
        return cl_err(CL_ERR_INVALID, "gguf writer: tensor '%s' needs %zu bytes, got %zu", name, want, n_bytes);
    if (w->n_t == w->cap_t) {
        size_t nc = w->cap_t ? w->cap_t * 2 : 8;
        wtensor *nt = realloc(w->t, nc * sizeof *nt);
        if (!nt) return cl_err(CL_ERR_NOMEM, "gguf writer: out of memory");
        w->t = nt;
        w->cap_t = nc;
    }
    t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = malloc(strlen(name) + 1);
    t->data = malloc(n_bytes ? n_bytes : 1);
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        return cl_err(CL_ERR_NOMEM, "gguf writer: out of memory");
    }
    memcpy(t->name, name, strlen(name) + 1);
    memcpy(t->data, data, n_bytes);
    t->type = type;
    t->n_dims = n_dims;
    for (d = 0; d < CL_GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->n_bytes = n_bytes;
    w->n_t++;
    return CL_OK;
}

static size_t pad_to(size_t x, size_t a) { return (x + a - 1) / a * a; }

cl_status cl_gguf_writer_finish(cl_gguf_writer *w, uint8_t **out, size_t *len)
{
    wbuf b = {0};
    size_t i, off = 0, data0;
    static const uint8_t zeros[64];
    *out = NULL;
    put(&b, "GGUF", 4);
    put32(&b, 3);
    put64(&b, w->n_t);
    put64(&b, w->n_kv);
    put(&b, w->kv.p, w->kv.len);
    for (i = 0; i < w->n_t; i++) {
        int d;
        putstr(&b, w->t[i].name, strlen(w->t[i].name));
        put32(&b, (uint32_t)w->t[i].n_dims);
        for (d = 0; d < w->t[i].n_dims; d++) put64(&b, w->t[i].ne[d]);
        put32(&b, (uint32_t)w->t[i].type);
        put64(&b, off);
        off = pad_to(off + w->t[i].n_bytes, w->alignment);
    }
    data0 = pad_to(b.len, w->alignment);
    while (b.len < data0) put(&b, zeros, data0 - b.len > 64 ? 64 : data0 - b.len);
    for (i = 0; i < w->n_t; i++) {
        put(&b, w->t[i].data, w->t[i].n_bytes);
        if (i + 1 < w->n_t) {
            size_t end = pad_to(b.len - data0, w->alignment) + data0;
            while (b.len < end) put(&b, zeros, end - b.len > 64 ? 64 : end - b.len);
        }
    }
    if (b.oom) {
        free(b.p);
        return cl_err(CL_ERR_NOMEM, "gguf writer: out of memory");
    }
    *out = b.p;
    *len = b.len;
    return CL_OK;
}

cl_status cl_gguf_writer_write_file(cl_gguf_writer *w, const char *path)
{
    uint8_t *p;
    size_t n;
    FILE *f;
    cl_status s = cl_gguf_writer_finish(w, &p, &n);
    if (s) return s;
    f = fopen(path, "wb");
    if (!f) {
        free(p);
        return cl_err(CL_ERR_IO, "gguf writer: cannot create %s", path);
    }
    if (fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        free(p);
        return cl_err(CL_ERR_IO, "gguf writer: cannot write %s", path);
    }
    free(p);
    return CL_OK;
}
