/* kb.c — the knowledge-base directory: create, open (with the writer lock
 * and schema migration), transactions, settings (cairn.json). */
#define _GNU_SOURCE
#include "core.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

extern const char cc_catalog_sql[];   /* schemas/catalog.sql, generated */

struct cc_kb {
    char    *dir;
    sqlite3 *db;
    int      lock_fd;     /* -1 for readers */
    int      writable;
    int      log;         /* CC_KB_LOG: cc_kb_begin_log allowed */
    cJSON   *settings;
    struct stat settings_st;  /* cairn.json as read (st_ino 0: absent) */
    char     errmsg[1024];
    /* statements kept with the handle (cc_kb_stmt): open addressing on the
     * SQL text's address; cap_stmts a power of two (or 0), at most half full */
    struct kb_stmt { const char *sql; sqlite3_stmt *st; } *stmts;
    size_t   n_stmts, cap_stmts;
    uint64_t serial;      /* cc_kb_serial */
    /* the steps cc_kb_commit runs before COMMIT (cc_kb_precommit_set), in
     * the order they were set; n_pre 0: none */
    struct kb_pre { cc_kb_precommit_fn fn; int64_t arg; } pre[CC_KB_PRECOMMIT_MAX];
    int      n_pre;
};

static _Atomic uint64_t last_serial;

/* ---------------------------------------------------------------- messages */

cc_status cc_kb_seterr(cc_kb *kb, cc_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kb->errmsg, sizeof kb->errmsg, fmt, ap);
    va_end(ap);
    return s;
}

const char *cc_kb_errmsg(const cc_kb *kb)
{
    return kb->errmsg[0] ? kb->errmsg : "no error";
}

/* After a failed SQLite write whose errno was lost (SQLite reads errno
 * when the error reaches the API, after the rollback's own syscalls): 1
 * when the KB's filesystem has under 64 KiB free or cairn.db or its WAL
 * is within 128 KiB of the file-size limit (RLIMIT_FSIZE). */
static int out_of_space(const cc_kb *kb)
{
    static const char *const files[] = {"cairn.db", "cairn.db-wal"};
    struct statvfs fs;
    struct rlimit rl;
    struct stat st;
    char path[4096];
    size_t i;
    if (!kb->dir) return 0;
    if (!statvfs(kb->dir, &fs) && (uint64_t)fs.f_bavail * fs.f_frsize < (64u << 10)) return 1;
    if (getrlimit(RLIMIT_FSIZE, &rl) || rl.rlim_cur == RLIM_INFINITY) return 0;
    for (i = 0; i < sizeof files / sizeof *files; i++) {
        if (snprintf(path, sizeof path, "%s/%s", kb->dir, files[i]) >= (int)sizeof path) continue;
        /* within a page or two of the limit: the next write crossed it */
        if (!stat(path, &st) && (uint64_t)st.st_size + (128u << 10) >= (uint64_t)rl.rlim_cur) return 1;
    }
    return 0;
}

static cc_status status_of_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:    return CC_FULL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:  return CC_BUSY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:  return CC_CORRUPT;
    case SQLITE_NOMEM:   return CC_NOMEM;
    case SQLITE_IOERR:   return CC_IO;
    case SQLITE_INTERRUPT: return CC_INTERRUPTED;
    default:             return CC_SQLITE;
    }
}

cc_status cc_kb_sqlerr(cc_kb *kb, const char *what)
{
    int rc = sqlite3_extended_errcode(kb->db);
    cc_status s = status_of_sqlite(rc);
    int syserr = sqlite3_system_errno(kb->db);
    if (s == CC_IO && (syserr == ENOSPC || syserr == EFBIG || (!syserr && out_of_space(kb))))
        s = CC_FULL;
    if (s == CC_FULL)
        return cc_kb_seterr(kb, s, "%s: disk full or file size limit reached (%s)",
                            what, sqlite3_errmsg(kb->db));
    return cc_kb_seterr(kb, s, "%s: %s", what, sqlite3_errmsg(kb->db));
}

/* ---------------------------------------------------------------- paths */

const char *cc_kb_dir(const cc_kb *kb) { return kb->dir; }
struct sqlite3 *cc_kb_db(cc_kb *kb) { return kb->db; }
uint64_t cc_kb_serial(const cc_kb *kb) { return kb->serial; }
int cc_kb_writable(const cc_kb *kb) { return kb->writable; }

static cc_status join(cc_buf *out, const char *dir, const char *name)
{
    cc_buf_reset(out);
    if (cc_buf_puts(out, dir) || cc_buf_putc(out, '/') || cc_buf_puts(out, name))
        return CC_NOMEM;
    return CC_OK;
}

cc_status cc_kb_path(const cc_kb *kb, const char *name, cc_buf *out)
{
    return join(out, kb->dir, name);
}

