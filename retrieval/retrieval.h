/*
 * retrieval.h — documents in, ranked chunks out: parsing (txt, md, html,
 * json/jsonl), chunking with exact offsets, the FTS5 BM25 lane, query
 * escaping, (later) embedders, the FAISS lane, RRF fusion and evaluation
 * metrics.
 *
 * Prefix: cr_.  Status codes are core's cc_status.
 */
#ifndef CAIRN_RETRIEVAL_H
#define CAIRN_RETRIEVAL_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ parsing */

typedef enum cr_format {
    CR_FMT_UNKNOWN = 0,
    CR_FMT_TXT,
    CR_FMT_MD,
    CR_FMT_HTML,
    CR_FMT_JSON,     /* one object, or an array of objects: one document each */
    CR_FMT_JSONL     /* one object per line */
} cr_format;

/* By file extension (case-insensitive): .txt .text → TXT, .md .markdown →
 * MD, .html .htm → HTML, .json → JSON, .jsonl .ndjson → JSONL; else UNKNOWN. */
cr_format   cr_format_from_path(const char *path);
cr_format   cr_format_from_name(const char *name);   /* "txt", "md", ... */
const char *cr_format_name(cr_format f);             /* "txt", "md", ... */

/* A section title starting at a byte offset of the extracted text
 * (Markdown headings; the heading path joined with " > "). */
typedef struct cr_section {
    size_t start_byte;
    char  *title;        /* owned by the cr_doc */
} cr_section;

/* One document extracted from an input. `text` is valid UTF-8 with no NUL
 * bytes; offsets in chunks and mentions index into it. */
typedef struct cr_doc {
    const char *uri;          /* input path, or "path#id" for JSON records */
    const char *title;        /* NULL when none */
    const char *meta_json;    /* JSON object text, or NULL */
    const char *text;
    size_t      len;          /* bytes */
    const cr_section *sections;  /* sorted by start_byte */
    size_t      n_sections;
    size_t      repaired;     /* invalid UTF-8 sequences replaced (repair mode) */
} cr_doc;

typedef struct cr_parse_opts {
    int         repair_utf8;      /* 0: reject invalid UTF-8; 1: replace with U+FFFD */
    const char *json_text_field;  /* default "text" */
    const char *json_id_field;    /* default "id" */
    const char *json_title_field; /* default "title" */
    size_t      max_json_bytes;   /* a .json file larger than this is refused
                                     (use .jsonl); 0 = 64 MiB */
} cr_parse_opts;

/* Called once per extracted document. Everything in *doc is borrowed and
 * valid only during the call. Return CC_OK to go on; any other status stops
 * the parse and is returned by cr_parse. */
typedef cc_status (*cr_doc_fn)(void *ud, const cr_doc *doc);

/* Parses data[0..n) (typically an mmapped file) as `fmt`. `uri` names the
 * input in documents and messages. On failure returns CC_INVALID (or
 * CC_NOMEM, ...) and writes a one-line reason to err, with the byte offset
 * where it applies ("invalid UTF-8 at byte 1234"; "line 7: not a JSON
 * object"). JSONL: a bad line fails the whole input (nothing is ingested).
 * Empty input (or only whitespace) is CC_INVALID "empty document".
 * Binary input (NUL bytes in a text format) is CC_INVALID. */
cc_status cr_parse(const char *uri, cr_format fmt, const char *data, size_t n,
                   const cr_parse_opts *opts, cr_doc_fn fn, void *ud, cc_buf *err);

/* ================================================================ chunking */

typedef struct cr_chunk_opts {
    int target_tokens;    /* default 300 */
    int overlap_tokens;   /* default 40; < target_tokens */
} cr_chunk_opts;

/* A chunk is a slice text[start_byte, end_byte) of the document text. It
 * never starts or ends inside a UTF-8 sequence or a word; it prefers to end
 * at a paragraph, then a sentence boundary. Chunks cover the text in order;
 * consecutive chunks may overlap by about overlap_tokens. Leading and
 * trailing whitespace is excluded from a chunk's span. */
typedef struct cr_chunk {
    size_t start_byte, end_byte;
    size_t start_char, end_char;   /* code points */
    int    n_tokens;               /* estimate: words + punctuation marks */
    size_t section;                /* index into doc sections, or SIZE_MAX */
} cr_chunk;

/* Chunks doc->text. *out is malloc'ed (caller frees); *n_out may be 0 for
 * text that is all whitespace. */
cc_status cr_chunk_text(const cr_doc *doc, const cr_chunk_opts *opts,
                        cr_chunk **out, size_t *n_out);

/* ================================================================ BM25 lane */

/* Turns text a user typed into an FTS5 MATCH expression that can never be
 * a syntax error: each word becomes a quoted term ("..." with quotes
 * doubled), terms joined with OR; FTS5 operators, column filters, '*', '^',
 * parentheses and quotes are treated as word characters or separators,
 * never as syntax. Common English stop words are dropped unless the query
 * has nothing else. Returns CC_INVALID with a message in err when no
 * searchable word remains ("query has no words to search for"). */
cc_status cr_fts_query(const char *text, cc_buf *out, cc_buf *err);

