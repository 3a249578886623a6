/* vfs.c — "cairn-map", the SQLite VFS of cairn's read-only handles: the
 * unix VFS, except that a connection's memory map of cairn.db is kept
 * from one read transaction to the next.
 *
 * Why: readers map the catalog (PRAGMA mmap_size, kb.c) instead of
 * copying each page through their page cache. In WAL mode SQLite drops a
 * connection's map whenever another connection has committed since its
 * last read transaction (pagerBeginReadTransaction: pager_reset, then
 * xUnfetch(0) = munmap of the whole map), and the next transaction maps
 * the file again and takes a page fault for every page it touches. With
 * the API's writer committing a document 15 times a second, every search
 * slot did that 15 times a second: the kernel's share of the server's CPU
 * went from 12% to 24% (page faults, munmap and its TLB shootdowns,
 * docs/benchmarks.md "Readers keep their map of the catalog").
 *
 * The map is MAP_SHARED, so it shows what the file holds at every moment,
 * as a new map would: content never needs a new map, only a new size
 * does. So on xUnfetch(0) (every page released) the map is kept while
 * the file's size is the one it was made for, and dropped (made again at
 * the next fetch) when the size changed or after xTruncate. The file is
 * mapped through a read-only descriptor of this file's own (the unix
 * VFS's descriptor is private to it), one per file (device and inode) for
 * the life of the process and never closed: closing any descriptor of a
 * file drops every POSIX lock the process holds on it, the other
 * connections' included (the unix VFS defers its own closes for the same
 * reason); a server maps one catalog, a test process a handful. Everything
 * else is the unix VFS's.
 * Pages past the map (the file grew meanwhile) are not fetched (*pp =
 * NULL): SQLite reads those with xRead. */
#include "core.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* the descriptors (see above): a few per process, never closed */
static struct { dev_t dev; ino_t ino; int fd; } fds[64];
static int n_fds;
static pthread_mutex_t fds_mu = PTHREAD_MUTEX_INITIALIZER;

/* A read-only descriptor of the file at name, shared by every connection
 * to it; -1 if none can be had (the connection then reads, unmapped). */
static int shared_fd(const char *name)
{
    struct stat a, b;
    int i, fd = -1;
    if (stat(name, &a)) return -1;
    pthread_mutex_lock(&fds_mu);
    for (i = 0; i < n_fds; i++)
        if (fds[i].dev == a.st_dev && fds[i].ino == a.st_ino) { fd = fds[i].fd; break; }
    if (fd < 0 && n_fds < (int)(sizeof fds / sizeof *fds) &&
        (fd = open(name, O_RDONLY | O_CLOEXEC)) >= 0) {
        if (fstat(fd, &b) || b.st_dev != a.st_dev || b.st_ino != a.st_ino) {
            fd = -1;   /* replaced meanwhile: keep it open (see above), do not use it */
        } else {
            fds[n_fds].dev = b.st_dev;
            fds[n_fds].ino = b.st_ino;
            fds[n_fds++].fd = fd;
        }
    }
    pthread_mutex_unlock(&fds_mu);
    return fd;
}

typedef struct {
    sqlite3_file   base;       /* pMethods: map_io */
    sqlite3_file  *real;       /* the unix VFS's file, right after this struct */
    int            fd;         /* shared_fd, the main database only; else -1 */
    void          *map;        /* NULL: none */
    sqlite3_int64  map_len;    /* bytes mapped */
    sqlite3_int64  file_len;   /* the file's size when mapped */
    sqlite3_int64  max;        /* SQLITE_FCNTL_MMAP_SIZE */
    int            nout;       /* fetched pages not released yet */
    int            stale;      /* truncated: drop the map once nothing is out */
} map_file;

static sqlite3_vfs *unix_vfs;
static sqlite3_vfs map_vfs;
static int map_ok;

#define REAL(f) (((map_file *)(f))->real)

static void drop_map(map_file *m)
{
    if (m->map) munmap(m->map, (size_t)m->map_len);
    m->map = NULL;
    m->map_len = m->file_len = 0;
    m->stale = 0;
}

static int m_close(sqlite3_file *f)
{
    map_file *m = (map_file *)f;
    int rc = m->real->pMethods ? m->real->pMethods->xClose(m->real) : SQLITE_OK;
    drop_map(m);
    m->fd = -1;          /* shared, never closed */
    return rc;
}

