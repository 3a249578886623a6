/* test_kb_lockwait.c — the lock wait of writers (cc_kb_set_lock_wait):
 * with a wait, opening for write while another process holds the writer
 * lock succeeds once it lets go, or fails with CC_BUSY after the wait, its
 * message saying how long it waited; CC_KB_NOWAIT fails at once; the
 * kept writer's cc_kb_relock waits the same way; the message names the
 * holder's pid only while that process lives. */
#include "core.h"
#include "check.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

/* A child that holds dir/cairn.lock for ms milliseconds, as another
 * process's writer does; returns once it holds it (-1 on failure). */
static pid_t hold_lock(const char *dir, int ms)
{
    char path[600];
    int p[2];
    char c;
    pid_t pid;
    snprintf(path, sizeof path, "%s/cairn.lock", dir);
    if (pipe(p) != 0) return -1;
    if ((pid = fork()) == 0) {
        int fd = open(path, O_RDWR), tries = 0;
        if (fd < 0) _exit(1);
        while (flock(fd, LOCK_EX | LOCK_NB) != 0)     /* a test gone wrong: no hang */
            if (++tries > 500) _exit(1); else usleep(10000);
        if (write(p[1], "x", 1) != 1) _exit(1);
        usleep((useconds_t)ms * 1000);
        _exit(0);
    }
    close(p[1]);
    if (pid < 0 || read(p[0], &c, 1) != 1) pid = -1;
    close(p[0]);
    return pid;
}

static int reaped(pid_t pid)
{
    int st;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP") ? getenv("CAIRN_TMP") : "/tmp";
    char dir[512], pidhint[64];
    cc_kb *kb = NULL, *w = NULL;
    pid_t holder;
    double t0, took;

    snprintf(dir, sizeof dir, "%s/test_kb_lockwait_%d", tmp, (int)getpid());
    CHECK(cc_kb_create(dir) == CC_OK);

    /* no wait (the default): CC_BUSY at once */
    holder = hold_lock(dir, 400);
    CHECK(holder > 0);
    t0 = cc_now_ms();
    CHECK(cc_kb_open(dir, CC_KB_WRITE, &kb) == CC_BUSY && !kb);
    CHECK_MSG(cc_now_ms() - t0 < 300, "%.0f ms", cc_now_ms() - t0);
    CHECK_MSG(strstr(cc_errmsg(), "being written by another process") &&
              !strstr(cc_errmsg(), "waited"), "%s", cc_errmsg());

    /* a wait longer than the holder's: opened once it lets go */
    cc_kb_set_lock_wait(10000);
    t0 = cc_now_ms();
    CHECK(cc_kb_open(dir, CC_KB_WRITE, &kb) == CC_OK && kb);
    took = cc_now_ms() - t0;
    CHECK_MSG(took > 150 && took < 5000, "%.0f ms", took);
    CHECK(reaped(holder));

    /* the kept writer's relock waits too */
    CHECK(kb && cc_kb_unlock(kb) == CC_OK);
    holder = hold_lock(dir, 300);
    CHECK(holder > 0);
    t0 = cc_now_ms();
    CHECK(kb && cc_kb_relock(kb) == CC_OK && cc_kb_writable(kb));
    CHECK_MSG(cc_now_ms() - t0 > 100, "%.0f ms", cc_now_ms() - t0);
    CHECK(reaped(holder));

    /* while this process holds it (its pid is in the file), a wait that
     * runs out: CC_BUSY, how long it waited, and the holder's pid */
    cc_kb_set_lock_wait(250);
    t0 = cc_now_ms();
    CHECK(cc_kb_open(dir, CC_KB_WRITE, &w) == CC_BUSY && !w);
    took = cc_now_ms() - t0;
    cc_kb_close(w);
    w = NULL;
    CHECK_MSG(took >= 240 && took < 3000, "%.0f ms", took);
    snprintf(pidhint, sizeof pidhint, "(pid %d)", (int)getpid());
    CHECK_MSG(strstr(cc_errmsg(), "waited 0.2 s") || strstr(cc_errmsg(), "waited 0.3 s"), "%s",
              cc_errmsg());
    CHECK_MSG(strstr(cc_errmsg(), pidhint), "%s", cc_errmsg());

    /* CC_KB_NOWAIT: at once, whatever the wait */
    cc_kb_set_lock_wait(5000);
    t0 = cc_now_ms();
    CHECK(cc_kb_open(dir, CC_KB_WRITE | CC_KB_NOWAIT, &w) == CC_BUSY && !w);
    cc_kb_close(w);
    w = NULL;
    CHECK_MSG(cc_now_ms() - t0 < 1000, "%.0f ms", cc_now_ms() - t0);
    cc_kb_close(kb);
    kb = NULL;

    /* a holder that writes no pid, after a writer that has exited: the
     * stale pid in the file is not named */
    if (fork() == 0) {
        cc_kb *c = NULL;
        _exit(cc_kb_open(dir, CC_KB_WRITE, &c) == CC_OK ? (cc_kb_close(c), 0) : 1);
    }
    CHECK(wait(NULL) > 0);
    holder = hold_lock(dir, 300);
    CHECK(holder > 0);
    cc_kb_set_lock_wait(0);
    CHECK(cc_kb_open(dir, CC_KB_WRITE, &w) == CC_BUSY);
    CHECK_MSG(strstr(cc_errmsg(), "being written by another process;"), "%s", cc_errmsg());
    CHECK(reaped(holder));

    {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
    return check_done("test_kb_lockwait");
}
