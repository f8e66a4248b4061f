"""Capabilities: names, Docker's default set, ``--cap-add``/``--cap-drop`` arithmetic, and applying an
OCI ``process.capabilities`` in the container init (runc ``libcontainer/capabilities``).

Order in the init (runc ``finalizeNamespace``), each step needing what the previous ones keep::

    drop_bounding(caps)          PR_CAPBSET_DROP needs CAP_SETPCAP: while we are still full root
    set_keepcaps(True)           so setuid() away from 0 keeps the permitted set ...
    setgroups/setgid/setuid
    set_keepcaps(False)
    apply(caps)                  ... from which capset() picks effective/permitted/inheritable, then ambient

After execve the kernel recomputes the sets: root gets permitted = effective = bounding (file
capabilities count as full for uid 0), any other user only its ambient set. So the bounding set is
what really limits a root container, and a non-root one ends with nothing, as in Docker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kobako.errors import InvalidArgument

# include/uapi/linux/capability.h, by number
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
CAP_NUMBER = {name: n for n, name in enumerate(CAPABILITIES)}

# Docker's default set (moby ``oci/caps/defaults.go``), in Docker's order.
DEFAULT_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
DEFAULT_MASK = 0x00000000A80425FB  # what `grep CapBnd /proc/self/status` shows in a default Docker container
SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


def mask(names: Iterable[str]) -> int:
    """The bit mask of capability names (unknown names are ignored, as runc warns and skips them)."""
    m = 0
    for name in names:
        if name in CAP_NUMBER:
            m |= 1 << CAP_NUMBER[name]
    return m


def names(m: int) -> list[str]:
    return [name for n, name in enumerate(CAPABILITIES) if m >> n & 1]


def normalize(cap: str) -> str:
    """``net_admin``, ``NET_ADMIN`` or ``CAP_NET_ADMIN`` → ``CAP_NET_ADMIN``; ``all`` → ``ALL``."""
    c = cap.strip().upper()
    if c == "ALL":
        return c
    if not c.startswith("CAP_"):
        c = "CAP_" + c
    if c not in CAP_NUMBER:
        raise InvalidArgument(f'unknown capability: "{c}"')
    return c


def tweak(base: Sequence[str], add: Iterable[str], drop: Iterable[str], available: Sequence[str]) -> list[str]:
    """moby ``caps.TweakCapabilities``: ALL in add gives every available cap but the dropped; ALL in drop
    keeps only the added; otherwise base minus drop plus add."""
    adds = [normalize(c) for c in add]
    drops = [normalize(c) for c in drop]
    if "ALL" in adds:
        return [c for c in available if c not in drops]
    if "ALL" in drops:
        return list(dict.fromkeys(adds))
    return list(dict.fromkeys([c for c in base if c not in drops] + adds))


def oci_capabilities(caps: Sequence[str], root: bool = True) -> dict[str, list[str]]:
    """``process.capabilities`` as moby ``oci.SetCapabilities``: a non-root user gets the bounding set only
    (execve would clear the rest anyway); inheritable and ambient stay empty (Docker ≥ 20.10)."""
    if not root:
        return {"bounding": list(caps)}
    return {"bounding": list(caps), "effective": list(caps), "permitted": list(caps)}


def host_bounding(status: str | None = None) -> int:
    """The calling process's bounding set, from /proc/self/status (what it can still hand out)."""
    if status is None:
        with open("/proc/self/status") as f:
            status = f.read()
    for line in status.splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    return 0


# -- applying, in the init (real syscalls through kobako.linux) ----------------------------------------
def _held_bounding(sys: Any) -> int:
    m = 0
    for n in range(64):
        try:
            if sys.capbset_read(n):
                m |= 1 << n
        except OSError:
            break  # EINVAL past the kernel's last capability
    return m


def drop_bounding(sys: Any, spec_caps: Mapping[str, Any] | None) -> None:
    """Drop from the bounding set every capability not in ``bounding`` (needs CAP_SETPCAP)."""
    if spec_caps is None:
        return
    keep = mask(spec_caps.get("bounding") or ())
    held = _held_bounding(sys)
    for n in range(64):
        if held >> n & 1 and not keep >> n & 1:
            sys.capbset_drop(n)


def apply(sys: Any, spec_caps: Mapping[str, Any] | None) -> None:
    """capset effective/permitted/inheritable, then raise ambient; a cap the caller no longer holds in
    permitted cannot be granted and is left out (the daemon reports those when it builds the spec)."""
    if spec_caps is None:
        return
    _eff, held, _inh = sys.capget()
    permitted = mask(spec_caps.get("permitted") or ()) & held
    effective = mask(spec_caps.get("effective") or ()) & permitted
    inheritable = mask(spec_caps.get("inheritable") or ()) & held
    sys.capset(effective, permitted, inheritable)
    for n in names(mask(spec_caps.get("ambient") or ()) & permitted & inheritable):
        sys.ambient_raise(CAP_NUMBER[n])
