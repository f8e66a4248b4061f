"""kobako: the command-line client.  Every command is a client of kobakod's Docker Engine API.

Commands are loaded lazily from COMMANDS: start-up imports only this module, the flag parser
(``_args``, not argparse), ``kobako.client`` (its own HTTP/1.1 on ``_socket``, JSON through ``_jsonc``)
and the chosen command's module; no ``re``, ``typing``, ``enum``, ``socket`` or ``json`` on the way
to ``ps`` or ``exec`` (tests/unit/test_cli_imports.py keeps it so).  The one ladder that turns errors
into exit codes is ``main``; library code never prints or exits.
"""

from __future__ import annotations

import sys

import kobako

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from kobako.cli._args import ArgumentParser

# name -> (module, summary).  Each module defines ``configure(parser)`` and ``run(args, client) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("kobako.cli.commands.run", "Create and run a new container from an image"),
    "create": ("kobako.cli.commands.create", "Create a new container"),
    "start": ("kobako.cli.commands.start", "Start one or more stopped containers"),
    "stop": ("kobako.cli.commands.stop", "Stop one or more running containers"),
    "restart": ("kobako.cli.commands.restart", "Restart one or more containers"),
    "kill": ("kobako.cli.commands.kill", "Kill one or more running containers"),
    "exec": ("kobako.cli.commands.exec", "Execute a command in a running container"),
    "attach": ("kobako.cli.commands.attach", "Attach local standard input, output, and error streams to a running container"),
    "wait": ("kobako.cli.commands.wait", "Block until one or more containers stop, then print their exit codes"),
    "pause": ("kobako.cli.commands.pause", "Pause all processes within one or more containers"),
    "unpause": ("kobako.cli.commands.unpause", "Unpause all processes within one or more containers"),
    "rename": ("kobako.cli.commands.rename", "Rename a container"),
    "update": ("kobako.cli.commands.update", "Update configuration of one or more containers"),
    "ps": ("kobako.cli.commands.ps", "List containers"),
    "logs": ("kobako.cli.commands.logs", "Fetch the logs of a container"),
    "rm": ("kobako.cli.commands.rm", "Remove one or more containers"),
    "images": ("kobako.cli.commands.images", "List images"),
    "rmi": ("kobako.cli.commands.rmi", "Remove one or more images"),
    "tag": ("kobako.cli.commands.tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "import": ("kobako.cli.commands.import_", "Import the contents from a tarball to create a filesystem image"),
    "image": ("kobako.cli.commands.image", "Manage images (bootstrap, ls, inspect, rm, import)"),
    "container": ("kobako.cli.commands.container", "Manage containers (ls, inspect, rm, ...)"),
    "inspect": ("kobako.cli.commands.inspect", "Return low-level information on kobako objects"),
    "version": ("kobako.cli.commands.version", "Show the kobako version information"),
    "info": ("kobako.cli.commands.info", "Display system-wide information"),
    "build": ("kobako.cli.commands.build", "Build an image from a Dockerfile"),
    "history": ("kobako.cli.commands.history", "Show the history of an image"),
    "builder": ("kobako.cli.commands.builder", "Manage builds (prune)"),
    "pull": ("kobako.cli.commands.pull", "Download an image from a registry"),
    "push": ("kobako.cli.commands.push", "Upload an image to a registry"),
    "search": ("kobako.cli.commands.search", "Search a registry for images"),
    "login": ("kobako.cli.commands.login", "Log in to a registry"),
    "logout": ("kobako.cli.commands.logout", "Log out from a registry"),
    "manifest": ("kobako.cli.commands.manifest", "Inspect an image's manifest or index in a registry"),
    "registry": ("kobako.cli.commands.registry", "Run kobako's own registry (serve, gc)"),
    "events": ("kobako.cli.commands.events", "Get real time events from the server"),
    "stats": ("kobako.cli.commands.stats", "Display a live stream of container(s) resource usage statistics"),
    "top": ("kobako.cli.commands.top", "Display the running processes of a container"),
    "port": ("kobako.cli.commands.port", "List port mappings or a specific mapping for the container"),
    "diff": ("kobako.cli.commands.diff", "Inspect changes to files or directories on a container's filesystem"),
    "system": ("kobako.cli.commands.system", "Manage kobako (df, info, events, prune)"),
    "cp": ("kobako.cli.commands.cp", "Copy files/folders between a container and the local filesystem"),
    "commit": ("kobako.cli.commands.commit", "Create a new image from a container's changes"),
    "export": ("kobako.cli.commands.export", "Export a container's filesystem as a tar archive"),
    "volume": ("kobako.cli.commands.volume", "Manage volumes (create, ls, inspect, rm, prune)"),
    "network": ("kobako.cli.commands.network", "Manage networks (create, ls, inspect, rm, prune, connect, ...)"),
    "save": ("kobako.cli.commands.save", "Save one or more images to a tar archive (streamed to STDOUT by default)"),
    "load": ("kobako.cli.commands.load", "Load an image from a tar archive or STDIN"),
    "compose": ("kobako.cli.commands.compose", "Define and run multi-container applications"),
}