/* ---------------------------------------------------------------- settings */

static const char *default_settings =
    "{\n"
    "  \"format\": 1,\n"
    "  \"chunk\": {\"target_tokens\": 300, \"overlap_tokens\": 40},\n"
    "  \"ingest\": {\"invalid_utf8\": \"reject\", \"json_text_field\": \"text\","
    " \"json_id_field\": \"id\", \"json_title_field\": \"title\"}\n"
    "}\n";

static cc_status write_file_atomic(const char *path, const char *data, size_t n)
{
    cc_buf tmp = CC_BUF_INIT(0);
    int fd;
    ssize_t w;
    size_t off = 0;
    if (cc_buf_printf(&tmp, "%s.tmp", path)) return cc_seterr(CC_NOMEM, "out of memory");
    fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        cc_status s = cc_seterr(CC_IO, "cannot write %s: %s", tmp.data, strerror(errno));
        cc_buf_free(&tmp);
        return s;
    }
    while (off < n) {
        w = write(fd, data + off, n - off);
        if (w < 0) {
            cc_status s = cc_seterr(errno == ENOSPC || errno == EFBIG ? CC_FULL : CC_IO,
                                    "cannot write %s: %s", tmp.data, strerror(errno));
            close(fd);
            unlink(tmp.data);
            cc_buf_free(&tmp);
            return s;
        }
        off += (size_t)w;
    }
    if (fsync(fd) || close(fd) || rename(tmp.data, path)) {
        cc_status s = cc_seterr(CC_IO, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp.data);
        cc_buf_free(&tmp);
        return s;
    }
    cc_buf_free(&tmp);
    return CC_OK;
}

static cc_status load_settings(cc_kb *kb)
{
    cc_buf path = CC_BUF_INIT(0);
    FILE *f;
    char *text = NULL;
    long n;
    cc_status s = CC_OK;

    if (join(&path, kb->dir, "cairn.json")) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    f = fopen(path.data, "rb");
    if (!f) {
        if (errno == ENOENT) {        /* settings are optional: defaults */
            memset(&kb->settings_st, 0, sizeof kb->settings_st);
            kb->settings = cJSON_Parse(default_settings);
            cc_buf_free(&path);
            return kb->settings ? CC_OK : cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        }
        s = cc_kb_seterr(kb, CC_IO, "cannot read %s: %s", path.data, strerror(errno));
        goto out;
    }
    if (fstat(fileno(f), &kb->settings_st) != 0 ||
        fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        s = cc_kb_seterr(kb, CC_IO, "cannot read %s", path.data);
        goto out;
    }
    if (n > (1 << 20)) {
        s = cc_kb_seterr(kb, CC_TOOBIG, "%s is larger than 1 MiB", path.data);
        goto out;
    }
    text = malloc((size_t)n + 1);
    if (!text) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto out; }
    if (fread(text, 1, (size_t)n, f) != (size_t)n) {
        s = cc_kb_seterr(kb, CC_IO, "cannot read %s", path.data);
        goto out;
    }
    text[n] = 0;
    kb->settings = cJSON_Parse(text);
    if (!kb->settings || !cJSON_IsObject(kb->settings)) {
        const char *at = cJSON_GetErrorPtr();
        s = cc_kb_seterr(kb, CC_INVALID, "%s is not a JSON object%s%.20s%s", path.data,
                         at ? " (near \"" : "", at ? at : "", at ? "\")" : "");
        cJSON_Delete(kb->settings);
        kb->settings = NULL;
    }
out:
    if (f) fclose(f);
    free(text);
    cc_buf_free(&path);
    return s;
}

/* Finds a dotted key. Returns NULL when absent. */
static cJSON *setting_find(cc_kb *kb, const char *key)
{
    cJSON *node = kb->settings;
    const char *p = key;
    while (node && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char part[128];
        if (n >= sizeof part) return NULL;
        memcpy(part, p, n);
        part[n] = 0;
        node = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, part) : NULL;
        p += n + (dot ? 1 : 0);
    }
    return node;
}

cc_status cc_kb_setting_str(cc_kb *kb, const char *key, const char *dflt, const char **out)
{
    cJSON *v = setting_find(kb, key);
    if (!v) { *out = dflt; return CC_OK; }
    if (!cJSON_IsString(v))
        return cc_kb_seterr(kb, CC_INVALID, "setting %s in cairn.json must be a string", key);
    *out = v->valuestring;
    return CC_OK;
}

cc_status cc_kb_setting_f64(cc_kb *kb, const char *key, double dflt, double *out)
{
    cJSON *v = setting_find(kb, key);
    if (!v) { *out = dflt; return CC_OK; }
    if (!cJSON_IsNumber(v))
        return cc_kb_seterr(kb, CC_INVALID, "setting %s in cairn.json must be a number", key);
    *out = v->valuedouble;
    return CC_OK;
}

