/*
 * core.h — the parts every cairn module shares: the status enum, the growable
 * string buffer, SHA-256, UTF-8 validation, and the knowledge-base handle
 * (one directory: cairn.db catalog, graph/, vectors.faiss, cairn.json).
 *
 * Prefix: cc_.  llm/ does not use this module (it builds alone).
 *
 * Conventions (see ../shared/STYLE.md):
 *   - functions return cc_status; results come back through out-parameters
 *     placed last;
 *   - the human message for a failure lives on the handle (cc_kb_errmsg) or,
 *     before a handle exists, in a thread-local buffer (cc_errmsg);
 *   - x_free(NULL) is a no-op.
 */
#ifndef CAIRN_CORE_H
#define CAIRN_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status */

/* Values are only ever appended. */
typedef enum cc_status {
    CC_OK = 0,
    CC_ERROR,        /* unspecified failure; see the message */
    CC_NOMEM,        /* allocation failed or a size cap was reached */
    CC_IO,           /* read/write/open failed (errno in the message) */
    CC_INVALID,      /* bad input from outside: file, query, request */
    CC_NOTFOUND,     /* no such KB, document, trace, ... */
    CC_BUSY,         /* another writer holds the KB */
    CC_CORRUPT,      /* a stored file fails its checks */
    CC_VERSION,      /* stored format is newer than this binary */
    CC_FULL,         /* disk full or file-size limit */
    CC_TOOBIG,       /* input over a configured limit */
    CC_UNSUPPORTED,  /* format or feature not supported */
    CC_EXISTS,       /* target already exists */
    CC_SQLITE,       /* SQLite error (message has the detail) */
    CC_INTERRUPTED,  /* stopped by a signal or a time limit */
    CC_STATUS_COUNT
} cc_status;

const char *cc_status_str(cc_status s);

/* Thread-local message for failures that happen before a handle exists.
 * cc_seterr formats it and returns `s` so callers can `return cc_seterr(...)`. */
cc_status   cc_seterr(cc_status s, const char *fmt, ...)
            __attribute__((format(printf, 2, 3)));
const char *cc_errmsg(void);

/* A caller's bug: abort with file:line.  Never used for bad input. */
#define C_ASSERT(x) do { if (!(x)) cc_assert_fail(#x, __FILE__, __LINE__); } while (0)
void cc_assert_fail(const char *expr, const char *file, int line)
     __attribute__((noreturn));

/* ---------------------------------------------------------------- buffer */

/* The one growable buffer.  Always NUL-terminated after a successful append.
 * `max` caps the length (bytes, excluding the NUL); appending past it returns
 * CC_TOOBIG and leaves the buffer unchanged.  Zero-initialise, then
 * cc_buf_init, or use CC_BUF_INIT(max). */
typedef struct cc_buf {
    char  *data;   /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t max;
} cc_buf;

#define CC_BUF_INIT(max_) { NULL, 0, 0, (max_) }
#define CC_BUF_MAX_DEFAULT ((size_t)1 << 30)

void      cc_buf_init(cc_buf *b, size_t max);
cc_status cc_buf_append(cc_buf *b, const void *p, size_t n);
cc_status cc_buf_puts(cc_buf *b, const char *s);
cc_status cc_buf_putc(cc_buf *b, char c);
cc_status cc_buf_printf(cc_buf *b, const char *fmt, ...)
          __attribute__((format(printf, 2, 3)));
cc_status cc_buf_vprintf(cc_buf *b, const char *fmt, va_list ap);
/* Appends `s` (n bytes) as a JSON string literal, quotes included. */
cc_status cc_buf_json_str(cc_buf *b, const char *s, size_t n);
void      cc_buf_reset(cc_buf *b);            /* len = 0, memory kept */
char     *cc_buf_detach(cc_buf *b);           /* caller frees; buffer reset */
void      cc_buf_free(cc_buf *b);

