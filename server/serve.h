/* serve.h — what the REST server (cmd_serve.c) shares with its route files
 * serve_traces.c (GET /v1/traces..., /v1/chunks/{id}) and serve_web.c (the
 * trace browser's page at /). Internal to server/, not a module API.
 *
 * A route file fills a serve_reply; cmd_serve.c sends it (and counts it in
 * /metrics), so the route files never touch the server's slots or counters. */
#ifndef CAIRN_SERVE_H
#define CAIRN_SERVE_H

#include "core.h"

#include <microhttpd.h>

#define SERVE_HDR_MAX 5

/* What a route answers. Exactly one body source is used: `stream` when set,
 * else `static_body` when set, else `body`. */
typedef struct serve_reply {
    int          status;
    const char  *ctype;             /* static string */
    cc_buf       body;              /* owned; serve_reply_free frees it */
    const char  *static_body;       /* borrowed; lives as long as the process */
    size_t       static_len;
    struct MHD_Response *stream;    /* owned until sent (streamed body) */
    const char  *allow;             /* Allow header for a 405, static string */
    struct { const char *name; char value[320]; } hdr[SERVE_HDR_MAX];  /* name NULL: unused */
} serve_reply;

void serve_reply_init(serve_reply *rp);
void serve_reply_free(serve_reply *rp);   /* the body and an unsent stream */
/* Adds a header (name static, value copied; truncated to 319 bytes). */
void serve_reply_header(serve_reply *rp, const char *name, const char *fmt, ...)
     __attribute__((format(printf, 3, 4)));
/* {"error":{"code","message"}} with the status. */
void serve_reply_error(serve_reply *rp, int status, const char *code, const char *fmt, ...)
     __attribute__((format(printf, 4, 5)));

/* serve_traces.c. serve_traces_match: 1 when url is one of its paths. kb is
 * a read handle borrowed for the call (NULL: the KB could not be opened);
 * kbdir is used to open a handle a streamed export owns. */
int  serve_traces_match(const char *url);
void serve_traces_handle(struct MHD_Connection *c, cc_kb *kb, const char *kbdir,
                         const char *method, const char *url, serve_reply *rp);

/* serve_web.c: the page's compiled-in files, with a Content-Security-Policy. */
int  serve_web_match(const char *url);
void serve_web_handle(const char *method, const char *url, serve_reply *rp);

#endif
