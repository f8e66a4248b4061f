"""HostConfig fields that shape the spec's namespaces and /dev/shm: ``ShmSize``, ``PidMode``,
``IpcMode`` and ``Init`` (moby ``oci_linux.go``: WithNamespaces, withMounts' shm, WithInit).

- ``check`` (create): the modes parsed, ShmSize checked, the default ShmSize recorded.
- ``apply`` (spec build): what needs no other container: the /dev/shm size, ``host`` and ``none``
  modes, and ``--init`` (the daemon's docker-init bound at /sbin/docker-init, ahead of the command).
- ``join`` (start): ``container:<id>`` modes, the target running: its pid or ipc namespace by path.

kobako mounts a container's /dev/shm inside its own mount namespace, not on the host as dockerd
does, so ``--ipc container:X`` joins X's IPC namespace (System V IPC, POSIX message queues) while
/dev/shm stays the joiner's own; ``--ipc host`` binds the host's /dev/shm.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any

from kobako.errors import Conflict, InvalidArgument, NoSuchContainer, Unsupported

DEFAULT_SHM_SIZE = 64 * 1024 * 1024
INIT_PATH = "/sbin/docker-init"  # where moby puts it in the container
_INIT_CANDIDATES = ("/usr/libexec/docker/docker-init", "/usr/local/libexec/docker/docker-init")


def _mode(value: Any, field: str, allowed: tuple[str, ...]) -> str:
    mode = str(value or "")
    if mode in allowed:
        return mode
    if mode.startswith("container:") and mode[len("container:"):]:
        return mode
    raise InvalidArgument(f"invalid {field}: {mode}")


def pid_mode(host_config: dict[str, Any]) -> str:
    return _mode(host_config.get("PidMode"), "PID mode", ("", "host"))


def ipc_mode(host_config: dict[str, Any]) -> str:
    return _mode(host_config.get("IpcMode"), "IPC mode", ("", "private", "shareable", "host", "none"))


def check(host_config: dict[str, Any], lookup: Callable[[str], Any]) -> None:
    """Create-time checks (moby verifyContainerSettings / adaptContainerSettings)."""
    try:
        shm = int(host_config.get("ShmSize") or 0)
    except (TypeError, ValueError):
        raise InvalidArgument(f"invalid ShmSize: {host_config.get('ShmSize')!r}") from None
    if shm < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    host_config["ShmSize"] = shm or DEFAULT_SHM_SIZE
    for mode in (pid_mode(host_config), ipc_mode(host_config)):
        if mode.startswith("container:"):
            lookup(mode.split(":", 1)[1])  # NoSuchContainer now, not at start
    if host_config.get("IpcMode") in (None, ""):
        host_config["IpcMode"] = "private"


def find_init() -> str:
    found = shutil.which("docker-init")
    if found:
        return found
    for path in _INIT_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    raise Unsupported("--init: no docker-init binary on the daemon's PATH (Debian ships it with tini)")


def apply(spec: dict[str, Any], host_config: dict[str, Any]) -> None:
    """The parts that need no other container (called by build_spec)."""
    linux = spec.setdefault("linux", {})
    mounts = spec.setdefault("mounts", [])
    shm = int(host_config.get("ShmSize") or 0) or DEFAULT_SHM_SIZE
    ipc = ipc_mode(host_config)
    for m in mounts:
        if m.get("destination") == "/dev/shm" and m.get("type") == "tmpfs":
            m["options"] = [o for o in m.get("options") or [] if not o.startswith("size=")] + [f"size={shm // 1024}k"]
    if ipc == "none":
        spec["mounts"] = [m for m in mounts if m.get("destination") != "/dev/shm"]
    elif ipc == "host":
        _drop_namespace(linux, "ipc")
        spec["mounts"] = [m for m in mounts if m.get("destination") != "/dev/shm"] + [
            {"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]}]
    if pid_mode(host_config) == "host":
        _drop_namespace(linux, "pid")
    if host_config.get("Init"):
        init = find_init()
        process = spec.setdefault("process", {})
        process["args"] = [INIT_PATH, "--", *process.get("args", [])]
        spec["mounts"].append({"destination": INIT_PATH, "type": "bind", "source": init,
                               "options": ["bind", "ro", "rprivate"]})


def join(spec: dict[str, Any], host_config: dict[str, Any], lookup: Callable[[str], Any]) -> None:
    """``container:<id>`` pid and ipc modes: the target must be running (moby getPidContainer/getIpcContainer)."""
    linux = spec.setdefault("linux", {})
    for kind, mode, label in (("pid", pid_mode(host_config), "PID"), ("ipc", ipc_mode(host_config), "IPC")):
        if not mode.startswith("container:"):
            continue
        ref = mode.split(":", 1)[1]
        try:
            other = lookup(ref)
        except NoSuchContainer:
            raise Conflict(f"cannot join {label} of a non-existent container: {ref}") from None
        if not other.alive or not other.state.get("Pid"):
            raise Conflict(f"cannot join {label} of a non running container: {ref}")
        _set_namespace(linux, kind, f"/proc/{other.state['Pid']}/ns/{kind}")


def _drop_namespace(linux: dict[str, Any], kind: str) -> None:
    linux["namespaces"] = [n for n in linux.get("namespaces") or [] if n.get("type") != kind]


def _set_namespace(linux: dict[str, Any], kind: str, path: str) -> None:
    spaces = linux.setdefault("namespaces", [])
    for n in spaces:
        if n.get("type") == kind:
            n["path"] = path
            return
    spaces.append({"type": kind, "path": path})
