"""Docker's default seccomp profile, as data (moby ``profiles/seccomp/default.json``).

Deny with EPERM by default; allow the ordinary syscalls of a process; allow the rest only when the
container holds the capability that would make them safe, or with arguments that are harmless
(``personality`` to the usual domains, ``clone`` without namespace flags, ``socket`` but AF_VSOCK).
``default_profile()`` returns it in Docker's JSON profile format (``archMap``, ``includes``,
``excludes``), so it goes through the same resolver as a user's ``--security-opt seccomp=FILE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Allowed for everyone, on every architecture where they exist.
ALLOWED = """
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32 clock_adjtime
clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1
epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2
fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat
fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait
futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid
getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom
getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt
get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1
inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get
ioprio_set io_setup io_submit io_uring_enter io_uring_register io_uring_setup ipc kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listxattr llistxattr
_llseek lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret
mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open
mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv
msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2
pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl
pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read
readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr
rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity
sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile
sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32
setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr
shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair
splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate
truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4
waitid waitpid write writev
""".split()

# What CAP_SYS_ADMIN makes safe: mounts, namespaces, host-wide names, kernel tracing.
SYS_ADMIN_CALLS = """
bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr move_mount
open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare
""".split()

# CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: without CAP_SYS_ADMIN, clone must not set any.
CLONE_NAMESPACE_FLAGS = 0x7E020000
# personality(2) domains a process may switch to: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, query.
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
AF_VSOCK = 40
ENOSYS = 38


@dataclass(frozen=True, slots=True)
class Rule:
    """One conditional entry: ``caps``/``arches``/``min_kernel`` must hold, ``not_*`` must not."""

    names: tuple[str, ...]
    args: tuple[tuple[int, int, str], ...] = ()  # (index, value, op)
    caps: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    min_kernel: str = ""
    not_caps: tuple[str, ...] = ()
    not_arches: tuple[str, ...] = ()
    action: str = "SCMP_ACT_ALLOW"
    errno: int | None = None


def _cap(cap: str, *names: str) -> Rule:
    return Rule(names, caps=(cap,))


RULES = (
    Rule(("process_vm_readv", "process_vm_writev", "ptrace"), min_kernel="4.8"),
    Rule(("socket",), args=((0, AF_VSOCK, "SCMP_CMP_NE"),)),
    *(Rule(("personality",), args=((0, p, "SCMP_CMP_EQ"),)) for p in PERSONALITIES),
    Rule(("sync_file_range2", "swapcontext"), arches=("ppc64le",)),
    Rule(("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"),
         arches=("arm", "arm64")),
    Rule(("arch_prctl",), arches=("amd64", "x32")),
    Rule(("modify_ldt",), arches=("amd64", "x32", "x86")),
    Rule(("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"), arches=("s390", "s390x")),
    Rule(("riscv_flush_icache",), arches=("riscv64",)),
    _cap("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
    Rule(tuple(SYS_ADMIN_CALLS), caps=("CAP_SYS_ADMIN",)),
    Rule(("clone",), args=((0, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ"),), not_caps=("CAP_SYS_ADMIN",),
         not_arches=("s390", "s390x")),
    Rule(("clone",), args=((1, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ"),), arches=("s390", "s390x"),
         not_caps=("CAP_SYS_ADMIN",)),
    # glibc falls back from clone3 to clone on ENOSYS, where the flags can be checked.
    Rule(("clone3",), not_caps=("CAP_SYS_ADMIN",), action="SCMP_ACT_ERRNO", errno=ENOSYS),
    _cap("CAP_SYS_BOOT", "reboot"),
    _cap("CAP_SYS_CHROOT", "chroot"),
    _cap("CAP_SYS_MODULE", "delete_module", "init_module", "finit_module"),
    _cap("CAP_SYS_PACCT", "acct"),
    _cap("CAP_SYS_PTRACE", "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
         "ptrace"),
    _cap("CAP_SYS_RAWIO", "iopl", "ioperm"),
    _cap("CAP_SYS_TIME", "settimeofday", "stime", "clock_settime", "clock_settime64"),
    _cap("CAP_SYS_TTY_CONFIG", "vhangup"),
    _cap("CAP_SYS_NICE", "get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"),
    _cap("CAP_SYSLOG", "syslog"),
    _cap("CAP_BPF", "bpf"),
    _cap("CAP_PERFMON", "perf_event_open"),
)

ARCH_MAP = (
    ("SCMP_ARCH_X86_64", ("SCMP_ARCH_X86", "SCMP_ARCH_X32")),
    ("SCMP_ARCH_AARCH64", ("SCMP_ARCH_ARM",)),
    ("SCMP_ARCH_MIPS64", ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32")),
    ("SCMP_ARCH_MIPS64N32", ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64")),
    ("SCMP_ARCH_MIPSEL64", ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32")),
    ("SCMP_ARCH_MIPSEL64N32", ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64")),
    ("SCMP_ARCH_S390X", ("SCMP_ARCH_S390",)),
    ("SCMP_ARCH_RISCV64", ()),
)


def _entry(rule: Rule) -> dict[str, Any]:
    e: dict[str, Any] = {"names": list(rule.names), "action": rule.action}
    if rule.errno is not None:
        e["errnoRet"] = rule.errno
    if rule.args:
        e["args"] = [{"index": i, "value": v, "op": op} for i, v, op in rule.args]
    inc = {k: list(v) if isinstance(v, tuple) else v
           for k, v in (("caps", rule.caps), ("arches", rule.arches), ("minKernel", rule.min_kernel)) if v}
    exc = {k: list(v) for k, v in (("caps", rule.not_caps), ("arches", rule.not_arches)) if v}
    if inc:
        e["includes"] = inc
    if exc:
        e["excludes"] = exc
    return e


def default_profile() -> dict[str, Any]:
    """Docker's default profile in Docker's JSON profile format (a fresh dict each call)."""
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [{"architecture": a, "subArchitectures": list(s)} for a, s in ARCH_MAP],
        "syscalls": [{"names": list(ALLOWED), "action": "SCMP_ACT_ALLOW"}, *(_entry(r) for r in RULES)],
    }
