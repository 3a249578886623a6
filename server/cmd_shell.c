/* cmd_shell.c — `cairn shell KB [--write]`: the interactive query shell.
 * On a terminal: libedit line editing, history in $CAIRN_HISTORY or
 * ~/.cairn_history, statements over several lines ending with ';', tab
 * completion of keywords, tables and columns, dot commands (.help, .mode,
 * .timer, .output, .quit), result tables fitted to the terminal's width.
 * Not on a terminal: statements (and dot commands) are read from stdin and
 * the first error ends the run with exit status 1. */
#include "cli.h"
#include "sql.h"

#include <editline/readline.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char shell_usage[] =
    "shell KB [--write [--wait SECONDS]] [--mode table|json|csv|line] [--timeout MS]\n"
    "  Interactive SQL over the KB (see `cairn sql --help` for the language).\n"
    "  --write opens a writer session (INGEST, DELETE DOCUMENT); it holds the\n"
    "  KB's writer lock until the shell ends (--wait: up to SECONDS for another\n"
    "  writer to let go of it first).\n"
    "  History: $CAIRN_HISTORY, else ~/.cairn_history. Type .help inside.";

static const char dot_help[] =
    ".help                      this text\n"
    ".mode table|json|csv|line  how results are printed\n"
    ".timer on|off              print each statement's run time\n"
    ".output FILE|stdout        send results to FILE (truncated) or back to stdout\n"
    ".quit, .exit               leave (so does Ctrl-D); Ctrl-C stops a running statement\n"
    "Statements end with ';' and may span lines. Tab completes keywords, tables\n"
    "and columns; the up arrow recalls earlier statements.\n"
    "  SELECT ... FROM documents | chunks | entities | mentions | relations | traces\n"
    "  SELECT ... FROM search('text', 'hybrid', 10) | subgraph('question or entity', 2, 60)\n"
    "  SELECT ... FROM triples WHERE subject = 'urn:cairn:entity:...'\n"
    "  SHOW DOCUMENTS|ENTITIES|TRACES|STATS|SETTINGS [WHERE expr] [LIMIT n]\n"
    "  SEARCH 'query' [WITH mode = 'bm25', k = 5]\n"
    "  [EXPLAIN] ASK 'question' [WITH k = 5, hops = 2]\n"
    "  TRACE 'id' [AS JSON];  VERIFY TRACES;  INGEST 'path';  DELETE DOCUMENT id|'uri'\n"
    "  SPARQL 'SELECT ?s WHERE { ?s ?p ?o }' [LIMIT n]\n";

typedef struct shell {
    cq_session *s;
    cq_mode     mode;
    int         timer;
    FILE       *out;           /* stdout or .output FILE */
    int         interactive;
    const char *kbdir;
} shell;

/* ---------------------------------------------------------------- completion */

static char **g_words;         /* completion words, case-insensitively sorted */
static size_t g_nwords;

static int cmp_icase(const void *a, const void *b)
{
    int c = strcasecmp(*(char *const *)a, *(char *const *)b);
    return c ? c : strcmp(*(char *const *)a, *(char *const *)b);
}

/* rl_completion_matches calls this with state 0 first, then 1, 2, ... until
 * NULL. Matches ignore case and come back in the case the user typed in
 * (all capitals: upper case, else lower case), each once. */