enum { CR_LANE_BM25 = 0, CR_LANE_VECTOR = 1, CR_LANE_COUNT = 2 };

/* A ranked chunk. rank[l] is 1-based in lane l, 0 when lane l did not find
 * it; lane_score[l] the lane's raw score (BM25: higher is better, i.e.
 * -bm25(); vector: inner product). score is the fused score (RRF) or the
 * single lane's raw score. */
typedef struct cr_hit {
    int64_t chunk_id;
    double  score;
    int     rank[CR_LANE_COUNT];
    double  lane_score[CR_LANE_COUNT];
} cr_hit;

enum { CR_FTS_RAW = 1 << 0 };  /* query is FTS5 syntax (expert option) */

/* BM25 search over live chunks: at most k hits, best first (k in 1..10000);
 * fewer only when fewer rows match. When common terms are pruned (fts.c),
 * rows holding a rarer query term come before rows holding only common
 * ones. *hits is malloc'ed (caller frees); *n may be 0. A syntax error in a RAW
 * query is CC_INVALID with FTS5's message on the KB handle. */
cc_status cr_bm25_search(cc_kb *kb, const char *query, int k, int flags,
                         cr_hit **hits, size_t *n);

struct sqlite3_stmt;
/* cr_bm25_search with the scan's statement kept in *scan between calls
 * (prepared on kb's connection at the first call, left reset and unbound
 * after each): a request's SQL compiled once per caller instead of once a
 * search. The caller finalizes *scan (sqlite3_finalize) before closing kb;
 * scan NULL is cr_bm25_search. */
cc_status cr_bm25_search_keep(cc_kb *kb, const char *query, int k, int flags,
                              struct sqlite3_stmt **scan, cr_hit **hits, size_t *n);

/* ================================================================ embedders */

/* An embedder turns texts into L2-normalised float vectors of a fixed
 * dimension. Backends are a table of function pointers plus a context
 * (cr_embedder_iface); callers use the cr_embedder_* wrappers. Built in:
 *   "hash"  signed feature hashing of normalised words, word bigrams and
 *           character 3..5-grams; needs no weights; identical on every
 *           machine. Identity "hash/1:dim=<dim>".
 *   "gguf"  a GGUF embedding model run by llm/ (cl_embed: BERT family, or a
 *           decoder with a pooling type); opts->model_path names the file, or
 *           the name is "gguf:/path/model.gguf". Identity
 *           "gguf/1:<arch>:dim=<d>:pool=<p>:ctx=<max tokens>:sha256=<hash of the file>".
 * The identity string names the model and every setting that changes the
 * vectors; a vector index records it and refuses another. */

#define CR_EMBEDDER_API_VERSION 1

typedef struct cr_embedder cr_embedder;

typedef struct cr_embedder_iface {
    int         version;    /* CR_EMBEDDER_API_VERSION */
    const char *name;       /* "hash", "gguf", ... */
    /* Embeds texts[i] (lens[i] bytes, UTF-8) into out + i*dim. Vectors are
     * L2-normalised; a text with no features gives the zero vector. */
    cc_status (*embed)(void *ctx, const char *const *texts, const size_t *lens,
                       size_t n, float *out /* (n, dim) */);
    int         (*dim)(void *ctx);
    const char *(*identity)(void *ctx);     /* borrowed, lives as the ctx */
    void        (*free_ctx)(void *ctx);
} cr_embedder_iface;

typedef struct cr_embedder_opts {
    int         dim;         /* hash: 0 = 384; 8..65536 */
    const char *model_path;  /* gguf: the model file (settings: embedder.model,
                                relative to the KB directory) */
    int         threads;     /* gguf: threads per forward pass; 0 = online CPUs (at most 16) */
    int         max_tokens;  /* gguf: tokens per text, longer ones are cut (0 = the model's
                                context; sentence-transformers' MiniLM uses 256) */
    const char *query_prefix;   /* prepended to queries (cr_embedder_embed_query), and */
    const char *doc_prefix;     /* to documents (cr_embedder_embed), e.g. "query: " and
                                   "passage: " for E5 models; NULL or "" = none; at most
                                   256 bytes each; part of the identity when set */
} cr_embedder_opts;

/* Opens the embedder called `name` ("hash", ...). Unknown name, or one not
 * available in this build, is CC_UNSUPPORTED / CC_INVALID with a message in
 * cc_errmsg() naming the embedders there are. opts may be NULL. */
cc_status   cr_embedder_open(const char *name, const cr_embedder_opts *opts,
                             cr_embedder **out);
/* Wraps a backend table and its context (takes ownership of ctx: freed with
 * iface->free_ctx on cr_embedder_close, also when this call fails).
 * iface->version must be CR_EMBEDDER_API_VERSION. */
cc_status   cr_embedder_new(const cr_embedder_iface *iface, void *ctx,
                            cr_embedder **out);
void        cr_embedder_close(cr_embedder *e);
int         cr_embedder_dim(const cr_embedder *e);
const char *cr_embedder_identity(const cr_embedder *e);  /* borrowed */
const char *cr_embedder_name(const cr_embedder *e);      /* borrowed */
/* Embeds n texts into out (n*dim floats, caller-allocated). lens may be NULL
 * (texts are then NUL-terminated). */
