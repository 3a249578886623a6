/* serve_body.c — request-body checks without a connection (serve_body.h). */
#define _GNU_SOURCE
#include "serve_body.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static void *refuse(serve_bad *bad, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void *refuse(serve_bad *bad, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    bad->status = status;
    bad->code = code;
    va_start(ap, fmt);
    vsnprintf(bad->msg, sizeof bad->msg, fmt, ap);
    va_end(ap);
    bad->msg[cc_utf8_check(bad->msg, strlen(bad->msg))] = 0;   /* a cut UTF-8 sequence ends it */
    return NULL;
}

cJSON *serve_body_json(const char *ctype, const char *data, size_t len, serve_bad *bad)
{
    const char *end = NULL;
    cJSON *j;
    size_t at;
    if (!ctype || !*ctype || strncasecmp(ctype, "application/json", 16) ||
        (ctype[16] && ctype[16] != ';'))
        return ctype && *ctype
            ? refuse(bad, 415, "unsupported_media_type",
                     "Content-Type %.100s is not supported: send application/json", ctype)
            : refuse(bad, 415, "unsupported_media_type",
                     "Content-Type is missing: send application/json");
    if (len && (at = cc_utf8_check(data, len)) < len)
        return refuse(bad, 400, "invalid_utf8", "request body is not valid UTF-8 (byte %zu)", at);
    if (!len) return refuse(bad, 400, "malformed_json", "the body is empty: send a JSON object");
    j = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    if (j) {   /* only whitespace may follow the value */
        while (end < data + len && *end && strchr(" \t\r\n", *end)) end++;
        if (end < data + len) { cJSON_Delete(j); j = NULL; }
    }
    if (!j) {
        at = end && end >= data && end <= data + len ? (size_t)(end - data) : 0;
        return refuse(bad, 400, "malformed_json", "malformed JSON at byte %zu of the body", at);
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return refuse(bad, 400, "bad_request", "the body must be a JSON object");
    }
    return j;
}

int serve_body_fields(const cJSON *j, const char *const *allowed, const char *types,
                      serve_bad *bad)
{
    static const char *const tname[] = {"s", "a string", "n", "a number", "o", "an object",
                                        "b", "true or false", "a", "an array"};
    const cJSON *m;
    unsigned seen = 0;   /* bit i: allowed[i] met (at most 32 fields) */
    cJSON_ArrayForEach(m, j) {
        int i, okt;
        size_t t;
        if (!m->string) {   /* not an object member: the caller passed an array */
            refuse(bad, 400, "bad_request", "expected a JSON object");
            return -1;
        }
        for (i = 0; allowed[i] && strcmp(allowed[i], m->string); i++) {}
        if (!allowed[i]) {
            refuse(bad, 400, "unknown_field", "unknown field \"%.100s\"", m->string);
            return -1;
        }
        C_ASSERT(i < 32);
        if (seen & (1u << i)) {
            refuse(bad, 400, "duplicate_field", "field \"%s\" appears twice", m->string);
            return -1;
        }
        seen |= 1u << i;
        switch (types[i]) {
        case 's': okt = cJSON_IsString(m); break;
        case 'n': okt = cJSON_IsNumber(m); break;
        case 'o': okt = cJSON_IsObject(m); break;
        case 'b': okt = cJSON_IsBool(m); break;
        case 'a': okt = cJSON_IsArray(m); break;
        default:  okt = 1;
        }
        if (!okt) {
            for (t = 0; t < sizeof tname / sizeof *tname && tname[t][0] != types[i]; t += 2) {}
            refuse(bad, 400, "bad_field", "field \"%s\" must be %s", m->string,
                   t + 1 < sizeof tname / sizeof *tname ? tname[t + 1] : "valid");
            return -1;
        }
    }
    return 0;
}

#define BAD_FORMAT_MSG "field \"format\": unknown format \"%.60s\" (use txt, md, html, json or jsonl)"

int serve_body_doc(const cJSON *j, const char **uri, const char **text, cr_format *format,
                   int *if_absent, serve_bad *bad)
{
    static const char *const fields[] = {"uri", "text", "format", "if_absent", NULL};
    const cJSON *u, *t, *f;
    if (serve_body_fields(j, fields, "sssb", bad)) return -1;
    u = cJSON_GetObjectItemCaseSensitive(j, "uri");
    t = cJSON_GetObjectItemCaseSensitive(j, "text");
    f = cJSON_GetObjectItemCaseSensitive(j, "format");
    if (!u || !*u->valuestring || !t) {
        refuse(bad, 400, "bad_field",
               "fields \"uri\" (non-empty string) and \"text\" (string) are required");
        return -1;
    }
    *format = f ? cr_format_from_name(f->valuestring) : CR_FMT_TXT;
    if (*format == CR_FMT_UNKNOWN) {
        refuse(bad, 400, "bad_field", BAD_FORMAT_MSG, f->valuestring);
        return -1;
    }
    *uri = u->valuestring;
    *text = t->valuestring;
    *if_absent = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "if_absent"));
    return 0;
}
