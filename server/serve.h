/* serve.h — internal to `cairn serve`: the request, the route table's entry
 * type, and the helpers handlers share (responses, JSON bodies, reader slots,
 * the writer, the audit log). Public API of the server is only cmd_serve().
 *
 * Adding a route:
 *   1. write the handler `enum MHD_Result serve_xxx(serve_req *r)` in a
 *      server/serve_<area>.c file and declare it below (section "handlers");
 *   2. add one row per method to `routes[]` in cmd_serve.c:
 *        {"GET", "/v1/things/{id}", serve_xxx, SERVE_RIGHT_READ, NULL},
 *      a `{name}` segment matches one non-empty path segment, whose text the
 *      handler finds in r->param (at most one per pattern); rows are tried
 *      in order, so put literal paths before patterns that would match them;
 *   3. describe it in schemas/openapi.json (tests/test_serve.sh checks every
 *      path there is routed) and add it to the role matrix in
 *      tests/test_serve_auth.sh.
 * 405 (with Allow), 404, 401/403 (the route's right against the caller's
 * role), 413 and 429 are answered by the dispatcher before the handler. */
#ifndef CAIRN_SERVE_H
#define CAIRN_SERVE_H

#include "cli.h"
#include "retrieval.h"
#include "serve_body.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <sqlite3.h>

#define SERVE_BODY_MAX ((size_t)4 << 20)   /* request body limit: 4 MiB */

/* Rights a route requires; each role holds a set of them (serve_role_rights). */
enum {
    SERVE_RIGHT_PUBLIC = 0,      /* no key needed: /healthz, /metrics, openapi */
    SERVE_RIGHT_READ   = 1 << 0, /* search, ask, documents, graph, sql */
    SERVE_RIGHT_WRITE  = 1 << 1, /* ingest, delete */
    SERVE_RIGHT_AUDIT  = 1 << 2, /* traces, audit log */
    SERVE_RIGHT_ADMIN  = 1 << 3, /* key management */
};

typedef enum serve_role {
    SERVE_ROLE_NONE = 0,   /* no keys configured: loopback, everything allowed */
    SERVE_ROLE_READER, SERVE_ROLE_WRITER, SERVE_ROLE_AUDITOR, SERVE_ROLE_ADMIN,
    SERVE_ROLE_COUNT
} serve_role;

typedef struct serve_req serve_req;
typedef struct serve_job serve_job;     /* a request run on another thread (below) */
typedef struct serve_reply serve_reply; /* below (replies) */
typedef enum MHD_Result (*serve_handler)(serve_req *r);
/* what a job runs (serve_job.c; contracts at the writer and the search workers) */
typedef void (*serve_read_fn)(serve_req *r, void *arg, serve_reply *rp);
typedef int (*serve_write_fn)(serve_req *r, cc_kb *kb, void *arg, serve_reply *rp);

typedef struct serve_route {
    const char   *method;    /* "GET", "POST", "DELETE" */
    const char   *pattern;   /* "/v1/documents/{id}" */
    serve_handler fn;        /* runs once the whole body is in */
    int           right;     /* SERVE_RIGHT_* */
    /* optional: runs at the headers once the caller is admitted, to set
     * r->body_fn (a streaming body reader) or refuse early (r->early) */
    void        (*begin)(serve_req *r);
} serve_route;

struct serve_req {
    struct MHD_Connection *c;
    const char *url, *method;   /* borrowed from libmicrohttpd for the request */
    int         route;          /* index in the route table; -1 none */
    char        param[128];     /* the {name} segment of the pattern, if any */
    cc_buf      body;
    int         too_big;
    double      t0;             /* cc_now_ms() at the headers */
    int64_t     key_id;         /* the caller's API key id; 0 = none */
    serve_role  role;
    char        actor[32];      /* "key:<id>" or "local" (no keys configured) */
    void       *ext;            /* a handler's own state (streaming); freed by ext_free */
    void      (*ext_free)(void *);
    /* set at the headers by the dispatcher */
    int         early;          /* a status to answer without running the handler */
    char        early_msg[256];
    char        early_allow[64];
    /* a route's own body reader (multipart); nonzero return = refuse (413) */
    int       (*body_fn)(serve_req *r, const char *data, size_t n);
    /* the job queued for the writer thread or a search worker, if any
     * (serve_write_submit, serve_read_submit); freed with the request */
    serve_job  *job;
};

