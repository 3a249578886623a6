/*
 * sql_int.h — internals of sql/: the session, cairn's lexer and statement
 * front-end, its own statements, and the search(), subgraph() and triples
 * virtual tables. Not for use outside sql/.
 */
#ifndef CAIRN_SQL_INT_H
#define CAIRN_SQL_INT_H

#include "sql.h"

#include <signal.h>
#include <sqlite3.h>
#include <stddef.h>

struct sqlite3;
struct cr_searcher;

/* ---------------------------------------------------------------- session */
struct cq_session {
    struct sqlite3     *db;         /* read-only connection: views, vtabs */
    cc_kb              *kb;         /* read handle, or the writer's (CQ_OPEN_WRITE) */
    struct cr_searcher *se;         /* opened by the first search(); closed after writes */
    char               *kbdir;
    char               *settings;   /* the KB's settings as JSON */
    int      writer;                /* opened with CQ_OPEN_WRITE */
    int      timeout_ms;
    int      width;                 /* table mode: terminal columns, 0 = no fitting */
    double   deadline_ms;           /* cc_now_ms() value; 0 = none */
    volatile sig_atomic_t interrupted;   /* set by cq_interrupt */
    char     errmsg[1024];
};

/* ---------------------------------------------------------------- lexer */
typedef enum cq_tok_kind {
    CQ_T_END = 0,   /* end of text */
    CQ_T_WORD,      /* keyword or identifier */
    CQ_T_STRING,    /* '...' with '' escapes (text includes the quotes) */
    CQ_T_QUOTED,    /* "...", `...` or [...] identifier */
    CQ_T_NUMBER,
    CQ_T_PUNCT,     /* one character, or a two-character operator */
    CQ_T_ERROR      /* lexing failed: the message is in the error buffer */
} cq_tok_kind;

typedef struct cq_tok {
    cq_tok_kind kind;
    size_t      off, len;   /* byte range in the text */
} cq_tok;

/* Reads the token at or after *pos (skipping blanks and comments) and
 * advances *pos past it. On CQ_T_ERROR err holds "line L, column C: ..."
 * (position of what is unterminated). */
cq_tok_kind cq_lex_next(const char *text, size_t *pos, cq_tok *t, char *err, size_t errsz);

/* 1-based line and column of byte offset off (columns count characters). */
void cq_line_col(const char *text, size_t off, int *line, int *col);

/* ---------------------------------------------------------------- parser */
#define CQ_MAX_DEPTH 100   /* parentheses nested deeper are refused */

typedef enum cq_kind {
    CQ_K_SQL = 0, CQ_K_SHOW, CQ_K_SEARCH,          /* run as SQL */
    CQ_K_ASK, CQ_K_EXPLAIN_ASK, CQ_K_TRACE, CQ_K_VERIFY, CQ_K_INGEST,
    CQ_K_DELETE, CQ_K_SPARQL                     /* run by stmt.c */
} cq_kind;

typedef struct cq_stmt {
    cq_kind kind;
    size_t  start, end;   /* the statement's bytes, without the ';' */
    size_t  next;         /* where the next statement starts */
    /* CQ_K_SHOW / CQ_K_SEARCH: SQL to run instead, and where the user's
     * WHERE expression sits in it (for error positions); expr_len 0: none */
    cc_buf  sql;
    size_t  expr_at, expr_len, expr_src;
    /* cairn's other statements: the decoded string argument (question,
     * trace id, path, uri), owned; options, 0 = not given */
    char   *arg;
    int64_t doc_id;       /* DELETE DOCUMENT n */
    int     k, hops;      /* SPARQL: k is its LIMIT */
    char   *model;        /* owned */
    int     as_json;      /* TRACE '...' AS JSON */
} cq_stmt;

/* Frees what cq_parse_next allocated in st (sql, arg, model). */
void cq_stmt_clear(cq_stmt *st);