cc_status   cr_embedder_embed(cr_embedder *e, const char *const *texts,
                              const size_t *lens, size_t n, float *out);
/* Embeds one query (len bytes) into out (dim floats), with the query
 * prefix when one is set; cr_embedder_embed is for documents. */
cc_status   cr_embedder_embed_query(cr_embedder *e, const char *text, size_t len, float *out);
/* Message of the last failure on this handle (borrowed). */
const char *cr_embedder_errmsg(const cr_embedder *e);
cc_status   cr_embedder_seterr(cr_embedder *e, cc_status s, const char *fmt, ...)
            __attribute__((format(printf, 3, 4)));

/* The hash embedder's text normalisation, exposed for tests and for the
 * query side: lowercases (ASCII, Latin-1, Latin Extended-A, Greek,
 * Cyrillic), folds Latin diacritics (é → e, ß → ss, æ → ae) and turns every
 * non-word code point into one space. Invalid UTF-8 bytes are separators.
 * Appends to out. */
cc_status   cr_hash_normalize(const char *text, size_t n, cc_buf *out);

/* ================================================================ vector index */

/* KB/vectors.faiss: a FAISS index (IndexIDMap2 over IndexFlatIP, or over
 * IndexHNSWFlat with inner product once the index holds hnsw_threshold
 * vectors), ids = chunk ids, vectors L2-normalised so inner product is the
 * cosine. The file carries a header (format version, embedder identity,
 * dimension, the catalog generation it reflects) and a trailer; see
 * vindex.c for the layout. Saving is atomic (temp file + rename). */

typedef struct cr_vindex cr_vindex;

typedef struct cr_vindex_opts {
    int64_t hnsw_threshold;   /* switch flat → HNSW at this many vectors; 0 = 100000 */
    int     hnsw_m;           /* 0 = 32 */
    int     hnsw_ef_search;   /* 0 = 128 */
    int     hnsw_ef_construction; /* 0 = 40 (FAISS's default) */
    int     verify_full;      /* 1: open always recomputes the checksum (cairn check);
                                 0: not when the file is the one the last save
                                 stamped as written (vindex.c, "The stamp") */
} cr_vindex_opts;

#define CR_VINDEX_FORMAT_VERSION 1

/* A new, empty index for `path` (nothing is written until cr_vindex_save).
 * embedder_id: the embedder's identity; dim: its dimension (1..65536). */
cc_status cr_vindex_create(const char *path, const char *embedder_id, int dim,
                           const cr_vindex_opts *opts, cr_vindex **out);
/* Loads path. CC_NOTFOUND: no file; CC_CORRUPT: truncated or unreadable
 * (rebuild it); CC_VERSION: written by a newer cairn; CC_INVALID: built by
 * another embedder or dimension (the message names both). Message in
 * cc_errmsg(). */
cc_status cr_vindex_open(const char *path, const char *embedder_id, int dim,
                         const cr_vindex_opts *opts, cr_vindex **out);
void      cr_vindex_close(cr_vindex *vi);
const char *cr_vindex_errmsg(const cr_vindex *vi);   /* borrowed */

/* Adds n vectors (n*dim floats, finite) under ids (>= 0). An id already in
 * the index is CC_EXISTS (remove it first); an id repeated in the batch is
 * CC_INVALID. Nothing is added when the call fails. May convert the index
 * to HNSW when it reaches hnsw_threshold (a rebuild: seconds per 10k
 * vectors), and rebuilds first when an id is a tombstone. */
cc_status cr_vindex_add(cr_vindex *vi, size_t n, const int64_t *ids,
                        const float *vecs);
/* Removes the ids that are present; *n_removed (may be NULL) counts them.
 * Flat: removed from FAISS. HNSW (FAISS cannot remove from it): the ids
 * become tombstones, saved with the index and skipped by searches; once
 * they pass 10% of the index it is rebuilt from its stored vectors, flat or
 * HNSW again by the live count. */
cc_status cr_vindex_remove(cr_vindex *vi, size_t n, const int64_t *ids,
                           size_t *n_removed);
/* Top-k (k in 1..10000) by inner product with query (dim floats): writes
 * *n_out <= k hits, best first, into ids[] and scores[] (k entries each). */
cc_status cr_vindex_search(cr_vindex *vi, const float *query, int k,
                           int64_t *ids, float *scores, size_t *n_out);
/* The same as a vector-lane hit list (rank[CR_LANE_VECTOR] 1-based,
 * lane_score and score = inner product). *hits malloc'ed; caller frees. */
cc_status cr_vindex_search_hits(cr_vindex *vi, const float *query, int k,
                                cr_hit **hits, size_t *n);
/* Writes the index to its path atomically (path.tmp, fsync, rename), and
 * removes path.delta. */
cc_status cr_vindex_save(cr_vindex *vi);
/* Saves the changes since the handle was loaded or last saved as one
 * record appended to path.delta (fsync'ed), or, when there is no base file
 * yet or the delta would pass 1/64 of it or hold more adds than
 * cr_vindex_set_delta_max_adds allows, as cr_vindex_save. Opening
 * applies the delta after the base (vindex.c, "The delta"). */
