"""Docker's stdcopy framing (moby ``api/pkg/stdcopy/stdcopy.go``).

Each frame is an 8-byte header ``[stream, 0, 0, 0, len (uint32 big-endian)]``
followed by ``len`` bytes of payload.  Used for attach, exec and logs when the
container has no TTY.  Stdlib only: the client imports this module.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:  # not at run time: the CLI imports this module
    from collections.abc import Iterator

STDIN = 0
STDOUT = 1
STDERR = 2
SYSTEMERR = 3  # ends the stream with an error message

HEADER_SIZE = 8
_HEADER = struct.Struct(">BxxxL")
# Large payloads are split so that one frame stays well below the header limit.
MAX_FRAME = 32 * 1024 * 1024


def frame(stream: int, data: bytes) -> bytes:
    """One stdcopy frame (or several, for payloads over ``MAX_FRAME`` bytes)."""
    if not 0 <= stream <= SYSTEMERR:
        raise ValueError(f"invalid stdcopy stream {stream}")
    if len(data) <= MAX_FRAME:
        return _HEADER.pack(stream, len(data)) + data
    return b"".join(
        _HEADER.pack(stream, len(part)) + part
        for part in (data[i : i + MAX_FRAME] for i in range(0, len(data), MAX_FRAME))
    )


class StdcopyError(ValueError):
    """The byte stream is not valid stdcopy framing."""


class StdcopyDecoder:
    """Incremental decoder: ``feed(bytes)`` yields ``(stream, payload)`` for each full frame.

    Call ``close()`` at EOF: it raises :class:`StdcopyError` if a frame was cut short.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        self._buf += data
        while len(self._buf) >= HEADER_SIZE:
            stream, size = _HEADER.unpack_from(self._buf)
            if stream > SYSTEMERR:
                raise StdcopyError(f"unrecognized stdcopy stream {stream}")
            if len(self._buf) < HEADER_SIZE + size:
                return
            payload = bytes(self._buf[HEADER_SIZE : HEADER_SIZE + size])
            del self._buf[: HEADER_SIZE + size]
            yield stream, payload

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def close(self) -> None:
        if self._buf:
            raise StdcopyError(f"stdcopy stream ended inside a frame ({len(self._buf)} bytes left)")