def _usage() -> str:
    lines = ["Usage:  kobako [OPTIONS] COMMAND", "", "A small container engine that speaks Docker's API", "",
             "Options:", "  -H, --host string   Daemon socket to connect to", "  -v, --version       Print version",
             "  --tls, --tlsverify  TLS to a tcp:// daemon (--tlscacert, --tlscert, --tlskey; $DOCKER_TLS_VERIFY)",
             "", "Commands:"]
    width = max(len(n) for n in COMMANDS) + 2
    lines += [f"  {name.ljust(width)}{summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Run 'kobako COMMAND --help' for more information on a command."]
    return "\n".join(lines)


def load_command(name: str) -> object:
    modname = COMMANDS[name][0]
    __import__(modname)  # not importlib: its package is one more import
    return sys.modules[modname]


def build_parser(name: str, module: object) -> ArgumentParser:
    from kobako.cli._args import ArgumentParser

    prog, description, add_help = f"kobako {name}", COMMANDS.get(name, ("", ""))[1], getattr(module, "ADD_HELP", True)
    parser = ArgumentParser(prog=prog, description=description, add_help=add_help)
    try:
        module.configure(parser)  # type: ignore[attr-defined]
    except TypeError:
        # A use of argparse that _args does not implement (test_cli_args.py fails on it): argparse then.
        import argparse

        fallback = argparse.ArgumentParser(prog=prog, description=description, add_help=add_help)
        module.configure(fallback)  # type: ignore[attr-defined]
        return fallback  # type: ignore[return-value]
    return parser


def dispatch(name: str, argv: list[str], host: str | None) -> int:
    from kobako.client import Client

    module = load_command(name)
    args = build_parser(name, module).parse_args(argv)
    client = Client(host)
    try:
        code: int = module.run(args, client)  # type: ignore[attr-defined]
        return code
    finally:
        client.close()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    host: str | None = None
    while argv and argv[0].startswith("-"):
        opt = argv.pop(0)
        if opt in ("-H", "--host") and argv:
            host = argv.pop(0)
        elif opt.startswith("--host="):
            host = opt.split("=", 1)[1]
        elif opt in ("-v", "--version"):
            print(f"kobako version {kobako.__version__}")
            return 0
        elif opt in ("-h", "--help"):
            print(_usage())
            return 0
        elif opt.startswith("--tls"):  # --tls, --tlsverify, --tlscacert, --tlscert, --tlskey (kobako.client._tls)
            from kobako.client._tls import TLSError, cli_flag

            try:
                known = cli_flag(opt, argv)
            except TLSError as exc:
                print(exc, file=sys.stderr)
                return 125
            if not known:
                print(f"unknown flag: {opt}\nSee 'kobako --help'.", file=sys.stderr)
                return 125
        elif opt in ("-D", "--debug"):
            import os

            os.environ["KOBAKO_DEBUG"] = "1"
        else:
            print(f"unknown flag: {opt}\nSee 'kobako --help'.", file=sys.stderr)
            return 125
    if not argv:
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"kobako: '{name}' is not a kobako command.\nSee 'kobako --help'", file=sys.stderr)
        return 1
    from kobako.cli._args import UsageError
    from kobako.client import DaemonError, DaemonUnreachable

    try:
        return dispatch(name, rest, host)
    except DaemonUnreachable as exc:
        print(str(exc), file=sys.stderr)
        return 125 if name in ("run", "create") else 1
    except DaemonError as exc:
        print(f"Error response from daemon: {exc.message}", file=sys.stderr)
        return status_error(name, exc.message)
    except (CommandError, UsageError) as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        import os

        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 0


def exit_now(code: int) -> None:
    """End the process with ``code`` once the command is done (the launcher and ``python -m kobako``).

    Python's own shutdown (module teardown, a last garbage collection, freeing every object) costs
    2-4 ms of each command and does nothing a finished command needs: the CLI registers no atexit
    work, its files are closed and its threads are daemons. So stdout and stderr are flushed and the
    process ends with ``_exit``. If a flush fails (a closed pipe), the ordinary exit reports it.
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 - let the interpreter's exit deal with it as it always has
        raise SystemExit(code) from None
    import posix

    posix._exit(code & 0xFF if isinstance(code, int) else 1)


class CommandError(Exception):
    """A user-facing failure of a command: its message is printed and ``code`` returned."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def status_error(command: str, message: str) -> int:
    """Exit code for a daemon error: ``run`` and ``create`` map as docker's toStatusError does."""
    if command not in ("run", "create"):
        return 1
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


if __name__ == "__main__":
    exit_now(main())
