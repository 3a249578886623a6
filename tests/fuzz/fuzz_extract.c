/* fuzz_extract.c — libFuzzer harness: the rules extractor ("rules/1") on
 * the input as one chunk, then entity resolution over its mentions and the
 * IRI escaping of every entity key. Odd-sized inputs run with tight limits
 * (few mentions, relations, tokens and name words) so the caps are
 * exercised too. Properties:
 * - the chunk is refused (CC_INVALID) exactly when it is not UTF-8 or holds
 *   a NUL byte; otherwise the extraction succeeds;
 * - every mention lies inside the chunk, start < end, on UTF-8 character
 *   boundaries; its surface is the slice; its document byte and code-point
 *   offsets agree with the chunk's; its type is in the enum;
 * - every relation joins two different existing mentions, has a
 *   predicate, a sentence inside the chunk on character boundaries that
 *   holds both mentions;
 * - the rules extractor never makes offsets the sink must reject, and its
 *   warning total is the sum of the counters;
 * - resolution maps every mention to an existing entity whose key is one
 *   of its mentions' keys (cg_norm_key of the surface) and is not empty,
 *   whose label is one of its mentions' surfaces and type one of theirs;
 *   every entity has a label and aliases with keys;
 * - an escaped key holds only unreserved IRI characters and %XX, and
 *   decodes back to the key. */
#include "graph.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

