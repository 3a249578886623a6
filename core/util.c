/* util.c — status strings, the thread-local error message, assertions,
 * checked string and number helpers, clocks. */
#define _POSIX_C_SOURCE 200809L
#include "core.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static const char *const status_names[CC_STATUS_COUNT] = {
    [CC_OK]          = "ok",
    [CC_ERROR]       = "error",
    [CC_NOMEM]       = "out of memory",
    [CC_IO]          = "I/O error",
    [CC_INVALID]     = "invalid input",
    [CC_NOTFOUND]    = "not found",
    [CC_BUSY]        = "busy",
    [CC_CORRUPT]     = "corrupt",
    [CC_VERSION]     = "version mismatch",
    [CC_FULL]        = "disk full",
    [CC_TOOBIG]      = "too big",
    [CC_UNSUPPORTED] = "unsupported",
    [CC_EXISTS]      = "already exists",
    [CC_SQLITE]      = "database error",
    [CC_INTERRUPTED] = "interrupted",
};

const char *cc_status_str(cc_status s)
{
    if ((unsigned)s >= CC_STATUS_COUNT) return "unknown status";
    return status_names[s];
}

static _Thread_local char errmsg_tls[1024];

cc_status cc_seterr(cc_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg_tls, sizeof errmsg_tls, fmt, ap);
    va_end(ap);
    return s;
}

const char *cc_errmsg(void)
{
    return errmsg_tls[0] ? errmsg_tls : "no error";
}

void cc_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "cairn: internal error: %s:%d: assertion failed: %s\n",
            file, line, expr);
    abort();
}

char *cc_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *cc_strdup(const char *s)
{
    return s ? cc_strndup(s, strlen(s)) : NULL;
}

cc_status cc_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    long long v;
    if (!s || !*s) return cc_seterr(CC_INVALID, "expected a number, got nothing");
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || end == s)
        return cc_seterr(CC_INVALID, "'%s' is not a whole number", s);
    if (v < lo || v > hi)
        return cc_seterr(CC_INVALID, "%s is out of range [%lld, %lld]", s,
                         (long long)lo, (long long)hi);
    *out = v;
    return CC_OK;
}

double cc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void cc_utc_iso8601(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
