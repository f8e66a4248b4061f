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
    PR_SET_NAME = 15
    PR_CAPBSET_DROP = 24
    PR_SET_CHILD_SUBREAPER = 36
    PR_SET_NO_NEW_PRIVS = 38


# Syscall numbers not exposed by libc wrappers (arch/*/entry/syscalls, include/uapi/asm-generic/unistd.h).
SYS_CLONE = {"x86_64": 56, "aarch64": 220}
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