static int boundary(const char *t, size_t len, size_t off)
{
    return off == len || (off < len && ((unsigned char)t[off] & 0xC0) != 0x80);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* An IRI-escaped name: only [A-Za-z0-9-._~] and %XX; decodes to s[0..n). */
static void check_iri(const char *s, size_t n)
{
    cc_buf b = CC_BUF_INIT(1 << 22);
    size_t i, k = 0;
    FUZZ_ASSERT(cg_iri_escape(&b, s, n) == CC_OK);
    for (i = 0; i < b.len; i++) {
        char c = b.data[i];
        if (c == '%') {
            int h, l;
            FUZZ_ASSERT(i + 2 < b.len);
            h = hexval(b.data[i + 1]);
            l = hexval(b.data[i + 2]);
            FUZZ_ASSERT(h >= 0 && l >= 0);
            FUZZ_ASSERT(k < n && (unsigned char)s[k] == (unsigned)(h * 16 + l));
            i += 2;
        } else {
            FUZZ_ASSERT((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '-' || c == '.' || c == '_' || c == '~');
            FUZZ_ASSERT(k < n && s[k] == c);
        }
        k++;
    }
    FUZZ_ASSERT(k == n);
    cc_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cg_extractor *wide, *tight;
    const char *text = (const char *)data;
    cg_extraction x;
    cg_resolution r;
    cg_chunk ch = {text, size, 1000, 900};   /* a chunk that starts inside a document */
    cc_buf key = CC_BUF_INIT(1 << 22);
    cc_status s;
    size_t i, k;
    int valid = cc_utf8_check(text, size) == size && !memchr(text, 0, size);
    if (!wide) {
        cg_rules_opts o = {0};
        FUZZ_ASSERT(cg_extractor_rules_new(NULL, &wide) == CC_OK);
        o.max_tokens = 40;
        o.max_mentions = 6;
        o.max_relations = 5;
        o.max_cooc_per_sentence = 1;
        o.max_name_tokens = 2;
        FUZZ_ASSERT(cg_extractor_rules_new(&o, &tight) == CC_OK);
    }
    cg_extraction_init(&x);
    s = cg_extractor_run(size & 1 ? tight : wide, &ch, &x);
    if (!valid) {
        FUZZ_ASSERT(s == CC_INVALID && x.n_mentions == 0 && x.n_relations == 0);
        FUZZ_ASSERT(*cg_extractor_errmsg(size & 1 ? tight : wide));
        cg_extraction_free(&x);
        return 0;
    }
    FUZZ_ASSERT(s == CC_OK);
    FUZZ_ASSERT(x.warn.bad_offsets == 0);
    FUZZ_ASSERT(x.n_warnings == x.warn.mentions_capped + x.warn.relations_capped + x.warn.cooc_capped +
                                    x.warn.names_too_long + x.warn.tokens_capped + x.warn.bad_offsets);
    FUZZ_ASSERT(x.n_mentions <= x.max_mentions && x.n_relations <= x.max_relations);
    for (i = 0; i < x.n_mentions; i++) {
        const cg_mention *m = &x.mentions[i];
        size_t b0 = m->chunk_start, b1 = m->chunk_end;
        FUZZ_ASSERT(b0 < b1 && b1 <= size);
        FUZZ_ASSERT(boundary(text, size, b0) && boundary(text, size, b1));
        FUZZ_ASSERT(m->surface && strlen(m->surface) == b1 - b0 && !memcmp(m->surface, text + b0, b1 - b0));
        FUZZ_ASSERT(m->start_byte == ch.start_byte + (int64_t)b0 && m->end_byte == ch.start_byte + (int64_t)b1);
        FUZZ_ASSERT(m->start_char == ch.start_char + (int64_t)cc_utf8_count(text, b0));
        FUZZ_ASSERT(m->end_char == ch.start_char + (int64_t)cc_utf8_count(text, b1));
        FUZZ_ASSERT((unsigned)m->type < CG_TYPE_COUNT);
        FUZZ_ASSERT(m->confidence >= 0 && m->confidence <= 1);
    }
    for (i = 0; i < x.n_relations; i++) {
        const cg_relation *rl = &x.relations[i];
        FUZZ_ASSERT(rl->subj < x.n_mentions && rl->obj < x.n_mentions && rl->subj != rl->obj);
        FUZZ_ASSERT(rl->predicate && *rl->predicate && rl->pattern);
        FUZZ_ASSERT(rl->sent_chunk_start < rl->sent_chunk_end && rl->sent_chunk_end <= size);
        FUZZ_ASSERT(boundary(text, size, rl->sent_chunk_start) && boundary(text, size, rl->sent_chunk_end));
        FUZZ_ASSERT(rl->sent_start_char == ch.start_char + (int64_t)cc_utf8_count(text, rl->sent_chunk_start));
        FUZZ_ASSERT(rl->status == CG_REL_CONFIRMED || rl->status == CG_REL_INFERRED);
        FUZZ_ASSERT(x.mentions[rl->subj].chunk_start >= rl->sent_chunk_start &&
                    x.mentions[rl->subj].chunk_end <= rl->sent_chunk_end &&
                    x.mentions[rl->obj].chunk_start >= rl->sent_chunk_start &&
                    x.mentions[rl->obj].chunk_end <= rl->sent_chunk_end);
        FUZZ_ASSERT(rl->confidence >= 0 && rl->confidence <= 1);
    }
    FUZZ_ASSERT(cg_resolve(&x, &r) == CC_OK);
    FUZZ_ASSERT(r.n_mentions == x.n_mentions);
    for (i = 0; i < x.n_mentions; i++) {
        FUZZ_ASSERT(r.entity_of[i] < r.n_entities);
        FUZZ_ASSERT(cg_norm_key(x.mentions[i].surface, strlen(x.mentions[i].surface), &key, NULL) == CC_OK);
        FUZZ_ASSERT(!strcmp(r.key_of[i], key.data ? key.data : ""));
    }
    for (i = 0; i < r.n_entities; i++) {
        const cg_entity *e = &r.entities[i];
        int own = 0, label = 0, type = 0;
        FUZZ_ASSERT(e->key && *e->key && e->label && *e->label);
        FUZZ_ASSERT((unsigned)e->type < CG_TYPE_COUNT && e->n_aliases >= 1);
        for (k = 0; k < x.n_mentions; k++) {
            if (r.entity_of[k] != i) continue;
            own |= !strcmp(r.key_of[k], e->key);
            label |= !strcmp(x.mentions[k].surface, e->label);
            type |= x.mentions[k].type == e->type;
        }
        FUZZ_ASSERT(own && label && type);
        for (k = 0; k < e->n_aliases; k++)
            FUZZ_ASSERT(e->aliases[k].alias && e->aliases[k].norm);
        check_iri(e->key, strlen(e->key));
    }
    cg_resolution_free(&r);
    cg_extraction_free(&x);
    cc_buf_free(&key);
    return 0;
}
