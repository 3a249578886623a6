/* cli.h — the `cairn` executable's commands and the helpers they share.
 * Each command lives in server/cmd_<name>.c as `int cmd_<name>(argc, argv)`
 * with argv[0] = the command name; it returns the process exit status
 * (0 ok, 1 failure, 2 usage error). */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include "core.h"

int cmd_init(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_optimize(int argc, char **argv);
/* After a write command's last commit (cmd_optimize.c): cr_fts_tidy, the
 * full-text indexes merged when their segments call for it; a failure is
 * a warning on stderr (the writes stand; `cairn optimize` merges later). */
void cli_fts_tidy(cc_kb *kb);
int cmd_sql(int argc, char **argv);
int cmd_shell(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_reindex(int argc, char **argv);
int cmd_ask(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_serve(int argc, char **argv);
/* `graph split` (cmd_graph_split.c), dispatched by cmd_graph */
int cmd_graph_split(int argc, char **argv);
int cmd_keys(int argc, char **argv);
/* `graph extract` (cmd_graph_extract.c), dispatched by cmd_graph */
int cmd_graph_extract(int argc, char **argv);
int cmd_graph(int argc, char **argv);

/* Prints an answer with citations and its trace id (cmd_ask.c); 0 or 1. */
int cli_ask_print(cc_kb *kb, const char *question, int k, int json);

/* Prints "cairn: <message>" to stderr; returns 1 (or 2 via cli_usage). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_usage(const char *usage);

/* Option helpers: if argv[*i] is `name` (with a value in argv[*i+1]),
 * consume it. Return 1 when matched, 0 when not, -1 on a missing or bad
 * value (message printed). */
int cli_opt_str(int argc, char **argv, int *i, const char *name, const char **out);
int cli_opt_int(int argc, char **argv, int *i, const char *name, int64_t lo, int64_t hi,
                int64_t *out);
/* `name` SECONDS (a decimal from 0 to 86400) into *ms, milliseconds. */
int cli_opt_secs(int argc, char **argv, int *i, const char *name, int64_t *ms);
/* --wait SECONDS (a decimal, at most a day): how long a writer waits for
 * another process's writer lock (cc_kb_set_lock_wait). Returns as the
 * helpers above. CAIRN_LOCK_WAIT=SECONDS in the environment sets the same
 * for every command but serve (main.c); --wait wins. */
int cli_opt_wait(int argc, char **argv, int *i);
#define CLI_WAIT_USAGE \
    "  --wait SECONDS    wait up to SECONDS for another writer (a running server's\n" \
    "                    writer, another ingest) to let go of the KB (default 0)\n"

/* The LLM extractor (cmd_graph_extract.c): opened from --model (NULL: the
 * setting graph.llm_model), or NULL with the message printed.  The pass:
 * prints the cost estimate, then (unless dry_run) extracts the chunks
 * stored after chunk new_after first, then every other chunk not read yet,
 * and prints the counts; *store_stale = 1 when chunks older than this
 * ingestion got facts (the graph store needs a rebuild).  0 or 1. */
struct cg_extractor;
struct cg_extractor *cli_llm_open(cc_kb *kb, const char *model);
int cli_llm_pass(cc_kb *kb, struct cg_extractor *ex, int64_t new_after, int dry_run, int json,
                 int *store_stale);

#endif
