"""OCI runtime-spec configs: ``default_spec`` builds one shaped so runc/crun accept the same bundle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kobako.runtime.caps import DEFAULT_CAPS, oci_capabilities

OCI_VERSION = "1.1.0"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
USER_ANNOTATION = "org.kobako.user"

NAMESPACES = ("pid", "mount", "uts", "ipc", "network", "cgroup")

MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)

def _dev(type_: str, major: int | None, minor: int | None, access: str, allow: bool = True) -> dict[str, Any]:
    return {"allow": allow, "type": type_, "major": major, "minor": minor, "access": access}


# Deny every device, then allow mknod of any and use of the usual ones (moby oci/defaults.go).
DEFAULT_DEVICE_RULES = (
    {"allow": False, "access": "rwm"},
    _dev("c", None, None, "m"), _dev("b", None, None, "m"),
    _dev("c", 1, 3, "rwm"), _dev("c", 1, 5, "rwm"), _dev("c", 1, 7, "rwm"), _dev("c", 1, 8, "rwm"),
    _dev("c", 1, 9, "rwm"), _dev("c", 5, 0, "rwm"), _dev("c", 5, 1, "rwm"), _dev("c", 5, 2, "rwm"),
    _dev("c", 136, None, "rwm"), _dev("c", 10, 200, "rwm"),
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def default_mounts() -> list[dict[str, Any]]:
    """The mounts every container gets (Docker's defaults, as in moby ``oci/defaults.go``)."""

    def m(dest: str, type_: str, source: str, *options: str) -> dict[str, Any]:
        return {"destination": dest, "type": type_, "source": source, "options": list(options)}

    return [
        m("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
        m("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
        m("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
          "gid=5"),
        m("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
        m("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
        m("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
    ]


def default_spec(
    args: Sequence[str],
    env: Sequence[str] = (),
    cwd: str = "/",
    hostname: str = "",
    user: str | None = None,
    terminal: bool = False,
    *,
    uid: int = 0,
    gid: int = 0,
    readonly_rootfs: bool = False,
    root_path: str = "rootfs",
    mounts: Sequence[Mapping[str, Any]] = (),
    resources: Mapping[str, Any] | None = None,
    cgroups_path: str = "",
    namespaces: Sequence[Mapping[str, str]] | None = None,
    annotations: Mapping[str, str] | None = None,
    capabilities: Sequence[str] = DEFAULT_CAPS,
    seccomp: Mapping[str, Any] | None = None,
    no_new_privileges: bool = False,
) -> dict[str, Any]:
    """An OCI runtime-spec ``config.json`` dict for ``args``.

    ``user`` is Docker's ``--user`` string (``name``, ``uid``, ``name:group``, ``uid:gid``); it is
    stored in the annotation ``org.kobako.user`` and resolved against the container's
    /etc/passwd after pivot_root. Without it the process runs as ``uid``/``gid``. PATH gets
    Docker's default when ``env`` has none. ``capabilities`` default to Docker's set (bounding,
    effective and permitted; none inheritable or ambient); ``seccomp`` is an OCI ``linux.seccomp``
    (``kobako.runtime.seccomp.resolve_profile`` makes one), none by default, as ``runc spec``.
    """
    env_list = list(env)
    if not any(e.startswith("PATH=") for e in env_list):
        env_list.insert(0, f"PATH={DEFAULT_PATH}")
    annotations_ = dict(annotations or {})
    if user:
        annotations_[USER_ANNOTATION] = user
    linux: dict[str, Any] = {
        "namespaces": [dict(n) for n in namespaces] if namespaces is not None
        else [{"type": t} for t in NAMESPACES],
        "resources": {"devices": [dict(d) for d in DEFAULT_DEVICE_RULES], **(resources or {})},
        "maskedPaths": list(MASKED_PATHS),
        "readonlyPaths": list(READONLY_PATHS),
    }
    if cgroups_path:
        linux["cgroupsPath"] = cgroups_path
    if seccomp is not None:
        linux["seccomp"] = dict(seccomp)
    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": terminal,
            "user": {"uid": uid, "gid": gid},
            "args": list(args),
            "env": env_list,
            "cwd": cwd or "/",
            "capabilities": oci_capabilities(capabilities),
            "noNewPrivileges": no_new_privileges,
        },
        "root": {"path": root_path, "readonly": readonly_rootfs},
        "hostname": hostname,
        "mounts": default_mounts() + [dict(m) for m in mounts],
        "linux": linux,
    }
    if annotations_:
        spec["annotations"] = annotations_
    return spec


def memory_resources(limit: int, swap: int | None = None) -> dict[str, int]:
    """Docker's ``--memory``/``--memory-swap``: without a swap value, swap = 2 × memory (memory+swap)."""
    return {"limit": limit, "swap": 2 * limit if swap is None else swap}
