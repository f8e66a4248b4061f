"""kobako run: create, attach, wait, start — in the order the docker CLI uses — then stream."""

from __future__ import annotations

import sys

from kobako.cli import _args
from kobako.cli.commands._opts import configure_create, create_container
from kobako.client._jsonc import loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ADD_HELP = False


def configure(p: _args.ArgumentParser) -> None:
    configure_create(p)
    p.add_argument("--detach-keys", help="Override the key sequence for detaching a container")
    p.add_argument("--sig-proxy", default="true", help="Proxy received signals to the process")


def run(args: _args.Namespace, client: Any) -> int:
    cid = create_container(client, args)
    if args.detach:
        client.json("POST", f"/containers/{cid}/start")
        print(cid)
        return 0
    return attach_and_start(client, cid, args)


def attach_and_start(client: Any, cid: str, args: _args.Namespace) -> int:
    """Attach, wait, start, then stream until the container exits (or the user detaches)."""
    from kobako.cli.commands._attach import Terminal, detach_key_bytes, proxy_signals, stream

    detach_keys = getattr(args, "detach_keys", None)
    if detach_keys:
        detach_key_bytes(detach_keys)
    tty = bool(args.tty)
    attach = client.hijack(
        "POST", f"/containers/{cid}/attach",
        query={"stream": 1, "stdin": int(args.interactive), "stdout": 1, "stderr": 1, "detachKeys": detach_keys},
    )
    waiter = client.stream("POST", f"/containers/{cid}/wait",
                           query={"condition": "removed" if getattr(args, "rm", False) else "next-exit"})
    try:
        client.json("POST", f"/containers/{cid}/start")
    except BaseException:
        attach.close()
        raise

    def resize(h: int, w: int) -> None:
        client.request("POST", f"/containers/{cid}/resize", query={"h": h, "w": w})

    undo = None
    if not tty and str(getattr(args, "sig_proxy", "true")).lower() not in ("false", "0"):
        undo = proxy_signals(lambda sig: client.request("POST", f"/containers/{cid}/kill", query={"signal": sig}))
    try:
        with Terminal(tty and args.interactive, resize if tty else None):
            detached = stream(attach, tty=tty, stdin=bool(args.interactive), detach_keys=detach_keys)
    finally:
        if undo:
            undo()
        attach.close()
    if detached:
        return 0
    body = b"".join(waiter)
    try:
        result = loads(body)
    except ValueError:
        return 125
    err = (result.get("Error") or {}).get("Message") if isinstance(result.get("Error"), dict) else None
    if err:
        print(f"kobako: {err}", file=sys.stderr)
    return int(result.get("StatusCode", 125))
