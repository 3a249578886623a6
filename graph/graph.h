/*
 * graph.h — the knowledge-graph module: entity and relation extraction
 * (a pluggable extractor interface, the rules extractor "rules/1") and
 * entity normalisation / resolution (keys, acronyms, aliases).
 *
 * Prefix: cg_.  Status codes are core's cc_status.
 *
 * Offsets: an extractor reads one chunk of a document.  Every mention and
 * relation it returns carries exact document offsets, half-open [start,end),
 * in code points (*_char, as in schemas/catalog.sql) and in UTF-8 bytes
 * (*_byte).  The chunk-relative byte offsets are kept too (chunk_*), so the
 * surface is always text[chunk_start .. chunk_end) of the chunk.
 */
#ifndef CAIRN_GRAPH_H
#define CAIRN_GRAPH_H

#include "core.h"
#include "retrieval.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ types */

/* Entity types; the names are what the catalog stores (entities.type). */
typedef enum cg_type {
    CG_TYPE_OTHER = 0,
    CG_TYPE_PERSON,
    CG_TYPE_ORG,        /* "organisation" */
    CG_TYPE_PLACE,
    CG_TYPE_PRODUCT,
    CG_TYPE_DATE,
    CG_TYPE_AMOUNT,     /* money */
    CG_TYPE_PERCENT,
    CG_TYPE_QUANTITY,   /* number with a unit */
    CG_TYPE_COUNT
} cg_type;

const char *cg_type_str(cg_type t);     /* "person", "organisation", ... */

/* Mention flags. */
enum {
    CG_MF_ACRONYM = 1 << 0,   /* all-capitals short form ("BMSA") */
    CG_MF_CONCEPT = 1 << 1,   /* common-noun class ("products" in a Hearst
                                 pattern, "shipping company" after "is a"):
                                 an object of is_a / instance_of, not a name */
    CG_MF_VALUE   = 1 << 2    /* date, amount, percent or quantity */
};

typedef struct cg_mention {
    int64_t start_char, end_char;     /* document code points */
    int64_t start_byte, end_byte;     /* document bytes */
    size_t  chunk_start, chunk_end;   /* bytes within the chunk */
    char   *surface;                  /* exact text; owned by the cg_extraction */
    cg_type type;
    unsigned flags;                   /* CG_MF_* */
    float   confidence;               /* 0..1 */
} cg_mention;

typedef enum cg_rel_status { CG_REL_CONFIRMED = 0, CG_REL_INFERRED = 1 } cg_rel_status;
const char *cg_rel_status_str(cg_rel_status s);   /* "confirmed" | "inferred" */

typedef struct cg_relation {
    size_t  subj, obj;                /* indices into cg_extraction.mentions */
    char   *predicate;                /* "acquire", "cfo_of", "is_a", ... owned */
    const char *pattern;              /* static: "apposition", "copula", ... */
    int64_t sent_start_char, sent_end_char;   /* sentence, document code points */
    int64_t sent_start_byte, sent_end_byte;   /* sentence, document bytes */
    size_t  sent_chunk_start, sent_chunk_end; /* sentence, bytes within the chunk */
    float   confidence;
    cg_rel_status status;
} cg_relation;

/* Counted warnings: outputs capped or input skipped, never silently. */
typedef struct cg_warnings {
    size_t mentions_capped;     /* mentions dropped at opts.max_mentions */
    size_t relations_capped;    /* relations dropped at opts.max_relations */
    size_t cooc_capped;         /* co-occurrence pairs dropped per sentence cap */
    size_t names_too_long;      /* capitalised runs longer than max_name_tokens */
    size_t tokens_capped;       /* tokens past opts.max_tokens not examined */
    size_t bad_offsets;         /* plug-in results rejected (out of range, mid-character) */
} cg_warnings;

/* The result of one extraction.  Initialise with cg_extraction_init, free
 * with cg_extraction_free (which frees every surface and predicate). */
typedef struct cg_extraction {
    cg_mention  *mentions;  size_t n_mentions;  size_t cap_mentions;
    cg_relation *relations; size_t n_relations; size_t cap_relations;
    cg_warnings  warn;
    size_t       n_warnings;            /* sum of warn's counters */
    char         extractor[48];         /* "rules/1" */
    /* limits copied from the options by cg_extractor_run */
    size_t       max_mentions, max_relations;
} cg_extraction;

void cg_extraction_init(cg_extraction *x);
void cg_extraction_free(cg_extraction *x);    /* NULL-safe; leaves x reset */

/* ================================================================ extractors */

/* One chunk of a document: its UTF-8 text and where it starts in the
 * document.  text need not be NUL-terminated. */
