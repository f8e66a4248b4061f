"""kobako exec [-d] [-i] [-t] [-e K=V] [--env-file F] [-w DIR] [-u USER] CONTAINER COMMAND [ARG...]

The docker CLI's sequence: ``POST /containers/{id}/exec``, then ``POST /exec/{id}/start``
(hijacked, or ``Detach``), ``POST /exec/{id}/resize`` with a tty, and ``GET /exec/{id}/json``
for the exit code, which becomes ours (126/127 when the command could not run).
"""

from __future__ import annotations

import sys

from kobako.cli import _args
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="Detached mode: run command in the background")
    p.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument("-e", "--env", action="append", default=[], help="Set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="Read in a file of environment variables")
    p.add_argument("-w", "--workdir", help="Working directory inside the container")
    p.add_argument("-u", "--user", help="Username or UID (format: \"<name|uid>[:<group|gid>]\")")
    p.add_argument("--privileged", action="store_true", help="Give extended privileges to the command")
    p.add_argument("--detach-keys", help="Override the key sequence for detaching a container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("command", nargs=_args.REMAINDER, metavar="COMMAND")
    if isinstance(p, _args.ArgumentParser):
        p.min_args = 2  # CONTAINER COMMAND


def exec_body(args: _args.Namespace) -> dict[str, Any]:
    from kobako.cli.commands._attach import detach_key_bytes, terminal_size
    from kobako.cli.commands._env import env_list

    if not args.command:
        raise CommandError("\"kobako exec\" requires at least 2 arguments.\nSee 'kobako exec --help'.", 1)
    if args.detach_keys:
        detach_key_bytes(args.detach_keys)
    env = env_list(args.env_file, args.env)
    body: dict[str, Any] = {
        "User": args.user or "",
        "Privileged": bool(args.privileged),
        "Tty": bool(args.tty),
        "AttachStdin": bool(args.interactive) and not args.detach,
        "AttachStdout": not args.detach,
        "AttachStderr": not args.detach,
        "DetachKeys": args.detach_keys or "",
        "Env": env or None,
        "WorkingDir": args.workdir or "",
        "Cmd": list(args.command),
    }
    size = terminal_size() if args.tty else None
    if size:
        body["ConsoleSize"] = list(size)
    return body


def run(args: _args.Namespace, client: Any) -> int:
    from kobako.cli.commands._attach import Terminal, stream

    body = exec_body(args)
    if args.tty and args.interactive:
        import os

        if not os.isatty(0):
            print("the input device is not a TTY", file=sys.stderr)
            return 1
    eid = client.json("POST", f"/containers/{args.container}/exec", body=body)["Id"]
    if args.detach:
        client.json("POST", f"/exec/{eid}/start", body={"Detach": True, "Tty": bool(args.tty)})
        return 0
    start: dict[str, Any] = {"Detach": False, "Tty": bool(args.tty)}
    if body.get("ConsoleSize"):
        start["ConsoleSize"] = body["ConsoleSize"]
    conn = client.hijack("POST", f"/exec/{eid}/start", body=start)

    def resize(h: int, w: int) -> None:
        client.request("POST", f"/exec/{eid}/resize", query={"h": h, "w": w})

    try:
        with Terminal(bool(args.tty and args.interactive), resize if args.tty else None):
            detached = stream(conn, tty=bool(args.tty), stdin=bool(args.interactive),
                              detach_keys=args.detach_keys)
    finally:
        conn.close()
    if detached:
        return 0
    info = client.json("GET", f"/exec/{eid}/json")
    code = info.get("ExitCode")
    return int(code) if code is not None else 0
