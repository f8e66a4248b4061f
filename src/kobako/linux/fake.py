"""``RecordingSyscalls``: a ``Syscalls`` that records calls instead of making them.

Unit tests run the init's root-filesystem setup against a tmp tree with this fake and
assert the recorded order (youki ``syscall/test.rs``). Plain file operations (mkdir,
symlink) still happen for real under the tmp tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[object, ...]


@dataclass(slots=True)
class RecordingSyscalls:
    calls: list[Call] = field(default_factory=list)

    def _rec(self, name: str, *args: object) -> None:
        self.calls.append(Call(name, args))

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
        self._rec("mount", source, target, fstype, int(flags), data)

    def umount2(self, target: str, flags: int = 0) -> None:
        self._rec("umount2", target, int(flags))

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._rec("pivot_root", new_root, put_old)

    def chdir(self, path: str) -> None:
        self._rec("chdir", path)

    def mknod(self, path: str, mode: int, device: int) -> None:
        self._rec("mknod", path, mode, device)

    def unshare(self, flags: int) -> None:
        self._rec("unshare", int(flags))

    def sethostname(self, name: str) -> None:
        self._rec("sethostname", name)

    def names(self) -> list[str]:
        return [c.name for c in self.calls]
