"""Platforms: the host's, parsing ``--platform``, and choosing from an image index."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass
from typing import Any

from kobako.errors import InvalidArgument, NotFound

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
         "armv6l": "arm", "i686": "386", "i386": "386", "ppc64le": "ppc64le", "s390x": "s390x",
         "riscv64": "riscv64"}


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")


def host_platform() -> Platform:
    machine = _platform.machine()
    arch = _ARCH.get(machine, machine)
    variant = {"armv7l": "v7", "armv6l": "v6"}.get(machine, "")
    return Platform("linux", arch, variant)


def parse_platform(text: str | None) -> Platform:
    if not text:
        return host_platform()
    parts = text.lower().split("/")
    if len(parts) == 1:  # "arm64" alone
        parts = ["linux", parts[0]]
    if len(parts) > 3 or not all(parts):
        raise InvalidArgument(f"invalid platform {text!r}: expected os/arch[/variant]")
    return Platform(parts[0], _ARCH.get(parts[1], parts[1]), parts[2] if len(parts) == 3 else "")


def _variant_ok(want: Platform, have: str) -> bool:
    if not want.variant:
        return True
    if want.architecture == "arm64" and want.variant == "v8" and not have:
        return True
    return want.variant == have


def select_manifest(index: dict[str, Any], want: Platform) -> dict[str, Any]:
    """The descriptor in ``index`` for ``want`` (attestations and unknown platforms skipped)."""
    candidates = []
    for desc in index.get("manifests") or []:
        plat = desc.get("platform") or {}
        if plat.get("os") != want.os or plat.get("architecture") != want.architecture:
            continue
        if not _variant_ok(want, str(plat.get("variant", ""))):
            continue
        candidates.append(desc)
    if not candidates:
        raise NotFound(f"no matching manifest for {want} in the manifest list entries")
    # prefer an exact variant, then the first (the index's own order, as containerd does)
    exact = [d for d in candidates if (d.get("platform") or {}).get("variant", "") == want.variant]
    return (exact or candidates)[0]