cc_status cr_vindex_save_delta(cr_vindex *vi);
/* 1 when path and path.delta are still what this handle loaded or wrote
 * (no other writer changed them since). */
int       cr_vindex_disk_same(cr_vindex *vi);
/* Applies the records appended to path.delta since the handle read it,
 * in place: searches on other threads wait meanwhile (they may run
 * concurrently with this call, unlike with add/remove). *reload = 1 when
 * that is not possible (a new base file, a delta that needs a rebuild):
 * open the file again. */
cc_status cr_vindex_refresh(cr_vindex *vi, int *reload);
/* The most threads FAISS's batch work (HNSW adds, rebuilds) started on
 * the calling thread may use from now on (OpenMP's setting, per thread;
 * n < 1: unchanged). A server's writer sets 1: its catch-ups then leave
 * the other cores to searches, and no OpenMP team spins between them. */
void      cr_vindex_batch_threads(int n);
/* From now on, HNSW indexes readied for search or copied put their float
 * vectors on transparent huge pages (faiss_simd.cpp, huge_xb: the
 * re-scoring reads them at random, and on 4 KB pages nearly each is a TLB
 * miss). For long-lived searchers (`cairn serve`): making them huge costs
 * ~40 ms of CPU per 158 MB once. Off by default; CAIRN_HNSW_HUGE=0 or 1 in
 * the environment overrides. Same answers either way. With it on, flat
 * indexes too are readied for search when loaded (their int8 copy made,
 * the vectors collapsed), not at their first search, where other
 * searches would wait for it. */
void      cr_vindex_huge_pages(int on);
/* OpenBLAS's worker threads (the BLAS that FAISS's own flat search runs
 * on, when the one installed is OpenBLAS's pthread build: cairn's flat
 * search leaves it the zero or non-finite query and CAIRN_FAISS_SEARCH=1).
 * OpenBLAS starts a worker per core when it is loaded, and each spins on
 * sched_yield for ~0.1 s after its start and after every call it shares
 * out (a one-query flat search over a few thousand vectors is shared out).  cr_blas_quiet(0)
 * stops the workers started at load (`cairn` does it first thing: ~0.13 s
 * of a core saved per command); a call that shares work out starts them
 * again.  cr_blas_quiet(1) also keeps every later call on its caller
 * (`cairn serve`: its searches run side by side on their own threads, and
 * spinning workers took the cores from them: 1.6-1.7x the requests/s of
 * flat-index searches with it while they went through FAISS,
 * docs/benchmarks.md).  Nothing when the BLAS
 * is not OpenBLAS, or when OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS or
 * OMP_NUM_THREADS is set: the user's choice stands. */
void      cr_blas_quiet(int one_thread);
/* The most vectors a catch-up (cr_vectors_sync) puts into an index in one
 * cr_vindex_add, and an open's replay of the delta likewise, so that the
 * writer's index and every later open of its files are the same graph. */
#define CR_ADD_BATCH 256
/* A copy of src in *out that searches exactly as src (the same FAISS
 * graph, vectors, ids, tombstones and int8 search copy, copied as arrays:
 * no HNSW inserts, so it costs memory traffic, not a rebuild) and is
 * then independent: adds, removes and refreshes on either side leave the
 * other alone. It reflects the same files (path, the delta read so far),
 * so cr_vindex_refresh and cr_vindex_disk_same work on it as on src;
 * what src has journaled but not saved makes the copy's next save a full
 * one. src may be searched meanwhile but not changed (its read lock is
 * held). Errors on src: CC_NOMEM, CC_INVALID (an index this file did not
 * make). */
cc_status cr_vindex_clone(cr_vindex *src, cr_vindex **out);
/* The same into dst, an index of the same kind (path, embedder, flat or
 * HNSW) that no other thread uses, overwriting its contents and reusing
 * its memory (no fresh pages to fault in: several times cheaper than a
 * new copy on a VM). CC_INVALID: not the same kind (dst unchanged); any
 * other error leaves dst unusable (close it). */
cc_status cr_vindex_clone_into(cr_vindex *src, cr_vindex *dst);
/* How many vectors the last cr_vindex_clone_into into vi kept instead of
 * copying: when vi is an unchanged copy of the same src and src has only
 * had vectors added (or HNSW removals, which only mark) since, the copy
 * takes only the vectors, ids and graph levels added after that copy,
 * plus the neighbour lists and the search copy whole; 0 after a whole
 * copy (src rebuilt, a flat removal, vi changed or a copy of another). */
int64_t   cr_vindex_copy_kept(const cr_vindex *vi);
/* 1 when the delta read by cr_vindex_open had bytes past its last intact
 * record (a damaged or torn record: it and the rest were left out, so the
 * index is behind); *at = the bytes applied, *size = the file's size then. */
int       cr_vindex_delta_damaged(const cr_vindex *vi, uint64_t *at, uint64_t *size);
/* Adds held in path.delta as this handle knows it (applied at open or by
 * cr_vindex_refresh, or appended by cr_vindex_save_delta); 0 after a whole
 * save. Each costs an HNSW insert at every later open. */
