"""API versions: the ``/vX.Y`` path prefix and the headers every response carries
(moby ``daemon/server/middleware/version.go``)."""

from __future__ import annotations

import re

from kobako import API_VERSION, MIN_API_VERSION, __version__
from kobako.api.request import version_tuple
from kobako.errors import InvalidArgument

_VERSIONED = re.compile(r"/v([0-9][0-9.]*)(/.*)")
_MIN = version_tuple(MIN_API_VERSION)
_MAX = version_tuple(API_VERSION)

DEFAULT_SERVER_HEADER = f"kobako/{__version__}"


def split_version(path: str) -> tuple[str | None, str]:
    """``/v1.44/containers/json`` → ``("1.44", "/containers/json")``; unversioned → ``(None, path)``."""
    m = _VERSIONED.fullmatch(path)
    if m is None:
        return None, path
    return m.group(1), m.group(2)


def check_version(version: str | None) -> None:
    """InvalidArgument (400) with Docker's wording when ``version`` is outside 1.24–1.50."""
    if version is None:
        return
    try:
        wanted = version_tuple(version)
    except ValueError:
        raise InvalidArgument(f"invalid API version: {version}") from None
    if wanted < _MIN:
        raise InvalidArgument(
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    if wanted > _MAX:
        raise InvalidArgument(
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )


def standard_headers(server_header: str = DEFAULT_SERVER_HEADER) -> list[tuple[str, str]]:
    """Headers on every response, hijacked ones included."""
    return [
        ("Api-Version", API_VERSION),
        ("Docker-Experimental", "false"),
        ("Ostype", "linux"),
        ("Server", server_header),
    ]
