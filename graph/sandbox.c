/* sandbox.c — confining the SPARQL query process (sparql.c) with a
 * seccomp filter before Rasqal parses the query.
 *
 * The query child runs Rasqal's parser and librdf's engine on text from
 * outside; both have known memory bugs (tests/fuzz/fuzz_sparql.c found
 * some in the libraries, which cairn cannot fix).  The child has already
 * opened the store when it calls cg_sandbox_enter; from then on the
 * kernel refuses, with EPERM, what it never needs and what an attacker
 * who took it over would use:
 *   - opening, creating, renaming, removing, linking or changing files
 *     (open, openat, creat, unlink, rename, mkdir, chmod, truncate, ...),
 *     and writing through any descriptor but its answer pipe and stderr
 *     (write, writev only on those, but under valgrind; pwrite, sendfile, splice,
 *     copy_file_range, fallocate: never; the store is read-only);
 *   - new processes and programs (fork, vfork, clone, clone3, execve,
 *     ptrace, kill of another process, process_vm_*), io_uring (which
 *     would bypass the filter), bpf, perf_event_open, ioctl, mount,
 *     namespaces, keyrings, set*id;
 *   - the network (socket, connect, bind, listen, accept, and sending or
 *     receiving on a socket: in a server the child inherits its clients'
 *     sockets), except with net set: the PostgreSQL storage talks to its
 *     server over the connection it opened before.
 * Everything else (reading, memory, time, futexes, signals to itself,
 * exit) goes on: a denylist, so that a query path cairn did not trace
 * still works; the filter also refuses the x32 system-call numbers and
 * any other architecture's.  PR_SET_NO_NEW_PRIVS is set first, as the
 * kernel requires of an unprivileged process; both hold until the
 * process exits and are inherited by nothing (it can make no children).
 *
 * Descriptors: the child first closes every descriptor it inherited but
 * its pipe and 0-2 (cg_sandbox_close_inherited): a server's client
 * sockets and open catalog files are not there to be read or written.
 *
 * Memory: a join can grow without end within the time limit.  The parent
 * watches the child's resident memory (cg_sandbox_resident_bytes) and
 * kills it past a bound, rather than the child getting allocation
 * failures (with an address-space limit, Rasqal took a failed allocation
 * for the end of its rows and answered wrongly); and the child makes
 * itself the kernel's first choice when memory runs out
 * (cg_sandbox_oom_first), so that a query cannot take a server down. */
#define _GNU_SOURCE
#include "graph_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#ifdef __x86_64__
#define SB_ARCH AUDIT_ARCH_X86_64
#else
#define SB_ARCH AUDIT_ARCH_AARCH64
#endif
#define X32_BIT 0x40000000u

/* Refused always.  A name this architecture lacks is left out (aarch64
 * has only the *at forms). */
static const int denied[] = {
#ifdef __NR_open
    __NR_open,
#endif
#ifdef __NR_creat
    __NR_creat,
#endif
    __NR_openat,
#ifdef __NR_openat2
    __NR_openat2,
#endif
    __NR_open_by_handle_at, __NR_name_to_handle_at,
#ifdef __NR_unlink
    __NR_unlink,
#endif
    __NR_unlinkat,
#ifdef __NR_rename
    __NR_rename,
#endif
    __NR_renameat,
#ifdef __NR_renameat2
    __NR_renameat2,
#endif
#ifdef __NR_mkdir
    __NR_mkdir,
#endif
    __NR_mkdirat,
#ifdef __NR_rmdir
    __NR_rmdir,
#endif
#ifdef __NR_link
    __NR_link,
#endif
    __NR_linkat,
#ifdef __NR_symlink
    __NR_symlink,
#endif
    __NR_symlinkat,
#ifdef __NR_mknod
    __NR_mknod,
#endif
    __NR_mknodat,
#ifdef __NR_chmod
    __NR_chmod,
#endif
    __NR_fchmod, __NR_fchmodat,
#ifdef __NR_chown
    __NR_chown,
#endif
#ifdef __NR_lchown
    __NR_lchown,
#endif
    __NR_fchown, __NR_fchownat, __NR_truncate, __NR_ftruncate, __NR_fallocate,
    __NR_pwrite64, __NR_pwritev,
#ifdef __NR_pwritev2
    __NR_pwritev2,
#endif
#ifdef __NR_sendfile
    __NR_sendfile,
#endif
    __NR_splice, __NR_tee, __NR_vmsplice, __NR_copy_file_range,
    __NR_execve, __NR_execveat,
#ifdef __NR_fork
    __NR_fork,
#endif
#ifdef __NR_vfork
    __NR_vfork,
#endif
    __NR_clone,
#ifdef __NR_clone3
    __NR_clone3,
#endif
    __NR_ptrace, __NR_kill, __NR_process_vm_readv, __NR_process_vm_writev,
#ifdef __NR_pidfd_open
    __NR_pidfd_open,
#endif
#ifdef __NR_pidfd_getfd
    __NR_pidfd_getfd,
#endif
#ifdef __NR_io_uring_setup
    __NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register,
#endif
    __NR_bpf, __NR_perf_event_open, __NR_ioctl, __NR_mount, __NR_umount2, __NR_chroot,
    __NR_pivot_root, __NR_setns, __NR_unshare, __NR_keyctl, __NR_add_key, __NR_request_key,
    __NR_setuid, __NR_setgid, __NR_setreuid, __NR_setregid, __NR_setresuid, __NR_setresgid,
    __NR_memfd_create, __NR_userfaultfd,
#ifdef __NR_memfd_secret
    __NR_memfd_secret,
#endif
};

