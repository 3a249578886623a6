/* serve_upload.c — POST /v1/documents as multipart/form-data (a file
 * upload): the parts are read as the body arrives (libmicrohttpd's post
 * processor), then checked. No KB access: serve_docs.c ingests what
 * serve_upload_finish returns; tests/fuzz/fuzz_upload.c drives it over a
 * socketpair. */
#define _GNU_SOURCE
#include "serve.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define BAD_FORMAT_MSG "field \"format\": unknown format \"%.60s\" (use txt, md, html, json or jsonl)"

/* multipart/form-data parts: "file" (required, one; its filename is the
 * default uri and gives the format), "uri", "format", "if_absent"
 * ("true"/"false"). Any other part, a second file, or a part over its
 * limit ends the upload with an error; the body is then drained unread. */
#define UP_FIELD_MAX 4096
typedef struct upload {
    struct MHD_PostProcessor *pp;
    cc_buf file, uri, format, if_absent;
    char  *filename;
    int    n_file_parts;
    int    in_file;        /* the last call was for a "file" part ... */
    size_t file_part_len;  /* ... with this many bytes so far */
    int    status;      /* 0 ok; else the HTTP status to answer */
    char   boundary[80];   /* from Content-Type; RFC 2046 allows 70 bytes */
    char   tail[128];      /* the body's last bytes: the closing boundary must be there */
    size_t n_tail;
    char   msg[200];
} upload;

static void upload_free(void *p)
{
    upload *u = p;
    if (!u) return;
    if (u->pp) MHD_destroy_post_processor(u->pp);
    cc_buf_free(&u->file);
    cc_buf_free(&u->uri);
    cc_buf_free(&u->format);
    cc_buf_free(&u->if_absent);
    free(u->filename);
    free(u);
}

/* arg (a part's name: the client's bytes) goes into the message with each
 * byte that is not valid UTF-8 as '?', so the JSON error stays UTF-8. */
static enum MHD_Result upload_fail(upload *u, int status, const char *fmt, const char *arg)
{
    char clean[61];   /* "%.60s" in a format never cuts it */
    size_t n = strnlen(arg, sizeof clean - 1), i = 0, ok;
    if (u->status) return MHD_NO;
    while (i < n) {
        ok = cc_utf8_check(arg + i, n - i);
        memcpy(clean + i, arg + i, ok);
        i += ok;
        if (i < n) clean[i++] = '?';
    }
    clean[n] = 0;
    clean[cc_utf8_check(clean, n)] = 0;   /* a sequence cut at the end */
    u->status = status;
    snprintf(u->msg, sizeof u->msg, fmt, clean);
    u->msg[cc_utf8_check(u->msg, strlen(u->msg))] = 0;   /* cut at the end of msg */
    return MHD_NO;
}

static enum MHD_Result upload_part(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *filename, const char *content_type,
                                   const char *transfer_encoding, const char *data, uint64_t off,
                                   size_t size)
{
    upload *u = cls;
    cc_buf *dst;
    (void)kind; (void)content_type; (void)transfer_encoding;
    if (u->status) return MHD_NO;
    if (!key) return upload_fail(u, 400, "a multipart part has no name%s", "");
    if (strcmp(key, "file")) u->in_file = 0;
    if (!strcmp(key, "file")) {
        /* libmicrohttpd may call more than once at offset 0 (a call with no
         * bytes first when the body comes in small pieces): a new part is
         * offset 0 after another part or after bytes of this one */
        if (off == 0 && !(u->in_file && u->file_part_len == 0)) {
            u->in_file = 1;
            u->file_part_len = 0;
            if (++u->n_file_parts > 1)
                return upload_fail(u, 400, "one \"file\" part per request%s", "");
            if (filename && !(u->filename = cc_strndup(filename, strnlen(filename, UP_FIELD_MAX))))
                return upload_fail(u, 500, "out of memory%s", "");
        }
        u->file_part_len += size;
        dst = &u->file;
    } else if (!strcmp(key, "uri")) dst = &u->uri;
    else if (!strcmp(key, "format")) dst = &u->format;
    else if (!strcmp(key, "if_absent")) dst = &u->if_absent;
    else return upload_fail(u, 400, "unknown multipart part \"%.60s\" (use file, uri, format, if_absent)", key);
    if (size && cc_buf_append(dst, data, size) != CC_OK)
        return dst == &u->file
            ? upload_fail(u, 413, "the uploaded file is over the limit of " "%s", "4 MiB")
            : upload_fail(u, 400, "multipart part \"%s\" is too long", key);
    return MHD_YES;
}

static int upload_body(serve_req *r, const char *data, size_t n)
{
    upload *u = r->ext;
    if (u->status) return 0;   /* already failed: drain */
    if (n >= sizeof u->tail) {
        memcpy(u->tail, data + n - sizeof u->tail, sizeof u->tail);
        u->n_tail = sizeof u->tail;
    } else {
        size_t keep = u->n_tail + n > sizeof u->tail ? sizeof u->tail - n : u->n_tail;
        memmove(u->tail, u->tail + u->n_tail - keep, keep);
        memcpy(u->tail + keep, data, n);
        u->n_tail = keep + n;
    }
    if (MHD_post_process(u->pp, data, n) != MHD_YES && !u->status) {
        u->status = 400;
        snprintf(u->msg, sizeof u->msg, "malformed multipart/form-data body");
    }
    return 0;
}

