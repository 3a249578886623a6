/* cmd_ingest.c — `cairn ingest KB PATH...` and `cairn rm KB DOC...`. */
#define _GNU_SOURCE
#include "cli.h"
#include "graph.h"

#include <dirent.h>
#include <sqlite3.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STDIN_MAX_BYTES ((size_t)1 << 30)

/* ---------------------------------------------------------------- file list */

typedef struct file_list {
    char   **path;
    int64_t *size;
    size_t   n, cap;
    int64_t  total;
    int64_t  skipped;        /* files in directories with unsupported types */
    int      errors;
} file_list;

typedef struct dir_id { dev_t dev; ino_t ino; } dir_id;

static int list_add(file_list *l, const char *path, int64_t size)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        char **p = realloc(l->path, ncap * sizeof *p);
        int64_t *s;
        if (!p) return -1;
        l->path = p;
        s = realloc(l->size, ncap * sizeof *s);
        if (!s) return -1;
        l->size = s;
        l->cap = ncap;
    }
    if (!(l->path[l->n] = cc_strdup(path))) return -1;
    l->size[l->n++] = size;
    l->total += size;
    return 0;
}

static void list_free(file_list *l)
{
    size_t i;
    for (i = 0; i < l->n; i++) free(l->path[i]);
    free(l->path);
    free(l->size);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walks `path`: directories recursively (sorted, hidden entries skipped,
 * each directory visited once, so symlink cycles end), files whose type is
 * known. Problems are printed and counted; the walk goes on. */
static void walk(file_list *l, const char *path, int explicit, int forced_format,
                 dir_id *stack, int depth)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        cli_error("%s: %s", path, errno == ELOOP ? "symbolic link loop" : strerror(errno));
        l->errors++;
        return;
    }
    if (S_ISDIR(sb.st_mode)) {
        DIR *d;
        struct dirent *e;
        char **names = NULL;
        size_t n = 0, cap = 0, i;
        int k;
        if (depth >= 64) {
            cli_error("%s: directories nested deeper than 64 levels; skipped", path);
            l->errors++;
            return;
        }
        for (k = 0; k < depth; k++)
            if (stack[k].dev == sb.st_dev && stack[k].ino == sb.st_ino) {
                cli_error("%s: symbolic link loop (directory already being read); skipped", path);
                l->errors++;
                return;
            }
        stack[depth].dev = sb.st_dev;
        stack[depth].ino = sb.st_ino;
        if (!(d = opendir(path))) {
            cli_error("%s: %s", path, strerror(errno));
            l->errors++;
            return;
        }
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            if (n == cap) {
                char **p = realloc(names, (cap = cap ? cap * 2 : 32) * sizeof *p);
                if (!p) break;
                names = p;
            }
            if (!(names[n] = cc_strdup(e->d_name))) break;
            n++;
        }
        closedir(d);
        qsort(names, n, sizeof *names, cmp_str);
        for (i = 0; i < n; i++) {
            cc_buf child = CC_BUF_INIT(0);
            if (cc_buf_printf(&child, "%s/%s", path, names[i]) == CC_OK)
                walk(l, child.data, 0, forced_format, stack, depth + 1);
            cc_buf_free(&child);
            free(names[i]);
        }
        free(names);
        return;
    }
    if (!S_ISREG(sb.st_mode)) {
        if (explicit) {
            cli_error("%s: not a regular file or directory", path);
            l->errors++;
        }
        return;
    }
    if (!forced_format && cr_format_from_path(path) == CR_FMT_UNKNOWN) {
        if (explicit) {
            cli_error("%s: unknown document type (supported: .txt .md .html .htm .json "
                      ".jsonl; or give --format)", path);
            l->errors++;
        } else {
            l->skipped++;
        }
        return;
    }
    if (list_add(l, path, (int64_t)sb.st_size)) {
        cli_error("out of memory");
        l->errors++;
    }
}

/* ---------------------------------------------------------------- progress */