static int m_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

static int m_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}

static int m_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    map_file *m = (map_file *)f;
    m->stale = 1;
    if (!m->nout) drop_map(m);
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int m_sync(sqlite3_file *f, int flags) { return REAL(f)->pMethods->xSync(REAL(f), flags); }

static int m_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int m_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int m_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }

static int m_check_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int m_fcntl(sqlite3_file *f, int op, void *arg)
{
    map_file *m = (map_file *)f;
    if (op == SQLITE_FCNTL_MMAP_SIZE && m->fd >= 0) {   /* the map is ours, not the unix file's */
        sqlite3_int64 want = *(sqlite3_int64 *)arg;
        *(sqlite3_int64 *)arg = m->max;
        if (want >= 0) {
            m->max = want;
            if (!m->nout && (!want || m->map_len > want)) drop_map(m);
        }
        return SQLITE_OK;
    }
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int m_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }

static int m_device(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int m_shm_map(sqlite3_file *f, int i, int sz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), i, sz, extend, pp);
}

static int m_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void m_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }

static int m_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

/* *pp = the n bytes at off in the map (made first if there is none), or
 * NULL when they lie past it or no map can be made: SQLite then reads. */
static int m_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    map_file *m = (map_file *)f;
    *pp = NULL;
    if (m->fd < 0 || m->max <= 0 || m->stale) return SQLITE_OK;
    if (!m->map) {
        struct stat st;
        sqlite3_int64 len;
        void *p;
        if (fstat(m->fd, &st) || st.st_size <= 0) return SQLITE_OK;
        len = st.st_size < m->max ? st.st_size : m->max;
        p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, m->fd, 0);
        if (p == MAP_FAILED) return SQLITE_OK;
        m->map = p;
        m->map_len = len;
        m->file_len = st.st_size;
    }
    if (off >= 0 && n >= 0 && off + n <= m->map_len) {
        *pp = (char *)m->map + off;
        m->nout++;
    }
    return SQLITE_OK;
}

/* p: one fetched page released. p NULL: every page released, and the
 * caller would have the map dropped; it is kept while the file's size is
 * the one it was made for. */
static int m_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    map_file *m = (map_file *)f;
    struct stat st;
    (void)off;
    if (p) {
        if (m->nout > 0) m->nout--;
        if (!m->nout && m->stale) drop_map(m);
        return SQLITE_OK;
    }
    m->nout = 0;
    if (m->map && (m->stale || fstat(m->fd, &st) || st.st_size != m->file_len)) drop_map(m);
    return SQLITE_OK;
}

static const sqlite3_io_methods map_io = {
    3, m_close, m_read, m_write, m_truncate, m_sync, m_size, m_lock, m_unlock,
    m_check_reserved, m_fcntl, m_sector, m_device, m_shm_map, m_shm_lock, m_shm_barrier,
    m_shm_unmap, m_fetch, m_unfetch,
};

static int m_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    map_file *m = (map_file *)f;
    int rc;
    (void)vfs;
    memset(m, 0, sizeof *m);
    m->fd = -1;
    m->real = (sqlite3_file *)&m[1];
    rc = unix_vfs->xOpen(unix_vfs, name, m->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        if (m->real->pMethods) m->real->pMethods->xClose(m->real);
        m->base.pMethods = NULL;
        return rc;
    }
    if ((flags & SQLITE_OPEN_MAIN_DB) && name && m->real->pMethods->iVersion >= 3)
        m->fd = shared_fd(name);
    m->base.pMethods = &map_io;
    return SQLITE_OK;
}

static void register_vfs(void)
{
    unix_vfs = sqlite3_vfs_find("unix");
    if (!unix_vfs || unix_vfs->iVersion < 1) return;
    map_vfs = *unix_vfs;            /* every other method is the unix VFS's */
    map_vfs.szOsFile = (int)sizeof(map_file) + unix_vfs->szOsFile;
    map_vfs.zName = "cairn-map";
    map_vfs.pNext = NULL;
    map_vfs.xOpen = m_open;
    map_ok = sqlite3_vfs_register(&map_vfs, 0) == SQLITE_OK;
}

const char *cc_sqlite_map_vfs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_vfs);
    return map_ok ? "cairn-map" : NULL;
}
