from __future__ import annotations

import pytest

from kobako import errors
from kobako.api.httpstatus import is_known, status_for


class _Custom(errors.Conflict):
    pass


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.InvalidArgument("x"), 400),
        (errors.Unauthorized("x"), 401),
        (errors.PermissionDenied("x"), 403),
        (errors.NotFound("x"), 404),
        (errors.NoSuchContainer("web"), 404),
        (errors.NoSuchImage("alpine"), 404),
        (errors.NoSuchExec("e"), 404),
        (errors.Conflict("x"), 409),
        (errors.ContainerExists("x"), 409),
        (errors.ImageInUse("x"), 409),
        (_Custom("x"), 409),
        (errors.NotModified("x"), 304),
        (errors.Unsupported("x"), 501),
        (errors.Unavailable("x"), 503),
        (errors.DigestMismatch("a", "b"), 400),
        (errors.SystemError_("x"), 500),
        (errors.RuntimeFailure("x"), 500),
        (errors.KobakoError("x"), 500),
        (RuntimeError("x"), 500),
        (KeyError("x"), 500),
        (OSError(2, "No such file"), 500),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_status_for(exc: BaseException, status: int) -> None:
    assert status_for(exc) == status


def test_is_known() -> None:
    assert is_known(errors.NoSuchContainer("x"))
    assert is_known(errors.RuntimeFailure("x"))
    assert not is_known(ValueError("x"))