/* strdup/strndup that return NULL on failure (no abort). */
char *cc_strdup(const char *s);
char *cc_strndup(const char *s, size_t n);

/* Parses a whole decimal integer in [lo, hi]; CC_INVALID otherwise. */
cc_status cc_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);

/* ---------------------------------------------------------------- sha256 */

typedef struct cc_sha256 {
    uint32_t h[8];
    uint64_t nbytes;
    uint8_t  block[64];
    size_t   nblock;
} cc_sha256;

void cc_sha256_init(cc_sha256 *c);
void cc_sha256_update(cc_sha256 *c, const void *p, size_t n);
void cc_sha256_final(cc_sha256 *c, uint8_t out[32]);
/* One-shot; writes 64 lowercase hex digits and a NUL into hex. */
void cc_sha256_hex(const void *p, size_t n, char hex[65]);
void cc_hex(const uint8_t *p, size_t n, char *out /* 2n+1 */);

/* ---------------------------------------------------------------- utf8 */

/* Returns the byte offset of the first invalid UTF-8 sequence in p[0..n),
 * or n when all of it is valid.  Overlong forms, surrogates and code points
 * above U+10FFFF are invalid.  A sequence cut off by the end of the buffer
 * is invalid (callers streaming input keep the tail for the next block). */
size_t cc_utf8_check(const char *p, size_t n);

/* Length in bytes of the valid sequence starting at p (1..4), or 0 if it is
 * invalid or runs past n. Writes the code point to *cp when non-NULL. */
int cc_utf8_decode(const char *p, size_t n, uint32_t *cp);

/* Appends the UTF-8 encoding of cp (replacement char for invalid cp). */
cc_status cc_buf_put_utf8(cc_buf *b, uint32_t cp);

/* Number of code points in valid UTF-8 p[0..n). */
size_t cc_utf8_count(const char *p, size_t n);

/* ---------------------------------------------------------------- time */

double  cc_now_ms(void);                 /* monotonic clock, milliseconds */
void    cc_utc_iso8601(char out[32]);    /* current time, "2026-11-23T09:42:00Z" */

/* ---------------------------------------------------------------- knowledge base */

/* A knowledge base is one directory:
 *   KB/cairn.db      SQLite (WAL): the system of record (schemas/catalog.sql)
 *   KB/cairn.json    settings (JSON object; unknown keys kept)
 *   KB/cairn.lock    held with flock(LOCK_EX) by the one writer
 *   KB/graph/        Redland store (derived)
 *   KB/vectors.faiss FAISS index (derived)
 * The catalog's schema version is PRAGMA user_version; opening an older KB
 * migrates it, opening a newer one fails with CC_VERSION. */
typedef struct cc_kb cc_kb;
struct sqlite3;

#define CC_SCHEMA_VERSION 6

enum {
    CC_KB_READ  = 0,      /* readers never block and never see half a write */
    CC_KB_WRITE = 1 << 0, /* takes the writer lock; CC_BUSY if held (after the
                             lock wait: cc_kb_set_lock_wait) */
    CC_KB_NOWAIT = 1 << 1,/* with CC_KB_WRITE: CC_BUSY at once, whatever the
                             lock wait (an opportunistic writer) */
    CC_KB_LOG   = 1 << 2  /* without CC_KB_WRITE: a reader that may also append
                             to the KB's logs (cc_kb_begin_log), never taking
                             the writer lock */
};

/* Creates the directory (it must not exist, or be empty) and the catalog. */
cc_status   cc_kb_create(const char *dir);
/* Opens an existing KB. On failure *out is NULL and cc_errmsg() says why. */
cc_status   cc_kb_open(const char *dir, int flags, cc_kb **out);
void        cc_kb_close(cc_kb *kb);
/* How long opening for write (cc_kb_open with CC_KB_WRITE, and
 * cc_kb_relock) waits for a writer lock another process holds before
 * CC_BUSY, in milliseconds, for the whole process; 0 (the default): no
 * wait. The CLI's --wait SECONDS and CAIRN_LOCK_WAIT set it; the server
 * keeps 0 (its writer thread waits on its own: serve.lock_wait_s). */
