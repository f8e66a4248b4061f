"""``kobako-runtime``'s state directory: ``<root>/<id>/{state.json, exec.fifo, exit}``.

Lifecycle of one container id::

    create:  mkdir <id> (Conflict if it exists), mkfifo exec.fifo, the keeper writes state.json
    start:   open exec.fifo for writing, write "0"; the keeper execs the init, removes the fifo
             and records ``started`` (or ``error``) in state.json
    (exit):  the keeper reaps the init, writes ``exit`` (a wait status), removes the cgroup, exits
    delete:  the keeper is gone → rm -r <id>

A pid is identified with its start time (``/proc/<pid>/stat`` field 22), so a recycled pid
never passes for the container. Status predicates live here, so wrong-state requests become
``Conflict`` in one place.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kobako.errors import Conflict, ContainerExists, NoSuchContainer
from kobako.fsutil import atomic_write_json

FIFO = "exec.fifo"


def start_time(pid: int) -> int | None:
    """Start time of a live (non-zombie) ``pid`` in clock ticks, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in (b"Z", b"X") else int(fields[19])


def alive(pid: int, started: int | None) -> bool:
    return pid > 0 and started is not None and start_time(pid) == started


@dataclass(slots=True)
class Container:
    dir: Path
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return self.dir.name

    @property
    def fifo(self) -> Path:
        return self.dir / FIFO

    def init_alive(self) -> bool:
        return alive(int(self.data.get("pid", 0)), self.data.get("pid_start"))

    def keeper_alive(self) -> bool:
        return alive(int(self.data.get("keeper_pid", 0)), self.data.get("keeper_start"))

    def status(self) -> str:
        if not self.data.get("pid"):
            return "creating"
        if not self.init_alive():
            return "stopped"
        return "created" if self.fifo.exists() and not self.data.get("started") else "running"

    def save(self) -> None:
        atomic_write_json(self.dir / "state.json", self.data, sync=False)

    def reload(self) -> None:
        self.data = _read(self.dir)

    def require(self, *statuses: str) -> str:
        s = self.status()
        if s not in statuses:
            raise Conflict(f"container {self.id} is {s}, not {' or '.join(statuses)}")
        return s

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _read(d: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((d / "state.json").read_text()))
    except FileNotFoundError:
        return {}


def load(root: Path, id_: str) -> Container:
    d = root / id_
    if not d.is_dir():
        raise NoSuchContainer(id_)
    return Container(d, _read(d))


def new(root: Path, id_: str, bundle: Path, config: dict[str, Any]) -> Container:
    if not id_ or "/" in id_ or id_ in (".", ".."):
        raise ContainerExists(f"invalid container id {id_!r}")
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        (root / id_).mkdir()
    except FileExistsError:
        raise ContainerExists(f"container with id exists: {id_}") from None
    c = Container(root / id_, {"id": id_, "bundle": str(bundle),
                               "cgroupsPath": config.get("linux", {}).get("cgroupsPath", ""),
                               "annotations": config.get("annotations", {})})
    me = os.getpid()
    c.data.update(keeper_pid=me, keeper_start=start_time(me))
    c.save()
    return c
