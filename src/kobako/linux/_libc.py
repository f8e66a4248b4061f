"""The one place kobako touches ctypes: libc loaded lazily, prototypes set once.

``libc()`` returns the loaded library typed as ``_Libc`` so callers see exactly the
functions kobako uses (the trio ``_windows_cffi.py`` pattern).
"""

from __future__ import annotations

import ctypes
from typing import Protocol, cast


class _Libc(Protocol):
    def mount(self, source: bytes | None, target: bytes, fstype: bytes | None, flags: int,
              data: bytes | None, /) -> int: ...
    def umount2(self, target: bytes, flags: int, /) -> int: ...
    def unshare(self, flags: int, /) -> int: ...
    def setns(self, fd: int, nstype: int, /) -> int: ...
    def sethostname(self, name: bytes, length: int, /) -> int: ...
    def prctl(self, option: int, arg2: int, arg3: int, arg4: int, arg5: int, /) -> int: ...
    def syscall(self, number: int, *args: object) -> int: ...


_lib: _Libc | None = None


def libc() -> _Libc:
    """Load libc on first use and declare the prototypes kobako calls."""
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(None, use_errno=True)
        c_char_p, c_int, c_ulong, c_size_t = ctypes.c_char_p, ctypes.c_int, ctypes.c_ulong, ctypes.c_size_t
        lib.mount.argtypes = [c_char_p, c_char_p, c_char_p, c_ulong, c_char_p]
        lib.umount2.argtypes = [c_char_p, c_int]
        lib.unshare.argtypes = [c_int]
        lib.setns.argtypes = [c_int, c_int]
        lib.sethostname.argtypes = [c_char_p, c_size_t]
        lib.prctl.argtypes = [c_int, c_ulong, c_ulong, c_ulong, c_ulong]
        lib.syscall.restype = ctypes.c_long  # variadic: argtypes left unset, ints passed as long
        for name in ("mount", "umount2", "unshare", "setns", "sethostname", "prctl"):
            getattr(lib, name).restype = c_int
        _lib = cast(_Libc, lib)
    return _lib


def errno() -> int:
    return ctypes.get_errno()


def long(value: int) -> object:
    """A variadic ``syscall()`` argument of C type long."""
    return ctypes.c_long(value)


def buffer(init: bytes | int) -> ctypes.Array[ctypes.c_char]:
    """A mutable C buffer (for structs the kernel reads or fills), initialised from bytes or zeroed."""
    return ctypes.create_string_buffer(init, len(init)) if isinstance(init, bytes) else ctypes.create_string_buffer(init)


def address(buf: ctypes.Array[ctypes.c_char]) -> int:
    """The address of a buffer from ``buffer()``, for a pointer field inside another struct."""
    return ctypes.addressof(buf)
