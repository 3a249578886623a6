/* parse_int.h — helpers shared by the parsers (parse.c, parse_html.c,
 * parse_json.c). Not part of the public interface. Prefix: crp_. */
#ifndef CAIRN_PARSE_INT_H
#define CAIRN_PARSE_INT_H

#include "retrieval.h"

#define CRP_TITLE_MAX 512   /* bytes kept of one heading or title */

static inline int crp_is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Resets err and writes a formatted one-line reason; returns s. err may be NULL. */
cc_status crp_err(cc_buf *err, cc_status s, const char *fmt, ...)
          __attribute__((format(printf, 3, 4)));

int crp_all_ws(const char *p, size_t n);

/* Bytes of the maximal invalid subpart at p[0..n) (n >= 1): what one U+FFFD
 * replaces (Unicode's "maximal subpart" rule, as WHATWG decoders do). */
size_t crp_utf8_bad_len(const char *p, size_t n);

/* Appends p[0..n) to out with each invalid sequence replaced by U+FFFD
 * (out may be NULL: only counts); *n_bad = sequences replaced. */
cc_status crp_utf8_repair(const char *p, size_t n, cc_buf *out, size_t *n_bad);

/* A size cap for a buffer built from n input bytes. */
size_t crp_buf_max(size_t n);

/* The input of a text format after the shared checks. */
typedef struct crp_input {
    const char *p;      /* after the BOM; the repaired copy when one was made */
    size_t n;
    size_t base;        /* offset of p in the original input (3 after a BOM) */
    size_t repaired;    /* invalid sequences (repair mode) */
    int has_bad;        /* invalid UTF-8 present and left in p (no copy made) */
} crp_input;

enum { CRP_REPAIR_COPY = 1 };   /* repair mode: make a repaired copy in `fixed` */

/* Skips a UTF-8 BOM, refuses NUL bytes ("binary file (NUL byte at byte N)"),
 * invalid UTF-8 unless o->repair_utf8 ("invalid UTF-8 at byte N") and empty
 * or whitespace-only input ("empty document"). Offsets count from data[0].
 * Without CRP_REPAIR_COPY, invalid bytes stay in in->p (has_bad) and the
 * caller repairs while it copies. `fixed` is freed by the caller. */
cc_status crp_prepare(const char *data, size_t n, const cr_parse_opts *o, int flags,
                      cc_buf *fixed, crp_input *in, cc_buf *err);

/* Heading sections with the heading path "H1 > H2". */
typedef struct crp_secs {
    cr_section *v;
    size_t n, cap;
    struct { int level; char *title; } stack[6];
    size_t depth;
} crp_secs;

/* Adds a heading of `level` (1..6) starting at byte `start`; its text
 * t[0..tn) is trimmed and capped; an empty heading is skipped. */
cc_status crp_secs_heading(crp_secs *s, int level, size_t start, const char *t, size_t tn);
void      crp_secs_free(crp_secs *s);

/* opts are filled in (defaults applied) by cr_parse. */
cc_status crp_parse_html(const char *uri, const char *data, size_t n, const cr_parse_opts *o,
                         cr_doc_fn fn, void *ud, cc_buf *err);
cc_status crp_parse_json(const char *uri, const char *data, size_t n, const cr_parse_opts *o,
                         cr_doc_fn fn, void *ud, cc_buf *err);
cc_status crp_parse_jsonl(const char *uri, const char *data, size_t n, const cr_parse_opts *o,
                          cr_doc_fn fn, void *ud, cc_buf *err);

#endif