static void progress(size_t done, size_t nfiles, int64_t bytes, int64_t total, double t0)
{
    double secs = (cc_now_ms() - t0) / 1e3, mbs = secs > 0 ? bytes / 1e6 / secs : 0;
    double eta = mbs > 0 ? (total - bytes) / 1e6 / mbs : 0;
    int width = 24, fill = total ? (int)(width * (double)bytes / (double)total) : width;
    char bar[32];
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, ' ', (size_t)(width - fill));
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %zu/%zu files  %.1f/%.1f MB  %.1f MB/s  ETA %.0fs ", bar, done,
            nfiles, bytes / 1e6, total / 1e6, mbs, eta);
    fflush(stderr);
}

/* The embedding phase (cr_vectors_set_progress): the same bar, in chunks. */
typedef struct embed_progress { double t0; int open; } embed_progress;

static void embed_progress_fn(void *ud, int64_t done, int64_t total)
{
    embed_progress *p = ud;
    double secs, rate, eta;
    int width = 24, fill;
    char bar[32];
    if (done == 0) p->t0 = cc_now_ms();
    secs = (cc_now_ms() - p->t0) / 1e3;
    rate = secs > 0 ? done / secs : 0;
    eta = rate > 0 ? (total - done) / rate : 0;
    fill = total ? (int)(width * (double)done / (double)total) : width;
    if (fill > width) fill = width;
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, ' ', (size_t)(width - fill));
    bar[width] = 0;
    fprintf(stderr, "\r[%s] embedding %lld/%lld chunks  %.1f chunks/s  ETA %.0fs ", bar, (long long)done,
            (long long)total, rate, eta);
    p->open = done < total;
    if (!p->open) fputc('\n', stderr);
    fflush(stderr);
}

/* ---------------------------------------------------------------- ingest */

/* Small files share transactions (one commit per batch); each file is
 * still all-or-nothing inside it (a savepoint). Nothing in a batch is
 * visible to readers, or reported as stored, before its commit. The
 * commit is cc_kb_commit's: it writes the batch's full-text rows first
 * (ingest.c's pre-commit step), one FTS5 segment per batch.
 * A batch also ends once it has been open for the setting
 * ingest.batch_seconds (cr_ingest_batch_seconds): with extraction on, a
 * batch of 16 MB held SQLite's write lock for 6 s here. */
#define BATCH_BYTES ((int64_t)16 << 20)
#define BATCH_FILES 1000

/* Commits the open batch and moves its stats into *total. Returns the
 * number of files lost when the commit fails (0 on success). */
static int commit_batch(cc_kb *kb, cr_ingest_stats *batch, cr_ingest_stats *total,
                        size_t *files, int64_t *bytes)
{
    int lost = 0;
    if (cc_kb_commit(kb) == CC_OK) {
        total->docs_added += batch->docs_added;
        total->docs_replaced += batch->docs_replaced;
        total->docs_unchanged += batch->docs_unchanged;
        total->chunks_added += batch->chunks_added;
        total->bytes += batch->bytes;
    } else {
        cli_error("%s (the last %zu files were not stored)", cc_kb_errmsg(kb), *files);
        lost = (int)*files;
    }
    memset(batch, 0, sizeof *batch);
    *files = 0;
    *bytes = 0;
    return lost;
}

/* The largest chunk id stored (ids are never reused: later chunks are larger). */
static cc_status max_chunk_id(cc_kb *kb, int64_t *out)
{
    sqlite3_stmt *q;
    int rc;
    *out = 0;
    if (sqlite3_prepare_v2(cc_kb_db(kb), "SELECT coalesce(max(id), 0) FROM chunks", -1, &q, NULL))
        return cc_kb_sqlerr(kb, "reading the chunks");
    if ((rc = sqlite3_step(q)) == SQLITE_ROW) *out = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? CC_OK : cc_kb_sqlerr(kb, "reading the chunks");
}