uint64_t  cr_vindex_delta_adds(const cr_vindex *vi);
/* cr_vindex_save_delta saves the whole HNSW index instead once the delta
 * would hold more than n adds (0, the default: only the 1/64 size rule; a
 * flat index's adds replay cheaply and keep to that rule alone). */
void      cr_vindex_set_delta_max_adds(cr_vindex *vi, uint64_t n);

/* For tests and benches: 1 when two HNSW indexes hold the same graph and
 * ids (levels, neighbour lists, entry point), 0 when not, -1 when either
 * is not HNSW. */
int       cr_vindex_hnsw_same(const cr_vindex *a, const cr_vindex *b);
/* For tests: the HNSW graph's invariants (list sizes, no self links, links
 * only to vectors on that level, none twice, the entry point on the top
 * level, every vector from storage position `from` on reachable from
 * it): 0 all hold, 1 not (why: which, within n bytes), -1 not HNSW. */
int       cr_vindex_hnsw_check(const cr_vindex *vi, int64_t from, char *why, size_t n);
/* For tests: where an HNSW index's float vectors lie in memory (*p, *n
 * bytes): 0, or -1 when not HNSW. */
int       cr_vindex_hnsw_vectors(const cr_vindex *vi, const void **p, size_t *n);
/* For tests: an index's int8 search copy (HNSW or flat), the vectors
 * quantised so far (*p, *n bytes): 0, or -1 when the index has none. */
int       cr_vindex_codes8(const cr_vindex *vi, const void **p, size_t *n);

int64_t     cr_vindex_count(const cr_vindex *vi);      /* live vectors */
int64_t     cr_vindex_generation(const cr_vindex *vi);
void        cr_vindex_set_generation(cr_vindex *vi, int64_t gen);  /* saved by save */
int         cr_vindex_is_hnsw(const cr_vindex *vi);
int         cr_vindex_dim(const cr_vindex *vi);
const char *cr_vindex_embedder(const cr_vindex *vi);   /* borrowed */

/* ================================================================ fusion */

/* Reciprocal Rank Fusion over the union of lanes:
 *   score(c) = Σ_l weight[l] / (k + rank_l(c))  over lanes l that found c.
 * lanes[l] is lane l's hit list, best first (NULL when n[l] == 0); its rank
 * is the position in the list (1-based); lane_score[l] of an input hit (or
 * its score when rank[l] is 0) is kept in the output. A chunk listed twice
 * in one lane counts once, at its better rank. Output: best first, ties by
 * chunk id ascending; rank[] and lane_score[] filled for every lane. */
typedef struct cr_fuse_opts {
    double k;                         /* >= 0; 60 by default */
    double weight[CR_LANE_COUNT];     /* >= 0; 1 by default */
    size_t limit;                     /* at most this many hits out; 0 = all */
} cr_fuse_opts;

#define CR_FUSE_OPTS_DEFAULT { 60.0, { 1.0, 1.0 }, 0 }

/* opts NULL = defaults. NaN/negative/infinite k or weights: CC_INVALID
 * (message in cc_errmsg()). *out malloc'ed (caller frees); *n_out may be 0. */
cc_status cr_fuse_rrf(const cr_hit *const lanes[CR_LANE_COUNT],
                      const size_t n[CR_LANE_COUNT], const cr_fuse_opts *opts,
                      cr_hit **out, size_t *n_out);

/* ================================================================ metrics */

/* Relevance judgement: gain > 0 is relevant (graded), <= 0 not relevant. */
typedef struct cr_qrel {
    int64_t id;
    double  gain;
} cr_qrel;

enum { CR_GAIN_GRADED = 0, CR_GAIN_BINARY = 1 };

/* Metrics of one ranked list at cutoff k (k <= 0: the whole list). A chunk
 * repeated in `ranked` counts at its first position only. Qrel ids must be
 * unique and gains finite (else CC_INVALID). With no relevant qrel every
 * metric is 0.
 *   nDCG@k  = DCG@k / IDCG@k, DCG = Σ g_i / log2(i + 1), i 1-based;
 *             g = gain (graded) or 1 (binary)
 *   recall@k = relevant retrieved in top k / relevant
 *   RR@k     = 1 / rank of the first relevant in top k (0 if none)
 *   AP@k     = Σ_{relevant at i <= k} precision@i / relevant */
typedef struct cr_metrics {
    double ndcg, recall, rr, ap;
} cr_metrics;

cc_status cr_metrics_query(const int64_t *ranked, size_t n_ranked,
                           const cr_qrel *qrels, size_t n_qrels, int k,
                           int gain_mode, cr_metrics *out);

typedef struct cr_eval_query {
    const int64_t *ranked;  size_t n_ranked;
    const cr_qrel *qrels;   size_t n_qrels;
} cr_eval_query;

/* Means over a run (ndcg, recall, rr = MRR, ap = MAP). Queries with no
 * relevant qrel are left out of the means; *n_scored (may be NULL) counts
 * the queries that were averaged. */
