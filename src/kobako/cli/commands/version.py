"""kobako version [--format T]"""

from __future__ import annotations

import sys

import kobako
from kobako.cli import _args
from kobako.cli._format import render

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="Format output using a Go template")


def run(args: _args.Namespace, client: Any) -> int:
    from kobako.client import DaemonUnreachable

    import posix  # posix.uname is os.uname: neither os nor platform (which imports re) is needed

    cli = {"Version": kobako.__version__, "ApiVersion": kobako.API_VERSION, "Os": "linux",
           "Arch": posix.uname().machine, "GoVersion": "python" + sys.version.split()[0]}
    server = None
    err: Exception | None = None
    try:
        server = client.json("GET", "/version")
    except DaemonUnreachable as exc:
        err = exc
    if args.format:
        print(render(args.format, {"Client": cli, "Server": server}))
    else:
        print("Client:")
        print(f" Version:           {cli['Version']}")
        print(f" API version:       {cli['ApiVersion']}")
        print(f" Python version:    {cli['GoVersion'][6:]}")
        print(f" OS/Arch:           {cli['Os']}/{cli['Arch']}")
        if server:
            print("")
            print(f"Server: {server.get('Platform', {}).get('Name', '')}")
            print(" Engine:")
            print(f"  Version:          {server['Version']}")
            print(f"  API version:      {server['ApiVersion']} (minimum version {server.get('MinAPIVersion', '')})")
            print(f"  OS/Arch:          {server['Os']}/{server['Arch']}")
            print(f"  Kernel version:   {server.get('KernelVersion', '')}")
    if err is not None:
        raise err
    return 0