cc_status cc_kb_setting_i64(cc_kb *kb, const char *key, int64_t dflt, int64_t *out)
{
    double d = 0;
    cc_status s = cc_kb_setting_f64(kb, key, (double)dflt, &d);
    if (s) return s;
    if (d != (double)(int64_t)d)
        return cc_kb_seterr(kb, CC_INVALID, "setting %s in cairn.json must be a whole number", key);
    *out = (int64_t)d;
    return CC_OK;
}

cc_status cc_kb_setting_set(cc_kb *kb, const char *key, const char *json_value)
{
    cJSON *val = cJSON_Parse(json_value), *node = kb->settings;
    const char *p = key;
    char *text;
    cc_buf path = CC_BUF_INIT(0);
    cc_status s;
    if (!val) return cc_kb_seterr(kb, CC_INVALID, "value for %s is not valid JSON", key);
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char part[128];
        cJSON *child;
        if (n == 0 || n >= sizeof part) {
            cJSON_Delete(val);
            return cc_kb_seterr(kb, CC_INVALID, "bad setting name '%s'", key);
        }
        memcpy(part, p, n);
        part[n] = 0;
        if (!dot) {
            if (cJSON_GetObjectItemCaseSensitive(node, part))
                cJSON_ReplaceItemInObjectCaseSensitive(node, part, val);
            else
                cJSON_AddItemToObject(node, part, val);
            break;
        }
        child = cJSON_GetObjectItemCaseSensitive(node, part);
        if (!child) child = cJSON_AddObjectToObject(node, part);
        if (!cJSON_IsObject(child)) {
            cJSON_Delete(val);
            return cc_kb_seterr(kb, CC_INVALID, "setting %.*s is not an object", (int)(dot - key), key);
        }
        node = child;
        p = dot + 1;
    }
    text = cJSON_Print(kb->settings);
    if (!text) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    if (join(&path, kb->dir, "cairn.json")) { free(text); return CC_NOMEM; }
    s = write_file_atomic(path.data, text, strlen(text));
    if (s) cc_kb_seterr(kb, s, "%s", cc_errmsg());
    free(text);
    cc_buf_free(&path);
    return s;
}

char *cc_kb_settings_json(cc_kb *kb)
{
    return cJSON_Print(kb->settings);
}

/* ---------------------------------------------------------------- migration */

/* migrations[i] takes a catalog from version i+1 to i+2. Append only. */
static const char *const migrations[] = {
    /* 1 -> 2: FTS5 over entity names */
    "CREATE VIRTUAL TABLE entity_names USING fts5(names, tokenize = 'unicode61 remove_diacritics 2');\n"
    "INSERT INTO entity_names(rowid, names) SELECT entity_id, group_concat(alias, ' | ')"
    " FROM aliases GROUP BY entity_id;\n",
    /* 2 -> 3, 3 -> 4: other branches' (renumbered at merge) */
    "",
    "",
    /* 4 -> 5: merge records with their evidence (the table was never
     * written before), aliases looked up by norm */
    "DROP TABLE merges;\n"
    "CREATE TABLE merges (id INTEGER PRIMARY KEY, kept_id INTEGER NOT NULL, merged_id INTEGER,"
    " alias TEXT NOT NULL, norm TEXT NOT NULL, reason TEXT NOT NULL, chunk_id INTEGER,"
    " start_char INTEGER, end_char INTEGER, extractor TEXT, at TEXT NOT NULL, undone_at TEXT,"
    " split_id INTEGER);\n"
    "CREATE INDEX merges_kept ON merges(kept_id, norm);\n"
    "CREATE INDEX aliases_norm ON aliases(norm);\n"
    "DROP INDEX relations_subject;\n"
    "DROP INDEX relations_object;\n"
    "CREATE INDEX relations_subject ON relations(subject_id, object_id, predicate, chunk_id,"
    " confidence, status);\n"
    "CREATE INDEX relations_object ON relations(object_id, subject_id, predicate, chunk_id,"
    " confidence, status);\n",
    /* 5 -> 6: LLM extractor runs and their outputs (graph/extract_llm.c) */
    "CREATE TABLE llm_extractions ( "
    "chunk_id      INTEGER NOT NULL, "
    "extractor     TEXT    NOT NULL, "
    "text_sha256   TEXT    NOT NULL, "
    "output        TEXT    NOT NULL, "
    "prompt_tokens INTEGER NOT NULL, "
    "output_tokens INTEGER NOT NULL, "
    "ms            REAL    NOT NULL, "
    "at            TEXT    NOT NULL, "
    "PRIMARY KEY (chunk_id, extractor) "
    ");\n"
    "CREATE INDEX llm_extractions_text ON llm_extractions(extractor, text_sha256);\n",
};

