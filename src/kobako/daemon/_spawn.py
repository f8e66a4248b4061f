"""kobakod's side of the spawner (kobako.shim.spawner) and of each shim's control socket."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from kobako.errors import RuntimeFailure, Unavailable, error_from_json
from kobako.shim import ShimConfig, socket_path


class Spawner:
    """Owns the spawner process; ``spawn`` returns the container's host pid once created."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "kobako.shim.spawner", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._sock = ours

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    async def spawn(self, cfg: ShimConfig) -> int:
        if not self._alive():
            self.close()
            self.start()
        assert self._sock is not None
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            socket.send_fds(self._sock, [json.dumps(cfg.to_json()).encode()], [w])
        finally:
            os.close(w)
        data = await asyncio.to_thread(_read_all, r)
        if not data.strip():
            raise RuntimeFailure("shim exited before reporting (see its log under exec-root/shims)")
        reply = json.loads(data.splitlines()[0])
        if "pid" not in reply:
            raise error_from_json(reply)
        return int(reply["pid"])

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


def _read_all(fd: int) -> bytes:
    chunks = []
    try:
        while True:
            b = os.read(fd, 4096)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(fd)
    return b"".join(chunks)


async def shim_connect(exec_root: Path, cid: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.open_unix_connection(str(socket_path(exec_root, cid)), limit=1 << 20)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise Unavailable(f"container {cid[:12]}: its shim is gone") from exc


async def shim_call(exec_root: Path, cid: str, req: dict[str, Any]) -> dict[str, Any]:
    """One request, one JSON answer (start, kill, resize, state, and wait, which blocks until exit)."""
    reader, writer = await shim_connect(exec_root, cid)
    try:
        writer.write(json.dumps(req).encode() + b"\n")
        await writer.drain()
        line = await reader.readline()
    finally:
        writer.close()
    if not line:
        raise Unavailable(f"container {cid[:12]}: shim closed the connection")
    reply: dict[str, Any] = json.loads(line)
    if "kind" in reply:
        raise error_from_json(reply)
    return reply