static char *word_generator(const char *text, int state)
{
    static size_t i;
    static char last[128];
    size_t n = strlen(text), k;
    int upper = 0, lower = 0;
    for (k = 0; k < n; k++) {
        upper |= text[k] >= 'A' && text[k] <= 'Z';
        lower |= text[k] >= 'a' && text[k] <= 'z';
    }
    if (!state) { i = 0; last[0] = 0; }
    for (; i < g_nwords; i++) {
        char *w, *p;
        if (strncasecmp(g_words[i], text, n)) continue;
        if (!(w = cc_strdup(g_words[i]))) return NULL;
        for (p = w; *p; p++) {
            if (upper && !lower && *p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
            else if (!(upper && !lower) && *p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
        }
        if (!strcmp(w, last)) { free(w); continue; }
        snprintf(last, sizeof last, "%s", w);
        i++;
        return w;
    }
    return NULL;
}

static char **complete(const char *text, int start, int end)
{
    (void)start; (void)end;
    rl_attempted_completion_over = 1;      /* no file-name completion */
    return rl_completion_matches(text, word_generator);
}

/* ---------------------------------------------------------------- commands */

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = 0;
}

/* Runs a dot command; 1 to quit, -1 on an error, else 0. */
static int dot_command(shell *sh, char *line)
{
    char *cmd = line, *arg;
    trim(line);
    arg = cmd + strcspn(cmd, " \t");
    if (*arg) { *arg++ = 0; arg += strspn(arg, " \t"); }
    if (!strcmp(cmd, ".quit") || !strcmp(cmd, ".exit")) return 1;
    if (!strcmp(cmd, ".help")) { fputs(dot_help, stdout); return 0; }
    if (!strcmp(cmd, ".mode")) {
        if (!strcmp(arg, "table")) sh->mode = CQ_TABLE;
        else if (!strcmp(arg, "json")) sh->mode = CQ_JSON;
        else if (!strcmp(arg, "csv")) sh->mode = CQ_CSV;
        else if (!strcmp(arg, "line")) sh->mode = CQ_LINE;
        else { cli_error(".mode %s: use table, json, csv or line", arg); return -1; }
        return 0;
    }
    if (!strcmp(cmd, ".timer")) {
        if (!strcmp(arg, "on")) sh->timer = 1;
        else if (!strcmp(arg, "off")) sh->timer = 0;
        else { cli_error(".timer %s: use on or off", arg); return -1; }
        return 0;
    }
    if (!strcmp(cmd, ".output")) {
        FILE *f;
        if (!*arg) { cli_error(".output needs a file name, or stdout"); return -1; }
        if (!strcmp(arg, "stdout")) f = stdout;
        else if (!(f = fopen(arg, "w"))) { cli_error(".output %s: %s", arg, strerror(errno)); return -1; }
        if (sh->out != stdout) fclose(sh->out);
        sh->out = f;
        return 0;
    }
    cli_error("unknown command %s (see .help)", cmd);
    return -1;
}

static cq_session *volatile g_running;   /* the session a Ctrl-C interrupts */

static void on_sigint(int sig)
{
    (void)sig;
    if (g_running) cq_interrupt(g_running);
}

/* Runs the statements in text; 0 or -1 on an error (printed). On a
 * terminal, Ctrl-C stops the statement, not the shell. */
static int run(shell *sh, const char *text)
{
    cc_buf out = CC_BUF_INIT(0);
    double t0 = cc_now_ms();
    struct sigaction sa, old;
    int err;
    if (sh->interactive) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        g_running = sh->s;
        sigaction(SIGINT, &sa, &old);
    }
    if (sh->mode == CQ_TABLE && sh->out == stdout && isatty(1)) {
        struct winsize ws;
        cq_set_width(sh->s, ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 ? ws.ws_col : 0);
    } else {
        cq_set_width(sh->s, 0);
    }
    err = cq_exec(sh->s, text, sh->mode, &out, NULL) != CC_OK;
    if (sh->interactive) {
        sigaction(SIGINT, &old, NULL);
        g_running = NULL;
    }
    if (out.len) fwrite(out.data, 1, out.len, sh->out);
    fflush(sh->out);
    if (err) cli_error("%s", cq_errmsg(sh->s));
    if (sh->timer) printf("time: %.1f ms\n", cc_now_ms() - t0);
    cc_buf_free(&out);
    return err ? -1 : 0;
}

/* Only blanks and -- comments. */
static int blank(const char *s)
{
    s += strspn(s, " \t\r\n");
    return !*s || (s[0] == '-' && s[1] == '-' && !strchr(s, '\n'));
}

/* ---------------------------------------------------------------- loops */

static char *history_path(void)
{
    const char *p = getenv("CAIRN_HISTORY"), *home = getenv("HOME");
    cc_buf b = CC_BUF_INIT(4096);
    if (p && *p) return cc_strdup(p);
    if (!home || !*home || cc_buf_printf(&b, "%s/.cairn_history", home)) return NULL;
    return cc_buf_detach(&b);
}