typedef struct cg_chunk {
    const char *text;
    size_t      len;          /* bytes */
    int64_t     start_byte;   /* of text[0] within the document */
    int64_t     start_char;
} cg_chunk;

/* A plug-in extractor's findings, in chunk-relative byte offsets.  The
 * plug-in calls these from its extract(); cg_extractor_run checks every
 * offset (in range, on character boundaries), fills the document offsets
 * and the surfaces, and applies the caps. */
typedef struct cg_sink cg_sink;
/* Adds a mention; *idx (may be NULL) receives its index for relations, or
 * SIZE_MAX when it was dropped (bad offsets or cap): not an error. */
cc_status cg_sink_mention(cg_sink *s, size_t chunk_start, size_t chunk_end,
                          cg_type type, unsigned flags, float confidence,
                          size_t *idx);
/* Adds a relation between two mentions added before; the sentence is given
 * in chunk bytes.  pattern must be a static string. */
cc_status cg_sink_relation(cg_sink *s, size_t subj, const char *predicate,
                           size_t obj, size_t sent_start, size_t sent_end,
                           const char *pattern, float confidence,
                           cg_rel_status status);
/* Counts a warning in the result being built (field of cg_warnings). */
void      cg_sink_warn(cg_sink *s, size_t *counter_in_warnings);
cg_warnings *cg_sink_warnings(cg_sink *s);

#define CG_EXTRACTOR_API_VERSION 1

/* The table a plug-in fills (static const).  ctx is the plug-in's. */
typedef struct cg_extractor_i {
    int         api_version;          /* CG_EXTRACTOR_API_VERSION */
    const char *name;                 /* "rules", "llm" */
    int         version;              /* of the extractor's behaviour: 1, 2, ... */
    /* Reads one chunk, reports through the sink.  On failure writes a
     * message into err (reset first) and returns the status. */
    cc_status (*extract)(void *ctx, const cg_chunk *chunk, cg_sink *sink, cc_buf *err);
    void      (*free)(void *ctx);     /* may be NULL */
} cg_extractor_i;

typedef struct cg_extractor cg_extractor;

/* Limits of the rules extractor (0 = default). */
typedef struct cg_rules_opts {
    size_t max_chunk_bytes;       /* default 16 MiB; over it: CC_TOOBIG */
    size_t max_tokens;            /* default 1,000,000 per chunk */
    size_t max_mentions;          /* default 4096 per chunk */
    size_t max_relations;         /* default 8192 per chunk */
    size_t max_cooc_per_sentence; /* default 6 */
    size_t max_name_tokens;       /* default 8 words in one proper name */
    int    no_cooccurrence;       /* 1: no inferred co-occurrence edges */
} cg_rules_opts;

/* Wraps a plug-in.  On success the extractor owns ctx (iface->free is
 * called by cg_extractor_free).  CC_VERSION when api_version differs. */
cc_status   cg_extractor_new(const cg_extractor_i *iface, void *ctx, cg_extractor **out);
/* The rules extractor ("rules/1"); opts may be NULL. */
cc_status   cg_extractor_rules_new(const cg_rules_opts *opts, cg_extractor **out);
void        cg_extractor_free(cg_extractor *ex);
/* "name/version"; borrowed, lives as long as ex. */
const char *cg_extractor_id(const cg_extractor *ex);
/* Message of the last failure on ex; borrowed until the next call. */
const char *cg_extractor_errmsg(const cg_extractor *ex);

/* Extracts one chunk into out (which must be initialised; earlier
 * contents are freed first).  Invalid UTF-8 or bad offsets: CC_INVALID. */
cc_status   cg_extractor_run(cg_extractor *ex, const cg_chunk *chunk, cg_extraction *out);

/* ================================================================ normalisation */

/* The resolution key of a name: Latin-1 / Latin Extended-A letters folded
 * to ASCII (é→e, ß→ss, Ø→o, Œ→oe, ł→l), case folded, punctuation to
 * spaces ("&" → "and"), a leading "the" and trailing legal suffixes
 * (Inc, Ltd, GmbH, Corp, LLC, AG, SA, plc, ...) removed, whitespace
 * collapsed.  Other scripts are kept as they are.  out is reset first.
 * A name that is only a suffix keeps it ("AG" → "ag").
 * *stripped (may be NULL) is set to 1 when a legal suffix was removed.
 * Invalid UTF-8: CC_INVALID. */
cc_status cg_norm_key(const char *s, size_t n, cc_buf *out, int *stripped);

/* 1 when acr (2..12 letters, capitals) is the initials of name: of every
 * word, or of every word but function words (of, and, the, for, de, &),
 * or with a word contributing its first two capitals ("GmbH").  0 else. */