/* Refused unless net: the PostgreSQL storage's connection. */
static const int denied_net[] = {
    __NR_socket, __NR_socketpair, __NR_connect, __NR_bind, __NR_listen, __NR_accept, __NR_accept4,
    __NR_sendto, __NR_sendmsg, __NR_sendmmsg, __NR_recvfrom, __NR_recvmsg, __NR_recvmmsg,
};

#define NDENIED     (sizeof denied / sizeof denied[0])
#define NDENIED_NET (sizeof denied_net / sizeof denied_net[0])
#define MAXPROG     (2 * (NDENIED + NDENIED_NET) + 16)

#define LD_ABS(off)       (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, t, f)      (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define JGE(k, t, f)      (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (k), (t), (f))
#define RET(k)            (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (k))
#define ALLOW             RET(SECCOMP_RET_ALLOW)
#define EPERM_            RET(SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))

/* Valgrind runs the process: its preloaded core is named in LD_PRELOAD. */
static int valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");
    return pre && strstr(pre, "vgpreload") != NULL;
}

int cg_sandbox_enter(int out_fd, int net)
{
    struct sock_filter p[MAXPROG];
    struct sock_fprog prog;
    size_t n = 0, i;
    if (out_fd < 0) return EINVAL;
    p[n++] = LD_ABS(offsetof(struct seccomp_data, arch));
    p[n++] = JEQ(SB_ARCH, 1, 0);
    p[n++] = EPERM_;
    p[n++] = LD_ABS(offsetof(struct seccomp_data, nr));
    p[n++] = JGE(X32_BIT, 0, 1);
    p[n++] = EPERM_;
    for (i = 0; i < NDENIED; i++) {
        p[n++] = JEQ((unsigned)denied[i], 0, 1);
        p[n++] = EPERM_;
    }
    for (i = 0; !net && i < NDENIED_NET; i++) {
        p[n++] = JEQ((unsigned)denied_net[i], 0, 1);
        p[n++] = EPERM_;
    }
    /* write and writev: the answer pipe and stderr only (the low 32 bits
     * of the first argument: a descriptor is an int).  Not under valgrind,
     * whose scheduler writes to a pipe of its own in the process. */
    if (valgrind()) goto end;
    p[n++] = JEQ(__NR_write, 1, 0);
    p[n++] = JEQ(__NR_writev, 0, 5);
    p[n++] = LD_ABS(offsetof(struct seccomp_data, args[0]));
    p[n++] = JEQ((unsigned)out_fd, 2, 0);
    p[n++] = JEQ(2, 1, 0);
    p[n++] = EPERM_;
    p[n++] = ALLOW;
end:
    p[n++] = ALLOW;
    if (n > MAXPROG) return E2BIG;              /* cannot happen: sized above */
    prog.len = (unsigned short)n;
    prog.filter = p;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return errno;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0)) return errno;
    return 0;
}

#else

int cg_sandbox_enter(int out_fd, int net)
{
    (void)out_fd;
    (void)net;
    return ENOSYS;
}

#endif

/* ---------------------------------------------------------------- memory */

void cg_sandbox_oom_first(void)
{
    FILE *f = fopen("/proc/self/oom_score_adj", "w");
    if (f) {
        fputs("1000", f);
        fclose(f);
    }
}

int64_t cg_sandbox_resident_bytes(pid_t pid)
{
    char path[64];
    unsigned long size = 0, resident = 0;
    long psz = sysconf(_SC_PAGESIZE);
    FILE *f;
    snprintf(path, sizeof path, "/proc/%ld/statm", (long)pid);
    if (!(f = fopen(path, "r"))) return -1;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0, psz = -1;
    fclose(f);
    return psz > 0 ? (int64_t)resident * psz : -1;
}

/* ---------------------------------------------------------------- descriptors */

void cg_sandbox_close_inherited(int keep)
{
    long max = sysconf(_SC_OPEN_MAX);
    int fd;
    if (keep > 3 && close_range(3, (unsigned)keep - 1, 0) == 0 &&
        close_range((unsigned)keep + 1, ~0u, 0) == 0)
        return;
    if (keep == 3 && close_range(4, ~0u, 0) == 0) return;
    /* no close_range (a kernel before 5.9): one by one */
    if (max < 0 || max > 65536) max = 65536;
    for (fd = 3; fd < max; fd++)
        if (fd != keep) (void)close(fd);
}
