"""The one place where kobako errors become HTTP status codes.

Like moby ``daemon/server/httpstatus/status.go``: only the typed kinds of
:mod:`kobako.errors` are mapped; anything else is a 500 and the server logs
its traceback.  No other module in ``kobako.api`` looks at error types.
"""

from __future__ import annotations

from kobako import errors

_STATUS: dict[type[BaseException], int] = {
    errors.InvalidArgument: 400,
    errors.Unauthorized: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.NotModified: 304,
    errors.Unsupported: 501,
    errors.Unavailable: 503,
    errors.SystemError_: 500,
}


def status_for(exc: BaseException) -> int:
    """HTTP status for ``exc``: the first kind found along its MRO, else 500."""
    for cls in type(exc).__mro__:
        status = _STATUS.get(cls)
        if status is not None:
            return status
    return 500


def is_known(exc: BaseException) -> bool:
    """True when ``exc`` is one of kobako's typed errors (so no traceback is needed)."""
    return any(cls is errors.KobakoError for cls in type(exc).__mro__)
