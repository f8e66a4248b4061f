"""A container's persistent record (``<data-root>/containers/<id>/config.v2.json``) and its
Docker-shaped views (inspect and the ``ps`` summary).

State rules are predicates here, so a wrong-state request becomes a Conflict in one place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kobako.errors import Conflict
from kobako.fsutil import atomic_write_json, read_json
from kobako.units import human_duration

ZERO_TIME = "0001-01-01T00:00:00Z"


def now_rfc3339() -> str:
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def parse_rfc3339(s: str) -> float:
    """Seconds since the epoch of an RFC 3339 UTC time as kobako writes it (0.0 for the zero time)."""
    if not s or s.startswith("0001-"):
        return 0.0
    import calendar

    main, _, frac = s.rstrip("Z").partition(".")
    base = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S"))
    return base + (float("0." + frac) if frac else 0.0)


def new_state() -> dict[str, Any]:
    return {
        "Status": "created",
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": False,
        "Pid": 0,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": ZERO_TIME,
        "FinishedAt": ZERO_TIME,
    }


@dataclass
class Container:
    id: str
    name: str
    created: str
    path: str
    args: list[str]
    config: dict[str, Any]
    host_config: dict[str, Any]
    image_id: str
    image_ref: str
    snapshot: str
    root: Path
    state: dict[str, Any] = field(default_factory=new_state)
    restart_count: int = 0
    manually_stopped: bool = False
    # in memory only
    exit_seq: int = 0
    removed: bool = False

    # -- persistence ----------------------------------------------------------------------
    @property
    def record_path(self) -> Path:
        return self.root / "config.v2.json"

    @property
    def log_path(self) -> Path:
        return self.root / f"{self.id}-json.log"

    @property
    def bundle(self) -> Path:
        return self.root / "bundle"

    def save(self) -> None:
        atomic_write_json(
            self.record_path,
            {
                "ID": self.id,
                "Name": self.name,
                "Created": self.created,
                "Path": self.path,
                "Args": self.args,
                "Config": self.config,
                "HostConfig": self.host_config,
                "Image": self.image_id,
                "ImageRef": self.image_ref,
                "Snapshot": self.snapshot,
                "State": self.state,
                "RestartCount": self.restart_count,
                "HasBeenManuallyStopped": self.manually_stopped,
            },
        )

    @classmethod
    def load(cls, root: Path) -> Container:
        obj = read_json(root / "config.v2.json")
        return cls(
            id=obj["ID"],
            name=obj["Name"],
            created=obj["Created"],
            path=obj["Path"],
            args=obj["Args"],
            config=obj["Config"],
            host_config=obj["HostConfig"],
            image_id=obj["Image"],
            image_ref=obj["ImageRef"],
            snapshot=obj["Snapshot"],
            root=root,
            state=obj["State"],
            restart_count=obj.get("RestartCount", 0),
            manually_stopped=obj.get("HasBeenManuallyStopped", False),
        )

    # -- state predicates -------------------------------------------------------------------
    @property
    def status(self) -> str:
        return str(self.state["Status"])

    @property
    def running(self) -> bool:
        return bool(self.state["Running"])

    def check_can_remove(self, force: bool) -> None:
        if self.running and not force:
            raise Conflict(
                f"cannot remove container \"/{self.name}\": container is running: "
                "stop the container before removing or force remove"
            )

    def check_can_kill(self) -> None:
        if not self.running:
            raise Conflict(f"Container {self.id} is not running")

    # -- state transitions --------------------------------------------------------------------
    def set_running(self, pid: int) -> None:
        self.state.update(
            Status="running", Running=True, Paused=False, Restarting=False, OOMKilled=False, Dead=False,
            Pid=pid, ExitCode=0, Error="", StartedAt=now_rfc3339(),
        )

    def set_exited(self, code: int, finished_at: str | None = None, oom: bool = False, error: str = "") -> None:
        self.state.update(
            Status="exited", Running=False, Paused=False, Restarting=False, OOMKilled=oom,
            Pid=0, ExitCode=code, Error=error, FinishedAt=finished_at or now_rfc3339(),
        )
        self.exit_seq += 1

    def set_start_failed(self, code: int, error: str) -> None:
        self.state.update(Status="created" if self.state["StartedAt"] == ZERO_TIME else "exited",
                          ExitCode=code, Error=error, Running=False, Pid=0)
        self.exit_seq += 1

    # -- views ------------------------------------------------------------------------------
    def human_status(self) -> str:
        s = self.status
        if s == "running":
            return "Up " + human_duration(time.time() - parse_rfc3339(self.state["StartedAt"]))
        if s == "paused":
            return "Up " + human_duration(time.time() - parse_rfc3339(self.state["StartedAt"])) + " (Paused)"
        if s == "exited":
            if self.state["FinishedAt"] == ZERO_TIME:
                return "Created"
            ago = human_duration(time.time() - parse_rfc3339(self.state["FinishedAt"]))
            return f"Exited ({self.state['ExitCode']}) {ago} ago"
        if s == "created":
            return "Created"
        return s.capitalize()

    def command_string(self) -> str:
        parts = [self.path, *self.args] if self.path else list(self.args)
        return " ".join(parts)

    def summary(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Names": ["/" + self.name],
            "Image": self.image_ref,
            "ImageID": self.image_id,
            "Command": self.command_string(),
            "Created": int(parse_rfc3339(self.created)),
            "Ports": [],
            "Labels": self.config.get("Labels") or {},
            "State": self.status,
            "Status": self.human_status(),
            "HostConfig": {"NetworkMode": self.host_config.get("NetworkMode") or "none"},
            "NetworkSettings": {"Networks": {}},
            "Mounts": [],
        }

    def inspect(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Created": self.created,
            "Path": self.path,
            "Args": self.args,
            "State": dict(self.state),
            "Image": self.image_id,
            "ResolvConfPath": "",
            "HostnamePath": "",
            "HostsPath": "",
            "LogPath": str(self.log_path),
            "Name": "/" + self.name,
            "RestartCount": self.restart_count,
            "Driver": "overlay",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": None,
            "HostConfig": self.host_config,
            "GraphDriver": {"Name": "overlay", "Data": {}},
            "Mounts": [],
            "Config": self.config,
            "NetworkSettings": {
                "Bridge": "",
                "SandboxID": "",
                "SandboxKey": "",
                "Ports": {},
                "HairpinMode": False,
                "LinkLocalIPv6Address": "",
                "LinkLocalIPv6PrefixLen": 0,
                "SecondaryIPAddresses": None,
                "SecondaryIPv6Addresses": None,
                "EndpointID": "",
                "Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "IPAddress": "",
                "IPPrefixLen": 0,
                "IPv6Gateway": "",
                "MacAddress": "",
                "Networks": {},
            },
        }