static cc_status migrate(cc_kb *kb, int from)
{
    int v;
    C_ASSERT(from >= 1);
    for (v = from; v < CC_SCHEMA_VERSION; v++) {
        const char *sql = migrations[v - 1];
        char pragma[64];
        if (!sql) return cc_kb_seterr(kb, CC_ERROR, "no migration from schema %d", v);
        if (cc_kb_begin(kb)) return CC_SQLITE;
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(kb->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(kb->db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
            cc_status s = cc_kb_sqlerr(kb, "migrating the catalog");
            cc_kb_rollback(kb);
            return s;
        }
        if (cc_kb_commit(kb)) return CC_SQLITE;
    }
    return CC_OK;
}

/* ---------------------------------------------------------------- open/close */

/* How long a writer waits for another process's writer lock
 * (cc_kb_set_lock_wait); 0: not at all. */
static _Atomic int64_t lock_wait_ms;

static const char *lock_hint = "";

void cc_kb_set_lock_wait(int64_t ms) { lock_wait_ms = ms > 0 ? ms : 0; }
void cc_kb_set_lock_hint(const char *hint) { lock_hint = hint ? hint : ""; }

/* flock on the open cairn.lock: CC_BUSY with who holds it, else writes
 * this process's pid into it (only a hint for that message). While the
 * lock is held elsewhere it tries again, at 2 ms doubling to 50 ms apart,
 * until the lock wait runs out: flock keeps no queue, so a waiter polls
 * (a blocking flock could not be given a deadline without signals). */
static cc_status flock_now(cc_kb *kb, int64_t wait)
{
    char pid[32];
    int n;
    const double t0 = wait ? cc_now_ms() : 0;
    unsigned nap = 2;
    while (flock(kb->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        const int e = errno;
        char other[32] = "", waited[48] = "";
        ssize_t r;
        double left = wait ? (double)wait - (cc_now_ms() - t0) : 0;
        if (e == EINTR) continue;
        if (e == EWOULDBLOCK && left > 0) {
            struct timespec ts = {0, (long)(left < nap ? left : nap) * 1000000L};
            if (ts.tv_nsec == 0) ts.tv_nsec = 1000000L;
            nanosleep(&ts, NULL);
            if (nap < 50) nap = nap * 2 > 50 ? 50 : nap * 2;
            continue;
        }
        if (e != EWOULDBLOCK)
            return cc_kb_seterr(kb, CC_IO, "cannot lock %s/cairn.lock: %s", kb->dir, strerror(e));
        r = pread(kb->lock_fd, other, sizeof other - 1, 0);
        if (r > 0) { other[r] = 0; other[strcspn(other, "\n")] = 0; }
        /* the pid is the last writer's: left out when that process is gone
         * (the holder is then one that wrote none, such as flock(1)) */
        if (other[0] && (strtol(other, NULL, 10) <= 0 ||
                         (kill((pid_t)strtol(other, NULL, 10), 0) != 0 && errno == ESRCH)))
            other[0] = 0;
        if (wait) snprintf(waited, sizeof waited, " (waited %.1f s)", (double)wait / 1000.0);
        return cc_kb_seterr(kb, CC_BUSY,
                            "knowledge base %s is being written by another process%s%s%s; "
                            "wait for it to finish%s", kb->dir,
                            other[0] ? " (pid " : "", other, other[0] ? ")" : "",
                            wait ? waited : lock_hint);
    }
    n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(kb->lock_fd, 0) == 0 && pwrite(kb->lock_fd, pid, (size_t)n, 0) < 0) {
        /* the pid is only a hint */
    }
    return CC_OK;
}

static cc_status take_lock(cc_kb *kb, int64_t wait)
{
    cc_buf path = CC_BUF_INIT(0);
    cc_status s;
    if (join(&path, kb->dir, "cairn.lock")) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    kb->lock_fd = open(path.data, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (kb->lock_fd < 0) {
        s = cc_kb_seterr(kb, CC_IO, "cannot open %s: %s", path.data, strerror(errno));
        cc_buf_free(&path);
        return s;
    }
    cc_buf_free(&path);
    if ((s = flock_now(kb, wait))) {
        close(kb->lock_fd);
        kb->lock_fd = -1;
    }
    return s;
}

static void stmt_cache_free(cc_kb *kb);

static void kb_free(cc_kb *kb)
{
    if (!kb) return;
    stmt_cache_free(kb);     /* before the close: kept statements would keep it open */
    if (kb->db) sqlite3_close_v2(kb->db);
    if (kb->lock_fd >= 0) close(kb->lock_fd);   /* releases the flock */
    cJSON_Delete(kb->settings);
    free(kb->dir);
    free(kb);
}

void cc_kb_close(cc_kb *kb) { kb_free(kb); }

static int is_empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int empty = 1;
    if (!d) return 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) { empty = 0; break; }
    closedir(d);
    return empty;
}

