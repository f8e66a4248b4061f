"""A private kobakod started with ``--userns-remap`` (the session daemon runs without it).

The remapping uses the numeric form ``UID:GID`` with a uid and gid no account has, and subordinate-id files
of the test's own (``KOBAKO_SUBUID_FILE``/``KOBAKO_SUBGID_FILE``, read by the daemon at start): the host's
/etc/subuid, /etc/subgid and /etc/passwd are never touched, so a crashed run cannot leave an entry behind
(``--userns-remap=default`` would add the ``dockremap`` user and its ranges for good, as dockerd does).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_fixture import Daemon, daemon_session

REMAP_ID = 4231072  # no account uses it; /etc/subuid lines may name a user by number
HOST_UID = 100000
HOST_GID = 165536  # a different range for groups, so the probes tell uid and gid apart
SIZE = 65536


def write_subid_files(base: Path) -> tuple[Path, Path]:
    base.mkdir(parents=True, exist_ok=True)
    subuid, subgid = base / "subuid", base / "subgid"
    subuid.write_text(f"{REMAP_ID}:{HOST_UID}:{SIZE}\n")
    subgid.write_text(f"{REMAP_ID}:{HOST_GID}:{SIZE}\n")
    return subuid, subgid


def remapped_session(base: Path) -> Iterator[Daemon]:
    subuid, subgid = write_subid_files(base / "subid")
    saved = {k: os.environ.get(k) for k in ("KOBAKO_SUBUID_FILE", "KOBAKO_SUBGID_FILE")}
    os.environ["KOBAKO_SUBUID_FILE"], os.environ["KOBAKO_SUBGID_FILE"] = str(subuid), str(subgid)
    try:
        gen = daemon_session(base / "d", extra_args=("--userns-remap", f"{REMAP_ID}:{REMAP_ID}"))
        d = next(gen)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        d.kobako("image", "bootstrap", "busybox")
        yield d
    finally:
        for _ in gen:
            pass


@pytest.fixture(scope="module")
def remapped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    yield from remapped_session(tmp_path_factory.mktemp("kobakod-userns"))
