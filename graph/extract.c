/* extract.c — the extractor interface: wrapping plug-ins, the result
 * (cg_extraction) and the sink through which a plug-in reports, which
 * checks every offset and turns chunk bytes into document offsets. */
#include "graph_int.h"

#include <string.h>

struct cg_extractor {
    const cg_extractor_i *iface;
    void   *ctx;
    char    id[48];
    cc_buf  err;
    size_t  max_mentions, max_relations;
};

/* Char index: chars before every 256-byte block of the chunk, so a byte
 * offset becomes a code-point offset in O(256). */
#define CG_BLOCK 256
struct cg_sink {
    const cg_chunk *chunk;
    cg_extraction  *x;
    size_t         *block_chars;   /* (len / CG_BLOCK + 1) */
};

/* ---------------------------------------------------------------- names */

const char *cg_type_str(cg_type t)
{
    static const char *const n[CG_TYPE_COUNT] = {
        "other", "person", "organisation", "place", "product", "date",
        "amount", "percent", "quantity"
    };
    return (unsigned)t < CG_TYPE_COUNT ? n[t] : "other";
}

const char *cg_rel_status_str(cg_rel_status s)
{
    return s == CG_REL_INFERRED ? "inferred" : "confirmed";
}

/* ---------------------------------------------------------------- result */

void cg_extraction_init(cg_extraction *x)
{
    memset(x, 0, sizeof *x);
}

void cg_extraction_free(cg_extraction *x)
{
    size_t i;
    if (!x) return;
    for (i = 0; i < x->n_mentions; i++) free(x->mentions[i].surface);
    for (i = 0; i < x->n_relations; i++) free(x->relations[i].predicate);
    free(x->mentions);
    free(x->relations);
    memset(x, 0, sizeof *x);
}

static void count_warnings(cg_extraction *x)
{
    const cg_warnings *w = &x->warn;
    x->n_warnings = w->mentions_capped + w->relations_capped + w->cooc_capped +
                    w->names_too_long + w->tokens_capped + w->bad_offsets;
}

/* ---------------------------------------------------------------- sink */

static int on_boundary(const cg_chunk *c, size_t off)
{
    if (off > c->len) return 0;
    return off == c->len || ((unsigned char)c->text[off] & 0xC0) != 0x80;
}

static size_t chars_at(const cg_sink *s, size_t off)
{
    size_t blk = off / CG_BLOCK;
    size_t base = blk * CG_BLOCK;
    return s->block_chars[blk] + cc_utf8_count(s->chunk->text + base, off - base);
}

void cg_sink_warn(cg_sink *s, size_t *counter)
{
    (void)s;
    (*counter)++;
}

cg_warnings *cg_sink_warnings(cg_sink *s) { return &s->x->warn; }

cc_status cg_sink_mention(cg_sink *s, size_t b0, size_t b1, cg_type type,
                          unsigned flags, float confidence, size_t *idx)
{
    cg_extraction *x = s->x;
    cg_mention *m;
    if (idx) *idx = SIZE_MAX;
    if (b0 >= b1 || !on_boundary(s->chunk, b0) || !on_boundary(s->chunk, b1)) {
        x->warn.bad_offsets++;
        return CC_OK;
    }
    if (x->n_mentions >= x->max_mentions) {
        x->warn.mentions_capped++;
        return CC_OK;
    }
    if (x->n_mentions == x->cap_mentions) {
        size_t nc = x->cap_mentions ? x->cap_mentions * 2 : 64;
        cg_mention *p = realloc(x->mentions, nc * sizeof *p);
        if (!p) return CC_NOMEM;
        x->mentions = p;
        x->cap_mentions = nc;
    }
    m = &x->mentions[x->n_mentions];
    memset(m, 0, sizeof *m);
    m->surface = cc_strndup(s->chunk->text + b0, b1 - b0);
    if (!m->surface) return CC_NOMEM;
    m->chunk_start = b0;
    m->chunk_end = b1;
    m->start_byte = s->chunk->start_byte + (int64_t)b0;
    m->end_byte = s->chunk->start_byte + (int64_t)b1;
    m->start_char = s->chunk->start_char + (int64_t)chars_at(s, b0);
    m->end_char = m->start_char + (int64_t)cc_utf8_count(m->surface, b1 - b0);
    m->type = (unsigned)type < CG_TYPE_COUNT ? type : CG_TYPE_OTHER;
    m->flags = flags;
    m->confidence = confidence < 0 ? 0 : confidence > 1 ? 1 : confidence;
    if (idx) *idx = x->n_mentions;
    x->n_mentions++;
    return CC_OK;
}

