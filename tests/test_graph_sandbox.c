/* test_graph_sandbox.c — the SPARQL query child's seccomp filter
 * (graph/sandbox.c).  A forked child opens what a query child holds
 * (a file open for writing, a socket: in a server, inherited), enters
 * the sandbox, then tries what a taken-over query engine would: open,
 * create, remove and rename files, write through the file and the
 * socket, make a socket, fork, exec, signal its parent; each must fail
 * with EPERM and change nothing (checked from outside).  What a query
 * needs still works: reading an open descriptor, memory, the answer
 * pipe, stderr.  With net the socket calls work (the PostgreSQL
 * storage's connection).  Results come back through the pipe.  The
 * memory watch's reading (cg_sandbox_resident_bytes) grows with touched
 * memory, cg_sandbox_oom_first sets oom_score_adj 1000, and
 * cg_sandbox_close_inherited leaves only the pipe and 0-2 open. */
#define _GNU_SOURCE
#include "graph_int.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum {
    R_ENTER, R_OPEN, R_CREATE, R_WRITE_FILE, R_PWRITE_FILE, R_UNLINK, R_RENAME, R_FORK, R_EXEC,
    R_SOCKET, R_SEND, R_WRITE_SOCK, R_KILL, R_X32, R_READ, R_MEMORY, R_STDERR, NR
};
static const char *const what[NR] = {
    "enter", "open", "create", "write to an open file", "pwrite to an open file", "unlink",
    "rename", "fork", "execve", "socket", "send on an open socket", "write to an open socket",
    "kill the parent", "an x32 system call", "read an open file", "64 MB of memory", "write to stderr"
};

/* 0 when the call succeeded, else its errno */
static int err_of(long rc) { return rc < 0 ? errno : 0; }

static void child(const char *dir, int out, int net)
{
    char path[1100], made[1100], moved[1100], buf[8];
    int r[NR], fd, sv[2], i;
    snprintf(path, sizeof path, "%s/existing", dir);
    snprintf(made, sizeof made, "%s/made", dir);
    snprintf(moved, sizeof moved, "%s/moved", dir);
    fd = open(path, O_RDWR);
    if (fd < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) _exit(3);
    for (i = 0; i < NR; i++) r[i] = -1;
    r[R_ENTER] = cg_sandbox_enter(out, net);
    r[R_OPEN] = err_of(open(path, O_RDONLY));
    r[R_CREATE] = err_of(open(made, O_CREAT | O_WRONLY, 0600));
    r[R_WRITE_FILE] = err_of(write(fd, "x", 1));
    r[R_PWRITE_FILE] = err_of(pwrite(fd, "x", 1, 0));
    r[R_UNLINK] = err_of(unlink(path));
    r[R_RENAME] = err_of(rename(path, moved));
    {
        pid_t p = fork();
        if (p == 0) _exit(0);                     /* a broken filter: the grandchild leaves */
        if (p > 0) waitpid(p, NULL, 0);
        r[R_FORK] = err_of(p);
    }
    {
        char *argv[] = {"true", NULL}, *envp[] = {NULL};
        r[R_EXEC] = err_of(execve("/bin/true", argv, envp));
    }
    r[R_SOCKET] = err_of(socket(AF_INET, SOCK_STREAM, 0));
    r[R_SEND] = err_of(send(sv[0], "x", 1, 0));
    r[R_WRITE_SOCK] = err_of(write(sv[0], "x", 1));
    r[R_KILL] = err_of(kill(getppid(), 0));
#ifdef __x86_64__
    r[R_X32] = err_of(syscall(__NR_getpid | 0x40000000));
#else
    r[R_X32] = EPERM;
#endif
    r[R_READ] = err_of(pread(fd, buf, 4, 0));
    {
        size_t n = (size_t)64 << 20;
        char *m = malloc(n);
        if (m) memset(m, 1, n);
        r[R_MEMORY] = m && m[n - 1] == 1 ? 0 : ENOMEM;
        free(m);
    }
    r[R_STDERR] = err_of(write(2, "", 0));
    if (write(out, r, sizeof r) != (ssize_t)sizeof r) _exit(4);
    _exit(0);
}

/* Runs the child; its results into r. 0 when they came. */
static int run(const char *dir, int net, int r[NR])
{
    int p[2], status = 0;
    ssize_t n;
    pid_t pid;
    if (pipe(p)) return -1;
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        child(dir, p[1], net);
    }
    close(p[1]);
    n = read(p[0], r, sizeof(int) * NR);
    close(p[0]);
    if (pid > 0) waitpid(pid, &status, 0);
    CHECK_MSG(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    return n == (ssize_t)(sizeof(int) * NR) ? 0 : -1;
}

