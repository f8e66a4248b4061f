"""daemon/containers/_nsmodes: ShmSize, PidMode, IpcMode and Init in the OCI spec."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from kobako.daemon.containers import _nsmodes
from kobako.errors import Conflict, InvalidArgument, NoSuchContainer
from kobako.runtime.spec import default_mounts


def spec() -> dict[str, Any]:
    return {"process": {"args": ["sh", "-c", "true"]}, "mounts": default_mounts(),
            "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]}}


def shm_of(s: dict[str, Any]) -> dict[str, Any] | None:
    return next((m for m in s["mounts"] if m["destination"] == "/dev/shm"), None)


def kinds(s: dict[str, Any]) -> dict[str, str]:
    return {n["type"]: n.get("path", "") for n in s["linux"]["namespaces"]}


def test_check_records_defaults_and_refuses_bad_values() -> None:
    hc: dict[str, Any] = {}
    _nsmodes.check(hc, lambda ref: None)
    assert hc["ShmSize"] == 64 * 1024 * 1024 and hc["IpcMode"] == "private"
    with pytest.raises(InvalidArgument, match="SHM size can not be less than 0"):
        _nsmodes.check({"ShmSize": -1}, lambda ref: None)
    with pytest.raises(InvalidArgument, match="invalid PID mode: bogus"):
        _nsmodes.check({"PidMode": "bogus"}, lambda ref: None)
    with pytest.raises(InvalidArgument, match="invalid IPC mode: container:"):
        _nsmodes.check({"IpcMode": "container:"}, lambda ref: None)

    def missing(ref: str) -> Any:
        raise NoSuchContainer(ref)
    with pytest.raises(NoSuchContainer):
        _nsmodes.check({"PidMode": "container:nope"}, missing)


def test_shm_size_sets_the_tmpfs_size() -> None:
    s = spec()
    _nsmodes.apply(s, {"ShmSize": 8 * 1024 * 1024})
    opts = shm_of(s)["options"]  # type: ignore[index]
    assert "size=8192k" in opts and sum(o.startswith("size=") for o in opts) == 1


def test_host_and_none_modes() -> None:
    s = spec()
    _nsmodes.apply(s, {"PidMode": "host", "IpcMode": "host"})
    assert "pid" not in kinds(s) and "ipc" not in kinds(s)
    assert shm_of(s) == {"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
                         "options": ["rbind", "rprivate"]}
    s = spec()
    _nsmodes.apply(s, {"IpcMode": "none"})
    assert shm_of(s) is None and "ipc" in kinds(s)


def test_init_wraps_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_nsmodes, "find_init", lambda: "/opt/tini")
    s = spec()
    _nsmodes.apply(s, {"Init": True})
    assert s["process"]["args"] == ["/sbin/docker-init", "--", "sh", "-c", "true"]
    assert {"destination": "/sbin/docker-init", "type": "bind", "source": "/opt/tini",
            "options": ["bind", "ro", "rprivate"]} in s["mounts"]


def test_join_uses_the_running_target_namespaces() -> None:
    target = SimpleNamespace(alive=True, state={"Pid": 4242})
    s = spec()
    _nsmodes.join(s, {"PidMode": "container:t", "IpcMode": "container:t"}, lambda ref: target)
    assert kinds(s)["pid"] == "/proc/4242/ns/pid" and kinds(s)["ipc"] == "/proc/4242/ns/ipc"
    stopped = SimpleNamespace(alive=False, state={"Pid": 0})
    with pytest.raises(Conflict, match="cannot join IPC of a non running container: t"):
        _nsmodes.join(spec(), {"IpcMode": "container:t"}, lambda ref: stopped)
