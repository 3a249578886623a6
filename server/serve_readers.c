/* serve_readers.c — `cairn serve`'s search workers: /v1/search requests
 * run here, in the order they arrived, instead of on the libmicrohttpd
 * thread that owns their connection.
 *
 * Why: libmicrohttpd's thread pool gives each connection to one thread for
 * its life, and the threads do not get equal shares of them (64 wrk
 * connections on 2 threads came out 38 / 26), while each thread gets about
 * the same CPU. A connection on the crowded thread waits for more requests
 * before its own: 1.4x the latency of one on the other thread, which was
 * most of the hybrid p99 / p50 ratio (docs/benchmarks.md, "The hybrid tail
 * and the writer"). One queue for all connections serves them first come,
 * first served, however the connections are spread.
 *
 * As for writes (serve_writer.c): the handler validates the request on its
 * libmicrohttpd thread, serve_read_submit queues a job and suspends the
 * connection, a worker runs the job (with a reader slot it takes itself),
 * builds the reply and resumes the connection; libmicrohttpd then calls the
 * handler again, which sends the reply (the hand-off is serve_job.c's). A connection
 * has at most one request in flight, so the queue holds at most one job a
 * connection and needs no bound. */
#define _GNU_SOURCE
#include "serve.h"

#include <string.h>

static struct {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    pthread_t      *tid;
    int             n_threads, stop;
    serve_jobq      q;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&R.mu);
    for (;;) {
        serve_job *j = serve_job_pop(&R.q);
        if (!j) {
            if (R.stop) break;
            pthread_cond_wait(&R.cv, &R.mu);
            continue;
        }
        pthread_mutex_unlock(&R.mu);
        j->read_fn(j->r, j->arg, &j->rp);
        serve_job_done(j);
        pthread_mutex_lock(&R.mu);
    }
    pthread_mutex_unlock(&R.mu);
    return NULL;
}

int serve_readers_start(int n_threads)
{
    int i;
    if (!(R.tid = calloc((size_t)n_threads, sizeof *R.tid))) return cli_error("out of memory");
    for (i = 0; i < n_threads; i++) {
        int e = pthread_create(&R.tid[i], NULL, worker_main, NULL);
        if (e) {
            serve_readers_stop();
            return cli_error("cannot start the search threads: %s", strerror(e));
        }
        R.n_threads++;
    }
    return 0;
}

void serve_readers_stop(void)
{
    int i;
    pthread_mutex_lock(&R.mu);
    R.stop = 1;
    pthread_cond_broadcast(&R.cv);
    pthread_mutex_unlock(&R.mu);
    for (i = 0; i < R.n_threads; i++) pthread_join(R.tid[i], NULL);
    R.n_threads = 0;
    free(R.tid);
    R.tid = NULL;
}

enum MHD_Result serve_read_submit(serve_req *r, serve_read_fn fn, void *arg,
                                  void (*arg_free)(void *))
{
    serve_job *j;
    int queued = 0, workers;
    pthread_mutex_lock(&R.mu);
    workers = R.n_threads;
    pthread_mutex_unlock(&R.mu);
    if (!workers) {   /* none started: run here */
        serve_reply rp;
        serve_reply_init(&rp);
        fn(r, arg, &rp);
        if (arg_free) arg_free(arg);
        return serve_send_reply(r, &rp);
    }
    if (!(j = serve_job_new(r, arg, arg_free)))
        return serve_send_error(r, 500, "internal", "out of memory");
    j->read_fn = fn;
    pthread_mutex_lock(&R.mu);
    if (!R.stop) {
        serve_job_push(&R.q, j);
        pthread_cond_signal(&R.cv);
        queued = 1;
    }
    pthread_mutex_unlock(&R.mu);
    if (!queued) {
        serve_job_free(j);
        return serve_send_error(r, 503, "shutting_down", "the server is shutting down; retry");
    }
    return MHD_YES;
}
