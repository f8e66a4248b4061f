"""Which kernel namespace a sysctl belongs to: the one rule shared by the CLI's ``--sysctl`` check (as
docker/cli's ``ValidateSysctl``), the daemon and the runtime (``kobako.runtime.sysctl``)."""

from __future__ import annotations

IPC_SYSCTLS = frozenset({
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
    "kernel.shmmni", "kernel.shm_rmid_forced",
})
UTS_SYSCTLS = frozenset({"kernel.domainname", "kernel.hostname"})


def namespace_of(key: str) -> str | None:
    """The namespace a sysctl (dotted or slash form) belongs to ("ipc", "network", "uts"), or None if it
    is the host's."""
    key = key.replace("/", ".")
    if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
        return "ipc"
    if key.startswith("net."):
        return "network"
    if key in UTS_SYSCTLS:
        return "uts"
    return None
