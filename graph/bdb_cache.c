/* bdb_cache.c — a real page cache for the Berkeley DB files under the
 * Redland store while the store is being written.
 *
 * librdf's "hashes" storage opens each of its five BDB files with
 * db_create(&db, NULL, 0) and no environment, so each gets Berkeley DB's
 * default private cache (256 KB), and librdf has no option to change it.
 * Past a few hundred thousand triples the B-trees no longer fit and every
 * insert reads and writes pages through pread/pwrite: at 1.3M (triple,
 * context) pairs that was 40% of the store sync's CPU time in the kernel.
 *
 * This file defines db_create, which the dynamic linker binds librdf's
 * call to (the executable's definition comes first; the link exports it,
 * see graph/CMakeLists.txt), forwards to Berkeley DB's own and, when the
 * calling thread asked for it with cg_bdb_cache_begin, sets the new
 * handle's cache size before librdf opens the file.  Nothing else
 * changes: same files, same format, same flags; a thread that did not
 * ask (readers, SPARQL) gets Berkeley DB's default.  The handles it sized
 * are remembered (cg_bdb_handle) until the thread forgets them, so that
 * the writer can put pairs through librdf's own handles (bdb_direct.c).
 * When the build has
 * no <db.h> (libdb5.3-dev), the two functions below do nothing.
 *
 * Deferred syncs (cg_bdb_sync_defer): Berkeley DB fsyncs a file of the
 * store three times on an update (librdf's sync, DB->close's own sync, and
 * the cache's sync by name when the file's last handle goes) and once more
 * when it creates it (before renaming its temporary name): 20 fdatasync
 * calls for five files, each a device flush, most with nothing left to
 * write.  Berkeley DB lets a process replace the fsync it calls
 * (db_env_set_func_fsync, process-wide); the replacement below syncs as
 * before, except on a thread between cg_bdb_sync_defer and
 * cg_bdb_sync_flush/_drop, where it keeps a duplicate descriptor of each
 * file asked for (one per file: device and inode) and returns success;
 * cg_bdb_sync_flush then starts the write-back of all of them and
 * fdatasyncs each once, all at the same time (a thread per file).  The writer (rdf.c) flushes before it records
 * the update as complete (state "clean 1"), so what is on disk when the
 * state says clean is what it was before: a crash before the flush
 * leaves "clean 0" and the next writer rebuilds. */
#define _GNU_SOURCE          /* RTLD_NEXT */
#include "graph_int.h"

#ifdef CAIRN_HAVE_DB_H
#include <db.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

static _Thread_local unsigned cache_mb;
static _Atomic unsigned long sized;      /* handles given a cache, ever */
/* the handles made for this thread since cg_bdb_handles_forget (while a
 * cache was asked for): bdb_direct.c writes through librdf's own */
#define MAX_HANDLES 16
static _Thread_local void *handles[MAX_HANDLES];
static _Thread_local unsigned nhandles;

void cg_bdb_cache_begin(unsigned mb) { cache_mb = mb; nhandles = 0; }
void cg_bdb_cache_end(void) { cache_mb = 0; nhandles = 0; }
unsigned long cg_bdb_cache_sized(void) { return sized; }
void cg_bdb_handles_forget(void) { nhandles = 0; }

void *cg_bdb_handle(unsigned i) { return i < nhandles ? handles[i] : NULL; }

#ifdef CAIRN_HAVE_DB_H
typedef int (*db_create_fn)(DB **, DB_ENV *, u_int32_t);

static db_create_fn real;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

static void find_real(void)
{
    /* the default version of the symbol in the next object: libdb */
    db_create_fn f;
    *(void **)&f = dlsym(RTLD_NEXT, "db_create");
    if (f != db_create) real = f;    /* never this function itself */
}

int db_create(DB **dbp, DB_ENV *env, u_int32_t flags)
{
    int rc;
    pthread_once(&real_once, find_real);
    if (!real) return ENOENT;        /* no Berkeley DB loaded: librdf reports it */
    rc = real(dbp, env, flags);
    /* only a handle with its own private environment has its own cache;
     * a failure to size it leaves the default (slower, not wrong) */
    if (!rc && !env && cache_mb && *dbp &&
        (*dbp)->set_cachesize(*dbp, cache_mb / 1024, (cache_mb % 1024) << 20, 1) == 0) {
        sized++;
        if (nhandles < MAX_HANDLES) handles[nhandles++] = *dbp;
    }
    return rc;
}
#endif

