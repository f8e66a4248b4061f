"""The registry: a distribution-spec server (``kobako registry serve``) and the client kobakod
uses to pull and push.

The server runs on kobako's h11 machinery (``kobako.api``); the client is the stdlib's
``http.client`` and runs in the daemon's threads. Imported lazily: the server side pulls in
asyncio and h11, the client side does not.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Registry": "kobako.registry._server",
    "RegistryStorage": "kobako.registry._storage",
    "RegistryError": "kobako.registry._errors",
    "AuthPolicy": "kobako.registry._access",
    "Htpasswd": "kobako.registry._auth",
    "ServeOptions": "kobako.registry._serve",
    "build_server": "kobako.registry._serve",
    "serve": "kobako.registry._serve",
    "run_server": "kobako.registry._serve",
    "collect": "kobako.registry._gc",
    "DistributionClient": "kobako.registry._client",
    "Credentials": "kobako.registry._client",
    "decode_registry_auth": "kobako.registry._client",
    "pull_image": "kobako.registry._pull",
    "push_image": "kobako.registry._push",
    "login": "kobako.registry._client",
}
_ALIASES = {"build_server": "build", "run_server": "run"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kobako.registry' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _ALIASES.get(name, name))
    globals()[name] = value
    return value
