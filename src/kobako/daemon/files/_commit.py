"""The image config of ``docker commit`` (moby ``CreateImageFromContainer`` + ``NewChildImage``)."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

from kobako.errors import InvalidArgument
from kobako.images import apply_changes, parse_reference

# What a child image does not inherit from its parent's config as is.
_OWN = ("config", "container_config", "container", "history", "rootfs", "created", "author", "comment",
        "docker_version")


def reference(repo: str, tag: str) -> str | None:
    """moby ``RepoTagReference``: no repo, no reference (a lone tag is ignored); no digests."""
    if not repo:
        return None
    ref = f"{repo}:{tag}" if tag else repo
    if parse_reference(ref).digest is not None:
        raise InvalidArgument("cannot commit to digest reference")
    return ref


def merge(user: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """moby ``daemon.merge``: fill what the commit's config leaves empty from the container's."""
    if not user.get("User"):
        user["User"] = container.get("User") or ""
    ports = dict(user.get("ExposedPorts") or {})
    for port in container.get("ExposedPorts") or {}:
        ports.setdefault(port, {})
    user["ExposedPorts"] = ports or None
    env = list(user.get("Env") or [])
    keys = {e.partition("=")[0] for e in env}
    env += [e for e in container.get("Env") or [] if e.partition("=")[0] not in keys]
    user["Env"] = env or None
    labels = dict(container.get("Labels") or {})
    labels.update(user.get("Labels") or {})
    user["Labels"] = labels
    if not user.get("Entrypoint"):
        if not user.get("Cmd"):
            user["Cmd"] = container.get("Cmd")
        if user.get("Entrypoint") is None:
            user["Entrypoint"] = container.get("Entrypoint")
    if not user.get("Healthcheck") and container.get("Healthcheck"):
        user["Healthcheck"] = container["Healthcheck"]
    if not user.get("WorkingDir"):
        user["WorkingDir"] = container.get("WorkingDir") or ""
    vols = dict(user.get("Volumes") or {})
    vols.update(container.get("Volumes") or {})
    user["Volumes"] = vols or None
    if not user.get("StopSignal") and container.get("StopSignal"):
        user["StopSignal"] = container["StopSignal"]
    return user


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def commit_config(parent: dict[str, Any], container_config: dict[str, Any], body: dict[str, Any] | None,
                  changes: list[str], author: str, comment: str) -> dict[str, Any]:
    """The new image's config without ``rootfs`` (filled in with the new layer's diff id).

    ``body`` (the request's Config) defaults to the container's config; ``changes`` are applied
    to it as Dockerfile lines, then the container's config fills what is left empty.
    """
    base = copy.deepcopy(body if body is not None else container_config)
    cfg = merge(apply_changes(base, changes), container_config)
    created = now()
    entry: dict[str, Any] = {"created": created, "created_by": " ".join(container_config.get("Cmd") or [])}
    if author:
        entry["author"] = author
    if comment:
        entry["comment"] = comment
    out = {k: v for k, v in parent.items() if k not in _OWN}
    out.update(
        config=cfg,
        container_config=copy.deepcopy(container_config),
        created=created,
        history=[*copy.deepcopy(parent.get("history") or []), entry],
    )
    out.setdefault("architecture", "amd64")
    out.setdefault("os", "linux")
    if author:
        out["author"] = author
    if comment:
        out["comment"] = comment
    return out
