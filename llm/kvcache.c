/* kvcache.c — the prefix-reusing KV cache: K/V of fixed blocks of
 * CL_KV_BLOCK prompt tokens kept across generations, so that a prompt whose
 * leading tokens equal an earlier prompt's skips prefilling them.
 *
 * Keys. Block i of a prompt (tokens i*B .. i*B+B-1) is keyed by a 64-bit
 * hash of the model identity and ALL tokens 0 .. i*B+B-1 (chained: h_i =
 * mix(h_{i-1}, block i's tokens), h_-1 = identity). A hit is never taken on
 * the hash alone: the candidate must also hold the same 128-bit identity,
 * depth i, the block's own B tokens, and a parent serial equal to the
 * serial of the block matched at depth i-1 (serials are unique and never
 * reused), so by induction every earlier token is verified too. A changed
 * early token therefore misses at its block and everything after it.
 *
 * Memory. Each block holds its K and V in the model's KV element type
 * (floats or IEEE halves: part of the identity, so a block is only ever
 * found by a model whose cache has its type), layout [2][n_layer][B][kvd]
 * (K first). Blocks are reference-counted: a lookup
 * pins what it returns until cl_kvc_release; eviction (least recently used
 * first) only ever frees blocks with no pins, so the bytes held can exceed
 * the budget only while pinned blocks alone exceed it (insertion then
 * fails instead). Release touches the chain deepest-first, so a chain's
 * root is its most recent block and leaves are evicted before their
 * parents. All calls are thread-safe (one mutex per cache). */
#include "llm_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct cl_kv_block {
    uint64_t hash, serial, parent; /* parent: serial of block depth-1 (0 at depth 0) */
    uint64_t ident[2];
    uint32_t depth, refs;
    size_t bytes, data_bytes; /* bytes: data_bytes + the header, what the budget counts */
    struct cl_kv_block *next_h;          /* hash bucket chain */
    struct cl_kv_block *lru_prev, *lru_next; /* lru_prev: more recent */
    cl_token toks[CL_KV_BLOCK];
    void *data; /* [2][n_layer][CL_KV_BLOCK][kvd] values of the model's KV type */
};

struct cl_kvcache {
    pthread_mutex_t mu;
    int refs; /* handle references (cl_kvcache_ref / cl_kvcache_free) */
    size_t budget, bytes;
    cl_kv_block **bucket;
    size_t n_bucket, n_blocks, n_pinned;
    cl_kv_block *mru, *lru;
    uint64_t next_serial;
    uint64_t hits, misses, inserts, evictions;
};

/* ------------------------------------------------------------ hashing */

static uint64_t mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

uint64_t cl_kv_hash_block(uint64_t prev, const cl_token *toks)
{
    int i;
    for (i = 0; i < CL_KV_BLOCK; i++) prev = mix64(prev, (uint32_t)toks[i]);
    return mix64(prev, CL_KV_BLOCK);
}

void cl_kv_ident_add(uint64_t ident[2], const void *p, size_t n)
{
    const uint8_t *b = p;
    size_t i;
    uint64_t w = 0;
    for (i = 0; i < n; i++) {
        ident[0] = (ident[0] ^ b[i]) * 0x100000001b3ull; /* FNV-1a */
        w = w << 8 | b[i];
        if ((i & 7) == 7) ident[1] = mix64(ident[1], w); /* a second, independent hash per 8 bytes */
    }
    ident[1] = mix64(mix64(ident[1], w), n);
}

/* ------------------------------------------------------------ handle */

cl_status cl_kvcache_new(size_t budget_bytes, cl_kvcache **out)
{
    cl_kvcache *c;
    *out = NULL;
    if (!(c = calloc(1, sizeof *c))) return cl_err(CL_ERR_NOMEM, "kv cache: out of memory");
    c->n_bucket = 1024;
    if (!(c->bucket = calloc(c->n_bucket, sizeof *c->bucket))) {
        free(c);
        return cl_err(CL_ERR_NOMEM, "kv cache: out of memory");
    }
    if (pthread_mutex_init(&c->mu, NULL)) {
        free(c->bucket);
        free(c);
        return cl_err(CL_ERR_NOMEM, "kv cache: cannot create a mutex");
    }
    c->refs = 1;
    c->budget = budget_bytes;
    c->next_serial = 1;
    *out = c;
    return CL_OK;
}

