"""kobako system prune: stopped containers, unused networks, (--volumes) anonymous volumes, dangling
or (-a) unused images, build cache - in docker's order, with docker's warning and report."""

from __future__ import annotations

import secrets

from tests.daemon_fixture import Daemon


def test_system_prune_all_with_volumes(daemon: Daemon) -> None:
    tag = secrets.token_hex(3)
    net, vol, img, keep = f"sp-net-{tag}", f"sp-vol-{tag}", f"sp-img-{tag}:1", f"sp-keep-{tag}"
    daemon.kobako("network", "create", net)
    daemon.kobako("volume", "create", vol)
    maker = daemon.kobako("run", "-d", "busybox", "touch", "/made").stdout.decode().strip()
    daemon.kobako("wait", maker)
    daemon.kobako("commit", maker, img)  # an image of its own, which only the stopped container uses
    daemon.kobako("rm", maker)
    stopped = daemon.kobako("run", "--network", net, "-v", "/anon", img, "true").stdout  # exits at once
    stopped_id = daemon.kobako("ps", "-lq", "--no-trunc").stdout.decode().strip()
    daemon.kobako("run", "-d", "--name", keep, "busybox", "sleep", "60")
    try:
        refused = daemon.kobako("system", "prune", "-a", "--volumes", input=b"n\n")
        assert refused.stdout.decode().startswith(
            "WARNING! This will remove:\n  - all stopped containers\n"
            "  - all networks not used by at least one container\n"
            "  - all anonymous volumes not used by at least one container\n"
            "  - all images without at least one container associated to them\n  - all build cache\n")
        assert daemon.kobako("inspect", stopped_id, check=False).returncode == 0  # nothing was removed
        out = daemon.kobako("system", "prune", "-a", "--volumes", "-f").stdout.decode()
        assert f"Deleted Containers:\n{stopped_id}\n" in out
        assert "Deleted Networks:\n" in out and net in out
        assert "Deleted Images:\n" in out and f"untagged: {img}" in out
        assert "Deleted Volumes:\n" in out
        assert out.rstrip().splitlines()[-1].startswith("Total reclaimed space: ")
        assert daemon.kobako("inspect", stopped_id, check=False).returncode != 0
        assert daemon.kobako("network", "inspect", net, check=False).returncode != 0
        assert daemon.kobako("image", "inspect", img, check=False).returncode != 0
        # kept: a running container, the image it uses, and named volumes
        assert daemon.kobako("inspect", keep).returncode == 0
        assert daemon.kobako("image", "inspect", "busybox").returncode == 0
        assert daemon.kobako("volume", "inspect", vol).returncode == 0
        assert stopped == b""
    finally:
        daemon.kobako("rm", "-f", keep, check=False)
        daemon.kobako("volume", "rm", vol, check=False)
        daemon.kobako("network", "rm", net, check=False)
        daemon.kobako("rmi", img, check=False)
