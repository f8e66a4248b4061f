"""Kernel flag values as IntFlags, each with the header it comes from."""

from __future__ import annotations

import enum


class CloneFlag(enum.IntFlag):
    """Namespace flags for clone(2)/unshare(2)/setns(2) (include/uapi/linux/sched.h)."""

    CLONE_NEWNS = 0x00020000
    CLONE_NEWCGROUP = 0x02000000
    CLONE_NEWUTS = 0x04000000
    CLONE_NEWIPC = 0x08000000
    CLONE_NEWUSER = 0x10000000
    CLONE_NEWPID = 0x20000000
    CLONE_NEWNET = 0x40000000


class MountFlag(enum.IntFlag):
    """mount(2) flags (include/uapi/linux/mount.h)."""

    MS_RDONLY = 1
    MS_NOSUID = 2
    MS_NODEV = 4
    MS_NOEXEC = 8
    MS_SYNCHRONOUS = 16
    MS_REMOUNT = 32
    MS_MANDLOCK = 64
    MS_DIRSYNC = 128
    MS_NOSYMFOLLOW = 256
    MS_NOATIME = 1024
    MS_NODIRATIME = 2048
    MS_BIND = 4096
    MS_MOVE = 8192
    MS_REC = 16384
    MS_SILENT = 32768
    MS_UNBINDABLE = 1 << 17
    MS_PRIVATE = 1 << 18
    MS_SLAVE = 1 << 19
    MS_SHARED = 1 << 20
    MS_RELATIME = 1 << 21
    MS_STRICTATIME = 1 << 24
    MS_LAZYTIME = 1 << 25


class UmountFlag(enum.IntFlag):
    """umount2(2) flags (include/linux/fs.h)."""

    MNT_FORCE = 1
    MNT_DETACH = 2
    MNT_EXPIRE = 4
    UMOUNT_NOFOLLOW = 8


class Prctl(enum.IntEnum):
    """prctl(2) options (include/uapi/linux/prctl.h)."""

    PR_SET_PDEATHSIG = 1
    PR_SET_KEEPCAPS = 8
    PR_SET_NAME = 15
    PR_GET_SECCOMP = 21
    PR_SET_SECCOMP = 22
    PR_CAPBSET_READ = 23
    PR_CAPBSET_DROP = 24
    PR_SET_CHILD_SUBREAPER = 36
    PR_SET_NO_NEW_PRIVS = 38
    PR_GET_NO_NEW_PRIVS = 39
    PR_CAP_AMBIENT = 47


class CapAmbient(enum.IntEnum):
    """PR_CAP_AMBIENT sub-operations (include/uapi/linux/prctl.h)."""

    PR_CAP_AMBIENT_IS_SET = 1
    PR_CAP_AMBIENT_RAISE = 2
    PR_CAP_AMBIENT_LOWER = 3
    PR_CAP_AMBIENT_CLEAR_ALL = 4


# Syscall numbers not exposed by libc wrappers (arch/*/entry/syscalls, include/uapi/asm-generic/unistd.h).
SYS_CLONE = {"x86_64": 56, "aarch64": 220}
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
SYS_CAPGET = {"x86_64": 125, "aarch64": 90}
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
SYS_PRCTL = {"x86_64": 157, "aarch64": 167}
# the new mount API (same numbers on every architecture since 5.2/5.12)
SYS_OPEN_TREE = {"x86_64": 428, "aarch64": 428}
SYS_MOVE_MOUNT = {"x86_64": 429, "aarch64": 429}
SYS_MOUNT_SETATTR = {"x86_64": 442, "aarch64": 442}
SYS_SETFSUID = {"x86_64": 122, "aarch64": 151}
SYS_SETFSGID = {"x86_64": 123, "aarch64": 152}

# open_tree(2), move_mount(2), mount_setattr(2) (include/uapi/linux/mount.h)
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = 0o2000000
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_IDMAP = 0x00100000
# ioctl on an nsfs fd: the user namespace that owns it (include/uapi/linux/nsfs.h, _IO(0xb7, 0x1))
NS_GET_USERNS = 0xB701

# capget/capset header version (include/uapi/linux/capability.h): two 32-bit words per set.
LINUX_CAPABILITY_VERSION_3 = 0x20080522
# seccomp(2) operations and flags (include/uapi/linux/seccomp.h)
SECCOMP_MODE_FILTER = 2
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4
