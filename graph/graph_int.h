/* graph_int.h — helpers shared inside graph/ (not part of the public API). */
#ifndef CAIRN_GRAPH_INT_H
#define CAIRN_GRAPH_INT_H

#include "graph.h"

/* The rules extractor's table (rules.c). */
extern const cg_extractor_i cg_rules_iface;
/* Creates the rules extractor's context from opts (NULL: defaults). */
cc_status cg_rules_ctx_new(const cg_rules_opts *opts, void **out);

/* ---------------------------------------------------------------- text.c */

/* Character classes of a code point, as the extractor and the normaliser
 * see them.  Covers ASCII, Latin-1, Latin Extended-A/B, Greek, Cyrillic;
 * other letters (Hebrew, Arabic, CJK, ...) are caseless letters. */
enum {
    CG_CH_LETTER = 1 << 0,
    CG_CH_UPPER  = 1 << 1,
    CG_CH_LOWER  = 1 << 2,
    CG_CH_DIGIT  = 1 << 3,
    CG_CH_SPACE  = 1 << 4,    /* incl. NBSP, U+2000..200A, U+3000 */
    CG_CH_FORMAT = 1 << 5,    /* zero-width, bidi marks and controls: ignored inside words */
    CG_CH_CURRENCY = 1 << 6,  /* $ € £ ¥ and U+20A0..20CF */
    CG_CH_PUNCT  = 1 << 7
};
unsigned cg_char_class(uint32_t cp);

/* ASCII folding of Latin-1 / Latin Extended-A code points: writes up to
 * 2 lowercase ASCII bytes into out and returns how many, or 0 when cp has
 * no such folding (it is then kept, lowercased when cg_lower knows how). */
int      cg_fold_latin(uint32_t cp, char out[2]);
uint32_t cg_lower(uint32_t cp);

/* ---------------------------------------------------------------- merge.c */

/* Key of the entity a split name goes to: its norm, or for a same_key
 * merge (the name normalises to the kept entity's own key)
 * "<norm> #split<merge_id>".  out is reset first. */
cc_status cg_split_key(const char *norm, int same_key, int64_t merge_id, cc_buf *out);

/* ---------------------------------------------------------------- store.c */

/* The store handle (store.c); rdf.c and sparql.c use librdf on it directly. */
#include <redland.h>
struct cg_store {
    librdf_world   *world;
    librdf_storage *storage;
    librdf_model   *model;
    int             readonly;
    char           *mask;           /* postgresql: the password, masked in err */
    cc_buf          err;
};

/* ---------------------------------------------------------------- bdb_cache.c */

/* Until cg_bdb_cache_end, every Berkeley DB file the calling thread opens
 * without an environment (librdf's hashes storage) gets a page cache of
 * mb megabytes instead of BDB's 256 KB default.  Used by the store's
 * writer (rdf.c); readers keep the default. */
void cg_bdb_cache_begin(unsigned mb);
void cg_bdb_cache_end(void);
/* How many Berkeley DB handles were given such a cache so far (the
 * process's; 0 when the build has no <db.h>): lets a test see that
 * librdf's db_create calls come here. */
unsigned long cg_bdb_cache_sized(void);
/* The i-th Berkeley DB handle (a DB *) given a cache on this thread since
 * cg_bdb_cache_begin or cg_bdb_handles_forget, or NULL.  Valid only while
 * whoever opened it keeps it open: forget before opening a store, look
 * the handles up right after, drop them with the store. */
void *cg_bdb_handle(unsigned i);
void  cg_bdb_handles_forget(void);

/* Until cg_bdb_sync_flush or cg_bdb_sync_drop, Berkeley DB's fsyncs of
 * files on the calling thread only remember the file (once per file);
 * other threads' sync as usual.  1 when deferring (0: the build or the
 * loaded libdb cannot replace Berkeley DB's fsync; it then syncs as
 * before and flush has nothing to do).  Drops what an earlier defer left. */
int       cg_bdb_sync_defer(void);
/* fdatasyncs each remembered file once (concurrently, a thread per
 * file) and stops deferring.  CC_IO or
 * CC_FULL (cc_errmsg) when a sync failed: the files may not be on disk. */
cc_status cg_bdb_sync_flush(void);
/* Stops deferring and forgets the files without syncing them. */
void      cg_bdb_sync_drop(void);
unsigned  cg_bdb_sync_pending(void);   /* files remembered (for tests) */

/* ---------------------------------------------------------------- sandbox.c */

/* Confines the calling process for the rest of its life (the SPARQL query
 * child, after it opened the store): files can no longer be opened,
 * created or changed, no process or program started, nothing written
 * but to out_fd and stderr, and without net no socket used (sandbox.c
 * lists the calls; they fail with EPERM).  0, or the errno of the
 * prctl that failed (ENOSYS: not Linux on x86-64 or aarch64). */
int cg_sandbox_enter(int out_fd, int net);
/* Closes every descriptor from 3 up but keep (the query child, first
 * thing after the fork: it opens its own store). */