static void precommit_hooks(cc_kb *kb);

static cc_status open_db(cc_kb *kb, int create)
{
    cc_buf path = CC_BUF_INIT(0);
    int flags = kb->writable || create ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READWRITE;
    int rc;
    if (create) flags |= SQLITE_OPEN_CREATE;
    if (join(&path, kb->dir, "cairn.db")) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
    /* Readers open read-write too: WAL readers need the -shm file; every write
     * path checks kb->writable (and holds the lock) before writing. Readers
     * map the file (below) through a VFS that keeps the map between
     * transactions (vfs.c). */
    rc = sqlite3_open_v2(path.data, &kb->db, flags | SQLITE_OPEN_NOMUTEX,
                         kb->writable || kb->log || create ? NULL : cc_sqlite_map_vfs());
    cc_buf_free(&path);
    if (rc != SQLITE_OK) {
        cc_status s = kb->db ? cc_kb_sqlerr(kb, "opening cairn.db")
                             : cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        return s;
    }
    sqlite3_extended_result_codes(kb->db, 1);
    sqlite3_busy_timeout(kb->db, 5000);
    precommit_hooks(kb);
    /* a writer gets a larger page cache: big ingests touch many FTS pages;
     * and its temporary files in memory: ingestion's savepoint per input
     * copies every page the input changes into a sub-journal, which SQLite
     * otherwise spills past 64 KiB to a file in /var/tmp, one pwrite per
     * page (with extraction: ~10,000 on the 0.13 MB sample corpus) */
    if (kb->writable && sqlite3_exec(kb->db, "PRAGMA cache_size = -32768;"
                                     "PRAGMA temp_store = MEMORY", NULL, NULL, NULL)
        != SQLITE_OK)
        return cc_kb_sqlerr(kb, "opening cairn.db");
    if (sqlite3_exec(kb->db,
                     "PRAGMA journal_mode = WAL;"
                     "PRAGMA synchronous = NORMAL;"
                     "PRAGMA foreign_keys = ON;"
                     "PRAGMA trusted_schema = OFF;",
                     NULL, NULL, NULL) != SQLITE_OK)
        return cc_kb_sqlerr(kb, "opening cairn.db");
    /* readers read the catalog through a memory map (up to 1 GiB) instead of
     * copying each page through their small page cache with pread: under a
     * search load that copy was a sixth of the server's CPU. SQLite still
     * reads the WAL with read(); a failure leaves pread in place. The map
     * outlives other connections' commits (vfs.c). */
    if (!kb->writable && !kb->log)
        (void)sqlite3_exec(kb->db, "PRAGMA mmap_size = 1073741824", NULL, NULL, NULL);
    return CC_OK;
}

/* A kept statement (cc_kb_stmt): a server's writer reads it at every
 * cc_kb_relock. */
static cc_status user_version(cc_kb *kb, int *v)
{
    static const char sql[] = "PRAGMA user_version";
    sqlite3_stmt *st;
    if (cc_kb_stmt(kb, sql, &st)) return cc_kb_sqlerr(kb, "reading the schema version");
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return cc_kb_sqlerr(kb, "reading the schema version");
    }
    *v = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    return CC_OK;
}

cc_status cc_kb_create(const char *dir)
{
    cc_kb *kb;
    cc_buf path = CC_BUF_INIT(0);
    struct stat sb;
    cc_status s;
    char now[32], ver[64];

    if (!dir || !*dir) return cc_seterr(CC_INVALID, "no knowledge-base directory given");
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return cc_seterr(CC_EXISTS, "%s exists and is not a directory", dir);
        if (!is_empty_dir(dir))
            return cc_seterr(CC_EXISTS, "%s already exists and is not empty; "
                             "choose a new directory", dir);
    } else if (mkdir(dir, 0755) != 0) {
        return cc_seterr(CC_IO, "cannot create %s: %s", dir, strerror(errno));
    }
    kb = calloc(1, sizeof *kb);
    if (!kb || !(kb->dir = cc_strdup(dir))) {
        free(kb);
        return cc_seterr(CC_NOMEM, "out of memory");
    }
    kb->lock_fd = -1;
    kb->serial = ++last_serial;
    kb->writable = 1;
    if ((s = take_lock(kb, 0)) || (s = open_db(kb, 1))) goto fail;
    if (join(&path, dir, "graph") || (mkdir(path.data, 0755) != 0 && errno != EEXIST)) {
        s = cc_kb_seterr(kb, CC_IO, "cannot create %s: %s", path.data, strerror(errno));
        goto fail;
    }
    cc_utc_iso8601(now);
    if ((s = cc_kb_begin(kb))) goto fail;
    if (sqlite3_exec(kb->db, cc_catalog_sql, NULL, NULL, NULL) != SQLITE_OK) {
        s = cc_kb_sqlerr(kb, "creating the catalog");
        cc_kb_rollback(kb);
        goto fail;
    }
    {
        sqlite3_stmt *st;
        snprintf(ver, sizeof ver, "PRAGMA user_version = %d", CC_SCHEMA_VERSION);
        if (sqlite3_exec(kb->db, ver, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(kb->db, "INSERT INTO meta(key, value) VALUES ('created_at', ?1)",
                               -1, &st, NULL) != SQLITE_OK) {
            s = cc_kb_sqlerr(kb, "creating the catalog");
            cc_kb_rollback(kb);
            goto fail;
        }
        sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            sqlite3_finalize(st);
            s = cc_kb_sqlerr(kb, "creating the catalog");
            cc_kb_rollback(kb);
            goto fail;
        }
        sqlite3_finalize(st);
    }
    if ((s = cc_kb_commit(kb))) goto fail;
    if (join(&path, dir, "cairn.json")) { s = CC_NOMEM; goto fail; }
    if ((s = write_file_atomic(path.data, default_settings, strlen(default_settings)))) {
        cc_buf_free(&path);
        kb_free(kb);
        return s;
    }
    cc_buf_free(&path);
    kb_free(kb);
    return CC_OK;
