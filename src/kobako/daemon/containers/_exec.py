"""Exec instances (``docker exec``): create, start (hijacked or detached), resize, inspect.

The container's shim forks the process into the container (``kobako.runtime.nsexec``) and holds
its stdio; kobakod keeps the record and relays the client's hijacked connection to the shim::

    create(container, body) → ExecRecord (64-hex id), nothing runs yet
    start(id, stream)       → shim {"op": "exec"}: ack {"ok", "pid"} or an error with 126/127;
                              then the stream (stdcopy frames, raw with a tty) until the process
                              exits; a monitor holds {"op": "exec_wait"} and records the exit code
                              *before* the client's stream is closed, so the ExitCode a client reads
                              right after its stream ended (docker CLI, SDK exec_run) is the real one.
    resize(id, h, w)        → shim {"op": "exec_resize"}

Records live while their container exists (Docker keeps them for inspect until the container is
removed); a container's running execs die with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from dataclasses import dataclass, field
from typing import Any

from kobako.errors import Conflict, InvalidArgument, KobakoError, NoSuchExec, Unavailable, error_from_json
from kobako.ids import new_id

from ._stream import parse_detach_keys, relay
from .._spawn import shim_call, shim_connect

log = logging.getLogger("kobako.exec")
MAX_RECORDS_PER_CONTAINER = 256
EXIT_RECORD_TIMEOUT = 10.0


@dataclass
class ExecRecord:
    id: str
    container_id: str
    cmd: list[str]
    tty: bool
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    env: list[str]
    user: str
    working_dir: str
    privileged: bool
    detach_keys: str
    console_size: tuple[int, int]
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    started_event: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def inspect(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": self.tty,
                "entrypoint": self.cmd[0] if self.cmd else "",
                "arguments": self.cmd[1:],
                "privileged": self.privileged,
                "user": self.user,
            },
            "OpenStdin": self.attach_stdin,
            "OpenStderr": self.attach_stderr,
            "OpenStdout": self.attach_stdout,
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": self.detach_keys,
            "Pid": self.pid,
        }

    def process(self) -> dict[str, Any]:
        return {"args": self.cmd, "env": self.env, "cwd": self.working_dir, "user": self.user,
                "terminal": self.tty, "console_size": list(self.console_size), "privileged": self.privileged}


def _console_size(value: Any) -> tuple[int, int]:
    if not value:
        return (0, 0)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise InvalidArgument("ConsoleSize must be [height, width]")
    return (int(value[0]), int(value[1]))


class ExecManager:
    def __init__(self, containers: Any) -> None:
        self.containers = containers
        self.exec_root = containers.exec_root
        self.records: dict[str, ExecRecord] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        containers.events.listen(self._on_event)

    # -- lookup ---------------------------------------------------------------------------------
    def get(self, eid: str) -> ExecRecord:
        rec = self.records.get(eid)
        if rec is None:
            raise NoSuchExec(eid)
        return rec

    def running_ids(self, cid: str) -> list[str]:
        return [r.id for r in self.records.values() if r.container_id == cid and r.running]

    def _running_container(self, cid: str) -> Any:
        c = self.containers.get(cid)
        c.check_can_exec(cid)
        return c

    # -- create ---------------------------------------------------------------------------------
    async def create(self, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InvalidArgument("exec config must be a JSON object")
        c = self._running_container(ref)
        cmd = body.get("Cmd") or []
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd:
            raise InvalidArgument("No exec command specified")
        keys = body.get("DetachKeys") or ""
        if keys:
            parse_detach_keys(keys)  # reject bad keys now, as dockerd does
        env = body.get("Env") or []
        if not isinstance(env, list) or not all(isinstance(e, str) for e in env):
            raise InvalidArgument("Env must be a list of strings")
        rec = ExecRecord(
            id=new_id(), container_id=c.id, cmd=[str(a) for a in cmd], tty=bool(body.get("Tty")),
            attach_stdin=bool(body.get("AttachStdin")), attach_stdout=bool(body.get("AttachStdout")),
            attach_stderr=bool(body.get("AttachStderr")), env=list(env), user=str(body.get("User") or ""),
            working_dir=str(body.get("WorkingDir") or ""), privileged=bool(body.get("Privileged")),
            detach_keys=str(keys), console_size=_console_size(body.get("ConsoleSize")),
        )
        self.records[rec.id] = rec
        self._trim(c.id)
        self.containers.emit(c, f"exec_create: {' '.join(rec.cmd)}", execID=rec.id)
        return {"Id": rec.id}

    def _trim(self, cid: str) -> None:
        done = [r for r in self.records.values() if r.container_id == cid and r.exit_code is not None]
        for r in done[: max(0, len(done) - MAX_RECORDS_PER_CONTAINER)]:
            del self.records[r.id]

    # -- start ----------------------------------------------------------------------------------
    def check_startable(self, eid: str) -> ExecRecord:
        rec = self.get(eid)
        if rec.exit_code is not None:
            raise Conflict(f"Error: Exec command {eid} has already run")
        if rec.started:
            raise Conflict(f"Error: Exec command {eid} is already running")
        return rec

    async def start(self, eid: str, *, detach: bool, console_size: Any = None,
                    reader: Any = None, writer: asyncio.StreamWriter | None = None) -> None:
        """Run the exec.  Detached: returns once it runs (errors raise).  Attached: relays
        ``reader``/``writer`` until it ends; a failure to start is written into the stream
        (as dockerd does) and recorded as the exit code (126/127)."""
        rec = self.check_startable(eid)
        c = self._running_container(rec.container_id)
        if console_size:
            rec.console_size = _console_size(console_size)
        keys = parse_detach_keys(rec.detach_keys) if rec.tty else None
        rec.started = True
        try:
            sreader, swriter = await shim_connect(self.exec_root, c.id)
        except Unavailable:
            rec.started = False
            raise Conflict(f"container {c.id} is not running") from None
        try:
            req = {"op": "exec", "id": rec.id, "process": rec.process(), "detach": detach,
                   "stdin": rec.attach_stdin and not detach, "stdout": rec.attach_stdout,
                   "stderr": rec.attach_stderr}
            swriter.write(json.dumps(req).encode() + b"\n")
            await swriter.drain()
            line = await sreader.readline()
            reply = json.loads(line) if line.strip() else {"kind": "Runtime", "message": "container shim closed"}
            if "kind" in reply:
                self._finished(rec, int(reply.get("exit_code", 126)), c)
                err = error_from_json(reply)
                if detach or writer is None:
                    raise _start_error(err)
                msg = f"{_start_error(err)}\r\n".encode()
                writer.write(msg if rec.tty else struct.pack(">BxxxI", 1, len(msg)) + msg)
                await writer.drain()
                return
            rec.pid = int(reply.get("pid", 0))
            rec.running = True
            rec.started_event.set()
            self.containers.emit(c, f"exec_start: {' '.join(rec.cmd)}", execID=rec.id)
            task = asyncio.create_task(self._monitor(rec, c))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            if detach or writer is None:
                return
            detached = await relay(reader, writer, sreader, swriter, stdin=rec.attach_stdin, detach_keys=keys)
            if not detached:
                # The shim closed the stream: the process exited; record its code before the
                # client's connection closes, so its next ExecInspect sees it.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(rec.done.wait(), EXIT_RECORD_TIMEOUT)
        finally:
            swriter.close()

    async def _monitor(self, rec: ExecRecord, c: Any) -> None:
        code = 137
        try:
            reply = await shim_call(self.exec_root, c.id, {"op": "exec_wait", "id": rec.id})
            code = int(reply.get("exit_code", 137))
        except (KobakoError, OSError, ValueError) as exc:
            log.debug("exec %s: wait failed (%s); assuming it died with its container", rec.id[:12], exc)
        except asyncio.CancelledError:
            return
        self._finished(rec, code, c)

    def _finished(self, rec: ExecRecord, code: int, c: Any) -> None:
        if rec.exit_code is not None:
            return
        rec.exit_code = code
        rec.running = False
        rec.started_event.set()
        rec.done.set()
        self.containers.emit(c, "exec_die", execID=rec.id, exitCode=str(code))

    # -- resize -------------------------------------------------------------------------------------
    async def resize(self, eid: str, h: int, w: int) -> None:
        rec = self.get(eid)
        if not rec.started:
            # The docker CLI may resize right after start; wait for the process like dockerd does.
            try:
                await asyncio.wait_for(rec.started_event.wait(), 10)
            except TimeoutError:
                raise Conflict("timeout waiting for exec session ready") from None
        if not rec.running:
            return
        await shim_call(self.exec_root, rec.container_id, {"op": "exec_resize", "id": rec.id, "h": h, "w": w})

    # -- container events -------------------------------------------------------------------------
    def _on_event(self, ev: dict[str, Any]) -> None:
        if ev.get("Type") != "container" or ev.get("Action") != "destroy":
            return
        cid = ev["Actor"]["ID"]
        for eid in [r.id for r in self.records.values() if r.container_id == cid]:
            del self.records[eid]

    async def shutdown(self) -> None:
        for t in list(self._tasks):
            t.cancel()


def _start_error(err: KobakoError) -> KobakoError:
    """dockerd's wording for a process that could not start (the CLI prints it as is)."""
    if getattr(err, "kind", "").startswith("Exec"):
        return InvalidArgument(
            f"OCI runtime exec failed: exec failed: unable to start container process: {err}: unknown")
    return err
