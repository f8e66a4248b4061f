"""One hierarchy of typed errors for the whole engine.

This module is a leaf: it imports nothing from kobako, so every layer may import it.

    KobakoError
    ├── InvalidArgument      400   bad input: API field, flag, Dockerfile line, reference
    ├── Unauthorized         401
    ├── PermissionDenied     403
    ├── NotFound             404   NoSuchContainer, NoSuchImage, NoSuchExec, ...
    ├── Conflict             409   <Thing>Exists, <Thing>InUse, wrong state
    ├── NotModified          304   e.g. starting a running container
    ├── Unsupported          501
    ├── Unavailable          503
    └── SystemError_         500   anything the engine itself failed at
        └── RuntimeFailure         a container could not be created or started;
                                   carries the runtime's kind ("NotFound" for an
                                   executable not found, ...) for exit codes 125/126/127

Messages use Docker's wording where one exists, because the docker CLI prints them as they are.
The HTTP status of each kind is chosen in exactly one place (kobako.api.httpstatus) and the
exit code in exactly one place (kobako.cli.main).
"""

from __future__ import annotations


class KobakoError(Exception):
    """Base of every error kobako raises on purpose."""


class InvalidArgument(KobakoError):
    pass


class Unauthorized(KobakoError):
    pass


class PermissionDenied(KobakoError):
    pass


class NotFound(KobakoError):
    pass


class Conflict(KobakoError):
    pass


class NotModified(KobakoError):
    pass


class Unsupported(KobakoError):
    pass


class Unavailable(KobakoError):
    pass


class SystemError_(KobakoError):
    pass


class RuntimeFailure(SystemError_):
    """The runtime could not create or start a container process.

    ``kind`` is the runtime's classification, carried across process boundaries as
    ``{"kind": ..., "message": ...}``: "ExecNotFound" (→ exit 127), "ExecNotExecutable"
    (→ 126) or "Runtime" (→ 125).  The message keeps the phrases the docker CLI matches
    ("executable file not found", "no such file or directory", "permission denied").
    """

    def __init__(self, message: str, kind: str = "Runtime") -> None:
        super().__init__(message)
        self.kind = kind

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "message": str(self)}


class NoSuchContainer(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No such container: {ref}")


class NoSuchImage(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No such image: {ref}")


class NoSuchExec(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No such exec instance: {ref}")


class NoSuchBlob(NotFound):
    def __init__(self, digest: str) -> None:
        super().__init__(f"blob unknown: {digest}")


class NoSuchSnapshot(NotFound):
    def __init__(self, key: str) -> None:
        super().__init__(f"snapshot {key} does not exist")


class ContainerExists(Conflict):
    pass


class ImageInUse(Conflict):
    pass


class SnapshotExists(Conflict):
    pass


class DigestMismatch(InvalidArgument):
    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"digest mismatch: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


def error_from_json(obj: dict[str, str]) -> KobakoError:
    """Rebuild an error that crossed a process boundary as ``{"kind", "message"}``."""
    kind = obj.get("kind", "Runtime")
    message = obj.get("message", "unknown error")
    simple: dict[str, type[KobakoError]] = {
        "InvalidArgument": InvalidArgument,
        "NotFound": NotFound,
        "Conflict": Conflict,
        "PermissionDenied": PermissionDenied,
        "Unsupported": Unsupported,
    }
    if kind in simple:
        return simple[kind](message)
    return RuntimeFailure(message, kind)
