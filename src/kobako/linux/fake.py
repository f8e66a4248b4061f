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
    bounding: int = (1 << 41) - 1  # what capbset_read reports (caps 0..40, as on Linux 5.9+)
    permitted: int = (1 << 41) - 1  # what capget reports as effective and permitted

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

    def setgroups(self, gids: list[int]) -> None:
        self._rec("setgroups", tuple(gids))

    def setgid(self, gid: int) -> None:
        self._rec("setgid", gid)

    def setuid(self, uid: int) -> None:
        self._rec("setuid", uid)

    def capget(self) -> tuple[int, int, int]:
        return self.permitted, self.permitted, 0

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self._rec("capset", effective, permitted, inheritable)

    def capbset_read(self, cap: int) -> bool:
        if cap > 40:
            raise OSError(22, "Invalid argument", "prctl(23)")
        return bool(self.bounding >> cap & 1)

    def capbset_drop(self, cap: int) -> None:
        self.bounding &= ~(1 << cap)
        self._rec("capbset_drop", cap)

    def ambient_raise(self, cap: int) -> None:
        self._rec("ambient_raise", cap)

    def set_keepcaps(self, keep: bool) -> None:
        self._rec("set_keepcaps", keep)

    def set_no_new_privs(self) -> None:
        self._rec("set_no_new_privs")

    def seccomp_set_filter(self, program: bytes, flags: int = 0) -> None:
        self._rec("seccomp_set_filter", len(program) // 8, flags)

    def names(self) -> list[str]:
        return [c.name for c in self.calls]
