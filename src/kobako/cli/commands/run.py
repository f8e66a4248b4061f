"""kobako run: create, attach, wait, start — in the order the docker CLI uses — then stream."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from typing import Any

from kobako.cli.commands._opts import configure_create, create_container

ADD_HELP = False


def configure(p: argparse.ArgumentParser) -> None:
    configure_create(p)
    p.add_argument("--detach-keys", help="Override the key sequence for detaching a container")
    p.add_argument("--sig-proxy", default="true", help="Proxy received signals to the process")


def run(args: argparse.Namespace, client: Any) -> int:
    cid = create_container(client, args)
    if args.detach:
        client.json("POST", f"/containers/{cid}/start")
        print(cid)
        return 0
    return attach_and_start(client, cid, args)


def attach_and_start(client: Any, cid: str, args: argparse.Namespace) -> int:
    attach = client.hijack(
        "POST", f"/containers/{cid}/attach",
        query={"stream": 1, "stdin": int(args.interactive), "stdout": 1, "stderr": 1},
    )
    waiter = client.stream("POST", f"/containers/{cid}/wait",
                           query={"condition": "removed" if args.rm else "next-exit"})
    try:
        client.json("POST", f"/containers/{cid}/start")
    except BaseException:
        attach.close()
        raise
    restore = None
    if args.tty and args.interactive and os.isatty(0):
        restore = _raw_terminal(client, cid)
    try:
        if args.interactive:
            threading.Thread(target=_pump_stdin, args=(attach,), daemon=True).start()
        _copy_output(attach, bool(args.tty))
    finally:
        if restore:
            restore()
        attach.close()
    body = b"".join(waiter)
    try:
        result = json.loads(body)
    except ValueError:
        return 125
    err = (result.get("Error") or {}).get("Message") if isinstance(result.get("Error"), dict) else None
    if err:
        print(f"kobako: {err}", file=sys.stderr)
    return int(result.get("StatusCode", 125))


def _pump_stdin(attach: Any) -> None:
    try:
        while True:
            data = os.read(0, 65536)
            if not data:
                break
            attach.sendall(data)
    except OSError:
        pass
    try:
        attach.shutdown_write()
    except OSError:
        pass


def _copy_output(attach: Any, tty: bool) -> None:
    out = sys.stdout.buffer
    if tty or "raw-stream" in attach.content_type:
        while True:
            data = attach.recv(65536)
            if not data:
                return
            out.write(data)
            out.flush()
    from kobako.client import demux

    err = sys.stderr.buffer
    for stream, data in demux(attach):
        target = err if stream == 2 else out
        target.write(data)
        target.flush()


def _raw_terminal(client: Any, cid: str) -> Any:
    import shutil
    import signal
    import termios
    import tty

    old = termios.tcgetattr(0)
    tty.setraw(0)

    def resize(*_: object) -> None:
        size = shutil.get_terminal_size()
        try:
            client.request("POST", f"/containers/{cid}/resize", query={"h": size.lines, "w": size.columns})
        except OSError:
            pass

    resize()
    signal.signal(signal.SIGWINCH, resize)
    return lambda: termios.tcsetattr(0, termios.TCSADRAIN, old)