fail:
    cc_seterr(s, "%s", cc_kb_errmsg(kb));
    cc_buf_free(&path);
    kb_free(kb);
    return s;
}

cc_status cc_kb_open(const char *dir, int flags, cc_kb **out)
{
    cc_kb *kb;
    cc_buf path = CC_BUF_INIT(0);
    struct stat sb;
    cc_status s;
    int v = 0;
    int64_t wait;

    *out = NULL;
    if (!dir || !*dir) return cc_seterr(CC_INVALID, "no knowledge-base directory given");
    if (stat(dir, &sb) != 0)
        return cc_seterr(CC_NOTFOUND, "%s: %s (create one with: cairn init %s)",
                         dir, strerror(errno), dir);
    if (!S_ISDIR(sb.st_mode))
        return cc_seterr(CC_INVALID, "%s is not a knowledge base (not a directory)", dir);
    if (join(&path, dir, "cairn.db")) return cc_seterr(CC_NOMEM, "out of memory");
    if (stat(path.data, &sb) != 0) {
        cc_buf_free(&path);
        return cc_seterr(CC_NOTFOUND, "%s is not a knowledge base (no cairn.db; "
                         "create one with: cairn init DIR)", dir);
    }
    cc_buf_free(&path);

    kb = calloc(1, sizeof *kb);
    if (!kb || !(kb->dir = cc_strdup(dir))) {
        free(kb);
        return cc_seterr(CC_NOMEM, "out of memory");
    }
    kb->lock_fd = -1;
    kb->serial = ++last_serial;
    kb->writable = (flags & CC_KB_WRITE) != 0;
    kb->log = !kb->writable && (flags & CC_KB_LOG);
    wait = flags & CC_KB_NOWAIT ? 0 : lock_wait_ms;
    if (kb->writable && (s = take_lock(kb, wait))) goto fail;
    if ((s = open_db(kb, 0))) goto fail;
    if ((s = user_version(kb, &v))) goto fail;
    if (v == 0) {
        s = cc_kb_seterr(kb, CC_CORRUPT, "%s/cairn.db has no cairn catalog "
                         "(schema version 0)", dir);
        goto fail;
    }
    if (v > CC_SCHEMA_VERSION) {
        s = cc_kb_seterr(kb, CC_VERSION, "%s was written by a newer cairn "
                         "(catalog schema %d; this cairn knows up to %d); "
                         "upgrade cairn to open it", dir, v, CC_SCHEMA_VERSION);
        goto fail;
    }
    if (v < CC_SCHEMA_VERSION) {
        int ro = !kb->writable;
        if (ro) {
            /* migrate needs the writer lock: take it briefly, and writes */
            if ((s = take_lock(kb, wait))) goto fail;
            kb->writable = 1;
        }
        s = migrate(kb, v);
        if (ro) { kb->writable = 0; close(kb->lock_fd); kb->lock_fd = -1; }
        if (s) goto fail;
    }
    if ((s = load_settings(kb))) goto fail;
    *out = kb;
    return CC_OK;
fail:
    cc_seterr(s, "%s", cc_kb_errmsg(kb));
    kb_free(kb);
    return s;
}

/* ---------------------------------------------------------------- kept writers */

