"""Run one process inside a running container and collect its exit code and output (healthchecks).

``run_in_container(manager, container, argv, timeout) -> (exit_code, output)`` is the seam the
healthcheck monitor calls.  It speaks the shim's exec ops directly (the same ones ``_exec.py``
uses for ``docker exec``)::

    {"op": "exec", "id", "process", "stdout": true, "stderr": true}  → ack, stdcopy frames, EOF
    {"op": "exec_wait", "id"}                                         → {"exit_code": N}
    {"op": "exec_kill", "id", "signal": 9}                            on timeout / cancellation

The process gets the container's environment, user and working directory (the shim's defaults),
as moby's health ``cmdProbe`` does; events ``exec_create: …``, ``exec_start: …`` and ``exec_die``
are published like dockerd's for a probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from typing import Any

from kobako.errors import KobakoError, error_from_json
from kobako.ids import new_id

from ._record import Container
from .._spawn import shim_call, shim_connect

MAX_OUTPUT = 4096


async def run_in_container(manager: Any, c: Container, argv: list[str], timeout: float) -> tuple[int, bytes]:
    eid = new_id()
    cmd = " ".join(argv)
    manager.emit(c, f"exec_create: {cmd}", execID=eid)
    reader, writer = await shim_connect(manager.exec_root, c.id)
    finished = False
    try:
        req = {"op": "exec", "id": eid, "detach": False, "stdin": False, "stdout": True, "stderr": True,
               "process": {"args": argv, "env": [], "cwd": c.config.get("WorkingDir") or "",
                           "user": c.config.get("User") or "", "terminal": False, "console_size": [0, 0]}}
        writer.write(json.dumps(req).encode() + b"\n")
        await writer.drain()
        line = await reader.readline()
        reply = json.loads(line) if line.strip() else {"kind": "Runtime", "message": "container shim closed"}
        if "kind" in reply:
            finished = True
            raise error_from_json(reply)
        manager.emit(c, f"exec_start: {cmd}", execID=eid)
        output = await _read_frames(reader)
        result = await shim_call(manager.exec_root, c.id, {"op": "exec_wait", "id": eid})
        finished = True
        code = int(result.get("exit_code", -1))
        manager.emit(c, "exec_die", execID=eid, exitCode=str(code))
        return code, output
    finally:
        writer.close()
        if not finished:  # timed out or cancelled: the probe must not outlive its check
            with contextlib.suppress(KobakoError, OSError, ValueError):
                await shim_call(manager.exec_root, c.id, {"op": "exec_kill", "id": eid, "signal": 9})


async def _read_frames(reader: asyncio.StreamReader) -> bytes:
    """stdout and stderr of the probe, interleaved as written (stdcopy frames), capped."""
    out = bytearray()
    while True:
        try:
            header = await reader.readexactly(8)
        except asyncio.IncompleteReadError:
            return bytes(out)
        (size,) = struct.unpack(">I", header[4:])
        try:
            payload = await reader.readexactly(size)
        except asyncio.IncompleteReadError as exc:
            payload = exc.partial
        if len(out) <= MAX_OUTPUT:
            out += payload
