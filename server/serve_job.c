/* serve_job.c — a request handed from its libmicrohttpd thread to another
 * thread (the writer, serve_writer.c, or a search worker, serve_readers.c)
 * and back: the job type, its FIFO, and the suspend / resume protocol both
 * use.
 *
 * The handler validates the request, makes a job (serve_job_new) and, under
 * its queue's lock, suspends the connection and queues the job
 * (serve_job_push: suspend first, so the other thread's resume always comes
 * after it). The other thread pops it, runs it into j->rp and calls
 * serve_job_done: the reply is published (done = 1, release) and the
 * connection resumed; libmicrohttpd then calls the handler again, which
 * sends the reply (serve_job_resumed). The job belongs to the request from
 * then on and is freed with it (cmd_serve.c's completed). */
#define _GNU_SOURCE
#include "serve.h"

serve_job *serve_job_new(serve_req *r, void *arg, void (*arg_free)(void *))
{
    serve_job *j = calloc(1, sizeof *j);
    if (!j) {
        if (arg_free) arg_free(arg);
        return NULL;
    }
    j->r = r;
    j->arg = arg;
    j->arg_free = arg_free;
    serve_reply_init(&j->rp);
    return j;
}

void serve_job_push(serve_jobq *q, serve_job *j)
{
    j->r->job = j;
    MHD_suspend_connection(j->r->c);
    if (q->tail) q->tail->next = j;
    else q->head = j;
    q->tail = j;
}

serve_job *serve_job_pop(serve_jobq *q)
{
    serve_job *j = q->head;
    if (j) {
        q->head = j->next;
        if (!q->head) q->tail = NULL;
    }
    return j;
}

void serve_job_done(serve_job *j)
{
    struct MHD_Connection *c = j->r->c;
    __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
    MHD_resume_connection(c);   /* j may be freed from here on */
}

enum MHD_Result serve_job_resumed(serve_req *r)
{
    serve_job *j = r->job;
    if (!__atomic_load_n(&j->done, __ATOMIC_ACQUIRE)) {   /* not ours: wait on */
        MHD_suspend_connection(r->c);
        return MHD_YES;
    }
    if (j->done == 2) return MHD_YES;   /* already answered */
    j->done = 2;
    return serve_send_reply(r, &j->rp);
}

void serve_job_free(serve_job *j)
{
    if (!j) return;
    if (j->arg_free) j->arg_free(j->arg);
    serve_reply_free(&j->rp);
    free(j);
}