int cg_acronym_matches(const char *acr, size_t acr_len, const char *name, size_t name_len);

/* 1 when the name ends in a legal suffix (Inc, Ltd., GmbH, ...). */
int cg_has_legal_suffix(const char *s, size_t n);

/* ---------------------------------------------------------------- resolution */

typedef enum cg_alias_source {
    CG_ALIAS_LABEL = 0,    /* the mention's own surface */
    CG_ALIAS_ACRONYM,      /* short form of a long name */
    CG_ALIAS_APPOSITION,   /* "X, also known as Y", "X (Y)" */
    CG_ALIAS_SUFFIX        /* the name with its legal suffix */
} cg_alias_source;
const char *cg_alias_source_str(cg_alias_source s);  /* catalog's aliases.source */

typedef struct cg_alias {
    char *alias;            /* surface */
    char *norm;             /* its key */
    cg_alias_source source;
} cg_alias;

typedef struct cg_entity {
    char   *key;            /* resolution key (entities.key) */
    char   *label;          /* preferred display name: the longest surface */
    cg_type type;
    unsigned flags;         /* CG_MF_* of its mentions, OR-ed */
    cg_alias *aliases; size_t n_aliases;   /* distinct norms */
} cg_entity;

/* Mentions of one extraction grouped into entities: same key; acronym and
 * its expansion ("International Business Machines (IBM)", or both in the
 * chunk with matching initials); "X, also known as Y" appositions.
 * entity_of[i] is the entity of mention i. */
typedef struct cg_resolution {
    cg_entity *entities; size_t n_entities;
    size_t    *entity_of;   /* n = the extraction's n_mentions */
    char     **key_of;      /* resolution key of mention i (cg_norm_key), owned */
    size_t     n_mentions;
} cg_resolution;

cc_status cg_resolve(const cg_extraction *x, cg_resolution *out);
void      cg_resolution_free(cg_resolution *r);   /* NULL-safe */

/* ================================================================ store */

/* The Redland store under a directory (storage "hashes", hash-type "bdb",
 * contexts on): one context per chunk, so every triple keeps the chunk it
 * came from.  IRIs are absolute ("urn:cairn:chunk:42"). */
typedef struct cg_store cg_store;

enum { CG_STORE_OPEN = 0, CG_STORE_CREATE = 1, CG_STORE_READONLY = 2 };

/* Opens (or with CG_STORE_CREATE creates, replacing) the store in dir,
 * which must exist.  CG_STORE_READONLY opens the files read-only (adding
 * or removing then fails).  On failure *out is NULL and cc_errmsg() says why. */
cc_status   cg_store_open(const char *dir, int flags, cg_store **out);

/* Which Redland storage holds a KB's graph store (graph/storage.c): "bdb"
 * files under KB/graph/ (default) or a model in a PostgreSQL database
 * (settings graph.storage, graph.postgresql.conninfo, .model; the password
 * from PGPASSWORD or ~/.pgpass, never from cairn.json). */
enum { CG_STORAGE_BDB = 0, CG_STORAGE_POSTGRESQL = 1 };
typedef struct cg_storage {
    int   kind;                          /* CG_STORAGE_* */
    char *dir;                           /* bdb: KB/graph */
    char *host, *port, *dbname, *user;   /* postgresql */
    char *password;                      /* postgresql: never printed */
    char *model;                         /* postgresql: this KB's model name */
} cg_storage;

/* Reads the KB's storage settings into *g (cg_storage_free after).
 * CC_INVALID, on the KB, for a bad setting. */
cc_status   cg_storage_from_kb(cc_kb *kb, cg_storage *g);
/* Parses "host=H port=P dbname=D user=U" into g's fields (others kept).
 * A password, an unknown keyword, a quoted value or one with a quote,
 * backslash or comma is CC_INVALID (cc_errmsg; the password not in it). */
cc_status   cg_storage_parse_conninfo(const char *conninfo, cg_storage *g);
/* "bdb", or "postgresql host=.. port=.. dbname=.. user=.. model=..": the
 * store's identity, with no password (safe to print and to keep in state). */
cc_status   cg_storage_describe(const cg_storage *g, cc_buf *out);
cc_status   cg_storage_copy(const cg_storage *from, cg_storage *to);
void        cg_storage_free(cg_storage *g);                 /* NULL-safe */
/* cg_store_open on that storage.  postgresql: CG_STORE_CREATE empties this
 * model (other models in the database are untouched; the tables are made
 * when missing); CG_STORE_READONLY is not enforced by the server; every
 * row commits on its own (Redland's storage cannot run in a transaction);
 * messages never hold the password. */