void serve_doc_post_begin(serve_req *r)
{
    const char *ct = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Content-Type");
    upload *u;
    if (!ct || strncasecmp(ct, "multipart/form-data", 19)) return;   /* JSON: the usual path */
    if (!(u = calloc(1, sizeof *u))) {
        r->early = 500;
        snprintf(r->early_msg, sizeof r->early_msg, "out of memory");
        return;
    }
    cc_buf_init(&u->file, SERVE_BODY_MAX);
    cc_buf_init(&u->uri, UP_FIELD_MAX);
    cc_buf_init(&u->format, 16);
    cc_buf_init(&u->if_absent, 16);
    r->ext = u;
    r->ext_free = upload_free;
    {   /* boundary=..., maybe quoted */
        const char *b = strcasestr(ct, "boundary=");
        size_t n;
        if (b) {
            b += 9;
            if (*b == '"') b++;
            n = strcspn(b, "\";, ");
            if (n && n < sizeof u->boundary) { memcpy(u->boundary, b, n); u->boundary[n] = 0; }
        }
    }
    if (!u->boundary[0] || !(u->pp = MHD_create_post_processor(r->c, 16 * 1024, upload_part, u))) {
        r->early = 400;
        snprintf(r->early_msg, sizeof r->early_msg,
                 "multipart/form-data needs a boundary parameter in Content-Type");
        return;
    }
    r->body_fn = upload_body;
}

/* Part of serve_upload_finish: 0, or -1 with *bad. */
static int up_refuse(serve_bad *bad, int status, const char *code, const char *msg)
{
    bad->status = status;
    bad->code = code;
    snprintf(bad->msg, sizeof bad->msg, "%s", msg);
    return -1;
}

int serve_upload_is(const serve_req *r) { return r->body_fn == upload_body; }

int serve_upload_finish(serve_req *r, const char **uri_out, cr_format *format,
                        const char **data, size_t *len, int *if_absent, serve_bad *bad)
{
    upload *u = r->ext;
    const char *uri;
    cr_format f;
    size_t at;
    char msg[200];
    C_ASSERT(serve_upload_is(r) && u);
    *if_absent = 0;
    if (!u->status && MHD_post_process(u->pp, NULL, 0) != MHD_YES && !u->status) {
        u->status = 400;
        snprintf(u->msg, sizeof u->msg, "malformed multipart/form-data body");
    }
    if (!u->status) {   /* the body must end with the closing boundary: else truncated */
        size_t n = u->n_tail, bl = strlen(u->boundary);
        while (n && (u->tail[n - 1] == '\r' || u->tail[n - 1] == '\n')) n--;
        if (n < bl + 4 || memcmp(u->tail + n - bl - 4, "--", 2) ||
            memcmp(u->tail + n - bl - 2, u->boundary, bl) || memcmp(u->tail + n - 2, "--", 2)) {
            u->status = 400;
            snprintf(u->msg, sizeof u->msg, "malformed multipart/form-data body: no final "
                     "boundary (--%.70s--); was the upload cut short?", u->boundary);
        }
    }
    if (u->status)
        return up_refuse(bad, u->status, u->status == 413 ? "body_too_large"
                         : u->status == 500 ? "internal" : "bad_multipart", u->msg);
    if (!u->n_file_parts)
        return up_refuse(bad, 400, "bad_multipart", "the multipart body has no \"file\" part");
    uri = u->uri.len ? u->uri.data : u->filename;
    if (!uri || !*uri)
        return up_refuse(bad, 400, "bad_multipart",
                         "no uri: send a \"uri\" part or a filename on the \"file\" part");
    if (cc_utf8_check(uri, strlen(uri)) < strlen(uri))
        return up_refuse(bad, 400, "invalid_utf8", "the uri is not valid UTF-8");
    if (u->if_absent.len) {
        if (!strcmp(u->if_absent.data, "true")) *if_absent = 1;
        else if (strcmp(u->if_absent.data, "false"))
            return up_refuse(bad, 400, "bad_field", "part \"if_absent\" must be true or false");
    }
    if (u->format.len) {
        if ((f = cr_format_from_name(u->format.data)) == CR_FMT_UNKNOWN) {
            snprintf(msg, sizeof msg, BAD_FORMAT_MSG, u->format.data);
            msg[cc_utf8_check(msg, strlen(msg))] = 0;
            return up_refuse(bad, 400, "bad_field", msg);
        }
    } else if ((f = cr_format_from_path(uri)) == CR_FMT_UNKNOWN) {
        f = CR_FMT_TXT;
    }
    at = u->file.len ? cc_utf8_check(u->file.data, u->file.len) : 0;
    if (at < u->file.len) {
        snprintf(msg, sizeof msg, "the uploaded file is not valid UTF-8 (byte %zu)", at);
        return up_refuse(bad, 400, "invalid_utf8", msg);
    }
    *uri_out = uri;
    *format = f;
    *data = u->file.data ? u->file.data : "";
    *len = u->file.len;
    return 0;
}
