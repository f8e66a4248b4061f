"""Building images from a Dockerfile and a context (the legacy ``POST /build`` builder).

``parse`` reads a Dockerfile; ``DockerIgnore`` filters a context; ``Builder`` runs the steps
with a persistent ``BuildCache``; RUN steps go through a ``RunStep`` the daemon provides;
``BuildBackend`` is what the API routes call. Exports load lazily, so the CLI can use the
stdlib-only ``kobako.build.dockerignore`` without importing the builder.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing`: the CLI imports this package on every `kobako build`
if TYPE_CHECKING:
    from typing import Any

_EXPORTS = {
    "BuildBackend": "kobako.build._backend",
    "BuildError": "kobako.build.builder",
    "Builder": "kobako.build.builder",
    "BuildOptions": "kobako.build.builder",
    "RunStep": "kobako.build.builder",
    "BuildCache": "kobako.build.cache",
    "cache_key": "kobako.build.cache",
    "Dockerfile": "kobako.build.dockerfile",
    "DockerfileError": "kobako.build.dockerfile",
    "Instruction": "kobako.build.dockerfile",
    "parse": "kobako.build.dockerfile",
    "DockerIgnore": "kobako.build.dockerignore",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kobako.build' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