static int interactive(shell *sh)
{
    cc_buf stmt = CC_BUF_INIT(64 << 20);
    char *hist = history_path(), *line;
    int ret = 0;
    rl_readline_name = "cairn";
    rl_attempted_completion_function = complete;
    using_history();
    stifle_history(2000);
    if (hist) read_history(hist);
    printf("cairn shell on %s%s. Statements end with ';'. Type .help for help.\n",
           sh->kbdir, cq_is_writer(sh->s) ? " (writer)" : "");
    for (;;) {
        line = readline(stmt.len ? "   ...> " : "cairn> ");
        if (!line) { putchar('\n'); break; }                 /* Ctrl-D */
        if (!stmt.len && line[0] == '.') {
            int r;
            add_history(line);
            r = dot_command(sh, line);
            free(line);
            if (r > 0) break;
            continue;
        }
        if (!stmt.len && blank(line)) { free(line); continue; }
        if ((stmt.len && cc_buf_putc(&stmt, '\n')) || cc_buf_puts(&stmt, line)) {
            cli_error("statement over 64 MiB; discarded");
            cc_buf_reset(&stmt);
        }
        free(line);
        if (stmt.len && cq_is_complete(stmt.data)) {
            /* one history entry per statement, its lines joined */
            cc_buf h = CC_BUF_INIT(0);
            for (size_t i = 0; i < stmt.len; i++) cc_buf_putc(&h, stmt.data[i] == '\n' ? ' ' : stmt.data[i]);
            if (h.data) {
                HIST_ENTRY *prev = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
                if (!prev || !prev->line || strcmp(prev->line, h.data)) add_history(h.data);
                if (hist) write_history(hist);    /* kept even if the shell is killed */
            }
            cc_buf_free(&h);
            run(sh, stmt.data);
            cc_buf_reset(&stmt);
        }
    }
    if (hist && write_history(hist) != 0)
        cli_error("cannot write the history to %s", hist);
    free(hist);
    cc_buf_free(&stmt);
    return ret;
}

static int batch(shell *sh)
{
    cc_buf stmt = CC_BUF_INIT(64 << 20);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int ret = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        if (memchr(line, 0, (size_t)n)) { ret = cli_error("input contains a NUL byte"); break; }
        if (!stmt.len && line[0] == '.') {
            int r = dot_command(sh, line);
            if (r < 0) { ret = 1; break; }
            if (r > 0) break;
            continue;
        }
        if (!stmt.len && blank(line)) continue;
        if (cc_buf_append(&stmt, line, (size_t)n)) { ret = cli_error("statement over 64 MiB"); break; }
        if (cq_is_complete(stmt.data)) {
            if (run(sh, stmt.data)) { ret = 1; break; }
            cc_buf_reset(&stmt);
        }
    }
    if (!ret && stmt.len && run(sh, stmt.data)) ret = 1;   /* the last, without ';' */
    free(line);
    cc_buf_free(&stmt);
    return ret;
}

int cmd_shell(int argc, char **argv)
{
    const char *kbdir = NULL, *mode_s = "table";
    int64_t timeout = 10000;
    int writer = 0, i, r, ret;
    shell sh = {0};
    cc_kb *kb;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) { puts(shell_usage); return 0; }
        if (!strcmp(argv[i], "--write")) { writer = 1; continue; }
        if ((r = cli_opt_str(argc, argv, &i, "--mode", &mode_s)) ||
            (r = cli_opt_int(argc, argv, &i, "--timeout", 0, 86400000, &timeout)) ||
            (r = cli_opt_wait(argc, argv, &i))) {
            if (r < 0) return cli_usage(shell_usage);
            continue;
        }
        if (!kbdir && argv[i][0] != '-') kbdir = argv[i];
        else return cli_usage(shell_usage);
    }
    if (!kbdir) return cli_usage(shell_usage);
    sh.out = stdout;
    sh.kbdir = kbdir;
    sh.interactive = isatty(0);
    {
        char m[32];
        snprintf(m, sizeof m, ".mode %s", mode_s);
        if (dot_command(&sh, m)) return 2;
    }
    if (cc_kb_open(kbdir, CC_KB_READ, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    cc_kb_close(kb);
    if (cq_open_with(kbdir, writer ? CQ_OPEN_WRITE : CQ_OPEN_READ, &sh.s) != CC_OK)
        return cli_error("%s", cc_errmsg());
    cq_set_timeout_ms(sh.s, (int)timeout);
    if (sh.interactive) {
        if (cq_words(sh.s, &g_words, &g_nwords) == CC_OK)
            qsort(g_words, g_nwords, sizeof *g_words, cmp_icase);
        ret = interactive(&sh);
        cq_words_free(g_words, g_nwords);
        g_words = NULL;
        g_nwords = 0;
    } else {
        ret = batch(&sh);
    }
    if (sh.out != stdout) fclose(sh.out);
    cq_close(sh.s);
    return ret;
}
