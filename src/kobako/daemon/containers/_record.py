"""A container's persistent record (``<data-root>/containers/<id>/config.v2.json``) and its
Docker-shaped views (inspect and the ``ps`` summary).

State rules are predicates here, so a wrong-state request becomes a Conflict in one place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kobako.errors import Conflict, NotModified
from kobako.fsutil import atomic_write_json, read_json
from kobako.units import human_duration

from ._mounts import mounts_view

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
    mount_points: list[dict[str, Any]] = field(default_factory=list)  # _mountspec.MountPoint.to_json()
    network_settings: dict[str, Any] = field(default_factory=dict)  # inspect's NetworkSettings (_netjoin)
    # in memory only
    exit_seq: int = 0
    removed: bool = False
    removing: bool = False
    manually_restarted: bool = False

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
                "MountPoints": self.mount_points,
                "NetworkSettings": self.network_settings,
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
            mount_points=obj.get("MountPoints") or [],
            network_settings=obj.get("NetworkSettings") or {},
        )

    # -- state predicates (youki state.rs style: a wrong-state request is a Conflict here, once) ----
    # Docker's flags: Running stays true while Paused or Restarting (moby container/state.go), so
    # "running" below means Docker's Running; "alive" means a container process exists right now.
    @property
    def status(self) -> str:
        return str(self.state["Status"])

    @property
    def running(self) -> bool:
        return bool(self.state["Running"])

    @property
    def paused(self) -> bool:
        return bool(self.state.get("Paused"))

    @property
    def restarting(self) -> bool:
        return bool(self.state.get("Restarting"))

    @property
    def alive(self) -> bool:
        return self.running and not self.restarting

    @property
    def dead(self) -> bool:
        return bool(self.state.get("Dead"))

    def check_can_start(self) -> None:
        """moby ``validateState``: paused is a conflict, running (or restarting) is "not modified"."""
        if self.paused:
            raise Conflict("cannot start a paused container, try unpause instead")
        if self.running:
            raise NotModified("container is already running")
        if self.removing or self.dead:
            raise Conflict("container is marked for removal and cannot be started")

    def check_can_remove(self, force: bool, ref: str | None = None) -> None:
        name = ref or self.name
        if self.removing:
            raise Conflict(f"removal of container {name} is already in progress")
        if self.running and not force:
            if self.paused:
                raise Conflict(f'cannot remove container "{name}": container is paused and must be unpaused first')
            raise Conflict(
                f'cannot remove container "{name}": container is {self.status}: '
                "stop the container before removing or force remove"
            )

    def check_can_kill(self) -> None:
        if not self.running:
            raise Conflict(f"container {self.id} is not running")

    def check_can_pause(self) -> None:
        if not self.running:
            raise Conflict(f"container {self.id} is not running")
        if self.paused:
            raise Conflict(f"Container {self.id} is already paused")
        if self.restarting:
            raise Conflict(f"Container {self.id} is restarting, wait until the container is running")

    def check_can_unpause(self) -> None:
        if not self.paused:
            raise Conflict(f"Container {self.id} is not paused")

    def check_can_exec(self, ref: str | None = None) -> None:
        """For exec (and healthcheck probes): moby ``getActiveContainer`` (``ref`` as the client named it)."""
        if not self.running:
            raise Conflict(f"container {self.id} is not running")
        if self.paused:
            raise Conflict(f"Container {ref or self.id} is paused, unpause the container before exec")
        if self.restarting:
            raise Conflict(f"Container {self.id} is restarting, wait until the container is running")

    def check_can_update(self) -> None:
        if self.removing or self.dead:
            raise Conflict(f'Cannot update container {self.id}: container is marked for removal and cannot be "update"')

    # -- state transitions --------------------------------------------------------------------
    def set_running(self, pid: int) -> None:
        self.state.update(
            Status="running", Running=True, Paused=False, Restarting=False, OOMKilled=False, Dead=False,
            Pid=pid, ExitCode=0, Error="", StartedAt=now_rfc3339(),
        )

    def set_paused(self, paused: bool) -> None:
        self.state.update(Paused=paused, Status="paused" if paused else "running")

    def set_exited(self, code: int, finished_at: str | None = None, oom: bool = False, error: str = "") -> None:
        self.state.update(
            Status="exited", Running=False, Paused=False, Restarting=False, OOMKilled=oom,
            Pid=0, ExitCode=code, Error=error, FinishedAt=finished_at or now_rfc3339(),
        )
        self.exit_seq += 1

    def set_restarting(self, code: int, finished_at: str | None = None, oom: bool = False) -> None:
        """moby ``SetRestarting``: still Running for every other check, no process, stop waiters told."""
        self.state.update(
            Status="restarting", Running=True, Paused=False, Restarting=True, OOMKilled=oom,
            Pid=0, ExitCode=code, FinishedAt=finished_at or now_rfc3339(),
        )
        self.exit_seq += 1

    def set_stopped_from_restarting(self) -> None:
        """A restart that will not happen (cancelled, or the start failed): exited with the last code."""
        self.state.update(Status="exited", Running=False, Paused=False, Restarting=False, Pid=0)
        self.exit_seq += 1

    def set_start_failed(self, code: int, error: str) -> None:
        self.state.update(Status="created" if self.state["StartedAt"] == ZERO_TIME else "exited",
                          ExitCode=code, Error=error, Running=False, Restarting=False, Paused=False, Pid=0)
        self.exit_seq += 1

    def set_removing(self) -> None:
        self.removing = True
        self.state["Status"] = "removing"

    def set_dead(self, error: str) -> None:
        """Removal failed half-way: moby marks the container Dead and keeps the error."""
        self.removing = False
        self.state.update(Status="dead", Dead=True, Running=False, Error=error)

    # -- views ------------------------------------------------------------------------------
    def human_status(self) -> str:
        """moby ``State.String``."""
        st = self.state
        if st["Running"]:
            up = human_duration(time.time() - parse_rfc3339(st["StartedAt"]))
            if st.get("Paused"):
                return f"Up {up} (Paused)"
            if st.get("Restarting"):
                ago = human_duration(time.time() - parse_rfc3339(st["FinishedAt"]))
                return f"Restarting ({st['ExitCode']}) {ago} ago"
            health = st.get("Health")
            if health:
                hs = health.get("Status") or "starting"
                return f"Up {up} ({'health: starting' if hs == 'starting' else hs})"
            return f"Up {up}"
        if self.removing:
            return "Removal In Progress"
        if st.get("Dead"):
            return "Dead"
        if st["StartedAt"] == ZERO_TIME:
            return "Created"
        if st["FinishedAt"] == ZERO_TIME:
            return ""
        ago = human_duration(time.time() - parse_rfc3339(st["FinishedAt"]))
        return f"Exited ({st['ExitCode']}) {ago} ago"

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
            "Ports": _ps_ports(self.network_settings),
            "Labels": self.config.get("Labels") or {},
            "State": self.status,
            "Status": self.human_status(),
            "HostConfig": {"NetworkMode": host_config_view(self.host_config)["NetworkMode"]},
            "NetworkSettings": {"Networks": dict(self.network_settings.get("Networks") or {})},
            "Mounts": mounts_view(self.mount_points),
        }

    def inspect(self) -> dict[str, Any]:
        files = {key: str(self.root / name) for key, name in (("ResolvConfPath", "resolv.conf"),
                                                              ("HostnamePath", "hostname"), ("HostsPath", "hosts"))
                 if self.network_settings and (self.root / name).exists()}
        return {
            "Id": self.id,
            "Created": self.created,
            "Path": self.path,
            "Args": self.args,
            "State": dict(self.state),
            "Image": self.image_id,
            "ResolvConfPath": files.get("ResolvConfPath", ""),
            "HostnamePath": files.get("HostnamePath", ""),
            "HostsPath": files.get("HostsPath", ""),
            "LogPath": str(self.log_path),
            "Name": "/" + self.name,
            "RestartCount": self.restart_count,
            "Driver": "overlay",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": None,
            "HostConfig": host_config_view(self.host_config),
            "GraphDriver": {"Name": "overlay", "Data": {}},
            "Mounts": mounts_view(self.mount_points),
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
                **self.network_settings,
            },
        }


# What dockerd fills in a container's HostConfig when the client left it out (moby's defaults
# for a plain ``docker run``), so tools reading ``docker inspect`` find every field.
HOST_CONFIG_DEFAULTS: dict[str, Any] = {
    "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
    "NetworkMode": "none", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0], "CapAdd": None,
    "CapDrop": None, "CgroupnsMode": "private", "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None,
    "GroupAdd": None, "IpcMode": "private", "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PidMode": "",
    "Privileged": False, "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "",
    "UsernsMode": "", "ShmSize": 67108864, "Runtime": "kobako", "Isolation": "", "CpuShares": 0, "Memory": 0,
    "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
    "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0,
    "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
    "Devices": [], "DeviceCgroupRules": None, "DeviceRequests": None, "MemoryReservation": 0, "MemorySwap": 0,
    "MemorySwappiness": None, "OomKillDisable": None, "PidsLimit": None, "Ulimits": [], "CpuCount": 0,
    "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
}


def host_config_view(host_config: dict[str, Any]) -> dict[str, Any]:
    """The stored HostConfig over docker's defaults; ``NetworkMode: default`` is what kobako
    gives without networking (a private netns with only lo), i.e. ``none``."""
    view = {**HOST_CONFIG_DEFAULTS, **{k: v for k, v in host_config.items() if v is not None or k not in
                                       HOST_CONFIG_DEFAULTS}}
    if view.get("NetworkMode") in ("", "default", None):
        view["NetworkMode"] = "none"
    log = dict(view.get("LogConfig") or {})
    if not log.get("Type"):  # the docker CLI sends {"Type": ""}; dockerd fills the default driver
        view["LogConfig"] = {"Type": "json-file", "Config": log.get("Config") or {}}
    restart = dict(view.get("RestartPolicy") or {})
    if not restart.get("Name"):
        retries = int(restart.get("MaximumRetryCount") or 0)
        view["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": retries}
    return view


def _ps_ports(network_settings: dict[str, Any]) -> list[dict[str, Any]]:
    """``Ports`` of the ps summary, from NetworkSettings.Ports (kobako.network)."""
    ports = network_settings.get("Ports") or {}
    if not ports:
        return []
    from kobako.network import summary_ports

    return summary_ports(ports)