cc_status cc_kb_unlock(cc_kb *kb)
{
    sqlite3_stmt *st = NULL;
    C_ASSERT(kb->writable && kb->lock_fd >= 0);
    cc_kb_rollback(kb);
    /* a statement left stepping would keep a read transaction open, and
     * with it the WAL from being checkpointed while the handle waits */
    while ((st = sqlite3_next_stmt(kb->db, st)))
        if (sqlite3_stmt_busy(st)) sqlite3_reset(st);
    kb->writable = 0;
    if (flock(kb->lock_fd, LOCK_UN) != 0)
        return cc_kb_seterr(kb, CC_IO, "cannot release the writer lock of %s: %s", kb->dir,
                            strerror(errno));
    return CC_OK;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* CC_VERSION: another process migrated the catalog (now version v) while
 * this handle had it open. */
static cc_status migrated(cc_kb *kb, int v)
{
    return cc_kb_seterr(kb, CC_VERSION, "%s was migrated to catalog schema %d while this process "
                        "had it open (this cairn knows up to %d); reopen it", kb->dir, v,
                        CC_SCHEMA_VERSION);
}

cc_status cc_kb_relock(cc_kb *kb)
{
    cc_buf path = CC_BUF_INIT(0);
    struct stat sb;
    int v = 0;
    cc_status s;

    C_ASSERT(!kb->writable && kb->lock_fd >= 0);
    if ((s = flock_now(kb, lock_wait_ms))) goto fail;
    /* what another process may have changed meanwhile: the catalog's
     * version (a newer cairn migrated it) and the settings */
    if ((s = user_version(kb, &v))) goto unlock;
    if (v != CC_SCHEMA_VERSION) {
        s = migrated(kb, v);
        goto unlock;
    }
    if (join(&path, kb->dir, "cairn.json")) { s = cc_kb_seterr(kb, CC_NOMEM, "out of memory"); goto unlock; }
    if (stat(path.data, &sb) != 0) memset(&sb, 0, sizeof sb);
    cc_buf_free(&path);
    if (!same_file(&sb, &kb->settings_st)) {
        cJSON *old = kb->settings;
        struct stat old_st = kb->settings_st;
        kb->settings = NULL;
        if ((s = load_settings(kb))) {
            kb->settings = old;
            kb->settings_st = old_st;
            goto unlock;
        }
        cJSON_Delete(old);
    }
    kb->writable = 1;
    return CC_OK;
unlock:
    flock(kb->lock_fd, LOCK_UN);
fail:
    cc_seterr(s, "%s", kb->errmsg);
    return s;
}

/* ---------------------------------------------------------------- a step before the commit (ftsstage) */

/* SQLite's commit hook: a COMMIT with a step still set did not come
 * through cc_kb_commit; non-zero turns it into a rollback. */
static int precommit_guard(void *arg)
{
    cc_kb *kb = arg;
    if (!kb->n_pre) return 0;
    cc_kb_seterr(kb, CC_ERROR, "a commit skipped the pending pre-commit step (commit with "
                 "cc_kb_commit); the transaction was rolled back");
    return 1;
}

/* SQLite's rollback hook (every rollback of the transaction, not ROLLBACK
 * TO): what the steps would have written is gone with it. */
static void precommit_forget(void *arg)
{
    cc_kb *kb = arg;
    kb->n_pre = 0;
}

static void precommit_hooks(cc_kb *kb)
{
    sqlite3_commit_hook(kb->db, precommit_guard, kb);
    sqlite3_rollback_hook(kb->db, precommit_forget, kb);
}

void cc_kb_precommit_set(cc_kb *kb, cc_kb_precommit_fn fn, int64_t arg)
{
    int i;
    C_ASSERT(fn && !sqlite3_get_autocommit(kb->db));
    for (i = 0; i < kb->n_pre && kb->pre[i].fn != fn; i++) {}
    if (i == kb->n_pre) {
        C_ASSERT(kb->n_pre < CC_KB_PRECOMMIT_MAX);
        kb->pre[kb->n_pre++].fn = fn;
    }
    kb->pre[i].arg = arg;
}

int cc_kb_precommit_get(cc_kb *kb, cc_kb_precommit_fn fn, int64_t *arg)
{
    for (int i = 0; i < kb->n_pre; i++)
        if (kb->pre[i].fn == fn) {
            *arg = kb->pre[i].arg;
            return 1;
        }
    return 0;
}

/* Runs the steps (once: forgotten first), in the order set; the first
 * failure rolls back. */
static cc_status precommit_run(cc_kb *kb)
{
    struct kb_pre pre[CC_KB_PRECOMMIT_MAX];
    int n = kb->n_pre;
    cc_status s = CC_OK;
    memcpy(pre, kb->pre, sizeof pre);
    kb->n_pre = 0;
    for (int i = 0; i < n && !s; i++) s = pre[i].fn(kb, pre[i].arg);
    if (s) cc_kb_rollback(kb);
    return s;
}

/* ---------------------------------------------------------------- transactions */

cc_status cc_kb_exec(cc_kb *kb, const char *sql)
{
    if (sqlite3_exec(kb->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return cc_kb_sqlerr(kb, "running SQL");
    return CC_OK;
}

cc_status cc_kb_begin(cc_kb *kb)
{
    C_ASSERT(kb->writable);
    if (sqlite3_exec(kb->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return cc_kb_sqlerr(kb, "starting a write");
    return CC_OK;
}

cc_status cc_kb_begin_log(cc_kb *kb)
{
    int v = 0;
    cc_status s;
    C_ASSERT(kb->log || kb->lock_fd >= 0);
    if (sqlite3_exec(kb->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return cc_kb_sqlerr(kb, "starting a log write");
    if ((s = user_version(kb, &v))) {
        cc_kb_rollback(kb);
        return s;
    }
    if (v != CC_SCHEMA_VERSION) {
        cc_kb_rollback(kb);
        return migrated(kb, v);
    }
    return CC_OK;
}

cc_status cc_kb_commit(cc_kb *kb)
{
    cc_status ps;
    if (kb->n_pre && (ps = precommit_run(kb))) return ps;
    if (sqlite3_exec(kb->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        cc_status s = cc_kb_sqlerr(kb, "committing");
        sqlite3_exec(kb->db, "ROLLBACK", NULL, NULL, NULL);
        return s;
    }
    return CC_OK;
}

void cc_kb_rollback(cc_kb *kb)
{
    if (!sqlite3_get_autocommit(kb->db))
        sqlite3_exec(kb->db, "ROLLBACK", NULL, NULL, NULL);
}

cc_status cc_kb_generation(cc_kb *kb, int64_t *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(kb->db, "SELECT coalesce(max(generation), 0) FROM changes",
                           -1, &st, NULL) != SQLITE_OK)
        return cc_kb_sqlerr(kb, "reading the generation");
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return cc_kb_sqlerr(kb, "reading the generation");
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return CC_OK;
}

/* ---------------------------------------------------------------- statements kept with the handle (ingeststmt) */

/* Slot of sql in a table of cap slots (a power of two): its own, or the
 * empty one where it would go. */
static size_t stmt_slot(const struct kb_stmt *t, size_t cap, const char *sql)
{
    size_t i = (size_t)(((uintptr_t)sql >> 3) * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
    while (t[i].sql && t[i].sql != sql) i = (i + 1) & (cap - 1);
    return i;
}

cc_status cc_kb_stmt(cc_kb *kb, const char *sql, sqlite3_stmt **out)
{
    sqlite3_stmt *st;
    const char *tail = NULL;
    size_t i;
    *out = NULL;
    if (kb->cap_stmts) {
        i = stmt_slot(kb->stmts, kb->cap_stmts, sql);
        if (kb->stmts[i].sql) {
            st = kb->stmts[i].st;
            /* another text at a known address: sql was not static (a bug) */
            C_ASSERT(!strcmp(sqlite3_sql(st), sql));
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            *out = st;
            return CC_OK;
        }
    }
    if ((kb->n_stmts + 1) * 2 > kb->cap_stmts) {   /* grow (and rehash) first */
        size_t cap = kb->cap_stmts ? kb->cap_stmts * 2 : 32, j;
        struct kb_stmt *t = calloc(cap, sizeof *t);
        if (!t) return cc_kb_seterr(kb, CC_NOMEM, "out of memory");
        for (j = 0; j < kb->cap_stmts; j++)
            if (kb->stmts[j].sql) t[stmt_slot(t, cap, kb->stmts[j].sql)] = kb->stmts[j];
        free(kb->stmts);
        kb->stmts = t;
        kb->cap_stmts = cap;
    }
    if (sqlite3_prepare_v3(kb->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, &tail) != SQLITE_OK)
        return cc_kb_sqlerr(kb, "preparing a statement");
    /* one statement, nothing after it (a hit compares the whole text) */
    C_ASSERT(st && tail && !*tail);
    i = stmt_slot(kb->stmts, kb->cap_stmts, sql);
    kb->stmts[i].sql = sql;
    kb->stmts[i].st = st;
    kb->n_stmts++;
    *out = st;
    return CC_OK;
}

void cc_kb_stmt_reset_all(cc_kb *kb)
{
    size_t i;
    for (i = 0; i < kb->cap_stmts; i++)
        if (kb->stmts[i].sql) {
            sqlite3_reset(kb->stmts[i].st);
            sqlite3_clear_bindings(kb->stmts[i].st);
        }
}

static void stmt_cache_free(cc_kb *kb)
{
    size_t i;
    for (i = 0; i < kb->cap_stmts; i++)
        if (kb->stmts[i].sql) sqlite3_finalize(kb->stmts[i].st);
    free(kb->stmts);
    kb->stmts = NULL;
    kb->n_stmts = kb->cap_stmts = 0;
}
