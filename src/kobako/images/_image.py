"""``Image``: one image record, and its Engine API shapes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")
ZERO_TIME = "0001-01-01T00:00:00Z"


def parse_time(s: str | None) -> int:
    """Unix seconds of an RFC 3339 (nano) timestamp; 0 if absent or unreadable."""
    if not s:
        return 0
    m = _RFC3339.match(s)
    if m is None:
        return 0
    tz = m.group(3) or "Z"
    text = m.group(1) + ("+00:00" if tz == "Z" else tz)
    try:
        return int(datetime.fromisoformat(text).astimezone(timezone.utc).timestamp())
    except ValueError:
        return 0


def _config_section(cfg: dict[str, Any]) -> dict[str, Any]:
    """The container config part of ``GET /images/{name}/json`` (``Config``)."""
    return {
        "Hostname": "",
        "Domainname": "",
        "User": cfg.get("User", ""),
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "ExposedPorts": cfg.get("ExposedPorts"),
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": cfg.get("Env"),
        "Cmd": cfg.get("Cmd"),
        "Image": "",
        "Volumes": cfg.get("Volumes"),
        "WorkingDir": cfg.get("WorkingDir", ""),
        "Entrypoint": cfg.get("Entrypoint"),
        "OnBuild": cfg.get("OnBuild"),
        "Labels": cfg.get("Labels"),
        **({"StopSignal": cfg["StopSignal"]} if cfg.get("StopSignal") else {}),
        **({"Healthcheck": cfg["Healthcheck"]} if cfg.get("Healthcheck") else {}),
    }


@dataclass(frozen=True, slots=True)
class Image:
    """An image: ``id`` is the config digest; config and manifest are the decoded blobs."""

    id: str
    manifest_digest: str
    config: dict[str, Any] = field(hash=False, compare=False)
    manifest: dict[str, Any] = field(hash=False, compare=False)
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    created: str = ZERO_TIME
    size: int = 0
    driver: str = "overlayfs"

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]

    @property
    def diff_ids(self) -> list[str]:
        return [str(d) for d in (self.config.get("rootfs") or {}).get("diff_ids", [])]

    @property
    def container_config(self) -> dict[str, Any]:
        """The ``config`` section of the image config (Env, Cmd, Entrypoint, ...)."""
        cfg = self.config.get("config") or {}
        return dict(cfg)

    def to_inspect(self) -> dict[str, Any]:
        """``GET /images/{name}/json``."""
        cfg = self.config
        out: dict[str, Any] = {
            "Id": self.id,
            "RepoTags": list(self.repo_tags),
            "RepoDigests": list(self.repo_digests),
            "Parent": "",
            "Comment": cfg.get("comment", ""),
            "Created": self.created,
            "DockerVersion": cfg.get("docker_version", ""),
            "Author": cfg.get("author", ""),
            "Config": _config_section(self.container_config),
            "Architecture": cfg.get("architecture", ""),
            "Os": cfg.get("os", ""),
            "Size": self.size,
            "VirtualSize": self.size,
            "GraphDriver": {"Data": None, "Name": self.driver},
            "RootFS": {"Type": "layers", "Layers": self.diff_ids},
            "Metadata": {"LastTagTime": ZERO_TIME},
        }
        if cfg.get("variant"):
            out["Variant"] = cfg["variant"]
        return out

    def to_summary(self) -> dict[str, Any]:
        """One entry of ``GET /images/json``."""
        return {
            "Id": self.id,
            "ParentId": "",
            "RepoTags": list(self.repo_tags),
            "RepoDigests": list(self.repo_digests),
            "Created": parse_time(self.created),
            "Size": self.size,
            "SharedSize": -1,
            "VirtualSize": self.size,
            "Labels": self.container_config.get("Labels") or {},
            "Containers": -1,
        }
