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
 * no <db.h> (libdb5.3-dev), the two functions below do nothing. */
#define _GNU_SOURCE          /* RTLD_NEXT */
#include "graph_int.h"

#ifdef CAIRN_HAVE_DB_H
#include <db.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
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