void        cc_kb_set_lock_wait(int64_t ms);
/* Text added to that CC_BUSY message when there was no wait (static
 * storage; the CLI's says how to wait). Default: none. */
void        cc_kb_set_lock_hint(const char *hint);
/* A writer kept open between writes (the server's): cc_kb_unlock rolls back
 * any open transaction, resets any statement still stepping and gives up
 * the writer lock, so another process may write; the connection, its page
 * cache, its parsed schema and its prepared statements stay. The handle is
 * read-only until cc_kb_relock takes the lock again: CC_BUSY (cc_errmsg()
 * says who holds it) as cc_kb_open; CC_VERSION if the catalog was migrated
 * meanwhile; cairn.json is read again if it changed. After any other
 * failure close the handle and open a new one. Only on CC_KB_WRITE handles. */
cc_status   cc_kb_unlock(cc_kb *kb);
cc_status   cc_kb_relock(cc_kb *kb);
/* Message of the last failure on this handle. Borrowed; valid until the next
 * call on the handle. */
const char *cc_kb_errmsg(const cc_kb *kb);
cc_status   cc_kb_seterr(cc_kb *kb, cc_status s, const char *fmt, ...)
            __attribute__((format(printf, 3, 4)));
/* Sets the handle's message from SQLite's and returns CC_SQLITE (or CC_FULL,
 * CC_BUSY, CC_CORRUPT when SQLite's code says so). `what` says what was
 * being done. */
cc_status   cc_kb_sqlerr(cc_kb *kb, const char *what);

struct sqlite3 *cc_kb_db(cc_kb *kb);       /* borrowed */
/* The name of the SQLite VFS that read-only handles open cairn.db with
 * (vfs.c: the unix VFS keeping a connection's memory map between read
 * transactions), registered at the first call; NULL if it could not be. */
const char *cc_sqlite_map_vfs(void);
const char *cc_kb_dir(const cc_kb *kb);    /* borrowed */
int         cc_kb_writable(const cc_kb *kb);
/* A number no other handle of this process had: state kept for a handle
 * elsewhere is keyed by it (a later handle may reuse an address). */
uint64_t    cc_kb_serial(const cc_kb *kb);
/* Writes "<dir>/<name>" into out (reset first). */
cc_status   cc_kb_path(const cc_kb *kb, const char *name, cc_buf *out);

/* ---- statements kept with the handle (ingeststmt) ----
 * A statement cache: the first call with `sql` prepares it (one statement,
 * nothing after it; SQLITE_PREPARE_PERSISTENT) and keeps it until
 * cc_kb_close, which finalizes every kept statement before closing the
 * connection; later calls with the same `sql` give the same statement,
 * reset, its bindings cleared.  Keyed by the string's ADDRESS: `sql` must
 * have static storage (a literal or a static const table), so a lookup is
 * a pointer hash, not a hash of the text; a different text at a known
 * address is a caller's bug and aborts (the text is compared on every hit).
 * When preparing fails, *out is NULL and the status and the handle's
 * message say why (a failure is not kept: the next call prepares again).
 * The statement is borrowed: never finalize it; reset it after use (or
 * let cc_kb_stmt_reset_all do it) so that it holds no read open.  A
 * schema change between uses is survived (SQLite prepares it again).
 * Like the handle, used by one thread at a time. */
struct sqlite3_stmt;
cc_status   cc_kb_stmt(cc_kb *kb, const char *sql, struct sqlite3_stmt **out);
/* Resets every kept statement and clears its bindings: afterwards none is
 * mid-step (holding a read, or a write, open) or points at the caller's
 * memory.  Ingestion calls it at the end of every input, failed or not. */