cc_status   cg_store_open_storage(const cg_storage *g, int flags, cg_store **out);
void        cg_store_close(cg_store *st);          /* syncs; NULL-safe */
/* Message of the last failure on st; borrowed until the next call. */
const char *cg_store_errmsg(const cg_store *st);

/* Adds (s, p, o) in context ctx.  o is an IRI, or a plain literal when
 * o_literal is 1.  Adding a triple already in the context is a no-op. */
cc_status   cg_store_add(cg_store *st, const char *ctx, const char *s, const char *p,
                         const char *o, int o_literal);
/* Removes every triple of context ctx (other contexts keep theirs). */
cc_status   cg_store_remove_context(cg_store *st, const char *ctx);
/* Triples in context ctx, or in the whole store when ctx is NULL (a triple
 * in two contexts counts once per context). */
cc_status   cg_store_count(cg_store *st, const char *ctx, size_t *out);
cc_status   cg_store_sync(cg_store *st);

/* ================================================================ the KB's graph store */

/* KB/graph/ holds the Redland store derived from the catalog (graph/rdf.c;
 * vocabulary and layout in schemas/cairn.ttl): one context per live chunk
 * (its description, the entities it mentions, each of its relations as a
 * triple and, per graph.store_assertions, as a cairn:Assertion) and one per
 * live document version (the document, its ingestion run, PROV-O, and the
 * type, label and key of every entity and predicate its chunks name).
 * KB/graph/state records the catalog generation the store reflects,
 * whether an update was interrupted, and the size of
 * every store file (text, versioned; see rdf.c).  KB/graph/lock is
 * flock()ed: exclusively by the one updating the store, shared by readers,
 * so a reader never sees half an update.
 *
 * Settings: graph.store: "redland" (default) or "none" (no store is kept;
 * readers get CC_NOTFOUND).  graph.storage: "bdb" (default, the files
 * under KB/graph/) or "postgresql" (a model in a PostgreSQL database; see
 * cg_storage; state and lock stay under KB/graph/).  graph.store_assertions:
 * "compact" (default: confirmed relations get an assertion with subject,
 * predicate, object, confidence and status; inferred ones only the plain
 * triple; offsets and pattern stay in the catalog), "all" (every relation
 * with offsets, pattern, chunk, run and extractor: 12 triples), "confirmed"
 * (that, for confirmed relations only) or "none"; the plain triple is
 * always stored, in its chunk's context.  Changing it takes effect for
 * contexts written afterwards (`cairn graph rebuild` for all). */

typedef struct cg_graph_stats {
    int         rebuilt;          /* 1: built from scratch */
    const char *rebuild_reason;   /* static: "requested", "missing", "interrupted",
                                     "damaged", "another format", "ahead of the catalog" */
    int64_t     generation;       /* the catalog generation it now reflects */
    size_t      contexts_added, contexts_removed;
    size_t      triples_added;
    size_t      skipped;          /* literals skipped: NUL byte or invalid UTF-8 */
    double      ms;               /* wall time of the sync */
} cg_graph_stats;

/* Brings KB/graph/ up to the catalog generation: applies the change log
 * after the store's generation ('add': the document's and its chunks'
 * contexts; 'remove': deletes exactly those contexts), or rebuilds it from
 * all live documents when rebuild is 1, or when it is missing, damaged
 * (a file's size is not the recorded one, or Redland cannot open it),
 * interrupted (a crash during an update), of another format, or ahead of
 * the catalog.  Needs the writer lock (CC_INVALID otherwise).  Called by
 * cg_sync_derived; stats may be NULL.  Errors on the KB handle. */
cc_status cg_graph_sync(cc_kb *kb, int rebuild, cg_graph_stats *stats);

/* Compares the store with the catalog (read-only): its generation, one
 * context per live chunk and document and none for anything else, and for
 * every live relation its triple in its chunk's context.  Writes one line
 * per problem into report (at most 20, then a count) and the number of
 * problems into *problems.  CC_OK when the comparison ran (problems or not);
 * the store missing or unreadable is one problem.  Errors on the KB. */
cc_status cg_graph_check(cc_kb *kb, cc_buf *report, size_t *problems);

/* Writes an IRI-safe form of s[0..n) into out (appended): bytes outside
 * [A-Za-z0-9-._~] become %XX (UTF-8 bytes, NUL and '%' included), so any
 * name gives a valid IRI ("Ana Ruiz" -> "Ana%20Ruiz"). */
cc_status cg_iri_escape(cc_buf *out, const char *s, size_t n);

