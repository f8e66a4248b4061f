"""Registry errors: the OCI distribution-spec error codes and their HTTP statuses.

The registry server raises ``RegistryError`` and writes it as
``{"errors": [{"code", "message", "detail"}]}`` (distribution-spec "Error Codes"); the registry
protocol has its own statuses, so the server maps them here rather than in ``api/httpstatus``.
The client turns a registry's error reply into a kobako kind with ``kind_for(status)``.
"""

from __future__ import annotations

from typing import Any

from kobako.errors import (
    Conflict,
    InvalidArgument,
    KobakoError,
    NotFound,
    PermissionDenied,
    SystemError_,
    Unauthorized,
    Unavailable,
    Unsupported,
)

# code -> (HTTP status, default message)
CODES: dict[str, tuple[int, str]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "manifest references a manifest or blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "TAG_INVALID": (400, "manifest tag did not match URI"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (405, "The operation is unsupported."),
    "TOOMANYREQUESTS": (429, "too many requests"),
    "RANGE_INVALID": (416, "invalid content range"),
    "PAGINATION_NUMBER_INVALID": (400, "invalid number of results requested"),
    "UNKNOWN": (500, "unknown error"),
}

_KIND: dict[int, type[KobakoError]] = {
    400: InvalidArgument, 401: Unauthorized, 403: PermissionDenied, 404: NotFound, 405: Unsupported,
    416: InvalidArgument, 429: Unavailable, 409: Conflict,
}


class RegistryError(KobakoError):
    """One OCI error. ``status`` is the HTTP status the registry answers with."""

    def __init__(self, code: str, message: str | None = None, detail: Any = None, status: int | None = None) -> None:
        default_status, default_message = CODES.get(code, (500, code.lower()))
        self.code = code
        self.message = message or default_message
        self.detail = detail
        self.status = status or default_status
        self.headers: dict[str, str] = {}  # e.g. WWW-Authenticate on UNAUTHORIZED
        super().__init__(self.message)

    def to_json(self) -> dict[str, Any]:
        return {"errors": [{"code": self.code, "message": self.message, "detail": self.detail}]}


def kind_for(status: int) -> type[KobakoError]:
    """The kobako error kind for an HTTP status a registry answered with."""
    return _KIND.get(status, SystemError_)

