"""The worker's seccomp filter: an allow-list, EPERM for the rest, death for the hostile few.

The allow-list is what a pre-imported interpreter needs to run restricted code, allocate
memory, read the clock and randomness, talk over its one socket and exit (found by tracing the
test suite's workers). Calls that only an escaped attacker would make (exec, fork, sockets,
ptrace, namespaces, mounts, module loading) kill the process with SIGSYS, which the supervisor
reports as a policy violation. Anything else unlisted fails with EPERM, which Python surfaces as
an ordinary OSError inside the run.
"""

from __future__ import annotations

import errno

import pyseccomp

# No sendmsg/recvmsg: the worker never passes descriptors.
ALLOWED = (
    "read", "write", "readv", "writev", "pread64", "close", "lseek", "fstat", "newfstatat",
    "mmap", "munmap", "mremap", "mprotect", "brk", "madvise",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
    "futex", "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid",
    "clock_gettime", "clock_getres", "gettimeofday", "time", "clock_nanosleep", "nanosleep",
    "getrandom", "getrusage", "getrlimit", "sched_yield", "sched_getaffinity",
    "recvfrom", "sendto", "poll", "ppoll", "select", "pselect6",
    "exit", "exit_group", "restart_syscall", "fcntl", "ioctl", "getcwd",
)

KILLED = (
    "execve", "execveat", "fork", "vfork", "clone", "clone3", "ptrace",
    "process_vm_readv", "process_vm_writev", "socket", "socketpair", "connect", "bind",
    "listen", "accept", "accept4", "unshare", "setns", "mount", "umount2", "pivot_root",
    "chroot", "init_module", "finit_module", "delete_module", "kexec_load", "bpf",
    "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
)


def build() -> pyseccomp.SyscallFilter:
    policy = pyseccomp.SyscallFilter(pyseccomp.ERRNO(errno.EPERM))
    for name in ALLOWED:
        policy.add_rule(pyseccomp.ALLOW, name)
    # glibc's getrlimit is prlimit64(0, ...): allow it for this process only, never another's.
    policy.add_rule(pyseccomp.ALLOW, "prlimit64", pyseccomp.Arg(0, pyseccomp.EQ, 0))
    for name in KILLED:
        policy.add_rule(pyseccomp.KILL_PROCESS, name)
    return policy


def install() -> None:
    """Load the filter into this process (irreversible; sets no_new_privs)."""
    build().load()