void        cc_kb_stmt_reset_all(cc_kb *kb);
/* ---- end of statements kept with the handle ---- */

/* The change log's newest generation (0 for an empty KB). */
cc_status   cc_kb_generation(cc_kb *kb, int64_t *out);

/* Write transactions (BEGIN IMMEDIATE). Only on a writable handle. */
cc_status   cc_kb_begin(cc_kb *kb);
/* A write transaction for the KB's append-only logs only (the traces' hash
 * chain, the audit log), which need no writer lock: their rows are read
 * and appended inside one SQLite write transaction, which SQLite's own
 * lock serialises with every other writer's (a CLI ingest's batch, the
 * server's writer): CC_BUSY when another transaction holds that lock past
 * the busy timeout (5 s). On a CC_KB_LOG handle, or a CC_KB_WRITE one
 * (held or given up: cc_kb_unlock). CC_VERSION, rolled back, when the
 * catalog was migrated since the handle was opened. Ends with
 * cc_kb_commit or cc_kb_rollback. Nothing but log rows may be written in
 * it: the derived indexes and the change log are the writer lock's. */
cc_status   cc_kb_begin_log(cc_kb *kb);
cc_status   cc_kb_commit(cc_kb *kb);
void        cc_kb_rollback(cc_kb *kb);

/* ---- steps before the commit (ftsstage, entnames) ----
 * cc_kb_commit runs each fn(kb, arg) set for the open transaction inside
 * it just before its COMMIT, in the order they were first set; when one
 * fails, the transaction is rolled back and cc_kb_commit returns its
 * status (the handle's message says why; the steps after it do not run).
 * Set for the open transaction only: any rollback of it (cc_kb_rollback, a
 * failed commit, a ROLLBACK statement; not ROLLBACK TO a savepoint)
 * forgets them, and a COMMIT that would skip them (a COMMIT or RELEASE
 * statement run on the connection) is refused by SQLite's commit hook:
 * the transaction rolls back and the statement fails
 * (SQLITE_CONSTRAINT_COMMITHOOK), never a silent commit without them.
 * At most CC_KB_PRECOMMIT_MAX distinct fns (more is a caller's bug);
 * setting a fn already set replaces its arg.  Ingestion uses them to write
 * a batch's full-text rows (retrieval/ingest.c) and its entity names
 * (graph/derived.c) once. */
#define CC_KB_PRECOMMIT_MAX 4
typedef cc_status (*cc_kb_precommit_fn)(cc_kb *kb, int64_t arg);
void        cc_kb_precommit_set(cc_kb *kb, cc_kb_precommit_fn fn, int64_t arg);
/* 1 with *arg when fn is set for the open transaction, else 0. */
int         cc_kb_precommit_get(cc_kb *kb, cc_kb_precommit_fn fn, int64_t *arg);
/* ---- end of steps before the commit ---- */

/* Runs SQL with no results (several statements allowed). */
cc_status   cc_kb_exec(cc_kb *kb, const char *sql);

/* Settings from cairn.json. Keys are dotted paths ("chunk.target_tokens").
 * A missing key yields the default; a key of the wrong type is CC_INVALID. */
cc_status   cc_kb_setting_str(cc_kb *kb, const char *key, const char *dflt,
                              const char **out /* borrowed */);
cc_status   cc_kb_setting_i64(cc_kb *kb, const char *key, int64_t dflt,
                              int64_t *out);
cc_status   cc_kb_setting_f64(cc_kb *kb, const char *key, double dflt,
                              double *out);
/* Sets a setting and rewrites cairn.json atomically (temp file + rename). */
cc_status   cc_kb_setting_set(cc_kb *kb, const char *key, const char *json_value);
/* The whole settings object as JSON text. Caller frees. */
char       *cc_kb_settings_json(cc_kb *kb);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_CORE_H */