/* ---------------------------------------------------------------- deferred syncs */

#define MAX_DEFERRED 32
typedef struct deferred_file { int fd; dev_t dev; ino_t ino; } deferred_file;
static _Thread_local int defer_on;
static _Thread_local deferred_file deferred[MAX_DEFERRED];
static _Thread_local unsigned ndeferred;

#ifdef CAIRN_HAVE_DB_H
static int hook_ok;
static pthread_once_t hook_once = PTHREAD_ONCE_INIT;

static int sync_fd(int fd)
{
    int rc;
    do rc = fdatasync(fd); while (rc && errno == EINTR);
    return rc;
}

/* Berkeley DB's fsync (os_fsync.c calls it instead of fdatasync). */
static int bdb_fsync(int fd)
{
    struct stat sb;
    unsigned i;
    if (defer_on && !fstat(fd, &sb)) {
        int dup;
        for (i = 0; i < ndeferred; i++)
            if (deferred[i].dev == sb.st_dev && deferred[i].ino == sb.st_ino) return 0;
        if (ndeferred < MAX_DEFERRED && (dup = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0) {
            deferred[ndeferred].fd = dup;
            deferred[ndeferred].dev = sb.st_dev;
            deferred[ndeferred].ino = sb.st_ino;
            ndeferred++;
            return 0;
        }
    }
    return sync_fd(fd);      /* not deferring, or no room: now, as Berkeley DB would */
}

static void install_hook(void)
{
    /* libdb is loaded with librdf; no symbol: Berkeley DB syncs as usual */
    int (*set)(int (*)(int));
    *(void **)&set = dlsym(RTLD_DEFAULT, "db_env_set_func_fsync");
    hook_ok = set && set(bdb_fsync) == 0;
}
#endif

int cg_bdb_sync_defer(void)
{
#ifdef CAIRN_HAVE_DB_H
    pthread_once(&hook_once, install_hook);
    cg_bdb_sync_drop();
    defer_on = hook_ok;
    return hook_ok;
#else
    return 0;
#endif
}

void cg_bdb_sync_drop(void)
{
    unsigned i;
    for (i = 0; i < ndeferred; i++) close(deferred[i].fd);
    ndeferred = 0;
    defer_on = 0;
}

#ifdef CAIRN_HAVE_DB_H
typedef struct sync_job { int fd, err; } sync_job;

static void *sync_thread(void *p)
{
    sync_job *j = p;
    j->err = sync_fd(j->fd) ? errno : 0;
    return NULL;
}
#endif

cc_status cg_bdb_sync_flush(void)
{
    cc_status s = CC_OK;
#ifdef CAIRN_HAVE_DB_H
    sync_job job[MAX_DEFERRED];
    pthread_t th[MAX_DEFERRED];
    int started[MAX_DEFERRED];
    unsigned i;
    int err = 0;
    defer_on = 0;
    /* every file's write-back under way first, then the files' syncs at
     * once, a thread each (the device's flushes overlap: 5 files of 2 MB,
     * median 48 ms instead of 77 ms one after the other on the test VM);
     * a thread that cannot start: synced here */
    for (i = 0; i < ndeferred; i++)
        (void)sync_file_range(deferred[i].fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    for (i = 0; i < ndeferred; i++) {
        job[i].fd = deferred[i].fd;
        job[i].err = 0;
        started[i] = ndeferred > 1 && !pthread_create(&th[i], NULL, sync_thread, &job[i]);
        if (!started[i]) sync_thread(&job[i]);
    }
    for (i = 0; i < ndeferred; i++) {
        if (started[i]) pthread_join(th[i], NULL);
        if (job[i].err && !err) err = job[i].err;
    }
    cg_bdb_sync_drop();
    if (err == ENOSPC || err == EFBIG)
        s = cc_seterr(CC_FULL, "syncing the graph store's files: disk full or file size limit reached (%s)",
                      strerror(err));
    else if (err)
        s = cc_seterr(CC_IO, "syncing the graph store's files: %s", strerror(err));
#endif
    return s;
}

unsigned cg_bdb_sync_pending(void) { return ndeferred; }
