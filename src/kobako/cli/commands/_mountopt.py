"""``-v``, ``--mount``, ``--tmpfs`` as the docker CLI turns them into a create request
(docker/cli ``opts/mount.go`` and ``cli/command/container/opts.go``); the daemon validates the rest."""

from __future__ import annotations

import csv
import os

from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _bool(key: str, val: str) -> bool:
    v = val.lower()
    if v in ("1", "t", "true"):
        return True
    if v in ("0", "f", "false"):
        return False
    raise ValueError(f"invalid value for {key}: {val}")


def _kv(target: dict[str, str], val: str) -> None:
    k, _, v = val.partition("=")
    target[k] = v


def parse_mount(value: str) -> dict[str, Any]:
    """One ``--mount`` value → a ``HostConfig.Mounts`` entry; errors as docker prints them."""
    try:
        return _parse_mount(value)
    except ValueError as exc:
        raise CommandError(f'invalid argument "{value}" for "--mount" flag: {exc}\n'
                           "See 'kobako run --help'.", 125) from None


def _parse_mount(value: str) -> dict[str, Any]:
    from kobako.cli.commands._opts import ram_in_bytes

    fields = next(csv.reader([value]))
    m: dict[str, Any] = {"Type": "volume"}
    vol: dict[str, Any] = {}
    bind: dict[str, Any] = {}
    tmpfs: dict[str, Any] = {}
    for f in fields:
        key, sep, val = f.partition("=")
        key = key.lower()
        if not sep:
            if key in ("readonly", "ro"):
                m["ReadOnly"] = True
            elif key == "volume-nocopy":
                vol["NoCopy"] = True
            elif key == "bind-nonrecursive":
                bind["NonRecursive"] = True
            else:
                raise ValueError(f"invalid field '{f}' must be a key=value pair")
            continue
        if key == "type":
            m["Type"] = val.lower()
        elif key in ("source", "src"):
            m["Source"] = os.path.abspath(val) if val == "." or val.startswith("./") else val
        elif key in ("target", "dst", "destination"):
            m["Target"] = val
        elif key in ("readonly", "ro"):
            m["ReadOnly"] = _bool(key, val)
        elif key == "consistency":
            m["Consistency"] = val.lower()
        elif key == "bind-propagation":
            bind["Propagation"] = val.lower()
        elif key == "bind-nonrecursive":
            bind["NonRecursive"] = _bool(key, val)
        elif key == "bind-create-mountpoint":
            bind["CreateMountpoint"] = _bool(key, val)
        elif key == "volume-nocopy":
            vol["NoCopy"] = _bool(key, val)
        elif key == "volume-label":
            _kv(vol.setdefault("Labels", {}), val)
        elif key == "volume-driver":
            vol.setdefault("DriverConfig", {})["Name"] = val
        elif key == "volume-opt":
            _kv(vol.setdefault("DriverConfig", {}).setdefault("Options", {}), val)
        elif key == "volume-subpath":
            vol["Subpath"] = val
        elif key == "tmpfs-size":
            try:
                tmpfs["SizeBytes"] = ram_in_bytes(val)
            except CommandError:
                raise ValueError(f"invalid value for {key}: {val}") from None
        elif key == "tmpfs-mode":
            try:
                tmpfs["Mode"] = int(val, 8)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {val}") from None
        else:
            raise ValueError(f"unexpected key '{key}' in '{f}'")
    if not m.get("Type"):
        raise ValueError("type is required")
    if not m.get("Target"):
        raise ValueError("target is required")
    for opts, kind, field in ((vol, "volume", "VolumeOptions"), (bind, "bind", "BindOptions"),
                              (tmpfs, "tmpfs", "TmpfsOptions")):
        if opts:
            if m["Type"] != kind:
                raise ValueError(f"cannot mix '{kind}-*' options with mount type '{m['Type']}'")
            m[field] = opts
    return m


def split_volumes(specs: list[str]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """``-v`` values → (``HostConfig.Binds``, ``Config.Volumes``): a value with a source is a bind or a
    named volume; a bare path is an anonymous volume. A relative ``./src`` becomes absolute."""
    binds: list[str] = []
    volumes: dict[str, dict[str, Any]] = {}
    for spec in specs:
        source, sep, rest = spec.partition(":")
        if not sep:
            volumes[spec] = {}
            continue
        if not os.path.isabs(source) and (source == "." or source.startswith("./") or source.startswith("../")):
            source = os.path.abspath(source)
        binds.append(f"{source}:{rest}")
    return binds, volumes


def tmpfs_map(specs: list[str]) -> dict[str, str]:
    out = {}
    for spec in specs:
        path, _, opts = spec.partition(":")
        out[path] = opts
    return out