cc_status cg_sink_relation(cg_sink *s, size_t subj, const char *predicate,
                           size_t obj, size_t sent_start, size_t sent_end,
                           const char *pattern, float confidence,
                           cg_rel_status status)
{
    cg_extraction *x = s->x;
    cg_relation *r;
    if (subj == SIZE_MAX || obj == SIZE_MAX) return CC_OK;   /* a dropped mention */
    if (subj >= x->n_mentions || obj >= x->n_mentions || subj == obj ||
        !predicate || !*predicate || sent_start >= sent_end ||
        !on_boundary(s->chunk, sent_start) || !on_boundary(s->chunk, sent_end)) {
        x->warn.bad_offsets++;
        return CC_OK;
    }
    if (x->n_relations >= x->max_relations) {
        x->warn.relations_capped++;
        return CC_OK;
    }
    if (x->n_relations == x->cap_relations) {
        size_t nc = x->cap_relations ? x->cap_relations * 2 : 64;
        cg_relation *p = realloc(x->relations, nc * sizeof *p);
        if (!p) return CC_NOMEM;
        x->relations = p;
        x->cap_relations = nc;
    }
    r = &x->relations[x->n_relations];
    memset(r, 0, sizeof *r);
    r->predicate = cc_strdup(predicate);
    if (!r->predicate) return CC_NOMEM;
    r->subj = subj;
    r->obj = obj;
    r->pattern = pattern ? pattern : "unknown";
    r->sent_chunk_start = sent_start;
    r->sent_chunk_end = sent_end;
    r->sent_start_byte = s->chunk->start_byte + (int64_t)sent_start;
    r->sent_end_byte = s->chunk->start_byte + (int64_t)sent_end;
    r->sent_start_char = s->chunk->start_char + (int64_t)chars_at(s, sent_start);
    r->sent_end_char = s->chunk->start_char + (int64_t)chars_at(s, sent_end);
    r->confidence = confidence < 0 ? 0 : confidence > 1 ? 1 : confidence;
    r->status = status == CG_REL_INFERRED ? CG_REL_INFERRED : CG_REL_CONFIRMED;
    x->n_relations++;
    return CC_OK;
}

/* ---------------------------------------------------------------- extractors */

cc_status cg_extractor_new(const cg_extractor_i *iface, void *ctx, cg_extractor **out)
{
    cg_extractor *ex;
    C_ASSERT(iface && out);
    *out = NULL;
    if (iface->api_version != CG_EXTRACTOR_API_VERSION)
        return cc_seterr(CC_VERSION, "extractor '%s' has API version %d, this build has %d",
                         iface->name ? iface->name : "?", iface->api_version,
                         CG_EXTRACTOR_API_VERSION);
    if (!iface->name || !iface->extract)
        return cc_seterr(CC_INVALID, "extractor table lacks a name or an extract function");
    ex = calloc(1, sizeof *ex);
    if (!ex) return CC_NOMEM;
    ex->iface = iface;
    ex->ctx = ctx;
    snprintf(ex->id, sizeof ex->id, "%s/%d", iface->name, iface->version);
    cc_buf_init(&ex->err, 4096);
    ex->max_mentions = 4096;
    ex->max_relations = 8192;
    *out = ex;
    return CC_OK;
}