/* ---------------------------------------------------------------- reading the store
 *
 * Readers work on any KB handle (read-only is fine).  Each call takes the
 * shared graph lock for its duration (an iterator until it is closed) and
 * fails with CC_BUSY when an update holds it for more than 10 s, with
 * CC_NOTFOUND when the store was never built or graph.store is "none",
 * and with CC_CORRUPT when it is damaged or was interrupted (the next
 * writer, or `cairn graph rebuild KB`, rebuilds it).  A store behind the
 * catalog is read as it is; its generation is reported. */

/* SPARQL 1.1 query (SELECT, ASK, CONSTRUCT, DESCRIBE) over the store, through
 * Rasqal/librdf, read-only: the query is parsed first and any update form
 * (INSERT, DELETE, LOAD, CLEAR, CREATE, DROP, ...) is refused with
 * CC_INVALID, as are a SERVICE pattern (Rasqal would fetch its URL) and a
 * query that does not parse (the parser's message, with its line).  Named graphs are the contexts (GRAPH ?g { ... }: ?g is a
 * chunk or document IRI); the default graph is their union.
 *
 * limit: at most this many result rows (SELECT) or triples (CONSTRUCT,
 * DESCRIBE); 0 means 1000; at most 1,000,000.  More results set
 * "truncated": true.  timeout_ms: 0 means 10,000.  Past it the query stops
 * (every triple read checks the clock) and CC_INTERRUPTED is returned with
 * nothing appended to json_out.
 *
 * json_out (appended, caller owns) gets one JSON object:
 *   SELECT:    {"type":"select","vars":["s",...],"rows":[{"s":TERM,...},...],
 *               "truncated":false,"generation":G,"ms":T}   (unbound: absent)
 *   ASK:       {"type":"ask","boolean":true,"generation":G,"ms":T}
 *   CONSTRUCT/DESCRIBE: {"type":"graph","triples":[[S,P,O],...],"truncated":..,...}
 * TERM = {"type":"uri","value":"..."} | {"type":"literal","value":"...",
 *         "datatype":"...", "lang":"..."} (datatype, lang when present) |
 *         {"type":"bnode","value":"..."}   (the SPARQL 1.1 JSON results terms).
 * Errors on the KB handle.  Safe to call from several threads, each with its
 * own KB handle.  The query runs in a forked child process on the store
 * opened read-only (the only way to stop Rasqal at the time limit); the
 * caller's process only parses the query and reads the answer.
 *
 * librdf 1.0.17 quirks: GRAPH ?g { <s> <p> <o> } (no variable in the
 * triple) matches every graph, an empty GRAPH <g> yields one empty row,
 * and COUNT over no solutions yields no row.  For exact per-context
 * answers use the triples iterator below. */
cc_status cg_sparql_exec(cc_kb *kb, const char *query, size_t limit, int64_t timeout_ms,
                         cc_buf *json_out);
/* The same, as text for people: SELECT a header of variable names and one
 * line per row, tab-separated, terms in N-Triples form (<iri>, "lit"^^<dt>,
 * _:b; unbound empty); ASK "true" / "false"; CONSTRUCT/DESCRIBE N-Triples.
 * "(stopped at the limit of N)" ends a truncated answer. */
cc_status cg_sparql_exec_table(cc_kb *kb, const char *query, size_t limit, int64_t timeout_ms,
                               cc_buf *out);
/* 1 when the calling thread's last cg_sparql_exec(_table) failed because
 * the query process outgrew the setting graph.sparql_memory_mb (2048 MB
 * of resident memory over what it inherited; 0 in the setting: no bound),
 * with CC_TOOBIG, as an answer over its buffer also fails: the server
 * tells them apart. */
int cg_sparql_over_memory(void);

/* A triple pattern: NULL / 0 fields match anything; given fields must be
 * equal.  subject and predicate are IRIs; object is an IRI, or with
 * object_literal = 1 the lexical form of a literal (of any datatype);
 * chunk_id > 0 limits to that chunk's context. */
typedef struct cg_triple_pattern {
    const char *subject, *predicate, *object;
    int         object_literal;
    int64_t     chunk_id;
} cg_triple_pattern;

/* One triple of the store in one context.  Strings are borrowed from the
 * iterator and valid until the next cg_triples_next or cg_triples_close. */
typedef struct cg_triple_row {
    const char *subject;     /* IRI */
    const char *predicate;   /* IRI */
    const char *object;      /* IRI, or a literal's lexical form */
    int         object_literal;
    const char *datatype;    /* literal's datatype IRI, or NULL */
    const char *context;     /* "urn:cairn:chunk:N" or "urn:cairn:doc:N" */
    int64_t     chunk_id;    /* N of a chunk context; 0 for a document's */
} cg_triple_row;

typedef struct cg_triples cg_triples;

