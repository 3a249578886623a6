/* serve_reply.c — building the replies the REST server's route files hand
 * back to cmd_serve.c (see serve.h). */
#include "serve.h"

#include <stdio.h>
#include <string.h>

void serve_reply_init(serve_reply *rp)
{
    memset(rp, 0, sizeof *rp);
    rp->status = 500;
    rp->ctype = "application/json";
    cc_buf_init(&rp->body, (size_t)64 << 20);
}

void serve_reply_free(serve_reply *rp)
{
    if (!rp) return;
    cc_buf_free(&rp->body);
    if (rp->stream) MHD_destroy_response(rp->stream);
    rp->stream = NULL;
}

void serve_reply_header(serve_reply *rp, const char *name, const char *fmt, ...)
{
    va_list ap;
    int i;
    for (i = 0; i < SERVE_HDR_MAX && rp->hdr[i].name; i++) {}
    C_ASSERT(i < SERVE_HDR_MAX);
    rp->hdr[i].name = name;
    va_start(ap, fmt);
    vsnprintf(rp->hdr[i].value, sizeof rp->hdr[i].value, fmt, ap);
    va_end(ap);
}

void serve_reply_error(serve_reply *rp, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    msg[cc_utf8_check(msg, strlen(msg))] = 0;   /* a cut (or bad) UTF-8 sequence ends it */
    rp->status = status;
    rp->ctype = "application/json";
    rp->static_body = NULL;
    cc_buf_reset(&rp->body);
    if (cc_buf_puts(&rp->body, "{\"error\":{\"code\":") ||
        cc_buf_json_str(&rp->body, code, strlen(code)) ||
        cc_buf_puts(&rp->body, ",\"message\":") ||
        cc_buf_json_str(&rp->body, msg, strlen(msg)) || cc_buf_puts(&rp->body, "}}")) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        rp->status = 500;
        rp->static_body = oom;
        rp->static_len = sizeof oom - 1;
    }
}

int serve_write_status(cc_status s, int dflt, const char *dflt_code, const char **code)
{
    if (s == CC_FULL) { *code = "insufficient_storage"; return 507; }
    if (s == CC_BUSY) { *code = "kb_busy"; return 503; }
    *code = dflt_code;
    return dflt;
}

void serve_reply_json(serve_reply *rp, int status, cJSON *j)
{
    char *t = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!t || cc_buf_puts(&rp->body, t)) {
        free(t);
        serve_reply_error(rp, 500, "internal", "out of memory");
        return;
    }
    free(t);
    rp->status = status;
    rp->ctype = "application/json";
    rp->static_body = NULL;
}