cc_status cg_extractor_rules_new(const cg_rules_opts *opts, cg_extractor **out)
{
    void *ctx = NULL;
    cc_status s;
    C_ASSERT(out);
    *out = NULL;
    if ((s = cg_rules_ctx_new(opts, &ctx))) return s;
    if ((s = cg_extractor_new(&cg_rules_iface, ctx, out))) {
        cg_rules_iface.free(ctx);
        return s;
    }
    if (opts && opts->max_mentions) (*out)->max_mentions = opts->max_mentions;
    if (opts && opts->max_relations) (*out)->max_relations = opts->max_relations;
    return CC_OK;
}

void cg_extractor_free(cg_extractor *ex)
{
    if (!ex) return;
    if (ex->iface->free) ex->iface->free(ex->ctx);
    cc_buf_free(&ex->err);
    free(ex);
}

const char *cg_extractor_id(const cg_extractor *ex) { return ex->id; }

const char *cg_extractor_errmsg(const cg_extractor *ex)
{
    return ex->err.data ? ex->err.data : "";
}

cc_status cg_extractor_run(cg_extractor *ex, const cg_chunk *chunk, cg_extraction *out)
{
    cg_sink sink;
    size_t nblk, i, bad;
    cc_status s;
    C_ASSERT(ex && chunk && out);
    cg_extraction_free(out);
    snprintf(out->extractor, sizeof out->extractor, "%s", ex->id);
    out->max_mentions = ex->max_mentions;
    out->max_relations = ex->max_relations;
    cc_buf_reset(&ex->err);
    if (!chunk->text && chunk->len) {
        cc_buf_puts(&ex->err, "chunk has a length but no text");
        return CC_INVALID;
    }
    if (chunk->start_byte < 0 || chunk->start_char < 0) {
        cc_buf_puts(&ex->err, "chunk start offsets are negative");
        return CC_INVALID;
    }
    if (chunk->len && (bad = cc_utf8_check(chunk->text, chunk->len)) != chunk->len) {
        cc_buf_printf(&ex->err, "chunk is not valid UTF-8 at byte %zu", bad);
        return CC_INVALID;
    }
    if (chunk->len && memchr(chunk->text, 0, chunk->len)) {
        cc_buf_puts(&ex->err, "chunk contains a NUL byte");
        return CC_INVALID;
    }
    nblk = chunk->len / CG_BLOCK + 1;
    sink.chunk = chunk;
    sink.x = out;
    sink.block_chars = malloc(nblk * sizeof *sink.block_chars);
    if (!sink.block_chars) return CC_NOMEM;
    sink.block_chars[0] = 0;
    for (i = 1; i < nblk; i++)
        sink.block_chars[i] = sink.block_chars[i - 1] +
            cc_utf8_count(chunk->text + (i - 1) * CG_BLOCK, CG_BLOCK);
    s = ex->iface->extract(ex->ctx, chunk, &sink, &ex->err);
    free(sink.block_chars);
    count_warnings(out);
    if (s) {
        if (!ex->err.len) cc_buf_printf(&ex->err, "extractor %s: %s", ex->id, cc_status_str(s));
        cg_extraction_free(out);
        snprintf(out->extractor, sizeof out->extractor, "%s", ex->id);
    }
    return s;
}

/* ---------------------------------------------------------------- LLM extractor helpers */

cc_status cg_extractor_set_variant(cg_extractor *ex, const char *variant)
{
    size_t n = strlen(ex->id);
    if (n + 1 + strlen(variant) >= sizeof ex->id)
        return cc_seterr(CC_INVALID, "extractor id '%s:%s' is too long", ex->id, variant);
    snprintf(ex->id + n, sizeof ex->id - n, ":%s", variant);
    return CC_OK;
}

const cg_extractor_i *cg_extractor_iface(const cg_extractor *ex) { return ex->iface; }

void *cg_extractor_ctx(cg_extractor *ex) { return ex->ctx; }