/* Opens an iterator over the triples matching pat (NULL: all), in no
 * particular order, one row per (triple, context): a triple stated by
 * three chunks comes three times, which is its support.  Holds the shared
 * graph lock and a read-only store until cg_triples_close, so keep it short.
 * Errors on the KB handle; *out is NULL then.  Runs in the caller's
 * process: librdf 1.0.17 leaks a little memory (the pattern and decoded
 * statements) in finds that bind only the predicate, or subject and
 * predicate; a long-running server may prefer many short iterators over
 * none, or cg_sparql_exec (whose child exits). */
cc_status cg_triples_open(cc_kb *kb, const cg_triple_pattern *pat, cg_triples **out);
/* Fills *row and sets *has_row to 1, or to 0 at the end.  CC_IO if the
 * store fails mid-way (message: cg_triples_errmsg). */
cc_status cg_triples_next(cg_triples *it, cg_triple_row *row, int *has_row);
const char *cg_triples_errmsg(const cg_triples *it);   /* borrowed */
void      cg_triples_close(cg_triples *it);            /* NULL-safe; releases the lock */

/* Writes the whole store to f: "nquads" (every triple with its context,
 * N-Quads escaping) or "turtle" (the union graph, contexts dropped, each
 * triple once, with the cairn, prov, rdf, rdfs and xsd prefixes).  *n
 * (may be NULL) gets the number of statements written.  Errors on the KB. */
cc_status cg_graph_export(cc_kb *kb, const char *format, FILE *f, size_t *n);

/* ================================================================ subgraph */

/* Subgraph extraction over the catalog (entities, aliases, mentions,
 * relations: the record), for answering a question. */

typedef struct cg_prov {            /* one chunk stating a triple */
    int64_t relation_id, chunk_id, doc_id;
    int64_t start_char, end_char;   /* sentence span, document code points */
    const char *doc_uri, *pattern, *extractor;   /* owned by the cg_subgraph */
    float confidence;
    cg_rel_status status;
} cg_prov;

typedef struct cg_triple {
    int64_t subject_id, object_id;                /* entities.id */
    const char *subject, *predicate, *object;    /* labels, owned by the cg_subgraph */
    const char *subject_type, *object_type;      /* cg_type_str names */
    cg_rel_status status;   /* confirmed when any support is confirmed */
    float confidence;       /* best support's */
    int support;            /* distinct chunks stating it */
    int hops;               /* distance from the nearest seed (0: touches a seed) */
    double score;
    cg_prov *prov; size_t n_prov;
} cg_triple;

typedef struct cg_seed {
    int64_t entity_id;
    const char *label;      /* owned by the cg_subgraph */
    const char *from;       /* "question" | "chunk" */
} cg_seed;

typedef struct cg_subgraph_opts {
    int hops;               /* 0: setting graph.hops (2); at most 4 */
    int budget;             /* 0: setting graph.budget (60); at most 10000 */
} cg_subgraph_opts;

typedef struct cg_subgraph {
    cg_seed *seeds; size_t n_seeds;
    cg_triple *triples; size_t n_triples;        /* best score first */
    /* private */
    cg_prov *prov_;
    char   **strs_; size_t n_strs_, cap_strs_;
} cg_subgraph;

/* Seeds: entities mentioned in the given chunks plus entities named in the
 * question (FTS5 over entity names, each confirmed by one of its aliases
 * occurring in the question as whole words after cg_norm_key, an
 * all-capitals alias in its exact case, or the first word (4+ letters,
 * capitalised) of a longer name: "Norvale" for "Norvale Systems GmbH").  Expands
 * up to hops from the seeds along relations (either direction), scores
 * each triple (subject, predicate, object) by its support, confidence,
 * status, distance from the seeds and the personalised PageRank of its
 * ends from the seeds, and keeps the best `budget`, each with its
 * provenance.  question may be NULL or empty, chunk_ids may be NULL with
 * n_chunks 0; no seeds give an empty subgraph (CC_OK).  o may be NULL.
 * Works on a read-only KB.  Errors on the KB handle; *out is then empty.
 * Bounded work: at most 4,000 relation rows are read per call, 500 per
 * entity, hop 1 before hop 2. */
cc_status cg_subgraph_extract(cc_kb *kb, const char *question, const int64_t *chunk_ids,
                              size_t n_chunks, const cg_subgraph_opts *o, cg_subgraph *out);
void      cg_subgraph_free(cg_subgraph *g);   /* NULL-safe; leaves g empty */

/* ================================================================ merges */

