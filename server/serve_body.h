/* serve_body.h — the request-body checks of `cairn serve` that need no
 * connection: a JSON body (content type, UTF-8, exactly one JSON object),
 * its members' names and types, and POST /v1/documents' JSON fields. Pure
 * functions (no libmicrohttpd, no KB), so tests/fuzz/fuzz_body.c calls
 * them directly; serve_parse_body and serve_check_fields (cmd_serve.c)
 * send what they find. */
#ifndef CAIRN_SERVE_BODY_H
#define CAIRN_SERVE_BODY_H

#include "retrieval.h"

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct serve_bad {   /* why a body is refused */
    int         status;      /* HTTP status: 400 or 415 */
    const char *code;        /* static: "malformed_json", "unknown_field", ... */
    char        msg[256];    /* for the caller: says where and what to send */
} serve_bad;

/* ctype (the Content-Type header, may be NULL) must be application/json
 * (parameters after ';' allowed); data[0..len) valid UTF-8 holding one JSON
 * object and trailing whitespace only. Returns the object (caller frees
 * with cJSON_Delete), or NULL with *bad filled. */
cJSON *serve_body_json(const char *ctype, const char *data, size_t len, serve_bad *bad);

/* Every member of object j is named in allowed (NULL-terminated, at most
 * 32), once, with the type in the parallel types string: s string, n
 * number, o object, b boolean, a array, * any. 0, or -1 with *bad. */
int serve_body_fields(const cJSON *j, const char *const *allowed, const char *types,
                      serve_bad *bad);

/* POST /v1/documents with a JSON body: {"uri", "text", "format"?,
 * "if_absent"?}. 0 with *uri and *text borrowed from j, the format (txt
 * when absent) and if_absent; -1 with *bad. */
int serve_body_doc(const cJSON *j, const char **uri, const char **text, cr_format *format,
                   int *if_absent, serve_bad *bad);

#endif
