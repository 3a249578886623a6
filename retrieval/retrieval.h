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

/* BM25 search over live chunks: at most k hits, best first (k in 1..10000).
 * *hits is malloc'ed (caller frees); *n may be 0. A syntax error in a RAW
 * query is CC_INVALID with FTS5's message on the KB handle. */
cc_status cr_bm25_search(cc_kb *kb, const char *query, int k, int flags,
                         cr_hit **hits, size_t *n);

/* ================================================================ ingestion */

/* Ingestion writes the system of record only (documents, chunks, FTS5 rows,
 * the change log) in one transaction per input; derived indexes catch up
 * from the change log afterwards. A document is identified by its uri; its
 * content hash (SHA-256 of title, metadata and text) decides:
 *   unchanged  -> nothing is written;
 *   changed    -> the old version is marked deleted and its chunks removed,
 *                 the new version added (one 'remove' + one 'add' change);
 *   new        -> added. */
typedef struct cr_ingest_opts {
    cr_parse_opts parse;
    cr_chunk_opts chunk;
    cr_format     format;      /* CR_FMT_UNKNOWN: from the file name */
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
 * and a failed input still leaves nothing behind. */
cc_status cr_ingest_data(cc_kb *kb, const char *uri, cr_format fmt, const char *data,
                         size_t n, const cr_ingest_opts *opts, cr_ingest_stats *stats);

/* Ingests a regular file (mmapped, so memory stays bounded). */
cc_status cr_ingest_file(cc_kb *kb, const char *path, const cr_ingest_opts *opts,
                         cr_ingest_stats *stats);

/* Deletes the live document with this uri (or numeric id, given as
 * "#<id>"), with its chunks and FTS rows, in one transaction. CC_NOTFOUND
 * when there is none. If uri names a JSON file, every record "uri#..."
 * goes too. *removed gets the number of documents removed. */
cc_status cr_doc_remove(cc_kb *kb, const char *uri, int64_t *removed);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_RETRIEVAL_H */