int main(void)
{
    const char *tmp = getenv("CAIRN_TMP");
    char dir[1024], path[1100], cmd[1200];
    struct stat sb;
    int r[NR], i;
    FILE *f;
    snprintf(dir, sizeof dir, "%s/sandbox-%ld", tmp ? tmp : "/tmp", (long)getpid());
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/existing", dir);
    f = fopen(path, "w");
    CHECK(f && fputs("keep", f) >= 0 && fclose(f) == 0);

#if !(defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__)))
    CHECK(cg_sandbox_enter(1, 0) == ENOSYS);
    printf("graph_sandbox: no seccomp filter on this system: skipped\n");
    return 77;
#endif
    CHECK(cg_sandbox_enter(-1, 0) == EINVAL);     /* no pipe: refused, nothing set */

    if (run(dir, 0, r) == 0) {
        CHECK_MSG(r[R_ENTER] == 0, "cg_sandbox_enter: %s", strerror(r[R_ENTER]));
        for (i = R_OPEN; i <= R_X32; i++)
            CHECK_MSG(r[i] == EPERM, "%s: %s (want EPERM)", what[i], r[i] ? strerror(r[i]) : "allowed");
        for (i = R_READ; i < NR; i++)
            CHECK_MSG(r[i] == 0, "%s: %s (want allowed)", what[i], strerror(r[i]));
    } else CHECK_MSG(0, "no results from the sandboxed child");
    /* nothing changed on disk */
    CHECK(stat(path, &sb) == 0 && sb.st_size == 4);
    snprintf(cmd, sizeof cmd, "%s/made", dir);
    CHECK_MSG(stat(cmd, &sb) != 0, "a file was created");
    snprintf(cmd, sizeof cmd, "%s/moved", dir);
    CHECK_MSG(stat(cmd, &sb) != 0, "a file was renamed");

    /* net: the socket calls go on; the rest is still refused */
    if (run(dir, 1, r) == 0) {
        CHECK(r[R_ENTER] == 0);
        CHECK_MSG(r[R_SOCKET] == 0 && r[R_SEND] == 0, "net: socket %s, send %s",
                  strerror(r[R_SOCKET]), strerror(r[R_SEND]));
        CHECK(r[R_OPEN] == EPERM && r[R_WRITE_SOCK] == EPERM && r[R_FORK] == EPERM);
    } else CHECK_MSG(0, "no results from the sandboxed child (net)");

    /* descriptors: the child closes what it inherited but its pipe */
    {
        int sv[2] = {-1, -1}, p2[2] = {-1, -1}, fd = open(path, O_RDONLY), status = 0;
        pid_t p;
        CHECK(fd >= 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && pipe(p2) == 0);
        p = fork();
        if (p == 0) {
            int gone = 0;
            cg_sandbox_close_inherited(p2[1]);
            gone += fcntl(fd, F_GETFD) < 0 && errno == EBADF;
            gone += fcntl(sv[0], F_GETFD) < 0 && errno == EBADF;
            gone += fcntl(sv[1], F_GETFD) < 0 && errno == EBADF;
            gone += fcntl(p2[0], F_GETFD) < 0 && errno == EBADF;
            _exit(gone == 4 && fcntl(p2[1], F_GETFD) >= 0 && fcntl(2, F_GETFD) >= 0 ? 0 : 1);
        }
        if (p > 0) waitpid(p, &status, 0);
        CHECK_MSG(p > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "inherited descriptors left open, or the pipe or stderr closed");
        close(fd);
        close(sv[0]);
        close(sv[1]);
        close(p2[0]);
        close(p2[1]);
    }

    /* memory: resident bytes grow with what a process touches; the child
     * made the kernel's first choice keeps oom_score_adj 1000 */
    {
        int64_t before = cg_sandbox_resident_bytes(getpid()), after;
        size_t n = (size_t)64 << 20;
        char *m = malloc(n);
        int status = 0;
        pid_t p;
        if (m) memset(m, 1, n);
        after = cg_sandbox_resident_bytes(getpid());
        CHECK_MSG(m && before > 0 && after - before >= (int64_t)60 << 20,
                  "resident %lld then %lld bytes", (long long)before, (long long)after);
        free(m);
        CHECK(cg_sandbox_resident_bytes((pid_t)0x7ffffff0) == -1);
        p = fork();
        if (p == 0) {
            char v[16] = "";
            FILE *o;
            cg_sandbox_oom_first();
            o = fopen("/proc/self/oom_score_adj", "r");
            _exit(o && fgets(v, sizeof v, o) && atoi(v) == 1000 ? 0 : 1);
        }
        if (p > 0) waitpid(p, &status, 0);
        CHECK_MSG(p > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "oom_score_adj not 1000");
    }

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return check_done("graph_sandbox");
}