static const char ingest_usage[] =
    "ingest KB PATH... [options]\n"
    "  Adds or updates documents: files, directories (recursively), or - for stdin.\n"
    "  Types by extension: .txt .md .html .htm .json .jsonl\n"
    "options:\n"
    "  --format F        treat every input as F (txt, md, html, json, jsonl)\n"
    "  --uri NAME        name of the document read from stdin (default: stdin)\n"
    "  --repair-utf8     replace invalid UTF-8 with U+FFFD instead of rejecting\n"
    "  --json            print a JSON summary\n"
    CLI_WAIT_USAGE
    "  --extractor E     rules, llm, both or none (default: setting graph.extractor, rules)\n"
    "  --model FILE      GGUF model of the llm extractor (default: setting graph.llm_model);\n"
    "                    a cost estimate is printed before the model runs (with --json:\n"
    "                    one JSON line for the LLM pass before the summary)\n";

int cmd_ingest(int argc, char **argv)
{
    const char *kbdir = NULL, *format = NULL, *uri = "stdin", *xname = NULL, *model = NULL;
    cg_extractor *llm = NULL;
    int64_t new_after = 0;
    int json = 0, repair = 0, i, r, failed = 0, tty;
    char **inputs;
    size_t ninputs = 0, f;
    file_list list = {0};
    dir_id stack[64];
    cc_kb *kb = NULL;
    cr_ingest_opts opts;
    cr_ingest_stats st = {0}, batch = {0};
    cr_vectors_stats vs = {0};
    size_t batch_files = 0;
    int64_t batch_bytes = 0;
    double batch_s = 1, batch_t0 = 0;
    cr_format fmt = CR_FMT_UNKNOWN;
    cc_buf errs = CC_BUF_INIT(0);
    double t0;
    int use_stdin = 0;

    inputs = calloc((size_t)argc, sizeof *inputs);
    if (!inputs) return cli_error("out of memory");
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) { free(inputs); printf("usage: cairn %s", ingest_usage); return 0; }
        if ((r = cli_opt_str(argc, argv, &i, "--format", &format))) {
            if (r < 0) goto usage;
            continue;
        }
        if ((r = cli_opt_str(argc, argv, &i, "--uri", &uri))) {
            if (r < 0) goto usage;
            continue;
        }
        if ((r = cli_opt_str(argc, argv, &i, "--extractor", &xname)) ||
            (r = cli_opt_str(argc, argv, &i, "--model", &model)) ||
            (r = cli_opt_wait(argc, argv, &i))) {
            if (r < 0) goto usage;
            continue;
        }
        if (!strcmp(argv[i], "--json")) { json = 1; continue; }
        if (!strcmp(argv[i], "--repair-utf8")) { repair = 1; continue; }
        if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("unknown option %s", argv[i]);
            goto usage;
        }
        if (!kbdir) kbdir = argv[i];
        else inputs[ninputs++] = argv[i];
    }
    if (!kbdir || !ninputs) goto usage;
    if (format && (fmt = cr_format_from_name(format)) == CR_FMT_UNKNOWN) {
        cli_error("--format %s: unknown (use txt, md, html, json or jsonl)", format);
        goto usage;
    }
    if (cc_kb_open(kbdir, CC_KB_WRITE, &kb) != CC_OK) {
        cli_error("%s", cc_errmsg());
        free(inputs);
        return 1;
    }
    if (xname && strcmp(xname, "rules") && strcmp(xname, "llm") && strcmp(xname, "both") &&
        strcmp(xname, "none")) {
        cli_error("--extractor must be rules, llm, both or none, not %s", xname);
        cc_kb_close(kb);
        free(inputs);
        return 2;
    }
    if (cr_ingest_batch_seconds(kb, &batch_s) != CC_OK) {
        cli_error("%s", cc_kb_errmsg(kb));
        cc_kb_close(kb);
        free(inputs);
        return 1;
    }
    /* the setting's value is checked by cg_ingest_opts_with below */
    if (!xname && cc_kb_setting_str(kb, "graph.extractor", "rules", &xname) != CC_OK) xname = "?";
    /* the model is opened before anything is stored: a bad one changes nothing */
    if ((!strcmp(xname, "llm") || !strcmp(xname, "both")) &&
        (!(llm = cli_llm_open(kb, model)) ||
         max_chunk_id(kb, &new_after) != CC_OK)) {
        if (llm) cli_error("%s", cc_kb_errmsg(kb));
        cg_extractor_free(llm);
        cc_kb_close(kb);
        free(inputs);
        return 1;
    }
    if (cg_ingest_opts_with(kb, xname, &opts) != CC_OK) {
        cli_error("%s", cc_kb_errmsg(kb));
        cg_extractor_free(llm);
        cc_kb_close(kb);
        free(inputs);
        return 1;
    }
    opts.format = fmt;
    if (repair) opts.parse.repair_utf8 = 1;

    for (f = 0; f < ninputs; f++) {
        if (!strcmp(inputs[f], "-")) use_stdin = 1;
        else walk(&list, inputs[f], 1, fmt != CR_FMT_UNKNOWN, stack, 0);
    }
    failed = list.errors;
    tty = isatty(2) && !json;
    t0 = cc_now_ms();

    if (use_stdin) {
        cc_buf in = CC_BUF_INIT(STDIN_MAX_BYTES);
        char block[65536];
        size_t got;
        cc_status s = CC_OK;
        while (!s && (got = fread(block, 1, sizeof block, stdin)) > 0)
            s = cc_buf_append(&in, block, got);
        if (s || ferror(stdin)) {
            cli_error("stdin: %s", s == CC_TOOBIG ? "input larger than 1 GiB; save it to a file"
                                                  : "read error");
            failed++;
        } else if (cr_ingest_data(kb, uri, fmt != CR_FMT_UNKNOWN ? fmt : CR_FMT_TXT,
                                  in.data ? in.data : "", in.len, &opts, &st) != CC_OK) {
            cli_error("%s", cc_kb_errmsg(kb));
            failed++;
            cc_buf_json_str(&errs, uri, strlen(uri));
            cc_buf_putc(&errs, ',');
        }
        cc_buf_free(&in);
    }
    /* many files: FTS5's automerge waits for cli_fts_tidy's merge at the end */
    if (list.n > 1 && cr_fts_bulk_begin(kb) != CC_OK)
        fprintf(stderr, "cairn: warning: %s\n", cc_kb_errmsg(kb));
    for (f = 0; f < list.n; f++) {
        cc_status s;
        if (!batch_files && (s = cc_kb_begin(kb)) != CC_OK) {
            cli_error("%s", cc_kb_errmsg(kb));
            failed += (int)(list.n - f);
            break;
        }
        if (batch_files == 0) batch_t0 = cc_now_ms();
        s = cr_ingest_file(kb, list.path[f], &opts, &batch);
        batch_files++;
        batch_bytes += list.size[f];
        if (s != CC_OK) {
            if (tty) fputc('\n', stderr);
            cli_error("%s", cc_kb_errmsg(kb));
            failed++;
            if (errs.len) cc_buf_putc(&errs, ',');
            cc_buf_puts(&errs, "{\"path\":");
            cc_buf_json_str(&errs, list.path[f], strlen(list.path[f]));
            cc_buf_puts(&errs, ",\"message\":");
            cc_buf_json_str(&errs, cc_kb_errmsg(kb), strlen(cc_kb_errmsg(kb)));
            cc_buf_putc(&errs, '}');
        }
        if (batch_bytes >= BATCH_BYTES || batch_files >= BATCH_FILES || f + 1 == list.n ||
            cc_now_ms() - batch_t0 >= batch_s * 1000 || s == CC_FULL || s == CC_NOMEM)
            failed += commit_batch(kb, &batch, &st, &batch_files, &batch_bytes);
        if (s == CC_FULL || s == CC_NOMEM) break;   /* the next file would fail too */
        if (tty) progress(f + 1, list.n, st.bytes + batch.bytes, list.total, t0);
    }
    if (tty && list.n) fputc('\n', stderr);
    /* the LLM pass: after the chunks are stored, before the graph store catches up */
    int llm_stale = 0;
    if (llm && cli_llm_pass(kb, llm, new_after, 0, json, &llm_stale)) failed++;
    /* derived indexes catch up from the change log (also after a crash) */
    embed_progress ep = {0};
    if (tty) cr_vectors_set_progress(embed_progress_fn, &ep);
    if (cg_sync_derived(kb, &vs) != CC_OK) {
        cli_error("updating the derived indexes (vectors, graph store): %s", cc_kb_errmsg(kb));
        failed++;
    }
    cr_vectors_set_progress(NULL, NULL);
    if (ep.open) fputc('\n', stderr);   /* a failure ended the bar early */
    if (llm_stale && cg_graph_sync(kb, 1, NULL) != CC_OK) {   /* older chunks got LLM facts */
        cli_error("rebuilding the graph store: %s", cc_kb_errmsg(kb));
        failed++;
    }
    cli_fts_tidy(kb);   /* merge the full-text indexes when their segments call for it */
    {
        double secs = (cc_now_ms() - t0) / 1e3;
        if (json) {
            printf("{\"files\":%zu,\"added\":%lld,\"replaced\":%lld,\"unchanged\":%lld,"
                   "\"failed\":%d,\"skipped\":%lld,\"chunks\":%lld,\"bytes\":%lld,"
                   "\"vectors_added\":%lld,\"vectors_removed\":%lld,\"seconds\":%.3f,\"errors\":[%s]}\n",
                   list.n + (size_t)use_stdin, (long long)st.docs_added,
                   (long long)st.docs_replaced, (long long)st.docs_unchanged, failed,
                   (long long)list.skipped, (long long)st.chunks_added, (long long)st.bytes,
                   (long long)vs.added, (long long)vs.removed, secs, errs.data ? errs.data : "");
        } else {
            printf("ingested %zu file%s: %lld added, %lld replaced, %lld unchanged, %d failed"
                   "%s; %lld chunks, %lld vectors%s; %.1f MB in %.2f s (%.1f MB/s)\n",
                   list.n + (size_t)use_stdin, list.n + (size_t)use_stdin == 1 ? "" : "s",
                   (long long)st.docs_added, (long long)st.docs_replaced,
                   (long long)st.docs_unchanged, failed, list.skipped ? " (unsupported files skipped)" : "",
                   (long long)st.chunks_added, (long long)vs.added,
                   vs.rebuilt ? " (vector index rebuilt)" : "", st.bytes / 1e6, secs,
                   secs > 0 ? st.bytes / 1e6 / secs : 0.0);
        }
    }
    {
        size_t skipped, limits;
        cg_ingest_warnings(&skipped, &limits);
        if (skipped || limits)
            fprintf(stderr, "cairn: graph: %zu chunks stored without extraction (not valid"
                    " text for the extractor), %zu chunks hit an extraction limit (mentions,"
                    " relations or tokens capped, over-long names skipped)\n", skipped, limits);
    }
    cc_buf_free(&errs);
    list_free(&list);
    cg_ingest_done();
    cg_extractor_free(llm);
    cc_kb_close(kb);
    free(inputs);
    return failed ? 1 : 0;
