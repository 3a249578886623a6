/* serve_sse.c — server-sent events for the REST server: a producer thread
 * appends events to a queue that libmicrohttpd's reader drains (see
 * serve.h, "server-sent events"). Used by /v1/ask and /v1/chat/completions. */
#include "serve.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

void serve_sse_init(serve_sse *s, void (*owner_free)(serve_sse *))
{
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    cc_buf_init(&s->ev, 0);
    s->sent = 0;
    s->done = s->gone = 0;
    s->refs = 2;
    s->owner_free = owner_free;
}

void serve_sse_unref(serve_sse *s)
{
    int last;
    pthread_mutex_lock(&s->mu);
    last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (!last) return;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    cc_buf_free(&s->ev);
    s->owner_free(s);
}

void serve_sse_push(serve_sse *s, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&s->mu);
    va_start(ap, fmt);
    cc_buf_vprintf(&s->ev, fmt, ap);
    va_end(ap);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void serve_sse_end(serve_sse *s)
{
    pthread_mutex_lock(&s->mu);
    s->done = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    serve_sse_unref(s);
}

int serve_sse_gone(serve_sse *s)
{
    int g;
    pthread_mutex_lock(&s->mu);
    g = s->gone;
    pthread_mutex_unlock(&s->mu);
    return g;
}

/* libmicrohttpd's reader: blocks this worker until events or the end. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    serve_sse *s = cls;
    size_t n;
    (void)pos;
    pthread_mutex_lock(&s->mu);
    while (s->sent == s->ev.len && !s->done) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    n = s->ev.len - s->sent;
    if (n == 0) {   /* done and drained */
        pthread_mutex_unlock(&s->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (n > max) n = max;
    memcpy(buf, s->ev.data + s->sent, n);
    s->sent += n;
    if (s->sent == s->ev.len) { cc_buf_reset(&s->ev); s->sent = 0; }
    pthread_mutex_unlock(&s->mu);
    return (ssize_t)n;
}

/* The response is gone (sent, or the client left). */
static void sse_free(void *cls)
{
    serve_sse *s = cls;
    pthread_mutex_lock(&s->mu);
    s->gone = 1;
    pthread_mutex_unlock(&s->mu);
    serve_sse_unref(s);
}

enum MHD_Result serve_sse_start(serve_req *r, serve_sse *s, void *(*producer)(void *),
                                const char *what, int *started)
{
    struct MHD_Response *resp;
    pthread_t th;
    pthread_attr_t at;
    *started = 0;
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, s, sse_free);
    if (!resp) {
        s->refs = 1;
        serve_sse_unref(s);
        return serve_send_error(r, 500, "internal", "out of memory");
    }
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &at, producer, s)) {
        pthread_attr_destroy(&at);
        s->done = 1;
        s->refs = 1;   /* only the response holds it now */
        MHD_destroy_response(resp);
        return serve_send_error(r, 503, "busy", "cannot start the %s: too many threads", what);
    }
    pthread_attr_destroy(&at);
    *started = 1;
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    return serve_send_response(r, 200, resp);
}
