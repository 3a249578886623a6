/* serve_timing.c — `cairn serve`'s timing log, a diagnostic: with the
 * environment variable CAIRN_SERVE_TIMING=FILE the server appends one line
 * per search request (where its time went) and per background event (a
 * write, a vector catch-up, a reader index refresh) to FILE, so that a
 * latency tail can be traced to its cause (docs/benchmarks.md, "The hybrid
 * tail and the writer"). Off (one branch per request) when the variable is
 * unset. Lines are written whole under a mutex; times are cc_now_ms()
 * (monotonic ms), so lines from different threads line up. */
#define _GNU_SOURCE
#include "serve.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static FILE *tlog;
static pthread_mutex_t tlog_mu = PTHREAD_MUTEX_INITIALIZER;

int serve_timing_open(void)
{
    const char *path = getenv("CAIRN_SERVE_TIMING");
    if (!path || !*path) return 0;
    if (!(tlog = fopen(path, "a")))
        return cli_error("CAIRN_SERVE_TIMING=%s: cannot open it for appending", path);
    setvbuf(tlog, NULL, _IOFBF, (size_t)1 << 16);
    fprintf(stderr, "cairn: timing log in %s (CAIRN_SERVE_TIMING)\n", path);
    return 0;
}

int serve_timing_on(void) { return tlog != NULL; }

void serve_timing(const char *kind, const char *fmt, ...)
{
    va_list ap;
    if (!tlog) return;
    pthread_mutex_lock(&tlog_mu);
    fprintf(tlog, "%s %.3f %ld ", kind, cc_now_ms(), (long)syscall(SYS_gettid));
    va_start(ap, fmt);
    vfprintf(tlog, fmt, ap);
    va_end(ap);
    fputc('\n', tlog);
    pthread_mutex_unlock(&tlog_mu);
}

double serve_thread_cpu_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)) return 0;
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void serve_timing_close(void)
{
    pthread_mutex_lock(&tlog_mu);
    if (tlog) fclose(tlog);
    tlog = NULL;
    pthread_mutex_unlock(&tlog_mu);
}