void cg_sandbox_close_inherited(int keep);
/* Makes the calling process the one the kernel kills first when memory
 * runs out (oom_score_adj 1000; nothing where /proc cannot say so). */
void cg_sandbox_oom_first(void);
/* Process pid's resident memory in bytes (/proc/PID/statm), -1 when it
 * cannot be read (gone, no /proc). */
int64_t cg_sandbox_resident_bytes(pid_t pid);

/* ---------------------------------------------------------------- bdb_direct.c */

/* A batch of (triple, context) pairs for a "hashes" store on Berkeley DB
 * that this thread opened for writing under cg_bdb_cache_begin: the same
 * key/value records librdf's context_add_statement puts into its five
 * files (sp2o, po2s, so2p, p2so, contexts: librdf's own encodings), kept
 * in memory and written by cg_bdb_batch_write sorted by key, file by file,
 * through librdf's own handles (so librdf reads and removes them as its
 * own).  The caller writes the batch before anything else reads or
 * removes from the store. */
typedef struct cg_bdb_batch cg_bdb_batch;
/* CC_NOTFOUND when there is no direct path (a build without <db.h>, the
 * handles not found, CAIRN_GRAPH_WRITER=librdf): add through librdf. */
cc_status cg_bdb_batch_new(cg_store *st, cg_bdb_batch **out);
/* Queues stmt in context ctx (both stay the caller's).  CC_NOMEM, or
 * CC_INVALID when librdf cannot encode them. */
cc_status cg_bdb_batch_add(cg_bdb_batch *b, librdf_statement *stmt, librdf_node *ctx);
size_t    cg_bdb_batch_bytes(const cg_bdb_batch *b);
/* Writes what is queued and empties the batch: the five files at once,
 * each by one of up to cg_bdb_batch_set_threads threads (the caller is
 * one; default: one per online CPU, at most five, or
 * CAIRN_GRAPH_WRITER_THREADS=1-5), joined before it returns.  The same
 * records whatever the number.  CC_IO / CC_FULL / CC_NOMEM with the
 * store's message (cg_store_errmsg). */
cc_status cg_bdb_batch_write(cg_bdb_batch *b);
void      cg_bdb_batch_set_threads(cg_bdb_batch *b, unsigned n);    /* 1-5 */
/* The same write in the background: cg_bdb_batch_start returns at once
 * with the batch's threads putting the files; until cg_bdb_batch_wait
 * (the write's status and message, as cg_bdb_batch_write's; the batch
 * empty again) the caller neither adds to this batch (CC_INVALID) nor
 * uses the store (librdf's handles are the threads'); it may fill another
 * batch of the same store.  A start that could make no thread leaves the
 * puts to the wait.  cg_bdb_batch_free waits first. */
void      cg_bdb_batch_start(cg_bdb_batch *b);
int       cg_bdb_batch_started(const cg_bdb_batch *b);
cc_status cg_bdb_batch_wait(cg_bdb_batch *b);
void      cg_bdb_batch_free(cg_bdb_batch *b);           /* NULL safe; drops what is queued */

/* ---------------------------------------------------------------- pgindex.c */

/* Adds the indexes Redland's postgresql storage leaves out (by context;
 * by subject, predicate, object) to the statement table of g's model,
 * when missing.  The model must exist.  CC_IO with cc_errmsg on failure. */
cc_status cg_pg_ensure_indexes(const cg_storage *g);

/* ---------------------------------------------------------------- rdf.c */

/* Opens KB/graph/ read-only under the shared graph lock after checking
 * its state file (see graph.h, "reading the store"); *generation (may be
 * NULL) gets the generation it reflects.  Errors on the KB handle.  Undo
 * with cg_graph_close_read. */
cc_status cg_graph_open_read(cc_kb *kb, cg_store **out, int *lock_fd, int64_t *generation);
void      cg_graph_close_read(cg_store *st, int lock_fd);    /* NULL / -1 safe */

/* ---------------------------------------------------------------- extract.c (LLM extractor) */

/* Appends ":variant" to the extractor's id ("llm/1:3f2a..."). */
cc_status cg_extractor_set_variant(cg_extractor *ex, const char *variant);
/* The plug-in's table and context. */
const cg_extractor_i *cg_extractor_iface(const cg_extractor *ex);
void *cg_extractor_ctx(cg_extractor *ex);

/* ---------------------------------------------------------------- derived.c (LLM extractor) */

/* Runs ex on one stored chunk and writes its facts exactly as the
 * ingestion hook does (resolution, merges, aliases), in the caller's
 * transaction, which the caller commits with cc_kb_commit (entity names
 * staged in it by a batch's inputs are written by its pre-commit step).
 * *refused = 1 when the extractor failed on the chunk (nothing written;
 * its message: cg_extractor_errmsg). */
cc_status cg_ingest_chunk_with(cc_kb *kb, cg_extractor *ex, int64_t doc_id, int64_t chunk_id,
                               const char *text, size_t len, int64_t start_byte,
                               int64_t start_char, int *refused);

#endif