cc_status cr_metrics_run(const cr_eval_query *queries, size_t n_queries, int k,
                         int gain_mode, cr_metrics *out, size_t *n_scored);
/* ================================================================ ingestion */

/* Ingestion writes the system of record only (documents, chunks, FTS5 rows,
 * the change log) in one transaction per input; derived indexes catch up
 * from the change log afterwards. A document is identified by its uri; its
 * content hash (SHA-256 of title, metadata and text) decides:
 *   unchanged  -> nothing is written;
 *   changed    -> the old version is marked deleted and its chunks removed,
 *                 the new version added (one 'remove' + one 'add' change);
 *   new        -> added. */
/* Called for every chunk stored, inside the ingestion transaction, after
 * the chunk row exists: text[0..len) is the chunk, starting at document
 * offsets start_byte / start_char.  A failure (reason on the KB handle)
 * fails the whole input.  Used by the graph module for extraction;
 * retrieval knows nothing of what it does. */
typedef cc_status (*cr_chunk_hook)(void *ud, cc_kb *kb, int64_t doc_id, int64_t chunk_id,
                                   const char *text, size_t len, int64_t start_byte,
                                   int64_t start_char);

typedef struct cr_ingest_opts {
    cr_parse_opts parse;
    cr_chunk_opts chunk;
    cr_format     format;      /* CR_FMT_UNKNOWN: from the file name */
    cr_chunk_hook on_chunk;    /* NULL: none */
    void         *on_chunk_ud;
} cr_ingest_opts;

typedef struct cr_ingest_stats {
    int64_t docs_added, docs_replaced, docs_unchanged;
    int64_t chunks_added;
    int64_t bytes;             /* raw input bytes read */
} cr_ingest_stats;

/* Fills opts from the KB's settings (chunk.*, ingest.*). */
cc_status cr_ingest_opts_from_kb(cc_kb *kb, cr_ingest_opts *opts);

/* Ingests one input (data[0..n) named `uri`) in one transaction: all of its
 * documents or none. Needs a writable KB. On failure the KB is unchanged
 * and the reason is on the KB handle. Stats are added to *stats.
 * Called inside a transaction the caller opened (cc_kb_begin), the input
 * is a savepoint of it instead: many small inputs then share one commit,
 * and a failed input still leaves nothing behind.  The caller commits that
 * transaction with cc_kb_commit: the inputs' full-text rows (chunks_fts)
 * and, with the graph hook, their entity names (entity_names) are written
 * by its pre-commit steps, once for the whole transaction, so before the
 * commit a search on this handle does not see them yet (a plain COMMIT
 * statement is refused; a rollback drops them with the rest). */
cc_status cr_ingest_data(cc_kb *kb, const char *uri, cr_format fmt, const char *data,
                         size_t n, const cr_ingest_opts *opts, cr_ingest_stats *stats);

/* For the chunk hook: 1 while this thread's cr_ingest_data runs an input
 * as a savepoint of the caller's transaction (an input of a batch), 0 for
 * an input in its own transaction (and outside cr_ingest_data).  The graph
 * hook stages its entity names for the commit in a batch (below), and
 * writes them at once for a lone input (no savepoint, so FTS5 writes its
 * segment at the commit either way). */
int cr_ingest_in_batch(void);

/* The entity names the graph hook (graph/derived.c, entnames) changed in
 * the open transaction, written to entity_names by its pre-commit step:
 * one row per entity, `names` its full new text, `old` 1 when the entity
 * had an entity_names row before (replaced at the commit).  A removal (a
 * document replaced or removed) that deletes an entity's entity_names row
 * drops its row here too.  Made (if not there) in the transaction by
 * whoever uses it first: a rollback may drop it. */
#define CR_NAMES_STAGE_DDL "CREATE TEMP TABLE IF NOT EXISTS names_stage(id INTEGER PRIMARY KEY," \
                           " names TEXT NOT NULL, old INTEGER NOT NULL)"

/* Ingests a regular file (mmapped, so memory stays bounded). */
cc_status cr_ingest_file(cc_kb *kb, const char *path, const cr_ingest_opts *opts,
                         cr_ingest_stats *stats);

/* The setting ingest.batch_seconds into *secs (1 when unset): how long a
 * caller that ingests many files in one transaction keeps it open before
 * it commits (0: a commit per file).  That transaction holds SQLite's
 * write lock: whatever appends meanwhile (an ask's trace, the server's
 * audit rows; they wait 5 s) or wants to see the files waits for it.
 * CC_INVALID (cc_kb_errmsg names the setting) outside 0..3600. */
cc_status cr_ingest_batch_seconds(cc_kb *kb, double *secs);

/* Deletes the live document with this uri (or numeric id, given as
 * "#<id>"), with its chunks and FTS rows, in one transaction.  Replacing
 * or removing a document also deletes the graph rows of its chunks
 * (mentions, relations, and entities left with no mention). CC_NOTFOUND
 * when there is none. If uri names a JSON file, every record "uri#..."
 * goes too. *removed gets the number of documents removed. */
cc_status cr_doc_remove(cc_kb *kb, const char *uri, int64_t *removed);

/* ================================================================ search */

