/* fuzz_upload.c — libFuzzer harness: POST /v1/documents as
 * multipart/form-data (server/serve_upload.c on libmicrohttpd's post
 * processor). No network: one libmicrohttpd daemon without a listening
 * socket or a thread gets each request on a socketpair (MHD_add_connection)
 * and is run (MHD_run) between the harness's writes; its handler runs the server's own begin / body / finish steps. The first
 * input byte picks the Content-Type (boundary plain, quoted, missing, over
 * long) and the second send's write size (1, 7, 4096 bytes or whole); the rest is the body.
 * Each input is sent twice, whole and split. Properties: every request
 * gets one HTTP answer, the same for both; a refusal has status
 * 400/413/500 with a code and a valid UTF-8 message; an accepted upload has
 * a non-empty valid UTF-8 uri, a known format and valid UTF-8 data of the
 * stated length. */
#define _GNU_SOURCE
#include "serve.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#define FUZZ_ASSERT(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

static struct MHD_Daemon *daemon_;

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status)
{
    static const char body[] = "{}";
    struct MHD_Response *resp = MHD_create_response_from_buffer(2, (void *)body,
                                                                MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;
    if (!resp) return MHD_NO;
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls)
{
    serve_req *r = *con_cls;
    (void)cls; (void)version;
    if (!r) {
        FUZZ_ASSERT((r = calloc(1, sizeof *r)));
        r->c = c;
        r->url = url;
        r->method = method;
        r->route = -1;
        cc_buf_init(&r->body, 0);
        *con_cls = r;
        serve_doc_post_begin(r);
        if (!r->early) FUZZ_ASSERT(serve_upload_is(r) && r->ext);
        return MHD_YES;
    }
    if (*size) {
        if (!r->early && r->body_fn && r->body_fn(r, data, *size)) r->too_big = 1;
        *size = 0;
        return MHD_YES;
    }
    if (r->early) {
        FUZZ_ASSERT(r->early == 400 || r->early == 500);
        FUZZ_ASSERT(cc_utf8_check(r->early_msg, strlen(r->early_msg)) == strlen(r->early_msg));
        return answer(c, (unsigned)r->early);
    }
    {
        const char *uri = NULL, *d = NULL;
        size_t len = 0;
        cr_format f = CR_FMT_UNKNOWN;
        int ifa = -1;
        serve_bad bad;
        memset(&bad, 0, sizeof bad);
        if (serve_upload_finish(r, &uri, &f, &d, &len, &ifa, &bad)) {
            FUZZ_ASSERT(bad.status == 400 || bad.status == 413 || bad.status == 500);
            FUZZ_ASSERT(bad.code && *bad.code && memchr(bad.msg, 0, sizeof bad.msg));
            FUZZ_ASSERT(cc_utf8_check(bad.msg, strlen(bad.msg)) == strlen(bad.msg));
            return answer(c, (unsigned)bad.status);
        }
        FUZZ_ASSERT(uri && *uri && cc_utf8_check(uri, strlen(uri)) == strlen(uri));
        FUZZ_ASSERT(f != CR_FMT_UNKNOWN && (ifa == 0 || ifa == 1) && d);
        FUZZ_ASSERT(len <= SERVE_BODY_MAX && cc_utf8_check(d, len) == len);
        return answer(c, 201);
    }
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    serve_req *r = *con_cls;
    (void)cls; (void)c; (void)toe;
    if (!r) return;
    if (r->ext_free) r->ext_free(r->ext);
    cc_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    signal(SIGPIPE, SIG_IGN);
    /* no thread: the harness runs the daemon (MHD_run) between its own
     * writes and reads, so every run is the same sequence of steps */
    daemon_ = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, handler, NULL,
                               MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                               MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
                               MHD_OPTION_END);
    FUZZ_ASSERT(daemon_);
    return 0;
}

/* One request with body data[1..size) written in pieces of `piece` bytes;
 * the HTTP status answered, or 0 when the daemon did not take it. */
static long one_request(const uint8_t *data, size_t size, size_t piece)
{
    static const char *const ctypes[] = {
        "multipart/form-data; boundary=XyZ",
        "multipart/form-data; boundary=\"XyZ\"",
        "multipart/form-data",
        "Multipart/Form-Data; charset=utf-8; boundary=XyZ",
        "multipart/form-data; boundary=0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890",
        "multipart/form-data; boundary=",
    };
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    cc_buf req = CC_BUF_INIT(0);
    char resp[512];
    size_t got = 0;
    int sv[2];
    long st;
    FUZZ_ASSERT(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    FUZZ_ASSERT(cc_buf_printf(&req, "POST /v1/documents HTTP/1.1\r\nHost: fuzz\r\n"
                              "Content-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                              ctypes[(data[0] & 0x0f) % (sizeof ctypes / sizeof *ctypes)],
                              size - 1) == CC_OK);
    FUZZ_ASSERT(cc_buf_append(&req, (const char *)data + 1, size - 1) == CC_OK);
    if (MHD_add_connection(daemon_, sv[1], (const struct sockaddr *)&sa, sizeof sa) != MHD_YES) {
        close(sv[0]);
        close(sv[1]);
        cc_buf_free(&req);
        return 0;
    }
    {   /* write a piece, let the daemon work, read what it answered; until it closes */
        size_t off = 0;
        long steps;
        FUZZ_ASSERT(!fcntl(sv[0], F_SETFL, O_NONBLOCK));
        for (steps = 0; ; steps++) {
            char drain[4096];
            ssize_t n;
            FUZZ_ASSERT(steps < 4 * (long)req.len + 1000);   /* else: no answer, a hang */
            if (off < req.len) {
                n = write(sv[0], req.data + off, req.len - off < piece ? req.len - off : piece);
                if (n > 0) off += (size_t)n;
                else if (errno != EAGAIN) off = req.len;   /* it closed: answered early */
            }
            FUZZ_ASSERT(MHD_run(daemon_) == MHD_YES);
            n = got < sizeof resp - 1 ? read(sv[0], resp + got, sizeof resp - 1 - got)
                                      : read(sv[0], drain, sizeof drain);
            if (n == 0 || (n < 0 && errno != EAGAIN)) break;
            if (n > 0 && got < sizeof resp - 1) got += (size_t)n;
        }
    }
    resp[got] = 0;
    FUZZ_ASSERT(got >= 12 && !memcmp(resp, "HTTP/1.1 ", 9));
    st = strtol(resp + 9, NULL, 10);
    FUZZ_ASSERT(st == 201 || st == 400 || st == 413 || st == 500);
    close(sv[0]);
    cc_buf_free(&req);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t pieces[] = {1, 7, 4096, 1 << 20};
    long whole, split;
    if (size < 1 || size > 256 * 1024) return 0;
    if (!daemon_) LLVMFuzzerInitialize(NULL, NULL);
    whole = one_request(data, size, 1 << 20);
    split = one_request(data, size, pieces[(data[0] >> 4) % (sizeof pieces / sizeof *pieces)]);
    /* how the body arrives (one write, or small pieces) never changes the answer */
    FUZZ_ASSERT(!whole || !split || whole == split);
    return 0;
}
