"""The package boundaries of docs/architecture.md, checked by an AST scan of every import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "kobako"
LEAVES = {"kobako", "kobako.errors", "kobako.fsutil", "kobako.ids", "kobako.mount", "kobako.units", "kobako.sqlitedb",
          "kobako.sysctls"}

# package -> kobako packages it may import (besides itself and the leaves)
ALLOWED: dict[str, set[str]] = {
    "linux": set(),
    "runtime": {"linux"},
    "content": set(),
    "snapshots": set(),
    "images": {"content", "snapshots"},
    "shim": {"runtime", "linux"},
    "api": set(),
    "client": {"api"},  # only the stdlib-only stdcopy decoder
    "cli": {"client", "compose"},  # compose is client-side: it reaches kobakod only through kobako.client
    "compose": {"client", "build"},  # build: only the stdlib-only context tar (build/_sendctx.py)
    "registry": {"api", "content", "images"},
    "build": {"content", "snapshots", "images"},  # RUN comes from the daemon as a RunStep
    "volumes": {"linux"},  # host mounts of tmpfs volumes
    "network": {"linux"},  # netns bind mounts, setns
    "daemon": {"api", "content", "snapshots", "images", "runtime", "shim", "linux", "registry", "build",
               "volumes", "network"},
}

# (package, file, target): `kobako registry serve` is a server in its own right (like
# docker-registry), not a client of kobakod, so its command runs kobako.registry in-process.
# `kobako build` filters its context with the stdlib-only .dockerignore matcher before sending it.
EXCEPTIONS = {("cli", "cli/commands/registry.py", "registry"), ("cli", "cli/commands/build.py", "build")}
# compose may use of kobako.build only the client side of POST /build (checked below)
COMPOSE_BUILD = {"kobako.build._sendctx"}

def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n == "kobako" or n.startswith("kobako.")}


def _files() -> list[tuple[str, Path]]:
    out = []
    for pkg in ALLOWED:
        for f in sorted((SRC / pkg).rglob("*.py")):
            out.append((pkg, f))
    return out


@pytest.mark.parametrize(("pkg", "path"), _files(), ids=lambda x: str(x).split("src/kobako/")[-1])
def test_imports_respect_layers(pkg: str, path: Path) -> None:
    for name in _imports(path):
        if name in LEAVES:
            continue
        target = name.split(".")[1]
        if (pkg, path.relative_to(SRC).as_posix(), target) in EXCEPTIONS:
            continue
        assert target == pkg or target in ALLOWED[pkg], f"{path.relative_to(SRC)} imports {name}"
        if pkg == "compose" and target == "build":
            assert name in COMPOSE_BUILD, f"{path.relative_to(SRC)} imports {name}"


def test_client_uses_only_stdcopy_from_api() -> None:
    for f in (SRC / "client").rglob("*.py"):
        for name in _imports(f):
            if name.startswith("kobako.api"):
                assert name == "kobako.api.stdcopy", f"{f.name} imports {name}"
