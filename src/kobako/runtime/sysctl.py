"""``linux.sysctl``: namespaced kernel parameters, checked against the container's namespaces and written
by the init once it is in them (/proc/sys answers for the writer's own namespaces), before any id change.

Only parameters that belong to a namespace the container has of its own may be set, as runc does:
the System V IPC and POSIX message-queue ones need an ipc namespace, ``net.*`` a network namespace,
``kernel.hostname``/``kernel.domainname`` a uts namespace.  Anything else would change the host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from kobako.errors import InvalidArgument
from kobako.sysctls import namespace_of

_KEY = re.compile(r"[A-Za-z0-9_-]+(?:[./][A-Za-z0-9_-]+)*\Z")


def check(sysctls: Mapping[str, Any], namespaces: Sequence[Mapping[str, Any]]) -> None:
    """Raise ``InvalidArgument`` naming the first sysctl that cannot be set in these namespaces."""
    have = {ns.get("type") for ns in namespaces}
    for key, value in sysctls.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise InvalidArgument(f"sysctl {key!r}: not a valid parameter name")
        if not isinstance(value, str) or "\n" in value or "\0" in value:
            raise InvalidArgument(f"sysctl {key!r}: the value must be a single-line string")
        ns = namespace_of(key)
        if ns is None:
            raise InvalidArgument(f"sysctl {key!r} is not in a separate kernel namespace")
        if ns not in have:
            where = {"network": "the host's network namespace", "ipc": "the host's IPC namespace",
                     "uts": "the host's UTS namespace"}[ns]
            raise InvalidArgument(f"sysctl {key!r} is not allowed in {where}")


def path_of(key: str) -> str:
    # runc's rule: dots separate levels; a slash form (net/ipv4/...) is accepted as is.
    return "/proc/sys/" + (key if "/" in key else key.replace(".", "/"))


def apply(sysctls: Mapping[str, str], namespaces: Sequence[Mapping[str, Any]]) -> None:
    """Write each parameter (in the container's namespaces, through its /proc)."""
    check(sysctls, namespaces)
    for key, value in sysctls.items():
        try:
            with open(path_of(key), "w") as f:
                f.write(value)
        except OSError as exc:
            raise InvalidArgument(f"sysctl {key!r}={value!r}: {exc.strerror or exc}") from None
