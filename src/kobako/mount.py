"""A mount as data: what snapshotters hand out and runtimes perform (containerd's mount.Mount)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Mount:
    """``mount -t TYPE -o OPTIONS SOURCE <target>``; the target is chosen by whoever performs it.

    ``type`` is a filesystem type ("overlay", "tmpfs", ...) or "bind"; options are mount(8)
    options ("ro", "rbind", "lowerdir=...", ...).
    """

    type: str
    source: str
    options: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"type": self.type, "source": self.source, "options": list(self.options)}

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> Mount:
        opts = obj.get("options") or []
        assert isinstance(opts, list)
        return cls(str(obj["type"]), str(obj["source"]), tuple(str(o) for o in opts))