cl_kvcache *cl_kvcache_ref(cl_kvcache *c)
{
    if (!c) return NULL;
    pthread_mutex_lock(&c->mu);
    c->refs++;
    pthread_mutex_unlock(&c->mu);
    return c;
}

static void lru_unlink(cl_kvcache *c, cl_kv_block *b)
{
    if (b->lru_prev) b->lru_prev->lru_next = b->lru_next;
    else c->mru = b->lru_next;
    if (b->lru_next) b->lru_next->lru_prev = b->lru_prev;
    else c->lru = b->lru_prev;
    b->lru_prev = b->lru_next = NULL;
}

static void lru_push_front(cl_kvcache *c, cl_kv_block *b)
{
    b->lru_prev = NULL;
    b->lru_next = c->mru;
    if (c->mru) c->mru->lru_prev = b;
    c->mru = b;
    if (!c->lru) c->lru = b;
}

static void block_drop(cl_kvcache *c, cl_kv_block *b)
{
    cl_kv_block **pp = &c->bucket[b->hash % c->n_bucket];
    while (*pp && *pp != b) pp = &(*pp)->next_h;
    if (*pp) *pp = b->next_h;
    lru_unlink(c, b);
    c->bytes -= b->bytes;
    c->n_blocks--;
    free(b->data);
    free(b);
}

