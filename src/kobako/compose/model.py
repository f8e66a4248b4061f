"""The normalised project model, and the names and labels compose gives the objects it makes.

A service is a plain dict in the shape ``docker compose config`` prints (long-syntax ports and volumes,
maps for environment/labels, ``depends_on`` as ``{name: {condition, required, restart}}``, ``networks``
as ``{name: {aliases, ipv4_address} | None}``), so ``config`` output, the config hash and planning all read
the same data.  Container ``<project>-<service>-<n>``, networks and volumes ``<project>_<key>`` unless
``name:`` is set, as compose v2 names them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import kobako

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

LABEL_PROJECT = "com.docker.compose.project"
LABEL_SERVICE = "com.docker.compose.service"
LABEL_NUMBER = "com.docker.compose.container-number"
LABEL_ONEOFF = "com.docker.compose.oneoff"
LABEL_WORKING_DIR = "com.docker.compose.project.working_dir"
LABEL_CONFIG_FILES = "com.docker.compose.project.config_files"
LABEL_CONFIG_HASH = "com.docker.compose.config-hash"
LABEL_DEPENDS_ON = "com.docker.compose.depends_on"
LABEL_IMAGE = "com.docker.compose.image"
LABEL_VERSION = "com.docker.compose.version"
LABEL_NETWORK = "com.docker.compose.network"
LABEL_VOLUME = "com.docker.compose.volume"
# The compose release whose behaviour kobako follows; kobako's own version goes with it.
COMPOSE_VERSION = f"2.29.0+kobako.{kobako.__version__}"

# keys of a service that do not change the container it makes (compose leaves them out of the hash)
_HASH_EXCLUDED = ("build", "pull_policy", "scale", "profiles", "depends_on")


@dataclass
class Project:
    name: str
    working_dir: str
    config_files: list[str]
    services: dict[str, dict[str, Any]]
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    disabled: dict[str, dict[str, Any]] = field(default_factory=dict)  # services whose profiles are off
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    separator: str = "-"  # "_" with --compatibility (compose v1's container names)
    environment: dict[str, str] = field(default_factory=dict)

    # -- names ------------------------------------------------------------------------------------
    def container_name(self, service: str, number: int) -> str:
        explicit = self.services.get(service, {}).get("container_name")
        sep = self.separator
        return str(explicit) if explicit else f"{self.name}{sep}{service}{sep}{number}"

    def network_name(self, key: str) -> str:
        return str(self.networks[key]["name"])

    def volume_name(self, key: str) -> str:
        return str(self.volumes[key]["name"])

    def image_name(self, service: str) -> str:
        """The image a service runs: its ``image``, or ``<project>-<service>`` for a built one."""
        svc = self.services.get(service) or self.disabled[service]
        return str(svc.get("image") or f"{self.name}{self.separator}{service}")

    def replicas(self, service: str) -> int:
        svc = self.services[service]
        if svc.get("scale") is not None:
            return int(svc["scale"])
        return int((svc.get("deploy") or {}).get("replicas", 1))

    # -- order ------------------------------------------------------------------------------------
    def dependencies(self, service: str) -> list[str]:
        svc = self.services[service]
        deps = list((svc.get("depends_on") or {}).keys())
        mode = svc.get("network_mode") or ""
        if mode.startswith("service:") and mode[8:] not in deps:
            deps.append(mode[8:])
        return deps

    def ordered(self, only: list[str] | None = None) -> list[str]:
        """Service names, each after the ones it depends on (``only``: those and their dependencies)."""
        wanted = set(self.with_dependencies(only) if only else self.services)
        out: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for dep in self.dependencies(name):
                if dep in self.services:
                    visit(dep)
            if name in wanted:
                out.append(name)

        for name in sorted(self.services):
            visit(name)
        return out

    def with_dependencies(self, names: list[str]) -> list[str]:
        out: list[str] = []
        stack = list(names)
        while stack:
            n = stack.pop()
            if n in out or n not in self.services:
                continue
            out.append(n)
            stack.extend(self.dependencies(n))
        return out

    # -- labels -----------------------------------------------------------------------------------
    def config_hash(self, service: str) -> str:
        return config_hash(self.services[service])

    def container_labels(self, service: str, number: int, *, oneoff: bool = False,
                         image_id: str = "") -> dict[str, str]:
        svc = self.services[service]
        labels = {str(k): str(v) for k, v in (svc.get("labels") or {}).items()}
        deps = svc.get("depends_on") or {}
        labels.update({
            LABEL_PROJECT: self.name,
            LABEL_SERVICE: service,
            LABEL_NUMBER: str(number),
            LABEL_ONEOFF: "True" if oneoff else "False",
            LABEL_WORKING_DIR: self.working_dir,
            LABEL_CONFIG_FILES: ",".join(self.config_files),
            LABEL_CONFIG_HASH: self.config_hash(service),
            LABEL_DEPENDS_ON: ",".join(f"{d}:{c.get('condition', 'service_started')}:"
                                       f"{'true' if c.get('restart') else 'false'}" for d, c in deps.items()),
            LABEL_IMAGE: image_id or self.image_name(service),
            LABEL_VERSION: COMPOSE_VERSION,
        })
        return labels

    def to_dict(self) -> dict[str, Any]:
        """The model as ``config`` prints it."""
        out: dict[str, Any] = {"name": self.name, "services": {k: self.services[k] for k in sorted(self.services)}}
        if self.networks:
            out["networks"] = {k: self.networks[k] for k in sorted(self.networks)}
        if self.volumes:
            out["volumes"] = {k: self.volumes[k] for k in sorted(self.volumes)}
        for kind in ("secrets", "configs"):
            section = getattr(self, kind)
            if section:
                out[kind] = {k: section[k] for k in sorted(section)}
        return out

    def file_mounts(self, service: str) -> list[dict[str, Any]]:
        """The service's secrets and configs as files: ``{target, file | data, mode, uid, gid}``.

        As compose does without swarm: secrets land in /run/secrets/<name> (a relative target is
        taken under /run/secrets), configs at /<name>; a ``file`` source is bind-mounted read-only,
        ``environment`` and ``content`` are written into the container before it starts."""
        svc = self.services[service]
        out = []
        for kind, default_dir in (("secrets", "/run/secrets"), ("configs", "")):
            for ref in svc.get(kind) or []:
                conf = getattr(self, kind)[ref["source"]]
                target = str(ref.get("target") or ref["source"])
                if not target.startswith("/"):
                    target = f"{default_dir}/{target}"
                entry: dict[str, Any] = {"target": target, "mode": int(ref.get("mode", 0o444)),
                                         "uid": str(ref.get("uid", "0")), "gid": str(ref.get("gid", "0"))}
                if "file" in conf:
                    entry["file"] = conf["file"]
                elif "content" in conf:
                    entry["data"] = str(conf["content"]).encode()
                else:
                    entry["data"] = self.environment.get(conf["environment"], "").encode()
                out.append(entry)
        return out


def config_hash(service: dict[str, Any]) -> str:
    """sha256 of the service's canonical JSON, less what does not shape its container."""
    data = {k: v for k, v in service.items() if k not in _HASH_EXCLUDED}
    deploy = data.get("deploy")
    if isinstance(deploy, dict) and "replicas" in deploy:
        data["deploy"] = {k: v for k, v in deploy.items() if k != "replicas"}
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def normalize_project_name(name: str) -> str:
    """Lower-case, only ``[a-z0-9_-]``, starting with a letter or digit (compose's rule)."""
    out = "".join(c for c in name.lower() if c.isascii() and (c.isalnum() or c in "_-"))
    return out.lstrip("_-")