/* Every name ingestion joins to an entity it does not name by itself is a
 * row of the merges table: reason "same_key" (another surface with the
 * same key: case, punctuation, diacritics, legal suffix), "acronym",
 * "apposition" (resolved within a chunk) or "alias" (matched through an
 * alias already in the catalog), with the chunk and offsets of the mention
 * that made it.  Splitting undoes one: the name's mentions move to an
 * entity of their own, the relations stated in their sentences follow
 * them, and the row, marked undone, keeps later ingestion from merging the
 * name into that entity again. */
typedef struct cg_merge {
    int64_t id, kept_id, split_id;     /* split_id: 0 until split */
    int64_t chunk_id, start_char, end_char;
    char *alias, *norm, *reason, *at, *undone_at;   /* owned; undone_at NULL if active */
} cg_merge;

/* The entity a user names: "#42" or "42" (an id), else the entity whose
 * key is the name's key, else one having it as an alias (followed to the
 * entity it was merged into).  CC_NOTFOUND when none; message on kb. */
cc_status cg_entity_find(cc_kb *kb, const char *name, int64_t *id);

/* The merges into entity_id, oldest first.  *out is owned by the caller
 * (cg_merges_free). */
cc_status cg_merges_list(cc_kb *kb, int64_t entity_id, cg_merge **out, size_t *n);
void      cg_merges_free(cg_merge *m, size_t n);      /* NULL-safe */

/* Undoes the active merge of `alias` (a surface or its key) into
 * entity_id, in one transaction on a writable KB.  Outputs (may be NULL):
 * the entity the name now is, the mentions and relations moved.  A
 * relation moves when the name is mentioned in its sentence and the entity
 * kept is not.  CC_NOTFOUND when no active merge matches; message on kb. */
cc_status cg_split(cc_kb *kb, int64_t entity_id, const char *alias, int64_t *new_id,
                   size_t *n_mentions, size_t *n_relations);

/* ================================================================ ingestion */

/* Every caller that writes documents (the CLI, the server, the query
 * language) goes through these two, so that derived data is never skipped.
 *
 * cg_ingest_opts_from_kb: cr_ingest_opts_from_kb plus the graph's work
 * during ingestion (entity and relation extraction per chunk, written in
 * the same transaction as the chunks).
 *
 * cg_sync_derived: after writes, brings every derived index (vectors.faiss,
 * the graph store) up to the catalog generation; vs (may be NULL) gets the
 * vector index's counts.  Errors on the KB handle. */
cc_status cg_ingest_opts_from_kb(cc_kb *kb, cr_ingest_opts *o);
/* Ends this thread's ingestion run on a KB: forgets the statements it
 * borrowed from the KB handle (kept there, cc_kb_stmt, and finalized by
 * cc_kb_close) and that the LLM pass's do-not-merge rules were read for
 * this KB (read again at the next chunk).  Call when a run ends, before
 * closing the KB. */
void      cg_ingest_done(void);
/* Counted warnings of this thread's extraction since the last
 * cg_ingest_opts_from_kb: chunks the extractor refused (not valid UTF-8,
 * over its size limit: stored without graph rows) and chunks that hit a
 * limit (cg_warnings: mentions, relations or tokens capped, over-long
 * capitalised runs skipped; the co-occurrence cap is not counted). */
void      cg_ingest_warnings(size_t *chunks_skipped, size_t *limits_hit);
cc_status cg_sync_derived(cc_kb *kb, cr_vectors_stats *vs);


/* ================================================================ the LLM extractor */

/* graph/extract_llm.c: a GGUF decoder (llm/) reads each chunk with a short
 * instruction inside the model's chat template and answers one JSON value,
 * constrained by cl_gen_opts.schema to
 *   {"entities":[{"name":S,"type":T}...],"relations":[{"subject":S,
 *    "predicate":S,"object":S}...]}     T: the cg_type names.
 * Provenance stays exact: every name is located in the chunk (whole-word
 * occurrences, exactly, else ignoring case), each occurrence a mention;
 * names not found are dropped and counted; a relation whose subject or
 * object is not found is dropped and counted; its sentence is the span
 * from the sentence start before its closest pair of occurrences to the
 * sentence end after it.  Output cut at the token limit is repaired to its
 * complete items (counted).  Extractor id "llm/1:<first 12 hex of the
 * model file's sha256>", recorded on every fact. */

typedef struct cg_llm_opts {
    const char *model_path;     /* GGUF decoder (llama, qwen2, qwen3) */
    uint32_t    n_ctx;          /* KV cache tokens; 0: 4096 (at most the trained context) */
    size_t      max_tokens;     /* output tokens per chunk; 0: 512 */
    int         n_threads;      /* 0: the online cores */
    cc_kb      *kb;             /* optional: caches the model's sha256 in its settings */
    const char *kv_type;        /* KV cache elements, setting graph.llm_kv_type: "f16",
                                 * "f32", "q8_0"; NULL or "": CAIRN_KV, else f16 */
} cg_llm_opts;