void cl_kvcache_free(cl_kvcache *c)
{
    int last;
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    last = --c->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (!last) return;
    while (c->lru) block_drop(c, c->lru);
    free(c->bucket);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Evicts unpinned blocks, least recently used first, until need more bytes
 * fit the budget; 0 when they cannot. Holds the lock. */
static int make_room(cl_kvcache *c, size_t need)
{
    cl_kv_block *b = c->lru;
    if (need > c->budget) return 0;
    while (c->bytes + need > c->budget && b) {
        cl_kv_block *prev = b->lru_prev;
        if (!b->refs) {
            block_drop(c, b);
            c->evictions++;
        }
        b = prev;
    }
    return c->bytes + need <= c->budget;
}

void cl_kvcache_set_budget(cl_kvcache *c, size_t budget_bytes)
{
    pthread_mutex_lock(&c->mu);
    c->budget = budget_bytes;
    make_room(c, 0);
    pthread_mutex_unlock(&c->mu);
}

void cl_kvcache_clear(cl_kvcache *c)
{
    cl_kv_block *b;
    pthread_mutex_lock(&c->mu);
    for (b = c->lru; b;) {
        cl_kv_block *prev = b->lru_prev;
        if (!b->refs) block_drop(c, b);
        b = prev;
    }
    pthread_mutex_unlock(&c->mu);
}

void cl_kvcache_get_stats(cl_kvcache *c, cl_kvcache_stats *st)
{
    pthread_mutex_lock(&c->mu);
    st->budget_bytes = c->budget;
    st->bytes = c->bytes;
    st->n_blocks = c->n_blocks;
    st->n_pinned = c->n_pinned;
    st->hits = c->hits;
    st->misses = c->misses;
    st->inserts = c->inserts;
    st->evictions = c->evictions;
    pthread_mutex_unlock(&c->mu);
}

/* ------------------------------------------------------------ lookup */

static cl_kv_block *find(cl_kvcache *c, const uint64_t ident[2], uint64_t h, uint32_t depth, uint64_t parent,
                         const cl_token *toks)
{
    cl_kv_block *b;
    for (b = c->bucket[h % c->n_bucket]; b; b = b->next_h)
        if (b->hash == h && b->depth == depth && b->parent == parent && b->ident[0] == ident[0] &&
            b->ident[1] == ident[1] && !memcmp(b->toks, toks, sizeof b->toks))
            return b;
    return NULL;
}

size_t cl_kvc_lookup(cl_kvcache *c, const uint64_t ident[2], const cl_token *toks, size_t n_blocks,
                     cl_kv_block **out)
{
    uint64_t h = ident[0] ^ ident[1];
    uint64_t parent = 0;
    size_t i;
    pthread_mutex_lock(&c->mu);
    for (i = 0; i < n_blocks; i++) {
        cl_kv_block *b;
        h = cl_kv_hash_block(h, toks + i * CL_KV_BLOCK);
        if (!(b = find(c, ident, h, (uint32_t)i, parent, toks + i * CL_KV_BLOCK))) break;
        if (!b->refs++) c->n_pinned++;
        out[i] = b;
        parent = b->serial;
    }
    if (n_blocks) i ? c->hits++ : c->misses++;
    pthread_mutex_unlock(&c->mu);
    return i;
}

void cl_kvc_release(cl_kvcache *c, cl_kv_block *const *b, size_t n)
{
    size_t i;
    pthread_mutex_lock(&c->mu);
    for (i = n; i-- > 0;) { /* deepest first: the root ends most recent */
        if (!b[i]) continue;
        if (!--b[i]->refs) c->n_pinned--;
        lru_unlink(c, b[i]);
        lru_push_front(c, b[i]);
    }
    make_room(c, 0); /* a budget lowered while blocks were pinned */
    pthread_mutex_unlock(&c->mu);
}

cl_kv_block *cl_kvc_insert(cl_kvcache *c, const uint64_t ident[2], const cl_token *toks, size_t depth,
                           cl_kv_block *parent, void *data, size_t bytes)
{
    uint64_t h = ident[0] ^ ident[1];
    cl_kv_block *b = NULL;
    size_t i;
    if (depth && !parent) {
        free(data);
        return NULL;
    }
    /* the hash of all tokens up to this block's end */
    for (i = 0; i <= depth; i++) h = cl_kv_hash_block(h, toks + i * CL_KV_BLOCK);
    pthread_mutex_lock(&c->mu);
    if ((b = find(c, ident, h, (uint32_t)depth, parent ? parent->serial : 0, toks + depth * CL_KV_BLOCK))) {
        free(data); /* another generation stored it meanwhile */
    } else if (make_room(c, bytes + sizeof *b) && (b = calloc(1, sizeof *b))) {
        b->hash = h;
        b->serial = c->next_serial++;
        b->parent = parent ? parent->serial : 0;
        b->ident[0] = ident[0];
        b->ident[1] = ident[1];
        b->depth = (uint32_t)depth;
        b->bytes = bytes + sizeof *b;
        b->data_bytes = bytes;
        memcpy(b->toks, toks + depth * CL_KV_BLOCK, sizeof b->toks);
        b->data = data;
        b->next_h = c->bucket[h % c->n_bucket];
        c->bucket[h % c->n_bucket] = b;
        lru_push_front(c, b);
        c->bytes += b->bytes;
        c->n_blocks++;
        c->inserts++;
    } else {
        free(data);
        b = NULL;
    }
    if (b && !b->refs++) c->n_pinned++;
    pthread_mutex_unlock(&c->mu);
    return b;
}

const void *cl_kv_block_data(const cl_kv_block *b) { return b->data; }

size_t cl_kv_block_bytes(const cl_kv_block *b) { return b->data_bytes; }

/* ------------------------------------------------------------ copies */

void cl_kv_block_load(const void *blk, void *kcache, void *vcache, uint32_t n_layer, uint32_t n_ctx, size_t row_bytes,
                      uint32_t pos)
{
    size_t row = (size_t)CL_KV_BLOCK * row_bytes, l;
    const uint8_t *b = blk;
    for (l = 0; l < n_layer; l++) {
        memcpy((uint8_t *)kcache + ((size_t)l * n_ctx + pos) * row_bytes, b + l * row, row);
        memcpy((uint8_t *)vcache + ((size_t)l * n_ctx + pos) * row_bytes, b + (n_layer + l) * row, row);
    }
}

void cl_kv_block_save(void *blk, const void *kcache, const void *vcache, uint32_t n_layer, uint32_t n_ctx,
                      size_t row_bytes, uint32_t pos)
{
    size_t row = (size_t)CL_KV_BLOCK * row_bytes, l;
    uint8_t *b = blk;
    for (l = 0; l < n_layer; l++) {
        memcpy(b + l * row, (const uint8_t *)kcache + ((size_t)l * n_ctx + pos) * row_bytes, row);
        memcpy(b + (n_layer + l) * row, (const uint8_t *)vcache + ((size_t)l * n_ctx + pos) * row_bytes, row);
    }
}
