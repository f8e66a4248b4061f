"""kobako tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]"""

from __future__ import annotations

from kobako.cli import _args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("source")
    p.add_argument("target")


def run(args: _args.Namespace, client: Any) -> int:
    repo, tag = args.target, ""
    head, sep, tail = args.target.rpartition(":")
    if sep and "/" not in tail:
        repo, tag = head, tail
    client.json("POST", f"/images/{args.source}/tag", query={"repo": repo, "tag": tag or "latest"})
    return 0