/* The sha256 (hex) of the model file at path, from the process's cache or,
 * with kb (may be NULL), the setting graph.llm_model_hash when the file's
 * device, inode, size, mtime, ctime and path are those it was hashed with;
 * else read and hashed, then cached (in kb's settings when kb is writable).
 * *hashed (may be NULL) = 1 when the file was read. CC_IO: cannot read it. */
cc_status cg_model_sha256(const char *path, cc_kb *kb, char hex[65], int *hashed);

typedef struct cg_llm_stats {
    size_t chunks_extracted;    /* the model ran */
    size_t chunks_cached;       /* output reused: same text, same extractor, earlier chunk */
    size_t chunks_skipped;      /* already extracted by this extractor (KB passes) */
    size_t chunks_failed;       /* too long for the context, invalid text, model error */
    size_t outputs_unparsed;    /* not JSON even after repair (0 with constrained decoding) */
    size_t outputs_truncated;   /* cut at max_tokens, repaired */
    size_t entities_kept, entities_dropped;     /* names found / not found in the chunk */
    size_t relations_kept, relations_dropped;
    size_t mentions;            /* occurrences of kept names */
    size_t prompt_tokens, output_tokens;
    double model_ms;            /* prefill + decode */
    const char *kv_cache;       /* the model's KV cache type ("f16", "f32", "q8_0") */
    char   first_failure[200];  /* why the first failed chunk failed ("" when none) */
} cg_llm_stats;

/* Opens the model and returns the extractor (the plug-in runs the model on
 * every cg_extractor_run).  Errors: CC_IO (missing file), CC_INVALID (not a
 * usable decoder GGUF), message in cc_errmsg(); *out NULL then. */
cc_status cg_extractor_llm_new(const cg_llm_opts *o, cg_extractor **out);
/* The extractor's counters since it was made (NULL for a non-LLM one). */
cg_llm_stats *cg_extractor_llm_stats(cg_extractor *ex);

/* The parser and locator alone: reads a model output (JSON, possibly cut
 * short) against a chunk into out (initialised; extractor "llm/1").  st
 * (may be NULL) gets the counts added.  CC_INVALID: chunk not valid text. */
cc_status cg_llm_parse(const char *json, size_t len, const cg_chunk *chunk, cg_extraction *out,
                       cg_llm_stats *st);

/* Cost estimate of a KB pass, from a calibration run of the model on this
 * machine (one prefill and a short constrained decode). */
typedef struct cg_llm_estimate {
    size_t chunks;              /* to send to the model */
    size_t chunks_cached;       /* pending, output reused (no model run) */
    size_t chunks_done;         /* already extracted by this extractor */
    size_t chunks_too_long;     /* prompt does not fit the context: will fail */
    size_t prompt_tokens;       /* exact (tokenised) */
    size_t output_tokens;       /* estimate; output_tokens_max the bound */
    size_t output_tokens_max;
    double prefill_ms_per_token, decode_ms_per_token;   /* calibrated */
    double seconds;
} cg_llm_estimate;

/* Chunks with id > min_chunk_id of live documents that ex has not read yet.
 * Errors on the KB handle. */
cc_status cg_llm_estimate_kb(cc_kb *kb, cg_extractor *ex, int64_t min_chunk_id,
                             cg_llm_estimate *e);

/* Runs ex over those chunks (one transaction per chunk: its facts, written
 * as ingestion writes them, resolution included, and its row in
 * llm_extractions with the model's output, which later chunks with the
 * same text reuse).  progress (may be NULL) after each chunk.  Adds to
 * the extractor's stats.  *written (may be NULL): chunks that got
 * mentions (and maybe relations), whose graph store contexts may need
 * refreshing.  A failing
 * chunk is counted and skipped; errors on the KB handle (SQLite) stop it. */
cc_status cg_llm_extract_kb(cc_kb *kb, cg_extractor *ex, int64_t min_chunk_id,
                            void (*progress)(void *ud, size_t done, size_t total), void *ud,
                            size_t *written);

/* cg_ingest_opts_from_kb with the extractor named by the caller instead of
 * the setting graph.extractor (NULL: the setting): "rules" and "both" run
 * the rules extractor in the ingestion hook, "llm" and "none" do not (the
 * LLM pass, cg_llm_extract_kb, runs after the chunks are stored). */
cc_status cg_ingest_opts_with(cc_kb *kb, const char *extractor, cr_ingest_opts *o);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_GRAPH_H */