/* These sit on the embedder, vector index and fusion sections. */

typedef struct cr_vectors_stats {
    int64_t added, removed, vectors;
    int     rebuilt;           /* 1 when the index was missing or corrupt */
    cc_status rebuild_reason;  /* CC_NOTFOUND or CC_CORRUPT when rebuilt */
} cr_vectors_stats;

/* The embedder named by the KB settings (embedder.name, .dim, .model,
 * .threads, .max_tokens, .query_prefix, .doc_prefix). */
cc_status cr_embedder_from_kb(cc_kb *kb, cr_embedder **out);

/* Brings KB/vectors.faiss up to the catalog's generation (writable KB):
 * applies the change log after the index's generation; a missing or corrupt
 * index is rebuilt from all live chunks; an index from another embedder is
 * refused (CC_INVALID, "run cairn reindex"). */
cc_status cr_vectors_sync(cc_kb *kb, cr_vectors_stats *stats);
/* The same for a process that catches up again and again (a server's
 * writer): *keep (NULL at first) is the index handle kept from the last
 * call; it is used instead of loading the file when the files are still
 * as it left them, and the handle is left in *keep again on success (NULL
 * on failure). The caller closes it with cr_vindex_close. */
cc_status cr_vectors_sync_keep(cc_kb *kb, cr_vindex **keep, cr_vectors_stats *stats);
/* Loads the KB's vector index as cr_vectors_sync_keep would, on any handle
 * (a read handle is enough; no lock is taken), for a later
 * cr_vectors_sync_keep to take as *keep: so that a server's writer can
 * load it on another thread while writes go on. Errors on the KB handle
 * (CC_NOTFOUND also when vectors are disabled). */
cc_status cr_vectors_load(cc_kb *kb, cr_vindex **out);
/* Writes the KB's vector index whole, removing vectors.faiss.delta, when
 * it is an HNSW index and its delta holds more than max_adds adds, so that
 * later opens stop replaying them as HNSW inserts (each ~3 ms of CPU on a
 * 100k-vector index: the delta's cost falls on every reader that loads
 * the file).
 * Writable KB. keep: as cr_vectors_sync_keep's (NULL: the index is
 * loaded). *folded = the adds folded, 0 when nothing was written (no
 * index, vectors disabled, or a delta within max_adds). */
cc_status cr_vectors_fold(cc_kb *kb, cr_vindex **keep, uint64_t max_adds, uint64_t *folded);
/* The default of the setting vectors.delta_max_adds: one-shot writers
 * (cr_vectors_sync) write the index whole rather than let the delta hold
 * more adds; replaying 256 costs about what loading the whole index does. */
#define CR_DELTA_MAX_ADDS 256
/* The setting vectors.delta_max_adds (default CR_DELTA_MAX_ADDS, 0: no
 * limit), checked: CC_INVALID with a message naming it when out of range. */
cc_status cr_vectors_delta_max_adds(cc_kb *kb, uint64_t *out);

/* Progress of the embedding done by cr_vectors_sync: fn(ud, done, total)
 * in chunks, called at the start and after every batch. Process-wide, for
 * the command line's progress bar (set before syncing, NULL to clear); a
 * server leaves it unset. */
typedef void (*cr_progress_fn)(void *ud, int64_t done, int64_t total);
void      cr_vectors_set_progress(cr_progress_fn fn, void *ud);

/* 0 when the settings turn the vector lane off (embedder.name = "none"):
 * a BM25-only knowledge base. */
int       cr_vectors_enabled(cc_kb *kb);

enum { CR_MODE_BM25 = 0, CR_MODE_VECTOR = 1, CR_MODE_HYBRID = 2 };
#define CR_QUERY_MAX_BYTES 65536

typedef struct cr_search_opts {
    int    mode;                     /* CR_MODE_* */
    int    k;                        /* hits wanted, 1..10000 */
    int    depth;                    /* per-lane depth in hybrid mode */
    double fusion_k;                 /* RRF k */
    double weight[CR_LANE_COUNT];    /* RRF lane weights */
    int    flags;                    /* CR_FTS_RAW */
} cr_search_opts;

/* Defaults from settings: search.k (10), search.depth (50), fusion.k (60),
 * fusion.weight_bm25 / fusion.weight_vector (1). Mode: hybrid. */
cc_status cr_search_opts_from_kb(cc_kb *kb, cr_search_opts *o);

/* A searcher holds the embedder and vector index open across queries. */
typedef struct cr_searcher cr_searcher;
cc_status cr_searcher_open(cc_kb *kb, cr_searcher **out);
void      cr_searcher_close(cr_searcher *s);
/* Runs one search. Hybrid: BM25 and vector lanes to `depth`, fused by RRF,
 * cut to k; when the vector lane is unavailable (no index yet) hybrid
 * answers from BM25 alone and cr_searcher_vector_status says why. *hits is
 * malloc'ed (caller frees). Errors on the KB handle. */
cc_status cr_searcher_search(cr_searcher *s, const char *query, const cr_search_opts *o,
                             cr_hit **hits, size_t *n);