usage:
    free(inputs);
    return cli_usage(ingest_usage);
}

/* ---------------------------------------------------------------- rm */

int cmd_rm(int argc, char **argv)
{
    cc_kb *kb;
    int i = 2, failed = 0, r;
    /* options come before the documents: a uri may begin with '-' */
    while (i < argc && (r = cli_opt_wait(argc, argv, &i))) {
        if (r < 0) return 2;
        i++;
    }
    if (argc < 3 || i >= argc || !strcmp(argv[1], "--help"))
        return cli_usage("rm KB [--wait SECONDS] DOC...\n"
                         "  Deletes documents by uri (as listed by ingest) or #id.\n"
                         "  A JSON file's uri deletes all of its records.\n" CLI_WAIT_USAGE);
    if (cc_kb_open(argv[1], CC_KB_WRITE, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    for (; i < argc; i++) {
        int64_t n = 0;
        if (cr_doc_remove(kb, argv[i], &n) != CC_OK) {
            cli_error("%s", cc_kb_errmsg(kb));
            failed++;
        } else {
            printf("removed %s (%lld document%s)\n", argv[i], (long long)n, n == 1 ? "" : "s");
        }
    }
    {
        cr_vectors_stats vs;
        if (cg_sync_derived(kb, &vs) != CC_OK) {
            cli_error("updating the derived indexes (vectors, graph store): %s", cc_kb_errmsg(kb));
            failed++;
        }
    }
    cli_fts_tidy(kb);
    cc_kb_close(kb);
    return failed ? 1 : 0;
}

/* ---------------------------------------------------------------- reindex */

int cmd_reindex(int argc, char **argv)
{
    const char *kbdir = NULL, *emb = NULL;
    int64_t dim = 0;
    int i, r;
    cc_kb *kb;
    cc_buf path = CC_BUF_INIT(0), v = CC_BUF_INIT(0);
    cr_vectors_stats vs;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) break;
        if ((r = cli_opt_str(argc, argv, &i, "--embedder", &emb)) ||
            (r = cli_opt_int(argc, argv, &i, "--dim", 8, 65536, &dim)) ||
            (r = cli_opt_wait(argc, argv, &i))) {
            if (r < 0) return 2;
            continue;
        }
        if (!kbdir && argv[i][0] != '-') kbdir = argv[i];
        else { kbdir = NULL; break; }
    }
    if (!kbdir)
        return cli_usage("reindex KB [--embedder NAME] [--dim N] [--wait SECONDS]\n"
                         "  Rebuilds the vector index (with a new embedder when given).\n"
                         "  NAME: hash, none, or gguf:/path/model.gguf (a GGUF embedding model).\n"
                         CLI_WAIT_USAGE);
    if (cc_kb_open(kbdir, CC_KB_WRITE, &kb) != CC_OK) return cli_error("%s", cc_errmsg());
    if (emb) {
        cr_embedder *e;
        cr_embedder_opts eo = {0};
        eo.dim = (int)dim;
        if (cr_embedder_open(emb, &eo, &e) != CC_OK) {   /* check before saving it */
            cc_kb_close(kb);
            return cli_error("%s", cc_errmsg());
        }
        cr_embedder_close(e);
        if (!strncmp(emb, "gguf:", 5)) {   /* name "gguf", embedder.model = the absolute path */
            char *abs = realpath(emb + 5, NULL);
            if (!abs) {
                cc_kb_seterr(kb, CC_IO, "%s: %s", emb + 5, strerror(errno));
                goto fail;
            }
            cc_buf_json_str(&v, abs, strlen(abs));
            free(abs);
            if (cc_kb_setting_set(kb, "embedder.model", v.data) != CC_OK) goto fail;
            cc_buf_reset(&v);
            emb = "gguf";
        }
        cc_buf_json_str(&v, emb, strlen(emb));
        if (cc_kb_setting_set(kb, "embedder.name", v.data) != CC_OK) goto fail;
    }
    if (dim) {
        cc_buf_reset(&v);
        cc_buf_printf(&v, "%lld", (long long)dim);
        if (cc_kb_setting_set(kb, "embedder.dim", v.data) != CC_OK) goto fail;
    }
    if (cc_kb_path(kb, "vectors.faiss", &path) || (unlink(path.data) && errno != ENOENT)) {
        cc_kb_seterr(kb, CC_IO, "cannot remove %s: %s", path.data, strerror(errno));
        goto fail;
    }
    embed_progress ep = {0};
    if (isatty(2)) cr_vectors_set_progress(embed_progress_fn, &ep);
    r = cg_sync_derived(kb, &vs);
    cr_vectors_set_progress(NULL, NULL);
    if (ep.open) fputc('\n', stderr);
    if (r != CC_OK) goto fail;
    printf("reindexed %s: %lld vectors\n", kbdir, (long long)vs.vectors);
    cc_buf_free(&path);
    cc_buf_free(&v);
    cc_kb_close(kb);
    return 0;
fail:
    cli_error("%s", cc_kb_errmsg(kb));
    cc_buf_free(&path);
    cc_buf_free(&v);
    cc_kb_close(kb);
    return 1;
}
