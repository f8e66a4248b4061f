"""The parent/child protocol between ``create`` (the shim) and the container init.

Two CLOEXEC pipes: *sync* (parent → child) and *report* (child → parent), one line per message::

      parent: create()                                 child: init (PID 1 of its namespace)
      ───────────────────                              ─────────────────────────────────────
      clone(NEWPID|NEWNS|...) ──────────────────────▶  setns() into namespaces given by path
      cgroup.create(); cgroup.add(pid)                 block reading sync
      sync   "cgroup\\n"  ───────────────────────────▶  unshare(NEWCGROUP), rootfs, pivot_root,
                                                       hostname, user, cwd, PATH lookup, stdio
      report ◀───────────────────────  {"ready":true}  block reading sync
      create() returns InitProcess                     (or {"kind","message"} and _exit(1))
      InitProcess.start():
      sync   "start\\n"   ───────────────────────────▶  execve(args)
      report ◀──── EOF (report is CLOEXEC): exec'd     or {"kind","message"}, _exit(127|126)

EOF on *sync* at any point means the parent is gone: the child exits without running anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

SYNC_CGROUP = b"cgroup\n"  # the child is in its cgroup; go on with the setup
SYNC_START = b"start\n"  # execve now


@dataclass(frozen=True, slots=True)
class Ready:
    """The init finished its setup and waits for SYNC_START."""


@dataclass(frozen=True, slots=True)
class Failure:
    """The init failed; ``kind`` is a ``RuntimeFailure`` kind."""

    kind: str
    message: str


Report = Ready | Failure


def encode(msg: Report) -> bytes:
    obj: dict[str, object] = {"ready": True} if isinstance(msg, Ready) else {"kind": msg.kind,
                                                                            "message": msg.message}
    return json.dumps(obj).encode() + b"\n"


def decode(line: bytes) -> Report:
    obj = json.loads(line)
    if obj.get("ready"):
        return Ready()
    return Failure(str(obj.get("kind", "Runtime")), str(obj.get("message", "unknown error")))


def read_line(fd: int) -> bytes:
    """Read one line, or b"" at EOF. Byte at a time: the child writes one short line at most."""
    buf = bytearray()
    while True:
        b = os.read(fd, 1)
        if not b:
            return bytes(buf)
        if b == b"\n":
            return bytes(buf)
        buf += b


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
