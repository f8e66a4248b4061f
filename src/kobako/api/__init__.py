"""kobako's Docker Engine API server (h11 on asyncio).

Public surface, imported lazily so that the stdlib-only modules (``stdcopy``,
``jsonstream``, ``httpstatus``) can be used by the client without pulling in
asyncio or h11.  Never imports ``kobako.daemon``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs the CLI (which imports .stdcopy through this package) milliseconds
    from typing import Any

_EXPORTS = {
    "Server": "kobako.api.server",
    "Router": "kobako.api.router",
    "Route": "kobako.api.router",
    "Request": "kobako.api.request",
    "Response": "kobako.api.response",
    "StreamResponse": "kobako.api.response",
    "FileResponse": "kobako.api.response",
    "Hijack": "kobako.api.response",
    "json_response": "kobako.api.response",
    "no_content": "kobako.api.response",
    "HijackReader": "kobako.api._hijack",
    "add_ping_routes": "kobako.api.ping",
    "status_for": "kobako.api.httpstatus",
    "frame": "kobako.api.stdcopy",
    "StdcopyDecoder": "kobako.api.stdcopy",
}

__all__ = [
    "FileResponse", "Hijack", "HijackReader", "Request", "Response", "Route", "Router", "Server", "StdcopyDecoder",
    "StreamResponse", "add_ping_routes", "frame", "json_response", "no_content", "status_for",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kobako.api' has no attribute {name!r}")
    import importlib  # here, not at the top: the CLI imports .stdcopy through this package

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