/* NULL when the vector lane is usable, else why not (borrowed). */
const char *cr_searcher_vector_status(const cr_searcher *s);
/* Where the searcher's last search spent its time (diagnostics: `cairn
 * serve`'s CAIRN_SERVE_TIMING log); a lane not run has 0 ms. */
typedef struct cr_search_timing {
    double lane_ms[CR_LANE_COUNT];   /* wall time of each lane */
    int    live_checked;             /* 1: the vector hits were looked up one by one
                                      * (the index was behind the catalog) */
} cr_search_timing;
void cr_searcher_last_timing(const cr_searcher *s, cr_search_timing *t);

/* Sharing one loaded vector index between searchers (a server's reader
 * slots), so that a write costs one reload in the background instead of one
 * per searcher. A cr_vshared is reference counted and changed after load
 * only by cr_vshared_refresh (under the index's lock): searches on many
 * threads at once may use it (a failed search's message may then be
 * another thread's). */
typedef struct cr_vshared cr_vshared;
/* Loads KB/vectors.faiss for embedder e (its identity and dimension must
 * match the file). Errors as cr_vindex_open, on the KB handle. */
cc_status cr_vshared_open(cc_kb *kb, cr_embedder *e, cr_vshared **out);
int64_t   cr_vshared_generation(const cr_vshared *v);   /* the catalog generation it reflects */
/* A cr_vshared over an index loaded or copied elsewhere (cr_vindex_clone:
 * a server's writer hands its caught-up index to the readers); it takes
 * vi (closed with the last reference). CC_NOMEM: vi stays the caller's. */
cc_status cr_vshared_adopt(cr_vindex *vi, cr_vshared **out);
/* The index inside (borrowed; searched by other threads: only read it,
 * e.g. cr_vindex_clone). */
cr_vindex *cr_vshared_index(cr_vshared *v);
/* Applies what writers appended to vectors.faiss.delta since, in place
 * (cr_vindex_refresh: searches wait meanwhile); *reload = 1 when the file
 * must be opened again instead. Errors: cr_vshared_errmsg. */
cc_status cr_vshared_refresh(cr_vshared *v, int *reload);
const char *cr_vshared_errmsg(const cr_vshared *v);
void      cr_vshared_ref(cr_vshared *v);     /* NULL: no-op */
void      cr_vshared_unref(cr_vshared *v);   /* frees with the last reference; NULL: no-op */
/* From now on s takes its vectors from v (s holds a reference until the
 * next call or close) instead of opening vectors.faiss itself; v NULL: the
 * vector lane is unavailable and `why` says why (hybrid answers from BM25).
 * Cheap: call it whenever a newer index has been loaded. */
void      cr_searcher_share_vectors(cr_searcher *s, cr_vshared *v, const char *why);
/* on = 1 (default): in hybrid mode the vector lane runs on a second thread
 * beside BM25 (lower latency for one query); 0: on the caller's thread
 * (better throughput when many requests run at once). */
void      cr_searcher_set_lane_thread(cr_searcher *s, int on);

/* Keeping the full-text indexes merged (ftsmerge.c). Index numbers:
 * CR_FTS_CHUNKS (chunks_fts), CR_FTS_NAMES (entity_names). A shape is an
 * index's segment count and size in FTS5 pages (the largest segment's and
 * all of them; sizes estimated from the %_idx table). */
enum { CR_FTS_CHUNKS, CR_FTS_NAMES, CR_FTS_INDEXES };
typedef struct cr_fts_shape { int64_t segments, pages, largest; } cr_fts_shape;
cc_status   cr_fts_shape_get(cc_kb *kb, int which, cr_fts_shape *out);
const char *cr_fts_table(int which);    /* its table's name; NULL: no such index */
/* 1 when the policy merges this index (ftsmerge.c): more than two
 * segments and (segments - 1) x (pages outside the largest) >= 2 x the
 * largest's pages. */
int         cr_fts_wants_merge(const cr_fts_shape *s);
/* Merges index `which` into one segment, one transaction per bounded step
 * (readers see the old segments until each step commits). Before each step
 * stop(arg) (when not NULL) may return 1 to leave the rest for later (the
 * index records an unfinished merge; any later merge goes on with it).
 * *done = 1 when one segment is left. Needs a CC_KB_WRITE handle and no
 * open transaction; errors on the KB handle. */
cc_status   cr_fts_merge(cc_kb *kb, int which, int (*stop)(void *), void *arg, int *done);
/* Before a bulk write of many inputs (`cairn ingest`): FTS5's automerge off
 * in both indexes (one transaction; cr_fts_tidy turns it back on). */
cc_status   cr_fts_bulk_begin(cc_kb *kb);
/* What writers run after their last commit: automerge back on if a bulk
 * write turned it off, then cr_fts_merge on each index for which
 * cr_fts_wants_merge, or, after a bulk write, whose segments outside the
 * largest hold at least half its pages (after a bulk write, the others get
 * the level merges automerge would have done). *merged (may be NULL): indexes merged into
 * one segment. Same rules as cr_fts_merge. */
cc_status   cr_fts_tidy(cc_kb *kb, int (*stop)(void *), void *arg, int *merged);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_RETRIEVAL_H */
