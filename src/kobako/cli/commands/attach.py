"""kobako attach [--no-stdin] [--sig-proxy] [--detach-keys K] CONTAINER

Attaches to a running container's stdio (raw mode with a tty); Ctrl-P Ctrl-Q (or
``--detach-keys``) leaves it running.  The exit code is the container's, as with docker.
"""

from __future__ import annotations

import json
import sys

from kobako.cli import _args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    p.add_argument("--sig-proxy", default="true", help="Proxy all received signals to the process (default true)")
    p.add_argument("--detach-keys", help="Override the key sequence for detaching a container")
    p.add_argument("container", metavar="CONTAINER")


def run(args: _args.Namespace, client: Any) -> int:
    from kobako.cli.commands._attach import Terminal, detach_key_bytes, proxy_signals, stream

    if args.detach_keys:
        detach_key_bytes(args.detach_keys)
    info = client.json("GET", f"/containers/{args.container}/json")
    state = info.get("State") or {}
    if not state.get("Running"):
        print("You cannot attach to a stopped container, start it first", file=sys.stderr)
        return 1
    if state.get("Paused"):
        print("You cannot attach to a paused container, unpause it first", file=sys.stderr)
        return 1
    cid = info["Id"]
    cfg = info.get("Config") or {}
    tty = bool(cfg.get("Tty"))
    stdin = bool(cfg.get("OpenStdin")) and not args.no_stdin
    query = {"stream": 1, "stdin": int(stdin), "stdout": 1, "stderr": 1, "detachKeys": args.detach_keys}
    waiter = client.stream("POST", f"/containers/{cid}/wait", query={"condition": "next-exit"})
    conn = client.hijack("POST", f"/containers/{cid}/attach", query=query)

    def resize(h: int, w: int) -> None:
        client.request("POST", f"/containers/{cid}/resize", query={"h": h, "w": w})

    undo = None
    if not tty and args.sig_proxy.lower() not in ("false", "0"):
        undo = proxy_signals(lambda sig: client.request("POST", f"/containers/{cid}/kill", query={"signal": sig}))
    try:
        with Terminal(tty and stdin, resize if tty else None):
            detached = stream(conn, tty=tty, stdin=stdin, detach_keys=args.detach_keys)
    finally:
        if undo:
            undo()
        conn.close()
    if detached:
        return 0
    try:
        result = json.loads(b"".join(waiter))
    except ValueError:
        return 0
    return int(result.get("StatusCode", 0))
