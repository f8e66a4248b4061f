"""Named data volumes: the ``local`` driver (Docker's ``volume/local``).

    store = LocalVolumeStore(data_root / "volumes")
    v = store.create("web-data", opts={"type": "tmpfs", "device": "tmpfs", "o": "size=64m"}, labels={})
    path = store.acquire("web-data", container_id)   # the source to bind into the container
    store.release("web-data", container_id)          # the last release unmounts a tmpfs/device volume
    store.remove("web-data")                         # the caller has checked that no container uses it
"""

from __future__ import annotations

from ._store import (
    ANONYMOUS_LABEL,
    LocalVolumeStore,
    NoSuchVolume,
    Volume,
    VolumeExists,
    VolumeInUse,
    validate_name,
    validate_opts,
)

__all__ = [
    "ANONYMOUS_LABEL", "LocalVolumeStore", "NoSuchVolume", "Volume", "VolumeExists", "VolumeInUse",
    "validate_name", "validate_opts",
]