/* ---------------------------------------------------------------- responses
 * Each sends exactly one response and counts it in /metrics. */

enum MHD_Result serve_send_buf(serve_req *r, int status, const char *ctype, const char *data,
                               size_t len, const char *allow);
/* Takes ownership of j. */
enum MHD_Result serve_send_json(serve_req *r, int status, cJSON *j);
/* Sends b's bytes as application/json, taking them (b is left empty). */
enum MHD_Result serve_send_json_buf(serve_req *r, int status, cc_buf *b);
/* Appends d as cJSON_PrintUnformatted writes a number (an integer value
 * with %d, else the shortest of %1.15g / %1.17g that reads back), so a
 * response built by hand has the same bytes as one from a cJSON tree.
 * Fractions are remembered per thread (1,024 slots) with their bytes. */
cc_status serve_json_num(cc_buf *b, double d);
enum MHD_Result serve_send_error(serve_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Retry-After of every 503 (serve_send_response adds it when the response
 * has none), seconds */
#define SERVE_RETRY_AFTER "1"
/* Queues a response built by the handler (streaming); counts it as status
 * (a 503 gets Retry-After). */
enum MHD_Result serve_send_response(serve_req *r, int status, struct MHD_Response *resp);

/* The HTTP answer to a failed KB write with status s: 507
 * insufficient_storage for CC_FULL (disk full or file-size limit), 503
 * kb_busy for CC_BUSY, else dflt with dflt_code. Sets *code. */
int serve_write_status(cc_status s, int dflt, const char *dflt_code, const char **code);

/* ---------------------------------------------------------------- bodies */

/* Parses the JSON body: NULL after sending 415 (content type) or 400
 * (message says where). Caller frees with cJSON_Delete. */
cJSON *serve_parse_body(serve_req *r);
/* Checks every member of j is in `allowed` (NULL-terminated) with the type
 * in the parallel `types` string: s string, n number, o object, b boolean,
 * a array, * any. -1 after sending 400. */
int serve_check_fields(serve_req *r, cJSON *j, const char *const *allowed, const char *types);

/* ---------------------------------------------------------------- KB access */

typedef struct serve_slot {   /* a reader: read-only KB handle and searcher */
    cc_kb       *kb;
    cr_searcher *se;
    /* statements a route prepares once on this handle (finalized when the
     * slot closes); always reset after use, so no read transaction stays
     * open between requests */
    sqlite3_stmt *hydrate;       /* serve_search: a hit's document and snippet */
} serve_slot;

/* Takes a free reader slot (waits for one). kb or se may be NULL when the KB
 * cannot be opened (cc_errmsg says why). Give it back with serve_slot_give. */
serve_slot *serve_slot_take(void);
void        serve_slot_give(serve_slot *s);

/* The one writer: under the writer mutex, takes the writer lock on the
 * server's CC_KB_WRITE handle (kept between writes, opened at the first);
 * NULL after sending 503 (busy: a CLI writer holds the KB) or 500.
 * serve_writer_close gives the lock up (cc_kb_unlock), tells the vector reloader to look for a new
 * vectors.faiss, and releases the mutex. The _acquire/_release pair is the
 * same without a response (CC_BUSY when a CLI writer holds the KB;
 * cc_errmsg says why); changed = 0 skips the poke (audit rows only). */
cc_kb    *serve_writer_open(serve_req *r);
/* The log handle: the server's own CC_KB_LOG handle (opened at the first
 * use, kept), under its own mutex (not the writer's), for appends to the
 * KB's logs (cc_kb_begin_log): ask traces and the audit rows of reads. So
 * asks and trace reads go on while a CLI writer holds the KB, and do not
 * queue behind the writer thread's job (SQLite's write lock is held only
 * for the job's transaction). _release(kb, st): st the status of the use
 * (CC_VERSION: the handle is reopened at the next use). */
cc_status serve_log_acquire(cc_kb **out);
void      serve_log_release(cc_kb *kb, cc_status st);
void      serve_writer_close(cc_kb *kb);
cc_status serve_writer_acquire(cc_kb **out);
void      serve_writer_release(cc_kb *kb, int changed);

const char *serve_kbdir(void);

/* ---------------------------------------------------------------- the writer thread (serve_writer.c)
 * Document writes run on one writer thread, not on libmicrohttpd's workers.
 * A job (serve_write_fn) runs with the writer's KB handle (write_mu held); it fills rp (the
 * reply: serve_reply_error, or a JSON body) and returns 1 when it committed
 * a change to the catalog (the vector index and the graph store are then
 * caught up later, in a batch: group commit), 0 otherwise. It may read r (borrowed; the connection
 * is suspended meanwhile) but must not send on it. */

/* Starts the writer thread with room for queue_max waiting jobs; its first
 * acts are to catch the graph store and the vector index up with the
 * catalog. nice (0..19, setting serve.background_nice) lowers its CPU
 * priority (serve_thread_nice). graph_sync_ms (setting serve.graph_sync_ms):
 * the graph store is caught up once the oldest commit it lacks is this old
 * (0: after every commit). lock_wait_ms (--wait, setting serve.lock_wait_s):
 * how long after it was queued a job may wait for a CLI writer to let go
 * of the KB before it is answered 503 kb_busy (0: at once); the thread
 * polls the lock meanwhile, between polls giving the writer mutex up.
 * Nonzero after printing an error. */
int  serve_writer_start(int queue_max, int nice, int graph_sync_ms, int64_t lock_wait_ms);
/* Lowers the calling thread's CPU priority by nice (Linux: setpriority on
 * the thread id; other threads keep theirs); 0 does nothing. A failure is
 * reported on stderr, not fatal. For the writer and the vector reloader, so
 * that searches keep their latency while they work. */
void serve_thread_nice(int nice);
/* Runs the queued jobs to the end, catches the vector index up once more,
 * and ends the thread. New submissions get 503 from the moment it is called. */
void serve_writer_stop(void);
/* In a handler, once the request is validated: queues fn(arg) and suspends
 * the connection (MHD_YES); the handler is called again when it is done and
 * must then call serve_job_resumed (the dispatcher does). A full queue or
 * a server shutting down answers 503 queue_full with Retry-After at once.
 * arg_free (may be NULL) frees arg in every case. */
enum MHD_Result serve_write_submit(serve_req *r, serve_write_fn fn, void *arg,
                                   void (*arg_free)(void *));
void            serve_write_state(int *queued, int *running); /* jobs waiting; 1 if one runs */
/* For a reader of the graph store (KB/graph/, not the catalog): waits until
 * the writer has caught the store up with every write acknowledged before
 * the call (asking for the catch-up at once; it runs after the job in
 * progress). CC_OK then; CC_BUSY (error set) when the catch-up failed or
 * took more than 30 s, or the writer is stopped. */
cc_status       serve_graph_wait(void);

/* ---------------------------------------------------------------- the search workers (serve_readers.c)
 * Searches run on a pool of worker threads from one first-come,
 * first-served queue, not on the libmicrohttpd thread that owns the
 * connection (whose share of the connections is uneven). A job
 * (serve_read_fn) fills rp
 * (serve_reply_error, or a body) and may read r (borrowed; the connection
 * is suspended meanwhile) but must not send on it. */

/* Starts n worker threads; nonzero after printing an error. */
int  serve_readers_start(int n);
/* Runs the queued jobs to the end and ends the threads; later submissions
 * get 503 shutting_down. */
void serve_readers_stop(void);
/* In a handler, once the request is validated: queues fn(arg) and suspends
 * the connection (MHD_YES); the handler is called again when it is done
 * and must then call serve_job_resumed (the dispatcher does). Without
 * workers (none started) fn runs at once and its reply is sent. arg_free
 * (may be NULL) frees arg in every case. */
enum MHD_Result serve_read_submit(serve_req *r, serve_read_fn fn, void *arg,
                                  void (*arg_free)(void *));

/* The shared vector index (serve_vectors.c): loaded once at startup, then
 * reloaded in the background when vectors.faiss changes; readers keep
 * searching the old one meanwhile. _start loads it (a missing or damaged
 * file is not fatal: hybrid answers from BM25 and says why); nonzero after
 * printing an error. _apply gives a slot's searcher the current index when
 * *version (the slot's, 0 at first) is behind; a pointer swap. */
int  serve_vectors_start(const char *kbdir, int nice);   /* nice: the reloader's */
void serve_vectors_poke(void);
void serve_vectors_apply(cr_searcher *se, long *version);
/* Every reader slot's searcher onto the current index now (waits for a
 * slot's request in flight): after a swap, so that no search still uses
 * the index swapped out (cmd_serve.c). */
void serve_slots_apply_vectors(void);
/* The API's writer hands the readers its caught-up index (serve_writer.c):
 * _hold(1) after taking the writer lock and before catching up, so the
 * reloader does not chase the files meanwhile; then _handoff(copy), a
 * cr_vindex_clone of the writer's index made while still holding the lock
 * (its reference taken; 0 when it became the current index, -1 when it
 * does not match the files and was dropped), or _hold(0) when there is
 * nothing to hand over (the reloader then looks at the files as usual).
 * _recycled: an index handed over earlier that no search uses any more
 * (the one before the previous handoff, once the slots have moved off
 * it), for the next copy to be made into (cr_vindex_clone_into), or NULL;
 * the caller gets its reference. */
void serve_vectors_hold(int on);
int  serve_vectors_handoff(cr_vshared *copy);
cr_vshared *serve_vectors_recycled(void);
/* A copy of the readers' current index (cr_vindex_clone), for the
 * writer's first catch-up instead of a load; NULL when none. */
cr_vindex *serve_vectors_clone(void);
void serve_vectors_stop(void);
/* The catalog generation the loaded index reflects; -1 when none. */
int64_t serve_vectors_generation(void);

/* Appends one row to the audit table on a writable kb (inside the
 * caller's transaction if one is open). actor "key:<id>", "loopback" (the
 * server without keys) or "cli:<user>"; action "ingest", "delete",
 * "trace.read", "key.add", ...; target and detail may be NULL. Never the
 * key itself. Error on the kb handle. */
cc_status serve_audit_row(cc_kb *kb, const char *actor, const char *action, const char *target,
                          const char *detail);
/* As serve_audit_row with r's actor; a failure is reported on stderr. */
void      serve_audit(cc_kb *kb, const serve_req *r, const char *action, const char *target,
                      const char *detail);
/* One audit row in its own log transaction (cc_kb_begin_log) on a log
 * handle (serve_log_acquire): for audited reads (trace reads, asks, chat
 * completions), which so never need the writer lock. Error on kb. */
cc_status serve_audit_append(cc_kb *kb, const char *actor, const char *action, const char *target,
                             const char *detail);
/* serve_audit_append with r's actor on the server's log handle. Fails
 * (cc_errmsg) when the row cannot be written (CC_BUSY: another writer's
 * transaction held SQLite's write lock past its busy timeout); the caller
 * then refuses the read with 503. */
cc_status serve_audit_log(serve_req *r, const char *action, const char *target,
                          const char *detail);

/* Metrics counters other files add to (atomic). */
void serve_count_ingest(unsigned long docs_added, unsigned long docs_replaced,
                        unsigned long chunks);

/* ---------------------------------------------------------------- auth (serve_auth.c) */

#define SERVE_KEY_MAX 96   /* "cairn_<id>_<64 hex>" and its NUL fit */

/* Role names "reader", ...; SERVE_ROLE_NONE -> "none". parse: NONE when
 * the name is not a role. */
const char *serve_role_name(serve_role role);
serve_role  serve_role_parse(const char *name);
int         serve_role_rights(serve_role role);   /* SERVE_RIGHT_* bits */

/* Creates a key with `role` on a writable kb (audited as `actor`); *id is
 * its row, key_out the key text: shown once, never stored. */
cc_status serve_key_add(cc_kb *kb, const char *name, serve_role role, const char *actor,
                        int64_t *id, char key_out[SERVE_KEY_MAX]);
/* CC_NOTFOUND: no such key; CC_EXISTS: already revoked. */
cc_status serve_key_revoke(cc_kb *kb, int64_t id, const char *actor);
/* Every key (never the hash): [{id, name, role, created_at, revoked_at}].
 * Caller frees with cJSON_Delete. */
cc_status serve_keys_list(cc_kb *kb, cJSON **out);
/* Number of live (not revoked) keys; -1 on error (on the kb handle). */
int64_t   serve_keys_count(cc_kb *kb);
/* Checks an Authorization header value (may be NULL). 0 and *key_id,
 * *role when it names a live key; -1 with the reason in msg otherwise. */
int       serve_auth_check(cc_kb *kb, const char *header, int64_t *key_id, serve_role *role,
                           char *msg, size_t msg_len);

/* ---------------------------------------------------------------- replies (serve_reply.c)
 * The trace routes (serve_traces.c) and the page (serve_web.c) build a
 * serve_reply instead of sending; cmd_serve.c's serve_send_reply sends it. */

#define SERVE_HDR_MAX 5

/* What a route answers. Exactly one body source is used: `stream` when set,
 * else `static_body` when set, else `body`. */
struct serve_reply {
    int          status;
    const char  *ctype;             /* static string */
    cc_buf       body;              /* owned; serve_reply_free frees it */
    const char  *static_body;       /* borrowed; lives as long as the process */
    size_t       static_len;
    struct MHD_Response *stream;    /* owned until sent (streamed body) */
    const char  *allow;             /* Allow header for a 405, static string */
    struct { const char *name; char value[320]; } hdr[SERVE_HDR_MAX];  /* name NULL: unused */
};

void serve_reply_init(serve_reply *rp);
void serve_reply_free(serve_reply *rp);   /* the body and an unsent stream */
/* Adds a header (name static, value copied; truncated to 319 bytes). */
void serve_reply_header(serve_reply *rp, const char *name, const char *fmt, ...)
     __attribute__((format(printf, 3, 4)));
/* {"error":{"code","message"}} with the status. */
void serve_reply_error(serve_reply *rp, int status, const char *code, const char *fmt, ...)
     __attribute__((format(printf, 4, 5)));
/* j (taken) as the body, application/json, with status; 500 when out of memory. */
void serve_reply_json(serve_reply *rp, int status, cJSON *j);
/* Sends rp (and frees it); counts it in /metrics. */
enum MHD_Result serve_send_reply(serve_req *r, serve_reply *rp);

/* ---------------------------------------------------------------- jobs (serve_job.c)
 * A request handed from its libmicrohttpd thread to the writer thread or a
 * search worker, and back. The submitter makes the job, then under its
 * queue's lock pushes it (the connection is suspended first); the thread
 * that pops it fills rp and calls serve_job_done (the connection is
 * resumed); the dispatcher, called again, sends rp (serve_job_resumed).
 * The job is the request's (r->job) from the push on and is freed with it. */

struct serve_job {
    serve_job      *next;
    serve_req      *r;        /* borrowed; suspended while queued and running */
    serve_read_fn   read_fn;  /* the one of the two its queue runs */
    serve_write_fn  write_fn;
    void           *arg;
    void          (*arg_free)(void *);
    serve_reply     rp;
    int             done;     /* 0 queued, 1 rp ready (atomic), 2 sent */
    double          t_queued; /* cc_now_ms() when a write job was queued */
};

typedef struct serve_jobq { serve_job *head, *tail; } serve_jobq;   /* FIFO; caller locks */

/* A job for r with arg (arg_free, may be NULL, frees it with the job); NULL
 * when out of memory, arg already freed. Free an unqueued one with
 * serve_job_free. */
serve_job      *serve_job_new(serve_req *r, void *arg, void (*arg_free)(void *));
void            serve_job_push(serve_jobq *q, serve_job *j);   /* sets r->job, suspends */
serve_job      *serve_job_pop(serve_jobq *q);                  /* NULL when empty */
void            serve_job_done(serve_job *j);   /* rp is ready: resumes; j may go at once */
enum MHD_Result serve_job_resumed(serve_req *r);   /* sends the job's reply, once */
void            serve_job_free(serve_job *j);   /* NULL: no-op */

/* serve_traces.c: GET /v1/traces[/verify|/export|/{id}[/raw]] and
 * /v1/chunks/{id}. kb is a read handle borrowed for the call (NULL: the KB
 * could not be opened); kbdir is used to open a handle a streamed export
 * owns. */
void serve_traces_handle(struct MHD_Connection *c, cc_kb *kb, const char *kbdir,
                         const char *method, const char *url, serve_reply *rp);

/* serve_web.c: the page's compiled-in files, with a Content-Security-Policy. */
void serve_web_handle(const char *method, const char *url, serve_reply *rp);

/* ---------------------------------------------------------------- chat (serve_chat.c) */

/* Loads the generator at startup: path (--model), else the setting
 * ask.model; neither = no model (chat answers 503 no_model). 0, or the
 * exit status after printing why (a bad file refuses to start). */
int         serve_chat_open(cc_kb *kb, const char *path);
const char *serve_chat_model(void);            /* the model's id, NULL when none */
void        serve_chat_stop(void);             /* cancels generations at their next token */
void        serve_chat_close(void);            /* stop, wait for them (bounded), free */
void        serve_chat_metrics(cc_buf *b);     /* appends the generator's counters */

/* ---------------------------------------------------------------- server-sent events (serve_sse.c)
 * A queue of event bytes: a producer thread appends, libmicrohttpd's reader
 * drains. Embed it as the FIRST member of the producer's state, so the
 * producer thread gets that state as its argument. Reference counted: the
 * producer and the response hold one each; the last unref calls
 * owner_free (which frees the state). */
typedef struct serve_sse {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    cc_buf          ev;      /* events not yet sent */
    size_t          sent;    /* bytes of ev already handed to libmicrohttpd */
    int             done;    /* the producer has finished */
    int             gone;    /* the response is gone (sent, or the client left) */
    int             refs;
    void          (*owner_free)(struct serve_sse *);
} serve_sse;

void serve_sse_init(serve_sse *s, void (*owner_free)(serve_sse *));   /* refs = 2 */
void serve_sse_push(serve_sse *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void serve_sse_end(serve_sse *s);    /* the producer's last call: done, and its unref */
int  serve_sse_gone(serve_sse *s);   /* the producer may stop early */
void serve_sse_unref(serve_sse *s);
/* Answers 200 text/event-stream drained from s and starts producer(s) on a
 * detached thread; *started = 1. On failure (500 out of memory, 503 no
 * thread) the error is sent, s is released (owner_free runs at once or when
 * the response is destroyed) and *started = 0. */
enum MHD_Result serve_sse_start(serve_req *r, serve_sse *s, void *(*producer)(void *),
                                const char *what, int *started);

/* ---------------------------------------------------------------- uploads (serve_upload.c) */

/* At the headers of POST /v1/documents: with Content-Type
 * multipart/form-data sets r->body_fn (the parts are read as they come) and
 * r->ext, or refuses early (r->early: 400 no boundary, 500); any other
 * Content-Type is left to the JSON path. */
void serve_doc_post_begin(serve_req *r);
int  serve_upload_is(const serve_req *r);   /* 1: r is a multipart upload */
/* Once the body is in: 0 with the document (uri, format, data[0..len),
 * if_absent; borrowed from r until it completes), or -1 with *bad (400
 * bad_multipart, invalid_utf8 or bad_field; 413 body_too_large; 500). */
int  serve_upload_finish(serve_req *r, const char **uri, cr_format *format, const char **data,
                         size_t *len, int *if_absent, serve_bad *bad);

/* ---------------------------------------------------------------- timing log (serve_timing.c)
 * A diagnostic, off unless CAIRN_SERVE_TIMING=FILE is set. A line is
 * "KIND T_MS TID " then the caller's fields. */

int  serve_timing_open(void);    /* nonzero after printing why FILE cannot be opened */
int  serve_timing_on(void);
void serve_timing(const char *kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void serve_timing_close(void);
/* CPU time the calling thread has used, ms (for the background events' lines) */
double serve_thread_cpu_ms(void);

/* ---------------------------------------------------------------- handlers */

enum MHD_Result serve_healthz(serve_req *r);
enum MHD_Result serve_metrics(serve_req *r);
enum MHD_Result serve_openapi(serve_req *r);
enum MHD_Result serve_search(serve_req *r);             /* serve_docs.c */
enum MHD_Result serve_docs_list(serve_req *r);
enum MHD_Result serve_doc_get(serve_req *r);
enum MHD_Result serve_doc_post(serve_req *r);
enum MHD_Result serve_doc_delete(serve_req *r);
enum MHD_Result serve_ask(serve_req *r);                /* serve_ask.c */
enum MHD_Result serve_sql(serve_req *r);                /* serve_sql.c */
enum MHD_Result serve_graph_entities(serve_req *r);     /* serve_graph.c */
enum MHD_Result serve_graph_entity(serve_req *r);
enum MHD_Result serve_graph_subgraph(serve_req *r);
enum MHD_Result serve_sparql(serve_req *r);
enum MHD_Result serve_embeddings(serve_req *r);         /* serve_embed.c */
enum MHD_Result serve_models(serve_req *r);             /* serve_chat.c */
enum MHD_Result serve_chat_completions(serve_req *r);
enum MHD_Result serve_audit_list(serve_req *r);         /* serve_admin.c */
enum MHD_Result serve_keys_get(serve_req *r);
enum MHD_Result serve_keys_post(serve_req *r);
enum MHD_Result serve_keys_delete(serve_req *r);
enum MHD_Result serve_traces(serve_req *r);             /* cmd_serve.c: to serve_traces.c */
enum MHD_Result serve_web(serve_req *r);                /* cmd_serve.c: to serve_web.c */

#endif