/* Reads one statement starting at byte `from`. Returns 0 when there is no
 * statement left (only blanks and comments), 1 with *st filled, or -1 with
 * "line L, column C: ..." in err. st->sql must be initialised by the caller;
 * it is reset here. `settings_json` is the KB's settings (for SHOW
 * SETTINGS). */
int cq_parse_next(const char *text, size_t from, const char *settings_json, cq_stmt *st,
                  char *err, size_t errsz);

/* ---------------------------------------------------------------- stmt.c */
/* Runs one of cairn's statements that SQLite cannot (ASK, EXPLAIN ASK,
 * TRACE, VERIFY TRACES, INGEST, DELETE DOCUMENT, SPARQL). On success st->sql holds
 * a SELECT presenting the result and *param the JSON to bind to its ?1
 * (caller frees). On failure the message is on s. */
cc_status cq_stmt_run(cq_session *s, cq_stmt *st, char **param);

/* ---------------------------------------------------------------- vtab.c */
/* What one eponymous virtual table (search(), subgraph(), triples) is: its
 * name, declared columns, cursor size and the callbacks that make its rows.
 * Static storage: SQLite keeps using it while the module is registered. */
typedef struct cq_vtab_def {
    const char *name;          /* the module (table) name */
    const char *err_prefix;    /* error messages start "<err_prefix>: " */
    const char *schema;        /* CREATE TABLE x(...) for sqlite3_declare_vtab */
    size_t      cursor_size;   /* bytes; the cursor struct starts with sqlite3_vtab_cursor */
    void      (*clear)(sqlite3_vtab_cursor *cur);   /* frees what a cursor holds; NULL: nothing */
    int (*best_index)(sqlite3_vtab *, sqlite3_index_info *);
    int (*filter)(sqlite3_vtab_cursor *, int, const char *, int, sqlite3_value **);
    int (*next)(sqlite3_vtab_cursor *);
    int (*eof)(sqlite3_vtab_cursor *);
    int (*column)(sqlite3_vtab_cursor *, sqlite3_context *, int);
    int (*rowid)(sqlite3_vtab_cursor *, sqlite3_int64 *);
} cq_vtab_def;

/* Every table's sqlite3_vtab (cur->pVtab points to one). */
typedef struct cq_vtab {
    sqlite3_vtab       base;
    const cq_vtab_def *def;
    void              *ctx;    /* the context given at registration (borrowed) */
} cq_vtab;

#define CQ_VTAB_ARGS_MAX 8

/* Registers def on db with ctx (ctx_free(ctx), may be NULL, runs when the
 * module is dropped, or at once when registration fails). SQLITE_OK or an
 * SQLite error code. */
int cq_vtab_register(sqlite3 *db, const cq_vtab_def *def, void *ctx, void (*ctx_free)(void *));
/* Sets the table's error message ("<err_prefix>: msg"); returns SQLITE_ERROR. */
int cq_vtab_err(sqlite3_vtab *v, const char *msg);
/* xBestIndex of a table-valued function: its arguments are the n_args
 * (<= CQ_VTAB_ARGS_MAX) hidden columns from first_arg on, taken only as
 * equality constraints; the first is required (SQLITE_CONSTRAINT
 * without it, or when one is not usable). idxNum bit b set when argument b
 * was given; xFilter's argv holds the given ones in order. */
int cq_vtab_args_best_index(sqlite3_index_info *ix, int first_arg, int n_args, double cost,
                            sqlite3_int64 rows);

/* ---------------------------------------------------------------- search() */
/* Registers the eponymous virtual table search(query, mode, k) on db. kb is
 * the session's read handle; *searcher is opened on first use and closed by
 * the caller. */
int cq_search_register(struct sqlite3 *db, cc_kb *kb, void *searcher_slot);

/* Registers subgraph(question_or_entity [, hops [, budget]]) on db. */
int cq_subgraph_register(struct sqlite3 *db, cc_kb *kb);

/* Registers the eponymous virtual table triples over the Redland store;
 * its scans use s->kb and stop at s's time limit. */
int cq_triples_register(struct sqlite3 *db, cq_session *s);

#endif
