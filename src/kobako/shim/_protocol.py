"""What a shim is told when it is spawned, and where it keeps its files.

    kobakod ──spawn(ShimConfig)──► spawner ──fork/setsid/fork──► shim
       ▲                                                          │
       └──────── ready pipe: one JSON line ──────────────────────┘
                 {"pid": N}  or  {"kind": ..., "message": ...}

After that, kobakod talks to the shim over its control socket, one JSON request line per
connection (see kobako.shim._shim for the operations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kobako.mount import Mount


def socket_path(exec_root: Path, cid: str) -> Path:
    # sun_path holds 108 bytes: a 24-hex prefix of the id (96 bits) keeps deep exec roots usable.
    return exec_root / "shims" / f"{cid[:24]}.sock"


def exit_path(exec_root: Path, cid: str) -> Path:
    return exec_root / "shims" / f"{cid}.exit"


def pid_path(exec_root: Path, cid: str) -> Path:
    return exec_root / "shims" / f"{cid}.pid"


@dataclass(frozen=True, slots=True)
class ShimConfig:
    id: str
    bundle: str
    exec_root: str
    log_path: str
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    rootfs_mounts: tuple[Mount, ...] = ()
    cgroup_root: str = "/sys/fs/cgroup"
    log_max_size: int = 0
    log_max_files: int = 1
    console_size: tuple[int, int] = (0, 0)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "bundle": self.bundle,
            "exec_root": self.exec_root,
            "log_path": self.log_path,
            "tty": self.tty,
            "open_stdin": self.open_stdin,
            "stdin_once": self.stdin_once,
            "rootfs_mounts": [m.to_json() for m in self.rootfs_mounts],
            "cgroup_root": self.cgroup_root,
            "log_max_size": self.log_max_size,
            "log_max_files": self.log_max_files,
            "console_size": list(self.console_size),
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ShimConfig:
        return cls(
            id=obj["id"],
            bundle=obj["bundle"],
            exec_root=obj["exec_root"],
            log_path=obj["log_path"],
            tty=bool(obj.get("tty")),
            open_stdin=bool(obj.get("open_stdin")),
            stdin_once=bool(obj.get("stdin_once")),
            rootfs_mounts=tuple(Mount.from_json(m) for m in obj.get("rootfs_mounts", [])),
            cgroup_root=obj.get("cgroup_root", "/sys/fs/cgroup"),
            log_max_size=int(obj.get("log_max_size", 0)),
            log_max_files=int(obj.get("log_max_files", 1)),
            console_size=tuple(obj.get("console_size", (0, 0))),  # type: ignore[arg-type]
            extra=dict(obj.get("extra", {})),
        )
